//! The simulator's raw terminal frames: one protobuf `TerminalReport` (as `messages` and
//! `vehicle` build it) → the bytes a terminal speaking GB 17691, HJ 1239 or the vendor hybrid
//! would send for it, through `decode::frame::encode`.
//!
//! Converting from the protobuf value keeps one source of truth for what a vehicle reported:
//! the values are already on the wire grid, so this file only maps units to raw codes. A value
//! the wire cannot carry is written as the codec writes an absence (out of range, not ready,
//! invalid), never dropped and never a panic. GB 17691 and hybrid bodies have no time of their
//! own — a reader spreads their samples one second apart from the frame time — so a report
//! whose samples are not consecutive seconds from its collection time becomes several frames.
//! Pure and deterministic: no clock, no randomness (the signature is a hash of the frame's
//! VIN, time and serial).

use pbjson_types::Timestamp;

use crate::decode::frame::{
    self, Body, Content, DataUnit, Dialect, Dtc, EncodeError, Frame, Info, Login, Logout, ObdBody,
    ObdProtocol, RemovalAlarm, SerialAt, Signature, Signing, StreamBody, StreamField, ValueError,
    DTC_COUNT_MAX, POSITION_STATUS_AT, SIGNATURE_PART_LEN,
};
use crate::model::{Absent, EventTime, Position, Reading};
use crate::proto;

/// Header byte 20; the protocol leaves its meaning to the terminal vendor.
pub const SOFTWARE_VERSION: u8 = 0x01;

/// Signature halves of the `signed-bodies` terminals (public frames carry 20 bytes).
const SHORT_SIGNATURE: usize = 20;

/// Status byte given to a DTC rebuilt from its code alone (the simulator's DTCs carry their
/// raw bytes, status `0xAF`: confirmed, MIL requested).
const DTC_STATUS: u8 = 0xAF;

/// The frames one report becomes, each encoded. Empty for a report with no command.
pub fn encode_report(
    report: &proto::TerminalReport,
    dialect: Dialect,
) -> Result<Vec<Vec<u8>>, EncodeError> {
    frames(report, dialect).iter().map(frame::encode).collect()
}

/// The frames one report becomes, in the order a terminal would send them.
///
/// Login, logout and time sync are one frame in `dialect`; a removal alarm is one HJ 1239 frame
/// whatever the dialect (no other standard defines it); a real-time or reissue report is one
/// frame in HJ 1239 (every body timed) and one frame per run of consecutive seconds in
/// GB 17691 and the hybrid. Split frames keep the report's serial: serials are diagnostics, and
/// the pieces are one report.
pub fn frames(report: &proto::TerminalReport, dialect: Dialect) -> Vec<Frame> {
    let vin_bytes = ascii::<17>(&report.vin, b'0');
    // A report without a time is placed at its first sample, else at the epoch, which the
    // encoder refuses (before 2000) rather than this file inventing a time.
    let first_sample = report.samples.first().and_then(|s| s.sampled_at.as_ref());
    let at = time_or(report.collected_at.as_ref().or(first_sample), EventTime(0));
    let serial = wire_serial(report.serial);
    let frame = |dialect, content| Frame {
        vin_bytes,
        software_version: Some(SOFTWARE_VERSION),
        dialect,
        content,
    };
    let command = proto::Command::try_from(report.command).unwrap_or(proto::Command::Unspecified);
    let content = match command {
        proto::Command::Login => {
            let login = report.login.as_ref();
            Content::Login(Login {
                collected_at: at,
                serial: wire_serial(login.map_or(0, |l| l.login_serial)),
                iccid: ascii::<20>(login.map_or("", |l| l.iccid.as_str()), b'0'),
            })
        }
        proto::Command::Logout => Content::Logout(Logout {
            collected_at: at,
            serial: wire_serial(report.logout.as_ref().map_or(0, |l| l.login_serial)),
        }),
        proto::Command::TimeSync => Content::TimeSync,
        proto::Command::RemovalAlarm => {
            let alarm = report.removal_alarm.as_ref();
            let position = match alarm.and_then(|a| a.position.as_ref()) {
                Some(p) => Ok(position(p)),
                None => Err(Absent::Missing),
            };
            let body = with_position(StreamBody::all_invalid(), position);
            let content = Content::RemovalAlarm(RemovalAlarm {
                collected_at: at,
                serial: wire_serial(alarm.map_or(report.serial, |a| a.serial)),
                position_status: body.as_bytes()[POSITION_STATUS_AT],
                longitude_raw: body.raw(StreamField::Longitude),
                latitude_raw: body.raw(StreamField::Latitude),
            });
            return vec![frame(Dialect::Hj1239, content)];
        }
        proto::Command::Activation => Content::Activation(Vec::new()),
        proto::Command::ActivationResponse => Content::ActivationResponse(Vec::new()),
        proto::Command::Realtime | proto::Command::Reissue => {
            let units = data_units(report, dialect, at, serial, &vin_bytes);
            let reissue = command == proto::Command::Reissue;
            return units
                .into_iter()
                .map(|unit| {
                    let content = if reissue {
                        Content::Reissue(unit)
                    } else {
                        Content::Realtime(unit)
                    };
                    frame(dialect, content)
                })
                .collect();
        }
        proto::Command::Unspecified => return Vec::new(),
    };
    vec![frame(dialect, content)]
}

