//! One simulated vehicle, run tick by tick into records: its registrations and permit, terminal
//! sessions (LOGIN, a REALTIME report every 10 s, LOGOUT), outages caught up by REISSUE,
//! deliberate silences, tampering and OBD faults, and its roadside encounters.
//!
//! A vehicle hands out its records in timestamp order using only a small buffer: a tick
//! produces records stamped at or after its own start, so whatever is buffered at or before the
//! next tick's start can be released. Memory per vehicle is one tick's records plus, during an
//! outage, the stored reports awaiting reissue.
//!
//! Terminal reports are built once, as protobuf values, and put on the wire in the run's
//! telemetry form: the protobuf encoding, or raw frames through `frames`.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, VecDeque};

use prost::Message;
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use super::fleet::{Assignment, Identity};
use super::frames;
use super::messages::{self, timestamp};
use super::needs::Needs;
use super::plan::{Emission, Plan, Tamper, REISSUE_PER_TICK};
use super::registry::{Papers, Read, Sighting};
use super::truck::Truck;
use crate::decode::frame::Dialect;
use crate::model::Plate;
use crate::proto;
use crate::topics::TopicKind;

/// The topics a vehicle writes to. The discriminants index the simulation's offset table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Out {
    Registry,
    Permits,
    Telemetry,
    Inspections,
    Reinspections,
    TelemetryRaw,
}

impl Out {
    pub const ALL: [Out; 6] = [
        Out::Registry,
        Out::Permits,
        Out::Telemetry,
        Out::Inspections,
        Out::Reinspections,
        Out::TelemetryRaw,
    ];

    pub fn kind(self) -> TopicKind {
        match self {
            Out::Registry => TopicKind::Registry,
            Out::Permits => TopicKind::Permits,
            Out::Telemetry => TopicKind::Telemetry,
            Out::Inspections => TopicKind::Inspections,
            Out::Reinspections => TopicKind::Reinspections,
            Out::TelemetryRaw => TopicKind::TelemetryRaw,
        }
    }
}

/// What a record is keyed by: the vehicle's VIN, or for plate-only evidence the plate text
/// read (which need not be a plate, nor this vehicle's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Vin,
    Plate(String),
}

/// A record waiting to be merged into the fleet's stream.
#[derive(Debug)]
pub struct Pending {
    /// Kafka record timestamp, ms.
    pub timestamp: i64,
    /// Order of creation within the vehicle: breaks timestamp ties deterministically.
    pub seq: u64,
    pub topic: Out,
    pub key: Key,
    pub value: Vec<u8>,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.timestamp, self.seq).cmp(&(other.timestamp, other.seq))
    }
}

/// Mixed into a vehicle's seed for the stream its paperwork is drawn from.
const PAPERS_STREAM: u64 = 0x5041_5045_5253; // "PAPERS"

/// Emission-relevant DTCs a faulty truck may show (SCR/reductant, DPF, EGR/catalyst).
const FAULT_DTCS: [&str; 6] = ["P2047", "P20EE", "P20B9", "P2463", "P0401", "P0420"];

pub struct Vehicle {
    pub id: Identity,
    pub partition: i32,
    /// Registrations and how evidence names the vehicle; final once `file` has run.
    pub papers: Papers,
    /// Entry permit (number, valid from, valid until), filed with the papers.
    permit: Option<(String, i64, i64)>,
    /// Dealt a fault (or, for `blacklisted_entry`, two).
    faulty: bool,
    plan: Plan,
    truck: Truck,
    rng: SmallRng,
    /// Draws for the paperwork and the stray reads' passes, apart from `rng` so that neither
    /// shifts the vehicle's physics.
    papers_rng: SmallRng,
    /// Unix seconds at which tick 0 starts.
    base: i64,
    tick: u32,
    out: BinaryHeap<Reverse<Pending>>,
    seq: u64,
    /// REISSUE reports stored during an outage, oldest first, each as the values it is sent
    /// as (one protobuf value, or one or more raw frames).
    backlog: VecDeque<Vec<Vec<u8>>>,
    frame_serial: u32,
    login_serial: u32,
    iupr: Vec<u8>,
    dtc: &'static str,
    /// Telemetry as raw frames in this dialect instead of protobuf.
    raw: Option<Dialect>,
}

/// The run as a vehicle sees it.
pub struct Run {
    pub start_ms: i64,
    pub duration_secs: u64,
    pub partitions: i32,
    pub raw: Option<Dialect>,
    /// What the run's rules need for a fault to be decided.
    pub needs: Needs,
}

