//! Offline replay: a recording → `blacklist.jsonl`, `shared.jsonl`, `cases.jsonl`, `dlq.jsonl`,
//! `summary.json`.
//!
//! Records are processed in timestamp order, stable for ties (the order the live pipeline
//! uses). Outputs are a pure function of the recording: no wall-clock fields anywhere.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io::Write;
use std::path::Path;

use serde::Serialize;

use crate::pipeline::{Emitted, Processor, Sink};
use crate::proto;
use crate::recording::{self, Record};
use crate::topics::{TopicKind, Topics};

/// Counts for `summary.json`. BTreeMaps keep the JSON key order stable.
#[derive(Debug, Default, Serialize, PartialEq)]
pub struct Summary {
    pub records_in: u64,
    pub records_by_topic: BTreeMap<String, u64>,
    pub blacklist_events: u64,
    pub listed: u64,
    pub delisted: u64,
    /// Records for neighbouring provinces (`tw.shared.overlimit`).
    pub shared_overlimit: u64,
    pub cases: u64,
    pub cases_by_rule: BTreeMap<String, u64>,
    pub dlq: u64,
    pub dlq_by_reason: BTreeMap<String, u64>,
    pub duplicates_ignored: u64,
    /// Plate-only evidence resolved to a VIN, at once or after being held.
    pub plate_reads_resolved: u64,
    /// Plate-only evidence held for its registration (resolved or given up later).
    pub plate_reads_held: u64,
    pub vin_flagged_records: u64,
    pub vehicles_tracked: u64,
    pub vehicles_expired: u64,
}

/// Output lines in memory, in emission order.
#[derive(Debug, Default)]
pub struct Outputs {
    pub blacklist: Vec<String>,
    pub shared: Vec<String>,
    pub cases: Vec<String>,
    pub dlq: Vec<String>,
    pub summary: Summary,
}

/// Sorts by record timestamp, then topic rank; stable, so input order breaks the rest.
pub fn order(records: &mut [Record], topics: &Topics) {
    records.sort_by_key(|r| {
        (
            r.timestamp,
            topics
                .kind(&r.topic)
                .map_or(TopicKind::UNRANKED, TopicKind::rank),
        )
    });
}

/// Runs records (already in processing order) through the processor.
pub fn run<'a>(
    processor: &Processor,
    topics: &Topics,
    records: impl IntoIterator<Item = &'a Record>,
) -> Outputs {
    let mut out = Outputs::default();
    for record in records {
        feed(processor, topics, record, &mut out);
    }
    out.summary.vehicles_tracked = processor.store().len() as u64;
    out
}

/// Processes one record and appends its outputs.
pub fn feed(processor: &Processor, topics: &Topics, record: &Record, out: &mut Outputs) {
    let s = &mut out.summary;
    s.records_in += 1;
    *s.records_by_topic.entry(record.topic.clone()).or_default() += 1;
    for emitted in process(processor, record, s) {
        let Ok(()) = emitted.deliver(&mut Files { topics, out });
    }
}

/// The offline destination: output lines and the summary's counts.
struct Files<'a> {
    topics: &'a Topics,
    out: &'a mut Outputs,
}

impl Sink for Files<'_> {
    type Error = Infallible;

    fn blacklist(&mut self, e: &proto::BlacklistEvent) -> Result<(), Infallible> {
        let s = &mut self.out.summary;
        s.blacklist_events += 1;
        if e.status == proto::BlacklistStatus::Delisted as i32 {
            s.delisted += 1;
        } else {
            s.listed += 1;
        }
        self.out.blacklist.push(json(e));
        Ok(())
    }

    fn shared(&mut self, shared: &proto::SharedOverlimit) -> Result<(), Infallible> {
        self.out.summary.shared_overlimit += 1;
        self.out.shared.push(json(shared));
        Ok(())
    }

    fn case(&mut self, c: &proto::EnforcementCase) -> Result<(), Infallible> {
        let s = &mut self.out.summary;
        s.cases += 1;
        *s.cases_by_rule.entry(c.rule.clone()).or_default() += 1;
        self.out.cases.push(json(c));
        Ok(())
    }

    fn dlq(
        &mut self,
        record: &Record,
        reason: &'static str,
        message: &str,
    ) -> Result<(), Infallible> {
        let s = &mut self.out.summary;
        s.dlq += 1;
        *s.dlq_by_reason.entry(reason.to_owned()).or_default() += 1;
        let line = dlq_record(self.topics, record, reason, message).to_line(self.topics);
        self.out.dlq.push(line);
        Ok(())
    }

    fn given_up(
        &mut self,
        record: &Record,
        reason: &'static str,
        message: &str,
    ) -> Result<(), Infallible> {
        self.dlq(record, reason, message)
    }

    fn resolved(&mut self, _: &Record) -> Result<(), Infallible> {
        self.out.summary.plate_reads_resolved += 1;
        Ok(())
    }

    fn held(&mut self, _: i32, _: &str, value: Option<&[u8]>) -> Result<(), Infallible> {
        self.out.summary.plate_reads_held += u64::from(value.is_some());
        Ok(())
    }
}

