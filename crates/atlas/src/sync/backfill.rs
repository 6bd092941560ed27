//! Onboarding existing data (`atlas sync backfill`): tasks that carry a legacy
//! `related_altimeter_task_id` are linked to that Altimeter task once it is
//! verified to exist (GET), their base recorded through the same three-way
//! settle as any pull; tasks never linked are queued for their first push. Each
//! link commits on its own, so an interrupted run simply resumes.

use altimeter_client::ClientError;
use futures::StreamExt;
use serde::Serialize;
use sqlx::FromRow;
use uuid::Uuid;

use super::engine::{Engine, ItemError};
use super::settle::settle;
use crate::db::now;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Verify and report, change nothing.
    pub dry_run: bool,
    /// Tasks read per batch.
    pub batch: i64,
}

/// What a run did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Legacy links found to verify.
    pub candidates: u64,
    /// Linked; includes those that became conflicts.
    pub linked: u64,
    /// Linked, but the two sides disagree and a person must choose.
    pub conflicts: u64,
    /// The legacy id names no Altimeter task (left unlinked; see `missing_ids`).
    pub missing: u64,
    /// Could not be checked this run (Altimeter unreachable...); run again.
    pub failed: u64,
    /// The remote task is already linked to another Atlas task (for example one
    /// reconciliation imported before the legacy export was loaded).
    pub duplicates: u64,
    /// Tasks never linked, queued for their first push.
    pub queued_pushes: u64,
    /// Up to 20 tasks whose legacy link points nowhere.
    pub missing_ids: Vec<Uuid>,
    /// Up to 20 `(legacy task, task already linked)` pairs.
    pub duplicate_ids: Vec<(Uuid, Uuid)>,
}

#[derive(FromRow)]
struct Candidate {
    id: String,
    related_altimeter_task_id: String,
}

enum Step {
    Linked { conflict: bool },
    Missing(Uuid),
    Duplicate(Uuid, Uuid),
    Failed,
}

/// Runs the backfill; `progress` is told how many candidates there are, then
/// each one done.
pub async fn run(
    engine: &Engine,
    options: Options,
    progress: &dyn Progress,
) -> anyhow::Result<Report> {
    let pool = engine.db.pool();
    let (count,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM tasks WHERE related_altimeter_task_id IS NOT NULL AND remote_id IS NULL AND deleted = 0",
    )
    .fetch_one(pool)
    .await?;
    let mut report = Report {
        candidates: u64::try_from(count)?,
        ..Report::default()
    };
    progress.start(report.candidates);
    let mut after = String::new();
    loop {
        let batch: Vec<Candidate> = sqlx::query_as(
            "SELECT id, related_altimeter_task_id FROM tasks WHERE related_altimeter_task_id IS NOT NULL \
             AND remote_id IS NULL AND deleted = 0 AND id > $1 ORDER BY id LIMIT $2",
        )
        .bind(&after)
        .bind(options.batch)
        .fetch_all(pool)
        .await?;
        let Some(last) = batch.last() else { break };
        after.clone_from(&last.id);
        let steps: Vec<Step> = futures::stream::iter(batch)
            .map(|c| link_one(engine, c, options.dry_run))
            .buffer_unordered(engine.config.concurrency)
            .collect()
            .await;
        for step in steps {
            tally(&mut report, step);
            progress.advance();
        }
    }
    if !options.dry_run {
        report.queued_pushes = queue_never_linked(engine).await?;
    }
    Ok(report)
}

fn tally(report: &mut Report, step: Step) {
    match step {
        Step::Linked { conflict } => {
            report.linked += 1;
            report.conflicts += u64::from(conflict);
        }
        Step::Missing(id) => {
            report.missing += 1;
            if report.missing_ids.len() < 20 {
                report.missing_ids.push(id);
            }
        }
        Step::Duplicate(task, other) => {
            report.duplicates += 1;
            if report.duplicate_ids.len() < 20 {
                report.duplicate_ids.push((task, other));
            }
        }
        Step::Failed => report.failed += 1,
    }
}

async fn link_one(engine: &Engine, candidate: Candidate, dry_run: bool) -> Step {
    let Ok(task_id) = Uuid::parse_str(&candidate.id) else {
        return Step::Failed;
    };
    let remote = match engine
        .client
        .get(&candidate.related_altimeter_task_id)
        .await
    {
        Ok(remote) => remote,
        Err(ClientError::Gone(Some(tombstone))) => *tombstone,
        Err(ClientError::NotFound | ClientError::Gone(None)) => return Step::Missing(task_id),
        Err(e) => {
            tracing::warn!(%task_id, error = %e, "backfill could not verify a legacy link");
            return Step::Failed;
        }
    };
    if let Ok(Some(other)) =
        crate::store::tasks::find_by_remote_id(engine.db.pool(), &remote.id).await
    {
        return Step::Duplicate(task_id, other.id);
    }
    if dry_run {
        return Step::Linked { conflict: false };
    }
    match settle(engine, None, task_id, &remote).await {
        Ok(()) => {
            let open = crate::store::conflicts::open_for_task(engine.db.pool(), task_id).await;
            Step::Linked {
                conflict: matches!(open, Ok(Some(_))),
            }
        }
        Err(ItemError::AlreadyLinked { other, .. }) => Step::Duplicate(task_id, other),
        Err(ItemError::Stale) => Step::Failed,
        Err(e) => {
            tracing::warn!(%task_id, error = %e, "backfill could not link a task");
            Step::Failed
        }
    }
}

/// Queues the first push of every live task that has never been linked and has
/// nothing queued.
async fn queue_never_linked(engine: &Engine) -> anyhow::Result<u64> {
    let ids: Vec<(String,)> = sqlx::query_as(
        "SELECT t.id FROM tasks t WHERE t.remote_id IS NULL AND t.related_altimeter_task_id IS NULL \
         AND t.deleted = 0 AND NOT EXISTS (SELECT 1 FROM sync_queue q WHERE q.task_id = t.id) \
         ORDER BY t.id",
    )
    .fetch_all(engine.db.pool())
    .await?;
    let at = now();
    for chunk in ids.chunks(500) {
        let mut tx = engine.db.begin_write().await?;
        for (id,) in chunk {
            let task_id = Uuid::parse_str(id)?;
            super::task_status::lock(&mut tx, engine.db.backend(), task_id).await?;
            engine
                .outbox
                .push(&mut tx, task_id, "backfill", at, at)
                .await?;
            super::task_status::refresh(&mut tx, task_id).await?;
        }
        tx.commit().await?;
    }
    engine.outbox.wake();
    Ok(ids.len() as u64)
}

/// Where a long run reports its progress (a terminal bar, or nothing).
pub trait Progress: Sync {
    fn start(&self, total: u64);
    fn advance(&self);
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _total: u64) {}
    fn advance(&self) {}
}
