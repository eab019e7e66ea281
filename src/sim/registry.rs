//! The simulated vehicle registry and how roadside evidence names a vehicle: each vehicle's
//! paperwork (plate history, category, operator, first registration), whether a permit, a
//! remote-sensing pass or a manual check names it by VIN or by plate only, and the fleet-wide
//! deal of plate transfers, late registrations and stray plate reads.
//!
//! Real stations see plates, not VINs (domain.md §5), so most remote-sensing passes and permits
//! name the plate only and tailwatch must resolve (plate, colour) at the evidence's time to the
//! vehicle that carried it. The deal makes that resolution matter: a few vehicles change plates
//! mid-run and their old plate later goes to another vehicle, a few registrations reach the
//! registry topic hours after evidence naming their plate, and a few reads name no vehicle at
//! all (a plate nobody carries, characters a plate never has, no colour), which tailwatch must
//! dead-letter. Nothing here changes a vehicle's physics or faults: every draw comes from
//! streams of their own, so a vehicle drives as it would with VIN-keyed evidence only.

use rand::rngs::SmallRng;
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;

use super::fleet::mint_plate;
use super::needs::Needs;
use crate::model::Plate;
use crate::proto;

/// Shares of evidence naming the plate only: permits are issued to plates, stations read them,
/// and officers at a checkpoint mostly read the VIN off the chassis.
const PERMITS_BY_PLATE: f64 = 0.75;
const PASSES_BY_PLATE: f64 = 0.7;
const CHECKS_BY_PLATE: f64 = 0.1;
/// Vehicles per plate transfer (two vehicles each) and per late registration, rounded up, and
/// the most of each in a run.
const VEHICLES_PER_TRANSFER: usize = 100;
const VEHICLES_PER_LATE_REGISTRATION: usize = 100;
const AT_MOST: usize = 10;
/// How long after the first evidence naming its plate a late registration is published.
const LATE_BY_SECS: (i64, i64) = (5 * 60, 6 * 3_600);
/// A read of a plate nobody carries is given up once evidence on its partition is `hold` newer;
/// this much more leaves time for some to arrive.
const GIVE_UP_MARGIN_SECS: i64 = 30 * 60;
/// Evidence and registration changes keep this far apart, so that a record's few seconds of
/// publication delay never put it on the wrong side of a plate change.
const CLEARANCE_SECS: i64 = 5 * 60;

/// Made-up fleet operators; most heavy trucks run for one.
const OPERATORS: [&str; 8] = [
    "Northgate Haulage Co.",
    "Twin Rivers Freight Ltd.",
    "Ironhill Bulk Transport",
    "Greywater Logistics",
    "Longmarch Carriers",
    "Redbrick Container Lines",
    "Eastern Span Heavy Haul",
    "Stonebridge Aggregates Transport",
];

/// How a piece of roadside evidence names its vehicle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Read {
    /// The VIN (the officer read it, or the platform joined the plate already).
    Vin,
    /// The plate the vehicle carries at the evidence's time, VIN left empty.
    Plate,
    /// A plate no vehicle of the run carries then: tailwatch dead-letters it.
    Stray(Stray),
}

/// A plate read that names no vehicle, with the dead-letter reason tailwatch gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stray {
    pub plate: String,
    /// Protobuf `PlateColour` code; 0 when the camera could not tell.
    pub colour: i32,
    pub reason: StrayReason,
    /// A plate nobody carries read too late in the run to be given up before it ends: still
    /// held for its registration at the end.
    pub held_at_end: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum StrayReason {
    /// A well-formed plate no vehicle is registered with.
    UnknownPlate,
    /// A read breaking the plate grammar, or without a plate colour.
    InvalidPlate,
}

impl StrayReason {
    /// The DLQ reason tailwatch records.
    pub fn as_str(self) -> &'static str {
        match self {
            StrayReason::UnknownPlate => "unknown_plate",
            StrayReason::InvalidPlate => "invalid_plate",
        }
    }
}

/// One registration record: the vehicle carries `plate` since `from`; published at
/// `published_ms` on the registry topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registration {
    pub plate: Plate,
    /// Unix seconds.
    pub from: i64,
    pub published_ms: i64,
}

