//! The worker's periodic duties besides the queue: reconciliation with Altimeter
//! when due (or asked for), alert evaluation and delivery, and pruning old
//! bookkeeping. Each runs on one node at a time, under a short lease.

use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio_util::sync::CancellationToken;

use super::engine::Engine;
use super::{alerts, reconcile, status};
use crate::db::now;
use crate::store::{outcomes, sync_state, webhook_events};

const TICK: Duration = Duration::from_secs(2);
const PRUNE_EVERY: Duration = Duration::from_secs(600);
/// Set to ask for a reconciliation pass now (`atlas sync trigger`).
pub const RECONCILE_REQUESTED: &str = "reconcile_requested";
const RECONCILE_LEASE: &str = "reconcile_lease";
const RECONCILE_LAST: &str = "reconcile_last_run";
const ALERT_LEASE: &str = "alert_lease";

pub async fn run(engine: Engine, shutdown: CancellationToken) {
    let http = reqwest::Client::new();
    let mut last_alerts: Option<DateTime<Utc>> = None;
    let mut last_prune: Option<DateTime<Utc>> = None;
    while !shutdown.is_cancelled() {
        if let Err(e) = reconcile_if_due(&engine).await {
            tracing::warn!(
                error = format!("{e:#}"),
                "reconciliation with Altimeter failed"
            );
        }
        if is_due(last_alerts, engine.config.alert_interval) {
            last_alerts = Some(now());
            if let Err(e) = check_alerts(&engine, &http).await {
                tracing::warn!(error = format!("{e:#}"), "alert evaluation failed");
            }
        }
        if is_due(last_prune, PRUNE_EVERY) {
            last_prune = Some(now());
            if let Err(e) = prune(&engine).await {
                tracing::warn!(error = format!("{e:#}"), "pruning sync bookkeeping failed");
            }
        }
        tokio::select! {
            () = tokio::time::sleep(TICK.min(engine.config.alert_interval)) => {}
            () = shutdown.cancelled() => {}
        }
    }
}

fn is_due(last: Option<DateTime<Utc>>, every: Duration) -> bool {
    last.is_none_or(|t| (now() - t).to_std().unwrap_or_default() >= every)
}

fn lease_until(d: Duration) -> DateTime<Utc> {
    now() + chrono::Duration::from_std(d).unwrap_or_default()
}

async fn reconcile_if_due(engine: &Engine) -> anyhow::Result<()> {
    let pool = engine.db.pool();
    let requested = sync_state::flag(pool, RECONCILE_REQUESTED).await?;
    let last = sync_state::get_ts(pool, RECONCILE_LAST).await?;
    if !requested && !is_due(last, engine.config.reconcile_interval) {
        return Ok(());
    }
    if sync_state::flag(pool, sync_state::PAUSED).await?
        || sync_state::flag(pool, sync_state::DRAINING).await?
    {
        return Ok(());
    }
    let mut conn = pool.acquire().await?;
    let lease = lease_until(
        engine
            .config
            .reconcile_interval
            .max(Duration::from_secs(60)),
    );
    if !sync_state::try_lease(&mut conn, RECONCILE_LEASE, &engine.owner, lease, now()).await? {
        return Ok(());
    }
    drop(conn);
    sync_state::set(pool, RECONCILE_REQUESTED, "false", now()).await?;
    let result = reconcile::run(engine).await;
    sync_state::set(pool, RECONCILE_LAST, &crate::db::encode_ts(&now()), now()).await?;
    result.map(|_| ())
}

async fn check_alerts(engine: &Engine, http: &reqwest::Client) -> anyhow::Result<()> {
    let mut conn = engine.db.pool().acquire().await?;
    if !sync_state::try_lease(
        &mut conn,
        ALERT_LEASE,
        &engine.owner,
        lease_until(engine.config.alert_interval * 2),
        now(),
    )
    .await?
    {
        return Ok(());
    }
    drop(conn);
    let report = status::report(&engine.db, true).await?;
    let firing = alerts::evaluate(&report, engine.config.queue_alert_threshold);
    alerts::reconcile(
        &engine.db,
        &firing,
        engine.config.alert_webhook_url.as_deref(),
        http,
    )
    .await
}

async fn prune(engine: &Engine) -> anyhow::Result<()> {
    let mut conn = engine.db.pool().acquire().await?;
    webhook_events::prune(&mut conn, now() - chrono::Duration::days(7)).await?;
    outcomes::prune(&mut conn, now() - chrono::Duration::hours(1)).await?;
    Ok(())
}
