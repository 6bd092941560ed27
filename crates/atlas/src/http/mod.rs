//! The HTTP edge: each resource has its own `router()`, merged here with the
//! layers every request passes through (body limit, tracing, request metrics).

mod admin;
mod conflicts;
pub mod error;
pub mod extract;
mod health;
mod observe;
mod pages;
pub mod tasks;
mod ui;
mod webhooks;
mod ws;

use axum::Router;
use axum::middleware;
use metrics_exporter_prometheus::PrometheusHandle;

use std::sync::Arc;

use crate::config::SyncConfig;
use crate::db::Db;
use crate::feed::Hub;
use crate::sync::outbox::Outbox;
use error::ApiError;

/// Largest request body accepted (SPEC §5: 413 above 1 MiB).
pub const BODY_LIMIT: usize = 1024 * 1024;
/// How much of a too-large body is still read, so its sender gets the 413.
pub const DRAIN_LIMIT: usize = 16 * BODY_LIMIT;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub metrics: PrometheusHandle,
    pub outbox: Outbox,
    pub sync: Arc<SyncConfig>,
    /// The live feed's connections.
    pub feed: Hub,
}

/// What a worker process serves: liveness, readiness and metrics only.
pub fn health_router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .with_state(state)
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(tasks::router())
        .merge(conflicts::router())
        .merge(webhooks::router())
        .merge(admin::router())
        .merge(ws::router())
        .merge(ui::router())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed("this route does not take that method".into())
        })
        .layer(middleware::from_fn(observe::record_request))
        .layer(observe::trace_layer())
        .with_state(state)
}
