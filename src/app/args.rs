//! Command-line flags and `TAILWATCH_*` environment variables for the settings, derived from
//! `Settings` itself: every key of the settings (as serde writes them) is a flag `--key-name`
//! and a variable `TAILWATCH_KEY_NAME`, and its value goes through the same serde path as the
//! config file. Nothing here names a setting, so flags, variables, the file and
//! `config print` cannot drift apart.

use std::path::PathBuf;

use clap::{Arg, ArgMatches, Command};

use crate::kafka::KafkaConfig;
use crate::model::Region;
use crate::settings::{Regions, Settings, SettingsErrors, CONNECTION_KEYS};
use crate::topics::Topics;

/// Which settings a command takes.
#[derive(Clone, Copy)]
enum Scope {
    /// The connection to Kafka (topics, replay, record).
    Connection,
    /// Every setting (`run`, `config print`).
    Service,
}

impl Scope {
    fn keys(self) -> Vec<&'static str> {
        let all = Settings::keys();
        match self {
            Scope::Service => all,
            Scope::Connection => all
                .into_iter()
                .filter(|k| CONNECTION_KEYS.contains(k))
                .collect(),
        }
    }
}

/// The settings given on the command line or in the environment, by key, and the config file.
#[derive(Clone, Default)]
pub(super) struct Overrides {
    config: Option<PathBuf>,
    values: Vec<(&'static str, String)>,
}

fn flag(key: &str) -> String {
    key.replace('_', "-")
}

fn variable(key: &str) -> String {
    format!("TAILWATCH_{}", key.to_ascii_uppercase())
}

fn augment(command: Command, scope: Scope) -> Command {
    let config = Arg::new("config")
        .long("config")
        .env("TAILWATCH_CONFIG")
        .value_name("FILE")
        .value_parser(clap::value_parser!(PathBuf))
        .help("Configuration file (TOML); TAILWATCH_* variables and flags override it");
    scope
        .keys()
        .into_iter()
        .fold(command.arg(config), |c, key| {
            c.arg(
                Arg::new(key)
                    .long(flag(key))
                    .env(variable(key))
                    .value_name("VALUE")
                    .help(format!("Setting `{key}` (config/tailwatch.example.toml)")),
            )
        })
}

fn overrides(matches: &ArgMatches, scope: Scope) -> Overrides {
    Overrides {
        config: matches.get_one::<PathBuf>("config").cloned(),
        values: scope
            .keys()
            .into_iter()
            .filter_map(|k| Some((k, matches.get_one::<String>(k)?.clone())))
            .collect(),
    }
}

macro_rules! scoped_args {
    ($name:ident, $scope:expr) => {
        /// Settings flags (see the module).
        #[derive(Clone, Default)]
        pub(super) struct $name(pub Overrides);

        impl clap::FromArgMatches for $name {
            fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
                Ok($name(overrides(matches, $scope)))
            }
            fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
                *self = $name(overrides(matches, $scope));
                Ok(())
            }
        }

        impl clap::Args for $name {
            fn augment_args(command: Command) -> Command {
                augment(command, $scope)
            }
            fn augment_args_for_update(command: Command) -> Command {
                augment(command, $scope)
            }
        }
    };
}

scoped_args!(KafkaArgs, Scope::Connection);
scoped_args!(RunArgs, Scope::Service);

impl KafkaArgs {
    /// Whether a broker was named (flag, variable or config file).
    pub(super) fn names_brokers(&self) -> bool {
        self.0.config.is_some() || self.0.values.iter().any(|(k, _)| *k == "brokers")
    }

    pub(super) fn topic_prefix(&self) -> Option<&str> {
        self.value("topic_prefix")
    }

    fn value(&self, key: &str) -> Option<&str> {
        self.0
            .values
            .iter()
            .find(|(k, _)| *k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The topics named by flags and variables alone, without brokers (offline commands):
    /// the prefix and the neighbours' shared topics; and this deployment's region.
    pub(super) fn offline_topics(&self) -> anyhow::Result<(Topics, Region)> {
        let prefix = self.topic_prefix().unwrap_or("tw.");
        let parse = |key: &str| self.value(key).unwrap_or_default().to_owned();
        let neighbours: Regions = parse("neighbours")
            .parse()
            .map_err(|e| anyhow::anyhow!("--neighbours: {e}"))?;
        let region: Region = match self.value("region") {
            None => Region::Beijing,
            Some(alias) => alias
                .parse()
                .map_err(|e| anyhow::anyhow!("--region: {e}"))?,
        };
        let list = &neighbours.0;
        anyhow::ensure!(
            !list.contains(&region),
            "--neighbours names this deployment's own region {region}"
        );
        anyhow::ensure!(
            !(1..list.len()).any(|i| list[..i].contains(&list[i])),
            "--neighbours names a region twice"
        );
        Ok((Topics::with_prefix(prefix).with_neighbours(list), region))
    }
}

/// Defaults < file < environment < flags, then validated.
pub(super) fn settings(run: &RunArgs) -> Result<Settings, SettingsErrors> {
    resolve(&run.0)
}

fn resolve(o: &Overrides) -> Result<Settings, SettingsErrors> {
    Settings::layered(o.config.as_deref(), &o.values)?.finish(|key| std::env::var(key).ok())
}

/// Settings for the supporting commands (topics, replay, record): connection only.
pub(super) fn kafka_config(kafka: &KafkaArgs) -> anyhow::Result<KafkaConfig> {
    Ok(KafkaConfig::from_settings(&resolve(&kafka.0)?))
}
