//! protobuf messages (topics `tw.telemetry`, `tw.inspections`, `tw.reinspections`,
//! `tw.registry`, `tw.permits`, `tw.evidence.by-vin`) → inputs. The only decode file that names
//! generated types.

use prost::Message;

use super::{plausible, DecodeError, Input};
use crate::model::{normalise, Alert, AlertLevel, Boundary, NeighbourListing, Profile, Region};
use crate::model::{
    Absent, Celsius, Event, EventKind, EventTime, Fuel, Kilometres, Kmh, ManualCheck, Obd, Percent,
    Permit, Plate, PlateColour, PlateRead, Position, Ppm, Reading, RecordRef, Registration,
    Reinspection, RemoteSensing, Report, Rpm, Sample, Vin,
};
use crate::proto;
use crate::recording::Record;
use crate::topics::TopicKind;
use std::sync::Arc;

fn message<M: Message + Default>(bytes: &[u8], name: &'static str) -> Result<M, DecodeError> {
    M::decode(bytes).map_err(|e| DecodeError::Protobuf {
        message: name,
        detail: e.to_string(),
    })
}

fn vin(text: &str) -> Result<Vin, DecodeError> {
    Vin::parse(text).map_err(|source| DecodeError::InvalidVin {
        vin: text.to_owned(),
        source,
    })
}

fn time(
    ts: Option<&pbjson_types::Timestamp>,
    field: &'static str,
) -> Result<EventTime, DecodeError> {
    let ts = ts.ok_or(DecodeError::MissingField(field))?;
    Ok(EventTime(
        ts.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(ts.nanos / 1_000_000)),
    ))
}

fn plate(text: &str) -> Result<Plate, DecodeError> {
    Plate::parse(text).map_err(|source| DecodeError::InvalidPlate {
        plate: text.to_owned(),
        source,
    })
}

/// Roadside plates are read by cameras and officers: a bad one is dropped to `None` (the VIN
/// identifies the vehicle), not a reason to lose the evidence.
fn roadside_plate(text: &str) -> Option<Plate> {
    Plate::parse(text).ok()
}

fn position(p: Option<&proto::Position>) -> Option<Position> {
    let p = p?;
    let in_range =
        p.lon.abs() <= 180.0 && p.lat.abs() <= 90.0 && p.lon.is_finite() && p.lat.is_finite();
    in_range.then_some(Position {
        valid: p.valid,
        lon: p.lon,
        lat: p.lat,
    })
}