/// A vehicle's registry entry and how its evidence names it.
#[derive(Debug, Clone)]
pub struct Papers {
    pub category: &'static str,
    pub operator: String,
    pub operating: Option<bool>,
    /// First registration, unix seconds.
    pub first_registered: i64,
    /// Ordered by `from`; the first is the plate it starts the run with.
    pub registrations: Vec<Registration>,
    pub permit_by_plate: bool,
    /// Per remote-sensing pass of the plan, in plan order.
    pub pass_reads: Vec<Read>,
    /// Per checkpoint stop of the plan, in plan order.
    pub check_reads: Vec<Read>,
    /// Extra clean remote-sensing passes whose plate was misread: (tick, read).
    pub strays: Vec<(u32, Stray)>,
}

impl Papers {
    /// The paperwork a vehicle starts the run with: its plate since well before the run,
    /// registered at the run's start; each pass, check and permit naming it by plate or VIN.
    pub fn draw(
        plate: Plate,
        category: &'static str,
        start_secs: i64,
        passes: usize,
        checks: usize,
        rng: &mut SmallRng,
    ) -> Papers {
        const DAY: i64 = 86_400;
        let from = start_secs - rng.random_range(30 * DAY..=5 * 365 * DAY);
        // Most trucks keep the plate they were first registered with.
        let first_registered = if rng.random_bool(0.7) {
            from
        } else {
            from - rng.random_range(100 * DAY..=2_000 * DAY)
        };
        let (operator, operating) = match rng.random_range(0..20) {
            0..16 => (
                OPERATORS.choose(rng).expect("listed").to_string(),
                Some(true),
            ),
            16..19 => (String::new(), Some(true)),
            _ => (String::new(), None),
        };
        let read = |share: f64, rng: &mut SmallRng| {
            if rng.random_bool(share) {
                Read::Plate
            } else {
                Read::Vin
            }
        };
        Papers {
            category,
            operator,
            operating,
            first_registered,
            registrations: vec![Registration {
                plate,
                from,
                published_ms: start_secs * 1_000,
            }],
            permit_by_plate: rng.random_bool(PERMITS_BY_PLATE),
            pass_reads: (0..passes).map(|_| read(PASSES_BY_PLATE, rng)).collect(),
            check_reads: (0..checks).map(|_| read(CHECKS_BY_PLATE, rng)).collect(),
            strays: Vec::new(),
        }
    }

    /// The plate carried at `at` (unix seconds).
    pub fn plate_at(&self, at: i64) -> Plate {
        self.registrations
            .iter()
            .rev()
            .find(|r| r.from <= at)
            .unwrap_or(&self.registrations[0])
            .plate
    }

    /// The registration records, as published.
    pub fn records(&self, id: &super::fleet::Identity) -> Vec<(i64, proto::VehicleRegistration)> {
        self.registrations
            .iter()
            .map(|r| {
                (
                    r.published_ms,
                    super::messages::registration(id, self, r.plate, r.from),
                )
            })
            .collect()
    }
}

/// What the deal needs to know of one vehicle.
#[derive(Debug, Clone)]
pub struct Sighting {
    pub plate: Plate,
    pub faulty: bool,
    pub has_permit: bool,
    /// Unix seconds at which each remote-sensing pass's tick starts (the pass is within 10 s).
    pub passes: Vec<i64>,
    /// Each checkpoint check's tick start.
    pub checks: Vec<i64>,
    /// Driving sessions as tick ranges, with the tick start of tick 0 (`base`, unix seconds).
    pub base: i64,
    pub sessions: Vec<std::ops::Range<u32>>,
    /// Ticks a stray pass must avoid (stops and the vehicle's own passes).
    pub busy: Vec<std::ops::Range<u32>>,
}

/// What the deal gave the fleet, by vehicle index (the stray reads also go into the truth).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deal {
    /// (vehicle that changed plates, vehicle that got its old plate).
    pub transfers: Vec<(usize, usize)>,
    pub late: Vec<usize>,
    /// (host vehicle, the stray read), in deal order.
    pub strays: Vec<(usize, Stray)>,
}

