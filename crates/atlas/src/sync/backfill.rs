//! Onboarding existing data (`atlas sync backfill`): tasks that carry a legacy
//! `related_altimeter_task_id` are linked to that Altimeter task once it is
//! verified to exist (GET), their base recorded through the same three-way
//! settle as any pull; tasks never linked are queued for their first push. Each
//! link commits on its own, so an interrupted run simply resumes.

use std::time::Duration;

use altimeter_api::RemoteTask;
use altimeter_client::ClientError;
use futures::StreamExt;
use serde::Serialize;
use uuid::Uuid;

use super::engine::{Engine, ItemError};
use super::pacing::{Hold, Pacer};
use super::retry::AfterFailure;
use super::settle::settle;
use crate::db::now;
use crate::store::tasks;

/// A `429` is Altimeter pacing the run, not the call failing: it is waited out
/// (as `Retry-After` says) this many times before the task counts as failed.
const RATE_LIMITED_TRIES: u32 = 50;

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
    let mut report = Report {
        candidates: u64::try_from(tasks::count_legacy_unlinked(pool).await?)?,
        ..Report::default()
    };
    progress.start(report.candidates);
    let pacer = Pacer::new();
    let mut after = None;
    loop {
        let batch = tasks::legacy_unlinked_after(pool, after, options.batch).await?;
        let Some((last, _)) = batch.last() else { break };
        after = Some(*last);
        let steps: Vec<Step> = futures::stream::iter(batch)
            .map(|(task_id, related)| {
                link_one(engine, &pacer, progress, task_id, related, options.dry_run)
            })
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

async fn link_one(
    engine: &Engine,
    pacer: &Pacer,
    progress: &dyn Progress,
    task_id: Uuid,
    related_id: String,
    dry_run: bool,
) -> Step {
    let remote = match fetch(engine, pacer, progress, &related_id).await {
        Ok(remote) => remote,
        Err(ClientError::Gone(Some(tombstone))) => *tombstone,
        Err(ClientError::NotFound | ClientError::Gone(None)) => return Step::Missing(task_id),
        Err(e) => {
            tracing::warn!(%task_id, error = %e, "backfill could not verify a legacy link");
            return Step::Failed;
        }
    };
    if let Ok(Some(other)) = tasks::find_by_remote_id(engine.db.pool(), &remote.id).await {
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

/// Reads the remote task, paced with the rest of the run: retryable failures are
/// tried again on the sync retry schedule (never sooner than `Retry-After`),
/// and a `429` is waited out without counting as a failed try.
async fn fetch(
    engine: &Engine,
    pacer: &Pacer,
    progress: &dyn Progress,
    remote_id: &str,
) -> Result<RemoteTask, ClientError> {
    let (mut tries, mut rate_limited) = (0, 0);
    loop {
        pacer.ready(&|wait, why| progress.waiting(wait, why)).await;
        let answer = engine.client.get(remote_id).await;
        if let Some(rate) = engine.client.rate_limit() {
            pacer.observe(rate);
        }
        let error = match answer {
            Err(e) if e.is_retryable() => e,
            other => return other,
        };
        let wait = if error.http_status() == Some(429) && rate_limited < RATE_LIMITED_TRIES {
            rate_limited += 1;
            error.retry_after().unwrap_or(Duration::from_secs(1))
        } else {
            tries += 1;
            match engine
                .config
                .retry
                .after_failure(tries, true, error.retry_after())
            {
                AfterFailure::RetryIn(wait) => wait,
                AfterFailure::GiveUp => return Err(error),
            }
        };
        pacer.hold(wait);
    }
}

/// Queues the first push of every live task that has never been linked and has
/// nothing queued.
async fn queue_never_linked(engine: &Engine) -> anyhow::Result<u64> {
    let ids = tasks::never_offered(engine.db.pool()).await?;
    let at = now();
    for chunk in ids.chunks(500) {
        let mut tx = engine.db.begin_write().await?;
        for &task_id in chunk {
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
    /// Every call is held for `wait`, for the reason given.
    fn waiting(&self, wait: Duration, why: Hold);
}

/// Reports nothing.
pub struct Silent;

impl Progress for Silent {
    fn start(&self, _total: u64) {}
    fn advance(&self) {}
    fn waiting(&self, _wait: Duration, _why: Hold) {}
}