pub(super) fn input(
    kind: TopicKind,
    record: &Record,
    source: RecordRef,
) -> Result<Input, DecodeError> {
    let Some(bytes) = record.value.as_deref() else {
        return tombstone(kind, record, source);
    };
    let ts = record.timestamp;
    let mut source = source;
    let (vin_text, time, kind) = match kind {
        TopicKind::Telemetry => {
            let m: proto::TerminalReport = message(bytes, "TerminalReport")?;
            let (time, kind) = terminal_report(&m, ts)?;
            (m.vin, time, kind)
        }
        TopicKind::Inspections => {
            let m: proto::Inspection = message(bytes, "Inspection")?;
            let (time, kind) = inspection(&m)?;
            if m.vin.is_empty() {
                return plate_read(&m, time, ts);
            }
            (m.vin, time, kind)
        }
        TopicKind::Reinspections => {
            let m: proto::Reinspection = message(bytes, "Reinspection")?;
            let time = time(m.tested_at.as_ref(), "tested_at")?;
            let kind = EventKind::Reinspection(Reinspection {
                station_id: m.station_id,
                report_id: m.report_id,
                passed: m.passed,
            });
            (m.vin, time, kind)
        }
        TopicKind::Registry => {
            let m: proto::VehicleRegistration = message(bytes, "VehicleRegistration")?;
            let kind = EventKind::Registration(Registration {
                plate: plate(&m.plate)?,
                colour: PlateColour::from_code(m.plate_colour),
                from: m
                    .registered_from
                    .as_ref()
                    .map(|t| time(Some(t), "registered_from"))
                    .transpose()?,
                profile: Profile {
                    stage: normalise(&m.emission_stage),
                    fuel: Fuel::parse(&m.fuel_type),
                    category: normalise(&m.category),
                },
            });
            (m.vin, EventTime(ts), kind)
        }
        TopicKind::Permits => {
            let m: proto::EntryPermit = message(bytes, "EntryPermit")?;
            let kind = permit(&m)?;
            if m.vin.is_empty() {
                let mut read = plate_of(&m.plate, m.plate_colour, EventTime(ts))?;
                if let EventKind::Permit(p) = kind {
                    read.permit = Some(p);
                }
                return Ok(Input::Plate(read));
            }
            (m.vin, EventTime(ts), kind)
        }
        TopicKind::Alerts => return alert(bytes, source, ts),
        TopicKind::EvidenceByVin => {
            let m: proto::ResolvedEvidence = message(bytes, "ResolvedEvidence")?;
            use proto::resolved_evidence::Evidence;
            let (time, kind) = match &m.evidence {
                Some(Evidence::Inspection(i)) => inspection(i)?,
                Some(Evidence::Permit(p)) => (EventTime(ts), permit(p)?),
                None => return Err(DecodeError::MissingField("inspection or permit")),
            };
            let cited = m.source.ok_or(DecodeError::MissingField("source"))?;
            source = RecordRef {
                topic: cited.topic.into(),
                partition: cited.partition,
                offset: cited.offset,
            };
            (m.vin, time, kind)
        }
        // Raw frames are read by `raw`; the rest are outputs.
        other @ (TopicKind::TelemetryRaw
        | TopicKind::Blacklist
        | TopicKind::Cases
        | TopicKind::Dlq
        | TopicKind::Changelog
        | TopicKind::SharedOverlimit) => {
            return Err(DecodeError::UnknownTopic(other.suffix().to_owned()))
        }
    };
    Ok(Input::Vehicle(Event {
        vin: vin(&vin_text)?,
        time: plausible(time, ts)?,
        source,
        kind,
    }))
}

fn permit(m: &proto::EntryPermit) -> Result<EventKind, DecodeError> {
    Ok(EventKind::Permit(Permit {
        valid_from: time(m.valid_from.as_ref(), "valid_from")?,
        valid_until: time(m.valid_until.as_ref(), "valid_until")?,
        revoked: m.revoked,
    }))
}

/// An inspection without a VIN names its vehicle by the check's plate and colour.
fn plate_read(m: &proto::Inspection, time: EventTime, ts: i64) -> Result<Input, DecodeError> {
    use proto::inspection::Kind;
    let (text, colour) = match &m.kind {
        Some(Kind::ManualCheck(c)) => (&c.plate, c.plate_colour),
        Some(Kind::RemoteSensing(r)) => (&r.plate, r.plate_colour),
        None => return Err(DecodeError::MissingField("manual_check or remote_sensing")),
    };
    Ok(Input::Plate(plate_of(text, colour, plausible(time, ts)?)?))
}

/// A plate read that is to identify a vehicle: its text must follow the plate grammar (a read
/// with I or O is invalid, not a near match) and its colour must be known.
fn plate_of(text: &str, colour: i32, time: EventTime) -> Result<PlateRead, DecodeError> {
    if text.is_empty() {
        return Err(DecodeError::MissingField("vin or plate"));
    }
    let plate = plate(text)?;
    let colour = PlateColour::from_code(colour).ok_or_else(|| DecodeError::PlateColour {
        plate: text.to_owned(),
        code: colour,
    })?;
    Ok(PlateRead {
        plate,
        colour,
        time,
        permit: None,
    })
}

