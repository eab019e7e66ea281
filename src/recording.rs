//! Recordings: JSON Lines, one Kafka record per line, so a stream can be written by hand,
//! diffed and replayed byte-for-byte.
//!
//! ```json
//! {"topic":"tw.telemetry","partition":0,"offset":17,"timestamp":1764288000000,
//!  "key":"LGDCHA1G8MA127733","headers":{"tw-dialect":"hj1239"},"value":{...}}
//! ```
//!
//! `value` is the canonical protobuf JSON mapping of the topic's message (field names as in the
//! `.proto` files), a hex string for raw frames (`tw.telemetry.raw`), or `null` for a
//! tombstone. In memory a record's value is always the bytes Kafka would carry.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use prost::Message;
use serde::{Deserialize, Serialize};

use crate::decode::frame::{self, DialectChoice};
use crate::proto;
use crate::topics::{TopicKind, Topics};

/// One Kafka record as the pipeline sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    /// Milliseconds since the Unix epoch (Kafka's record timestamp).
    pub timestamp: i64,
    pub key: Option<Vec<u8>>,
    pub headers: BTreeMap<String, String>,
    /// `None` is a tombstone.
    pub value: Option<Vec<u8>>,
}

#[derive(Debug, thiserror::Error)]
pub enum RecordingError {
    #[error("line {line}: {message}")]
    Line { line: usize, message: String },
    #[error("reading recording: {0}")]
    Io(#[from] std::io::Error),
}

#[derive(Serialize, Deserialize)]
struct Line {
    topic: String,
    #[serde(default)]
    partition: i32,
    #[serde(default)]
    offset: i64,
    timestamp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    headers: BTreeMap<String, String>,
    #[serde(default)]
    value: serde_json::Value,
}

fn to_json<M: Message + Default + Serialize>(bytes: &[u8]) -> Result<serde_json::Value, String> {
    let message = M::decode(bytes).map_err(|e| format!("value is not a valid protobuf: {e}"))?;
    serde_json::to_value(&message).map_err(|e| e.to_string())
}

fn from_json<M: Message + for<'de> Deserialize<'de>>(
    value: serde_json::Value,
) -> Result<Vec<u8>, String> {
    let message: M = serde_json::from_value(value).map_err(|e| e.to_string())?;
    Ok(message.encode_to_vec())
}

/// Value bytes → JSON in the topic's mapping. Unknown topics and undecodable values are kept as
/// hex so a recording never loses a record.
fn value_to_json(kind: Option<TopicKind>, bytes: &[u8]) -> serde_json::Value {
    let converted = match kind {
        Some(TopicKind::Telemetry) => to_json::<proto::TerminalReport>(bytes),
        Some(TopicKind::Inspections) => to_json::<proto::Inspection>(bytes),
        Some(TopicKind::Reinspections) => to_json::<proto::Reinspection>(bytes),
        Some(TopicKind::Registry) => to_json::<proto::VehicleRegistration>(bytes),
        Some(TopicKind::Permits) => to_json::<proto::EntryPermit>(bytes),
        Some(TopicKind::Blacklist) => to_json::<proto::BlacklistEvent>(bytes),
        Some(TopicKind::Cases) => to_json::<proto::EnforcementCase>(bytes),
        Some(TopicKind::SharedOverlimit) => to_json::<proto::SharedOverlimit>(bytes),
        Some(TopicKind::Alerts) => to_json::<proto::HeavyPollutionAlert>(bytes),
        Some(
            TopicKind::TelemetryRaw
            | TopicKind::Dlq
            | TopicKind::Changelog
            | TopicKind::EvidenceByVin,
        )
        | None => Err(String::new()),
    };
    converted.unwrap_or_else(|_| serde_json::Value::String(hex(bytes)))
}

/// JSON → value bytes. A string is always hex bytes (raw frames, or a garbage record kept
/// verbatim); an object is the topic's protobuf message.
fn value_from_json(kind: Option<TopicKind>, value: serde_json::Value) -> Result<Vec<u8>, String> {
    if let serde_json::Value::String(text) = &value {
        return unhex(text).ok_or_else(|| "value string is not hex".to_owned());
    }
    match kind {
        Some(TopicKind::Telemetry) => from_json::<proto::TerminalReport>(value),
        Some(TopicKind::Inspections) => from_json::<proto::Inspection>(value),
        Some(TopicKind::Reinspections) => from_json::<proto::Reinspection>(value),
        Some(TopicKind::Registry) => from_json::<proto::VehicleRegistration>(value),
        Some(TopicKind::Permits) => from_json::<proto::EntryPermit>(value),
        Some(TopicKind::Blacklist) => from_json::<proto::BlacklistEvent>(value),
        Some(TopicKind::Cases) => from_json::<proto::EnforcementCase>(value),
        Some(TopicKind::SharedOverlimit) => from_json::<proto::SharedOverlimit>(value),
        Some(TopicKind::Alerts) => from_json::<proto::HeavyPollutionAlert>(value),
        Some(
            TopicKind::TelemetryRaw
            | TopicKind::Dlq
            | TopicKind::Changelog
            | TopicKind::EvidenceByVin,
        )
        | None => Err("this topic's values must be hex strings".to_owned()),
    }
}

pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

pub fn unhex(text: &str) -> Option<Vec<u8>> {
    let text: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if text.len() % 2 != 0 {
        return None;
    }
    text.chunks(2)
        .map(|pair| {
            let s = std::str::from_utf8(pair).ok()?;
            u8::from_str_radix(s, 16).ok()
        })
        .collect()
}

impl Record {
    /// One recording line (no trailing newline).
    pub fn to_line(&self, topics: &Topics) -> String {
        let line = Line {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
            timestamp: self.timestamp,
            key: self
                .key
                .as_ref()
                .map(|k| String::from_utf8_lossy(k).into_owned()),
            headers: self.headers.clone(),
            value: match &self.value {
                Some(bytes) => value_to_json(topics.value_kind(&self.topic), bytes),
                None => serde_json::Value::Null,
            },
        };
        serde_json::to_string(&line).expect("recording lines always serialise")
    }

