//! The simulator's protobuf values: terminal samples and OBD entries, registrations, permits,
//! roadside checks, remote-sensing passes and re-inspections. Permits and roadside evidence
//! name the vehicle as `registry::Read` says: by VIN, or by plate and colour only.
//!
//! Measured values are quantised to their wire resolution (domain.md §2, §3) so a simulated
//! report carries only what a real frame could, and re-encoding it as a raw frame is exact.

use pbjson_types::Timestamp;
use rand::rngs::SmallRng;
use rand::Rng;

use super::fleet::Identity;
use super::plan::{Emission, Verdict};
use super::registry::{Papers, Read};
use super::truck::Values;
use crate::model::Plate;
use crate::proto;

const YELLOW: i32 = proto::PlateColour::Yellow as i32;

pub fn timestamp(unix_secs: i64) -> Option<Timestamp> {
    Some(Timestamp {
        seconds: unix_secs,
        nanos: 0,
    })
}

fn quantise(value: f64, resolution: f64) -> f64 {
    (value / resolution).round() * resolution
}

/// Round to `digits` decimals, for roadside values reported by instruments.
fn decimals(value: f64, digits: i32) -> f64 {
    let scale = 10f64.powi(digits);
    (value * scale).round() / scale
}

pub fn position(lon: f64, lat: f64) -> Option<proto::Position> {
    Some(proto::Position {
        valid: true,
        lon: quantise(lon, 1e-6),
        lat: quantise(lat, 1e-6),
    })
}

/// One 1 Hz data-stream sample (type 0x02); every field set.
pub fn sample(at: i64, v: &Values) -> proto::StreamSample {
    proto::StreamSample {
        sampled_at: timestamp(at),
        speed_kmh: Some(quantise(v.speed_kmh, 1.0 / 256.0)),
        atmospheric_pressure_kpa: Some(quantise(v.atmospheric_kpa, 0.5)),
        net_torque_pct: Some(v.net_torque_pct.round()),
        friction_torque_pct: Some(v.friction_torque_pct.round()),
        engine_rpm: Some(quantise(v.engine_rpm, 0.125)),
        fuel_flow_lph: Some(quantise(v.fuel_lph, 0.05)),
        nox_upstream_ppm: Some(quantise(v.nox_up_ppm, 0.05)),
        nox_downstream_ppm: Some(quantise(v.nox_down_ppm, 0.05)),
        // Floor, not round: a tank with a few drops left reads 0 %, as the sensor's 0.4 % steps do.
        reagent_pct: Some((v.reagent_pct / 0.4).floor() * 0.4),
        intake_air_kgph: Some(quantise(v.intake_kgph, 0.05)),
        scr_inlet_c: Some(quantise(v.scr_in_c, 0.031_25)),
        scr_outlet_c: Some(quantise(v.scr_out_c, 0.031_25)),
        dpf_dp_kpa: Some(quantise(v.dpf_kpa, 0.1)),
        coolant_c: Some(v.coolant_c.round()),
        fuel_level_pct: Some(quantise(v.fuel_pct, 0.4)),
        position: position(v.lon, v.lat),
        odometer_km: Some((v.odometer_km * 10.0).floor() / 10.0),
        absent: Vec::new(),
    }
}

/// A DTC as ISO 15765 carries it: 3-byte SAE code plus status byte (`P2047` → `20 47 00 AF`).
pub fn dtc(code: &str) -> proto::Dtc {
    let digits = u16::from_str_radix(&code[1..], 16).expect("P-codes are four hex digits");
    let [high, low] = digits.to_be_bytes();
    proto::Dtc {
        raw: vec![high, low, 0x00, 0xAF],
        code: code.to_owned(),
    }
}

/// Monitors a China VI diesel supports (domain.md §2 bit order, bit 0 = monitor 1): exhaust gas
/// sensor and heater, EGR, boost, DPF, SCR, NMHC catalyst, misfire, fuel system, comprehensive
/// component (monitors 6–8 and 10–16).
pub const DIESEL_MONITORS: u32 = 0b1111_1110_1110_0000;

/// A registration: the vehicle carries `plate` (yellow, as heavy trucks do) since `from`.
pub fn registration(
    id: &Identity,
    papers: &Papers,
    plate: Plate,
    from: i64,
) -> proto::VehicleRegistration {
    proto::VehicleRegistration {
        schema_version: 1,
        vin: id.vin.to_string(),
        plate: plate.to_string(),
        emission_stage: "China VI".to_owned(),
        fuel_type: "diesel".to_owned(),
        model: id.model.to_owned(),
        plate_colour: YELLOW,
        registered_from: timestamp(from),
        category: papers.category.to_owned(),
        operating: papers.operating,
        registration_date: timestamp(papers.first_registered),
        operator: papers.operator.clone(),
    }
}

/// An entry permit, issued to the VIN or (`by_plate`) to the plate alone.
pub fn permit(
    id: &Identity,
    by_plate: Option<Plate>,
    number: &str,
    valid_from: i64,
    valid_until: i64,
) -> proto::EntryPermit {
    let (vin, plate, plate_colour) = match by_plate {
        Some(plate) => (String::new(), plate.to_string(), YELLOW),
        None => (id.vin.to_string(), String::new(), 0),
    };
    proto::EntryPermit {
        schema_version: 1,
        vin,
        permit_number: number.to_owned(),
        valid_from: timestamp(valid_from),
        valid_until: timestamp(valid_until),
        revoked: false,
        plate,
        plate_colour,
    }
}

