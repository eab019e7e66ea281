//! `tailwatch run`: the exactly-once service.
//!
//! One consumer in the group reads every input topic with `read_committed`. Per-vehicle state
//! needs one instance to own the same partition number of every input topic, which no Kafka
//! assignor guarantees (cooperative-sticky balances topic-partitions independently). So the
//! group subscribes only to the lead topic (the first input topic) with cooperative-sticky
//! assignment, and every assigned or revoked lead partition brings the same partition number
//! of the other input topics with it (incremental assign/unassign in the rebalance callback).
//! Rolling restarts then move only the partitions that must move. Within a partition number,
//! records of the different topics are merged in timestamp order, waiting at most
//! `merge_wait` for an empty topic.
//!
//! Each commit interval, one transaction carries the outputs (blacklist, cases, DLQ), the
//! changed vehicles' states (`tw.changelog`, same partition number) and the consumed offsets.
//!
//! An assigned partition number is paused and restored from the changelog on a thread of its
//! own (`restore`), outside the rebalance callback, while the others go on; when its restore is
//! done it is rewound to the group's committed offsets and resumed. On revocation the
//! transaction is committed and the vehicles dropped.
//!
//! A failed transaction is recovered in process, as Kafka Streams does: abort it, throw the
//! producer away, rewind every partition to its last commit (pause, drop its vehicles, restore
//! them from the changelog), and initialise a new transactional producer, retrying with
//! back-off while the broker does not answer. Meanwhile `/readyz` says why; memory never runs
//! ahead of what Kafka holds.
//!
//! An error the consumer reports instead of a record (librdkafka's message for it arrives
//! through `ClientContext::error`) is logged, counted and given to the stall watch
//! (`stall`), which follows each input partition's position in librdkafka's statistics: a
//! partition that stays still after such an error makes the instance unready.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer, PurgeConfig};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::merge::{Bounds, Merge, Role};
use super::restore::{RestoreError, Restored};
use super::status::{ConsumerError, Tally};
pub use super::status::{NotReady, PartitionStatus, Stall, Stats};
use super::{message_of, record_of, send, KafkaConfig};
use crate::engine::Rules;
use crate::metrics as m;
use crate::model::Vin;
use crate::pipeline::{Emitted, Processor, Sink, Tables};
use crate::proto;
use crate::recording::Record;
use crate::replay::dlq_record;
use crate::settings::UnreadableState;
use crate::shutdown::Shutdown;
use crate::state::encode_state;
use crate::topics::{TopicKind, Topics};

/// How the service ended, for the process's exit code.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The stop could not commit within `shutdown_timeout` (the broker unreachable, say): the
    /// open transaction was aborted; the restart restores from what Kafka holds.
    #[error("the last commit failed within shutdown_timeout ({timeout:?}); the open transaction was aborted: {error:#}")]
    Unfinished {
        timeout: Duration,
        error: anyhow::Error,
    },
    /// Kafka refused something a retry cannot fix (the group, an assignment).
    #[error(transparent)]
    Broker(anyhow::Error),
}

/// Longest wait between two attempts to initialise the transactional producer.
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// A partition number on its way in.
enum Restoring {
    /// Reading the changelog on its own thread.
    Running {
        cancel: Arc<AtomicBool>,
        thread: JoinHandle<Result<Restored, RestoreError>>,
        started: Instant,
    },
    /// Failed (the broker did not answer); tried again at this time.
    Retry(Instant),
    /// Read; waits for the producer before it is resumed.
    Done { restored: Restored, seconds: f64 },
    /// Holds records this release cannot read (`unreadable_state = "halt"`): stays paused.
    Halted,
}

/// The transactional producer being initialised (again).
struct Recovery {
    why: String,
    since: Instant,
    producer: Initialising,
}

/// A transactional producer being initialised, attempt after attempt with back-off (1 s
/// doubling to `MAX_BACKOFF`). The same instance is tried again while librdkafka calls the
/// failure retriable (a broker not answering yet): its InitProducerId request may still be
/// under way, and a new instance would first have to wait that one out on the coordinator.
struct Initialising {
    producer: Option<BaseProducer>,
    attempts: u32,
    next_try: Instant,
}

impl Initialising {
    fn new() -> Initialising {
        Initialising {
            producer: None,
            attempts: 0,
            next_try: Instant::now(),
        }
    }

    fn due(&self) -> bool {
        Instant::now() >= self.next_try
    }

    /// One attempt (at most 10 s). On failure, the back-off before the next one is set and
    /// returned with the error.
    fn attempt(&mut self, cfg: &KafkaConfig) -> Result<BaseProducer, (anyhow::Error, Duration)> {
        let result = match self.producer.take() {
            Some(producer) => Ok(producer),
            None => cfg
                .service_producer()
                .create()
                .context("creating the producer"),
        }
        .and_then(|producer| {
            if !cfg.exactly_once {
                return Ok(producer);
            }
            match producer.init_transactions(cfg.transaction_timeout.min(Duration::from_secs(10))) {
                Ok(()) => Ok(producer),
                Err(e) => {
                    if matches!(&e, KafkaError::Transaction(t) if t.is_retriable()) {
                        self.producer = Some(producer);
                    }
                    Err(anyhow::Error::new(e).context("initialising transactions"))
                }
            }
        });
        result.map_err(|e| (e, self.failed()))
    }

    /// An attempt failed: the wait before the next one.
    fn failed(&mut self) -> Duration {
        self.attempts += 1;
        let backoff = Duration::from_secs(1 << self.attempts.min(5)).min(MAX_BACKOFF);
        self.next_try = Instant::now() + backoff;
        backoff
    }
}

