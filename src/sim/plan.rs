//! One vehicle's timeline, decided up front in 10-second ticks: when it drives (one login
//! session per drive), when its terminal goes silent and whether it reissues afterwards, where
//! it stops for a roadside check, when it passes a remote-sensing station, when it is
//! re-inspected, and when its OBD fault or tampering begins.
//!
//! A fault is scheduled to be decided under the run's rules (`needs`) at least `MARGIN` before
//! the vehicle's data ends: it starts early (within the first ~1.5 hours of driving in a long
//! run, sooner in a short one) and its evidence lasts as long as the rules ask. A fault the run
//! cannot hold is still injected where an unbounded run would have it, and the plan says so
//! (`undecidable`); a MIL streak or data gap is then placed so that it is never decided within
//! the run, not merely unlikely to be. Physics fills in each tick (`driver`, `truck`); this
//! module only says what kind of tick it is.

use std::ops::Range;

use rand::rngs::SmallRng;
use rand::Rng;

use super::driver::Drive;
use super::fleet::Assignment;
use super::needs::{Needs, MARGIN};
use crate::model::RuleId;

/// Ticks per minute and (in tests) per hour.
pub const MIN: u32 = 6;
#[cfg(test)]
pub const HOUR: u32 = 60 * MIN;
/// A drive ends by pulling over and idling this long before the logout.
const PULL_OVER: u32 = 2 * MIN;
/// Reissued reports sent alongside each live report after an outage: a 50-minute outage is
/// caught up within ~17 minutes, inside the fill period (`Needs::longest_outage` shortens
/// outages for a shorter one).
pub const REISSUE_PER_TICK: u32 = 3;

/// What a roadside manual check finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    /// Free-acceleration opacity over the 0.7 m⁻¹ limit.
    Opacity,
    /// Ringelmann grade 2 (limit: grade 1).
    Ringelmann,
}

/// A checkpoint stop: the truck halts for `ticks`, checked at `check_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub ticks: Range<u32>,
    pub check_at: u32,
    pub verdict: Verdict,
}

/// What a remote-sensing station measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Emission {
    Clean,
    /// Smoke opacity over 30 %.
    Opacity,
    /// NO over 1500 ppm.
    No,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pass {
    pub tick: u32,
    pub emission: Emission,
}

/// The terminal sends nothing during `ticks`; if `reissued`, it stores the reports and sends
/// them as REISSUE once back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Silence {
    pub ticks: Range<u32>,
    pub reissued: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tamper {
    /// The terminal reports its own removal (HJ 1239 0x06).
    RemovalAlarm,
    /// The engine ECU reports another VIN (swapped engine or ECU).
    ObdVin,
    /// Calibration ID and CVN change (ECU reflashed).
    Reflash,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub ticks: u32,
    /// Logged in and driving; sorted, disjoint.
    pub sessions: Vec<Range<u32>>,
    pub silence: Option<Silence>,
    pub stops: Vec<Stop>,
    pub passes: Vec<Pass>,
    pub reinspection: Option<u32>,
    pub tamper: Option<(u32, Tamper)>,
    /// MIL on with an emission-relevant DTC from this tick on.
    pub mil_from: Option<u32>,
    /// The fault cannot be decided within the run under its rules.
    pub undecidable: bool,
}

fn minutes(rng: &mut SmallRng, range: std::ops::RangeInclusive<u32>) -> u32 {
    rng.random_range(*range.start() * MIN..=*range.end() * MIN)
}

/// Draws `base + lo..=hi` so that `rest` more ticks still end by `end`: the whole range when
/// it fits (the draw a plan without bounds makes), else the part that fits. When none does,
/// draws the whole range and clears `fits`. Equal bounds draw nothing.
fn fit(
    rng: &mut SmallRng,
    base: u32,
    (lo, hi): (u32, u32),
    rest: u32,
    end: u32,
    fits: &mut bool,
) -> u32 {
    let latest = end.checked_sub(base.saturating_add(rest));
    let hi = match latest {
        Some(latest) if latest >= lo => hi.min(latest),
        _ => {
            *fits = false;
            hi
        }
    };
    if lo == hi {
        base + lo
    } else {
        base + rng.random_range(lo..=hi)
    }
}

