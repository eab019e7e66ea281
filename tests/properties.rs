//! Property tests: decoding never panics; a duplicated record changes nothing; the
//! interleaving of different vehicles' records does not change any vehicle's outputs; no event
//! sequence makes the engine panic.

use std::collections::BTreeMap;
use std::sync::Arc;

use proptest::prelude::*;
use prost::Message;

use tailwatch::config;
use tailwatch::decode;
use tailwatch::engine::{self, VehicleState};
use tailwatch::model::{
    Absent, Celsius, Event, EventKind, EventTime, Kilometres, Kmh, ManualCheck, Obd, Percent,
    Permit, Plate, Position, Ppm, RecordRef, Registration, Reinspection, RemoteSensing, Report,
    Rpm, Sample, Vin,
};
use tailwatch::pipeline::{Emitted, Processor};
use tailwatch::proto;
use tailwatch::recording::Record;
use tailwatch::topics::{TopicKind, Topics};

const T0: i64 = 1_793_577_600;
const VINS: [&str; 3] = [
    "LGDCHA1G8MA127733",
    "LG6ZDANH7EY208182",
    "LGDCHA1G9MA127733",
];

fn timestamp(secs: i64) -> Option<pbjson_types::Timestamp> {
    Some(pbjson_types::Timestamp {
        seconds: secs,
        nanos: 0,
    })
}

/// A telemetry, inspection or reinspection record for vehicle `v` at `T0 + offset`.
fn record_strategy() -> impl Strategy<Value = (usize, i64, u8, f64, f64)> {
    (
        0..VINS.len(),
        0i64..6 * 3600,
        0u8..6,
        0.0f64..1.0,
        0.0f64..1.0,
    )
}

fn build(v: usize, offset: i64, kind: u8, a: f64, b: f64) -> Record {
    let vin = VINS[v].to_owned();
    let t = T0 + offset;
    let (topic, value) = match kind {
        0..=2 => {
            let samples = (0..10)
                .map(|i| proto::StreamSample {
                    sampled_at: timestamp(t + i),
                    speed_kmh: Some(60.0 * a),
                    engine_rpm: Some(500.0 + 1500.0 * b),
                    coolant_c: Some(60.0 + 30.0 * a),
                    scr_inlet_c: Some(150.0 + 200.0 * b),
                    nox_upstream_ppm: Some(100.0 + 900.0 * a),
                    nox_downstream_ppm: Some(900.0 * b),
                    reagent_pct: Some(if a < 0.3 { 0.0 } else { 40.0 }),
                    odometer_km: Some(1000.0 + offset as f64 / 60.0),
                    position: Some(proto::Position {
                        valid: true,
                        lon: 116.4,
                        lat: 39.9,
                    }),
                    ..Default::default()
                })
                .collect();
            let obd = vec![proto::ObdInfo {
                sampled_at: timestamp(t),
                mil: if b > 0.5 {
                    proto::Mil::On
                } else {
                    proto::Mil::Off
                } as i32,
                dtcs: vec![proto::Dtc {
                    raw: vec![0x20, 0x47, 0, 0xAF],
                    code: "P2047".into(),
                }],
                calibration_id: if a > 0.95 {
                    "CAL2".into()
                } else {
                    "CAL1".into()
                },
                ..Default::default()
            }];
            let command = if kind == 2 {
                proto::Command::Reissue
            } else {
                proto::Command::Realtime
            };
            let m = proto::TerminalReport {
                vin: vin.clone(),
                command: command as i32,
                collected_at: timestamp(t),
                samples,
                obd,
                ..Default::default()
            };
            (TopicKind::Telemetry, m.encode_to_vec())
        }
        3 => {
            let check = proto::ManualCheck {
                plate: "冀F12345".into(),
                tested_at: timestamp(t),
                free_acceleration_opacity: Some(1.4 * a),
                ..Default::default()
            };
            let m = proto::Inspection {
                vin: vin.clone(),
                kind: Some(proto::inspection::Kind::ManualCheck(check)),
                ..Default::default()
            };
            (TopicKind::Inspections, m.encode_to_vec())
        }
        4 => {
            let pass = proto::RemoteSensing {
                measured_at: timestamp(t),
                opacity_pct: Some(60.0 * a),
                no_ppm: Some(3000.0 * b),
                audit_valid: true,
                ..Default::default()
            };
            let m = proto::Inspection {
                vin: vin.clone(),
                kind: Some(proto::inspection::Kind::RemoteSensing(pass)),
                ..Default::default()
            };
            (TopicKind::Inspections, m.encode_to_vec())
        }
        _ => {
            let m = proto::Reinspection {
                vin: vin.clone(),
                tested_at: timestamp(t),
                passed: a > 0.5,
                ..Default::default()
            };
            (TopicKind::Reinspections, m.encode_to_vec())
        }
    };
    Record {
        topic: Topics::default().name(topic),
        partition: 0,
        offset: 0,
        timestamp: t * 1000,
        key: Some(vin.into_bytes()),
        headers: BTreeMap::new(),
        value: Some(value),
    }
}