struct Worker {
    cfg: KafkaConfig,
    processor: Arc<Processor>,
    producer: BaseProducer,
    /// Set while the producer is not usable.
    recovery: Option<Recovery>,
    merge: Merge,
    restores: BTreeMap<i32, Restoring>,
    in_transaction: bool,
    dirty: BTreeMap<i32, BTreeSet<Vin>>,
    tally: Tally,
    /// Newest evidence time processed per partition (ms), for the event-time lag gauge.
    newest: BTreeMap<i32, i64>,
    expired: BTreeMap<i32, Vec<Vin>>,
    last_commit: Instant,
    stats: Arc<Stats>,
    failed: Option<anyhow::Error>,
    shutdown: Shutdown,
    /// When the stop must be done by, from when it was first seen (a commit under way when
    /// it is asked for is cut short to it).
    stop_by: std::cell::Cell<Option<Instant>>,
}

/// Writes a changelog record (`None`: a tombstone) into the open transaction.
fn changelog(
    producer: &BaseProducer,
    topics: &Topics,
    p: i32,
    key: &[u8],
    value: Option<&[u8]>,
) -> anyhow::Result<()> {
    let changelog = topics.name(TopicKind::Changelog);
    let mut message = BaseRecord::to(&changelog).partition(p).key(key);
    if let Some(value) = value {
        message = message.payload(value);
    }
    send(producer, message)
}

/// The open transaction as a destination of outputs, with the status counters.
struct Transaction<'a> {
    producer: &'a BaseProducer,
    topics: &'a Topics,
    merge: &'a mut Merge,
    stats: &'a Stats,
}

impl Transaction<'_> {
    /// Sends an output keyed by `key`, partitioned by the producer.
    /// `timestamp`: the record's, in ms (`None`: the producer's clock).
    fn output(
        &self,
        kind: TopicKind,
        key: &[u8],
        value: &[u8],
        timestamp: Option<i64>,
    ) -> anyhow::Result<()> {
        let topic = self.topics.name(kind);
        let mut message = BaseRecord::to(&topic).key(key).payload(value);
        if let Some(t) = timestamp {
            message = message.timestamp(t);
        }
        send(self.producer, message)
    }
}

