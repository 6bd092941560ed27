//! The delete brake (SPEC §3): a burst of remote deletes is held, not applied,
//! until an operator releases or discards it.

use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::config::BrakeConfig;
use crate::db::Backend;
use crate::store::{remote_deletes, sync_state, tasks};

pub const ENGAGED: &str = "delete_brake";
/// The reason of a pull an operator queued by releasing held deletes: its
/// delete is applied without passing the brake again.
pub const RELEASED: &str = "released_delete";

/// How many deletes within the window are allowed before the brake engages:
/// `percent`% of the linked tasks, at least `min_burst`, at most `max_burst`.
pub fn allowance(linked: i64, config: &BrakeConfig) -> i64 {
    (linked * i64::from(config.percent) / 100)
        .max(config.min_burst)
        .min(config.max_burst)
}

/// Whether a remote delete of `task_id` may be applied now. Records the delete
/// either way; engages the brake when this delete is one too many.
pub async fn admit(
    conn: &mut AnyConnection,
    backend: Backend,
    config: &BrakeConfig,
    task_id: Uuid,
    remote_id: &str,
    remote_version: i64,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    let mut engaged = lock_state(conn, backend, now).await?;
    if remote_deletes::is_held(&mut *conn, task_id).await? {
        // Seen again (a webhook, then the reconciliation): held once is enough.
        return Ok(false);
    }
    if !engaged {
        let since = now - chrono::Duration::from_std(config.window).unwrap_or_default();
        let recent = remote_deletes::count_since(&mut *conn, since).await? + 1;
        let linked = tasks::count_linked(&mut *conn).await?;
        if recent > allowance(linked, config) {
            engaged = true;
            sync_state::set(&mut *conn, ENGAGED, "true", now).await?;
            tracing::warn!(
                recent,
                linked,
                "delete brake engaged: remote deletes are held for an operator"
            );
        }
    }
    let status = if engaged { "held" } else { "applied" };
    remote_deletes::record(conn, task_id, remote_id, remote_version, status, now).await?;
    Ok(!engaged)
}

/// Reads whether the brake is engaged, holding its row lock (PostgreSQL) until
/// the transaction ends, so concurrent deletes are counted one at a time.
async fn lock_state(
    conn: &mut AnyConnection,
    backend: Backend,
    now: DateTime<Utc>,
) -> anyhow::Result<bool> {
    sqlx::query(
        "INSERT INTO sync_state (key, value, updated_at) VALUES ($1, 'false', $2) ON CONFLICT (key) DO NOTHING",
    )
    .bind(ENGAGED)
    .bind(crate::db::encode_ts(&now))
    .execute(&mut *conn)
    .await?;
    let sql = format!(
        "SELECT value FROM sync_state WHERE key = $1{}",
        backend.lock_clause()
    );
    let (value,): (String,) = sqlx::query_as(&sql).bind(ENGAGED).fetch_one(conn).await?;
    Ok(value == "true")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowance_is_ten_percent_between_five_and_fifty() {
        let config = BrakeConfig::default();
        assert_eq!(allowance(0, &config), 5);
        assert_eq!(allowance(30, &config), 5);
        assert_eq!(allowance(200, &config), 20);
        assert_eq!(allowance(499, &config), 49);
        assert_eq!(allowance(10_000, &config), 50);
    }
}
