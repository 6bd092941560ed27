//! The `/_sim` control API for tests: faults, stats and reset. Unauthenticated.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};

use crate::error::ApiError;
use crate::faults::Faults;
use crate::state::SimState;
use crate::stats::StatsSnapshot;

pub fn router(state: SimState) -> Router {
    Router::new()
        .route("/faults", get(read_faults).put(replace_faults))
        .route("/stats", get(stats))
        .route("/reset", post(reset))
        .with_state(state)
}

async fn read_faults(State(state): State<SimState>) -> Json<Faults> {
    Json(state.faults())
}

/// Replaces the whole fault set; keys left out are off.
async fn replace_faults(
    State(state): State<SimState>,
    body: Bytes,
) -> Result<Json<Faults>, ApiError> {
    let faults = Faults::from_json(&body).map_err(|e| ApiError::invalid("invalid_faults", e))?;
    tracing::info!(?faults, "faults replaced");
    state.set_faults(faults.clone());
    Ok(Json(faults))
}

async fn stats(State(state): State<SimState>) -> Json<StatsSnapshot> {
    Json(state.stats())
}

async fn reset(State(state): State<SimState>) -> StatusCode {
    state.reset();
    tracing::info!("simulator reset");
    StatusCode::NO_CONTENT
}
