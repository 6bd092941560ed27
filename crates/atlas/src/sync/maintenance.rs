//! The worker's periodic duties besides the queue: reconciliation with Altimeter
//! when due (or asked for), alert evaluation and delivery, and pruning old
//! bookkeeping. Each runs on one node at a time, under a short lease that is
//! held only while its pass runs (renewed meanwhile) and released at its end,
//! so a node that crashed mid-pass delays the next one by [`PASS_LEASE`] at most.

use std::future::Future;
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
pub const RECONCILE_LEASE: &str = "reconcile_lease";
pub const RECONCILE_LAST: &str = "reconcile_last_run";
const ALERT_LEASE: &str = "alert_lease";
/// How long a pass's lease lasts unless renewed; it is renewed every third of it.
pub const PASS_LEASE: Duration = Duration::from_secs(30);

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

/// Runs `pass` if this node gets the lease `key`, renewing the lease while the
/// pass runs and releasing it after. `None` when another node holds it.
async fn under_lease<T>(
    engine: &Engine,
    key: &str,
    pass: impl Future<Output = anyhow::Result<T>>,
) -> anyhow::Result<Option<T>> {
    let take = || async {
        let mut conn = engine.db.pool().acquire().await?;
        sync_state::try_lease(
            &mut conn,
            key,
            &engine.owner,
            lease_until(PASS_LEASE),
            now(),
        )
        .await
    };
    if !take().await? {
        return Ok(None);
    }
    let renew = async {
        loop {
            tokio::time::sleep(PASS_LEASE / 3).await;
            match take().await {
                Ok(true) => {}
                Ok(false) => anyhow::bail!("lease `{key}` was lost to another node"),
                Err(e) => return Err(e),
            }
        }
    };
    let result = tokio::select! {
        result = pass => result,
        lost = renew => lost,
    };
    sync_state::release_lease(engine.db.pool(), key, &engine.owner).await?;
    result.map(Some)
}

/// Whether a reconciliation pass is asked for or due, and sync is running.
async fn reconcile_wanted(engine: &Engine) -> anyhow::Result<bool> {
    let pool = engine.db.pool();
    let requested = sync_state::flag(pool, RECONCILE_REQUESTED).await?;
    let last = sync_state::get_ts(pool, RECONCILE_LAST).await?;
    if !requested && !is_due(last, engine.config.reconcile_interval) {
        return Ok(false);
    }
    Ok(!(sync_state::flag(pool, sync_state::PAUSED).await?
        || sync_state::flag(pool, sync_state::DRAINING).await?))
}

async fn reconcile_if_due(engine: &Engine) -> anyhow::Result<()> {
    if !reconcile_wanted(engine).await? {
        return Ok(());
    }
    let pool = engine.db.pool();
    let pass = async {
        // Another node may have run the pass between the check and the lease.
        if !reconcile_wanted(engine).await? {
            return Ok(());
        }
        sync_state::set(pool, RECONCILE_REQUESTED, "false", now()).await?;
        let result = reconcile::run(engine).await;
        sync_state::set(pool, RECONCILE_LAST, &crate::db::encode_ts(&now()), now()).await?;
        result.map(|_| ())
    };
    under_lease(engine, RECONCILE_LEASE, pass).await.map(|_| ())
}

async fn check_alerts(engine: &Engine, http: &reqwest::Client) -> anyhow::Result<()> {
    let pass = async {
        let report = status::report(&engine.db, true).await?;
        let firing = alerts::evaluate(&report, engine.config.queue_alert_threshold);
        alerts::reconcile(
            &engine.db,
            &firing,
            engine.config.alert_webhook_url.as_ref(),
            http,
        )
        .await
    };
    under_lease(engine, ALERT_LEASE, pass).await.map(|_| ())
}

async fn prune(engine: &Engine) -> anyhow::Result<()> {
    let mut conn = engine.db.pool().acquire().await?;
    webhook_events::prune(&mut conn, now() - chrono::Duration::days(7)).await?;
    outcomes::prune(&mut conn, now() - chrono::Duration::hours(1)).await?;
    Ok(())
}
