//! Liveness, readiness and the Prometheus endpoint.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use super::AppState;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

/// The process is up and answering.
async fn healthz() -> impl IntoResponse {
    axum::Json(json!({"status": "ok"}))
}

/// The database answers and every migration is applied.
async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    match state.db.is_ready().await {
        Ok(true) => (StatusCode::OK, axum::Json(json!({"status": "ready"}))),
        Ok(false) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(
                json!({"status": "not_ready", "reason": "database migrations are not applied"}),
            ),
        ),
        Err(e) => {
            tracing::warn!(error = format!("{e:#}"), "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(json!({"status": "not_ready", "reason": "database unreachable"})),
            )
        }
    }
}

/// Prometheus text; the queue gauges are read from the database first, so any
/// node reports the whole cluster's queue.
async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    match crate::sync::status::report(&state.db, state.sync.altimeter.is_some()).await {
        Ok(report) => crate::sync::status::record_gauges(&report),
        Err(e) => tracing::warn!(error = format!("{e:#}"), "reading queue gauges failed"),
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}
