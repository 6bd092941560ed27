//! Turning a verified Altimeter webhook into work: the event is recorded by its
//! `event_id` (a duplicate does nothing) and becomes a coalesced pull, in one
//! transaction, before the receiver answers 2xx.

use altimeter_api::WebhookEvent;

use super::outbox::Outbox;
use super::task_status;
use crate::db::{Db, now};
use crate::store::{tasks, webhook_events};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Intake {
    /// New: a pull is queued.
    Queued,
    /// New, but for a version Atlas already holds (usually its own write coming
    /// back): nothing to pull.
    AlreadyCurrent,
    /// Seen before: ignored.
    Duplicate,
}

pub async fn accept(db: &Db, outbox: &Outbox, event: &WebhookEvent) -> anyhow::Result<Intake> {
    let at = now();
    let mut tx = db.begin_write().await?;
    if !webhook_events::record(&mut tx, event, at).await? {
        return Ok(Intake::Duplicate);
    }
    let remote_id = &event.data.task_id;
    let task = tasks::find_by_remote_id(&mut *tx, remote_id).await?;
    if let Some(task) = &task {
        if task
            .remote_version
            .is_some_and(|held| held >= event.data.version)
        {
            tx.commit().await?;
            return Ok(Intake::AlreadyCurrent);
        }
    }
    let task_id = task.map(|t| t.id);
    if let Some(task_id) = task_id {
        task_status::lock(&mut tx, db.backend(), task_id).await?;
    }
    outbox
        .pull(
            &mut tx,
            task_id,
            remote_id,
            Some(event.data.version),
            "webhook",
            at,
        )
        .await?;
    if let Some(task_id) = task_id {
        task_status::refresh(&mut tx, task_id).await?;
    }
    tx.commit().await?;
    outbox.wake();
    Ok(Intake::Queued)
}
