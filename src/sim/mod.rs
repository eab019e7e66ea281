//! Fleet simulator: a deterministic fleet of heavy trucks streaming the records tailwatch
//! consumes (registrations, entry permits, terminal telemetry, roadside inspections,
//! re-inspections) in record-timestamp order, plus the ground truth of the faults injected.
//!
//! `fleet` draws identities and deals faults; `plan` lays out each vehicle's timeline;
//! `driver`, `truck` and `route` are the physics; `vehicle` runs one vehicle tick by tick into
//! records; `messages` builds the protobuf values and `frames` turns terminal reports into raw
//! frames when the run asks for them (`SimConfig::raw`); this file merges the vehicles into one
//! stream and assigns partitions and offsets. Only one tick per vehicle is ever in memory, so
//! memory grows with the fleet, never with the duration. Same config, same bytes: every random
//! choice comes from a seeded `SmallRng`, never the clock or hash-map order.

mod driver;
mod fleet;
mod frames;
mod messages;
mod plan;
mod route;
mod truck;
mod vehicle;

#[cfg(test)]
mod frames_tests;
#[cfg(test)]
mod oracle;
#[cfg(test)]
mod tests;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use rand::rngs::SmallRng;
use rand::SeedableRng;

use crate::decode::frame::Dialect;
use crate::decode::raw::DIALECT_HEADER;
use crate::model::{unix_secs_from_civil, EventTime, RuleId, Vin};
use crate::recording::Record;
use crate::topics::Topics;
use fleet::INJECTABLE;
use vehicle::{Out, Pending, Run, Vehicle};

#[derive(Debug, Clone)]
pub struct SimConfig {
    pub vehicles: usize,
    pub duration_secs: u64,
    pub seed: u64,
    /// Start of the run (all vehicles parked); records are stamped from here on.
    pub start: EventTime,
    pub partitions: i32,
    /// Share of vehicles given exactly one fault (two for `blacklisted_entry`, which needs a
    /// failed roadside check first).
    pub fault_fraction: f64,
    /// Relative weights of the injectable faults; see [`parse_fault_mix`].
    pub fault_mix: Vec<(RuleId, u32)>,
    pub topics: Topics,
    /// `None`: terminal telemetry as protobuf `TerminalReport`s on the telemetry topic.
    /// `Some(dialect)`: as raw terminal frames in that dialect on the raw telemetry topic, each
    /// record with a `tw-dialect` header (removal alarms are HJ 1239 frames whatever the
    /// dialect). Same vehicles, values and record times either way; a GB 17691 or hybrid report
    /// whose samples are not consecutive seconds becomes several records.
    pub raw: Option<Dialect>,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            vehicles: 500,
            duration_secs: 6 * 3_600,
            seed: 1,
            start: EventTime::from_unix_secs(unix_secs_from_civil(2026, 11, 2, 0, 0, 0)),
            partitions: 4,
            fault_fraction: 0.3,
            fault_mix: INJECTABLE.iter().map(|&rule| (rule, 1)).collect(),
            topics: Topics::default(),
            raw: None,
        }
    }
}

/// What was injected into one vehicle: the rules tailwatch should fire for it, in the order it
/// would detect them. Empty for a clean vehicle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truth {
    pub vin: Vin,
    pub faults: Vec<RuleId>,
}

impl Truth {
    /// `{"vin":"...","faults":["nox_over_limit"]}`, one line.
    pub fn to_json_line(&self) -> String {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            vin: &'a str,
            faults: Vec<&'static str>,
        }
        let line = Line {
            vin: self.vin.as_str(),
            faults: self.faults.iter().map(|f| f.as_str()).collect(),
        };
        serde_json::to_string(&line).expect("truth lines always serialise")
    }
}

/// Parses `nox_over_limit=2,data_gap=1`: injectable rule ids with whole-number weights.
pub fn parse_fault_mix(text: &str) -> Result<Vec<(RuleId, u32)>, String> {
    let mut mix: Vec<(RuleId, u32)> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (name, weight) = part
            .split_once('=')
            .ok_or_else(|| format!("`{part}`: expected `rule=weight`"))?;
        let name = name.trim();
        let rule = RuleId::parse(name)
            .filter(|r| INJECTABLE.contains(r))
            .ok_or_else(|| {
                let known: Vec<&str> = INJECTABLE.iter().map(|r| r.as_str()).collect();
                format!(
                    "`{name}` is not an injectable fault (one of {})",
                    known.join(", ")
                )
            })?;
        let weight = weight
            .trim()
            .parse()
            .map_err(|_| format!("`{part}`: weight must be a whole number"))?;
        if mix.iter().any(|&(r, _)| r == rule) {
            return Err(format!("`{name}` is given twice"));
        }
        mix.push((rule, weight));
    }
    if mix.iter().all(|&(_, w)| w == 0) {
        return Err("the fault mix needs at least one positive weight".to_owned());
    }
    Ok(mix)
}

/// The fleet's records in non-decreasing timestamp order; ties go to the lower vehicle index,
/// then to the order the vehicle created them.
pub struct Simulation {
    vehicles: Vec<Vehicle>,
    /// Each vehicle's next record, taken out of the vehicle so the queue can compare keys.
    heads: Vec<Option<Pending>>,
    /// (timestamp, vehicle, seq) of every head.
    queue: BinaryHeap<Reverse<(i64, usize, u64)>>,
    truth: Vec<Truth>,
    topic_names: Vec<String>,
    partitions: i32,
    /// Next offset per (topic, partition).
    offsets: Vec<i64>,
    raw: Option<Dialect>,
}

