//! The `sync_state` table: small shared values every node reads — pause and drain
//! flags, the reconciliation cursor, and short leases for once-per-cluster jobs.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{Any, AnyConnection, Executor};

use crate::db::{decode_ts, encode_ts};

pub const PAUSED: &str = "paused";
pub const DRAINING: &str = "draining";
pub const RECONCILE_CURSOR: &str = "reconcile_cursor";

pub async fn get<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    key: &str,
) -> anyhow::Result<Option<String>> {
    let row: Option<(String,)> = sqlx::query_as("SELECT value FROM sync_state WHERE key = $1")
        .bind(key)
        .fetch_optional(executor)
        .await
        .with_context(|| format!("reading sync state `{key}` failed"))?;
    Ok(row.map(|(v,)| v))
}

pub async fn set<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    key: &str,
    value: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO sync_state (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
    )
    .bind(key)
    .bind(value)
    .bind(encode_ts(&now))
    .execute(executor)
    .await
    .with_context(|| format!("writing sync state `{key}` failed"))?;
    Ok(())
}

pub async fn remove<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    key: &str,
) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM sync_state WHERE key = $1")
        .bind(key)
        .execute(executor)
        .await
        .with_context(|| format!("clearing sync state `{key}` failed"))?;
    Ok(())
}

pub async fn flag<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    key: &str,
) -> anyhow::Result<bool> {
    Ok(get(executor, key).await?.as_deref() == Some("true"))
}

pub async fn get_ts<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    key: &str,
) -> anyhow::Result<Option<DateTime<Utc>>> {
    get(executor, key)
        .await?
        .as_deref()
        .map(decode_ts)
        .transpose()
}

/// Takes (or renews) the lease `key` for `owner` until `until`, if it is free,
/// expired or already ours, so one node at a time runs the job it guards. A
/// lease row keeps its holder in `value` and its expiry in `updated_at`.
pub async fn try_lease(
    conn: &mut AnyConnection,
    key: &str,
    owner: &str,
    until: DateTime<Utc>,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let result = sqlx::query(
        "INSERT INTO sync_state (key, value, updated_at) VALUES ($1, $2, $3) \
         ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at \
         WHERE sync_state.value = $2 OR sync_state.updated_at < $4",
    )
    .bind(key)
    .bind(owner)
    .bind(encode_ts(&until))
    .bind(encode_ts(&now))
    .execute(conn)
    .await
    .with_context(|| format!("taking lease `{key}` failed"))?;
    Ok(result.rows_affected() == 1)
}

/// Gives up the lease `key` if `owner` holds it, so the next node need not wait
/// for it to expire.
pub async fn release_lease<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    key: &str,
    owner: &str,
) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM sync_state WHERE key = $1 AND value = $2")
        .bind(key)
        .bind(owner)
        .execute(executor)
        .await
        .with_context(|| format!("releasing lease `{key}` failed"))?;
    Ok(())
}
