//! Engine throughput (and, separately, simulator speed): `evaluate` through the state store over a simulated recording, in
//! data-stream samples per second on one core (criterion). Decoding happens once, outside the
//! measured loop: this is the pure core. Run: `cargo bench --bench engine`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use tailwatch::config;
use tailwatch::decode;
use tailwatch::decode::frame::Dialect;
use tailwatch::engine;
use tailwatch::model::{Event, EventKind};
use tailwatch::pipeline::Processor;
use tailwatch::recording::Record;
use tailwatch::sim::{SimConfig, Simulation};
use tailwatch::state::StateStore;
use tailwatch::topics::Topics;

fn events() -> Vec<(i32, Event)> {
    let topics = Topics::default();
    let cfg = SimConfig {
        vehicles: 200,
        duration_secs: 3600,
        seed: 7,
        ..SimConfig::default()
    };
    Simulation::new(cfg)
        .filter_map(|r| match decode::record(&r, &topics, &Default::default()) {
            Ok(decode::Input::Vehicle(e)) => Some((r.partition, e)),
            _ => None,
        })
        .collect()
}

fn throughput(c: &mut Criterion) {
    let rules = config::default_rules();
    let events = events();
    let samples: usize = events
        .iter()
        .map(|(_, e)| match &e.kind {
            EventKind::Report(r) => r.samples.len(),
            _ => 0,
        })
        .sum();
    let mut group = c.benchmark_group("engine");
    group.throughput(Throughput::Elements(samples as u64));
    group.sample_size(20);
    group.bench_function(
        format!("evaluate_{}_events_{samples}_samples", events.len()),
        |b| {
            b.iter(|| {
                let store = StateStore::new();
                let mut outputs = 0usize;
                for (partition, event) in &events {
                    outputs += store.update(*partition, event.vin, |s| {
                        let (next, out) = engine::evaluate(&rules, s, event, &Default::default());
                        let n = out.len();
                        (next, n)
                    });
                }
                outputs
            })
        },
    );
    group.finish();
}

/// Simulator speed: records generated per second (not part of the engine figure).
fn simulate(c: &mut Criterion) {
    let cfg = || SimConfig {
        vehicles: 50,
        duration_secs: 3600,
        seed: 7,
        ..SimConfig::default()
    };
    let records = Simulation::new(cfg()).count();
    let mut group = c.benchmark_group("simulate");
    group.throughput(Throughput::Elements(records as u64));
    group.sample_size(10);
    group.bench_function(format!("fleet_50x1h_{records}_records"), |b| {
        b.iter(|| Simulation::new(cfg()).count())
    });
    group.finish();
}

/// The whole per-record path of `run` without Kafka: decode, engine, output encoding — the
/// same fleet with its telemetry as protobuf reports and as raw HJ 1239 frames.
fn process(c: &mut Criterion) {
    let mut group = c.benchmark_group("pipeline");
    group.sample_size(10);
    for (name, raw) in [("protobuf", None), ("raw_hj1239", Some(Dialect::Hj1239))] {
        let cfg = SimConfig {
            vehicles: 200,
            duration_secs: 3600,
            seed: 7,
            raw,
            ..SimConfig::default()
        };
        let records: Vec<Record> = Simulation::new(cfg).collect();
        group.throughput(Throughput::Elements(records.len() as u64));
        group.bench_function(format!("process_{name}_{}_records", records.len()), |b| {
            b.iter(|| {
                let processor = Processor::new(config::default_rules(), Topics::default());
                records
                    .iter()
                    .map(|r| processor.process(r).emitted.len())
                    .sum::<usize>()
            })
        });
    }
    group.finish();
}

criterion_group!(benches, throughput, simulate, process);
criterion_main!(benches);
