//! Per-vehicle state: small, fixed-size sets of times and counters, never raw samples.
//!
//! Pure data. Every time is a compact `Secs` (0 = never). Everything a verdict rests on is kept
//! as a set keyed by event time (runs of covered seconds, windows with the seconds they have
//! seen, counting windows, exceedance times, OBD runs), so evidence gives the same verdict in
//! whatever order it arrives. Each set has a fixed capacity; what overflows is dropped in the
//! direction that can only miss a verdict, never invent one. The layout is budgeted: see the
//! size test at the bottom and BENCHMARKS.md for resident bytes per vehicle.

use crate::model::{Plate, Secs};

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VehicleState {
    /// Newest event time seen (the vehicle's watermark for lateness, fill periods and TTL).
    pub last_seen: Secs,
    pub plate: Option<Plate>,
    pub permits: [PermitState; 3],
    pub listing: Listing,
    pub coverage: Coverage,
    pub nox: [WindowSlot; 3],
    pub nox_over_limit: Episodes,
    pub scr_ineffective: Episodes,
    /// Runs of seconds with reagent empty while moving, oldest first.
    pub reagent: [ReagentRun; 3],
    /// Runs of consecutive OBD entries alike (MIL on with an emission DTC, or not), oldest first.
    pub mil: [MilRun; 3],
    /// Start of the MIL run whose case has been raised.
    pub mil_case: Secs,
    pub tamper: Tamper,
    /// Exceedance times per remote-sensing pollutant (opacity, NO, Ringelmann), oldest first.
    pub remote_sensing: [[Secs; 2]; 3],
    /// Beijing days of the cases of once-a-day rules.
    pub days: CaseDays,
    /// The latest sighting inside Beijing on each of the two newest days with one.
    pub sightings: [Sighting; 2],
}

/// An entry permit held by the vehicle, identified by its validity.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PermitState {
    pub valid_from: Secs,
    /// 0 = empty slot.
    pub valid_until: Secs,
    pub revoked: bool,
}

/// Blacklist membership and history.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Listing {
    /// 0 when not listed.
    pub listed_at: Secs,
    /// `RuleId` bits that caused the current listing.
    pub reasons: u16,
    pub high_priority: bool,
    /// Test time of the newest passing re-inspection, listed or not: evidence from before it
    /// cannot list the vehicle (the truck was repaired after it).
    pub passed_at: Secs,
    /// Test time of the re-inspection that ended the previous listing (`history[..]` before
    /// the current one); 0 = none.
    pub delisted_at: Secs,
    /// The two newest listings (the current one included while listed), newest first.
    pub history: [Secs; 2],
    /// The newest listing evidence: time and `RuleId` bit, newest first. A passing
    /// re-inspection that arrives after evidence dated later than it ends the listing and
    /// starts a new one from that evidence.
    pub evidence: [(Secs, u16); 3],
    /// Listings within the repeat-offender window, the current one included.
    pub repeat_count: u8,
}

impl Listing {
    pub fn is_listed(&self) -> bool {
        !self.listed_at.is_never()
    }

    /// Whether the vehicle was listed at `t`, by a listing that began strictly before it.
    pub fn listed_before(&self, t: Secs) -> bool {
        if self.is_listed() && self.listed_at < t {
            return true;
        }
        // The previous listing, ended by `delisted_at`.
        let previous = if self.is_listed() {
            self.history[1]
        } else {
            self.history[0]
        };
        !previous.is_never() && previous < t && t <= self.delisted_at
    }
}

/// Runs of covered seconds: samples closer than `coverage::JOIN` belong to one run. A hole
/// between two runs is where reissued data may still arrive, unless a login or logout lies in
/// it (`explained`).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Coverage {
    /// Oldest first; `start == 0` = empty slot.
    pub runs: [Run; 4],
    /// Coverage before this is unknown: the vehicle's first sample, or where dropped runs end.
    pub floor: Secs,
    /// Newest login or logout not yet inside a hole.
    pub last_break: Secs,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Run {
    pub start: Secs,
    pub end: Secs,
    /// Odometer at `start` and `end`, in 0.1 km; 0 = unknown.
    pub odo_start: u32,
    pub odo_end: u32,
    /// A login or logout lies in the hole before this run: not a data gap.
    pub explained: bool,
}

