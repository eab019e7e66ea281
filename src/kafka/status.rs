//! What the running service shows: `Stats` (counters, readiness, per-partition restore
//! progress and lag, stalled inputs, the state store) for the demo, the admin port and tests,
//! the per-commit `Tally` that turns processed records into metrics, and `ConsumerError`, the
//! one event for a consumer error's log line, metric and stall watch. No Kafka calls here.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use rdkafka::error::KafkaError;

pub use super::stall::Stall;
use super::stall::Stalls;
use crate::metrics as m;
use crate::model::Absent;
use crate::pipeline::{AbsentCounts, Processed, Sink, SAMPLE_FIELDS};
use crate::proto;
use crate::recording::Record;
use crate::state::StateStore;

/// What the service shows while it runs (demo summary, admin endpoints, tests).
pub struct Stats {
    pub records: AtomicU64,
    pub blacklist_events: AtomicU64,
    pub cases: AtomicU64,
    pub dlq: AtomicU64,
    pub commits: AtomicU64,
    /// Errors the group consumer reported instead of records.
    pub consumer_errors: AtomicU64,
    /// Assigned partition numbers: restore progress and lag.
    pub partitions: Mutex<BTreeMap<i32, PartitionStatus>>,
    /// The state store, once the service has started.
    pub store: OnceLock<Arc<StateStore>>,
    /// The global plate table's reader.
    pub plate_table: Mutex<PlateTableStatus>,
    /// Input partitions held still by a consumer error (locked after `partitions`, never
    /// before).
    pub(super) stalls: Mutex<Stalls>,
    /// Why the transactional producer is being (re-)initialised, while it is.
    pub recovering: Mutex<Option<String>>,
    /// Whether the processing loop still turns.
    pub watchdog: Watchdog,
}

/// The processing loop's heartbeat. librdkafka can block a call past its own timeout (a
/// transaction's `send_offsets_to_transaction` after a broker restart, librdkafka#5456), and
/// a loop stuck there must not look alive: `/healthz` fails and the process exits, so that a
/// restart (which restores from what Kafka holds) gets it going again.
#[derive(Debug)]
pub struct Watchdog {
    started: Instant,
    /// Milliseconds from `started` to the last beat; 0 while disarmed.
    beat: AtomicU64,
    /// How long the loop may be still: longer than any call in it may rightly block.
    limit_ms: AtomicU64,
}

impl Watchdog {
    /// Watched from now: stuck once still for longer than `limit`.
    pub fn arm(&self, limit: std::time::Duration) {
        self.limit_ms.store(
            u64::try_from(limit.as_millis()).unwrap_or(u64::MAX),
            Ordering::Relaxed,
        );
        self.beat();
    }

    /// The loop turned.
    pub fn beat(&self) {
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.beat.store(now.max(1), Ordering::Relaxed);
    }

    /// Not watched (stopping: `shutdown_timeout` bounds that).
    pub fn disarm(&self) {
        self.beat.store(0, Ordering::Relaxed);
    }

    /// How long the loop has been still, when that is past its limit.
    pub fn stuck(&self) -> Option<std::time::Duration> {
        let beat = self.beat.load(Ordering::Relaxed);
        if beat == 0 {
            return None;
        }
        let now = u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let still = now.saturating_sub(beat);
        (still > self.limit_ms.load(Ordering::Relaxed))
            .then(|| std::time::Duration::from_millis(still))
    }
}

impl Default for Watchdog {
    fn default() -> Watchdog {
        Watchdog {
            started: Instant::now(),
            beat: AtomicU64::new(0),
            limit_ms: AtomicU64::new(u64::MAX),
        }
    }
}

impl Default for Stats {
    fn default() -> Stats {
        Stats {
            records: AtomicU64::default(),
            blacklist_events: AtomicU64::default(),
            cases: AtomicU64::default(),
            dlq: AtomicU64::default(),
            commits: AtomicU64::default(),
            consumer_errors: AtomicU64::default(),
            partitions: Mutex::default(),
            store: OnceLock::new(),
            plate_table: Mutex::default(),
            // `service::run` sets the configured timeout.
            stalls: Mutex::new(Stalls::new(
                crate::settings::Settings::default().stall_timeout,
            )),
            recovering: Mutex::new(None),
            watchdog: Watchdog::default(),
        }
    }
}

