//! The rules engine: `evaluate(&Rules, &VehicleState, &Event) -> (VehicleState, Vec<Output>)`.
//!
//! Pure and deterministic: no I/O, no clock, no randomness, no hash-map iteration. The same
//! function runs live, in offline replay, in the golden tests and in the benchmarks. Rules see
//! only validated domain types; decoding and validation happen at the edge (`crate::decode`).

pub mod boundary;
mod context;
mod listing;
mod report;
pub mod rules;
pub mod state;
#[cfg(test)]
pub(crate) mod testkit;
mod windows;

pub use boundary::Boundary;
pub use rules::{Rules, Span};
pub use state::VehicleState;

use crate::model::{Event, EventKind, Output, Secs};
use context::Context;

/// Applies one event to one vehicle's state.
///
/// Returns the new state and the outputs in a fixed order. An event older than the grace
/// period behind the vehicle's newest evidence returns the state unchanged and `Output::Late`.
pub fn evaluate(rules: &Rules, state: &VehicleState, event: &Event) -> (VehicleState, Vec<Output>) {
    let now = event.time.secs().unwrap_or_default();
    if is_late(rules, state, now) {
        return (state.clone(), vec![Output::Late]);
    }
    let mut next = state.clone();
    let mut cx = Context::new(rules, event, now);
    match &event.kind {
        EventKind::Login | EventKind::Logout => {
            // A new session: the next live sample starts it, so no gap spans two sessions.
            next.session_open = false;
            windows::close_all(&mut cx, &mut next);
        }
        EventKind::Report(report) => report::apply(&mut cx, &mut next, report),
        EventKind::RemovalAlarm { position } => {
            rules::terminal_tamper::removal_alarm(&mut cx, &mut next, *position);
            rules::blacklisted_entry::check(&mut cx, &mut next, now, *position);
        }
        EventKind::Housekeeping => {}
        EventKind::ManualCheck(check) => {
            adopt_plate(&mut next, check.plate);
            rules::roadside_fail::apply(&mut cx, &mut next, check);
            rules::blacklisted_entry::check(&mut cx, &mut next, now, check.position);
        }
        EventKind::RemoteSensing(pass) => {
            adopt_plate(&mut next, pass.plate);
            rules::remote_sensing_repeat::apply(&mut cx, &mut next, pass);
            rules::blacklisted_entry::check(&mut cx, &mut next, now, pass.position);
        }
        EventKind::Reinspection(test) => listing::reinspection(&mut cx, &mut next, test),
        EventKind::Registration(registration) => next.plate = Some(registration.plate),
        EventKind::Permit(permit) => {
            let secs = |t: crate::model::EventTime| t.secs().unwrap_or_default();
            next.permit = state::PermitState {
                valid_from: secs(permit.valid_from),
                valid_until: secs(permit.valid_until),
            };
            next.permit_revoked = permit.revoked;
        }
    }
    rules::data_gap::decide(&mut cx, &mut next, now);
    next.last_seen = next.last_seen.max(now);
    (next, cx.into_outputs())
}

/// Evidence this far behind the vehicle's newest is beyond the grace period.
pub fn is_late(rules: &Rules, state: &VehicleState, now: Secs) -> bool {
    !state.last_seen.is_never() && now.0.saturating_add(rules.time.grace.0) < state.last_seen.0
}

/// Whether a vehicle last seen at `last_seen` has expired at watermark `now`.
pub fn is_expired(rules: &Rules, last_seen: Secs, now: Secs) -> bool {
    now.0.saturating_sub(last_seen.0) > rules.time.vehicle_ttl.0
}

/// Roadside evidence names the plate; registration is authoritative when present.
fn adopt_plate(state: &mut VehicleState, plate: Option<crate::model::Plate>) {
    if state.plate.is_none() {
        state.plate = plate;
    }
}
