//! `nox_over_limit`: a 5-minute window counts when it has enough NOx-valid samples and at
//! least half of them are over the downstream limit; three counting windows within 24 h make
//! an episode: blacklist (remote terminal) and a non-site case.

use serde::{Deserialize, Serialize};

use super::{validate_episodes, Invalid, Span};
use crate::engine::context::{label, measured, Context};
use crate::engine::listing::list;
use crate::engine::state::WindowSlot;
use crate::engine::windows::count_window;
use crate::engine::VehicleState;
use crate::model::{RuleId, Secs};

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
        if !(self.downstream_limit_ppm > 0.0) {
            return Err(Invalid {
                key: "nox_over_limit.downstream_limit_ppm",
                message: "must be positive".into(),
            });
        }
        Ok(())
    }
}

pub(crate) fn window_closed(cx: &mut Context, state: &mut VehicleState, slot: &WindowSlot) {
    let p = &cx.rules.nox_over_limit;
    if u32::from(slot.valid) < p.min_valid_samples {
        return;
    }
    let fraction = f64::from(slot.over) / f64::from(slot.valid);
    if fraction < p.min_over_fraction {
        return;
    }
    let window = cx.rules.nox_validity.window.0;
    let span = p.episode_span.0 / window;
    let needed = p.windows_per_episode;
    let Some(first) = count_window(&mut state.nox_over_limit, slot.index, needed, span) else {
        return;
    };
    let (min_valid, min_fraction, limit, fine) =
        (p.min_valid_samples, p.min_over_fraction, p.downstream_limit_ppm, p.fine_yuan);
    let end = Secs((slot.index.max(state.nox_over_limit.recent[0]) + 1) * window - 1);
    list(cx, state, RuleId::NoxOverLimit, end);
    let evidence = cx.evidence(
        Secs(first * window),
        end,
        None,
        vec![
            measured("counting_windows", f64::from(needed), Some(f64::from(needed)), "count"),
            measured("window_nox_valid_samples", f64::from(slot.valid), Some(f64::from(min_valid)), "count"),
            measured("window_over_limit_fraction", fraction, Some(min_fraction), "ratio"),
            measured("nox_downstream_limit_ppm", f64::from(limit), Some(f64::from(limit)), "ppm"),
        ],
    );
    cx.case(state, RuleId::NoxOverLimit, &label(Secs(first * window)), fine, evidence);
}
