//! What processing one queue item needs — the database, the Altimeter client, the
//! settings, the outbox and this worker's lease name — and the two ways an item
//! ends: [`Engine::begin`] + [`Engine::complete`] for success, fenced on the
//! lease in one transaction; failures are settled by the worker.

use std::sync::Arc;
use std::time::{Duration, Instant};

use altimeter_client::{AltimeterClient, ClientError};
use sqlx::{Any, Transaction};
use uuid::Uuid;

use super::outbox::Outbox;
use super::task_status;
use crate::config::SyncConfig;
use crate::db::{Db, now};
use crate::store::outcomes;
use crate::store::queue::{self, QueueItem};

#[derive(Clone)]
pub struct Engine {
    pub db: Db,
    pub client: AltimeterClient,
    pub config: Arc<SyncConfig>,
    pub outbox: Outbox,
    /// This worker's name on its leases.
    pub owner: String,
}

/// Why an item did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ItemError {
    #[error(transparent)]
    Remote(#[from] ClientError),
    #[error("{0}")]
    Permanent(String),
    #[error("this worker's lease on the item expired; another worker will take it")]
    LeaseLost,
    /// The task's row changed between reading and writing it (its version no
    /// longer matches); the item runs again at once, not counted as a failure.
    #[error("the task changed while it was being synced; syncing it again")]
    Stale,
    #[error("waiting {0:?} for a related change to land")]
    Defer(Duration),
    /// The Altimeter task is already linked to another Atlas task.
    #[error(
        "Altimeter task {remote_id} is already linked to Atlas task {other}: the two are \
         duplicates; keep one (delete the other in Atlas)"
    )]
    AlreadyLinked { remote_id: String, other: Uuid },
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for ItemError {
    fn from(e: sqlx::Error) -> Self {
        ItemError::Internal(e.into())
    }
}

impl Engine {
    /// Opens the transaction that will end `item`, after checking this worker
    /// still holds its lease. Without an item (a backfill step) there is no
    /// lease to check.
    pub async fn begin(
        &self,
        item: Option<&QueueItem>,
    ) -> Result<Transaction<'static, Any>, ItemError> {
        let mut tx = self.db.begin_write().await?;
        if let Some(item) = item {
            if !queue::holds_lease(&mut tx, self.db.backend(), item.id, &self.owner, now()).await? {
                return Err(ItemError::LeaseLost);
            }
        }
        Ok(tx)
    }

    /// Ends `item` as done inside `tx`: removes it, refreshes the status of its task
    /// and of `also`, records the outcome and commits.
    pub async fn complete(
        &self,
        mut tx: Transaction<'static, Any>,
        item: Option<&QueueItem>,
        also: &[Uuid],
    ) -> Result<(), ItemError> {
        if let Some(item) = item {
            queue::finish(&mut tx, item).await?;
            outcomes::record(&mut tx, item.direction.as_str(), "success", now()).await?;
        }
        for task_id in item.and_then(|i| i.task_id).iter().chain(also) {
            task_status::refresh(&mut tx, *task_id).await?;
        }
        tx.commit().await?;
        if let Some(item) = item {
            metrics::counter!("atlas_sync_items_total", "direction" => item.direction.as_str(), "outcome" => "success")
                .increment(1);
        }
        self.outbox.wake();
        Ok(())
    }

    /// Ends `item` with nothing to write.
    pub async fn complete_unchanged(&self, item: &QueueItem) -> Result<(), ItemError> {
        let tx = self.begin(Some(item)).await?;
        self.complete(tx, Some(item), &[]).await
    }
}

/// Times one item for `atlas_sync_duration_seconds`.
pub struct ItemTimer {
    started: Instant,
    direction: &'static str,
}

impl ItemTimer {
    pub fn start(item: &QueueItem) -> ItemTimer {
        ItemTimer {
            started: Instant::now(),
            direction: item.direction.as_str(),
        }
    }

    /// How long the item has taken so far.
    pub fn elapsed(&self) -> std::time::Duration {
        self.started.elapsed()
    }
}

impl Drop for ItemTimer {
    fn drop(&mut self) {
        metrics::histogram!("atlas_sync_duration_seconds", "direction" => self.direction)
            .record(self.started.elapsed().as_secs_f64());
    }
}
