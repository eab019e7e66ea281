//! End-to-end measurements on a real broker (`scripts/kafka-local.sh start`; address in
//! `TAILWATCH_BENCH_BROKERS`, default 127.0.0.1:9092). Run: `cargo bench --bench kafka`.
//!
//! 1. Throughput: `run` over a ≥ 1,000,000-sample recording against a bare read_committed
//!    consumer that only counts the same input records, in the same run.
//! 2. Latency: input record append → visibility (read_committed) of the blacklist event or case
//!    it causes, at a steady moderate rate; p50 / p99.
//! 3. Restore: a changelog partition holding 1,000,000 vehicles' states.

#![allow(clippy::disallowed_methods)]

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use prost::Message as _;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message as _;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};

use tailwatch::config;
use tailwatch::decode::frame::Dialect;
use tailwatch::engine::VehicleState;
use tailwatch::kafka::service::{self, Stats};
use tailwatch::kafka::{self, admin, produce, KafkaConfig};
use tailwatch::model::EventKind;
use tailwatch::model::{Plate, Secs, Vin};
use tailwatch::pipeline::Processor;
use tailwatch::proto;
use tailwatch::recording::Record;
use tailwatch::sim::{SimConfig, Simulation};
use tailwatch::state::encode_state;
use tailwatch::topics::{TopicKind, Topics};

const PARTITIONS: i32 = 4;

/// Append times of input records, by (topic, partition, offset).
type AppendTimes = Arc<Mutex<BTreeMap<(String, i32, i64), Instant>>>;

fn fresh(name: &str, partitions: i32) -> KafkaConfig {
    let brokers =
        std::env::var("TAILWATCH_BENCH_BROKERS").unwrap_or_else(|_| "127.0.0.1:9092".into());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let prefix = format!("bench-{name}-{nanos}.");
    let mut cfg = KafkaConfig::new(&brokers, Topics::with_prefix(&prefix));
    cfg.group_id = format!("{prefix}group");
    cfg.instance_id = format!("{prefix}0");
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime
        .block_on(admin::create_topics(&cfg, partitions, 1))
        .expect("broker reachable: scripts/kafka-local.sh start");
    cfg
}

fn samples(records: &[Record], topics: &Topics) -> usize {
    records
        .iter()
        .filter_map(|r| tailwatch::decode::record(r, topics, &Default::default()).ok())
        .map(|input| match input {
            tailwatch::decode::Input::Vehicle(e) => match e.kind {
                EventKind::Report(r) => r.samples.len(),
                _ => 0,
            },
            _ => 0,
        })
        .sum()
}