/// A tombstone on `tw.permits` withdraws the permit; on `tw.registry` the vehicle's
/// registration ends; elsewhere it means nothing.
fn tombstone(kind: TopicKind, record: &Record, source: RecordRef) -> Result<Input, DecodeError> {
    let key = record.key.as_deref().ok_or(DecodeError::Tombstone)?;
    if kind == TopicKind::Alerts {
        let id = String::from_utf8_lossy(key).into_owned();
        return Ok(Input::AlertWithdrawn { id });
    }
    if !matches!(kind, TopicKind::Permits | TopicKind::Registry) {
        return Err(DecodeError::Tombstone);
    }
    let vin = Vin::from_bytes(key).map_err(|source| DecodeError::InvalidVin {
        vin: String::from_utf8_lossy(key).into_owned(),
        source,
    })?;
    let at = EventTime(record.timestamp);
    if kind == TopicKind::Registry {
        return Ok(Input::Deregistration { vin, at });
    }
    let never = EventTime::default();
    let permit = Permit {
        valid_from: never,
        valid_until: never,
        revoked: true,
    };
    Ok(Input::Vehicle(Event {
        vin,
        time: at,
        source,
        kind: EventKind::Permit(permit),
    }))
}

fn terminal_report(
    m: &proto::TerminalReport,
    ts: i64,
) -> Result<(EventTime, EventKind), DecodeError> {
    let command =
        proto::Command::try_from(m.command).map_err(|_| DecodeError::UnknownCommand(m.command))?;
    let collected = m
        .collected_at
        .as_ref()
        .or_else(|| m.samples.first().and_then(|s| s.sampled_at.as_ref()));
    let at = time(collected, "collected_at")?;
    let kind = match command {
        proto::Command::Login => EventKind::Login,
        proto::Command::Logout => EventKind::Logout,
        proto::Command::Realtime | proto::Command::Reissue => {
            let samples = m
                .samples
                .iter()
                .map(|s| sample(s, ts))
                .collect::<Result<_, _>>()?;
            let obd = m
                .obd
                .iter()
                .map(|o| obd(o, at, ts))
                .collect::<Result<_, _>>()?;
            EventKind::Report(Report {
                backfill: command == proto::Command::Reissue,
                samples,
                obd,
            })
        }
        proto::Command::RemovalAlarm => EventKind::RemovalAlarm {
            position: position(m.removal_alarm.as_ref().and_then(|a| a.position.as_ref())),
        },
        proto::Command::TimeSync
        | proto::Command::Activation
        | proto::Command::ActivationResponse => EventKind::Housekeeping,
        proto::Command::Unspecified => return Err(DecodeError::UnknownCommand(m.command)),
    };
    Ok((at, kind))
}

/// A value within `[min, max]`, or absent with the reason the gateway gave, or out of range.
fn reading(
    value: Option<f64>,
    field: proto::StreamField,
    s: &proto::StreamSample,
    min: f64,
    max: f64,
) -> Reading<f32> {
    match value {
        Some(v) if v >= min && v <= max => Ok(v as f32),
        Some(_) => Err(Absent::OutOfRange),
        None => {
            Err(s
                .absent
                .iter()
                .find(|a| a.field == field as i32)
                .map_or(Absent::Missing, |a| {
                    match proto::Absence::try_from(a.reason) {
                        Ok(proto::Absence::Invalid) => Absent::Invalid,
                        Ok(proto::Absence::Abnormal) => Absent::Abnormal,
                        Ok(proto::Absence::OutOfRange) => Absent::OutOfRange,
                        Ok(proto::Absence::NotReady) => Absent::NotReady,
                        _ => Absent::Missing,
                    }
                }))
        }
    }
}

/// NOx −200 ppm is raw 0x0000: the sensor is not ready.
fn nox(value: Option<f64>, field: proto::StreamField, s: &proto::StreamSample) -> Reading<Ppm> {
    if value == Some(-200.0) {
        return Err(Absent::NotReady);
    }
    reading(value, field, s, -200.0, 3012.75).map(Ppm)
}

