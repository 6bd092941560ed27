//! The sync worker: it claims due items with leases and works them, each lane
//! (task) in order, a bounded number of lanes at once, renewing the leases
//! meanwhile. [`Worker::run`] claims continuously into free slots;
//! [`Worker::run_once`] claims and works one batch (for tests and tools).
//! Failures are settled here by the retry schedule.

use std::collections::{BTreeMap, VecDeque};
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use super::engine::{Engine, ItemError, ItemTimer};
use super::retry::AfterFailure;
use super::{pull, push, task_status};
use crate::db::now;
use crate::store::queue::{self, Direction, QueueItem};
use crate::store::{outcomes, sync_state};

/// Longest sleep when nothing is due and no wake-up comes (a fallback only).
const POLL: Duration = Duration::from_secs(5);
const BATCH: i64 = 32;
/// Items one claim of the continuous loop takes at most.
const BATCH_LIMIT: usize = 32;

/// What one step of the worker did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Worked this many items.
    Worked(usize),
    /// Nothing was due; the next item falls due then (if any is queued).
    Idle { next_due: Option<DateTime<Utc>> },
    /// Sync is paused or draining: nothing new is claimed.
    Paused,
}

pub struct Worker {
    engine: Engine,
}

/// Starts claimed lanes while there are free slots.
fn start_ready(
    worker: &std::sync::Arc<Worker>,
    ready: &mut VecDeque<Vec<QueueItem>>,
    lanes: &mut tokio::task::JoinSet<()>,
    held: &mut BTreeMap<tokio::task::Id, Vec<i64>>,
) {
    while lanes.len() < worker.engine.config.concurrency {
        let Some(lane) = ready.pop_front() else { break };
        let ids = lane.iter().map(|i| i.id).collect();
        let worker = worker.clone();
        let task = lanes.spawn(async move { worker.work_lane(lane).await });
        held.insert(task.id(), ids);
    }
}

/// Every item this worker holds a lease on: lanes under way and lanes waiting.
fn leased<'a>(
    held: &'a BTreeMap<tokio::task::Id, Vec<i64>>,
    ready: &'a VecDeque<Vec<QueueItem>>,
) -> impl Iterator<Item = &'a i64> {
    held.values()
        .flatten()
        .chain(ready.iter().flatten().map(|i| &i.id))
}

/// A finished lane task's id; one that panicked is logged.
fn finished(done: Result<(tokio::task::Id, ()), tokio::task::JoinError>) -> tokio::task::Id {
    match done {
        Ok((task, ())) => task,
        Err(e) => {
            tracing::error!(error = %e, "a sync lane stopped unexpectedly");
            e.id()
        }
    }
}

/// What a claim brought.
enum Claimed {
    /// Due items, one list per lane.
    Lanes(Vec<Vec<QueueItem>>),
    /// Sync is paused or draining: nothing was claimed.
    Paused,
}

impl Worker {
    pub fn new(engine: Engine) -> Worker {
        Worker { engine }
    }

    /// Claims and works one batch of due items.
    pub async fn run_once(&self) -> anyhow::Result<Outcome> {
        let pool = self.engine.db.pool();
        if self.paused().await? {
            // Claim nothing, but a dead worker's items still go back in line, so a
            // drain does not wait on a lease nobody will release.
            self.reclaim().await?;
            return Ok(Outcome::Paused);
        }
        let items = self.claim(BATCH).await?;
        if items.is_empty() {
            return Ok(Outcome::Idle {
                next_due: queue::next_due(pool).await?,
            });
        }
        let count = items.len();
        self.work(items).await;
        Ok(Outcome::Worked(count))
    }

