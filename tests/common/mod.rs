//! What the real-broker test files share: running the service in this process until the group
//! has committed every input.

#![allow(clippy::disallowed_methods, dead_code)]

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};

use tailwatch::config;
use tailwatch::kafka::service::{self, Stats};
use tailwatch::kafka::KafkaConfig;
use tailwatch::topics::TopicKind;

/// Partitions of every test topic.
pub const PARTITIONS: i32 = 4;

/// Whether the group has committed every input record.
pub fn caught_up(cfg: &KafkaConfig) -> bool {
    let mut c = cfg.plain_consumer();
    c.set("group.id", &cfg.group_id);
    let consumer: BaseConsumer = c.create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for kind in TopicKind::INPUTS {
        for p in 0..PARTITIONS {
            tpl.add_partition(&cfg.topics.name(kind), p);
        }
    }
    let Ok(committed) = consumer.committed_offsets(tpl, Duration::from_secs(10)) else {
        return false;
    };
    committed.elements().iter().all(|e| {
        let (_, high) = consumer
            .fetch_watermarks(e.topic(), e.partition(), Duration::from_secs(10))
            .unwrap();
        match e.offset() {
            Offset::Offset(o) => o >= high,
            _ => high == 0,
        }
    })
}

/// Runs the service in this process until it has consumed `count` records and committed every
/// input (resolved plate-only evidence comes back as more input).
pub fn run_in_process(cfg: &KafkaConfig, count: u64) -> Arc<Stats> {
    let stats = Arc::new(Stats::default());
    let (stop, shutdown) = tailwatch::shutdown::channel();
    let handle = {
        let (cfg, stats, shutdown) = (cfg.clone(), stats.clone(), shutdown.clone());
        std::thread::spawn(move || service::run(cfg, config::default_rules(), shutdown, stats))
    };
    let started = Instant::now();
    while stats.records.load(Ordering::Relaxed) < count || !caught_up(cfg) {
        assert!(
            !handle.is_finished(),
            "service stopped: {:?}",
            handle.join()
        );
        assert!(started.elapsed() < Duration::from_secs(120), "timed out");
        std::thread::sleep(Duration::from_millis(50));
    }
    stop.stop();
    handle.join().unwrap().unwrap();
    stats
}