impl Sink for Transaction<'_> {
    type Error = anyhow::Error;

    fn blacklist(&mut self, e: &proto::BlacklistEvent) -> anyhow::Result<()> {
        self.output(
            TopicKind::Blacklist,
            e.vin.as_bytes(),
            &e.encode_to_vec(),
            None,
        )?;
        self.stats.blacklist_events.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Stamped with the listing's or delisting's own time, so that a neighbour replaying a
    /// recording of its mirror meets it where it took effect, not where it was sent; never
    /// later than now (evidence may be dated up to a day ahead, and a broker refuses records
    /// more than `message.timestamp.after.max.ms` ahead of its clock, here or at the mirror).
    fn shared(&mut self, s: &proto::SharedOverlimit) -> anyhow::Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(i64::MAX, |d| d.as_millis() as i64);
        let at = s
            .event_time
            .as_ref()
            .map(|t| (t.seconds * 1000 + i64::from(t.nanos / 1_000_000)).min(now));
        self.output(
            TopicKind::SharedOverlimit,
            s.vin.as_bytes(),
            &s.encode_to_vec(),
            at,
        )
    }

    fn case(&mut self, c: &proto::EnforcementCase) -> anyhow::Result<()> {
        self.output(
            TopicKind::Cases,
            c.case_id.as_bytes(),
            &c.encode_to_vec(),
            None,
        )?;
        self.stats.cases.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn dlq(&mut self, record: &Record, reason: &'static str, message: &str) -> anyhow::Result<()> {
        let dlq = dlq_record(self.topics, record, reason, message);
        send(self.producer, message_of(&dlq))?;
        self.stats.dlq.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn given_up(
        &mut self,
        record: &Record,
        reason: &'static str,
        message: &str,
    ) -> anyhow::Result<()> {
        self.dlq(record, reason, message)
    }

    fn resolved(&mut self, r: &Record) -> anyhow::Result<()> {
        send(self.producer, message_of(r).partition(r.partition))?;
        self.merge
            .sent_resolved(r.partition, r.timestamp, Instant::now());
        Ok(())
    }

    fn held(&mut self, partition: i32, key: &str, value: Option<&[u8]>) -> anyhow::Result<()> {
        changelog(self.producer, self.topics, partition, key.as_bytes(), value)
    }
}

impl Worker {
    /// Processes what the merge hands out; returns how many records.
    fn drain(&mut self, consumer: &BaseConsumer<Ctx>) -> anyhow::Result<usize> {
        let now = Instant::now();
        let mut applied = 0;
        // Again while a pass moves: a partition may have waited for another's plate-only
        // evidence.
        loop {
            let before = applied;
            for p in self.merge.numbers() {
                let _span = tracing::info_span!("partition", partition = p).entered();
                while let Some(record) = self.merge.next(consumer, p, now) {
                    if Role::of(self.cfg.topics.kind(&record.topic)) == Role::PlateKeyed {
                        // Evidence the table resolves since the last pass goes first: it is
                        // older than this read, which may resolve now too (offline order).
                        self.release()?;
                    }
                    self.apply(&record)?;
                    applied += 1;
                }
            }
            if applied == before {
                return Ok(applied);
            }
        }
    }

    /// Opens a transaction unless one is open.
    fn begin(&mut self) -> anyhow::Result<()> {
        if self.cfg.exactly_once && !self.in_transaction {
            self.producer
                .begin_transaction()
                .context("beginning a transaction")?;
        }
        self.in_transaction = true;
        Ok(())
    }

    /// Sends one output into the open transaction and counts it.
    fn emit(&mut self, emitted: &Emitted) -> anyhow::Result<()> {
        emitted.deliver(&mut self.transaction())?;
        let Ok(()) = emitted.deliver(&mut self.tally);
        Ok(())
    }

    fn transaction(&mut self) -> Transaction<'_> {
        Transaction {
            producer: &self.producer,
            topics: &self.cfg.topics,
            merge: &mut self.merge,
            stats: &self.stats,
        }
    }

    /// Writes a changelog record (`None`: a tombstone) into the open transaction.
    fn changelog(&self, p: i32, key: &[u8], value: Option<&[u8]>) -> anyhow::Result<()> {
        changelog(&self.producer, &self.cfg.topics, p, key, value)
    }

    /// Applies held plate-only evidence the plate table can now resolve.
    fn release(&mut self) -> anyhow::Result<()> {
        let merge = &self.merge;
        let released = self.processor.release_where(&|p| merge.holds(p));
        if released.is_empty() {
            return Ok(());
        }
        self.begin()?;
        for emitted in &released {
            self.emit(emitted)?;
        }
        Ok(())
    }

    fn apply(&mut self, record: &Record) -> anyhow::Result<()> {
        self.begin()?;
        let processed = self.processor.process(record);
        for emitted in &processed.emitted {
            self.emit(emitted)?;
        }
        if let Some(vin) = processed.vin {
            self.dirty.entry(record.partition).or_default().insert(vin);
        }
        if let Some(time) = processed.time {
            let newest = self.newest.entry(record.partition).or_insert(time.0);
            *newest = (*newest).max(time.0);
        }
        self.tally.record(record, &processed);
        if !processed.expired.is_empty() {
            self.expired
                .entry(record.partition)
                .or_default()
                .extend(processed.expired);
        }
        self.stats.records.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Writes changed states and commits outputs, states and offsets together, waiting at
    /// most `timeout` for the broker. `settled`: every polled record has been handed to the
    /// merge (not so in a rebalance callback); see `Merge::offsets`.
    fn commit(
        &mut self,
        consumer: &BaseConsumer<Ctx>,
        settled: bool,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        if self.recovery.is_some() {
            return Ok(());
        }
        self.publish_held();
        if !self.in_transaction && settled && self.merge.stepped_over(consumer) {
            // Only offsets move: past transaction markers of a transactional input.
            self.begin()?;
        }
        if !self.in_transaction {
            self.last_commit = Instant::now();
            return Ok(());
        }
        let started = Instant::now();
        let result = self.commit_transaction(consumer, settled, timeout);
        let outcome = if result.is_ok() {
            "committed"
        } else {
            "failed"
        };
        metrics::counter!(m::TRANSACTIONS, "outcome" => outcome).increment(1);
        metrics::histogram!(m::COMMIT_DURATION).record(started.elapsed().as_secs_f64());
        let (records, bytes) = self.merge.held();
        metrics::gauge!(m::MERGE_HELD_RECORDS).set(records as f64);
        metrics::gauge!(m::MERGE_HELD_BYTES).set(bytes as f64);
        if result.is_ok() {
            self.tally.publish();
        }
        self.publish_partition_gauges();
        result
    }

    /// Plate-only evidence held here (restored ones included).
    fn publish_held(&self) {
        let held = self.processor.held() as u64;
        metrics::gauge!(m::HELD_PLATE_READS).set(held as f64);
        self.stats
            .plate_table
            .lock()
            .expect("plate table status lock")
            .held_evidence = held;
    }

    fn publish_partition_gauges(&self) {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let mut status = self.stats.partitions.lock().expect("status lock");
        for (&p, s) in status.iter_mut() {
            let vehicles = self.processor.store().partition_len(p) as u64;
            s.vehicles = vehicles;
            let label = p.to_string();
            metrics::gauge!(m::TRACKED_VEHICLES, "partition" => label.clone()).set(vehicles as f64);
            if let Some(&newest) = self.newest.get(&p) {
                let lag = (now_ms - newest) as f64 / 1000.0;
                metrics::gauge!(m::EVENT_TIME_LAG, "partition" => label).set(lag);
            }
        }
    }

    fn commit_transaction(
        &mut self,
        consumer: &BaseConsumer<Ctx>,
        settled: bool,
        timeout: Duration,
    ) -> anyhow::Result<()> {
        for (&p, vins) in &std::mem::take(&mut self.dirty) {
            for vin in vins {
                if let Some(state) = self.processor.store().get(p, vin) {
                    self.changelog(p, vin.as_bytes(), Some(&encode_state(&state)))?;
                }
            }
        }
        for (&p, vins) in &std::mem::take(&mut self.expired) {
            for vin in vins {
                self.changelog(p, vin.as_bytes(), None)?;
            }
        }
        let tpl = self.merge.offsets(settled.then_some(consumer))?;
        let deadline = Instant::now() + timeout;
        self.deliver(deadline)?;
        let left = || self.by(deadline).saturating_duration_since(Instant::now());
        if self.cfg.exactly_once {
            let group = consumer
                .group_metadata()
                .context("consumer has no group metadata")?;
            self.producer
                .send_offsets_to_transaction(&tpl, &group, left())
                .context("adding offsets to the transaction")?;
            self.producer
                .commit_transaction(left())
                .context("committing the transaction")?;
        } else {
            consumer
                .commit(&tpl, rdkafka::consumer::CommitMode::Sync)
                .context("committing offsets")?;
        }
        self.in_transaction = false;
        self.merge.committed(&tpl);
        // The interval runs from the end of a commit, so a slow commit cannot starve processing.
        self.last_commit = Instant::now();
        self.stats.commits.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// `deadline`, or sooner if a stop was asked for: it must end within `shutdown_timeout`.
    fn by(&self, deadline: Instant) -> Instant {
        if !self.shutdown.requested() {
            return deadline;
        }
        // Room to abort and return before the process's own deadline (`app`) ends it.
        let margin = self.cfg.shutdown_timeout / 8;
        let stop_by = self.stop_by.get().unwrap_or_else(|| {
            let at = Instant::now() + self.cfg.shutdown_timeout.saturating_sub(margin);
            self.stop_by.set(Some(at));
            at
        });
        deadline.min(stop_by)
    }

    /// Waits until `deadline` for every output to be delivered. librdkafka does not wake its
    /// broker threads when a partition's registration with the transaction completes, so a
    /// message for a newly added partition would wait for the next wake-up (about 100 ms);
    /// each short flush wakes them again.
    fn deliver(&self, deadline: Instant) -> anyhow::Result<()> {
        loop {
            match self.producer.flush(Duration::from_millis(2)) {
                Ok(()) => return Ok(()),
                Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut))
                    if Instant::now() < self.by(deadline) => {}
                Err(e) => return Err(e).context("delivering outputs"),
            }
        }
    }

    /// Gives up the open transaction and its outputs (`within`: the longest the broker is
    /// waited for). The producer is unusable after; `recover` replaces it.
    fn abort(&mut self, within: Duration) {
        // Purged first: an abort waits for every outstanding message, and those for a broker
        // that does not answer would hold it for all of `within`.
        self.producer
            .purge(PurgeConfig::default().queue().inflight());
        if self.cfg.exactly_once && self.in_transaction {
            if let Err(e) = self.producer.abort_transaction(within) {
                tracing::warn!(error = %e, "Aborting the transaction failed; the broker aborts it when it times out, or when the next producer with this transactional id starts.");
            }
        }
        self.in_transaction = false;
        self.dirty.clear();
        self.expired.clear();
        self.tally = Tally::default();
    }

    /// After a failed transaction: abort it, rewind every partition to its last commit and
    /// start a new producer (`reinit`).
    fn recover(&mut self, consumer: &BaseConsumer<Ctx>, error: &anyhow::Error) {
        let why = format!("{error:#}");
        tracing::error!(error = %why, "Transaction failed; aborting it and rewinding every partition to its last commit.");
        metrics::counter!(m::RECOVERIES).increment(1);
        self.abort(Duration::from_secs(5));
        let active = self.merge.numbers();
        for &p in &active {
            self.merge.remove(p);
            self.newest.remove(&p);
            self.processor.drop_partition(p);
            if let Err(e) = consumer.pause(&self.siblings(p)) {
                self.failed
                    .get_or_insert(anyhow::Error::new(e).context("pausing a partition"));
            }
            if let Some(s) = self
                .stats
                .partitions
                .lock()
                .expect("status lock")
                .get_mut(&p)
            {
                s.restored = false;
            }
            self.start_restore(p);
        }
        self.start_recovery(why);
    }

    fn start_recovery(&mut self, why: String) {
        *self.stats.recovering.lock().expect("recovering lock") = Some(why.clone());
        self.stats.publish_readiness();
        self.recovery = Some(Recovery {
            why,
            since: Instant::now(),
            producer: Initialising::new(),
        });
    }

    /// One attempt, when due, to replace the producer with a newly initialised one.
    fn reinit(&mut self) {
        let Some(recovery) = &mut self.recovery else {
            return;
        };
        if !recovery.producer.due() {
            return;
        }
        match recovery.producer.attempt(&self.cfg) {
            Ok(producer) => {
                self.producer = producer;
                tracing::info!(
                    seconds = recovery.since.elapsed().as_secs_f64(),
                    attempts = recovery.producer.attempts + 1,
                    after = %recovery.why,
                    "Transactional producer ready."
                );
                self.recovery = None;
                *self.stats.recovering.lock().expect("recovering lock") = None;
                self.stats.publish_readiness();
            }
            Err((e, backoff)) => {
                tracing::warn!(error = %format!("{e:#}"), retry_in = ?backoff, "Cannot initialise the transactional producer yet.");
            }
        }
    }

    /// The same partition number of every input topic.
    fn siblings(&self, p: i32) -> TopicPartitionList {
        let mut tpl = TopicPartitionList::new();
        for kind in TopicKind::INPUTS {
            tpl.add_partition(&self.cfg.topics.name(kind), p);
        }
        tpl
    }

    /// Reads partition `p`'s changelog on a thread of its own.
    fn start_restore(&mut self, p: i32) {
        let cancel = Arc::new(AtomicBool::new(false));
        let (cfg, processor, stats) =
            (self.cfg.clone(), self.processor.clone(), self.stats.clone());
        let stop = cancel.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("restore-{p}"))
            .spawn(move || {
                let _span = tracing::info_span!("partition", partition = p).entered();
                let progress = |read: u64, total: u64| {
                    if let Some(s) = stats.partitions.lock().expect("status lock").get_mut(&p) {
                        (s.restore_read, s.restore_total) = (read, total);
                    }
                    metrics::gauge!(m::RESTORE_REMAINING, "partition" => p.to_string())
                        .set(total.saturating_sub(read) as f64);
                };
                super::restore::restore(&cfg, &processor, p, &progress, &stop)
            });
        let state = match spawned {
            Ok(thread) => Restoring::Running {
                cancel,
                thread,
                started: Instant::now(),
            },
            Err(e) => {
                tracing::error!(partition = p, error = %e, "Cannot start a restore thread; trying again.");
                Restoring::Retry(Instant::now() + Duration::from_secs(1))
            }
        };
        self.restores.insert(p, state);
    }

    /// Collects finished restores, retries failed ones and resumes restored partitions once
    /// the producer is ready.
    fn poll_restores(&mut self, consumer: &BaseConsumer<Ctx>) -> anyhow::Result<()> {
        let now = Instant::now();
        for p in self.restores.keys().copied().collect::<Vec<_>>() {
            let state = self.restores.remove(&p).expect("listed");
            let next = match state {
                Restoring::Running {
                    thread, started, ..
                } if thread.is_finished() => {
                    let seconds = started.elapsed().as_secs_f64();
                    match thread.join() {
                        Ok(Ok(restored)) => self.restored(p, restored, seconds),
                        Ok(Err(RestoreError::Cancelled)) => continue,
                        Ok(Err(RestoreError::Kafka(e))) => {
                            tracing::error!(partition = p, error = %format!("{e:#}"), "Restore failed; trying again in 5 s.");
                            Restoring::Retry(now + Duration::from_secs(5))
                        }
                        Err(_) => anyhow::bail!("the restore thread of partition {p} panicked"),
                    }
                }
                Restoring::Retry(at) if now >= at => {
                    self.start_restore(p);
                    continue;
                }
                Restoring::Done { restored, seconds } if self.recovery.is_none() => {
                    match self.resume(consumer, p) {
                        Ok(()) => {
                            self.activate(p, restored, seconds)?;
                            continue;
                        }
                        Err(e) => {
                            tracing::error!(partition = p, error = %format!("{e:#}"), "Cannot resume a restored partition; restoring it again in 5 s.");
                            Restoring::Retry(now + Duration::from_secs(5))
                        }
                    }
                }
                other => other,
            };
            self.restores.insert(p, next);
        }
        Ok(())
    }

    /// A restore read its changelog: halt the partition on unreadable records, unless they
    /// are to be dead-lettered.
    fn restored(&mut self, p: i32, restored: Restored, seconds: f64) -> Restoring {
        let Some(first) = restored.unreadable.first() else {
            return Restoring::Done { restored, seconds };
        };
        let n = restored.unreadable.len();
        match self.cfg.unreadable_state {
            UnreadableState::Halt => {
                let what = format!(
                    "{n} records, the first at changelog offset {}: {}",
                    first.record.offset, first.error
                );
                tracing::error!(partition = p, records = n, offset = first.record.offset, error = %first.error,
                    "Changelog records this release cannot read: the partition is halted (unreadable_state = \"halt\"). Roll forward to the release that wrote them, or set unreadable_state = \"dead_letter\".");
                metrics::counter!(m::UNREADABLE_STATES, "outcome" => "halted").increment(n as u64);
                if let Some(s) = self
                    .stats
                    .partitions
                    .lock()
                    .expect("status lock")
                    .get_mut(&p)
                {
                    s.unreadable = Some(what);
                }
                self.stats.publish_readiness();
                self.processor.drop_partition(p);
                Restoring::Halted
            }
            UnreadableState::DeadLetter => Restoring::Done { restored, seconds },
        }
    }

    /// Rewinds partition `p` to the group's committed offsets, hands its topics to the merge
    /// and resumes it. Records it fetched before a rewind are discarded by the seek.
    fn resume(&mut self, consumer: &BaseConsumer<Ctx>, p: i32) -> anyhow::Result<()> {
        let siblings = self.siblings(p);
        let committed = consumer
            .committed_offsets(siblings.clone(), Duration::from_secs(10))
            .context("reading the group's committed offsets")?;
        let mut seek = TopicPartitionList::new();
        let mut starts = Vec::new();
        for e in committed.elements() {
            let start = match e.offset() {
                Offset::Offset(o) => Some(o),
                _ => None,
            };
            seek.add_partition_offset(
                e.topic(),
                p,
                start.map_or(Offset::Beginning, Offset::Offset),
            )?;
            starts.push((e.topic().to_owned(), start));
        }
        consumer
            .seek_partitions(seek, Duration::from_secs(10))
            .context("rewinding to the committed offsets")?;
        consumer.resume(&siblings).context("resuming a partition")?;
        for (topic, start) in starts {
            // Known now, so the merge need not guess until the first fetch answers (`merge`).
            let watermarks = consumer
                .fetch_watermarks(&topic, p, Duration::from_secs(2))
                .ok();
            let kind = self.cfg.topics.kind(&topic);
            let role = Role::of(kind);
            self.merge.add(
                &topic,
                p,
                kind.map_or(TopicKind::UNRANKED, TopicKind::rank),
                role,
                start,
                watermarks,
            );
        }
        Ok(())
    }

    /// A resumed partition: dead-letters (and tombstones) the records its restore could not
    /// read, in the open transaction, and reports it restored.
    fn activate(&mut self, p: i32, restored: Restored, seconds: f64) -> anyhow::Result<()> {
        if !restored.unreadable.is_empty() {
            self.begin()?;
            for u in &restored.unreadable {
                self.transaction()
                    .dlq(&u.record, "unreadable_state", &u.error)?;
                let key = u.record.key.as_deref().unwrap_or_default();
                self.changelog(p, key, None)?;
            }
            let n = restored.unreadable.len() as u64;
            metrics::counter!(m::UNREADABLE_STATES, "outcome" => "dead_lettered").increment(n);
            metrics::counter!(m::DLQ_RECORDS, "reason" => "unreadable_state").increment(n);
            tracing::warn!(partition = p, records = n, "Changelog records this release cannot read were dead-lettered (unreadable_state = \"dead_letter\"); those vehicles start from no state.");
        }
        metrics::histogram!(m::RESTORE_DURATION).record(seconds);
        metrics::counter!(m::RESTORED_VEHICLES).increment(restored.vehicles);
        if let Some(s) = self
            .stats
            .partitions
            .lock()
            .expect("status lock")
            .get_mut(&p)
        {
            s.restored = true;
            s.restore_seconds = seconds;
            s.vehicles = restored.vehicles;
        }
        // Watched from now: the restore is not a stall, nor a wait for a topic.
        let now = Instant::now();
        self.merge.restart_waits(p, now);
        let mut stalls = self.stats.stalls.lock().expect("stalls lock");
        for kind in TopicKind::INPUTS {
            stalls.track(now, &self.cfg.topics.name(kind), p);
        }
        drop(stalls);
        self.stats.publish_stalls(now);
        tracing::info!(
            partition = p,
            vehicles = restored.vehicles,
            seconds,
            "Partition restored from the changelog."
        );
        self.publish_assignment();
        Ok(())
    }

    fn revoke(&mut self, tpl: &TopicPartitionList) {
        let numbers: BTreeSet<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        for p in numbers {
            if let Some(Restoring::Running { cancel, thread, .. }) = self.restores.remove(&p) {
                cancel.store(true, Ordering::Relaxed);
                let _ = thread.join();
            }
            self.merge.remove(p);
            self.dirty.remove(&p);
            self.expired.remove(&p);
            self.newest.remove(&p);
            self.stats
                .partitions
                .lock()
                .expect("status lock")
                .remove(&p);
            // Zero, not frozen: summed across instances, a revoked partition counts once.
            let label = p.to_string();
            metrics::gauge!(m::TRACKED_VEHICLES, "partition" => label.clone()).set(0.0);
            metrics::gauge!(m::RESTORE_REMAINING, "partition" => label.clone()).set(0.0);
            for kind in TopicKind::INPUTS {
                metrics::gauge!(m::CONSUMER_LAG, "topic" => self.cfg.topics.name(kind), "partition" => label.clone())
                    .set(0.0);
            }
            self.stats.stalls.lock().expect("stalls lock").forget(p);
            self.stats.publish_stalls(Instant::now());
            let dropped = self.processor.drop_partition(p);
            tracing::info!(
                partition = p,
                vehicles = dropped,
                "Partition revoked; its vehicles were dropped."
            );
        }
        self.publish_assignment();
    }

    fn publish_assignment(&self) {
        let assigned = self.stats.partitions.lock().expect("status lock").len();
        metrics::gauge!(m::ASSIGNED_PARTITIONS).set(assigned as f64);
        self.stats.publish_readiness();
    }

    /// New partition numbers in `tpl` (paused by the caller): restored on threads of their own.
    fn assign(&mut self, tpl: &TopicPartitionList) {
        let numbers: BTreeSet<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        let mut fresh = Vec::new();
        {
            let mut status = self.stats.partitions.lock().expect("status lock");
            for &p in &numbers {
                if status.contains_key(&p) {
                    continue;
                }
                let lag = TopicKind::INPUTS
                    .iter()
                    .map(|&k| (self.cfg.topics.name(k), -1))
                    .collect();
                status.insert(
                    p,
                    PartitionStatus {
                        consumer_lag: lag,
                        ..PartitionStatus::default()
                    },
                );
                fresh.push(p);
            }
        }
        if !fresh.is_empty() {
            tracing::info!(partitions = ?fresh, "Partitions assigned; restoring them from the changelog.");
        }
        for &p in &fresh {
            self.start_restore(p);
        }
        self.publish_assignment();
    }

    /// Whether a partition is on its way in (halted ones are not: they wait for an operator).
    fn restoring(&self) -> bool {
        self.restores
            .values()
            .any(|r| !matches!(r, Restoring::Halted))
    }

    /// Waits for running restores to end (they are told to stop).
    fn stop_restores(&mut self) {
        for (_, state) in std::mem::take(&mut self.restores) {
            if let Restoring::Running { cancel, thread, .. } = state {
                cancel.store(true, Ordering::Relaxed);
                let _ = thread.join();
            }
        }
    }
}

