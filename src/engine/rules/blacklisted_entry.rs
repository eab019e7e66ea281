//! `blacklisted_entry` (Art. 16): positioned evidence inside Beijing of an out-of-town vehicle
//! that was blacklisted before that instant and holds no valid entry permit at it. A non-site
//! case, at most one per vehicle per Beijing day. The listing must predate the sighting: a
//! record that lists the vehicle is never also its entry case. A neighbouring province's
//! listing counts as ours (action plan item 32) unless `neighbour_listings` is off; the case
//! then cites it. Cheap checks first; the polygon test last.

use serde::{Deserialize, Serialize};

use super::{non_negative, Invalid};
use crate::engine::context::{day_label, measured, neighbour_evidence, Context};
use crate::engine::state::Sighting;
use crate::engine::VehicleState;
use crate::model::{Position, RuleId, Secs};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Path of a GeoJSON boundary; empty for the built-in approximate polygon.
    pub boundary: String,
    pub near_boundary_km: f64,
    pub fine_yuan: u32,
    /// Whether a neighbouring province's listing counts as blacklisted.
    pub neighbour_listings: bool,
}

impl Params {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if !non_negative(self.near_boundary_km) {
            return Err(Invalid {
                key: "blacklisted_entry.near_boundary_km",
                message: "must be at least 0".into(),
            });
        }
        Ok(())
    }
}

/// Positioned evidence at `t`. Returns whether the report is settled for entry: the position
/// was tested against the boundary, or the vehicle cannot have an entry case at `t` (so
/// callers test one position per report). An out-of-town vehicle inside Beijing is
/// remembered (the latest sighting of the day) and enforced against.
pub(crate) fn check(
    cx: &mut Context,
    state: &mut VehicleState,
    t: Secs,
    position: Option<Position>,
) -> bool {
    let Some(position) = position else {
        return false;
    };
    if state.plate.is_none_or(|p| p.is_beijing())
        || permitted(state, t)
        || state
            .rare()
            .days
            .blacklisted_entry
            .contains(t.beijing_day())
    {
        // Never an entry case at `t`, whatever arrives later (nor, in practice, for the rest
        // of the report).
        return true;
    }
    if !cx.rules.boundary.contains(position.lon, position.lat) {
        return true;
    }
    remember(state, t, position);
    enforce(cx, state, t, position);
    true
}

fn permitted(state: &VehicleState, t: Secs) -> bool {
    state
        .rare()
        .permits
        .iter()
        .any(|p| !p.revoked && p.valid_from <= t && t < p.valid_until)
}

/// Enforces against the remembered sighting: a listing that arrived after it, dated before
/// it, still makes its day's case.
pub(crate) fn recheck(cx: &mut Context, state: &mut VehicleState) {
    let s = state.sighting;
    if !s.at.is_never() {
        let position = Position {
            valid: true,
            lon: f64::from(s.lon),
            lat: f64::from(s.lat),
        };
        enforce(cx, state, s.at, position);
    }
}

/// Keeps the latest sighting of the newest day, to the minute: a sighting less than a minute
/// after the kept one adds nothing a late listing could need.
fn remember(state: &mut VehicleState, t: Secs, position: Position) {
    let kept = state.sighting.at;
    let same_day = !kept.is_never() && kept.beijing_day() == t.beijing_day();
    if t.0 < kept.0.saturating_add(if same_day { 60 } else { 1 }) {
        return;
    }
    state.sighting = Sighting {
        at: t,
        lon: position.lon as f32,
        lat: position.lat as f32,
    };
}

