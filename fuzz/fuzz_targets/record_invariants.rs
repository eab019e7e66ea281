//! What must hold for any Kafka record fed to the input edge (`tailwatch::decode::record`, the
//! function the pipeline calls per input record), written once and shared by the fuzz target
//! (`record.rs`) and the stable corpus replay (`tests/record_corpus.rs`), both of which include
//! this file by `#[path]`; it is not a fuzz target itself.
//!
//! A fuzz input is a whole record, not only a value: [`parse`] reads the topic, key, headers
//! (the `tw-dialect` header and one other), timestamp, tombstone flag and the topic's
//! configured raw dialect from its first bytes and takes the rest as the value, so every byte
//! string is some record and mutations reach every field. [`to_bytes`] is its inverse, for
//! writing seeds. The topic is picked from `TopicKind::INPUTS`, so a new input topic is fuzzed
//! without touching this file; one choice in `INPUTS.len() + 1` is a topic not consumed.
//!
//! [`check`] decodes the record and returns the result, or the first broken invariant as a
//! sentence. It must not panic on its own account: a panic out of `check` is the decoder's.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use tailwatch::decode::frame::{self, DialectChoice, FrameError};
use tailwatch::decode::raw::DIALECT_HEADER;
use tailwatch::decode::{self, DecodeError, Input, Options, MAX_FUTURE_SKEW_MS};
use tailwatch::model::{Event, EventKind, EventTime, Plate, Position, Reading, Sample, Vin};
use tailwatch::recording::Record;
use tailwatch::topics::{TopicKind, Topics};

/// Every DLQ reason `DecodeError::reason` gives outside the frame codec's own
/// (`FrameError::REASONS`). [`reason_of`] below matches `DecodeError` exhaustively, so a new
/// variant does not compile here until it is named; the stable replay demands an input in the
/// corpus for each reason listed.
pub const DECODE_REASONS: [&str; 13] = [
    "unknown_topic",
    "tombstone",
    "bad_header",
    "bad_protobuf",
    "invalid_vin",
    "key_mismatch",
    "missing_field",
    "impossible_time",
    "invalid_plate",
    "unknown_command",
    "unknown_alert_level",
    "bad_area",
    "unknown_fuel",
];

/// A topic under the deployment's prefix that names no role at all.
pub const FOREIGN_TOPIC: &str = "tw.unknown";
/// Partition and offset of every fuzzed record: not zero, so a reference that lost them shows.
pub const PARTITION: i32 = 3;
pub const OFFSET: i64 = 42;

const KEY: u8 = 1 << 0;
const VALUE: u8 = 1 << 1;
const DIALECT: u8 = 1 << 2;
const OTHER_HEADER: u8 = 1 << 3;
/// Header lengths from here up stand for the names of `DialectChoice::ALL` (eight of them),
/// so mutations find a valid dialect header as often as an invalid one.
const NAMED_DIALECT: u8 = 0xF8;

/// One fuzz input read as a record and the decode options it is read with.
#[derive(Debug, Clone)]
pub struct Fuzzed {
    pub record: Record,
    pub options: Options,
    /// The record's topic among `TopicKind::ALL`, `None` for [`FOREIGN_TOPIC`].
    pub kind: Option<TopicKind>,
}

/// Non-input kinds, then the foreign name (`None`).
fn not_inputs() -> Vec<Option<TopicKind>> {
    TopicKind::ALL
        .into_iter()
        .filter(|k| !TopicKind::INPUTS.contains(k))
        .map(Some)
        .chain([None])
        .collect()
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    /// The next byte, 0 once the input is used up.
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().map_or((0, &[][..]), |(f, r)| (*f, r));
        self.0 = rest;
        first
    }

    /// Up to `n` bytes.
    fn take(&mut self, n: usize) -> &'a [u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    fn text(&mut self, n: usize) -> String {
        String::from_utf8_lossy(self.take(n)).into_owned()
    }
}

