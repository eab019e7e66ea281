//! `Frame` → bytes: header, data unit in the frame's dialect, length and BCC. The inverse of
//! `decode`: for every frame this accepts, `decode(encode(f), Fixed(f.dialect)) == f`, so it
//! refuses any value that would not come back the same (a body time in GB 17691, a missing
//! signature in HJ 1239, a sub-second time …). Used by tests, benches and the simulator.
//!
//! Pure. No I/O, no panics. Always writes plaintext (encryption 0x01).

use super::obd::{ObdBody, DTC_COUNT_INVALID, DTC_COUNT_MAX};
use super::{
    Body, Command, Content, DataUnit, Dialect, Frame, Info, SerialAt, Signature, Signing,
    HEADER_LEN, INFO_USER_DEFINED, PLAINTEXT, RESPONSE_FLAG,
};
use crate::model::{EventTime, BEIJING_OFFSET_SECS};

/// Why a `Frame` value cannot be put on the wire.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    #[error("time {0:?} is not a whole second between 2000 and 2255 (Beijing)")]
    Time(EventTime),
    #[error("a standard header's VIN cannot start with 0xFE, the GB/T 32960-style response flag")]
    VinLikeFlag,
    #[error("data unit of {0} bytes does not fit the 2-byte length")]
    DataUnitTooLong(usize),
    #[error("{command} is an HJ 1239 command; its frame's dialect must be hj1239, not {dialect}")]
    CommandNotInDialect { command: Command, dialect: Dialect },
    #[error("body {index}: {dialect} bodies have no time of their own")]
    BodyTime { index: usize, dialect: Dialect },
    #[error("{dialect} data units {} a signature at their end", if dialect.signing() == Signing::End { "need" } else { "have no" })]
    Signature { dialect: Dialect },
    #[error("body {index}: {dialect} bodies {} a signature of their own", if dialect.signing() == Signing::EachBody { "need" } else { "have no" })]
    BodySignature { index: usize, dialect: Dialect },
    #[error("body {index}: {dialect} bodies {} a serial of their own", if dialect.serial_at() == SerialAt::AfterEveryType { "need" } else { "have no" })]
    BodySerial { index: usize, dialect: Dialect },
    #[error("a {dialect} data unit's serial is its first body's (0 without bodies)")]
    UnitSerial { dialect: Dialect },
    #[error("body {index}: information type {info_type:#04X} is not defined in {dialect}")]
    InfoTypeNotInDialect {
        index: usize,
        info_type: u8,
        dialect: Dialect,
    },
    #[error("body {index}: user-defined type {info_type:#04X} is outside 0x80–0xFE")]
    UserDefinedType { index: usize, info_type: u8 },
    #[error("body {index}: user-defined data of {length} bytes does not fit its 2-byte length")]
    UserDefinedTooLong { index: usize, length: usize },
    #[error("body {index}: {count} DTCs, at most 253 fit")]
    TooManyDtcs { index: usize, count: usize },
}

/// Encodes one frame into a new buffer.
pub fn encode(frame: &Frame) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(HEADER_LEN + 64 + 64 * body_count(frame));
    encode_into(frame, &mut out)?;
    Ok(out)
}

/// Appends one frame to `out`; on error `out` is left as it was.
pub fn encode_into(frame: &Frame, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let start = out.len();
    let result = write_frame(frame, out, start);
    if result.is_err() {
        out.truncate(start);
    }
    result
}

fn body_count(frame: &Frame) -> usize {
    frame.data_unit().map_or(0, |d| d.bodies.len())
}

