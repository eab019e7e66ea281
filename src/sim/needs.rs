//! What a run must hold for tailwatch to decide each injectable fault under the run's rules, in
//! the plan's 10-second ticks: when, after a faulty vehicle's first login, the fault may begin,
//! how long the evidence it rests on then lasts (a MIL streak, a silence, the time between two
//! remote-sensing passes), and how long after that the rules decide it. `plan` schedules each
//! fault inside these bounds; `Simulation` leaves out of the default fault mix what no vehicle of
//! the run could have decided, and marks the rest `undecidable` in the truth.
//!
//! Only the rules' timing parameters are read: MIL streak, fill period, gap length and distance,
//! NOx windows and episodes, urea span, remote-sensing repeat span, grace, and how long
//! plate-only evidence is held for its registration. The simulated trucks
//! keep their values clear of the default thresholds; [`unmodelled`] names the keys a run's
//! rules change that the simulator does not follow. The lead times of the physical faults
//! (NOx, SCR, urea) are estimates with slack over what the trucks show (`truck`), held to by
//! the ground-truth tests. Pure: no randomness here.

use std::time::Duration;

use super::fleet::INJECTABLE;
use super::plan::{MIN, REISSUE_PER_TICK};
use crate::engine::Rules;
use crate::model::RuleId;

/// Faults are scheduled to be decided at least this long before the vehicle's data ends.
pub const MARGIN: u32 = 5 * MIN;

/// Warm-up allowance before a faulty catalyst's windows count: over 40 seeds the simulated
/// trucks had three counting 5-minute windows within 22 minutes of their first login.
const WARM_UP: u32 = 12 * MIN;
/// A truck running dry of urea reads 0 % within 20 minutes of driving (`truck` tests it).
const READS_EMPTY: u32 = 20 * MIN;

/// Where a fault may be scheduled and when it is decided, in ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// From the vehicle's first login to the fault's onset: the range the plan draws from.
    pub onset: (u32, u32),
    /// From the onset to the end of what the decision rests on (equal bounds: not drawn).
    pub span: (u32, u32),
    /// From the end of the span to the decision.
    pub after: u32,
}

impl Schedule {
    /// From the first login to the decision, with everything drawn at its earliest.
    pub fn earliest(&self) -> u32 {
        self.onset.0 + self.span.0 + self.after
    }
}

/// The timing parameters of a run's rules, in seconds.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    window: u32,
    /// (windows_per_episode, episode_span) of nox_over_limit and scr_ineffective.
    episodes: [(u32, u32); 2],
    /// reagent_empty (min_duration, within).
    reagent: (u32, u32),
    mil: u32,
    /// data_gap (min_gap, min_distance_km).
    gap: (u32, f64),
    fill: u32,
    repeat_within: u32,
    grace: u32,
    /// plate_reads.hold.
    hold: u32,
}

fn ticks(secs: u32) -> u32 {
    secs.div_ceil(10)
}

/// As `config/rules.toml` writes durations: "7d", "72h", else humantime's "1h 30m".
fn span(secs: u64) -> String {
    match secs {
        s if s >= 7 * 86_400 && s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s >= 3_600 && s % 3_600 == 0 => format!("{}h", s / 3_600),
        s => humantime::format_duration(Duration::from_secs(s)).to_string(),
    }
}

impl Needs {
    pub fn new(rules: &Rules) -> Needs {
        Needs {
            window: rules.nox_validity.window.0,
            episodes: [
                (
                    rules.nox_over_limit.windows_per_episode,
                    rules.nox_over_limit.episode_span.0,
                ),
                (
                    rules.scr_ineffective.windows_per_episode,
                    rules.scr_ineffective.episode_span.0,
                ),
            ],
            reagent: (
                rules.reagent_empty.min_duration.0,
                rules.reagent_empty.within.0,
            ),
            mil: rules.mil_emission_fault.min_duration.0,
            gap: (rules.data_gap.min_gap.0, rules.data_gap.min_distance_km),
            fill: rules.data_gap.fill_within.0,
            repeat_within: rules.remote_sensing_repeat.repeat_within.0,
            grace: rules.time.grace.0,
            hold: rules.plate_reads.hold.0,
        }
    }

    /// How long after the evidence naming its plate a registration may arrive and still have
    /// that evidence applied: within the hold (else it is given up as an unknown plate) and
    /// within grace (else, once resolved, it is late), seconds.
    pub fn latest_registration(&self) -> i64 {
        i64::from(self.hold.min(self.grace))
    }

    /// How long a plate read naming no registered vehicle is held before the DLQ, seconds.
    pub fn plate_hold(&self) -> i64 {
        i64::from(self.hold)
    }

