//! The `tasks` table.

use altimeter_api::{Priority, Status, TaskFields};
use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::any::AnyArguments;
use sqlx::query::Query;
use sqlx::{Any, AnyConnection, Executor, FromRow};
use uuid::Uuid;

use super::ParamNumbers;
use super::feed::{self, Signal};
use crate::db::{Backend, decode_opt_ts, decode_ts, encode_ts, now};
use crate::model::{SentCreate, Snapshot, SyncStatus, Task};

const COLUMNS: &str = "id, title, description, status, priority, assignee, due_date, version, \
    created_at, updated_at, deleted, remote_id, remote_version, last_synced_at, sync_status, \
    sync_error, related_altimeter_task_id, sync_base, link_generation, create_attempted_at, \
    create_sent, create_sent_generation";

#[derive(FromRow)]
struct TaskRow {
    id: String,
    title: String,
    description: String,
    status: String,
    priority: String,
    assignee: Option<String>,
    due_date: Option<String>,
    version: i64,
    created_at: String,
    updated_at: String,
    deleted: i64,
    remote_id: Option<String>,
    remote_version: Option<i64>,
    last_synced_at: Option<String>,
    sync_status: String,
    sync_error: Option<String>,
    related_altimeter_task_id: Option<String>,
    sync_base: Option<String>,
    link_generation: i64,
    create_attempted_at: Option<String>,
    create_sent: Option<String>,
    create_sent_generation: Option<i64>,
}

impl TaskRow {
    fn into_task(self) -> anyhow::Result<Task> {
        let id = Uuid::parse_str(&self.id).context("stored task id is not a UUID")?;
        let due_date = self
            .due_date
            .as_deref()
            .map(altimeter_api::parse_due_date)
            .transpose()
            .map_err(anyhow::Error::msg)?;
        Ok(Task {
            id,
            fields: TaskFields {
                title: self.title,
                description: self.description,
                status: self.status.parse::<Status>()?,
                priority: self.priority.parse::<Priority>()?,
                assignee: self.assignee,
                due_date,
            },
            version: self.version,
            created_at: decode_ts(&self.created_at)?,
            updated_at: decode_ts(&self.updated_at)?,
            deleted: self.deleted != 0,
            remote_id: self.remote_id,
            remote_version: self.remote_version,
            last_synced_at: decode_opt_ts(self.last_synced_at.as_deref())?,
            sync_status: SyncStatus::parse(&self.sync_status)
                .with_context(|| format!("unknown sync_status `{}`", self.sync_status))?,
            sync_error: self.sync_error,
            related_altimeter_task_id: self.related_altimeter_task_id,
            sync_base: self
                .sync_base
                .as_deref()
                .map(serde_json::from_str)
                .transpose()
                .context("stored sync base is not JSON")?,
            link_generation: self.link_generation,
            create_attempted_at: decode_opt_ts(self.create_attempted_at.as_deref())?,
            create_sent: match (self.create_sent, self.create_sent_generation) {
                (Some(json), Some(generation)) => Some(SentCreate {
                    generation,
                    fields: serde_json::from_str(&json)
                        .context("stored create body is not JSON")?,
                }),
                _ => None,
            },
        })
    }
}

fn base_json(task: &Task) -> anyhow::Result<Option<String>> {
    task.sync_base
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .context("encoding the sync base failed")
}

fn due_text(fields: &TaskFields) -> Option<String> {
    fields.due_date.map(|d| d.format("%Y-%m-%d").to_string())
}

pub async fn get<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    id: Uuid,
) -> anyhow::Result<Option<Task>> {
    fetch_where(executor, "id = $1", &id.to_string()).await
}

/// Reads a task to change it: on PostgreSQL the row stays locked until the
/// transaction ends; SQLite's `BEGIN IMMEDIATE` already holds the write lock.
pub async fn get_for_update<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    id: Uuid,
    backend: Backend,
) -> anyhow::Result<Option<Task>> {
    let condition = format!("id = $1{}", backend.lock_clause());
    fetch_where(executor, &condition, &id.to_string()).await
}

/// The one task matching `condition` (which binds `value` as `$1`).
async fn fetch_where<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    condition: &str,
    value: &str,
) -> anyhow::Result<Option<Task>> {
    let sql = format!("SELECT {COLUMNS} FROM tasks WHERE {condition}");
    sqlx::query_as::<_, TaskRow>(&sql)
        .bind(value)
        .fetch_optional(executor)
        .await
        .context("reading a task failed")?
        .map(TaskRow::into_task)
        .transpose()
}

/// What search matches: title and description, lower-cased by Unicode's rules.
pub fn folded(fields: &TaskFields) -> String {
    format!("{}\n{}", fields.title, fields.description).to_lowercase()
}

