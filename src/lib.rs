//! tailwatch: heavy-truck emission enforcement from Kafka streams.
//!
//! Layout, in pipeline order:
//! - `topics`    — topic names and what each carries
//! - `recording` — JSON Lines recordings of Kafka records (`Record`)
//! - `decode`    — record bytes → validated `model::Event` (the input edge); `decode::frame`
//!   is the raw terminal frame codec (GB 17691 / HJ 1239), `decode::raw` its events
//! - `model`     — domain types: `Vin`, `Plate`, `EventTime`, readings, `Event`, `Output`
//! - `engine`    — the pure rules engine: `evaluate(&Rules, &VehicleState, &Event, &Facts)`
//! - `state`     — `StateStore`: per-vehicle state over DashMap, partition-aware, TTL
//! - `plates`    — the global plate table: which VIN carried a plate (and colour) when
//! - `sharing`   — the global table of neighbouring provinces' listings
//! - `alerts`    — the global tables of heavy-pollution alerts and registration profiles
//! - `encode`    — `model::Output` → protobuf messages (the output edge)
//! - `pipeline`  — the only place the stages meet: one record in, outputs out
//! - `kafka`     — the Kafka edges: topics, produce/record, the exactly-once service
//! - `replay`    — offline replay of a recording into output files
//! - `sim`       — the simulated fleet
//! - `demo`      — the embedded default: mock cluster + simulated fleet + the real service
//! - `metrics`   — metric names and the Prometheus recorder; `admin` — the admin HTTP port
//! - `config`    — loading rule parameters; `proto` — generated protobuf code
//! - `settings`  — the service's typed settings (defaults < file < env < flags);
//!   `shutdown` — the one way a stop is asked for
//! - `app`       — command-line wiring (`main` stays tiny)
//!
//! Dependencies point down the pipeline: `engine` depends only on `model`; `decode` and
//! `encode` on `model` and `proto`; `pipeline` on all of them; nothing depends on `app`.

pub mod admin;
pub mod alerts;
pub mod app;
pub mod config;
pub mod decode;
pub mod demo;
pub mod encode;
pub mod engine;
pub mod kafka;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod plates;
pub mod proto;
pub mod recording;
pub mod replay;
pub mod settings;
pub mod sharing;
pub mod shutdown;
pub mod sim;
pub mod state;
pub mod topics;
