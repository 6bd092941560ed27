//! The `sync_queue` table: the outbox of pushes and the inbox of pulls. Items are
//! claimed with leases; every later step is fenced on the lease, so a worker whose
//! lease expired cannot commit.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Any, AnyConnection, Executor, FromRow};
use uuid::Uuid;

use crate::db::{Backend, decode_opt_ts, decode_ts, encode_ts};

mod reads;
pub use reads::{Depth, depth, failed, for_task, lane_busy, next_due, oldest_pending};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Atlas → Altimeter.
    Push,
    /// Altimeter → Atlas.
    Pull,
}

impl Direction {
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Push => "push",
            Direction::Pull => "pull",
        }
    }

    fn parse(s: &str) -> anyhow::Result<Direction> {
        match s {
            "push" => Ok(Direction::Push),
            "pull" => Ok(Direction::Pull),
            other => anyhow::bail!("unknown queue direction `{other}`"),
        }
    }
}

/// The lane of a remote task not (yet) known locally. Items of one lane are
/// processed one at a time; a known task's lane is its Atlas id.
pub fn remote_lane(remote_id: &str) -> String {
    format!("remote:{remote_id}")
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueItem {
    pub id: i64,
    pub lane: String,
    pub direction: Direction,
    pub task_id: Option<Uuid>,
    pub remote_id: Option<String>,
    /// For a pull: the newest remote version a hint (webhook, listing) named.
    pub hint_version: Option<i64>,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: DateTime<Utc>,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub reason: String,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, lane, direction, task_id, remote_id, hint_version, status, attempts, \
    next_attempt_at, lease_owner, lease_expires_at, last_error, reason, created_at";

#[derive(FromRow)]
struct ItemRow {
    id: i64,
    lane: String,
    direction: String,
    task_id: Option<String>,
    remote_id: Option<String>,
    hint_version: Option<i64>,
    status: String,
    attempts: i64,
    next_attempt_at: String,
    lease_owner: Option<String>,
    lease_expires_at: Option<String>,
    last_error: Option<String>,
    reason: String,
    created_at: String,
}

impl ItemRow {
    fn into_item(self) -> anyhow::Result<QueueItem> {
        Ok(QueueItem {
            id: self.id,
            lane: self.lane,
            direction: Direction::parse(&self.direction)?,
            task_id: self.task_id.as_deref().map(Uuid::parse_str).transpose()?,
            remote_id: self.remote_id,
            hint_version: self.hint_version,
            status: self.status,
            attempts: self.attempts,
            next_attempt_at: decode_ts(&self.next_attempt_at)?,
            lease_owner: self.lease_owner,
            lease_expires_at: decode_opt_ts(self.lease_expires_at.as_deref())?,
            last_error: self.last_error,
            reason: self.reason,
            created_at: decode_ts(&self.created_at)?,
        })
    }
}

fn into_items(rows: Vec<ItemRow>) -> anyhow::Result<Vec<QueueItem>> {
    rows.into_iter().map(ItemRow::into_item).collect()
}

/// Work to enqueue.
#[derive(Debug, Clone)]
pub struct NewItem<'a> {
    pub lane: &'a str,
    pub direction: Direction,
    pub task_id: Option<Uuid>,
    pub remote_id: Option<&'a str>,
    pub hint_version: Option<i64>,
    pub reason: &'a str,
    pub due_at: DateTime<Utc>,
    /// Debounce: a pending item queued at or after this time (and not yet
    /// tried) moves later to `due_at`, so a burst of edits waits for its end.
    pub slide_since: Option<DateTime<Utc>>,
}

/// Adds an item, or folds it into the pending item of the same lane and
/// direction: that one then falls due at the earlier of the two times (or,
/// debouncing, the later), and keeps the newest hinted version (no hint on
/// either side means "read it whatever version we hold").
pub async fn enqueue(
    conn: &mut AnyConnection,
    item: &NewItem<'_>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO sync_queue (lane, direction, task_id, remote_id, hint_version, status, \
         attempts, next_attempt_at, reason, created_at, updated_at) \
         VALUES ($1, $2, $3, $4, $5, 'pending', 0, $6, $7, $8, $8) \
         ON CONFLICT (lane, direction) WHERE status = 'pending' DO UPDATE SET \
           task_id = COALESCE(excluded.task_id, sync_queue.task_id), \
           remote_id = COALESCE(excluded.remote_id, sync_queue.remote_id), \
           hint_version = CASE \
             WHEN excluded.hint_version IS NULL OR sync_queue.hint_version IS NULL THEN NULL \
             WHEN excluded.hint_version > sync_queue.hint_version THEN excluded.hint_version \
             ELSE sync_queue.hint_version END, \
           next_attempt_at = CASE \
             WHEN sync_queue.attempts = 0 AND sync_queue.created_at >= $9 \
               AND sync_queue.next_attempt_at > sync_queue.created_at \
               AND excluded.next_attempt_at > sync_queue.next_attempt_at \
               THEN excluded.next_attempt_at \
             WHEN excluded.next_attempt_at < sync_queue.next_attempt_at \
               THEN excluded.next_attempt_at \
             ELSE sync_queue.next_attempt_at END, \
           reason = excluded.reason, \
           updated_at = excluded.updated_at",
    )
    .bind(item.lane)
    .bind(item.direction.as_str())
    .bind(item.task_id.map(|id| id.to_string()))
    .bind(item.remote_id)
    .bind(item.hint_version)
    .bind(encode_ts(&item.due_at))
    .bind(item.reason)
    .bind(encode_ts(&now))
    // Without debouncing, no pending item is "recent enough" to slide.
    .bind(
        item.slide_since
            .as_ref()
            .map_or_else(|| "9999".to_owned(), encode_ts),
    )
    .execute(conn)
    .await
    .context("enqueueing a sync item failed")?;
    Ok(())
}

