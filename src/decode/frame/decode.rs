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
    RemovalAlarm, SerialAt, Signature, Signing, HEADER_LEN, INFO_HYBRID, INFO_OBD, INFO_STREAM,
    INFO_TWC, INFO_TWC_NOX, INFO_USER_DEFINED, PLAINTEXT, RESPONSE_FLAG, SIGNATURE_PART_LEN,
};
use crate::model::{unix_secs_from_civil, EventTime, BEIJING_OFFSET_SECS};

const TIME_LEN: usize = 6;
/// `time(6) serial(2)` opening every time-stamped data unit.
const UNIT_HEAD_LEN: usize = TIME_LEN + 2;
const LOGIN_LEN: usize = UNIT_HEAD_LEN + 20;
const REMOVAL_ALARM_LEN: usize = UNIT_HEAD_LEN + 1 + 4 + 4;
/// A stream body with its type byte: the commonest body, used to size the body list once.
const TYPICAL_BODY_LEN: usize = 1 + STREAM_BODY_LEN;

/// Decodes one frame.
///
/// With `DialectChoice::Auto`, a real-time or reissue data unit is tried in every dialect and
/// a layout is chosen only where it is unambiguous. Among the parses that fill the data unit
/// exactly, those that need the fewest vendor-defined bodies count (an opaque 0x80–0xFE body
/// with a length can swallow almost any bytes, so a parse that needs one explains the data
/// unit less well than one in standard bodies only); if they all read the same bodies with the
/// same times (an empty data unit, or one body and one signature block, which the hybrid and
/// signed-bodies layouts both explain), the first in `Dialect::ALL` is reported. Two of them
/// that read different bodies are `FrameError::Ambiguous`: the source's dialect must be
/// configured. If no dialect fits, the error of the parse that got furthest is returned.
/// Other commands do not depend on the dialect.
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
                DialectChoice::Fixed(d) => (d, fixed_dialect(data, command, d)?),
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
    software_version: Option<u8>,
    data: &'a [u8],
}

