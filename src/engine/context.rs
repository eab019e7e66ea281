//! What a rule needs while it runs: the parameters, the event, and somewhere to put outputs.
//! Builds cases with the fields every case shares (plate, priority, legal basis, parameters).

use crate::model::{
    Case, Event, EventKind, Evidence, EvidenceSource, Measurement, NeighbourListing, Output,
    Position, Priority, RuleId, Secs,
};

use super::{Facts, Rules, VehicleState};

pub(crate) struct Context<'a> {
    pub rules: &'a Rules,
    pub event: &'a Event,
    /// What global tables say of the vehicle.
    pub facts: Facts<'a>,
    pub now: Secs,
    /// The vehicle's newest event time, this event included: fill periods run on it.
    pub watermark: Secs,
    outputs: Vec<Output>,
}

impl<'a> Context<'a> {
    pub fn new(
        rules: &'a Rules,
        event: &'a Event,
        facts: Facts<'a>,
        now: Secs,
        watermark: Secs,
    ) -> Context<'a> {
        Context {
            rules,
            event,
            facts,
            now,
            watermark,
            outputs: Vec::new(),
        }
    }

    pub fn push(&mut self, output: Output) {
        self.outputs.push(output);
    }

    pub fn into_outputs(self) -> Vec<Output> {
        self.outputs
    }

    /// Evidence from the current event.
    pub fn evidence(
        &self,
        from: Secs,
        to: Secs,
        position: Option<Position>,
        measurements: Vec<Measurement>,
    ) -> Evidence {
        let (device_id, site_id) = match &self.event.kind {
            EventKind::ManualCheck(c) => (c.device_id.as_str(), c.site_id.as_str()),
            EventKind::RemoteSensing(r) => (r.device_id.as_str(), r.site_id.as_str()),
            _ => ("", ""),
        };
        let near_boundary = position.is_some_and(|p| {
            self.rules.boundary.distance_km(p.lon, p.lat)
                < self.rules.blacklisted_entry.near_boundary_km
        });
        Evidence {
            source: self.source(),
            device_id: device_id.to_owned(),
            site_id: site_id.to_owned(),
            from: from.time(),
            to: to.time(),
            position,
            near_boundary,
            measurements,
            record: self.event.source.clone(),
            region: None,
            case_refs: Vec::new(),
        }
    }

    pub fn source(&self) -> EvidenceSource {
        match &self.event.kind {
            EventKind::ManualCheck(_) => EvidenceSource::ManualCheck,
            EventKind::RemoteSensing(_) => EvidenceSource::RemoteSensing,
            EventKind::Reinspection(_) => EvidenceSource::Reinspection,
            _ => EvidenceSource::RemoteTerminal,
        }
    }

    /// Raises a case. `key` makes the id: the evidence window's start or the Beijing day, so
    /// replays and duplicate evidence produce the same id.
    pub fn case(
        &mut self,
        state: &VehicleState,
        rule: RuleId,
        key: &str,
        fine_yuan: u32,
        evidence: Evidence,
    ) {
        let priority = if !state.listing().listed_at.is_never() && state.listing().high_priority {
            Priority::High
        } else {
            Priority::Normal
        };
        let (first, last) = (evidence.from, evidence.to);
        self.outputs.push(Output::Case(Case {
            id: format!("{}:{}:{}", rule.as_str(), self.event.vin, key),
            vin: self.event.vin,
            plate: state.plate,
            rule,
            priority,
            fine_yuan,
            first_evidence: first.min(last),
            last_evidence: first.max(last),
            evidence: vec![evidence],
            parameters: self.rules.parameters(rule),
        }));
    }
}

/// Evidence citing a neighbouring province's listing.
pub(crate) fn neighbour_evidence(listing: &NeighbourListing) -> Evidence {
    Evidence {
        source: EvidenceSource::NeighbourListing,
        device_id: String::new(),
        site_id: String::new(),
        from: listing.listed_at,
        to: listing.listed_at,
        position: None,
        near_boundary: false,
        measurements: Vec::new(),
        record: listing.record.clone(),
        region: Some(listing.region),
        case_refs: listing.case_refs.clone(),
    }
}

impl Context<'_> {
    /// Makes the case just raised `HIGH` priority.
    pub fn escalate(&mut self) {
        if let Some(Output::Case(case)) = self.outputs.last_mut() {
            case.priority = Priority::High;
        }
    }

    /// Adds evidence another authority holds to the case just raised.
    pub fn cite(&mut self, evidence: Evidence) {
        if let Some(Output::Case(case)) = self.outputs.last_mut() {
            case.evidence.push(evidence);
        }
    }
}

/// A rule parameter limit, not from a standard.
pub(crate) fn measured(
    name: &'static str,
    value: f64,
    limit: Option<f64>,
    unit: &'static str,
) -> Measurement {
    Measurement {
        name,
        value,
        limit,
        unit,
        standard: String::new(),
    }
}

/// Window labels in case ids: Beijing local time of the window start.
pub(crate) fn label(t: Secs) -> String {
    t.time().beijing_label()
}

pub(crate) fn day_label(t: Secs) -> String {
    t.time().beijing_day_label()
}