pub async fn insert(conn: &mut AnyConnection, task: &Task) -> anyhow::Result<()> {
    let count = COLUMNS.split(", ").count() + 1;
    let params: Vec<String> = (1..=count).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO tasks ({COLUMNS}, search_folded) VALUES ({})",
        params.join(", ")
    );
    bind_columns(sqlx::query(&sql), task)?
        .bind(folded(&task.fields))
        .execute(&mut *conn)
        .await
        .context("inserting a task failed")?;
    feed::emit(conn, &Signal::Task { task: task.id }).await
}

/// Writes every column of `task`, but only if the stored row is still at
/// `expected_version`. Returns false when someone else changed it first.
pub async fn update(
    conn: &mut AnyConnection,
    task: &Task,
    expected_version: i64,
) -> anyhow::Result<bool> {
    let columns: Vec<&str> = COLUMNS.split(", ").collect();
    let set: Vec<String> = columns
        .iter()
        .enumerate()
        .skip(1)
        .map(|(i, column)| format!("{column} = ${}", i + 1))
        .collect();
    let sql = format!(
        "UPDATE tasks SET {}, search_folded = ${} WHERE id = $1 AND version = ${}",
        set.join(", "),
        columns.len() + 1,
        columns.len() + 2
    );
    let result = bind_columns(sqlx::query(&sql), task)?
        .bind(folded(&task.fields))
        .bind(expected_version)
        .execute(&mut *conn)
        .await
        .context("updating a task failed")?;
    let updated = result.rows_affected() == 1;
    if updated {
        feed::emit(conn, &Signal::Task { task: task.id }).await?;
    }
    Ok(updated)
}

/// Binds every column of `task`, in the order of `COLUMNS`, as `$1`, `$2`, ...
fn bind_columns<'q>(
    query: Query<'q, Any, AnyArguments<'q>>,
    task: &'q Task,
) -> anyhow::Result<Query<'q, Any, AnyArguments<'q>>> {
    Ok(query
        .bind(task.id.to_string())
        .bind(&task.fields.title)
        .bind(&task.fields.description)
        .bind(task.fields.status.as_str())
        .bind(task.fields.priority.as_str())
        .bind(&task.fields.assignee)
        .bind(due_text(&task.fields))
        .bind(task.version)
        .bind(encode_ts(&task.created_at))
        .bind(encode_ts(&task.updated_at))
        .bind(i64::from(task.deleted))
        .bind(&task.remote_id)
        .bind(task.remote_version)
        .bind(task.last_synced_at.as_ref().map(encode_ts))
        .bind(task.sync_status.as_str())
        .bind(&task.sync_error)
        .bind(&task.related_altimeter_task_id)
        .bind(base_json(task)?)
        .bind(task.link_generation)
        .bind(task.create_attempted_at.as_ref().map(encode_ts))
        .bind(
            task.create_sent
                .as_ref()
                .map(|s| serde_json::to_string(&s.fields))
                .transpose()?,
        )
        .bind(task.create_sent.as_ref().map(|s| s.generation)))
}

/// Sets a task's sync status and error (not a change of its content, so no new
/// version). Returns whether anything changed.
pub async fn set_sync_status(
    conn: &mut AnyConnection,
    id: Uuid,
    status: SyncStatus,
    error: Option<&str>,
) -> anyhow::Result<bool> {
    let result = sqlx::query(
        "UPDATE tasks SET sync_status = $1, sync_error = $2 WHERE id = $3 \
         AND (sync_status <> $1 OR COALESCE(sync_error, '') <> COALESCE($2, ''))",
    )
    .bind(status.as_str())
    .bind(error)
    .bind(id.to_string())
    .execute(&mut *conn)
    .await
    .context("updating a task's sync status failed")?;
    let changed = result.rows_affected() == 1;
    if changed {
        let signal = Signal::Status {
            task: id,
            status,
            error: error.map(str::to_owned),
            at: now(),
        };
        feed::emit(conn, &signal).await?;
    }
    Ok(changed)
}

/// Records that a create of this task is about to be sent: when the first one
/// was, and what the first one of this link generation carries.
pub async fn mark_create_attempt<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    id: Uuid,
    at: DateTime<Utc>,
    sent: &SentCreate,
) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE tasks SET create_attempted_at = COALESCE(create_attempted_at, $1), \
         create_sent = CASE WHEN create_sent_generation = $2 THEN create_sent ELSE $3 END, \
         create_sent_generation = $2 WHERE id = $4",
    )
    .bind(encode_ts(&at))
    .bind(sent.generation)
    .bind(serde_json::to_string(&sent.fields)?)
    .bind(id.to_string())
    .execute(executor)
    .await
    .context("recording a create attempt failed")?;
    Ok(())
}

