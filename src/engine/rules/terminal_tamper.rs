//! `terminal_tamper`: a terminal-removal alarm (HJ 1239 0x06), an OBD-reported VIN that is not
//! the frame's VIN, or a changed calibration ID / CVN. A case (tampering suspected), at most
//! one per vehicle per Beijing day; no blacklist.

use serde::{Deserialize, Serialize};

use crate::engine::context::{day_label, measured, Context};
use crate::engine::state::Tamper;
use crate::engine::VehicleState;
use crate::model::{Obd, Position, RuleId, Secs};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub fine_yuan: u32,
}

pub(crate) fn removal_alarm(
    cx: &mut Context,
    state: &mut VehicleState,
    position: Option<Position>,
) {
    let now = cx.now;
    raise(cx, state, now, "removal_alarm", position);
}

/// An OBD entry, live or reissued. The ECU's VIN is compared only when it gave one (empty or
/// all-zero filler means it did not answer); calibration ID and CVN only when both are present.
/// A change is found in event-time order whatever the arrival order: the newest firmware and
/// the span it was reported over are kept.
pub(crate) fn obd(cx: &mut Context, state: &mut VehicleState, t: Secs, obd: &Obd) {
    if obd
        .vin
        .as_deref()
        .is_some_and(|v| answered(v) && v != cx.event.vin.as_str())
    {
        raise(cx, state, t, "obd_vin_mismatch", None);
    }
    if !answered(&obd.calibration_id) || !answered(&obd.cvn) {
        return;
    }
    let firmware = fingerprint(&obd.calibration_id, &obd.cvn);
    let tamper = &mut state.tamper;
    if tamper.firmware == 0 || (tamper.firmware != firmware && t > tamper.until) {
        let changed = tamper.firmware != 0;
        *tamper = Tamper {
            firmware,
            since: t,
            until: t,
        };
        if changed {
            raise(cx, state, t, "calibration_changed", None);
        }
    } else if tamper.firmware == firmware {
        tamper.since = tamper.since.min(t);
        tamper.until = tamper.until.max(t);
    } else {
        // An older entry of another firmware: the change happened when the newest began.
        let at = if t < tamper.since { tamper.since } else { t };
        raise(cx, state, at, "calibration_changed", None);
    }
}

/// Whether an identifier field carries an answer: some printable ASCII character other than
/// the fillers `0` and space (empty, all-zero, NUL and `0xFF` fields are no answer).
fn answered(text: &str) -> bool {
    text.bytes().any(|b| b.is_ascii_graphic() && b != b'0')
}

fn raise(
    cx: &mut Context,
    state: &mut VehicleState,
    t: Secs,
    what: &'static str,
    position: Option<Position>,
) {
    let day = t.beijing_day();
    if state.rare().days.terminal_tamper.contains(day) {
        return;
    }
    state.rare_mut().days.terminal_tamper.insert(day);
    let fine = cx.rules.terminal_tamper.fine_yuan;
    let evidence = cx.evidence(t, t, position, vec![measured(what, 1.0, None, "flag")]);
    cx.case(state, RuleId::TerminalTamper, &day_label(t), fine, evidence);
}

/// FNV-1a of calibration ID and CVN; never 0 so 0 can mean "not seen".
fn fingerprint(calibration_id: &str, cvn: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in calibration_id.bytes().chain([0]).chain(cvn.bytes()) {
        h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
    }
    h.max(1)
}

#[cfg(test)]
mod tests {
    use crate::engine::testkit::{obd, rules, Vehicle, T0, TIANANMEN};
    use crate::model::{EventKind, Report, RuleId};

    #[test]
    fn removal_alarms_raise_one_case_per_beijing_day() {
        let mut v = Vehicle::new(rules(""));
        v.send(
            T0,
            EventKind::RemovalAlarm {
                position: Some(TIANANMEN),
            },
        );
        v.send(
            T0 + 3600,
            EventKind::RemovalAlarm {
                position: Some(TIANANMEN),
            },
        );
        assert_eq!(v.cases(RuleId::TerminalTamper).len(), 1);
        // T0 is 08:00 Beijing; 16 h later is the next Beijing day.
        v.send(T0 + 16 * 3600, EventKind::RemovalAlarm { position: None });
        let cases = v.cases(RuleId::TerminalTamper);
        assert_eq!(cases.len(), 2);
        assert_eq!(cases[1].id, "terminal_tamper:LGDCHA1G8MA127733:20261103");
        assert!(!v.listed(), "tampering is a case, not a listing");
    }

    #[test]
    fn obd_vin_mismatch_and_calibration_change() {
        let mut v = Vehicle::new(rules(""));
        let mut o = obd(T0, false, &[]);
        o.vin = Some("LGDCHA1G8MA127733".into());
        v.send(
            T0,
            EventKind::Report(Report {
                backfill: false,
                samples: vec![],
                obd: vec![o.clone()],
            }),
        );
        assert!(v.outputs.is_empty());
        o.time = crate::model::EventTime::from_unix_secs(T0 + 10);
        o.vin = Some("LG6ZDANH7EY208182".into());
        v.send(
            T0 + 10,
            EventKind::Report(Report {
                backfill: false,
                samples: vec![],
                obd: vec![o.clone()],
            }),
        );
        assert_eq!(v.cases(RuleId::TerminalTamper).len(), 1);

        let mut w = Vehicle::new(rules(""));
        let mut o = obd(T0, false, &[]);
        w.send(
            T0,
            EventKind::Report(Report {
                backfill: false,
                samples: vec![],
                obd: vec![o.clone()],
            }),
        );
        o.time = crate::model::EventTime::from_unix_secs(T0 + 10);
        o.cvn = "CVN0002".into();
        w.send(
            T0 + 10,
            EventKind::Report(Report {
                backfill: false,
                samples: vec![],
                obd: vec![o],
            }),
        );
        assert_eq!(w.cases(RuleId::TerminalTamper).len(), 1);
    }
}
