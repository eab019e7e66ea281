//! `roadside_fail`: a manual check with any measured value over its GB 3847-2018 limit,
//! Ringelmann blackness over the limit, or a failed OBD check (MIL on, or no communication).
//! Blacklist immediately; the penalty is issued on site, so no non-site case.

use serde::{Deserialize, Serialize};

use super::{positive, Invalid};
use crate::engine::context::Context;
use crate::engine::listing::list;
use crate::engine::VehicleState;
use crate::model::{ManualCheck, RuleId};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub standard: String,
    pub free_acceleration_opacity_per_m: f64,
    pub lug_down_opacity_per_m: f64,
    pub lug_down_nox_ppm: f32,
    pub max_ringelmann: u32,
}

impl Params {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        let limits = [
            (
                "roadside_fail.free_acceleration_opacity_per_m",
                self.free_acceleration_opacity_per_m,
            ),
            (
                "roadside_fail.lug_down_opacity_per_m",
                self.lug_down_opacity_per_m,
            ),
            (
                "roadside_fail.lug_down_nox_ppm",
                f64::from(self.lug_down_nox_ppm),
            ),
        ];
        for (key, value) in limits {
            if !positive(value) {
                return Err(Invalid {
                    key,
                    message: "must be positive".into(),
                });
            }
        }
        if self.max_ringelmann > 5 {
            return Err(Invalid {
                key: "roadside_fail.max_ringelmann",
                message: "must be 0 to 5".into(),
            });
        }
        Ok(())
    }

    /// Whether the check fails, by any measurement or the OBD check.
    pub fn fails(&self, c: &ManualCheck) -> bool {
        c.free_acceleration_opacity
            .is_some_and(|v| v > self.free_acceleration_opacity_per_m)
            || c.lug_down_opacity
                .is_some_and(|v| v > self.lug_down_opacity_per_m)
            || c.lug_down_nox.is_some_and(|v| v.0 > self.lug_down_nox_ppm)
            || c.ringelmann.is_some_and(|v| v > self.max_ringelmann)
            || c.obd_mil_on == Some(true)
            || c.obd_communication_ok == Some(false)
    }
}

pub(crate) fn apply(cx: &mut Context, state: &mut VehicleState, check: &ManualCheck) {
    if cx.rules.roadside_fail.fails(check) {
        let now = cx.now;
        list(cx, state, RuleId::RoadsideFail, now);
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::testkit::{rules, Vehicle, T0};
    use crate::model::{EventKind, ManualCheck, Ppm, RuleId};

    fn check() -> ManualCheck {
        ManualCheck {
            plate: None,
            site_id: "S1".into(),
            device_id: "D1".into(),
            position: None,
            free_acceleration_opacity: Some(0.3),
            lug_down_opacity: None,
            lug_down_nox: None,
            ringelmann: Some(0),
            obd_mil_on: Some(false),
            obd_communication_ok: Some(true),
        }
    }

    fn listed(c: ManualCheck) -> bool {
        let mut v = Vehicle::new(rules(""));
        v.send(T0, EventKind::ManualCheck(c));
        v.listed()
    }

    #[test]
    fn limits_are_strictly_over() {
        assert!(!listed(check()));
        assert!(!listed(ManualCheck {
            free_acceleration_opacity: Some(0.7),
            ..check()
        }));
        assert!(listed(ManualCheck {
            free_acceleration_opacity: Some(0.71),
            ..check()
        }));
        assert!(!listed(ManualCheck {
            lug_down_opacity: Some(0.7),
            ..check()
        }));
        assert!(listed(ManualCheck {
            lug_down_opacity: Some(0.71),
            ..check()
        }));
        assert!(!listed(ManualCheck {
            lug_down_nox: Some(Ppm(900.0)),
            ..check()
        }));
        assert!(listed(ManualCheck {
            lug_down_nox: Some(Ppm(901.0)),
            ..check()
        }));
        assert!(!listed(ManualCheck {
            ringelmann: Some(1),
            ..check()
        }));
        assert!(listed(ManualCheck {
            ringelmann: Some(2),
            ..check()
        }));
    }

    #[test]
    fn failed_obd_check_lists() {
        assert!(listed(ManualCheck {
            obd_mil_on: Some(true),
            ..check()
        }));
        assert!(listed(ManualCheck {
            obd_communication_ok: Some(false),
            ..check()
        }));
    }

    #[test]
    fn listing_has_no_case_and_repeats_are_idempotent() {
        let mut v = Vehicle::new(rules(""));
        let bad = ManualCheck {
            ringelmann: Some(3),
            ..check()
        };
        v.send(T0, EventKind::ManualCheck(bad.clone()));
        v.send(T0, EventKind::ManualCheck(bad));
        assert_eq!(v.blacklist().len(), 1);
        assert!(v.cases(RuleId::RoadsideFail).is_empty());
    }
}