/// Reads any byte string as a record:
///
/// | bytes | meaning |
/// |---|---|
/// | 1 | topic: `INPUTS[b % (n + 1)]`; `n` picks a topic not consumed, by `b / (n + 1)` |
/// | 1 | flags: bit 0 key, 1 value (else a tombstone), 2 `tw-dialect` header, 3 another header; bits 4–6 the topic's configured raw dialect (`DialectChoice::ALL`) |
/// | 8 | timestamp, i64 little-endian |
/// | 1 + k | if a key: length, key bytes |
/// | 1 + d | if a dialect header: length (`0xF8..` = the name of `DialectChoice::ALL[len - 0xF8]`, no bytes follow), value (lossy UTF-8) |
/// | 1 + n + 1 + v | if another header: name length, name, value length, value |
/// | rest | the value, if there is one |
pub fn parse(bytes: &[u8]) -> Fuzzed {
    let mut r = Reader(bytes);
    let inputs = TopicKind::INPUTS.len();
    let selector = usize::from(r.byte());
    let kind = match TopicKind::INPUTS.get(selector % (inputs + 1)) {
        Some(kind) => Some(*kind),
        None => {
            let others = not_inputs();
            others[selector / (inputs + 1) % others.len()]
        }
    };
    let topic = kind.map_or(FOREIGN_TOPIC.to_owned(), |k| topics().name(k));
    let flags = r.byte();
    let options = Options {
        raw_dialect: DialectChoice::ALL[usize::from(flags >> 4) % DialectChoice::ALL.len()],
        ..Options::default()
    };
    let timestamp = i64::from_le_bytes(std::array::from_fn(|_| r.byte()));
    let key = (flags & KEY != 0).then(|| {
        let n = r.byte();
        r.take(n.into()).to_vec()
    });
    let mut headers = BTreeMap::new();
    if flags & DIALECT != 0 {
        let n = r.byte();
        let name = match n.checked_sub(NAMED_DIALECT) {
            Some(i) => DialectChoice::ALL[usize::from(i)].to_string(),
            None => r.text(n.into()),
        };
        headers.insert(DIALECT_HEADER.to_owned(), name);
    }
    if flags & OTHER_HEADER != 0 {
        let n = r.byte();
        let name = r.text(n.into());
        let n = r.byte();
        let value = r.text(n.into());
        headers.entry(name).or_insert(value);
    }
    let value = (flags & VALUE != 0).then(|| r.0.to_vec());
    Fuzzed {
        record: Record {
            topic,
            partition: PARTITION,
            offset: OFFSET,
            timestamp,
            key,
            headers,
            value,
        },
        options,
        kind,
    }
}

/// The fuzz input [`parse`] reads as `record` (its partition and offset aside) with the topic's
/// raw dialect `raw_dialect`; `None` if the record cannot be written so: a topic of another
/// deployment, a key or header over 255 bytes, or more than one header besides `tw-dialect`.
pub fn to_bytes(record: &Record, raw_dialect: DialectChoice) -> Option<Vec<u8>> {
    let kind = match record.topic.as_str() {
        FOREIGN_TOPIC => None,
        name => Some(topics().kind(name)?),
    };
    let inputs = TopicKind::INPUTS.len();
    let selector = match TopicKind::INPUTS.iter().position(|k| Some(*k) == kind) {
        Some(i) => i,
        None => not_inputs().iter().position(|k| *k == kind)? * (inputs + 1) + inputs,
    };
    let dialect = DialectChoice::ALL.iter().position(|c| *c == raw_dialect)?;
    let dialect_header = record.headers.get(DIALECT_HEADER);
    let mut others = record.headers.iter().filter(|(n, _)| *n != DIALECT_HEADER);
    let other = others.next();
    if others.next().is_some() {
        return None;
    }
    let mut flags = (dialect as u8) << 4;
    for (present, bit) in [
        (record.key.is_some(), KEY),
        (record.value.is_some(), VALUE),
        (dialect_header.is_some(), DIALECT),
        (other.is_some(), OTHER_HEADER),
    ] {
        if present {
            flags |= bit;
        }
    }
    let mut out = vec![u8::try_from(selector).ok()?, flags];
    out.extend_from_slice(&record.timestamp.to_le_bytes());
    let field = |out: &mut Vec<u8>, bytes: &[u8]| -> Option<()> {
        let n = u8::try_from(bytes.len()).ok()?;
        out.push(n);
        out.extend_from_slice(bytes);
        Some(())
    };
    if let Some(key) = &record.key {
        field(&mut out, key)?;
    }
    if let Some(name) = dialect_header {
        match DialectChoice::ALL
            .iter()
            .position(|c| c.to_string() == *name)
        {
            Some(i) => out.push(NAMED_DIALECT + i as u8),
            None if name.len() < usize::from(NAMED_DIALECT) => field(&mut out, name.as_bytes())?,
            None => return None,
        }
    }
    if let Some((name, value)) = other {
        field(&mut out, name.as_bytes())?;
        field(&mut out, value.as_bytes())?;
    }
    if let Some(value) = &record.value {
        out.extend_from_slice(value);
    }
    Some(out)
}