/// The claim statement; binds owner, lease end, now and limit. Public so the
/// benchmark can show its plan.
pub fn claim_sql(backend: Backend) -> String {
    let skip_locked = match backend {
        Backend::Postgres => "FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    format!(
        "UPDATE sync_queue SET status = 'in_flight', lease_owner = $1, lease_expires_at = $2, \
         attempts = attempts + 1, updated_at = $3 \
         WHERE id IN (SELECT q.id FROM sync_queue q \
           WHERE q.status = 'pending' AND q.next_attempt_at <= $3 \
             AND NOT EXISTS (SELECT 1 FROM sync_queue f WHERE f.lane = q.lane AND f.status = 'in_flight') \
           ORDER BY q.next_attempt_at, q.id LIMIT $4 {skip_locked}) \
         RETURNING {COLUMNS}"
    )
}

/// The key of the PostgreSQL advisory lock that takes claims one at a time.
const CLAIM_LOCK: i64 = 0x0061_746c_6173; // "atlas"

/// Leases up to `limit` due items whose lane has nothing in flight. On
/// PostgreSQL, claims run one at a time (a transaction-scoped advisory lock):
/// the claim statement's "nothing in flight" check reads its own snapshot, so
/// two claims running at once could otherwise give one lane's items to two
/// workers. Waiting for the lock means the statement sees the previous claim
/// committed. Call inside the claiming transaction.
pub async fn claim(
    conn: &mut AnyConnection,
    backend: Backend,
    owner: &str,
    lease_until: DateTime<Utc>,
    now: DateTime<Utc>,
    limit: i64,
) -> anyhow::Result<Vec<QueueItem>> {
    if backend == Backend::Postgres {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CLAIM_LOCK)
            .execute(&mut *conn)
            .await
            .context("waiting for the claim lock failed")?;
    }
    let rows = sqlx::query_as::<_, ItemRow>(&claim_sql(backend))
        .bind(owner)
        .bind(encode_ts(&lease_until))
        .bind(encode_ts(&now))
        .bind(limit)
        .fetch_all(conn)
        .await
        .context("claiming sync items failed")?;
    into_items(rows)
}