fn sample(s: &proto::StreamSample, ts: i64) -> Result<Sample, DecodeError> {
    use proto::StreamField as F;
    let t = plausible(time(s.sampled_at.as_ref(), "sampled_at")?, ts)?;
    Ok(Sample {
        time: t,
        time_from_frame: false,
        speed: reading(s.speed_kmh, F::Speed, s, 0.0, 250.996).map(Kmh),
        engine_rpm: reading(s.engine_rpm, F::EngineRpm, s, 0.0, 8031.875).map(Rpm),
        coolant: reading(s.coolant_c, F::CoolantTemp, s, -40.0, 210.0).map(Celsius),
        scr_inlet: reading(s.scr_inlet_c, F::ScrInletTemp, s, -273.0, 1734.96875).map(Celsius),
        nox_upstream: nox(s.nox_upstream_ppm, F::NoxUpstream, s),
        nox_downstream: nox(s.nox_downstream_ppm, F::NoxDownstream, s),
        reagent: reading(s.reagent_pct, F::Reagent, s, 0.0, 100.0).map(Percent),
        position: position(s.position.as_ref()),
        odometer: match s.odometer_km {
            Some(km) if (0.0..=429_496_729.5).contains(&km) => Ok(Kilometres(km)),
            Some(_) => Err(Absent::OutOfRange),
            None => Err(Absent::Missing),
        },
    })
}

fn obd(o: &proto::ObdInfo, frame_time: EventTime, ts: i64) -> Result<Obd, DecodeError> {
    let t = match o.sampled_at.as_ref() {
        Some(_) => plausible(time(o.sampled_at.as_ref(), "sampled_at")?, ts)?,
        None => frame_time,
    };
    let mil_on = match proto::Mil::try_from(o.mil) {
        Ok(proto::Mil::On) => Some(true),
        Ok(proto::Mil::Off) => Some(false),
        _ => None,
    };
    let vin = Some(o.vin.trim()).filter(|v| !v.is_empty() && v.bytes().any(|b| b != b'\xff'));
    Ok(Obd {
        time: t,
        mil_on,
        dtcs: o.dtcs.iter().map(|d| d.code.clone()).collect(),
        vin: vin.map(str::to_owned),
        calibration_id: o.calibration_id.clone(),
        cvn: o.cvn.clone(),
    })
}

/// Checked once narrowed to `f32`: a finite double beyond its range would become infinite.
fn finite_ppm(v: Option<f64>) -> Option<Ppm> {
    v.map(|v| v as f32).filter(|v| v.is_finite()).map(Ppm)
}

fn inspection(m: &proto::Inspection) -> Result<(EventTime, EventKind), DecodeError> {
    use proto::inspection::Kind;
    match m
        .kind
        .as_ref()
        .ok_or(DecodeError::MissingField("manual_check or remote_sensing"))?
    {
        Kind::ManualCheck(c) => Ok((
            time(c.tested_at.as_ref(), "tested_at")?,
            EventKind::ManualCheck(ManualCheck {
                plate: roadside_plate(&c.plate),
                site_id: c.site_id.clone(),
                device_id: c.device_id.clone(),
                position: position(c.position.as_ref()),
                free_acceleration_opacity: c.free_acceleration_opacity.filter(|v| v.is_finite()),
                lug_down_opacity: c.lug_down_opacity.filter(|v| v.is_finite()),
                lug_down_nox: finite_ppm(c.lug_down_nox_ppm),
                ringelmann: c.ringelmann,
                obd_mil_on: c.obd_mil_on,
                obd_communication_ok: c.obd_communication_ok,
            }),
        )),
        Kind::RemoteSensing(r) => Ok((
            time(r.measured_at.as_ref(), "measured_at")?,
            EventKind::RemoteSensing(RemoteSensing {
                plate: roadside_plate(&r.plate),
                site_id: r.site_id.clone(),
                device_id: r.device_id.clone(),
                position: position(r.position.as_ref()),
                opacity_pct: r.opacity_pct.filter(|v| v.is_finite()),
                no: finite_ppm(r.no_ppm),
                ringelmann: r.ringelmann,
                // An empty or unreadable fuel type is "not stated", so the diesel limits apply.
                diesel: Fuel::diesel_limits_apply(Fuel::parse(&r.fuel_type)),
                audit_valid: r.audit_valid,
            }),
        )),
    }
}

