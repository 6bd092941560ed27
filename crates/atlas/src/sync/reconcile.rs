//! The periodic reconciliation: list what changed in Altimeter since the last pass
//! (overlapping it a little, so changes sharing a timestamp at the boundary are
//! never missed) and queue a pull for every version Atlas has not seen. It
//! catches the webhooks that never arrived.

use std::time::Duration;

use altimeter_api::RemoteTask;
use altimeter_client::ClientError;
use futures::StreamExt;

use super::engine::Engine;
use crate::db::now;
use crate::store::{sync_state, tasks};

/// How far each pass reaches back before the newest change the last pass saw.
pub const OVERLAP: Duration = Duration::from_secs(60);
const PAGE: u32 = 200;

/// What one pass found.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pass {
    pub seen: usize,
    pub queued: usize,
    /// Remote tasks that could not be read (logged, skipped).
    pub invalid: usize,
}

/// One pass over Altimeter's changes since the stored cursor; advances it.
pub async fn run(engine: &Engine) -> anyhow::Result<Pass> {
    let pool = engine.db.pool();
    let cursor = sync_state::get_ts(pool, sync_state::RECONCILE_CURSOR).await?;
    let since = cursor.map(|c| c - chrono::Duration::from_std(OVERLAP).unwrap_or_default());
    let mut listing = std::pin::pin!(engine.client.list_since(since, PAGE));
    let mut pass = Pass::default();
    let mut newest = cursor;
    let mut page = Vec::with_capacity(PAGE as usize);
    loop {
        let next = listing.next().await;
        let done = next.is_none();
        match next {
            Some(Ok(remote)) => {
                pass.seen += 1;
                newest = newest.max(Some(remote.updated_at));
                page.push(remote);
            }
            Some(Err(ClientError::InvalidItem { id, message })) => {
                pass.invalid += 1;
                tracing::error!(remote_id = id.as_deref().unwrap_or("?"), error = %message, "skipping a remote task Atlas cannot read");
            }
            Some(Err(e)) => return Err(e.into()),
            None => {}
        }
        if page.len() >= PAGE as usize || (done && !page.is_empty()) {
            pass.queued += queue_unseen(engine, &page).await?;
            page.clear();
        }
        if done {
            break;
        }
    }
    if let Some(newest) = newest {
        sync_state::set(
            pool,
            sync_state::RECONCILE_CURSOR,
            &crate::db::encode_ts(&newest),
            now(),
        )
        .await?;
    }
    if pass.queued > 0 {
        engine.outbox.wake();
        tracing::info!(
            seen = pass.seen,
            queued = pass.queued,
            "reconciliation queued missed changes"
        );
    }
    Ok(pass)
}

/// Queues a pull for each remote version newer than the one the task holds.
async fn queue_unseen(engine: &Engine, page: &[RemoteTask]) -> anyhow::Result<usize> {
    let mut unseen = Vec::new();
    for remote in page {
        let local = tasks::find_by_remote_id(engine.db.pool(), &remote.id).await?;
        let needed = match &local {
            Some(task) => task.remote_version.is_none_or(|v| remote.version > v),
            None => !remote.deleted,
        };
        if needed {
            unseen.push((local.map(|t| t.id), remote.id.as_str(), remote.version));
        }
    }
    if unseen.is_empty() {
        return Ok(0);
    }
    let at = now();
    let mut tx = engine.db.begin_write().await?;
    for (task_id, remote_id, version) in &unseen {
        engine
            .outbox
            .pull(
                &mut tx,
                *task_id,
                remote_id,
                Some(*version),
                "reconcile",
                at,
            )
            .await?;
    }
    tx.commit().await?;
    Ok(unseen.len())
}
