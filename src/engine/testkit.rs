//! Test helpers: a vehicle driven through `evaluate` with hand-built events. Test-only.

use std::sync::Arc;

use crate::config::rules_from_str;
use crate::engine::{evaluate, Facts, Rules, VehicleState};
use crate::model::{
    BlacklistEvent, Case, Celsius, Event, EventKind, EventTime, Kilometres, Kmh, Obd, Output,
    Percent, Plate, Position, Ppm, RecordRef, Registration, Report, Rpm, RuleId, Sample, Vin,
};

/// 2026-11-02T00:00:00Z: a window, hour and Beijing-day (08:00 local) aligned start.
pub const T0: i64 = 1_793_577_600;
pub const TIANANMEN: Position = Position {
    valid: true,
    lon: 116.3975,
    lat: 39.9087,
};

pub fn rules(overrides: &str) -> Rules {
    rules_from_str(Some(("test", overrides))).expect("test overrides are valid")
}

/// A clean, warm, moving sample: NOx-valid, low downstream NOx, good conversion.
pub fn sample(t: i64) -> Sample {
    Sample {
        time: EventTime::from_unix_secs(t),
        time_from_frame: false,
        speed: Ok(Kmh(50.0)),
        engine_rpm: Ok(Rpm(1400.0)),
        coolant: Ok(Celsius(85.0)),
        scr_inlet: Ok(Celsius(300.0)),
        nox_upstream: Ok(Ppm(800.0)),
        nox_downstream: Ok(Ppm(60.0)),
        reagent: Ok(Percent(50.0)),
        position: Some(TIANANMEN),
        odometer: Ok(Kilometres(10_000.0 + (t - T0) as f64 * 50.0 / 3600.0)),
    }
}

pub fn obd(t: i64, mil_on: bool, dtcs: &[&str]) -> Obd {
    Obd {
        time: EventTime::from_unix_secs(t),
        mil_on: Some(mil_on),
        dtcs: dtcs.iter().map(|s| s.to_string()).collect(),
        vin: None,
        calibration_id: "CAL0001".into(),
        cvn: "CVN0001".into(),
    }
}

pub struct Vehicle {
    pub rules: Rules,
    pub vin: Vin,
    pub state: VehicleState,
    pub outputs: Vec<Output>,
    /// Neighbouring provinces' listings, given to every evaluation.
    pub neighbours: Vec<crate::model::NeighbourListing>,
    /// Alerts and the registration profile, given to every evaluation.
    pub alerts: Vec<crate::model::Alert>,
    pub profile: Option<crate::model::Profile>,
    offset: i64,
}

impl Vehicle {
    /// A vehicle known to the engine for two days: one short session two days before `T0`,
    /// so its stream is settled from then on and verdicts after `T0` need not wait for data
    /// from before its first contact.
    pub fn new(rules: Rules) -> Vehicle {
        let mut v = Vehicle::fresh(rules);
        let known = T0 - 2 * 86_400;
        v.send(known, EventKind::Login);
        v.drive(known, known + 1, false, sample);
        v.send(known + 1, EventKind::Logout);
        v
    }

    /// A vehicle never seen before.
    pub fn fresh(rules: Rules) -> Vehicle {
        Vehicle {
            rules,
            vin: Vin::parse("LGDCHA1G8MA127733").unwrap(),
            state: VehicleState::default(),
            outputs: Vec::new(),
            neighbours: Vec::new(),
            alerts: Vec::new(),
            profile: None,
            offset: 0,
        }
    }

    pub fn with_plate(rules: Rules, plate: &str) -> Vehicle {
        let mut v = Vehicle::new(rules);
        v.send(
            T0 - 86_400,
            EventKind::Registration(Registration {
                plate: Plate::parse(plate).unwrap(),
                colour: None,
                from: None,
                profile: Default::default(),
            }),
        );
        v
    }

    /// Applies one event; returns its outputs (also kept in `outputs`).
    pub fn send(&mut self, t: i64, kind: EventKind) -> Vec<Output> {
        let event = Event {
            vin: self.vin,
            time: EventTime::from_unix_secs(t),
            source: RecordRef {
                topic: Arc::from("tw.telemetry"),
                partition: 0,
                offset: self.offset,
            },
            kind,
        };
        self.offset += 1;
        let (next, outputs) = evaluate(
            &self.rules,
            &self.state,
            &event,
            &Facts {
                neighbours: &self.neighbours,
                alerts: &self.alerts,
                profile: self.profile.as_ref(),
            },
        );
        self.state = next;
        self.outputs.extend(outputs.iter().cloned());
        outputs
    }

    /// Sends samples `make(t)` for `t` in `from..to` as 10-sample reports.
    /// A minute's live drive from `from` at one valid position.
    pub fn drive_at(&mut self, from: i64, lon: f64, lat: f64) {
        self.drive(from, from + 60, false, |t| {
            let mut s = sample(t);
            s.position = Some(crate::model::Position {
                valid: true,
                lon,
                lat,
            });
            s
        });
    }

    pub fn drive(&mut self, from: i64, to: i64, backfill: bool, make: impl Fn(i64) -> Sample) {
        let mut t = from;
        while t < to {
            let end = (t + 10).min(to);
            let samples = (t..end).map(&make).collect();
            self.send(
                t,
                EventKind::Report(Report {
                    backfill,
                    samples,
                    obd: Vec::new(),
                }),
            );
            t = end;
        }
    }

    pub fn cases(&self, rule: RuleId) -> Vec<&Case> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Case(c) if c.rule == rule => Some(c),
                _ => None,
            })
            .collect()
    }

    pub fn blacklist(&self) -> Vec<&BlacklistEvent> {
        self.outputs
            .iter()
            .filter_map(|o| match o {
                Output::Blacklist(e) => Some(e),
                _ => None,
            })
            .collect()
    }

    pub fn listed(&self) -> bool {
        self.state.listing().is_listed()
    }
}

/// A manual check whose free-acceleration opacity fails limit b: lists the vehicle.
pub fn fail_check(v: &mut Vehicle, t: i64) {
    v.send(t, EventKind::ManualCheck(failing_check(None)));
}

/// A manual check at `position` that fails limit b.
pub fn failing_check(position: Option<Position>) -> crate::model::ManualCheck {
    crate::model::ManualCheck {
        plate: None,
        site_id: "S".into(),
        device_id: "D".into(),
        position,
        free_acceleration_opacity: Some(1.5),
        lug_down_opacity: None,
        lug_down_nox: None,
        ringelmann: None,
        obd_mil_on: None,
        obd_communication_ok: None,
    }
}
