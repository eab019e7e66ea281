//! The blacklist lifecycle: listing (with repeat-offender escalation), reason updates while
//! listed, and delisting by a passing re-inspection (Art. 16's exit rule).

use crate::model::{
    BlacklistEvent, BlacklistStatus, Output, Priority, Reinspection, ReinspectionRef, RuleId, Secs,
};

use super::context::{day_label, label, measured, Context};
use super::state::Listing;
use super::VehicleState;

/// Lists the vehicle for `rule` on evidence at `at`, or adds `rule` to a current listing.
///
/// Evidence from before the newest passing re-inspection cannot list (the truck has been
/// repaired since); evidence from before the current listing moves its start back, as if it
/// had arrived in time. An unchanged listing emits nothing, so duplicate evidence is harmless.
pub(crate) fn list(cx: &mut Context, state: &mut VehicleState, rule: RuleId, at: Secs) {
    let listing = &mut state.rare_mut().listing;
    if at <= listing.passed_at {
        // Already repaired since: the listing it made lies in the past. Keep it in the history
        // (entry enforcement and repeat counts look there), with no event.
        past_listing(listing, at);
        return;
    }
    remember(&mut listing.evidence, at, rule.bit());
    if listing.is_listed() {
        let earlier = at < listing.listed_at;
        if !earlier && listing.reasons & rule.bit() != 0 {
            return;
        }
        if earlier {
            listing.listed_at = at;
            listing.history[0] = at;
        }
        listing.reasons |= rule.bit();
        let event = blacklist_event(cx, state, BlacklistStatus::Listed, None);
        cx.push(Output::Blacklist(event));
        return;
    }
    let params = &cx.rules.repeat_offender;
    let within = params.within.0;
    let repeat_count = 1 + listing
        .history
        .iter()
        .filter(|h| !h.is_never() && at.0.saturating_sub(h.0) <= within)
        .count() as u32;
    listing.listed_at = at;
    listing.reasons = rule.bit();
    listing.high_priority = repeat_count >= params.listings;
    listing.history = [at, listing.history[0]];
    listing.repeat_count = repeat_count.min(u32::from(u8::MAX)) as u8;
    let event = blacklist_event(cx, state, BlacklistStatus::Listed, None);
    cx.push(Output::Blacklist(event));
    if state.listing().high_priority {
        let evidence = cx.evidence(
            at,
            at,
            None,
            vec![measured(
                "listings_within_window",
                f64::from(repeat_count),
                Some(f64::from(params.listings)),
                "count",
            )],
        );
        let fine = params.fine_yuan;
        cx.case(
            state,
            RuleId::RepeatOffender,
            &day_label(at),
            fine,
            evidence,
        );
    }
}

/// A passing re-inspection: remembered whether or not the vehicle is listed (evidence dated
/// before it can no longer list), and it ends a listing that began before its test time.
pub(crate) fn reinspection(cx: &mut Context, state: &mut VehicleState, test: &Reinspection) {
    if !test.passed {
        return;
    }
    state.rare_mut().listing.passed_at = state.listing().passed_at.max(cx.now);
    let listed_at = state.listing().listed_at;
    if listed_at.is_never() || cx.now <= listed_at {
        return;
    }
    let reinspection = ReinspectionRef {
        station_id: test.station_id.clone(),
        report_id: test.report_id.clone(),
        tested_at: cx.now.time(),
        record: cx.event.source.clone(),
    };
    let event = blacklist_event(cx, state, BlacklistStatus::Delisted, Some(reinspection));
    cx.push(Output::Blacklist(event));
    state.rare_mut().listing.listed_at = Secs(0);
    state.rare_mut().listing.reasons = 0;
    state.rare_mut().listing.high_priority = false;
    state.rare_mut().listing.delisted_at = cx.now;
    // Evidence dated after the re-inspection (it arrived first) lists the vehicle anew.
    let after: Vec<(Secs, u16)> = state
        .listing()
        .evidence
        .iter()
        .copied()
        .filter(|&(t, _)| t > cx.now)
        .collect();
    if let Some(&(first, _)) = after.iter().min() {
        for (_, bit) in &after {
            for rule in RuleId::from_bits(*bit) {
                list(cx, state, rule, first);
            }
        }
    }
}

/// Records a listing that began at `at` and ended at a re-inspection known already.
fn past_listing(listing: &mut Listing, at: Secs) {
    let previous = usize::from(listing.is_listed());
    let start = listing.history[previous];
    if !start.is_never() && at <= listing.delisted_at && listing.passed_at <= listing.delisted_at {
        // The recorded previous listing ended at the newest re-inspection: this evidence is
        // part of it, perhaps its new start.
        listing.history[previous] = start.min(at);
        return;
    }
    if previous == 0 {
        listing.history = [at, listing.history[0]];
    } else {
        listing.history[1] = at;
    }
    listing.delisted_at = listing.passed_at;
}

/// Keeps the newest listing evidence, newest first, one entry per (time, rule).
fn remember(evidence: &mut [(Secs, u16); 3], at: Secs, bit: u16) {
    if evidence.contains(&(at, bit)) {
        return;
    }
    let mut all = [evidence[0], evidence[1], evidence[2], (at, bit)];
    all.sort_unstable_by(|a, b| b.cmp(a));
    evidence.copy_from_slice(&all[..3]);
}

fn blacklist_event(
    cx: &Context,
    state: &VehicleState,
    status: BlacklistStatus,
    reinspection: Option<ReinspectionRef>,
) -> BlacklistEvent {
    let listing = state.listing();
    let reasons = RuleId::from_bits(listing.reasons);
    let id = match status {
        BlacklistStatus::Listed => format!(
            "{}:LISTED:{}:{}",
            cx.event.vin,
            label(listing.listed_at),
            reasons.len()
        ),
        BlacklistStatus::Delisted => {
            format!("{}:DELISTED:{}", cx.event.vin, label(cx.now))
        }
    };
    BlacklistEvent {
        id,
        vin: cx.event.vin,
        plate: state.plate,
        status,
        reasons,
        source: cx.source(),
        listed_at: listing.listed_at.time(),
        repeat_count: u32::from(listing.repeat_count),
        priority: if listing.high_priority {
            Priority::High
        } else {
            Priority::Normal
        },
        event_time: cx.now.time(),
        reinspection,
        record: cx.event.source.clone(),
    }
}
