//! Producing a recording into Kafka (`tailwatch replay --brokers`): keys, headers, timestamps
//! and partitions preserved, optionally paced.

use std::time::Duration;

use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};

use super::{headers_of, KafkaConfig};
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
        let mut message = BaseRecord::<[u8], [u8]>::to(&record.topic)
            .partition(record.partition)
            .timestamp(record.timestamp)
            .headers(headers_of(record));
        if let Some(key) = &record.key {
            message = message.key(key);
        }
        if let Some(value) = &record.value {
            message = message.payload(value);
        }
        loop {
            match producer.send(message) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), m)) => {
                    producer.poll(Duration::from_millis(10));
                    message = m;
                }
                Err((e, _)) => anyhow::bail!("producing to {}: {e}", record.topic),
            }
        }
        sent += 1;
        producer.poll(Duration::ZERO);
    }
    producer.flush(Duration::from_secs(60))?;
    Ok(sent)
}