/// An undecided tumbling window of the NOx rules and the seconds it has seen.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowSlot {
    /// Window start in seconds since 2000 / window length; 0 = empty slot.
    pub index: u32,
    /// Seconds seen, as up to three runs of offsets `[from, to]` into the window.
    pub seen: [(u16, u16); 3],
    /// NOx-valid samples.
    pub valid: u16,
    /// NOx-valid samples over the downstream limit.
    pub over: u16,
    /// NOx-valid samples with upstream at or over the SCR minimum.
    pub conversion_samples: u16,
    /// `engine::windows` flags: partial (a sample could not be recorded — the window was
    /// opened again after a decision, or is too fragmented — so it may be decided only when its
    /// outcome is certain), and decided per rule.
    pub flags: u8,
    /// Sum of their conversion efficiencies, in millionths (exact in any order).
    pub conversion_sum: u32,
}

/// Counting windows of one windowed rule and the episodes made of them.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Episodes {
    /// Counting window indices not yet inside a raised episode, ascending; 0 = empty.
    pub windows: [u32; 4],
    /// First window of the newest episode whose case has been raised; 0 = none.
    pub last_start: u32,
}

/// Samples with reagent empty while moving, at most `coverage::JOIN` apart.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReagentRun {
    /// First and last sample; `start == 0` = empty slot.
    pub start: Secs,
    pub end: Secs,
    /// Distinct seconds counted in the run.
    pub seconds: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MilRun {
    /// First and last OBD entry of the run; `start == 0` = empty slot.
    pub start: Secs,
    pub end: Secs,
    /// MIL on with an emission-relevant DTC.
    pub faulty: bool,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tamper {
    /// Hash of calibration ID and CVN of the newest entries; 0 = not seen.
    pub firmware: u32,
    /// First and last entry known to report `firmware`.
    pub since: Secs,
    pub until: Secs,
}

/// The Beijing days on which once-a-day rules raised their case.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseDays {
    pub terminal_tamper: DayMask,
    pub blacklisted_entry: DayMask,
    pub reagent_empty: DayMask,
}

/// A set of the 16 Beijing days up to `newest`; a day before them counts as present, so late
/// evidence that old never raises a second case.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DayMask {
    pub newest: u16,
    /// Bit `i`: day `newest - i`.
    pub mask: u16,
}

impl DayMask {
    pub fn contains(&self, day: u16) -> bool {
        match self.newest.checked_sub(day) {
            Some(back) if back < 16 => self.mask & (1 << back) != 0,
            Some(_) => true,
            None => false,
        }
    }

    pub fn insert(&mut self, day: u16) {
        if day > self.newest {
            let shift = u32::from(day - self.newest);
            self.mask = self.mask.checked_shl(shift).unwrap_or(0);
            self.newest = day;
        }
        if let Some(back) = self.newest.checked_sub(day).filter(|&b| b < 16) {
            self.mask |= 1 << back;
        }
    }
}

/// A sighting inside Beijing of an out-of-town vehicle, kept so that a listing that arrives
/// after it (dated before it) can still make its entry case.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Sighting {
    /// 0 = empty slot.
    pub at: Secs,
    pub lon: f32,
    pub lat: f32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_masks_hold_sixteen_days() {
        let mut days = DayMask::default();
        days.insert(100);
        days.insert(98);
        assert!(days.contains(100) && days.contains(98) && !days.contains(99));
        days.insert(110);
        assert!(days.contains(100) && !days.contains(101) && days.contains(110));
        assert!(days.contains(90), "older than the mask: counts as taken");
        assert!(!days.contains(111));
    }

    #[test]
    fn state_stays_within_budget() {
        // 512 B is the architecture's ceiling; BENCHMARKS.md records the measured resident
        // figure per vehicle.
        let size = std::mem::size_of::<VehicleState>();
        assert!(size <= 512, "VehicleState grew to {size} bytes");
        println!("VehicleState is {size} bytes");
    }
}