fn processor() -> Processor {
    let rules = config::rules_from_str(Some((
        "props",
        "[nox_over_limit]\nmin_valid_samples = 5\n[scr_ineffective]\nmin_valid_samples = 5\n[mil_emission_fault]\nmin_duration = \"1h\"\n",
    )))
    .unwrap();
    Processor::new(rules, Topics::default())
}

/// Every blacklist event and case, as JSON, grouped per VIN in emission order.
fn outputs(records: &[Record]) -> BTreeMap<String, Vec<String>> {
    let p = processor();
    let mut by_vin: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for r in records {
        let vin = String::from_utf8(r.key.clone().unwrap()).unwrap();
        for e in p.process(r).emitted {
            let line = match e {
                Emitted::Blacklist(b) => serde_json::to_string(&b).unwrap(),
                Emitted::Shared(s) => serde_json::to_string(&s).unwrap(),
                Emitted::Case(c) => serde_json::to_string(&c).unwrap(),
                Emitted::Dlq { reason, .. } | Emitted::GivenUp { reason, .. } => {
                    format!("dlq:{reason}")
                }
                Emitted::Resolved(r) => format!("resolved:{:?}", r.key),
                Emitted::Held { key, value, .. } => format!("held:{key}:{}", value.is_some()),
            };
            by_vin.entry(vin.clone()).or_default().push(line);
        }
    }
    by_vin
}

fn sorted(mut specs: Vec<(usize, i64, u8, f64, f64)>) -> Vec<Record> {
    specs.sort_by_key(|s| s.1);
    specs
        .into_iter()
        .map(|(v, o, k, a, b)| build(v, o, k, a, b))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), topic in 0usize..6) {
        let topics = Topics::default();
        let record = Record {
            topic: topics.name(TopicKind::INPUTS[topic]),
            partition: 0,
            offset: 0,
            timestamp: T0 * 1000,
            key: Some(VINS[0].as_bytes().to_vec()),
            headers: BTreeMap::new(),
            value: Some(bytes),
        };
        let _ = decode::record(&record, &topics, &Default::default());
        // The processor turns any outcome into outputs or a DLQ entry, never a panic.
        let _ = processor().process(&record);
    }

    #[test]
    fn a_duplicated_record_changes_nothing(specs in proptest::collection::vec(record_strategy(), 1..60), dup in any::<prop::sample::Index>()) {
        let records = sorted(specs);
        let i = dup.index(records.len());
        let mut with_duplicate = records.clone();
        with_duplicate.insert(i + 1, records[i].clone());
        prop_assert_eq!(outputs(&records), outputs(&with_duplicate));
    }

    #[test]
    fn interleaving_of_vehicles_does_not_matter(specs in proptest::collection::vec(record_strategy(), 1..60), seed in any::<u64>()) {
        let records = sorted(specs);
        // Another interleaving: stable per vehicle, vehicles merged in a seed-dependent order.
        let mut per_vehicle: Vec<Vec<Record>> = vec![Vec::new(); VINS.len()];
        for r in &records {
            let v = VINS.iter().position(|v| r.key.as_deref() == Some(v.as_bytes())).unwrap();
            per_vehicle[v].push(r.clone());
        }
        let mut shuffled = Vec::new();
        let mut state = seed | 1;
        while per_vehicle.iter().any(|q| !q.is_empty()) {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17;
            let v = (state % VINS.len() as u64) as usize;
            if !per_vehicle[v].is_empty() {
                shuffled.push(per_vehicle[v].remove(0));
            }
        }
        prop_assert_eq!(outputs(&records), outputs(&shuffled));
    }

    #[test]
    fn no_event_sequence_makes_the_engine_panic(events in proptest::collection::vec(event_strategy(), 1..40)) {
        let rules = config::default_rules();
        let mut state = VehicleState::default();
        for e in &events {
            let (next, _) = engine::evaluate(&rules, &state, e, &Default::default());
            state = next;
        }
    }
}