impl Vehicle {
    pub fn new(index: usize, assignment: &Assignment, run: &Run, seed: u64) -> Vehicle {
        let mut rng = SmallRng::seed_from_u64(seed);
        let id = Identity::draw(index, assignment.fault, &mut rng);
        // Terminals are not synchronised: each reports on its own 10-second phase.
        let start_secs = run.start_ms.div_euclid(1_000);
        let base = start_secs + rng.random_range(1..=10);
        let ticks = run.duration_secs.saturating_sub((base - start_secs) as u64) / 10;
        let plan = Plan::draw(
            u32::try_from(ticks).unwrap_or(u32::MAX),
            assignment,
            &run.needs,
            &mut rng,
        );
        let truck = Truck::new(assignment.fault, &mut rng);
        let iupr = (0..9)
            .flat_map(|_| {
                let denominator: u16 = rng.random_range(200..800);
                let numerator = denominator / 10 * rng.random_range(6..10);
                [numerator.to_be_bytes(), denominator.to_be_bytes()].concat()
            })
            .collect();
        let dtc = FAULT_DTCS.choose(&mut rng).expect("non-empty");
        let permit = id.permit.clone().map(|number| {
            let from = start_secs - 86_400 * rng.random_range(1..=5);
            let until = start_secs + run.duration_secs as i64 + 86_400 * rng.random_range(1..=7);
            (number, from, until)
        });
        // A stream of its own, so the paperwork never shifts the vehicle's physics.
        let mut papers_rng = SmallRng::seed_from_u64(super::splitmix64(seed ^ PAPERS_STREAM));
        let papers = Papers::draw(
            id.plate,
            id.category,
            start_secs,
            plan.passes.len(),
            plan.stops.len(),
            &mut papers_rng,
        );
        Vehicle {
            partition: crate::topics::partition_for(id.vin.as_bytes(), run.partitions),
            id,
            papers,
            permit,
            faulty: assignment.fault.is_some(),
            plan,
            truck,
            rng,
            papers_rng,
            base,
            tick: 0,
            out: BinaryHeap::new(),
            seq: 0,
            backlog: VecDeque::new(),
            frame_serial: 0,
            login_serial: 0,
            iupr,
            dtc,
            raw: run.raw,
        }
    }

    /// What the fleet-wide deal of plates needs to know of the vehicle.
    pub fn sighting(&self) -> Sighting {
        let tick = |k: u32| self.tick_secs(k);
        let mut busy: Vec<std::ops::Range<u32>> =
            self.plan.stops.iter().map(|s| s.ticks.clone()).collect();
        busy.extend(self.plan.passes.iter().map(|p| p.tick..p.tick + 1));
        Sighting {
            plate: self.id.plate,
            faulty: self.faulty,
            has_permit: self.permit.is_some(),
            passes: self.plan.passes.iter().map(|p| tick(p.tick)).collect(),
            checks: self.plan.stops.iter().map(|s| tick(s.check_at)).collect(),
            base: self.base,
            sessions: self.plan.sessions.clone(),
            busy,
        }
    }

    /// Takes the dealt papers and files the registrations and the permit: a registration on
    /// the registry topic when it is published, the permit at the start of the run.
    pub fn file(&mut self, papers: Papers, start_ms: i64) {
        self.papers = papers;
        for (published, registration) in self.papers.records(&self.id) {
            self.push(published, Out::Registry, registration.encode_to_vec());
        }
        if let Some((number, from, until)) = self.permit.clone() {
            let by_plate = self
                .papers
                .permit_by_plate
                .then(|| self.papers.plate_at(start_ms.div_euclid(1_000)));
            let permit = messages::permit(&self.id, by_plate, &number, from, until);
            let key = by_plate.map_or(Key::Vin, |p| Key::Plate(p.to_string()));
            self.push_keyed(start_ms, Out::Permits, key, permit.encode_to_vec());
        }
    }

    /// Its fault cannot be decided within the run under the run's rules.
    pub fn undecidable(&self) -> bool {
        self.plan.undecidable
    }

    /// The vehicle's next record in (timestamp, creation) order, or `None` when its run is over.
    pub fn next_record(&mut self) -> Option<Pending> {
        loop {
            let done = self.tick >= self.plan.ticks;
            match self.out.peek() {
                Some(Reverse(next)) if done || next.timestamp <= self.horizon_ms() => {
                    return self.out.pop().map(|Reverse(p)| p);
                }
                None if done => return None,
                _ => self.step(),
            }
        }
    }

    /// No record created from now on is stamped before this.
    fn horizon_ms(&self) -> i64 {
        self.tick_secs(self.tick) * 1_000
    }

    fn tick_secs(&self, tick: u32) -> i64 {
        self.base + 10 * i64::from(tick)
    }

    fn push(&mut self, timestamp: i64, topic: Out, value: Vec<u8>) {
        self.push_keyed(timestamp, topic, Key::Vin, value);
    }

