//! `reagent_empty`: reagent (urea) remaining at 0 % while moving, for at least 10 minutes of
//! 1 Hz samples within an hour. Counted in six buckets spanning the hour, so "within" is exact
//! to one bucket (10 minutes by default). Blacklist and one case per vehicle per day.

use serde::{Deserialize, Serialize};

use super::{Invalid, Span};
use crate::engine::context::{day_label, measured, Context};
use crate::engine::listing::list;
use crate::engine::VehicleState;
use crate::model::{RuleId, Sample, Secs};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub max_reagent_pct: f32,
    pub min_duration: Span,
    pub within: Span,
    pub fine_yuan: u32,
}

const BUCKETS: u32 = 6;

impl Params {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if self.within.0 < BUCKETS {
            return Err(Invalid {
                key: "reagent_empty.within",
                message: "must be at least 6s".into(),
            });
        }
        if self.min_duration.0 == 0 || self.min_duration > self.within {
            return Err(Invalid {
                key: "reagent_empty.min_duration",
                message: "must be positive and at most reagent_empty.within".into(),
            });
        }
        if !(0.0..100.0).contains(&self.max_reagent_pct) {
            return Err(Invalid {
                key: "reagent_empty.max_reagent_pct",
                message: "must be in [0, 100)".into(),
            });
        }
        Ok(())
    }
}

pub(crate) fn add(cx: &mut Context, state: &mut VehicleState, t: Secs, s: &Sample) {
    let p = &cx.rules.reagent_empty;
    let empty = s.reagent.is_ok_and(|r| r.0 <= p.max_reagent_pct);
    let moving = s.speed.is_ok_and(|v| v.0 > 0.0);
    if !(empty && moving) {
        return;
    }
    let bucket = t.0 / (p.within.0 / BUCKETS);
    let b = &mut state.reagent;
    if b.base == 0 || bucket >= b.base + BUCKETS {
        let shift = if b.base == 0 {
            BUCKETS
        } else {
            bucket - (b.base + BUCKETS - 1)
        };
        let keep = BUCKETS.saturating_sub(shift) as usize;
        b.counts.copy_within(BUCKETS as usize - keep.., 0);
        b.counts[keep..].fill(0);
        b.base = bucket + 1 - BUCKETS;
    }
    if bucket < b.base {
        return;
    }
    let slot = &mut b.counts[(bucket - b.base) as usize];
    *slot = slot.saturating_add(1);
    let total: u32 = b.counts.iter().map(|&c| u32::from(c)).sum();
    let day = t.beijing_day();
    if total < p.min_duration.0 || day <= state.days.reagent_empty {
        return;
    }
    state.days.reagent_empty = day;
    let (min, fine) = (p.min_duration.0, p.fine_yuan);
    let first = Secs(b.base * (p.within.0 / BUCKETS));
    list(cx, state, RuleId::ReagentEmpty, t);
    let evidence = cx.evidence(
        first,
        t,
        s.position,
        vec![measured(
            "empty_while_moving_seconds",
            f64::from(total),
            Some(f64::from(min)),
            "s",
        )],
    );
    cx.case(state, RuleId::ReagentEmpty, &day_label(t), fine, evidence);
}

#[cfg(test)]
mod tests {
    use crate::engine::testkit::{rules, sample, Vehicle, T0};
    use crate::model::{Kmh, Percent, RuleId};

    fn drive_empty(seconds: i64, speed: f32) -> Vehicle {
        let mut v = Vehicle::new(rules(""));
        v.drive(T0, T0 + 3600, false, |t| {
            let mut s = sample(t);
            if t - T0 < seconds {
                s.reagent = Ok(Percent(0.0));
                s.speed = Ok(Kmh(speed));
            }
            s
        });
        v
    }

    #[test]
    fn ten_minutes_boundary() {
        assert!(drive_empty(599, 40.0)
            .cases(RuleId::ReagentEmpty)
            .is_empty());
        let v = drive_empty(600, 40.0);
        assert_eq!(v.cases(RuleId::ReagentEmpty).len(), 1);
        assert!(v.listed());
    }

    #[test]
    fn standing_still_does_not_count() {
        assert!(drive_empty(1800, 0.0)
            .cases(RuleId::ReagentEmpty)
            .is_empty());
    }

    #[test]
    fn empty_minutes_spread_over_more_than_an_hour_do_not_count() {
        let mut v = Vehicle::new(rules(""));
        // 5 empty minutes, 90 minutes apart, twice.
        for start in [T0, T0 + 5400] {
            v.drive(start, start + 300, false, |t| {
                let mut s = sample(t);
                s.reagent = Ok(Percent(0.0));
                s
            });
        }
        assert!(v.cases(RuleId::ReagentEmpty).is_empty());
    }

    #[test]
    fn one_case_per_day() {
        let mut v = drive_empty(3600, 40.0);
        v.drive(T0 + 3600, T0 + 7200, false, |t| {
            let mut s = sample(t);
            s.reagent = Ok(Percent(0.0));
            s
        });
        assert_eq!(v.cases(RuleId::ReagentEmpty).len(), 1);
    }
}
