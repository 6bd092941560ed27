//! The `task_history` table: every version of every task, from either side.

use anyhow::Context;
use sqlx::{Any, Executor, FromRow};
use uuid::Uuid;

use crate::db::{decode_ts, encode_ts, now};
use crate::model::{HistoryEntry, HistorySource, Snapshot, Task};

/// Who made a version and where it came from.
#[derive(Debug, Clone, Copy)]
pub struct Origin<'a> {
    pub source: HistorySource,
    pub actor: Option<&'a str>,
}

/// Records `task` as it now stands.
pub async fn record<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    task: &Task,
    origin: Origin<'_>,
) -> anyhow::Result<()> {
    record_snapshot(
        executor,
        task.id,
        task.version,
        task.remote_version,
        &task.snapshot(),
        origin,
    )
    .await
}

/// Records a version that is not (or not yet) the task's current state, such as a
/// remote version held back by a conflict.
pub async fn record_snapshot<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    task_id: Uuid,
    version: i64,
    remote_version: Option<i64>,
    snapshot: &Snapshot,
    origin: Origin<'_>,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO task_history (task_id, version, source, remote_version, snapshot, actor, \
         recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(task_id.to_string())
    .bind(version)
    .bind(origin.source.as_str())
    .bind(remote_version)
    .bind(serde_json::to_string(snapshot)?)
    .bind(origin.actor)
    .bind(encode_ts(&now()))
    .execute(executor)
    .await
    .context("recording task history failed")?;
    Ok(())
}

#[derive(FromRow)]
struct HistoryRow {
    id: i64,
    task_id: String,
    version: i64,
    source: String,
    remote_version: Option<i64>,
    snapshot: String,
    actor: Option<String>,
    recorded_at: String,
}

impl HistoryRow {
    fn into_entry(self) -> anyhow::Result<HistoryEntry> {
        Ok(HistoryEntry {
            id: self.id,
            task_id: Uuid::parse_str(&self.task_id)?,
            version: self.version,
            source: HistorySource::parse(&self.source)
                .with_context(|| format!("unknown history source `{}`", self.source))?,
            remote_version: self.remote_version,
            actor: self.actor,
            recorded_at: decode_ts(&self.recorded_at)?,
            task: serde_json::from_str(&self.snapshot).context("stored snapshot is not JSON")?,
        })
    }
}

/// A task's versions, oldest first, after history entry `after` (exclusive).
pub async fn list<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    task_id: Uuid,
    after: Option<i64>,
    limit: i64,
) -> anyhow::Result<Vec<HistoryEntry>> {
    sqlx::query_as::<_, HistoryRow>(
        "SELECT id, task_id, version, source, remote_version, snapshot, actor, recorded_at \
         FROM task_history WHERE task_id = $1 AND id > $2 ORDER BY id LIMIT $3",
    )
    .bind(task_id.to_string())
    .bind(after.unwrap_or(0))
    .bind(limit)
    .fetch_all(executor)
    .await
    .context("reading task history failed")?
    .into_iter()
    .map(HistoryRow::into_entry)
    .collect()
}

/// When a person last changed the task through Atlas (a local edit or a
/// conflict resolution), as opposed to a change pulled from Altimeter. An
/// import is not an edit: its time is the export's `updated_at`, on the task.
pub async fn last_local_edit<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    task_id: Uuid,
) -> anyhow::Result<Option<chrono::DateTime<chrono::Utc>>> {
    let row: (Option<String>,) = sqlx::query_as(
        "SELECT MAX(recorded_at) FROM task_history WHERE task_id = $1 \
         AND source IN ('local', 'resolution')",
    )
    .bind(task_id.to_string())
    .fetch_one(executor)
    .await
    .context("reading a task's last local edit failed")?;
    crate::db::decode_opt_ts(row.0.as_deref())
}

/// Whether any version of the task was made in Atlas (an edit, import, merge
/// or resolution), rather than every one pulled from Altimeter.
pub async fn changed_in_atlas<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    task_id: Uuid,
) -> anyhow::Result<bool> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM task_history WHERE task_id = $1 \
         AND source NOT IN ('remote', 'remote_held')",
    )
    .bind(task_id.to_string())
    .fetch_one(executor)
    .await
    .context("reading a task's history failed")?;
    Ok(n > 0)
}

/// The earliest version of a task that came from `source` (e.g. its import).
pub async fn first_of_source<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    task_id: Uuid,
    source: HistorySource,
) -> anyhow::Result<Option<Snapshot>> {
    let row: Option<(String,)> = sqlx::query_as(
        "SELECT snapshot FROM task_history WHERE task_id = $1 AND source = $2 ORDER BY id LIMIT 1",
    )
    .bind(task_id.to_string())
    .bind(source.as_str())
    .fetch_optional(executor)
    .await
    .context("reading a task's history failed")?;
    row.map(|(json,)| serde_json::from_str(&json).context("stored snapshot is not JSON"))
        .transpose()
}
