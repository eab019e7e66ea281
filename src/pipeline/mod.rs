//! Where the stages meet: one input record → decode → engine (through the state store) →
//! encoded outputs. The offline replay and the live Kafka service both call `Processor`, so
//! they produce the same outputs for the same records in the same order.
//!
//! Plate-only evidence takes a detour (`plate_reads`): resolved through the plate table, it
//! comes out as a record for `tw.evidence.by-vin`, which comes back in as evidence about the
//! VIN — through Kafka live, at once offline.

mod output;
mod plate_reads;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, RwLock};

use crate::alerts::{AlertTable, Profiles};
use crate::decode::{self, DecodeError, Input};
use crate::encode;
use crate::engine::{self, Facts, Rules};
use crate::model::{
    Absent, BlacklistEvent, Case, Event, EventKind, EventTime, Output, Region, RuleId, Sample,
    Secs, Vin, VinCheck,
};
use crate::plates::{PlatePermits, PlateTable};
use crate::proto;
use crate::recording::Record;
use crate::sharing::NeighbourTable;
use crate::state::StateStore;
use crate::topics::Topics;
pub use output::{Emitted, Sink};
pub use plate_reads::is_held_key;
use plate_reads::PlateReads;

/// Expired vehicles are swept when a partition's event time passes the next hour boundary.
const SWEEP_EVERY_SECS: u32 = 3600;

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

/// What one record produced, in order.
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
    /// Entry cases withheld: the vehicle's plate held a permit at the sighting.
    pub withheld: u32,
}

/// The global tables: reference data every instance holds whole, not partitioned with the
/// vehicles (as Kafka Streams' GlobalKTable).
#[derive(Debug, Clone, Default)]
pub struct Tables {
    /// Which VIN carried a plate when (`tw.registry`).
    pub plates: Arc<RwLock<PlateTable>>,
    /// Entry permits issued to plates (`tw.permits`).
    pub permits: Arc<RwLock<PlatePermits>>,
    /// Neighbouring provinces' listings (their mirrored `tw.shared.overlimit`).
    pub neighbours: Arc<RwLock<NeighbourTable>>,
    /// Heavy-pollution alerts (`tw.alerts`).
    pub alerts: Arc<RwLock<AlertTable>>,
    /// Registration profiles alerts restrict by (`tw.registry`).
    pub profiles: Arc<RwLock<Profiles>>,
}

/// Whether the plate table holds every registration there is yet. Live, the table is kept by
/// its own reader, which can lag behind the partitions' processing: before held evidence is
/// given up as unknown, the reader is asked to catch up with the broker, so that a registration
/// already in Kafka always wins over the clock that would give its evidence up. Offline there
/// is none: the table is fed in record order and always current.
pub trait PlatesCurrent: Send + Sync {
    /// Blocks until the table holds everything its topic held when asked (true), or for a
    /// bounded time (false: what was due is given up later, `Processor::release`).
    fn current(&self) -> bool;
}

pub struct Processor {
    rules: Rules,
    topics: Topics,
    decode: decode::Options,
    store: Arc<StateStore>,
    /// Per partition: the next event time at which to sweep for expired vehicles.
    next_sweep: Mutex<BTreeMap<i32, Secs>>,
    tables: Tables,
    /// Reference records processed here update the global tables (offline); live, the
    /// tables' own readers do.
    feeds_tables: bool,
    /// Partitions of `tw.evidence.by-vin` (co-partitioned with the inputs).
    partitions: i32,
    reads: Mutex<PlateReads>,
    /// Live: whether the global plate table's reader has caught up.
    catchup: Option<Arc<dyn PlatesCurrent>>,
    /// The region our listings are shared as.
    region: Region,
}

impl Processor {
    pub fn new(rules: Rules, topics: Topics) -> Processor {
        Processor {
            topics,
            decode: decode::Options::default(),
            store: Arc::default(),
            next_sweep: Mutex::default(),
            tables: Tables::default(),
            feeds_tables: true,
            partitions: 1,
            reads: Mutex::new(PlateReads::new(rules.plate_reads.clone())),
            catchup: None,
            region: Region::Beijing,
            rules,
        }
    }