/// Refuses to start unless every input topic exists with the lead topic's partition count:
/// partitions beyond the lead's would never be read.
/// Returns the partition count.
fn check_co_partitioned<C: ClientContext>(
    client: &rdkafka::client::Client<C>,
    cfg: &KafkaConfig,
) -> anyhow::Result<i32> {
    let mut counts = Vec::new();
    for kind in TopicKind::INPUTS {
        let name = cfg.topics.name(kind);
        let metadata = client
            .fetch_metadata(Some(&name), Duration::from_secs(10))
            .with_context(|| format!("reading metadata of {name}"))?;
        let partitions = metadata
            .topics()
            .first()
            .filter(|t| t.error().is_none())
            .map_or(0, |t| t.partitions().len());
        counts.push((name, partitions));
    }
    let (lead, want) = &counts[0];
    for (name, n) in &counts {
        anyhow::ensure!(
            n == want && *n > 0,
            "input topics must exist with equal partition counts: {lead} has {want}, {name} has {n} (tailwatch topics create)"
        );
    }
    Ok(i32::try_from(*want).unwrap_or(i32::MAX))
}

struct Ctx {
    worker: Mutex<Worker>,
    stats: Arc<Stats>,
    /// librdkafka's message for the error `poll` is about to return (`ClientContext::error`
    /// runs just before, on the same thread): rdkafka's `KafkaError` keeps only the code.
    error_message: Mutex<Option<String>>,
}

