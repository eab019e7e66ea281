//! `reagent_empty`: reagent (urea) remaining at 0 % while moving, for at least 10 minutes of
//! 1 Hz samples within an hour. Counted in runs of such samples (live and reissued alike, each
//! second once), so late data of any age within grace counts. Blacklist and one case per
//! vehicle per Beijing day.

use serde::{Deserialize, Serialize};

use super::{Invalid, Span};
use crate::engine::context::{day_label, measured, Context};
use crate::engine::coverage::JOIN;
use crate::engine::listing::list;
use crate::engine::state::ReagentRun;
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

impl Params {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if self.within.0 == 0 {
            return Err(Invalid {
                key: "reagent_empty.within",
                message: "must be positive".into(),
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

/// Records a new (not duplicate) sample if reagent is empty while moving.
pub(crate) fn add(cx: &Context, state: &mut VehicleState, t: Secs, s: &Sample) {
    let p = &cx.rules.reagent_empty;
    let empty = s.reagent.is_ok_and(|r| r.0 <= p.max_reagent_pct);
    let moving = s.speed.is_ok_and(|v| v.0 > 0.0);
    if !(empty && moving) {
        return;
    }
    let within = p.within.0;
    let horizon = cx
        .watermark
        .0
        .saturating_sub(cx.rules.time.grace.0 + within);
    let rare = state.rare_mut();
    let days = rare.days.reagent_empty;
    let runs = &mut rare.reagent;
    let n = runs.iter().take_while(|r| !r.start.is_never()).count();
    let near = |r: &ReagentRun| t.0 + JOIN >= r.start.0 && t.0 <= r.end.0 + JOIN;
    match runs[..n].iter().position(near) {
        Some(i) => {
            let r = &mut runs[i];
            r.start = r.start.min(t);
            r.end = r.end.max(t);
            r.seconds += 1;
            // The run may now reach the next one.
            if i + 1 < n && runs[i + 1].start.0 <= runs[i].end.0 + JOIN {
                let next = runs[i + 1];
                runs[i].end = runs[i].end.max(next.end);
                runs[i].seconds += next.seconds;
                runs.copy_within(i + 2.., i + 1);
                runs[runs.len() - 1] = ReagentRun::default();
            }
        }
        None => {
            let run = ReagentRun {
                start: t,
                end: t,
                seconds: 1,
            };
            let mut n = n;
            if n == runs.len() {
                // Full: a run no case can still need goes — beyond grace, or on a day that
                // has its case and is not that day's last run — else the oldest.
                let spent = |i: usize| {
                    let r: &ReagentRun = &runs[i];
                    let same_day_after =
                        i + 1 < n && runs[i + 1].start.beijing_day() == r.end.beijing_day();
                    r.end.0 < horizon || (days.contains(r.end.beijing_day()) && same_day_after)
                };
                let drop = (0..n).find(|&i| spent(i)).unwrap_or(0);
                if drop == 0 && runs[0].start > t && !spent(0) {
                    return;
                }
                runs.copy_within(drop + 1.., drop);
                runs[n - 1] = ReagentRun::default();
                n -= 1;
            }
            let at = runs[..n].iter().position(|r| r.start > t).unwrap_or(n);
            runs.copy_within(at..n, at + 1);
            runs[at] = run;
        }
    }
}

/// Seconds empty while moving in `(t - within, t]`, counting a run's seconds only as far as it
/// overlaps the span.
fn seconds_within(runs: &[ReagentRun], t: u32, within: u32) -> u32 {
    let from = t.saturating_sub(within);
    runs.iter()
        .filter(|r| !r.start.is_never() && r.start.0 <= t && r.end.0 > from)
        .map(|r| {
            let overlap = r.end.0.min(t) - r.start.0.max(from + 1) + 1;
            overlap.min(r.seconds)
        })
        .sum()
}

/// Raises at most one case a Beijing day, at the first second of the day at which the span
/// before it holds enough empty seconds, once nothing can still arrive inside that span.
pub(crate) fn decide(cx: &mut Context, state: &mut VehicleState) {
    let p = &cx.rules.reagent_empty;
    let (min, within, fine) = (p.min_duration.0, p.within.0, p.fine_yuan);
    let runs = state.rare().reagent;
    for run in runs.iter().filter(|r| !r.start.is_never()) {
        let mut from = run.start.0;
        while from <= run.end.0 {
            let upto = run.end.0.min(from + within);
            let Some(t) = (from..=upto).find(|&t| seconds_within(&runs, t, within) >= min) else {
                break;
            };
            let t = Secs(t);
            let day = t.beijing_day();
            from = next_day(day);
            if state.rare().days.reagent_empty.contains(day) {
                continue;
            }
            let since = Secs(t.0.saturating_sub(within));
            // No earlier second of the day can still reach the duration.
            let day_start = Secs(next_day(day - 1).saturating_sub(within));
            let settled = cx.watermark.0 >= t.0.saturating_add(cx.rules.data_gap.fill_within.0)
                || state.coverage.settled(day_start, t);
            if !settled {
                continue;
            }
            state.rare_mut().days.reagent_empty.insert(day);
            list(cx, state, RuleId::ReagentEmpty, t);
            let seconds = seconds_within(&runs, t.0, within);
            let evidence = cx.evidence(
                since,
                t,
                None,
                vec![measured(
                    "empty_while_moving_seconds",
                    f64::from(seconds),
                    Some(f64::from(min)),
                    "s",
                )],
            );
            cx.case(state, RuleId::ReagentEmpty, &day_label(t), fine, evidence);
        }
    }
}

/// The first second (since 2000, UTC) of the Beijing day after `day`.
fn next_day(day: u16) -> u32 {
    (u32::from(day) + 1) * 86_400 - crate::model::BEIJING_OFFSET_SECS as u32
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
