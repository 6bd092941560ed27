//! `altimeter-sim`: a faithful, stateful Altimeter (SPEC §4) over real HTTP, with
//! signed webhooks and fault injection — the test peer for Atlas's end-to-end
//! tests, benchmarks and demo. Build the app with [`router`] or run it with [`spawn`].

mod api;
mod config;
mod control;
mod cursor;
mod delivery;
mod error;
mod faults;
mod gate;
mod idempotency;
mod persist;
mod ratelimit;
mod server;
mod state;
mod stats;
mod store;
mod ui;
mod webhooks;

use axum::Router;

pub use config::{SimConfig, SimTuning};
pub use faults::Faults;
pub use ratelimit::UNLIMITED;
pub use server::{SimHandle, spawn};
pub use state::{SimState, WebhookTarget};
pub use stats::{StatsSnapshot, WebhookCounts};
pub use store::{Created, StoreError};

/// The whole app: the API under `/v1`, the control API under `/_sim`, the HTML
/// page at `/`. Webhooks are only delivered once [`spawn`] runs the state.
pub fn router(state: SimState) -> Router {
    Router::new()
        .nest("/v1", api::router(state.clone()))
        .nest("/_sim", control::router(state.clone()))
        .merge(ui::router(state))
}
