//! `frames` on hand-made reports: GB 17691 / hybrid splitting into runs of consecutive
//! seconds, OBD padding and DTCs rebuilt from their code, values the wire cannot carry, and
//! the session and removal-alarm frames in every dialect.

use pbjson_types::Timestamp;

use super::{frames, DIALECTS};
use crate::decode::frame::{decode, Content, Dialect, DialectChoice, Dtc, Frame};
use crate::model::{Absent, Position};
use crate::proto;

fn at(secs: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: secs,
        nanos: 0,
    })
}

/// 2026-11-02 00:00 UTC, the default run start.
const T: i64 = 1_793_577_600;

fn report(sample_secs: &[i64], obd_secs: &[i64]) -> proto::TerminalReport {
    let sample = |t: i64| proto::StreamSample {
        sampled_at: at(t),
        speed_kmh: Some(50.0 + (t - T) as f64),
        ..proto::StreamSample::default()
    };
    let obd = |t: i64| proto::ObdInfo {
        sampled_at: at(t),
        protocol: proto::ObdProtocol::Iso15765 as i32,
        mil: proto::Mil::On as i32,
        vin: "LZZ1CCND0MA000013".to_owned(),
        calibration_id: "MC13".to_owned(),
        cvn: "1A2B".to_owned(),
        dtcs: vec![proto::Dtc {
            raw: Vec::new(),
            code: "P2047".to_owned(),
        }],
        ..proto::ObdInfo::default()
    };
    proto::TerminalReport {
        vin: "LZZ1CCND0MA000013".to_owned(),
        command: proto::Command::Realtime as i32,
        collected_at: at(T),
        serial: 70_000,
        samples: sample_secs.iter().map(|&t| sample(t)).collect(),
        obd: obd_secs.iter().map(|&t| obd(t)).collect(),
        ..proto::TerminalReport::default()
    }
}

/// (frame time, OBD bodies, stream speeds) of each data frame, after a round trip.
fn shape(frames: &[Frame]) -> Vec<(i64, usize, Vec<f64>)> {
    frames
        .iter()
        .map(|f| {
            let bytes = crate::decode::frame::encode(f).unwrap();
            let back = decode(&bytes, DialectChoice::Fixed(f.dialect)).unwrap();
            assert_eq!(&back, f);
            let unit = back.data_unit().unwrap();
            let speeds = unit
                .streams()
                .map(|s| s.body.speed_kmh().unwrap())
                .collect();
            (
                unit.collected_at.unix_secs() - T,
                unit.obd().count(),
                speeds,
            )
        })
        .collect()
}

#[test]
fn gb_and_hybrid_reports_split_into_runs_of_consecutive_seconds() {
    let r = report(&[T + 2, T + 3, T + 5, T + 6, T + 7], &[T, T + 5]);
    for dialect in DIALECTS.into_iter().filter(|d| !d.timed_bodies()) {
        let frames = frames::frames(&r, dialect);
        assert_eq!(
            shape(&frames),
            vec![
                (0, 1, vec![]),
                (2, 0, vec![52.0, 53.0]),
                (5, 1, vec![55.0, 56.0, 57.0]),
            ],
            "{dialect}"
        );
        // The serial wraps to 2 bytes and is kept by every piece.
        assert!(frames
            .iter()
            .all(|f| f.data_unit().unwrap().serial == 4_464));
    }
    let hj = frames::frames(&r, Dialect::Hj1239);
    assert_eq!(shape(&hj), vec![(0, 2, vec![52.0, 53.0, 55.0, 56.0, 57.0])]);
    let times: Vec<i64> = hj[0]
        .data_unit()
        .unwrap()
        .bodies
        .iter()
        .map(|b| b.collected_at.unwrap().unix_secs() - T)
        .collect();
    assert_eq!(times, vec![0, 5, 2, 3, 5, 6, 7]);
    // Consecutive samples from the report time stay one frame.
    let whole = report(&[T, T + 1, T + 2], &[T]);
    assert_eq!(
        shape(&frames::frames(&whole, Dialect::Gb17691)),
        vec![(0, 1, vec![50.0, 51.0, 52.0])]
    );
}

