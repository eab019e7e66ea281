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
            return Err(Invalid { key: "mil_emission_fault.min_duration", message: "must be positive".into() });
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
        self.emission_dtc_prefixes.iter().any(|p| code.starts_with(p.as_str()))
    }
}

pub(crate) fn add(cx: &mut Context, state: &mut VehicleState, t: Secs, obd: &Obd) {
    let p = &cx.rules.mil_emission_fault;
    let faulty = obd.mil_on == Some(true) && obd.dtcs.iter().any(|c| p.emission_relevant(c));
    if !faulty {
        state.mil = Default::default();
        return;
    }
    if state.mil.since.is_never() {
        state.mil.since = t;
    }
    let since = state.mil.since;
    let lasted = t.0 - since.0;
    if state.mil.reported || lasted < p.min_duration.0 {
        return;
    }
    state.mil.reported = true;
    let (min, fine) = (p.min_duration.0, p.fine_yuan);
    let dtc = obd.dtcs.iter().find(|c| p.emission_relevant(c)).cloned().unwrap_or_default();
    list(cx, state, RuleId::MilEmissionFault, t);
    let mut evidence = cx.evidence(
        since,
        t,
        None,
        vec![measured("mil_on_hours", f64::from(lasted) / 3600.0, Some(f64::from(min) / 3600.0), "h")],
    );
    evidence.device_id = dtc;
    cx.case(state, RuleId::MilEmissionFault, &label(since), fine, evidence);
}
