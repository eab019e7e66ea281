//! Simulator ground truth: on a 500-vehicle, 6-hour simulated fleet, every injected fault is
//! detected by its own rule and no clean vehicle is listed or gets a case — with telemetry as
//! protobuf `TerminalReport`s and as raw terminal frames in each dialect.
//!
//! A 6-hour run cannot show a 72-hour MIL streak or a 7-day reissue window, so this test (and
//! only this test) shortens those two parameters; every other threshold is the default.

use std::collections::{BTreeMap, BTreeSet};

use tailwatch::config;
use tailwatch::decode::frame::Dialect;
use tailwatch::model::RuleId;
use tailwatch::pipeline::{Emitted, Processor};
use tailwatch::sim::{SimConfig, Simulation};
use tailwatch::topics::Topics;

const OVERRIDES: &str =
    "[mil_emission_fault]\nmin_duration = \"2h\"\n[data_gap]\nfill_within = \"1h\"\n";

#[test]
fn every_injected_fault_is_detected_and_clean_vehicles_are_left_alone() {
    check(None);
}

#[test]
fn the_same_holds_for_raw_gb17691_frames() {
    check(Some(Dialect::Gb17691));
}

#[test]
fn the_same_holds_for_raw_hj1239_frames() {
    check(Some(Dialect::Hj1239));
}

#[test]
fn the_same_holds_for_raw_hybrid_frames() {
    check(Some(Dialect::Hybrid));
}

fn check(raw: Option<Dialect>) {
    let topics = Topics::default();
    let rules = config::rules_from_str(Some(("simulation overrides", OVERRIDES))).unwrap();
    let processor = Processor::new(rules, topics.clone());
    let cfg = SimConfig {
        vehicles: 500,
        duration_secs: 6 * 3600,
        seed: 2026,
        raw,
        ..SimConfig::default()
    };
    let simulation = Simulation::new(cfg);
    let truth: BTreeMap<String, BTreeSet<RuleId>> = simulation
        .truth()
        .iter()
        .map(|t| (t.vin.to_string(), t.faults.iter().copied().collect()))
        .collect();

    let mut detected: BTreeMap<String, BTreeSet<RuleId>> = BTreeMap::new();
    let mut dlq: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut records = 0u64;
    for record in simulation {
        records += 1;
        for e in processor.process(&record).emitted {
            match e {
                Emitted::Blacklist(b) => {
                    let set = detected.entry(b.vin.clone()).or_default();
                    set.extend(b.reasons.iter().map(|r| RuleId::parse(r).unwrap()));
                }
                Emitted::Case(c) => {
                    detected
                        .entry(c.vin.clone())
                        .or_default()
                        .insert(RuleId::parse(&c.rule).unwrap());
                }
                Emitted::Dlq { reason, .. } => *dlq.entry(reason).or_default() += 1,
            }
        }
    }
    assert!(
        dlq.is_empty(),
        "simulated input is all valid, yet DLQ: {dlq:?}"
    );

    let mut missed = Vec::new();
    let mut false_alarms = Vec::new();
    let mut faulty = 0;
    for (vin, faults) in &truth {
        let found = detected.get(vin).cloned().unwrap_or_default();
        faulty += usize::from(!faults.is_empty());
        for f in faults {
            if !found.contains(f) {
                missed.push(format!(
                    "{vin}: {} not detected (found {found:?})",
                    f.as_str()
                ));
            }
        }
        // A repeat offender escalation is a consequence of listings, not a separate fault.
        let extra: Vec<_> = found
            .difference(faults)
            .filter(|r| **r != RuleId::RepeatOffender)
            .collect();
        if !extra.is_empty() {
            false_alarms.push(format!("{vin} (faults {faults:?}): unexpected {extra:?}"));
        }
    }
    let kinds: BTreeSet<RuleId> = truth.values().flatten().copied().collect();
    println!(
        "{records} records, {} vehicles, {faulty} with faults, fault kinds {}",
        truth.len(),
        kinds.len()
    );
    assert_eq!(
        kinds.len(),
        9,
        "every injectable fault kind appears: {kinds:?}"
    );
    assert!(
        missed.is_empty(),
        "{} missed:\n{}",
        missed.len(),
        missed.join("\n")
    );
    assert!(
        false_alarms.is_empty(),
        "{} false alarms:\n{}",
        false_alarms.len(),
        false_alarms.join("\n")
    );
}
