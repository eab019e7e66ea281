//! `blacklisted_entry` (Art. 16): positioned evidence inside Beijing of an out-of-town vehicle
//! that is blacklisted and holds no valid entry permit at that instant. A non-site case, at most
//! one per vehicle per Beijing day. Cheap checks first; the polygon test last.

use serde::{Deserialize, Serialize};

use super::Invalid;
use crate::engine::context::{day_label, measured, Context};
use crate::engine::VehicleState;
use crate::model::{Position, RuleId, Secs};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Path of a GeoJSON boundary; empty for the built-in approximate polygon.
    pub boundary: String,
    pub near_boundary_km: f64,
    pub fine_yuan: u32,
}

impl Params {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if !(self.near_boundary_km >= 0.0) {
            return Err(Invalid { key: "blacklisted_entry.near_boundary_km", message: "must be at least 0".into() });
        }
        Ok(())
    }
}

/// Returns whether the position was tested against the boundary (so callers can test one
/// position per report).
pub(crate) fn check(cx: &mut Context, state: &mut VehicleState, t: Secs, position: Option<Position>) -> bool {
    let Some(position) = position else { return false };
    let listing = &state.listing;
    let out_of_town = state.plate.is_some_and(|p| !p.is_beijing());
    let permit = &state.permit;
    let permitted = !permit.revoked && permit.valid_from <= t && t < permit.valid_until;
    let day = t.beijing_day();
    if listing.listed_at.is_never()
        || t < listing.listed_at
        || !out_of_town
        || permitted
        || day <= state.days.blacklisted_entry
    {
        return false;
    }
    if !cx.rules.boundary.contains(position.lon, position.lat) {
        return true;
    }
    state.days.blacklisted_entry = day;
    let fine = cx.rules.blacklisted_entry.fine_yuan;
    let evidence = cx.evidence(t, t, Some(position), vec![measured("inside_beijing_without_permit", 1.0, None, "flag")]);
    cx.case(state, RuleId::BlacklistedEntry, &day_label(t), fine, evidence);
    true
}
