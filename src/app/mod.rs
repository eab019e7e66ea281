//! Command-line wiring: parses arguments, loads configuration, runs one command. The only
//! place (with `main`) that uses `anyhow`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};

use std::sync::Arc;

mod args;

use args::{kafka_config, settings, KafkaArgs, RunArgs};

use crate::config;
use crate::decode::frame::{self, DialectChoice};
use crate::kafka::{self, KafkaConfig};
use crate::model::{unix_secs_from_civil, EventTime};
use crate::pipeline::Processor;
use crate::recording;
use crate::replay;
use crate::settings::LogFormat;
use crate::shutdown::{self, Trigger};
use crate::sim;
use crate::topics::Topics;

/// Exit codes: 0 a clean stop; these otherwise (sysexits.h), so a supervisor and an operator
/// can tell a bad configuration from a broker that failed us.
pub mod exit {
    /// Another failure (a bug, a file that cannot be written).
    pub const FAILURE: u8 = 1;
    /// The configuration is wrong (EX_USAGE): fix it, a restart will not.
    pub const CONFIG: u8 = 64;
    /// Kafka refused what a retry cannot fix (EX_UNAVAILABLE): a restart may.
    pub const BROKER: u8 = 69;
    /// The stop could not commit within `shutdown_timeout` (EX_TEMPFAIL): the open
    /// transaction was aborted; the restart restores from what Kafka holds.
    pub const UNFINISHED: u8 = 75;
}

/// The exit code for an error `run` returned.
pub fn exit_code(error: &anyhow::Error) -> u8 {
    for cause in error.chain() {
        if cause.is::<crate::settings::SettingsError>()
            || cause.is::<crate::settings::SettingsErrors>()
            || cause.is::<crate::config::ConfigError>()
        {
            return exit::CONFIG;
        }
        if let Some(failure) = cause.downcast_ref::<kafka::service::Failure>() {
            return match failure {
                kafka::service::Failure::Broker(_) => exit::BROKER,
                kafka::service::Failure::Unfinished { .. } => exit::UNFINISHED,
            };
        }
    }
    exit::FAILURE
}

/// SIGTERM or Ctrl-C asks for the stop, on the admin runtime; an error registering the
/// handlers is returned, not lost on a thread.
fn on_signal(trigger: Trigger) -> anyhow::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("handling SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("handling SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        tracing::info!("Shutdown requested.");
        trigger.stop();
        // Held: the trigger stays alive while the service finishes.
        std::future::pending::<()>().await;
    })
}

