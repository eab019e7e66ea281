//! `data_gap`: live data stops for at least 30 minutes inside a login session while the odometer
//! advances at least 5 km, and reissued data does not fill the gap within 7 days. Decided at the
//! first evidence after the gap's end plus the fill period. A case (tampering suspected); no
//! blacklist.
//!
//! State holds two pending gaps. A third gap while both are undecided decides the oldest early,
//! on what has been reissued so far (a documented limitation; see README).

use serde::{Deserialize, Serialize};

use super::{non_negative, Invalid, Span};
use crate::engine::context::{label, measured, Context};
use crate::engine::state::PendingGap;
use crate::engine::VehicleState;
use crate::model::{RuleId, Sample, Secs};

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

/// `before` is the previous live sample's time (0 = none).
pub(crate) fn on_live(
    cx: &mut Context,
    state: &mut VehicleState,
    before: Secs,
    t: Secs,
    s: &Sample,
) {
    let p = &cx.rules.data_gap;
    let odometer = s.odometer.ok().map(|km| (km.0 * 10.0).round() as u32);
    let previous = state.stream.odometer_hm;
    let in_session = state.session_open && !before.is_never();
    if in_session && t.0 - before.0 >= p.min_gap.0 {
        if let Some(now_hm) = odometer.filter(|_| previous != 0) {
            let distance_hm = now_hm.saturating_sub(previous);
            if f64::from(distance_hm) / 10.0 >= p.min_distance_km {
                let gap = PendingGap {
                    start: before,
                    end: t,
                    filled_to: before,
                    distance_hm,
                };
                if state.gaps[1].start.is_never() && state.gaps[0].start.is_never() {
                    state.gaps[0] = gap;
                } else if state.gaps[1].start.is_never() {
                    state.gaps[1] = gap;
                } else {
                    let [oldest, newer] = state.gaps;
                    state.gaps = [newer, gap];
                    raise(cx, state, oldest);
                }
            }
        }
    }
    state.session_open = true;
    if let Some(hm) = odometer {
        state.stream.odometer_hm = hm;
    }
}

pub(crate) fn on_backfill(cx: &mut Context, state: &mut VehicleState, t: Secs) {
    let min_gap = cx.rules.data_gap.min_gap.0;
    for gap in &mut state.gaps {
        if gap.start.is_never() || t <= gap.start || t >= gap.end {
            continue;
        }
        if t.0 - gap.filled_to.0 < min_gap {
            gap.filled_to = gap.filled_to.max(t);
        }
        if gap.end.0 - gap.filled_to.0 < min_gap {
            *gap = PendingGap::default();
        }
    }
}

/// At any evidence: a pending gap whose fill period has passed is a case.
pub(crate) fn decide(cx: &mut Context, state: &mut VehicleState, now: Secs) {
    let fill = cx.rules.data_gap.fill_within.0;
    for i in 0..state.gaps.len() {
        let gap = state.gaps[i];
        if !gap.start.is_never() && now.0 >= gap.end.0.saturating_add(fill) {
            state.gaps[i] = PendingGap::default();
            raise(cx, state, gap);
        }
    }
    if state.gaps[0].start.is_never() {
        state.gaps.swap(0, 1);
    }
}

fn raise(cx: &mut Context, state: &mut VehicleState, gap: PendingGap) {
    let p = &cx.rules.data_gap;
    let (min_gap, min_km, fine) = (p.min_gap.0, p.min_distance_km, p.fine_yuan);
    let evidence = cx.evidence(
        gap.start,
        gap.end,
        None,
        vec![
            measured(
                "gap_minutes",
                f64::from(gap.end.0 - gap.start.0) / 60.0,
                Some(f64::from(min_gap) / 60.0),
                "min",
            ),
            measured(
                "distance_km",
                f64::from(gap.distance_hm) / 10.0,
                Some(min_km),
                "km",
            ),
            measured(
                "unfilled_minutes",
                f64::from(gap.end.0 - gap.filled_to.0) / 60.0,
                None,
                "min",
            ),
        ],
    );
    cx.case(state, RuleId::DataGap, &label(gap.start), fine, evidence);
}

#[cfg(test)]
mod tests {
    use crate::engine::testkit::{rules, sample, Vehicle, T0};
    use crate::model::{EventKind, Kilometres, RuleId};

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

    #[test]
    fn undecided_until_the_fill_period_passes() {
        let mut v = Vehicle::new(rules("[data_gap]\nfill_within = \"7d\""));
        v.drive(T0, T0 + 600, false, sample);
        v.drive(T0 + 4200, T0 + 4800, false, sample);
        assert!(v.cases(RuleId::DataGap).is_empty());
        assert!(!v.state.gaps[0].start.is_never());
        v.drive(
            T0 + 4200 + 7 * 86_400,
            T0 + 4210 + 7 * 86_400,
            false,
            sample,
        );
        assert_eq!(v.cases(RuleId::DataGap).len(), 1);
    }
}