    /// Why a read of a plate nobody carries is still held when the run ends.
    pub fn why_held(&self, run_secs: u64) -> String {
        format!(
            "held {} for a registration (plate_reads.hold), the run is {}",
            span(self.hold.into()),
            span(run_secs)
        )
    }

    /// # Panics
    /// For `repeat_offender`, which is not injectable.
    pub fn schedule(&self, fault: RuleId) -> Schedule {
        let at = |after| Schedule {
            onset: (0, 0),
            span: (0, 0),
            after,
        };
        let episode = |(windows, _): (u32, u32)| {
            // Not every window of a drive counts: allow half as many again.
            WARM_UP + (3 * windows * ticks(self.window)).div_ceil(2)
        };
        match fault {
            RuleId::NoxOverLimit => at(episode(self.episodes[0])),
            RuleId::ScrIneffective => at(episode(self.episodes[1])),
            // Moving at least half the time (lights, queues).
            RuleId::ReagentEmpty => at(READS_EMPTY + 2 * ticks(self.reagent.0)),
            RuleId::MilEmissionFault => Schedule {
                onset: (0, 30 * MIN),
                span: (self.mil_ticks(), self.mil_ticks()),
                after: 0,
            },
            RuleId::TerminalTamper => Schedule {
                onset: (20 * MIN, 90 * MIN),
                span: (0, 0),
                after: MIN,
            },
            RuleId::DataGap => {
                let shortest = self.shortest_silence();
                Schedule {
                    onset: (30 * MIN, 75 * MIN),
                    span: (shortest, shortest + 20 * MIN),
                    // The first sample at or after the gap's end plus the fill period.
                    after: ticks(self.fill) + 1,
                }
            }
            // Halted up to 12 minutes; the check is published up to 2 minutes after.
            RuleId::RoadsideFail => Schedule {
                onset: (20 * MIN, 80 * MIN),
                span: (0, 0),
                after: 14 * MIN,
            },
            RuleId::BlacklistedEntry => Schedule {
                onset: (15 * MIN, 45 * MIN),
                span: (0, 0),
                after: 15 * MIN,
            },
            RuleId::RemoteSensingRepeat => {
                // Each pass is measured within its tick: keep both inside the repeat span.
                let most = (self.repeat_within.saturating_sub(10) / 10).min(90 * MIN);
                Schedule {
                    onset: (20 * MIN, 60 * MIN),
                    span: ((30 * MIN).min(most), most),
                    after: 2 * MIN,
                }
            }
            RuleId::RepeatOffender | RuleId::AlertRestriction => {
                unreachable!("{} is not injectable", fault.as_str())
            }
        }
    }

    /// Ticks of MIL on a streak must span: the first entry and the one `min_duration` later.
    pub fn mil_ticks(&self) -> u32 {
        ticks(self.mil)
    }

    /// Whole ticks in the fill period: a gap whose first sample after it comes at tick `b` is
    /// decided only by a sample at or after `b + fill_ticks()` (rounded down, so a gap ending
    /// later than `ticks - fill_ticks()` is never decided in a run of `ticks`).
    pub fn fill_ticks(&self) -> u32 {
        self.fill / 10
    }

    /// The shortest deliberate silence: a data gap by length and, driven on the highway at
    /// 40 km/h or more, by distance, with 10 minutes to spare.
    fn shortest_silence(&self) -> u32 {
        let (min_gap, min_km) = self.gap;
        // 9 ticks = 90 s per km at 40 km/h; `as` saturates absurd distances.
        let by_distance = (min_km * 9.0).ceil() as u32;
        (40 * MIN)
            .max(ticks(min_gap).saturating_add(10 * MIN))
            .max(by_distance.saturating_add(10 * MIN))
    }

    /// The longest outage of a clean vehicle whose reissue is caught up a minute inside the
    /// fill period (else the hole would be judged a data gap) and stays within grace (else the
    /// reissue would be late).
    pub fn longest_outage(&self) -> u32 {
        let by_fill = REISSUE_PER_TICK * (self.fill / 10).saturating_sub(MIN + 1);
        let by_grace = (self.grace / 10).saturating_sub(MIN);
        by_fill.min(by_grace)
    }

