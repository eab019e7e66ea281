//! The tumbling windows shared by `nox_over_limit` and `scr_ineffective`.
//!
//! A window keeps the seconds it has seen, so a sample sent live and again as reissue counts
//! once. It is decided for a rule as soon as its outcome is certain — whatever its missing
//! seconds turn out to hold — or when it is complete, or when `data_gap.fill_within` has
//! passed since its end (then on what it has). So a window split by an outage is judged whole,
//! with its reissued part, and the order in which its parts arrive does not matter.

use crate::model::{RuleId, Sample, Secs};

use super::context::Context;
use super::episodes;
use super::rules::{nox_over_limit, scr_ineffective};
use super::state::WindowSlot;
use super::VehicleState;

/// `WindowSlot::flags`.
const PARTIAL: u8 = 1;
const NOX_DECIDED: u8 = 2;
const SCR_DECIDED: u8 = 4;

/// Conversion efficiencies are summed in millionths.
pub(crate) const MICRO: f64 = 1e6;

fn slot_has(slot: &WindowSlot, offset: u16) -> bool {
    slot.seen
        .iter()
        .any(|&(from, to)| to != 0 && from <= offset && offset < to)
}

/// Takes one sample into its window. Returns false when second `t` was seen before — by its
/// undecided window or, for decided windows, inside the covered stream: a duplicate that no
/// rule counts again.
pub(crate) fn take(cx: &mut Context, state: &mut VehicleState, t: Secs, s: &Sample) -> bool {
    let window = cx.rules.nox_validity.window.0;
    let index = t.0 / window;
    let offset = (t.0 - index * window) as u16;
    // The common case: the next second of the window being filled, in the inline slot.
    let slot = &state.window;
    if slot.index == index
        && slot.flags & PARTIAL == 0
        && !slot.seen.iter().any(|r| r.1 != 0 && r.0 == offset + 1)
    {
        if let Some(run) = slot.seen.iter().position(|r| r.1 != 0 && r.1 == offset) {
            state.window.seen[run].1 += 1;
            tally(cx, &mut state.window, s);
            return true;
        }
    }
    let found = find(state, index);
    let seen = match found.map(|i| state.slot(i)) {
        // A partial window cannot tell its seconds from before it was reopened.
        Some(slot) => {
            slot_has(slot, offset) || (slot.flags & PARTIAL != 0 && state.coverage.contains(t))
        }
        None => state.coverage.contains(t),
    };
    if seen {
        return false;
    }
    if cx.watermark.0 >= (index + 1) * window + cx.rules.data_gap.fill_within.0 {
        // Past its fill period: the window has been decided on what it had.
        return true;
    }
    let position = match found {
        Some(i) => i,
        None => {
            // Decide first, so a window completed earlier in the same report frees its slot.
            let room = (0..state.allocated_slots())
                .map(|i| state.slot(i))
                .any(|s| s.index == 0 || decided(s));
            if !room {
                decide(cx, state);
            }
            open(state, index, window)
        }
    };
    count(cx, state.slot_mut(position), offset, s);
    true
}

/// Records second `offset` in the slot and counts the sample for both rules.
fn count(cx: &Context, slot: &mut WindowSlot, offset: u16, s: &Sample) {
    if !record(slot, offset) {
        slot.flags |= PARTIAL;
        return;
    }
    tally(cx, slot, s);
}

/// Counts a recorded sample for both rules.
fn tally(cx: &Context, slot: &mut WindowSlot, s: &Sample) {
    let gate = &cx.rules.nox_validity;
    let Ok(down) = s.nox_downstream else {
        return;
    };
    let valid = s.engine_rpm.is_ok_and(|r| r.0 >= gate.min_engine_rpm)
        && s.coolant.is_ok_and(|c| c.0 >= gate.min_coolant_c)
        && s.scr_inlet.is_ok_and(|c| c.0 >= gate.min_scr_inlet_c);
    if !valid {
        return;
    }
    slot.valid += 1;
    if down.0 > cx.rules.nox_over_limit.downstream_limit_ppm {
        slot.over += 1;
    }
    if let Ok(up) = s.nox_upstream {
        if up.0 >= cx.rules.scr_ineffective.min_upstream_ppm {
            let conversion = (1.0 - f64::from(down.0) / f64::from(up.0)).clamp(0.0, 1.0);
            slot.conversion_samples += 1;
            // Non-negative: adding a half and truncating rounds it.
            slot.conversion_sum += (conversion * MICRO + 0.5) as u32;
        }
    }
}

/// Opens a slot for window `index`: a free one, else the oldest decided one (kept so far
/// only to recognise its remaining seconds), else the oldest undecided window is abandoned: it
/// will never count (a missed verdict, never a wrong one).
fn open(state: &mut VehicleState, index: u32, window: u32) -> usize {
    // Prefer slots that exist: an unallocated `rare` counts after a decided slot.
    let allocated = state.allocated_slots();
    let (position, _) = (0..VehicleState::SLOTS)
        .map(|i| (i, state.slot(i)))
        .min_by_key(|&(i, s)| match (i, s.index, decided(s), i < allocated) {
            // The inline slot first (writing `rare` copies it), then free, then decided ones.
            (0, 0, _, _) | (0, _, true, _) => (0, 0),
            (_, 0, _, true) => (1, 0),
            (_, _, true, _) => (2, s.index),
            (_, 0, _, false) => (3, 0),
            _ => (4, s.index),
        })
        .expect("slots");
    // Seen seconds of this window from before it had a slot cannot be told apart from new ones:
    // the reopened window decides only when certain.
    let (from, to) = (Secs(index * window), Secs((index + 1) * window - 1));
    let reopened = state
        .coverage
        .runs
        .iter()
        .any(|r| !r.start.is_never() && r.start <= to && r.end >= from);
    *state.slot_mut(position) = WindowSlot {
        index,
        flags: if reopened { PARTIAL } else { 0 },
        ..WindowSlot::default()
    };
    position
}

