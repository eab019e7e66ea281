//! `data_gap`: live data stops for at least 30 minutes inside a login session while the odometer
//! advances at least 5 km, and reissued data does not fill the gap within 7 days. Decided at the
//! first evidence after the gap's end plus the fill period. A case (tampering suspected); no
//! blacklist.
//!
//! State holds one pending gap. A second gap while one is still undecided decides the first
//! early on what has been reissued so far (documented limitation; see README).

use serde::{Deserialize, Serialize};

use super::{Invalid, Span};
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
            return Err(Invalid { key: "data_gap.min_gap", message: "must be positive".into() });
        }
        if !(self.min_distance_km >= 0.0) {
            return Err(Invalid { key: "data_gap.min_distance_km", message: "must be at least 0".into() });
        }
        Ok(())
    }
}

/// `before` is the previous live sample's time (0 = none).
pub(crate) fn on_live(cx: &mut Context, state: &mut VehicleState, before: Secs, t: Secs, s: &Sample) {
    let p = &cx.rules.data_gap;
    let odometer = s.odometer.ok().map(|km| (km.0 * 10.0).round() as u32);
    let previous = state.stream.odometer_hm;
    let in_session = state.stream.session_open && !before.is_never();
    if in_session && t.0 - before.0 >= p.min_gap.0 {
        if let Some(now_hm) = odometer.filter(|_| previous != 0) {
            let distance_hm = now_hm.saturating_sub(previous);
            if f64::from(distance_hm) / 10.0 >= p.min_distance_km {
                if !state.gap.start.is_never() {
                    decide_now(cx, state);
                }
                state.gap = PendingGap { start: before, end: t, filled_to: before, distance_hm };
            }
        }
    }
    state.stream.session_open = true;
    if let Some(hm) = odometer {
        state.stream.odometer_hm = hm;
    }
}

pub(crate) fn on_backfill(cx: &mut Context, state: &mut VehicleState, t: Secs) {
    let gap = &mut state.gap;
    if gap.start.is_never() || t <= gap.start || t >= gap.end {
        return;
    }
    let min_gap = cx.rules.data_gap.min_gap.0;
    if t.0 - gap.filled_to.0 < min_gap {
        gap.filled_to = gap.filled_to.max(t);
    }
    if gap.end.0 - gap.filled_to.0 < min_gap {
        state.gap = PendingGap::default();
    }
}

/// At any evidence: a pending gap whose fill period has passed is a case.
pub(crate) fn decide(cx: &mut Context, state: &mut VehicleState, now: Secs) {
    let gap = state.gap;
    if gap.start.is_never() || now.0 < gap.end.0.saturating_add(cx.rules.data_gap.fill_within.0) {
        return;
    }
    decide_now(cx, state);
}

fn decide_now(cx: &mut Context, state: &mut VehicleState) {
    let gap = std::mem::take(&mut state.gap);
    let p = &cx.rules.data_gap;
    let (min_gap, min_km, fine) = (p.min_gap.0, p.min_distance_km, p.fine_yuan);
    let evidence = cx.evidence(
        gap.start,
        gap.end,
        None,
        vec![
            measured("gap_minutes", f64::from(gap.end.0 - gap.start.0) / 60.0, Some(f64::from(min_gap) / 60.0), "min"),
            measured("distance_km", f64::from(gap.distance_hm) / 10.0, Some(min_km), "km"),
            measured("unfilled_minutes", f64::from(gap.end.0 - gap.filled_to.0) / 60.0, None, "min"),
        ],
    );
    cx.case(state, RuleId::DataGap, &label(gap.start), fine, evidence);
}
