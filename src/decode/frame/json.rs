//! A decoded frame as one JSON object (`tailwatch decode`): every header field, every body
//! with its values in physical units, an absent value as `null` with its reason under
//! `absent`. Times are RFC 3339 in Beijing time (`+08:00`), as the terminal sent them.

use serde_json::{json, Map, Value};

use super::{
    Body, Content, Frame, FrameError, HybridBody, HybridField, Info, ObdBody, ObdProtocol,
    StreamBody, StreamField,
};
use crate::model::{EventTime, Reading};
use crate::recording::hex;

/// JSON names of the data-stream values, in wire order (position is its own object).
const STREAM_NAMES: [(&str, StreamField); 16] = [
    ("speed_kmh", StreamField::Speed),
    ("atmospheric_pressure_kpa", StreamField::AtmosphericPressure),
    ("net_torque_pct", StreamField::NetTorque),
    ("friction_torque_pct", StreamField::FrictionTorque),
    ("engine_rpm", StreamField::EngineRpm),
    ("fuel_flow_lph", StreamField::FuelFlow),
    ("nox_upstream_ppm", StreamField::NoxUpstream),
    ("nox_downstream_ppm", StreamField::NoxDownstream),
    ("reagent_pct", StreamField::Reagent),
    ("intake_air_kgph", StreamField::IntakeAir),
    ("scr_inlet_c", StreamField::ScrInlet),
    ("scr_outlet_c", StreamField::ScrOutlet),
    ("dpf_dp_kpa", StreamField::DpfDifferentialPressure),
    ("coolant_c", StreamField::Coolant),
    ("fuel_level_pct", StreamField::FuelLevel),
    ("odometer_km", StreamField::Odometer),
];

const HYBRID_NAMES: [(&str, HybridField); 5] = [
    ("motor_rpm", HybridField::MotorRpm),
    ("motor_load_pct", HybridField::MotorLoad),
    ("battery_voltage_v", HybridField::BatteryVoltage),
    ("battery_current_a", HybridField::BatteryCurrent),
    ("soc_pct", HybridField::StateOfCharge),
];

pub fn frame(f: &Frame) -> Value {
    let vin = f.vin();
    let mut out = json!({
        "vin": String::from_utf8_lossy(&f.vin_bytes),
        "vin_valid": vin.as_ref().is_ok_and(|v| v.is_valid()),
        "command": f.command().as_str(),
        "dialect": f.dialect.as_str(),
        "header": if f.software_version.is_some() { "standard" } else { "gbt32960" },
        "software_version": f.software_version,
        "collected_at": f.collected_at().map(EventTime::rfc3339_beijing),
        "serial": Value::Null,
    });
    let o = out.as_object_mut().expect("an object");
    match &f.content {
        Content::Login(l) => {
            o.insert("serial".into(), l.serial.into());
            o.insert("iccid".into(), String::from_utf8_lossy(&l.iccid).into());
        }
        Content::Logout(l) => {
            o.insert("serial".into(), l.serial.into());
        }
        Content::Realtime(unit) | Content::Reissue(unit) => {
            o.insert("serial".into(), unit.serial.into());
            let timed = f.dialect.timed_bodies();
            let bodies: Vec<Value> = unit.bodies.iter().map(|b| body(b, timed)).collect();
            o.insert("bodies".into(), bodies.into());
            o.insert("signed".into(), unit.signature.is_some().into());
        }
        Content::RemovalAlarm(a) => {
            o.insert("serial".into(), a.serial.into());
            let mut absent = Map::new();
            o.insert("position".into(), position(a.position(), &mut absent));
            o.insert("absent".into(), absent.into());
        }
        Content::Activation(data) | Content::ActivationResponse(data) => {
            o.insert("data".into(), hex(data).into());
        }
        Content::TimeSync => {}
    }
    out
}

/// `{"error": reason, "message": …}` for a rejected frame.
pub fn error(e: &FrameError) -> Value {
    json!({ "error": e.reason(), "message": e.to_string() })
}

