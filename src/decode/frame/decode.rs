//! Bytes → `Frame`: strict framing (start, exact length, BCC, plaintext), then one pass over
//! the data unit with bounds-checked slicing, and auto detection of the dialect.
//!
//! Pure. No I/O, no panics, never reads past the frame, and no allocation per stream body:
//! a data unit reserves its body list once. Every rejection is a `FrameError` whose offsets are
//! counted from the frame's first byte.

use super::error::FrameError;
use super::hybrid::{HybridBody, HYBRID_BODY_LEN};
use super::obd::{Dtc, ObdBody, DTC_COUNT_INVALID, DTC_COUNT_MAX, OBD_FIXED_LEN};
use super::stream::{StreamBody, STREAM_BODY_LEN};
use super::{
    Body, Command, Content, DataUnit, Dialect, DialectChoice, Frame, Info, Login, Logout,
    RemovalAlarm, Signature, HEADER_LEN, INFO_HYBRID, INFO_OBD, INFO_STREAM, INFO_TWC,
    INFO_TWC_NOX, INFO_USER_DEFINED, PLAINTEXT, SIGNATURE_PART_LEN,
};
use crate::model::{unix_secs_from_civil, EventTime, BEIJING_OFFSET_SECS};

const TIME_LEN: usize = 6;
/// `time(6) serial(2)` opening every time-stamped data unit.
const UNIT_HEAD_LEN: usize = TIME_LEN + 2;
const SIGNATURE_BLOCK_LEN: usize = 2 + 2 * SIGNATURE_PART_LEN;
const SIGNATURE_MARK: u8 = SIGNATURE_PART_LEN as u8;
const LOGIN_LEN: usize = UNIT_HEAD_LEN + 20;
const REMOVAL_ALARM_LEN: usize = UNIT_HEAD_LEN + 1 + 4 + 4;
/// A stream body with its type byte: the commonest body, used to size the body list once.
const TYPICAL_BODY_LEN: usize = 1 + STREAM_BODY_LEN;

/// Decodes one frame.
///
/// With `DialectChoice::Auto`, a real-time or reissue data unit is parsed in each dialect
/// whose shape can fit and the first parse that fills the data unit exactly wins, in the order
/// HJ 1239, hybrid, GB 17691: the most constrained parse first (HJ 1239 must also find a valid
/// time before every body and the signature markers; the hybrid the markers), so a frame is
/// credited to the loosest dialect only when no stricter one explains every byte. A data unit
/// that does not end in a signature block (`0x20`, 32 bytes, `0x20`, 32 bytes) can only be
/// GB 17691, which is then tried alone. If every dialect fails, the error of the parse that got
/// furthest is returned. Other commands do not depend on the dialect.
pub fn decode(bytes: &[u8], choice: DialectChoice) -> Result<Frame, FrameError> {
    let Checked {
        command,
        vin_bytes,
        software_version,
        data,
    } = framing(bytes)?;
    let fixed = match choice {
        DialectChoice::Fixed(d) => d,
        DialectChoice::Auto => Dialect::Gb17691,
    };
    let (dialect, content) = match command {
        Command::Realtime | Command::Reissue => {
            let (dialect, unit) = match choice {
                DialectChoice::Fixed(d) => (d, data_unit(data, command, d)?),
                DialectChoice::Auto => detect(data, command)?,
            };
            let content = if command == Command::Realtime {
                Content::Realtime(unit)
            } else {
                Content::Reissue(unit)
            };
            (dialect, content)
        }
        Command::Login => {
            let (collected_at, serial, tail) = fixed_unit(data, command, LOGIN_LEN)?;
            let iccid = tail
                .try_into()
                .map_err(|_| wrong_length(data, command, LOGIN_LEN))?;
            let login = Login {
                collected_at,
                serial,
                iccid,
            };
            (fixed, Content::Login(login))
        }
        Command::Logout => {
            let (collected_at, serial, _) = fixed_unit(data, command, UNIT_HEAD_LEN)?;
            let logout = Logout {
                collected_at,
                serial,
            };
            (fixed, Content::Logout(logout))
        }
        Command::TimeSync => {
            if !data.is_empty() {
                return Err(wrong_length(data, command, 0));
            }
            (fixed, Content::TimeSync)
        }
        Command::RemovalAlarm => {
            let (collected_at, serial, tail) = fixed_unit(data, command, REMOVAL_ALARM_LEN)?;
            let &[status, o0, o1, o2, o3, a0, a1, a2, a3] = tail else {
                return Err(wrong_length(data, command, REMOVAL_ALARM_LEN));
            };
            let alarm = RemovalAlarm {
                collected_at,
                serial,
                position_status: status,
                longitude_raw: u32::from_be_bytes([o0, o1, o2, o3]),
                latitude_raw: u32::from_be_bytes([a0, a1, a2, a3]),
            };
            (Dialect::Hj1239, Content::RemovalAlarm(alarm))
        }
        Command::Activation => (Dialect::Hj1239, Content::Activation(data.to_vec())),
        Command::ActivationResponse => {
            let content = Content::ActivationResponse(data.to_vec());
            (Dialect::Hj1239, content)
        }
    };
    Ok(Frame {
        vin_bytes,
        software_version,
        dialect,
        content,
    })
}