fn reading<T: std::fmt::Debug + Clone + 'static>(
    f: impl Fn(f32) -> T + Clone + 'static,
) -> impl Strategy<Value = Result<T, Absent>> {
    prop_oneof![
        any::<f32>().prop_map(move |v| Ok(f(v))),
        Just(Err(Absent::NotReady)),
        Just(Err(Absent::Invalid)),
    ]
}

fn event_strategy() -> impl Strategy<Value = Event> {
    let time = prop_oneof![0i64..5_000_000_000, (T0 - 100..T0 + 10 * 86_400)];
    let sample = (
        time.clone(),
        reading(Kmh),
        reading(Rpm),
        reading(Celsius),
        reading(Ppm),
        reading(Ppm),
        reading(Percent),
        any::<f64>(),
    )
        .prop_map(|(t, speed, rpm, temp, up, down, reagent, odo)| Sample {
            time: EventTime::from_unix_secs(t),
            time_from_frame: false,
            speed,
            engine_rpm: rpm,
            coolant: temp,
            scr_inlet: temp,
            nox_upstream: up,
            nox_downstream: down,
            reagent,
            position: Some(Position {
                valid: true,
                lon: 116.4,
                lat: 39.9,
            }),
            odometer: Ok(Kilometres(odo)),
        });
    let kind = prop_oneof![
        (
            proptest::collection::vec(sample, 0..12),
            any::<bool>(),
            time.clone(),
            any::<bool>()
        )
            .prop_map(|(samples, backfill, t, mil)| {
                let obd = Obd {
                    time: EventTime::from_unix_secs(t),
                    mil_on: Some(mil),
                    dtcs: vec!["P2047".into()],
                    vin: Some("LG6ZDANH7EY208182".into()),
                    calibration_id: format!("C{}", t % 3),
                    cvn: String::new(),
                };
                EventKind::Report(Report {
                    backfill,
                    samples,
                    obd: vec![obd],
                })
            }),
        Just(EventKind::Login),
        Just(EventKind::Logout),
        Just(EventKind::RemovalAlarm {
            position: Some(Position {
                valid: true,
                lon: 116.4,
                lat: 39.9
            })
        }),
        (any::<f64>(), any::<u32>()).prop_map(|(o, r)| EventKind::ManualCheck(ManualCheck {
            plate: None,
            site_id: String::new(),
            device_id: String::new(),
            position: Some(Position {
                valid: true,
                lon: 116.4,
                lat: 39.9
            }),
            free_acceleration_opacity: Some(o),
            lug_down_opacity: None,
            lug_down_nox: None,
            ringelmann: Some(r),
            obd_mil_on: None,
            obd_communication_ok: None,
        })),
        (any::<f64>(), any::<f32>()).prop_map(|(o, no)| EventKind::RemoteSensing(RemoteSensing {
            plate: None,
            site_id: String::new(),
            device_id: String::new(),
            position: None,
            opacity_pct: Some(o),
            no: Some(Ppm(no)),
            ringelmann: None,
            diesel: true,
            audit_valid: true,
        })),
        any::<bool>().prop_map(|passed| EventKind::Reinspection(Reinspection {
            station_id: String::new(),
            report_id: String::new(),
            passed
        })),
        Just(EventKind::Registration(Registration {
            plate: Plate::parse("冀F12345").unwrap(),
            colour: None,
            from: None,
            profile: Default::default(),
        })),
        (time.clone(), time.clone()).prop_map(|(a, b)| EventKind::Permit(Permit {
            valid_from: EventTime::from_unix_secs(a),
            valid_until: EventTime::from_unix_secs(b),
            revoked: false,
        })),
    ];
    (time, kind).prop_map(|(t, kind)| Event {
        vin: Vin::parse("LGDCHA1G8MA127733").unwrap(),
        time: EventTime::from_unix_secs(t),
        source: RecordRef {
            topic: Arc::from("tw.telemetry"),
            partition: 0,
            offset: 0,
        },
        kind,
    })
}
