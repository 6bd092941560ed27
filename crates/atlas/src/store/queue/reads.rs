//! What the queue holds: counts by state, the oldest and next items, failures,
//! and one task's items.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Any, Executor};
use uuid::Uuid;

use super::{COLUMNS, Direction, ItemRow, QueueItem, into_items};
use crate::db::decode_opt_ts;

/// How many items are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Depth {
    pub pending: i64,
    pub in_flight: i64,
    pub failed: i64,
}

pub async fn depth<'c, E: Executor<'c, Database = Any>>(executor: E) -> anyhow::Result<Depth> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT status, COUNT(*) FROM sync_queue GROUP BY status")
            .fetch_all(executor)
            .await
            .context("counting sync items failed")?;
    let mut depth = Depth::default();
    for (status, n) in rows {
        match status.as_str() {
            "pending" => depth.pending = n,
            "in_flight" => depth.in_flight = n,
            _ => depth.failed = n,
        }
    }
    Ok(depth)
}

/// When the oldest pending item was first queued.
pub async fn oldest_pending<'c, E: Executor<'c, Database = Any>>(
    executor: E,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let row: (Option<String>,) =
        sqlx::query_as("SELECT MIN(created_at) FROM sync_queue WHERE status = 'pending'")
            .fetch_one(executor)
            .await
            .context("reading the oldest sync item failed")?;
    decode_opt_ts(row.0.as_deref())
}

/// Whether the lane has an item of this direction waiting or being worked.
pub async fn lane_busy<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    lane: &str,
    direction: Direction,
) -> anyhow::Result<bool> {
    let row: Option<(i64,)> = sqlx::query_as(
        "SELECT 1 FROM sync_queue WHERE lane = $1 AND direction = $2 \
         AND status IN ('pending', 'in_flight') LIMIT 1",
    )
    .bind(lane)
    .bind(direction.as_str())
    .fetch_optional(executor)
    .await
    .context("reading a lane's sync items failed")?;
    Ok(row.is_some())
}

/// When the next pending item falls due.
pub async fn next_due<'c, E: Executor<'c, Database = Any>>(
    executor: E,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let row: (Option<String>,) =
        sqlx::query_as("SELECT MIN(next_attempt_at) FROM sync_queue WHERE status = 'pending'")
            .fetch_one(executor)
            .await
            .context("reading the next due sync item failed")?;
    decode_opt_ts(row.0.as_deref())
}

/// Failed items, newest item first, after item `after` (exclusive) when given.
pub async fn failed<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    after: Option<i64>,
    limit: i64,
) -> anyhow::Result<Vec<QueueItem>> {
    let sql = format!(
        "SELECT {COLUMNS} FROM sync_queue WHERE status = 'failed' AND id < $1 \
         ORDER BY id DESC LIMIT $2"
    );
    let rows = sqlx::query_as::<_, ItemRow>(&sql)
        .bind(after.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(executor)
        .await
        .context("listing failed sync items failed")?;
    into_items(rows)
}

/// What the queue holds for one task, in the order a status is derived from it.
pub async fn for_task<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    task_id: Uuid,
) -> anyhow::Result<Vec<QueueItem>> {
    let sql = format!("SELECT {COLUMNS} FROM sync_queue WHERE task_id = $1 ORDER BY id");
    let rows = sqlx::query_as::<_, ItemRow>(&sql)
        .bind(task_id.to_string())
        .fetch_all(executor)
        .await
        .context("reading a task's sync items failed")?;
    into_items(rows)
}
