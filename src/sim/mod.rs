//! Fleet simulator: a deterministic fleet of heavy trucks streaming the records tailwatch
//! consumes (registrations, entry permits, terminal telemetry, roadside inspections,
//! re-inspections) in record-timestamp order, plus the ground truth of the faults injected and
//! of the stray plate reads tailwatch is to dead-letter.
//!
//! The truth is what tailwatch can decide from the run under the run's rules (`needs`): each
//! fault is scheduled to be decided before the run ends. The default fault mix holds only the
//! kinds every vehicle of the run can have decided (a 6-hour run under the default rules leaves
//! out the 72-hour MIL streak and the data gap's 7-day fill period); a fault asked for by name
//! that the run cannot decide is still injected and listed apart, as `undecidable`, with why.
//!
//! `fleet` draws identities and deals faults; `plan` lays out each vehicle's timeline;
//! `registry` gives each vehicle its registrations and says whether evidence names it by VIN or
//! by plate only, and deals plate transfers, late registrations and stray plate reads;
//! `driver`, `truck` and `route` are the physics; `vehicle` runs one vehicle tick by tick into
//! records; `messages` builds the protobuf values and `frames` turns terminal reports into raw
//! frames when the run asks for them (`SimConfig::raw`); this file merges the vehicles into one
//! stream and assigns partitions and offsets (plate-only evidence is keyed and partitioned by
//! the plate read, everything else by VIN). Only one tick per vehicle is ever in memory, so
//! memory grows with the fleet, never with the duration. Same config, same bytes: every random
//! choice comes from a seeded `SmallRng`, never the clock or hash-map order.

mod driver;
mod fleet;
mod frames;
mod messages;
mod needs;
mod plan;
mod registry;
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

use crate::config;
use crate::decode::frame::Dialect;
use crate::decode::raw::DIALECT_HEADER;
use crate::engine::Rules;
use crate::model::{unix_secs_from_civil, EventTime, PlateColour, RuleId, Vin};
use crate::recording::Record;
use crate::topics::Topics;
pub use fleet::INJECTABLE;
use needs::Needs;
use registry::{Papers, Sighting};
use vehicle::{Key, Out, Pending, Run, Vehicle};

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
    /// Relative weights of the injectable faults; see [`parse_fault_mix`]. Empty: every fault
    /// the run can decide under `rules`, equally.
    pub fault_mix: Vec<(RuleId, u32)>,
    /// The rules the run's truth is for (those `replay --rules` will apply): faults are
    /// scheduled to be decided under them.
    pub rules: Rules,
    pub topics: Topics,
    /// `None`: terminal telemetry as protobuf `TerminalReport`s on the telemetry topic.
    /// `Some(dialect)`: as raw terminal frames in that dialect on the raw telemetry topic, each
    /// record with a `tw-dialect` header (removal alarms are HJ 1239 frames whatever the
    /// dialect). Same vehicles, values and record times either way; a GB 17691 or hybrid report
    /// whose samples are not consecutive seconds becomes several records.
    pub raw: Option<Dialect>,
    /// Clean remote-sensing passes whose plate read names no vehicle, in turn: a well-formed
    /// plate nobody carries (`unknown_plate`), a read with an I or O (`invalid_plate`), a
    /// plate without a colour (`invalid_plate`). Listed by [`Simulation::stray_reads`].
    pub stray_reads: usize,
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
            fault_mix: Vec::new(),
            rules: config::default_rules(),
            topics: Topics::default(),
            raw: None,
            stray_reads: STRAY_READS,
        }
    }
}

/// What was injected into one vehicle. Empty for a clean vehicle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truth {
    pub vin: Vin,
    /// The rules tailwatch fires for the vehicle within the run, in the order it decides them.
    pub faults: Vec<RuleId>,
    /// Faults in the vehicle's records that the run ends too early to decide under its rules:
    /// tailwatch cannot be expected to fire for them (a MIL streak or data gap it never does).
    pub undecidable: Vec<Undecidable>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecidable {
    pub rule: RuleId,
    /// What the rule needs that the run lacks, e.g. "needs 72h of MIL on …, the run is 6h".
    pub why: String,
}

