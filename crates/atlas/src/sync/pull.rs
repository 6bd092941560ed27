//! Pulling a remote task: a webhook or the reconciliation only says *which* task
//! changed; the pull always `GET`s its current state, so late, duplicated or
//! forged hints cannot move a task backwards or inject data.

use altimeter_api::RemoteTask;
use altimeter_client::ClientError;
use uuid::Uuid;

use super::engine::{Engine, ItemError};
use super::push::vanished;
use super::settle::{REMOTE_ACTOR, settle, snapshot_of, storable};
use crate::db::now;
use crate::model::{HistorySource, SyncStatus, Task};
use crate::store::history::{self, Origin};
use crate::store::queue::QueueItem;
use crate::store::tasks;

/// How long a pull waits for our own create of the same task to be linked.
const OWN_CREATE_PATIENCE: chrono::Duration = chrono::Duration::minutes(10);
const OWN_CREATE_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// Where a remote task stands locally.
enum Local {
    /// Linked to a local task.
    Linked(Task),
    /// Created by one of our pushes that has not recorded its link yet.
    OwnCreateInFlight,
    /// An unlinked local task it belongs to: one whose create answer was lost
    /// and that was deleted since, or one naming it as its legacy
    /// `related_altimeter_task_id`. Settling links them.
    Unlinked(Task),
    Unknown,
}

pub async fn run(engine: &Engine, item: &QueueItem) -> Result<(), ItemError> {
    let remote_id = item
        .remote_id
        .as_deref()
        .ok_or_else(|| ItemError::Permanent("pull item names no Altimeter task".into()))?;
    if already_held(engine, remote_id, item.hint_version).await? {
        return engine.complete_unchanged(item).await;
    }
    let remote = match engine.client.get(remote_id).await {
        Ok(remote) => remote,
        Err(ClientError::Gone(Some(tombstone))) => *tombstone,
        Err(ClientError::Gone(None) | ClientError::NotFound) => {
            return not_found(engine, item, remote_id).await;
        }
        Err(e) => return Err(e.into()),
    };
    match locate(engine, &remote).await? {
        Local::Linked(task) | Local::Unlinked(task) => {
            settle(engine, Some(item), task.id, &remote).await
        }
        Local::OwnCreateInFlight if now() - item.created_at < OWN_CREATE_PATIENCE => {
            // Soon at first, then every 30 s: a crash may leave many of these.
            let waited = now() - item.created_at;
            let wait = if waited < chrono::Duration::seconds(30) {
                OWN_CREATE_RETRY
            } else {
                OWN_CREATE_RETRY * 15
            };
            Err(ItemError::Defer(wait))
        }
        Local::OwnCreateInFlight => engine.complete_unchanged(item).await,
        Local::Unknown if remote.deleted => engine.complete_unchanged(item).await,
        Local::Unknown => import(engine, item, &remote).await,
    }
}

/// Whether every version the hints named is one Atlas already holds (its own
/// write coming back, or a late duplicate): then there is nothing to read.
async fn already_held(engine: &Engine, remote_id: &str, hint: Option<i64>) -> anyhow::Result<bool> {
    let Some(hint) = hint else { return Ok(false) };
    let task = tasks::find_by_remote_id(engine.db.pool(), remote_id).await?;
    Ok(task
        .and_then(|t| t.remote_version)
        .is_some_and(|held| held >= hint))
}

async fn locate(engine: &Engine, remote: &RemoteTask) -> anyhow::Result<Local> {
    let pool = engine.db.pool();
    if let Some(task) = tasks::find_by_remote_id(pool, &remote.id).await? {
        return Ok(Local::Linked(task));
    }
    let ours = remote
        .external_id
        .as_deref()
        .and_then(|id| Uuid::parse_str(id).ok());
    if let Some(task_id) = ours {
        if let Some(task) = tasks::get(pool, task_id).await? {
            match (&task.remote_id, task.deleted) {
                (None, true) => return Ok(Local::Unlinked(task)),
                (None, false) => return Ok(Local::OwnCreateInFlight),
                _ => {}
            }
        }
    }
    Ok(tasks::find_unlinked_by_related_id(pool, &remote.id)
        .await?
        .map_or(Local::Unknown, Local::Unlinked))
}

/// Altimeter has no such task, or no tombstone to show for it.
async fn not_found(engine: &Engine, item: &QueueItem, remote_id: &str) -> Result<(), ItemError> {
    match tasks::find_by_remote_id(engine.db.pool(), remote_id).await? {
        Some(task) => settle(engine, Some(item), task.id, &vanished(&task, remote_id)).await,
        None => engine.complete_unchanged(item).await,
    }
}

/// A task made in Altimeter that Atlas has never seen becomes a local task.
async fn import(engine: &Engine, item: &QueueItem, remote: &RemoteTask) -> Result<(), ItemError> {
    storable(remote)?;
    let mut tx = engine.begin(Some(item)).await?;
    if tasks::find_by_remote_id(&mut *tx, &remote.id)
        .await?
        .is_some()
    {
        return engine.complete(tx, Some(item), &[]).await;
    }
    let at = now();
    let task = Task {
        remote_id: Some(remote.id.clone()),
        remote_version: Some(remote.version),
        last_synced_at: Some(at),
        sync_status: SyncStatus::Synced,
        sync_base: Some(snapshot_of(remote)),
        ..Task::new(Uuid::now_v7(), remote.fields.clone(), at)
    };
    tasks::insert(&mut tx, &task).await?;
    let origin = Origin {
        source: HistorySource::Remote,
        actor: Some(REMOTE_ACTOR),
    };
    history::record(&mut *tx, &task, origin).await?;
    tracing::info!(task_id = %task.id, remote_id = %remote.id, "imported from Altimeter");
    engine.complete(tx, Some(item), &[task.id]).await
}