/// Puts items whose lease ran out back in line (or drops them where a pending
/// item of the same lane and direction already covers them). Returns the tasks
/// whose status may have changed.
pub async fn reclaim_expired(
    conn: &mut AnyConnection,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Uuid>> {
    let now = encode_ts(&now);
    let covered: Vec<(Option<String>,)> = sqlx::query_as(
        "DELETE FROM sync_queue WHERE status = 'in_flight' AND lease_expires_at <= $1 \
         AND EXISTS (SELECT 1 FROM sync_queue p WHERE p.lane = sync_queue.lane \
           AND p.direction = sync_queue.direction AND p.status = 'pending') \
         RETURNING task_id",
    )
    .bind(&now)
    .fetch_all(&mut *conn)
    .await
    .context("dropping expired sync items failed")?;
    let requeued: Vec<(Option<String>,)> = sqlx::query_as(
        "UPDATE sync_queue SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
         next_attempt_at = $1, updated_at = $1, \
         last_error = COALESCE(last_error, 'the worker holding this item stopped; retrying') \
         WHERE status = 'in_flight' AND lease_expires_at <= $1 RETURNING task_id",
    )
    .bind(&now)
    .fetch_all(&mut *conn)
    .await
    .context("re-queueing expired sync items failed")?;
    Ok(covered
        .into_iter()
        .chain(requeued)
        .filter_map(|(id,)| id.and_then(|id| Uuid::parse_str(&id).ok()))
        .collect())
}

/// True when `item` is still leased to `owner` (row-locked on PostgreSQL). Every
/// step that ends an item checks this first, in its own transaction.
pub async fn holds_lease(
    conn: &mut AnyConnection,
    backend: Backend,
    item_id: i64,
    owner: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let sql = format!(
        "SELECT id FROM sync_queue WHERE id = $1 AND lease_owner = $2 AND status = 'in_flight' \
         AND lease_expires_at > $3{}",
        backend.lock_clause()
    );
    let row: Option<(i64,)> = sqlx::query_as(&sql)
        .bind(item_id)
        .bind(owner)
        .bind(encode_ts(&now))
        .fetch_optional(conn)
        .await
        .context("checking a sync lease failed")?;
    Ok(row.is_some())
}

/// Extends the lease of an item still held by `owner`.
pub async fn renew_lease<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    item_id: i64,
    owner: &str,
    lease_until: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let result = sqlx::query(
        "UPDATE sync_queue SET lease_expires_at = $1 WHERE id = $2 AND lease_owner = $3 \
         AND status = 'in_flight'",
    )
    .bind(encode_ts(&lease_until))
    .bind(item_id)
    .bind(owner)
    .execute(executor)
    .await
    .context("renewing a sync lease failed")?;
    Ok(result.rows_affected() == 1)
}

/// Removes a finished item, and the older failures of its lane and direction
/// that its success makes moot.
pub async fn finish(conn: &mut AnyConnection, item: &QueueItem) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM sync_queue WHERE id = $1 OR (lane = $2 AND direction = $3 AND status = 'failed')")
        .bind(item.id)
        .bind(&item.lane)
        .bind(item.direction.as_str())
        .execute(conn)
        .await
        .context("finishing a sync item failed")?;
    Ok(())
}

