//! `data_gap`: the data stream (live and reissued data together) has a hole of at least 30
//! minutes inside a login session while the odometer advances at least 5 km, and reissued data
//! does not fill it within 7 days. Decided at the first evidence after the hole's end plus the
//! fill period, on what is then still missing: reissue may arrive before or after the live data
//! that follows the hole, in any order. A case (tampering suspected); no blacklist.
//!
//! The holes are `engine::coverage`'s; a hole that falls out of its bounded history is never
//! judged (missed, not guessed).

use serde::{Deserialize, Serialize};

use super::{non_negative, Invalid, Span};
use crate::engine::context::{label, measured, Context};
use crate::engine::VehicleState;
use crate::model::{RuleId, Secs};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub min_gap: Span,
    pub min_distance_km: f64,
    pub fill_within: Span,
    pub fine_yuan: u32,
}

impl Params {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if self.min_gap.0 == 0 {
            return Err(Invalid {
                key: "data_gap.min_gap",
                message: "must be positive".into(),
            });
        }
        if !non_negative(self.min_distance_km) {
            return Err(Invalid {
                key: "data_gap.min_distance_km",
                message: "must be at least 0".into(),
            });
        }
        Ok(())
    }
}

/// At any evidence: every hole in the stream whose fill period has passed is final. One that
/// is still long enough, inside a session (no login or logout in it), over which the odometer
/// advanced far enough, is a case; either way the hole is closed.
pub(crate) fn decide(cx: &mut Context, state: &mut VehicleState) {
    let p = &cx.rules.data_gap;
    let (min_gap, min_hm, fill) = (p.min_gap.0, p.min_distance_km * 10.0, p.fill_within.0);
    let mut i = 1;
    while let Some((before, after)) = state.coverage.hole(i) {
        if cx.watermark.0 < after.start.0.saturating_add(fill) {
            i += 1;
            continue;
        }
        let distance_hm = after.odo_start.saturating_sub(before.odo_end);
        let known = before.odo_end != 0 && after.odo_start != 0;
        let long = after.start.0 - before.end.0 >= min_gap;
        let in_session = state.coverage.break_in(i).is_none();
        if long && in_session && known && f64::from(distance_hm) >= min_hm {
            raise(cx, state, before.end, after.start, distance_hm);
        }
        state.coverage.join(i);
    }
}

fn raise(cx: &mut Context, state: &mut VehicleState, start: Secs, end: Secs, distance_hm: u32) {
    let p = &cx.rules.data_gap;
    let (min_gap, min_km, fine) = (p.min_gap.0, p.min_distance_km, p.fine_yuan);
    let evidence = cx.evidence(
        start,
        end,
        None,
        vec![
            measured(
                "gap_minutes",
                f64::from(end.0 - start.0) / 60.0,
                Some(f64::from(min_gap) / 60.0),
                "min",
            ),
            measured(
                "distance_km",
                f64::from(distance_hm) / 10.0,
                Some(min_km),
                "km",
            ),
        ],
    );
    cx.case(state, RuleId::DataGap, &label(start), fine, evidence);
}

#[cfg(test)]
mod tests {
    use crate::engine::testkit::{rules, sample, Vehicle, T0};
    use crate::model::{EventKind, Kilometres, RuleId, Secs};

    /// Drives 10 min, stops reporting for `gap` seconds while covering `km`, drives again,
    /// then sends one more report after the fill period.
    fn gap(gap: i64, km: f64, logout: bool, reissue: bool) -> Vehicle {
        let mut v = Vehicle::new(rules("[data_gap]\nfill_within = \"1h\""));
        v.send(T0 - 1, EventKind::Login);
        let odo = move |t: i64| {
            if t >= T0 + 600 {
                10_000.0 + km
            } else {
                10_000.0
            }
        };
        let make = move |t: i64| {
            let mut s = sample(t);
            s.odometer = Ok(Kilometres(odo(t)));
            s
        };
        v.drive(T0, T0 + 600, false, make);
        if logout {
            v.send(T0 + 600, EventKind::Logout);
        }
        // The last sample before the gap is at T0 + 599.
        let resume = T0 + 599 + gap;
        v.drive(resume, resume + 600, false, make);
        if reissue {
            v.drive(T0 + 600, resume, true, make);
        }
        v.drive(resume + 4000, resume + 4010, false, make);
        v
    }

