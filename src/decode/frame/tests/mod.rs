//! Tests of the frame codec, in rings: byte-literal fixtures written from the tables in
//! domain.md §2 (here), decoding of every command and body type (`frames`), values, sentinels
//! and DTCs (`values`), every rejection reason (`rejections`) and properties over generated
//! frames and bytes (`properties`). Hex is spelled out field by field; BCCs were computed once
//! and pasted (`seal` rebuilds them and is checked against the literals).

use super::*;
use crate::model::{unix_secs_from_civil, Absent, EventTime};

/// Hex → bytes, ignoring whitespace.
fn h(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// A frame around `data_unit` with VIN `LGDCHA1G8MA127733`, version 0x10, plaintext.
fn seal(command: u8, data_unit: &[u8]) -> Vec<u8> {
    let mut f = h("23 23");
    f.push(command);
    f.extend_from_slice(b"LGDCHA1G8MA127733");
    f.extend_from_slice(&[0x10, 0x01]);
    f.extend_from_slice(&(data_unit.len() as u16).to_be_bytes());
    f.extend_from_slice(data_unit);
    f.push(f.iter().fold(0, |a, b| a ^ b));
    f
}

macro_rules! vin_hex {
    () => {
        " 4C 47 44 43 48 41 31 47 38 4D 41 31 32 37 37 33 33 "
    };
}
/// 2024-03-15 10:20:30 Beijing.
macro_rules! time_hex {
    () => {
        " 18 03 0F 0A 14 1E "
    };
}
/// speed 62.5, pressure 100, torque 40 / 5, 1450 rpm, 25.5 L/h, NOx 800 / 120, reagent 60,
/// air 600, SCR 300 / 280 °C, DPF 2.5 kPa, coolant 85, fuel 75.2 %, valid fix at
/// 116.3975 E 39.9087 N, 123456.7 km.
macro_rules! stream_hex {
    () => {
        concat!(
            " 3E 80 C8 A5 82 2D 50 01 FE 4E 20 19 00 96 2E E0 47 A0 45 20 00 19 7D BC",
            " 00 06 F0 15 BC 02 60 F5 5C 00 12 D6 87 "
        )
    };
}
/// ISO 15765, MIL on, support 0x0C01, readiness 0x0400, VIN, calibration ID, CVN, IUPR 0..35,
/// 2 DTCs: P2047 (status AF), P2463 (status 08).
macro_rules! obd_hex {
    () => {
        concat!(
            " 00 01 0C 01 04 00",
            vin_hex!(),
            " 43 41 4C 31 32 33 34 35 30 30 30 30 30 30 30 30 30 30",
            " 31 41 32 42 33 43 34 44 30 30 30 30 30 30 30 30 30 30",
            " 00 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10 11",
            " 12 13 14 15 16 17 18 19 1A 1B 1C 1D 1E 1F 20 21 22 23",
            " 02 20 47 00 AF 24 63 00 08 "
        )
    };
}
/// `0x20 R 0x20 S` with R = 01..20, S = 21..40.
macro_rules! signature_hex {
    () => {
        concat!(
            " 20 01 02 03 04 05 06 07 08 09 0A 0B 0C 0D 0E 0F 10 11 12 13 14 15 16 17 18 19",
            " 1A 1B 1C 1D 1E 1F 20 20 21 22 23 24 25 26 27 28 29 2A 2B 2C 2D 2E 2F 30 31 32",
            " 33 34 35 36 37 38 39 3A 3B 3C 3D 3E 3F 40 "
        )
    };
}

const LOGIN: &str = concat!(
    "23 23 01",
    vin_hex!(),
    "10 01 00 1C",
    time_hex!(),
    "00 07",
    "38 39 38 36 30 30 31 32 33 34 35 36 37 38 39 30 31 32 33 34", // ICCID
    "51"
);
const LOGOUT: &str = concat!(
    "23 23 04",
    vin_hex!(),
    "10 01 00 08",
    time_hex!(),
    "00 07 4A"
);
const TIME_SYNC: &str = concat!("23 23 05", vin_hex!(), "10 01 00 00 50");
/// Fix valid, south + west (status 0x06), 70.5°, 33.25°.
const REMOVAL_ALARM: &str = concat!(
    "23 23 06",
    vin_hex!(),
    "10 01 00 11",
    time_hex!(),
    "00 09 06 04 33 BE A0 01 FB 5A D0 00"
);
const GB_ONE_STREAM: &str = concat!(
    "23 23 02",
    vin_hex!(),
    "10 01 00 2E",
    time_hex!(),
    "00 01 02",
    stream_hex!(),
    "1F"
);
/// HJ 1239 reissue-style real-time frame: OBD + two streams, each with its own time, and a
/// 32 + 32 signature. L = 273.
const HJ_FRAME: &str = concat!(
    "23 23 02",
    vin_hex!(),
    "10 01 01 11",
    time_hex!(),
    "00 02",
    "01",
    time_hex!(),
    obd_hex!(),
    "02",
    time_hex!(),
    stream_hex!(),
    "02 18 03 0F 0A 14 1F", // 10:20:31
    " 3F 00 C8 A5 82 2D 50 01 FE 4E 20 19 00 96 2E E0 47 A0 45 20 00 19 7D BC",
    " 00 06 F0 15 BC 02 60 F5 5C 00 12 D6 87 ",
    signature_hex!(),
    "32"
);
/// Vendor hybrid reissue: stream, hybrid add-on, TWC 0x03 and 0x05 (opaque), user-defined
/// 0x80 with 3 bytes, signature; no body times. L = 191.
const HYBRID_FRAME: &str = concat!(
    "23 23 03",
    vin_hex!(),
    "10 01 00 BF",
    time_hex!(),
    "00 03 02",
    stream_hex!(),
    "04 05 DC 2D 15 81 26 95 44", // 1500 rpm, 45 %, 550.5 V, −12.3 A, 68 %
    "03 AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA AA",
    "05 BB BB BB BB BB BB BB BB BB BB BB BB BB BB BB BB",
    "   BB BB BB BB BB BB BB BB BB BB BB BB BB BB BB BB",
    "80 00 03 DE AD BE",
    signature_hex!(),
    "16"
);

const GB: DialectChoice = DialectChoice::Fixed(Dialect::Gb17691);
const HJ: DialectChoice = DialectChoice::Fixed(Dialect::Hj1239);
const HYBRID: DialectChoice = DialectChoice::Fixed(Dialect::Hybrid);

fn at(y: i64, mo: u32, d: u32, hh: u32, mm: u32, ss: u32) -> EventTime {
    EventTime::from_unix_secs(unix_secs_from_civil(y, mo, d, hh, mm, ss) - 8 * 3600)
}

fn t0() -> EventTime {
    at(2024, 3, 15, 10, 20, 30)
}

fn reason(bytes: &[u8], choice: DialectChoice) -> &'static str {
    match decode(bytes, choice) {
        Ok(f) => panic!("decoded {f:?}"),
        Err(e) => {
            // Messages must say what and where; check they render.
            assert!(!e.to_string().is_empty());
            e.reason()
        }
    }
}