/// Puts an item back in line, due at `due_at` with `attempts` tries counted. If a
/// newer pending item of the same lane and direction exists, that one takes over
/// the (larger) count, the (later) wait and the hinted version, and this one is
/// dropped.
pub async fn requeue(
    conn: &mut AnyConnection,
    item: &QueueItem,
    attempts: i64,
    due_at: DateTime<Utc>,
    error: Option<&str>,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let merged = sqlx::query(
        "UPDATE sync_queue SET last_error = $2, updated_at = $3, \
         attempts = CASE WHEN attempts > $1 THEN attempts ELSE $1 END, \
         next_attempt_at = CASE WHEN next_attempt_at > $4 THEN next_attempt_at ELSE $4 END, \
         hint_version = CASE WHEN $7 IS NULL OR hint_version IS NULL THEN NULL \
           WHEN $7 > hint_version THEN $7 ELSE hint_version END \
         WHERE lane = $5 AND direction = $6 AND status = 'pending'",
    )
    .bind(attempts)
    .bind(error)
    .bind(encode_ts(&now))
    .bind(encode_ts(&due_at))
    .bind(&item.lane)
    .bind(item.direction.as_str())
    .bind(item.hint_version)
    .execute(&mut *conn)
    .await
    .context("re-queueing a sync item failed")?;
    if merged.rows_affected() > 0 {
        sqlx::query("DELETE FROM sync_queue WHERE id = $1")
            .bind(item.id)
            .execute(conn)
            .await
            .context("dropping a covered sync item failed")?;
        return Ok(());
    }
    sqlx::query(
        "UPDATE sync_queue SET status = 'pending', lease_owner = NULL, lease_expires_at = NULL, \
         attempts = $1, next_attempt_at = $2, last_error = $3, updated_at = $4 WHERE id = $5",
    )
    .bind(attempts)
    .bind(encode_ts(&due_at))
    .bind(error)
    .bind(encode_ts(&now))
    .bind(item.id)
    .execute(conn)
    .await
    .context("re-queueing a sync item failed")?;
    Ok(())
}

/// Marks an item failed; it keeps its error until retried by hand. Only the
/// newest failure of a lane and direction is kept.
pub async fn fail(
    conn: &mut AnyConnection,
    item: &QueueItem,
    error: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM sync_queue WHERE lane = $1 AND direction = $2 AND status = 'failed'")
        .bind(&item.lane)
        .bind(item.direction.as_str())
        .execute(&mut *conn)
        .await
        .context("dropping an older failure failed")?;
    sqlx::query(
        "UPDATE sync_queue SET status = 'failed', lease_owner = NULL, lease_expires_at = NULL, \
         last_error = $1, updated_at = $2 WHERE id = $3",
    )
    .bind(error)
    .bind(encode_ts(&now))
    .bind(item.id)
    .execute(conn)
    .await
    .context("marking a sync item failed failed")?;
    Ok(())
}

/// Puts every failed item (of one task, or of all) back in line, due now with a
/// fresh count. Returns the tasks concerned.
pub async fn retry_failed(
    conn: &mut AnyConnection,
    task: Option<Uuid>,
    now: DateTime<Utc>,
) -> anyhow::Result<Vec<Uuid>> {
    let task = task.map(|id| id.to_string());
    let covered: Vec<(Option<String>,)> = sqlx::query_as(
        "DELETE FROM sync_queue WHERE status = 'failed' AND ($1 IS NULL OR task_id = $1) \
         AND EXISTS (SELECT 1 FROM sync_queue p \
         WHERE p.lane = sync_queue.lane AND p.direction = sync_queue.direction \
         AND p.status = 'pending') RETURNING task_id",
    )
    .bind(&task)
    .fetch_all(&mut *conn)
    .await
    .context("dropping covered failures failed")?;
    let retried: Vec<(Option<String>,)> = sqlx::query_as(
        "UPDATE sync_queue SET status = 'pending', attempts = 0, next_attempt_at = $1, \
         updated_at = $1 WHERE status = 'failed' AND ($2 IS NULL OR task_id = $2) \
         RETURNING task_id",
    )
    .bind(encode_ts(&now))
    .bind(&task)
    .fetch_all(&mut *conn)
    .await
    .context("re-queueing failed items failed")?;
    Ok(covered
        .into_iter()
        .chain(retried)
        .filter_map(|(id,)| id.and_then(|id| Uuid::parse_str(&id).ok()))
        .collect())
}