/// Deals plate transfers, late registrations and `strays` stray reads over the fleet,
/// changing `papers` in place. `end_secs` is the end of the run; fresh plates are minted from
/// serial indexes at and above `papers.len()`, which no vehicle of the fleet uses.
///
/// Scheduled under the run's rules (`needs`) like the faults: a late registration arrives
/// while the evidence naming its plate is still held, and a read of a plate nobody carries is
/// placed early enough to be given up within the run when a drive allows, else marked held.
pub fn deal(
    sightings: &[Sighting],
    papers: &mut [Papers],
    (start_secs, end_secs): (i64, i64),
    strays: usize,
    needs: &Needs,
    rng: &mut SmallRng,
) -> Deal {
    let n = sightings.len();
    let mut fresh_index = n;
    let mut fresh_plate = |province: char, rng: &mut SmallRng| {
        fresh_index += 1;
        mint_plate(province, fresh_index - 1, rng)
    };
    let mut taken = vec![false; n];
    let mut deal = Deal::default();

    // Plate transfers: X moves from plate P to a fresh plate Q at T and is next seen by plate
    // after T; Y, of the same province, moves from its own plate to P at T2 > T and is next
    // seen by plate after T2. Nobody names P between T and T2.
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(rng);
    let wanted = n.div_ceil(VEHICLES_PER_TRANSFER).min(AT_MOST);
    let earliest_t = start_secs + 20 * 60;
    // X needs a pass T can precede; Y a pass T < T2 can both precede.
    let fits_x = |at: i64| at - CLEARANCE_SECS >= earliest_t;
    let fits_y = |at: i64| at - 2 * CLEARANCE_SECS >= earliest_t;
    for &x in &order {
        if deal.transfers.len() == wanted {
            break;
        }
        if taken[x] {
            continue;
        }
        let Some(pass_x) = sightings[x].passes.iter().position(|&at| fits_x(at)) else {
            continue;
        };
        let province = sightings[x].plate.region();
        let Some((y, pass_y)) = order.iter().find_map(|&y| {
            let s = &sightings[y];
            let fitting = s.passes.iter().position(|&at| fits_y(at));
            (y != x && !taken[y] && s.plate.region() == province)
                .then_some(fitting)
                .flatten()
                .map(|pass| (y, pass))
        }) else {
            continue;
        };
        let seen_x = sightings[x].passes[pass_x];
        let seen_y = sightings[y].passes[pass_y];
        // T before X's pass, T2 after T and before Y's pass.
        let latest_t = (seen_x - CLEARANCE_SECS).min(seen_y - 2 * CLEARANCE_SECS);
        let t = rng.random_range(earliest_t..=latest_t);
        let t2 = rng.random_range(t + CLEARANCE_SECS..=seen_y - CLEARANCE_SECS);
        // Neither may name a plate around its change: evidence within the clearance of T
        // (X) or T2 (Y) would race the registration.
        let near = |s: &Sighting, at: i64| {
            s.passes
                .iter()
                .chain(&s.checks)
                .any(|&e| (e - at).abs() < CLEARANCE_SECS)
        };
        if near(&sightings[x], t) || near(&sightings[y], t2) {
            continue;
        }
        let old = papers[x].registrations[0].plate;
        let q = fresh_plate(province, rng);
        papers[x].registrations.push(Registration {
            plate: q,
            from: t,
            published_ms: t * 1_000,
        });
        papers[x].pass_reads[pass_x] = Read::Plate;
        papers[y].registrations.push(Registration {
            plate: old,
            from: t2,
            published_ms: t2 * 1_000,
        });
        papers[y].pass_reads[pass_y] = Read::Plate;
        taken[x] = true;
        taken[y] = true;
        deal.transfers.push((x, y));
    }

    // Late registrations: a clean vehicle named by plate whose registration reaches the topic
    // minutes to hours after the first evidence naming its plate (but within the run, so the
    // evidence is resolved by its end). Clean, so held evidence can change no verdict.
    let wanted = n.div_ceil(VEHICLES_PER_LATE_REGISTRATION).min(AT_MOST);
    for &v in &order {
        if deal.late.len() == wanted {
            break;
        }
        if taken[v] || sightings[v].faulty {
            continue;
        }
        let permit = (sightings[v].has_permit && papers[v].permit_by_plate).then_some(start_secs);
        let pass = sightings[v]
            .passes
            .iter()
            .zip(&papers[v].pass_reads)
            .find(|(_, r)| **r == Read::Plate)
            .map(|(&at, _)| at);
        let check = sightings[v]
            .checks
            .iter()
            .zip(&papers[v].check_reads)
            .find(|(_, r)| **r == Read::Plate)
            .map(|(&at, _)| at);
        let Some(first) = [permit, pass, check].into_iter().flatten().min() else {
            continue;
        };
        let latest = LATE_BY_SECS
            .1
            .min(needs.latest_registration() - CLEARANCE_SECS)
            .min(end_secs - CLEARANCE_SECS - first);
        if latest < LATE_BY_SECS.0 {
            continue;
        }
        let published = first + rng.random_range(LATE_BY_SECS.0..=latest);
        papers[v].registrations[0].published_ms = published * 1_000;
        taken[v] = true;
        deal.late.push(v);
    }

    // Stray reads, cycling through the three ways a read names no vehicle, each on a clean
    // vehicle's drive away from its own stops and passes. A plate nobody carries goes to the
    // DLQ only once held for `plate_reads.hold`: read by `given_up_by` when a drive allows.
    let given_up_by = end_secs - needs.plate_hold() - GIVE_UP_MARGIN_SECS;
    let last = end_secs - CLEARANCE_SECS;
    for k in 0..strays {
        let reason = match k % 3 {
            0 => StrayReason::UnknownPlate,
            _ => StrayReason::InvalidPlate,
        };
        let by = match reason {
            StrayReason::UnknownPlate => given_up_by,
            StrayReason::InvalidPlate => last,
        };
        // A plate nobody carries that cannot be read in time is read anyway, and held at the end.
        let Some((host, tick)) = place(sightings, &order, &taken, by, rng)
            .or_else(|| place(sightings, &order, &taken, last, rng))
        else {
            break;
        };
        let at = sightings[host].base + 10 * i64::from(tick);
        let own = papers[host].plate_at(at);
        let yellow = proto::PlateColour::Yellow as i32;
        let stray = match k % 3 {
            0 => Stray {
                plate: fresh_plate(own.region(), rng).to_string(),
                colour: yellow,
                reason,
                held_at_end: at > given_up_by,
            },
            1 => Stray {
                plate: misread(&own.to_string()),
                colour: yellow,
                reason,
                held_at_end: false,
            },
            _ => Stray {
                plate: own.to_string(),
                colour: proto::PlateColour::Unspecified as i32,
                reason,
                held_at_end: false,
            },
        };
        papers[host].strays.push((tick, stray.clone()));
        taken[host] = true;
        deal.strays.push((host, stray));
    }
    deal
}