#[derive(Parser)]
#[command(
    name = "tailwatch",
    version,
    about = "Heavy-truck emission enforcement from Kafka streams"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Generate a simulated fleet as a recording (JSON Lines) plus its ground truth.
    Simulate {
        #[arg(long, default_value_t = 100)]
        vehicles: usize,
        /// Simulated time span, e.g. "2h", "6h", "1d".
        #[arg(long, default_value = "2h")]
        duration: humantime::Duration,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Start of the simulated period, UTC, "YYYY-MM-DDTHH:MM:SSZ".
        #[arg(long, default_value = "2026-11-02T00:00:00Z")]
        start: String,
        #[arg(long, default_value_t = 4)]
        partitions: i32,
        /// Share of vehicles given a fault.
        #[arg(long, default_value_t = 0.3)]
        fault_fraction: f64,
        /// Fault weights, e.g. "nox_over_limit=2,data_gap=1" (default: every fault the run
        /// can decide under the rules, equally). A fault asked for that the run cannot decide
        /// is injected and listed as "undecidable" in the truth.
        #[arg(long)]
        faults: Option<String>,
        /// Rule parameter overrides, merged over config/rules.toml, as for `replay --rules`:
        /// faults are scheduled to be decided under these rules.
        #[arg(long)]
        rules: Option<PathBuf>,
        #[arg(long, default_value = "tw.")]
        topic_prefix: String,
        #[arg(long)]
        out: PathBuf,
        /// Ground truth: one JSON line per vehicle with the faults the run lets tailwatch
        /// decide, and any it cannot ("undecidable", with why); then one per stray plate read
        /// with the DLQ reason it gets ("dlq"), or why it is still held when the run ends.
        #[arg(long)]
        truth: PathBuf,
        /// Remote-sensing passes whose plate read names no vehicle, dead-lettered by tailwatch:
        /// in turn a plate nobody carries, a read with an I or O, a read without a colour.
        #[arg(long, default_value_t = sim::STRAY_READS)]
        stray_reads: usize,
        /// Telemetry as raw terminal frames on tw.telemetry.raw instead of protobuf.
        #[arg(long)]
        raw: bool,
        /// With --raw: gb17691, hj1239, hybrid, signed-bodies, hj1239-unsigned, serial-after-type or body-serials.
        #[arg(long, default_value = "hj1239", requires = "raw")]
        dialect: DialectChoice,
    },
    /// Run the engine offline over a recording and write its outputs (`--out`), or produce the
    /// recording into Kafka (`--brokers`), keys, headers, timestamps and partitions preserved.
    Replay {
        #[arg(long)]
        input: PathBuf,
        /// jsonl (a recording) or hex-frames (one raw terminal frame per line, as gateways log).
        #[arg(long, value_enum, default_value = "jsonl")]
        format: recording::Format,
        /// Dialect of raw frames: auto, gb17691, hj1239, hybrid, signed-bodies, hj1239-unsigned, serial-after-type or body-serials.
        #[arg(long, default_value = "auto")]
        dialect: DialectChoice,
        /// Output directory: blacklist.jsonl, shared.jsonl, cases.jsonl, dlq.jsonl, summary.json.
        #[arg(long, required_unless_present = "brokers")]
        out: Option<PathBuf>,
        /// Rule parameter overrides, merged over config/rules.toml.
        #[arg(long)]
        rules: Option<PathBuf>,
        #[command(flatten)]
        kafka: KafkaArgs,
        /// With --brokers: records per second (default: as fast as possible).
        #[arg(long)]
        rate: Option<f64>,
        /// The input topics' partition count, which places resolved plate-only evidence with
        /// its vehicle (default: one more than the recording's highest partition).
        #[arg(long)]
        partitions: Option<i32>,
    },
    /// Capture topics (read_committed) into a recording.
    Record {
        #[command(flatten)]
        kafka: KafkaArgs,
        /// Comma-separated topic names.
        #[arg(long, value_delimiter = ',')]
        topics: Vec<String>,
        #[arg(long)]
        out: PathBuf,
        /// Stop after no record arrived for this long.
        #[arg(long, default_value = "5s")]
        idle_exit: humantime::Duration,
    },
    /// Topic administration.
    Topics {
        #[command(subcommand)]
        command: TopicsCommand,
    },
    /// Decode raw terminal frames (hex; arguments, or one per line on stdin) into JSON lines.
    /// Exits 1 if any frame was rejected, after all of them.
    Decode {
        /// auto, gb17691, hj1239, hybrid, signed-bodies, hj1239-unsigned, serial-after-type or body-serials.
        #[arg(long, default_value = "auto")]
        dialect: DialectChoice,
        /// Frames as hex (spaces allowed inside quotes); none: read stdin.
        frames: Vec<String>,
    },
    /// The service's effective settings.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// The service: consume, evaluate, publish, exactly once.
    Run(RunArgs),
    /// The embedded default: an in-process Kafka, a simulated fleet, the real pipeline.
    Demo {
        #[arg(long, default_value_t = 300)]
        vehicles: usize,
        #[arg(long, default_value = "1h")]
        duration: humantime::Duration,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Subcommand)]
enum ConfigCommand {
    /// Print the settings `run` would use (defaults < file < env < flags), secrets redacted.
    Print(RunArgs),
}

