//! `repeat_offender`: a third listing within 365 days marks the listing and its cases
//! `priority = high` and raises a `repeat_offender` case. The logic lives with the blacklist
//! lifecycle (`engine::listing`); this file holds its parameters.

use serde::{Deserialize, Serialize};

use super::{Invalid, Span};

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub listings: u32,
    pub within: Span,
    pub fine_yuan: u32,
}

impl Params {
    pub(crate) fn validate(&self) -> Result<(), Invalid> {
        if !(2..=3).contains(&self.listings) {
            return Err(Invalid {
                key: "repeat_offender.listings",
                message: "must be 2 or 3 (state keeps the two previous listings)".into(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::engine::testkit::{fail_check, rules, Vehicle, T0};
    use crate::model::{BlacklistStatus, EventKind, Output, Priority, Reinspection, RuleId};

    fn pass(v: &mut Vehicle, t: i64, passed: bool) -> Vec<Output> {
        v.send(
            t,
            EventKind::Reinspection(Reinspection {
                station_id: "IM-1".into(),
                report_id: format!("R{t}"),
                passed,
            }),
        )
    }

    #[test]
    fn delisting_needs_a_passing_reinspection_after_the_listing() {
        let mut v = Vehicle::new(rules(""));
        pass(&mut v, T0 - 10, true);
        fail_check(&mut v, T0);
        assert!(
            pass(&mut v, T0 + 10, false).is_empty(),
            "a failed re-test changes nothing"
        );
        let out = pass(&mut v, T0 + 20, true);
        let [Output::Blacklist(e)] = out.as_slice() else {
            panic!("{out:?}")
        };
        assert_eq!(e.status, BlacklistStatus::Delisted);
        assert_eq!(
            e.reinspection.as_ref().unwrap().report_id,
            format!("R{}", T0 + 20)
        );
        assert!(!v.listed());
        // Evidence from before the re-inspection cannot list again.
        fail_check(&mut v, T0 + 15);
        assert!(!v.listed());
    }

    #[test]
    fn third_listing_within_365_days_is_high_priority() {
        let mut v = Vehicle::new(rules(""));
        for (i, day) in [0, 100, 364].into_iter().enumerate() {
            let t = T0 + day * 86_400;
            fail_check(&mut v, t);
            let listed = v.blacklist().last().cloned().unwrap();
            assert_eq!(listed.repeat_count as usize, i + 1);
            pass(&mut v, t + 3600, true);
        }
        let listings: Vec<_> = v
            .blacklist()
            .into_iter()
            .filter(|e| e.status == BlacklistStatus::Listed)
            .collect();
        assert_eq!(listings[1].priority, Priority::Normal);
        assert_eq!(listings[2].priority, Priority::High);
        assert_eq!(v.cases(RuleId::RepeatOffender).len(), 1);
    }

    #[test]
    fn listings_spread_over_more_than_365_days_are_not_repeats() {
        let mut v = Vehicle::new(rules(""));
        for day in [0, 100, 366] {
            let t = T0 + day * 86_400;
            fail_check(&mut v, t);
            pass(&mut v, t + 3600, true);
        }
        assert!(v.cases(RuleId::RepeatOffender).is_empty());
    }
}
