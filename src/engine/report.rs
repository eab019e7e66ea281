//! A real-time or reissued report: dedupe its samples and OBD entries, then feed every rule
//! that reads the data stream, in a fixed order.

use crate::model::{Report, Secs};

use super::context::Context;
use super::rules::{
    blacklisted_entry, data_gap, mil_emission_fault, reagent_empty, terminal_tamper,
};
use super::{windows, VehicleState};

pub(crate) fn apply(cx: &mut Context, state: &mut VehicleState, report: &Report) {
    let mut duplicates = 0u32;
    let mut entry_checked = false;
    for sample in &report.samples {
        let Some(t) = sample.time.secs() else {
            continue;
        };
        let cursor = if report.backfill {
            &mut state.stream.last_backfill
        } else {
            &mut state.stream.last_live
        };
        if t <= *cursor {
            duplicates += 1;
            continue;
        }
        let before = std::mem::replace(cursor, t);
        if report.backfill {
            data_gap::on_backfill(cx, state, t);
        } else {
            data_gap::on_live(cx, state, before, t, sample);
        }
        windows::add(cx, state, report.backfill, t, sample);
        reagent_empty::add(cx, state, t, sample);
        if !entry_checked {
            if let Some(position) = sample.position.filter(|p| p.valid) {
                entry_checked = blacklisted_entry::check(cx, state, t, Some(position));
            }
        }
    }
    for obd in &report.obd {
        let Some(t) = obd.time.secs() else { continue };
        // Reissued OBD entries are older than live ones by nature: they can still show a
        // foreign VIN, but the MIL streak and firmware history follow live reports only.
        if report.backfill {
            terminal_tamper::obd(cx, state, t, obd, true);
            continue;
        }
        if t <= state.stream.last_obd {
            duplicates += 1;
            continue;
        }
        state.stream.last_obd = t;
        mil_emission_fault::add(cx, state, t, obd);
        terminal_tamper::obd(cx, state, t, obd, false);
    }
    let last = report
        .samples
        .iter()
        .filter_map(|s| s.time.secs())
        .max()
        .unwrap_or(Secs(0));
    windows::close_finished(cx, state, report.backfill, last);
    if duplicates > 0 {
        cx.push(crate::model::Output::Duplicates(duplicates));
    }
}
