//! Operator actions on sync, shared by `/admin/sync/*` and `atlas sync ...`:
//! pause, resume, drain, trigger, retry failed items, and release or discard
//! deletes held by the brake. All state lives in the database, so an action
//! taken on one node holds for every node.

use serde::Serialize;
use uuid::Uuid;

use super::brake;
use super::maintenance::RECONCILE_REQUESTED;
use super::outbox::Outbox;
use super::task_status;
use crate::db::{Db, now};
use crate::store::queue;
use crate::store::remote_deletes::{self, HeldDelete};
use crate::store::sync_state;
use crate::store::tasks::{self, Link};

/// Stops claiming new work everywhere; items in flight finish.
pub async fn pause(db: &Db) -> anyhow::Result<()> {
    sync_state::set(db.pool(), sync_state::PAUSED, "true", now()).await
}

/// Undoes `pause` and `drain`.
pub async fn resume(db: &Db, outbox: &Outbox) -> anyhow::Result<()> {
    let mut tx = db.begin_write().await?;
    sync_state::set(&mut *tx, sync_state::PAUSED, "false", now()).await?;
    sync_state::set(&mut *tx, sync_state::DRAINING, "false", now()).await?;
    outbox.announce(&mut tx).await?;
    tx.commit().await?;
    outbox.wake();
    Ok(())
}

/// Stops claiming new work (for a deployment); returns how many items are
/// still in flight. Drained when that reaches 0.
pub async fn drain(db: &Db) -> anyhow::Result<i64> {
    sync_state::set(db.pool(), sync_state::DRAINING, "true", now()).await?;
    Ok(queue::depth(db.pool()).await?.in_flight)
}

/// What `trigger` queued.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "queued")]
pub enum Triggered {
    /// The task will be pulled (and pushed if it has local changes).
    Task { task_id: Uuid },
    /// A full reconciliation pass runs within seconds.
    Reconciliation,
}

/// Re-syncs one task now, or everything (a full reconciliation pass).
pub async fn trigger(db: &Db, outbox: &Outbox, task_id: Option<Uuid>) -> anyhow::Result<Triggered> {
    let at = now();
    let Some(task_id) = task_id else {
        let mut tx = db.begin_write().await?;
        sync_state::remove(&mut *tx, sync_state::RECONCILE_CURSOR).await?;
        sync_state::set(&mut *tx, RECONCILE_REQUESTED, "true", at).await?;
        tx.commit().await?;
        return Ok(Triggered::Reconciliation);
    };
    let mut tx = db.begin_write().await?;
    let task = tasks::get_for_update(&mut *tx, task_id, db.backend())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no task has id {task_id}"))?;
    match &task.remote_id {
        Some(remote_id) => {
            outbox
                .pull(&mut tx, Some(task.id), remote_id, None, "manual", at)
                .await?;
            if task.sync_base.as_ref() != Some(&task.snapshot()) {
                outbox.push(&mut tx, task.id, "manual", at, at).await?;
            }
        }
        None => outbox.push(&mut tx, task.id, "manual", at, at).await?,
    }
    task_status::refresh(&mut tx, task.id).await?;
    tx.commit().await?;
    outbox.wake();
    Ok(Triggered::Task { task_id })
}

/// Puts every failed item back in line; returns how many tasks that touched.
/// Puts the failed items of one task, or of every task, back in line.
pub async fn retry_failed(db: &Db, outbox: &Outbox, task: Option<Uuid>) -> anyhow::Result<usize> {
    let mut tx = db.begin_write().await?;
    let touched = queue::retry_failed(&mut tx, task, now()).await?;
    outbox.announce(&mut tx).await?;
    tx.commit().await?;
    task_status::refresh_each(db, &touched).await?;
    outbox.wake();
    Ok(touched.len())
}

/// Applies the held deletes: each task unchanged locally since becomes a
/// tombstone; one edited since becomes an edit-versus-delete conflict (by
/// pulling it again). Disengages the brake.
pub async fn release_deletes(db: &Db, outbox: &Outbox) -> anyhow::Result<usize> {
    settle_held(db, outbox, "released").await
}

/// Drops the held deletes: the tasks stay in Atlas and are created again in
/// Altimeter. Disengages the brake.
pub async fn discard_deletes(db: &Db, outbox: &Outbox) -> anyhow::Result<usize> {
    settle_held(db, outbox, "discarded").await
}

/// Settles every held delete, locking the tasks in id order: a released one is
/// pulled again, outside the brake (and applied — or, if the task was edited
/// since, it becomes an edit-versus-delete conflict); a discarded one keeps its
/// task, which is created in Altimeter again. Disengages the brake.
async fn settle_held(db: &Db, outbox: &Outbox, how: &str) -> anyhow::Result<usize> {
    let mut held = remote_deletes::held(db.pool()).await?;
    held.sort_by_key(|d| d.task_id);
    let mut settled = 0;
    let mut tx = db.begin_write().await?;
    for delete in &held {
        task_status::lock(&mut tx, db.backend(), delete.task_id).await?;
        let task = tasks::get(&mut *tx, delete.task_id).await?;
        if task.as_ref().and_then(|t| t.remote_id.as_deref()) != Some(delete.remote_id.as_str()) {
            // Overtaken: the task was created in Altimeter again, or linked to
            // another Altimeter task, since; this delete is not about it any more.
            remote_deletes::settle(&mut tx, delete.id, "discarded").await?;
            task_status::refresh(&mut tx, delete.task_id).await?;
            continue;
        }
        if !remote_deletes::settle(&mut tx, delete.id, how).await? {
            continue;
        }
        settled += 1;
        if how == "released" {
            let task = Some(delete.task_id);
            outbox
                .pull(
                    &mut tx,
                    task,
                    &delete.remote_id,
                    None,
                    brake::RELEASED,
                    now(),
                )
                .await?;
        } else {
            discard_one(&mut tx, outbox, delete).await?;
        }
        task_status::refresh(&mut tx, delete.task_id).await?;
    }
    sync_state::set(&mut *tx, brake::ENGAGED, "false", now()).await?;
    tx.commit().await?;
    outbox.wake();
    tracing::info!(count = settled, how, "held deletes settled");
    Ok(settled)
}

async fn discard_one(
    conn: &mut sqlx::AnyConnection,
    outbox: &Outbox,
    delete: &HeldDelete,
) -> anyhow::Result<()> {
    let Some(task) = tasks::get(&mut *conn, delete.task_id).await? else {
        return Ok(());
    };
    let unlinked = Link {
        remote_id: None,
        remote_version: None,
        base: None,
        last_synced_at: task.last_synced_at,
        link_generation: task.link_generation + 1,
    };
    if !tasks::set_link(&mut *conn, &task, &unlinked).await? {
        anyhow::bail!(
            "task {} changed while its held delete was discarded; try again",
            task.id
        );
    }
    let at = now();
    outbox.push(conn, task.id, "discarded_delete", at, at).await
}