/// Why `/readyz` says 503.
#[derive(Debug, Clone)]
pub enum NotReady {
    /// The global plate table is still being read: registry records read and to read.
    PlateTable {
        read: u64,
        total: u64,
    },
    Unassigned,
    /// The transactional producer is being initialised again after a failed transaction (or
    /// for the first time); its partitions are rewound to their last commit.
    Recovering(String),
    /// Partitions whose changelog holds records this release cannot read (`unreadable_state =
    /// "halt"`): partition number and what was found.
    UnreadableState(Vec<(i32, String)>),
    /// Partition numbers still being restored from the changelog.
    Restoring(Vec<i32>),
    /// Input partitions that have not moved since a consumer error for `stall_timeout`.
    Stalled(Vec<Stall>),
}

impl NotReady {
    /// The stalled input partitions, if that is the reason.
    pub fn stalled(&self) -> &[Stall] {
        match self {
            NotReady::Stalled(stalls) => stalls,
            NotReady::PlateTable { .. }
            | NotReady::Unassigned
            | NotReady::Recovering(_)
            | NotReady::UnreadableState(_)
            | NotReady::Restoring(_) => &[],
        }
    }
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReady::PlateTable { read, total } => write!(
                f,
                "restoring the plate table from the registry ({read} of {total} records)"
            ),
            NotReady::Unassigned => f.write_str("no partitions assigned"),
            NotReady::Recovering(why) => write!(f, "recovering: {why}"),
            NotReady::UnreadableState(partitions) => {
                f.write_str("changelog records this release cannot read (unreadable_state = \"halt\"; roll forward to the release that wrote them, or set unreadable_state = \"dead_letter\"): ")?;
                for (i, (p, what)) in partitions.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "partition {p}: {what}")?;
                }
                Ok(())
            }
            NotReady::Restoring(partitions) => {
                write!(f, "restoring partitions {partitions:?} from the changelog")
            }
            NotReady::Stalled(stalls) => {
                f.write_str("input partitions stalled by a consumer error: ")?;
                for (i, stall) in stalls.iter().enumerate() {
                    if i > 0 {
                        f.write_str("; ")?;
                    }
                    write!(f, "{stall}")?;
                }
                Ok(())
            }
        }
    }
}

/// The global plate table, as `/v1/status` shows it.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PlateTableStatus {
    /// Read to the end of the registry as it stood at start.
    pub restored: bool,
    /// Registry records read, and in the registry at start.
    pub records: u64,
    pub restore_total: u64,
    pub restore_seconds: f64,
    /// Plates (text and colour) and vehicles in the table.
    pub plates: u64,
    pub vehicles: u64,
    /// Plate-only evidence held on this instance for its registration.
    pub held_evidence: u64,
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
    /// Changelog records this release cannot read, halting the partition (count and the first).
    pub unreadable: Option<String>,
    /// Unconsumed records per input topic (end offset minus position; -1 until known).
    pub consumer_lag: BTreeMap<String, i64>,
}

impl Stats {
    /// `Ok` when partitions are assigned, all restored and none stalled, else why not.
    pub fn readiness(&self) -> Result<(), NotReady> {
        self.readiness_at(Instant::now())
    }

