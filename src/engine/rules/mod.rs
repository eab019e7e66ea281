//! The rule catalogue (domain.md §4), one file per rule, and `Rules`: every parameter they
//! read, deserialised from `config/rules.toml` (loaded and merged by `crate::config`).
//!
//! Pure. Rules read the event and the vehicle's state and append outputs through `Effects`.

pub mod alert_restriction;
pub mod blacklisted_entry;
pub mod data_gap;
pub mod mil_emission_fault;
pub mod nox_over_limit;
pub mod reagent_empty;
pub mod remote_sensing_repeat;
pub mod repeat_offender;
pub mod roadside_fail;
pub mod scr_ineffective;
pub mod terminal_tamper;

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::RuleId;

use crate::model::Boundary;

/// A duration in whole seconds, written as a humantime string ("30m", "7d").
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Span(pub u32);

impl fmt::Debug for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            humantime::format_duration(std::time::Duration::from_secs(self.0.into()))
        )
    }
}

impl fmt::Display for Span {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

impl<'de> Deserialize<'de> for Span {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Span, D::Error> {
        let text = String::deserialize(d)?;
        let duration = humantime::parse_duration(&text).map_err(serde::de::Error::custom)?;
        let secs = u32::try_from(duration.as_secs())
            .map_err(|_| serde::de::Error::custom("duration too long"))?;
        Ok(Span(secs))
    }
}

impl Serialize for Span {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct TimeParams {
    pub grace: Span,
    pub vehicle_ttl: Span,
}

/// How long and how much plate-only evidence may wait for the registration that resolves it
/// (per input partition, event time). Read by the pipeline, not by rules: it decides whether
/// such evidence reaches a vehicle at all.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PlateReadParams {
    pub hold: Span,
    pub max_held: u32,
}

/// The NOx validity gate and window shared by `nox_over_limit` and `scr_ineffective`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct NoxValidity {
    pub min_engine_rpm: f32,
    pub min_coolant_c: f32,
    pub min_scr_inlet_c: f32,
    pub window: Span,
}

/// Every rule parameter. Built from the defaults file plus overrides; see `validate`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rules {
    pub time: TimeParams,
    pub plate_reads: PlateReadParams,
    pub nox_validity: NoxValidity,
    pub nox_over_limit: nox_over_limit::Params,
    pub scr_ineffective: scr_ineffective::Params,
    pub reagent_empty: reagent_empty::Params,
    pub mil_emission_fault: mil_emission_fault::Params,
    pub terminal_tamper: terminal_tamper::Params,
    pub data_gap: data_gap::Params,
    pub roadside_fail: roadside_fail::Params,
    pub remote_sensing_repeat: remote_sensing_repeat::Params,
    pub blacklisted_entry: blacklisted_entry::Params,
    pub repeat_offender: repeat_offender::Params,
    pub alert_restriction: alert_restriction::Params,
    /// Loaded from `blacklisted_entry.boundary` by the config loader.
    #[serde(skip)]
    pub boundary: Boundary,
}

/// A parameter that failed validation: the dotted key and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    pub key: &'static str,
    pub message: String,
}

fn check(ok: bool, key: &'static str, message: &str) -> Result<(), Invalid> {
    if ok {
        Ok(())
    } else {
        Err(Invalid {
            key,
            message: message.to_owned(),
        })
    }
}

impl Rules {
    /// The parameters a rule's verdicts rest on, as sorted `section.key = value` pairs, for
    /// the case record.
    pub fn parameters(&self, rule: RuleId) -> Vec<(String, String)> {
        fn flatten(section: &str, params: &impl Serialize, out: &mut Vec<(String, String)>) {
            let Ok(serde_json::Value::Object(map)) = serde_json::to_value(params) else {
                return;
            };
            for (key, value) in map {
                let text = match value {
                    serde_json::Value::String(s) => s,
                    other => other.to_string(),
                };
                out.push((format!("{section}.{key}"), text));
            }
        }
        let mut out = Vec::new();
        match rule {
            RuleId::NoxOverLimit => {
                flatten("nox_validity", &self.nox_validity, &mut out);
                flatten(rule.as_str(), &self.nox_over_limit, &mut out);
            }
            RuleId::ScrIneffective => {
                flatten("nox_validity", &self.nox_validity, &mut out);
                flatten(rule.as_str(), &self.scr_ineffective, &mut out);
            }
            RuleId::ReagentEmpty => flatten(rule.as_str(), &self.reagent_empty, &mut out),
            RuleId::MilEmissionFault => flatten(rule.as_str(), &self.mil_emission_fault, &mut out),
            RuleId::TerminalTamper => flatten(rule.as_str(), &self.terminal_tamper, &mut out),
            RuleId::DataGap => flatten(rule.as_str(), &self.data_gap, &mut out),
            RuleId::RoadsideFail => flatten(rule.as_str(), &self.roadside_fail, &mut out),
            RuleId::RemoteSensingRepeat => {
                flatten(rule.as_str(), &self.remote_sensing_repeat, &mut out)
            }
            RuleId::BlacklistedEntry => flatten(rule.as_str(), &self.blacklisted_entry, &mut out),
            RuleId::RepeatOffender => flatten(rule.as_str(), &self.repeat_offender, &mut out),
            RuleId::AlertRestriction => flatten(rule.as_str(), &self.alert_restriction, &mut out),
        }
        out.sort();
        out
    }

    /// Cross-checks values serde cannot: ranges, ordering, state capacity.
    pub fn validate(&self) -> Result<(), Invalid> {
        let w = self.nox_validity.window.0;
        check(
            w > 0 && w <= 600,
            "nox_validity.window",
            "must be between 1s and 10m",
        )?;
        check(self.time.grace.0 > 0, "time.grace", "must be positive")?;
        check(
            self.plate_reads.hold.0 > 0,
            "plate_reads.hold",
            "must be positive",
        )?;
        check(
            self.plate_reads.max_held > 0,
            "plate_reads.max_held",
            "must be positive",
        )?;
        check(
            self.time.vehicle_ttl > self.time.grace,
            "time.vehicle_ttl",
            "must be longer than time.grace, or late data would find no state",
        )?;
        self.nox_over_limit.validate(w)?;
        self.scr_ineffective.validate(w)?;
        self.reagent_empty.validate()?;
        self.mil_emission_fault.validate()?;
        self.data_gap.validate()?;
        self.roadside_fail.validate()?;
        self.remote_sensing_repeat.validate()?;
        self.blacklisted_entry.validate()?;
        self.repeat_offender.validate()?;
        Ok(())
    }
}

/// Checks shared by the two windowed episode rules.
pub(crate) fn validate_episodes(
    windows_per_episode: u32,
    span: Span,
    min_valid_samples: u32,
    window: u32,
    keys: [&'static str; 3],
) -> Result<(), Invalid> {
    check(
        (1..=3).contains(&windows_per_episode),
        keys[0],
        "must be 1, 2 or 3 (state keeps the two previous windows)",
    )?;
    check(span.0 >= window, keys[1], "must be at least one window")?;
    check(
        min_valid_samples >= 1 && min_valid_samples <= window,
        keys[2],
        "must be between 1 and the window length in seconds (1 Hz samples)",
    )
}

/// False for NaN as well as for values at or below zero.
pub(crate) fn positive(value: f64) -> bool {
    value > 0.0
}

/// False for NaN as well as for negative values.
pub(crate) fn non_negative(value: f64) -> bool {
    value >= 0.0
}
