//! The rules engine: `evaluate(&Rules, &VehicleState, &Event, &Facts) -> (VehicleState,
//! Vec<Output>)`.
//!
//! Pure and deterministic: no I/O, no clock, no randomness, no hash-map iteration. The same
//! function runs live, in offline replay, in the golden tests and in the benchmarks. Rules see
//! only validated domain types; decoding and validation happen at the edge (`crate::decode`).

mod context;
mod coverage;
mod episodes;
mod listing;
#[cfg(test)]
mod regressions;
mod report;
pub mod rules;
pub mod state;
#[cfg(test)]
pub(crate) mod testkit;
mod windows;

pub use crate::model::Boundary;
pub use rules::{Rules, Span};
pub use state::VehicleState;

use crate::model::{Alert, Event, EventKind, NeighbourListing, Output, Permit, Profile, Secs};
use context::Context;
use state::PermitState;

/// What global tables (read whole by every instance, not partitioned with the vehicle) say of
/// the vehicle when an event is evaluated. Live and offline alike, they are fed in the order
/// their records arrive, so the engine stays a function of its inputs.
#[derive(Debug, Clone, Copy, Default)]
pub struct Facts<'a> {
    /// Neighbouring provinces' listings of the vehicle: they count for `blacklisted_entry`.
    pub neighbours: &'a [NeighbourListing],
    /// Heavy-pollution alerts known (in force or not): `alert_restriction`.
    pub alerts: &'a [Alert],
    /// The vehicle's registration facts that alerts restrict by.
    pub profile: Option<&'a Profile>,
}

/// Applies one event to one vehicle's state.
///
/// Returns the new state and the outputs in a fixed order. An event older than the grace
/// period behind the vehicle's newest evidence returns the state unchanged and `Output::Late`.
/// Within grace, the order in which a vehicle's evidence arrives does not change its verdicts:
/// each rule keeps its evidence by event time and raises a case once no evidence still to come
/// can change it.
/// `facts`: what global tables say of the vehicle when the event is evaluated.
pub fn evaluate(
    rules: &Rules,
    state: &VehicleState,
    event: &Event,
    facts: &Facts,
) -> (VehicleState, Vec<Output>) {
    let now = event.time.secs().unwrap_or_default();
    if is_late(rules, state, now) {
        return (state.clone(), vec![Output::Late]);
    }
    let mut next = state.clone();
    let mut cx = Context::new(rules, event, *facts, now, state.last_seen.max(now));
    match &event.kind {
        EventKind::Login | EventKind::Logout => {
            let logout = matches!(event.kind, EventKind::Logout);
            windows::session_break(&cx, &mut next, now, logout);
            next.coverage.session_break(now, !logout);
        }
        EventKind::Report(report) => report::apply(&mut cx, &mut next, report),
        EventKind::RemovalAlarm { position } => {
            rules::blacklisted_entry::check(&mut cx, &mut next, now, *position);
            rules::alert_restriction::check(&mut cx, &mut next, now, *position);
            rules::terminal_tamper::removal_alarm(&mut cx, &mut next, *position);
        }
        EventKind::Housekeeping => {}
        EventKind::ManualCheck(check) => {
            adopt_plate(&mut next, check.plate);
            // Entry first: the listing this check may make cannot also be its entry case.
            rules::blacklisted_entry::check(&mut cx, &mut next, now, check.position);
            rules::alert_restriction::check(&mut cx, &mut next, now, check.position);
            rules::roadside_fail::apply(&mut cx, &mut next, check);
        }
        EventKind::RemoteSensing(pass) => {
            adopt_plate(&mut next, pass.plate);
            rules::blacklisted_entry::check(&mut cx, &mut next, now, pass.position);
            rules::alert_restriction::check(&mut cx, &mut next, now, pass.position);
            rules::remote_sensing_repeat::apply(&mut cx, &mut next, pass);
        }
        EventKind::Reinspection(test) => listing::reinspection(&mut cx, &mut next, test),
        EventKind::Registration(registration) => next.plate = Some(registration.plate),
        EventKind::Permit(permit) => hold_permit(rules, &mut next, permit, cx.watermark),
    }
    windows::decide(&mut cx, &mut next);
    rules::reagent_empty::decide(&mut cx, &mut next);
    rules::mil_emission_fault::decide(&mut cx, &mut next);
    rules::data_gap::decide(&mut cx, &mut next);
    if next.listing() != state.listing() {
        rules::blacklisted_entry::recheck(&mut cx, &mut next);
    }
    next.last_seen = cx.watermark;
    let written = match (&next.rare, &state.rare) {
        (Some(a), Some(b)) => !std::sync::Arc::ptr_eq(a, b),
        (a, b) => a.is_some() != b.is_some(),
    };
    if written {
        next.compact();
    }
    (next, cx.into_outputs())
}

/// Evidence this far behind the vehicle's newest is beyond the grace period.
pub fn is_late(rules: &Rules, state: &VehicleState, now: Secs) -> bool {
    !state.last_seen.is_never() && now.0.saturating_add(rules.time.grace.0) < state.last_seen.0
}

/// Whether a vehicle idle since `state.last_seen` can be dropped at watermark `now`: its
/// windows are long decided and it holds no fact that still matters — no listing, no listing
/// within the repeat-offender window, no registration, no permit still valid.
pub fn is_expired(rules: &Rules, state: &VehicleState, now: Secs) -> bool {
    let idle = now.0.saturating_sub(state.last_seen.0) > rules.time.vehicle_ttl.0;
    let listing = state.listing();
    let recent_listing = listing
        .history
        .iter()
        .any(|h| !h.is_never() && now.0.saturating_sub(h.0) <= rules.repeat_offender.within.0);
    let permit = state.rare().permits.iter().any(|p| p.valid_until > now);
    idle && !listing.is_listed() && !recent_listing && state.plate.is_none() && !permit
}

/// Roadside evidence names the plate; registration is authoritative when present.
fn adopt_plate(state: &mut VehicleState, plate: Option<crate::model::Plate>) {
    if state.plate.is_none() {
        state.plate = plate;
    }
}

/// Keeps every permit that can still matter, identified by its validity (a revocation comes
/// as the same permit, revoked). A permit issued in advance never replaces the one valid now.
/// When all slots hold permits that still matter, the one starting latest gives way.
fn hold_permit(rules: &Rules, state: &mut VehicleState, permit: &Permit, watermark: Secs) {
    let secs = |t: crate::model::EventTime| t.secs().unwrap_or_default();
    let held = PermitState {
        valid_from: secs(permit.valid_from),
        valid_until: secs(permit.valid_until),
        revoked: permit.revoked,
    };
    if held.valid_until.is_never() {
        return;
    }
    let horizon = watermark.0.saturating_sub(rules.time.grace.0);
    let slots = &mut state.rare_mut().permits;
    for p in slots.iter_mut() {
        if p.valid_until.0 < horizon {
            *p = PermitState::default();
        }
    }
    let same =
        |p: &PermitState| p.valid_from == held.valid_from && p.valid_until == held.valid_until;
    if let Some(p) = slots.iter_mut().find(|p| same(p)) {
        p.revoked |= held.revoked;
        return;
    }
    let slot = match slots.iter().position(|p| p.valid_until.is_never()) {
        Some(i) => i,
        None => {
            let (i, latest) = slots
                .iter()
                .enumerate()
                .max_by_key(|(_, p)| p.valid_from)
                .expect("slots");
            if latest.valid_from < held.valid_from {
                return;
            }
            i
        }
    };
    slots[slot] = held;
}