impl Plan {
    pub fn draw(ticks: u32, assignment: &Assignment, needs: &Needs, rng: &mut SmallRng) -> Plan {
        let mut plan = match assignment.fault {
            Some(fault) => Plan::faulty(ticks, fault, needs, rng),
            None => Plan::clean(ticks, assignment, needs, rng),
        };
        plan.clip();
        plan
    }

    fn empty(ticks: u32) -> Plan {
        Plan {
            ticks,
            sessions: Vec::new(),
            silence: None,
            stops: Vec::new(),
            passes: Vec::new(),
            reinspection: None,
            tamper: None,
            mil_from: None,
            undecidable: false,
        }
    }

    /// A faulty vehicle starts early and drives (logged in, reporting) to the end of the run,
    /// except where its fault's story needs a break: a repair visit after a failed check, or
    /// a repair and re-inspection late in the run.
    fn faulty(ticks: u32, fault: RuleId, needs: &Needs, rng: &mut SmallRng) -> Plan {
        let schedule = needs.schedule(fault);
        let end = ticks.saturating_sub(MARGIN);
        let mut fits = needs.impossible(fault).is_none();
        let start = fit(rng, 0, (0, 15 * MIN), schedule.earliest(), end, &mut fits);
        let mut plan = Plan {
            sessions: std::iter::once(start..ticks).collect(),
            ..Plan::empty(ticks)
        };
        // The tick by which the fault is decided when scheduled to fit, plus the margin.
        let decided = |from: u32| from + schedule.span.0 + schedule.after + MARGIN;
        match fault {
            RuleId::NoxOverLimit | RuleId::ScrIneffective | RuleId::ReagentEmpty => {
                plan.maybe_repair(decided(start), rng);
            }
            RuleId::MilEmissionFault => {
                let rest = schedule.span.0 + schedule.after;
                let mut from = fit(rng, start, schedule.onset, rest, end, &mut fits);
                if !fits {
                    // Never the full streak within the run: it ends with the run's last tick.
                    from = from.max(ticks.saturating_sub(needs.mil_ticks()));
                }
                plan.mil_from = Some(from);
                plan.maybe_repair(decided(from), rng);
            }
            RuleId::TerminalTamper => {
                let kind =
                    [Tamper::RemovalAlarm, Tamper::ObdVin, Tamper::Reflash][rng.random_range(0..3)];
                let at = fit(rng, start, schedule.onset, schedule.after, end, &mut fits);
                plan.tamper = Some((at, kind));
            }
            RuleId::DataGap => {
                // Silent on a highway run: the odometer moves tens of km while nothing arrives.
                let rest = schedule.span.0 + schedule.after;
                let mut from = fit(rng, start, schedule.onset, rest, end, &mut fits);
                let len = fit(rng, from, schedule.span, schedule.after, end, &mut fits) - from;
                if !fits {
                    // No sample a fill period after the gap's end within the run.
                    from = from.max(ticks.saturating_sub(needs.fill_ticks() + len));
                }
                plan.silence = Some(Silence {
                    ticks: from..from + len,
                    reissued: false,
                });
            }
            RuleId::RoadsideFail => {
                let at = fit(rng, start, schedule.onset, schedule.after, end, &mut fits);
                let stop = plan.stop(at, failing(rng), rng);
                // Off to a workshop, re-tested 1–3 h after the check, then back on the road.
                let logout = stop.ticks.end + minutes(rng, 15..=35);
                let retest = stop.check_at + minutes(rng, 60..=180);
                let back = retest + minutes(rng, 10..=30);
                plan.sessions = vec![start..logout, back..ticks];
                plan.reinspection = Some(retest);
                plan.stops.push(stop);
            }
            RuleId::RemoteSensingRepeat => {
                let rest = schedule.span.0 + schedule.after;
                let first = fit(rng, start, schedule.onset, rest, end, &mut fits);
                let second = fit(rng, first, schedule.span, schedule.after, end, &mut fits);
                let emission = if rng.random_bool(0.5) {
                    Emission::Opacity
                } else {
                    Emission::No
                };
                plan.passes = vec![
                    Pass {
                        tick: first,
                        emission,
                    },
                    Pass {
                        tick: second,
                        emission,
                    },
                ];
                plan.maybe_repair(second + schedule.after + MARGIN, rng);
            }
            RuleId::BlacklistedEntry => {
                // Listed on the spot, no permit, and it keeps driving in Beijing all day.
                let at = fit(rng, start, schedule.onset, schedule.after, end, &mut fits);
                let stop = plan.stop(at, failing(rng), rng);
                plan.stops.push(stop);
            }
            RuleId::RepeatOffender | RuleId::AlertRestriction => {
                unreachable!("{} is not injectable", fault.as_str())
            }
        }
        plan.undecidable = !fits;
        plan
    }

