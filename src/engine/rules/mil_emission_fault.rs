//! `mil_emission_fault`: the MIL is on with an emission-relevant DTC in every OBD report for at
//! least 72 h. Any OBD report without that (MIL off, MIL invalid, no such DTC) ends the streak.
//! Live and reissued reports are the same evidence, in event-time order whatever their arrival
//! order: kept as runs of alike reports. Blacklist and one case per streak, once no report can
//! still arrive inside it.

use serde::{Deserialize, Serialize};

use super::{Invalid, Span};
use crate::engine::context::{label, measured, Context};
use crate::engine::listing::list;
use crate::engine::state::MilRun;
use crate::engine::VehicleState;
use crate::model::{Obd, RuleId, Secs};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub min_duration: Span,
    pub emission_dtc_prefixes: Vec<String>,
    /// SAE J1939 SPNs whose trouble codes (`SPN 4364 FMI 18 OC 1`) are emission-relevant.
    pub emission_spns: Vec<u32>,
    pub fine_yuan: u32,
}

impl Params {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if self.min_duration.0 == 0 {
            return Err(Invalid {
                key: "mil_emission_fault.min_duration",
                message: "must be positive".into(),
            });
        }
        if self.emission_dtc_prefixes.iter().any(String::is_empty) {
            return Err(Invalid {
                key: "mil_emission_fault.emission_dtc_prefixes",
                message: "prefixes must not be empty strings".into(),
            });
        }
        Ok(())
    }

    /// A code is emission-relevant by its SAE prefix (`P20…`) or its J1939 SPN.
    pub(crate) fn emission_relevant(&self, code: &str) -> bool {
        match spn(code) {
            Some(spn) => self.emission_spns.contains(&spn),
            None => self
                .emission_dtc_prefixes
                .iter()
                .any(|p| code.starts_with(p.as_str())),
        }
    }
}