impl Simulation {
    /// # Panics
    /// When `partitions` is not positive, the mix names a rule that cannot be injected
    /// (`repeat_offender`; [`parse_fault_mix`] rejects it), or raw frames are asked for and
    /// the run does not lie within the years the frame time can carry (2000–2255, Beijing).
    pub fn new(cfg: SimConfig) -> Simulation {
        assert!(
            cfg.partitions > 0,
            "partitions must be positive, got {}",
            cfg.partitions
        );
        if cfg.raw.is_some() {
            // Every time a vehicle puts in a frame lies within the run or a minute after it.
            let end = EventTime(
                cfg.start.0.saturating_add(
                    i64::try_from(cfg.duration_secs.saturating_add(60))
                        .unwrap_or(i64::MAX)
                        .saturating_mul(1_000),
                ),
            );
            let years = 2000..=2255;
            assert!(
                years.contains(&cfg.start.beijing_date().0)
                    && years.contains(&end.beijing_date().0),
                "raw frames carry times from 2000 to 2255 only; the run is {:?} to {:?}",
                cfg.start,
                end
            );
        }
        assert!(
            cfg.fault_mix.iter().all(|(r, _)| INJECTABLE.contains(r)),
            "fault mix names a rule that cannot be injected: {:?}",
            cfg.fault_mix
        );
        let mut fleet_rng = SmallRng::seed_from_u64(stream_seed(cfg.seed, 0));
        let assignments = fleet::assign(
            cfg.vehicles,
            cfg.fault_fraction,
            &cfg.fault_mix,
            &mut fleet_rng,
        );
        let run = Run {
            start_ms: cfg.start.0,
            duration_secs: cfg.duration_secs,
            partitions: cfg.partitions,
            raw: cfg.raw,
        };
        let mut vehicles: Vec<Vehicle> = assignments
            .iter()
            .enumerate()
            .map(|(i, a)| Vehicle::new(i, a, &run, stream_seed(cfg.seed, i as u64 + 1)))
            .collect();
        let truth = vehicles
            .iter()
            .zip(&assignments)
            .map(|(v, a)| Truth {
                vin: v.id.vin,
                faults: detected(a.fault),
            })
            .collect();
        let heads: Vec<Option<Pending>> = vehicles.iter_mut().map(Vehicle::next_record).collect();
        let queue = heads
            .iter()
            .enumerate()
            .filter_map(|(i, h)| h.as_ref().map(|p| Reverse((p.timestamp, i, p.seq))))
            .collect();
        let topic_names = Out::ALL
            .iter()
            .map(|&out| cfg.topics.name(out.kind()))
            .collect();
        Simulation {
            vehicles,
            heads,
            queue,
            truth,
            topic_names,
            partitions: cfg.partitions,
            offsets: vec![0; Out::ALL.len() * cfg.partitions as usize],
            raw: cfg.raw,
        }
    }

    /// One entry per vehicle, in vehicle order.
    pub fn truth(&self) -> &[Truth] {
        &self.truth
    }
}

impl Iterator for Simulation {
    type Item = Record;

    fn next(&mut self) -> Option<Record> {
        let Reverse((_, index, _)) = self.queue.pop()?;
        let pending = self.heads[index]
            .take()
            .expect("every queued vehicle has a head");
        let vehicle = &mut self.vehicles[index];
        if let Some(next) = vehicle.next_record() {
            self.queue.push(Reverse((next.timestamp, index, next.seq)));
            self.heads[index] = Some(next);
        }
        let headers = match (pending.topic, self.raw) {
            (Out::TelemetryRaw, Some(dialect)) => {
                BTreeMap::from([(DIALECT_HEADER.to_owned(), dialect.as_str().to_owned())])
            }
            _ => BTreeMap::new(),
        };
        let topic = pending.topic as usize;
        let slot = &mut self.offsets[topic * self.partitions as usize + vehicle.partition as usize];
        let offset = *slot;
        *slot += 1;
        Some(Record {
            topic: self.topic_names[topic].clone(),
            partition: vehicle.partition,
            offset,
            timestamp: pending.timestamp,
            key: Some(vehicle.id.vin.as_bytes().to_vec()),
            headers,
            value: Some(pending.value),
        })
    }
}

/// The rules an injected fault makes fire, in detection order: a blacklisted-entry vehicle is
/// first listed by a failed roadside check, then caught driving in Beijing without a permit.
fn detected(fault: Option<RuleId>) -> Vec<RuleId> {
    match fault {
        None => Vec::new(),
        Some(RuleId::BlacklistedEntry) => vec![RuleId::RoadsideFail, RuleId::BlacklistedEntry],
        Some(rule) => vec![rule],
    }
}

/// Independent seeds per random stream (0 = fleet draw, 1.. = vehicles): SplitMix64, so
/// neighbouring streams and seeds are uncorrelated.
fn stream_seed(seed: u64, stream: u64) -> u64 {
    splitmix64(seed ^ splitmix64(stream))
}

/// SplitMix64's output function: a cheap, well-mixing 64-bit hash.
fn splitmix64(z: u64) -> u64 {
    let z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}
