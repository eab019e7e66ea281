//! Beijing–Tianjin–Hebei sharing end to end, with the real replication engine between two real
//! brokers: Beijing's (`TAILWATCH_TEST_BROKERS`, default 127.0.0.1:9092) and Tianjin's
//! (`TAILWATCH_TEST_NEIGHBOUR_BROKERS`, default 127.0.0.1:29092), with MirrorMaker 2 mirroring
//! Tianjin's `*shared.overlimit` topics into Beijing. `scripts/test.sh` starts all three
//! (`scripts/kafka-local.sh` twice, `scripts/mirror-local.sh`).
//!
//! Tianjin runs tailwatch too: a failed roadside check there lists a truck, and its listing
//! travels Tianjin's service → `tw.shared.overlimit` → MirrorMaker 2 →
//! `tianjin.tw.shared.overlimit` → Beijing's global table; the truck then enters Beijing
//! without a permit, and Beijing's case cites Tianjin's listing.

#![allow(clippy::disallowed_methods)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use prost::Message as _;

use tailwatch::config;
use tailwatch::kafka::{admin, capture, produce, KafkaConfig};
use tailwatch::model::Region;
use tailwatch::pipeline::Processor;
use tailwatch::proto;
use tailwatch::recording::Record;
use tailwatch::replay;
use tailwatch::topics::{partition_for, TopicKind, Topics};

use common::{run_in_process, PARTITIONS};

const TRUCK: &str = "LZZ1CLVB3NA000101";
const UNLISTED: &str = "LZZ1CLVB5NA000102";

fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.into())
}

/// One province's deployment under `prefix`, its topics created.
fn province(brokers: &str, prefix: &str, region: Region, neighbours: &[Region]) -> KafkaConfig {
    let topics = Topics::with_prefix(prefix).with_neighbours(neighbours);
    let mut cfg = KafkaConfig::new(brokers, topics);
    cfg.region = region;
    cfg.group_id = format!("{prefix}{region}");
    cfg.instance_id = format!("{prefix}{region}-0");
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(admin::create_topics(&cfg, PARTITIONS, 1))
        .unwrap_or_else(|e| {
            panic!("{region}'s broker {brokers} reachable (scripts/test.sh starts it): {e}")
        });
    cfg
}

fn ms_ago(hours: i64) -> i64 {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    now - hours * 3_600_000
}

fn timestamp(ms: i64) -> Option<pbjson_types::Timestamp> {
    Some(pbjson_types::Timestamp {
        seconds: ms / 1000,
        nanos: 0,
    })
}

/// A record keyed by `vin` on the partition a Java producer would pick.
fn record(cfg: &KafkaConfig, kind: TopicKind, vin: &str, at: i64, value: Vec<u8>) -> Record {
    Record {
        topic: cfg.topics.name(kind),
        partition: partition_for(vin.as_bytes(), PARTITIONS),
        offset: 0,
        timestamp: at,
        key: Some(vin.as_bytes().to_vec()),
        headers: BTreeMap::new(),
        value: Some(value),
    }
}

fn registration(cfg: &KafkaConfig, vin: &str, plate: &str, at: i64) -> Record {
    let m = proto::VehicleRegistration {
        schema_version: 1,
        vin: vin.into(),
        plate: plate.into(),
        plate_colour: proto::PlateColour::Yellow as i32,
        emission_stage: "China V".into(),
        ..Default::default()
    };
    record(cfg, TopicKind::Registry, vin, at, m.encode_to_vec())
}

/// A manual check at (lon, lat): failed (opacity over limit b) or passed.
fn check(
    cfg: &KafkaConfig,
    vin: &str,
    plate: &str,
    at: i64,
    lon: f64,
    lat: f64,
    failed: bool,
) -> Record {
    use proto::inspection::Kind;
    let m = proto::Inspection {
        schema_version: 1,
        vin: vin.into(),
        kind: Some(Kind::ManualCheck(proto::ManualCheck {
            plate: plate.into(),
            plate_colour: proto::PlateColour::Yellow as i32,
            site_id: "CP-1".into(),
            tested_at: timestamp(at),
            position: Some(proto::Position {
                valid: true,
                lon,
                lat,
            }),
            free_acceleration_opacity: Some(if failed { 1.6 } else { 0.3 }),
            obd_communication_ok: Some(true),
            station_passed: !failed,
            ..Default::default()
        })),
    };
    record(cfg, TopicKind::Inspections, vin, at, m.encode_to_vec())
}

/// Produces `records` and runs `cfg`'s service over them until every input is committed.
fn run(cfg: &KafkaConfig, records: &[Record]) {
    let sent = produce::produce_records(cfg, records, None).unwrap();
    run_in_process(cfg, sent);
}

/// Every committed record of `topic` on `cfg`'s broker.
fn read(cfg: &KafkaConfig, topic: &str) -> Vec<Record> {
    capture::capture(cfg, &[topic.to_owned()], Duration::from_secs(2)).unwrap()
}

