//! The tumbling windows shared by `nox_over_limit` and `scr_ineffective`: per-window counters in
//! two slots (live and reissued data), closed when the stream moves past them, a logout, or
//! the window's last second. A closed window is handed to both rules.

use crate::model::{Measurement, RuleId, Sample, Secs};

use super::context::{label, measured, Context};
use super::listing::list;
use super::rules::{nox_over_limit, scr_ineffective};
use super::state::WindowSlot;
use super::VehicleState;

/// Adds one deduplicated sample to its window, closing whichever window the slot held before.
pub(crate) fn add(cx: &mut Context, state: &mut VehicleState, backfill: bool, t: Secs, s: &Sample) {
    let gate = &cx.rules.nox_validity;
    let down = match s.nox_downstream {
        Ok(down) => down.0,
        Err(_) => return,
    };
    let valid = s.engine_rpm.is_ok_and(|r| r.0 >= gate.min_engine_rpm)
        && s.coolant.is_ok_and(|c| c.0 >= gate.min_coolant_c)
        && s.scr_inlet.is_ok_and(|c| c.0 >= gate.min_scr_inlet_c);
    if !valid {
        return;
    }
    let index = t.0 / gate.window.0;
    let slot = if state.nox.live.index == index {
        &mut state.nox.live
    } else if state.nox.backfill.index == index {
        &mut state.nox.backfill
    } else {
        let fresh = WindowSlot {
            index,
            ..WindowSlot::default()
        };
        let closed = std::mem::replace(state.nox.slot_mut(backfill), fresh);
        close(cx, state, closed);
        state.nox.slot_mut(backfill)
    };
    slot.valid = slot.valid.saturating_add(1);
    if down > cx.rules.nox_over_limit.downstream_limit_ppm {
        slot.over = slot.over.saturating_add(1);
    }
    if let Ok(up) = s.nox_upstream {
        if up.0 >= cx.rules.scr_ineffective.min_upstream_ppm {
            let conversion = (1.0 - down / up.0).clamp(0.0, 1.0);
            slot.conversion_samples = slot.conversion_samples.saturating_add(1);
            slot.conversion_sum = slot
                .conversion_sum
                .saturating_add((conversion * 100.0).round() as u16);
        }
    }
}

/// Closes the slot fed by this report if its window's last second has been seen.
pub(crate) fn close_finished(
    cx: &mut Context,
    state: &mut VehicleState,
    backfill: bool,
    last: Secs,
) {
    let window = cx.rules.nox_validity.window.0;
    let slot = state.nox.slot_mut(backfill);
    if slot.index != 0 && last.0 >= (slot.index + 1) * window - 1 {
        let closed = std::mem::take(slot);
        close(cx, state, closed);
    }
}

pub(crate) fn close_all(cx: &mut Context, state: &mut VehicleState) {
    let live = std::mem::take(&mut state.nox.live);
    let backfill = std::mem::take(&mut state.nox.backfill);
    close(cx, state, live);
    close(cx, state, backfill);
}

fn close(cx: &mut Context, state: &mut VehicleState, slot: WindowSlot) {
    if slot.index == 0 {
        return;
    }
    nox_over_limit::window_closed(cx, state, &slot);
    scr_ineffective::window_closed(cx, state, &slot);
}

/// A window counted for `rule` (`nox_over_limit` or `scr_ineffective`): records it and, when it
/// completes an episode, lists the vehicle and raises the case, keyed by the episode's first
/// window.
pub(crate) fn counted(
    cx: &mut Context,
    state: &mut VehicleState,
    rule: RuleId,
    index: u32,
    mut measurements: Vec<Measurement>,
) {
    let window = cx.rules.nox_validity.window.0;
    let (episodes, needed, span, fine) = match rule {
        RuleId::NoxOverLimit => {
            let p = &cx.rules.nox_over_limit;
            (
                &mut state.nox_over_limit,
                p.windows_per_episode,
                p.episode_span,
                p.fine_yuan,
            )
        }
        _ => {
            let p = &cx.rules.scr_ineffective;
            (
                &mut state.scr_ineffective,
                p.windows_per_episode,
                p.episode_span,
                p.fine_yuan,
            )
        }
    };
    let Some(first) = count_window(episodes, index, needed, span.0 / window) else {
        return;
    };
    let end = Secs((index.max(episodes.recent[0]) + 1) * window - 1);
    list(cx, state, rule, end);
    let needed = f64::from(needed);
    measurements.insert(
        0,
        measured("counting_windows", needed, Some(needed), "count"),
    );
    let evidence = cx.evidence(Secs(first * window), end, None, measurements);
    cx.case(state, rule, &label(Secs(first * window)), fine, evidence);
}

/// Records a counting window and says whether it completes a new episode: `needed` counting
/// windows within `span_windows`. Returns the episode's first window.
pub(crate) fn count_window(
    episodes: &mut super::state::Episodes,
    index: u32,
    needed: u32,
    span_windows: u32,
) -> Option<u32> {
    if episodes.recent.contains(&index) {
        return None;
    }
    let mut all = [index, episodes.recent[0], episodes.recent[1]];
    all.sort_unstable_by(|a, b| b.cmp(a));
    episodes.recent = [all[0], all[1]];
    // The `needed` newest windows that include `index`, all within the span.
    let members: Vec<u32> = all.iter().copied().filter(|&w| w != 0).collect();
    let pos = members.iter().position(|&w| w == index)?;
    let needed = needed as usize;
    for start in pos.saturating_sub(needed - 1)..=pos {
        let group = members.get(start..start + needed)?;
        let (newest, oldest) = (group[0], group[needed - 1]);
        if newest - oldest < span_windows {
            let first = oldest;
            let open = episodes.episode_start != 0
                && first >= episodes.episode_start
                && first < episodes.episode_start + span_windows;
            if open {
                return None;
            }
            episodes.episode_start = first;
            return Some(first);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::Episodes;

    #[test]
    fn three_windows_within_span_make_one_episode() {
        let mut e = Episodes::default();
        assert_eq!(count_window(&mut e, 100, 3, 288), None);
        assert_eq!(count_window(&mut e, 150, 3, 288), None);
        assert_eq!(count_window(&mut e, 150, 3, 288), None, "same window twice");
        assert_eq!(count_window(&mut e, 387, 3, 288), Some(100));
        // The next counting window still belongs to the episode that started at 100.
        assert_eq!(count_window(&mut e, 388, 3, 288), None);
    }

    #[test]
    fn windows_spread_over_more_than_the_span_do_not_count() {
        let mut e = Episodes::default();
        count_window(&mut e, 100, 3, 288);
        count_window(&mut e, 200, 3, 288);
        assert_eq!(count_window(&mut e, 388, 3, 288), None);
        assert_eq!(count_window(&mut e, 400, 3, 288), Some(200));
    }

    #[test]
    fn a_late_window_can_complete_an_episode() {
        let mut e = Episodes::default();
        count_window(&mut e, 300, 3, 288);
        count_window(&mut e, 310, 3, 288);
        assert_eq!(count_window(&mut e, 200, 3, 288), Some(200));
    }
}