impl Truth {
    /// `{"vin":"...","faults":["nox_over_limit"]}`, one line; a vehicle with an undecidable
    /// fault adds `"undecidable":[{"rule":"data_gap","why":"..."}]`.
    pub fn to_json_line(&self) -> String {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            vin: &'a str,
            faults: Vec<&'static str>,
            #[serde(skip_serializing_if = "Vec::is_empty")]
            undecidable: Vec<Why<'a>>,
        }
        #[derive(serde::Serialize)]
        struct Why<'a> {
            rule: &'static str,
            why: &'a str,
        }
        let line = Line {
            vin: self.vin.as_str(),
            faults: self.faults.iter().map(|f| f.as_str()).collect(),
            undecidable: self
                .undecidable
                .iter()
                .map(|u| Why {
                    rule: u.rule.as_str(),
                    why: &u.why,
                })
                .collect(),
        };
        serde_json::to_string(&line).expect("truth lines always serialise")
    }
}

/// Stray plate reads in a run unless asked otherwise: two of each kind.
pub const STRAY_READS: usize = 6;

/// A plate read that names no vehicle of the run: tailwatch dead-letters the pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrayRead {
    pub plate: String,
    /// `None`: the read carries no colour (code 0).
    pub colour: Option<PlateColour>,
    /// The dead-letter reason: `unknown_plate` or `invalid_plate`.
    pub reason: &'static str,
    /// Why a plate nobody carries is not dead-lettered within the run: tailwatch still holds
    /// it for a registration when the run ends.
    pub held: Option<String>,
}