    /// Why no run can decide the fault under these rules, if none can.
    pub fn impossible(&self, fault: RuleId) -> Option<String> {
        match fault {
            RuleId::NoxOverLimit | RuleId::ScrIneffective => {
                let (windows, episode_span) = match fault {
                    RuleId::NoxOverLimit => self.episodes[0],
                    _ => self.episodes[1],
                };
                (episode_span / self.window < windows).then(|| {
                    format!(
                        "{}.episode_span {} holds fewer than {windows} windows of {}",
                        fault.as_str(),
                        span(episode_span.into()),
                        span(self.window.into())
                    )
                })
            }
            RuleId::ReagentEmpty => {
                let (min, within) = self.reagent;
                (within < 2 * min).then(|| {
                    format!(
                        "the simulated trucks halt at lights: {} moving on an empty tank within {} \
                         (reagent_empty.min_duration, within) is not assured",
                        span(min.into()),
                        span(within.into())
                    )
                })
            }
            RuleId::RemoteSensingRepeat => (self.schedule(fault).span.1 == 0).then(|| {
                format!(
                    "two remote-sensing passes within {} (remote_sensing_repeat.repeat_within) \
                     are not simulated",
                    span(self.repeat_within.into())
                )
            }),
            _ => None,
        }
    }

    /// Whether every vehicle given `fault` in a run of at least `ticks` has it decided.
    pub fn decidable(&self, fault: RuleId, ticks: u32) -> bool {
        self.impossible(fault).is_none()
            && self.schedule(fault).earliest().saturating_add(MARGIN) <= ticks
    }

    /// Why a fault cannot be decided in a run of `run_secs`, in a few words.
    pub fn why(&self, fault: RuleId, run_secs: u64) -> String {
        if let Some(why) = self.impossible(fault) {
            return why;
        }
        let run = span(run_secs);
        match fault {
            RuleId::MilEmissionFault => format!(
                "needs {} of MIL on (mil_emission_fault.min_duration), the run is {run}",
                span(self.mil.into())
            ),
            RuleId::DataGap => format!(
                "decided {} after the gap ends (data_gap.fill_within), the run is {run}",
                span(self.fill.into())
            ),
            _ => {
                let needed = self.schedule(fault).earliest() + MARGIN;
                format!(
                    "needs about {} of driving to be decided, the run is {run}",
                    span(u64::from(needed) * 10)
                )
            }
        }
    }
}

/// Rule parameters the simulator follows (timing) or that do not change what fires (fines,
/// labels, the boundary marking, and the repeat-offender escalation, which is not a fault).
const FOLLOWED: &[&str] = &[
    "nox_validity.window",
    "nox_over_limit.windows_per_episode",
    "nox_over_limit.episode_span",
    "scr_ineffective.windows_per_episode",
    "scr_ineffective.episode_span",
    "reagent_empty.min_duration",
    "reagent_empty.within",
    "mil_emission_fault.min_duration",
    "data_gap.min_gap",
    "data_gap.min_distance_km",
    "data_gap.fill_within",
    "remote_sensing_repeat.repeat_within",
    "roadside_fail.standard",
    "remote_sensing_repeat.standard",
    // The simulated routes lie well inside Beijing, by any boundary.
    "blacklisted_entry.boundary",
    "blacklisted_entry.near_boundary_km",
];

/// Far more plate reads than a simulated run holds at once (the evidence of at most ten late
/// registrations, and the default stray reads of plates nobody carries): a lower limit may give
/// some up before their registration arrives.
const MOST_HELD: u32 = 100;

/// Roadside records reach the stream up to 10 minutes after their test: a shorter grace would
/// turn them away as late.
const SLOWEST_PUBLICATION: u32 = 15 * 60;

