//! The HTTP edge: each resource has its own `router()`, merged here with the
//! layers every request passes through (body limit, tracing, request metrics).

pub mod error;
pub mod extract;
mod health;
mod observe;
mod tasks;

use axum::Router;
use axum::middleware;
use metrics_exporter_prometheus::PrometheusHandle;

use crate::db::Db;
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
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .merge(health::router())
        .merge(tasks::router())
        .fallback(|| async { ApiError::NotFound("no such route".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed("this route does not take that method".into())
        })
        .layer(middleware::from_fn(observe::record_request))
        .layer(observe::trace_layer())
        .with_state(state)
}
