//! The sync engine (SPEC §3). Pure rules — the three-way merge, the retry
//! schedule, the delete brake's allowance — and the machinery around them: the
//! outbox, the worker that pushes and pulls, reconciliation, alerts, and the
//! operator's actions.

pub mod alerts;
pub mod backfill;
pub mod brake;
pub mod engine;
pub mod intake;
mod listen;
pub mod maintenance;
pub mod merge;
pub mod ops;
pub mod outbox;
pub mod pacing;
pub mod pull;
pub mod push;
pub mod reconcile;
pub mod resolve;
pub mod retry;
pub mod settle;
pub mod status;
pub mod task_status;
pub mod worker;

use std::sync::Arc;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::SyncConfig;
use crate::db::{Backend, Db};
use engine::Engine;
use outbox::Outbox;

/// Builds the engine for this process, or `None` when Altimeter is not configured.
pub fn engine(db: &Db, config: &SyncConfig, outbox: &Outbox) -> anyhow::Result<Option<Engine>> {
    let Some(altimeter) = &config.altimeter else {
        return Ok(None);
    };
    let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "atlas".to_owned());
    let short = uuid::Uuid::new_v4().simple().to_string();
    Ok(Some(Engine {
        db: db.clone(),
        client: altimeter.client()?,
        config: Arc::new(config.clone()),
        outbox: outbox.clone(),
        owner: format!("{host}-{}-{}", std::process::id(), &short[..8]),
    }))
}

/// Starts the worker, its periodic duties and (on PostgreSQL) the wake-up
/// listener; they stop when `shutdown` is cancelled, after finishing their work.
pub fn spawn(engine: Engine, shutdown: &CancellationToken) -> JoinSet<()> {
    let mut set = JoinSet::new();
    if engine.db.backend() == Backend::Postgres {
        set.spawn(listen::run(
            engine.db.url().to_owned(),
            engine.outbox.clone(),
            shutdown.clone(),
        ));
    }
    set.spawn(maintenance::run(engine.clone(), shutdown.clone()));
    set.spawn(worker::Worker::new(engine).run(shutdown.clone()));
    set
}
