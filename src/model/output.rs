//! The engine's output: blacklist changelog events and enforcement cases, plus notices the
//! pipeline counts or routes (late and duplicate input).

use super::{EventTime, Plate, Position, RecordRef, Region, Vin};

/// The rule catalogue of domain.md §4. `as_str` is the one spelling used in every output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RuleId {
    NoxOverLimit,
    ScrIneffective,
    ReagentEmpty,
    MilEmissionFault,
    TerminalTamper,
    DataGap,
    RoadsideFail,
    RemoteSensingRepeat,
    BlacklistedEntry,
    RepeatOffender,
    AlertRestriction,
}

impl RuleId {
    pub const ALL: [RuleId; 11] = [
        RuleId::NoxOverLimit,
        RuleId::ScrIneffective,
        RuleId::ReagentEmpty,
        RuleId::MilEmissionFault,
        RuleId::TerminalTamper,
        RuleId::DataGap,
        RuleId::RoadsideFail,
        RuleId::RemoteSensingRepeat,
        RuleId::BlacklistedEntry,
        RuleId::RepeatOffender,
        RuleId::AlertRestriction,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RuleId::NoxOverLimit => "nox_over_limit",
            RuleId::ScrIneffective => "scr_ineffective",
            RuleId::ReagentEmpty => "reagent_empty",
            RuleId::MilEmissionFault => "mil_emission_fault",
            RuleId::TerminalTamper => "terminal_tamper",
            RuleId::DataGap => "data_gap",
            RuleId::RoadsideFail => "roadside_fail",
            RuleId::RemoteSensingRepeat => "remote_sensing_repeat",
            RuleId::BlacklistedEntry => "blacklisted_entry",
            RuleId::RepeatOffender => "repeat_offender",
            RuleId::AlertRestriction => "alert_restriction",
        }
    }

    pub fn parse(text: &str) -> Option<RuleId> {
        RuleId::ALL.into_iter().find(|r| r.as_str() == text)
    }

    /// Bit in a reason set.
    pub fn bit(self) -> u16 {
        1 << (self as u16)
    }

    /// The article of the Beijing regulation a case under this rule rests on.
    pub fn legal_basis(self) -> &'static str {
        match self {
            RuleId::BlacklistedEntry => "Beijing Motor Vehicle and Non-road Mobile Machinery Emission Pollution Prevention Regulation, Art. 16",
            RuleId::AlertRestriction => "Beijing Heavy Pollution Weather Emergency Plan: traffic restrictions of the alert in force",
            _ => "Beijing Motor Vehicle and Non-road Mobile Machinery Emission Pollution Prevention Regulation, Art. 15",
        }
    }

    /// Rules whose evidence points at tampering rather than a worn part.
    pub fn tampering_suspected(self) -> bool {
        matches!(
            self,
            RuleId::ScrIneffective | RuleId::TerminalTamper | RuleId::DataGap
        )
    }

    /// Rule ids in a reason bit set, in catalogue order.
    pub fn from_bits(bits: u16) -> Vec<RuleId> {
        RuleId::ALL
            .into_iter()
            .filter(|r| bits & r.bit() != 0)
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvidenceSource {
    RemoteTerminal,
    ManualCheck,
    RemoteSensing,
    Reinspection,
    /// A neighbouring province's listing.
    NeighbourListing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Priority {
    Normal,
    High,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlacklistStatus {
    Listed,
    Delisted,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Measurement {
    pub name: &'static str,
    pub value: f64,
    pub limit: Option<f64>,
    pub unit: &'static str,
    /// The standard and limit column a limit comes from; empty for rule parameters.
    pub standard: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub source: EvidenceSource,
    pub device_id: String,
    pub site_id: String,
    pub from: EventTime,
    pub to: EventTime,
    pub position: Option<Position>,
    pub near_boundary: bool,
    pub measurements: Vec<Measurement>,
    pub record: RecordRef,
    /// A neighbour's listing: the listing province and its case ids.
    pub region: Option<Region>,
    pub case_refs: Vec<String>,
}

/// A non-site enforcement case: a self-contained evidence bundle.
#[derive(Debug, Clone, PartialEq)]
pub struct Case {
    /// `rule:vin:window-or-day`: one violation, one case.
    pub id: String,
    pub vin: Vin,
    pub plate: Option<Plate>,
    pub rule: RuleId,
    pub priority: Priority,
    pub fine_yuan: u32,
    pub first_evidence: EventTime,
    pub last_evidence: EventTime,
    pub evidence: Vec<Evidence>,
    /// Rule parameters in force, sorted by key.
    pub parameters: Vec<(String, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReinspectionRef {
    pub station_id: String,
    pub report_id: String,
    pub tested_at: EventTime,
    pub record: RecordRef,
}

#[derive(Debug, Clone, PartialEq)]
pub struct BlacklistEvent {
    pub id: String,
    pub vin: Vin,
    pub plate: Option<Plate>,
    pub status: BlacklistStatus,
    pub reasons: Vec<RuleId>,
    pub source: EvidenceSource,
    pub listed_at: EventTime,
    pub repeat_count: u32,
    pub priority: Priority,
    pub event_time: EventTime,
    pub reinspection: Option<ReinspectionRef>,
    /// The input record whose evidence produced this event.
    pub record: RecordRef,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    Blacklist(BlacklistEvent),
    Case(Case),
    /// The event is older than the grace period behind this vehicle's latest evidence; the
    /// pipeline routes it to the DLQ as `late`. State is unchanged.
    Late,
    /// This many samples (or whole evidence records) were already seen and were ignored.
    Duplicates(u32),
}
