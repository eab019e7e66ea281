//! Raw terminal frames (`tw.telemetry.raw`) → events, with the same meaning as a protobuf
//! `TerminalReport`: login / logout sessions, real-time and reissue (backfill) reports with
//! their 1 Hz samples and OBD entries, removal alarms; time sync and activation are
//! housekeeping. The dialect is the record's `tw-dialect` header, else the topic's configured
//! one; GB 17691 and hybrid stream bodies share the frame time and are spread as consecutive
//! samples `sample_interval` apart (domain.md §2, a configurable default).

use super::frame::{self, Content, DataUnit, DialectChoice, Info, ObdBody, StreamBody};
use super::{plausible, DecodeError, Options};
use crate::model::{
    Celsius, EventKind, EventTime, Kilometres, Kmh, Obd, Percent, Ppm, Reading, Report, Rpm,
    Sample, Vin,
};
use crate::recording::{hex, Record};

/// The record header that names a record's dialect, overriding the topic's.
pub const DIALECT_HEADER: &str = "tw-dialect";

/// The frame's VIN, the evidence time and the event kind.
pub(super) fn event(
    record: &Record,
    bytes: &[u8],
    options: &Options,
) -> Result<(Vin, EventTime, EventKind), DecodeError> {
    let choice = match record.headers.get(DIALECT_HEADER) {
        Some(name) => name
            .parse::<DialectChoice>()
            .map_err(|e| DecodeError::BadHeader(e.to_string()))?,
        None => options.raw_dialect,
    };
    let frame = frame::decode(bytes, choice)?;
    let vin = frame.vin().map_err(|source| DecodeError::InvalidVin {
        vin: String::from_utf8_lossy(&frame.vin_bytes).into_owned(),
        source,
    })?;
    let ts = record.timestamp;
    // Time sync and activation carry no time of their own: the record's time stands in.
    let time = plausible(frame.collected_at().unwrap_or(EventTime(ts)), ts)?;
    let kind = match &frame.content {
        Content::Login(_) => EventKind::Login,
        Content::Logout(_) => EventKind::Logout,
        Content::Realtime(unit) => EventKind::Report(report(unit, false, &frame, ts, options)?),
        Content::Reissue(unit) => EventKind::Report(report(unit, true, &frame, ts, options)?),
        Content::RemovalAlarm(alarm) => EventKind::RemovalAlarm {
            position: alarm.position().ok().filter(|p| p.valid),
        },
        Content::TimeSync | Content::Activation(_) | Content::ActivationResponse(_) => {
            EventKind::Housekeeping
        }
    };
    Ok((vin, time, kind))
}

/// Bodies without a time of their own are placed as GB 17691 places them, `sample_interval`
/// apart from the frame time by their ordinal; in a timed dialect that is a fallback (the ECU
/// sent zeros), flagged on the sample.
fn report(
    unit: &DataUnit,
    backfill: bool,
    frame: &frame::Frame,
    ts: i64,
    options: &Options,
) -> Result<Report, DecodeError> {
    let spacing = options.sample_interval.as_millis() as i64;
    let timed = frame.dialect.timed_bodies();
    let mut samples = Vec::with_capacity(unit.bodies.len());
    for entry in unit.streams() {
        let time = entry.collected_at.unwrap_or(EventTime(
            unit.collected_at.0 + entry.ordinal as i64 * spacing,
        ));
        let from_frame = timed && entry.collected_at.is_none();
        samples.push(sample(&entry.body, plausible(time, ts)?, from_frame));
    }
    let mut obd = Vec::new();
    for body in &unit.bodies {
        if let Info::Obd(o) = &body.info {
            let time = plausible(body.collected_at.unwrap_or(unit.collected_at), ts)?;
            obd.push(obd_entry(o, time));
        }
    }
    Ok(Report {
        backfill,
        samples,
        obd,
    })
}

fn narrow(r: Reading<f64>) -> Reading<f32> {
    r.map(|v| v as f32)
}

fn sample(s: &StreamBody, time: EventTime, time_from_frame: bool) -> Sample {
    Sample {
        time,
        time_from_frame,
        speed: narrow(s.speed_kmh()).map(Kmh),
        engine_rpm: narrow(s.engine_rpm()).map(Rpm),
        coolant: narrow(s.coolant_c()).map(Celsius),
        scr_inlet: narrow(s.scr_inlet_c()).map(Celsius),
        nox_upstream: narrow(s.nox_upstream_ppm()).map(Ppm),
        nox_downstream: narrow(s.nox_downstream_ppm()).map(Ppm),
        reagent: narrow(s.reagent_pct()).map(Percent),
        position: s.position().ok(),
        odometer: s.odometer_km().map(Kilometres),
    }
}

fn obd_entry(o: &ObdBody, time: EventTime) -> Obd {
    Obd {
        time,
        mil_on: o.mil().ok(),
        dtcs: o
            .decoded_dtcs()
            .zip(o.dtcs())
            .map(|(decoded, raw)| match decoded {
                Some(d) => d.to_string(),
                None => hex(&raw.0),
            })
            .collect(),
        // An ECU that cannot report its VIN sends filler; only a VIN-shaped value is compared.
        vin: o.vin().ok().map(|v| v.as_str().to_owned()),
        calibration_id: text(&o.calibration_id),
        cvn: text(&o.cvn),
    }
}

/// Printable ASCII as text, anything else as hex: a stable rendering for change detection.
fn text(bytes: &[u8]) -> String {
    if bytes.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
        String::from_utf8_lossy(bytes).trim_end().to_owned()
    } else {
        hex(bytes)
    }
}
