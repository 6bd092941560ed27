//! The `sync_outcomes` table: one row per finished sync item, kept for an hour,
//! so every node reports the same throughput, error rate and last success.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{Any, AnyConnection, Executor};

use crate::db::{decode_opt_ts, encode_ts};

pub async fn record(
    conn: &mut AnyConnection,
    direction: &str,
    outcome: &str,
    at: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query("INSERT INTO sync_outcomes (direction, outcome, finished_at) VALUES ($1, $2, $3)")
        .bind(direction)
        .bind(outcome)
        .bind(encode_ts(&at))
        .execute(conn)
        .await
        .context("recording a sync outcome failed")?;
    Ok(())
}

/// Items finished since `since`: (all, of which failed or retried).
pub async fn counts_since<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    since: DateTime<Utc>,
) -> anyhow::Result<(i64, i64)> {
    let row: (i64, Option<i64>) = sqlx::query_as(
        "SELECT COUNT(*), CAST(SUM(CASE WHEN outcome IN ('failed', 'retry') THEN 1 ELSE 0 END) AS BIGINT) \
         FROM sync_outcomes WHERE finished_at >= $1",
    )
    .bind(encode_ts(&since))
    .fetch_one(executor)
    .await
    .context("counting sync outcomes failed")?;
    Ok((row.0, row.1.unwrap_or(0)))
}

/// Items finished since `since`, per minute (`YYYY-MM-DDTHH:MM`, oldest
/// first): (minute, succeeded, failed or retried). Minutes with none are absent.
pub async fn per_minute<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    since: DateTime<Utc>,
) -> anyhow::Result<Vec<(String, i64, i64)>> {
    let rows: Vec<(String, Option<i64>, Option<i64>)> = sqlx::query_as(
        "SELECT SUBSTR(finished_at, 1, 16) AS minute, \
         CAST(SUM(CASE WHEN outcome = 'success' THEN 1 ELSE 0 END) AS BIGINT), \
         CAST(SUM(CASE WHEN outcome IN ('failed', 'retry') THEN 1 ELSE 0 END) AS BIGINT) \
         FROM sync_outcomes WHERE finished_at >= $1 GROUP BY minute ORDER BY minute",
    )
    .bind(encode_ts(&since))
    .fetch_all(executor)
    .await
    .context("counting sync outcomes per minute failed")?;
    Ok(rows
        .into_iter()
        .map(|(minute, ok, bad)| (minute, ok.unwrap_or(0), bad.unwrap_or(0)))
        .collect())
}

pub async fn last_success<'c, E: Executor<'c, Database = Any>>(
    executor: E,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    let row: (Option<String>,) =
        sqlx::query_as("SELECT MAX(finished_at) FROM sync_outcomes WHERE outcome = 'success'")
            .fetch_one(executor)
            .await
            .context("reading the last sync success failed")?;
    decode_opt_ts(row.0.as_deref())
}

pub async fn prune(conn: &mut AnyConnection, before: DateTime<Utc>) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM sync_outcomes WHERE finished_at < $1 AND outcome <> 'success'")
        .bind(encode_ts(&before))
        .execute(&mut *conn)
        .await
        .context("pruning sync outcomes failed")?;
    // Keep the newest success so `last_success_at` survives quiet hours.
    sqlx::query(
        "DELETE FROM sync_outcomes WHERE finished_at < $1 AND outcome = 'success' \
         AND id < (SELECT MAX(id) FROM sync_outcomes WHERE outcome = 'success')",
    )
    .bind(encode_ts(&before))
    .execute(conn)
    .await
    .context("pruning sync outcomes failed")?;
    Ok(())
}
