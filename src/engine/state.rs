//! Per-vehicle state: small, fixed-size counters and timestamps, never raw samples.
//!
//! Pure data. Every time is a compact `Secs` (0 = never). The layout is budgeted: see the size
//! test at the bottom and BENCHMARKS.md for resident bytes per vehicle.

use crate::model::{Plate, Secs};

#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VehicleState {
    /// Newest event time seen (the vehicle's watermark for lateness and TTL).
    pub last_seen: Secs,
    pub plate: Option<Plate>,
    pub permit: PermitState,
    pub permit_revoked: bool,
    /// A live sample has been seen since the last login or logout: a gap before the next
    /// one lies inside a session.
    pub session_open: bool,
    pub listing: Listing,
    pub stream: StreamState,
    pub nox: Windows,
    pub nox_over_limit: Episodes,
    pub scr_ineffective: Episodes,
    pub reagent: ReagentBuckets,
    pub mil: MilStreak,
    /// The current MIL streak has raised its case.
    pub mil_reported: bool,
    pub tamper: Tamper,
    /// Data gaps waiting for reissue, oldest first.
    pub gaps: [PendingGap; 2],
    /// Last exceedance per remote-sensing pollutant (opacity, NO, Ringelmann).
    pub remote_sensing: [Secs; 3],
    /// Beijing day numbers of the last case of once-a-day rules.
    pub days: CaseDays,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PermitState {
    pub valid_from: Secs,
    pub valid_until: Secs,
}

/// Blacklist membership and history.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Listing {
    /// 0 when not listed.
    pub listed_at: Secs,
    /// `RuleId` bits that caused the current listing.
    pub reasons: u16,
    pub high_priority: bool,
    /// Test time of the re-inspection that ended the last listing: evidence from before it
    /// cannot list the vehicle again.
    pub delisted_at: Secs,
    /// The two newest listings (the current one included while listed), newest first.
    pub history: [Secs; 2],
    /// Listings within the repeat-offender window, the current one included.
    pub repeat_count: u8,
}

/// Where the data stream stands: dedupe cursors, session, odometer.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct StreamState {
    /// Newest real-time sample accepted; older or equal real-time samples are duplicates.
    pub last_live: Secs,
    /// Newest reissued sample accepted.
    pub last_backfill: Secs,
    /// Newest real-time OBD entry accepted.
    pub last_obd: Secs,
    /// Odometer at `last_live`, in 0.1 km; 0 = unknown.
    pub odometer_hm: u32,
}

/// One open tumbling window of the NOx rules.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct WindowSlot {
    /// Window start in seconds since 2000 / window length; 0 = empty.
    pub index: u32,
    /// NOx-valid samples.
    pub valid: u16,
    /// NOx-valid samples over the downstream limit.
    pub over: u16,
    /// NOx-valid samples with upstream at or over the SCR minimum.
    pub conversion_samples: u16,
    /// Sum of their conversion efficiencies, in hundredths (windows are at most 10 min).
    pub conversion_sum: u16,
}

/// Two slots: live data and reissued data fill different windows at the same time.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Windows {
    pub live: WindowSlot,
    pub backfill: WindowSlot,
}

impl Windows {
    /// The slot live or reissued data opens new windows in.
    pub fn slot_mut(&mut self, backfill: bool) -> &mut WindowSlot {
        if backfill {
            &mut self.backfill
        } else {
            &mut self.live
        }
    }
}

/// Counting windows of one windowed rule and the start of its last episode.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Episodes {
    /// The two newest counting window indices, newest first; 0 = none.
    pub recent: [u32; 2],
    /// Window index that started the last episode; 0 = none.
    pub episode_start: u32,
}

/// Moving-while-empty sample counts in six buckets covering the reagent rule's span.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ReagentBuckets {
    /// Bucket index of `counts[0]`.
    pub base: u32,
    pub counts: [u16; 6],
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MilStreak {
    /// First OBD entry of the current MIL-on-with-emission-DTC streak; 0 = no streak.
    pub since: Secs,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Tamper {
    /// Hash of calibration ID and CVN as last reported; 0 = not seen.
    pub firmware: u32,
}

/// A data gap waiting for reissue to fill it.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PendingGap {
    /// 0 = none pending.
    pub start: Secs,
    pub end: Secs,
    /// Reissued samples cover the gap contiguously up to here.
    pub filled_to: Secs,
    /// Odometer advance over the gap, in 0.1 km.
    pub distance_hm: u32,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CaseDays {
    pub terminal_tamper: u16,
    pub blacklisted_entry: u16,
    pub reagent_empty: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_stays_within_budget() {
        // 512 B is the architecture's ceiling and 256 B (including the store's overhead) the
        // aim; BENCHMARKS.md records the measured resident figure.
        let size = std::mem::size_of::<VehicleState>();
        assert!(size <= 192, "VehicleState grew to {size} bytes");
        println!("VehicleState is {size} bytes");
    }
}
