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
//! On assignment a partition's vehicles are restored from the changelog before its records are
//! processed; on revocation the transaction is committed and the vehicles dropped. A failed
//! commit ends the service with an error: the restarted process restores from the last
//! committed changelog, so memory never runs ahead of what Kafka holds.
//!
//! An error the consumer reports instead of a record (librdkafka's message for it arrives
//! through `ClientContext::error`) is logged, counted and given to the stall watch
//! (`stall`), which follows each input partition's position in librdkafka's statistics: a
//! partition that stays still after such an error makes the instance unready.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, TopicPartitionList};

use super::merge::{Merge, Role};
use super::status::{ConsumerError, Tally};
pub use super::status::{NotReady, PartitionStatus, Stall, Stats};
use super::{message_of, record_of, send, KafkaConfig};
use crate::engine::Rules;
use crate::metrics as m;
use crate::model::Vin;
use crate::pipeline::{Emitted, Processor};
use crate::plates::{PlatePermits, PlateTable};
use crate::recording::Record;
use crate::replay::dlq_record;
use crate::state::encode_state;
use crate::topics::TopicKind;

struct Worker {
    cfg: KafkaConfig,
    processor: Processor,
    producer: BaseProducer,
    merge: Merge,
    in_transaction: bool,
    dirty: BTreeMap<i32, BTreeSet<Vin>>,
    tally: Tally,
    /// Newest evidence time processed per partition (ms), for the event-time lag gauge.
    newest: BTreeMap<i32, i64>,
    expired: BTreeMap<i32, Vec<Vin>>,
    last_commit: Instant,
    stats: Arc<Stats>,
    failed: Option<anyhow::Error>,
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
                    self.apply(&record)?;
                    applied += 1;
                }
            }
            if applied == before {
                return Ok(applied);
            }
        }
    }

    /// Sends an output keyed by `key`, partitioned by the producer.
    fn output(&self, topic: &str, key: &[u8], value: &[u8]) -> anyhow::Result<()> {
        send(
            &self.producer,
            BaseRecord::to(topic).key(key).payload(value),
        )
    }

    /// Sends one output into the open transaction; `record`: the record being processed.
    fn emit(&mut self, record: Option<&Record>, emitted: &Emitted) -> anyhow::Result<()> {
        let topics = &self.cfg.topics;
        match emitted {
            Emitted::Blacklist(e) => {
                self.output(
                    &topics.name(TopicKind::Blacklist),
                    e.vin.as_bytes(),
                    &e.encode_to_vec(),
                )?;
                self.stats.blacklist_events.fetch_add(1, Ordering::Relaxed);
            }
            Emitted::Case(c) => {
                self.output(
                    &topics.name(TopicKind::Cases),
                    c.case_id.as_bytes(),
                    &c.encode_to_vec(),
                )?;
                self.stats.cases.fetch_add(1, Ordering::Relaxed);
            }
            Emitted::Dlq { reason, message } => {
                let record = record.context("a DLQ output without its record")?;
                self.reject(record, reason, message)?;
            }
            Emitted::Rejected {
                record,
                reason,
                message,
            } => self.reject(record, reason, message)?,
            Emitted::Resolved(r) => {
                send(&self.producer, message_of(r).partition(r.partition))?;
                self.merge
                    .sent_resolved(r.partition, r.timestamp, Instant::now());
            }
            Emitted::Held {
                partition,
                key,
                value,
            } => {
                let changelog = topics.name(TopicKind::Changelog);
                let mut message = BaseRecord::to(&changelog)
                    .partition(*partition)
                    .key(key.as_bytes());
                if let Some(value) = value {
                    message = message.payload(value.as_slice());
                }
                send(&self.producer, message)?;
            }
        }
        Ok(())
    }

    /// Sends `record` to the DLQ with its reason.
    fn reject(&self, record: &Record, reason: &str, message: &str) -> anyhow::Result<()> {
        let dlq = dlq_record(&self.cfg.topics, record, reason, message);
        send(&self.producer, message_of(&dlq))?;
        self.stats.dlq.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Applies held plate-only evidence the plate table can now resolve.
    fn release(&mut self) -> anyhow::Result<()> {
        let released = self.processor.release();
        if released.is_empty() {
            return Ok(());
        }
        if self.cfg.exactly_once && !self.in_transaction {
            self.producer
                .begin_transaction()
                .context("beginning a transaction")?;
        }
        self.in_transaction = true;
        for emitted in &released {
            self.emit(None, emitted)?;
            self.tally.emitted(None, emitted);
        }
        Ok(())
    }

    fn apply(&mut self, record: &Record) -> anyhow::Result<()> {
        if self.cfg.exactly_once && !self.in_transaction {
            self.producer
                .begin_transaction()
                .context("beginning a transaction")?;
        }
        self.in_transaction = true;
        let processed = self.processor.process(record);
        for emitted in &processed.emitted {
            self.emit(Some(record), emitted)?;
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

    /// Writes changed states and commits outputs, states and offsets together.
    /// `settled`: every polled record has been handed to the merge (not so in a rebalance
    /// callback); see `Merge::offsets`.
    fn commit(&mut self, consumer: &BaseConsumer<Ctx>, settled: bool) -> anyhow::Result<()> {
        self.publish_held();
        if !self.in_transaction && settled && self.merge.stepped_over(consumer) {
            // Only offsets move: past transaction markers of a transactional input.
            if self.cfg.exactly_once {
                self.producer
                    .begin_transaction()
                    .context("beginning a transaction")?;
            }
            self.in_transaction = true;
        }
        if !self.in_transaction {
            self.last_commit = Instant::now();
            return Ok(());
        }
        let started = Instant::now();
        let result = self.commit_transaction(consumer, settled);
        let outcome = match &result {
            Ok(()) => "committed",
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "Transaction commit failed; stopping, a restart restores from what Kafka holds.");
                "failed"
            }
        };
        metrics::counter!(m::TRANSACTIONS, "outcome" => outcome).increment(1);
        metrics::histogram!(m::COMMIT_DURATION).record(started.elapsed().as_secs_f64());
        self.tally.publish();
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
    ) -> anyhow::Result<()> {
        let changelog = self.cfg.topics.name(TopicKind::Changelog);
        for (&p, vins) in &std::mem::take(&mut self.dirty) {
            for vin in vins {
                if let Some(state) = self.processor.store().get(p, vin) {
                    let value = encode_state(&state);
                    let message = BaseRecord::to(&changelog)
                        .partition(p)
                        .key(vin.as_bytes().as_slice());
                    send(&self.producer, message.payload(value.as_slice()))?;
                }
            }
        }
        for (&p, vins) in &std::mem::take(&mut self.expired) {
            for vin in vins {
                let tombstone = BaseRecord::to(&changelog)
                    .partition(p)
                    .key(vin.as_bytes().as_slice());
                send(&self.producer, tombstone)?;
            }
        }
        let tpl = self.merge.offsets(settled.then_some(consumer))?;
        self.deliver()?;
        if self.cfg.exactly_once {
            let group = consumer
                .group_metadata()
                .context("consumer has no group metadata")?;
            self.producer
                .send_offsets_to_transaction(&tpl, &group, self.cfg.transaction_timeout)
                .context("adding offsets to the transaction")?;
            self.producer
                .commit_transaction(self.cfg.transaction_timeout)
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

    /// Waits for every output to be delivered. librdkafka does not wake its broker threads
    /// when a partition's registration with the transaction completes, so a message for a
    /// newly added partition would wait for the next wake-up (about 100 ms); each short flush
    /// wakes them again.
    fn deliver(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + self.cfg.transaction_timeout;
        loop {
            match self.producer.flush(Duration::from_millis(2)) {
                Ok(()) => return Ok(()),
                Err(KafkaError::Flush(RDKafkaErrorCode::OperationTimedOut))
                    if Instant::now() < deadline => {}
                Err(e) => return Err(e).context("delivering outputs"),
            }
        }
    }

    fn revoke(&mut self, tpl: &TopicPartitionList) {
        let numbers: BTreeSet<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
        for p in numbers {
            self.merge.remove(p);
            self.dirty.remove(&p);
            self.expired.remove(&p);
            self.newest.remove(&p);
            self.stats
                .partitions
                .lock()
                .expect("status lock")
                .remove(&p);
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
        let assigned = self.merge.numbers().len();
        metrics::gauge!(m::ASSIGNED_PARTITIONS).set(assigned as f64);
        self.stats.publish_readiness();
    }

    /// `committed`: the group's offsets for `tpl`, where consumption starts.
    fn assign(
        &mut self,
        tpl: &TopicPartitionList,
        committed: Option<&TopicPartitionList>,
    ) -> anyhow::Result<()> {
        let mut fresh = BTreeSet::new();
        for e in tpl.elements() {
            let kind = self.cfg.topics.kind(e.topic());
            let rank = crate::replay::topic_rank(kind);
            let role = match kind {
                Some(TopicKind::Inspections | TopicKind::Permits) => Role::PlateKeyed,
                Some(TopicKind::EvidenceByVin) => Role::Resolved,
                _ => Role::Vehicle,
            };
            let start = committed
                .and_then(|c| c.find_partition(e.topic(), e.partition()))
                .and_then(|c| match c.offset() {
                    rdkafka::Offset::Offset(o) => Some(o),
                    _ => None,
                });
            if self.merge.add(e.topic(), e.partition(), rank, role, start) {
                fresh.insert(e.partition());
            }
        }
        {
            let mut status = self.stats.partitions.lock().expect("status lock");
            for &p in &fresh {
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
            }
        }
        if !fresh.is_empty() {
            tracing::info!(partitions = ?fresh, "Partitions assigned; restoring them from the changelog.");
        }
        self.publish_assignment();
        for p in fresh {
            let _span = tracing::info_span!("partition", partition = p).entered();
            let started = Instant::now();
            let stats = &self.stats;
            let progress = |read: u64, total: u64| {
                if let Some(s) = stats.partitions.lock().expect("status lock").get_mut(&p) {
                    (s.restore_read, s.restore_total) = (read, total);
                }
                metrics::gauge!(m::RESTORE_REMAINING, "partition" => p.to_string())
                    .set(total.saturating_sub(read) as f64);
            };
            let restored = super::restore::restore(&self.cfg, &self.processor, p, &progress)?;
            let seconds = started.elapsed().as_secs_f64();
            metrics::histogram!(m::RESTORE_DURATION).record(seconds);
            metrics::counter!(m::RESTORED_VEHICLES).increment(restored);
            if let Some(s) = self
                .stats
                .partitions
                .lock()
                .expect("status lock")
                .get_mut(&p)
            {
                s.restored = true;
                s.restore_seconds = seconds;
                s.vehicles = restored;
            }
            {
                // Watched from now: the restore is not a stall, nor a wait for a topic.
                let now = Instant::now();
                self.merge.restart_waits(p, now);
                let mut stalls = self.stats.stalls.lock().expect("stalls lock");
                for kind in TopicKind::INPUTS {
                    stalls.track(now, &self.cfg.topics.name(kind), p);
                }
                drop(stalls);
                self.stats.publish_stalls(now);
            }
            tracing::info!(
                partition = p,
                vehicles = restored,
                seconds,
                "Partition restored from the changelog."
            );
            self.publish_assignment();
        }
        Ok(())
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
    /// Consumer lag per input partition and the stall watch's positions, from librdkafka's
    /// statistics (`statistics.interval.ms`, see `KafkaConfig::group_consumer`).
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
                    if partition.consumer_lag >= 0 {
                        *lag = partition.consumer_lag;
                        metrics::gauge!(m::CONSUMER_LAG, "topic" => topic.clone(), "partition" => p.to_string())
                            .set(partition.consumer_lag as f64);
                    }
                    // Before the first record is handed over, the position is the committed
                    // offset, or where librdkafka fetches from.
                    let position = [
                        partition.app_offset,
                        partition.committed_offset,
                        partition.next_offset,
                    ]
                    .into_iter()
                    .find(|&o| o >= 0);
                    let end = [partition.ls_offset, partition.hi_offset]
                        .into_iter()
                        .find(|&o| o >= 0);
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
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                if let Err(e) = consumer.incremental_assign(&all) {
                    let mut w = self.worker.lock().expect("worker lock");
                    w.failed
                        .get_or_insert(anyhow::Error::new(e).context("assigning partitions"));
                    return;
                }
                let committed = consumer
                    .committed_offsets(all.clone(), Duration::from_secs(10))
                    .ok();
                let mut w = self.worker.lock().expect("worker lock");
                if let Err(e) = w.assign(&all, committed.as_ref()) {
                    w.failed.get_or_insert(e);
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let mut w = self.worker.lock().expect("worker lock");
                if let Err(e) = w.commit(consumer, false) {
                    w.failed.get_or_insert(e);
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

/// Runs until `shutdown` is set, then commits and returns. Blocking: call from a thread.
pub fn run(
    cfg: KafkaConfig,
    rules: Rules,
    shutdown: Arc<AtomicBool>,
    stats: Arc<Stats>,
) -> anyhow::Result<()> {
    let missing = super::missing_codecs()?;
    anyhow::ensure!(
        missing.is_empty(),
        "this build of librdkafka cannot decompress {missing:?}: input compressed with it would stall"
    );
    let producer: BaseProducer = cfg.service_producer().create()?;
    if cfg.exactly_once {
        producer
            .init_transactions(cfg.transaction_timeout)
            .context("initialising transactions")?;
    }
    let partitions = check_co_partitioned(producer.client(), &cfg)?;
    let plates = Arc::new(RwLock::new(PlateTable::new()));
    let permits = Arc::new(RwLock::new(PlatePermits::default()));
    let plate_readers = super::plate_table::start(
        &cfg,
        plates.clone(),
        permits.clone(),
        stats.clone(),
        shutdown.clone(),
    )?;
    let processor = Processor::new(rules, cfg.topics.clone())
        .with_decode(cfg.decode)
        .with_partitions(partitions)
        .with_global_plates(plates, permits);
    // A second start in one process (tests) keeps the first store visible: harmless.
    let _ = stats.store.set(processor.shared_store());
    let worker = Worker {
        processor,
        producer,
        merge: Merge::new(cfg.merge_wait),
        in_transaction: false,
        dirty: BTreeMap::new(),
        tally: Tally::default(),
        newest: BTreeMap::new(),
        expired: BTreeMap::new(),
        last_commit: Instant::now(),
        stats: stats.clone(),
        failed: None,
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
    while !shutdown.load(Ordering::Relaxed) {
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
        if let Some(e) = w.failed.take() {
            return Err(e);
        }
        let (started, polled) = (Instant::now(), !batch.is_empty());
        for record in batch {
            w.merge.enqueue(record);
        }
        let applied = w.drain(&consumer)?;
        w.release()?;
        if polled {
            metrics::histogram!(m::PROCESSING_DURATION).record(started.elapsed().as_secs_f64());
        }
        // Held back for resolved evidence sent from here: commit now, so it can be read back.
        let awaiting = applied == 0 && w.in_transaction && w.merge.awaiting_resolved();
        if awaiting || w.last_commit.elapsed() >= cfg.commit_interval {
            w.commit(&consumer, true)?;
        }
    }
    let mut w = consumer.context().worker.lock().expect("worker lock");
    w.drain(&consumer)?;
    w.commit(&consumer, true)?;
    drop(w);
    for reader in plate_readers {
        let _ = reader.join();
    }
    tracing::info!("Stopped: in-flight work committed.");
    Ok(())
}
