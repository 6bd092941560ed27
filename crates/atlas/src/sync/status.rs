//! The state of sync as an operator sees it (`GET /admin/sync-status`,
//! `atlas sync status`), computed from the database so every node agrees.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::brake;
use crate::db::{Db, now};
use crate::store::alerts::{self, StoredAlert};
use crate::store::queue::{self, Depth};
use crate::store::{conflicts, outcomes, remote_deletes, sync_state};

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SyncReport {
    /// Whether `ALTIMETER_API_URL` is set on the node answering.
    pub configured: bool,
    pub paused: bool,
    pub draining: bool,
    pub queue: Depth,
    pub conflicts_unresolved: i64,
    pub oldest_pending_age_s: Option<i64>,
    pub last_success_at: Option<DateTime<Utc>>,
    /// Share of items finished in the last 5 minutes that failed or were retried.
    pub error_rate_5m: f64,
    /// Items finished (either way) in the last 5 minutes.
    pub items_5m: i64,
    /// Items finished in the last minute.
    pub throughput_1m: i64,
    pub delete_brake_engaged: bool,
    pub deletes_held: i64,
    pub alerts: Vec<StoredAlert>,
}

pub async fn report(db: &Db, configured: bool) -> anyhow::Result<SyncReport> {
    let pool = db.pool();
    let at = now();
    let (finished_5m, bad_5m) =
        outcomes::counts_since(pool, at - chrono::Duration::minutes(5)).await?;
    let (finished_1m, _) = outcomes::counts_since(pool, at - chrono::Duration::minutes(1)).await?;
    let error_rate_5m = if finished_5m == 0 {
        0.0
    } else {
        bad_5m as f64 / finished_5m as f64
    };
    Ok(SyncReport {
        configured,
        paused: sync_state::flag(pool, sync_state::PAUSED).await?,
        draining: sync_state::flag(pool, sync_state::DRAINING).await?,
        queue: queue::depth(pool).await?,
        conflicts_unresolved: conflicts::count_unresolved(pool).await?,
        oldest_pending_age_s: queue::oldest_pending(pool)
            .await?
            .map(|t| (at - t).num_seconds().max(0)),
        last_success_at: outcomes::last_success(pool).await?,
        error_rate_5m,
        items_5m: finished_5m,
        throughput_1m: finished_1m,
        delete_brake_engaged: sync_state::flag(pool, brake::ENGAGED).await?,
        deletes_held: remote_deletes::count_held(pool).await?,
        alerts: alerts::all(pool).await?,
    })
}

/// Publishes the queue gauges for `/metrics`.
pub fn record_gauges(report: &SyncReport) {
    for (status, n) in [
        ("pending", report.queue.pending),
        ("in_flight", report.queue.in_flight),
        ("failed", report.queue.failed),
    ] {
        metrics::gauge!("atlas_sync_queue_depth", "status" => status).set(n as f64);
    }
    metrics::gauge!("atlas_sync_oldest_pending_age_seconds")
        .set(report.oldest_pending_age_s.unwrap_or(0) as f64);
    metrics::gauge!("atlas_sync_conflicts_unresolved").set(report.conflicts_unresolved as f64);
    metrics::gauge!("atlas_sync_deletes_held").set(report.deletes_held as f64);
    metrics::gauge!("atlas_sync_paused").set(f64::from(u8::from(report.paused || report.draining)));
}
