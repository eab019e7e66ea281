//! Restoring a partition's vehicles from `tw.changelog` before its records are processed: read
//! the changelog partition to its end (read_committed) into the state store, and the plate-only
//! evidence it was holding into the processor. Runs on its own thread while the partition's
//! input is paused, so the group consumer keeps polling and committing the others.
//!
//! A record it cannot read (a state format of a later release after a rollback, corrupt
//! bytes) never vanishes: it is returned as `Unreadable` unless a later record of the same key
//! supersedes it, as compaction would. The service then halts the partition or dead-letters
//! the record, as `unreadable_state` says.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::KafkaConfig;
use crate::model::Vin;
use crate::pipeline::{is_held_key, Processor};
use crate::recording::Record;
use crate::state::decode_state;
use crate::topics::TopicKind;

/// Changelog records read between two progress reports.
const PROGRESS_EVERY: u64 = 10_000;

/// What a restore found.
#[derive(Debug, Default)]
pub struct Restored {
    /// Vehicles now in the store for the partition.
    pub vehicles: u64,
    /// The latest record of each key that could not be read, in offset order.
    pub unreadable: Vec<Unreadable>,
}

/// A changelog record this release cannot read.
#[derive(Debug, Clone)]
pub struct Unreadable {
    /// The record as read (for the DLQ).
    pub record: Record,
    pub error: String,
}

/// Why a restore ended without reading its partition to the end.
#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("cancelled: the partition was revoked")]
    Cancelled,
    #[error(transparent)]
    Kafka(#[from] anyhow::Error),
}

/// Reads changelog partition `p` to its end into the store. `progress(read, total)` hears how
/// far it got (records, counted by offset); `cancel` ends it early.
pub fn restore(
    cfg: &KafkaConfig,
    processor: &Processor,
    p: i32,
    progress: &dyn Fn(u64, u64),
    cancel: &AtomicBool,
) -> Result<Restored, RestoreError> {
    let changelog = cfg.topics.name(TopicKind::Changelog);
    processor.drop_partition(p);
    let mut config = cfg.plain_consumer();
    config.set("enable.partition.eof", "true");
    let consumer: BaseConsumer<QuietEof> = config
        .create_with_context(QuietEof)
        .context("creating the restore consumer")?;
    let (low, high) = consumer
        .fetch_watermarks(&changelog, p, Duration::from_secs(10))
        .context("reading changelog watermarks")?;
    let total = u64::try_from(high - low).unwrap_or(0);
    progress(0, total);
    if total == 0 {
        return Ok(Restored::default());
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&changelog, p, Offset::Beginning)
        .context("naming the changelog partition")?;
    consumer
        .assign(&tpl)
        .context("assigning the changelog partition")?;
    let store = processor.store();
    // By key: a later record of the key supersedes an unreadable one.
    let mut unreadable: HashMap<Vec<u8>, Unreadable> = HashMap::new();
    loop {
        if cancel.load(Ordering::Relaxed) {
            return Err(RestoreError::Cancelled);
        }
        let m = match consumer.poll(Duration::from_millis(200)) {
            Some(Ok(m)) => m,
            Some(Err(KafkaError::PartitionEOF(_))) => {
                progress(total, total);
                break;
            }
            Some(Err(e)) => {
                return Err(anyhow::Error::new(e)
                    .context("reading the changelog")
                    .into())
            }
            None => continue,
        };
        use rdkafka::Message as _;
        let read = u64::try_from(m.offset() + 1 - low).unwrap_or(0);
        if read % PROGRESS_EVERY == 0 {
            progress(read, total);
        }
        let key = m.key().unwrap_or_default();
        let failed = if is_held_key(key) {
            processor.restore_held(p, key, m.payload()).err()
        } else if let Ok(vin) = Vin::from_bytes(key) {
            match m.payload().map(decode_state) {
                Some(Ok(state)) => {
                    store.insert(p, vin, state);
                    None
                }
                Some(Err(e)) => {
                    store.remove(p, &vin);
                    Some(e.to_string())
                }
                None => {
                    store.remove(p, &vin);
                    None
                }
            }
        } else {
            Some("the key is neither a VIN nor held evidence".to_owned())
        };
        match failed {
            None => {
                unreadable.remove(key);
            }
            Some(error) => {
                let record = Record {
                    topic: changelog.clone(),
                    partition: p,
                    offset: m.offset(),
                    timestamp: m.timestamp().to_millis().unwrap_or(0),
                    key: Some(key.to_vec()),
                    headers: Default::default(),
                    value: m.payload().map(<[u8]>::to_vec),
                };
                unreadable.insert(key.to_vec(), Unreadable { record, error });
            }
        }
    }
    let mut unreadable: Vec<Unreadable> = unreadable.into_values().collect();
    unreadable.sort_by_key(|u| u.record.offset);
    Ok(Restored {
        vehicles: store.partition_len(p) as u64,
        unreadable,
    })
}

/// The restore consumer asks for end-of-partition events; they are not errors.
pub(super) struct QuietEof;

impl ClientContext for QuietEof {
    fn error(&self, error: KafkaError, reason: &str) {
        let eof = matches!(
            error,
            KafkaError::PartitionEOF(_) | KafkaError::Global(RDKafkaErrorCode::PartitionEOF)
        );
        if !eof {
            tracing::error!(%error, reason, "Kafka client error.");
        }
    }
}

impl ConsumerContext for QuietEof {}
