//! Loading configuration: the rule parameters (`config/rules.toml`, compiled in as the
//! defaults, with an optional override file merged over it key by key) and the boundary file
//! they name. Every failure is a `ConfigError` naming the key or file.

use std::path::{Path, PathBuf};

use crate::engine::{Boundary, Rules};

pub const DEFAULT_RULES: &str = include_str!("../config/rules.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{origin}: {message}")]
    Parse { origin: String, message: String },
    #[error("invalid value for `{key}`: {message}")]
    Invalid { key: String, message: String },
    #[error("boundary file {path}: {message}")]
    Boundary { path: PathBuf, message: String },
}

/// The checked-in defaults, with the built-in boundary.
pub fn default_rules() -> Rules {
    rules_from_str(None).expect("checked-in rules.toml is valid")
}

/// Defaults merged with the override file, if any, validated.
pub fn load_rules(overrides: Option<&Path>) -> Result<Rules, ConfigError> {
    let text = overrides
        .map(|path| {
            std::fs::read_to_string(path)
                .map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })
                .map(|text| (path.display().to_string(), text))
        })
        .transpose()?;
    let mut rules = rules_from_str(text.as_ref().map(|(o, t)| (o.as_str(), t.as_str())))?;
    if !rules.blacklisted_entry.boundary.is_empty() {
        let path = PathBuf::from(&rules.blacklisted_entry.boundary);
        let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
            path: path.clone(),
            source,
        })?;
        rules.boundary = Boundary::from_geojson(&text)
            .map_err(|message| ConfigError::Boundary { path, message })?;
    }
    Ok(rules)
}

/// Parses defaults plus an optional `(origin, toml text)` override. Does not read files.
pub fn rules_from_str(overrides: Option<(&str, &str)>) -> Result<Rules, ConfigError> {
    let parse = |origin: &str, text: &str| {
        text.parse::<toml::Table>().map_err(|e| ConfigError::Parse {
            origin: origin.to_owned(),
            message: e.to_string(),
        })
    };
    let mut table = parse("config/rules.toml", DEFAULT_RULES)?;
    let origin = overrides.map_or("config/rules.toml", |(o, _)| o);
    if let Some((origin, text)) = overrides {
        merge(&mut table, parse(origin, text)?, "")?;
    }
    let rules: Rules = serde_path_to_error::deserialize(toml::Value::Table(table)).map_err(
        |e: serde_path_to_error::Error<toml::de::Error>| ConfigError::Invalid {
            key: e.path().to_string(),
            message: format!("{} (in {origin})", e.inner().message()),
        },
    )?;
    rules.validate().map_err(|e| ConfigError::Invalid {
        key: e.key.to_owned(),
        message: e.message,
    })?;
    Ok(rules)
}

/// Overrides replace values key by key; a key the defaults lack is an error, so a typo
/// cannot silently leave a default in force.
fn merge(base: &mut toml::Table, overrides: toml::Table, prefix: &str) -> Result<(), ConfigError> {
    for (key, value) in overrides {
        let path = format!("{prefix}{key}");
        match (base.get_mut(&key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(o)) => {
                merge(b, o, &format!("{path}."))?
            }
            (Some(slot), value) if !slot.is_table() && !value.is_table() => *slot = value,
            (Some(_), _) => {
                return Err(ConfigError::Invalid {
                    key: path,
                    message: "wrong shape (table vs value)".into(),
                })
            }
            (None, _) => {
                return Err(ConfigError::Invalid {
                    key: path,
                    message: "unknown key".into(),
                })
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(text: &str) -> String {
        rules_from_str(Some(("override.toml", text)))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn defaults_load_and_every_threshold_is_a_key() {
        let rules = default_rules();
        assert_eq!(rules.nox_over_limit.min_valid_samples, 60);
        assert_eq!(rules.nox_validity.window.0, 300);
        assert_eq!(rules.mil_emission_fault.min_duration.0, 72 * 3600);
        assert_eq!(rules.data_gap.fill_within.0, 7 * 86_400);
        assert_eq!(rules.remote_sensing_repeat.repeat_within.0, 183 * 86_400);
        assert_eq!(rules.remote_sensing_repeat.fine_yuan, 200);
        assert_eq!(rules.repeat_offender.within.0, 365 * 86_400);
    }

    #[test]
    fn overrides_merge_key_by_key() {
        let rules = rules_from_str(Some(("o", "[data_gap]\nfill_within = \"1h\"\n"))).unwrap();
        assert_eq!(rules.data_gap.fill_within.0, 3600);
        assert_eq!(rules.data_gap.min_gap.0, 1800);
    }

    #[test]
    fn bad_values_name_the_key() {
        assert!(error("[nox_over_limit]\nmin_over_fraction = 1.5")
            .contains("nox_over_limit.min_over_fraction"));
        assert!(error("[nox_over_limit]\nmin_valid_samples = 900")
            .contains("nox_over_limit.min_valid_samples"));
        assert!(error("[nox_over_limit]\nwindows_per_episode = 4")
            .contains("nox_over_limit.windows_per_episode"));
        assert!(error("[data_gap]\nmin_gap = \"soon\"").contains("min_gap"));
        assert!(error("[data_gap]\nmin_gapp = \"1h\"").contains("data_gap.min_gapp"));
        assert!(error("[time]\nvehicle_ttl = \"1d\"").contains("time.vehicle_ttl"));
        assert!(error("[repeat_offender]\nlistings = 7").contains("repeat_offender.listings"));
        assert!(error("nox_over_limit = 3").contains("nox_over_limit"));
    }

    #[test]
    fn a_missing_boundary_file_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rules.toml");
        std::fs::write(
            &path,
            "[blacklisted_entry]\nboundary = \"/nonexistent/b.geojson\"\n",
        )
        .unwrap();
        let err = load_rules(Some(&path)).unwrap_err().to_string();
        assert!(err.contains("/nonexistent/b.geojson"), "{err}");
    }
}
