//! `nox_over_limit`: a 5-minute window counts when it has enough NOx-valid samples and at
//! least half of them are over the downstream limit; three counting windows within 24 h make
//! an episode: blacklist (remote terminal) and a non-site case.

use serde::{Deserialize, Serialize};

use super::{positive, validate_episodes, Invalid, Span};
use crate::engine::state::WindowSlot;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub min_valid_samples: u32,
    pub downstream_limit_ppm: f32,
    pub min_over_fraction: f64,
    pub windows_per_episode: u32,
    pub episode_span: Span,
    pub fine_yuan: u32,
}

impl Params {
    pub(crate) fn validate(&self, window: u32) -> Result<(), Invalid> {
        validate_episodes(
            self.windows_per_episode,
            self.episode_span,
            self.min_valid_samples,
            window,
            [
                "nox_over_limit.windows_per_episode",
                "nox_over_limit.episode_span",
                "nox_over_limit.min_valid_samples",
            ],
        )?;
        if !(self.min_over_fraction > 0.0 && self.min_over_fraction <= 1.0) {
            return Err(Invalid {
                key: "nox_over_limit.min_over_fraction",
                message: "must be in (0, 1]".into(),
            });
        }
        if !positive(self.downstream_limit_ppm.into()) {
            return Err(Invalid {
                key: "nox_over_limit.downstream_limit_ppm",
                message: "must be positive".into(),
            });
        }
        Ok(())
    }
}

/// Whether a window counts: enough NOx-valid samples, at least the fraction of them over the
/// limit. `Some(outcome)` once no filling of its `missing` seconds can change it (`final_`: on
/// what it has).
pub(crate) fn outcome(p: &Params, slot: &WindowSlot, missing: u32, final_: bool) -> Option<bool> {
    let (v, o, m) = (u32::from(slot.valid), u32::from(slot.over), missing);
    let counts_with = |valid: u32, over: u32| {
        valid >= p.min_valid_samples
            && valid > 0
            && f64::from(over) / f64::from(valid) >= p.min_over_fraction
    };
    if final_ {
        return Some(counts_with(v, o));
    }
    // The fraction is lowest when every missing second is valid and under the limit, highest
    // when every one is valid and over it.
    if counts_with(v, o) && f64::from(o) / f64::from(v + m) >= p.min_over_fraction {
        return Some(true);
    }
    if v + m < p.min_valid_samples || !counts_with(v + m, o + m) {
        return Some(false);
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::engine::testkit::{rules, sample, Vehicle, T0};
    use crate::model::{Absent, EventKind, Ppm, RuleId};

    /// Drives window `w` (5 min from T0 + w·300) with `valid` NOx-valid samples of which
    /// `over` have downstream NOx at `high` ppm; the rest of the window is not NOx-valid. The
    /// window is one login session, so the hours between windows hold no data to wait for.
    fn window(v: &mut Vehicle, w: i64, valid: i64, over: i64, high: f32) {
        let start = T0 + w * 300;
        v.send(start, EventKind::Login);
        v.drive(start, start + 300, false, |t| {
            let i = t - start;
            let mut s = sample(t);
            if i >= valid {
                s.coolant = Ok(crate::model::Celsius(60.0));
            } else if i < over {
                s.nox_downstream = Ok(Ppm(high));
                s.nox_upstream = Ok(Ppm(1500.0));
            }
            s
        });
        v.send(start + 299, EventKind::Logout);
    }

    fn episodes(valid: i64, over: i64, high: f32) -> usize {
        let mut v = Vehicle::new(rules(""));
        for w in [0, 10, 20] {
            window(&mut v, w, valid, over, high);
        }
        v.cases(RuleId::NoxOverLimit).len()
    }

    #[test]
    fn minimum_valid_samples_boundary() {
        assert_eq!(episodes(59, 59, 600.0), 0, "59 valid samples");
        assert_eq!(episodes(60, 60, 600.0), 1, "60 valid samples");
    }

    #[test]
    fn over_fraction_boundary() {
        assert_eq!(episodes(100, 49, 600.0), 0, "49 %");
        assert_eq!(episodes(100, 50, 600.0), 1, "50 %");
    }

    #[test]
    fn downstream_limit_is_strictly_over() {
        assert_eq!(episodes(100, 100, 500.0), 0, "at the limit");
        assert_eq!(episodes(100, 100, 500.05), 1, "just over");
    }

    #[test]
    fn two_windows_are_not_an_episode_and_three_must_fall_within_24h() {
        let mut v = Vehicle::new(rules(""));
        window(&mut v, 0, 100, 100, 800.0);
        window(&mut v, 10, 100, 100, 800.0);
        assert!(v.cases(RuleId::NoxOverLimit).is_empty());
        // 24 h after the first counting window started: outside the span.
        window(&mut v, 288, 100, 100, 800.0);
        assert!(v.cases(RuleId::NoxOverLimit).is_empty());
        window(&mut v, 289, 100, 100, 800.0);
        let cases = v.cases(RuleId::NoxOverLimit);
        assert_eq!(cases.len(), 1);
        assert_eq!(
            cases[0].id,
            "nox_over_limit:LGDCHA1G8MA127733:20261102T085000"
        );
        assert!(v.listed());
        assert_eq!(v.blacklist()[0].reasons, vec![RuleId::NoxOverLimit]);
    }

    #[test]
    fn sensor_not_ready_samples_are_not_nox_valid() {
        let mut v = Vehicle::new(rules(""));
        for w in [0, 10, 20] {
            let start = T0 + w * 300;
            v.send(start, EventKind::Login);
            v.drive(start, start + 300, false, |t| {
                let mut s = sample(t);
                s.nox_downstream = if t % 2 == 0 {
                    Err(Absent::NotReady)
                } else {
                    Ok(Ppm(900.0))
                };
                s
            });
            v.send(start + 299, EventKind::Logout);
        }
        // 150 valid samples per window, all over: still an episode; the not-ready half is ignored.
        assert_eq!(v.cases(RuleId::NoxOverLimit).len(), 1);
    }

    #[test]
    fn duplicate_reports_change_nothing() {
        let mut once = Vehicle::new(rules(""));
        let mut twice = Vehicle::new(rules(""));
        for w in [0, 10] {
            window(&mut once, w, 100, 100, 800.0);
            window(&mut twice, w, 100, 100, 800.0);
            window(&mut twice, w, 100, 100, 800.0);
        }
        assert_eq!(once.state, twice.state);
        assert!(twice.cases(RuleId::NoxOverLimit).is_empty());
    }

    #[test]
    fn reissued_windows_count_like_live_ones() {
        let mut v = Vehicle::new(rules(""));
        window(&mut v, 100, 100, 100, 800.0);
        // Reissued data for two earlier windows arrives after the live one.
        for w in [0, 10] {
            let start = T0 + w * 300;
            v.drive(start, start + 300, true, |t| {
                let mut s = sample(t);
                s.nox_downstream = Ok(Ppm(800.0));
                s
            });
        }
        // The offline hours between them may still be reissued: the episode waits for the
        // fill period, so a window found there can neither make a second case nor move it.
        assert!(v.cases(RuleId::NoxOverLimit).is_empty() && !v.listed());
        v.send(T0 + 8 * 86_400, EventKind::Housekeeping);
        let cases = v.cases(RuleId::NoxOverLimit);
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].first_evidence.unix_secs(), T0);
        assert!(v.listed());
    }
}