    #[test]
    fn thirty_minute_boundary() {
        assert!(gap(1799, 6.0, false, false)
            .cases(RuleId::DataGap)
            .is_empty());
        let v = gap(1800, 6.0, false, false);
        assert_eq!(v.cases(RuleId::DataGap).len(), 1);
        assert!(!v.listed(), "a data gap is a case, not a listing");
    }

    #[test]
    fn five_kilometre_boundary() {
        assert!(gap(2400, 4.9, false, false)
            .cases(RuleId::DataGap)
            .is_empty());
        assert_eq!(gap(2400, 5.0, false, false).cases(RuleId::DataGap).len(), 1);
    }

    #[test]
    fn reissue_fills_the_gap() {
        assert!(gap(2400, 20.0, false, true)
            .cases(RuleId::DataGap)
            .is_empty());
    }

    #[test]
    fn a_logout_ends_the_session() {
        assert!(gap(2400, 20.0, true, false)
            .cases(RuleId::DataGap)
            .is_empty());
    }

    #[test]
    fn two_outages_both_reissued_are_clean() {
        let mut v = Vehicle::new(rules(""));
        v.drive(T0, T0 + 600, false, sample);
        v.drive(T0 + 3000, T0 + 3600, false, sample);
        v.drive(T0 + 6000, T0 + 6600, false, sample);
        v.drive(T0 + 600, T0 + 3000, true, sample);
        v.drive(T0 + 3600, T0 + 6000, true, sample);
        v.drive(T0 + 8 * 86_400, T0 + 8 * 86_400 + 10, false, sample);
        assert!(v.cases(RuleId::DataGap).is_empty());
    }

    /// A hole inside a session is never settled (nothing says its data cannot still be
    /// reissued): a logout after it, a new session and hours of data leave it pending, and only
    /// evidence `fill_within` (7 days by default) after its end decides it. So no run shorter
    /// than a gap plus the fill period can show a data gap, whatever the terminal does next.
    #[test]
    fn a_logout_after_the_gap_does_not_decide_it_before_the_fill_period() {
        let mut v = Vehicle::new(rules(""));
        v.send(T0 - 1, EventKind::Login);
        v.drive(T0, T0 + 600, false, sample);
        // 40 minutes silent while driving on (the odometer moves 33 km), then 10 more minutes.
        v.drive(T0 + 3000, T0 + 3600, false, sample);
        v.send(T0 + 3600, EventKind::Logout);
        v.send(T0 + 5400, EventKind::Login);
        v.drive(T0 + 5400, T0 + 6 * 3600, false, sample);
        v.send(T0 + 6 * 3600, EventKind::Logout);
        assert!(v.cases(RuleId::DataGap).is_empty());
        assert!(v.state.coverage.hole(1).is_some(), "the gap is pending");
        assert!(!v
            .state
            .coverage
            .settled(Secs(T0 as u32), Secs(T0 as u32 + 3600)));
        let decided = T0 + 3000 + 7 * 86_400;
        v.drive(decided - 10, decided, false, sample);
        assert!(v.cases(RuleId::DataGap).is_empty(), "a second early");
        v.drive(decided, decided + 10, false, sample);
        assert_eq!(v.cases(RuleId::DataGap).len(), 1);
    }

    #[test]
    fn undecided_until_the_fill_period_passes() {
        let mut v = Vehicle::new(rules("[data_gap]\nfill_within = \"7d\""));
        v.drive(T0, T0 + 600, false, sample);
        v.drive(T0 + 4200, T0 + 4800, false, sample);
        assert!(v.cases(RuleId::DataGap).is_empty());
        assert!(v.state.coverage.hole(1).is_some(), "the gap is pending");
        v.drive(
            T0 + 4200 + 7 * 86_400,
            T0 + 4210 + 7 * 86_400,
            false,
            sample,
        );
        assert_eq!(v.cases(RuleId::DataGap).len(), 1);
    }
}
