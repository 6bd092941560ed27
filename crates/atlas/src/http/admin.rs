//! `/admin`: the sync status report and the operator's actions (admin role).

use altimeter_api::Page;
use axum::body::Body;
use axum::extract::State;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{Admin, ApiQuery, Viewer, parse_json, read_body};
use super::pages::{IdPageParams, page_limit, paginate};
use crate::auth::Caller;
use crate::store::queue::{self, QueueItem};
use crate::sync::{ops, status};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/sync-status", get(sync_status))
        .route("/admin/sync/failed", get(failed))
        .route("/admin/sync/held-deletes", get(held_deletes))
        .route("/admin/sync/pause", post(pause))
        .route("/admin/sync/resume", post(resume))
        .route("/admin/sync/drain", post(drain))
        .route("/admin/sync/trigger", post(trigger))
        .route("/admin/sync/retry-failed", post(retry_failed))
        .route("/admin/sync/release-deletes", post(release_deletes))
        .route("/admin/sync/discard-deletes", post(discard_deletes))
}

async fn sync_status(
    State(state): State<AppState>,
    _: Viewer,
) -> ApiResult<Json<status::SyncReport>> {
    let report = status::report(&state.db, state.sync.altimeter.is_some()).await?;
    status::record_gauges(&report);
    Ok(Json(report))
}

/// Failed items, newest first, a page at a time like every other list.
async fn failed(
    State(state): State<AppState>,
    _: Viewer,
    ApiQuery(params): ApiQuery<IdPageParams>,
) -> ApiResult<Json<Page<QueueItem>>> {
    let limit = page_limit(params.limit)?;
    let items = queue::failed(state.db.pool(), params.cursor, limit + 1).await?;
    Ok(Json(paginate(items, limit, |item| item.id.to_string())))
}

async fn held_deletes(State(state): State<AppState>, _: Viewer) -> ApiResult<Json<Value>> {
    let held = crate::store::remote_deletes::held(state.db.pool()).await?;
    Ok(Json(json!({"data": held, "next_cursor": null})))
}

fn acted(caller: &Caller, action: &str) {
    tracing::info!(actor = %caller.name, action, "sync operation");
}

async fn pause(State(state): State<AppState>, Admin(caller): Admin) -> ApiResult<Json<Value>> {
    ops::pause(&state.db).await?;
    acted(&caller, "pause");
    Ok(Json(json!({"paused": true})))
}

async fn resume(State(state): State<AppState>, Admin(caller): Admin) -> ApiResult<Json<Value>> {
    ops::resume(&state.db, &state.outbox).await?;
    acted(&caller, "resume");
    Ok(Json(json!({"paused": false, "draining": false})))
}

async fn drain(State(state): State<AppState>, Admin(caller): Admin) -> ApiResult<Json<Value>> {
    let in_flight = ops::drain(&state.db).await?;
    acted(&caller, "drain");
    Ok(Json(
        json!({"draining": true, "in_flight": in_flight, "drained": in_flight == 0}),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerBody {
    task_id: Option<Uuid>,
}

/// Re-syncs one task (`{"task_id": "..."}`) or, with no body, everything.
async fn trigger(
    State(state): State<AppState>,
    Admin(caller): Admin,
    body: Body,
) -> ApiResult<Json<ops::Triggered>> {
    let bytes = read_body(body).await?;
    let task_id = if bytes.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        parse_json::<TriggerBody>(&bytes)?.task_id
    };
    if let Some(id) = task_id {
        if crate::store::tasks::get(state.db.pool(), id)
            .await?
            .is_none()
        {
            return Err(ApiError::NotFound(format!("no task has id `{id}`")));
        }
    }
    let triggered = ops::trigger(&state.db, &state.outbox, task_id).await?;
    acted(&caller, "trigger");
    Ok(Json(triggered))
}

async fn retry_failed(
    State(state): State<AppState>,
    Admin(caller): Admin,
) -> ApiResult<Json<Value>> {
    let tasks = ops::retry_failed(&state.db, &state.outbox, None).await?;
    acted(&caller, "retry-failed");
    Ok(Json(json!({"retried_tasks": tasks})))
}

async fn release_deletes(
    State(state): State<AppState>,
    Admin(caller): Admin,
) -> ApiResult<Json<Value>> {
    let n = ops::release_deletes(&state.db, &state.outbox).await?;
    acted(&caller, "release-deletes");
    Ok(Json(json!({"released": n})))
}

async fn discard_deletes(
    State(state): State<AppState>,
    Admin(caller): Admin,
) -> ApiResult<Json<Value>> {
    let n = ops::discard_deletes(&state.db, &state.outbox).await?;
    acted(&caller, "discard-deletes");
    Ok(Json(json!({"discarded": n})))
}
