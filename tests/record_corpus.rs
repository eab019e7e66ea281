//! Replays the record fuzzer's inputs on stable Rust in every `cargo test`: each file of
//! `fuzz/corpus/record/` (the checked-in seeds and minimised finds), `fuzz/regressions/record/`
//! (inputs that once broke the decoder) and, when a local fuzz run left any,
//! `fuzz/artifacts/record/`, read as a record and decoded through the same invariants as the
//! fuzz target (`fuzz/fuzz_targets/record_invariants.rs`, included below).
//!
//! Seeds are named `<expected>-<topic>-<what>`, where `<expected>` is `ok` (must decode) or the
//! DLQ reason it must be rejected with, so the corpus cannot silently rot; hashed names are
//! libFuzzer's finds and promise nothing but the invariants. The seeds are written by this
//! file from the golden recordings and a few records built here:
//! `TAILWATCH_WRITE_SEEDS=1 cargo test --test record_corpus` (then minimise the corpus with
//! `cargo +nightly fuzz cmin record`, and write the seeds again, as cmin drops named files).

use std::collections::BTreeMap;
use std::fs;
use std::io::BufReader;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use prost::Message;
use tailwatch::decode::frame::{DialectChoice, FrameError};
use tailwatch::decode::{DecodeError, Input};
use tailwatch::model::{RecordRef, Vin};
use tailwatch::proto;
use tailwatch::recording::{self, Record};
use tailwatch::topics::{TopicKind, Topics};

#[path = "../fuzz/fuzz_targets/record_invariants.rs"]
mod record_invariants;

use record_invariants::{check, to_bytes, Fuzzed, DECODE_REASONS, FOREIGN_TOPIC};

const CORPUS: &str = "fuzz/corpus/record";
/// Checked in: an input stays here once it has found a bug.
const REGRESSIONS: &str = "fuzz/regressions/record";
/// Not checked in (`fuzz/.gitignore`): what the last local fuzz run saved.
const ARTIFACTS: &str = "fuzz/artifacts/record";

fn path(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(dir)
}

fn files(dir: &str) -> Vec<PathBuf> {
    let Ok(entries) = fs::read_dir(path(dir)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

type Outcome = (Fuzzed, Result<Input, DecodeError>);

/// Runs the invariants on one input, turning a decoder panic into a failure for this file.
fn replay(bytes: &[u8]) -> Result<Outcome, String> {
    catch_unwind(AssertUnwindSafe(|| check(bytes))).unwrap_or_else(|panic| {
        let message = panic
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| panic.downcast_ref::<&str>().copied())
            .unwrap_or("(no message)");
        Err(format!(
            "the decoder panicked: {message}\nrecord: {:?}",
            record_invariants::parse(bytes).record
        ))
    })
}

fn label(result: &Result<Input, DecodeError>) -> &'static str {
    match result {
        Ok(_) => "ok",
        Err(e) => e.reason(),
    }
}

/// What a seed's name promises about it, if it follows the naming scheme.
fn named_expectation(name: &str, (fuzzed, result): &Outcome) -> Result<(), String> {
    let Some((expected, rest)) = name.split_once('-') else {
        return Ok(());
    };
    let known = expected == "ok"
        || DECODE_REASONS.contains(&expected)
        || FrameError::REASONS.contains(&expected);
    if !known {
        return Ok(());
    }
    if label(result) != expected {
        return Err(format!("named {expected}, decodes as {result:?}"));
    }
    let topic = fuzzed.kind.map_or("other", |k| {
        if TopicKind::INPUTS.contains(&k) {
            k.suffix()
        } else {
            "other"
        }
    });
    if !rest.starts_with(&format!("{topic}-")) {
        return Err(format!("named for another topic than {topic}"));
    }
    Ok(())
}