#[derive(Subcommand)]
enum TopicsCommand {
    /// Create every tailwatch topic (existing ones are left alone).
    Create {
        #[command(flatten)]
        kafka: KafkaArgs,
        /// Partitions of every keyed topic (all the same: co-partitioning).
        #[arg(long, env = "TAILWATCH_PARTITIONS", default_value_t = 12)]
        partitions: i32,
        #[arg(long, env = "TAILWATCH_REPLICATION", default_value_t = 1)]
        replication: i32,
    },
}

/// Parses "YYYY-MM-DDTHH:MM:SSZ".
fn parse_utc(text: &str) -> anyhow::Result<EventTime> {
    let b = text.as_bytes();
    let num = |r: std::ops::Range<usize>| -> anyhow::Result<u32> {
        Ok(text.get(r).context("timestamp too short")?.parse()?)
    };
    if b.len() != 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[19] != b'Z' {
        bail!("expected YYYY-MM-DDTHH:MM:SSZ, got {text:?}");
    }
    let secs = unix_secs_from_civil(
        i64::from(num(0..4)?),
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    Ok(EventTime::from_unix_secs(secs))
}

/// The service on its own thread; the admin and console ports and the signals on a small
/// runtime beside it. The ports close when the service has stopped. A stop asked for must end
/// within `shutdown_timeout`: past it (a librdkafka call that does not return), the process
/// exits with `exit::UNFINISHED` without committing.
fn run_service(
    cfg: KafkaConfig,
    rules: crate::engine::Rules,
    admin_addr: std::net::SocketAddr,
    console_addr: std::net::SocketAddr,
) -> anyhow::Result<()> {
    let stats = Arc::new(kafka::service::Stats::default());
    let watched = stats.clone();
    let admin = crate::admin::Admin {
        stats: stats.clone(),
        metrics: crate::metrics::install(),
        group_id: cfg.group_id.clone(),
        instance_id: cfg.instance_id.clone(),
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let _entered = runtime.enter();
    let bind = |addr| {
        runtime
            .block_on(tokio::net::TcpListener::bind(addr))
            .with_context(|| format!("binding {addr}"))
    };
    let (admin_listener, console_listener) = (bind(admin_addr)?, bind(console_addr)?);
    tracing::info!(admin = %admin_listener.local_addr()?, console = %console_listener.local_addr()?, "Admin and console ports listening.");
    let (trigger, shutdown) = shutdown::channel();
    let signals = on_signal(trigger)?;
    let (stopped, stopped_rx) = shutdown::channel();
    let timeout = cfg.shutdown_timeout;
    let service = std::thread::Builder::new()
        .name("tailwatch-run".into())
        .spawn({
            let shutdown = shutdown.clone();
            move || {
                let result = kafka::service::run(cfg, rules, shutdown, stats);
                stopped.stop();
                result
            }
        })?;
    runtime.block_on(async {
        let ports = async {
            tokio::try_join!(
                crate::admin::serve(
                    admin_listener,
                    crate::admin::router(admin.clone()),
                    stopped_rx.clone().wait()
                ),
                crate::admin::serve(
                    console_listener,
                    crate::admin::console_router(admin),
                    stopped_rx.clone().wait()
                ),
            )
        };
        let deadline = async {
            shutdown.wait().await;
            if tokio::time::timeout(timeout, stopped_rx.clone().wait())
                .await
                .is_err()
            {
                tracing::error!(
                    ?timeout,
                    "The stop took longer than shutdown_timeout; exiting without committing."
                );
                std::process::exit(i32::from(exit::UNFINISHED));
            }
            std::future::pending::<()>().await;
        };
        let watch = async {
            loop {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                if let Some(still) = watched.watchdog.stuck() {
                    tracing::error!(
                        ?still,
                        "The processing loop is stuck in a call to the broker client; exiting so that a restart resumes from what Kafka holds."
                    );
                    std::process::exit(i32::from(exit::BROKER));
                }
            }
        };
        tokio::select! {
            served = ports => served.map(|_| ()),
            () = watch => Ok(()),
            () = signals => Ok(()),
            () = deadline => Ok(()),
        }
    })?;
    service
        .join()
        .map_err(|_| anyhow::anyhow!("the service thread panicked"))?
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    // `run` logs in the format its settings name; the other commands as TAILWATCH_LOG_FORMAT says.
    if !matches!(cli.command, Command::Run(_)) {
        let json = std::env::var("TAILWATCH_LOG_FORMAT").is_ok_and(|f| f == "json");
        let format = if json {
            LogFormat::Json
        } else {
            LogFormat::Text
        };
        init_logging(cli.default_log_level(), format);
    }
    match cli.command {
        Command::Simulate {
            vehicles,
            duration,
            seed,
            start,
            partitions,
            fault_fraction,
            faults,
            rules,
            topic_prefix,
            out,
            truth,
            stray_reads,
            raw,
            dialect,
        } => {
            let topics = Topics::with_prefix(&topic_prefix);
            let raw = match (raw, dialect) {
                (false, _) => None,
                (true, DialectChoice::Fixed(d)) => Some(d),
                (true, DialectChoice::Auto) => {
                    bail!("--dialect: a simulated terminal sends one dialect, not auto")
                }
            };
            let mut cfg = sim::SimConfig {
                vehicles,
                duration_secs: duration.as_secs(),
                seed,
                start: parse_utc(&start)?,
                partitions,
                fault_fraction,
                rules: config::load_rules(rules.as_deref())?,
                topics: topics.clone(),
                raw,
                stray_reads,
                ..sim::SimConfig::default()
            };
            let span_end = cfg.start.0 + duration.as_millis() as i64;
            let beijing_year = |ms: i64| EventTime(ms).beijing_date().0;
            if raw.is_some() && !(2000..=2255).contains(&beijing_year(cfg.start.0))
                || raw.is_some() && !(2000..=2255).contains(&beijing_year(span_end))
            {
                bail!("--raw: frame times carry years 2000–2255 only; choose --start and --duration inside them");
            }
            if let Some(mix) = faults {
                cfg.fault_mix = sim::parse_fault_mix(&mix).map_err(anyhow::Error::msg)?;
            }
            let simulation = sim::Simulation::new(cfg);
            for note in simulation.notes() {
                eprintln!("note: {note}");
            }
            let mut truth_file = std::io::BufWriter::new(
                std::fs::File::create(&truth)
                    .with_context(|| format!("creating {}", truth.display()))?,
            );
            for t in simulation.truth() {
                writeln!(truth_file, "{}", t.to_json_line())?;
            }
            for stray in simulation.stray_reads() {
                writeln!(truth_file, "{}", stray.to_json_line())?;
            }
            truth_file.flush()?;
            let mut out_file = std::io::BufWriter::new(
                std::fs::File::create(&out)
                    .with_context(|| format!("creating {}", out.display()))?,
            );
            let mut count = 0u64;
            for record in simulation {
                writeln!(out_file, "{}", record.to_line(&topics))?;
                count += 1;
            }
            out_file.flush()?;
            eprintln!(
                "wrote {count} records to {} and ground truth to {}",
                out.display(),
                truth.display()
            );
        }
        Command::Replay {
            input,
            format,
            dialect,
            out,
            rules,
            kafka,
            rate,
            partitions,
        } => {
            let (topics, region) = kafka.offline_topics()?;
            let file = std::fs::File::open(&input)
                .with_context(|| format!("opening {}", input.display()))?;
            let file = std::io::BufReader::new(file);
            let mut records = match format {
                recording::Format::Jsonl => recording::read(file, &topics),
                recording::Format::HexFrames => recording::read_hex_frames(file, &topics, dialect),
            }
            .with_context(|| format!("reading {}", input.display()))?;
            replay::order(&mut records, &topics);
            if kafka.names_brokers() {
                let cfg = kafka_config(&kafka)?;
                let sent = kafka::produce::produce_records(&cfg, &records, rate)?;
                eprintln!("produced {sent} records to {}", cfg.brokers);
                return Ok(());
            }
            let out = out.context("--out is required without --brokers")?;
            let rules = config::load_rules(rules.as_deref())?;
            let decode = crate::decode::Options {
                raw_dialect: dialect,
                ..Default::default()
            };
            let partitions = partitions.unwrap_or_else(|| replay::partitions(&records));
            anyhow::ensure!(partitions > 0, "--partitions must be positive");
            let processor = Processor::new(rules, topics.clone())
                .with_decode(decode)
                .with_partitions(partitions)
                .with_region(region);
            let summary = replay::replay_records(&processor, &topics, &records, &out)?;
            eprintln!(
                "{} records: {} blacklist events, {} cases, {} to the DLQ; outputs in {}",
                summary.records_in,
                summary.blacklist_events,
                summary.cases,
                summary.dlq,
                out.display()
            );
        }
        Command::Record {
            kafka,
            topics,
            out,
            idle_exit,
        } => {
            let cfg = kafka_config(&kafka)?;
            let records = kafka::capture::capture(&cfg, &topics, idle_exit.into())?;
            let file = std::fs::File::create(&out)
                .with_context(|| format!("creating {}", out.display()))?;
            recording::write(std::io::BufWriter::new(file), &records, &cfg.topics)?;
            eprintln!("recorded {} records to {}", records.len(), out.display());
        }
        Command::Topics {
            command:
                TopicsCommand::Create {
                    kafka,
                    partitions,
                    replication,
                },
        } => {
            let cfg = kafka_config(&kafka)?;
            let runtime = tokio::runtime::Runtime::new()?;
            let (created, existing) =
                runtime.block_on(kafka::admin::create_topics(&cfg, partitions, replication))?;
            eprintln!(
                "created {} topics, {} already existed",
                created.len(),
                existing.len()
            );
        }
        Command::Run(args) => {
            let settings = settings(&args)?;
            init_logging("info", settings.log_format);
            let rules = config::load_rules(settings.rules.as_deref())?;
            let cfg = KafkaConfig::from_settings(&settings);
            run_service(cfg, rules, settings.admin_addr, settings.console_addr)?;
        }
        Command::Decode { dialect, frames } => {
            let lines: Vec<String> = if frames.is_empty() {
                std::io::stdin().lines().collect::<Result<_, _>>()?
            } else {
                frames
            };
            let mut out = std::io::BufWriter::new(std::io::stdout().lock());
            let (mut total, mut rejected) = (0usize, 0usize);
            for line in lines.iter().map(|l| l.trim()).filter(|l| !l.is_empty()) {
                total += 1;
                let value = match recording::unhex(line) {
                    Some(bytes) => match frame::decode(&bytes, dialect) {
                        Ok(f) => frame::json::frame(&f),
                        Err(e) => {
                            rejected += 1;
                            frame::json::error(&e)
                        }
                    },
                    None => {
                        rejected += 1;
                        serde_json::json!({ "error": "bad_hex", "message": "not an even number of hex digits" })
                    }
                };
                writeln!(out, "{value}")?;
            }
            out.flush()?;
            if rejected > 0 {
                bail!("{rejected} of {total} frames rejected");
            }
        }
        Command::Config {
            command: ConfigCommand::Print(args),
        } => {
            print!("{}", settings(&args)?.to_toml());
        }
        Command::Demo {
            vehicles,
            duration,
            seed,
        } => {
            crate::demo::run(vehicles, duration.as_secs(), seed)?;
        }
    }
    Ok(())
}

impl Cli {
    /// The demo prints its own summary; service lifecycle lines would drown it.
    fn default_log_level(&self) -> &'static str {
        match self.command {
            Command::Demo { .. } => "warn",
            _ => "info",
        }
    }
}

/// Logs on stderr, readable text or one JSON object per line; `RUST_LOG` filters (default
/// `info`, `warn` for the demo).
fn init_logging(default_level: &str, format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new(format!("{default_level},rdkafka=warn"))
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
