//! The service's settings, one typed value built in a documented precedence: built-in
//! defaults < the config file (`--config`, TOML) < `TAILWATCH_*` environment variables <
//! command-line flags. Validated once at startup; every error names the key.
//!
//! Secrets (the SASL password) come only from `TAILWATCH_SASL_PASSWORD` or the file named by
//! `sasl_password_file`, never from the config file or a flag, and are never printed or logged:
//! `Secret` has no `Display` and its `Debug` is redacted.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::decode::frame::DialectChoice;
use crate::model::Region;

#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: `{key}`: {message}")]
    File {
        path: PathBuf,
        key: String,
        message: String,
    },
    #[error("`{key}`: {message}")]
    Invalid { key: &'static str, message: String },
    /// A value from a flag or a `TAILWATCH_*` variable.
    #[error("`{key}` (flag or TAILWATCH_ variable): {message}")]
    Flag { key: String, message: String },
}

/// The keys of the connection to Kafka and the topics' names: the settings of the supporting
/// commands.
pub const CONNECTION_KEYS: [&str; 9] = [
    "brokers",
    "topic_prefix",
    "region",
    "neighbours",
    "security_protocol",
    "ssl_ca_location",
    "sasl_mechanism",
    "sasl_username",
    "sasl_password_file",
];

/// Every problem found in the settings, reported together.
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
pub struct SettingsErrors(pub Vec<SettingsError>);

impl From<SettingsError> for SettingsErrors {
    fn from(e: SettingsError) -> SettingsErrors {
        SettingsErrors(vec![e])
    }
}

fn invalid(key: &'static str, message: impl Into<String>) -> SettingsError {
    SettingsError::Invalid {
        key,
        message: message.into(),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum LogFormat {
    /// Readable lines, for a terminal.
    Text,
    /// One JSON object per line, for log collectors.
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    fn uses_sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }

    /// librdkafka's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "plaintext",
            SecurityProtocol::Ssl => "ssl",
            SecurityProtocol::SaslPlaintext => "sasl_plaintext",
            SecurityProtocol::SaslSsl => "sasl_ssl",
        }
    }
}

/// What restore does with a changelog record this release cannot read (a state a later
/// release wrote, after a rollback; corrupt bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum UnreadableState {
    /// The partition is not processed and `/readyz` says why, until a release that reads the
    /// record is deployed (or this setting changes). No vehicle's state is lost.
    Halt,
    /// The record goes to the DLQ as `unreadable_state` (and is tombstoned in the changelog,
    /// in the same transaction); the vehicle starts again from no state.
    DeadLetter,
}

