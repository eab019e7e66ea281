//! The output edge: `model` outputs → protobuf messages for `tw.blacklist`, `tw.cases` and
//! `tw.shared.overlimit`, and resolved plate-only evidence for `tw.evidence.by-vin`.
//! Every field comes from the output itself: no clock, so replays are byte-identical.

use crate::model::{
    BlacklistEvent, BlacklistStatus, Case, EventTime, Evidence, EvidenceSource, Plate, PlateColour,
    Position, Priority, RecordRef, Region, Vin,
};
use crate::proto;

pub const SCHEMA_VERSION: u32 = 1;

fn timestamp(t: EventTime) -> Option<pbjson_types::Timestamp> {
    let nanos = (t.0.rem_euclid(1000) * 1_000_000) as i32;
    Some(pbjson_types::Timestamp {
        seconds: t.unix_secs(),
        nanos,
    })
}

fn source(s: EvidenceSource) -> i32 {
    (match s {
        EvidenceSource::RemoteTerminal => proto::EvidenceSource::RemoteTerminal,
        EvidenceSource::ManualCheck => proto::EvidenceSource::ManualCheck,
        EvidenceSource::RemoteSensing => proto::EvidenceSource::RemoteSensing,
        EvidenceSource::Reinspection => proto::EvidenceSource::Reinspection,
        EvidenceSource::NeighbourListing => proto::EvidenceSource::NeighbourListing,
    }) as i32
}

fn priority(p: Priority) -> i32 {
    (match p {
        Priority::Normal => proto::Priority::Normal,
        Priority::High => proto::Priority::High,
    }) as i32
}

fn record(r: &RecordRef) -> Option<proto::RecordRef> {
    Some(proto::RecordRef {
        topic: r.topic.to_string(),
        partition: r.partition,
        offset: r.offset,
    })
}

fn position(p: Option<Position>) -> Option<proto::Position> {
    p.map(|p| proto::Position {
        valid: p.valid,
        lon: p.lon,
        lat: p.lat,
    })
}

fn evidence(e: &Evidence) -> proto::Evidence {
    proto::Evidence {
        source: source(e.source),
        device_id: e.device_id.clone(),
        site_id: e.site_id.clone(),
        from: timestamp(e.from),
        to: timestamp(e.to),
        position: position(e.position),
        near_boundary: e.near_boundary,
        measurements: e
            .measurements
            .iter()
            .map(|m| proto::Measurement {
                name: m.name.to_owned(),
                value: m.value,
                limit: m.limit,
                unit: m.unit.to_owned(),
                standard: m.standard.clone(),
            })
            .collect(),
        record: record(&e.record),
        region_code: e.region.map(|r| r.code().to_owned()).unwrap_or_default(),
        case_refs: e.case_refs.clone(),
    }
}

pub fn blacklist_event(e: &BlacklistEvent) -> proto::BlacklistEvent {
    proto::BlacklistEvent {
        schema_version: SCHEMA_VERSION,
        event_id: e.id.clone(),
        vin: e.vin.to_string(),
        plate: e.plate.map(|p| p.to_string()).unwrap_or_default(),
        status: (match e.status {
            BlacklistStatus::Listed => proto::BlacklistStatus::Listed,
            BlacklistStatus::Delisted => proto::BlacklistStatus::Delisted,
        }) as i32,
        reasons: e.reasons.iter().map(|r| r.as_str().to_owned()).collect(),
        source: source(e.source),
        listed_at: timestamp(e.listed_at),
        repeat_count: e.repeat_count,
        out_of_town: e.plate.is_some_and(|p| !p.is_beijing()),
        priority: priority(e.priority),
        event_time: timestamp(e.event_time),
        reinspection: e.reinspection.as_ref().map(|r| proto::ReinspectionRef {
            station_id: r.station_id.clone(),
            report_id: r.report_id.clone(),
            tested_at: timestamp(r.tested_at),
            record: record(&r.record),
        }),
        vin_valid: e.vin.is_valid(),
        record: record(&e.record),
    }
}