/// `timed`: the dialect gives bodies their own time, so an absent one was sent as zeros and
/// the frame time stands in.
fn body(b: &Body, timed: bool) -> Value {
    let mut out = match &b.info {
        Info::Obd(o) => obd(o),
        Info::Stream(s) => stream(s),
        Info::HybridAddOn(h) => hybrid(h),
        Info::TwcWithoutNox(raw) => json!({ "type": "twc", "raw": hex(raw) }),
        Info::TwcWithNox(raw) => json!({ "type": "twc_nox", "raw": hex(raw) }),
        Info::UserDefined { info_type, data } => {
            json!({ "type": "user_defined", "info_type": info_type, "raw": hex(data) })
        }
    };
    match b.collected_at {
        Some(t) => out["collected_at"] = t.rfc3339_beijing().into(),
        None if timed => {
            out["collected_at"] = Value::Null;
            out["time_from_frame"] = true.into();
        }
        None => {}
    }
    if b.signature.is_some() {
        out["signed"] = true.into();
    }
    out
}

fn value(name: &str, r: Reading<f64>, o: &mut Map<String, Value>, absent: &mut Map<String, Value>) {
    match r {
        Ok(v) => {
            o.insert(name.into(), v.into());
        }
        Err(reason) => {
            o.insert(name.into(), Value::Null);
            absent.insert(name.into(), reason.as_str().into());
        }
    }
}

fn position(r: Reading<crate::model::Position>, absent: &mut Map<String, Value>) -> Value {
    match r {
        Ok(p) => json!({ "valid": p.valid, "lon": p.lon, "lat": p.lat }),
        Err(reason) => {
            absent.insert("position".into(), reason.as_str().into());
            Value::Null
        }
    }
}

fn stream(s: &StreamBody) -> Value {
    let (mut o, mut absent) = (Map::new(), Map::new());
    o.insert("type".into(), "stream".into());
    for (name, field) in STREAM_NAMES {
        value(name, s.value(field), &mut o, &mut absent);
    }
    o.insert("position".into(), position(s.position(), &mut absent));
    o.insert("absent".into(), absent.into());
    o.into()
}

fn hybrid(h: &HybridBody) -> Value {
    let (mut o, mut absent) = (Map::new(), Map::new());
    o.insert("type".into(), "hybrid".into());
    for (name, field) in HYBRID_NAMES {
        value(name, h.value(field), &mut o, &mut absent);
    }
    o.insert("absent".into(), absent.into());
    o.into()
}

fn obd(o: &ObdBody) -> Value {
    let protocol = match o.protocol() {
        ObdProtocol::Iso15765 => "iso15765".to_owned(),
        ObdProtocol::Iso27145 => "iso27145".to_owned(),
        ObdProtocol::SaeJ1939 => "sae_j1939".to_owned(),
        ObdProtocol::Invalid => "invalid".to_owned(),
        ObdProtocol::Unknown(code) => format!("unknown_{code:#04x}"),
    };
    let dtcs: Vec<Value> = o
        .decoded_dtcs()
        .zip(o.dtcs())
        .map(|(decoded, raw)| {
            decoded
                .map_or_else(|| hex(&raw.0), |d| d.to_string())
                .into()
        })
        .collect();
    let mut absent = Map::new();
    let mil = match o.mil() {
        Ok(on) => Value::Bool(on),
        Err(reason) => {
            absent.insert("mil".into(), reason.as_str().into());
            Value::Null
        }
    };
    if let Err(reason) = o.dtc_count() {
        absent.insert("dtcs".into(), reason.as_str().into());
    }
    json!({
        "type": "obd",
        "protocol": protocol,
        "mil": mil,
        "diagnostic_support": o.diagnostic_support,
        "readiness": o.readiness,
        "vin": String::from_utf8_lossy(&o.vin_bytes),
        "calibration_id": String::from_utf8_lossy(&o.calibration_id),
        "cvn": String::from_utf8_lossy(&o.cvn),
        "iupr": hex(&o.iupr),
        "dtcs": dtcs,
        "absent": absent,
    })
}