/// `raw`: telemetry as raw terminal frames in that dialect (the production input) instead of
/// protobuf reports.
fn throughput(raw: Option<Dialect>) {
    let mut cfg = fresh("throughput", PARTITIONS);
    // TAILWATCH_BENCH_COMMIT_MS: measure another commit interval than the 100 ms default.
    if let Ok(ms) = std::env::var("TAILWATCH_BENCH_COMMIT_MS") {
        cfg.commit_interval = Duration::from_millis(ms.parse().expect("milliseconds"));
    }
    let sim = SimConfig {
        // Large enough that the bare consumer's measurement spans seconds, not fetch latency.
        vehicles: 1000,
        duration_secs: 3 * 3600,
        seed: 5,
        partitions: PARTITIONS,
        topics: cfg.topics.clone(),
        raw,
        ..SimConfig::default()
    };
    let records: Vec<Record> = Simulation::new(sim).collect();
    let n = records.len() as u64;
    let samples = samples(&records, &cfg.topics);
    produce::produce_records(&cfg, &records, None).unwrap();

    // The per-record path alone (decode, engine, output encoding; no Kafka), on this thread:
    // an upper bound for `run`, which does this plus consuming and producing.
    let processor = Processor::new(config::default_rules(), cfg.topics.clone());
    let started = Instant::now();
    let emitted: usize = records
        .iter()
        .map(|r| processor.process(r).emitted.len())
        .sum();
    let alone = started.elapsed();
    assert!(emitted > 0);
    drop((records, processor));

    // Bare consumer: read_committed, counts the input records.
    let consumer: BaseConsumer = cfg.plain_consumer().create().unwrap();
    let mut tpl = TopicPartitionList::new();
    for kind in TopicKind::INPUTS {
        for p in 0..PARTITIONS {
            tpl.add_partition_offset(&cfg.topics.name(kind), p, Offset::Beginning)
                .unwrap();
        }
    }
    consumer.assign(&tpl).unwrap();
    let (mut count, mut first) = (0u64, None);
    while count < n {
        if let Some(Ok(_)) = consumer.poll(Duration::from_millis(100)) {
            first.get_or_insert_with(Instant::now);
            count += 1;
        }
    }
    let bare = first.unwrap().elapsed();
    drop(consumer);

    // tailwatch run, in process.
    let stats = Arc::new(Stats::default());
    let shutdown = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let handle = {
        let (cfg, stats, shutdown) = (cfg.clone(), stats.clone(), shutdown.clone());
        // Named so that profilers can tell the service from the bench's own work.
        std::thread::Builder::new()
            .name("tailwatch-run".into())
            .spawn(move || service::run(cfg, config::default_rules(), shutdown, stats))
            .unwrap()
    };
    let mut first = None;
    while stats.records.load(Ordering::Relaxed) < n {
        if first.is_none() && stats.records.load(Ordering::Relaxed) > 0 {
            first = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let sustained = first.unwrap().elapsed();
    let total = started.elapsed();
    shutdown.store(true, Ordering::Relaxed);
    handle.join().unwrap().unwrap();
    let rate = |d: Duration| n as f64 / d.as_secs_f64();
    println!(
        "throughput ({}): {n} input records ({samples} data-stream samples), {PARTITIONS} partitions",
        raw.map_or("protobuf reports", |d| d.as_str())
    );
    println!(
        "  bare read_committed consumer: {:.2} s, {:.0} records/s",
        bare.as_secs_f64(),
        rate(bare)
    );
    println!(
        "  per-record path alone (no Kafka): {:.2} s, {:.0} records/s; ratio to bare {:.2}",
        alone.as_secs_f64(),
        rate(alone),
        rate(alone) / rate(bare)
    );
    println!("  tailwatch run (first record to last): {:.2} s, {:.0} records/s, {:.0} samples/s; {} transactions", sustained.as_secs_f64(), rate(sustained), samples as f64 / sustained.as_secs_f64(), stats.commits.load(Ordering::Relaxed));
    println!(
        "  tailwatch run (process start to last, incl. join and restore): {:.2} s",
        total.as_secs_f64()
    );
    println!(
        "  ratio tailwatch / bare: {:.2}",
        rate(sustained) / rate(bare)
    );
}

fn latency() {
    let cfg = fresh("latency", PARTITIONS);
    let stats = Arc::new(Stats::default());
    let shutdown = Arc::new(AtomicBool::new(false));
    let handle = {
        let (cfg, stats, shutdown) = (cfg.clone(), stats.clone(), shutdown.clone());
        std::thread::spawn(move || service::run(cfg, config::default_rules(), shutdown, stats))
    };
    while stats.readiness().is_err() {
        std::thread::sleep(Duration::from_millis(20));
    }
    let sent: AppendTimes = Arc::default();
    let reader_done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (cfg, sent, done) = (cfg.clone(), sent.clone(), reader_done.clone());
        std::thread::spawn(move || {
            let consumer: BaseConsumer = cfg.plain_consumer().create().unwrap();
            let mut tpl = TopicPartitionList::new();
            for kind in [TopicKind::Blacklist, TopicKind::Cases] {
                for p in 0..PARTITIONS {
                    tpl.add_partition_offset(&cfg.topics.name(kind), p, Offset::Beginning)
                        .unwrap();
                }
            }
            consumer.assign(&tpl).unwrap();
            let (mut blacklist, mut cases) = (Vec::new(), Vec::new());
            while !done.load(Ordering::Relaxed) {
                let Some(Ok(m)) = consumer.poll(Duration::from_millis(50)) else {
                    continue;
                };
                let seen = Instant::now();
                let payload = m.payload().unwrap_or_default();
                let (record, list) = if m.topic() == cfg.topics.name(TopicKind::Blacklist) {
                    (
                        proto::BlacklistEvent::decode(payload).unwrap().record,
                        &mut blacklist,
                    )
                } else {
                    (
                        proto::EnforcementCase::decode(payload)
                            .unwrap()
                            .evidence
                            .first()
                            .and_then(|e| e.record.clone()),
                        &mut cases,
                    )
                };
                let Some(r) = record else { continue };
                if let Some(t) = sent.lock().unwrap().get(&(r.topic, r.partition, r.offset)) {
                    list.push(seen.duration_since(*t));
                }
            }
            (blacklist, cases)
        })
    };
    let rate = 1000.0;
    let sim = SimConfig {
        vehicles: 400,
        duration_secs: 1800,
        seed: 9,
        partitions: PARTITIONS,
        topics: cfg.topics.clone(),
        ..SimConfig::default()
    };
    let producer: BaseProducer = cfg.producer().create().unwrap();
    let started = Instant::now();
    let mut n = 0u64;
    for record in Simulation::new(sim) {
        let due = Duration::from_secs_f64(n as f64 / rate);
        if let Some(wait) = due.checked_sub(started.elapsed()) {
            std::thread::sleep(wait);
        }
        sent.lock().unwrap().insert(
            (record.topic.clone(), record.partition, record.offset),
            Instant::now(),
        );
        kafka::send(
            &producer,
            kafka::message_of(&record).partition(record.partition),
        )
        .unwrap();
        producer.poll(Duration::ZERO);
        n += 1;
    }
    producer.flush(Duration::from_secs(30)).unwrap();
    while stats.records.load(Ordering::Relaxed) < n {
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_secs(1));
    reader_done.store(true, Ordering::Relaxed);
    let (mut blacklist, mut cases) = reader.join().unwrap();
    shutdown.store(true, Ordering::Relaxed);
    handle.join().unwrap().unwrap();
    let pct = |v: &mut Vec<Duration>, q: f64| -> f64 {
        v.sort();
        v.get(((v.len() as f64 - 1.0) * q).round() as usize)
            .map_or(f64::NAN, |d| d.as_secs_f64() * 1000.0)
    };
    println!("latency: {n} records at {rate} records/s, commit interval 100 ms");
    println!(
        "  blacklist events: {} measured, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        blacklist.len(),
        pct(&mut blacklist, 0.5),
        pct(&mut blacklist, 0.99),
        pct(&mut blacklist, 1.0)
    );
    println!(
        "  cases: {} measured, p50 {:.0} ms, p99 {:.0} ms, max {:.0} ms",
        cases.len(),
        pct(&mut cases, 0.5),
        pct(&mut cases, 0.99),
        pct(&mut cases, 1.0)
    );
}

fn restore() {
    const VEHICLES: u32 = 1_000_000;
    let cfg = fresh("restore", 1);
    let producer: BaseProducer = cfg.producer().create().unwrap();
    let changelog = cfg.topics.name(TopicKind::Changelog);
    let plate = Plate::parse("冀F12345").ok();
    for n in 0..VEHICLES {
        let mut bytes = *b"LGDCH000000000000";
        bytes[9..17].copy_from_slice(format!("{n:08}").as_bytes());
        let vin = Vin::with_check_digit(bytes).unwrap();
        let mut state = VehicleState {
            last_seen: Secs(841_000_000 + n),
            plate,
            ..Default::default()
        };
        state.coverage.add(state.last_seen, 120_000 + n, true);
        let value = encode_state(&state);
        let record = BaseRecord::<[u8], [u8]>::to(&changelog)
            .partition(0)
            .key(vin.as_bytes())
            .payload(&value);
        kafka::send(&producer, record).unwrap();
    }
    producer.flush(Duration::from_secs(60)).unwrap();
    let processor = Processor::new(config::default_rules(), cfg.topics.clone());
    let started = Instant::now();
    let restored = tailwatch::kafka::restore::restore(&cfg, &processor, 0, &|_, _| {}).unwrap();
    let elapsed = started.elapsed();
    assert_eq!(restored, u64::from(VEHICLES));
    println!(
        "restore: {restored} vehicles from one changelog partition in {:.2} s ({:.0} vehicles/s)",
        elapsed.as_secs_f64(),
        restored as f64 / elapsed.as_secs_f64()
    );
}

fn main() {
    let only = std::env::args().skip(1).find(|a| !a.starts_with('-'));
    let run = |name: &str| only.as_deref().is_none_or(|o| o == name);
    if run("throughput") {
        throughput(None);
    }
    if run("throughput-raw") {
        throughput(Some(Dialect::Hj1239));
    }
    if run("latency") {
        latency();
    }
    if run("restore") {
        restore();
    }
}
