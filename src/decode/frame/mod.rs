//! Raw terminal frames (GB 17691-2018 Annex Q, HJ 1239.3-2021 and the vendor hybrid of the
//! two) ↔ `Frame` values: the types and the dialect choice. Layout as in domain.md §2;
//! parsing is in `decode` (rejections in `error`), building frames in `encode`, the bodies in
//! `stream`, `hybrid` and `obd`.
//!
//! Pure codec. No I/O, no clock, no Kafka, no `model::Event`: turning a `Frame` into events
//! (spreading GB 17691 samples over time, VIN checks, plausibility against the record time)
//! is the caller's job. Decoding never panics and never reads past the frame; every way a
//! frame can be wrong is one `FrameError` variant with a stable `reason()` label.

mod decode;
mod encode;
mod error;
mod hybrid;
pub mod json;
mod obd;
mod stream;

#[cfg(test)]
mod tests;

use std::fmt;
use std::str::FromStr;

use crate::model::{EventTime, Position, Reading, Vin, VinError};

pub use decode::decode;
pub use encode::{encode, encode_into, EncodeError};
pub use error::FrameError;
pub use hybrid::{HybridBody, HybridField, HYBRID_BODY_LEN, HYBRID_FIELDS};
pub use obd::{
    monitor_bit, monitors_set, BitOrder, DecodedDtc, Dtc, J1939Dtc, Monitor, ObdBody, ObdProtocol,
    SaeDtc, UnknownBitOrder, DTC_COUNT_INVALID, DTC_COUNT_MAX, OBD_FIXED_LEN,
};
pub use stream::{
    FieldSpec, StreamBody, StreamField, ValueError, POSITION_STATUS_AT, STREAM_BODY_LEN,
    STREAM_FIELDS,
};

/// Bytes before the data unit: start, command, VIN, version, encryption, length.
pub const HEADER_LEN: usize = 24;
/// The only encryption code that is decoded.
pub const PLAINTEXT: u8 = 0x01;
/// The longest half of an SM2 signature (R or S); each half is preceded by its length.
pub const SIGNATURE_PART_LEN: usize = 32;
/// The byte at offset 3 of a GB/T 32960-style header (response flag "command"), where the
/// standard header has the VIN's first character.
pub const RESPONSE_FLAG: u8 = 0xFE;

/// How a source packs real-time and reissue data units (the other commands are the same in
/// every dialect). Each is a layout seen in public frames (domain.md §2); the names are the
/// values of the `tw-dialect` header and the `raw_dialect` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// `time serial { type body }*`: bodies share the frame time; no signature.
    Gb17691,
    /// `time serial { type time body }* Rlen R Slen S`: every body has its own time.
    Hj1239,
    /// Vendor hybrid: `time serial { type body }* Rlen R Slen S` — HJ 1239's signature block,
    /// GB 17691's bodies without time.
    Hybrid,
    /// A large vendor's pre-HJ 1239 terminals: `time serial { type body Rlen R Slen S }*`, a
    /// signature block after every body, no body time.
    SignedBodies,
    /// `time serial { type time body }*`: HJ 1239's body times without its signature block.
    Hj1239Unsigned,
    /// `time type serial body { type body }*`: GB 17691 with the frame serial after the first
    /// type byte instead of after the time (a literal reading of the standard's table).
    SerialAfterType,
    /// `time { type serial body }*`: GB 17691 with a 2-byte serial (信息流水号) after every type
    /// byte and none after the time, as several terminal firmwares write it.
    BodySerials,
}

/// Where a dialect puts the 2-byte serial of a data unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SerialAt {
    /// After the time: every standard layout.
    AfterTime,
    /// After the first body's type byte.
    AfterFirstType,
    /// After every body's type byte, one serial per body.
    AfterEveryType,
}

/// Where a dialect puts SM2 signature blocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signing {
    Unsigned,
    /// One block ending the data unit.
    End,
    /// One block after every body.
    EachBody,
}

