//! `remote_sensing_repeat`: two remote-sensing exceedances of the same pollutant within six
//! months. One exceedance is a suspect, not a verdict. Blacklist and a case with a fine.
//!
//! Only audit-valid passes of diesel (or unstated-fuel) vehicles count. Exceedances are kept by
//! time per pollutant, so an older pass arriving late still counts: it repeats an earlier one,
//! or makes a later one repeat. One case per pass, naming every pollutant that repeats; a pass
//! at an exceedance time already known is a duplicate.

use serde::{Deserialize, Serialize};

use super::{positive, Invalid, Span};
use crate::engine::context::{label, Context};
use crate::engine::listing::list;
use crate::engine::VehicleState;
use crate::model::{Measurement, Output, RemoteSensing, RuleId, Secs};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub standard: String,
    pub opacity_pct: f64,
    pub no_ppm: f32,
    pub max_ringelmann: u32,
    pub repeat_within: Span,
    pub fine_yuan: u32,
}

impl Params {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if !(self.opacity_pct > 0.0 && self.opacity_pct <= 100.0) {
            return Err(Invalid {
                key: "remote_sensing_repeat.opacity_pct",
                message: "must be in (0, 100]".into(),
            });
        }
        if !positive(self.no_ppm.into()) {
            return Err(Invalid {
                key: "remote_sensing_repeat.no_ppm",
                message: "must be positive".into(),
            });
        }
        if self.repeat_within.0 == 0 {
            return Err(Invalid {
                key: "remote_sensing_repeat.repeat_within",
                message: "must be positive".into(),
            });
        }
        Ok(())
    }
}

/// Pollutants in state order: opacity, NO, Ringelmann.
const POLLUTANTS: [(&str, &str); 3] = [("opacity", "%"), ("no", "ppm"), ("ringelmann", "grade")];

pub(crate) fn apply(cx: &mut Context, state: &mut VehicleState, pass: &RemoteSensing) {
    let p = &cx.rules.remote_sensing_repeat;
    if !pass.audit_valid || !pass.diesel {
        return;
    }
    let readings = [
        (pass.opacity_pct, p.opacity_pct),
        (pass.no.map(|v| f64::from(v.0)), f64::from(p.no_ppm)),
        (pass.ringelmann.map(f64::from), f64::from(p.max_ringelmann)),
    ];
    let (within, fine, standard) = (p.repeat_within.0, p.fine_yuan, p.standard.clone());
    let now = cx.now;
    let repeats = |times: &[Secs], t: Secs| {
        times
            .iter()
            .any(|&e| !e.is_never() && e < t && t.0 - e.0 <= within)
    };
    // Pollutants repeating at this pass, and later exceedances this older pass makes repeat.
    let mut here = Vec::new();
    let mut earliest = now;
    let mut later: Vec<(Secs, Measurement)> = Vec::new();
    for (i, (value, limit)) in readings.into_iter().enumerate() {
        let Some(value) = value.filter(|&v| v > limit) else {
            continue;
        };
        let times = state.rare().remote_sensing[i];
        if times.contains(&now) {
            cx.push(Output::Duplicates(1));
            continue;
        }
        let (name, unit) = POLLUTANTS[i];
        let measurement = Measurement {
            name,
            value,
            limit: Some(limit),
            unit,
            standard: standard.clone(),
        };
        if let Some(&previous) = times
            .iter()
            .filter(|&&e| !e.is_never() && e < now && now.0 - e.0 <= within)
            .min()
        {
            earliest = earliest.min(previous);
            here.push(measurement.clone());
        }
        let successor = times.iter().copied().filter(|&e| e > now).min();
        if let Some(next) = successor.filter(|&e| e.0 - now.0 <= within) {
            // It repeats now; it was a case already if it repeated any pollutant before.
            let was_case = state
                .rare()
                .remote_sensing
                .iter()
                .any(|ts| ts.contains(&next) && repeats(ts, next));
            if !was_case && !later.iter().any(|(t, _)| *t == next) {
                later.push((next, measurement));
            }
        }
        insert(&mut state.rare_mut().remote_sensing[i], now);
    }
    if !here.is_empty() {
        list(cx, state, RuleId::RemoteSensingRepeat, now);
        let evidence = cx.evidence(earliest, now, pass.position, here);
        cx.case(
            state,
            RuleId::RemoteSensingRepeat,
            &label(now),
            fine,
            evidence,
        );
    }
    for (next, measurement) in later {
        list(cx, state, RuleId::RemoteSensingRepeat, next);
        let evidence = cx.evidence(now, next, None, vec![measurement]);
        cx.case(
            state,
            RuleId::RemoteSensingRepeat,
            &label(next),
            fine,
            evidence,
        );
    }
}

/// Keeps the newest exceedance times, oldest first.
fn insert(times: &mut [Secs; 2], t: Secs) {
    if times[1].is_never() {
        if times[0].is_never() || times[0] < t {
            times[1] = t;
        } else {
            times[1] = times[0];
            times[0] = t;
        }
        if times[0].is_never() {
            times.swap(0, 1);
        }
    } else if t > times[1] {
        *times = [times[1], t];
    } else if t > times[0] {
        times[0] = t;
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::testkit::{rules, Vehicle, T0};
    use crate::model::{EventKind, Ppm, RemoteSensing, RuleId};

    fn pass(opacity: f64, no: f32) -> EventKind {
        EventKind::RemoteSensing(RemoteSensing {
            plate: None,
            site_id: "RS-1".into(),
            device_id: "RSD-1".into(),
            position: None,
            opacity_pct: Some(opacity),
            no: Some(Ppm(no)),
            ringelmann: Some(0),
            diesel: true,
            audit_valid: true,
        })
    }

    #[test]
    fn one_exceedance_is_only_a_suspect() {
        let mut v = Vehicle::new(rules(""));
        v.send(T0, pass(45.0, 100.0));
        assert!(v.outputs.is_empty());
    }

    #[test]
    fn two_exceedances_of_the_same_pollutant_within_183_days() {
        let mut v = Vehicle::new(rules(""));
        v.send(T0, pass(45.0, 100.0));
        v.send(T0 + 183 * 86_400, pass(31.0, 100.0));
        let cases = v.cases(RuleId::RemoteSensingRepeat);
        assert_eq!(cases.len(), 1);
        assert_eq!(cases[0].fine_yuan, 200);
        assert!(v.listed());

        let mut w = Vehicle::new(rules(""));
        w.send(T0, pass(45.0, 100.0));
        w.send(T0 + 183 * 86_400 + 1, pass(45.0, 100.0));
        assert!(w.outputs.is_empty());
    }

    #[test]
    fn different_pollutants_and_values_at_the_limit_do_not_repeat() {
        let mut v = Vehicle::new(rules(""));
        v.send(T0, pass(45.0, 100.0));
        v.send(T0 + 3600, pass(10.0, 1600.0));
        v.send(T0 + 7200, pass(30.0, 1500.0));
        assert!(v.outputs.is_empty());
    }

    #[test]
    fn invalid_audits_are_not_evidence() {
        let mut v = Vehicle::new(rules(""));
        for h in 0..3 {
            let EventKind::RemoteSensing(mut p) = pass(45.0, 100.0) else {
                unreachable!()
            };
            p.audit_valid = false;
            v.send(T0 + h * 3600, EventKind::RemoteSensing(p));
        }
        assert!(v.outputs.is_empty());
    }
}