    /// One recording line, its topic mapped onto `topics` by role (see [`retarget`]).
    pub fn from_line(text: &str, topics: &Topics) -> Result<Record, String> {
        let mut line: Line = serde_json::from_str(text).map_err(|e| e.to_string())?;
        line.topic = retarget(&line.topic, topics)?;
        let kind = topics.value_kind(&line.topic);
        let value = match line.value {
            serde_json::Value::Null => None,
            v => Some(value_from_json(kind, v)?),
        };
        Ok(Record {
            topic: line.topic,
            partition: line.partition,
            offset: line.offset,
            timestamp: line.timestamp,
            key: line.key.map(String::into_bytes),
            headers: line.headers,
            value,
        })
    }
}

/// The name a recorded topic has in this deployment. A recording travels between deployments
/// (made in production under `tw.`, replayed into `stage.`): a topic under another prefix is
/// mapped by its role, the kind its name ends in (`….telemetry.raw` → `<prefix>telemetry.raw`).
/// A topic under this deployment's prefix is kept as it is, even one that is no input (the
/// service sends such records to the DLQ as `unknown_topic`); one under another prefix that
/// ends in no role is an error naming it and the roles.
pub fn retarget(topic: &str, topics: &Topics) -> Result<String, String> {
    if topic.starts_with(topics.prefix()) || topics.neighbour(topic).is_some() {
        return Ok(topic.to_owned());
    }
    // A neighbour's shared topic as mirrored in: `<alias>.<its name under some prefix>`.
    let shared = TopicKind::SharedOverlimit;
    if let Some((region, rest)) = crate::topics::mirrored(topic) {
        if rest.ends_with(shared.suffix()) {
            return Ok(format!("{region}.{}", topics.name(shared)));
        }
    }
    TopicKind::ALL
        .into_iter()
        .filter(|k| topic.ends_with(k.suffix()))
        .max_by_key(|k| k.suffix().len())
        .map(|k| topics.name(k))
        .ok_or_else(|| {
            let roles: Vec<&str> = TopicKind::ALL.iter().map(|k| k.suffix()).collect();
            format!(
                "topic {topic:?} has none of the roles a recording can carry ({}), so it has no \
                 name under the prefix {:?}",
                roles.join(", "),
                topics.prefix()
            )
        })
}

/// Reads a whole recording. Blank lines are skipped; any other bad line is an error naming it,
/// because a recording is a test fixture or an operator's capture, not live input.
pub fn read(input: impl BufRead, topics: &Topics) -> Result<Vec<Record>, RecordingError> {
    let mut records = Vec::new();
    for (i, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let record = Record::from_line(&line, topics).map_err(|message| RecordingError::Line {
            line: i + 1,
            message,
        })?;
        records.push(record);
    }
    Ok(records)
}

/// How a recording file is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// JSON Lines, one Kafka record per line (this module's format).
    Jsonl,
    /// One raw terminal frame per line as hex, as gateways log them (in arrival order): each
    /// becomes a record on `tw.telemetry.raw` keyed by the frame's VIN and stamped with its
    /// arrival time, estimated as the newest collection time in the log so far.
    HexFrames,
}

