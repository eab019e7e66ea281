//! Command-line arguments that become `Settings`: each flag has its `TAILWATCH_*` variable
//! (clap reads it when the flag is absent), and both override the config file.

use std::path::PathBuf;

use crate::decode::frame::DialectChoice;
use crate::kafka::KafkaConfig;
use crate::settings::{LogFormat, SecurityProtocol, Settings, UnreadableState};

/// Kafka connection settings shared by every command that talks to Kafka.
#[derive(clap::Args, Clone, Default)]
pub(super) struct KafkaArgs {
    /// Configuration file (TOML); TAILWATCH_* variables and flags override it.
    #[arg(long, env = "TAILWATCH_CONFIG")]
    pub config: Option<PathBuf>,
    /// Bootstrap servers, e.g. 127.0.0.1:9092.
    #[arg(long, env = "TAILWATCH_BROKERS")]
    pub brokers: Option<String>,
    /// Prefix of every topic name, so a deployment or a test can be namespaced.
    #[arg(long, env = "TAILWATCH_TOPIC_PREFIX")]
    pub topic_prefix: Option<String>,
    #[arg(long, env = "TAILWATCH_SECURITY_PROTOCOL", value_enum)]
    pub security_protocol: Option<SecurityProtocol>,
    /// CA certificate file for ssl / sasl_ssl.
    #[arg(long, env = "TAILWATCH_SSL_CA_LOCATION")]
    pub ssl_ca_location: Option<PathBuf>,
    /// PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512.
    #[arg(long, env = "TAILWATCH_SASL_MECHANISM")]
    pub sasl_mechanism: Option<String>,
    #[arg(long, env = "TAILWATCH_SASL_USERNAME")]
    pub sasl_username: Option<String>,
    /// File holding the SASL password (or set TAILWATCH_SASL_PASSWORD).
    #[arg(long, env = "TAILWATCH_SASL_PASSWORD_FILE")]
    pub sasl_password_file: Option<PathBuf>,
}

/// `tailwatch run` (and `config print`): the service's settings.
#[derive(clap::Args, Clone, Default)]
pub(super) struct RunArgs {
    #[command(flatten)]
    pub kafka: KafkaArgs,
    #[arg(long, env = "TAILWATCH_GROUP_ID")]
    pub group_id: Option<String>,
    /// Stable per instance (default $HOSTNAME): static membership and the transactional id.
    #[arg(long, env = "TAILWATCH_INSTANCE_ID")]
    pub instance_id: Option<String>,
    #[arg(long, env = "TAILWATCH_COMMIT_INTERVAL")]
    pub commit_interval: Option<humantime::Duration>,
    #[arg(long, env = "TAILWATCH_MERGE_WAIT")]
    pub merge_wait: Option<humantime::Duration>,
    /// Most input records the merge may hold before fetching pauses.
    #[arg(long, env = "TAILWATCH_MERGE_MAX_RECORDS")]
    pub merge_max_records: Option<usize>,
    /// Most bytes of input records the merge may hold before fetching pauses.
    #[arg(long, env = "TAILWATCH_MERGE_MAX_BYTES")]
    pub merge_max_bytes: Option<usize>,
    #[arg(long, env = "TAILWATCH_TRANSACTION_TIMEOUT")]
    pub transaction_timeout: Option<humantime::Duration>,
    #[arg(long, env = "TAILWATCH_SESSION_TIMEOUT")]
    pub session_timeout: Option<humantime::Duration>,
    /// false: at-least-once delivery, for brokers without transactions.
    #[arg(long, env = "TAILWATCH_EXACTLY_ONCE")]
    pub exactly_once: Option<bool>,
    /// How long an input partition with unread records may stay still after a consumer error
    /// before /readyz reports it stalled.
    #[arg(long, env = "TAILWATCH_STALL_TIMEOUT")]
    pub stall_timeout: Option<humantime::Duration>,
    /// Rule parameter overrides, merged over config/rules.toml.
    #[arg(long, env = "TAILWATCH_RULES")]
    pub rules: Option<PathBuf>,
    /// Admin HTTP address: /healthz, /readyz, /metrics.
    #[arg(long, env = "TAILWATCH_ADMIN_ADDR")]
    pub admin_addr: Option<std::net::SocketAddr>,
    /// Console HTTP address: /v1/status, /v1/vehicles/{vin} (personal data).
    #[arg(long, env = "TAILWATCH_CONSOLE_ADDR")]
    pub console_addr: Option<std::net::SocketAddr>,
    /// Longest a stop may take before the open transaction is aborted (exit non-zero).
    #[arg(long, env = "TAILWATCH_SHUTDOWN_TIMEOUT")]
    pub shutdown_timeout: Option<humantime::Duration>,
    /// A changelog record this release cannot read: halt the partition, or dead-letter it.
    #[arg(long, env = "TAILWATCH_UNREADABLE_STATE", value_enum)]
    pub unreadable_state: Option<UnreadableState>,
    #[arg(long, env = "TAILWATCH_LOG_FORMAT", value_enum)]
    pub log_format: Option<LogFormat>,
    /// Dialect of tw.telemetry.raw: auto, gb17691, hj1239, hybrid, signed-bodies, hj1239-unsigned, serial-after-type or body-serials.
    #[arg(long, env = "TAILWATCH_RAW_DIALECT")]
    pub raw_dialect: Option<DialectChoice>,
    /// Spacing of stream bodies without a time of their own, which share their frame's time.
    #[arg(long, env = "TAILWATCH_SAMPLE_INTERVAL")]
    pub sample_interval: Option<humantime::Duration>,
}

