//! The live feed's signals: a small record of what changed, written inside the
//! transaction that changed it, so it is seen only once that transaction
//! commits. On PostgreSQL it is the payload of `NOTIFY atlas_feed`, which every
//! node's listener receives; on SQLite it is a row of `feed_signals`, which the
//! serving process tails (see `crate::feed::source`).

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::{Any, AnyConnection, Executor};
use uuid::Uuid;

use crate::db::{encode_ts, now};
use crate::model::SyncStatus;

/// The PostgreSQL channel of the live feed.
pub const CHANNEL: &str = "atlas_feed";

/// Longest text a signal carries (PostgreSQL caps a payload at 8000 bytes).
const MAX_TEXT_CHARS: usize = 1000;

/// What changed. The receiving node reads the rest from the database.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "snake_case")]
pub enum Signal {
    /// A task's sync status or its message changed.
    Status {
        task: Uuid,
        status: SyncStatus,
        error: Option<String>,
        at: DateTime<Utc>,
    },
    /// A task's content changed (created, edited, deleted, merged, resolved).
    Task { task: Uuid },
    /// A conflict was opened or given a newer remote version (`open`), or was
    /// resolved, by a person or automatically.
    Conflict {
        conflict: Uuid,
        task: Uuid,
        open: bool,
    },
    /// An alert started firing, changed, or cleared.
    Alert {
        key: String,
        severity: String,
        message: String,
        firing: bool,
    },
}

impl Signal {
    fn shortened(&self) -> Signal {
        let mut signal = self.clone();
        match &mut signal {
            Signal::Status { error, .. } => {
                if let Some(text) = error {
                    *text = shorten(text);
                }
            }
            Signal::Alert { message, .. } => *message = shorten(message),
            Signal::Task { .. } | Signal::Conflict { .. } => {}
        }
        signal
    }
}

fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_TEXT_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// Sends `signal` when the transaction `conn` is in commits (or at once, outside one).
pub async fn emit(conn: &mut AnyConnection, signal: &Signal) -> anyhow::Result<()> {
    let payload = serde_json::to_string(&signal.shortened())?;
    if conn.backend_name() == "PostgreSQL" {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(conn)
            .await
            .context("sending a feed notification failed")?;
    } else {
        sqlx::query("INSERT INTO feed_signals (payload, created_at) VALUES ($1, $2)")
            .bind(payload)
            .bind(encode_ts(&now()))
            .execute(conn)
            .await
            .context("recording a feed signal failed")?;
    }
    Ok(())
}

/// Parses a signal as `emit` wrote it.
pub fn parse(payload: &str) -> anyhow::Result<Signal> {
    serde_json::from_str(payload).with_context(|| format!("feed signal `{payload}` is not valid"))
}

/// SQLite: the signals after `id`, oldest first.
pub async fn after<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    id: i64,
    limit: i64,
) -> anyhow::Result<Vec<(i64, String)>> {
    sqlx::query_as("SELECT id, payload FROM feed_signals WHERE id > $1 ORDER BY id LIMIT $2")
        .bind(id)
        .bind(limit)
        .fetch_all(executor)
        .await
        .context("reading feed signals failed")
}

/// SQLite: the id of the newest signal (0 when there is none).
pub async fn latest<'c, E: Executor<'c, Database = Any>>(executor: E) -> anyhow::Result<i64> {
    let (id,): (i64,) = sqlx::query_as("SELECT COALESCE(MAX(id), 0) FROM feed_signals")
        .fetch_one(executor)
        .await
        .context("reading the newest feed signal failed")?;
    Ok(id)
}

/// SQLite: forgets signals older than `before` (they have long been delivered).
pub async fn prune<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    before: DateTime<Utc>,
) -> anyhow::Result<u64> {
    let result = sqlx::query("DELETE FROM feed_signals WHERE created_at < $1")
        .bind(encode_ts(&before))
        .execute(executor)
        .await
        .context("pruning feed signals failed")?;
    Ok(result.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_shortened_to_fit_a_notification() {
        let signal = Signal::Status {
            task: Uuid::nil(),
            status: SyncStatus::Error,
            error: Some("é".repeat(5000)),
            at: now(),
        };
        let payload = serde_json::to_string(&signal.shortened()).unwrap();
        assert!(payload.len() < 8000, "{} bytes", payload.len());
        match parse(&payload).unwrap() {
            Signal::Status { error, .. } => {
                assert_eq!(error.unwrap().chars().count(), MAX_TEXT_CHARS + 1)
            }
            other => panic!("{other:?}"),
        }
    }
}