/// A frame that passed `framing`: its header fields and its data unit (exactly L bytes).
struct Checked<'a> {
    command: Command,
    vin_bytes: [u8; 17],
    software_version: u8,
    data: &'a [u8],
}

/// Checks start, length, BCC, command and encryption.
fn framing(bytes: &[u8]) -> Result<Checked<'_>, FrameError> {
    let start_ok = match bytes {
        [a, b, ..] => [*a, *b] == *b"##",
        [a] => *a == b'#',
        [] => true,
    };
    if !start_ok {
        let found = bytes.get(..2).unwrap_or(bytes).to_vec();
        return Err(FrameError::BadStart { found });
    }
    let truncated = |needed| FrameError::Truncated {
        needed,
        actual: bytes.len(),
    };
    let (header, _) = bytes
        .split_first_chunk::<HEADER_LEN>()
        .ok_or_else(|| truncated(HEADER_LEN + 1))?;
    let length = usize::from(u16::from_be_bytes([header[22], header[23]]));
    let declared = HEADER_LEN + length + 1;
    if bytes.len() < declared {
        return Err(truncated(declared));
    }
    if bytes.len() > declared {
        return Err(FrameError::LengthMismatch {
            declared,
            actual: bytes.len(),
        });
    }
    let (body, bcc) = bytes.split_at(declared - 1);
    let expected = body.iter().fold(0u8, |acc, b| acc ^ b);
    let found = bcc.first().copied().unwrap_or(!expected);
    if found != expected {
        return Err(FrameError::BadBcc {
            offset: declared - 1,
            expected,
            found,
        });
    }
    let command =
        Command::from_code(header[2]).ok_or(FrameError::UnknownCommand { code: header[2] })?;
    if header[21] != PLAINTEXT {
        return Err(FrameError::Encrypted { code: header[21] });
    }
    let mut vin = [0; 17];
    vin.copy_from_slice(&header[3..20]);
    let data = body.get(HEADER_LEN..).unwrap_or_default();
    Ok(Checked {
        command,
        vin_bytes: vin,
        software_version: header[20],
        data,
    })
}

fn wrong_length(data: &[u8], command: Command, expected: usize) -> FrameError {
    FrameError::DataUnitLength {
        command,
        length: data.len(),
        expected,
    }
}