    pub(super) fn readiness_at(&self, now: Instant) -> Result<(), NotReady> {
        {
            let plates = self.plate_table.lock().expect("plate table status lock");
            if !plates.restored {
                return Err(NotReady::PlateTable {
                    read: plates.records,
                    total: plates.restore_total,
                });
            }
        }
        if let Some(why) = self.recovering.lock().expect("recovering lock").clone() {
            return Err(NotReady::Recovering(why));
        }
        let partitions = self.partitions.lock().expect("status lock");
        if partitions.is_empty() {
            return Err(NotReady::Unassigned);
        }
        let unreadable: Vec<(i32, String)> = partitions
            .iter()
            .filter_map(|(&p, s)| Some((p, s.unreadable.clone()?)))
            .collect();
        if !unreadable.is_empty() {
            return Err(NotReady::UnreadableState(unreadable));
        }
        let restoring: Vec<i32> = partitions
            .iter()
            .filter(|(_, s)| !s.restored)
            .map(|(&p, _)| p)
            .collect();
        if !restoring.is_empty() {
            return Err(NotReady::Restoring(restoring));
        }
        let stalled = self.stalled_at(now);
        if stalled.is_empty() {
            Ok(())
        } else {
            Err(NotReady::Stalled(stalled))
        }
    }

    /// Input partitions stalled by a consumer error now (`/v1/status`).
    pub fn stalled(&self) -> Vec<Stall> {
        self.stalled_at(Instant::now())
    }

    fn stalled_at(&self, now: Instant) -> Vec<Stall> {
        self.stalls.lock().expect("stalls lock").stalled(now)
    }

    pub(super) fn publish_readiness(&self) {
        let ready = self.readiness().is_ok();
        metrics::gauge!(m::READY).set(if ready { 1.0 } else { 0.0 });
    }

    /// Logs stalls that began or ended, and publishes the stall and readiness gauges
    /// (after each statistics report, so a stall shows within a statistics interval).
    pub(super) fn publish_stalls(&self, now: Instant) {
        let (topics, (stalled, began, ended)) = {
            let mut stalls = self.stalls.lock().expect("stalls lock");
            (stalls.topics(), stalls.changes(now))
        };
        for stall in &began {
            tracing::error!(
                topic = %stall.topic,
                partition = stall.partition,
                unread = stall.unread,
                seconds = stall.seconds,
                errors = stall.errors,
                reason = %stall.reason,
                error = %stall.error,
                "Input partition stalled: unread records and no progress since a consumer error; /readyz reports it."
            );
        }
        for (topic, partition) in &ended {
            tracing::info!(%topic, partition, "Input partition moves again.");
        }
        for topic in topics {
            let n = stalled.iter().filter(|s| s.topic == topic).count();
            metrics::gauge!(m::STALLED_PARTITIONS, "topic" => topic).set(n as f64);
        }
        self.publish_readiness();
    }
}

/// One error the group consumer reported instead of a record: its log line, its count and
/// its place in the stall watch come from here together.
pub(super) struct ConsumerError {
    /// The error code in snake case (`not_implemented`, `all_brokers_down`): the metric label.
    reason: String,
    /// librdkafka's message, e.g. "Decompression (codec 0x4) of message at 7 of 5120 bytes
    /// failed: Local: Not implemented"; rdkafka's rendering of the code when there is none.
    message: String,
}

impl ConsumerError {
    pub(super) fn new(error: &KafkaError, message: Option<String>) -> ConsumerError {
        let reason = error.rdkafka_error_code().map_or_else(
            || "unknown".to_owned(),
            |code| snake_case(&format!("{code:?}")),
        );
        ConsumerError {
            reason,
            message: message.unwrap_or_else(|| error.to_string()),
        }
    }

    pub(super) fn emit(self, stats: &Stats) {
        tracing::warn!(reason = %self.reason, error = %self.message, "Consumer error instead of a record.");
        metrics::counter!(m::CONSUMER_ERRORS, "reason" => self.reason.clone()).increment(1);
        stats.consumer_errors.fetch_add(1, Ordering::Relaxed);
        stats
            .stalls
            .lock()
            .expect("stalls lock")
            .error(&self.reason, &self.message);
    }
}

