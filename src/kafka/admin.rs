//! `tailwatch topics create`: every topic of the architecture and the neighbours' mirrored
//! shared topics, with the same partition count for all keyed topics (co-partitioning),
//! compaction where the topic is a changelog or a table, small eagerly cleaned segments for
//! `tw.changelog`, and `min.insync.replicas = 2` when replicated three times or more.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaConfig;

/// 128 MiB changelog segments (Kafka's default is 1 GiB).
const CHANGELOG_SEGMENT_BYTES: &str = "134217728";
use crate::topics::TopicKind;

/// Creates missing topics; existing ones are left alone. Returns (created, existing) names.
pub async fn create_topics(
    cfg: &KafkaConfig,
    partitions: i32,
    replication: i32,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let admin: AdminClient<DefaultClientContext> = cfg.producer().create()?;
    let mut names: Vec<(TopicKind, String)> = TopicKind::ALL
        .into_iter()
        .map(|k| (k, cfg.topics.name(k)))
        .collect();
    // The neighbours' shared topics, which MirrorMaker 2 fills (and would create on its
    // first record): made here so that the readers of a new deployment find them.
    for (_, name) in cfg.topics.neighbours() {
        names.push((TopicKind::SharedOverlimit, name.to_string()));
    }
    let new: Vec<NewTopic> = names
        .iter()
        .map(|(kind, name)| {
            let mut topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replication));
            if kind.compacted() {
                topic = topic.set("cleanup.policy", "compact");
            }
            if *kind == TopicKind::Changelog {
                // Restore reads the whole partition and Kafka never compacts the active
                // segment: small segments and eager cleaning keep restores near one record per
                // vehicle instead of one per input record.
                topic = topic
                    .set("segment.bytes", CHANGELOG_SEGMENT_BYTES)
                    .set("min.cleanable.dirty.ratio", "0.1");
            }
            if replication >= 3 {
                // A committed transaction survives the loss of one broker.
                topic = topic.set("min.insync.replicas", "2");
            }
            topic
        })
        .collect();
    let results = admin.create_topics(&new, &AdminOptions::new()).await?;
    let (mut created, mut existing) = (Vec::new(), Vec::new());
    for result in results {
        match result {
            Ok(name) => created.push(name),
            Err((name, RDKafkaErrorCode::TopicAlreadyExists)) => existing.push(name),
            Err((name, code)) => anyhow::bail!("creating {name}: {code}"),
        }
    }
    Ok((created, existing))
}