/// A clean vehicle not yet dealt anything and a tick of its driving, six minutes into a drive
/// and six before its end (the pull-over), clear of its stops and passes, starting by `by`.
fn place(
    sightings: &[Sighting],
    order: &[usize],
    taken: &[bool],
    by: i64,
    rng: &mut SmallRng,
) -> Option<(usize, u32)> {
    order
        .iter()
        .filter(|&&v| !taken[v] && !sightings[v].faulty)
        .find_map(|&v| {
            let s = &sightings[v];
            let last = u32::try_from((by - s.base).div_euclid(10)).ok()?;
            let session = s
                .sessions
                .iter()
                .find(|r| r.start + 6 * 6 < r.end.min(last).saturating_sub(6 * 6))?;
            let tick = rng.random_range(session.start + 6 * 6..session.end.min(last) - 6 * 6);
            let clear = s
                .busy
                .iter()
                .all(|b| tick + 3 < b.start || tick > b.end + 3);
            clear.then_some((v, tick))
        })
}

/// The plate as a camera confusing look-alikes reads it: a 0 taken for O, else a 1 for I,
/// else the last character for O. Plates never carry I or O, so the read is invalid.
fn misread(plate: &str) -> String {
    let (prefix, serial) = plate.split_at(plate.char_indices().nth(2).expect("long enough").0);
    let read = if serial.contains('0') {
        serial.replacen('0', "O", 1)
    } else if serial.contains('1') {
        serial.replacen('1', "I", 1)
    } else {
        let mut s = serial.to_owned();
        s.pop();
        s.push('O');
        s
    };
    format!("{prefix}{read}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn misreads_break_the_plate_grammar() {
        for plate in ["京A12345", "冀F0K2M1", "津B23456", "晋C1A2B3"] {
            let read = misread(plate);
            assert!(Plate::parse(plate).is_ok());
            assert!(Plate::parse(&read).is_err(), "{plate} → {read}");
            assert_eq!(read.chars().count(), plate.chars().count());
            assert!(read.contains('O') || read.contains('I'), "{read}");
        }
    }
}
