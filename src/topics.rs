//! Topic names and what each carries. Names are configuration (a prefix, `tw.` by default);
//! the kinds are fixed by the architecture.

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
    /// Encoded per-vehicle state.
    Changelog,
}

impl TopicKind {
    pub const ALL: [TopicKind; 10] = [
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
    ];

    /// Topics the processor consumes.
    pub const INPUTS: [TopicKind; 6] = [
        TopicKind::TelemetryRaw,
        TopicKind::Telemetry,
        TopicKind::Inspections,
        TopicKind::Reinspections,
        TopicKind::Registry,
        TopicKind::Permits,
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
        }
    }

    /// Compacted topics keep the latest record per key.
    pub fn compacted(self) -> bool {
        matches!(
            self,
            TopicKind::Registry | TopicKind::Permits | TopicKind::Blacklist | TopicKind::Changelog
        )
    }
}

/// Topic names of one deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topics {
    prefix: String,
}

impl Default for Topics {
    fn default() -> Self {
        Topics::with_prefix("tw.")
    }
}

impl Topics {
    pub fn with_prefix(prefix: &str) -> Topics {
        Topics { prefix: prefix.to_owned() }
    }

    pub fn name(&self, kind: TopicKind) -> String {
        format!("{}{}", self.prefix, kind.suffix())
    }

    pub fn kind(&self, topic: &str) -> Option<TopicKind> {
        let suffix = topic.strip_prefix(&self.prefix)?;
        TopicKind::ALL.into_iter().find(|k| k.suffix() == suffix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_with_any_prefix() {
        for prefix in ["tw.", "test-42.tw."] {
            let topics = Topics::with_prefix(prefix);
            for kind in TopicKind::ALL {
                assert_eq!(topics.kind(&topics.name(kind)), Some(kind));
            }
        }
        assert_eq!(Topics::default().kind("other.telemetry"), None);
    }
}