/// Checks start, length, BCC, command and encryption, and tells the two header layouts apart:
/// a VIN never starts with 0xFE, so that byte at offset 3 is the GB/T 32960-style response
/// flag, with the VIN one byte later and no software version (same offsets for encryption and
/// length).
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
    let software_version = if header[3] == RESPONSE_FLAG {
        vin.copy_from_slice(&header[4..21]);
        None
    } else {
        vin.copy_from_slice(&header[3..20]);
        Some(header[20])
    };
    let data = body.get(HEADER_LEN..).unwrap_or_default();
    Ok(Checked {
        command,
        vin_bytes: vin,
        software_version,
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

/// A fixed dialect: its parse, or the reason it does not fit.
fn fixed_dialect(data: &[u8], command: Command, dialect: Dialect) -> Result<DataUnit, FrameError> {
    let mut bodies = Vec::new();
    let parsed = data_unit(data, command, dialect, Some(&mut bodies))?;
    Ok(parsed.with(bodies))
}

fn detect(data: &[u8], command: Command) -> Result<(Dialect, DataUnit), FrameError> {
    // The explanation so far: its vendor-defined body count, dialect and full parse, and a
    // dialect that explains the data unit as well but reads other bodies.
    let mut chosen: Option<(usize, Dialect, DataUnit)> = None;
    let mut rival: Option<Dialect> = None;
    let mut furthest: Option<FrameError> = None;
    // Bodies of the parse under way until one fits; cleared, not freed, after a misfit, so
    // a frame allocates its body list once.
    let mut bodies = Vec::new();
    // Dialects known not to fit without trying them, by place in `Dialect::ALL`.
    let mut misfits = [false; Dialect::ALL.len()];
    let place = |d: Dialect| Dialect::ALL.iter().position(|x| *x == d).unwrap_or(0);
    // Signed at the end, a data unit must end in `Rlen R Slen S`: checked once from the tail,
    // so an unsigned unit never costs a full parse in those dialects.
    let may_end_signed = may_end_in_signature(data);
    for dialect in Dialect::ALL {
        if misfits[place(dialect)] || (dialect.signing() == Signing::End && !may_end_signed) {
            continue;
        }
        // Until a dialect fits, each is parsed in full; after that the others are only
        // checked, and parsed in full when they explain the data unit at least as well.
        let keep = chosen.is_none().then_some(&mut bodies);
        let parsed = match data_unit(data, command, dialect, keep) {
            Ok(parsed) => parsed,
            Err(e) => {
                bodies.clear();
                if furthest.as_ref().is_none_or(|f| e.offset() > f.offset()) {
                    furthest = Some(e);
                }
                continue;
            }
        };
        if let Some(unsigned) = unsigned_twin(dialect) {
            // The twin reads the same bodies up to the signature block, and fails there
            // unless its first byte (R's length) opens a body.
            let opens_body = parsed
                .signature
                .is_some_and(|sig| is_body_type(sig.r().len() as u8, unsigned));
            if !opens_body {
                misfits[place(unsigned)] = true;
            }
        }
        match &chosen {
            None => {
                let unit = parsed.with(std::mem::take(&mut bodies));
                chosen = Some((parsed.vendor, dialect, unit));
            }
            Some((best, ..)) if parsed.vendor > *best => {}
            Some((best, _, kept)) if parsed.vendor == *best => {
                let other = fixed_dialect(data, command, dialect)?;
                if rival.is_none() && !same_reading(kept, &other) {
                    rival = Some(dialect);
                }
            }
            Some(_) => {
                chosen = Some((
                    parsed.vendor,
                    dialect,
                    fixed_dialect(data, command, dialect)?,
                ));
                rival = None;
            }
        }
    }
    match (chosen, rival) {
        (Some((_, first, _)), Some(second)) => Err(FrameError::Ambiguous { first, second }),
        (Some((_, dialect, unit)), None) => Ok((dialect, unit)),
        (None, _) => Err(furthest.unwrap_or(FrameError::DataUnitShort {
            command,
            length: data.len(),
        })),
    }
}

/// Whether `data` can end in a signature block: for some S length `s` (1–32) the byte `s + 1`
/// from the end is `s`. A necessary condition only, checked with at most 32 loads.
fn may_end_in_signature(data: &[u8]) -> bool {
    (1..=SIGNATURE_PART_LEN).any(|s| {
        data.len()
            .checked_sub(s + 1)
            .is_some_and(|at| at >= UNIT_HEAD_LEN && usize::from(data[at]) == s)
    })
}

/// The dialect whose bodies are `signed`'s without the signature block at the end.
fn unsigned_twin(signed: Dialect) -> Option<Dialect> {
    match signed {
        Dialect::Hj1239 => Some(Dialect::Hj1239Unsigned),
        Dialect::Hybrid => Some(Dialect::Gb17691),
        _ => None,
    }
}

/// A data unit read in one dialect, but for its bodies (kept by the caller, or not at all).
#[derive(Clone, Copy)]
struct Parsed {
    collected_at: EventTime,
    serial: u16,
    signature: Option<Signature>,
    /// Vendor-defined (0x80–0xFE) bodies among its bodies.
    vendor: usize,
}

impl Parsed {
    fn with(self, bodies: Vec<Body>) -> DataUnit {
        DataUnit {
            collected_at: self.collected_at,
            serial: self.serial,
            bodies,
            signature: self.signature,
        }
    }
}

/// The same bodies with the same times, wherever the signatures were.
fn same_reading(a: &DataUnit, b: &DataUnit) -> bool {
    a.collected_at == b.collected_at
        && a.bodies.len() == b.bodies.len()
        && a.bodies
            .iter()
            .zip(&b.bodies)
            .all(|(x, y)| x.collected_at == y.collected_at && x.info == y.info)
}

/// One pass over a real-time / reissue data unit in one dialect. Its bodies are pushed to
/// `bodies`; without it they are checked but not kept (and nothing is allocated): auto
/// detection's trial parses.
fn data_unit(
    data: &[u8],
    command: Command,
    dialect: Dialect,
    mut bodies: Option<&mut Vec<Body>>,
) -> Result<Parsed, FrameError> {
    let keep = bodies.is_some();
    let serial_at = dialect.serial_at();
    let head_len = if serial_at == SerialAt::AfterTime {
        UNIT_HEAD_LEN
    } else {
        TIME_LEN
    };
    let Some((head, mut rest)) = data.split_at_checked(head_len) else {
        return Err(FrameError::DataUnitShort {
            command,
            length: data.len(),
        });
    };
    let (collected_at, mut serial) = match *head {
        [t0, t1, t2, t3, t4, t5, s0, s1] => unit_head(&[t0, t1, t2, t3, t4, t5, s0, s1])?,
        [t0, t1, t2, t3, t4, t5] => (time([t0, t1, t2, t3, t4, t5], HEADER_LEN)?, 0),
        _ => {
            return Err(FrameError::DataUnitShort {
                command,
                length: data.len(),
            })
        }
    };
    let signing = dialect.signing();
    let mut first = true;
    let mut vendor = 0;
    let at = |rest: &[u8]| HEADER_LEN + data.len() - rest.len();
    // Reserved once, at the first body, so a parse that fails on its first body allocates
    // nothing.
    let capacity = rest.len() / TYPICAL_BODY_LEN + 1;
    let mut signature = None;
    while let Some((&info_type, after_type)) = rest.split_first() {
        let offset = at(rest);
        if signing == Signing::End {
            if is_signature_block(rest) {
                signature = Some(signature_block(rest, offset)?.0);
                break;
            }
            if !is_body_type(info_type, dialect) && usize::from(info_type) <= SIGNATURE_PART_LEN {
                // Not a body: a signature block that does not end the data unit.
                return Err(match signature_block(rest, offset) {
                    Err(e) => e,
                    Ok((_, extra)) => FrameError::TrailingBytes {
                        offset: at(extra),
                        count: extra.len(),
                        dialect,
                        what: "after the signature",
                    },
                });
            }
        }
        if !is_body_type(info_type, dialect) {
            return Err(unknown_or_trailing(rest, offset, dialect));
        }
        let (body_serial, after_type) = match serial_at {
            SerialAt::AfterTime => (None, after_type),
            SerialAt::AfterFirstType if !first => (None, after_type),
            SerialAt::AfterFirstType | SerialAt::AfterEveryType => {
                let (word, after) =
                    after_type
                        .split_first_chunk::<2>()
                        .ok_or(FrameError::BodyOverrun {
                            offset,
                            info_type,
                            needed: 2,
                            available: after_type.len(),
                        })?;
                let word = u16::from_be_bytes(*word);
                if first {
                    serial = word;
                }
                let per_body = serial_at == SerialAt::AfterEveryType;
                (per_body.then_some(word), after)
            }
        };
        first = false;
        let (body, remaining) = body(info_type, after_type, offset, dialect, keep)?;
        vendor += usize::from(INFO_USER_DEFINED.contains(&info_type));
        rest = remaining;
        let mut body_signature = None;
        if signing == Signing::EachBody {
            if rest.is_empty() {
                return Err(FrameError::MissingSignature {
                    offset: at(rest),
                    dialect,
                });
            }
            let (sig, remaining) = signature_block(rest, at(rest))?;
            body_signature = Some(sig);
            rest = remaining;
        }
        if let (Some(bodies), Some(mut body)) = (bodies.as_deref_mut(), body) {
            body.serial = body_serial;
            body.signature = body_signature;
            if bodies.capacity() == 0 {
                bodies.reserve_exact(capacity);
            }
            bodies.push(body);
        }
    }
    if signing == Signing::End && signature.is_none() {
        return Err(FrameError::MissingSignature {
            offset: HEADER_LEN + data.len(),
            dialect,
        });
    }
    Ok(Parsed {
        collected_at,
        serial,
        signature,
        vendor,
    })
}

/// Information types that open a body in `dialect`.
fn is_body_type(info_type: u8, dialect: Dialect) -> bool {
    match info_type {
        INFO_OBD | INFO_STREAM => true,
        INFO_TWC | INFO_HYBRID | INFO_TWC_NOX => dialect.hj_bodies(),
        t => INFO_USER_DEFINED.contains(&t),
    }
}

/// Whether `rest` is exactly one signature block, by its two lengths alone (checked before
/// every body of a signed data unit, so nothing is copied).
fn is_signature_block(rest: &[u8]) -> bool {
    let half = |len: Option<&u8>| {
        len.map(|&n| usize::from(n))
            .filter(|n| (1..=SIGNATURE_PART_LEN).contains(n))
    };
    let Some(r) = half(rest.first()) else {
        return false;
    };
    half(rest.get(1 + r)).is_some_and(|s| 2 + r + s == rest.len())
}

/// `Rlen R Slen S`, each half 1–32 bytes; returns the signature and the bytes after it.
fn signature_block(block: &[u8], offset: usize) -> Result<(Signature, &[u8]), FrameError> {
    let (r, rest) = signature_part(block, offset, "R length is not 1–32")?;
    let (s, rest) = signature_part(rest, offset + 1 + r.len(), "S length is not 1–32")?;
    let signature = Signature::new(r, s).ok_or(FrameError::BadSignature {
        offset,
        detail: "R or S length is not 1–32",
    })?;
    Ok((signature, rest))
}

/// One length-prefixed half of a signature block, at frame offset `offset`; `bad_length`
/// says which half when its length is not 1–32.
fn signature_part<'a>(
    bytes: &'a [u8],
    offset: usize,
    bad_length: &'static str,
) -> Result<(&'a [u8], &'a [u8]), FrameError> {
    let bad = |detail| FrameError::BadSignature { offset, detail };
    let (&len, rest) = bytes
        .split_first()
        .ok_or(bad("runs past the end of the data unit"))?;
    if len == 0 || usize::from(len) > SIGNATURE_PART_LEN {
        return Err(bad(bad_length));
    }
    rest.split_at_checked(usize::from(len))
        .ok_or(bad("runs past the end of the data unit"))
}

/// Reads one body after its type byte; returns it (with `keep`; without, it is only checked
/// and nothing is allocated) and the bytes after it.
fn body(
    info_type: u8,
    after_type: &[u8],
    offset: usize,
    dialect: Dialect,
    keep: bool,
) -> Result<(Option<Body>, &[u8]), FrameError> {
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
        let own = if *t == [0; TIME_LEN] {
            None
        } else {
            Some(time(*t, offset + 1)?)
        };
        (own, rest)
    } else {
        (None, after_type)
    };
    let (info, rest) = match info_type {
        INFO_STREAM => {
            let (b, rest) = fixed::<STREAM_BODY_LEN>(rest, overrun)?;
            (Some(Info::Stream(StreamBody::from_raw(*b))), rest)
        }
        INFO_OBD => obd(
            rest,
            offset + 1 + after_type.len() - rest.len(),
            overrun,
            keep,
        )?,
        INFO_TWC => {
            let (b, rest) = fixed::<30>(rest, overrun)?;
            (Some(Info::TwcWithoutNox(*b)), rest)
        }
        INFO_HYBRID => {
            let (b, rest) = fixed::<HYBRID_BODY_LEN>(rest, overrun)?;
            (Some(Info::HybridAddOn(HybridBody::from_raw(*b))), rest)
        }
        INFO_TWC_NOX => {
            let (b, rest) = fixed::<32>(rest, overrun)?;
            (Some(Info::TwcWithNox(*b)), rest)
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
            (Some(info), rest)
        }
    };
    let body = info.filter(|_| keep).map(|info| Body {
        collected_at,
        info,
        signature: None,
        serial: None,
    });
    Ok((body, rest))
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
    keep: bool,
) -> Result<(Option<Info>, &[u8]), FrameError> {
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
    if !keep {
        return Ok((None, rest));
    }
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
    Ok((Some(Info::Obd(Box::new(body))), rest))
}

/// A type byte no dialect body starts with. Reported as trailing bytes when the rest is
/// recognisably not a body — padding (all 0x00 or all 0xFF), or in an unsigned dialect a
/// well-formed signature block (the source is probably signed) — and as an unknown type
/// otherwise.
fn unknown_or_trailing(rest: &[u8], offset: usize, dialect: Dialect) -> FrameError {
    let info_type = rest.first().copied().unwrap_or_default();
    let padding = (info_type == 0x00 || info_type == 0xFF) && rest.iter().all(|&b| b == info_type);
    let signature = dialect.signing() == Signing::Unsigned && is_signature_block(rest);
    if padding || signature {
        FrameError::TrailingBytes {
            offset,
            count: rest.len(),
            dialect,
            what: if padding {
                "padding"
            } else {
                "a signature block, which this dialect does not have"
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