/// `NotImplemented` → `not_implemented`.
fn snake_case(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for (i, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
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
    plate_reads: BTreeMap<&'static str, u64>,
    withheld: u64,
}

impl Tally {
    pub(super) fn record(&mut self, record: &Record, processed: &Processed) {
        bump(&mut self.consumed, &record.topic);
        self.duplicates += u64::from(processed.duplicates);
        self.vin_flagged += u64::from(processed.vin_flagged);
        self.withheld += u64::from(processed.withheld);
        for (field, reasons) in processed.absent.iter().enumerate() {
            for (reason, n) in reasons.iter().enumerate() {
                self.absent[field][reason] += n;
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
        metrics::counter!(m::ENTRY_CASES_WITHHELD).increment(t.withheld);
        for (outcome, n) in t.plate_reads {
            metrics::counter!(m::PLATE_READS, "outcome" => outcome).increment(n);
        }
    }
}

/// Outputs as metric counts.
impl Sink for Tally {
    type Error = Infallible;

    fn blacklist(&mut self, e: &proto::BlacklistEvent) -> Result<(), Infallible> {
        let kind = if e.status == proto::BlacklistStatus::Listed as i32 {
            "blacklist_listed"
        } else {
            "blacklist_delisted"
        };
        let rule = e.reasons.first().map_or("delisting", String::as_str);
        *self.outputs.entry((kind, rule.to_owned())).or_default() += 1;
        Ok(())
    }

    fn shared(&mut self, s: &proto::SharedOverlimit) -> Result<(), Infallible> {
        let status = if s.status == proto::BlacklistStatus::Listed as i32 {
            "listed"
        } else {
            "delisted"
        };
        *self
            .outputs
            .entry(("shared", status.to_owned()))
            .or_default() += 1;
        Ok(())
    }

    fn case(&mut self, c: &proto::EnforcementCase) -> Result<(), Infallible> {
        *self.outputs.entry(("case", c.rule.clone())).or_default() += 1;
        Ok(())
    }

    fn dlq(&mut self, record: &Record, reason: &'static str, _: &str) -> Result<(), Infallible> {
        *self.dlq.entry(reason).or_default() += 1;
        if reason == "late" {
            self.late += 1;
        } else {
            *self
                .rejects
                .entry((record.topic.clone(), reason))
                .or_default() += 1;
        }
        Ok(())
    }

    fn given_up(
        &mut self,
        record: &Record,
        reason: &'static str,
        _: &str,
    ) -> Result<(), Infallible> {
        *self.plate_reads.entry("given_up").or_default() += 1;
        self.dlq(record, reason, "")
    }

    fn resolved(&mut self, _: &Record) -> Result<(), Infallible> {
        *self.plate_reads.entry("resolved").or_default() += 1;
        Ok(())
    }

    fn held(&mut self, _: i32, _: &str, value: Option<&[u8]>) -> Result<(), Infallible> {
        if value.is_some() {
            *self.plate_reads.entry("held").or_default() += 1;
        }
        Ok(())
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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rdkafka::error::RDKafkaErrorCode;

    use super::*;

    /// Partition number 2 assigned and restored, its raw-telemetry input watched from `t0`
    /// with 40 records unread at offset 7.
    fn serving(t0: Instant) -> Stats {
        let stats = Stats::default();
        stats.plate_table.lock().unwrap().restored = true;
        stats.partitions.lock().unwrap().insert(
            2,
            PartitionStatus {
                restored: true,
                ..PartitionStatus::default()
            },
        );
        let mut stalls = stats.stalls.lock().unwrap();
        stalls.set_timeout(Duration::from_secs(30));
        stalls.track(t0, "tw.telemetry.raw", 2);
        stalls.observe(t0, "tw.telemetry.raw", 2, Some(7), Some(47));
        drop(stalls);
        stats
    }

    fn decompression_failure() -> ConsumerError {
        ConsumerError::new(
            &KafkaError::MessageConsumption(RDKafkaErrorCode::NotImplemented),
            Some("Decompression (codec 0x4) of message at 7 of 5120 bytes failed: Local: Not implemented".to_owned()),
        )
    }

    #[test]
    fn readiness_names_the_stalled_partition_and_the_error_once_it_repeated_past_the_timeout() {
        let t0 = Instant::now();
        let stats = serving(t0);
        assert!(stats.readiness_at(t0).is_ok());
        for _ in 0..50 {
            decompression_failure().emit(&stats);
        }
        assert_eq!(stats.consumer_errors.load(Ordering::Relaxed), 50);
        assert!(stats.readiness_at(t0 + Duration::from_secs(29)).is_ok());
        let not_ready = stats
            .readiness_at(t0 + Duration::from_secs(31))
            .unwrap_err();
        let stalled = not_ready.stalled();
        assert_eq!(stalled.len(), 1);
        assert_eq!(
            (
                stalled[0].topic.as_str(),
                stalled[0].partition,
                stalled[0].unread
            ),
            ("tw.telemetry.raw", 2, 40)
        );
        assert_eq!(stalled[0].reason, "not_implemented");
        let reason = not_ready.to_string();
        assert!(
            reason.contains("tw.telemetry.raw partition 2")
                && reason.contains("50 consumer errors")
                && reason.contains("Decompression (codec 0x4)"),
            "{reason}"
        );
        let json = serde_json::to_value(stalled).unwrap();
        assert_eq!(json[0]["partition"], 2);
    }

    #[test]
    fn not_ready_until_the_plate_table_is_restored() {
        let t0 = Instant::now();
        let stats = serving(t0);
        {
            let mut plates = stats.plate_table.lock().unwrap();
            plates.restored = false;
            (plates.records, plates.restore_total) = (250, 1000);
        }
        let reason = stats.readiness_at(t0).unwrap_err();
        assert!(matches!(
            reason,
            NotReady::PlateTable {
                read: 250,
                total: 1000
            }
        ));
        assert_eq!(
            reason.to_string(),
            "restoring the plate table from the registry (250 of 1000 records)"
        );
        stats.plate_table.lock().unwrap().restored = true;
        assert!(stats.readiness_at(t0).is_ok());
    }

    #[test]
    fn restoring_comes_before_stalls_and_progress_makes_the_partition_ready_again() {
        let t0 = Instant::now();
        let stats = serving(t0);
        decompression_failure().emit(&stats);
        let later = t0 + Duration::from_secs(60);
        let set_restored = |restored| {
            let mut partitions = stats.partitions.lock().unwrap();
            partitions.get_mut(&2).unwrap().restored = restored;
        };
        set_restored(false);
        assert!(matches!(
            stats.readiness_at(later),
            Err(NotReady::Restoring(p)) if p == [2]
        ));
        set_restored(true);
        assert!(matches!(
            stats.readiness_at(later),
            Err(NotReady::Stalled(_))
        ));
        stats
            .stalls
            .lock()
            .unwrap()
            .observe(later, "tw.telemetry.raw", 2, Some(47), Some(47));
        assert!(stats.readiness_at(later).is_ok());
    }

    #[test]
    fn error_codes_become_snake_case_labels() {
        assert_eq!(snake_case("NotImplemented"), "not_implemented");
        assert_eq!(snake_case("AllBrokersDown"), "all_brokers_down");
        let e = ConsumerError::new(
            &KafkaError::MessageConsumption(RDKafkaErrorCode::BrokerTransportFailure),
            None,
        );
        assert_eq!(e.reason, "broker_transport_failure");
        assert!(
            e.message.contains("Message consumption error"),
            "{}",
            e.message
        );
    }

    /// A loop still for longer than its limit is stuck; one that turns, or a disarmed one (a
    /// service not started yet, or stopping), is not.
    #[test]
    fn the_watchdog_tells_a_stuck_loop_from_a_turning_one() {
        let watchdog = Watchdog::default();
        watchdog.beat();
        assert_eq!(watchdog.stuck(), None, "not armed before the loop starts");
        watchdog.arm(std::time::Duration::from_secs(60));
        assert_eq!(watchdog.stuck(), None);
        watchdog.arm(std::time::Duration::from_millis(5));
        std::thread::sleep(std::time::Duration::from_millis(30));
        assert!(watchdog
            .stuck()
            .is_some_and(|d| d >= std::time::Duration::from_millis(5)));
        watchdog.disarm();
        assert_eq!(watchdog.stuck(), None);
    }
}