    /// The region our listings are shared as (default Beijing).
    pub fn with_region(mut self, region: Region) -> Processor {
        self.region = region;
        self
    }

    /// The input topics' partition count: where resolved evidence is re-keyed to.
    pub fn with_partitions(mut self, partitions: i32) -> Processor {
        assert!(partitions > 0, "a topic has at least one partition");
        self.partitions = partitions;
        self
    }

    /// Reads the global tables kept by someone else (the service's readers; the plate
    /// table's answers `catchup`); reference records processed here then leave them alone.
    pub fn with_global_tables(
        mut self,
        tables: Tables,
        catchup: Arc<dyn PlatesCurrent>,
    ) -> Processor {
        self.tables = tables;
        self.catchup = Some(catchup);
        self.feeds_tables = false;
        self
    }

    pub fn plates(&self) -> &RwLock<PlateTable> {
        &self.tables.plates
    }

    /// Plate-only evidence waiting for its registration.
    pub fn held(&self) -> usize {
        self.reads.lock().expect("reads lock").len()
    }

    /// Applies held plate-only evidence the plate table can now resolve. Cheap when the table
    /// has not changed since the last call.
    pub fn release(&self) -> Vec<Emitted> {
        self.release_where(&|_| true)
    }

    /// `release` for the partitions `active` names (the others are still being restored).
    /// Then gives up what is due and still unknown (held while the table was catching up).
    pub fn release_where(&self, active: &dyn Fn(i32) -> bool) -> Vec<Emitted> {
        let (mut out, due) = {
            let table = self.tables.plates.read().expect("plates lock");
            let mut reads = self.reads.lock().expect("reads lock");
            let released = reads.release(&table, &self.topics, self.partitions, active);
            (released, reads.due_partitions(active))
        };
        // Asked with no lock held: the reader takes the table's to catch up.
        if !due.is_empty() && self.plates_current() {
            let table = self.tables.plates.read().expect("plates lock");
            let mut reads = self.reads.lock().expect("reads lock");
            out.extend(reads.release(&table, &self.topics, self.partitions, active));
            for p in due {
                out.extend(reads.give_up_due(p, &table, &self.topics, self.partitions));
            }
        }
        out
    }

    /// Restores held plate-only evidence from a changelog record (`value` `None`: released).
    pub fn restore_held(
        &self,
        partition: i32,
        key: &[u8],
        value: Option<&[u8]>,
    ) -> Result<(), String> {
        let read = |record: &Record| match decode::record(record, &self.topics, &self.decode) {
            Ok(Input::Plate(read)) => Some(read),
            _ => None,
        };
        self.reads
            .lock()
            .expect("reads lock")
            .restore(partition, key, value, read)
    }