/// Reads gateway hex-frame logs. A line that is not hex is kept as its own bytes, so it
/// reaches the DLQ with a reason instead of stopping the replay.
///
/// A gateway logs frames as they arrive, and a reissued (0x03) frame arrives hours or days
/// after its collection time. The log carries no arrival time, so every record is stamped with
/// the newest collection time seen so far in the log (the earliest the frame can have arrived;
/// 0 before the first dated frame). Timestamps never decrease, so the replay's timestamp order
/// is the log's order — for reissued frames, and for undated lines (time sync, garbage) that
/// would otherwise sort to the start. The engine still dates evidence by the frame's own times.
pub fn read_hex_frames(
    input: impl BufRead,
    topics: &Topics,
    dialect: DialectChoice,
) -> Result<Vec<Record>, RecordingError> {
    let mut records = Vec::new();
    let mut arrived = 0;
    for line in input.lines() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let value = unhex(&line).unwrap_or_else(|| line.clone().into_bytes());
        if let Some(collected) = frame::decode(&value, dialect)
            .ok()
            .and_then(|f| f.collected_at())
        {
            arrived = arrived.max(collected.0);
        }
        records.push(Record {
            topic: topics.name(TopicKind::TelemetryRaw),
            partition: 0,
            offset: records.len() as i64,
            timestamp: arrived,
            key: value.get(3..20).map(<[u8]>::to_vec),
            headers: BTreeMap::new(),
            value: Some(value),
        });
    }
    Ok(records)
}