/// The plate (text, colour code) evidence shows and the VIN it carries (empty unless `Vin`).
fn named(id: &Identity, plate: Plate, read: &Read) -> (String, i32, String) {
    match read {
        Read::Vin => (plate.to_string(), YELLOW, id.vin.to_string()),
        Read::Plate => (plate.to_string(), YELLOW, String::new()),
        Read::Stray(stray) => (stray.plate.clone(), stray.colour, String::new()),
    }
}

/// A checkpoint check; `plate` is what the vehicle carries at `at`.
pub fn manual_check(
    id: &Identity,
    (plate, read): (Plate, &Read),
    at: i64,
    (lon, lat): (f64, f64),
    verdict: Verdict,
    rng: &mut SmallRng,
) -> proto::Inspection {
    let (opacity, ringelmann) = match verdict {
        Verdict::Pass => (rng.random_range(0.1..0.4), 0),
        Verdict::Opacity => (rng.random_range(1.1..2.0), rng.random_range(0..=1)),
        Verdict::Ringelmann => (rng.random_range(0.3..0.6), 2),
    };
    let (plate, plate_colour, vin) = named(id, plate, read);
    let check = proto::ManualCheck {
        plate,
        site_id: format!("BJ-CK-{:03}", rng.random_range(1..=60)),
        officer_id: format!("OF-{:05}", rng.random_range(10_000..100_000)),
        device_id: format!("OPA-{:04}", rng.random_range(1..=400)),
        tested_at: timestamp(at),
        position: position(lon, lat),
        free_acceleration_opacity: Some(decimals(opacity, 2)),
        lug_down_opacity: None,
        lug_down_nox_ppm: None,
        ringelmann: Some(ringelmann),
        obd_mil_on: Some(false),
        obd_communication_ok: Some(true),
        obd_dtcs: Vec::new(),
        urea_concentration_pct: Some(decimals(rng.random_range(31.8..33.2), 1)),
        fuel_sulphur_mg_kg: Some(decimals(rng.random_range(3.0..9.0), 1)),
        station_passed: verdict == Verdict::Pass,
        plate_colour,
    };
    proto::Inspection {
        schema_version: 1,
        vin,
        kind: Some(proto::inspection::Kind::ManualCheck(check)),
    }
}

/// A remote-sensing pass. Stations see only the plate; for a `Read::Vin` pass the platform has
/// already joined it to the VIN, so `vin` is filled in too.
pub fn remote_sensing(
    id: &Identity,
    (plate, read): (Plate, &Read),
    at: i64,
    (lon, lat): (f64, f64),
    emission: Emission,
    rng: &mut SmallRng,
) -> proto::Inspection {
    let opacity = match emission {
        Emission::Opacity => rng.random_range(35.0..60.0),
        _ => rng.random_range(2.0..15.0),
    };
    let no = match emission {
        Emission::No => rng.random_range(1_600.0..2_600.0_f64),
        _ => rng.random_range(100.0..800.0),
    };
    let exceeded = match emission {
        Emission::Clean => Vec::new(),
        Emission::Opacity => vec!["opacity".to_owned()],
        Emission::No => vec!["no".to_owned()],
    };
    let (plate, plate_colour, vin) = named(id, plate, read);
    let pass = proto::RemoteSensing {
        plate,
        site_id: format!("BJ-RS-{:03}", rng.random_range(1..=40)),
        device_id: format!("RSD-{:04}", rng.random_range(1..=200)),
        measured_at: timestamp(at),
        position: position(lon, lat),
        opacity_pct: Some(decimals(opacity, 1)),
        no_ppm: Some(no.round()),
        co_pct: Some(decimals(rng.random_range(0.01..0.10), 3)),
        hc_ppm: Some(rng.random_range(10.0..60.0_f64).round()),
        co2_pct: Some(decimals(rng.random_range(5.0..10.0), 2)),
        ringelmann: Some(0),
        fuel_type: "diesel".to_owned(),
        audit_valid: true,
        exceeded,
        plate_colour,
    };
    proto::Inspection {
        schema_version: 1,
        vin,
        kind: Some(proto::inspection::Kind::RemoteSensing(pass)),
    }
}

pub fn reinspection(
    id: &Identity,
    plate: Plate,
    at: i64,
    rng: &mut SmallRng,
) -> proto::Reinspection {
    let station = rng.random_range(1..=30);
    proto::Reinspection {
        schema_version: 1,
        vin: id.vin.to_string(),
        plate: plate.to_string(),
        station_id: format!("BJ-IM-{station:03}"),
        report_id: format!(
            "IM{station:03}-{}-{:06}",
            id.vin.as_str(),
            rng.random_range(0..1_000_000)
        ),
        tested_at: timestamp(at),
        passed: true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dtcs_encode_as_iso_15765() {
        assert_eq!(dtc("P2047").raw, vec![0x20, 0x47, 0x00, 0xAF]);
        assert_eq!(dtc("P0401").raw, vec![0x04, 0x01, 0x00, 0xAF]);
        assert_eq!(dtc("P20EE").raw, vec![0x20, 0xEE, 0x00, 0xAF]);
    }

    #[test]
    fn samples_sit_on_the_wire_grid() {
        let v = Values {
            speed_kmh: 63.3,
            nox_down_ppm: 12.345,
            reagent_pct: 0.39,
            scr_in_c: 251.01,
            odometer_km: 1234.56,
            ..Values::default()
        };
        let s = sample(1_700_000_000, &v);
        assert_eq!(s.speed_kmh.unwrap() * 256.0, (63.3f64 * 256.0).round());
        assert!((s.nox_downstream_ppm.unwrap() - 12.35).abs() < 1e-9);
        assert_eq!(s.reagent_pct, Some(0.0));
        assert_eq!(s.scr_inlet_c, Some(251.0));
        assert!((s.odometer_km.unwrap() - 1234.5).abs() < 1e-9);
        assert!(s.position.unwrap().valid);
    }
}
