//! Event time. `EventTime` is milliseconds since the Unix epoch (UTC), as Kafka timestamps;
//! `Secs` is the compact form kept in per-vehicle state: seconds since 2000-01-01T00:00:00Z,
//! which covers the protocol's year−2000 encoding until 2136.
//!
//! Calendar days are Beijing days (UTC+8): the terminal protocol, permits and "once per
//! vehicle per calendar day" rules are all in local time.

use std::fmt;

pub const BEIJING_OFFSET_SECS: i64 = 8 * 3600;
const EPOCH_2000_SECS: i64 = 946_684_800;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventTime(pub i64);

/// Seconds since 2000-01-01T00:00:00Z; 0 doubles as "never" in state.
#[derive(
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    Debug,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Secs(pub u32);

impl EventTime {
    pub fn from_unix_secs(secs: i64) -> EventTime {
        EventTime(secs * 1000)
    }

    pub fn unix_secs(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// `None` before 2000 or after 2136: such a time is impossible for this protocol.
    pub fn secs(self) -> Option<Secs> {
        u32::try_from(self.unix_secs() - EPOCH_2000_SECS)
            .ok()
            .map(Secs)
    }

    /// Beijing calendar date as (year, month, day).
    pub fn beijing_date(self) -> (i64, u32, u32) {
        civil_from_days((self.unix_secs() + BEIJING_OFFSET_SECS).div_euclid(86_400))
    }

    /// `YYYYMMDD` in Beijing time, for day-keyed case ids.
    pub fn beijing_day_label(self) -> String {
        let (y, m, d) = self.beijing_date();
        format!("{y:04}{m:02}{d:02}")
    }

    /// `YYYYMMDDTHHMMSS` in Beijing time, for window-keyed case ids.
    pub fn beijing_label(self) -> String {
        let local = self.unix_secs() + BEIJING_OFFSET_SECS;
        let s = local.rem_euclid(86_400);
        format!(
            "{}T{:02}{:02}{:02}",
            self.beijing_day_label(),
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

impl Secs {
    pub fn time(self) -> EventTime {
        EventTime::from_unix_secs(i64::from(self.0) + EPOCH_2000_SECS)
    }

    /// Beijing calendar day number (days since 2000-01-01 local), for once-a-day rules.
    pub fn beijing_day(self) -> u16 {
        ((i64::from(self.0) + BEIJING_OFFSET_SECS) / 86_400) as u16
    }

    pub fn is_never(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Debug for EventTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.rfc3339())
    }
}

impl EventTime {
    /// RFC 3339 in UTC, second precision.
    pub fn rfc3339(self) -> String {
        self.rfc3339_at(0, "Z")
    }

    /// RFC 3339 in Beijing time (`+08:00`), the terminals' clock.
    pub fn rfc3339_beijing(self) -> String {
        self.rfc3339_at(BEIJING_OFFSET_SECS, "+08:00")
    }

    fn rfc3339_at(self, offset_secs: i64, suffix: &str) -> String {
        let secs = self.unix_secs() + offset_secs;
        let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
        let s = secs.rem_euclid(86_400);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}{suffix}",
            s / 3600,
            s / 60 % 60,
            s % 60
        )
    }
}

/// Days since 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Unix seconds of a UTC date-time. Inverse of the calendar above, for tests and decoding.
pub fn unix_secs_from_civil(y: i64, m: u32, d: u32, hh: u32, mm: u32, ss: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + i64::from(hh) * 3600 + i64::from(mm) * 60 + i64::from(ss)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beijing_day_rolls_over_at_16_utc() {
        let t = EventTime::from_unix_secs(unix_secs_from_civil(2026, 11, 28, 15, 59, 59));
        assert_eq!(t.beijing_day_label(), "20261128");
        let t = EventTime::from_unix_secs(unix_secs_from_civil(2026, 11, 28, 16, 0, 0));
        assert_eq!(t.beijing_day_label(), "20261129");
        assert_eq!(t.beijing_label(), "20261129T000000");
    }

    #[test]
    fn calendar_round_trips() {
        for secs in [0i64, 951_782_400, 1_764_288_000, 4_102_444_800] {
            let t = EventTime::from_unix_secs(secs);
            let (y, m, d) = civil_from_days(secs / 86_400);
            assert_eq!(unix_secs_from_civil(y, m, d, 0, 0, 0), secs - secs % 86_400);
            assert!(t.rfc3339().ends_with('Z'));
        }
        assert_eq!(
            EventTime::from_unix_secs(951_782_400).rfc3339(),
            "2000-02-29T00:00:00Z"
        );
    }

    #[test]
    fn compact_seconds_cover_the_protocol_range() {
        assert_eq!(EventTime::from_unix_secs(EPOCH_2000_SECS - 1).secs(), None);
        let t = EventTime::from_unix_secs(unix_secs_from_civil(2026, 1, 1, 0, 0, 0));
        assert_eq!(t.secs().unwrap().time(), t);
    }
}
