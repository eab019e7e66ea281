//! `mil_emission_fault`: the MIL is on with an emission-relevant DTC in every OBD report for at
//! least 72 h. Any OBD report without that (MIL off, MIL invalid, no such DTC) ends the streak.
//! Blacklist and one case per streak.

use serde::{Deserialize, Serialize};

use super::{Invalid, Span};
use crate::engine::context::{label, measured, Context};
use crate::engine::listing::list;
use crate::engine::VehicleState;
use crate::model::{Obd, RuleId, Secs};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub min_duration: Span,
    pub emission_dtc_prefixes: Vec<String>,
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

    fn emission_relevant(&self, code: &str) -> bool {
        self.emission_dtc_prefixes
            .iter()
            .any(|p| code.starts_with(p.as_str()))
    }
}

pub(crate) fn add(cx: &mut Context, state: &mut VehicleState, t: Secs, obd: &Obd) {
    let p = &cx.rules.mil_emission_fault;
    let faulty = obd.mil_on == Some(true) && obd.dtcs.iter().any(|c| p.emission_relevant(c));
    if !faulty {
        state.mil = Default::default();
        state.mil_reported = false;
        return;
    }
    if state.mil.since.is_never() {
        state.mil.since = t;
    }
    let since = state.mil.since;
    let lasted = t.0 - since.0;
    if state.mil_reported || lasted < p.min_duration.0 {
        return;
    }
    state.mil_reported = true;
    let (min, fine) = (p.min_duration.0, p.fine_yuan);
    let dtc = obd
        .dtcs
        .iter()
        .find(|c| p.emission_relevant(c))
        .cloned()
        .unwrap_or_default();
    list(cx, state, RuleId::MilEmissionFault, t);
    let mut evidence = cx.evidence(
        since,
        t,
        None,
        vec![measured(
            "mil_on_hours",
            f64::from(lasted) / 3600.0,
            Some(f64::from(min) / 3600.0),
            "h",
        )],
    );
    evidence.device_id = dtc;
    cx.case(
        state,
        RuleId::MilEmissionFault,
        &label(since),
        fine,
        evidence,
    );
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

    fn streak(hours: i64, last_extra_secs: i64, dtc: &str) -> Vehicle {
        let mut v = Vehicle::new(rules(""));
        for h in 0..hours {
            report(&mut v, T0 + h * 3600, true, &[dtc]);
        }
        report(&mut v, T0 + hours * 3600 + last_extra_secs, true, &[dtc]);
        v
    }

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
        let mut v = Vehicle::new(rules(""));
        for h in 0..=80 {
            let mil = h != 40;
            report(&mut v, T0 + h * 3600, mil, &["P2047"]);
        }
        assert!(
            v.cases(RuleId::MilEmissionFault).is_empty(),
            "only 40 h since the break"
        );
        report(&mut v, T0 + 113 * 3600, true, &["P2047"]);
        assert_eq!(v.cases(RuleId::MilEmissionFault).len(), 1);
    }
}