fn close(r: Reading<f64>, want: f64) {
    let v = r.unwrap_or_else(|a| panic!("absent {a:?}, want {want}"));
    assert!((v - want).abs() < 1e-9, "{v} != {want}");
}

fn unit(frame: &Frame) -> &DataUnit {
    frame.data_unit().expect("a data unit")
}

fn assert_reference_stream(s: &StreamBody) {
    close(s.speed_kmh(), 62.5);
    close(s.atmospheric_pressure_kpa(), 100.0);
    close(s.net_torque_pct(), 40.0);
    close(s.friction_torque_pct(), 5.0);
    close(s.engine_rpm(), 1450.0);
    close(s.fuel_flow_lph(), 25.5);
    close(s.nox_upstream_ppm(), 800.0);
    close(s.nox_downstream_ppm(), 120.0);
    close(s.reagent_pct(), 60.0);
    close(s.intake_air_kgph(), 600.0);
    close(s.scr_inlet_c(), 300.0);
    close(s.scr_outlet_c(), 280.0);
    close(s.dpf_dp_kpa(), 2.5);
    close(s.coolant_c(), 85.0);
    close(s.fuel_level_pct(), 75.2);
    close(s.odometer_km(), 123_456.7);
    let p = s.position().unwrap();
    assert!(p.valid);
    close(Ok(p.lon), 116.3975);
    close(Ok(p.lat), 39.9087);
}

mod frames;
mod properties;
mod public;
mod rejections;
mod values;
