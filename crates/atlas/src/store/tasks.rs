//! The `tasks` table.

use altimeter_api::{Priority, Status, TaskFields};
use anyhow::Context;
use sqlx::{Any, Executor, FromRow};
use uuid::Uuid;

use super::Placeholders;
use crate::db::{Backend, decode_opt_ts, decode_ts, encode_ts};
use crate::model::{SyncStatus, Task};

const COLUMNS: &str = "id, title, description, status, priority, assignee, due_date, version, \
    created_at, updated_at, deleted, remote_id, remote_version, last_synced_at, sync_status, \
    sync_error, related_altimeter_task_id";

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
        })
    }
}

fn due_text(fields: &TaskFields) -> Option<String> {
    fields.due_date.map(|d| d.format("%Y-%m-%d").to_string())
}

pub async fn get<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    id: Uuid,
) -> anyhow::Result<Option<Task>> {
    select_by_id(executor, id, "").await
}

/// Reads a task to change it: on PostgreSQL the row stays locked until the
/// transaction ends; SQLite's `BEGIN IMMEDIATE` already holds the write lock.
pub async fn get_for_update<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    id: Uuid,
    backend: Backend,
) -> anyhow::Result<Option<Task>> {
    let lock = match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    };
    select_by_id(executor, id, lock).await
}

async fn select_by_id<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    id: Uuid,
    suffix: &str,
) -> anyhow::Result<Option<Task>> {
    let sql = format!("SELECT {COLUMNS} FROM tasks WHERE id = $1{suffix}");
    sqlx::query_as::<_, TaskRow>(&sql)
        .bind(id.to_string())
        .fetch_optional(executor)
        .await
        .context("reading a task failed")?
        .map(TaskRow::into_task)
        .transpose()
}

pub async fn insert<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    task: &Task,
) -> anyhow::Result<()> {
    let sql = format!(
        "INSERT INTO tasks ({COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    );
    sqlx::query(&sql)
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
        .execute(executor)
        .await
        .context("inserting a task failed")?;
    Ok(())
}

/// Writes every mutable column of `task`, but only if the stored row is still at
/// `expected_version`. Returns false when someone else changed it first.
pub async fn update<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    task: &Task,
    expected_version: i64,
) -> anyhow::Result<bool> {
    let result = sqlx::query(
        "UPDATE tasks SET title = $1, description = $2, status = $3, priority = $4, \
         assignee = $5, due_date = $6, version = $7, updated_at = $8, deleted = $9, \
         remote_id = $10, remote_version = $11, last_synced_at = $12, sync_status = $13, \
         sync_error = $14, related_altimeter_task_id = $15 \
         WHERE id = $16 AND version = $17",
    )
    .bind(&task.fields.title)
    .bind(&task.fields.description)
    .bind(task.fields.status.as_str())
    .bind(task.fields.priority.as_str())
    .bind(&task.fields.assignee)
    .bind(due_text(&task.fields))
    .bind(task.version)
    .bind(encode_ts(&task.updated_at))
    .bind(i64::from(task.deleted))
    .bind(&task.remote_id)
    .bind(task.remote_version)
    .bind(task.last_synced_at.as_ref().map(encode_ts))
    .bind(task.sync_status.as_str())
    .bind(&task.sync_error)
    .bind(&task.related_altimeter_task_id)
    .bind(task.id.to_string())
    .bind(expected_version)
    .execute(executor)
    .await
    .context("updating a task failed")?;
    Ok(result.rows_affected() == 1)
}

/// What `GET /api/tasks` may filter on. Newest first; `cursor` is the id of the
/// last task of the previous page.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<Status>,
    pub sync_status: Option<SyncStatus>,
    pub q: Option<String>,
    pub cursor: Option<Uuid>,
    pub limit: i64,
}

pub async fn list<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    filter: &ListFilter,
) -> anyhow::Result<Vec<Task>> {
    let mut p = Placeholders::default();
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
    if let Some(q) = &filter.q {
        let pattern = p.next_param();
        sql += &format!(
            " AND (LOWER(title) LIKE {pattern} ESCAPE '\\' OR LOWER(description) LIKE {pattern} ESCAPE '\\')"
        );
        binds.push(like_pattern(q));
    }
    if let Some(cursor) = filter.cursor {
        sql += &format!(" AND id < {}", p.next_param());
        binds.push(cursor.to_string());
    }
    sql += &format!(" ORDER BY id DESC LIMIT {}", p.next_param());
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
