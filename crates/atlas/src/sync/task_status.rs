//! A task's `sync_status` and `sync_error` are derived from the queue, its open
//! conflict and any held delete, and rewritten in the same transaction as every
//! change to those, so they are always true to the queue.
//!
//! Lock order (PostgreSQL): a transaction that changes a task's row *and* its
//! pending queue item locks the task row first — as a local edit does — or it
//! can deadlock with one. Transactions that only move queue items (claiming,
//! reclaiming, bulk retries) commit first and refresh the tasks afterwards with
//! [`refresh_each`].

use sqlx::AnyConnection;
use uuid::Uuid;

use crate::db::{Backend, Db};

use crate::model::SyncStatus;
use crate::store::conflicts::{self, Conflict};
use crate::store::queue::{self, QueueItem};
use crate::store::{remote_deletes, tasks};

/// The status the queue says a task has, with the message a person sees.
pub fn derive(
    conflict: Option<&Conflict>,
    items: &[QueueItem],
    delete_held: bool,
) -> (SyncStatus, Option<String>) {
    if let Some(c) = conflict {
        let names: Vec<_> = c.fields.iter().map(|f| f.name()).collect();
        let message = match c.kind {
            crate::sync::merge::ConflictKind::EditDelete => {
                "edited on one side and deleted on the other: choose which to keep".to_owned()
            }
            crate::sync::merge::ConflictKind::Fields => {
                format!(
                    "changed on both sides ({}): choose which values to keep",
                    names.join(", ")
                )
            }
        };
        return (SyncStatus::Conflict, Some(message));
    }
    if let Some(failed) = items.iter().rev().find(|i| i.status == "failed") {
        return (SyncStatus::Error, failed.last_error.clone());
    }
    if items.iter().any(|i| i.status == "in_flight") {
        return (SyncStatus::Syncing, None);
    }
    if let Some(pending) = items.iter().find(|i| i.status == "pending") {
        let retrying = (pending.attempts > 0)
            .then(|| pending.last_error.clone())
            .flatten();
        return (SyncStatus::Pending, retrying);
    }
    if delete_held {
        let message = "deleted in Altimeter; held by the delete brake until an operator \
                       releases or discards it";
        return (SyncStatus::Pending, Some(message.to_owned()));
    }
    (SyncStatus::Synced, None)
}

/// Recomputes and stores a task's sync status. Returns it, and whether it changed.
pub async fn refresh(
    conn: &mut AnyConnection,
    task_id: Uuid,
) -> anyhow::Result<(SyncStatus, bool)> {
    let conflict = conflicts::open_for_task(&mut *conn, task_id).await?;
    let items = queue::for_task(&mut *conn, task_id).await?;
    let held = remote_deletes::is_held(&mut *conn, task_id).await?;
    let (status, error) = derive(conflict.as_ref(), &items, held);
    let changed = tasks::set_sync_status(&mut *conn, task_id, status, error.as_deref()).await?;
    Ok((status, changed))
}

/// Takes the task's row lock (PostgreSQL) before its queue items are touched.
pub async fn lock(conn: &mut AnyConnection, backend: Backend, task_id: Uuid) -> anyhow::Result<()> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT id FROM tasks WHERE id = $1 FOR UPDATE")
            .bind(task_id.to_string())
            .execute(conn)
            .await?;
    }
    Ok(())
}

/// Refreshes several tasks in a transaction of their own, in id order.
pub async fn refresh_each(db: &Db, task_ids: &[Uuid]) -> anyhow::Result<()> {
    if task_ids.is_empty() {
        return Ok(());
    }
    let mut ids = task_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut tx = db.begin_write().await?;
    for id in ids {
        refresh(&mut tx, id).await?;
    }
    tx.commit().await?;
    Ok(())
}
