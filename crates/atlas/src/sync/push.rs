//! Pushing a task to Altimeter: create it (idempotently), update it with
//! `If-Match`, or delete it. A `412` (or a task gone remotely) hands over to
//! [`settle`](super::settle), which merges before anything is pushed again.

use altimeter_api::{CreateTask, RemoteTask};
use altimeter_client::ClientError;
use futures::StreamExt;

use super::engine::{Engine, ItemError};
use super::settle::{link_to, settle, snapshot_of, write_link};
use crate::db::now;
use crate::model::{SentCreate, Snapshot, Task};
use crate::store::queue::QueueItem;
use crate::store::{conflicts, tasks};

/// Idempotency keys expire after 24 h in Altimeter; past this age a retried
/// create first looks for the task an earlier try may have made.
const IDEMPOTENCY_SAFE_HOURS: i64 = 23;
/// How far before its first create attempt a task is looked for in Altimeter
/// (clocks differ a little).
const CLOCK_MARGIN_MINUTES: i64 = 5;

pub async fn run(engine: &Engine, item: &QueueItem) -> Result<(), ItemError> {
    let task_id = item
        .task_id
        .ok_or_else(|| ItemError::Permanent("push item names no task".into()))?;
    let Some(task) = tasks::get(engine.db.pool(), task_id).await? else {
        return engine.complete_unchanged(item).await;
    };
    if conflicts::open_for_task(engine.db.pool(), task_id)
        .await?
        .is_some()
    {
        // A person decides first; resolving the conflict queues a new push.
        return engine.complete_unchanged(item).await;
    }
    match task.remote_id.clone() {
        None if task.deleted => delete_unlinked(engine, item, &task).await,
        None => match task.related_altimeter_task_id.clone() {
            // Only the first link follows the legacy id; a task Atlas unlinked
            // itself (recreated after a remote delete) is created anew.
            Some(related) if task.link_generation == 0 => {
                link_legacy(engine, item, &task, &related).await
            }
            _ => create(engine, item, &task).await,
        },
        Some(remote_id) if task.deleted => delete(engine, item, &task, &remote_id).await,
        Some(remote_id) => update(engine, item, &task, &remote_id).await,
    }
}

/// The key that makes retried creates of one task return one remote task.
pub fn idempotency_key(task: &Task) -> String {
    match task.link_generation {
        0 => format!("atlas-task-{}", task.id),
        n => format!("atlas-task-{}-{n}", task.id),
    }
}

/// A task imported with a legacy link to an Altimeter task is linked to it (and
/// merged with it), not created a second time; only a link to a task Altimeter
/// does not have leads to a create.
async fn link_legacy(
    engine: &Engine,
    item: &QueueItem,
    task: &Task,
    related: &str,
) -> Result<(), ItemError> {
    match engine.client.get(related).await {
        Ok(remote) => settle(engine, Some(item), task.id, &remote).await,
        Err(ClientError::Gone(Some(tombstone))) => {
            settle(engine, Some(item), task.id, &tombstone).await
        }
        Err(ClientError::NotFound | ClientError::Gone(None)) => create(engine, item, task).await,
        Err(e) => Err(e.into()),
    }
}

