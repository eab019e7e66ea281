//! `scr_ineffective`: a window counts when enough NOx-valid samples have upstream NOx at or
//! over the minimum and their mean conversion `1 − down/up` is below the threshold; three
//! counting windows within 24 h: blacklist and a case (tampering suspected).

use serde::{Deserialize, Serialize};

use super::{positive, validate_episodes, Invalid, Span};
use crate::engine::state::WindowSlot;
use crate::engine::windows::MICRO;

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub min_valid_samples: u32,
    pub min_upstream_ppm: f32,
    pub max_mean_conversion: f64,
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
                "scr_ineffective.windows_per_episode",
                "scr_ineffective.episode_span",
                "scr_ineffective.min_valid_samples",
            ],
        )?;
        if !(self.max_mean_conversion > 0.0 && self.max_mean_conversion <= 1.0) {
            return Err(Invalid {
                key: "scr_ineffective.max_mean_conversion",
                message: "must be in (0, 1]".into(),
            });
        }
        if !positive(self.min_upstream_ppm.into()) {
            return Err(Invalid {
                key: "scr_ineffective.min_upstream_ppm",
                message: "must be positive".into(),
            });
        }
        Ok(())
    }
}

/// Whether a window counts: enough converting samples, mean conversion below the threshold,
/// averaged unrounded. `Some(outcome)` once no filling of its `missing` seconds can change it
/// (`final_`: on what it has).
pub(crate) fn outcome(p: &Params, slot: &WindowSlot, missing: u32, final_: bool) -> Option<bool> {
    let (n, m) = (u32::from(slot.conversion_samples), missing);
    let sum = f64::from(slot.conversion_sum) / MICRO;
    let counts_with = |samples: u32, sum: f64| {
        samples >= p.min_valid_samples
            && samples > 0
            && sum / f64::from(samples) < p.max_mean_conversion
    };
    if final_ {
        return Some(counts_with(n, sum));
    }
    // The mean is highest when every missing second converts fully, lowest when none does.
    if counts_with(n, sum) && (sum + f64::from(m)) / f64::from(n + m) < p.max_mean_conversion {
        return Some(true);
    }
    if n + m < p.min_valid_samples || !counts_with(n + m, sum) {
        return Some(false);
    }
    None
}

#[cfg(test)]
mod tests {
    use crate::engine::testkit::{rules, sample, Vehicle, T0};
    use crate::model::{Ppm, RuleId};

    fn episodes(up: f32, down: f32) -> Vehicle {
        let mut v = Vehicle::new(rules(""));
        for w in [0, 1, 2] {
            let start = T0 + w * 300;
            v.drive(start, start + 300, false, |t| {
                let mut s = sample(t);
                s.nox_upstream = Ok(Ppm(up));
                s.nox_downstream = Ok(Ppm(down));
                s
            });
        }
        v
    }

    #[test]
    fn mean_conversion_boundary() {
        // 1 − 280/400 = 0.30: not below the threshold.
        assert!(episodes(400.0, 280.0)
            .cases(RuleId::ScrIneffective)
            .is_empty());
        // 1 − 284/400 = 0.29.
        let v = episodes(400.0, 284.0);
        let cases = v.cases(RuleId::ScrIneffective);
        assert_eq!(cases.len(), 1);
        assert!(v.listed());
        assert!(
            v.cases(RuleId::NoxOverLimit).is_empty(),
            "downstream stays under 500 ppm"
        );
    }

    #[test]
    fn upstream_minimum_boundary() {
        assert!(episodes(199.95, 190.0)
            .cases(RuleId::ScrIneffective)
            .is_empty());
        assert_eq!(
            episodes(200.0, 190.0).cases(RuleId::ScrIneffective).len(),
            1
        );
    }

    #[test]
    fn working_scr_is_clean() {
        let v = episodes(800.0, 60.0);
        assert!(v.outputs.is_empty(), "{:?}", v.outputs);
    }
}
