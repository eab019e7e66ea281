//! The input edge: a Kafka record's bytes → a validated `model::Event`.
//!
//! Everything that can be wrong with input is decided here and named by a `DecodeError`,
//! whose `reason()` is the DLQ header and the metric label. Values are range-checked so rules
//! never see garbage; a VIN with a bad check digit is flagged by `Vin::check`, not rejected.

pub mod frame;
mod protobuf;
pub mod raw;

use crate::model::{
    Alert, Event, EventTime, NeighbourListing, PlateRead, RecordRef, Region, Vin, VinError,
};
use crate::recording::Record;
use crate::topics::{TopicKind, Topics};

/// Evidence dated further than this after its Kafka record was written is impossible.
pub const MAX_FUTURE_SKEW_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("topic {0} is not an input topic")]
    UnknownTopic(String),
    #[error("tombstone on a topic that has no deletion meaning")]
    Tombstone,
    #[error(transparent)]
    Frame(#[from] frame::FrameError),
    #[error("bad record header: {0}")]
    BadHeader(String),
    #[error("not a valid {message}: {detail}")]
    Protobuf {
        message: &'static str,
        detail: String,
    },
    #[error("invalid VIN {vin:?}: {source}")]
    InvalidVin { vin: String, source: VinError },
    #[error("record key {key:?} is not the message VIN {vin}")]
    KeyMismatch { key: String, vin: String },
    #[error("{0} is missing")]
    MissingField(&'static str),
    #[error("impossible time {0}")]
    ImpossibleTime(String),
    #[error("invalid plate {plate:?}: {source}")]
    InvalidPlate {
        plate: String,
        source: crate::model::PlateError,
    },
    #[error("plate {plate:?} has colour code {code}: a plate is identified by its text and colour together")]
    PlateColour { plate: String, code: i32 },
    #[error("unknown terminal command {0}")]
    UnknownCommand(i32),
    #[error("a record mirrored from {alias} names region code {code:?}")]
    Region { alias: &'static str, code: String },
    #[error("record key {key:?} is not the alert id {id:?}")]
    AlertKey { key: String, id: String },
    #[error("unknown alert level {0}")]
    AlertLevel(i32),
    #[error("alert area: {0}")]
    AlertArea(String),
    #[error("unknown fuel type {0:?} in an alert's restrictions")]
    AlertFuel(String),
}

/// A decoded input record.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// Evidence about the vehicle it names by VIN.
    Vehicle(Event),
    /// Evidence naming only a plate: resolved to a VIN through the plate table.
    Plate(PlateRead),
    /// A tombstone on `tw.registry`: the vehicle carries no plate from `at`.
    Deregistration { vin: Vin, at: EventTime },
    /// A neighbouring province's listing or delisting of the vehicle.
    NeighbourListing { vin: Vin, listing: NeighbourListing },
    /// A tombstone on a neighbour's shared topic: it holds nothing on the vehicle any more.
    NeighbourForgot { vin: Vin, region: Region },
    /// A heavy-pollution alert, new or changed.
    Alert(Alert),
    /// An alert's tombstone: removed whole (a revoked alert is an `Alert` ending at its
    /// revocation).
    AlertWithdrawn { id: String },
}

impl DecodeError {
    /// Stable, low-cardinality reason: the DLQ header value and metric label.
    pub fn reason(&self) -> &'static str {
        match self {
            DecodeError::UnknownTopic(_) => "unknown_topic",
            DecodeError::Tombstone => "tombstone",
            DecodeError::Frame(e) => e.reason(),
            DecodeError::BadHeader(_) => "bad_header",
            DecodeError::Protobuf { .. } => "bad_protobuf",
            DecodeError::InvalidVin { .. } => "invalid_vin",
            DecodeError::KeyMismatch { .. } => "key_mismatch",
            DecodeError::MissingField(_) => "missing_field",
            DecodeError::ImpossibleTime(_) => "impossible_time",
            DecodeError::InvalidPlate { .. } | DecodeError::PlateColour { .. } => "invalid_plate",
            DecodeError::UnknownCommand(_) => "unknown_command",
            DecodeError::Region { .. } => "region_mismatch",
            DecodeError::AlertKey { .. } => "key_mismatch",
            DecodeError::AlertLevel(_) => "unknown_alert_level",
            DecodeError::AlertArea(_) => "bad_area",
            DecodeError::AlertFuel(_) => "unknown_fuel",
        }
    }
}