/// How a task is linked to its Altimeter task, as of the last successful sync.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub remote_id: Option<String>,
    pub remote_version: Option<i64>,
    pub base: Option<Snapshot>,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub link_generation: i64,
}

impl Link {
    /// The link `task` has now.
    pub fn of(task: &Task) -> Link {
        Link {
            remote_id: task.remote_id.clone(),
            remote_version: task.remote_version,
            base: task.sync_base.clone(),
            last_synced_at: task.last_synced_at,
            link_generation: task.link_generation,
        }
    }
}

/// Writes a task's link columns only; its content and version stay as they are.
/// Conditional on the link `read` (remote id, remote version, generation) still
/// being the task's: false, and nothing written, when another writer moved it
/// on meanwhile, so a link never overwrites a newer one it did not see.
pub async fn set_link(conn: &mut AnyConnection, read: &Task, link: &Link) -> anyhow::Result<bool> {
    let written = sqlx::query(
        "UPDATE tasks SET remote_id = $1, remote_version = $2, sync_base = $3, \
         last_synced_at = $4, link_generation = $5 WHERE id = $6 \
         AND remote_id IS NOT DISTINCT FROM $7 AND remote_version IS NOT DISTINCT FROM $8 \
         AND link_generation = $9",
    )
    .bind(&link.remote_id)
    .bind(link.remote_version)
    .bind(link.base.as_ref().map(serde_json::to_string).transpose()?)
    .bind(link.last_synced_at.as_ref().map(encode_ts))
    .bind(link.link_generation)
    .bind(read.id.to_string())
    .bind(&read.remote_id)
    .bind(read.remote_version)
    .bind(read.link_generation)
    .execute(&mut *conn)
    .await
    .context("updating a task's link failed")?
    .rows_affected()
        == 1;
    if written {
        feed::emit(conn, &Signal::Task { task: read.id }).await?;
    }
    Ok(written)
}

pub async fn find_by_remote_id<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    remote_id: &str,
) -> anyhow::Result<Option<Task>> {
    fetch_where(executor, "remote_id = $1", remote_id).await
}

/// A task carrying this legacy `related_altimeter_task_id` and not yet linked.
pub async fn find_unlinked_by_related_id<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    related_id: &str,
) -> anyhow::Result<Option<Task>> {
    let condition = "related_altimeter_task_id = $1 AND remote_id IS NULL ORDER BY id LIMIT 1";
    fetch_where(executor, condition, related_id).await
}

/// A task carrying this legacy `related_altimeter_task_id`, linked or not.
pub async fn find_by_related_id<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    related_id: &str,
) -> anyhow::Result<Option<Task>> {
    let condition = "related_altimeter_task_id = $1 ORDER BY id LIMIT 1";
    fetch_where(executor, condition, related_id).await
}

/// Every task, deleted ones included.
pub async fn count_all<'c, E: Executor<'c, Database = Any>>(executor: E) -> anyhow::Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tasks")
        .fetch_one(executor)
        .await
        .context("counting tasks failed")?;
    Ok(n)
}

/// How many live tasks are linked to Altimeter.
pub async fn count_linked<'c, E: Executor<'c, Database = Any>>(executor: E) -> anyhow::Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM tasks WHERE remote_id IS NOT NULL AND deleted = 0")
            .fetch_one(executor)
            .await
            .context("counting linked tasks failed")?;
    Ok(n)
}

const LEGACY_UNLINKED: &str =
    "related_altimeter_task_id IS NOT NULL AND remote_id IS NULL AND deleted = 0";

/// Live tasks that carry a legacy Altimeter id but are not linked yet: what
/// `atlas sync backfill` verifies.
pub async fn count_legacy_unlinked<'c, E: Executor<'c, Database = Any>>(
    executor: E,
) -> anyhow::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(&format!(
        "SELECT COUNT(*) FROM tasks WHERE {LEGACY_UNLINKED}"
    ))
    .fetch_one(executor)
    .await
    .context("counting legacy links failed")?;
    Ok(n)
}

/// The next `limit` of those, by id after `after`, as `(task, legacy id)`.
pub async fn legacy_unlinked_after<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    after: Option<Uuid>,
    limit: i64,
) -> anyhow::Result<Vec<(Uuid, String)>> {
    let rows: Vec<(String, String)> = sqlx::query_as(&format!(
        "SELECT id, related_altimeter_task_id FROM tasks WHERE {LEGACY_UNLINKED} \
         AND id > $1 ORDER BY id LIMIT $2"
    ))
    .bind(after.map(|id| id.to_string()).unwrap_or_default())
    .bind(limit)
    .fetch_all(executor)
    .await
    .context("reading legacy links failed")?;
    rows.into_iter()
        .map(|(id, related)| Ok((Uuid::parse_str(&id)?, related)))
        .collect()
}

