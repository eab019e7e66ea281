//! The admin HTTP port: health, readiness, Prometheus metrics, status and per-vehicle state.
//!
//! Reads what the service publishes in `kafka::service::Stats` and the state store; never
//! touches Kafka or takes the processing thread's locks, so a slow scrape cannot stall
//! processing.

use std::future::Future;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::kafka::service::Stats;
use crate::model::Vin;

/// What the endpoints read.
#[derive(Clone)]
pub struct Admin {
    pub stats: Arc<Stats>,
    pub metrics: PrometheusHandle,
    pub group_id: String,
    pub instance_id: String,
}

/// The admin port: liveness, readiness and metrics, for the kubelet and Prometheus.
pub fn router(admin: Admin) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .with_state(admin)
}

/// The console port: status and per-vehicle state (personal data), on a listener of its own
/// so a network policy can admit only the console to it.
pub fn console_router(admin: Admin) -> Router {
    Router::new()
        .route("/v1/status", get(status))
        .route("/v1/vehicles/{vin}", get(vehicle))
        .with_state(admin)
}

/// Serves `router` until `shutdown` completes.
pub async fn serve(
    listener: tokio::net::TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Alive unless the processing loop is stuck (`Watchdog`); no dependency is checked.
async fn healthz(State(admin): State<Admin>) -> Response {
    match admin.stats.watchdog.stuck() {
        None => "ok\n".into_response(),
        Some(still) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the processing loop has not turned for {still:?}\n"),
        )
            .into_response(),
    }
}

async fn readyz(State(admin): State<Admin>) -> Response {
    match admin.stats.readiness() {
        Ok(()) => Json(json!({ "ready": true })).into_response(),
        Err(not_ready) => {
            let mut body = json!({ "ready": false, "reason": not_ready.to_string() });
            if !not_ready.stalled().is_empty() {
                body["stalled"] = json!(not_ready.stalled());
            }
            (StatusCode::SERVICE_UNAVAILABLE, Json(body)).into_response()
        }
    }
}

async fn metrics(State(admin): State<Admin>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        admin.metrics.render(),
    )
        .into_response()
}

async fn status(State(admin): State<Admin>) -> Response {
    let stats = &admin.stats;
    let partitions = stats.partitions.lock().expect("status lock").clone();
    Json(json!({
        "version": env!("CARGO_PKG_VERSION"),
        "group_id": admin.group_id,
        "instance_id": admin.instance_id,
        "ready": stats.readiness().is_ok(),
        "records": stats.records.load(Ordering::Relaxed),
        "blacklist_events": stats.blacklist_events.load(Ordering::Relaxed),
        "cases": stats.cases.load(Ordering::Relaxed),
        "dlq": stats.dlq.load(Ordering::Relaxed),
        "transactions": stats.commits.load(Ordering::Relaxed),
        "consumer_errors": stats.consumer_errors.load(Ordering::Relaxed),
        "stalled": stats.stalled(),
        "plate_table": stats.plate_table.lock().expect("plate table status lock").clone(),
        "partitions": partitions,
    }))
    .into_response()
}

async fn vehicle(State(admin): State<Admin>, Path(text): Path<String>) -> Response {
    let vin = match Vin::parse(&text) {
        Ok(vin) => vin,
        Err(e) => {
            let error = format!("invalid VIN {text:?}: {e}");
            return (StatusCode::BAD_REQUEST, Json(json!({ "error": error }))).into_response();
        }
    };
    let found = admin.stats.store.get().and_then(|store| store.find(&vin));
    match found {
        Some((partition, state)) => Json(json!({
            "vin": vin.as_str(),
            "vin_valid": vin.is_valid(),
            "partition": partition,
            "state": state,
        }))
        .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            Json(json!({ "error": format!("vehicle {vin} is not held by this instance") })),
        )
            .into_response(),
    }
}
