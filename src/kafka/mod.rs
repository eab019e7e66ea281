//! The Kafka edges: client settings (every librdkafka setting is made here), topic creation,
//! producing a recording into Kafka and recording topics out of it, and the exactly-once
//! service (`service`). Kafka types stay in this module; the engine never sees them.
//!
//! An edge: wall-clock timers (commit interval, merge wait, pacing) are allowed here.

#![allow(clippy::disallowed_methods)]

pub mod admin;
pub mod capture;
mod merge;
pub mod plate_table;
pub mod produce;
pub mod restore;
pub mod service;
mod stall;
mod status;

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::Context as _;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{BorrowedMessage, Header, Headers, Message, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord};
use rdkafka::ClientConfig;

use crate::recording::Record;
use crate::settings::{Secret, Settings};
use crate::topics::Topics;

fn millis(d: Duration) -> String {
    d.as_millis().to_string()
}

/// Connection and processing settings shared by every command that talks to Kafka.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    pub brokers: String,
    pub topics: Topics,
    pub group_id: String,
    /// Stable per instance (pod name); the transactional id is derived from it.
    pub instance_id: String,
    /// How often the service commits its transaction (outputs + changelog + offsets).
    pub commit_interval: Duration,
    /// How long an empty input partition may hold back the others of its partition number
    /// before a fetch has said whether the broker has unread records for it (one known to have
    /// them holds the others back until they are read, at most 30 s), so records are merged
    /// across topics in timestamp order.
    pub merge_wait: Duration,
    /// What the merge may hold before fetching pauses (`Settings::merge_max_*`).
    pub merge_max_records: usize,
    pub merge_max_bytes: usize,
    /// Transactions (exactly-once). Off: at-least-once, for brokers without transactions.
    pub exactly_once: bool,
    pub transaction_timeout: Duration,
    pub session_timeout: Duration,
    /// How long an input partition with unread records may stay still after a consumer error
    /// before readiness reports it stalled.
    pub stall_timeout: Duration,
    /// Longest a stop may take (see `Settings::shutdown_timeout`).
    pub shutdown_timeout: Duration,
    pub unreadable_state: crate::settings::UnreadableState,
    /// librdkafka security properties (protocol, CA, SASL mechanism and user); no secrets.
    pub security: BTreeMap<&'static str, String>,
    pub sasl_password: Option<Secret>,
    /// Extra librdkafka properties, applied last.
    pub overrides: BTreeMap<String, String>,
    /// How the service reads raw terminal frames.
    pub decode: crate::decode::Options,
    /// The province this deployment is.
    pub region: crate::model::Region,
}

impl KafkaConfig {
    /// The settings' defaults for these brokers and topics.
    pub fn new(brokers: &str, topics: Topics) -> KafkaConfig {
        let settings = Settings {
            brokers: brokers.to_owned(),
            instance_id: "tailwatch-0".to_owned(),
            ..Settings::default()
        };
        KafkaConfig {
            topics,
            ..KafkaConfig::from_settings(&settings)
        }
    }

    /// The Kafka side of the service's settings.
    pub fn from_settings(s: &Settings) -> KafkaConfig {
        let mut security =
            BTreeMap::from([("security.protocol", s.security_protocol.as_str().to_owned())]);
        if let Some(ca) = &s.ssl_ca_location {
            security.insert("ssl.ca.location", ca.display().to_string());
        }
        if let Some(m) = &s.sasl_mechanism {
            security.insert("sasl.mechanisms", m.clone());
        }
        if let Some(u) = &s.sasl_username {
            security.insert("sasl.username", u.clone());
        }
        KafkaConfig {
            brokers: s.brokers.clone(),
            topics: Topics::with_prefix(&s.topic_prefix).with_neighbours(&s.neighbours.0),
            region: s.region,
            group_id: s.group_id.clone(),
            instance_id: s.instance_id.clone(),
            commit_interval: s.commit_interval,
            merge_wait: s.merge_wait,
            merge_max_records: s.merge_max_records,
            merge_max_bytes: s.merge_max_bytes,
            exactly_once: s.exactly_once,
            transaction_timeout: s.transaction_timeout,
            session_timeout: s.session_timeout,
            stall_timeout: s.stall_timeout,
            shutdown_timeout: s.shutdown_timeout,
            unreadable_state: s.unreadable_state,
            security,
            sasl_password: s.sasl_password.clone(),
            overrides: s.librdkafka.clone(),
            decode: crate::decode::Options {
                raw_dialect: s.raw_dialect,
                sample_interval: s.sample_interval,
            },
        }
    }

    fn base(&self) -> ClientConfig {
        let mut c = ClientConfig::new();
        c.set("bootstrap.servers", &self.brokers)
            .set("client.id", format!("tailwatch-{}", self.instance_id))
            .set("log_level", "4");
        for (k, v) in &self.security {
            c.set(*k, v);
        }
        if let Some(password) = &self.sasl_password {
            c.set("sasl.password", password.expose());
        }
        c
    }

    fn finish(&self, mut c: ClientConfig) -> ClientConfig {
        for (k, v) in &self.overrides {
            c.set(k, v);
        }
        c
    }

