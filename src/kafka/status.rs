//! What the running service shows: `Stats` (counters, readiness, per-partition restore
//! progress and lag, the state store) for the demo, the admin port and tests, and the per-commit
//! `Tally` that turns processed records into metrics. No Kafka calls here.

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, OnceLock};

use crate::metrics as m;
use crate::model::Absent;
use crate::pipeline::{AbsentCounts, Emitted, Processed, SAMPLE_FIELDS};
use crate::proto;
use crate::recording::Record;
use crate::state::StateStore;

/// What the service shows while it runs (demo summary, admin endpoints, tests).
#[derive(Default)]
pub struct Stats {
    pub records: AtomicU64,
    pub blacklist_events: AtomicU64,
    pub cases: AtomicU64,
    pub dlq: AtomicU64,
    pub commits: AtomicU64,
    /// Assigned partition numbers: restore progress and lag.
    pub partitions: Mutex<BTreeMap<i32, PartitionStatus>>,
    /// The state store, once the service has started.
    pub store: OnceLock<Arc<StateStore>>,
}

/// One assigned partition number, as `/v1/status` shows it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PartitionStatus {
    pub restored: bool,
    /// Changelog records read and to read while restoring.
    pub restore_read: u64,
    pub restore_total: u64,
    pub restore_seconds: f64,
    pub vehicles: u64,
    /// Unconsumed records per input topic (librdkafka statistics; -1 until known).
    pub consumer_lag: BTreeMap<String, i64>,
}

impl Stats {
    /// `Ok` when partitions are assigned and all restored, else why not.
    pub fn readiness(&self) -> Result<(), String> {
        let partitions = self.partitions.lock().expect("status lock");
        if partitions.is_empty() {
            return Err("no partitions assigned".to_owned());
        }
        let restoring: Vec<i32> = partitions
            .iter()
            .filter(|(_, s)| !s.restored)
            .map(|(&p, _)| p)
            .collect();
        if restoring.is_empty() {
            Ok(())
        } else {
            Err(format!(
                "restoring partitions {restoring:?} from the changelog"
            ))
        }
    }

    pub(super) fn publish_readiness(&self) {
        let ready = self.readiness().is_ok();
        metrics::gauge!(m::READY).set(if ready { 1.0 } else { 0.0 });
    }
}

/// Counts of one commit interval, published to the metrics recorder at each commit so a
/// record costs no label lookups.
#[derive(Default)]
pub(super) struct Tally {
    consumed: BTreeMap<String, u64>,
    rejects: BTreeMap<(String, &'static str), u64>,
    dlq: BTreeMap<&'static str, u64>,
    outputs: BTreeMap<(&'static str, String), u64>,
    absent: AbsentCounts,
    late: u64,
    duplicates: u64,
    vin_flagged: u64,
}

impl Tally {
    pub(super) fn record(&mut self, record: &Record, processed: &Processed) {
        bump(&mut self.consumed, &record.topic);
        self.duplicates += u64::from(processed.duplicates);
        self.vin_flagged += u64::from(processed.vin_flagged);
        for (field, reasons) in processed.absent.iter().enumerate() {
            for (reason, n) in reasons.iter().enumerate() {
                self.absent[field][reason] += n;
            }
        }
        for emitted in &processed.emitted {
            match emitted {
                Emitted::Blacklist(e) => {
                    let listed = e.status == proto::BlacklistStatus::Listed as i32;
                    let kind = if listed {
                        "blacklist_listed"
                    } else {
                        "blacklist_delisted"
                    };
                    let rule = e.reasons.first().map_or("delisting", String::as_str);
                    *self.outputs.entry((kind, rule.to_owned())).or_default() += 1;
                }
                Emitted::Case(c) => {
                    *self.outputs.entry(("case", c.rule.clone())).or_default() += 1;
                }
                Emitted::Dlq { reason, .. } => {
                    *self.dlq.entry(reason).or_default() += 1;
                    if *reason == "late" {
                        self.late += 1;
                    } else {
                        *self
                            .rejects
                            .entry((record.topic.clone(), reason))
                            .or_default() += 1;
                    }
                }
            }
        }
    }

    pub(super) fn publish(&mut self) {
        let t = std::mem::take(self);
        for (topic, n) in t.consumed {
            metrics::counter!(m::RECORDS_CONSUMED, "topic" => topic).increment(n);
        }
        for ((topic, reason), n) in t.rejects {
            metrics::counter!(m::DECODE_REJECTS, "topic" => topic, "reason" => reason).increment(n);
        }
        for (reason, n) in t.dlq {
            metrics::counter!(m::DLQ_RECORDS, "reason" => reason).increment(n);
        }
        for ((kind, rule), n) in t.outputs {
            metrics::counter!(m::OUTPUTS, "kind" => kind, "rule" => rule).increment(n);
        }
        for (field, reasons) in t.absent.iter().enumerate() {
            for (reason, &n) in reasons.iter().enumerate() {
                if n > 0 {
                    metrics::counter!(
                        m::ABSENT_VALUES,
                        "field" => SAMPLE_FIELDS[field],
                        "reason" => Absent::ALL[reason].as_str()
                    )
                    .increment(u64::from(n));
                }
            }
        }
        metrics::counter!(m::LATE_RECORDS).increment(t.late);
        metrics::counter!(m::DUPLICATES).increment(t.duplicates);
        metrics::counter!(m::VIN_FLAGGED).increment(t.vin_flagged);
    }
}

fn bump(counts: &mut BTreeMap<String, u64>, key: &str) {
    match counts.get_mut(key) {
        Some(n) => *n += 1,
        None => {
            counts.insert(key.to_owned(), 1);
        }
    }
}