#[test]
fn fuzz_inputs_keep_the_decode_invariants() {
    let corpus = files(CORPUS);
    assert!(!corpus.is_empty(), "{CORPUS} is empty or missing");
    let mut failures = Vec::new();
    let mut decoded = Vec::new();
    let mut reasons = Vec::new();
    let mut shapes = Vec::new();
    let inputs = corpus
        .iter()
        .cloned()
        .chain(files(REGRESSIONS))
        .chain(files(ARTIFACTS));
    for path in inputs {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        let bytes = fs::read(&path).expect("readable input");
        match replay(&bytes) {
            Ok(outcome) => {
                if let Err(e) = named_expectation(name, &outcome) {
                    failures.push(format!("{}: {e}", path.display()));
                }
                let (fuzzed, result) = outcome;
                match result {
                    Ok(input) => {
                        decoded.extend(fuzzed.kind);
                        shapes.push(shape(&fuzzed, &input));
                    }
                    Err(e) => reasons.push(e.reason()),
                }
            }
            Err(e) => failures.push(format!("{}: {e}", path.display())),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    // A corpus that lost its breadth would still pass the loop above; keep it honest.
    for kind in TopicKind::INPUTS {
        assert!(
            decoded.contains(&kind),
            "no {} record decodes",
            kind.suffix()
        );
    }
    for reason in DECODE_REASONS {
        assert!(
            reasons.contains(&reason),
            "no input is rejected as {reason}"
        );
    }
    assert!(
        reasons.iter().any(|r| FrameError::REASONS.contains(r)),
        "no raw record is rejected by the frame codec"
    );
    for wanted in [
        "plate read",
        "deregistration",
        "permit tombstone",
        "dialect header",
    ] {
        assert!(shapes.contains(&wanted), "no {wanted} decodes");
    }
}

/// The rarer shapes of decoded input the corpus must keep.
fn shape(fuzzed: &Fuzzed, input: &Input) -> &'static str {
    match input {
        Input::Plate(_) => "plate read",
        Input::Deregistration { .. } => "deregistration",
        Input::NeighbourListing { .. } | Input::NeighbourForgot { .. } => "neighbour listing",
        Input::Alert(_) | Input::AlertWithdrawn { .. } => "alert",
        Input::Vehicle(_) if fuzzed.record.value.is_none() => "permit tombstone",
        Input::Vehicle(_) if !fuzzed.record.headers.is_empty() => "dialect header",
        Input::Vehicle(_) => "event",
    }
}

/// Checks the seeds this file makes against their names, and writes them into the corpus
/// when `TAILWATCH_WRITE_SEEDS` is set.
#[test]
fn seeds_mean_what_their_names_say() {
    let seeds = seeds();
    assert!(seeds.len() >= 24, "only {} seeds", seeds.len());
    let write = std::env::var_os("TAILWATCH_WRITE_SEEDS").is_some();
    let mut failures = Vec::new();
    for (name, bytes) in &seeds {
        match replay(bytes) {
            Ok(outcome) => {
                if let Err(e) = named_expectation(name, &outcome) {
                    failures.push(format!("{name}: {e}"));
                }
            }
            Err(e) => failures.push(format!("{name}: {e}")),
        }
        if write {
            fs::create_dir_all(path(CORPUS)).unwrap();
            fs::write(path(CORPUS).join(name), bytes).unwrap();
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// 2026-11-02T00:00:00Z, in milliseconds.
const T: i64 = 1_793_577_600_000;
const VIN: &str = "LGDCHA1G8MA127733";

fn record(kind: Option<TopicKind>, key: Option<&str>, value: Option<Vec<u8>>) -> Record {
    Record {
        topic: kind.map_or(FOREIGN_TOPIC.to_owned(), |k| Topics::default().name(k)),
        partition: 0,
        offset: 0,
        timestamp: T,
        key: key.map(|k| k.as_bytes().to_vec()),
        headers: BTreeMap::new(),
        value,
    }
}

fn at(seconds: i64) -> Option<pbjson_types::Timestamp> {
    Some(pbjson_types::Timestamp { seconds, nanos: 0 })
}

/// Every seed, named: the golden recordings' records, one for each topic and outcome, then
/// records built here for what the recordings do not show.
fn seeds() -> Vec<(String, Vec<u8>)> {
    let topics = Topics::default();
    let mut named: Vec<(String, Record, DialectChoice)> = Vec::new();
    let golden = path("tests/golden");
    let mut dirs: Vec<PathBuf> = fs::read_dir(&golden)
        .expect("tests/golden exists")
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("input.jsonl").exists())
        .collect();
    dirs.sort();
    for dir in dirs {
        let file = fs::File::open(dir.join("input.jsonl")).unwrap();
        let records = recording::read(BufReader::new(file), &topics).unwrap();
        let name = dir.file_name().unwrap().to_str().unwrap().to_owned();
        for (line, r) in records.into_iter().enumerate() {
            // A neighbour's mirrored topic is not one of this deployment's (its decode is
            // covered by the sharing golden replay).
            if topics.kind(&r.topic).is_some() {
                named.push((format!("{name}-line{}", line + 1), r, DialectChoice::Auto));
            }
        }
    }

    let vin = Vin::parse(VIN).unwrap();
    let plate_reads = recording::read(
        BufReader::new(fs::File::open(golden.join("plate_reads/input.jsonl")).unwrap()),
        &topics,
    )
    .unwrap();
    let first_on = |kind: TopicKind| {
        plate_reads
            .iter()
            .find(|r| r.topic == topics.name(kind))
            .cloned()
            .unwrap()
    };
    let value_on = |kind: TopicKind| first_on(kind).value.unwrap();
    let cited = RecordRef {
        topic: topics.shared_name(TopicKind::Inspections),
        partition: 3,
        offset: 41,
    };
    let evidence = Some(TopicKind::EvidenceByVin);
    let inspection = value_on(TopicKind::Inspections);
    let permit = value_on(TopicKind::Permits);
    let resolved = |original: &[u8], is_permit| {
        tailwatch::encode::resolved_evidence(&vin, &cited, is_permit, original)
    };
    let report = |command: proto::Command, collected: Option<pbjson_types::Timestamp>| {
        proto::TerminalReport {
            schema_version: 1,
            vin: VIN.into(),
            command: command as i32,
            collected_at: collected,
            ..Default::default()
        }
        .encode_to_vec()
    };
    let telemetry = Some(TopicKind::Telemetry);
    let raw = Some(TopicKind::TelemetryRaw);
    let golden_frame = |line: usize| {
        let file = fs::File::open(golden.join("raw_frames/input.jsonl")).unwrap();
        recording::read(BufReader::new(file), &topics).unwrap()[line].clone()
    };
    let with_header = |mut r: Record, name: &str, value: &str| {
        r.headers.insert(name.into(), value.into());
        r
    };
    let with_timestamp = |mut r: Record, timestamp: i64| {
        r.timestamp = timestamp;
        r
    };
    let login = report(proto::Command::Login, at(T / 1000));
    let built = [
        (
            "evidence-inspection",
            with_timestamp(
                record(evidence, Some(VIN), Some(resolved(&inspection, false))),
                first_on(TopicKind::Inspections).timestamp,
            ),
        ),
        (
            "evidence-inspection-a-day-early",
            record(evidence, Some(VIN), Some(resolved(&inspection, false))),
        ),
        (
            // Finite doubles beyond f32: once infinite NOx reached the rules.
            "remote-sensing-no-1e39",
            with_timestamp(
                record(
                    Some(TopicKind::Inspections),
                    Some(VIN),
                    Some({
                        let mut m = proto::Inspection::decode(&inspection[..]).unwrap();
                        m.vin = VIN.into();
                        if let Some(proto::inspection::Kind::RemoteSensing(r)) = &mut m.kind {
                            r.no_ppm = Some(1e39);
                            r.opacity_pct = Some(f64::NAN);
                        }
                        m.encode_to_vec()
                    }),
                ),
                first_on(TopicKind::Inspections).timestamp,
            ),
        ),
        (
            "evidence-permit",
            record(evidence, Some(VIN), Some(resolved(&permit, true))),
        ),
        (
            "evidence-no-source",
            record(
                evidence,
                Some(VIN),
                Some(
                    proto::ResolvedEvidence {
                        schema_version: 1,
                        vin: VIN.into(),
                        source: None,
                        evidence: Some(proto::resolved_evidence::Evidence::Permit(
                            proto::EntryPermit::decode(&permit[..]).unwrap(),
                        )),
                    }
                    .encode_to_vec(),
                ),
            ),
        ),
        (
            "evidence-garbage",
            record(evidence, Some(VIN), Some(vec![0xff; 3])),
        ),
        ("login", record(telemetry, Some(VIN), Some(login.clone()))),
        (
            "command-99",
            record(
                telemetry,
                Some(VIN),
                Some({
                    let mut m = proto::TerminalReport::decode(&login[..]).unwrap();
                    m.command = 99;
                    m.encode_to_vec()
                }),
            ),
        ),
        (
            "login-without-time",
            record(
                telemetry,
                Some(VIN),
                Some(report(proto::Command::Login, None)),
            ),
        ),
        (
            "login-truncated",
            record(
                telemetry,
                Some(VIN),
                Some(login[..login.len() - 3].to_vec()),
            ),
        ),
        ("tombstone", record(telemetry, Some(VIN), None)),
        ("tombstone", record(raw, Some(VIN), None)),
        (
            "tombstone-no-key",
            record(Some(TopicKind::Permits), None, None),
        ),
        (
            "tombstone",
            record(Some(TopicKind::Permits), Some(VIN), None),
        ),
        (
            "tombstone",
            record(Some(TopicKind::Registry), Some(VIN), None),
        ),
        (
            "tombstone-bad-key",
            record(Some(TopicKind::Registry), Some("not-a-vin"), None),
        ),
        (
            "hj1239-header",
            with_header(golden_frame(1), "tw-dialect", "hj1239"),
        ),
        (
            "gb17691-header",
            with_header(golden_frame(2), "tw-dialect", "gb17691"),
        ),
        (
            "bad-header",
            with_header(golden_frame(2), "tw-dialect", "hj-1239"),
        ),
        (
            "trace-header",
            with_header(golden_frame(2), "traceparent", "00-01-02-01"),
        ),
        ("no-timestamp", with_timestamp(golden_frame(2), -1)),
        ("max-timestamp", with_timestamp(golden_frame(2), i64::MAX)),
        ("min-timestamp", with_timestamp(golden_frame(2), i64::MIN)),
        (
            "registry-max-timestamp",
            with_timestamp(first_on(TopicKind::Registry), i64::MAX),
        ),
        (
            "tombstone-lower-case-key",
            record(Some(TopicKind::Registry), Some(&VIN.to_lowercase()), None),
        ),
        (
            "lower-case-vin-and-key",
            record(
                telemetry,
                Some(&VIN.to_lowercase()),
                Some({
                    let mut m = proto::TerminalReport::decode(&login[..]).unwrap();
                    m.vin = VIN.to_lowercase();
                    m.encode_to_vec()
                }),
            ),
        ),
        (
            "lower-case-vin",
            record(
                telemetry,
                Some(VIN),
                Some({
                    let mut m = proto::TerminalReport::decode(&login[..]).unwrap();
                    m.vin = VIN.to_lowercase();
                    m.encode_to_vec()
                }),
            ),
        ),
        (
            "year-2200-timestamp",
            with_timestamp(golden_frame(2), 7_258_118_400_000),
        ),
        (
            "before-2000-timestamp",
            with_timestamp(golden_frame(2), 900_000_000_000),
        ),
        (
            "login-no-timestamp",
            with_timestamp(record(telemetry, Some(VIN), Some(login.clone())), -1),
        ),
        (
            "login-a-day-early",
            with_timestamp(
                record(telemetry, Some(VIN), Some(login.clone())),
                T - 86_400_001,
            ),
        ),
        (
            "cases",
            record(Some(TopicKind::Cases), Some(VIN), Some(vec![])),
        ),
        (
            "dlq-tombstone",
            record(Some(TopicKind::Dlq), Some(VIN), None),
        ),
        ("foreign", record(None, Some(VIN), Some(login.clone()))),
        (
            "plate-permit-colour-0",
            record(
                Some(TopicKind::Permits),
                Some("津A12345"),
                Some({
                    let mut m = proto::EntryPermit::decode(&permit[..]).unwrap();
                    m.plate_colour = 0;
                    m.encode_to_vec()
                }),
            ),
        ),
        (
            "empty-value",
            record(Some(TopicKind::Reinspections), Some(VIN), Some(vec![])),
        ),
    ];
    for (what, r) in built {
        named.push((what.to_owned(), r, DialectChoice::Auto));
    }
    // A raw topic configured for HJ 1239 rather than auto.
    named.push((
        "configured-hj1239".into(),
        golden_frame(1),
        DialectChoice::ALL[1],
    ));

    // One seed per topic and outcome: more of the same only slows fuzzing down.
    let mut seen = Vec::new();
    let mut seeds = Vec::new();
    for (what, r, dialect) in named {
        let bytes = to_bytes(&r, dialect).expect("a seed fits the fuzz layout");
        let (fuzzed, result) = check(&bytes).unwrap_or_else(|e| panic!("seed {what}: {e}"));
        let topic = fuzzed
            .kind
            .filter(|k| TopicKind::INPUTS.contains(k))
            .map_or("other", TopicKind::suffix);
        let outcome = format!("{}-{topic}", label(&result));
        let detail = match &result {
            Ok(Input::Vehicle(e)) => format!("{:?}", std::mem::discriminant(&e.kind)),
            Ok(other) => format!("{:?}", std::mem::discriminant(other)),
            Err(_) => String::new(),
        };
        if !what.contains("-line") || !seen.contains(&(outcome.clone(), detail.clone())) {
            seen.push((outcome.clone(), detail));
            seeds.push((format!("{outcome}-{what}"), bytes));
        }
    }
    seeds
}