#[test]
fn obd_entries_are_padded_and_dtcs_rebuilt_from_their_code() {
    let frames = frames::frames(&report(&[], &[T]), Dialect::Gb17691);
    let Some((_, obd)) = frames[0].data_unit().unwrap().obd().next() else {
        panic!("no OBD body")
    };
    assert_eq!((obd.protocol_code, obd.mil_code), (0, 1));
    assert_eq!(&obd.calibration_id, b"MC1300000000000000");
    assert_eq!(&obd.cvn, b"1A2B00000000000000");
    assert_eq!(obd.dtcs(), [Dtc([0x20, 0x47, 0x00, 0xAF])]);
    assert_eq!(
        obd.decoded_dtcs().next().unwrap().unwrap().to_string(),
        "P2047"
    );
}

#[test]
fn values_the_wire_cannot_carry_become_absences() {
    let mut s = proto::StreamSample {
        sampled_at: at(T),
        speed_kmh: Some(300.0),
        nox_upstream_ppm: Some(-200.0),
        nox_downstream_ppm: Some(f64::NAN),
        coolant_c: Some(-41.0),
        odometer_km: Some(-1.0),
        position: Some(proto::Position {
            valid: true,
            lon: 200.0,
            lat: 40.0,
        }),
        ..proto::StreamSample::default()
    };
    s.absent.push(proto::AbsentValue {
        field: proto::StreamField::EngineRpm as i32,
        reason: proto::Absence::Abnormal as i32,
    });
    let body = frames::stream_body(&s);
    assert_eq!(body.speed_kmh(), Err(Absent::OutOfRange));
    assert_eq!(body.nox_upstream_ppm(), Err(Absent::NotReady));
    assert_eq!(body.nox_downstream_ppm(), Err(Absent::OutOfRange));
    assert_eq!(body.coolant_c(), Err(Absent::OutOfRange));
    // Mileage has no out-of-range code (its range is every non-sentinel value).
    assert_eq!(body.odometer_km(), Err(Absent::Invalid));
    assert_eq!(body.engine_rpm(), Err(Absent::Abnormal));
    assert_eq!(body.fuel_flow_lph(), Err(Absent::Invalid));
    assert_eq!(body.position(), Err(Absent::OutOfRange));

    s.position = Some(proto::Position {
        valid: false,
        lon: -70.5,
        lat: -33.25,
    });
    let p: Position = frames::stream_body(&s).position().unwrap();
    assert_eq!((p.valid, p.lon, p.lat), (false, -70.5, -33.25));
}

#[test]
fn session_frames_and_removal_alarms() {
    let base = proto::TerminalReport {
        vin: "LZZ1CCND0MA000013".to_owned(),
        collected_at: at(T),
        serial: 9,
        ..proto::TerminalReport::default()
    };
    let login = proto::TerminalReport {
        command: proto::Command::Login as i32,
        login: Some(proto::Login {
            login_serial: 3,
            iccid: "89860412345678901234".to_owned(),
        }),
        ..base.clone()
    };
    let logout = proto::TerminalReport {
        command: proto::Command::Logout as i32,
        logout: Some(proto::Logout { login_serial: 3 }),
        ..base.clone()
    };
    let alarm = proto::TerminalReport {
        command: proto::Command::RemovalAlarm as i32,
        removal_alarm: Some(proto::RemovalAlarm {
            serial: 9,
            position: Some(proto::Position {
                valid: true,
                lon: 116.4,
                lat: 39.9,
            }),
        }),
        ..base
    };
    for dialect in DIALECTS {
        let one = |r: &proto::TerminalReport| {
            let [bytes] = &frames::encode_report(r, dialect).unwrap()[..] else {
                panic!("one frame")
            };
            decode(bytes, DialectChoice::Fixed(dialect))
                .unwrap()
                .content
        };
        let Content::Login(l) = one(&login) else {
            panic!()
        };
        assert_eq!((l.serial, l.iccid_str()), (3, Some("89860412345678901234")));
        assert_eq!(l.collected_at.unix_secs(), T);
        assert!(matches!(one(&logout), Content::Logout(l) if l.serial == 3));
        let Content::RemovalAlarm(a) = one(&alarm) else {
            panic!()
        };
        let p = a.position().unwrap();
        assert_eq!((a.serial, p.valid, p.lon, p.lat), (9, true, 116.4, 39.9));
    }
}
