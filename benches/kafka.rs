//! End-to-end measurements on a real broker (`scripts/kafka-local.sh start`; address in
//! `TAILWATCH_BENCH_BROKERS`, default 127.0.0.1:9092). Run: `cargo bench --bench kafka`.
//!
//! 1. Throughput: `run` over a ≥ 1,000,000-sample recording against a bare read_committed
//!    consumer that only counts the same input records, in the same run.
//! 2. Latency: input record append → visibility (read_committed) of the blacklist event or case
//!    it causes, at a steady moderate rate; p50 / p99.
//! 3. Restore: a changelog partition holding 1,000,000 vehicles' states.
//! 4. Plate table: 1,000,000 registrations on `tw.registry`, read whole before readiness.
//! 5. Plate-only evidence: `run` over the same fleet with its inspections VIN-keyed, and with
//!    30 % of them plate-only (resolved through `tw.evidence.by-vin`), alternating.

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
    let (stop, shutdown) = tailwatch::shutdown::channel();
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
    stop.stop();
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
    let (stop, shutdown) = tailwatch::shutdown::channel();
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
    stop.stop();
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
    let restored = tailwatch::kafka::restore::restore(
        &cfg,
        &processor,
        0,
        &|_, _| {},
        &AtomicBool::new(false),
    )
    .unwrap()
    .vehicles;
    let elapsed = started.elapsed();
    assert_eq!(restored, u64::from(VEHICLES));
    println!(
        "restore: {restored} vehicles from one changelog partition in {:.2} s ({:.0} vehicles/s)",
        elapsed.as_secs_f64(),
        restored as f64 / elapsed.as_secs_f64()
    );
}

