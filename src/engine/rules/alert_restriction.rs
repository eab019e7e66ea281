//! `alert_restriction` (action plan items 30 and 33): while a heavy-pollution alert is in
//! force, positioned evidence of a vehicle its restrictions name (by the vehicle's
//! registration: emission stage, fuel, category; exemptions by fuel, category or permit)
//! inside the alert's area is a non-site case, at most one per vehicle per Beijing day. A
//! vehicle listed at the time (here or by a neighbour) gets a `HIGH` priority case. The
//! alerts and their restrictions are data (`tw.alerts`); they apply in event time, so a
//! replay with the same alerts gives the same cases.

use serde::{Deserialize, Serialize};

use crate::engine::context::{day_label, measured, Context};
use crate::engine::VehicleState;
use crate::model::{Position, RuleId, Secs};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub fine_yuan: u32,
}

/// Positioned evidence at `t` (one position per report is enough: cases are per day).
pub(crate) fn check(
    cx: &mut Context,
    state: &mut VehicleState,
    t: Secs,
    position: Option<Position>,
) {
    let Some(position) = position.filter(|p| p.valid) else {
        return;
    };
    let facts = cx.facts;
    let (Some(profile), false) = (facts.profile, facts.alerts.is_empty()) else {
        return;
    };
    let day = t.beijing_day();
    if state.rare().alert_days.contains(day) {
        return;
    }
    let at = t.time();
    let vin = cx.event.vin;
    // The most severe alert in force that restricts the vehicle here (then the first by id).
    let restricting = facts.alerts.iter().filter(|a| {
        a.in_force(at)
            && a.restricts(&vin, profile)
            && a.area
                .as_deref()
                .unwrap_or(&cx.rules.boundary)
                .contains(position.lon, position.lat)
    });
    let Some(alert) = restricting.rev().max_by_key(|a| a.level) else {
        return;
    };
    state.rare_mut().alert_days.insert(day);
    let listed =
        state.listing().listed_before(t) || facts.neighbours.iter().any(|n| n.listed_before(at));
    let level = f64::from(alert.level as u8 + 1);
    let mut evidence = cx.evidence(
        t,
        t,
        Some(position),
        vec![
            measured("alert_level", level, None, "1 blue … 4 red"),
            measured("restricted_vehicle_inside_area", 1.0, None, "flag"),
        ],
    );
    evidence.case_refs = vec![alert.id.clone()];
    let key = format!("{}:{}", alert.id, day_label(t));
    let fine = cx.rules.alert_restriction.fine_yuan;
    cx.case(state, RuleId::AlertRestriction, &key, fine, evidence);
    if listed {
        cx.escalate();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use crate::engine::testkit::{fail_check, rules, Vehicle, T0};
    use crate::model::{
        normalise, Alert, AlertLevel, Boundary, EventTime, Fuel, Priority, Profile, RecordRef,
        RuleId,
    };

    fn orange(from: i64, until: i64) -> Alert {
        Alert {
            id: "2026-orange-7".into(),
            level: AlertLevel::Orange,
            area: None,
            from: EventTime::from_unix_secs(from),
            until: EventTime::from_unix_secs(until),
            stages: ["China IV", "China V"].map(normalise).to_vec(),
            fuels: vec![Fuel::Diesel],
            categories: vec![],
            exempt_new_energy: true,
            exempt_categories: vec![],
            exempt_vins: vec![],
            record: RecordRef {
                topic: "tw.alerts".into(),
                partition: 1,
                offset: 7,
            },
        }
    }

    fn diesel(stage: &str) -> Profile {
        Profile {
            stage: normalise(stage),
            fuel: Some(Fuel::Diesel),
            category: normalise("N3"),
        }
    }

    #[test]
    fn a_restricted_vehicle_inside_the_area_during_the_alert_gets_one_case_a_day() {
        let mut v = Vehicle::with_plate(rules(""), "京A12345");
        v.profile = Some(diesel("China V"));
        v.alerts = vec![orange(T0, T0 + 2 * 86_400)];
        v.drive_at(T0 - 3_600, 116.3975, 39.9087);
        assert!(
            v.cases(RuleId::AlertRestriction).is_empty(),
            "before the alert"
        );
        v.drive_at(T0 + 60, 116.3975, 39.9087);
        v.drive_at(T0 + 3_600, 116.3975, 39.9087);
        let cases = v.cases(RuleId::AlertRestriction);
        assert_eq!(cases.len(), 1, "once a day");
        assert_eq!(
            cases[0].id,
            "alert_restriction:LGDCHA1G8MA127733:2026-orange-7:20261102"
        );
        assert_eq!(cases[0].priority, Priority::Normal);
        assert_eq!(cases[0].evidence[0].case_refs, ["2026-orange-7"]);
        v.drive_at(T0 + 86_400, 116.3975, 39.9087);
        assert_eq!(v.cases(RuleId::AlertRestriction).len(), 2, "the next day");
        v.drive_at(T0 + 3 * 86_400, 116.3975, 39.9087);
        assert_eq!(
            v.cases(RuleId::AlertRestriction).len(),
            2,
            "after the alert"
        );
    }

    #[test]
    fn no_case_outside_the_area_for_an_unrestricted_vehicle_or_without_a_registration() {
        let alert = orange(T0, T0 + 86_400);
        let mut outside = Vehicle::with_plate(rules(""), "京A12345");
        outside.profile = Some(diesel("China V"));
        outside.alerts = vec![alert.clone()];
        outside.drive_at(T0 + 60, 117.20, 39.12);
        assert!(
            outside.cases(RuleId::AlertRestriction).is_empty(),
            "Tianjin"
        );

        let mut vi = Vehicle::with_plate(rules(""), "京A12345");
        vi.profile = Some(diesel("China VI"));
        vi.alerts = vec![alert.clone()];
        vi.drive_at(T0 + 60, 116.3975, 39.9087);
        assert!(vi.cases(RuleId::AlertRestriction).is_empty(), "China VI");

        let mut unknown = Vehicle::with_plate(rules(""), "京A12345");
        unknown.alerts = vec![alert.clone()];
        unknown.drive_at(T0 + 60, 116.3975, 39.9087);
        assert!(
            unknown.cases(RuleId::AlertRestriction).is_empty(),
            "no registration profile: nothing is guessed"
        );

        // An alert's own area: a small square around Tiananmen leaves out the Fifth Ring.
        let square = r#"{"type":"Polygon","coordinates":[[[116.35,39.87],[116.45,39.87],[116.45,39.95],[116.35,39.95],[116.35,39.87]]]}"#;
        let mut ring = Vehicle::with_plate(rules(""), "京A12345");
        ring.profile = Some(diesel("China V"));
        ring.alerts = vec![Alert {
            area: Some(Arc::new(Boundary::from_geojson(square).unwrap())),
            ..alert
        }];
        ring.drive_at(T0 + 60, 116.30, 40.02);
        assert!(
            ring.cases(RuleId::AlertRestriction).is_empty(),
            "outside the area"
        );
        ring.drive_at(T0 + 3_600, 116.3975, 39.9087);
        assert_eq!(ring.cases(RuleId::AlertRestriction).len(), 1, "inside it");
    }

    #[test]
    fn a_listed_vehicles_case_is_high_priority() {
        let mut v = Vehicle::with_plate(rules(""), "冀F12345");
        v.profile = Some(diesel("China IV"));
        v.alerts = vec![orange(T0, T0 + 86_400)];
        fail_check(&mut v, T0);
        v.drive_at(T0 + 60, 116.3975, 39.9087);
        let cases = v.cases(RuleId::AlertRestriction);
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].priority, Priority::High);
    }
}