fn write_frame(frame: &Frame, out: &mut Vec<u8>, start: usize) -> Result<(), EncodeError> {
    let command = frame.command();
    if command.hj_only() && frame.dialect != Dialect::Hj1239 {
        return Err(EncodeError::CommandNotInDialect {
            command,
            dialect: frame.dialect,
        });
    }
    out.extend_from_slice(b"##");
    out.push(command.code());
    match frame.software_version {
        Some(_) if frame.vin_bytes[0] == RESPONSE_FLAG => return Err(EncodeError::VinLikeFlag),
        Some(version) => {
            out.extend_from_slice(&frame.vin_bytes);
            out.push(version);
        }
        None => {
            out.push(RESPONSE_FLAG);
            out.extend_from_slice(&frame.vin_bytes);
        }
    }
    out.push(PLAINTEXT);
    out.extend_from_slice(&[0, 0]);
    let unit_start = out.len();
    match &frame.content {
        Content::Login(l) => {
            put_time(out, l.collected_at)?;
            out.extend_from_slice(&l.serial.to_be_bytes());
            out.extend_from_slice(&l.iccid);
        }
        Content::Realtime(d) | Content::Reissue(d) => data_unit(out, d, frame.dialect)?,
        Content::Logout(l) => {
            put_time(out, l.collected_at)?;
            out.extend_from_slice(&l.serial.to_be_bytes());
        }
        Content::TimeSync => {}
        Content::RemovalAlarm(a) => {
            put_time(out, a.collected_at)?;
            out.extend_from_slice(&a.serial.to_be_bytes());
            out.push(a.position_status);
            out.extend_from_slice(&a.longitude_raw.to_be_bytes());
            out.extend_from_slice(&a.latitude_raw.to_be_bytes());
        }
        Content::Activation(bytes) | Content::ActivationResponse(bytes) => {
            out.extend_from_slice(bytes)
        }
    }
    let length = out.len() - unit_start;
    let l = u16::try_from(length).map_err(|_| EncodeError::DataUnitTooLong(length))?;
    if let Some(slot) = out.get_mut(start + HEADER_LEN - 2..start + HEADER_LEN) {
        slot.copy_from_slice(&l.to_be_bytes());
    }
    let bcc = out
        .get(start..)
        .unwrap_or_default()
        .iter()
        .fold(0u8, |acc, b| acc ^ b);
    out.push(bcc);
    Ok(())
}

/// 6 binary bytes, Beijing time.
pub(super) fn put_time(out: &mut Vec<u8>, time: EventTime) -> Result<(), EncodeError> {
    if time.0.rem_euclid(1000) != 0 {
        return Err(EncodeError::Time(time));
    }
    let (year, month, day) = time.beijing_date();
    let year = u8::try_from(year - 2000).map_err(|_| EncodeError::Time(time))?;
    let second_of_day = (time.unix_secs() + BEIJING_OFFSET_SECS).rem_euclid(86_400);
    // All below 60 / 24 by construction of rem_euclid.
    let (h, m, s) = (
        second_of_day / 3600,
        second_of_day / 60 % 60,
        second_of_day % 60,
    );
    out.extend_from_slice(&[year, month as u8, day as u8, h as u8, m as u8, s as u8]);
    Ok(())
}

fn data_unit(out: &mut Vec<u8>, unit: &DataUnit, dialect: Dialect) -> Result<(), EncodeError> {
    put_time(out, unit.collected_at)?;
    let serial_at = dialect.serial_at();
    let first_serial = match serial_at {
        SerialAt::AfterTime => {
            out.extend_from_slice(&unit.serial.to_be_bytes());
            unit.serial
        }
        SerialAt::AfterFirstType => unit.bodies.first().map_or(0, |_| unit.serial),
        SerialAt::AfterEveryType => unit.bodies.first().map_or(0, |b| b.serial.unwrap_or(0)),
    };
    if first_serial != unit.serial {
        return Err(EncodeError::UnitSerial { dialect });
    }
    for (index, body) in unit.bodies.iter().enumerate() {
        let serial = match (serial_at, body.serial) {
            (SerialAt::AfterEveryType, Some(s)) => Some(s),
            (SerialAt::AfterFirstType, None) if index == 0 => Some(unit.serial),
            (SerialAt::AfterTime | SerialAt::AfterFirstType, None) => None,
            _ => return Err(EncodeError::BodySerial { index, dialect }),
        };
        put_body(out, index, body, serial, dialect)?;
    }
    match (&unit.signature, dialect.signing() == Signing::End) {
        (Some(sig), true) => {
            put_signature(out, sig);
            Ok(())
        }
        (None, false) => Ok(()),
        _ => Err(EncodeError::Signature { dialect }),
    }
}