impl ClientContext for Ctx {
    /// Consumer lag per input partition (end offset minus position: librdkafka's own
    /// `consumer_lag` is only known from offsets the consumer commits itself, never here, where
    /// offsets are committed through the transaction) and the stall watch's positions, from
    /// librdkafka's statistics (`statistics.interval.ms`, see `KafkaConfig::group_consumer`).
    fn stats(&self, statistics: rdkafka::Statistics) {
        let now = Instant::now();
        {
            let mut status = self.stats.partitions.lock().expect("status lock");
            let mut stalls = self.stats.stalls.lock().expect("stalls lock");
            for (topic, t) in &statistics.topics {
                for (&p, partition) in &t.partitions {
                    let Some(s) = status.get_mut(&p) else {
                        continue;
                    };
                    let Some(lag) = s.consumer_lag.get_mut(topic) else {
                        continue;
                    };
                    // Before the first record is handed over, the position is the committed
                    // offset, or where librdkafka fetches from.
                    let position = [
                        partition.app_offset,
                        partition.committed_offset,
                        partition.next_offset,
                    ]
                    .into_iter()
                    .find(|&o| o >= 0);
                    // read_committed: the last stable offset is the end a consumer can reach.
                    let end = [partition.ls_offset, partition.hi_offset]
                        .into_iter()
                        .find(|&o| o >= 0);
                    if let (Some(position), Some(end)) = (position, end) {
                        *lag = (end - position).max(0);
                        metrics::gauge!(m::CONSUMER_LAG, "topic" => topic.clone(), "partition" => p.to_string())
                            .set(*lag as f64);
                    }
                    stalls.observe(now, topic, p, position, end);
                }
            }
        }
        self.stats.publish_stalls(now);
    }

