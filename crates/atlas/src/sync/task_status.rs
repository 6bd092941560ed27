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

/// What the derivation needs to know about the task itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    /// Linked to an Altimeter task, or a tombstone (nothing left to link).
    pub linked_or_gone: bool,
    pub delete_held: bool,
}

/// The status the queue says a task has, with the message a person sees.
pub fn derive(
    conflict: Option<&Conflict>,
    items: &[QueueItem],
    standing: Standing,
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
    if standing.delete_held {
        let message = "deleted in Altimeter; held by the delete brake until an operator \
                       releases or discards it";
        return (SyncStatus::Pending, Some(message.to_owned()));
    }
    if !standing.linked_or_gone {
        let message = "not linked to Altimeter yet (an imported task waiting for \
                       `atlas sync backfill`, or one to send with `atlas sync trigger --task`)";
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
    let (remote_id, deleted): (Option<String>, i64) =
        sqlx::query_as("SELECT remote_id, deleted FROM tasks WHERE id = $1")
            .bind(task_id.to_string())
            .fetch_one(&mut *conn)
            .await?;
    let standing = Standing {
        linked_or_gone: remote_id.is_some() || deleted != 0,
        delete_held: remote_deletes::is_held(&mut *conn, task_id).await?,
    };
    let (status, error) = derive(conflict.as_ref(), &items, standing);
    let changed = tasks::set_sync_status(&mut *conn, task_id, status, error.as_deref()).await?;
    Ok((status, changed))
}

/// Takes the task's row lock (PostgreSQL) before its queue items are touched.
pub async fn lock(conn: &mut AnyConnection, backend: Backend, task_id: Uuid) -> anyhow::Result<()> {
    if backend == Backend::Postgres {
        let sql = format!(
            "SELECT id FROM tasks WHERE id = $1{}",
            backend.lock_clause()
        );
        sqlx::query(&sql)
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

#[cfg(test)]
mod tests {
    use chrono::Utc;

    use super::*;
    use crate::store::queue::Direction;

    fn item(status: &str, attempts: i64, error: Option<&str>) -> QueueItem {
        QueueItem {
            id: 1,
            lane: "lane".into(),
            direction: Direction::Push,
            task_id: None,
            remote_id: None,
            hint_version: None,
            status: status.into(),
            attempts,
            next_attempt_at: Utc::now(),
            lease_owner: None,
            lease_expires_at: None,
            last_error: error.map(str::to_owned),
            reason: "test".into(),
            created_at: Utc::now(),
        }
    }

    const LINKED: Standing = Standing {
        linked_or_gone: true,
        delete_held: false,
    };

    #[test]
    fn the_queue_decides_in_order_failed_in_flight_pending() {
        assert_eq!(derive(None, &[], LINKED), (SyncStatus::Synced, None));
        let pending = item("pending", 0, None);
        assert_eq!(
            derive(None, std::slice::from_ref(&pending), LINKED),
            (SyncStatus::Pending, None)
        );
        let retrying = item("pending", 2, Some("503; retry 2 of 3"));
        assert_eq!(
            derive(None, &[retrying], LINKED).1.as_deref(),
            Some("503; retry 2 of 3")
        );
        let in_flight = item("in_flight", 1, None);
        assert_eq!(
            derive(None, &[pending.clone(), in_flight.clone()], LINKED).0,
            SyncStatus::Syncing
        );
        let failed = item("failed", 4, Some("gave up"));
        let (status, error) = derive(None, &[pending, in_flight, failed], LINKED);
        assert_eq!(
            (status, error.as_deref()),
            (SyncStatus::Error, Some("gave up"))
        );
    }

    #[test]
    fn held_deletes_and_unlinked_tasks_are_pending_with_a_reason() {
        let held = Standing {
            linked_or_gone: true,
            delete_held: true,
        };
        let (status, error) = derive(None, &[], held);
        assert_eq!(status, SyncStatus::Pending);
        assert!(error.unwrap().contains("delete brake"));
        let unlinked = Standing {
            linked_or_gone: false,
            delete_held: false,
        };
        let (status, error) = derive(None, &[], unlinked);
        assert_eq!(status, SyncStatus::Pending);
        assert!(error.unwrap().contains("backfill"));
    }
}