fn put_signature(out: &mut Vec<u8>, sig: &Signature) {
    // Both halves are 1–32 bytes by construction of `Signature`.
    out.push(sig.r().len() as u8);
    out.extend_from_slice(sig.r());
    out.push(sig.s().len() as u8);
    out.extend_from_slice(sig.s());
}

/// One body; `serial` is the word written after its type byte, if the dialect puts one there.
fn put_body(
    out: &mut Vec<u8>,
    index: usize,
    body: &Body,
    serial: Option<u16>,
    dialect: Dialect,
) -> Result<(), EncodeError> {
    let info_type = body.info.info_type();
    let hj_type = matches!(
        body.info,
        Info::TwcWithoutNox(_) | Info::HybridAddOn(_) | Info::TwcWithNox(_)
    );
    if hj_type && !dialect.hj_bodies() {
        return Err(EncodeError::InfoTypeNotInDialect {
            index,
            info_type,
            dialect,
        });
    }
    out.push(info_type);
    if let Some(serial) = serial {
        out.extend_from_slice(&serial.to_be_bytes());
    }
    match (body.collected_at, dialect.timed_bodies()) {
        (Some(t), true) => put_time(out, t)?,
        // The ECU gave no time: six zero bytes.
        (None, true) => out.extend_from_slice(&[0; 6]),
        (None, false) => {}
        (Some(_), false) => return Err(EncodeError::BodyTime { index, dialect }),
    }
    match &body.info {
        Info::Obd(obd) => put_obd(out, index, obd)?,
        Info::Stream(s) => out.extend_from_slice(s.as_bytes()),
        Info::TwcWithoutNox(b) => out.extend_from_slice(b),
        Info::HybridAddOn(h) => out.extend_from_slice(h.as_bytes()),
        Info::TwcWithNox(b) => out.extend_from_slice(b),
        Info::UserDefined { info_type, data } => {
            if !INFO_USER_DEFINED.contains(info_type) {
                return Err(EncodeError::UserDefinedType {
                    index,
                    info_type: *info_type,
                });
            }
            let length =
                u16::try_from(data.len()).map_err(|_| EncodeError::UserDefinedTooLong {
                    index,
                    length: data.len(),
                })?;
            out.extend_from_slice(&length.to_be_bytes());
            out.extend_from_slice(data);
        }
    }
    match (&body.signature, dialect.signing() == Signing::EachBody) {
        (Some(sig), true) => put_signature(out, sig),
        (None, false) => {}
        _ => return Err(EncodeError::BodySignature { index, dialect }),
    }
    Ok(())
}

fn put_obd(out: &mut Vec<u8>, index: usize, obd: &ObdBody) -> Result<(), EncodeError> {
    let count = match &obd.dtcs {
        None => DTC_COUNT_INVALID,
        Some(list) => u8::try_from(list.len())
            .ok()
            .filter(|&n| n <= DTC_COUNT_MAX)
            .ok_or(EncodeError::TooManyDtcs {
                index,
                count: list.len(),
            })?,
    };
    out.push(obd.protocol_code);
    out.push(obd.mil_code);
    out.extend_from_slice(&obd.diagnostic_support.to_be_bytes());
    out.extend_from_slice(&obd.readiness.to_be_bytes());
    out.extend_from_slice(&obd.vin_bytes);
    out.extend_from_slice(&obd.calibration_id);
    out.extend_from_slice(&obd.cvn);
    out.extend_from_slice(&obd.iupr);
    out.push(count);
    for dtc in obd.dtcs() {
        out.extend_from_slice(&dtc.0);
    }
    Ok(())
}
