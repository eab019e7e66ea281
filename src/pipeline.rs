//! Where the stages meet: one input record → decode → engine (through the state store) →
//! encoded outputs. The offline replay and the live Kafka service both call `Processor`, so
//! they produce the same outputs for the same records in the same order.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::decode::{self, DecodeError};
use crate::encode;
use crate::engine::{self, Rules};
use crate::model::{Absent, EventKind, EventTime, Output, Sample, Secs, Vin, VinCheck};
use crate::proto;
use crate::recording::Record;
use crate::state::StateStore;
use crate::topics::Topics;

/// Expired vehicles are swept when a partition's event time passes the next hour boundary.
const SWEEP_EVERY_SECS: u32 = 3600;

/// What one record produced, in order.
#[derive(Debug, Clone, PartialEq)]
pub enum Emitted {
    Blacklist(proto::BlacklistEvent),
    Case(proto::EnforcementCase),
    /// The record goes to the DLQ with this reason (a `DecodeError::reason` or `late`).
    Dlq {
        reason: &'static str,
        message: String,
    },
}

/// The data-stream fields rules read, in the order of `Processed::absent`, and last the
/// sample's own time (absent, `missing`, when an HJ 1239 body time was all zeros and the frame
/// time stood in).
pub const SAMPLE_FIELDS: [&str; 9] = [
    "speed_kmh",
    "engine_rpm",
    "coolant_c",
    "scr_inlet_c",
    "nox_upstream_ppm",
    "nox_downstream_ppm",
    "reagent_pct",
    "odometer_km",
    "sample_time",
];

/// Absent values by `SAMPLE_FIELDS` index and `Absent` index.
pub type AbsentCounts = [[u32; Absent::ALL.len()]; SAMPLE_FIELDS.len()];

#[derive(Debug, Default)]
pub struct Processed {
    pub emitted: Vec<Emitted>,
    /// Samples or evidence already seen, ignored.
    pub duplicates: u32,
    /// The record's VIN failed its check digit or charset (still processed).
    pub vin_flagged: bool,
    /// The vehicle whose state the record touched (`None` when it went to the DLQ whole).
    pub vin: Option<Vin>,
    /// Vehicles that expired (TTL) on this record's partition, sorted: changelog tombstones.
    pub expired: Vec<Vin>,
    /// The evidence's own time (`None` when the record went to the DLQ whole).
    pub time: Option<EventTime>,
    /// Absent values among the record's samples (data quality).
    pub absent: AbsentCounts,
}

pub struct Processor {
    rules: Rules,
    topics: Topics,
    decode: decode::Options,
    store: Arc<StateStore>,
    /// Per partition: the next event time at which to sweep for expired vehicles.
    next_sweep: Mutex<BTreeMap<i32, Secs>>,
}

impl Processor {
    pub fn new(rules: Rules, topics: Topics) -> Processor {
        Processor {
            rules,
            topics,
            decode: decode::Options::default(),
            store: Arc::default(),
            next_sweep: Mutex::default(),
        }
    }

    /// How raw terminal frames are read (default: auto-detected dialect, 1 s samples).
    pub fn with_decode(mut self, options: decode::Options) -> Processor {
        self.decode = options;
        self
    }

    pub fn store(&self) -> &StateStore {
        &self.store
    }

    /// The store, for readers outside the processing thread (the admin endpoints).
    pub fn shared_store(&self) -> Arc<StateStore> {
        self.store.clone()
    }

    pub fn process(&self, record: &Record) -> Processed {
        let mut processed = Processed::default();
        let event = match decode::record(record, &self.topics, &self.decode) {
            Ok(event) => event,
            Err(e) => {
                processed.emitted.push(dlq(&e));
                return processed;
            }
        };
        processed.vin_flagged = event.vin.check() != VinCheck::Valid;
        processed.vin = Some(event.vin);
        processed.time = Some(event.time);
        if let EventKind::Report(report) = &event.kind {
            count_absent(&report.samples, &mut processed.absent);
        }
        let outputs = self.store.update(record.partition, event.vin, |state| {
            engine::evaluate(&self.rules, state, &event)
        });
        for output in outputs {
            match output {
                Output::Blacklist(e) => processed
                    .emitted
                    .push(Emitted::Blacklist(encode::blacklist_event(&e))),
                Output::Case(c) => processed.emitted.push(Emitted::Case(encode::case(&c))),
                Output::Late => processed.emitted.push(Emitted::Dlq {
                    reason: "late",
                    message: format!(
                        "evidence at {} is more than {} behind the vehicle's newest",
                        event.time.rfc3339(),
                        self.rules.time.grace
                    ),
                }),
                Output::Duplicates(n) => processed.duplicates += n,
            }
        }
        if let Some(now) = event.time.secs() {
            processed.expired = self.sweep(record.partition, now);
        }
        processed
    }

    fn sweep(&self, partition: i32, now: Secs) -> Vec<Vin> {
        let mut next = self
            .next_sweep
            .lock()
            .expect("sweep lock is never poisoned");
        let due = next
            .entry(partition)
            .or_insert(Secs(now.0 - now.0 % SWEEP_EVERY_SECS + SWEEP_EVERY_SECS));
        if now < *due {
            return Vec::new();
        }
        *due = Secs(now.0 - now.0 % SWEEP_EVERY_SECS + SWEEP_EVERY_SECS);
        drop(next);
        self.store.expire(partition, |state| {
            engine::is_expired(&self.rules, state, now)
        })
    }
}

fn count_absent(samples: &[Sample], counts: &mut AbsentCounts) {
    for s in samples {
        let reasons = [
            s.speed.err(),
            s.engine_rpm.err(),
            s.coolant.err(),
            s.scr_inlet.err(),
            s.nox_upstream.err(),
            s.nox_downstream.err(),
            s.reagent.err(),
            s.odometer.err(),
            s.time_from_frame.then_some(Absent::Missing),
        ];
        for (field, reason) in reasons.into_iter().enumerate() {
            if let Some(reason) = reason {
                counts[field][reason as usize] += 1;
            }
        }
    }
}

fn dlq(e: &DecodeError) -> Emitted {
    Emitted::Dlq {
        reason: e.reason(),
        message: e.to_string(),
    }
}