/// The reason a rejection must carry, by variant: every variant named, so a new one is a
/// compile error here until its label is added to [`DECODE_REASONS`] or the frame codec's.
fn reason_of(e: &DecodeError) -> &'static str {
    match e {
        DecodeError::UnknownTopic(_) => "unknown_topic",
        DecodeError::Tombstone => "tombstone",
        DecodeError::Frame(f) => f.reason(),
        DecodeError::BadHeader(_) => "bad_header",
        DecodeError::Protobuf { .. } => "bad_protobuf",
        DecodeError::InvalidVin { .. } => "invalid_vin",
        DecodeError::KeyMismatch { .. } => "key_mismatch",
        DecodeError::MissingField(_) => "missing_field",
        DecodeError::ImpossibleTime(_) => "impossible_time",
        DecodeError::InvalidPlate { .. } | DecodeError::PlateColour { .. } => "invalid_plate",
        DecodeError::UnknownCommand(_) => "unknown_command",
        // Only on a neighbour's shared topic, which this deployment (no neighbours) has not.
        DecodeError::Region { .. } => "region_mismatch",
        DecodeError::AlertKey { .. } => "key_mismatch",
        DecodeError::AlertLevel(_) => "unknown_alert_level",
        DecodeError::AlertArea(_) => "bad_area",
        DecodeError::AlertFuel(_) => "unknown_fuel",
    }
}

/// The protobuf message a topic's values are, `None` for raw frames and topics not consumed.
fn message_of(kind: TopicKind) -> Option<&'static str> {
    match kind {
        TopicKind::Telemetry => Some("TerminalReport"),
        TopicKind::Inspections => Some("Inspection"),
        TopicKind::Reinspections => Some("Reinspection"),
        TopicKind::Registry => Some("VehicleRegistration"),
        TopicKind::Permits => Some("EntryPermit"),
        TopicKind::EvidenceByVin => Some("ResolvedEvidence"),
        TopicKind::Alerts => Some("HeavyPollutionAlert"),
        TopicKind::TelemetryRaw
        | TopicKind::Blacklist
        | TopicKind::Cases
        | TopicKind::Dlq
        | TopicKind::Changelog
        | TopicKind::SharedOverlimit => None,
    }
}

/// The dialect a raw record is read in: its header's, else the topic's configured one.
fn raw_choice(f: &Fuzzed) -> Option<DialectChoice> {
    match f.record.headers.get(DIALECT_HEADER) {
        Some(name) => name.parse().ok(),
        None => Some(f.options.raw_dialect),
    }
}

/// Decodes one fuzz input and checks every invariant; the decode result comes back for the
/// corpus replay's bookkeeping.
pub fn check(bytes: &[u8]) -> Result<(Fuzzed, Result<Input, DecodeError>), String> {
    let fuzzed = parse(bytes);
    let result = decode(&fuzzed);
    let fail = |what: String| {
        format!(
            "{what}\nrecord: {:?}\noptions: {:?}\ndecoded: {result:?}\ninput ({} bytes): {}",
            fuzzed.record,
            fuzzed.options,
            bytes.len(),
            hex(bytes)
        )
    };
    // Decoding is a function of the record and the options: a second run agrees.
    let again = decode(&fuzzed);
    if !same(&again, &result) {
        return Err(fail(format!("decoding again gives {again:?}")));
    }
    match &result {
        Ok(input) => decoded(&fuzzed, input),
        Err(e) => rejected(&fuzzed, e),
    }
    .map_err(fail)?;
    headers_only_where_they_mean_something(&fuzzed, &result).map_err(fail)?;
    Ok((fuzzed, result))
}

fn decode(f: &Fuzzed) -> Result<Input, DecodeError> {
    decode::record(&f.record, topics(), &f.options)
}

/// The default deployment's names, built once rather than for every decode.
fn topics() -> &'static Topics {
    static TOPICS: OnceLock<Topics> = OnceLock::new();
    TOPICS.get_or_init(Topics::default)
}

