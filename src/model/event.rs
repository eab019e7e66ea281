//! The engine's input: one decoded, validated record about one vehicle.

use std::sync::Arc;

use super::{
    Celsius, EventTime, Kilometres, Kmh, Percent, Plate, PlateColour, Ppm, Profile, Reading,
    Region, Rpm, Vin,
};

/// Where the record came from: Kafka coordinates, carried into case evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRef {
    pub topic: Arc<str>,
    pub partition: i32,
    pub offset: i64,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Position {
    /// False when the terminal resent its last valid fix.
    pub valid: bool,
    /// Signed degrees.
    pub lon: f64,
    pub lat: f64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub vin: Vin,
    /// The evidence's own time: frame collection time, test time, permit change time…
    pub time: EventTime,
    pub source: RecordRef,
    pub kind: EventKind,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EventKind {
    Login,
    Logout,
    /// Real-time (0x02) or reissued (0x03, `backfill`) data.
    Report(Report),
    RemovalAlarm {
        position: Option<Position>,
    },
    /// Time sync, activation: accepted, no rule reads them.
    Housekeeping,
    ManualCheck(ManualCheck),
    RemoteSensing(RemoteSensing),
    Reinspection(Reinspection),
    Registration(Registration),
    Permit(Permit),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Report {
    pub backfill: bool,
    pub samples: Vec<Sample>,
    pub obd: Vec<Obd>,
}

/// One 1 Hz data-stream sample: the fields rules read.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub time: EventTime,
    /// The terminal sent no time of its own for a sample that should have one (an HJ 1239
    /// body time of all zeros): `time` is the frame's. Data quality only; rules do not read it.
    pub time_from_frame: bool,
    pub speed: Reading<Kmh>,
    pub engine_rpm: Reading<Rpm>,
    pub coolant: Reading<Celsius>,
    pub scr_inlet: Reading<Celsius>,
    pub nox_upstream: Reading<Ppm>,
    pub nox_downstream: Reading<Ppm>,
    pub reagent: Reading<Percent>,
    pub position: Option<Position>,
    pub odometer: Reading<Kilometres>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Obd {
    pub time: EventTime,
    /// `None` when the terminal reports MIL as invalid.
    pub mil_on: Option<bool>,
    /// Decoded codes such as "P2047".
    pub dtcs: Vec<String>,
    /// The VIN the engine ECU reports; `None` when not readable.
    pub vin: Option<String>,
    pub calibration_id: String,
    pub cvn: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ManualCheck {
    pub plate: Option<Plate>,
    pub site_id: String,
    pub device_id: String,
    pub position: Option<Position>,
    /// Light-absorption coefficients, m⁻¹.
    pub free_acceleration_opacity: Option<f64>,
    pub lug_down_opacity: Option<f64>,
    pub lug_down_nox: Option<Ppm>,
    pub ringelmann: Option<u32>,
    pub obd_mil_on: Option<bool>,
    pub obd_communication_ok: Option<bool>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RemoteSensing {
    pub plate: Option<Plate>,
    pub site_id: String,
    pub device_id: String,
    pub position: Option<Position>,
    pub opacity_pct: Option<f64>,
    pub no: Option<Ppm>,
    pub ringelmann: Option<u32>,
    /// Diesel or not stated: only then do the diesel limits apply.
    pub diesel: bool,
    pub audit_valid: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Reinspection {
    pub station_id: String,
    pub report_id: String,
    pub passed: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    pub plate: Plate,
    /// `None`: the registry did not say, so the plate table cannot key it.
    pub colour: Option<PlateColour>,
    /// Since when the vehicle carries the plate; `None`: since ever.
    pub from: Option<EventTime>,
    /// Emission stage, fuel and category: what heavy-pollution alerts restrict by.
    pub profile: Profile,
}

/// Evidence that names its vehicle by plate only (remote sensing, cameras, permits issued to a
/// plate): resolved to the VIN that carried the plate at `time`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PlateRead {
    pub plate: Plate,
    pub colour: PlateColour,
    /// The evidence's own time.
    pub time: EventTime,
    /// The permit, when the evidence is an entry permit issued to the plate.
    pub permit: Option<Permit>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Permit {
    pub valid_from: EventTime,
    pub valid_until: EventTime,
    pub revoked: bool,
}

/// A neighbouring province's listing of a vehicle, from its shared over-limit records: listed
/// from `listed_at` until `delisted_at` (`None` while listed).
#[derive(Debug, Clone, PartialEq)]
pub struct NeighbourListing {
    pub region: Region,
    pub listed_at: EventTime,
    pub delisted_at: Option<EventTime>,
    /// The neighbour's rule ids, as it spells them.
    pub rules: Vec<String>,
    /// The neighbour's blacklist event id and case ids.
    pub event_id: String,
    pub case_refs: Vec<String>,
    /// The shared record, as mirrored into our cluster.
    pub record: RecordRef,
}

impl NeighbourListing {
    /// Whether the vehicle was listed at `t` by a listing that began strictly before it.
    pub fn listed_before(&self, t: EventTime) -> bool {
        self.listed_at < t && self.delisted_at.is_none_or(|d| t <= d)
    }
}