impl Dialect {
    /// Every dialect, in the order auto detection prefers when two parses of a data unit read
    /// the same bodies: the standards before the vendor layouts, a signed one before an
    /// unsigned one (an empty signed unit is HJ 1239's, an empty unsigned one GB 17691's; one
    /// body and one signature block the hybrid's).
    pub const ALL: [Dialect; 7] = [
        Dialect::Hj1239,
        Dialect::Hybrid,
        Dialect::Gb17691,
        Dialect::SignedBodies,
        Dialect::Hj1239Unsigned,
        Dialect::SerialAfterType,
        Dialect::BodySerials,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Dialect::Gb17691 => "gb17691",
            Dialect::Hj1239 => "hj1239",
            Dialect::Hybrid => "hybrid",
            Dialect::SignedBodies => "signed-bodies",
            Dialect::Hj1239Unsigned => "hj1239-unsigned",
            Dialect::SerialAfterType => "serial-after-type",
            Dialect::BodySerials => "body-serials",
        }
    }

    /// Bodies carry their own 6-byte time.
    pub fn timed_bodies(self) -> bool {
        matches!(self, Dialect::Hj1239 | Dialect::Hj1239Unsigned)
    }

    pub fn serial_at(self) -> SerialAt {
        match self {
            Dialect::SerialAfterType => SerialAt::AfterFirstType,
            Dialect::BodySerials => SerialAt::AfterEveryType,
            _ => SerialAt::AfterTime,
        }
    }

    pub fn signing(self) -> Signing {
        match self {
            Dialect::Gb17691
            | Dialect::Hj1239Unsigned
            | Dialect::SerialAfterType
            | Dialect::BodySerials => Signing::Unsigned,
            Dialect::Hj1239 | Dialect::Hybrid => Signing::End,
            Dialect::SignedBodies => Signing::EachBody,
        }
    }

    /// Information types 0x03–0x05 (HJ 1239's) are defined: in HJ 1239 and the layouts that
    /// sign like it.
    pub fn hj_bodies(self) -> bool {
        matches!(
            self,
            Dialect::Hj1239 | Dialect::Hybrid | Dialect::SignedBodies | Dialect::Hj1239Unsigned
        )
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dialect {
    type Err = UnknownDialect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Dialect::ALL
            .into_iter()
            .find(|d| d.as_str() == s)
            .ok_or_else(|| UnknownDialect(s.to_owned()))
    }
}

/// What the configuration (per topic, or a record header) asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DialectChoice {
    Fixed(Dialect),
    /// Pick per frame the dialect whose parse fills the data unit exactly (see [`decode`]).
    #[default]
    Auto,
}

impl DialectChoice {
    /// Every choice a source can be configured with: auto, then every dialect.
    pub const ALL: [DialectChoice; 8] = [
        DialectChoice::Auto,
        DialectChoice::Fixed(Dialect::ALL[0]),
        DialectChoice::Fixed(Dialect::ALL[1]),
        DialectChoice::Fixed(Dialect::ALL[2]),
        DialectChoice::Fixed(Dialect::ALL[3]),
        DialectChoice::Fixed(Dialect::ALL[4]),
        DialectChoice::Fixed(Dialect::ALL[5]),
        DialectChoice::Fixed(Dialect::ALL[6]),
    ];
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown terminal dialect {0:?} (expected auto, gb17691, hj1239, hybrid, signed-bodies, hj1239-unsigned, serial-after-type or body-serials)")]
pub struct UnknownDialect(pub String);

impl FromStr for DialectChoice {
    type Err = UnknownDialect;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "auto" => Ok(DialectChoice::Auto),
            other => other.parse().map(DialectChoice::Fixed),
        }
    }
}

impl fmt::Display for DialectChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DialectChoice::Fixed(d) => d.fmt(f),
            DialectChoice::Auto => f.write_str("auto"),
        }
    }
}

/// The command byte (offset 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Command {
    Login,
    Realtime,
    Reissue,
    Logout,
    TimeSync,
    /// HJ 1239 only.
    RemovalAlarm,
    /// HJ 1239 only.
    Activation,
    /// HJ 1239 only.
    ActivationResponse,
}

impl Command {
    pub fn from_code(code: u8) -> Option<Command> {
        Some(match code {
            0x01 => Command::Login,
            0x02 => Command::Realtime,
            0x03 => Command::Reissue,
            0x04 => Command::Logout,
            0x05 => Command::TimeSync,
            0x06 => Command::RemovalAlarm,
            0x07 => Command::Activation,
            0x08 => Command::ActivationResponse,
            _ => return None,
        })
    }

    pub fn code(self) -> u8 {
        match self {
            Command::Login => 0x01,
            Command::Realtime => 0x02,
            Command::Reissue => 0x03,
            Command::Logout => 0x04,
            Command::TimeSync => 0x05,
            Command::RemovalAlarm => 0x06,
            Command::Activation => 0x07,
            Command::ActivationResponse => 0x08,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Command::Login => "login",
            Command::Realtime => "realtime",
            Command::Reissue => "reissue",
            Command::Logout => "logout",
            Command::TimeSync => "time_sync",
            Command::RemovalAlarm => "removal_alarm",
            Command::Activation => "activation",
            Command::ActivationResponse => "activation_response",
        }
    }

    /// Defined by HJ 1239 only; such frames always report `Dialect::Hj1239`.
    pub fn hj_only(self) -> bool {
        matches!(
            self,
            Command::RemovalAlarm | Command::Activation | Command::ActivationResponse
        )
    }
}