/// The report's bodies as data units: one in HJ 1239, one per group of bodies sharing a frame
/// time otherwise.
fn data_units(
    report: &proto::TerminalReport,
    dialect: Dialect,
    at: EventTime,
    serial: u16,
    vin_bytes: &[u8; 17],
) -> Vec<DataUnit> {
    let unit = |collected_at: EventTime, mut bodies: Vec<Body>| {
        let signing = dialect.signing();
        if signing == Signing::EachBody {
            // Shorter halves, as the public frames of these terminals carry.
            for (n, body) in bodies.iter_mut().enumerate() {
                let sig = signature(vin_bytes, collected_at, serial, n, SHORT_SIGNATURE);
                body.signature = Some(sig);
            }
        }
        // Per-body serials count up from the report's, as the firmwares that write them do.
        let mut serial = serial;
        match dialect.serial_at() {
            SerialAt::AfterTime => {}
            SerialAt::AfterFirstType if bodies.is_empty() => serial = 0,
            SerialAt::AfterFirstType => {}
            SerialAt::AfterEveryType => {
                for (n, body) in bodies.iter_mut().enumerate() {
                    body.serial = Some(serial.wrapping_add(n as u16));
                }
                serial = bodies.first().and_then(|b| b.serial).unwrap_or(0);
            }
        }
        let end = (signing == Signing::End).then(|| {
            signature(
                vin_bytes,
                collected_at,
                serial,
                bodies.len(),
                SIGNATURE_PART_LEN,
            )
        });
        DataUnit {
            collected_at,
            serial,
            signature: end,
            bodies,
        }
    };
    if dialect.timed_bodies() {
        let obd = report.obd.iter().map(|o| Body {
            collected_at: Some(time_or(o.sampled_at.as_ref(), at)),
            info: Info::Obd(Box::new(obd_body(o))),
            signature: None,
            serial: None,
        });
        let mut next = at;
        let streams = report.samples.iter().map(|s| {
            let t = time_or(s.sampled_at.as_ref(), next);
            next = EventTime(t.0 + 1_000);
            Body {
                collected_at: Some(t),
                info: Info::Stream(stream_body(s)),
                signature: None,
                serial: None,
            }
        });
        let bodies = obd.chain(streams).collect();
        return vec![unit(at, bodies)];
    }
    groups(report, at)
        .into_iter()
        .map(|g| {
            let obd = g.obd.into_iter().map(|o| Info::Obd(Box::new(obd_body(o))));
            let streams = g.samples.into_iter().map(|s| Info::Stream(stream_body(s)));
            let bodies = obd
                .chain(streams)
                .map(|info| Body {
                    collected_at: None,
                    info,
                    signature: None,
                    serial: None,
                })
                .collect();
            unit(g.start, bodies)
        })
        .collect()
}

/// Bodies that can share one GB 17691 / hybrid frame: samples at `start`, `start` + 1 s, …
/// and OBD entries taken at `start`.
struct Group<'a> {
    start: EventTime,
    samples: Vec<&'a proto::StreamSample>,
    obd: Vec<&'a proto::ObdInfo>,
}

/// Splits a report into groups in time order (ties in report order). The first run of samples
/// opens at its first sample, which is the report time in every simulated report; a sample
/// that does not follow the previous one by exactly a second opens a new run. A sample or
/// OBD entry without a time is taken to follow the previous sample / to share the report
/// time. An OBD entry joins the first group starting at its time, or opens an OBD-only group.
fn groups(report: &proto::TerminalReport, at: EventTime) -> Vec<Group<'_>> {
    let mut groups: Vec<Group> = Vec::new();
    let mut next: Option<EventTime> = None;
    for s in &report.samples {
        let t = time_or(s.sampled_at.as_ref(), next.unwrap_or(at));
        match groups.last_mut() {
            Some(g) if next == Some(t) => g.samples.push(s),
            _ => groups.push(Group {
                start: t,
                samples: vec![s],
                obd: Vec::new(),
            }),
        }
        next = Some(EventTime(t.0 + 1_000));
    }
    for o in &report.obd {
        let t = time_or(o.sampled_at.as_ref(), at);
        match groups.iter_mut().find(|g| g.start == t) {
            Some(g) => g.obd.push(o),
            None => groups.push(Group {
                start: t,
                samples: Vec::new(),
                obd: vec![o],
            }),
        }
    }
    if groups.is_empty() {
        groups.push(Group {
            start: at,
            samples: Vec::new(),
            obd: Vec::new(),
        });
    }
    // Stable: groups with one start keep report order.
    groups.sort_by_key(|g| g.start);
    groups
}

