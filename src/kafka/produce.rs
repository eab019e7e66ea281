//! Producing a recording into Kafka (`tailwatch replay --brokers`): keys, headers, timestamps
//! and partitions preserved, optionally paced.

use std::time::Duration;

use rdkafka::producer::{BaseProducer, Producer};

use super::{message_of, send, KafkaConfig};
use crate::recording::Record;

/// Sends every record and waits for all acknowledgements. `rate` is records per second.
pub fn produce_records(
    cfg: &KafkaConfig,
    records: impl IntoIterator<Item = impl std::borrow::Borrow<Record>>,
    rate: Option<f64>,
) -> anyhow::Result<u64> {
    let producer: BaseProducer = cfg.producer().create()?;
    let started = std::time::Instant::now();
    let mut sent = 0u64;
    for record in records {
        let record = record.borrow();
        if let Some(rate) = rate {
            let due = Duration::from_secs_f64(sent as f64 / rate);
            if let Some(wait) = due.checked_sub(started.elapsed()) {
                std::thread::sleep(wait);
            }
        }
        send(&producer, message_of(record).partition(record.partition))?;
        sent += 1;
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(sent)
}
