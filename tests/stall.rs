//! A consumer error that repeats on a partition is never a silent stall. librdkafka's
//! in-process mock cluster refuses fetches with an error the client cannot handle itself
//! (as a broker refuses a batch, or librdkafka fails to decompress one: a consumer error on
//! every fetch, no record, the same offset fetched again after a back-off). The real service
//! counts the errors, turns unready naming the stalled input partitions and the error, and
//! is ready again once fetches succeed and the partitions move.

#![allow(clippy::disallowed_methods)]

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rdkafka::mocking::MockCluster;
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};

use tailwatch::config;
use tailwatch::decode::frame::Dialect;
use tailwatch::kafka::service::{self, NotReady, Stats};
use tailwatch::kafka::{produce, KafkaConfig};
use tailwatch::recording::Record;
use tailwatch::sim::{SimConfig, Simulation};
use tailwatch::topics::{TopicKind, Topics};

const PARTITIONS: i32 = 2;

/// Polls `check` every 50 ms until it returns `Some`, for at most `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn refused_fetches_stall_the_partitions_visibly_until_they_succeed_again() {
    let metrics = tailwatch::metrics::install();
    let mock = MockCluster::new(1).unwrap();
    let topics = Topics::with_prefix("stall.");
    for kind in TopicKind::ALL {
        mock.create_topic(&topics.name(kind), PARTITIONS, 1)
            .unwrap();
    }
    let mut cfg = KafkaConfig::new(&mock.bootstrap_servers(), topics.clone());
    cfg.group_id = "stall".into();
    cfg.instance_id = "stall-0".into();
    cfg.stall_timeout = Duration::from_secs(2);
    // Positions every 250 ms instead of 5 s, so the test sees the stall soon.
    cfg.overrides
        .insert("statistics.interval.ms".into(), "250".into());

    let records: Vec<Record> = Simulation::new(SimConfig {
        raw: Some(Dialect::Gb17691),
        vehicles: 6,
        // Long enough for every vehicle to drive (a shorter run is parked trucks only).
        duration_secs: 1800,
        seed: 5,
        partitions: PARTITIONS,
        topics: topics.clone(),
        ..SimConfig::default()
    })
    .collect();
    let stats = Arc::new(Stats::default());
    let (stop, shutdown) = tailwatch::shutdown::channel();
    let service = {
        let (cfg, stats, shutdown) = (cfg.clone(), stats.clone(), shutdown.clone());
        std::thread::spawn(move || service::run(cfg, config::default_rules(), shutdown, stats))
    };
    // Ready first (plate table read, partitions assigned and restored), so the refusals meet
    // the input partitions.
    wait_for("ready", Duration::from_secs(30), || {
        assert!(!service.is_finished(), "service stopped");
        stats.readiness().is_ok().then_some(())
    });
    // The next 60 fetch requests fail with a partition-level error librdkafka hands to the
    // application; with its 500 ms fetch back-off per client (the group consumer and the
    // plate table's reader share them) that is about 15 s of refusals.
    mock.request_errors(
        RDKafkaApiKey::Fetch,
        &[RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_MSG; 60],
    );
    let sent = produce::produce_records(&cfg, &records, None).unwrap();

    let stalled = wait_for("a stall on /readyz", Duration::from_secs(30), || {
        assert!(!service.is_finished(), "service stopped");
        match stats.readiness() {
            Err(NotReady::Stalled(stalled)) => Some(stalled),
            _ => None,
        }
    });
    assert_eq!(
        stats.records.load(Ordering::Relaxed),
        0,
        "nothing got through"
    );
    assert!(stats.consumer_errors.load(Ordering::Relaxed) >= 2);
    let raw = topics.name(TopicKind::TelemetryRaw);
    let stall = stalled
        .iter()
        .find(|s| s.topic == raw)
        .unwrap_or_else(|| panic!("raw telemetry stalled: {stalled:?}"));
    let waiting = records
        .iter()
        .filter(|r| r.topic == raw && r.partition == stall.partition)
        .count();
    assert_eq!(stall.unread, waiting as i64, "{stall}");
    assert_eq!(stall.reason, "invalid_message");
    assert!(stall.error.contains("Invalid message"), "{stall}");
    assert!(stall.seconds >= 2 && stall.errors >= 1, "{stall}");
    let reason = NotReady::Stalled(stalled.clone()).to_string();
    assert!(
        reason.contains(&format!("{raw} partition {}", stall.partition)),
        "{reason}"
    );

    let sample = |prefix: &str| -> f64 {
        metrics
            .render()
            .lines()
            .filter(|l| l.starts_with(prefix))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    };
    assert!(sample("tailwatch_consumer_errors_total{reason=\"invalid_message\"}") >= 2.0);
    // The gauges follow at the next statistics report.
    let stalled_gauge = format!("tailwatch_stalled_partitions{{topic=\"{raw}\"}}");
    wait_for("the stall gauges", Duration::from_secs(5), || {
        (sample(&stalled_gauge) >= 1.0 && sample("tailwatch_ready ") == 0.0).then_some(())
    });

    // The refusals run out: every record is consumed and the instance is ready again.
    wait_for("every record consumed", Duration::from_secs(60), || {
        assert!(!service.is_finished(), "service stopped");
        (stats.records.load(Ordering::Relaxed) >= sent).then_some(())
    });
    wait_for("ready again", Duration::from_secs(10), || {
        stats.readiness().is_ok().then_some(())
    });
    assert!(stats.stalled().is_empty());
    wait_for("the gauges back", Duration::from_secs(5), || {
        (sample(&stalled_gauge) == 0.0 && sample("tailwatch_ready ") == 1.0).then_some(())
    });
    stop.stop();
    service.join().unwrap().unwrap();
}