/// A heavy-pollution alert: its level known, its times in range and in order, its area a
/// boundary, every fuel and VIN it names readable. Nothing in it is guessed. A revoked alert
/// ends at its record's timestamp (a tombstone removes it whole).
fn alert(bytes: &[u8], source: RecordRef, timestamp: i64) -> Result<Input, DecodeError> {
    let m: proto::HeavyPollutionAlert = message(bytes, "HeavyPollutionAlert")?;
    if m.alert_id.is_empty() {
        return Err(DecodeError::MissingField("alert_id"));
    }
    use proto::AlertLevel as L;
    let level = match L::try_from(m.level) {
        Ok(L::AlertBlue) => AlertLevel::Blue,
        Ok(L::AlertYellow) => AlertLevel::Yellow,
        Ok(L::AlertOrange) => AlertLevel::Orange,
        Ok(L::AlertRed) => AlertLevel::Red,
        Ok(L::Unspecified) | Err(_) => return Err(DecodeError::AlertLevel(m.level)),
    };
    // An alert is announced ahead of its start: its times are checked for range, not against
    // the record's timestamp.
    let in_range = |t: EventTime| match t.secs() {
        Some(_) => Ok(t),
        None => Err(DecodeError::ImpossibleTime(t.rfc3339())),
    };
    let from = in_range(time(m.from.as_ref(), "from")?)?;
    let until = in_range(time(m.until.as_ref(), "until")?)?;
    if until <= from {
        return Err(DecodeError::ImpossibleTime(format!(
            "alert until {} is not after its from {}",
            until.rfc3339(),
            from.rfc3339()
        )));
    }
    let area = match m.area_geojson.trim() {
        "" => None,
        text => Some(Arc::new(
            Boundary::from_geojson(text).map_err(DecodeError::AlertArea)?,
        )),
    };
    let fuels = m
        .restricted_fuel_types
        .iter()
        .map(|f| Fuel::parse(f).ok_or_else(|| DecodeError::AlertFuel(f.clone())))
        .collect::<Result<_, _>>()?;
    let exempt_vins = m
        .exempt_vins
        .iter()
        .map(|v| vin(v))
        .collect::<Result<_, _>>()?;
    // An empty entry would match every vehicle whose registration leaves it empty.
    let normalised = |texts: &[String]| {
        texts
            .iter()
            .map(|t| normalise(t))
            .filter(|t| !t.is_empty())
            .collect()
    };
    // Revoked: in force until the revocation was published, not after; evidence from while
    // it was in force still counts (event time).
    let until = if m.revoked {
        until.min(EventTime(timestamp).max(from))
    } else {
        until
    };
    Ok(Input::Alert(Alert {
        id: m.alert_id,
        level,
        area,
        from,
        until,
        stages: normalised(&m.restricted_emission_stages),
        fuels,
        categories: normalised(&m.restricted_categories),
        exempt_new_energy: m.exempt_new_energy,
        exempt_categories: normalised(&m.exempt_categories),
        exempt_vins,
        record: source,
    }))
}