    fn push_keyed(&mut self, timestamp: i64, topic: Out, key: Key, value: Vec<u8>) {
        self.seq += 1;
        self.out.push(Reverse(Pending {
            timestamp,
            seq: self.seq,
            topic,
            key,
            value,
        }));
    }

    /// A terminal report as the record values it is sent as.
    fn wire(&self, report: &proto::TerminalReport) -> Vec<Vec<u8>> {
        match self.raw {
            None => vec![report.encode_to_vec()],
            // Encoding refuses only times outside 2000–2255, which `Simulation::new` rules out
            // for the whole run, and data units over 64 KiB, far above a 10 s report.
            Some(dialect) => {
                frames::encode_report(report, dialect).expect("every simulated report fits a frame")
            }
        }
    }

    /// Sends a terminal report: one record per value, all stamped `sent`, in order.
    fn send(&mut self, sent: i64, values: Vec<Vec<u8>>) {
        let topic = match self.raw {
            None => Out::Telemetry,
            Some(_) => Out::TelemetryRaw,
        };
        for value in values {
            self.push(sent, topic, value);
        }
    }

    fn step(&mut self) {
        let k = self.tick;
        let t = self.tick_secs(k);
        match self.plan.session_at(k).cloned() {
            Some(session) => {
                if k == session.start {
                    self.truck.start_engine(&mut self.rng);
                    self.login(t);
                }
                let sent = self.report(k, t, &session);
                self.roadside(k, t);
                if k + 1 == session.end && session.end < self.plan.ticks {
                    // Anything still stored goes out before the terminal logs out.
                    let last = self.send_backlog(sent, usize::MAX, 100);
                    self.logout(t + 10, last.max((t + 10) * 1_000 + 2_000) + 500);
                }
            }
            None => self.truck.park(10.0),
        }
        if self.plan.reinspection == Some(k) {
            let at = t + self.rng.random_range(0..10);
            let plate = self.papers.plate_at(at);
            let value = messages::reinspection(&self.id, plate, at, &mut self.rng).encode_to_vec();
            let published = (at + self.rng.random_range(60..=600)) * 1_000;
            self.push(published, Out::Reinspections, value);
        }
        self.tick += 1;
    }

    fn frame(&mut self, command: proto::Command, collected_at: i64) -> proto::TerminalReport {
        self.frame_serial = self.frame_serial % 65_535 + 1;
        proto::TerminalReport {
            schema_version: 1,
            vin: self.id.vin.to_string(),
            command: command as i32,
            collected_at: timestamp(collected_at),
            serial: self.frame_serial,
            ..proto::TerminalReport::default()
        }
    }

    fn login(&mut self, t: i64) {
        self.login_serial += 1;
        let mut frame = self.frame(proto::Command::Login, t);
        frame.login = Some(proto::Login {
            login_serial: self.login_serial,
            iccid: self.id.iccid.clone(),
        });
        let sent = t * 1_000 + self.rng.random_range(0..800);
        let values = self.wire(&frame);
        self.send(sent, values);
    }

    fn logout(&mut self, t: i64, sent: i64) {
        let mut frame = self.frame(proto::Command::Logout, t);
        frame.logout = Some(proto::Logout {
            login_serial: self.login_serial,
        });
        let values = self.wire(&frame);
        self.send(sent, values);
    }

    /// Ten seconds of driving as one report: sent live, stored for reissue, or lost. Returns
    /// when the live report was (or would have been) sent.
    fn report(&mut self, k: u32, t: i64, session: &std::ops::Range<u32>) -> i64 {
        let drive = self.plan.drive_at(k, session);
        let mut frame = self.frame(proto::Command::Realtime, t);
        frame.samples = (0..10)
            .map(|i| {
                let values = self.truck.step(drive, &mut self.rng);
                messages::sample(t + i, &values)
            })
            .collect();
        frame.obd = vec![self.obd(k, t)];
        let sent = (t + 10) * 1_000 + self.rng.random_range(0..=2_000);
        match self.plan.silent_at(k) {
            None => {
                let values = self.wire(&frame);
                self.send(sent, values);
                self.send_backlog(sent, REISSUE_PER_TICK as usize, 2_000);
            }
            Some(true) => {
                frame.command = proto::Command::Reissue as i32;
                let values = self.wire(&frame);
                self.backlog.push_back(values);
            }
            Some(false) => {}
        }
        if let Some((at, Tamper::RemovalAlarm)) = self.plan.tamper {
            if at == k {
                self.removal_alarm(t + 5);
            }
        }
        sent
    }

    /// Sends up to `count` stored reports after `after` ms, `spacing` ms apart; returns the
    /// last send time (or `after`).
    fn send_backlog(&mut self, after: i64, count: usize, spacing: i64) -> i64 {
        let mut last = after;
        for _ in 0..count {
            let Some(values) = self.backlog.pop_front() else {
                break;
            };
            last += spacing;
            self.send(last, values);
        }
        last
    }