#[test]
fn a_truck_tianjin_listed_entering_beijing_gets_a_case_citing_tianjins_listing() {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let prefix = format!("test-sharing-{}-{nanos}.", std::process::id());
    let tianjin_brokers = env_or("TAILWATCH_TEST_NEIGHBOUR_BROKERS", "127.0.0.1:29092");
    let beijing_brokers = env_or("TAILWATCH_TEST_BROKERS", "127.0.0.1:9092");
    let tianjin = province(&tianjin_brokers, &prefix, Region::Tianjin, &[]);
    let beijing = province(
        &beijing_brokers,
        &prefix,
        Region::Beijing,
        &[Region::Tianjin],
    );

    // Tianjin: the truck fails a roadside check in Tianjin three hours ago and is listed.
    let listed_at = ms_ago(3);
    run(
        &tianjin,
        &[
            registration(&tianjin, TRUCK, "津A12345", ms_ago(48)),
            check(&tianjin, TRUCK, "津A12345", listed_at, 117.20, 39.12, true),
        ],
    );
    let shared = read(&tianjin, &tianjin.topics.name(TopicKind::SharedOverlimit));
    assert_eq!(shared.len(), 1, "Tianjin shares its listing once");
    let listing = proto::SharedOverlimit::decode(shared[0].value.as_deref().unwrap()).unwrap();
    assert_eq!(
        (
            listing.vin.as_str(),
            listing.region_code.as_str(),
            listing.plate.as_str()
        ),
        (TRUCK, "120000", "津A12345")
    );
    assert_eq!(listing.plate_colour, proto::PlateColour::Yellow as i32);
    assert_eq!(listing.status, proto::BlacklistStatus::Listed as i32);
    assert_eq!(
        shared[0].timestamp,
        listed_at / 1000 * 1000,
        "stamped with the listing's time"
    );

    // MirrorMaker 2 mirrors it into Beijing as tianjin.<prefix>shared.overlimit.
    let (_, mirrored_topic) = beijing.topics.neighbours()[0].clone();
    let started = Instant::now();
    let mirrored = loop {
        let got = read(&beijing, &mirrored_topic);
        if !got.is_empty() {
            break got;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "{mirrored_topic} got nothing from MirrorMaker 2 within 60 s (scripts/mirror-local.sh)"
        );
    };
    assert_eq!(mirrored[0].value, shared[0].value, "mirrored as it was");

    // Beijing: the truck, and one nobody listed, pass a checkpoint inside Beijing an hour ago.
    let sighted_at = ms_ago(1);
    let inputs = [
        registration(&beijing, TRUCK, "津A12345", ms_ago(48)),
        registration(&beijing, UNLISTED, "津B23456", ms_ago(48)),
        check(
            &beijing,
            TRUCK,
            "津A12345",
            sighted_at,
            116.3975,
            39.9087,
            false,
        ),
        check(
            &beijing,
            UNLISTED,
            "津B23456",
            sighted_at,
            116.3975,
            39.9087,
            false,
        ),
    ];
    run(&beijing, &inputs);
    let cases: Vec<proto::EnforcementCase> = read(&beijing, &beijing.topics.name(TopicKind::Cases))
        .iter()
        .map(|r| proto::EnforcementCase::decode(r.value.as_deref().unwrap()).unwrap())
        .collect();
    assert_eq!(cases.len(), 1, "{cases:?}");
    let case = &cases[0];
    assert_eq!(
        (case.rule.as_str(), case.vin.as_str()),
        ("blacklisted_entry", TRUCK)
    );
    let cited = &case.evidence[1];
    assert_eq!(cited.source, proto::EvidenceSource::NeighbourListing as i32);
    assert_eq!(cited.region_code, "120000");
    let reference = cited.record.as_ref().unwrap();
    assert_eq!(reference.topic, *mirrored_topic);
    assert_eq!(
        (reference.partition, reference.offset),
        (mirrored[0].partition, mirrored[0].offset)
    );
    assert_eq!(
        cited.from.as_ref().map(|t| t.seconds),
        Some(listed_at / 1000)
    );
    assert!(
        read(&beijing, &beijing.topics.name(TopicKind::SharedOverlimit)).is_empty(),
        "Beijing listed nobody, so it shares nothing"
    );

    // The offline replay of what Beijing read gives the same case.
    let processor =
        Processor::new(config::default_rules(), beijing.topics.clone()).with_partitions(PARTITIONS);
    let names = [TopicKind::Registry, TopicKind::Inspections].map(|k| beijing.topics.name(k));
    let consumed = capture::capture(&beijing, &names, Duration::from_secs(2)).unwrap();
    let mut recording: Vec<Record> = mirrored.into_iter().chain(consumed).collect();
    replay::order(&mut recording, &beijing.topics);
    let offline = replay::run(&processor, &beijing.topics, &recording);
    let online: Vec<String> = cases
        .iter()
        .map(|c| serde_json::to_string(c).unwrap())
        .collect();
    assert_eq!(offline.cases, online);
}
