//! `tailwatch demo`: the embedded default. librdkafka's in-process mock cluster, every topic,
//! a simulated fleet streamed into it while the real service (the same code as `run`)
//! processes it, then a readable summary. No broker, no configuration.
//!
//! An edge: wall-clock time is used for pacing and the throughput figure.

#![allow(clippy::disallowed_methods)]

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;
use prost::Message as _;
use rdkafka::mocking::MockCluster;

use crate::config;
use crate::kafka::service::{self, Stats};
use crate::kafka::{capture, produce, KafkaConfig};
use crate::proto;
use crate::sim::{SimConfig, Simulation};
use crate::topics::{TopicKind, Topics};

const PARTITIONS: i32 = 4;
/// Records produced ahead of the service at most.
const SLICE: usize = 2000;

/// What the demo's service published (read back with read_committed), for the summary and
/// for tests that compare it with the offline replay of the same fleet.
pub struct Outcome {
    pub records: u64,
    pub blacklist_events: Vec<proto::BlacklistEvent>,
    pub cases: Vec<proto::EnforcementCase>,
}

/// The demo's fleet: `vehicles` trucks for `duration_secs`, on the demo's partitions.
pub fn fleet(vehicles: usize, duration_secs: u64, seed: u64) -> SimConfig {
    SimConfig {
        vehicles,
        duration_secs,
        seed,
        partitions: PARTITIONS,
        ..SimConfig::default()
    }
}

pub fn run(vehicles: usize, duration_secs: u64, seed: u64) -> anyhow::Result<Outcome> {
    let mock = MockCluster::new(1).context("starting the in-process Kafka mock cluster")?;
    let topics = Topics::default();
    for kind in TopicKind::ALL {
        mock.create_topic(&topics.name(kind), PARTITIONS, 1)?;
    }
    let mut cfg = KafkaConfig::new(&mock.bootstrap_servers(), topics.clone());
    cfg.group_id = "tailwatch-demo".into();
    cfg.instance_id = "demo-0".into();

    let stats = Arc::new(Stats::default());
    let (stop, shutdown) = crate::shutdown::channel();
    let service = {
        let (cfg, stats) = (cfg.clone(), stats.clone());
        std::thread::spawn(move || service::run(cfg, config::default_rules(), shutdown, stats))
    };

    let simulation = Simulation::new(fleet(vehicles, duration_secs, seed));
    let notes = simulation.notes().to_vec();
    let truth: BTreeMap<String, Vec<String>> = simulation
        .truth()
        .iter()
        .map(|t| {
            (
                t.vin.to_string(),
                t.faults.iter().map(|f| f.as_str().to_owned()).collect(),
            )
        })
        .collect();
    println!("tailwatch demo: {vehicles} simulated trucks, {} of driving, streamed into an in-process Kafka", humantime::format_duration(Duration::from_secs(duration_secs)));
    let started = Instant::now();
    // The mock cluster keeps only a few MB per partition: stream in slices no further ahead of
    // the service than it can hold.
    let mut simulation = simulation.peekable();
    let mut sent = 0;
    while simulation.peek().is_some() {
        let slice: Vec<_> = simulation.by_ref().take(SLICE).collect();
        sent += produce::produce_records(&cfg, &slice, None)?;
        wait_for(&stats, &service, sent.saturating_sub(SLICE as u64), started)?;
    }
    wait_for(&stats, &service, sent, started)?;
    let elapsed = started.elapsed();
    stop.stop();
    service.join().expect("service thread")?;

    let outputs = capture::capture(
        &cfg,
        &[
            topics.name(TopicKind::Blacklist),
            topics.name(TopicKind::Cases),
        ],
        Duration::from_secs(1),
    )?;
    let mut cases = Vec::new();
    let mut events = Vec::new();
    for r in &outputs {
        let Some(value) = &r.value else { continue };
        if r.topic == topics.name(TopicKind::Cases) {
            cases.push(proto::EnforcementCase::decode(value.as_slice())?);
        } else {
            events.push(proto::BlacklistEvent::decode(value.as_slice())?);
        }
    }
    print_summary(sent, elapsed, &stats, &truth, &notes, &events, &cases);
    Ok(Outcome {
        records: sent,
        blacklist_events: events,
        cases,
    })
}