    /// Runs until `shutdown`; work already claimed is finished first. Claims
    /// continuously: whenever a lane finishes, its slot is filled with the next
    /// due work, so one slow call holds up only its own lane. At most
    /// `concurrency` lanes are worked at once; each lane's items in order.
    pub async fn run(self, shutdown: CancellationToken) {
        tracing::info!(owner = %self.engine.owner, "sync worker started");
        let this = std::sync::Arc::new(self);
        let slots = this.engine.config.concurrency;
        // Each lane runs as its own task, so a lane holding a transaction is
        // never stalled while this loop waits on a claim.
        let mut lanes = tokio::task::JoinSet::new();
        // The items each lane task holds, to renew their leases; a lane that
        // panicked is dropped from it, so its leases run out and others retry.
        let mut held: BTreeMap<tokio::task::Id, Vec<i64>> = BTreeMap::new();
        // Lanes claimed (a batch at a time, so claims stay cheap) waiting for a slot.
        let mut ready: VecDeque<Vec<QueueItem>> = VecDeque::new();
        let mut renew = tokio::time::interval(this.engine.config.lease / 3);
        renew.tick().await;
        while !shutdown.is_cancelled() {
            while let Some(done) = lanes.try_join_next_with_id() {
                held.remove(&finished(done));
            }
            start_ready(&this, &mut ready, &mut lanes, &mut held);
            let mut next_due = None;
            if lanes.len() < slots {
                match this.claim_lanes(BATCH_LIMIT).await {
                    Ok(Claimed::Lanes(claimed)) if !claimed.is_empty() => {
                        ready.extend(claimed);
                        continue;
                    }
                    Ok(Claimed::Lanes(_)) => next_due = this.next_due().await,
                    Ok(Claimed::Paused) => {}
                    Err(e) => {
                        tracing::error!(error = format!("{e:#}"), "sync worker step failed");
                        next_due = Some(now() + chrono::Duration::seconds(1));
                    }
                }
            }
            let wait = next_due
                .map(|due| (due - now()).to_std().unwrap_or(Duration::ZERO))
                .unwrap_or(POLL)
                .min(POLL);
            let woken = this.engine.outbox.woken();
            tokio::select! {
                Some(done) = lanes.join_next_with_id(), if !lanes.is_empty() => {
                    held.remove(&finished(done));
                }
                () = woken.notified(), if lanes.len() < slots => {}
                () = tokio::time::sleep(wait), if lanes.len() < slots => {}
                _ = renew.tick() => this.renew(leased(&held, &ready)).await,
                () = shutdown.cancelled() => {}
            }
        }
        // Finish what was claimed, started or not, renewing its leases meanwhile.
        while !(lanes.is_empty() && ready.is_empty()) {
            start_ready(&this, &mut ready, &mut lanes, &mut held);
            tokio::select! {
                Some(done) = lanes.join_next_with_id() => {
                    held.remove(&finished(done));
                }
                _ = renew.tick() => this.renew(leased(&held, &ready)).await,
            }
        }
        tracing::info!(owner = %this.engine.owner, "sync worker stopped");
    }

    /// Claims up to `limit` due items, grouped by lane, unless sync is paused.
    async fn claim_lanes(&self, limit: usize) -> anyhow::Result<Claimed> {
        if self.paused().await? {
            self.reclaim().await?;
            return Ok(Claimed::Paused);
        }
        let items = self.claim(i64::try_from(limit)?).await?;
        let mut lanes: BTreeMap<String, Vec<QueueItem>> = BTreeMap::new();
        for item in items {
            lanes.entry(item.lane.clone()).or_default().push(item);
        }
        Ok(Claimed::Lanes(lanes.into_values().collect()))
    }

    async fn paused(&self) -> anyhow::Result<bool> {
        let pool = self.engine.db.pool();
        Ok(sync_state::flag(pool, sync_state::PAUSED).await?
            || sync_state::flag(pool, sync_state::DRAINING).await?)
    }

