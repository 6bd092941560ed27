//! The `sync_conflicts` table: both versions of a task and their base, kept until
//! a person decides (or, for `auto_resolved`, so the losing values stay
//! restorable).

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Any, AnyConnection, Executor, FromRow};
use uuid::Uuid;

use super::ParamNumbers;
use super::feed::{self, Signal};
use crate::db::{decode_opt_ts, decode_ts, encode_ts};
use crate::model::Snapshot;
use crate::sync::merge::{ConflictKind, Field, Winner};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictStatus {
    Unresolved,
    Resolved,
    AutoResolved,
}

impl ConflictStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ConflictStatus::Unresolved => "unresolved",
            ConflictStatus::Resolved => "resolved",
            ConflictStatus::AutoResolved => "auto_resolved",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Conflict {
    pub id: Uuid,
    pub task_id: Uuid,
    pub kind: ConflictKind,
    pub status: ConflictStatus,
    /// The fields that differ between the two sides.
    pub fields: Vec<Field>,
    pub base: Option<Snapshot>,
    pub local: Snapshot,
    pub remote: Snapshot,
    pub local_version: i64,
    pub remote_version: i64,
    pub local_edited_at: DateTime<Utc>,
    pub remote_edited_at: DateTime<Utc>,
    pub winner: Option<Winner>,
    pub resolution: Option<String>,
    pub resolved_by: Option<String>,
    pub resolved_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, task_id, kind, status, fields, base, local, remote, local_version, \
    remote_version, local_edited_at, remote_edited_at, winner, resolution, resolved_by, \
    resolved_at, created_at";

#[derive(FromRow)]
struct ConflictRow {
    id: String,
    task_id: String,
    kind: String,
    status: String,
    fields: String,
    base: Option<String>,
    local: String,
    remote: String,
    local_version: i64,
    remote_version: i64,
    local_edited_at: String,
    remote_edited_at: String,
    winner: Option<String>,
    resolution: Option<String>,
    resolved_by: Option<String>,
    resolved_at: Option<String>,
    created_at: String,
}

/// Reads one of our own enum names back from a JSON string column.
fn from_name<T: serde::de::DeserializeOwned>(name: &str) -> anyhow::Result<T> {
    serde_json::from_value(serde_json::Value::String(name.to_owned()))
        .with_context(|| format!("unknown stored value `{name}`"))
}

fn name_of<T: Serialize>(value: &T) -> anyhow::Result<String> {
    match serde_json::to_value(value)? {
        serde_json::Value::String(s) => Ok(s),
        other => anyhow::bail!("expected a name, got {other}"),
    }
}

impl ConflictRow {
    fn into_conflict(self) -> anyhow::Result<Conflict> {
        let json =
            |s: &str| serde_json::from_str::<Snapshot>(s).context("stored snapshot is not JSON");
        Ok(Conflict {
            id: Uuid::parse_str(&self.id)?,
            task_id: Uuid::parse_str(&self.task_id)?,
            kind: from_name(&self.kind)?,
            status: from_name(&self.status)?,
            fields: serde_json::from_str(&self.fields).context("stored conflict fields")?,
            base: self.base.as_deref().map(json).transpose()?,
            local: json(&self.local)?,
            remote: json(&self.remote)?,
            local_version: self.local_version,
            remote_version: self.remote_version,
            local_edited_at: decode_ts(&self.local_edited_at)?,
            remote_edited_at: decode_ts(&self.remote_edited_at)?,
            winner: self.winner.as_deref().map(from_name).transpose()?,
            resolution: self.resolution,
            resolved_by: self.resolved_by,
            resolved_at: decode_opt_ts(self.resolved_at.as_deref())?,
            created_at: decode_ts(&self.created_at)?,
        })
    }
}

fn into_conflicts(rows: Vec<ConflictRow>) -> anyhow::Result<Vec<Conflict>> {
    rows.into_iter().map(ConflictRow::into_conflict).collect()
}

pub async fn insert(conn: &mut AnyConnection, c: &Conflict) -> anyhow::Result<()> {
    let sql = format!(
        "INSERT INTO sync_conflicts ({COLUMNS}) VALUES \
         ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)"
    );
    sqlx::query(&sql)
        .bind(c.id.to_string())
        .bind(c.task_id.to_string())
        .bind(name_of(&c.kind)?)
        .bind(c.status.as_str())
        .bind(serde_json::to_string(&c.fields)?)
        .bind(c.base.as_ref().map(serde_json::to_string).transpose()?)
        .bind(serde_json::to_string(&c.local)?)
        .bind(serde_json::to_string(&c.remote)?)
        .bind(c.local_version)
        .bind(c.remote_version)
        .bind(encode_ts(&c.local_edited_at))
        .bind(encode_ts(&c.remote_edited_at))
        .bind(c.winner.as_ref().map(name_of).transpose()?)
        .bind(&c.resolution)
        .bind(&c.resolved_by)
        .bind(c.resolved_at.as_ref().map(encode_ts))
        .bind(encode_ts(&c.created_at))
        .execute(&mut *conn)
        .await
        .context("recording a conflict failed")?;
    let open = c.status == ConflictStatus::Unresolved;
    feed::emit(conn, &signal(c.id, c.task_id, open)).await
}

fn signal(conflict: Uuid, task: Uuid, open: bool) -> Signal {
    Signal::Conflict {
        conflict,
        task,
        open,
    }
}

pub async fn get<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    id: Uuid,
) -> anyhow::Result<Option<Conflict>> {
    fetch_where(executor, "id = $1", &id.to_string()).await
}