/// A secret value: redacted in `Debug`, no `Display`, skipped by serialization.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// Every setting of the Kafka-facing commands. Field names are the config file keys; the
/// environment variable of a key is `TAILWATCH_` + the key in upper case.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Bootstrap servers, `host:port[,host:port…]`. Required.
    pub brokers: String,
    /// Prefix of every topic name (a deployment's namespace).
    pub topic_prefix: String,
    pub group_id: String,
    /// Stable per instance (static membership, transactional id); default `$HOSTNAME`.
    pub instance_id: String,
    #[serde(with = "humantime_serde")]
    pub commit_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub merge_wait: Duration,
    /// Most input records the merge may hold fetched and not yet processed, in all its queues;
    /// a full queue pauses fetching of its topic-partition.
    pub merge_max_records: usize,
    /// The same, in bytes (keys, values, headers); size it from the memory limit.
    pub merge_max_bytes: usize,
    /// Longest a transaction may stay open before the broker aborts it.
    #[serde(with = "humantime_serde")]
    pub transaction_timeout: Duration,
    /// How long the group waits for a silent instance before moving its partitions.
    #[serde(with = "humantime_serde")]
    pub session_timeout: Duration,
    /// Transactions; `false` is at-least-once, for brokers without transactions.
    pub exactly_once: bool,
    /// How long an input partition with unread records may stay still after a consumer error
    /// (say, a batch librdkafka cannot decompress) before `/readyz` reports it stalled.
    #[serde(with = "humantime_serde")]
    pub stall_timeout: Duration,
    /// Rule parameter overrides merged over the built-in `config/rules.toml`.
    pub rules: Option<PathBuf>,
    /// `/healthz`, `/readyz` and `/metrics`.
    pub admin_addr: SocketAddr,
    /// `/v1/*`: per-vehicle state (plates, permits, listings: personal data), kept off the
    /// admin port so a network policy can admit only the console.
    pub console_addr: SocketAddr,
    /// Longest a stop (SIGTERM) may take: finish in-flight work and commit within it, else
    /// abort the open transaction and exit non-zero. Below the pod's termination grace period.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    pub unreadable_state: UnreadableState,
    pub log_format: LogFormat,
    pub security_protocol: SecurityProtocol,
    /// CA certificate file for `ssl` / `sasl_ssl`.
    pub ssl_ca_location: Option<PathBuf>,
    /// `PLAIN`, `SCRAM-SHA-256` or `SCRAM-SHA-512`.
    pub sasl_mechanism: Option<String>,
    pub sasl_username: Option<String>,
    /// File holding the SASL password (a mounted secret); `TAILWATCH_SASL_PASSWORD` instead.
    pub sasl_password_file: Option<PathBuf>,
    #[serde(skip)]
    pub sasl_password: Option<Secret>,
    /// Dialect of `tw.telemetry.raw`: `auto` or a dialect name (`gb17691`, `hj1239`, `hybrid`, …; a record's
    /// `tw-dialect` header overrides it).
    #[serde(with = "as_text")]
    pub raw_dialect: DialectChoice,
    /// Spacing of stream bodies without a time of their own, which share their frame's time.
    #[serde(with = "humantime_serde")]
    pub sample_interval: Duration,
    /// The province this deployment is (its region code goes on `tw.shared.overlimit`):
    /// `beijing`, `tianjin` or `hebei`.
    #[serde(with = "as_text")]
    pub region: Region,
    /// Neighbouring provinces whose shared over-limit topics MirrorMaker 2 mirrors into this
    /// cluster (as `<alias>.<topic_prefix>shared.overlimit`), comma-separated aliases; their
    /// listings count for `blacklisted_entry`. Empty: none.
    #[serde(with = "as_text")]
    pub neighbours: Regions,
    /// Extra librdkafka properties for every client, applied last.
    pub librdkafka: BTreeMap<String, String>,
}

/// Region aliases, written comma-separated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Regions(pub Vec<Region>);

impl std::str::FromStr for Regions {
    type Err = String;

    fn from_str(text: &str) -> Result<Regions, String> {
        let aliases = text.split(',').map(str::trim).filter(|a| !a.is_empty());
        let regions = aliases
            .map(str::parse)
            .collect::<Result<Vec<Region>, _>>()?;
        Ok(Regions(regions))
    }
}

impl std::fmt::Display for Regions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let aliases: Vec<&str> = self.0.iter().map(|r| r.alias()).collect();
        f.write_str(&aliases.join(","))
    }
}

/// Serde through `Display` / `FromStr`, for values written as text in the file.
mod as_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(value)
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            brokers: String::new(),
            topic_prefix: "tw.".to_owned(),
            group_id: "tailwatch".to_owned(),
            instance_id: String::new(),
            commit_interval: Duration::from_millis(100),
            merge_wait: Duration::from_secs(1),
            merge_max_records: 200_000,
            merge_max_bytes: 128 << 20,
            transaction_timeout: Duration::from_secs(30),
            session_timeout: Duration::from_secs(45),
            exactly_once: true,
            stall_timeout: Duration::from_secs(60),
            rules: None,
            admin_addr: SocketAddr::from(([0, 0, 0, 0], 9464)),
            console_addr: SocketAddr::from(([0, 0, 0, 0], 9465)),
            shutdown_timeout: Duration::from_secs(20),
            unreadable_state: UnreadableState::Halt,
            log_format: LogFormat::Text,
            security_protocol: SecurityProtocol::Plaintext,
            ssl_ca_location: None,
            sasl_mechanism: None,
            sasl_username: None,
            sasl_password_file: None,
            sasl_password: None,
            raw_dialect: DialectChoice::Auto,
            sample_interval: Duration::from_secs(1),
            region: Region::Beijing,
            neighbours: Regions::default(),
            librdkafka: BTreeMap::new(),
        }
    }
}