    /// The service's group consumer: manual commits through the transaction, committed
    /// reads only, partitions of all input topics assigned together (see `service`).
    pub fn group_consumer(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", &self.group_id)
            .set("group.instance.id", &self.instance_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .set("isolation.level", "read_committed")
            .set("partition.assignment.strategy", "cooperative-sticky")
            // Consumer lag per partition for the metrics, and the positions the stall watch
            // follows (service's `ClientContext::stats`).
            .set("statistics.interval.ms", "5000")
            .set("session.timeout.ms", millis(self.session_timeout))
            .set(
                "max.poll.interval.ms",
                millis(self.session_timeout.max(Duration::from_secs(60))),
            )
            .set("fetch.wait.max.ms", "20")
            // librdkafka postpones a partition's next fetch by this long once its local queue
            // is full (default 1 s): far longer than it takes us to drain the queue.
            .set("fetch.queue.backoff.ms", "10");
        self.finish(c)
    }

    /// A consumer outside any group, for restoring the changelog and recording topics.
    pub fn plain_consumer(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("group.id", format!("{}-reader", self.group_id))
            .set("enable.auto.commit", "false")
            .set("isolation.level", "read_committed")
            .set("auto.offset.reset", "earliest")
            .set("fetch.wait.max.ms", "20")
            .set("fetch.queue.backoff.ms", "10");
        self.finish(c)
    }

    /// The service's producer: transactional (or idempotent in at-least-once mode), Kafka's
    /// Java partitioner so keyed outputs land where Java clients would put them.
    pub fn service_producer(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("enable.idempotence", "true")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "5")
            .set("transaction.timeout.ms", millis(self.transaction_timeout))
            // A transaction's first write after a commit is answered CONCURRENT_TRANSACTIONS
            // until the markers are written; the default 100 ms backoff would cap commits.
            .set("retry.backoff.ms", "5")
            .set("retry.backoff.max.ms", "100")
            // Bounded: while the broker does not take outputs (down, a quota), at most this
            // much waits here and the loop stops taking input (librdkafka's default is 1 GiB).
            .set("queue.buffering.max.kbytes", "65536");
        if self.exactly_once {
            c.set(
                "transactional.id",
                format!("{}-{}", self.group_id, self.instance_id),
            );
        }
        self.finish(c)
    }

    /// A plain idempotent producer (replaying recordings into Kafka).
    pub fn producer(&self) -> ClientConfig {
        let mut c = self.base();
        c.set("enable.idempotence", "true")
            .set("partitioner", "murmur2_random")
            .set("linger.ms", "20");
        self.finish(c)
    }
}

/// Every compression codec a Kafka producer may use. librdkafka does not skip a batch it
/// cannot decompress: it reports a consumer error and fetches the same batch again, so one
/// missing codec stalls a partition. This build has them all (Cargo.toml: rdkafka's `libz`
/// and `zstd` features; snappy and lz4 are part of librdkafka).
pub const CODECS: [&str; 4] = ["gzip", "snappy", "lz4", "zstd"];

/// The codecs of `CODECS` that this build of librdkafka lacks (by its `builtin.features`).
pub fn missing_codecs() -> anyhow::Result<Vec<&'static str>> {
    let features = ClientConfig::new()
        .create_native_config()?
        .get("builtin.features")?;
    let built: Vec<&str> = features.split(',').map(str::trim).collect();
    Ok(CODECS
        .into_iter()
        .filter(|codec| !built.contains(codec))
        .collect())
}

/// A consumed message as a `Record`.
pub fn record_of(m: &BorrowedMessage<'_>) -> Record {
    let mut headers = BTreeMap::new();
    if let Some(h) = m.headers() {
        for header in h.iter() {
            let value = header
                .value
                .map(|v| String::from_utf8_lossy(v).into_owned())
                .unwrap_or_default();
            headers.insert(header.key.to_owned(), value);
        }
    }
    Record {
        topic: m.topic().to_owned(),
        partition: m.partition(),
        offset: m.offset(),
        timestamp: m.timestamp().to_millis().unwrap_or(0),
        key: m.key().map(<[u8]>::to_vec),
        headers,
        value: m.payload().map(<[u8]>::to_vec),
    }
}

/// A record as a message to produce: topic, key, value, headers and timestamp; the partition
/// is left to the caller.
pub fn message_of(record: &Record) -> BaseRecord<'_, [u8], [u8]> {
    let headers = record
        .headers
        .iter()
        .fold(OwnedHeaders::new(), |h, (k, v)| {
            h.insert(Header {
                key: k,
                value: Some(v.as_bytes()),
            })
        });
    let mut message = BaseRecord::to(&record.topic)
        .timestamp(record.timestamp)
        .headers(headers);
    if let Some(key) = &record.key {
        message = message.key(key.as_slice());
    }
    if let Some(value) = &record.value {
        message = message.payload(value.as_slice());
    }
    message
}

/// Sends one message, waiting while librdkafka's queue is full: back-pressure, not an error.
pub fn send<C: rdkafka::producer::ProducerContext<DeliveryOpaque = ()>>(
    producer: &BaseProducer<C>,
    mut message: BaseRecord<'_, [u8], [u8]>,
) -> anyhow::Result<()> {
    loop {
        match producer.send(message) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), m)) => {
                producer.poll(Duration::from_millis(5));
                message = m;
            }
            Err((e, m)) => return Err(e).with_context(|| format!("producing to {}", m.topic)),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn librdkafka_decompresses_every_kafka_codec() {
        assert_eq!(super::missing_codecs().unwrap(), Vec::<&str>::new());
    }
}