/// Records second `offset` in the slot's runs of seen seconds (`[from, to)`); false when a
/// fourth run would be needed.
fn record(slot: &mut WindowSlot, offset: u16) -> bool {
    let runs = &mut slot.seen;
    let before = runs.iter().position(|r| r.1 != 0 && r.1 == offset);
    let after = runs.iter().position(|r| r.1 != 0 && r.0 == offset + 1);
    match (before, after) {
        (Some(i), Some(j)) => {
            runs[i].1 = runs[j].1;
            runs[j] = (0, 0);
        }
        (Some(i), None) => runs[i].1 += 1,
        (None, Some(j)) => runs[j].0 = offset,
        (None, None) => match runs.iter().position(|r| r.1 == 0) {
            Some(i) => runs[i] = (offset, offset + 1),
            None => return false,
        },
    }
    true
}

/// A login or logout at `t`: the seconds of its window before a login, or after a logout, hold
/// no data, so the window is not waiting for them.
pub(crate) fn session_break(cx: &Context, state: &mut VehicleState, t: Secs, logout: bool) {
    let window = cx.rules.nox_validity.window.0;
    let index = t.0 / window;
    let offset = (t.0 - index * window) as u16;
    let position = match find(state, index) {
        Some(i) => i,
        None if (0..state.allocated_slots())
            .map(|i| state.slot(i))
            .any(|s| s.index == 0 || decided(s)) =>
        {
            open(state, index, window)
        }
        None => return,
    };
    let slot = state.slot_mut(position);
    let offsets = if logout {
        offset + 1..window as u16
    } else {
        0..offset
    };
    for o in offsets {
        if !slot_has(slot, o) && !record(slot, o) {
            slot.flags |= PARTIAL;
        }
    }
}

fn seen_count(slot: &WindowSlot) -> u32 {
    slot.seen
        .iter()
        .map(|&(from, to)| u32::from(to - from))
        .sum()
}

/// Decides every window whose outcome is known and hands counting windows to the episodes.
pub(crate) fn decide(cx: &mut Context, state: &mut VehicleState) {
    let window = cx.rules.nox_validity.window.0;
    for i in 0..state.allocated_slots() {
        let slot = *state.slot(i);
        if slot.index == 0 {
            continue;
        }
        let missing = window - seen_count(&slot).min(window);
        let expired = cx.watermark.0 >= (slot.index + 1) * window + cx.rules.data_gap.fill_within.0;
        // Past its fill period a partial window may have lost samples it cannot tell from
        // duplicates: it counts only if certain.
        let final_ = missing == 0 || (expired && slot.flags & PARTIAL == 0);
        let mut flags = slot.flags;
        for (rule, bit) in [
            (RuleId::NoxOverLimit, NOX_DECIDED),
            (RuleId::ScrIneffective, SCR_DECIDED),
        ] {
            if flags & bit != 0 {
                continue;
            }
            let outcome = match rule {
                RuleId::NoxOverLimit => {
                    nox_over_limit::outcome(&cx.rules.nox_over_limit, &slot, missing, final_)
                }
                _ => scr_ineffective::outcome(&cx.rules.scr_ineffective, &slot, missing, final_),
            };
            match outcome {
                Some(counts) => {
                    flags |= bit;
                    if counts {
                        episodes::counted(cx, state, rule, slot.index);
                    }
                }
                None if expired => flags |= bit,
                None => {}
            }
        }
        if flags != slot.flags {
            state.slot_mut(i).flags = flags;
        }
        // A decided window keeps its slot while its remaining seconds may still come, so they
        // are recognised as its own rather than reopening it.
        if decided(state.slot(i)) && (missing == 0 || expired) {
            *state.slot_mut(i) = WindowSlot::default();
        }
    }
    episodes::advance(cx, state, RuleId::NoxOverLimit);
    episodes::advance(cx, state, RuleId::ScrIneffective);
}

fn decided(slot: &WindowSlot) -> bool {
    slot.flags & NOX_DECIDED != 0 && slot.flags & SCR_DECIDED != 0
}

/// Whether an undecided window lies before `index`: it may still count. (A partial window,
/// reopened after its slot was taken, is not waited for: it decides only when certain.)
pub(crate) fn pending_before(state: &VehicleState, index: u32) -> bool {
    (0..state.allocated_slots())
        .map(|i| state.slot(i))
        .any(|s| s.index != 0 && s.index < index && !decided(s) && s.flags & PARTIAL == 0)
}

/// The slot holding window `index`.
fn find(state: &VehicleState, index: u32) -> Option<usize> {
    (0..state.allocated_slots()).find(|&i| state.slot(i).index == index)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seen_runs_join_in_any_order() {
        let mut slot = WindowSlot {
            index: 1,
            ..WindowSlot::default()
        };
        for offset in (0..100).chain(200..300).chain(100..200).rev() {
            assert!(record(&mut slot, offset));
        }
        assert_eq!(seen_count(&slot), 300);
        assert!(slot_has(&slot, 0) && slot_has(&slot, 299));
    }

    #[test]
    fn a_fourth_run_is_refused() {
        let mut slot = WindowSlot::default();
        for offset in [0, 10, 20] {
            assert!(record(&mut slot, offset));
        }
        assert!(!record(&mut slot, 30));
        assert!(record(&mut slot, 11), "extending a run needs no new one");
    }
}