/// The task's unresolved conflict, if it has one (there is at most one).
pub async fn open_for_task<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    task_id: Uuid,
) -> anyhow::Result<Option<Conflict>> {
    fetch_where(
        executor,
        "task_id = $1 AND status = 'unresolved'",
        &task_id.to_string(),
    )
    .await
}

/// The one conflict matching `condition` (which binds `value` as `$1`).
async fn fetch_where<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    condition: &str,
    value: &str,
) -> anyhow::Result<Option<Conflict>> {
    let sql = format!("SELECT {COLUMNS} FROM sync_conflicts WHERE {condition}");
    sqlx::query_as::<_, ConflictRow>(&sql)
        .bind(value)
        .fetch_optional(executor)
        .await
        .context("reading a conflict failed")?
        .map(ConflictRow::into_conflict)
        .transpose()
}

/// Conflicts, newest first; `cursor` is the `created_at` and id of the last one seen.
pub async fn list<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    status: Option<ConflictStatus>,
    task_id: Option<Uuid>,
    cursor: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> anyhow::Result<Vec<Conflict>> {
    let mut p = ParamNumbers::default();
    let mut sql = format!("SELECT {COLUMNS} FROM sync_conflicts WHERE 1 = 1");
    let mut binds = Vec::new();
    if let Some(status) = status {
        sql += &format!(" AND status = {}", p.next_param());
        binds.push(status.as_str().to_owned());
    }
    if let Some(task_id) = task_id {
        sql += &format!(" AND task_id = {}", p.next_param());
        binds.push(task_id.to_string());
    }
    if let Some((created_at, id)) = cursor {
        let (a, b) = (p.next_param(), p.next_param());
        sql += &format!(" AND (created_at < {a} OR (created_at = {a} AND id < {b}))");
        binds.push(encode_ts(&created_at));
        binds.push(id.to_string());
    }
    sql += &format!(
        " ORDER BY created_at DESC, id DESC LIMIT {}",
        p.next_param()
    );
    let mut query = sqlx::query_as::<_, ConflictRow>(&sql);
    for value in binds {
        query = query.bind(value);
    }
    let rows = query
        .bind(limit)
        .fetch_all(executor)
        .await
        .context("listing conflicts failed")?;
    into_conflicts(rows)
}

/// The cursor that continues a listing after `c`.
pub fn cursor_of(c: &Conflict) -> String {
    format!("{}|{}", encode_ts(&c.created_at), c.id)
}

/// Reads a cursor made by [`cursor_of`]; `None` if it is not one.
pub fn parse_cursor(text: &str) -> Option<(DateTime<Utc>, Uuid)> {
    let (created_at, id) = text.split_once('|')?;
    Some((decode_ts(created_at).ok()?, Uuid::parse_str(id).ok()?))
}

/// A newer remote version arrived while the conflict is open: show that one.
pub async fn update_sides(conn: &mut AnyConnection, c: &Conflict) -> anyhow::Result<()> {
    sqlx::query(
        "UPDATE sync_conflicts SET kind = $1, fields = $2, local = $3, remote = $4, \
         local_version = $5, remote_version = $6, local_edited_at = $7, remote_edited_at = $8 \
         WHERE id = $9",
    )
    .bind(name_of(&c.kind)?)
    .bind(serde_json::to_string(&c.fields)?)
    .bind(serde_json::to_string(&c.local)?)
    .bind(serde_json::to_string(&c.remote)?)
    .bind(c.local_version)
    .bind(c.remote_version)
    .bind(encode_ts(&c.local_edited_at))
    .bind(encode_ts(&c.remote_edited_at))
    .bind(c.id.to_string())
    .execute(&mut *conn)
    .await
    .context("updating a conflict failed")?;
    feed::emit(conn, &signal(c.id, c.task_id, true)).await
}

/// Records how an open conflict was resolved. False if it was no longer open.
pub async fn mark_resolved(
    conn: &mut AnyConnection,
    id: Uuid,
    task_id: Uuid,
    resolution: &str,
    by: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let result = sqlx::query(
        "UPDATE sync_conflicts SET status = 'resolved', resolution = $1, resolved_by = $2, \
         resolved_at = $3 WHERE id = $4 AND status = 'unresolved'",
    )
    .bind(resolution)
    .bind(by)
    .bind(encode_ts(&at))
    .bind(id.to_string())
    .execute(&mut *conn)
    .await
    .context("resolving a conflict failed")?;
    let resolved = result.rows_affected() == 1;
    if resolved {
        feed::emit(conn, &signal(id, task_id, false)).await?;
    }
    Ok(resolved)
}

pub async fn count_unresolved<'c, E: Executor<'c, Database = Any>>(
    executor: E,
) -> anyhow::Result<i64> {
    let (n,): (i64,) =
        sqlx::query_as("SELECT COUNT(*) FROM sync_conflicts WHERE status = 'unresolved'")
            .fetch_one(executor)
            .await
            .context("counting conflicts failed")?;
    Ok(n)
}