pub fn write<'a>(
    mut out: impl Write,
    records: impl IntoIterator<Item = &'a Record>,
    topics: &Topics,
) -> std::io::Result<()> {
    for record in records {
        writeln!(out, "{}", record.to_line(topics))?;
    }
    out.flush()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(topic: &str, value: Option<Vec<u8>>) -> Record {
        Record {
            topic: topic.to_owned(),
            partition: 3,
            offset: 42,
            timestamp: 1_764_288_000_000,
            key: Some(b"LGDCHA1G8MA127733".to_vec()),
            headers: BTreeMap::from([("tw-dialect".to_owned(), "hj1239".to_owned())]),
            value,
        }
    }

    #[test]
    fn protobuf_values_round_trip_through_canonical_json() {
        let topics = Topics::default();
        let permit = proto::EntryPermit {
            schema_version: 1,
            vin: "LGDCHA1G8MA127733".into(),
            permit_number: "P-1".into(),
            valid_from: Some(pbjson_types::Timestamp {
                seconds: 1_764_288_000,
                nanos: 0,
            }),
            valid_until: None,
            revoked: true,
            ..Default::default()
        };
        let rec = record("tw.permits", Some(permit.encode_to_vec()));
        let line = rec.to_line(&topics);
        assert!(line.contains(r#""permit_number":"P-1""#), "{line}");
        assert!(
            line.contains(r#""valid_from":"2025-11-28T00:00:00+00:00""#),
            "{line}"
        );
        assert_eq!(Record::from_line(&line, &topics).unwrap(), rec);
    }

    /// A production recording replays into a test namespace: every topic by its role.
    #[test]
    fn recorded_topics_move_to_another_prefix_by_role() {
        let production = Topics::default();
        let stage = Topics::with_prefix("stage.");
        let permit = proto::EntryPermit {
            schema_version: 1,
            vin: "LGDCHA1G8MA127733".into(),
            permit_number: "P-1".into(),
            ..Default::default()
        };
        for (from, to, value) in [
            ("tw.permits", "stage.permits", Some(permit.encode_to_vec())),
            (
                "tw.telemetry.raw",
                "stage.telemetry.raw",
                Some(vec![0x23, 0x23]),
            ),
            ("tw.telemetry", "stage.telemetry", Some(vec![0xff])),
            ("eu-1.tw.cases", "stage.cases", None),
        ] {
            let line = record(from, value.clone()).to_line(&production);
            assert_eq!(Record::from_line(&line, &stage).unwrap(), record(to, value));
        }
        // The value is read as its role's message, not demanded as hex.
        let line = record("tw.permits", Some(permit.encode_to_vec())).to_line(&production);
        assert!(line.contains(r#""permit_number":"P-1""#), "{line}");
        // Under the deployment's own prefix a name is kept, input or not (the DLQ takes it).
        let line = record("stage.unknown", Some(vec![0])).to_line(&stage);
        assert_eq!(
            Record::from_line(&line, &stage).unwrap().topic,
            "stage.unknown"
        );
        // Elsewhere, a topic with no role is an error naming it and the roles.
        let line = record("orders", Some(vec![0])).to_line(&production);
        let e = Record::from_line(&line, &stage).unwrap_err();
        assert!(
            e.contains(r#""orders""#) && e.contains("telemetry.raw, telemetry"),
            "{e}"
        );
    }

    #[test]
    fn raw_and_garbage_values_are_hex_and_tombstones_are_null() {
        let topics = Topics::default();
        for rec in [
            record("tw.telemetry.raw", Some(vec![0x23, 0x23, 0x02, 0xff])),
            record("tw.telemetry", Some(vec![0xff, 0xff, 0xff])),
            record("tw.registry", None),
        ] {
            let line = rec.to_line(&topics);
            assert_eq!(Record::from_line(&line, &topics).unwrap(), rec, "{line}");
        }
    }

    /// A GB 17691 frame of `command` from `LGDCHA1G8MA127733` with an empty data unit dated
    /// 2026-11-02 `hour`:00 Beijing.
    fn gb_frame(command: u8, hour: u8) -> String {
        let mut f = vec![0x23, 0x23, command];
        f.extend_from_slice(b"LGDCHA1G8MA127733");
        f.extend_from_slice(&[0x10, 0x01, 0x00, 0x08, 26, 11, 2, hour, 0, 0, 0x00, 0x01]);
        f.push(f.iter().fold(0, |a, b| a ^ b));
        hex(&f)
    }

    #[test]
    fn a_gateway_log_replays_in_arrival_order_with_reissues_where_they_arrived() {
        use crate::model::{unix_secs_from_civil, EventTime, BEIJING_OFFSET_SECS};
        let beijing = |hour| {
            EventTime((unix_secs_from_civil(2026, 11, 2, hour, 0, 0) - BEIJING_OFFSET_SECS) * 1000)
        };
        let (nine, ten, eleven) = (beijing(9), beijing(10), beijing(11));
        let topics = Topics::default();
        let log = format!(
            "{}\nnot a frame\n{}\n{}\n",
            gb_frame(0x02, 10),
            gb_frame(0x03, 9),
            gb_frame(0x02, 11)
        );
        let mut records = read_hex_frames(log.as_bytes(), &topics, DialectChoice::Auto).unwrap();
        crate::replay::order(&mut records, &topics);
        let offsets: Vec<i64> = records.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [0, 1, 2, 3], "file order");
        let stamps: Vec<i64> = records.iter().map(|r| r.timestamp).collect();
        assert_eq!(
            stamps,
            [ten.0, ten.0, ten.0, eleven.0],
            "arrival, not collection"
        );
        let reissue = frame::decode(records[2].value.as_ref().unwrap(), DialectChoice::Auto);
        let reissue = reissue.unwrap();
        assert!(matches!(reissue.content, frame::Content::Reissue(_)));
        assert_eq!(
            reissue.collected_at(),
            Some(nine),
            "the frame keeps its own time"
        );
    }

    #[test]
    fn bad_lines_name_their_number() {
        let input = "\n{\"topic\":\"tw.permits\",\"timestamp\":1,\"value\":{\"revoked\":\"x\"}}\n";
        let err = read(input.as_bytes(), &Topics::default()).unwrap_err();
        assert!(err.to_string().starts_with("line 2:"), "{err}");
    }
}