const SASL_MECHANISMS: [&str; 3] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"];

impl Settings {
    /// The config file's settings over the defaults (no file: the defaults).
    pub fn from_file(path: Option<&Path>) -> Result<Settings, SettingsErrors> {
        Settings::layered(path, &[])
    }

    /// Every key, as the file spells it (also the flags' and variables' names, `app::args`).
    pub fn keys() -> Vec<&'static str> {
        static KEYS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
        KEYS.get_or_init(|| {
            // JSON keeps the keys of absent optional values (TOML leaves them out).
            let value = serde_json::to_value(Settings::default()).expect("settings serialize");
            value
                .as_object()
                .expect("settings are a table")
                .iter()
                .filter(|(_, v)| !v.is_object())
                .map(|(k, _)| &*k.clone().leak())
                .collect()
        })
        .clone()
    }

    /// The defaults, then the config file at `path`, then `overrides` (key, text: flags and
    /// environment variables), each key read through serde as the file is. Every bad key is
    /// reported, not only the first.
    pub fn layered(
        path: Option<&Path>,
        overrides: &[(&str, String)],
    ) -> Result<Settings, SettingsErrors> {
        let source = path.map_or_else(|| PathBuf::from("flags"), Path::to_owned);
        let mut table = match path {
            None => toml::Table::new(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                text.parse()
                    .map_err(|e: toml::de::Error| SettingsError::File {
                        path: path.to_owned(),
                        key: String::new(),
                        message: e.message().to_owned(),
                    })?
            }
        };
        let read = |table: toml::Table| {
            serde_path_to_error::deserialize::<_, Settings>(toml::Value::Table(table)).map_err(
                |e| SettingsError::File {
                    path: source.clone(),
                    key: e.path().to_string(),
                    message: e.inner().message().to_owned(),
                },
            )
        };
        let alone =
            |key: &str, value: toml::Value| read(toml::Table::from_iter([(key.to_owned(), value)]));
        // Each key alone over the defaults, so every bad key is named, not only the first.
        let mut errors: Vec<SettingsError> = table
            .iter()
            .filter_map(|(k, v)| alone(k, v.clone()).err())
            .collect();
        for (key, text) in overrides {
            // As text first (names, durations, addresses); else as a TOML value (numbers,
            // booleans).
            let as_value = format!("v = {text}")
                .parse::<toml::Table>()
                .ok()
                .and_then(|mut t| t.remove("v"));
            let value = match (alone(key, toml::Value::String(text.clone())), as_value) {
                (Ok(_), _) | (Err(_), None) => toml::Value::String(text.clone()),
                (Err(_), Some(v)) => v,
            };
            if let Err(SettingsError::File { key, message, .. }) = alone(key, value.clone()) {
                errors.push(SettingsError::Flag { key, message });
            }
            table.insert((*key).to_owned(), value);
        }
        if !errors.is_empty() {
            return Err(SettingsErrors(errors));
        }
        Ok(read(table)?)
    }

    /// Fills what only the environment can give (the password, `$HOSTNAME`), then checks
    /// every key and the relations between them.
    pub fn finish(
        mut self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, SettingsErrors> {
        if self.instance_id.is_empty() {
            self.instance_id = env("HOSTNAME").unwrap_or_else(|| "tailwatch-0".to_owned());
        }
        self.sasl_password = match (&self.sasl_password_file, env("TAILWATCH_SASL_PASSWORD")) {
            (_, Some(password)) => Some(Secret(password)),
            (Some(path), None) => {
                let text = std::fs::read_to_string(path).map_err(|source| SettingsError::Read {
                    path: path.clone(),
                    source,
                })?;
                // Files written by hand or by `kubectl create secret` often end in a newline.
                Some(Secret(text.trim_end_matches(['\r', '\n']).to_owned()))
            }
            (None, None) => None,
        };
        let errors = self.validate();
        if errors.is_empty() {
            Ok(self)
        } else {
            Err(SettingsErrors(errors))
        }
    }

    /// Every key's problems, and those of the relations between keys.
    fn validate(&self) -> Vec<SettingsError> {
        let mut errors = Vec::new();
        if self.brokers.trim().is_empty() {
            errors.push(invalid(
                "brokers",
                "required (--brokers, TAILWATCH_BROKERS or `brokers` in the config file)",
            ));
        }
        if self.topic_prefix.is_empty() || self.topic_prefix.contains(char::is_whitespace) {
            errors.push(invalid("topic_prefix", "must be non-empty, without spaces"));
        }
        if self.group_id.trim().is_empty() {
            errors.push(invalid("group_id", "must not be empty"));
        }
        if self.sample_interval.is_zero() {
            errors.push(invalid("sample_interval", "must be more than 0"));
        }
        if self.commit_interval.is_zero() {
            errors.push(invalid("commit_interval", "must be more than 0"));
        }
        if self.stall_timeout.is_zero() {
            errors.push(invalid("stall_timeout", "must be more than 0"));
        }
        // A transaction must be able to stay open for a whole commit interval, and must be
        // aborted by the broker before a silent instance's partitions move: otherwise the new
        // owner's read_committed restore waits on the old owner's open transaction.
        if self.transaction_timeout <= self.commit_interval {
            errors.push(invalid(
                "transaction_timeout",
                format!(
                    "must be longer than commit_interval ({} ≤ {})",
                    humantime::format_duration(self.transaction_timeout),
                    humantime::format_duration(self.commit_interval)
                ),
            ));
        }
        if self.session_timeout <= self.transaction_timeout {
            errors.push(invalid(
                "session_timeout",
                format!(
                    "must be longer than transaction_timeout ({} ≤ {})",
                    humantime::format_duration(self.session_timeout),
                    humantime::format_duration(self.transaction_timeout)
                ),
            ));
        }
        let sasl = self.security_protocol.uses_sasl();
        match (&self.sasl_mechanism, sasl) {
            (Some(m), true) if !SASL_MECHANISMS.contains(&m.as_str()) => {
                errors.push(invalid(
                    "sasl_mechanism",
                    format!("{m:?} is not one of {SASL_MECHANISMS:?}"),
                ));
            }
            (None, true) => {
                errors.push(invalid(
                    "sasl_mechanism",
                    "required with a sasl_* security_protocol",
                ));
            }
            _ => {}
        }
        if sasl && (self.sasl_username.is_none() || self.sasl_password.is_none()) {
            errors.push(invalid(
                "sasl_username",
                "a sasl_* security_protocol needs sasl_username and a password \
                 (TAILWATCH_SASL_PASSWORD or sasl_password_file)",
            ));
        }
        if let Some(key) = self.librdkafka.keys().find(|k| is_secret_key(k)) {
            errors.push(invalid(
                "librdkafka",
                format!("{key:?} is a secret: use sasl_password_file or TAILWATCH_SASL_PASSWORD"),
            ));
        }
        if self.merge_max_records == 0 || self.merge_max_bytes == 0 {
            errors.push(invalid(
                "merge_max_bytes",
                "merge_max_records and merge_max_bytes must be more than 0",
            ));
        }
        if self.shutdown_timeout.is_zero() {
            errors.push(invalid("shutdown_timeout", "must be more than 0"));
        }
        if self.console_addr == self.admin_addr && self.admin_addr.port() != 0 {
            errors.push(invalid("console_addr", "must differ from admin_addr"));
        }
        let neighbours = &self.neighbours.0;
        if neighbours.contains(&self.region) {
            errors.push(invalid(
                "neighbours",
                format!("names this deployment's own region {}", self.region),
            ));
        }
        if (1..neighbours.len()).any(|i| neighbours[..i].contains(&neighbours[i])) {
            errors.push(invalid("neighbours", "names a region twice"));
        }
        errors
    }

    /// The effective settings as TOML, secrets redacted (`tailwatch config print`).
    pub fn to_toml(&self) -> String {
        let mut text = toml::to_string(self).expect("settings serialize");
        if self.sasl_password.is_some() {
            text.push_str("\n# sasl_password = \"<redacted>\" (set)\n");
        }
        text
    }
}

