//! `tailwatch record`: reads topics from the beginning with read_committed and writes them as a
//! recording, stopping after the topics have been idle for a while.

use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use super::{record_of, KafkaConfig};
use crate::recording::Record;

/// Every committed record of `topics`, in the order consumed per partition.
pub fn capture(
    cfg: &KafkaConfig,
    topics: &[String],
    idle_exit: Duration,
) -> anyhow::Result<Vec<Record>> {
    let consumer: BaseConsumer = cfg.plain_consumer().create()?;
    let mut tpl = TopicPartitionList::new();
    for topic in topics {
        let metadata = consumer.fetch_metadata(Some(topic), Duration::from_secs(10))?;
        let partitions = metadata
            .topics()
            .first()
            .map(|t| t.partitions().len())
            .unwrap_or(0);
        anyhow::ensure!(partitions > 0, "topic {topic} does not exist");
        for p in 0..partitions as i32 {
            tpl.add_partition_offset(topic, p, Offset::Beginning)?;
        }
    }
    consumer.assign(&tpl)?;
    let mut records = Vec::new();
    let mut last = Instant::now();
    while last.elapsed() < idle_exit {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => {
                records.push(record_of(&m));
                last = Instant::now();
            }
            Some(Err(e)) => anyhow::bail!("reading: {e}"),
            None => {}
        }
    }
    Ok(records)
}
