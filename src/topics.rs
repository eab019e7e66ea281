//! Topic names and what each carries. Names are configuration (a prefix, `tw.` by default);
//! the kinds are fixed by the architecture.

use std::sync::Arc;

use crate::model::Region;

/// What a topic's record values are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TopicKind {
    /// Raw GB 17691 / HJ 1239 frame bytes.
    TelemetryRaw,
    /// protobuf `TerminalReport`.
    Telemetry,
    /// protobuf `Inspection`.
    Inspections,
    /// protobuf `Reinspection`.
    Reinspections,
    /// protobuf `VehicleRegistration`.
    Registry,
    /// protobuf `EntryPermit`.
    Permits,
    /// protobuf `BlacklistEvent`.
    Blacklist,
    /// protobuf `EnforcementCase`.
    Cases,
    /// Rejected input: original bytes plus reason headers.
    Dlq,
    /// Encoded per-vehicle state and held plate-only evidence.
    Changelog,
    /// Internal repartition topic: plate-only evidence resolved to a VIN (protobuf
    /// `ResolvedEvidence`), keyed by VIN, co-partitioned with the inputs.
    EvidenceByVin,
    /// protobuf `HeavyPollutionAlert`, keyed by alert id, compacted: held whole by every
    /// instance (a global table), and consumed by the group too, which dead-letters bad ones.
    Alerts,
    /// protobuf `SharedOverlimit`: what a neighbouring province may know of our listings,
    /// keyed by VIN, compacted; MirrorMaker 2 mirrors it to the neighbours.
    SharedOverlimit,
}

impl TopicKind {
    pub const ALL: [TopicKind; 13] = [
        TopicKind::TelemetryRaw,
        TopicKind::Telemetry,
        TopicKind::Inspections,
        TopicKind::Reinspections,
        TopicKind::Registry,
        TopicKind::Permits,
        TopicKind::Blacklist,
        TopicKind::Cases,
        TopicKind::Dlq,
        TopicKind::Changelog,
        TopicKind::EvidenceByVin,
        TopicKind::Alerts,
        TopicKind::SharedOverlimit,
    ];

    /// Topics the processor consumes (besides the neighbours' shared topics, `Topics::neighbour`).
    pub const INPUTS: [TopicKind; 8] = [
        TopicKind::TelemetryRaw,
        TopicKind::Telemetry,
        TopicKind::Inspections,
        TopicKind::Reinspections,
        TopicKind::Registry,
        TopicKind::Permits,
        TopicKind::EvidenceByVin,
        TopicKind::Alerts,
    ];

    /// The name without prefix.
    pub fn suffix(self) -> &'static str {
        match self {
            TopicKind::TelemetryRaw => "telemetry.raw",
            TopicKind::Telemetry => "telemetry",
            TopicKind::Inspections => "inspections",
            TopicKind::Reinspections => "reinspections",
            TopicKind::Registry => "registry",
            TopicKind::Permits => "permits",
            TopicKind::Blacklist => "blacklist",
            TopicKind::Cases => "cases",
            TopicKind::Dlq => "dlq",
            TopicKind::Changelog => "changelog",
            TopicKind::EvidenceByVin => "evidence.by-vin",
            TopicKind::Alerts => "alerts",
            TopicKind::SharedOverlimit => "shared.overlimit",
        }
    }

    /// Tie-break between records with the same timestamp, lowest first: reference data
    /// (registrations, permits, alerts), then re-inspections and roadside evidence, then telemetry.
    /// Offline replay and the live merge order records the same way.
    pub fn rank(self) -> usize {
        match self {
            TopicKind::Registry => 0,
            TopicKind::Permits => 1,
            TopicKind::Alerts => 2,
            TopicKind::Reinspections => 3,
            TopicKind::Inspections => 4,
            TopicKind::EvidenceByVin => 5,
            TopicKind::TelemetryRaw => 6,
            TopicKind::Telemetry => 7,
            TopicKind::Blacklist
            | TopicKind::Cases
            | TopicKind::Dlq
            | TopicKind::Changelog
            | TopicKind::SharedOverlimit => TopicKind::UNRANKED,
        }
    }

    /// The rank of records of no input topic: after all others.
    pub const UNRANKED: usize = 8;

    /// Compacted topics keep the latest record per key.
    pub fn compacted(self) -> bool {
        matches!(
            self,
            TopicKind::Registry
                | TopicKind::Permits
                | TopicKind::Blacklist
                | TopicKind::Changelog
                | TopicKind::Alerts
                | TopicKind::SharedOverlimit
        )
    }
}

/// Topic names of one deployment, built once: they are looked up for every record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    /// Indexed like `TopicKind::ALL`.
    names: Vec<Arc<str>>,
    /// Neighbouring provinces' shared topics as mirrored in: `<alias>.<our shared topic>`.
    neighbours: Vec<(Region, Arc<str>)>,
}

impl Default for Topics {
    fn default() -> Self {
        Topics::with_prefix("tw.")
    }
}

impl Topics {
    pub fn with_prefix(prefix: &str) -> Topics {
        let names = TopicKind::ALL
            .iter()
            .map(|k| Arc::from(format!("{prefix}{}", k.suffix())))
            .collect();
        Topics {
            names,
            neighbours: Vec::new(),
        }
    }

