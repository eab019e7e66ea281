//! `FrameError`: every way a raw terminal frame can be refused, one variant per reason, with
//! a stable snake_case `reason()` used as DLQ reason and metric label.
//!
//! Pure data. Messages say what was wrong and where (offsets count from the frame's first
//! byte); they never carry the payload beyond the few bytes at fault.

use super::{Command, Dialect};

/// Why a frame was not decoded. `reason()` is the DLQ reason and metric label.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    #[error("frame is {actual} bytes, needs {needed}")]
    Truncated { needed: usize, actual: usize },
    #[error("frame does not start with \"##\" (first bytes {found:02X?})")]
    BadStart { found: Vec<u8> },
    #[error("frame is {actual} bytes, header declares 24 + L + 1 = {declared}")]
    LengthMismatch { declared: usize, actual: usize },
    #[error(
        "BCC at offset {offset} is {found:#04X}, XOR of the preceding bytes is {expected:#04X}"
    )]
    BadBcc {
        offset: usize,
        expected: u8,
        found: u8,
    },
    #[error("unknown command {code:#04X} at offset 2")]
    UnknownCommand { code: u8 },
    #[error("encryption code {code:#04X} at offset 21: only plaintext (0x01) is decoded")]
    Encrypted { code: u8 },
    #[error("{command} data unit is {length} bytes, its layout takes {expected}")]
    DataUnitLength {
        command: Command,
        length: usize,
        expected: usize,
    },
    #[error("{command} data unit is {length} bytes, shorter than time + serial (8)")]
    DataUnitShort { command: Command, length: usize },
    #[error("impossible time {bytes:?} (year−2000, month, day, hour, minute, second) at offset {offset}")]
    BadTime { offset: usize, bytes: [u8; 6] },
    #[error("information type {info_type:#04X} at offset {offset} is not defined in {dialect}")]
    UnknownInfoType {
        offset: usize,
        info_type: u8,
        dialect: Dialect,
    },
    #[error("body type {info_type:#04X} at offset {offset} needs {needed} bytes, the data unit has {available} left")]
    BodyOverrun {
        offset: usize,
        info_type: u8,
        needed: usize,
        available: usize,
    },
    #[error("OBD DTC count {count:#04X} at offset {offset} is neither 0–253 nor 0xFE")]
    DtcCount { offset: usize, count: u8 },
    #[error("{dialect} data unit ends at offset {offset} without its signature block")]
    MissingSignature { offset: usize, dialect: Dialect },
    #[error("malformed signature block at offset {offset}: {detail}")]
    BadSignature { offset: usize, detail: &'static str },
    #[error("data unit fits both the {first} and the {second} layout, with different bodies: configure the source's dialect")]
    Ambiguous { first: Dialect, second: Dialect },
    #[error(
        "{count} bytes at offset {offset} follow the last {dialect} body or signature ({what})"
    )]
    TrailingBytes {
        offset: usize,
        count: usize,
        dialect: Dialect,
        what: &'static str,
    },
}

impl FrameError {
    /// Stable, low-cardinality reason: the DLQ header value and metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            FrameError::Truncated { .. } => "frame_truncated",
            FrameError::BadStart { .. } => "frame_bad_start",
            FrameError::LengthMismatch { .. } => "frame_length_mismatch",
            FrameError::BadBcc { .. } => "frame_bad_bcc",
            FrameError::UnknownCommand { .. } => "frame_unknown_command",
            FrameError::Encrypted { .. } => "frame_encrypted",
            FrameError::DataUnitLength { .. } => "frame_data_unit_length",
            FrameError::DataUnitShort { .. } => "frame_data_unit_short",
            FrameError::BadTime { .. } => "frame_bad_time",
            FrameError::UnknownInfoType { .. } => "frame_unknown_info_type",
            FrameError::BodyOverrun { .. } => "frame_body_overrun",
            FrameError::DtcCount { .. } => "frame_dtc_count",
            FrameError::MissingSignature { .. } => "frame_missing_signature",
            FrameError::BadSignature { .. } => "frame_bad_signature",
            FrameError::TrailingBytes { .. } => "frame_trailing_bytes",
            FrameError::Ambiguous { .. } => "frame_ambiguous",
        }
    }

    /// Every reason label, for pre-registering metrics.
    pub const REASONS: [&'static str; 16] = [
        "frame_truncated",
        "frame_bad_start",
        "frame_length_mismatch",
        "frame_bad_bcc",
        "frame_unknown_command",
        "frame_encrypted",
        "frame_data_unit_length",
        "frame_data_unit_short",
        "frame_bad_time",
        "frame_unknown_info_type",
        "frame_body_overrun",
        "frame_dtc_count",
        "frame_missing_signature",
        "frame_bad_signature",
        "frame_trailing_bytes",
        "frame_ambiguous",
    ];

    /// How far into the frame the problem was found; used by auto detection to report the
    /// dialect whose parse got furthest.
    pub(super) fn offset(&self) -> usize {
        match self {
            FrameError::BadTime { offset, .. }
            | FrameError::UnknownInfoType { offset, .. }
            | FrameError::BodyOverrun { offset, .. }
            | FrameError::DtcCount { offset, .. }
            | FrameError::MissingSignature { offset, .. }
            | FrameError::BadSignature { offset, .. }
            | FrameError::TrailingBytes { offset, .. } => *offset,
            _ => 0,
        }
    }
}