/// 1,000,000 registrations (one plate each) on `PARTITIONS` registry partitions: the time
/// the service's plate table reader takes to read them all, and the table's heap per plate.
fn plate_table() {
    const VEHICLES: u32 = 1_000_000;
    let cfg = fresh("plates", PARTITIONS);
    let producer: BaseProducer = cfg.producer().create().unwrap();
    let registry = cfg.topics.name(TopicKind::Registry);
    let serial = b"ABCDEFGHJKLMNPQRSTUVWXYZ0123456789";
    for n in 0..VEHICLES {
        let mut bytes = *b"LGDCH000000000000";
        bytes[9..17].copy_from_slice(format!("{n:08}").as_bytes());
        let vin = Vin::with_check_digit(bytes).unwrap();
        let mut plate = String::from(["冀", "津", "鲁", "豫"][(n % 4) as usize]);
        plate.push(char::from(b'A' + (n / 4 % 26) as u8));
        let mut rest = n / 4 / 26;
        for _ in 0..5 {
            plate.push(char::from(serial[(rest % 34) as usize]));
            rest /= 34;
        }
        let m = proto::VehicleRegistration {
            schema_version: 1,
            vin: vin.to_string(),
            plate,
            emission_stage: "China VI".into(),
            fuel_type: "diesel".into(),
            model: "FAW Jiefang J6P 6x4 tractor".into(),
            plate_colour: proto::PlateColour::Yellow as i32,
            registered_from: Some(pbjson_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            category: "N3".into(),
            operating: Some(true),
            operator: "Hebei Steel Logistics".into(),
            ..Default::default()
        };
        let value = m.encode_to_vec();
        let partition = tailwatch::topics::partition_for(vin.as_bytes(), PARTITIONS);
        let record = BaseRecord::<[u8], [u8]>::to(&registry)
            .partition(partition)
            .key(vin.as_bytes())
            .payload(&value);
        kafka::send(&producer, record).unwrap();
    }
    producer.flush(Duration::from_secs(120)).unwrap();
    let tables = tailwatch::pipeline::Tables::default();
    let table = tables.plates.clone();
    let stats = Arc::new(Stats::default());
    let (stop, shutdown) = tailwatch::shutdown::channel();
    let started = Instant::now();
    let readers = tailwatch::kafka::plate_table::start(
        &cfg,
        &tables,
        Arc::new(tailwatch::kafka::plate_table::Catchup::new(
            Duration::from_secs(5),
        )),
        stats.clone(),
        shutdown.clone(),
    )
    .unwrap();
    let elapsed = started.elapsed();
    stop.stop();
    for reader in readers {
        reader.join().unwrap();
    }
    let table = table.read().unwrap();
    assert_eq!(table.plates(), VEHICLES as usize);
    println!(
        "plate_table: {VEHICLES} registrations on {PARTITIONS} partitions read into the table in {:.2} s ({:.0} records/s); table heap {:.1} B per plate",
        elapsed.as_secs_f64(),
        f64::from(VEHICLES) / elapsed.as_secs_f64(),
        table.heap_bytes() as f64 / f64::from(VEHICLES),
    );
}

/// The simulated fleet with every plate-only record made VIN-keyed (resolved through the
/// fleet's own registrations), and the same with `share` of its inspections made plate-only
/// again. Returns (VIN-keyed, with plate-only).
fn keyed_and_plate_only(cfg: &KafkaConfig, share: f64) -> (Vec<Record>, Vec<Record>) {
    let sim = SimConfig {
        vehicles: 1000,
        duration_secs: 3 * 3600,
        seed: 5,
        partitions: PARTITIONS,
        topics: cfg.topics.clone(),
        stray_reads: 0,
        ..SimConfig::default()
    };
    let records: Vec<Record> = Simulation::new(sim).collect();
    let mut table = tailwatch::plates::PlateTable::new();
    for r in &records {
        if let Ok(tailwatch::decode::Input::Vehicle(e)) =
            tailwatch::decode::record(r, &cfg.topics, &Default::default())
        {
            if let EventKind::Registration(reg) = &e.kind {
                tailwatch::pipeline::register(&mut table, e.vin, reg);
            }
        }
    }
    let (inspections, permits) = (
        cfg.topics.name(TopicKind::Inspections),
        cfg.topics.name(TopicKind::Permits),
    );
    let rekey = |r: &mut Record, key: &[u8]| {
        r.key = Some(key.to_vec());
        r.partition = tailwatch::topics::partition_for(key, PARTITIONS);
    };
    let mut keyed = records;
    let mut plate_keyed = Vec::new();
    for (i, r) in keyed.iter_mut().enumerate() {
        let Ok(tailwatch::decode::Input::Plate(read)) =
            tailwatch::decode::record(r, &cfg.topics, &Default::default())
        else {
            continue;
        };
        let at = read.time.secs().unwrap();
        let tailwatch::plates::Resolution::Vehicle(vin) =
            table.resolve(read.plate, read.colour, at)
        else {
            panic!("the fleet's plate reads resolve");
        };
        let value = r.value.as_deref().unwrap();
        if r.topic == inspections {
            let mut m = proto::Inspection::decode(value).unwrap();
            m.vin = vin.to_string();
            r.value = Some(m.encode_to_vec());
            plate_keyed.push(i);
        } else if r.topic == permits {
            let mut m = proto::EntryPermit::decode(value).unwrap();
            m.vin = vin.to_string();
            r.value = Some(m.encode_to_vec());
        }
        rekey(r, vin.as_bytes());
    }
    // Every inspection is VIN-keyed now; `share` of them (spread evenly) back to plate-only.
    let all: Vec<usize> = keyed
        .iter()
        .enumerate()
        .filter(|(_, r)| r.topic == inspections)
        .map(|(i, _)| i)
        .collect();
    let mut with_plates = keyed.clone();
    let every = (1.0 / share).max(1.0);
    let mut converted = 0;
    for (n, &i) in all.iter().enumerate() {
        if (n as f64 / every).floor() == ((n + 1) as f64 / every).floor() {
            continue;
        }
        let r = &mut with_plates[i];
        let mut m = proto::Inspection::decode(r.value.as_deref().unwrap()).unwrap();
        let plate = match &m.kind {
            Some(proto::inspection::Kind::ManualCheck(c)) => c.plate.clone(),
            Some(proto::inspection::Kind::RemoteSensing(p)) => p.plate.clone(),
            None => continue,
        };
        m.vin.clear();
        r.value = Some(m.encode_to_vec());
        rekey(r, plate.as_bytes());
        converted += 1;
    }
    println!(
        "  fleet: {} records, {} inspections, {converted} of them plate-only in the second input",
        keyed.len(),
        all.len()
    );
    (keyed, with_plates)
}

/// `tailwatch run` over `records` on fresh topics: seconds from first record to last.
fn run_over(name: &str, records: &[Record]) -> (f64, u64) {
    let cfg = fresh(name, PARTITIONS);
    let records: Vec<Record> = records
        .iter()
        .map(|r| Record {
            topic: tailwatch::recording::retarget(&r.topic, &cfg.topics).unwrap(),
            ..r.clone()
        })
        .collect();
    produce::produce_records(&cfg, &records, None).unwrap();
    let plate_only = records
        .iter()
        .filter(|r| {
            matches!(
                tailwatch::decode::record(r, &cfg.topics, &Default::default()),
                Ok(tailwatch::decode::Input::Plate(_))
            )
        })
        .count() as u64;
    let n = records.len() as u64 + plate_only;
    let stats = Arc::new(Stats::default());
    let (stop, shutdown) = tailwatch::shutdown::channel();
    let handle = {
        let (cfg, stats, shutdown) = (cfg.clone(), stats.clone(), shutdown.clone());
        std::thread::spawn(move || service::run(cfg, config::default_rules(), shutdown, stats))
    };
    let mut first = None;
    while stats.records.load(Ordering::Relaxed) < n {
        if first.is_none() && stats.records.load(Ordering::Relaxed) > 0 {
            first = Some(Instant::now());
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    let seconds = first.unwrap().elapsed().as_secs_f64();
    stop.stop();
    handle.join().unwrap().unwrap();
    (seconds, n)
}

fn plate_only_throughput() {
    let cfg = fresh("plates-input", PARTITIONS);
    let (keyed, with_plates) = keyed_and_plate_only(&cfg, 0.3);
    let mut ratios = Vec::new();
    for round in 1..=3 {
        let (a, n_a) = run_over("keyed", &keyed);
        let (b, n_b) = run_over("plate-only", &with_plates);
        let ratio = (n_b as f64 / b) / (n_a as f64 / a);
        println!(
            "  round {round}: VIN-keyed {:.2} s ({:.0} records/s); 30 % of inspections plate-only {:.2} s ({:.0} records/s, by-vin records included); ratio {ratio:.2}",
            a,
            n_a as f64 / a,
            b,
            n_b as f64 / b
        );
        ratios.push(ratio);
    }
    ratios.sort_by(f64::total_cmp);
    println!("plate-only throughput: median ratio {:.2}", ratios[1]);
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
    if run("plate-table") {
        plate_table();
    }
    if run("plate-only") {
        plate_only_throughput();
    }
}
