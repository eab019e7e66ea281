//! Episodes of the windowed rules (`nox_over_limit`, `scr_ineffective`): `windows_per_episode`
//! counting windows within `episode_span`. Episodes are formed in event-time order — the first
//! group of counting windows within the span starts one, and windows inside its span belong
//! to it — whatever order the windows were decided in.
//!
//! An episode lists the vehicle and raises its case, keyed by its first window, when it is
//! final: no window before it can still appear (the stream is settled over the span before
//! it, or the fill period has passed). So a late window never makes a second case for the same
//! violation, nor a listing dated after a re-inspection that the episode preceded.

use crate::model::{RuleId, Secs};

use super::context::{label, measured, Context};
use super::listing::list;
use super::state::Episodes;
use super::{windows, VehicleState};

/// Records a counting window of `rule`.
pub(crate) fn counted(cx: &Context, state: &mut VehicleState, rule: RuleId, index: u32) {
    let (needed, span) = params(cx, rule);
    let span = (span / cx.rules.nox_validity.window.0).max(1);
    insert(episodes_mut(state, rule), index, needed as usize, span);
}

/// The windows an episode needs and the span they must fall within.
fn params(cx: &Context, rule: RuleId) -> (u32, u32) {
    match rule {
        RuleId::NoxOverLimit => {
            let p = &cx.rules.nox_over_limit;
            (p.windows_per_episode, p.episode_span.0)
        }
        _ => {
            let p = &cx.rules.scr_ineffective;
            (p.windows_per_episode, p.episode_span.0)
        }
    }
}

/// Inserts a counting window. When full, a window is dropped on the side that cannot change
/// a pending episode: the newest while a group exists, else the oldest.
fn insert(episodes: &mut Episodes, index: u32, needed: usize, span: u32) {
    let ws = &mut episodes.windows;
    if ws.contains(&index) {
        return;
    }
    let n = ws.iter().filter(|&&w| w != 0).count();
    if n == ws.len() {
        if first_group(ws, needed, span).is_some() {
            if index > ws[n - 1] {
                return;
            }
            ws[n - 1] = 0;
        } else {
            if index < ws[0] {
                return;
            }
            ws.copy_within(1.., 0);
            ws[n - 1] = 0;
        }
    }
    let n = ws.iter().filter(|&&w| w != 0).count();
    let at = ws[..n].iter().position(|&w| w > index).unwrap_or(n);
    ws.copy_within(at..n, at + 1);
    ws[at] = index;
}

/// The first group of `needed` counting windows within `span` windows, as (first, last).
fn first_group(windows: &[u32], needed: usize, span: u32) -> Option<(u32, u32)> {
    windows
        .windows(needed)
        .find(|g| g[needed - 1] - g[0] < span)
        .map(|g| (g[0], g[needed - 1]))
}

/// Lists for every group found and raises the cases of final episodes, oldest first.
pub(crate) fn advance(cx: &mut Context, state: &mut VehicleState, rule: RuleId) {
    let window = cx.rules.nox_validity.window.0;
    let (needed, span) = params(cx, rule);
    let fine = match rule {
        RuleId::NoxOverLimit => cx.rules.nox_over_limit.fine_yuan,
        _ => cx.rules.scr_ineffective.fine_yuan,
    };
    let span_windows = (span / window).max(1);
    loop {
        let Episodes {
            windows: mut ws,
            last_start,
        } = *episodes_of(state, rule);
        if ws[0] == 0 {
            return;
        }
        // Windows inside the last raised episode belong to it.
        if last_start != 0 {
            let end = last_start + span_windows;
            let before = ws;
            ws = [0; 6];
            for (slot, w) in ws
                .iter_mut()
                .zip(before.into_iter().filter(|&w| w != 0 && w >= end))
            {
                *slot = w;
            }
            if ws != before {
                episodes_mut(state, rule).windows = ws;
            }
        }
        let n = ws.iter().filter(|&&w| w != 0).count();
        let Some((first, last)) = first_group(&ws[..n], needed as usize, span_windows) else {
            return;
        };
        let (start, end) = (Secs(first * window), Secs((last + 1) * window - 1));
        let settled = cx.watermark.0 >= end.0.saturating_add(cx.rules.data_gap.fill_within.0)
            || (state
                .coverage
                .settled(Secs(start.0.saturating_sub(span)), end)
                && !windows::pending_before(state, last));
        if !settled {
            return;
        }
        episodes_mut(state, rule).last_start = first;
        list(cx, state, rule, end);
        let needed = f64::from(needed);
        let measurements = vec![measured("counting_windows", needed, Some(needed), "count")];
        let evidence = cx.evidence(start, end, None, measurements);
        cx.case(state, rule, &label(start), fine, evidence);
    }
}

fn episodes_of(state: &VehicleState, rule: RuleId) -> &Episodes {
    match rule {
        RuleId::NoxOverLimit => &state.rare().nox_over_limit,
        _ => &state.rare().scr_ineffective,
    }
}

fn episodes_mut(state: &mut VehicleState, rule: RuleId) -> &mut Episodes {
    match rule {
        RuleId::NoxOverLimit => &mut state.rare_mut().nox_over_limit,
        _ => &mut state.rare_mut().scr_ineffective,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counting_windows_stay_sorted_and_unique() {
        let mut e = Episodes::default();
        for w in [300, 100, 200, 100, 250, 350, 375] {
            insert(&mut e, w, 3, 10);
        }
        assert_eq!(e.windows, [100, 200, 250, 300, 350, 375]);
        insert(&mut e, 50, 3, 10);
        assert_eq!(
            e.windows,
            [100, 200, 250, 300, 350, 375],
            "full: the oldest goes"
        );
        insert(&mut e, 400, 3, 10);
        assert_eq!(e.windows, [200, 250, 300, 350, 375, 400]);
        let mut e = Episodes::default();
        for w in [100, 101, 102, 500, 600, 700] {
            insert(&mut e, w, 3, 10);
        }
        insert(&mut e, 50, 3, 10);
        assert_eq!(
            e.windows,
            [50, 100, 101, 102, 500, 600],
            "a pending group keeps its older side"
        );
    }

    #[test]
    fn the_first_group_within_the_span_in_event_time_order() {
        assert_eq!(first_group(&[100, 150, 387], 3, 288), Some((100, 387)));
        assert_eq!(first_group(&[100, 200, 388], 3, 288), None);
        assert_eq!(first_group(&[100, 200, 388, 400], 3, 288), Some((200, 400)));
        assert_eq!(first_group(&[200, 300, 310], 3, 288), Some((200, 310)));
    }
}