/// A fixed-layout data unit of exactly `expected` bytes opening with `time serial`; returns
/// those two and the bytes after them.
fn fixed_unit(
    data: &[u8],
    command: Command,
    expected: usize,
) -> Result<(EventTime, u16, &[u8]), FrameError> {
    if data.len() != expected {
        return Err(wrong_length(data, command, expected));
    }
    let (head, tail) = data
        .split_first_chunk::<UNIT_HEAD_LEN>()
        .ok_or_else(|| wrong_length(data, command, expected))?;
    let (collected_at, serial) = unit_head(head)?;
    Ok((collected_at, serial, tail))
}

/// `time(6) serial(2)`, at the start of the data unit.
fn unit_head(head: &[u8; UNIT_HEAD_LEN]) -> Result<(EventTime, u16), FrameError> {
    let [t0, t1, t2, t3, t4, t5, s0, s1] = *head;
    let collected_at = time([t0, t1, t2, t3, t4, t5], HEADER_LEN)?;
    Ok((collected_at, u16::from_be_bytes([s0, s1])))
}

/// 6 binary bytes, Beijing time. Leap seconds are not accepted (second ≤ 59).
pub(super) fn time(bytes: [u8; 6], offset: usize) -> Result<EventTime, FrameError> {
    let [y, mo, d, h, mi, s] = bytes;
    let year = 2000 + i64::from(y);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match mo {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => 0,
    };
    if d == 0 || d > days_in_month || h > 23 || mi > 59 || s > 59 {
        return Err(FrameError::BadTime { offset, bytes });
    }
    let local = unix_secs_from_civil(
        year,
        u32::from(mo),
        u32::from(d),
        u32::from(h),
        u32::from(mi),
        u32::from(s),
    );
    Ok(EventTime::from_unix_secs(local - BEIJING_OFFSET_SECS))
}

/// Whether the data unit ends in a well-formed signature block: necessary for HJ 1239 and
/// the hybrid to fit at all.
fn ends_signed(data: &[u8]) -> bool {
    data.len() >= UNIT_HEAD_LEN + SIGNATURE_BLOCK_LEN
        && data.get(data.len() - SIGNATURE_BLOCK_LEN) == Some(&SIGNATURE_MARK)
        && data.get(data.len() - SIGNATURE_PART_LEN - 1) == Some(&SIGNATURE_MARK)
}

fn detect(data: &[u8], command: Command) -> Result<(Dialect, DataUnit), FrameError> {
    const SIGNED_FIRST: [Dialect; 3] = [Dialect::Hj1239, Dialect::Hybrid, Dialect::Gb17691];
    const UNSIGNED_FIRST: [Dialect; 3] = [Dialect::Gb17691, Dialect::Hj1239, Dialect::Hybrid];
    // Without a trailing signature only GB 17691 can succeed; the others run only to find the
    // most informative error.
    let order = if ends_signed(data) {
        SIGNED_FIRST
    } else {
        UNSIGNED_FIRST
    };
    let mut furthest: Option<FrameError> = None;
    for dialect in order {
        match data_unit(data, command, dialect) {
            Ok(unit) => return Ok((dialect, unit)),
            Err(e) => {
                if furthest.as_ref().is_none_or(|f| e.offset() > f.offset()) {
                    furthest = Some(e);
                }
            }
        }
    }
    Err(furthest.unwrap_or(FrameError::DataUnitShort {
        command,
        length: data.len(),
    }))
}

