//! The embedded demo runs end to end on librdkafka's in-process mock cluster (no broker), and
//! what its exactly-once service publishes equals the offline replay of the same fleet.

use prost::Message as _;
use tailwatch::config;
use tailwatch::pipeline::{Emitted, Processor};
use tailwatch::replay;
use tailwatch::sim::Simulation;
use tailwatch::topics::Topics;

#[test]
fn demo_publishes_what_the_offline_replay_of_its_fleet_gives() {
    let (vehicles, secs, seed) = (40, 3600, 3);
    let outcome = tailwatch::demo::run(vehicles, secs, seed).expect("demo completes");

    let topics = Topics::default();
    let fleet = tailwatch::demo::fleet(vehicles, secs, seed);
    // Resolved plate-only evidence is re-keyed to its VIN's partition, where its state is.
    let processor =
        Processor::new(config::default_rules(), topics.clone()).with_partitions(fleet.partitions);
    let simulation = Simulation::new(fleet);
    // Only the fleet's stray plate reads may go to the DLQ, but those still held at the end.
    let mut stray_reasons: Vec<&'static str> = simulation
        .stray_reads()
        .iter()
        .filter(|s| s.held.is_none())
        .map(|s| s.reason)
        .collect();
    let mut records: Vec<_> = simulation.collect();
    assert_eq!(outcome.records, records.len() as u64);
    replay::order(&mut records, &topics);
    let (mut events, mut cases): (Vec<Vec<u8>>, Vec<Vec<u8>>) = (Vec::new(), Vec::new());
    let mut summary = replay::Summary::default();
    let mut dead_letters = Vec::new();
    for record in &records {
        for e in replay::process(&processor, record, &mut summary) {
            match e {
                Emitted::Blacklist(b) => events.push(b.encode_to_vec()),
                Emitted::Case(c) => cases.push(c.encode_to_vec()),
                Emitted::Dlq { reason, .. } | Emitted::GivenUp { reason, .. } => {
                    dead_letters.push(reason)
                }
                Emitted::Shared(_) | Emitted::Resolved(_) | Emitted::Held { .. } => {}
            }
        }
    }
    dead_letters.sort_unstable();
    stray_reasons.sort_unstable();
    assert_eq!(
        dead_letters, stray_reasons,
        "simulated input went to the DLQ"
    );
    let mut got_events: Vec<_> = outcome
        .blacklist_events
        .iter()
        .map(|e| e.encode_to_vec())
        .collect();
    let got_cases: Vec<_> = outcome.cases.iter().map(|c| c.encode_to_vec()).collect();
    let (mut cases, mut got_cases) = (comparable(&cases), comparable(&got_cases));
    for list in [&mut events, &mut cases, &mut got_events, &mut got_cases] {
        list.sort();
    }
    assert!(!cases.is_empty(), "the demo fleet must produce cases");
    assert_eq!(got_events, events, "blacklist events");
    if got_cases != cases {
        let only = |a: &[Vec<u8>], b: &[Vec<u8>]| -> Vec<String> {
            a.iter()
                .filter(|x| !b.contains(x))
                .map(|x| format!("{:?}", tailwatch::proto::EnforcementCase::decode(&x[..])))
                .collect()
        };
        panic!(
            "cases differ\nonly from the demo: {:#?}\nonly offline: {:#?}",
            only(&got_cases, &cases),
            only(&cases, &got_cases)
        );
    }
}

/// Cases as compared: whole, except which sighting a `blacklisted_entry` case cites. That
/// depends on whether the service saw the listing or the sighting first (README, known
/// approximations): the case and its id are the same, its evidence is another sighting of
/// the same day after the listing began.
fn comparable(cases: &[Vec<u8>]) -> Vec<Vec<u8>> {
    cases
        .iter()
        .map(|bytes| {
            let mut case = tailwatch::proto::EnforcementCase::decode(&bytes[..]).unwrap();
            if case.rule == "blacklisted_entry" {
                case.evidence.clear();
                case.first_evidence_at = None;
                case.last_evidence_at = None;
            }
            case.encode_to_vec()
        })
        .collect()
}