/// One stream body; every field from the sample, absent ones as their reason's sentinel.
pub fn stream_body(s: &proto::StreamSample) -> StreamBody {
    use proto::StreamField as P;
    use StreamField as F;
    let scalars = [
        (F::Speed, P::Speed, s.speed_kmh),
        (
            F::AtmosphericPressure,
            P::AtmosphericPressure,
            s.atmospheric_pressure_kpa,
        ),
        (F::NetTorque, P::NetTorque, s.net_torque_pct),
        (F::FrictionTorque, P::FrictionTorque, s.friction_torque_pct),
        (F::EngineRpm, P::EngineRpm, s.engine_rpm),
        (F::FuelFlow, P::FuelFlow, s.fuel_flow_lph),
        (F::NoxUpstream, P::NoxUpstream, s.nox_upstream_ppm),
        (F::NoxDownstream, P::NoxDownstream, s.nox_downstream_ppm),
        (F::Reagent, P::Reagent, s.reagent_pct),
        (F::IntakeAir, P::IntakeAir, s.intake_air_kgph),
        (F::ScrInlet, P::ScrInletTemp, s.scr_inlet_c),
        (F::ScrOutlet, P::ScrOutletTemp, s.scr_outlet_c),
        (
            F::DpfDifferentialPressure,
            P::DpfDifferentialPressure,
            s.dpf_dp_kpa,
        ),
        (F::Coolant, P::CoolantTemp, s.coolant_c),
        (F::FuelLevel, P::FuelLevel, s.fuel_level_pct),
        (F::Odometer, P::Odometer, s.odometer_km),
    ];
    let mut body = StreamBody::all_invalid();
    for (field, tag, value) in scalars {
        let reading = value.ok_or_else(|| absence(s, tag));
        // `set` leaves the body untouched on error, so each fallback starts clean. Invalid
        // (all ones) is writable in every field, so the last attempt cannot fail.
        if let Err(e) = body.set(field, reading) {
            if body.set(field, Err(fallback(e))).is_err() {
                let _ = body.set(field, Err(Absent::Invalid));
            }
        }
    }
    let position = match s.position.as_ref() {
        Some(p) => Ok(position(p)),
        None => Err(absence(s, P::Position)),
    };
    with_position(body, position)
}

fn with_position(mut body: StreamBody, position: Reading<Position>) -> StreamBody {
    if let Err(e) = body.set_position(position) {
        if body.set_position(Err(fallback(e))).is_err() {
            let _ = body.set_position(Err(Absent::Invalid));
        }
    }
    body
}

/// The absence to write instead of a value the field cannot hold: a value past the range is
/// out of range; a NOx value on the not-ready code (−200 ppm) is "not ready", which is what
/// that code means; an absence without a code of its own becomes invalid.
fn fallback(e: ValueError) -> Absent {
    match e {
        ValueError::OutOfRange { .. } => Absent::OutOfRange,
        ValueError::Reserved { .. } => Absent::NotReady,
        ValueError::NoCode { .. } => Absent::Invalid,
    }
}

/// Why `field` is unset in the sample; `Missing` (written as invalid) without a stated reason.
fn absence(s: &proto::StreamSample, field: proto::StreamField) -> Absent {
    let reason = s
        .absent
        .iter()
        .find(|a| a.field == field as i32)
        .map(|a| proto::Absence::try_from(a.reason));
    match reason {
        Some(Ok(proto::Absence::Invalid)) => Absent::Invalid,
        Some(Ok(proto::Absence::Abnormal)) => Absent::Abnormal,
        Some(Ok(proto::Absence::OutOfRange)) => Absent::OutOfRange,
        Some(Ok(proto::Absence::NotReady)) => Absent::NotReady,
        _ => Absent::Missing,
    }
}

fn position(p: &proto::Position) -> Position {
    Position {
        valid: p.valid,
        lon: p.lon,
        lat: p.lat,
    }
}