/// One pass over a real-time / reissue data unit in one dialect.
fn data_unit(data: &[u8], command: Command, dialect: Dialect) -> Result<DataUnit, FrameError> {
    let Some((head, mut rest)) = data.split_first_chunk::<UNIT_HEAD_LEN>() else {
        return Err(FrameError::DataUnitShort {
            command,
            length: data.len(),
        });
    };
    let (collected_at, serial) = unit_head(head)?;
    // Reserved once, at the first body, so a parse that fails on its first body (auto
    // detection trying the wrong dialect) allocates nothing.
    let capacity = rest.len() / TYPICAL_BODY_LEN + 1;
    let mut bodies: Vec<Body> = Vec::new();
    let mut signature = None;
    while let Some((&info_type, after_type)) = rest.split_first() {
        let offset = HEADER_LEN + data.len() - rest.len();
        if info_type == SIGNATURE_MARK && dialect.signed() {
            signature = Some(parse_signature(rest, offset)?);
            if let Some(extra) = rest.get(SIGNATURE_BLOCK_LEN..).filter(|x| !x.is_empty()) {
                return Err(FrameError::TrailingBytes {
                    offset: offset + SIGNATURE_BLOCK_LEN,
                    count: extra.len(),
                    dialect,
                    what: "after the signature",
                });
            }
            break;
        }
        let (body, remaining) = body(info_type, after_type, offset, dialect)?;
        if bodies.capacity() == 0 {
            bodies.reserve_exact(capacity);
        }
        bodies.push(body);
        rest = remaining;
    }
    if dialect.signed() && signature.is_none() {
        return Err(FrameError::MissingSignature {
            offset: HEADER_LEN + data.len(),
            dialect,
        });
    }
    Ok(DataUnit {
        collected_at,
        serial,
        bodies,
        signature,
    })
}

fn parse_signature(block: &[u8], offset: usize) -> Result<Signature, FrameError> {
    let Some((_, rest)) = block.split_first() else {
        return Err(FrameError::BadSignature {
            offset,
            detail: "empty",
        });
    };
    let overrun = || FrameError::BadSignature {
        offset,
        detail: "runs past the end of the data unit",
    };
    let (r, rest) = rest
        .split_first_chunk::<SIGNATURE_PART_LEN>()
        .ok_or_else(overrun)?;
    let (&s_len, rest) = rest.split_first().ok_or_else(overrun)?;
    if s_len != SIGNATURE_MARK {
        return Err(FrameError::BadSignature {
            offset: offset + 1 + SIGNATURE_PART_LEN,
            detail: "S length is not 32",
        });
    }
    let (s, _) = rest
        .split_first_chunk::<SIGNATURE_PART_LEN>()
        .ok_or_else(overrun)?;
    Ok(Signature { r: *r, s: *s })
}

/// Reads one body after its type byte; returns it and the bytes after it.
fn body(
    info_type: u8,
    after_type: &[u8],
    offset: usize,
    dialect: Dialect,
) -> Result<(Body, &[u8]), FrameError> {
    let known = match info_type {
        INFO_OBD | INFO_STREAM => true,
        INFO_TWC | INFO_HYBRID | INFO_TWC_NOX => dialect != Dialect::Gb17691,
        t => INFO_USER_DEFINED.contains(&t),
    };
    if !known {
        return Err(unknown_or_trailing(info_type, after_type, offset, dialect));
    }
    let overrun = |needed: usize, available: usize| FrameError::BodyOverrun {
        offset,
        info_type,
        needed,
        available,
    };
    let (collected_at, rest) = if dialect.timed_bodies() {
        let (t, rest) = after_type
            .split_first_chunk::<TIME_LEN>()
            .ok_or_else(|| overrun(TIME_LEN, after_type.len()))?;
        (Some(time(*t, offset + 1)?), rest)
    } else {
        (None, after_type)
    };
    let (info, rest) = match info_type {
        INFO_STREAM => {
            let (b, rest) = fixed::<STREAM_BODY_LEN>(rest, overrun)?;
            (Info::Stream(StreamBody::from_raw(*b)), rest)
        }
        INFO_OBD => obd(rest, offset + 1 + after_type.len() - rest.len(), overrun)?,
        INFO_TWC => {
            let (b, rest) = fixed::<30>(rest, overrun)?;
            (Info::TwcWithoutNox(*b), rest)
        }
        INFO_HYBRID => {
            let (b, rest) = fixed::<HYBRID_BODY_LEN>(rest, overrun)?;
            (Info::HybridAddOn(HybridBody::from_raw(*b)), rest)
        }
        INFO_TWC_NOX => {
            let (b, rest) = fixed::<32>(rest, overrun)?;
            (Info::TwcWithNox(*b), rest)
        }
        _ => {
            let (len, rest) = fixed::<2>(rest, overrun)?;
            let len = usize::from(u16::from_be_bytes(*len));
            let (data, rest) = rest
                .split_at_checked(len)
                .ok_or_else(|| overrun(2 + len, rest.len() + 2))?;
            let info = Info::UserDefined {
                info_type,
                data: data.to_vec(),
            };
            (info, rest)
        }
    };
    Ok((Body { collected_at, info }, rest))
}

