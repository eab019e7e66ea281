//! A real-time or reissued report: the two are the same evidence. Each sample second counts
//! once however often it is sent (live, reissued, or both); new samples feed every rule that
//! reads the data stream, in a fixed order.

use crate::model::{Output, Report};

use super::context::Context;
use super::rules::{
    alert_restriction, blacklisted_entry, data_gap, mil_emission_fault, reagent_empty,
    terminal_tamper,
};
use super::{windows, VehicleState};

pub(crate) fn apply(cx: &mut Context, state: &mut VehicleState, report: &Report) {
    // Holes whose fill period has passed are judged before new samples can crowd them out.
    data_gap::decide(cx, state);
    let mut duplicates = 0u32;
    let mut entry_checked = false;
    let mut alert_checked = false;
    for sample in &report.samples {
        let Some(t) = sample.time.secs() else {
            continue;
        };
        if !windows::take(cx, state, t, sample) {
            duplicates += 1;
            continue;
        }
        reagent_empty::add(cx, state, t, sample);
        // In 0.1 km; odometers are positive, so adding a half and truncating rounds.
        let odometer = sample
            .odometer
            .ok()
            .map_or(0, |km| (km.0 * 10.0 + 0.5) as u32);
        state.coverage.add(t, odometer, !report.backfill);
        if let Some(position) = sample.position.filter(|p| p.valid) {
            if !entry_checked {
                entry_checked = blacklisted_entry::check(cx, state, t, Some(position));
            }
            if !alert_checked {
                alert_restriction::check(cx, state, t, Some(position));
                alert_checked = true;
            }
        }
    }
    for obd in &report.obd {
        let Some(t) = obd.time.secs() else { continue };
        mil_emission_fault::add(cx, state, t, obd);
        terminal_tamper::obd(cx, state, t, obd);
    }
    if duplicates > 0 {
        cx.push(Output::Duplicates(duplicates));
    }
}