/// Waits until the service has processed `count` input records.
fn wait_for(
    stats: &Stats,
    service: &std::thread::JoinHandle<anyhow::Result<()>>,
    count: u64,
    started: Instant,
) -> anyhow::Result<()> {
    while stats.records.load(Ordering::Relaxed) < count {
        anyhow::ensure!(!service.is_finished(), "the service stopped early");
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(300),
            "the service did not keep up within 5 minutes"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    Ok(())
}

fn print_summary(
    sent: u64,
    elapsed: Duration,
    stats: &Stats,
    truth: &BTreeMap<String, Vec<String>>,
    notes: &[String],
    events: &[proto::BlacklistEvent],
    cases: &[proto::EnforcementCase],
) {
    let listed = events
        .iter()
        .filter(|e| e.status == proto::BlacklistStatus::Listed as i32)
        .count();
    let delisted = events.len() - listed;
    println!();
    println!(
        "records processed   {sent} in {:.1} s ({:.0} records/s, exactly-once, {} transactions)",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64(),
        stats.commits.load(Ordering::Relaxed)
    );
    println!("vehicles seen       {}", truth.len());
    println!(
        "blacklist events    {} ({listed} LISTED, {delisted} DELISTED)",
        events.len()
    );
    println!("dead-letter records {}", stats.dlq.load(Ordering::Relaxed));
    let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for c in cases {
        *by_rule.entry(c.rule.as_str()).or_default() += 1;
    }
    println!("cases               {}", cases.len());
    for (rule, n) in &by_rule {
        println!("  {rule:<24}{n}");
    }
    let detected: BTreeSet<&str> = events
        .iter()
        .map(|e| e.vin.as_str())
        .chain(cases.iter().map(|c| c.vin.as_str()))
        .collect();
    let faulty = truth.values().filter(|f| !f.is_empty()).count();
    let clean_flagged = truth
        .iter()
        .filter(|(v, f)| f.is_empty() && detected.contains(v.as_str()))
        .count();
    let flagged = truth
        .iter()
        .filter(|(v, f)| !f.is_empty() && detected.contains(v.as_str()))
        .count();
    println!("ground truth        {faulty} trucks carry injected faults, {flagged} flagged in this run; {clean_flagged} clean trucks flagged");
    for note in notes {
        println!("                    ({note})");
    }
    if !notes.is_empty() {
        println!("                    (`tailwatch simulate` + `replay` run longer fleets offline, both under the rules `--rules` names)");
    }
    println!();
    println!("example cases:");
    let mut seen = BTreeSet::new();
    for c in cases.iter().filter(|c| seen.insert(c.rule.clone())).take(3) {
        let evidence = c.evidence.first();
        let measurements: Vec<String> = evidence
            .map(|e| {
                e.measurements
                    .iter()
                    .map(|m| match m.limit {
                        Some(limit) => {
                            format!("{} {:.2} {} (limit {limit})", m.name, m.value, m.unit)
                        }
                        None => format!("{} {:.2} {}", m.name, m.value, m.unit),
                    })
                    .collect()
            })
            .unwrap_or_default();
        println!("  {}", c.case_id);
        println!(
            "    plate {} ({}), {}; fine {} yuan; priority {}",
            c.plate,
            if c.out_of_town {
                "out-of-town"
            } else {
                "Beijing"
            },
            c.legal_basis,
            c.fine_yuan,
            proto::Priority::try_from(c.priority)
                .map(|p| p.as_str_name())
                .unwrap_or("?")
        );
        println!("    evidence: {}", measurements.join("; "));
    }
}
