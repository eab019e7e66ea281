//! The global plate table's reader: every instance reads all of compacted `tw.registry` (every
//! partition, read_committed, from the beginning) into the plate table before it joins the
//! group, and keeps reading afterwards to stay current — a Kafka Streams GlobalKTable's
//! thread. Readiness waits for the first read to reach the end the registry had at start.
//!
//! The registry is also an ordinary input (per-vehicle plate, co-partitioned); this reader is
//! the only writer of the table live, so re-processing an input record after a restart can
//! never take the table back in time.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use super::restore::QuietEof;
use super::status::Stats;
use super::{record_of, KafkaConfig};
use crate::decode::{self, Input};
use crate::metrics as m;
use crate::model::EventKind;
use crate::pipeline;
use crate::plates::PlateTable;
use crate::topics::TopicKind;

/// Registry records applied under one write lock, so lookups are never held up long.
const BATCH: usize = 2_000;

/// Starts the reader and waits until the table holds the registry as it stood at start (or
/// `shutdown` is set). The reader goes on until `shutdown`.
pub fn start(
    cfg: &KafkaConfig,
    table: Arc<RwLock<PlateTable>>,
    stats: Arc<Stats>,
    shutdown: Arc<AtomicBool>,
) -> anyhow::Result<std::thread::JoinHandle<()>> {
    let registry = cfg.topics.name(TopicKind::Registry);
    let mut config = cfg.plain_consumer();
    config.set("enable.partition.eof", "true");
    let consumer: BaseConsumer<QuietEof> = config.create_with_context(QuietEof)?;
    let metadata = consumer
        .fetch_metadata(Some(&registry), Duration::from_secs(10))
        .with_context(|| format!("reading metadata of {registry}"))?;
    let partitions: Vec<i32> = metadata
        .topics()
        .first()
        .filter(|t| t.error().is_none())
        .map(|t| t.partitions().iter().map(|p| p.id()).collect())
        .unwrap_or_default();
    anyhow::ensure!(!partitions.is_empty(), "{registry} has no partitions");
    let mut tpl = TopicPartitionList::new();
    let mut pending = BTreeSet::new();
    let mut total = 0u64;
    for &p in &partitions {
        let (low, high) = consumer
            .fetch_watermarks(&registry, p, Duration::from_secs(10))
            .with_context(|| format!("reading watermarks of {registry} partition {p}"))?;
        total += u64::try_from(high - low).unwrap_or(0);
        if high > low {
            pending.insert(p);
        }
        tpl.add_partition_offset(&registry, p, Offset::Beginning)?;
    }
    consumer.assign(&tpl)?;
    table
        .write()
        .expect("plates lock")
        .reserve(usize::try_from(total).unwrap_or(0));
    stats
        .plate_table
        .lock()
        .expect("plate table status lock")
        .restore_total = total;
    let reader = Reader {
        cfg: cfg.clone(),
        table,
        stats,
        started: Instant::now(),
        restored: false,
        pending,
        records: 0,
    };
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let stop = shutdown.clone();
    let handle = std::thread::Builder::new()
        .name("plate-table".into())
        .spawn(move || reader.run(&consumer, &stop, &ready_tx))
        .context("starting the plate table reader")?;
    tracing::info!(
        records = total,
        "Restoring the plate table from the registry."
    );
    while !shutdown.load(Ordering::Relaxed) {
        match ready_rx.recv_timeout(Duration::from_millis(100)) {
            Ok(()) => break,
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                anyhow::bail!("the plate table reader stopped before the table was restored")
            }
        }
    }
    Ok(handle)
}

struct Reader {
    cfg: KafkaConfig,
    table: Arc<RwLock<PlateTable>>,
    stats: Arc<Stats>,
    started: Instant,
    restored: bool,
    /// Registry partitions not yet read to their end as of start.
    pending: BTreeSet<i32>,
    records: u64,
}

impl Reader {
    fn run(
        mut self,
        consumer: &BaseConsumer<QuietEof>,
        shutdown: &AtomicBool,
        ready: &std::sync::mpsc::Sender<()>,
    ) {
        let mut batch = Vec::with_capacity(BATCH);
        while !shutdown.load(Ordering::Relaxed) {
            let mut next = consumer.poll(Duration::from_millis(100));
            while let Some(result) = next {
                match result {
                    Ok(m) => batch.push(record_of(&m)),
                    Err(KafkaError::PartitionEOF(p)) => {
                        self.pending.remove(&p);
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "The plate table reader got an error instead of a record.")
                    }
                }
                if batch.len() >= BATCH {
                    break;
                }
                next = consumer.poll(Duration::ZERO);
            }
            self.apply(&mut batch);
            if !self.restored && self.pending.is_empty() {
                self.restored = true;
                let seconds = self.started.elapsed().as_secs_f64();
                metrics::histogram!(m::PLATE_TABLE_RESTORE_DURATION).record(seconds);
                self.stats
                    .plate_table
                    .lock()
                    .expect("plate table status lock")
                    .restore_seconds = seconds;
                self.publish();
                tracing::info!(
                    records = self.records,
                    seconds,
                    "Plate table restored from the registry."
                );
                let _ = ready.send(());
            }
        }
    }

    fn apply(&mut self, batch: &mut Vec<crate::recording::Record>) {
        if batch.is_empty() {
            return;
        }
        let options = decode::Options::default();
        let inputs: Vec<Input> = batch
            .iter()
            .filter_map(|r| decode::record(r, &self.cfg.topics, &options).ok())
            .collect();
        {
            let mut table = self.table.write().expect("plates lock");
            for input in &inputs {
                match input {
                    Input::Vehicle(event) => {
                        if let EventKind::Registration(r) = &event.kind {
                            pipeline::register(&mut table, event.vin, r);
                        }
                    }
                    Input::Deregistration { vin, at } => {
                        table.deregister(*vin, at.secs().unwrap_or_default());
                    }
                    Input::Plate(_) => {}
                }
            }
        }
        self.records += batch.len() as u64;
        metrics::counter!(m::PLATE_TABLE_RECORDS).increment(batch.len() as u64);
        batch.clear();
        self.publish();
    }

    fn publish(&self) {
        let (plates, vehicles) = {
            let table = self.table.read().expect("plates lock");
            (table.plates() as u64, table.vehicles() as u64)
        };
        metrics::gauge!(m::PLATE_TABLE_PLATES).set(plates as f64);
        let mut status = self
            .stats
            .plate_table
            .lock()
            .expect("plate table status lock");
        status.records = self.records;
        status.plates = plates;
        status.vehicles = vehicles;
        status.restored = self.restored;
        drop(status);
        if self.restored {
            self.stats.publish_readiness();
        }
    }
}