fn is_secret_key(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    key.contains("password") || key.contains("secret") || key.ends_with(".key.pem")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(text: &str) -> Result<Settings, SettingsErrors> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tailwatch.toml");
        std::fs::write(&path, text).unwrap();
        Settings::from_file(Some(&path))
    }

    fn no_env(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn file_values_override_defaults() {
        let s = file("brokers = \"k:9092\"\ncommit_interval = \"250ms\"\n[librdkafka]\n\"linger.ms\" = \"7\"\n")
            .unwrap()
            .finish(no_env)
            .unwrap();
        assert_eq!(s.brokers, "k:9092");
        assert_eq!(s.commit_interval, Duration::from_millis(250));
        assert_eq!(s.merge_wait, Duration::from_secs(1));
        assert_eq!(s.librdkafka["linger.ms"], "7");
    }

    #[test]
    fn unknown_key_and_bad_value_name_the_key() {
        let e = file("brokers = \"k\"\ncommit_intervall = \"1s\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("commit_intervall"), "{e}");
        let e = file("commit_interval = \"soon\"\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("commit_interval"), "{e}");
        let e = file("admin_addr = \"nowhere\"\n").unwrap_err().to_string();
        assert!(e.contains("admin_addr"), "{e}");
    }

    #[test]
    fn raw_dialect_is_read_as_text() {
        let s = file("brokers = \"k\"\nraw_dialect = \"hj1239\"\n").unwrap();
        assert_eq!(s.raw_dialect.to_string(), "hj1239");
        let e = file("raw_dialect = \"gb32960\"\n").unwrap_err().to_string();
        assert!(e.contains("raw_dialect"), "{e}");
    }

    #[test]
    fn every_bad_key_is_reported_at_once() {
        let e = file("commit_interval = \"soon\"\nadmin_addr = \"nowhere\"\nbrokerz = \"k\"\n")
            .unwrap_err()
            .to_string();
        for key in ["commit_interval", "admin_addr", "brokerz"] {
            assert!(e.contains(key), "{key} missing from: {e}");
        }
        let s = Settings {
            commit_interval: Duration::ZERO,
            shutdown_timeout: Duration::ZERO,
            ..Settings::default()
        };
        let e = s.finish(no_env).unwrap_err();
        let keys: Vec<String> = e.0.iter().map(ToString::to_string).collect();
        assert_eq!(e.0.len(), 3, "{keys:?}");
        for (error, key) in keys
            .iter()
            .zip(["brokers", "commit_interval", "shutdown_timeout"])
        {
            assert!(error.starts_with(&format!("`{key}`")), "{error}");
        }
    }

    /// A value reads the same from a flag or variable (clap) as from the file (serde).
    #[test]
    fn flags_and_the_file_spell_values_alike() {
        fn same<T: clap::ValueEnum + Serialize>() {
            for v in T::value_variants() {
                let flag = v.to_possible_value().unwrap().get_name().to_owned();
                assert_eq!(serde_json::to_value(v).unwrap(), flag);
            }
        }
        same::<LogFormat>();
        same::<SecurityProtocol>();
        same::<UnreadableState>();
    }

    /// Flags and variables are read as the file reads them: text where the key takes text,
    /// numbers and booleans where it takes those.
    #[test]
    fn flag_values_are_read_as_the_file_reads_them() {
        fn given<'a>(pairs: &[(&'a str, &str)]) -> Vec<(&'a str, String)> {
            pairs.iter().map(|&(k, v)| (k, v.to_owned())).collect()
        }
        let s = Settings::layered(
            None,
            &given(&[
                ("brokers", "k:9092"),
                ("group_id", "123"),
                ("exactly_once", "false"),
                ("merge_max_records", "7"),
                ("commit_interval", "250ms"),
                ("unreadable_state", "dead_letter"),
            ]),
        )
        .unwrap();
        assert_eq!(s.group_id, "123");
        assert!(!s.exactly_once);
        assert_eq!(s.merge_max_records, 7);
        assert_eq!(s.commit_interval, Duration::from_millis(250));
        assert_eq!(s.unreadable_state, UnreadableState::DeadLetter);
        let e = Settings::layered(
            None,
            &given(&[("merge_max_records", "many"), ("commit_interval", "soon")]),
        )
        .unwrap_err();
        let text = e.to_string();
        assert_eq!(e.0.len(), 2, "{text}");
        assert!(text.contains("merge_max_records") && text.contains("commit_interval"));
    }

    /// Every key `config print` writes is a flag and a variable (`app::args` derives them from
    /// `Settings::keys`), and the connection keys are keys.
    #[test]
    fn every_printed_key_has_a_flag() {
        let s = Settings {
            rules: Some("r.toml".into()),
            ssl_ca_location: Some("ca".into()),
            sasl_mechanism: Some("PLAIN".into()),
            sasl_username: Some("u".into()),
            sasl_password_file: Some("p".into()),
            ..Settings::default()
        };
        let printed: toml::Table = s.to_toml().parse().unwrap();
        let keys = Settings::keys();
        for key in printed.keys().filter(|k| !printed[*k].is_table()) {
            assert!(keys.contains(&key.as_str()), "{key} has no flag");
        }
        for key in CONNECTION_KEYS {
            assert!(keys.contains(&key), "{key}");
        }
    }

    #[test]
    fn brokers_are_required() {
        let e = Settings::default().finish(no_env).unwrap_err().to_string();
        assert!(e.starts_with("`brokers`"), "{e}");
    }

    #[test]
    fn timeouts_must_nest() {
        let mut s = Settings {
            brokers: "k".into(),
            ..Settings::default()
        };
        s.transaction_timeout = Duration::from_millis(100);
        let e = s.clone().finish(no_env).unwrap_err().to_string();
        assert!(e.starts_with("`transaction_timeout`"), "{e}");
        s.transaction_timeout = Duration::from_secs(60);
        let e = s.finish(no_env).unwrap_err().to_string();
        assert!(e.starts_with("`session_timeout`"), "{e}");
    }

    #[test]
    fn sasl_needs_mechanism_user_and_password_and_keeps_the_password_secret() {
        let mut s = Settings {
            brokers: "k".into(),
            security_protocol: SecurityProtocol::SaslSsl,
            ..Settings::default()
        };
        let e = s.clone().finish(no_env).unwrap_err().to_string();
        assert!(e.starts_with("`sasl_mechanism`"), "{e}");
        s.sasl_mechanism = Some("SCRAM-SHA-512".into());
        s.sasl_username = Some("tw".into());
        let e = s.clone().finish(no_env).unwrap_err().to_string();
        assert!(e.starts_with("`sasl_username`"), "{e}");

        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("password");
        std::fs::write(&path, "hunter2\n").unwrap();
        s.sasl_password_file = Some(path);
        let done = s.clone().finish(no_env).unwrap();
        assert_eq!(done.sasl_password.as_ref().unwrap().expose(), "hunter2");
        assert!(!format!("{done:?}").contains("hunter2"));
        assert!(!done.to_toml().contains("hunter2"));
        assert!(done.to_toml().contains("<redacted>"));

        let from_env = s
            .finish(|k| (k == "TAILWATCH_SASL_PASSWORD").then(|| "from-env".to_owned()))
            .unwrap();
        assert_eq!(from_env.sasl_password.unwrap().expose(), "from-env");
    }

    #[test]
    fn secrets_are_refused_in_librdkafka_overrides() {
        let e = file("brokers = \"k\"\n[librdkafka]\n\"sasl.password\" = \"x\"\n")
            .unwrap()
            .finish(no_env)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("`librdkafka`"), "{e}");
    }

    #[test]
    fn printed_settings_read_back_the_same() {
        let s = file("brokers = \"a:1,b:2\"\nsecurity_protocol = \"ssl\"\nlog_format = \"json\"\n")
            .unwrap()
            .finish(no_env)
            .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("printed.toml");
        std::fs::write(&path, s.to_toml()).unwrap();
        let again = Settings::from_file(Some(&path)).unwrap();
        assert_eq!(again.to_toml(), s.to_toml());
    }
}