/// A rejection names a known reason, one that can happen on this topic with this record.
fn rejected(f: &Fuzzed, e: &DecodeError) -> Result<(), String> {
    let reason = e.reason();
    if reason != reason_of(e) {
        return Err(format!(
            "{e:?} is dead-lettered as {reason}, not {}",
            reason_of(e)
        ));
    }
    if !DECODE_REASONS.contains(&reason) && !FrameError::REASONS.contains(&reason) {
        return Err(format!("unknown DLQ reason {reason}"));
    }
    let record = &f.record;
    let input = f.kind.filter(|k| TopicKind::INPUTS.contains(k));
    let value = record.value.as_deref();
    let raw = input == Some(TopicKind::TelemetryRaw) && value.is_some();
    let ok = match e {
        DecodeError::UnknownTopic(_) => input.is_none(),
        _ if input.is_none() => return Err("a topic not consumed is not rejected as such".into()),
        DecodeError::Tombstone => value.is_none(),
        DecodeError::Frame(frame_error) => {
            // The edge passes the codec's verdict on unchanged.
            let codec = raw_choice(f).map(|c| frame::decode(value.unwrap_or_default(), c));
            match codec {
                Some(Err(codec)) if raw && codec == *frame_error => true,
                other => return Err(format!("frame error, but the codec gives {other:?}")),
            }
        }
        DecodeError::BadHeader(_) => raw && raw_choice(f).is_none(),
        DecodeError::Protobuf { message, .. } => {
            value.is_some() && input.and_then(message_of) == Some(*message)
        }
        DecodeError::KeyMismatch { key, vin } => {
            // The key is not byte for byte the VIN the record names: the message's (without
            // the key the record decodes, to that VIN) or, for a tombstone, the key's own
            // normalised form (a lower-case VIN key is not the VIN key).
            let named = match value {
                Some(_) => {
                    let mut keyless = f.clone();
                    keyless.record.key = None;
                    match decode(&keyless) {
                        Ok(Input::Vehicle(event)) => Some(event.vin),
                        _ => None,
                    }
                }
                None => record.key.as_deref().and_then(|k| Vin::from_bytes(k).ok()),
            };
            named.is_some_and(|v| v.to_string() == *vin)
                && record.key.as_deref() != named.as_ref().map(|v| &v.as_bytes()[..])
                && *key == String::from_utf8_lossy(record.key.as_deref().unwrap_or_default())
        }
        DecodeError::UnknownCommand(_) => input == Some(TopicKind::Telemetry),
        DecodeError::Region { .. } => false,
        DecodeError::AlertKey { key, id } => {
            input == Some(TopicKind::Alerts)
                && record.key.as_deref().is_some_and(|k| k != id.as_bytes())
                && *key == String::from_utf8_lossy(record.key.as_deref().unwrap_or_default())
        }
        DecodeError::AlertLevel(_) | DecodeError::AlertArea(_) | DecodeError::AlertFuel(_) => {
            input == Some(TopicKind::Alerts) && value.is_some()
        }
        DecodeError::InvalidVin { .. }
        | DecodeError::MissingField(_)
        | DecodeError::ImpossibleTime(_)
        | DecodeError::InvalidPlate { .. }
        | DecodeError::PlateColour { .. } => true,
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "rejection {reason} ({e}) cannot happen for this record"
        ))
    }
}

/// An accepted record is well-formed evidence of the kind its topic carries.
fn decoded(f: &Fuzzed, input: &Input) -> Result<(), String> {
    let record = &f.record;
    let Some(kind) = f.kind.filter(|k| TopicKind::INPUTS.contains(k)) else {
        return Err("a record on a topic not consumed decodes".into());
    };
    let tombstone = record.value.is_none();
    match input {
        Input::Vehicle(event) => {
            vin(event.vin)?;
            key_is_vin(record, event.vin)?;
            kind_fits(kind, tombstone, &event.kind)?;
            source(f, kind, event)?;
            if !tombstone {
                // A revoking tombstone is dated by its record; all else is range-checked.
                plausible("event time", event.time, record.timestamp)?;
            }
            event_values(&event.kind, record.timestamp)
        }
        Input::Plate(read) => {
            let expect_permit = match kind {
                TopicKind::Inspections => false,
                TopicKind::Permits => true,
                _ => return Err(format!("a plate read from {}", kind.suffix())),
            };
            if tombstone || read.permit.is_some() != expect_permit {
                return Err(format!("plate read {read:?}"));
            }
            plate(read.plate)?;
            if kind == TopicKind::Inspections {
                plausible("plate read time", read.time, record.timestamp)?;
            }
            Ok(())
        }
        Input::NeighbourListing { .. } | Input::NeighbourForgot { .. } => {
            Err("a neighbour's listing from one of our own topics".into())
        }
        Input::Alert(alert) => {
            // A revoked alert may end where it starts (revoked before it began), never before.
            if kind != TopicKind::Alerts || tombstone || alert.until < alert.from {
                return Err(format!("alert {alert:?}"));
            }
            match record.key.as_deref() {
                Some(k) if k != alert.id.as_bytes() => Err("an alert keyed by another id".into()),
                _ => Ok(()),
            }
        }
        Input::AlertWithdrawn { .. } => {
            if kind != TopicKind::Alerts {
                return Err("an alert withdrawn on another topic".into());
            }
            Ok(())
        }
        Input::Deregistration { vin: v, at } => {
            if kind != TopicKind::Registry || !tombstone || *at != EventTime(record.timestamp) {
                return Err("a deregistration that is not a registry tombstone".into());
            }
            vin(*v)?;
            key_is_vin(record, *v)
        }
    }
}