fn set<T>(slot: &mut T, value: Option<T>) {
    if let Some(v) = value {
        *slot = v;
    }
}

/// Defaults < file < environment < flags, then validated.
pub(super) fn settings(run: &RunArgs) -> anyhow::Result<Settings> {
    let k = &run.kafka;
    let mut s = Settings::from_file(k.config.as_deref())?;
    set(&mut s.brokers, k.brokers.clone());
    set(&mut s.topic_prefix, k.topic_prefix.clone());
    set(&mut s.security_protocol, k.security_protocol);
    set(&mut s.ssl_ca_location, k.ssl_ca_location.clone().map(Some));
    set(&mut s.sasl_mechanism, k.sasl_mechanism.clone().map(Some));
    set(&mut s.sasl_username, k.sasl_username.clone().map(Some));
    set(
        &mut s.sasl_password_file,
        k.sasl_password_file.clone().map(Some),
    );
    set(&mut s.group_id, run.group_id.clone());
    set(&mut s.instance_id, run.instance_id.clone());
    set(&mut s.commit_interval, run.commit_interval.map(Into::into));
    set(&mut s.merge_wait, run.merge_wait.map(Into::into));
    set(&mut s.merge_max_records, run.merge_max_records);
    set(&mut s.merge_max_bytes, run.merge_max_bytes);
    set(
        &mut s.transaction_timeout,
        run.transaction_timeout.map(Into::into),
    );
    set(&mut s.session_timeout, run.session_timeout.map(Into::into));
    set(&mut s.exactly_once, run.exactly_once);
    set(&mut s.stall_timeout, run.stall_timeout.map(Into::into));
    set(&mut s.rules, run.rules.clone().map(Some));
    set(&mut s.admin_addr, run.admin_addr);
    set(&mut s.console_addr, run.console_addr);
    set(
        &mut s.shutdown_timeout,
        run.shutdown_timeout.map(Into::into),
    );
    set(&mut s.unreadable_state, run.unreadable_state);
    set(&mut s.log_format, run.log_format);
    set(&mut s.raw_dialect, run.raw_dialect);
    set(&mut s.sample_interval, run.sample_interval.map(Into::into));
    Ok(s.finish(|key| std::env::var(key).ok())?)
}

/// Settings for the supporting commands (topics, replay, record): connection only.
pub(super) fn kafka_config(kafka: &KafkaArgs) -> anyhow::Result<KafkaConfig> {
    let run = RunArgs {
        kafka: kafka.clone(),
        ..RunArgs::default()
    };
    Ok(KafkaConfig::from_settings(&settings(&run)?))
}
