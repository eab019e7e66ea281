//! Producing a recording into Kafka (`tailwatch replay --brokers`): keys, headers, timestamps
//! and partitions preserved, optionally paced. Every record's delivery report is checked: a
//! record the broker refused (a timestamp beyond its `message.timestamp.after.max.ms`, a record
//! over its size limit…) fails the whole call, naming how many and why.

use std::sync::Mutex;
use std::time::Duration;

use rdkafka::message::DeliveryResult;
use rdkafka::producer::{BaseProducer, Producer, ProducerContext};
use rdkafka::ClientContext;

use super::{message_of, send, KafkaConfig};
use crate::recording::Record;

/// Delivery failures: how many, and the first one's error.
#[derive(Default)]
struct Deliveries(Mutex<(u64, Option<String>)>);

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((e, m)) = result {
            use rdkafka::Message as _;
            let mut failed = self.0.lock().expect("deliveries lock");
            failed.0 += 1;
            failed
                .1
                .get_or_insert_with(|| format!("{} partition {}: {e}", m.topic(), m.partition()));
        }
    }
}

/// Sends every record and waits for all acknowledgements. `rate` is records per second.
pub fn produce_records(
    cfg: &KafkaConfig,
    records: impl IntoIterator<Item = impl std::borrow::Borrow<Record>>,
    rate: Option<f64>,
) -> anyhow::Result<u64> {
    let producer: BaseProducer<Deliveries> =
        cfg.producer().create_with_context(Deliveries::default())?;
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
    let (failed, first) =
        std::mem::take(&mut *producer.context().0.lock().expect("deliveries lock"));
    anyhow::ensure!(
        failed == 0,
        "{failed} of {sent} records were not delivered; the first: {}",
        first.unwrap_or_default()
    );
    Ok(sent)
}