/// The SPN of a J1939 code as decoded (`SPN 4364 FMI 18 OC 1`); `None` for SAE codes.
fn spn(code: &str) -> Option<u32> {
    let rest = code.trim().strip_prefix("SPN")?;
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

/// Records one OBD entry, live or reissued, in the runs of alike entries.
pub(crate) fn add(cx: &Context, state: &mut VehicleState, t: Secs, obd: &Obd) {
    let p = &cx.rules.mil_emission_fault;
    let faulty = obd.mil_on == Some(true) && obd.dtcs.iter().any(|c| p.emission_relevant(c));
    insert(&mut state.mil, t, faulty);
}

fn len(runs: &[MilRun]) -> usize {
    runs.iter().take_while(|r| !r.start.is_never()).count()
}

/// Runs of alike entries, oldest first; an entry between two runs joins the one it is alike.
/// An unlike entry inside a run splits it (the entries next to it are then unknown: the run
/// before ends, and the one after begins, a second from it).
fn insert(runs: &mut [MilRun; 3], t: Secs, faulty: bool) {
    let n = len(runs);
    let one = MilRun {
        start: t,
        end: t,
        faulty,
    };
    if let Some(i) = runs[..n].iter().position(|r| r.start <= t && t <= r.end) {
        let run = runs[i];
        if run.faulty == faulty {
            return;
        }
        let before = MilRun {
            end: Secs(t.0 - 1),
            ..run
        };
        let after = MilRun {
            start: Secs(t.0 + 1),
            ..run
        };
        let mut parts = Vec::with_capacity(3);
        if run.start < t {
            parts.push(before);
        }
        parts.push(one);
        if t < run.end {
            parts.push(after);
        }
        replace(runs, i, 1, &parts);
        return;
    }
    let next = runs[..n].iter().position(|r| r.start > t).unwrap_or(n);
    let prev_alike = next > 0 && runs[next - 1].faulty == faulty;
    let next_alike = next < n && runs[next].faulty == faulty;
    match (prev_alike, next_alike) {
        (true, true) => {
            let end = runs[next].end;
            runs[next - 1].end = end;
            replace(runs, next, 1, &[]);
        }
        (true, false) => runs[next - 1].end = t,
        (false, true) => runs[next].start = t,
        (false, false) => replace(runs, next, 0, &[one]),
    }
}

/// Replaces `remove` runs at `i` with `parts`, dropping the oldest runs when they do not fit.
fn replace(runs: &mut [MilRun; 3], i: usize, remove: usize, parts: &[MilRun]) {
    let n = len(runs);
    let mut all: Vec<MilRun> = runs[..i].to_vec();
    all.extend_from_slice(parts);
    all.extend_from_slice(&runs[(i + remove).min(n)..n]);
    let skip = all.len().saturating_sub(runs.len());
    *runs = [MilRun::default(); 3];
    for (slot, run) in runs.iter_mut().zip(&all[skip..]) {
        *slot = *run;
    }
}

/// A faulty run lasting the minimum duration is a case (keyed by its first entry) once no
/// entry can still arrive inside it or just before it.
pub(crate) fn decide(cx: &mut Context, state: &mut VehicleState) {
    let p = &cx.rules.mil_emission_fault;
    let (min, fine) = (p.min_duration.0, p.fine_yuan);
    let fill = cx.rules.data_gap.fill_within.0;
    let runs = state.mil;
    let n = len(&runs);
    for i in 0..n {
        let run = runs[i];
        let cased = state.rare().mil_case;
        // A streak whose start moved back (older entries came later) keeps its case.
        let has_case = run.start <= cased && cased <= run.end;
        if !run.faulty || run.end.0 - run.start.0 < min || has_case {
            continue;
        }
        let reached = Secs(run.start.0 + min);
        let from = if i > 0 { runs[i - 1].end } else { run.start };
        let settled = cx.watermark.0 >= reached.0.saturating_add(fill)
            || state.coverage.settled(from, reached);
        if !settled {
            continue;
        }
        state.rare_mut().mil_case = run.start;
        list(cx, state, RuleId::MilEmissionFault, reached);
        let evidence = cx.evidence(
            run.start,
            run.end,
            None,
            vec![measured(
                "mil_on_hours",
                f64::from(run.end.0 - run.start.0) / 3600.0,
                Some(f64::from(min) / 3600.0),
                "h",
            )],
        );
        cx.case(
            state,
            RuleId::MilEmissionFault,
            &label(run.start),
            fine,
            evidence,
        );
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::testkit::{obd, rules, Vehicle, T0};
    use crate::model::{EventKind, Report, RuleId};

    fn report(v: &mut Vehicle, t: i64, mil: bool, dtcs: &[&str]) {
        let r = Report {
            backfill: false,
            samples: Vec::new(),
            obd: vec![obd(t, mil, dtcs)],
        };
        v.send(t, EventKind::Report(r));
    }

    /// Hourly OBD reports without data stream: the streak is judged once the fill period
    /// (1 h here) has passed, when no report can still arrive inside it.
    fn streak(hours: i64, last_extra_secs: i64, dtc: &str) -> Vehicle {
        let mut v = Vehicle::new(rules(FILL));
        for h in 0..hours {
            report(&mut v, T0 + h * 3600, true, &[dtc]);
        }
        let last = T0 + hours * 3600 + last_extra_secs;
        report(&mut v, last, true, &[dtc]);
        v.send(last + 7200, EventKind::Housekeeping);
        v
    }

    const FILL: &str = "[data_gap]\nfill_within = \"1h\"";

    #[test]
    fn seventy_two_hours_boundary() {
        assert!(streak(71, 3599, "P2047")
            .cases(RuleId::MilEmissionFault)
            .is_empty());
        let v = streak(72, 0, "P2047");
        let cases = v.cases(RuleId::MilEmissionFault);
        assert_eq!(cases.len(), 1);
        assert!(v.listed());
    }

    #[test]
    fn non_emission_dtcs_do_not_count() {
        assert!(streak(80, 0, "P0300")
            .cases(RuleId::MilEmissionFault)
            .is_empty());
        assert_eq!(
            streak(80, 0, "P2459").cases(RuleId::MilEmissionFault).len(),
            1
        );
        assert_eq!(
            streak(80, 0, "P0401").cases(RuleId::MilEmissionFault).len(),
            1
        );
    }

    #[test]
    fn a_report_with_mil_off_restarts_the_streak() {
        let mut v = Vehicle::new(rules(FILL));
        for h in 0..=80 {
            let mil = h != 40;
            report(&mut v, T0 + h * 3600, mil, &["P2047"]);
        }
        v.send(T0 + 90 * 3600, EventKind::Housekeeping);
        assert!(
            v.cases(RuleId::MilEmissionFault).is_empty(),
            "only 40 h since the break"
        );
        report(&mut v, T0 + 113 * 3600, true, &["P2047"]);
        v.send(T0 + 115 * 3600, EventKind::Housekeeping);
        assert_eq!(v.cases(RuleId::MilEmissionFault).len(), 1);
    }
}
