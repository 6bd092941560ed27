//! `/admin` (admins): the health of sync at a glance, the last hour as a chart,
//! failed items and held deletes with their actions, and pause / resume /
//! drain. Every action runs the same code as `atlas sync …` and
//! `POST /admin/sync/…`.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect};
use chrono::{Duration, DurationRound};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::{PageError, PageResult, Section, Visitor, csrf_field, layout};
use super::time::{ago, when};
use crate::auth::Role;
use crate::db::now;
use crate::http::AppState;
use crate::store::{outcomes, queue, remote_deletes, tasks as task_store};
use crate::sync::{ops, status};

pub async fn page(State(state): State<AppState>, visitor: Visitor) -> PageResult {
    visitor.require(Role::Admin)?;
    let overview = overview(&state, &visitor).await?;
    let body = html! {
        h1 { "Sync" }
        (overview)
    };
    Ok(layout("Sync dashboard", Some(&visitor), Section::Admin, body).into_response())
}

pub async fn overview_fragment(State(state): State<AppState>, visitor: Visitor) -> PageResult {
    visitor.require(Role::Admin)?;
    Ok(overview(&state, &visitor).await?.into_response())
}

async fn overview(state: &AppState, visitor: &Visitor) -> PageResult<Markup> {
    let report = status::report(&state.db, state.sync.altimeter.is_some()).await?;
    let failed = queue::failed(state.db.pool(), None, 50).await?;
    let held = remote_deletes::held(state.db.pool()).await?;
    let mut titles = HashMap::new();
    for id in failed
        .iter()
        .filter_map(|i| i.task_id)
        .chain(held.iter().map(|h| h.task_id))
    {
        if let Some(task) = task_store::get(state.db.pool(), id).await? {
            titles.insert(id, task.fields.title);
        }
    }
    let title_of = |id: Option<uuid::Uuid>| {
        id.and_then(|id| titles.get(&id).cloned())
            .unwrap_or_else(|| "(a task not in Atlas yet)".to_owned())
    };
    let csrf = csrf_field(&visitor.session);
    let chart = chart(state).await?;
    Ok(html! {
        div #admin-overview data-fragment="/admin/overview" data-topics="queue alerts conflicts" {
            @if !report.configured {
                p.banner.warn role="status" { "Sync is not configured on this node (ALTIMETER_API_URL is unset): tasks are kept, nothing is sent." }
            }
            @if report.paused {
                p.banner.warn role="status" { strong { "PAUSED" } " — changes queue up; nothing is sent to or read from Altimeter until you resume." }
            } @else if report.draining {
                p.banner.warn role="status" { strong { "DRAINING" } " — no new work is started; "
                    (report.queue.in_flight) " item(s) still in flight. Resume to go on." }
            }
            @for alert in &report.alerts {
                p.banner.bad role="alert" { strong { "Alert: " (alert.key) } " — " (alert.message) " (since " (when(alert.since)) ")" }
            }
            ul.tiles aria-label="Sync health" {
                li { span.tile-value { (report.queue.pending) } span.tile-label { "pending" } }
                li { span.tile-value { (report.queue.in_flight) } span.tile-label { "in flight" } }
                li { span.tile-value { (report.queue.failed) } span.tile-label { "failed" } }
                li { span.tile-value { (report.oldest_pending_age_s.map(|s| format!("{s} s")).unwrap_or_else(|| "—".into())) } span.tile-label { "oldest pending" } }
                li { span.tile-value { (report.last_success_at.map(|t| ago(t, now())).unwrap_or_else(|| "never".into())) } span.tile-label { "last success" } }
                li { span.tile-value { (report.conflicts_unresolved) } span.tile-label { a href="/conflicts" { "open conflicts" } } }
                li { span.tile-value { (report.deletes_held) } span.tile-label { "held deletes" } }
                li { span.tile-value { (format!("{:.0} %", report.error_rate_5m * 100.0)) } span.tile-label { "errors, last 5 min" } }
            }
            div.actions {
                @if report.paused || report.draining {
                    form method="post" action="/admin/do/resume" { (csrf) button.primary #resume type="submit" { "Resume" } }
                } @else {
                    form method="post" action="/admin/do/pause" data-confirm="Pause sync? Changes will queue up until you resume." {
                        (csrf) button #pause type="submit" { "Pause" }
                    }
                    form method="post" action="/admin/do/drain" data-confirm="Drain? In-flight items finish, nothing new starts (before a deployment)." {
                        (csrf) button #drain type="submit" { "Drain" }
                    }
                }
            }
            h2 { "The last hour" }
            (chart)
            h2 { "Failed items (" (report.queue.failed) ")" }
            @if failed.is_empty() {
                p { "None." }
            } @else {
                form method="post" action="/admin/do/retry-failed" { (csrf) button.primary #retry-all type="submit" { "Retry all" } }
                table {
                    thead { tr { th scope="col" { "Task" } th scope="col" { "Direction" } th scope="col" { "Error" } th scope="col" {} } }
                    tbody {
                        @for item in &failed {
                            tr {
                                td { @if let Some(id) = item.task_id { a href=(format!("/tasks/{id}")) { (title_of(Some(id))) } } @else { (item.remote_id.as_deref().unwrap_or("—")) } }
                                td { (item.direction.as_str()) }
                                td.error-text { (item.last_error.as_deref().unwrap_or("—")) }
                                td { @if let Some(id) = item.task_id {
                                    form method="post" action=(format!("/admin/do/retry/{id}")) { (csrf) button type="submit" { "Retry" } }
                                } }
                            }
                        }
                    }
                }
            }
            h2 { "Held deletes (" (held.len()) ")" }
            @if held.is_empty() {
                p { "None: the delete brake has not held anything." }
            } @else {
                p { "Altimeter deleted these tasks in a burst; Atlas kept them until someone checks." }
                ul { @for h in &held { li { a href=(format!("/tasks/{}", h.task_id)) { (title_of(Some(h.task_id))) } " — deleted in Altimeter " (when(h.detected_at)) } } }
                div.actions {
                    form method="post" action="/admin/do/release-deletes" data-confirm="Apply these deletes in Atlas too?" { (csrf) button.danger type="submit" { "Release (delete them here too)" } }
                    form method="post" action="/admin/do/discard-deletes" data-confirm="Keep these tasks and create them in Altimeter again?" { (csrf) button type="submit" { "Discard (keep them)" } }
                }
            }
        }
    })
}

/// Items synced and failed per minute over the last hour, as an SVG bar chart
/// with the same numbers in text for those who cannot see it.
async fn chart(state: &AppState) -> PageResult<Markup> {
    let end = now()
        .duration_trunc(Duration::minutes(1))
        .unwrap_or_else(|_| now());
    let start = end - Duration::minutes(59);
    let rows = outcomes::per_minute(state.db.pool(), start).await?;
    let minutes: Vec<(i64, i64)> = (0..60)
        .map(|i| {
            let key = (start + Duration::minutes(i))
                .format("%Y-%m-%dT%H:%M")
                .to_string();
            rows.iter()
                .find(|(m, _, _)| *m == key)
                .map_or((0, 0), |(_, ok, bad)| (*ok, *bad))
        })
        .collect();
    let busiest = minutes.iter().map(|(ok, bad)| ok + bad).max().unwrap_or(0);
    let peak = busiest.max(1);
    let synced: i64 = minutes.iter().map(|m| m.0).sum();
    let errors: i64 = minutes.iter().map(|m| m.1).sum();
    let height = 80.0;
    let bar = |n: i64| n as f64 / peak as f64 * height;
    Ok(html! {
        figure.chart {
            svg viewBox="0 0 600 100" role="img" aria-labelledby="chart-caption" preserveAspectRatio="none" {
                @for (i, (ok, bad)) in minutes.iter().enumerate() {
                    @let x = i as f64 * 10.0;
                    rect x=(x) y=(90.0 - bar(*ok)) width="8" height=(bar(*ok)) fill="#1a7f37" {}
                    rect x=(x) y=(90.0 - bar(*ok) - bar(*bad)) width="8" height=(bar(*bad)) fill="#cf222e" {}
                }
                line x1="0" y1="90" x2="600" y2="90" stroke="#59636e" stroke-width="1" {}
            }
            figcaption #chart-caption {
                "Last 60 minutes: " (synced) " item(s) synced (green), " (errors) " failed or retried (red); busiest minute " (busiest) "."
            }
        }
    })
}