/// The keys whose values differ between `rules` and `defaults` that the simulator does not
/// follow (value thresholds, `time.vehicle_ttl`, a grace too short for roadside records),
/// sorted: the truth assumes their defaults.
pub fn unmodelled(rules: &Rules, defaults: &Rules) -> Vec<String> {
    let mut changed: Vec<String> = RuleId::ALL
        .iter()
        .filter(|rule| INJECTABLE.contains(rule))
        .flat_map(|&rule| {
            let ours = rules.parameters(rule);
            defaults
                .parameters(rule)
                .into_iter()
                .filter(move |p| !ours.contains(p))
                .map(|(key, _)| key)
        })
        .filter(|key| !key.ends_with(".fine_yuan") && !FOLLOWED.contains(&key.as_str()))
        .collect();
    if rules.time.vehicle_ttl != defaults.time.vehicle_ttl {
        changed.push("time.vehicle_ttl".to_owned());
    }
    if rules.time.grace != defaults.time.grace && rules.time.grace.0 < SLOWEST_PUBLICATION {
        changed.push("time.grace".to_owned());
    }
    if rules.plate_reads.max_held < MOST_HELD {
        changed.push("plate_reads.max_held".to_owned());
    }
    changed.sort();
    changed.dedup();
    changed
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{default_rules, rules_from_str};
    use crate::sim::fleet::INJECTABLE;
    use crate::sim::plan::HOUR;

    fn needs(overrides: &str) -> Needs {
        Needs::new(&rules_from_str(Some(("test", overrides))).unwrap())
    }

    #[test]
    fn six_hours_decide_all_but_the_long_waits_of_the_default_rules() {
        let defaults = needs("");
        let undecidable: Vec<RuleId> = INJECTABLE
            .iter()
            .copied()
            .filter(|&f| !defaults.decidable(f, 6 * HOUR - 1))
            .collect();
        assert_eq!(
            undecidable,
            [RuleId::MilEmissionFault, RuleId::DataGap],
            "{defaults:?}"
        );
        assert_eq!(
            defaults.why(RuleId::MilEmissionFault, 6 * 3_600),
            "needs 72h of MIL on (mil_emission_fault.min_duration), the run is 6h"
        );
        assert_eq!(
            defaults.why(RuleId::DataGap, 6 * 3_600),
            "decided 7d after the gap ends (data_gap.fill_within), the run is 6h"
        );
        let shortened =
            needs("[mil_emission_fault]\nmin_duration = \"2h\"\n[data_gap]\nfill_within = \"1h\"");
        assert!(INJECTABLE
            .iter()
            .all(|&f| shortened.decidable(f, 6 * HOUR - 1)));
        // An hour still decides every other kind; 45 minutes not two passes 30 minutes apart.
        let hour: Vec<RuleId> = INJECTABLE
            .iter()
            .copied()
            .filter(|&f| !defaults.decidable(f, HOUR - 1))
            .collect();
        assert_eq!(hour, undecidable);
        assert!(defaults.decidable(RuleId::TerminalTamper, 45 * MIN - 1));
        assert!(!defaults.decidable(RuleId::RemoteSensingRepeat, 45 * MIN - 1));
        assert_eq!(
            defaults.why(RuleId::RemoteSensingRepeat, 45 * 60),
            "needs about 57m of driving to be decided, the run is 45m"
        );
    }

    #[test]
    fn the_schedule_follows_the_timing_parameters() {
        let d = needs("");
        assert_eq!(d.schedule(RuleId::DataGap).span, (40 * MIN, 60 * MIN));
        assert_eq!(
            d.schedule(RuleId::RemoteSensingRepeat).span,
            (30 * MIN, 90 * MIN)
        );
        assert_eq!(d.longest_outage(), 8 * 8_640 - MIN);
        let gap = needs("[data_gap]\nmin_gap = \"45m\"\nmin_distance_km = 60.0");
        assert_eq!(gap.schedule(RuleId::DataGap).span.0, 540 + 10 * MIN);
        let repeat = needs("[remote_sensing_repeat]\nrepeat_within = \"20m\"");
        assert_eq!(
            repeat.schedule(RuleId::RemoteSensingRepeat).span,
            (119, 119)
        );
        let fill = needs("[data_gap]\nfill_within = \"20m\"");
        assert_eq!(fill.longest_outage(), 3 * (120 - MIN - 1));
        let episodes = needs("[nox_validity]\nwindow = \"10m\"");
        assert_eq!(
            episodes.schedule(RuleId::ScrIneffective).after,
            WARM_UP + 45 * MIN
        );
    }

    #[test]
    fn rules_no_run_can_satisfy_are_named() {
        let odd = needs(
            "[nox_over_limit]\nepisode_span = \"10m\"\n[reagent_empty]\nmin_duration = \"40m\"\n\
             [remote_sensing_repeat]\nrepeat_within = \"15s\"",
        );
        for fault in [
            RuleId::NoxOverLimit,
            RuleId::ReagentEmpty,
            RuleId::RemoteSensingRepeat,
        ] {
            assert!(!odd.decidable(fault, 100 * HOUR), "{fault:?}");
        }
        assert!(odd.decidable(RuleId::ScrIneffective, 6 * HOUR));
        assert_eq!(
            odd.why(RuleId::NoxOverLimit, 6 * 3_600),
            "nox_over_limit.episode_span 10m holds fewer than 3 windows of 5m"
        );
    }

    #[test]
    fn changed_value_thresholds_are_named_timing_and_fines_are_not() {
        let defaults = default_rules();
        assert!(unmodelled(&defaults, &defaults).is_empty());
        let rules = rules_from_str(Some((
            "test",
            "[nox_over_limit]\ndownstream_limit_ppm = 300.0\nfine_yuan = 50\n\
             [nox_validity]\nmin_coolant_c = 60.0\nwindow = \"10m\"\n\
             [data_gap]\nfill_within = \"1h\"\n[time]\nvehicle_ttl = \"40d\"\ngrace = \"10m\"",
        )))
        .unwrap();
        assert_eq!(
            unmodelled(&rules, &defaults),
            [
                "nox_over_limit.downstream_limit_ppm",
                "nox_validity.min_coolant_c",
                "time.grace",
                "time.vehicle_ttl"
            ]
        );
    }
}