fn json(message: &impl Serialize) -> String {
    serde_json::to_string(message).expect("messages serialise")
}

/// Processes one record offline, with what it sets off: resolved plate-only evidence comes
/// straight back in (live, it makes the trip through `tw.evidence.by-vin`), after the
/// `Emitted::Resolved` that announces it, and held evidence the record's registration resolves
/// is applied.
pub fn process(processor: &Processor, record: &Record, summary: &mut Summary) -> Vec<Emitted> {
    let processed = processor.process(record);
    summary.duplicates_ignored += u64::from(processed.duplicates);
    summary.vin_flagged_records += u64::from(processed.vin_flagged);
    summary.vehicles_expired += processed.expired.len() as u64;
    let mut out = Vec::new();
    for emitted in processed.emitted.into_iter().chain(processor.release()) {
        let resolved = if let Emitted::Resolved(r) = &emitted {
            Some(r.clone())
        } else {
            None
        };
        out.push(emitted);
        if let Some(r) = resolved {
            out.extend(process(processor, &r, summary));
        }
    }
    out
}

/// The partition count a recording was made with, as far as it shows: one more than the
/// highest partition of its records.
pub fn partitions(records: &[Record]) -> i32 {
    records.iter().map(|r| r.partition + 1).max().unwrap_or(1)
}

/// The DLQ record for a rejected input: original key and bytes, headers naming the source and
/// the reason.
pub fn dlq_record(topics: &Topics, record: &Record, reason: &str, message: &str) -> Record {
    let mut headers = record.headers.clone();
    headers.insert("tw-source-topic".into(), record.topic.clone());
    headers.insert("tw-source-partition".into(), record.partition.to_string());
    headers.insert("tw-source-offset".into(), record.offset.to_string());
    headers.insert("tw-error-kind".into(), reason.to_owned());
    headers.insert("tw-error-message".into(), message.to_owned());
    Record {
        topic: topics.name(TopicKind::Dlq),
        partition: record.partition,
        offset: 0,
        timestamp: record.timestamp,
        key: record.key.clone(),
        headers,
        value: record.value.clone(),
    }
}

/// Writes the output files into `dir` (created if needed).
pub fn write(dir: &Path, out: &Outputs) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let lines = |name: &str, lines: &[String]| -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join(name))?);
        for line in lines {
            writeln!(f, "{line}")?;
        }
        f.flush()
    };
    lines("blacklist.jsonl", &out.blacklist)?;
    lines("shared.jsonl", &out.shared)?;
    lines("cases.jsonl", &out.cases)?;
    lines("dlq.jsonl", &out.dlq)?;
    let summary = serde_json::to_string_pretty(&out.summary).expect("summary serialises");
    std::fs::write(dir.join("summary.json"), summary + "\n")
}

/// Reads a recording file, replays it, writes the outputs.
pub fn replay_file(
    processor: &Processor,
    topics: &Topics,
    input: &Path,
    dir: &Path,
) -> anyhow::Result<Summary> {
    use anyhow::Context as _;
    let file =
        std::fs::File::open(input).with_context(|| format!("opening {}", input.display()))?;
    let mut records = recording::read(std::io::BufReader::new(file), topics)
        .with_context(|| format!("reading {}", input.display()))?;
    order(&mut records, topics);
    replay_records(processor, topics, &records, dir)
}

/// Processes records (already in processing order) and writes the output files into `dir`.
pub fn replay_records(
    processor: &Processor,
    topics: &Topics,
    records: &[Record],
    dir: &Path,
) -> anyhow::Result<Summary> {
    use anyhow::Context as _;
    let out = run(processor, topics, records);
    write(dir, &out).with_context(|| format!("writing {}", dir.display()))?;
    Ok(out.summary)
}
