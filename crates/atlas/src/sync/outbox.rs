//! Putting work in the sync queue from inside the transaction that caused it,
//! and waking the workers once that transaction commits: in this process with a
//! `Notify`, and on PostgreSQL in every process with `NOTIFY atlas_sync`.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::db::Backend;
use crate::model::Task;
use crate::store::queue::{self, Direction, NewItem, remote_lane};

/// The PostgreSQL channel workers listen on.
pub const CHANNEL: &str = "atlas_sync";

/// A burst of edits is pushed at most this many push delays after it began.
pub const MAX_DEBOUNCE: i32 = 10;

#[derive(Debug, Clone)]
pub struct Outbox {
    backend: Backend,
    push_delay: Duration,
    wake: Arc<Notify>,
}

impl Outbox {
    pub fn new(backend: Backend, push_delay: Duration) -> Outbox {
        Outbox {
            backend,
            push_delay,
            wake: Arc::new(Notify::new()),
        }
    }

    /// Resolves when new work may be waiting.
    pub fn woken(&self) -> Arc<Notify> {
        self.wake.clone()
    }

    /// Call after the transaction that enqueued work has committed.
    pub fn wake(&self) {
        self.wake.notify_waiters();
        self.wake.notify_one();
    }

    /// Queues a push of a task changed locally, throttled on both edges: the
    /// first change of a quiet task (no push queued or under way, nothing synced
    /// in the last `push_delay`) is due at once, and a push due at once is never
    /// put off. Changes that follow coalesce into one push `push_delay` after the
    /// last of them, but never later than [`MAX_DEBOUNCE`] × `push_delay` after
    /// the first.
    pub async fn push_local_change(
        &self,
        conn: &mut AnyConnection,
        task: &Task,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let delay = chrono::Duration::from_std(self.push_delay).unwrap_or_default();
        let lane = task.id.to_string();
        let synced_lately = task.last_synced_at.is_some_and(|at| now - at < delay);
        let quiet = !synced_lately && !queue::lane_busy(&mut *conn, &lane, Direction::Push).await?;
        let due = if quiet { now } else { now + delay };
        let slide_since = Some(now - delay * MAX_DEBOUNCE);
        self.queue_push(conn, task.id, "local_change", due, slide_since, now)
            .await
    }

    /// Queues a push due at `due`.
    pub async fn push(
        &self,
        conn: &mut AnyConnection,
        task_id: Uuid,
        reason: &str,
        due: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        self.queue_push(conn, task_id, reason, due, None, now).await
    }

    async fn queue_push(
        &self,
        conn: &mut AnyConnection,
        task_id: Uuid,
        reason: &str,
        due_at: DateTime<Utc>,
        slide_since: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let lane = task_id.to_string();
        let item = NewItem {
            lane: &lane,
            direction: Direction::Push,
            task_id: Some(task_id),
            remote_id: None,
            hint_version: None,
            reason,
            due_at,
            slide_since,
        };
        self.enqueue(conn, &item, now).await
    }

    /// Queues a pull of a remote task, in its local task's lane when known.
    /// `hint` is the version a webhook or listing named, if any: a pull whose
    /// hinted versions Atlas already holds is dropped without calling Altimeter.
    pub async fn pull(
        &self,
        conn: &mut AnyConnection,
        task_id: Option<Uuid>,
        remote_id: &str,
        hint: Option<i64>,
        reason: &str,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        let lane = task_id.map_or_else(|| remote_lane(remote_id), |id| id.to_string());
        let item = NewItem {
            lane: &lane,
            direction: Direction::Pull,
            task_id,
            remote_id: Some(remote_id),
            hint_version: hint,
            reason,
            due_at: now,
            slide_since: None,
        };
        self.enqueue(conn, &item, now).await
    }

    async fn enqueue(
        &self,
        conn: &mut AnyConnection,
        item: &NewItem<'_>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<()> {
        queue::enqueue(&mut *conn, item, now).await?;
        self.announce(conn).await
    }

    /// Tells the workers of every process, once the transaction commits, that
    /// the queue or the sync flags changed (PostgreSQL; a no-op on SQLite, whose
    /// workers all live in this process).
    pub async fn announce(&self, conn: &mut AnyConnection) -> anyhow::Result<()> {
        if self.backend == Backend::Postgres {
            sqlx::query("SELECT pg_notify($1, '')")
                .bind(CHANNEL)
                .execute(conn)
                .await?;
        }
        Ok(())
    }
}