    fn removal_alarm(&mut self, t: i64) {
        let (lon, lat) = self.truck.position();
        let mut frame = self.frame(proto::Command::RemovalAlarm, t);
        frame.removal_alarm = Some(proto::RemovalAlarm {
            serial: self.frame_serial,
            position: messages::position(lon, lat),
        });
        let sent = t * 1_000 + self.rng.random_range(0..1_000);
        let values = self.wire(&frame);
        self.send(sent, values);
    }

    fn obd(&self, k: u32, t: i64) -> proto::ObdInfo {
        let mil_on = self.plan.mil_from.is_some_and(|from| k >= from);
        let tampered = |kind: Tamper| {
            self.plan
                .tamper
                .is_some_and(|(from, what)| what == kind && k >= from)
        };
        let id = &self.id;
        let (calibration_id, cvn) = if tampered(Tamper::Reflash) {
            (&id.other_calibration_id, &id.other_cvn)
        } else {
            (&id.calibration_id, &id.cvn)
        };
        proto::ObdInfo {
            sampled_at: timestamp(t),
            protocol: proto::ObdProtocol::Iso15765 as i32,
            mil: if mil_on {
                proto::Mil::On
            } else {
                proto::Mil::Off
            } as i32,
            diagnostic_support: messages::DIESEL_MONITORS,
            // All supported monitors complete (0 = complete in the readiness word).
            readiness: 0,
            vin: if tampered(Tamper::ObdVin) {
                id.other_vin
            } else {
                id.vin
            }
            .to_string(),
            calibration_id: calibration_id.clone(),
            cvn: cvn.clone(),
            iupr: self.iupr.clone(),
            dtcs: if mil_on {
                vec![messages::dtc(self.dtc)]
            } else {
                Vec::new()
            },
        }
    }

    /// Checks and remote-sensing passes falling in this tick, each naming the vehicle as its
    /// papers say: by VIN, or by the plate it carries at that moment.
    fn roadside(&mut self, k: u32, t: i64) {
        let position = self.truck.position();
        let checks: Vec<_> = self
            .plan
            .stops
            .iter()
            .zip(&self.papers.check_reads)
            .filter(|(s, _)| s.check_at == k)
            .map(|(s, read)| (s.verdict, read.clone()))
            .collect();
        for (verdict, read) in checks {
            let at = t + self.rng.random_range(0..10);
            let plate = self.papers.plate_at(at);
            let check = messages::manual_check(
                &self.id,
                (plate, &read),
                at,
                position,
                verdict,
                &mut self.rng,
            );
            let published = (at + self.rng.random_range(30..=120)) * 1_000;
            let key = key(&read, plate);
            self.push_keyed(published, Out::Inspections, key, check.encode_to_vec());
        }
        let passes: Vec<_> = self
            .plan
            .passes
            .iter()
            .zip(&self.papers.pass_reads)
            .filter(|(p, _)| p.tick == k)
            .map(|(p, read)| (p.emission, read.clone()))
            .collect();
        for (emission, read) in passes {
            let (id, papers) = (&self.id, &self.papers);
            let (published, key, value) =
                pass(id, papers, t, position, emission, &read, &mut self.rng);
            self.push_keyed(published, Out::Inspections, key, value);
        }
        let strays: Vec<_> = self
            .papers
            .strays
            .iter()
            .filter(|(tick, _)| *tick == k)
            .map(|(_, stray)| Read::Stray(stray.clone()))
            .collect();
        for read in strays {
            let (id, papers) = (&self.id, &self.papers);
            let (published, key, value) = pass(
                id,
                papers,
                t,
                position,
                Emission::Clean,
                &read,
                &mut self.papers_rng,
            );
            self.push_keyed(published, Out::Inspections, key, value);
        }
    }
}

/// A remote-sensing pass in the tick starting at `t`: (published ms, key, value).
fn pass(
    id: &Identity,
    papers: &Papers,
    t: i64,
    position: (f64, f64),
    emission: Emission,
    read: &Read,
    rng: &mut SmallRng,
) -> (i64, Key, Vec<u8>) {
    let at = t + rng.random_range(0..10);
    let plate = papers.plate_at(at);
    let value = messages::remote_sensing(id, (plate, read), at, position, emission, rng);
    let published = (at + rng.random_range(5..=60)) * 1_000;
    (published, key(read, plate), value.encode_to_vec())
}

/// The record key of evidence naming a vehicle as `read` says.
fn key(read: &Read, plate: Plate) -> Key {
    match read {
        Read::Vin => Key::Vin,
        Read::Plate => Key::Plate(plate.to_string()),
        Read::Stray(stray) => Key::Plate(stray.plate.clone()),
    }
}
