//! Tests of the simulator's raw-frame telemetry (`SimConfig::raw`): the protobuf run is
//! unchanged, raw runs are deterministic, every raw record decodes in its dialect (fixed and
//! auto-detected), and each raw run says exactly what the protobuf run of the same config says,
//! sample by sample within each field's resolution. `reports` tries `frames` on hand-made
//! reports (GB 17691 splitting, values the wire cannot carry).

use std::collections::BTreeMap;

use pbjson_types::Timestamp;
use prost::Message;

use super::frames;
use super::*;
use crate::decode::frame::{
    decode, Content, DataUnit, DialectChoice, Frame, Info, ObdBody, SerialAt, StreamBody,
    StreamField,
};
use crate::proto;

mod reports;

const DIALECTS: [Dialect; 7] = Dialect::ALL;

/// Two hours of 30 vehicles, half of them faulty with terminal tampering (removal alarms),
/// MIL faults (DTCs) or data gaps, and clean vehicles logging out and (one at least)
/// reissuing after an outage.
fn config(raw: Option<Dialect>) -> SimConfig {
    SimConfig {
        fault_mix: vec![
            (RuleId::TerminalTamper, 3),
            (RuleId::MilEmissionFault, 2),
            (RuleId::DataGap, 1),
        ],
        raw,
        ..fingerprinted()
    }
}

/// The run whose protobuf stream was fingerprinted before raw frames existed.
fn fingerprinted() -> SimConfig {
    SimConfig {
        vehicles: 30,
        duration_secs: 2 * 3_600,
        seed: 17,
        fault_fraction: 0.5,
        fault_mix: vec![(RuleId::TerminalTamper, 3), (RuleId::DataGap, 1)],
        ..SimConfig::default()
    }
}

/// Record count and FNV-1a over every field of every record, lengths included.
fn fingerprint(records: impl Iterator<Item = Record>) -> (usize, u64) {
    let mut hash = 0xCBF2_9CE4_8422_2325_u64;
    let mut eat = |bytes: &[u8]| {
        for &b in (bytes.len() as u64).to_le_bytes().iter().chain(bytes) {
            hash = (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3);
        }
    };
    let mut count = 0;
    for r in records {
        count += 1;
        eat(r.topic.as_bytes());
        eat(&r.partition.to_le_bytes());
        eat(&r.offset.to_le_bytes());
        eat(&r.timestamp.to_le_bytes());
        eat(r.key.as_deref().unwrap_or(b"-"));
        for (k, v) in &r.headers {
            eat(k.as_bytes());
            eat(v.as_bytes());
        }
        eat(r.value.as_deref().unwrap_or(b"-"));
    }
    (count, hash)
}

/// Without raw frames the stream stays byte for byte what it was (other tests are built on
/// it). The whole stream was taken again when registrations gained their plate colour and
/// paperwork and evidence began to name plates only; the telemetry alone is as it was taken
/// before `SimConfig::raw` existed, as the paperwork draws from streams of its own.
#[test]
fn without_raw_frames_the_stream_is_unchanged() {
    let got = fingerprint(Simulation::new(fingerprinted()));
    assert_eq!(got, PROTOBUF_FINGERPRINT, "{got:?}");
    let telemetry =
        fingerprint(Simulation::new(fingerprinted()).filter(|r| r.topic == "tw.telemetry"));
    assert_eq!(telemetry, TELEMETRY_FINGERPRINT, "{telemetry:?}");
}

const PROTOBUF_FINGERPRINT: (usize, u64) = (16_798, 7_472_569_082_201_204_328);
const TELEMETRY_FINGERPRINT: (usize, u64) = (16_738, 5_760_081_190_439_875_052);

#[test]
fn raw_runs_are_deterministic() {
    for dialect in DIALECTS {
        let first: Vec<Record> = Simulation::new(config(Some(dialect))).collect();
        let second: Vec<Record> = Simulation::new(config(Some(dialect))).collect();
        assert!(first == second, "{dialect}: two runs differ");
    }
}