/// Live tasks never linked and without a legacy link that have nothing queued:
/// they have never been offered to Altimeter.
pub async fn never_offered<'c, E: Executor<'c, Database = Any>>(
    executor: E,
) -> anyhow::Result<Vec<Uuid>> {
    let rows: Vec<(String,)> = sqlx::query_as(
        "SELECT t.id FROM tasks t WHERE t.remote_id IS NULL AND t.related_altimeter_task_id IS NULL \
         AND t.deleted = 0 AND NOT EXISTS (SELECT 1 FROM sync_queue q WHERE q.task_id = t.id) \
         ORDER BY t.id",
    )
    .fetch_all(executor)
    .await
    .context("reading never-linked tasks failed")?;
    rows.into_iter()
        .map(|(id,)| Ok(Uuid::parse_str(&id)?))
        .collect()
}

/// What `GET /api/tasks` may filter on. Newest first (by `created_at`, then id);
/// `cursor` is where the previous page ended.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub sync_status: Option<SyncStatus>,
    /// Exactly this assignee.
    pub assignee: Option<String>,
    pub q: Option<String>,
    pub cursor: Option<ListCursor>,
    pub limit: i64,
}

/// A position in the task list: `created_at|id` of the last task seen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListCursor {
    created_at: String,
    id: Uuid,
}

impl ListCursor {
    pub fn after(task: &Task) -> ListCursor {
        ListCursor {
            created_at: encode_ts(&task.created_at),
            id: task.id,
        }
    }

    pub fn parse(text: &str) -> Option<ListCursor> {
        let (created_at, id) = text.split_once('|')?;
        Some(ListCursor {
            // Re-encoded, so it compares as stored timestamps do.
            created_at: encode_ts(&decode_ts(created_at).ok()?),
            id: Uuid::parse_str(id).ok()?,
        })
    }
}

impl std::fmt::Display for ListCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}|{}", self.created_at, self.id)
    }
}

pub async fn list<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    filter: &ListFilter,
) -> anyhow::Result<Vec<Task>> {
    let mut p = ParamNumbers::default();
    let mut sql = format!("SELECT {COLUMNS} FROM tasks WHERE deleted = 0");
    let mut binds: Vec<String> = Vec::new();
    if let Some(status) = filter.status {
        sql += &format!(" AND status = {}", p.next_param());
        binds.push(status.as_str().to_owned());
    }
    if let Some(sync_status) = filter.sync_status {
        sql += &format!(" AND sync_status = {}", p.next_param());
        binds.push(sync_status.as_str().to_owned());
    }
    if let Some(assignee) = &filter.assignee {
        sql += &format!(" AND assignee = {}", p.next_param());
        binds.push(assignee.clone());
    }
    if let Some(q) = &filter.q {
        sql += &format!(" AND search_folded LIKE {} ESCAPE '\\'", p.next_param());
        binds.push(like_pattern(q));
    }
    if let Some(cursor) = &filter.cursor {
        let (at, id) = (p.next_param(), p.next_param());
        sql += &format!(" AND (created_at < {at} OR (created_at = {at} AND id < {id}))");
        binds.push(cursor.created_at.clone());
        binds.push(cursor.id.to_string());
    }
    sql += &format!(
        " ORDER BY created_at DESC, id DESC LIMIT {}",
        p.next_param()
    );
    let mut query = sqlx::query_as::<_, TaskRow>(&sql);
    for value in binds {
        query = query.bind(value);
    }
    query
        .bind(filter.limit)
        .fetch_all(executor)
        .await
        .context("listing tasks failed")?
        .into_iter()
        .map(TaskRow::into_task)
        .collect()
}

/// Fills `search_folded` where it is missing (rows written before it existed).
/// Returns how many rows it filled.
pub async fn refold(pool: &sqlx::AnyPool) -> anyhow::Result<u64> {
    let mut filled = 0;
    loop {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT id, title, description FROM tasks WHERE search_folded IS NULL LIMIT 500",
        )
        .fetch_all(pool)
        .await
        .context("reading tasks to fold failed")?;
        if rows.is_empty() {
            return Ok(filled);
        }
        let mut tx = pool.begin().await?;
        for (id, title, description) in rows {
            sqlx::query("UPDATE tasks SET search_folded = $1 WHERE id = $2")
                .bind(format!("{title}\n{description}").to_lowercase())
                .bind(id)
                .execute(&mut *tx)
                .await
                .context("folding a task's search text failed")?;
            filled += 1;
        }
        tx.commit().await?;
    }
}

/// `%text%`, lower-cased, with LIKE's wildcards in the text escaped.
fn like_pattern(text: &str) -> String {
    let mut out = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(super::like_pattern("50% Off_"), "%50\\% off\\_%");
    }
}
