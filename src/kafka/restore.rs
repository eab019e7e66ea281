//! Restoring a partition's vehicles from `tw.changelog` before its records are processed: read
//! the changelog partition to its end (read_committed) into the state store, and the plate-only
//! evidence it was holding into the processor.

use std::time::Duration;

use anyhow::Context as _;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::{ClientContext, Offset, TopicPartitionList};

use super::KafkaConfig;
use crate::model::Vin;
use crate::pipeline::{is_held_key, Processor};
use crate::state::decode_state;
use crate::topics::TopicKind;

/// Changelog records read between two progress reports.
const PROGRESS_EVERY: u64 = 10_000;

/// Reads changelog partition `p` to its end into the store; returns the vehicles it holds.
/// `progress(read, total)` hears how far it got (records, counted by offset).
pub fn restore(
    cfg: &KafkaConfig,
    processor: &Processor,
    p: i32,
    progress: &dyn Fn(u64, u64),
) -> anyhow::Result<u64> {
    let changelog = cfg.topics.name(TopicKind::Changelog);
    processor.drop_partition(p);
    let mut config = cfg.plain_consumer();
    config.set("enable.partition.eof", "true");
    let consumer: BaseConsumer<QuietEof> = config.create_with_context(QuietEof)?;
    let (low, high) = consumer
        .fetch_watermarks(&changelog, p, Duration::from_secs(10))
        .context("reading changelog watermarks")?;
    let total = u64::try_from(high - low).unwrap_or(0);
    progress(0, total);
    if total == 0 {
        return Ok(0);
    }
    let mut tpl = TopicPartitionList::new();
    tpl.add_partition_offset(&changelog, p, Offset::Beginning)?;
    consumer.assign(&tpl)?;
    let store = processor.store();
    loop {
        match consumer.poll(Duration::from_millis(500)) {
            Some(Ok(m)) => {
                use rdkafka::Message as _;
                let read = u64::try_from(m.offset() + 1 - low).unwrap_or(0);
                if read % PROGRESS_EVERY == 0 {
                    progress(read, total);
                }
                let key = m.key().unwrap_or_default();
                if is_held_key(key) {
                    if let Err(e) = processor.restore_held(p, key, m.payload()) {
                        tracing::warn!(partition = p, offset = m.offset(), error = %e, "Unreadable held evidence skipped.");
                    }
                    continue;
                }
                let Ok(vin) = Vin::from_bytes(key) else {
                    continue;
                };
                match m.payload() {
                    Some(bytes) => match decode_state(bytes) {
                        Ok(state) => store.insert(p, vin, state),
                        Err(e) => {
                            tracing::warn!(partition = p, offset = m.offset(), error = %e, "Unreadable changelog state skipped.")
                        }
                    },
                    None => {
                        store.remove(p, &vin);
                    }
                }
            }
            Some(Err(KafkaError::PartitionEOF(_))) => {
                progress(total, total);
                break;
            }
            Some(Err(e)) => return Err(e).context("reading the changelog"),
            None => {}
        }
    }
    Ok(store.partition_len(p) as u64)
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