async fn create(engine: &Engine, item: &QueueItem, task: &Task) -> Result<(), ItemError> {
    let expired = task
        .create_attempted_at
        .is_some_and(|at| now() - at >= chrono::Duration::hours(IDEMPOTENCY_SAFE_HOURS));
    let earlier = if expired {
        earlier_create(engine, task).await?
    } else {
        None
    };
    let remote = match earlier {
        Some(remote) => remote,
        None => {
            let sent = SentCreate {
                generation: task.link_generation,
                fields: task.fields.clone(),
            };
            tasks::mark_create_attempt(engine.db.pool(), task.id, now(), &sent).await?;
            let body = CreateTask {
                external_id: Some(task.id.to_string()),
                fields: task.fields.clone(),
            };
            match engine.client.create(&body, &idempotency_key(task)).await {
                Ok(remote) => remote,
                // An earlier try created it, with the fields as they were then.
                Err(ClientError::IdempotencyKeyReused { message }) => {
                    earlier_create(engine, task).await?.ok_or_else(|| {
                        ItemError::Permanent(format!(
                            "Altimeter says this task was created before ({message}), but no \
                             Altimeter task names it as its external_id; an operator must look"
                        ))
                    })?
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    tracing::info!(task_id = %task.id, remote_id = %remote.id, version = remote.version, "created in Altimeter");
    // Whether this answer is fresh or the create was found again (a replayed
    // key, a lost answer), both sides may have moved on since the first try:
    // settle three ways, on what that try sent.
    settle(engine, Some(item), task.id, &remote).await
}

/// A task deleted before it was ever linked. If a create was sent, its answer
/// may have been lost: find that remote task and settle with it, so the delete
/// reaches it (or, if it was edited in Altimeter meanwhile, a person decides)
/// and no live orphan stays in Altimeter.
async fn delete_unlinked(engine: &Engine, item: &QueueItem, task: &Task) -> Result<(), ItemError> {
    if task.create_attempted_at.is_none() {
        return engine.complete_unchanged(item).await;
    }
    let Some(remote) = earlier_create(engine, task).await? else {
        return engine.complete_unchanged(item).await;
    };
    settle(engine, Some(item), task.id, &remote).await
}

/// The live remote task an earlier create of this task made, found by
/// `external_id` among the tasks changed since its first create attempt. Used
/// when the idempotency key may have expired, when Altimeter says the key was
/// used already, and for a task deleted before its create was recorded.
async fn earlier_create(engine: &Engine, task: &Task) -> Result<Option<RemoteTask>, ItemError> {
    let first_attempt = task.create_attempted_at.unwrap_or(task.created_at);
    let since = first_attempt - chrono::Duration::minutes(CLOCK_MARGIN_MINUTES);
    let external_id = task.id.to_string();
    let mut listing = std::pin::pin!(engine.client.list_since(Some(since), 500));
    while let Some(next) = listing.next().await {
        match next {
            Ok(remote)
                if remote.external_id.as_deref() == Some(&external_id) && !remote.deleted =>
            {
                return Ok(Some(remote));
            }
            Ok(_) | Err(ClientError::InvalidItem { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(None)
}

async fn update(
    engine: &Engine,
    item: &QueueItem,
    task: &Task,
    remote_id: &str,
) -> Result<(), ItemError> {
    if task.sync_base.as_ref() == Some(&task.snapshot()) {
        return engine.complete_unchanged(item).await;
    }
    match engine
        .client
        .update(remote_id, &task.fields, task.remote_version)
        .await
    {
        Ok(remote) => {
            let mut tx = engine.begin(Some(item)).await?;
            let link = link_to(task, &remote, snapshot_of(&remote), now());
            write_link(&mut tx, task, &link).await?;
            engine.complete(tx, Some(item), &[]).await
        }
        Err(ClientError::PreconditionFailed(current) | ClientError::Gone(current)) => {
            let current = current_remote(engine, task, remote_id, current).await?;
            settle(engine, Some(item), task.id, &current).await
        }
        Err(ClientError::NotFound) => {
            settle(engine, Some(item), task.id, &vanished(task, remote_id)).await
        }
        Err(e) => Err(e.into()),
    }
}

/// The remote task as it is now: the one Altimeter sent along with its 412 or
/// 410, or else a fresh `GET`.
pub async fn current_remote(
    engine: &Engine,
    task: &Task,
    remote_id: &str,
    sent: Option<Box<RemoteTask>>,
) -> Result<RemoteTask, ItemError> {
    if let Some(sent) = sent {
        return Ok(*sent);
    }
    match engine.client.get(remote_id).await {
        Ok(remote) => Ok(remote),
        Err(ClientError::Gone(Some(tombstone))) => Ok(*tombstone),
        Err(ClientError::Gone(None) | ClientError::NotFound) => Ok(vanished(task, remote_id)),
        Err(e) => Err(e.into()),
    }
}

async fn delete(
    engine: &Engine,
    item: &QueueItem,
    task: &Task,
    remote_id: &str,
) -> Result<(), ItemError> {
    match engine.client.delete(remote_id, task.remote_version).await {
        Ok(()) | Err(ClientError::Gone(_) | ClientError::NotFound) => {
            let mut tx = engine.begin(Some(item)).await?;
            let link = tasks::Link {
                base: Some(task.snapshot()),
                last_synced_at: Some(now()),
                ..tasks::Link::of(task)
            };
            write_link(&mut tx, task, &link).await?;
            engine.complete(tx, Some(item), &[]).await
        }
        Err(ClientError::PreconditionFailed(current)) => {
            let current = current_remote(engine, task, remote_id, current).await?;
            settle(engine, Some(item), task.id, &current).await
        }
        Err(e) => Err(e.into()),
    }
}

/// Altimeter answered 404 for a task we had linked: it is gone without a
/// tombstone, which Atlas treats as a delete one version on.
pub fn vanished(task: &Task, remote_id: &str) -> RemoteTask {
    let at = now();
    let base = task.sync_base.clone().unwrap_or_else(|| task.snapshot());
    let Snapshot { fields, .. } = base;
    RemoteTask {
        id: remote_id.to_owned(),
        external_id: Some(task.id.to_string()),
        version: task.remote_version.unwrap_or(0) + 1,
        fields,
        created_at: at,
        updated_at: at,
        deleted: true,
    }
}