/// A neighbouring province's shared over-limit record, mirrored in from `region`'s cluster. A
/// tombstone means the neighbour no longer holds the vehicle (its topic is compacted).
pub(super) fn shared(
    region: Region,
    record: &Record,
    source: RecordRef,
) -> Result<Input, DecodeError> {
    let Some(bytes) = record.value.as_deref() else {
        let key = record.key.as_deref().ok_or(DecodeError::Tombstone)?;
        let vin = Vin::from_bytes(key).map_err(|source| DecodeError::InvalidVin {
            vin: String::from_utf8_lossy(key).into_owned(),
            source,
        })?;
        return Ok(Input::NeighbourForgot { vin, region });
    };
    let m: proto::SharedOverlimit = message(bytes, "SharedOverlimit")?;
    if m.vin.is_empty() {
        return Err(DecodeError::MissingField("vin"));
    }
    let vin = vin(&m.vin)?;
    if m.region_code != region.code() {
        return Err(DecodeError::Region {
            alias: region.alias(),
            code: m.region_code,
        });
    }
    let ts = record.timestamp;
    let listed_at = plausible(time(m.listed_at.as_ref(), "listed_at")?, ts)?;
    let delisted_at = match proto::BlacklistStatus::try_from(m.status) {
        Ok(proto::BlacklistStatus::Listed) => None,
        Ok(proto::BlacklistStatus::Delisted) => {
            let at = plausible(time(m.event_time.as_ref(), "event_time")?, ts)?;
            if at < listed_at {
                return Err(DecodeError::ImpossibleTime(format!(
                    "delisted at {} before listed at {}",
                    at.rfc3339(),
                    listed_at.rfc3339()
                )));
            }
            Some(at)
        }
        Ok(proto::BlacklistStatus::Unspecified) | Err(_) => {
            return Err(DecodeError::MissingField("status"))
        }
    };
    let listing = NeighbourListing {
        region,
        listed_at,
        delisted_at,
        rules: m.rules,
        event_id: m.event_id,
        case_refs: m.case_refs,
        record: source,
    };
    Ok(Input::NeighbourListing { vin, listing })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A revoked alert ends at its revoking record's timestamp, so evidence from while it was
    /// in force still counts in a replay; one revoked before it starts is never in force.
    #[test]
    fn a_revoked_alert_ends_when_the_revocation_was_published() {
        let at = |seconds| Some(pbjson_types::Timestamp { seconds, nanos: 0 });
        let m = proto::HeavyPollutionAlert {
            alert_id: "A1".into(),
            level: proto::AlertLevel::AlertRed as i32,
            from: at(1_793_000_000),
            until: at(1_793_100_000),
            restricted_emission_stages: vec!["China V".into(), " ".into()],
            revoked: true,
            ..Default::default()
        };
        let source = RecordRef {
            topic: "tw.alerts".into(),
            partition: 0,
            offset: 0,
        };
        let decoded =
            |published_s: i64| match alert(&m.encode_to_vec(), source.clone(), published_s * 1000)
                .unwrap()
            {
                Input::Alert(a) => a,
                other => panic!("{other:?}"),
            };
        let a = decoded(1_793_050_000);
        assert_eq!(a.until, EventTime(1_793_050_000_000));
        assert!(a.in_force(EventTime(1_793_049_000_000)));
        assert!(!a.in_force(EventTime(1_793_051_000_000)));
        assert_eq!(a.stages, ["chinav"], "a blank stage names nobody");
        let early = decoded(1_792_000_000);
        assert!(!early.in_force(EventTime(1_793_000_000_000)));
    }

    fn diesel(fuel_type: &str) -> bool {
        let pass = proto::RemoteSensing {
            measured_at: Some(pbjson_types::Timestamp {
                seconds: 1_793_671_200,
                nanos: 0,
            }),
            fuel_type: fuel_type.to_owned(),
            audit_valid: true,
            ..Default::default()
        };
        let m = proto::Inspection {
            vin: "LGDCHA1G8MA127733".into(),
            kind: Some(proto::inspection::Kind::RemoteSensing(pass)),
            ..Default::default()
        };
        match inspection(&m).unwrap().1 {
            EventKind::RemoteSensing(r) => r.diesel,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn remote_sensing_fuel_types_are_read_in_chinese_and_english() {
        for fuel in [
            "diesel",
            "柴油",
            " DIESEL ",
            "ＤＩＥＳＥＬ",
            "柴油混合动力",
            "",
            "未知",
        ] {
            assert!(diesel(fuel), "{fuel:?}: diesel or not stated");
        }
        for fuel in [
            "汽油",
            "gasoline",
            "天然气",
            "LNG",
            "hybrid",
            "纯电动",
            "LPG",
            "甲醇",
            "氢",
        ] {
            assert!(!diesel(fuel), "{fuel:?}");
        }
    }
}