    /// Half of the listed vehicles go for repair late in the run: they park and pass a
    /// re-inspection (delisting). Parking first means no telemetry can relist them after.
    /// Skipped when the run is too short for the fault to be decided (by `ready`) first.
    fn maybe_repair(&mut self, ready: u32, rng: &mut SmallRng) {
        if !rng.random_bool(0.5) {
            return;
        }
        let logout = self.ticks.saturating_sub(minutes(rng, 40..=60));
        let session = &mut self.sessions[0];
        if logout >= ready && logout > session.start {
            session.end = logout;
            self.reinspection = Some(logout + minutes(rng, 15..=30));
        }
    }

    fn stop(&self, at: u32, verdict: Verdict, rng: &mut SmallRng) -> Stop {
        Stop {
            ticks: at..at + minutes(rng, 6..=12),
            check_at: at + minutes(rng, 2..=4),
            verdict,
        }
    }

    /// Clean vehicles drive one to three hours at a time with breaks (logged out) between.
    fn clean(ticks: u32, assignment: &Assignment, needs: &Needs, rng: &mut SmallRng) -> Plan {
        let mut plan = Plan::empty(ticks);
        let mut t = if rng.random_bool(0.85) {
            minutes(rng, 0..=60)
        } else {
            minutes(rng, 60..=150)
        };
        if t + 20 * MIN > ticks && (20 * MIN..80 * MIN).contains(&ticks) {
            // A run shorter than the usual start spread (an hour) plus a drive would leave
            // most vehicles parked: a late starter starts in time for one drive instead.
            // Longer runs keep the streams they always had.
            t = rng.random_range(0..=ticks - 20 * MIN);
        }
        while t + 20 * MIN <= ticks {
            let end = (t + minutes(rng, 60..=180)).min(ticks);
            plan.sessions.push(t..end);
            t = end + minutes(rng, 15..=60);
        }
        if assignment.outage {
            plan.silence = plan.outage(needs.longest_outage(), rng);
        }
        if assignment.passing_check {
            if let Some(at) = plan.pick(15 * MIN, 20 * MIN, rng) {
                let stop = plan.stop(at, Verdict::Pass, rng);
                plan.stops.push(stop);
            }
        }
        if assignment.passing_pass {
            if let Some(mut tick) = plan.pick(5 * MIN, 5 * MIN, rng) {
                // Remote sensing needs a moving truck, not one halted at a checkpoint.
                if let Some(stop) = plan.stops.iter().find(|s| s.ticks.contains(&tick)) {
                    tick = stop.ticks.end + MIN;
                }
                plan.passes.push(Pass {
                    tick,
                    emission: Emission::Clean,
                });
            }
        }
        plan
    }

    /// 10–50 minutes (at most `limit`) without connectivity inside the longest drive, placed
    /// so that the backlog is reissued in full before that drive ends.
    fn outage(&self, limit: u32, rng: &mut SmallRng) -> Option<Silence> {
        let longest = self.sessions.iter().max_by_key(|s| s.len())?;
        let lead = 10 * MIN;
        let room = (longest.len() as u32).checked_sub(lead + PULL_OVER + 5 * MIN)?;
        // The outage plus its catch-up must fit in the room left.
        let max_len = (room * REISSUE_PER_TICK / (REISSUE_PER_TICK + 1))
            .min(50 * MIN)
            .min(limit);
        if max_len < 10 * MIN {
            return None;
        }
        let len = rng.random_range(10 * MIN..=max_len);
        let catch_up = len.div_ceil(REISSUE_PER_TICK);
        let slack = room - len - catch_up;
        let from = longest.start + lead + rng.random_range(0..=slack);
        Some(Silence {
            ticks: from..from + len,
            reissued: true,
        })
    }

    /// A tick in a random session with at least `lead` ticks before and `tail` after it.
    fn pick(&self, lead: u32, tail: u32, rng: &mut SmallRng) -> Option<u32> {
        let fitting: Vec<&Range<u32>> = self
            .sessions
            .iter()
            .filter(|s| s.len() as u32 > lead + tail)
            .collect();
        let session = fitting.get(rng.random_range(0..fitting.len().max(1)))?;
        Some(rng.random_range(session.start + lead..session.end - tail))
    }

