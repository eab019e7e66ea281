//! Stream and hybrid values: each sentinel keeps its reason, hemispheres sign the position,
//! the field table matches domain.md, DTC decodings, OBD codes and monitor bits, and writing
//! bodies from physical values.

use super::*;

fn stream_frame(body_hex: &str) -> StreamBody {
    let mut du = h(concat!(time_hex!(), "00 01 02"));
    du.extend(h(body_hex));
    let f = decode(&seal(0x02, &du), GB).unwrap();
    match unit(&f).bodies[0].info {
        Info::Stream(s) => s,
        _ => panic!(),
    }
}

#[test]
fn stream_sentinels_keep_their_reason() {
    let s = stream_frame(concat!(
        "FF FF",                      // speed invalid
        "FE",                         // pressure abnormal
        "FB",                         // net torque 126 % out of range
        "00",                         // friction −125 % (range minimum)
        "FF FE",                      // rpm abnormal
        "FA FF",                      // fuel flow 3212.75 (range maximum)
        "00 00",                      // NOx up: not ready
        "FF FF",                      // NOx down invalid
        "FA",                         // reagent 100 %
        "FE FF",                      // intake air out of range
        "FE FF",                      // SCR inlet 1766.97 °C: out of range
        "00 00",                      // SCR outlet −273 °C
        "FF FE",                      // DPF abnormal
        "FF",                         // coolant invalid
        "FB",                         // fuel level 100.4 % out of range
        "00 FF FF FF FE 00 00 00 00", // longitude abnormal
        "FF FF FF FE"                 // mileage abnormal
    ));
    assert_eq!(s.speed_kmh(), Err(Absent::Invalid));
    assert_eq!(s.atmospheric_pressure_kpa(), Err(Absent::Abnormal));
    assert_eq!(s.net_torque_pct(), Err(Absent::OutOfRange));
    close(s.friction_torque_pct(), -125.0);
    assert_eq!(s.engine_rpm(), Err(Absent::Abnormal));
    close(s.fuel_flow_lph(), 3212.75);
    assert_eq!(s.nox_upstream_ppm(), Err(Absent::NotReady));
    assert_eq!(s.nox_downstream_ppm(), Err(Absent::Invalid));
    close(s.reagent_pct(), 100.0);
    assert_eq!(s.intake_air_kgph(), Err(Absent::OutOfRange));
    assert_eq!(s.scr_inlet_c(), Err(Absent::OutOfRange));
    close(
        Ok(StreamField::ScrInlet.spec().physical(0xFEFF)),
        1766.96875,
    );
    close(s.scr_outlet_c(), -273.0);
    assert_eq!(s.dpf_dp_kpa(), Err(Absent::Abnormal));
    assert_eq!(s.coolant_c(), Err(Absent::Invalid));
    assert_eq!(s.fuel_level_pct(), Err(Absent::OutOfRange));
    assert_eq!(s.position(), Err(Absent::Abnormal));
    assert_eq!(s.odometer_km(), Err(Absent::Abnormal));

    let s = stream_frame(concat!(
        "00 00 00 00 00 00 00 00 00 00 00 00 01 00 00 00 00 00 00 00 00 00 00 00",
        "00 0A BA 95 01 00 00 00 00", // longitude 180.000001: out of range
        "FF FF FF FF"                 // mileage invalid
    ));
    close(s.nox_downstream_ppm(), -199.95);
    close(s.speed_kmh(), 0.0);
    assert_eq!(s.position(), Err(Absent::OutOfRange));
    assert_eq!(s.odometer_km(), Err(Absent::Invalid));
    assert_eq!(
        stream_frame(&"FF ".repeat(37)).position(),
        Err(Absent::Invalid)
    );
}

#[test]
fn hemisphere_bits_sign_the_position() {
    let body = |status: &str| {
        let mut hex = "00 ".repeat(24);
        hex.push_str(status);
        hex.push_str(" 06 F0 15 BC 02 60 F5 5C 00 00 00 00");
        stream_frame(&hex).position().unwrap()
    };
    let p = body("00");
    assert_eq!((p.valid, p.lon, p.lat), (true, 116.3975, 39.9087));
    let p = body("01");
    assert_eq!((p.valid, p.lon, p.lat), (false, 116.3975, 39.9087));
    let p = body("02");
    assert_eq!((p.lon, p.lat), (116.3975, -39.9087));
    let p = body("04");
    assert_eq!((p.lon, p.lat), (-116.3975, 39.9087));
    let p = body("07");
    assert_eq!((p.valid, p.lon, p.lat), (false, -116.3975, -39.9087));
}