fn vin(v: Vin) -> Result<(), String> {
    let bytes = v.as_bytes();
    if Vin::from_bytes(bytes) != Ok(v)
        || !bytes
            .iter()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
    {
        return Err(format!("decoded VIN {v} is not a normalised VIN"));
    }
    Ok(())
}

fn plate(p: Plate) -> Result<(), String> {
    if Plate::parse(&p.to_string()) != Ok(p) {
        return Err(format!("decoded plate {p} does not read back as itself"));
    }
    Ok(())
}

fn key_is_vin(record: &Record, v: Vin) -> Result<(), String> {
    match &record.key {
        Some(key) if key.as_slice() != v.as_bytes() => Err(format!(
            "decoded with VIN {v} under key {:?}",
            String::from_utf8_lossy(key)
        )),
        Some(_) => Ok(()),
        None if record.value.is_none() => Err("a tombstone without a key decodes".into()),
        None => Ok(()),
    }
}

fn kind_fits(kind: TopicKind, tombstone: bool, event: &EventKind) -> Result<(), String> {
    use EventKind as E;
    let fits = match kind {
        TopicKind::TelemetryRaw | TopicKind::Telemetry => matches!(
            event,
            E::Login | E::Logout | E::Report(_) | E::RemovalAlarm { .. } | E::Housekeeping
        ),
        TopicKind::Inspections => matches!(event, E::ManualCheck(_) | E::RemoteSensing(_)),
        TopicKind::Reinspections => matches!(event, E::Reinspection(_)),
        TopicKind::Registry => matches!(event, E::Registration(_)),
        TopicKind::Permits => match event {
            E::Permit(p) => !tombstone || p.revoked,
            _ => false,
        },
        TopicKind::EvidenceByVin => {
            matches!(
                event,
                E::ManualCheck(_) | E::RemoteSensing(_) | E::Permit(_)
            )
        }
        TopicKind::Blacklist
        | TopicKind::Cases
        | TopicKind::Dlq
        | TopicKind::Changelog
        | TopicKind::Alerts
        | TopicKind::SharedOverlimit => false,
    };
    if fits && (!tombstone || kind == TopicKind::Permits) {
        Ok(())
    } else {
        Err(format!("{} record decodes as {event:?}", kind.suffix()))
    }
}

/// An event cites its record, except resolved evidence, which cites the plate-only record
/// it was resolved from.
fn source(f: &Fuzzed, kind: TopicKind, event: &Event) -> Result<(), String> {
    let s = &event.source;
    let own = &*s.topic == f.record.topic.as_str()
        && s.partition == f.record.partition
        && s.offset == f.record.offset;
    if own || kind == TopicKind::EvidenceByVin {
        Ok(())
    } else {
        Err(format!("the event cites {s:?}"))
    }
}

/// Not before 2000, not after 2136 (the protocol's range) and not more than a day after the
/// record was written, when that is known (decode.rs `plausible`).
fn plausible(what: &str, t: EventTime, record_timestamp: i64) -> Result<(), String> {
    let too_new = record_timestamp > 0 && t.0 > record_timestamp.saturating_add(MAX_FUTURE_SKEW_MS);
    if t.secs().is_none() || too_new {
        return Err(format!(
            "{what} {t:?} ({} ms) is impossible for a record of {record_timestamp} ms",
            t.0
        ));
    }
    Ok(())
}

