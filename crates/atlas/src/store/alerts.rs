//! The `alerts` table: what is firing now, since when, and whether it was sent.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Any, AnyConnection, Executor, FromRow};

use super::feed::{self, Signal};
use crate::db::{decode_opt_ts, decode_ts, encode_ts};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StoredAlert {
    pub key: String,
    pub severity: String,
    pub message: String,
    pub since: DateTime<Utc>,
    pub notified_at: Option<DateTime<Utc>>,
}

#[derive(FromRow)]
struct AlertRow {
    key: String,
    severity: String,
    message: String,
    since: String,
    notified_at: Option<String>,
}

pub async fn all<'c, E: Executor<'c, Database = Any>>(
    executor: E,
) -> anyhow::Result<Vec<StoredAlert>> {
    let rows: Vec<AlertRow> = sqlx::query_as(
        "SELECT key, severity, message, since, notified_at FROM alerts ORDER BY since, key",
    )
    .fetch_all(executor)
    .await
    .context("reading alerts failed")?;
    rows.into_iter()
        .map(|r| {
            Ok(StoredAlert {
                since: decode_ts(&r.since)?,
                notified_at: decode_opt_ts(r.notified_at.as_deref())?,
                key: r.key,
                severity: r.severity,
                message: r.message,
            })
        })
        .collect()
}

/// Starts or refreshes a firing alert; its `since` and `notified_at` stay. A
/// new alert, or a new severity or message, is announced on the live feed.
pub async fn upsert(
    conn: &mut AnyConnection,
    key: &str,
    severity: &str,
    message: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    let result = sqlx::query(
        "INSERT INTO alerts (key, severity, message, since) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (key) DO UPDATE SET severity = excluded.severity, message = excluded.message \
         WHERE alerts.severity <> excluded.severity OR alerts.message <> excluded.message",
    )
    .bind(key)
    .bind(severity)
    .bind(message)
    .bind(encode_ts(&now))
    .execute(&mut *conn)
    .await
    .context("storing an alert failed")?;
    if result.rows_affected() == 1 {
        let signal = Signal::Alert {
            key: key.to_owned(),
            severity: severity.to_owned(),
            message: message.to_owned(),
            firing: true,
        };
        feed::emit(conn, &signal).await?;
    }
    Ok(())
}

/// Clears a firing alert, and announces it on the live feed.
pub async fn remove(conn: &mut AnyConnection, alert: &StoredAlert) -> anyhow::Result<()> {
    let result = sqlx::query("DELETE FROM alerts WHERE key = $1")
        .bind(&alert.key)
        .execute(&mut *conn)
        .await
        .context("clearing an alert failed")?;
    if result.rows_affected() == 1 {
        let signal = Signal::Alert {
            key: alert.key.clone(),
            severity: alert.severity.clone(),
            message: alert.message.clone(),
            firing: false,
        };
        feed::emit(conn, &signal).await?;
    }
    Ok(())
}

pub async fn mark_notified(
    conn: &mut AnyConnection,
    key: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query("UPDATE alerts SET notified_at = $1 WHERE key = $2")
        .bind(encode_ts(&now))
        .bind(key)
        .execute(conn)
        .await
        .context("marking an alert sent failed")?;
    Ok(())
}