    /// Short runs: drop whatever falls outside the run or outside a drive.
    fn clip(&mut self) {
        let ticks = self.ticks;
        self.sessions.retain_mut(|s| {
            s.end = s.end.min(ticks);
            s.start < s.end
        });
        let sessions = self.sessions.clone();
        let driving = |t: u32| sessions.iter().any(|s| s.contains(&t));
        self.stops
            .retain(|s| driving(s.ticks.start) && driving(s.ticks.end));
        self.passes.retain(|p| driving(p.tick));
        self.silence = self
            .silence
            .take()
            .filter(|s| driving(s.ticks.start) && driving(s.ticks.end));
        self.reinspection = self.reinspection.filter(|&t| t < ticks);
        self.tamper = self.tamper.filter(|&(t, _)| driving(t));
        self.mil_from = self.mil_from.filter(|&t| t < ticks);
    }

    pub fn session_at(&self, tick: u32) -> Option<&Range<u32>> {
        self.sessions.iter().find(|s| s.contains(&tick))
    }

    /// What the driver is asked to do during `tick` of `session`.
    pub fn drive_at(&self, tick: u32, session: &Range<u32>) -> Drive {
        let parking = session.end < self.ticks && tick + PULL_OVER >= session.end;
        if parking || self.stops.iter().any(|s| s.ticks.contains(&tick)) {
            Drive::Halt
        } else if self
            .silence
            .as_ref()
            .is_some_and(|s| !s.reissued && s.ticks.contains(&tick))
        {
            Drive::Highway
        } else {
            Drive::Free
        }
    }

    /// `Some(reissued)` while the terminal is silent.
    pub fn silent_at(&self, tick: u32) -> Option<bool> {
        self.silence
            .as_ref()
            .filter(|s| s.ticks.contains(&tick))
            .map(|s| s.reissued)
    }
}