fn event_values(event: &EventKind, ts: i64) -> Result<(), String> {
    match event {
        EventKind::Report(report) => {
            for (i, s) in report.samples.iter().enumerate() {
                sample(s, ts).map_err(|e| format!("sample {i}: {e}"))?;
            }
            for (i, o) in report.obd.iter().enumerate() {
                plausible(&format!("OBD entry {i} time"), o.time, ts)?;
            }
            Ok(())
        }
        EventKind::RemovalAlarm { position: p } => position("removal alarm", *p),
        EventKind::ManualCheck(c) => {
            position("manual check", c.position)?;
            finite("free acceleration opacity", c.free_acceleration_opacity)?;
            finite("lug-down opacity", c.lug_down_opacity)?;
            finite("lug-down NOx", c.lug_down_nox.map(|v| f64::from(v.0)))?;
            c.plate.map_or(Ok(()), plate)
        }
        EventKind::RemoteSensing(r) => {
            position("remote sensing", r.position)?;
            finite("opacity", r.opacity_pct)?;
            finite("NO", r.no.map(|v| f64::from(v.0)))?;
            r.plate.map_or(Ok(()), plate)
        }
        EventKind::Registration(r) => plate(r.plate),
        EventKind::Login
        | EventKind::Logout
        | EventKind::Housekeeping
        | EventKind::Reinspection(_)
        | EventKind::Permit(_) => Ok(()),
    }
}

fn finite(what: &str, v: Option<f64>) -> Result<(), String> {
    match v {
        Some(x) if !x.is_finite() => Err(format!("{what} is {x}")),
        _ => Ok(()),
    }
}

fn position(what: &str, p: Option<Position>) -> Result<(), String> {
    match p {
        Some(p)
            if !(p.lon.is_finite()
                && p.lat.is_finite()
                && p.lon.abs() <= 180.0
                && p.lat.abs() <= 90.0) =>
        {
            Err(format!("{what} position {p:?}"))
        }
        _ => Ok(()),
    }
}

/// Present values lie in the ranges of domain.md §2 (both encodings share them).
fn sample(s: &Sample, ts: i64) -> Result<(), String> {
    plausible("time", s.time, ts)?;
    let within = |what: &str, r: Reading<f32>, min: f64, max: f64| match r {
        Ok(v) if !(v.is_finite() && v >= min as f32 && v <= max as f32) => {
            Err(format!("{what} {v} outside {min}..={max}"))
        }
        _ => Ok(()),
    };
    within("speed", s.speed.map(|v| v.0), 0.0, 250.996)?;
    within("engine speed", s.engine_rpm.map(|v| v.0), 0.0, 8031.875)?;
    within("coolant", s.coolant.map(|v| v.0), -40.0, 210.0)?;
    within("SCR inlet", s.scr_inlet.map(|v| v.0), -273.0, 1734.96875)?;
    within("NOx upstream", s.nox_upstream.map(|v| v.0), -200.0, 3012.75)?;
    within(
        "NOx downstream",
        s.nox_downstream.map(|v| v.0),
        -200.0,
        3012.75,
    )?;
    within("reagent", s.reagent.map(|v| v.0), 0.0, 100.0)?;
    match s.odometer {
        Ok(km) if !(km.0.is_finite() && (0.0..=429_496_729.5).contains(&km.0)) => {
            return Err(format!("odometer {}", km.0))
        }
        _ => {}
    }
    position("sample", s.position)
}

/// Headers say nothing to protobuf topics; on the raw topic `tw-dialect` overrides the
/// topic's configured dialect and means exactly what configuring that dialect means.
fn headers_only_where_they_mean_something(
    f: &Fuzzed,
    result: &Result<Input, DecodeError>,
) -> Result<(), String> {
    if f.record.headers.is_empty() {
        return Ok(());
    }
    let mut plain = f.clone();
    plain.record.headers.clear();
    if f.kind == Some(TopicKind::TelemetryRaw) && f.record.value.is_some() {
        let Some(choice) = raw_choice(f) else {
            return Ok(()); // a bad header, checked above
        };
        plain.options.raw_dialect = choice;
    }
    let without = decode(&plain);
    if !same(&without, result) {
        return Err(format!(
            "without headers (dialect {}) it decodes as {without:?}",
            plain.options.raw_dialect
        ));
    }
    Ok(())
}

/// Equal, or, where a NaN makes `==` fail (caught as a range violation elsewhere), equal as
/// text; `==` first, so that results are formatted only when they differ.
fn same(a: &Result<Input, DecodeError>, b: &Result<Input, DecodeError>) -> bool {
    a == b || format!("{a:?}") == format!("{b:?}")
}

/// Lower-case hex, no separators, for messages (as recordings write raw values).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
