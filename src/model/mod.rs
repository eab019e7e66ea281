//! Domain types shared by every stage: identities (`Vin`, `Plate`), time (`EventTime`),
//! units and readings, fuel types, the engine's input (`Event`) and output (`Output`).
//!
//! Pure data and validation. No I/O, no protobuf, no Kafka.

mod alert;
mod boundary;
mod event;
mod fuel;
mod output;
mod plate;
mod reading;
mod region;
mod time;
mod vin;

pub use alert::{normalise, Alert, AlertLevel, Profile};
pub use boundary::Boundary;
pub use event::{
    Event, EventKind, ManualCheck, NeighbourListing, Obd, Permit, PlateRead, Position, RecordRef,
    Registration, Reinspection, RemoteSensing, Report, Sample,
};
pub use fuel::Fuel;
pub use output::{
    BlacklistEvent, BlacklistStatus, Case, Evidence, EvidenceSource, Measurement, Output, Priority,
    ReinspectionRef, RuleId,
};
pub use plate::{Plate, PlateColour, PlateError};
pub use reading::{Absent, Celsius, Kilometres, Kmh, Percent, Ppm, Reading, Rpm};
pub use region::Region;
pub use time::{unix_secs_from_civil, EventTime, Secs, BEIJING_OFFSET_SECS};
pub use vin::{Vin, VinCheck, VinError};