/// How raw terminal frames are read (settings `raw_dialect`, `sample_interval`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// The dialect of `tw.telemetry.raw` unless a record's `tw-dialect` header says otherwise.
    pub raw_dialect: frame::DialectChoice,
    /// Spacing of the stream bodies of a GB 17691 / hybrid frame, which share one time.
    pub sample_interval: std::time::Duration,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            raw_dialect: frame::DialectChoice::Auto,
            sample_interval: std::time::Duration::from_secs(1),
        }
    }
}

/// Decodes one input record.
pub fn record(record: &Record, topics: &Topics, options: &Options) -> Result<Input, DecodeError> {
    let input = if let Some((region, name)) = topics.neighbour(&record.topic) {
        let source = RecordRef {
            topic: name,
            partition: record.partition,
            offset: record.offset,
        };
        protobuf::shared(region, record, source)?
    } else {
        ours(record, topics, options)?
    };
    // A plate-only record is keyed by its plate, and re-keyed once resolved.
    let vin = match &input {
        Input::Vehicle(event) => event.vin,
        Input::Deregistration { vin, .. }
        | Input::NeighbourListing { vin, .. }
        | Input::NeighbourForgot { vin, .. } => *vin,
        Input::Plate(_) => return Ok(input),
        Input::Alert(alert) => {
            return match &record.key {
                Some(key) if key.as_slice() != alert.id.as_bytes() => Err(DecodeError::AlertKey {
                    key: String::from_utf8_lossy(key).into_owned(),
                    id: alert.id.clone(),
                }),
                _ => Ok(input),
            }
        }
        Input::AlertWithdrawn { .. } => return Ok(input),
    };
    if let Some(key) = &record.key {
        if key.as_slice() != vin.as_bytes() {
            return Err(DecodeError::KeyMismatch {
                key: String::from_utf8_lossy(key).into_owned(),
                vin: vin.to_string(),
            });
        }
    }
    Ok(input)
}

/// A record of one of our own input topics.
fn ours(record: &Record, topics: &Topics, options: &Options) -> Result<Input, DecodeError> {
    let kind = topics
        .kind(&record.topic)
        .filter(|k| TopicKind::INPUTS.contains(k))
        .ok_or_else(|| DecodeError::UnknownTopic(record.topic.clone()))?;
    let source = RecordRef {
        topic: topics.shared_name(kind),
        partition: record.partition,
        offset: record.offset,
    };
    let input = match (kind, record.value.as_deref()) {
        (TopicKind::TelemetryRaw, Some(bytes)) => {
            let (vin, time, kind) = raw::event(record, bytes, options)?;
            Input::Vehicle(Event {
                vin,
                time,
                source,
                kind,
            })
        }
        _ => protobuf::input(kind, record, source)?,
    };
    Ok(input)
}

/// Checks an evidence time against the protocol's range and the record's own timestamp.
pub(crate) fn plausible(time: EventTime, record_timestamp: i64) -> Result<EventTime, DecodeError> {
    // Saturating: a producer may stamp a record with any i64, up to i64::MAX.
    let too_new =
        record_timestamp > 0 && time.0 > record_timestamp.saturating_add(MAX_FUTURE_SKEW_MS);
    if time.secs().is_none() || too_new {
        return Err(DecodeError::ImpossibleTime(time.rfc3339()));
    }
    Ok(time)
}