/// A case when the vehicle was listed before `t`, held no permit valid at `t`, and the day
/// has no case yet.
fn enforce(cx: &mut Context, state: &mut VehicleState, t: Secs, position: Position) {
    let day = t.beijing_day();
    let own = state.listing().listed_before(t);
    let neighbour = (!own && cx.rules.blacklisted_entry.neighbour_listings)
        .then(|| {
            cx.facts
                .neighbours
                .iter()
                .find(|n| n.listed_before(t.time()))
        })
        .flatten();
    if (!own && neighbour.is_none())
        || permitted(state, t)
        || state.rare().days.blacklisted_entry.contains(day)
    {
        return;
    }
    let cited = neighbour.map(neighbour_evidence);
    state.rare_mut().days.blacklisted_entry.insert(day);
    let fine = cx.rules.blacklisted_entry.fine_yuan;
    let evidence = cx.evidence(
        t,
        t,
        Some(position),
        vec![measured("inside_beijing_without_permit", 1.0, None, "flag")],
    );
    cx.case(
        state,
        RuleId::BlacklistedEntry,
        &day_label(t),
        fine,
        evidence,
    );
    if let Some(cited) = cited {
        cx.cite(cited);
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::testkit::{fail_check, rules, Vehicle, T0};
    use crate::model::{
        EventKind, EventTime, EvidenceSource, NeighbourListing, Permit, RecordRef, Region, RuleId,
    };

    #[test]
    fn listed_out_of_town_without_permit_inside_beijing() {
        let mut v = Vehicle::with_plate(rules(""), "冀F12345");
        fail_check(&mut v, T0);
        v.drive_at(T0 + 60, 116.3975, 39.9087);
        v.drive_at(T0 + 3600, 116.3975, 39.9087);
        let cases = v.cases(RuleId::BlacklistedEntry);
        assert_eq!(cases.len(), 1, "once per day");
        assert_eq!(cases[0].id, "blacklisted_entry:LGDCHA1G8MA127733:20261102");
        assert!(cases[0].rule.legal_basis().contains("Art. 16"));
        v.drive_at(T0 + 16 * 3600, 116.3975, 39.9087);
        assert_eq!(
            v.cases(RuleId::BlacklistedEntry).len(),
            2,
            "next Beijing day"
        );
    }

    #[test]
    fn no_case_outside_beijing_for_beijing_plates_or_with_a_permit() {
        let mut outside = Vehicle::with_plate(rules(""), "冀F12345");
        fail_check(&mut outside, T0);
        outside.drive_at(T0 + 60, 117.20, 39.12);
        assert!(outside.cases(RuleId::BlacklistedEntry).is_empty());

        let mut local = Vehicle::with_plate(rules(""), "京A12345");
        fail_check(&mut local, T0);
        local.drive_at(T0 + 60, 116.3975, 39.9087);
        assert!(local.cases(RuleId::BlacklistedEntry).is_empty());

        let mut permitted = Vehicle::with_plate(rules(""), "冀F12345");
        let permit = Permit {
            valid_from: EventTime::from_unix_secs(T0),
            valid_until: EventTime::from_unix_secs(T0 + 86_400),
            revoked: false,
        };
        permitted.send(T0, EventKind::Permit(permit));
        fail_check(&mut permitted, T0);
        permitted.drive_at(T0 + 60, 116.3975, 39.9087);
        assert!(permitted.cases(RuleId::BlacklistedEntry).is_empty());
        // The permit expires: the next positioned evidence inside Beijing is a case.
        permitted.drive_at(T0 + 86_400, 116.3975, 39.9087);
        assert_eq!(permitted.cases(RuleId::BlacklistedEntry).len(), 1);
    }

    fn tianjin_listing(from: i64, until: Option<i64>) -> NeighbourListing {
        NeighbourListing {
            region: Region::Tianjin,
            listed_at: EventTime::from_unix_secs(from),
            delisted_at: until.map(EventTime::from_unix_secs),
            rules: vec!["nox_over_limit".into()],
            event_id: "tj-listing-1".into(),
            case_refs: vec!["nox_over_limit:LGDCHA1G8MA127733:202611011200".into()],
            record: RecordRef {
                topic: "tianjin.tw.shared.overlimit".into(),
                partition: 2,
                offset: 41,
            },
        }
    }

    /// A truck Tianjin listed, not listed here, enters Beijing without a permit: the case
    /// cites Tianjin's listing. Not when the listing ended before the sighting, began after
    /// it, or neighbours' listings are switched off.
    #[test]
    fn a_neighbours_listing_counts_and_is_cited() {
        let mut v = Vehicle::with_plate(rules(""), "津A12345");
        v.neighbours = vec![tianjin_listing(T0 - 3_600, None)];
        v.drive_at(T0, 116.3975, 39.9087);
        let cases = v.cases(RuleId::BlacklistedEntry);
        assert_eq!(cases.len(), 1);
        let cited = &cases[0].evidence[1];
        assert_eq!(cited.source, EvidenceSource::NeighbourListing);
        assert_eq!(cited.region, Some(Region::Tianjin));
        assert_eq!(&*cited.record.topic, "tianjin.tw.shared.overlimit");
        assert_eq!((cited.record.partition, cited.record.offset), (2, 41));
        assert_eq!(cited.case_refs.len(), 1);
        assert_eq!(
            cases[0].first_evidence,
            EventTime::from_unix_secs(T0),
            "the sighting"
        );

        for (listing, why) in [
            (
                tianjin_listing(T0 - 7_200, Some(T0 - 3_600)),
                "delisted before",
            ),
            (tianjin_listing(T0 + 3_600, None), "listed after"),
        ] {
            let mut v = Vehicle::with_plate(rules(""), "津A12345");
            v.neighbours = vec![listing];
            v.drive_at(T0, 116.3975, 39.9087);
            assert!(v.cases(RuleId::BlacklistedEntry).is_empty(), "{why}");
        }
        let off = rules("[blacklisted_entry]\nneighbour_listings = false");
        let mut v = Vehicle::with_plate(off, "津A12345");
        v.neighbours = vec![tianjin_listing(T0 - 3_600, None)];
        v.drive_at(T0, 116.3975, 39.9087);
        assert!(v.cases(RuleId::BlacklistedEntry).is_empty(), "switched off");
    }

    #[test]
    fn evidence_near_the_boundary_is_marked() {
        let mut v = Vehicle::with_plate(
            rules("[blacklisted_entry]\nnear_boundary_km = 50.0"),
            "冀F12345",
        );
        fail_check(&mut v, T0);
        v.drive_at(T0 + 60, 116.3975, 39.9087);
        assert!(v.cases(RuleId::BlacklistedEntry)[0].evidence[0].near_boundary);
    }
}