impl StrayRead {
    /// `{"plate":"冀F0O123","plate_colour":"yellow","dlq":"invalid_plate"}`, one line; a read
    /// without a colour has `"plate_colour":null`, and one still held at the end of the run
    /// adds `"held":"held 72h for a registration (plate_reads.hold), the run is 6h"`.
    pub fn to_json_line(&self) -> String {
        #[derive(serde::Serialize)]
        struct Line<'a> {
            plate: &'a str,
            plate_colour: Option<&'static str>,
            dlq: &'static str,
            #[serde(skip_serializing_if = "Option::is_none")]
            held: Option<&'a str>,
        }
        let line = Line {
            plate: &self.plate,
            plate_colour: self.colour.map(PlateColour::name),
            dlq: self.reason,
            held: self.held.as_deref(),
        };
        serde_json::to_string(&line).expect("stray reads always serialise")
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
    /// Transfers, late registrations and stray reads dealt, by vehicle index.
    #[cfg(test)]
    deal: registry::Deal,
    stray_reads: Vec<StrayRead>,
    notes: Vec<String>,
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
        let needs = Needs::new(&cfg.rules);
        // Every vehicle's timeline is this long or one tick longer (terminal phases differ).
        let shortest = u32::try_from(cfg.duration_secs.saturating_sub(10) / 10).unwrap_or(u32::MAX);
        let why = |fault: RuleId| needs.why(fault, cfg.duration_secs);
        let mut notes = Vec::new();
        let mix = match &cfg.fault_mix {
            mix if !mix.is_empty() => mix.clone(),
            _ => {
                let (mix, left_out): (Vec<RuleId>, Vec<RuleId>) = INJECTABLE
                    .iter()
                    .partition(|&&fault| needs.decidable(fault, shortest));
                if !left_out.is_empty() {
                    let each: Vec<String> = left_out
                        .iter()
                        .map(|&f| format!("{} ({})", f.as_str(), why(f)))
                        .collect();
                    notes.push(format!(
                        "left out of the fault mix, as this run cannot decide them under its \
                         rules: {}",
                        each.join("; ")
                    ));
                }
                mix.into_iter().map(|fault| (fault, 1)).collect()
            }
        };
        assert!(
            mix.iter().all(|(r, _)| INJECTABLE.contains(r)),
            "fault mix names a rule that cannot be injected: {mix:?}"
        );
        let mut fleet_rng = SmallRng::seed_from_u64(stream_seed(cfg.seed, 0));
        let assignments = fleet::assign(cfg.vehicles, cfg.fault_fraction, &mix, &mut fleet_rng);
        let run = Run {
            start_ms: cfg.start.0,
            duration_secs: cfg.duration_secs,
            partitions: cfg.partitions,
            raw: cfg.raw,
            needs,
        };
        let mut vehicles: Vec<Vehicle> = assignments
            .iter()
            .enumerate()
            .map(|(i, a)| Vehicle::new(i, a, &run, stream_seed(cfg.seed, i as u64 + 1)))
            .collect();
        let sightings: Vec<Sighting> = vehicles.iter().map(Vehicle::sighting).collect();
        let mut papers: Vec<Papers> = vehicles.iter().map(|v| v.papers.clone()).collect();
        let start_secs = cfg.start.0.div_euclid(1_000);
        let end_secs =
            start_secs.saturating_add(i64::try_from(cfg.duration_secs).unwrap_or(i64::MAX));
        let deal = registry::deal(
            &sightings,
            &mut papers,
            (start_secs, end_secs),
            cfg.stray_reads,
            &run.needs,
            &mut SmallRng::seed_from_u64(stream_seed(cfg.seed, PLATES_STREAM)),
        );
        let held =
            |s: &registry::Stray| s.held_at_end.then(|| run.needs.why_held(cfg.duration_secs));
        let stray_reads = deal
            .strays
            .iter()
            .map(|(_, s)| StrayRead {
                plate: s.plate.clone(),
                colour: PlateColour::from_code(s.colour),
                reason: s.reason.as_str(),
                held: held(s),
            })
            .collect();
        for (vehicle, papers) in vehicles.iter_mut().zip(papers) {
            vehicle.file(papers, cfg.start.0);
        }
        let mut undecided: BTreeMap<RuleId, usize> = BTreeMap::new();
        let truth = vehicles
            .iter()
            .zip(&assignments)
            .map(|(v, a)| {
                let rules = detected(a.fault);
                match a.fault {
                    Some(fault) if v.undecidable() => {
                        *undecided.entry(fault).or_default() += 1;
                        let why = why(fault);
                        Truth {
                            vin: v.id.vin,
                            faults: Vec::new(),
                            undecidable: rules
                                .into_iter()
                                .map(|rule| Undecidable {
                                    rule,
                                    why: why.clone(),
                                })
                                .collect(),
                        }
                    }
                    _ => Truth {
                        vin: v.id.vin,
                        faults: rules,
                        undecidable: Vec::new(),
                    },
                }
            })
            .collect();
        if !undecided.is_empty() {
            let each: Vec<String> = undecided
                .iter()
                .map(|(&f, n)| format!("{} on {n} vehicles ({})", f.as_str(), why(f)))
                .collect();
            notes.push(format!(
                "faults this run cannot decide under its rules are injected but listed as \
                 \"undecidable\" in the truth: {}",
                each.join("; ")
            ));
        }
        let unmodelled = needs::unmodelled(&cfg.rules, &config::default_rules());
        if !unmodelled.is_empty() {
            notes.push(format!(
                "the simulated values keep clear of the default thresholds only, so the truth \
                 may not hold for these rule values: {}",
                unmodelled.join(", ")
            ));
        }
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
            #[cfg(test)]
            deal,
            stray_reads,
            notes,
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

    /// The plate reads that name no vehicle, in the order they were dealt: tailwatch
    /// dead-letters each with its `reason`, but for those still `held` when the run ends.
    pub fn stray_reads(&self) -> &[StrayRead] {
        &self.stray_reads
    }

    /// What a user comparing outputs with the truth should know, one line each: fault kinds
    /// left out of the default mix, undecidable faults injected, rule values not modelled.
    pub fn notes(&self) -> &[String] {
        &self.notes
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
        let (key, partition) = match pending.key {
            Key::Vin => (vehicle.id.vin.as_bytes().to_vec(), vehicle.partition),
            Key::Plate(plate) => {
                let partition = crate::topics::partition_for(plate.as_bytes(), self.partitions);
                (plate.into_bytes(), partition)
            }
        };
        let topic = pending.topic as usize;
        let slot = &mut self.offsets[topic * self.partitions as usize + partition as usize];
        let offset = *slot;
        *slot += 1;
        Some(Record {
            topic: self.topic_names[topic].clone(),
            partition,
            offset,
            timestamp: pending.timestamp,
            key: Some(key),
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

/// The random stream plate transfers, late registrations and stray reads are dealt from.
const PLATES_STREAM: u64 = u64::MAX;

/// Independent seeds per random stream (0 = fleet draw, 1.. = vehicles, `PLATES_STREAM`): SplitMix64, so
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
