//! Raw-frame decode throughput (criterion), in data-stream bodies per second on one core: an
//! HJ 1239 real-time frame with one OBD body (three DTCs) and ten 37-byte stream bodies with
//! their own times, plus the signature. Every stream field is read through its accessor inside
//! the measured loop, so lazy decoding gets no credit for work it skips.
//! Run: `cargo bench --bench frame`.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use tailwatch::decode::frame::{
    decode, encode, Body, Content, DataUnit, Dialect, DialectChoice, Dtc, Frame, Info, ObdBody,
    Signature, StreamBody, StreamField,
};
use tailwatch::model::{Absent, EventTime, Position};

const STREAMS: usize = 10;

fn stream(i: usize) -> StreamBody {
    let x = i as f64;
    let values = [
        (StreamField::Speed, Ok(60.0 + x)),
        (StreamField::AtmosphericPressure, Ok(100.5)),
        (StreamField::NetTorque, Ok(40.0)),
        (StreamField::FrictionTorque, Ok(5.0)),
        (StreamField::EngineRpm, Ok(1450.0 + 10.0 * x)),
        (StreamField::FuelFlow, Ok(25.5)),
        (StreamField::NoxUpstream, Ok(800.0)),
        (StreamField::NoxDownstream, Ok(120.0 + x)),
        (StreamField::Reagent, Ok(60.0)),
        (StreamField::IntakeAir, Ok(600.0)),
        (StreamField::ScrInlet, Err(Absent::OutOfRange)),
        (StreamField::ScrOutlet, Ok(280.0)),
        (StreamField::DpfDifferentialPressure, Ok(2.5)),
        (StreamField::Coolant, Ok(85.0)),
        (StreamField::FuelLevel, Ok(75.2)),
        (StreamField::Odometer, Ok(123_456.7 + x / 10.0)),
    ];
    let mut body = StreamBody::all_invalid();
    for (field, value) in values {
        body.set(field, value).expect("representable");
    }
    body.with_position(Ok(Position {
        valid: true,
        lon: 116.3975,
        lat: 39.9087,
    }))
    .expect("representable")
}

fn hj_frame() -> Vec<u8> {
    // 2024-03-15 10:20:30 Beijing.
    let t0 = EventTime::from_unix_secs(1_710_469_230);
    let obd = ObdBody {
        protocol_code: 0,
        mil_code: 1,
        diagnostic_support: 0x0C01,
        readiness: 0x0400,
        vin_bytes: *b"LGDCHA1G8MA127733",
        calibration_id: *b"CAL123450000000000",
        cvn: *b"1A2B3C4D0000000000",
        iupr: [0; 36],
        dtcs: Some(vec![
            Dtc([0x20, 0x47, 0x00, 0xAF]),
            Dtc([0x24, 0x63, 0x00, 0x08]),
            Dtc([0x04, 0x01, 0x00, 0x08]),
        ]),
    };
    let mut bodies = vec![Body {
        collected_at: Some(t0),
        info: Info::Obd(Box::new(obd)),
        signature: None,
        serial: None,
    }];
    bodies.extend((0..STREAMS).map(|i| Body {
        collected_at: Some(EventTime(t0.0 + 1000 * i as i64)),
        info: Info::Stream(stream(i)),
        signature: None,
        serial: None,
    }));
    let frame = Frame {
        vin_bytes: *b"LGDCHA1G8MA127733",
        software_version: Some(1),
        dialect: Dialect::Hj1239,
        content: Content::Realtime(DataUnit {
            collected_at: t0,
            serial: 1,
            bodies,
            signature: Signature::new(&[0x11; 32], &[0x22; 32]),
        }),
    };
    encode(&frame).expect("a valid frame")
}

/// Reads every stream field; sums present values and counts absences so nothing is skipped.
fn read_all(frame: &Frame) -> (f64, u32) {
    let mut sum = 0.0;
    let mut absent = 0;
    let mut add = |r: Result<f64, Absent>| match r {
        Ok(v) => sum += v,
        Err(_) => absent += 1,
    };
    if let Some(unit) = frame.data_unit() {
        for entry in unit.streams() {
            let s = &entry.body;
            add(s.speed_kmh());
            add(s.atmospheric_pressure_kpa());
            add(s.net_torque_pct());
            add(s.friction_torque_pct());
            add(s.engine_rpm());
            add(s.fuel_flow_lph());
            add(s.nox_upstream_ppm());
            add(s.nox_downstream_ppm());
            add(s.reagent_pct());
            add(s.intake_air_kgph());
            add(s.scr_inlet_c());
            add(s.scr_outlet_c());
            add(s.dpf_dp_kpa());
            add(s.coolant_c());
            add(s.fuel_level_pct());
            add(s.odometer_km());
            add(s
                .position()
                .map(|p| p.lon + p.lat + f64::from(u8::from(p.valid))));
            add(entry
                .collected_at
                .map(|t| t.0 as f64)
                .ok_or(Absent::Missing));
        }
    }
    (sum, absent)
}

fn throughput(c: &mut Criterion) {
    let bytes = hj_frame();
    let check = decode(&bytes, DialectChoice::Fixed(Dialect::Hj1239)).expect("decodes");
    assert_eq!(
        check.data_unit().map(|u| u.streams().count()),
        Some(STREAMS)
    );

    let mut group = c.benchmark_group("frame");
    group.throughput(Throughput::Elements(STREAMS as u64));
    for (name, choice) in [
        (
            "decode_hj1239_10_streams",
            DialectChoice::Fixed(Dialect::Hj1239),
        ),
        ("decode_auto_10_streams", DialectChoice::Auto),
    ] {
        group.bench_function(name, |b| {
            b.iter(|| {
                let frame = decode(black_box(&bytes), choice).expect("decodes");
                black_box(read_all(&frame))
            })
        });
    }
    group.finish();
}

criterion_group!(benches, throughput);
criterion_main!(benches);
