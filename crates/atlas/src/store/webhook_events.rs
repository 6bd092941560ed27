//! The `webhook_events` table: every accepted Altimeter event by `event_id`, so a
//! duplicate or replayed delivery is recognised and ignored.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;

use altimeter_api::WebhookEvent;

use crate::db::encode_ts;

/// Records the event; false when its `event_id` was seen before.
pub async fn record(
    conn: &mut AnyConnection,
    event: &WebhookEvent,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let kind = serde_json::to_value(event.kind)?;
    let result = sqlx::query(
        "INSERT INTO webhook_events (event_id, event_type, remote_id, remote_version, occurred_at, \
         received_at) VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&event.event_id)
    .bind(kind.as_str().unwrap_or("unknown"))
    .bind(&event.data.task_id)
    .bind(event.data.version)
    .bind(encode_ts(&event.occurred_at))
    .bind(encode_ts(&now))
    .execute(conn)
    .await
    .context("recording a webhook event failed")?;
    Ok(result.rows_affected() == 1)
}

/// Forgets events received before `before`; Altimeter has long stopped retrying them.
pub async fn prune(conn: &mut AnyConnection, before: DateTime<Utc>) -> anyhow::Result<u64> {
    let result = sqlx::query("DELETE FROM webhook_events WHERE received_at < $1")
        .bind(encode_ts(&before))
        .execute(conn)
        .await
        .context("pruning webhook events failed")?;
    Ok(result.rows_affected())
}