    async fn next_due(&self) -> Option<DateTime<Utc>> {
        queue::next_due(self.engine.db.pool())
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = format!("{e:#}"), "reading the next due item failed");
                None
            })
    }

    /// Works one lane's items in order.
    async fn work_lane(&self, lane: Vec<QueueItem>) {
        for item in lane {
            self.work_item(item).await;
        }
    }

    /// Puts items whose lease ran out back in line, and refreshes their tasks.
    async fn reclaim(&self) -> anyhow::Result<()> {
        let mut tx = self.engine.db.begin_write().await?;
        let touched = queue::reclaim_expired(&mut tx, now()).await?;
        tx.commit().await?;
        task_status::refresh_each(&self.engine.db, &touched).await
    }

    /// Puts expired leases back in line and leases a batch of due items, in one
    /// write transaction; then marks their tasks `syncing` (or back to pending).
    async fn claim(&self, limit: i64) -> anyhow::Result<Vec<QueueItem>> {
        let db = &self.engine.db;
        let at = now();
        let mut tx = db.begin_write().await?;
        let mut touched = queue::reclaim_expired(&mut tx, at).await?;
        let lease_until = at + chrono::Duration::from_std(self.engine.config.lease)?;
        let items = queue::claim(
            &mut tx,
            db.backend(),
            &self.engine.owner,
            lease_until,
            at,
            limit,
        )
        .await?;
        tx.commit().await?;
        touched.extend(items.iter().filter_map(|i| i.task_id));
        // The items are ours now: a failed status refresh must not strand them.
        if let Err(e) = task_status::refresh_each(db, &touched).await {
            tracing::warn!(
                error = format!("{e:#}"),
                "refreshing sync statuses after a claim failed"
            );
        }
        Ok(items)
    }

    /// Works a claimed batch: lanes concurrently, each lane's items in order.
    async fn work(&self, items: Vec<QueueItem>) {
        let ids: Vec<i64> = items.iter().map(|i| i.id).collect();
        let mut lanes: BTreeMap<String, Vec<QueueItem>> = BTreeMap::new();
        for item in items {
            lanes.entry(item.lane.clone()).or_default().push(item);
        }
        let work = futures::stream::iter(lanes.into_values())
            .for_each_concurrent(self.engine.config.concurrency, |lane| self.work_lane(lane));
        tokio::select! {
            () = work => {}
            () = self.renew_leases(&ids) => {}
        }
    }

    /// Extends the batch's leases every third of a lease, for as long as it runs.
    async fn renew_leases(&self, ids: &[i64]) {
        let mut tick = tokio::time::interval(self.engine.config.lease / 3);
        tick.tick().await;
        loop {
            tick.tick().await;
            self.renew(ids.iter()).await;
        }
    }

    /// Extends these items' leases by a full lease from now.
    async fn renew(&self, ids: impl Iterator<Item = &i64>) {
        let lease = self.engine.config.lease;
        let until = now() + chrono::Duration::from_std(lease).unwrap_or_default();
        for id in ids {
            let renewed =
                queue::renew_lease(self.engine.db.pool(), *id, &self.engine.owner, until).await;
            if let Err(e) = renewed {
                tracing::warn!(
                    error = format!("{e:#}"),
                    item = id,
                    "renewing a lease failed"
                );
            }
        }
    }

    #[tracing::instrument(skip_all, fields(item = item.id))]
    async fn work_item(&self, item: QueueItem) {
        let timer = ItemTimer::start(&item);
        let result = match item.direction {
            Direction::Push => push::run(&self.engine, &item).await,
            Direction::Pull => pull::run(&self.engine, &item).await,
        };
        let attempt = match result {
            Ok(()) => Attempt::ok(),
            Err(error) => {
                let remote_status = match &error {
                    ItemError::Remote(e) => e.http_status(),
                    _ => None,
                };
                match self.settle_failure(&item, error).await {
                    Ok((outcome, message)) => Attempt {
                        outcome,
                        remote_status,
                        error: message,
                    },
                    Err(e) => Attempt {
                        outcome: "unrecorded",
                        remote_status,
                        error: Some(format!("recording the failure failed: {e:#}")),
                    },
                }
            }
        };
        attempt.log(&item, timer.elapsed());
    }

    /// Puts a failed item back in line or marks it failed, by the retry schedule.
    /// Returns the outcome (`retry`, `failed`, `deferred`, `lease_lost`) and
    /// the error as recorded.
    async fn settle_failure(
        &self,
        item: &QueueItem,
        error: ItemError,
    ) -> anyhow::Result<(&'static str, Option<String>)> {
        let db = &self.engine.db;
        let at = now();
        if matches!(error, ItemError::LeaseLost) {
            return Ok(("lease_lost", Some(error.to_string())));
        }
        let mut tx = db.begin_write().await?;
        if !queue::holds_lease(&mut tx, db.backend(), item.id, &self.engine.owner, at).await? {
            return Ok(("lease_lost", Some(error.to_string())));
        }
        if let Some(task_id) = item.task_id {
            task_status::lock(&mut tx, db.backend(), task_id).await?;
        }
        let (outcome, message) = match &error {
            ItemError::Stale | ItemError::Defer(_) => {
                let wait = if let ItemError::Defer(d) = &error {
                    *d
                } else {
                    Duration::ZERO
                };
                let due = at + chrono::Duration::from_std(wait)?;
                queue::requeue(
                    &mut tx,
                    item,
                    item.attempts - 1,
                    due,
                    item.last_error.as_deref(),
                    at,
                )
                .await?;
                ("deferred", Some(error.to_string()))
            }
            _ => self.retry_or_fail(&mut tx, item, &error, at).await?,
        };
        if let Some(task_id) = item.task_id {
            task_status::refresh(&mut tx, task_id).await?;
        }
        if outcome != "deferred" {
            outcomes::record(&mut tx, item.direction.as_str(), outcome, at).await?;
        }
        tx.commit().await?;
        metrics::counter!("atlas_sync_items_total", "direction" => item.direction.as_str(), "outcome" => outcome)
            .increment(1);
        Ok((outcome, message))
    }

    async fn retry_or_fail(
        &self,
        tx: &mut sqlx::AnyConnection,
        item: &QueueItem,
        error: &ItemError,
        at: DateTime<Utc>,
    ) -> anyhow::Result<(&'static str, Option<String>)> {
        let (retryable, retry_after) = classify(error);
        let tries = u32::try_from(item.attempts).unwrap_or(u32::MAX);
        let policy = &self.engine.config.retry;
        match policy.after_failure(tries, retryable, retry_after) {
            AfterFailure::RetryIn(wait) => {
                let message = describe(error, Some((tries, policy.max_retries, wait)));
                let due = at + chrono::Duration::from_std(wait)?;
                queue::requeue(tx, item, item.attempts, due, Some(&message), at).await?;
                Ok(("retry", Some(message)))
            }
            AfterFailure::GiveUp => {
                let message = describe(error, None);
                queue::fail(tx, item, &message, at).await?;
                Ok(("failed", Some(message)))
            }
        }
    }
}