impl fmt::Display for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One decoded frame. Encryption is always plaintext (anything else is rejected), so it is
/// not stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The header VIN as sent; see [`Frame::vin`]. Kept raw so that a bad VIN does not make
    /// the frame undecodable: the caller decides what to do with it.
    pub vin_bytes: [u8; 17],
    /// `None` for a GB/T 32960-style header (`## cmd FE VIN enc len`: a response flag before
    /// the VIN and no software-version byte), which some gateways put in front of the same
    /// data units.
    pub software_version: Option<u8>,
    /// The dialect the data unit was read in: the fixed choice, or the one auto detection
    /// picked. HJ-only commands report `Hj1239`; under `Auto` the other non-data commands
    /// report `Gb17691`, the standard that defines them.
    pub dialect: Dialect,
    pub content: Content,
}

impl Frame {
    pub fn command(&self) -> Command {
        match &self.content {
            Content::Login(_) => Command::Login,
            Content::Realtime(_) => Command::Realtime,
            Content::Reissue(_) => Command::Reissue,
            Content::Logout(_) => Command::Logout,
            Content::TimeSync => Command::TimeSync,
            Content::RemovalAlarm(_) => Command::RemovalAlarm,
            Content::Activation(_) => Command::Activation,
            Content::ActivationResponse(_) => Command::ActivationResponse,
        }
    }

    /// The header VIN, if it is shaped like one (17 ASCII alphanumerics). A bad check digit is
    /// not an error here: see `Vin::check`.
    pub fn vin(&self) -> Result<Vin, VinError> {
        Vin::from_bytes(&self.vin_bytes)
    }

    /// The frame's own collection time, for commands that carry one.
    pub fn collected_at(&self) -> Option<EventTime> {
        match &self.content {
            Content::Login(l) => Some(l.collected_at),
            Content::Realtime(d) | Content::Reissue(d) => Some(d.collected_at),
            Content::Logout(l) => Some(l.collected_at),
            Content::RemovalAlarm(a) => Some(a.collected_at),
            Content::TimeSync | Content::Activation(_) | Content::ActivationResponse(_) => None,
        }
    }

    pub fn data_unit(&self) -> Option<&DataUnit> {
        match &self.content {
            Content::Realtime(d) | Content::Reissue(d) => Some(d),
            _ => None,
        }
    }
}

/// What the command carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    Login(Login),
    Realtime(DataUnit),
    /// 补发: data stored while offline, same layout as real-time.
    Reissue(DataUnit),
    Logout(Logout),
    /// Empty data unit.
    TimeSync,
    RemovalAlarm(RemovalAlarm),
    /// domain.md gives no layout for activation: the data unit is kept as opaque bytes.
    Activation(Vec<u8>),
    /// domain.md gives no layout for the activation response: opaque bytes.
    ActivationResponse(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Login {
    pub collected_at: EventTime,
    pub serial: u16,
    /// SIM ICCID, 20 ASCII characters as sent (not validated).
    pub iccid: [u8; 20],
}

impl Login {
    pub fn iccid_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.iccid).ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Logout {
    pub collected_at: EventTime,
    /// Equals the login serial.
    pub serial: u16,
}

/// Terminal-removal alarm (HJ 1239, 0x06).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RemovalAlarm {
    pub collected_at: EventTime,
    pub serial: u16,
    pub position_status: u8,
    pub longitude_raw: u32,
    pub latitude_raw: u32,
}

impl RemovalAlarm {
    /// Same bits, ranges and sentinels as the data-stream position.
    pub fn position(&self) -> Reading<Position> {
        stream::position_from_raw(self.position_status, self.longitude_raw, self.latitude_raw)
    }
}

/// A real-time or reissue data unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataUnit {
    /// The frame's collection time; in GB 17691 and the hybrid also the time of every body.
    pub collected_at: EventTime,
    /// Diagnostics only: never a dedupe key. In `Dialect::BodySerials` the first body's serial
    /// (0 without bodies); each body keeps its own.
    pub serial: u16,
    /// Bodies in wire order.
    pub bodies: Vec<Body>,
    /// Present exactly when the dialect signs the data unit at its end (HJ 1239, hybrid).
    pub signature: Option<Signature>,
}