    /// Also reads the shared over-limit topics of these neighbours, as MirrorMaker 2's default
    /// replication policy names them in our cluster (`tianjin.tw.shared.overlimit`).
    pub fn with_neighbours(mut self, regions: &[Region]) -> Topics {
        let shared = self.name(TopicKind::SharedOverlimit);
        self.neighbours = regions
            .iter()
            .map(|r| (*r, Arc::from(format!("{}.{shared}", r.alias()))))
            .collect();
        self
    }

    /// What `topic`'s record values are: its kind, or for any province's shared topic as
    /// mirrored in (`<alias>.<our shared topic>`, configured as a neighbour or not),
    /// `SharedOverlimit`.
    pub fn value_kind(&self, topic: &str) -> Option<TopicKind> {
        let shared = TopicKind::SharedOverlimit;
        let mirrored = mirrored(topic).is_some_and(|(_, rest)| *rest == *self.shared_name(shared));
        self.kind(topic).or(mirrored.then_some(shared))
    }

    /// The neighbours' shared topics, as mirrored in.
    pub fn neighbours(&self) -> &[(Region, Arc<str>)] {
        &self.neighbours
    }

    /// The neighbour whose shared topic `topic` is, and the topic's name.
    pub fn neighbour(&self, topic: &str) -> Option<(Region, Arc<str>)> {
        self.neighbours
            .iter()
            .find(|(_, name)| &**name == topic)
            .cloned()
    }

    /// The prefix every name starts with.
    pub fn prefix(&self) -> &str {
        let first = &self.names[0];
        &first[..first.len() - TopicKind::ALL[0].suffix().len()]
    }

    pub fn name(&self, kind: TopicKind) -> String {
        self.shared_name(kind).to_string()
    }

    /// The name without allocating, for references carried by every event.
    pub fn shared_name(&self, kind: TopicKind) -> Arc<str> {
        // `ALL` lists the kinds in declaration order (see the test below).
        self.names[kind as usize].clone()
    }

    pub fn kind(&self, topic: &str) -> Option<TopicKind> {
        let i = self.names.iter().position(|n| &**n == topic)?;
        Some(TopicKind::ALL[i])
    }
}

/// A topic as MirrorMaker 2's default replication policy names a province's topic in another
/// cluster, `<alias>.<topic>`: the province and the topic's own name.
pub fn mirrored(topic: &str) -> Option<(Region, &str)> {
    let (alias, rest) = topic.split_once('.')?;
    Some((Region::from_alias(alias)?, rest))
}

/// The partition Kafka's default partitioner picks for a keyed record: murmur2 of the key bytes,
/// sign bit cleared (`Utils.toPositive`), modulo the partition count, exactly as the Java client
/// does. librdkafka's `murmur2_random` and kafka-python agree, so a simulated record lands where a
/// real producer would put it and per-vehicle ordering holds within one partition.
pub fn partition_for(key: &[u8], partitions: i32) -> i32 {
    assert!(
        partitions > 0,
        "a topic has at least one partition, got {partitions}"
    );
    (murmur2(key) & 0x7fff_ffff) as i32 % partitions
}

/// Kafka's `Utils.murmur2`: MurmurHash2 with seed 0x9747b28c, little-endian 4-byte blocks.
/// Java `int` arithmetic wraps, hence the wrapping operations on `u32`.
fn murmur2(data: &[u8]) -> u32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h = 0x9747_b28c_u32 ^ data.len() as u32;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= u32::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_lists_kinds_in_declaration_order() {
        for (i, kind) in TopicKind::ALL.into_iter().enumerate() {
            assert_eq!(kind as usize, i);
        }
    }

    #[test]
    fn names_round_trip_with_any_prefix() {
        for prefix in ["tw.", "test-42.tw."] {
            let topics = Topics::with_prefix(prefix);
            assert_eq!(topics.prefix(), prefix);
            for kind in TopicKind::ALL {
                assert_eq!(topics.kind(&topics.name(kind)), Some(kind));
            }
        }
        assert_eq!(Topics::default().kind("other.telemetry"), None);
    }

    /// Values from Kafka's own `UtilsTest.testMurmur2` (Java `int`, so signed).
    #[test]
    fn murmur2_matches_the_java_client() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, expected) in cases {
            assert_eq!(
                murmur2(key) as i32,
                expected,
                "{}",
                String::from_utf8_lossy(key)
            );
        }
    }

    /// Partitions over 1000 partitions, as kafka-python checks its partitioner against the Java
    /// producer (covers the empty key and every tail length).
    #[test]
    fn partitions_match_the_java_producer() {
        let cases: [(&[u8], i32); 6] = [
            (b"", 681),
            (b"a", 524),
            (b"ab", 434),
            (b"abc", 107),
            (b"123456789", 566),
            (b"\x00 ", 742),
        ];
        for (key, expected) in cases {
            assert_eq!(partition_for(key, 1000), expected, "{key:?}");
        }
        assert!((0..4).contains(&partition_for(b"LGDCHA1G8MA127733", 4)));
    }
}
