//! The `remote_deletes` table: deletes seen in Altimeter, applied or held by the
//! delete brake until an operator releases or discards them.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Any, AnyConnection, Executor, FromRow};
use uuid::Uuid;

use crate::db::{decode_ts, encode_ts};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeldDelete {
    pub id: i64,
    pub task_id: Uuid,
    pub remote_id: String,
    pub remote_version: i64,
    pub detected_at: DateTime<Utc>,
}

pub async fn record(
    conn: &mut AnyConnection,
    task_id: Uuid,
    remote_id: &str,
    remote_version: i64,
    status: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO remote_deletes (task_id, remote_id, remote_version, status, detected_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(task_id.to_string())
    .bind(remote_id)
    .bind(remote_version)
    .bind(status)
    .bind(encode_ts(&now))
    .execute(conn)
    .await
    .context("recording a remote delete failed")?;
    Ok(())
}

/// Remote deletes applied or held since `since`.
pub async fn count_since<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    since: DateTime<Utc>,
) -> anyhow::Result<i64> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM remote_deletes WHERE detected_at >= $1 AND status IN ('applied', 'held')",
    )
    .bind(encode_ts(&since))
    .fetch_one(executor)
    .await
    .context("counting remote deletes failed")?;
    Ok(n)
}

#[derive(FromRow)]
struct HeldRow {
    id: i64,
    task_id: String,
    remote_id: String,
    remote_version: i64,
    detected_at: String,
}

pub async fn held<'c, E: Executor<'c, Database = Any>>(
    executor: E,
) -> anyhow::Result<Vec<HeldDelete>> {
    let rows: Vec<HeldRow> = sqlx::query_as(
        "SELECT id, task_id, remote_id, remote_version, detected_at FROM remote_deletes \
         WHERE status = 'held' ORDER BY id",
    )
    .fetch_all(executor)
    .await
    .context("listing held deletes failed")?;
    rows.into_iter()
        .map(|r| {
            Ok(HeldDelete {
                id: r.id,
                task_id: Uuid::parse_str(&r.task_id)?,
                remote_id: r.remote_id,
                remote_version: r.remote_version,
                detected_at: decode_ts(&r.detected_at)?,
            })
        })
        .collect()
}

pub async fn count_held<'c, E: Executor<'c, Database = Any>>(executor: E) -> anyhow::Result<i64> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM remote_deletes WHERE status = 'held'")
        .fetch_one(executor)
        .await
        .context("counting held deletes failed")?;
    Ok(n)
}

/// Moves one held delete to `status` (`released` or `discarded`).
pub async fn settle(conn: &mut AnyConnection, id: i64, status: &str) -> anyhow::Result<bool> {
    let result =
        sqlx::query("UPDATE remote_deletes SET status = $1 WHERE id = $2 AND status = 'held'")
            .bind(status)
            .bind(id)
            .execute(conn)
            .await
            .context("settling a held delete failed")?;
    Ok(result.rows_affected() == 1)
}

/// Drops the held deletes of a task that is no longer linked to the Altimeter
/// task they name (it was created there again, or linked anew): they no longer
/// say anything about it. Returns how many were dropped.
pub async fn discard_for_task(conn: &mut AnyConnection, task_id: Uuid) -> anyhow::Result<u64> {
    let result = sqlx::query(
        "UPDATE remote_deletes SET status = 'discarded' WHERE task_id = $1 AND status = 'held'",
    )
    .bind(task_id.to_string())
    .execute(conn)
    .await
    .context("dropping a task's held deletes failed")?;
    Ok(result.rows_affected())
}

/// Whether a delete of this task is being held.
pub async fn is_held<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    task_id: Uuid,
) -> anyhow::Result<bool> {
    let (n,): (i64,) = sqlx::query_as(
        "SELECT COUNT(*) FROM remote_deletes WHERE task_id = $1 AND status = 'held'",
    )
    .bind(task_id.to_string())
    .fetch_one(executor)
    .await
    .context("reading held deletes failed")?;
    Ok(n > 0)
}