/// What a terminal said, keyed by (VIN, command, time), with each sample (`S`) and OBD entry
/// (`O`) in its own form: protobuf or frame body.
#[derive(Debug)]
struct Said<S, O> {
    /// Live (false) or reissued (true) sample → (record timestamp, partition, sample).
    samples: BTreeMap<(String, bool, i64), (i64, i32, S)>,
    /// OBD entries → (record timestamp, entry).
    obd: BTreeMap<(String, bool, i64), (i64, O)>,
    /// Login / logout / removal alarm → (record timestamp, serial, ICCID or position).
    other: BTreeMap<(String, &'static str, i64), (i64, u16, String)>,
}

impl<S, O> Default for Said<S, O> {
    fn default() -> Self {
        Said {
            samples: BTreeMap::new(),
            obd: BTreeMap::new(),
            other: BTreeMap::new(),
        }
    }
}

fn secs(ts: &Option<Timestamp>) -> i64 {
    ts.as_ref().expect("simulated times are set").seconds
}

/// The protobuf run, and its records on other topics.
fn said_in_protobuf(cfg: SimConfig) -> (Said<proto::StreamSample, proto::ObdInfo>, Vec<Record>) {
    let mut said = Said::default();
    let mut rest = Vec::new();
    for record in Simulation::new(cfg) {
        if record.topic != "tw.telemetry" {
            rest.push(record);
            continue;
        }
        let m = proto::TerminalReport::decode(record.value.as_deref().unwrap()).unwrap();
        let ts = record.timestamp;
        let at = secs(&m.collected_at);
        match proto::Command::try_from(m.command).unwrap() {
            proto::Command::Realtime | proto::Command::Reissue => {
                let reissue = m.command == proto::Command::Reissue as i32;
                for s in m.samples {
                    let key = (m.vin.clone(), reissue, secs(&s.sampled_at));
                    assert!(said
                        .samples
                        .insert(key, (ts, record.partition, s))
                        .is_none());
                }
                for o in m.obd {
                    let key = (m.vin.clone(), reissue, secs(&o.sampled_at));
                    assert!(said.obd.insert(key, (ts, o)).is_none());
                }
            }
            proto::Command::Login => {
                let l = m.login.unwrap();
                let value = (ts, l.login_serial as u16, l.iccid);
                said.other.insert((m.vin, "login", at), value);
            }
            proto::Command::Logout => {
                let l = m.logout.unwrap();
                let value = (ts, l.login_serial as u16, String::new());
                said.other.insert((m.vin, "logout", at), value);
            }
            proto::Command::RemovalAlarm => {
                let a = m.removal_alarm.unwrap();
                let p = a.position.unwrap();
                let text = format!("{:.6} {:.6} {}", p.lon, p.lat, p.valid);
                said.other
                    .insert((m.vin, "removal_alarm", at), (ts, a.serial as u16, text));
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    (said, rest)
}

/// Every field of a simulated sample is on the wire within half its resolution; nothing is
/// absent.
fn check_fields(s: &proto::StreamSample, body: &StreamBody) {
    let values = [
        s.speed_kmh,
        s.atmospheric_pressure_kpa,
        s.net_torque_pct,
        s.friction_torque_pct,
        s.engine_rpm,
        s.fuel_flow_lph,
        s.nox_upstream_ppm,
        s.nox_downstream_ppm,
        s.reagent_pct,
        s.intake_air_kgph,
        s.scr_inlet_c,
        s.scr_outlet_c,
        s.dpf_dp_kpa,
        s.coolant_c,
        s.fuel_level_pct,
    ];
    let fields = StreamField::ALL
        .into_iter()
        .filter(|f| !matches!(f, StreamField::Longitude | StreamField::Latitude));
    for (field, value) in fields.zip(values.into_iter().chain([s.odometer_km])) {
        let wire = body
            .value(field)
            .unwrap_or_else(|a| panic!("{field:?} {a:?}"));
        let half = field.spec().resolution() / 2.0 + 1e-9;
        assert!((wire - value.unwrap()).abs() <= half, "{field:?} {value:?}");
    }
    let p = s.position.as_ref().unwrap();
    let wire = body.position().unwrap();
    assert!((wire.lon - p.lon).abs() <= 5e-7 && (wire.lat - p.lat).abs() <= 5e-7);
    assert_eq!(wire.valid, p.valid);
}

/// The OBD body carries the entry: ISO 15765 is protocol 0, MIL on is 1, text as ASCII.
fn check_obd(o: &proto::ObdInfo, body: &ObdBody) {
    assert_eq!(body.protocol_code, 0);
    assert_eq!(body.mil_code, u8::from(o.mil == proto::Mil::On as i32));
    assert_eq!(u32::from(body.diagnostic_support), o.diagnostic_support);
    assert_eq!(u32::from(body.readiness), o.readiness);
    assert_eq!(body.vin_bytes, o.vin.as_bytes());
    assert_eq!(body.calibration_id, o.calibration_id.as_bytes());
    assert_eq!(body.cvn, o.cvn.as_bytes());
    assert_eq!(body.iupr, o.iupr[..]);
    let codes: Vec<String> = body
        .decoded_dtcs()
        .map(|d| d.unwrap().to_string())
        .collect();
    let raw: Vec<&[u8]> = body.dtcs().iter().map(|d| &d.0[..]).collect();
    assert_eq!(
        codes,
        o.dtcs.iter().map(|d| d.code.clone()).collect::<Vec<_>>()
    );
    assert_eq!(raw, o.dtcs.iter().map(|d| &d.raw[..]).collect::<Vec<_>>());
}

/// The raw run decoded in `dialect` (checking auto detection agrees), keyed like the
/// protobuf run, and its records on other topics.
fn said_in_frames(cfg: SimConfig, dialect: Dialect) -> (Said<StreamBody, ObdBody>, Vec<Record>) {
    let mut said = Said::default();
    let mut rest = Vec::new();
    for record in Simulation::new(cfg) {
        if record.topic != "tw.telemetry.raw" {
            assert_ne!(record.topic, "tw.telemetry");
            rest.push(record);
            continue;
        }
        assert_eq!(
            record.headers,
            BTreeMap::from([("tw-dialect".to_owned(), dialect.as_str().to_owned())])
        );
        let bytes = record.value.as_deref().unwrap();
        let fixed = decode(bytes, DialectChoice::Fixed(dialect))
            .unwrap_or_else(|e| panic!("{dialect}: {e} in {record:?}"));
        let auto = decode(bytes, DialectChoice::Auto)
            .unwrap_or_else(|e| panic!("{dialect}: {e} in {}", crate::recording::hex(bytes)));
        let expected_auto = match fixed.content {
            Content::Realtime(_) | Content::Reissue(_) => dialect,
            Content::RemovalAlarm(_) => Dialect::Hj1239,
            _ => Dialect::Gb17691,
        };
        match (&auto.content, &fixed.content) {
            // A data unit that reads the same bodies in GB 17691 and a serial placement (one
            // body, or a serial whose low byte is the first type) is reported as GB 17691.
            (
                Content::Realtime(a) | Content::Reissue(a),
                Content::Realtime(f) | Content::Reissue(f),
            ) if auto.dialect != expected_auto => {
                assert_eq!(auto.dialect, Dialect::Gb17691, "{dialect}");
                assert!(dialect.serial_at() != SerialAt::AfterTime, "{dialect}");
                let read = |u: &DataUnit| -> Vec<Info> {
                    u.bodies.iter().map(|b| b.info.clone()).collect()
                };
                assert_eq!(read(a), read(f));
            }
            _ => {
                assert_eq!(auto.dialect, expected_auto, "{:?}", fixed.command());
                assert_eq!(auto.content, fixed.content);
            }
        }
        let vin = fixed.vin().unwrap().to_string();
        assert_eq!(record.key.as_deref(), Some(vin.as_bytes()));
        collect(&mut said, &record, fixed, vin, dialect);
    }
    (said, rest)
}

fn collect(
    said: &mut Said<StreamBody, ObdBody>,
    record: &Record,
    frame: Frame,
    vin: String,
    dialect: Dialect,
) {
    let ts = record.timestamp;
    let at = frame.collected_at().unwrap().unix_secs();
    let reissue = frame.command() == crate::decode::frame::Command::Reissue;
    match frame.content {
        Content::Realtime(unit) | Content::Reissue(unit) => {
            assert_eq!(frame.dialect, dialect);
            assert_eq!(
                unit.signature.is_some(),
                dialect.signing() == crate::decode::frame::Signing::End
            );
            for entry in unit.streams() {
                let t = match entry.collected_at {
                    Some(t) => t.unix_secs(),
                    None => at + entry.ordinal as i64,
                };
                let value = (ts, record.partition, entry.body);
                let key = (vin.clone(), reissue, t);
                assert!(said.samples.insert(key, value).is_none());
            }
            for body in &unit.bodies {
                if let Info::Obd(o) = &body.info {
                    let t = body.collected_at.map_or(at, |t| t.unix_secs());
                    let key = (vin.clone(), reissue, t);
                    assert!(said.obd.insert(key, (ts, (**o).clone())).is_none());
                }
            }
        }
        Content::Login(l) => {
            let iccid = l.iccid_str().unwrap().to_owned();
            said.other.insert((vin, "login", at), (ts, l.serial, iccid));
        }
        Content::Logout(l) => {
            said.other
                .insert((vin, "logout", at), (ts, l.serial, String::new()));
        }
        Content::RemovalAlarm(a) => {
            let p = a.position().unwrap();
            let text = format!("{:.6} {:.6} {}", p.lon, p.lat, p.valid);
            said.other
                .insert((vin, "removal_alarm", at), (ts, a.serial, text));
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn raw_frames_say_what_the_protobuf_reports_say() {
    let (protobuf, protobuf_rest) = said_in_protobuf(config(None));
    let count = |what: &str| protobuf.other.keys().filter(|k| k.1 == what).count();
    let reissued = protobuf.samples.keys().filter(|k| k.1).count();
    let dtcs = protobuf
        .obd
        .values()
        .filter(|(_, o)| !o.dtcs.is_empty())
        .count();
    assert!(
        count("login") > 0 && count("logout") > 0 && count("removal_alarm") > 0,
        "the run does not show every command"
    );
    assert!(
        reissued > 0 && dtcs > 0,
        "{reissued} reissued, {dtcs} with DTCs"
    );
    for dialect in DIALECTS {
        let (raw, raw_rest) = said_in_frames(config(Some(dialect)), dialect);
        assert!(raw_rest == protobuf_rest, "{dialect}: other topics differ");
        assert_eq!(raw.samples.len(), protobuf.samples.len(), "{dialect}");
        for (key, (ts, partition, sample)) in &protobuf.samples {
            let Some((raw_ts, raw_partition, body)) = raw.samples.get(key) else {
                panic!("{dialect}: no frame has {key:?}")
            };
            assert_eq!(
                (raw_ts, raw_partition),
                (ts, partition),
                "{dialect}: {key:?}"
            );
            check_fields(sample, body);
        }
        assert_eq!(raw.obd.len(), protobuf.obd.len(), "{dialect}");
        for (key, (ts, entry)) in &protobuf.obd {
            let Some((raw_ts, body)) = raw.obd.get(key) else {
                panic!("{dialect}: no frame has OBD {key:?}")
            };
            assert_eq!(raw_ts, ts, "{dialect}: {key:?}");
            check_obd(entry, body);
        }
        assert_eq!(raw.other, protobuf.other, "{dialect}");
    }
}
