//! Alerts: conditions an operator must hear about, derived from the sync report,
//! stored so every node shows the same list, and sent once to
//! `ATLAS_ALERT_WEBHOOK_URL` when they start and when they end.

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::json;

use super::status::SyncReport;
use crate::db::{Db, now};
use crate::store::alerts::{self, StoredAlert};

/// Failing this share of items over 5 minutes (with enough of them) is an alert.
const ERROR_RATE_ALERT: f64 = 0.5;
const ERROR_RATE_MIN_ITEMS: i64 = 5;
/// A change waiting this long to sync is an alert.
const OLDEST_PENDING_ALERT_S: i64 = 15 * 60;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Alert {
    pub key: &'static str,
    pub severity: &'static str,
    pub message: String,
}

/// The alerts a report calls for.
pub fn evaluate(report: &SyncReport, queue_threshold: i64) -> Vec<Alert> {
    let mut out = Vec::new();
    let mut raise = |key, severity, message: String| {
        out.push(Alert {
            key,
            severity,
            message,
        })
    };
    if report.queue.failed > 0 {
        raise(
            "sync_failed",
            "critical",
            format!(
                "{} sync item(s) failed and will not be retried by themselves; see \
                 `atlas sync failed` (or GET /admin/sync/failed), fix the cause, then run \
                 `atlas sync retry-failed`",
                report.queue.failed
            ),
        );
    }
    let depth = report.queue.pending + report.queue.in_flight;
    if depth > queue_threshold {
        raise(
            "queue_backlog",
            "warning",
            format!("{depth} sync items are queued (alert threshold {queue_threshold})"),
        );
    }
    if report
        .oldest_pending_age_s
        .is_some_and(|age| age > OLDEST_PENDING_ALERT_S)
        && !report.paused
    {
        raise(
            "sync_stalled",
            "critical",
            format!(
                "the oldest pending change has waited {} s to sync",
                report.oldest_pending_age_s.unwrap_or(0)
            ),
        );
    }
    if report.delete_brake_engaged {
        raise(
            "delete_brake",
            "warning",
            format!(
                "a burst of deletes in Altimeter was held ({} task(s)); review, then run \
                 `atlas sync release-deletes` or `atlas sync discard-deletes`",
                report.deletes_held
            ),
        );
    }
    if report.error_rate_5m >= ERROR_RATE_ALERT && report.items_5m >= ERROR_RATE_MIN_ITEMS {
        raise(
            "altimeter_errors",
            "warning",
            format!(
                "{:.0}% of the sync items finished in the last 5 minutes failed or were retried",
                report.error_rate_5m * 100.0
            ),
        );
    }
    out
}

/// Brings the stored alerts in line with `firing` and sends what changed.
pub async fn reconcile(
    db: &Db,
    firing: &[Alert],
    webhook_url: Option<&SecretString>,
    http: &reqwest::Client,
) -> anyhow::Result<()> {
    let at = now();
    let stored = alerts::all(db.pool()).await?;
    let mut conn = db.pool().acquire().await?;
    for alert in firing {
        alerts::upsert(&mut conn, alert.key, alert.severity, &alert.message, at).await?;
    }
    for old in stored
        .iter()
        .filter(|s| !firing.iter().any(|f| f.key == s.key))
    {
        alerts::remove(&mut conn, old).await?;
        tracing::info!(alert = %old.key, "alert resolved");
        if old.notified_at.is_some() {
            notify(webhook_url, http, old, "resolved").await;
        }
    }
    for alert in alerts::all(&mut *conn).await? {
        if alert.notified_at.is_none() {
            tracing::warn!(alert = %alert.key, severity = %alert.severity, text = %alert.message, "alert firing");
            if notify(webhook_url, http, &alert, "firing").await {
                alerts::mark_notified(&mut conn, &alert.key, at).await?;
            }
        }
    }
    Ok(())
}

/// Sends one alert; true when it was delivered (or there is nowhere to send it).
async fn notify(
    url: Option<&SecretString>,
    http: &reqwest::Client,
    alert: &StoredAlert,
    status: &str,
) -> bool {
    let Some(url) = url else { return true };
    let url = url.expose_secret();
    let body = payload(alert, status, now());
    match http
        .post(url)
        .json(&body)
        .timeout(std::time::Duration::from_secs(10))
        .send()
        .await
    {
        Ok(r) if r.status().is_success() => true,
        Ok(r) => {
            tracing::warn!(status = %r.status(), alert = %alert.key, "alert webhook refused the alert");
            false
        }
        Err(e) => {
            // The URL is a credential: the logged error leaves it out.
            let error = format!("{:#}", anyhow::Error::new(e.without_url()));
            tracing::warn!(%error, alert = %alert.key, "alert webhook unreachable");
            false
        }
    }
}

fn payload(alert: &StoredAlert, status: &str, at: DateTime<Utc>) -> serde_json::Value {
    let icon = if status == "resolved" { "✅" } else { "🚨" };
    json!({
        "alert": alert.key,
        "severity": alert.severity,
        "status": status,
        "message": alert.message,
        "since": alert.since,
        "at": at,
        "text": format!("{icon} Atlas sync {status}: {} — {}", alert.key, alert.message),
    })
}