/// What a neighbouring province may know of a blacklist event (`tw.shared.overlimit`): the
/// vehicle, our region, status, rules and times, and the cases as references.
pub fn shared(
    e: &BlacklistEvent,
    region: Region,
    plate: Option<(Plate, PlateColour)>,
    case_refs: Vec<String>,
) -> proto::SharedOverlimit {
    let status = match e.status {
        BlacklistStatus::Listed => proto::BlacklistStatus::Listed,
        BlacklistStatus::Delisted => proto::BlacklistStatus::Delisted,
    };
    proto::SharedOverlimit {
        schema_version: SCHEMA_VERSION,
        vin: e.vin.to_string(),
        plate: e
            .plate
            .or(plate.map(|(p, _)| p))
            .map(|p| p.to_string())
            .unwrap_or_default(),
        // The registration's colour, when it is for the plate the event names.
        plate_colour: plate
            .filter(|(p, _)| e.plate.is_none_or(|ours| ours == *p))
            .map_or(0, |(_, c)| c as i32),
        region_code: region.code().to_owned(),
        status: status as i32,
        rules: e.reasons.iter().map(|r| r.as_str().to_owned()).collect(),
        listed_at: timestamp(e.listed_at),
        event_time: timestamp(e.event_time),
        event_id: e.id.clone(),
        case_refs,
    }
}

pub fn case(c: &Case) -> proto::EnforcementCase {
    proto::EnforcementCase {
        schema_version: SCHEMA_VERSION,
        case_id: c.id.clone(),
        vin: c.vin.to_string(),
        vin_valid: c.vin.is_valid(),
        plate: c.plate.map(|p| p.to_string()).unwrap_or_default(),
        plate_region: c.plate.map(|p| p.region().to_string()).unwrap_or_default(),
        out_of_town: c.plate.is_some_and(|p| !p.is_beijing()),
        rule: c.rule.as_str().to_owned(),
        legal_basis: c.rule.legal_basis().to_owned(),
        evidence: c.evidence.iter().map(evidence).collect(),
        priority: priority(c.priority),
        fine_yuan: c.fine_yuan,
        first_evidence_at: timestamp(c.first_evidence),
        last_evidence_at: timestamp(c.last_evidence),
        tampering_suspected: c.rule.tampering_suspected(),
        parameters: c.parameters.iter().cloned().collect(),
    }
}

/// Field numbers of `ResolvedEvidence.evidence` (registry.proto); the round-trip test below
/// holds them to the schema.
const RESOLVED_INSPECTION: u32 = 4;
const RESOLVED_PERMIT: u32 = 5;

/// A `tw.evidence.by-vin` value: the plate-only record's own bytes, unchanged (fields this
/// version does not know included), inside a `ResolvedEvidence` naming the VIN and the record
/// cases cite. `permit`: the record is an `EntryPermit`, else an `Inspection`.
pub fn resolved_evidence(vin: &Vin, cited: &RecordRef, permit: bool, original: &[u8]) -> Vec<u8> {
    use prost::Message as _;
    let head = proto::ResolvedEvidence {
        schema_version: SCHEMA_VERSION,
        vin: vin.to_string(),
        source: record(cited),
        evidence: None,
    };
    let mut bytes = head.encode_to_vec();
    let tag = if permit {
        RESOLVED_PERMIT
    } else {
        RESOLVED_INSPECTION
    };
    // A message field and a bytes field share the wire format: the original goes in as is.
    prost::encoding::bytes::encode(tag, &original.to_vec(), &mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message as _;

    #[test]
    fn resolved_evidence_carries_the_original_message_unchanged() {
        let vin = Vin::parse("LGDCHA1G8MA127733").unwrap();
        let cited = RecordRef {
            topic: "tw.inspections".into(),
            partition: 3,
            offset: 41,
        };
        let pass = proto::Inspection {
            schema_version: 1,
            kind: Some(proto::inspection::Kind::RemoteSensing(
                proto::RemoteSensing {
                    plate: "冀F8K2M1".into(),
                    plate_colour: proto::PlateColour::Yellow as i32,
                    audit_valid: true,
                    ..Default::default()
                },
            )),
            ..Default::default()
        };
        let permit = proto::EntryPermit {
            permit_number: "P-1".into(),
            plate: "冀F8K2M1".into(),
            ..Default::default()
        };
        use proto::resolved_evidence::Evidence;
        for (is_permit, bytes, expected) in [
            (
                false,
                pass.encode_to_vec(),
                Evidence::Inspection(pass.clone()),
            ),
            (
                true,
                permit.encode_to_vec(),
                Evidence::Permit(permit.clone()),
            ),
        ] {
            let value = resolved_evidence(&vin, &cited, is_permit, &bytes);
            let m = proto::ResolvedEvidence::decode(value.as_slice()).unwrap();
            assert_eq!(m.vin, "LGDCHA1G8MA127733");
            assert_eq!(m.source.unwrap().offset, 41);
            assert_eq!(m.evidence, Some(expected));
        }
    }
}
