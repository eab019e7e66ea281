//! Command-line wiring: parses arguments, loads configuration, runs one command. The only
//! place (with `main`) that uses `anyhow`.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};

use crate::config;
use crate::model::{unix_secs_from_civil, EventTime};
use crate::pipeline::Processor;
use crate::replay;
use crate::sim;
use crate::topics::Topics;

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
        /// Fault weights, e.g. "nox_over_limit=2,data_gap=1" (default: all equal).
        #[arg(long)]
        faults: Option<String>,
        #[arg(long, default_value = "tw.")]
        topic_prefix: String,
        #[arg(long)]
        out: PathBuf,
        /// Ground truth: one JSON line per vehicle with its injected faults.
        #[arg(long)]
        truth: PathBuf,
    },
    /// Run the engine offline over a recording and write its outputs.
    Replay {
        #[arg(long)]
        input: PathBuf,
        /// Output directory: blacklist.jsonl, cases.jsonl, dlq.jsonl, summary.json.
        #[arg(long)]
        out: PathBuf,
        /// Rule parameter overrides, merged over config/rules.toml.
        #[arg(long)]
        rules: Option<PathBuf>,
        #[arg(long, default_value = "tw.")]
        topic_prefix: String,
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

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Simulate {
            vehicles,
            duration,
            seed,
            start,
            partitions,
            fault_fraction,
            faults,
            topic_prefix,
            out,
            truth,
        } => {
            let topics = Topics::with_prefix(&topic_prefix);
            let mut cfg = sim::SimConfig {
                vehicles,
                duration_secs: duration.as_secs(),
                seed,
                start: parse_utc(&start)?,
                partitions,
                fault_fraction,
                topics: topics.clone(),
                ..sim::SimConfig::default()
            };
            if let Some(mix) = faults {
                cfg.fault_mix = sim::parse_fault_mix(&mix).map_err(anyhow::Error::msg)?;
            }
            let simulation = sim::Simulation::new(cfg);
            let mut truth_file = std::io::BufWriter::new(
                std::fs::File::create(&truth)
                    .with_context(|| format!("creating {}", truth.display()))?,
            );
            for t in simulation.truth() {
                writeln!(truth_file, "{}", t.to_json_line())?;
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
            out,
            rules,
            topic_prefix,
        } => {
            let rules = config::load_rules(rules.as_deref())?;
            let topics = Topics::with_prefix(&topic_prefix);
            let processor = Processor::new(rules, topics.clone());
            let summary = replay::replay_file(&processor, &topics, &input, &out)?;
            eprintln!(
                "{} records: {} blacklist events, {} cases, {} to the DLQ; outputs in {}",
                summary.records_in,
                summary.blacklist_events,
                summary.cases,
                summary.dlq,
                out.display()
            );
        }
    }
    Ok(())
}