fn failing(rng: &mut SmallRng) -> Verdict {
    if rng.random_bool(0.75) {
        Verdict::Opacity
    } else {
        Verdict::Ringelmann
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::rules_from_str;
    use crate::sim::fleet::INJECTABLE;
    use rand::SeedableRng;

    const SIX_HOURS: u32 = 6 * HOUR;

    fn needs(overrides: &str) -> Needs {
        Needs::new(&rules_from_str(Some(("test", overrides))).unwrap())
    }

    fn shortened() -> Needs {
        needs("[mil_emission_fault]\nmin_duration = \"2h\"\n[data_gap]\nfill_within = \"1h\"")
    }

    fn faulty(ticks: u32, fault: RuleId, needs: &Needs, rng: &mut SmallRng) -> Plan {
        let assignment = Assignment {
            fault: Some(fault),
            ..Default::default()
        };
        Plan::draw(ticks, &assignment, needs, rng)
    }

    #[test]
    fn faults_start_early_and_leave_time_to_be_detected() {
        let mut rng = SmallRng::seed_from_u64(11);
        let needs = shortened();
        for _ in 0..200 {
            for &fault in INJECTABLE {
                let plan = faulty(SIX_HOURS, fault, &needs, &mut rng);
                assert!(!plan.undecidable, "{fault:?}: {plan:?}");
                let first = &plan.sessions[0];
                assert!(first.start <= 15 * MIN, "{fault:?}: {plan:?}");
                let driving: u32 = plan.sessions.iter().map(|s| s.len() as u32).sum();
                // Only a vehicle sent to the workshop after a failed check spends long parked.
                let least = if fault == RuleId::RoadsideFail {
                    HOUR
                } else {
                    4 * HOUR
                };
                assert!(
                    driving >= least,
                    "{fault:?} drives only {driving} ticks: {plan:?}"
                );
                if let Some(gap) = &plan.silence {
                    assert_eq!(fault, RuleId::DataGap);
                    assert!(
                        gap.ticks.len() as u32 >= 40 * MIN && gap.ticks.end + 90 * MIN <= SIX_HOURS
                    );
                }
                if let Some(from) = plan.mil_from {
                    assert!(from + 2 * HOUR + MARGIN <= first.end, "{plan:?}");
                }
                if let Some(retest) = plan.reinspection {
                    assert!(
                        plan.session_at(retest).is_none(),
                        "re-tested while driving: {plan:?}"
                    );
                }
                for stop in &plan.stops {
                    assert!(
                        stop.ticks.contains(&stop.check_at)
                            && plan.session_at(stop.ticks.end).is_some()
                    );
                }
            }
        }
    }

    /// The tick by which a plan's fault is decided if it was scheduled to be, and whether its
    /// data lasts `MARGIN` beyond it.
    fn decided_in_time(plan: &Plan, fault: RuleId, needs: &Needs) -> bool {
        let s = needs.schedule(fault);
        let first = &plan.sessions[0];
        let by = |tick: u32, end: u32| tick + MARGIN <= end;
        match fault {
            RuleId::NoxOverLimit | RuleId::ScrIneffective | RuleId::ReagentEmpty => {
                by(first.start + s.after, first.end)
            }
            RuleId::MilEmissionFault => by(plan.mil_from.unwrap() + needs.mil_ticks(), first.end),
            RuleId::TerminalTamper => by(plan.tamper.unwrap().0 + s.after, plan.ticks),
            RuleId::DataGap => {
                let gap = plan.silence.as_ref().unwrap();
                gap.ticks.len() as u32 >= s.span.0 && by(gap.ticks.end + s.after, plan.ticks)
            }
            RuleId::RoadsideFail | RuleId::BlacklistedEntry => {
                let stop = &plan.stops[0];
                let session = plan.session_at(stop.ticks.start).unwrap();
                by(stop.ticks.end + 2 * MIN, session.end)
            }
            RuleId::RemoteSensingRepeat => {
                let [a, b] = [plan.passes[0].tick, plan.passes[1].tick];
                (b - a) * 10 + 9 <= 183 * 86_400 && by(b + s.after, plan.session_at(b).unwrap().end)
            }
            RuleId::RepeatOffender | RuleId::AlertRestriction => unreachable!(),
        }
    }

    /// Whatever the run's length: a fault the run can hold for every vehicle is scheduled to be
    /// decided in time, and a MIL streak or data gap the run cannot hold is never decided in it.
    #[test]
    fn short_runs_fit_their_faults_or_say_they_cannot() {
        let mut rng = SmallRng::seed_from_u64(13);
        let tight = needs(
            "[mil_emission_fault]\nmin_duration = \"100m\"\n[data_gap]\nfill_within = \"30m\"",
        );
        for needs in [needs(""), shortened(), tight] {
            for minutes in [20, 45, 60, 80, 100, 120, 150, 180, 240] {
                let ticks = minutes * MIN;
                for &fault in INJECTABLE {
                    for _ in 0..30 {
                        let plan = faulty(ticks, fault, &needs, &mut rng);
                        let context = format!("{fault:?} in {minutes} min: {plan:?}");
                        if needs.decidable(fault, ticks) {
                            assert!(!plan.undecidable, "{context}");
                        }
                        if !plan.undecidable {
                            assert!(decided_in_time(&plan, fault, &needs), "{context}");
                            continue;
                        }
                        if let Some(from) = plan.mil_from {
                            let streak = (ticks - 1 - from) * 10;
                            assert!(streak < needs.mil_ticks() * 10, "{context}");
                        }
                        if let Some(gap) = &plan.silence {
                            assert!(gap.ticks.end + needs.fill_ticks() >= ticks, "{context}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn clean_outages_leave_room_to_catch_up() {
        let mut rng = SmallRng::seed_from_u64(12);
        let all = Assignment {
            outage: true,
            passing_check: true,
            passing_pass: true,
            fault: None,
        };
        let quick_fill = needs("[data_gap]\nfill_within = \"20m\"");
        for (needs, longest) in [(needs(""), 50 * MIN), (quick_fill, 339)] {
            let mut seen = 0;
            for _ in 0..500 {
                let plan = Plan::draw(SIX_HOURS, &all, &needs, &mut rng);
                assert!(plan.sessions.windows(2).all(|w| w[0].end < w[1].start));
                let Some(outage) = &plan.silence else {
                    continue;
                };
                seen += 1;
                let session = plan
                    .session_at(outage.ticks.start)
                    .expect("outage while driving");
                let caught_up =
                    outage.ticks.end + (outage.ticks.len() as u32).div_ceil(REISSUE_PER_TICK);
                assert!(caught_up + PULL_OVER <= session.end, "{plan:?}");
                assert!((10 * MIN..=longest).contains(&(outage.ticks.len() as u32)));
            }
            assert!(seen > 400, "only {seen} outages placed");
        }
    }
}