impl DataUnit {
    /// Data-stream bodies with their ordinal among stream bodies (0, 1, …) and their own time
    /// (HJ 1239) — GB 17691 and hybrid callers place ordinal `n` at frame time + n × spacing.
    pub fn streams(&self) -> impl Iterator<Item = StreamEntry> + '_ {
        self.bodies
            .iter()
            .filter_map(|b| match &b.info {
                Info::Stream(s) => Some((b.collected_at, *s)),
                _ => None,
            })
            .enumerate()
            .map(|(ordinal, (collected_at, body))| StreamEntry {
                ordinal,
                collected_at,
                body,
            })
    }

    /// OBD bodies with their own time (timed dialects only).
    pub fn obd(&self) -> impl Iterator<Item = (Option<EventTime>, &ObdBody)> + '_ {
        self.bodies.iter().filter_map(|b| match &b.info {
            Info::Obd(o) => Some((b.collected_at, &**o)),
            _ => None,
        })
    }
}

/// One data-stream body of a data unit, see [`DataUnit::streams`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StreamEntry {
    pub ordinal: usize,
    pub collected_at: Option<EventTime>,
    pub body: StreamBody,
}

/// One information body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Body {
    /// The body's own time. `None` in the untimed dialects, and in the timed ones when the
    /// wire carried six zero bytes (the ECU gave no time): the caller falls back to the
    /// frame time and flags it.
    pub collected_at: Option<EventTime>,
    pub info: Info,
    /// The signature block after this body: present exactly in `Dialect::SignedBodies`.
    pub signature: Option<Signature>,
    /// The serial after this body's type byte: present exactly in `Dialect::BodySerials`.
    pub serial: Option<u16>,
}

/// An information body by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Info {
    /// 0x01. Boxed: the largest body, and about one per frame, so the rest stay small.
    Obd(Box<ObdBody>),
    /// 0x02, diesel DPF/SCR data stream.
    Stream(StreamBody),
    /// 0x03 (HJ 1239 and hybrid), TWC gas engine without NOx sensor. domain.md gives no field
    /// layout, so the 30 bytes are kept opaque.
    TwcWithoutNox([u8; 30]),
    /// 0x04 (HJ 1239 and hybrid), hybrid add-on.
    HybridAddOn(HybridBody),
    /// 0x05 (HJ 1239 and hybrid), TWC with NOx sensor. No layout in domain.md: opaque.
    TwcWithNox([u8; 32]),
    /// 0x80–0xFE, vendor-defined: kept opaque (the one body that allocates). On the wire the
    /// 2-byte big-endian length of `data` follows the type byte in GB 17691 and the hybrid,
    /// and follows the body time in HJ 1239; it counts `data` only.
    UserDefined { info_type: u8, data: Vec<u8> },
}

impl Info {
    pub fn info_type(&self) -> u8 {
        match self {
            Info::Obd(_) => INFO_OBD,
            Info::Stream(_) => INFO_STREAM,
            Info::TwcWithoutNox(_) => INFO_TWC,
            Info::HybridAddOn(_) => INFO_HYBRID,
            Info::TwcWithNox(_) => INFO_TWC_NOX,
            Info::UserDefined { info_type, .. } => *info_type,
        }
    }
}

pub const INFO_OBD: u8 = 0x01;
pub const INFO_STREAM: u8 = 0x02;
pub const INFO_TWC: u8 = 0x03;
pub const INFO_HYBRID: u8 = 0x04;
pub const INFO_TWC_NOX: u8 = 0x05;
/// Vendor-defined information types.
pub const INFO_USER_DEFINED: std::ops::RangeInclusive<u8> = 0x80..=0xFE;

/// SM2 signature (R, S): `Rlen R Slen S` on the wire, each half 1–32 bytes (public test
/// frames carry 20). Kept as sent so that a frame re-encodes to its own bytes; not verified.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signature {
    r: [u8; SIGNATURE_PART_LEN],
    r_len: u8,
    s: [u8; SIGNATURE_PART_LEN],
    s_len: u8,
}

impl Signature {
    /// `None` unless both halves are 1–32 bytes long.
    pub fn new(r: &[u8], s: &[u8]) -> Option<Signature> {
        let part = |bytes: &[u8]| {
            let len = u8::try_from(bytes.len()).ok().filter(|&n| n > 0)?;
            let mut out = [0; SIGNATURE_PART_LEN];
            out.get_mut(..bytes.len())?.copy_from_slice(bytes);
            Some((out, len))
        };
        let ((r, r_len), (s, s_len)) = (part(r)?, part(s)?);
        Some(Signature { r, r_len, s, s_len })
    }

    pub fn r(&self) -> &[u8] {
        self.r.get(..usize::from(self.r_len)).unwrap_or_default()
    }

    pub fn s(&self) -> &[u8] {
        self.s.get(..usize::from(self.s_len)).unwrap_or_default()
    }

    /// Bytes on the wire: both lengths and both halves.
    pub fn wire_len(&self) -> usize {
        2 + self.r().len() + self.s().len()
    }
}