/// How one attempt at a sync item ended, for its log line.
struct Attempt {
    outcome: &'static str,
    remote_status: Option<u16>,
    error: Option<String>,
}

impl Attempt {
    fn ok() -> Attempt {
        Attempt {
            outcome: "ok",
            remote_status: None,
            error: None,
        }
    }

    /// One line per attempt, with the same keys every time, so operators can
    /// query them (`outcome`, `direction`, `task_id`, ...).
    fn log(&self, item: &QueueItem, took: Duration) {
        let task_id = item.task_id.map(|t| t.to_string());
        let duration_ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        macro_rules! attempt_line {
            ($level:ident) => {
                tracing::$level!(
                    task_id = task_id.as_deref(),
                    remote_id = item.remote_id.as_deref(),
                    direction = item.direction.as_str(),
                    attempt = item.attempts,
                    duration_ms,
                    outcome = self.outcome,
                    remote_status = self.remote_status,
                    error = self.error.as_deref(),
                    "sync attempt"
                )
            };
        }
        match self.outcome {
            "ok" | "deferred" => attempt_line!(info),
            "failed" | "unrecorded" => attempt_line!(error),
            _ => attempt_line!(warn),
        }
    }
}

/// The error as a person should read it on the task: what happened and what to do.
fn describe(error: &ItemError, retry: Option<(u32, u32, Duration)>) -> String {
    use altimeter_client::ClientError;
    let what = match error {
        ItemError::Remote(ClientError::Retryable {
            status: Some(s),
            message,
            ..
        }) => {
            format!("Altimeter is unavailable ({s}): {message}")
        }
        ItemError::Remote(ClientError::Retryable { message, .. }) => {
            format!("Altimeter could not be reached: {message}")
        }
        ItemError::Remote(ClientError::Permanent {
            status: 401 | 403,
            message,
            ..
        }) => {
            format!("Altimeter refused Atlas's credentials ({message}); check ALTIMETER_API_KEY")
        }
        ItemError::Remote(ClientError::Permanent {
            status: 422,
            code,
            message,
        }) => {
            format!(
                "Altimeter refused the task's data (422 {code}): {message}; edit the task to fix it"
            )
        }
        ItemError::Remote(ClientError::Permanent {
            status,
            code,
            message,
        }) => {
            format!(
                "Altimeter refused the request ({status} {code}): {message}; an operator must check \
                 the Altimeter settings (see the runbook: sync items failed)"
            )
        }
        other => other.to_string(),
    };
    match retry {
        Some((tries, max, wait)) => format!(
            "{what}; retry {tries} of {max} in {}",
            humantime::format_duration(Duration::from_secs(wait.as_secs().max(1)))
        ),
        None if classify(error).0 => {
            format!(
                "{what}; gave up after the last retry: run `atlas sync retry-failed` once it is fixed"
            )
        }
        None => what,
    }
}

/// Whether retrying may help, and the least wait Altimeter asked for.
fn classify(error: &ItemError) -> (bool, Option<Duration>) {
    match error {
        ItemError::Remote(e) => (e.is_retryable(), e.retry_after()),
        // The database or the network hiccuped; a later try may well succeed.
        ItemError::Internal(_) => (true, None),
        _ => (false, None),
    }
}
