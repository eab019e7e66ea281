//! `tailwatch topics create`: every topic of the architecture, with the same partition count
//! for all keyed topics (co-partitioning) and compaction where the topic is a changelog.

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::types::RDKafkaErrorCode;

use super::KafkaConfig;
use crate::topics::TopicKind;

/// Creates missing topics; existing ones are left alone. Returns (created, existing) names.
pub async fn create_topics(
    cfg: &KafkaConfig,
    partitions: i32,
    replication: i32,
) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let admin: AdminClient<DefaultClientContext> = cfg.producer().create()?;
    let names: Vec<(TopicKind, String)> = TopicKind::ALL
        .into_iter()
        .map(|k| (k, cfg.topics.name(k)))
        .collect();
    let new: Vec<NewTopic> = names
        .iter()
        .map(|(kind, name)| {
            let topic = NewTopic::new(name, partitions, TopicReplication::Fixed(replication));
            if kind.compacted() {
                topic.set("cleanup.policy", "compact")
            } else {
                topic
            }
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