#[derive(Debug, Deserialize)]
pub struct Action {
    #[serde(rename = "_csrf")]
    csrf: String,
}

pub async fn act(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(action): Path<String>,
    Form(form): Form<Action>,
) -> PageResult {
    visitor.require(Role::Admin)?;
    visitor.check_form(&headers, &form.csrf)?;
    let (db, outbox) = (&state.db, &state.outbox);
    match action.as_str() {
        "pause" => ops::pause(db).await?,
        "resume" => ops::resume(db, outbox).await?,
        "drain" => {
            ops::drain(db).await?;
        }
        "retry-failed" => {
            ops::retry_failed(db, outbox, None).await?;
        }
        "release-deletes" => {
            ops::release_deletes(db, outbox).await?;
        }
        "discard-deletes" => {
            ops::discard_deletes(db, outbox).await?;
        }
        _ => {
            return Err(PageError::NotFound(format!(
                "There is no action `{action}`."
            )));
        }
    }
    tracing::info!(actor = %visitor.session.caller.name, action, "sync operation (web UI)");
    Ok(Redirect::to("/admin").into_response())
}

pub async fn retry_task(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(id): Path<uuid::Uuid>,
    Form(form): Form<Action>,
) -> PageResult {
    visitor.require(Role::Admin)?;
    visitor.check_form(&headers, &form.csrf)?;
    ops::retry_failed(&state.db, &state.outbox, Some(id)).await?;
    tracing::info!(actor = %visitor.session.caller.name, task_id = %id, "retry (web UI)");
    Ok(Redirect::to("/admin").into_response())
}