    /// Forgets a revoked partition: its vehicles and its held evidence. Returns the vehicles.
    pub fn drop_partition(&self, partition: i32) -> usize {
        self.reads
            .lock()
            .expect("reads lock")
            .drop_partition(partition);
        self.next_sweep
            .lock()
            .expect("sweep lock is never poisoned")
            .remove(&partition);
        self.store.drop_partition(partition)
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
        let input = match decode::record(record, &self.topics, &self.decode) {
            Ok(input) => input,
            Err(e) => {
                processed.emitted.push(dlq(record, &e));
                return processed;
            }
        };
        let now = match input {
            Input::Vehicle(event) => {
                self.apply(record, &event, &mut processed);
                event.time
            }
            Input::Plate(read) => {
                if let (Some(permit), true) = (read.permit, self.feeds_tables) {
                    let mut permits = self.tables.permits.write().expect("permits lock");
                    note_permit(&mut permits, &read, &permit);
                }
                let table = self.tables.plates.read().expect("plates lock");
                let mut reads = self.reads.lock().expect("reads lock");
                let emitted = reads.resolve(&table, &self.topics, self.partitions, record, read);
                processed.emitted.extend(emitted);
                read.time
            }
            Input::Deregistration { vin, at } => {
                if self.feeds_tables {
                    let mut table = self.tables.plates.write().expect("plates lock");
                    table.deregister(vin, at.secs().unwrap_or_default());
                }
                at
            }
            // A neighbour's partitions are not ours: its records move no partition's clock.
            Input::NeighbourListing { vin, listing } => {
                if self.feeds_tables {
                    let mut table = self.tables.neighbours.write().expect("neighbours lock");
                    table.apply(vin, listing);
                }
                return processed;
            }
            Input::NeighbourForgot { vin, region } => {
                if self.feeds_tables {
                    let mut table = self.tables.neighbours.write().expect("neighbours lock");
                    table.forget(vin, region);
                }
                return processed;
            }
            // Alerts are no partition's evidence either: live, this only checks them (bad ones
            // go to the DLQ here, exactly once); the table is the readers'.
            Input::Alert(alert) => {
                if self.feeds_tables {
                    self.tables
                        .alerts
                        .write()
                        .expect("alerts lock")
                        .apply(alert);
                }
                return processed;
            }
            Input::AlertWithdrawn { id } => {
                if self.feeds_tables {
                    self.tables
                        .alerts
                        .write()
                        .expect("alerts lock")
                        .withdraw(&id);
                }
                return processed;
            }
        };
        processed.time = Some(now);
        if let Some(now) = now.secs() {
            processed.expired = self.sweep(record.partition, now);
            let due = self
                .reads
                .lock()
                .expect("reads lock")
                .advance(record.partition, now);
            if due && self.plates_current() {
                let table = self.tables.plates.read().expect("plates lock");
                let mut reads = self.reads.lock().expect("reads lock");
                processed.emitted.extend(reads.give_up_due(
                    record.partition,
                    &table,
                    &self.topics,
                    self.partitions,
                ));
            }
        }
        processed
    }

    /// Whether the plate table holds every registration there is yet, so that held evidence
    /// may be given up: always offline; live, as its reader says (`PlatesCurrent`).
    fn plates_current(&self) -> bool {
        self.catchup.as_ref().is_none_or(|c| c.current())
    }

