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

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::{message_of, record_of, send, KafkaConfig};
use crate::engine::Rules;
use crate::model::Vin;
use crate::pipeline::{Emitted, Processor};
use crate::recording::Record;
use crate::replay::dlq_record;
use crate::state::encode_state;
use crate::topics::TopicKind;

const TXN_TIMEOUT: Duration = Duration::from_secs(30);

/// Counters readable while the service runs (demo summary, admin endpoints).
#[derive(Debug, Default)]
pub struct Stats {
    pub records: AtomicU64,
    pub blacklist_events: AtomicU64,
    pub cases: AtomicU64,
    pub dlq: AtomicU64,
    pub commits: AtomicU64,
    /// Every assigned partition is restored.
    pub ready: AtomicBool,
}

struct Queue {
    records: VecDeque<Record>,
    /// When the queue last became empty.
    empty_since: Instant,
    /// When the broker was last asked whether records are unread, in this empty spell.
    checked_at: Option<Instant>,
    /// Empty because the partition has no unread records (checked against the broker).
    caught_up: bool,
    /// Tie-break between topics with equal timestamps (`replay::topic_rank`).
    rank: usize,
    /// Offset after the last record taken for processing: what the next commit stores.
    next_offset: Option<i64>,
}

/// How often an empty queue may ask the broker whether it has unread records.
const RECHECK: Duration = Duration::from_millis(10);

struct Worker {
    cfg: KafkaConfig,
    processor: Processor,
    producer: BaseProducer,
    /// Partition number → input topic → queue.
    partitions: BTreeMap<i32, BTreeMap<String, Queue>>,
    in_transaction: bool,
    dirty: BTreeMap<i32, BTreeSet<Vin>>,
    expired: BTreeMap<i32, Vec<Vin>>,
    last_commit: Instant,
    stats: Arc<Stats>,
    failed: Option<anyhow::Error>,
}

impl Worker {
    fn enqueue(&mut self, record: Record) {
        let Some(topic_queues) = self.partitions.get_mut(&record.partition) else {
            return;
        };
        if let Some(q) = topic_queues.get_mut(&record.topic) {
            q.caught_up = false;
            q.records.push_back(record);
        }
    }

    /// Whether an empty queue may be passed over: the partition has no unread records (by the
    /// high watermark of librdkafka's last fetch), or it has held the others back for
    /// `merge_wait`. Checks at most every `RECHECK` per queue.
    fn may_pass(
        consumer: &BaseConsumer<Ctx>,
        merge_wait: Duration,
        topic: &str,
        p: i32,
        q: &mut Queue,
        now: Instant,
    ) -> bool {
        if q.caught_up || now.duration_since(q.empty_since) >= merge_wait {
            return true;
        }
        if q.checked_at
            .is_some_and(|t| now.duration_since(t) < RECHECK)
        {
            return false;
        }
        q.checked_at = Some(now);
        let next = consumer
            .position()
            .ok()
            .and_then(|tpl| tpl.find_partition(topic, p).map(|e| e.offset()));
        q.caught_up = match (next, cached_high_watermark(consumer, topic, p)) {
            (Some(Offset::Offset(next)), Some(high)) => next >= high,
            (_, Some(0)) => true,
            _ => false,
        };
        q.caught_up
    }

    /// The next record of partition `p` in merged timestamp order, or `None` to wait.
    fn next(&mut self, consumer: &BaseConsumer<Ctx>, p: i32) -> Option<Record> {
        let merge_wait = self.cfg.merge_wait;
        let queues = self.partitions.get_mut(&p)?;
        let now = Instant::now();
        for (topic, q) in queues.iter_mut() {
            if q.records.is_empty() && !Self::may_pass(consumer, merge_wait, topic, p, q, now) {
                return None;
            }
        }
        let q = queues
            .values_mut()
            .filter(|q| !q.records.is_empty())
            .min_by_key(|q| (q.records[0].timestamp, q.rank, q.records[0].offset))?;
        let record = q.records.pop_front()?;
        q.next_offset = Some(record.offset + 1);
        if q.records.is_empty() {
            q.empty_since = now;
            q.checked_at = None;
        }
        Some(record)
    }

    fn drain(&mut self, consumer: &BaseConsumer<Ctx>) -> anyhow::Result<()> {
        let partitions: Vec<i32> = self.partitions.keys().copied().collect();
        for p in partitions {
            while let Some(record) = self.next(consumer, p) {
                self.apply(&record)?;
            }
        }
        Ok(())
    }

    /// Sends an output keyed by `key`, partitioned by the producer.
    fn output(&self, topic: &str, key: &[u8], value: &[u8]) -> anyhow::Result<()> {
        send(
            &self.producer,
            BaseRecord::to(topic).key(key).payload(value),
        )
    }