    fn error(&self, error: KafkaError, reason: &str) {
        tracing::debug!(%error, reason, "librdkafka reported an error.");
        *self.error_message.lock().expect("error lock") = Some(reason.to_owned());
    }
}

impl Ctx {
    /// The lead partitions in `tpl` with the same partition numbers of every input topic.
    fn with_siblings(&self, tpl: &TopicPartitionList) -> TopicPartitionList {
        let w = self.worker.lock().expect("worker lock");
        let numbers: BTreeSet<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        let mut all = TopicPartitionList::new();
        for kind in TopicKind::INPUTS {
            for &p in &numbers {
                all.add_partition(&w.cfg.topics.name(kind), p);
            }
        }
        all
    }
}

impl ConsumerContext for Ctx {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Ctx>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let all = self.with_siblings(tpl);
        let mut w = self.worker.lock().expect("worker lock");
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                // Paused at once: nothing is fetched until the partition is restored.
                let assigned = consumer
                    .incremental_assign(&all)
                    .and_then(|()| consumer.pause(&all));
                if let Err(e) = assigned {
                    w.failed
                        .get_or_insert(anyhow::Error::new(e).context("assigning partitions"));
                    return;
                }
                w.assign(&all);
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let timeout = w.cfg.transaction_timeout;
                if let Err(e) = w.commit(consumer, false, timeout) {
                    w.recover(consumer, &e);
                }
                w.revoke(&all);
                if let Err(e) = consumer.incremental_unassign(&all) {
                    w.failed
                        .get_or_insert(anyhow::Error::new(e).context("unassigning partitions"));
                }
            }
            other => {
                let code = RDKafkaErrorCode::from(other);
                tracing::error!(error = %code, "Rebalance failed.");
            }
        }
    }
}