/// One OBD body. Text fields are ASCII, cut or padded to their wire width (calibration ID and
/// CVN with "0", as the standard pads them; an odd VIN or ICCID likewise).
pub fn obd_body(o: &proto::ObdInfo) -> ObdBody {
    let protocol = match proto::ObdProtocol::try_from(o.protocol) {
        Ok(proto::ObdProtocol::Iso15765) => ObdProtocol::Iso15765,
        Ok(proto::ObdProtocol::Iso27145) => ObdProtocol::Iso27145,
        Ok(proto::ObdProtocol::SaeJ1939) => ObdProtocol::SaeJ1939,
        _ => ObdProtocol::Invalid,
    };
    let mil_code = match proto::Mil::try_from(o.mil) {
        Ok(proto::Mil::Off) => 0,
        Ok(proto::Mil::On) => 1,
        _ => 0xFE,
    };
    let mut iupr = [0; 36];
    // IUPR is opaque to the codec: the simulator's 36 bytes go through as they are.
    for (dst, src) in iupr.iter_mut().zip(&o.iupr) {
        *dst = *src;
    }
    let dtcs = o
        .dtcs
        .iter()
        .filter_map(dtc)
        .take(usize::from(DTC_COUNT_MAX))
        .collect();
    ObdBody {
        protocol_code: protocol.code(),
        mil_code,
        diagnostic_support: word(o.diagnostic_support),
        readiness: word(o.readiness),
        vin_bytes: ascii::<17>(&o.vin, b'0'),
        calibration_id: ascii::<18>(&o.calibration_id, b'0'),
        cvn: ascii::<18>(&o.cvn, b'0'),
        iupr,
        dtcs: Some(dtcs),
    }
}

/// The DTC's raw bytes, or the 3-byte SAE form of its code (`P2047` → `20 47 00`) plus a
/// status byte; `None` for a code that is neither.
fn dtc(d: &proto::Dtc) -> Option<Dtc> {
    if let Ok(raw) = <[u8; 4]>::try_from(d.raw.as_slice()) {
        return Some(Dtc(raw));
    }
    let code = d.code.as_bytes();
    let system = match code.first()? {
        b'P' => 0u16,
        b'C' => 1,
        b'B' => 2,
        b'U' => 3,
        _ => return None,
    };
    let digits = std::str::from_utf8(code.get(1..)?).ok()?;
    let number = u16::from_str_radix(digits, 16)
        .ok()
        .filter(|_| digits.len() == 4)
        .filter(|&n| n < 0x4000)?;
    let [high, low] = (system << 14 | number).to_be_bytes();
    Some(Dtc([high, low, 0x00, DTC_STATUS]))
}

/// A monitor word; one wider than 16 bits cannot be told apart from garbage, so all ones.
fn word(value: u32) -> u16 {
    u16::try_from(value).unwrap_or(u16::MAX)
}

/// Serials are 2 bytes on the wire: larger ones wrap, as a terminal's counter would.
fn wire_serial(serial: u32) -> u16 {
    (serial % 0x1_0000) as u16
}

/// `text` as exactly `N` bytes: cut, or right-padded with `pad`.
fn ascii<const N: usize>(text: &str, pad: u8) -> [u8; N] {
    let mut out = [pad; N];
    for (dst, src) in out.iter_mut().zip(text.bytes()) {
        *dst = src;
    }
    out
}

/// In whole seconds (the wire has no finer unit), or `default` when there is none.
fn time_or(ts: Option<&Timestamp>, default: EventTime) -> EventTime {
    ts.map_or(default, |t| EventTime::from_unix_secs(t.seconds))
}

/// Stand-in for the terminal's SM2 signature: two halves of `len` bytes hashed from the VIN,
/// time, serial and a body count or index, so equal frames carry equal signatures and runs
/// stay byte-identical.
fn signature(vin: &[u8; 17], at: EventTime, serial: u16, bodies: usize, len: usize) -> Signature {
    let mut state = vin
        .iter()
        .fold(at.0 as u64 ^ u64::from(serial) << 48, |h, &b| {
            super::splitmix64(h ^ u64::from(b))
        })
        ^ bodies as u64;
    let mut next = || {
        state = super::splitmix64(state);
        state.to_be_bytes()
    };
    let mut r = [0; SIGNATURE_PART_LEN];
    let mut s = [0; SIGNATURE_PART_LEN];
    for chunk in r.chunks_exact_mut(8).chain(s.chunks_exact_mut(8)) {
        chunk.copy_from_slice(&next());
    }
    let len = len.clamp(1, SIGNATURE_PART_LEN);
    Signature::new(&r[..len], &s[..len]).expect("halves of 1–32 bytes")
}
