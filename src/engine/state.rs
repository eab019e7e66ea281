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
    pub coverage: Coverage,
    /// The NOx window being filled (more, while some wait for reissue, in `rare`).
    pub window: WindowSlot,
    /// Runs of consecutive OBD entries alike (MIL on with an emission DTC, or not), oldest first.
    pub mil: [MilRun; 3],
    pub tamper: Tamper,
    /// The latest sighting inside Beijing of an out-of-town vehicle, on its newest day.
    pub sighting: Sighting,
    /// What most vehicles never need: allocated when first written, dropped when back to
    /// empty, so a clean vehicle costs only the fields above. Shared between a state and the
    /// next until written (`rare_mut` copies it then), so reading it costs no copy.
    pub rare: Option<std::sync::Arc<Rare>>,
}

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rare {
    pub listing: Listing,
    pub permits: [PermitState; 3],
    /// NOx windows waiting for reissue, besides `VehicleState::window`.
    pub windows: [WindowSlot; 4],
    pub nox_over_limit: Episodes,
    pub scr_ineffective: Episodes,
    /// Runs of seconds with reagent empty while moving, oldest first.
    pub reagent: [ReagentRun; 3],
    /// Start of the MIL run whose case has been raised.
    pub mil_case: Secs,
    /// Exceedance times per remote-sensing pollutant (opacity, NO, Ringelmann), oldest first.
    pub remote_sensing: [[Secs; 2]; 3],
    /// Beijing days of the cases of once-a-day rules.
    pub days: CaseDays,
    /// Beijing days of `alert_restriction` cases. Not in the postcard layout of this struct:
    /// the changelog appends it (format 3), so format 2 reads unchanged.
    #[serde(skip)]
    pub alert_days: DayMask,
}

static EMPTY: std::sync::LazyLock<Rare> = std::sync::LazyLock::new(Rare::default);

impl VehicleState {
    /// Window slots: `window`, then those in `rare`.
    pub const SLOTS: usize = 5;

    pub fn rare(&self) -> &Rare {
        self.rare.as_deref().unwrap_or(&EMPTY)
    }

    pub fn rare_mut(&mut self) -> &mut Rare {
        std::sync::Arc::make_mut(self.rare.get_or_insert_with(Default::default))
    }

    /// Frees `rare` when it holds nothing (only worth asking after it was written).
    pub fn compact(&mut self) {
        if self.rare.as_deref().is_some_and(|r| *r == *EMPTY) {
            self.rare = None;
        }
    }

    pub fn listing(&self) -> &Listing {
        &self.rare().listing
    }

    /// Window slot `i` (0..SLOTS); slots in an unallocated `rare` read as empty.
    pub fn slot(&self, i: usize) -> &WindowSlot {
        match i {
            0 => &self.window,
            _ => &self.rare().windows[i - 1],
        }
    }

    pub fn slot_mut(&mut self, i: usize) -> &mut WindowSlot {
        match i {
            0 => &mut self.window,
            _ => &mut self.rare_mut().windows[i - 1],
        }
    }

    /// Slots that exist without allocating: `window`, and `rare`'s when allocated.
    pub fn allocated_slots(&self) -> usize {
        if self.rare.is_some() {
            Self::SLOTS
        } else {
            1
        }
    }
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
/// between two runs is where reissued data may still arrive; a login or logout in it
/// (`breaks`) means the terminal was not in a session for part of it.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Coverage {
    /// Oldest first; `start == 0` = empty slot.
    pub runs: [Run; 4],
    /// The earliest login or logout in each hole and after the last run, ascending; 0 = empty.
    pub breaks: [Secs; 4],
    /// The latest login in each hole and after the last run, ascending; 0 = empty.
    pub logins: [Secs; 4],
    /// The vehicle's first sample: nothing before it is waited for.
    pub floor: Secs,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Run {
    pub start: Secs,
    pub end: Secs,
    /// Odometer at `start` and `end`, in 0.1 km; 0 = unknown.
    pub odo_start: u32,
    pub odo_end: u32,
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
    pub windows: [u32; 6],
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
        // The architecture's budget is 512 B per tracked vehicle on average (aim 256); a clean
        // vehicle costs the hot part only, one with listings, permits, pending windows or
        // reagent runs adds `Rare`. BENCHMARKS.md records the measured resident figures.
        let size = std::mem::size_of::<VehicleState>();
        let rare = std::mem::size_of::<Rare>();
        assert!(size <= 216, "VehicleState grew to {size} bytes");
        println!("VehicleState is {size} bytes, Rare {rare} bytes");
        println!(
            "listing {} permits {} slot {} episodes {} reagent {} coverage {} mil {} days {} sighting {}",
            std::mem::size_of::<Listing>(),
            std::mem::size_of::<[PermitState; 3]>(),
            std::mem::size_of::<WindowSlot>(),
            std::mem::size_of::<Episodes>(),
            std::mem::size_of::<[ReagentRun; 3]>(),
            std::mem::size_of::<Coverage>(),
            std::mem::size_of::<[MilRun; 3]>(),
            std::mem::size_of::<CaseDays>(),
            std::mem::size_of::<Sighting>(),
        );
        assert!(size + rare <= 560, "with Rare: {} bytes", size + rare);
    }
}