/// The producer, initialised, and the input topics' partition count; retried with back-off
/// while the broker does not answer (not ready meanwhile), until `shutdown`.
fn connect(
    cfg: &KafkaConfig,
    stats: &Stats,
    shutdown: &Shutdown,
) -> anyhow::Result<Option<(BaseProducer, i32)>> {
    let mut init = Initialising::new();
    // Initialised, waiting for the input topics to be co-partitioned.
    let mut initialised = None;
    loop {
        let attempt = match initialised.take() {
            Some(producer) => Ok(producer),
            None => init.attempt(cfg),
        }
        .and_then(
            |producer| match check_co_partitioned(producer.client(), cfg) {
                Ok(partitions) => Ok((producer, partitions)),
                Err(e) => {
                    initialised = Some(producer);
                    Err((e, init.failed()))
                }
            },
        );
        match attempt {
            Ok(ready) => {
                *stats.recovering.lock().expect("recovering lock") = None;
                return Ok(Some(ready));
            }
            Err((e, backoff)) => {
                let why = format!("{e:#}");
                tracing::warn!(error = %why, retry_in = ?backoff, "Cannot start on the broker yet.");
                *stats.recovering.lock().expect("recovering lock") =
                    Some(format!("starting: {why}"));
                stats.publish_readiness();
                while !init.due() {
                    if shutdown.requested() {
                        return Ok(None);
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

/// Runs until `shutdown`, then commits within `shutdown_timeout` and returns. Blocking: call
/// from a thread. Errors: `Failure` (downcast) for the exit code.
pub fn run(
    cfg: KafkaConfig,
    rules: Rules,
    shutdown: Shutdown,
    stats: Arc<Stats>,
) -> anyhow::Result<()> {
    let missing = super::missing_codecs()?;
    anyhow::ensure!(
        missing.is_empty(),
        "this build of librdkafka cannot decompress {missing:?}: input compressed with it would stall"
    );
    *stats.recovering.lock().expect("recovering lock") = Some("starting".to_owned());
    let Some((producer, partitions)) = connect(&cfg, &stats, &shutdown)? else {
        tracing::info!("Stopped before the broker answered.");
        return Ok(());
    };
    let tables = Tables::default();
    // Long enough for the reader's loop and a round trip per registry partition.
    let catchup = Arc::new(super::plate_table::Catchup::new(Duration::from_secs(5)));
    let plate_readers = super::plate_table::start(
        &cfg,
        &tables,
        catchup.clone(),
        stats.clone(),
        shutdown.clone(),
    )?;
    let processor = Processor::new(rules, cfg.topics.clone())
        .with_decode(cfg.decode)
        .with_partitions(partitions)
        .with_global_tables(tables, catchup)
        .with_region(cfg.region);
    // A second start in one process (tests) keeps the first store visible: harmless.
    let _ = stats.store.set(processor.shared_store());
    let worker = Worker {
        processor: Arc::new(processor),
        producer,
        recovery: None,
        merge: Merge::new(
            cfg.merge_wait,
            Bounds {
                records: cfg.merge_max_records,
                bytes: cfg.merge_max_bytes,
            },
        ),
        restores: BTreeMap::new(),
        in_transaction: false,
        dirty: BTreeMap::new(),
        tally: Tally::default(),
        newest: BTreeMap::new(),
        expired: BTreeMap::new(),
        last_commit: Instant::now(),
        stats: stats.clone(),
        failed: None,
        shutdown: shutdown.clone(),
        stop_by: std::cell::Cell::new(None),
        cfg: cfg.clone(),
    };
    stats
        .stalls
        .lock()
        .expect("stalls lock")
        .set_timeout(cfg.stall_timeout);
    let consumer: BaseConsumer<Ctx> = cfg.group_consumer().create_with_context(Ctx {
        worker: Mutex::new(worker),
        stats,
        error_message: Mutex::new(None),
    })?;
    let lead = cfg.topics.name(TopicKind::INPUTS[0]);
    consumer.subscribe(&[&lead])?;
    tracing::info!(group = %cfg.group_id, instance = %cfg.instance_id, lead = %lead, "Consuming input topics.");
    // Longer than a commit may rightly take (`transaction_timeout`) and what recovery adds.
    let watchdog = &consumer.context().stats.watchdog;
    watchdog.arm(cfg.transaction_timeout + Duration::from_secs(30));
    while !shutdown.requested() {
        watchdog.beat();
        let first = consumer.poll(Duration::from_millis(20));
        let mut batch = Vec::new();
        let mut next = first;
        while let Some(result) = next {
            match result {
                Ok(m) => batch.push(record_of(&m)),
                Err(e) => {
                    let ctx = consumer.context();
                    let message = ctx.error_message.lock().expect("error lock").take();
                    ConsumerError::new(&e, message).emit(&ctx.stats);
                }
            }
            if batch.len() >= 1000 {
                break;
            }
            next = consumer.poll(Duration::ZERO);
        }
        let mut w = consumer.context().worker.lock().expect("worker lock");
        if let Some((code, reason)) = consumer.client().fatal_error() {
            // The consumer is unusable (fenced by a newer member with this instance id, say):
            // only a new process can rejoin; the restart restores from what Kafka holds.
            w.failed.get_or_insert(anyhow::anyhow!(
                "the group consumer failed for good: {code}: {reason}"
            ));
        }
        if let Some(e) = w.failed.take() {
            w.stop_restores();
            return Err(Failure::Broker(e).into());
        }
        w.reinit();
        for record in batch {
            w.merge.enqueue(record);
        }
        if let Err(e) = step(&mut w, &consumer) {
            if shutdown.requested() {
                // Cut short by the stop: nothing more may be waited for.
                w.stop_restores();
                w.abort(Duration::from_millis(500));
                drop(w);
                return Err(abandon(consumer, cfg.shutdown_timeout, e));
            }
            w.recover(&consumer, &e);
        }
        let (pause, resume) = w.merge.flow();
        let flowed = consumer
            .pause(&pause)
            .and_then(|()| consumer.resume(&resume));
        if let Err(e) = flowed {
            w.failed
                .get_or_insert(anyhow::Error::new(e).context("pausing or resuming a full queue"));
        }
    }
    watchdog.disarm();
    if let Err(e) = finish(&consumer, Instant::now() + cfg.shutdown_timeout) {
        return Err(abandon(consumer, cfg.shutdown_timeout, e));
    }
    for reader in plate_readers {
        let _ = reader.join();
    }
    tracing::info!("Stopped: in-flight work committed.");
    Ok(())
}

/// One turn of the loop after a poll: restores, processing, and the commit when due.
fn step(w: &mut Worker, consumer: &BaseConsumer<Ctx>) -> anyhow::Result<()> {
    w.poll_restores(consumer)?;
    if w.recovery.is_some() {
        return Ok(());
    }
    // While a partition is restoring the others wait too (they still commit): plate-only
    // evidence on its topics may resolve to their vehicles, and no partition may run past
    // evidence still to come (`merge`).
    let restoring = w.restoring();
    let mut applied = 0;
    if !restoring {
        let started = Instant::now();
        applied = w.drain(consumer)?;
        w.release()?;
        if applied > 0 {
            metrics::histogram!(m::PROCESSING_DURATION).record(started.elapsed().as_secs_f64());
        }
    }
    // Held back for resolved evidence sent from here: commit now, so it can be read back.
    let awaiting = applied == 0 && w.in_transaction && w.merge.awaiting_resolved();
    if awaiting || w.last_commit.elapsed() >= w.cfg.commit_interval {
        let timeout = w.cfg.transaction_timeout;
        w.commit(consumer, true, timeout)?;
    }
    Ok(())
}

/// A stop that could not commit: the clients are not closed, since closing waits for a broker
/// that did not answer in time; the process exits next, and the broker aborts what was open.
fn abandon(consumer: BaseConsumer<Ctx>, timeout: Duration, error: anyhow::Error) -> anyhow::Error {
    std::mem::forget(consumer);
    Failure::Unfinished { timeout, error }.into()
}

/// The stop: process what was fetched, commit it before `deadline`, else abort and fail.
fn finish(consumer: &BaseConsumer<Ctx>, deadline: Instant) -> anyhow::Result<()> {
    let mut w = consumer.context().worker.lock().expect("worker lock");
    w.by(deadline);
    // As in `step`: nothing runs ahead of a partition still restoring.
    let restoring = w.restoring();
    w.stop_restores();
    if w.recovery.is_some() {
        // Nothing uncommitted is held: the failed transaction was aborted.
        return Ok(());
    }
    let left = deadline.saturating_duration_since(Instant::now());
    let done = if restoring {
        w.commit(consumer, true, left)
    } else {
        w.drain(consumer)
            .and_then(|_| w.commit(consumer, true, left))
    };
    if let Err(e) = done {
        w.abort(Duration::from_millis(500));
        return Err(e);
    }
    Ok(())
}