    fn apply(&mut self, record: &Record) -> anyhow::Result<()> {
        if self.cfg.exactly_once && !self.in_transaction {
            self.producer
                .begin_transaction()
                .context("beginning a transaction")?;
        }
        self.in_transaction = true;
        let processed = self.processor.process(record);
        let topics = &self.cfg.topics;
        for emitted in &processed.emitted {
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
                    let dlq = dlq_record(topics, record, reason, message);
                    send(&self.producer, message_of(&dlq))?;
                    self.stats.dlq.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        if let Some(vin) = processed.vin {
            self.dirty.entry(record.partition).or_default().insert(vin);
        }
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
    fn commit(&mut self, consumer: &BaseConsumer<Ctx>) -> anyhow::Result<()> {
        if !self.in_transaction {
            self.last_commit = Instant::now();
            return Ok(());
        }
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
        let mut tpl = TopicPartitionList::new();
        for (&p, queues) in &self.partitions {
            for (topic, q) in queues {
                if let Some(next) = q.next_offset {
                    tpl.add_partition_offset(topic, p, Offset::Offset(next))?;
                }
            }
        }
        self.deliver()?;
        if self.cfg.exactly_once {
            let group = consumer
                .group_metadata()
                .context("consumer has no group metadata")?;
            self.producer
                .send_offsets_to_transaction(&tpl, &group, TXN_TIMEOUT)
                .context("adding offsets to the transaction")?;
            self.producer
                .commit_transaction(TXN_TIMEOUT)
                .context("committing the transaction")?;
        } else {
            consumer
                .commit(&tpl, rdkafka::consumer::CommitMode::Sync)
                .context("committing offsets")?;
        }
        self.in_transaction = false;
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
        let deadline = Instant::now() + TXN_TIMEOUT;
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
            self.partitions.remove(&p);
            self.dirty.remove(&p);
            self.expired.remove(&p);
            let dropped = self.processor.store().drop_partition(p);
            tracing::info!(
                partition = p,
                vehicles = dropped,
                "Partition revoked; its vehicles were dropped."
            );
        }
        self.stats.ready.store(false, Ordering::Relaxed);
    }

    fn assign(&mut self, tpl: &TopicPartitionList) -> anyhow::Result<()> {
        let now = Instant::now();
        let mut fresh = BTreeSet::new();
        for e in tpl.elements() {
            let queues = self.partitions.entry(e.partition()).or_insert_with(|| {
                fresh.insert(e.partition());
                BTreeMap::new()
            });
            queues.entry(e.topic().to_owned()).or_insert(Queue {
                records: VecDeque::new(),
                empty_since: now,
                checked_at: None,
                caught_up: false,
                rank: crate::replay::topic_rank(self.cfg.topics.kind(e.topic())),
                next_offset: None,
            });
        }
        for p in fresh {
            let started = Instant::now();
            let restored = super::restore::restore(&self.cfg, &self.processor, p)?;
            tracing::info!(
                partition = p,
                vehicles = restored,
                seconds = started.elapsed().as_secs_f64(),
                "Partition restored from the changelog."
            );
        }
        self.stats.ready.store(true, Ordering::Relaxed);
        Ok(())
    }
}

/// The high watermark librdkafka last saw in a fetch response for this partition, without
/// asking the broker (`None` before the first fetch).
fn cached_high_watermark(consumer: &BaseConsumer<Ctx>, topic: &str, p: i32) -> Option<i64> {
    let topic = std::ffi::CString::new(topic).ok()?;
    let (mut low, mut high) = (-1i64, -1i64);
    // SAFETY: the client pointer is valid while `consumer` lives; the topic is a valid C string
    // and the out-pointers point at live locals. The call only reads librdkafka's cached
    // partition state.
    let err = unsafe {
        rdkafka::bindings::rd_kafka_get_watermark_offsets(
            consumer.client().native_ptr(),
            topic.as_ptr(),
            p,
            &mut low,
            &mut high,
        )
    };
    (err == rdkafka::bindings::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR && high >= 0)
        .then_some(high)
}

/// Refuses to start unless every input topic exists with the lead topic's partition count:
/// partitions beyond the lead's would never be read.
fn check_co_partitioned(consumer: &BaseConsumer<Ctx>, cfg: &KafkaConfig) -> anyhow::Result<()> {
    let mut counts = Vec::new();
    for kind in TopicKind::INPUTS {
        let name = cfg.topics.name(kind);
        let metadata = consumer
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
    Ok(())
}

struct Ctx {
    worker: Mutex<Worker>,
}

impl ClientContext for Ctx {}

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
                let mut w = self.worker.lock().expect("worker lock");
                if let Err(e) = w.assign(&all) {
                    w.failed.get_or_insert(e);
                }
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let mut w = self.worker.lock().expect("worker lock");
                if let Err(e) = w.commit(consumer) {
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
    let producer: BaseProducer = cfg.service_producer().create()?;
    if cfg.exactly_once {
        producer
            .init_transactions(TXN_TIMEOUT)
            .context("initialising transactions")?;
    }
    let worker = Worker {
        processor: Processor::new(rules, cfg.topics.clone()),
        producer,
        partitions: BTreeMap::new(),
        in_transaction: false,
        dirty: BTreeMap::new(),
        expired: BTreeMap::new(),
        last_commit: Instant::now(),
        stats,
        failed: None,
        cfg: cfg.clone(),
    };
    let consumer: BaseConsumer<Ctx> = cfg.group_consumer().create_with_context(Ctx {
        worker: Mutex::new(worker),
    })?;
    check_co_partitioned(&consumer, &cfg)?;
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
                Err(e) => tracing::warn!(error = %e, "Consumer error."),
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
        for record in batch {
            w.enqueue(record);
        }
        w.drain(&consumer)?;
        if w.last_commit.elapsed() >= cfg.commit_interval {
            w.commit(&consumer)?;
        }
    }
    let mut w = consumer.context().worker.lock().expect("worker lock");
    w.drain(&consumer)?;
    w.commit(&consumer)?;
    drop(w);
    tracing::info!("Stopped: in-flight work committed.");
    Ok(())
}