fn fixed<const N: usize>(
    rest: &[u8],
    overrun: impl Fn(usize, usize) -> FrameError,
) -> Result<(&[u8; N], &[u8]), FrameError> {
    rest.split_first_chunk::<N>()
        .ok_or_else(|| overrun(N, rest.len()))
}

/// `at` is the frame offset of the body's first byte after type (and time).
fn obd(
    rest: &[u8],
    at: usize,
    overrun: impl Fn(usize, usize) -> FrameError,
) -> Result<(Info, &[u8]), FrameError> {
    let (fixed_part, rest) = fixed::<OBD_FIXED_LEN>(rest, &overrun)?;
    let f = fixed_part;
    let count = f[OBD_FIXED_LEN - 1];
    let dtcs = match count {
        DTC_COUNT_INVALID => (None, rest),
        n if n <= DTC_COUNT_MAX => {
            let n = usize::from(n);
            let (raw, rest) = rest
                .split_at_checked(4 * n)
                .ok_or_else(|| overrun(OBD_FIXED_LEN + 4 * n, OBD_FIXED_LEN + rest.len()))?;
            let list: Vec<Dtc> = raw
                .chunks_exact(4)
                .filter_map(|c| c.try_into().ok().map(Dtc))
                .collect();
            (Some(list), rest)
        }
        count => {
            return Err(FrameError::DtcCount {
                offset: at + OBD_FIXED_LEN - 1,
                count,
            })
        }
    };
    let (dtcs, rest) = dtcs;
    let mut body = ObdBody {
        protocol_code: f[0],
        mil_code: f[1],
        diagnostic_support: u16::from_be_bytes([f[2], f[3]]),
        readiness: u16::from_be_bytes([f[4], f[5]]),
        vin_bytes: [0; 17],
        calibration_id: [0; 18],
        cvn: [0; 18],
        iupr: [0; 36],
        dtcs,
    };
    body.vin_bytes.copy_from_slice(&f[6..23]);
    body.calibration_id.copy_from_slice(&f[23..41]);
    body.cvn.copy_from_slice(&f[41..59]);
    body.iupr.copy_from_slice(&f[59..95]);
    Ok((Info::Obd(body), rest))
}

/// A type byte no dialect body starts with. Reported as trailing bytes when the rest is
/// recognisably not a body — padding (all 0x00 or all 0xFF), or in GB 17691 a well-formed
/// signature block (the source is probably the hybrid) — and as an unknown type otherwise.
fn unknown_or_trailing(
    info_type: u8,
    after_type: &[u8],
    offset: usize,
    dialect: Dialect,
) -> FrameError {
    let padding =
        (info_type == 0x00 || info_type == 0xFF) && after_type.iter().all(|&b| b == info_type);
    let signature = dialect == Dialect::Gb17691
        && after_type.len() == SIGNATURE_BLOCK_LEN - 1
        && info_type == SIGNATURE_MARK
        && after_type.get(SIGNATURE_PART_LEN) == Some(&SIGNATURE_MARK);
    if padding || signature {
        FrameError::TrailingBytes {
            offset,
            count: after_type.len() + 1,
            dialect,
            what: if padding {
                "padding"
            } else {
                "a signature block, which GB 17691 does not have"
            },
        }
    } else {
        FrameError::UnknownInfoType {
            offset,
            info_type,
            dialect,
        }
    }
}