    /// Evidence about one vehicle, through the engine.
    fn apply(&self, record: &Record, event: &Event, processed: &mut Processed) {
        processed.vin_flagged = event.vin.check() != VinCheck::Valid;
        processed.vin = Some(event.vin);
        if let EventKind::Report(report) = &event.kind {
            count_absent(&report.samples, &mut processed.absent);
        }
        if let (EventKind::Registration(r), true) = (&event.kind, self.feeds_tables) {
            let mut table = self.tables.plates.write().expect("plates lock");
            register(&mut table, event.vin, r);
            let mut profiles = self.tables.profiles.write().expect("profiles lock");
            profiles.register(event.vin, r.profile.clone());
        }
        let outputs = {
            let neighbours = self.tables.neighbours.read().expect("neighbours lock");
            let alerts = self.tables.alerts.read().expect("alerts lock");
            let profiles = self.tables.profiles.read().expect("profiles lock");
            let facts = Facts {
                neighbours: neighbours.listings(&event.vin),
                alerts: alerts.alerts(),
                profile: profiles.get(&event.vin),
            };
            self.store.update(record.partition, event.vin, |state| {
                engine::evaluate(&self.rules, state, event, &facts)
            })
        };
        let cases: Vec<&Case> = outputs
            .iter()
            .filter_map(|o| match o {
                Output::Case(c) if !self.withholds(c) => Some(c),
                _ => None,
            })
            .collect();
        let mut shared = Vec::new();
        for output in &outputs {
            if let Output::Blacklist(e) = output {
                shared.push(self.shared(e, &cases));
            }
        }
        let mut shared = shared.into_iter();
        for output in outputs {
            match output {
                Output::Blacklist(e) => {
                    processed
                        .emitted
                        .push(Emitted::Blacklist(encode::blacklist_event(&e)));
                    processed.emitted.extend(shared.next().map(Emitted::Shared));
                }
                Output::Case(c) if self.withholds(&c) => processed.withheld += 1,
                Output::Case(c) => processed.emitted.push(Emitted::Case(encode::case(&c))),
                Output::Late => processed.emitted.push(Emitted::Dlq {
                    record: Box::new(record.clone()),
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
    }

    /// What a neighbour may know of a blacklist event: with the registration's plate colour,
    /// and the cases the same evidence raised under the listing's rules as references.
    fn shared(&self, e: &BlacklistEvent, cases: &[&Case]) -> proto::SharedOverlimit {
        let at = e.event_time.secs().unwrap_or_default();
        let plate = self
            .tables
            .plates
            .read()
            .expect("plates lock")
            .carried(&e.vin, at);
        let refs = cases
            .iter()
            .filter(|c| e.reasons.contains(&c.rule) || c.rule == RuleId::RepeatOffender)
            .map(|c| c.id.clone())
            .collect();
        encode::shared(e, self.region, plate, refs)
    }

    /// An entry case for a vehicle whose plate held a permit at the sighting: the permit,
    /// issued to the plate, may not have reached the vehicle's state yet (it travels through
    /// `tw.evidence.by-vin`, perhaps from another instance). A wrong case is worse than none.
    fn withholds(&self, case: &Case) -> bool {
        if case.rule != RuleId::BlacklistedEntry {
            return false;
        }
        let at = case.first_evidence.secs().unwrap_or_default();
        let plate = self
            .tables
            .plates
            .read()
            .expect("plates lock")
            .carried(&case.vin, at);
        plate.is_some_and(|(plate, colour)| {
            let permits = self.tables.permits.read().expect("permits lock");
            permits.valid_at(plate, colour, at)
        })
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

/// Enters a permit issued to a plate into the plate permits.
pub fn note_permit(
    permits: &mut PlatePermits,
    read: &crate::model::PlateRead,
    permit: &crate::model::Permit,
) {
    let secs = |t: EventTime| t.secs().unwrap_or_default();
    permits.insert(
        read.plate,
        read.colour,
        secs(permit.valid_from),
        secs(permit.valid_until),
        permit.revoked,
    );
}

/// Enters a registration into the plate table; one without a colour cannot be keyed.
pub fn register(table: &mut PlateTable, vin: Vin, r: &crate::model::Registration) -> bool {
    let Some(colour) = r.colour else {
        return false;
    };
    let from = r.from.and_then(EventTime::secs).unwrap_or_default();
    table.register(vin, r.plate, colour, from)
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

fn dlq(record: &Record, e: &DecodeError) -> Emitted {
    Emitted::Dlq {
        record: Box::new(record.clone()),
        reason: e.reason(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written plate-read recording, processed with every resolved record fed back
    /// except the permit's: its trip through `tw.evidence.by-vin` is still under way (as when
    /// another instance resolved it). The listed truck sighted in Beijing on a valid permit
    /// issued to its plate gets no entry case; the one without a permit does.
    #[test]
    fn an_entry_case_waits_for_no_permit_still_travelling_to_the_vehicle() {
        let topics = Topics::default();
        let input = include_str!("../../tests/golden/plate_reads/input.jsonl");
        let records = crate::recording::read(input.as_bytes(), &topics).unwrap();
        let processor = Processor::new(crate::config::default_rules(), topics.clone());
        let permits = topics.name(crate::topics::TopicKind::Permits);
        let (mut entry_cases, mut withheld) = (Vec::new(), 0);
        let mut queue: std::collections::VecDeque<Record> = records.into_iter().collect();
        while let Some(record) = queue.pop_front() {
            let processed = processor.process(&record);
            withheld += processed.withheld;
            for e in processed.emitted.into_iter().chain(processor.release()) {
                match e {
                    Emitted::Case(c) if c.rule == "blacklisted_entry" => entry_cases.push(c.vin),
                    Emitted::Resolved(r) if record.topic != permits => queue.push_front(r),
                    _ => {}
                }
            }
        }
        assert_eq!(
            entry_cases,
            ["LGDCHA1G8MA127733"],
            "only the truck without a permit"
        );
        assert_eq!(withheld, 1, "the permitted truck's case was withheld");
    }

    /// A plate table reader that has caught up or not, as the test says.
    #[derive(Default)]
    struct Reader(std::sync::atomic::AtomicBool);

    impl PlatesCurrent for Reader {
        fn current(&self) -> bool {
            self.0.load(std::sync::atomic::Ordering::SeqCst)
        }
    }

    /// Line `i` of the hand-written plate-read recording.
    fn plate_reads_line(i: usize, topics: &Topics) -> Record {
        let input = include_str!("../../tests/golden/plate_reads/input.jsonl");
        Record::from_line(input.lines().nth(i).unwrap(), topics).unwrap()
    }

    /// What the plate table's reader does with a registration record.
    fn apply_registration(plates: &RwLock<PlateTable>, record: &Record, topics: &Topics) {
        let Ok(Input::Vehicle(event)) = decode::record(record, topics, &decode::Options::default())
        else {
            panic!("a registration")
        };
        let EventKind::Registration(r) = &event.kind else {
            panic!("a registration")
        };
        register(&mut plates.write().unwrap(), event.vin, r);
    }

    /// Live, the plate table is kept by its own reader and can lag behind the partitions: a read
    /// held for its registration is not given up by a clock record until the reader says it has
    /// caught up, so a registration already in Kafka releases it instead; with none, it is given
    /// up once the reader has caught up.
    #[test]
    fn held_evidence_is_given_up_only_once_the_plate_table_has_caught_up() {
        let topics = Topics::default();
        let line = |i: usize| plate_reads_line(i, &topics);
        // A read of 津A12345 before its registration (line 10), then a registration of another
        // vehicle almost six days later: past the three days a read is held.
        let (read, registration, clock) = (line(9), line(10), line(19));
        for registered in [true, false] {
            let plates = Arc::new(RwLock::new(PlateTable::new()));
            let reader = Arc::new(Reader::default());
            let processor = Processor::new(crate::config::default_rules(), topics.clone())
                .with_global_tables(
                    Tables {
                        plates: plates.clone(),
                        ..Tables::default()
                    },
                    reader.clone(),
                );
            let out = processor.process(&read).emitted;
            assert!(matches!(out[..], [Emitted::Held { value: Some(_), .. }]));
            let out = processor.process(&clock).emitted;
            assert!(
                out.is_empty(),
                "given up before the table caught up: {out:?}"
            );
            if registered {
                apply_registration(&plates, &registration, &topics);
            }
            let before = processor.release();
            reader.0.store(true, std::sync::atomic::Ordering::SeqCst);
            let after = processor.release();
            let resolved = |out: &[Emitted]| {
                out.iter()
                    .filter(|e| matches!(e, Emitted::Resolved(r) if r.key.as_deref() == Some(b"LFWSRXRJ5J1F00001")))
                    .count()
            };
            let rejected = |out: &[Emitted]| {
                out.iter()
                    .filter(|e| {
                        matches!(
                            e,
                            Emitted::GivenUp {
                                reason: "unknown_plate",
                                ..
                            }
                        )
                    })
                    .count()
            };
            if registered {
                assert_eq!((resolved(&before), rejected(&before)), (1, 0), "{before:?}");
                assert!(after.is_empty(), "{after:?}");
            } else {
                assert!(
                    before.is_empty(),
                    "given up before the table caught up: {before:?}"
                );
                assert_eq!((resolved(&after), rejected(&after)), (0, 1), "{after:?}");
            }
            assert_eq!(processor.held(), 0);
        }
    }

    /// Evidence due to be given up that the table resolves by then (a registration the reader
    /// applied since the last release pass) goes to its vehicle instead, from the same record.
    #[test]
    fn due_evidence_the_table_now_resolves_is_released_not_given_up() {
        let topics = Topics::default();
        let line = |i: usize| plate_reads_line(i, &topics);
        let plates = Arc::new(RwLock::new(PlateTable::new()));
        let reader = Arc::new(Reader(true.into()));
        let processor = Processor::new(crate::config::default_rules(), topics.clone())
            .with_global_tables(
                Tables {
                    plates: plates.clone(),
                    ..Tables::default()
                },
                reader,
            );
        processor.process(&line(9));
        apply_registration(&plates, &line(10), &topics);
        let out = processor.process(&line(19)).emitted;
        assert!(
            matches!(&out[..], [Emitted::Resolved(r), Emitted::Held { value: None, .. }] if r.key.as_deref() == Some(b"LFWSRXRJ5J1F00001")),
            "{out:?}"
        );
        assert_eq!(processor.held(), 0);
    }
}