#[test]
fn field_table_matches_domain_ranges() {
    let want = [
        (StreamField::Speed, 0.0, 250.996),
        (StreamField::AtmosphericPressure, 0.0, 125.0),
        (StreamField::NetTorque, -125.0, 125.0),
        (StreamField::FrictionTorque, -125.0, 125.0),
        (StreamField::EngineRpm, 0.0, 8031.875),
        (StreamField::FuelFlow, 0.0, 3212.75),
        (StreamField::NoxUpstream, -200.0, 3012.75),
        (StreamField::NoxDownstream, -200.0, 3012.75),
        (StreamField::Reagent, 0.0, 100.0),
        (StreamField::IntakeAir, 0.0, 3212.75),
        (StreamField::ScrInlet, -273.0, 1734.96875),
        (StreamField::ScrOutlet, -273.0, 1734.96875),
        (StreamField::DpfDifferentialPressure, 0.0, 6425.5),
        (StreamField::Coolant, -40.0, 210.0),
        (StreamField::FuelLevel, 0.0, 100.0),
        (StreamField::Longitude, 0.0, 180.0),
        (StreamField::Latitude, 0.0, 90.0),
    ];
    for (field, min, max) in want {
        let spec = field.spec();
        assert_eq!(spec.min(), min, "{}", spec.name);
        assert!(
            (spec.max() - max).abs() < 0.001,
            "{} max {}",
            spec.name,
            spec.max()
        );
    }
    let mut end = 0;
    for field in StreamField::ALL {
        let s = field.spec();
        let expected = if end == POSITION_STATUS_AT {
            end + 1
        } else {
            end
        };
        assert_eq!(s.at, expected, "{} follows the previous field", s.name);
        end = s.at + s.width;
    }
    assert_eq!(end, STREAM_BODY_LEN);
}

#[test]
fn dtc_decodings() {
    let d = Dtc([0x20, 0x47, 0x00, 0xAF]);
    assert_eq!(
        d.decode(ObdProtocol::Iso15765).unwrap().to_string(),
        "P2047"
    );
    assert_eq!(
        d.decode(ObdProtocol::Iso27145).unwrap().to_string(),
        "P2047"
    );
    assert_eq!(d.decode(ObdProtocol::Invalid), None);
    assert_eq!(d.decode(ObdProtocol::Unknown(7)), None);
    assert_eq!(Dtc([0x41, 0x23, 0, 0]).sae().to_string(), "C0123");
    assert_eq!(Dtc([0x9A, 0xBC, 0, 0]).sae().to_string(), "B1ABC");
    assert_eq!(Dtc([0xC1, 0x00, 0, 0]).sae().to_string(), "U0100");
    // J1939: SPN 4364 (0x110C) = SCR conversion efficiency, FMI 18, OC 1.
    let j = Dtc([0x0C, 0x11, 0x12, 0x01]);
    assert_eq!(
        j.decode(ObdProtocol::SaeJ1939).unwrap().to_string(),
        "SPN 4364 FMI 18 OC 1"
    );
    let j = Dtc([0xFF, 0xFF, 0xE3, 0x85]).j1939();
    assert_eq!(
        (j.spn, j.fmi, j.occurrences, j.conversion_method),
        (0x7FFFF, 3, 5, 1)
    );
}

fn obd_frame(protocol: u8, mil: u8, count_and_dtcs: &str) -> Result<Frame, FrameError> {
    let mut body = h(obd_hex!());
    body.truncate(OBD_FIXED_LEN - 1);
    body[0] = protocol;
    body[1] = mil;
    body.extend(h(count_and_dtcs));
    let mut du = h(concat!(time_hex!(), "00 01 01"));
    du.extend(body);
    decode(&seal(0x02, &du), GB)
}

#[test]
fn obd_protocols_mil_and_dtc_counts() {
    let f = obd_frame(2, 0, "01 0C 11 12 01").unwrap();
    let (_, obd) = unit(&f).obd().next().unwrap();
    assert_eq!(obd.protocol(), ObdProtocol::SaeJ1939);
    assert_eq!(obd.mil(), Ok(false));
    let codes: Vec<String> = obd.decoded_dtcs().map(|d| d.unwrap().to_string()).collect();
    assert_eq!(codes, ["SPN 4364 FMI 18 OC 1"]);

    let f = obd_frame(0xFE, 0xFE, "FE").unwrap();
    let (_, obd) = unit(&f).obd().next().unwrap();
    assert_eq!(obd.protocol(), ObdProtocol::Invalid);
    assert_eq!(obd.mil(), Err(Absent::Invalid));
    assert_eq!(
        (obd.dtc_count(), obd.dtcs()),
        (Err(Absent::Invalid), &[][..])
    );

    let f = obd_frame(9, 3, "00").unwrap();
    let (_, obd) = unit(&f).obd().next().unwrap();
    assert_eq!(obd.protocol(), ObdProtocol::Unknown(9));
    assert_eq!(obd.mil(), Err(Absent::OutOfRange));
    assert_eq!(obd.dtc_count(), Ok(0));

    assert_eq!(
        obd_frame(0, 0, "FF").unwrap_err().reason(),
        "frame_dtc_count"
    );
    let e = obd_frame(0, 0, "02 20 47 00 AF").unwrap_err();
    assert_eq!(e.reason(), "frame_body_overrun");
}

#[test]
fn monitor_bit_order_is_configurable() {
    assert!(monitor_bit(0x0001, Monitor::Catalyst, BitOrder::LsbFirst));
    assert!(monitor_bit(0x8000, Monitor::Catalyst, BitOrder::MsbFirst));
    assert!(monitor_bit(
        0x8000,
        Monitor::ComprehensiveComponent,
        BitOrder::LsbFirst
    ));
    assert_eq!(Monitor::ALL.len(), 16);
    assert_eq!(Monitor::ComprehensiveComponent.number(), 16);
    let all: Vec<Monitor> = monitors_set(0xFFFF, BitOrder::MsbFirst).collect();
    assert_eq!(all, Monitor::ALL);
    assert_eq!("msb_first".parse::<BitOrder>(), Ok(BitOrder::MsbFirst));
    assert!("msb".parse::<BitOrder>().is_err());
}

#[test]
fn stream_body_from_physical_values() {
    let s = StreamBody::all_invalid()
        .with(StreamField::Speed, Ok(62.5))
        .and_then(|s| s.with(StreamField::NoxUpstream, Err(Absent::NotReady)))
        .and_then(|s| s.with(StreamField::NoxDownstream, Ok(120.04)))
        .and_then(|s| s.with(StreamField::ScrInlet, Err(Absent::OutOfRange)))
        .and_then(|s| s.with(StreamField::Coolant, Err(Absent::Abnormal)))
        .and_then(|s| s.with(StreamField::Reagent, Err(Absent::OutOfRange)))
        .and_then(|s| s.with(StreamField::Odometer, Ok(123_456.7)))
        .and_then(|s| {
            s.with_position(Ok(Position {
                valid: true,
                lon: -70.5,
                lat: 33.25,
            }))
        })
        .unwrap();
    close(s.speed_kmh(), 62.5);
    assert_eq!(s.nox_upstream_ppm(), Err(Absent::NotReady));
    close(s.nox_downstream_ppm(), 120.05); // rounded to 0.05 ppm
    assert_eq!(s.raw(StreamField::ScrInlet), 0xFEFF);
    assert_eq!(s.scr_inlet_c(), Err(Absent::OutOfRange));
    assert_eq!(s.coolant_c(), Err(Absent::Abnormal));
    assert_eq!(s.reagent_pct(), Err(Absent::OutOfRange));
    assert_eq!(s.engine_rpm(), Err(Absent::Invalid));
    close(s.odometer_km(), 123_456.7);
    let p = s.position().unwrap();
    assert_eq!((p.valid, p.lon, p.lat), (true, -70.5, 33.25));
    for reason in [Absent::Invalid, Absent::Abnormal, Absent::OutOfRange] {
        let s = StreamBody::all_invalid()
            .with_position(Err(reason))
            .unwrap();
        assert_eq!(s.position(), Err(reason));
    }

    let err = |f, v| StreamBody::all_invalid().with(f, v).unwrap_err();
    assert!(matches!(
        err(StreamField::Speed, Ok(251.0)),
        ValueError::OutOfRange { .. }
    ));
    assert!(matches!(
        err(StreamField::Speed, Ok(f64::NAN)),
        ValueError::OutOfRange { .. }
    ));
    assert!(matches!(
        err(StreamField::NoxDownstream, Ok(-200.0)),
        ValueError::Reserved { .. }
    ));
    assert!(matches!(
        err(StreamField::Speed, Err(Absent::NotReady)),
        ValueError::NoCode { .. }
    ));
    assert!(matches!(
        err(StreamField::Odometer, Err(Absent::OutOfRange)),
        ValueError::NoCode { .. }
    ));
    let mut hy = HybridBody::all_invalid();
    hy.set(HybridField::BatteryCurrent, Ok(-12.3)).unwrap();
    close(hy.battery_current_a(), -12.3);
    assert_eq!(hy.soc_pct(), Err(Absent::Invalid));
}
