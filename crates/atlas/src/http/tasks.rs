//! `/api/tasks`: list, create, read, partial update, delete and history.

use altimeter_api::{Page, Status};
use axum::extract::{Path, State};
use axum::http::header::{ETAG, LOCATION};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Editor, IfMatch, Viewer};
use super::pages::{IdPageParams, page_limit, paginate};
use crate::model::{HistoryEntry, SyncStatus, Task};
use crate::store::history;
use crate::store::tasks::{ListCursor, ListFilter};
use crate::tasks::{self, TaskPatch};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/tasks", get(list).post(create))
        .route("/api/tasks/{id}", get(read).patch(update).delete(remove))
        .route("/api/tasks/{id}/history", get(task_history))
}

/// The query of `GET /api/tasks`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListParams {
    status: Option<Status>,
    sync_status: Option<SyncStatus>,
    assignee: Option<String>,
    q: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

impl ListParams {
    /// The store's filter, asking for one task more than a page (to tell
    /// whether another page follows); each bad parameter is a `422`.
    pub fn into_filter(self) -> ApiResult<ListFilter> {
        let limit = page_limit(self.limit)?;
        Ok(ListFilter {
            status: self.status,
            sync_status: self.sync_status,
            assignee: self.assignee.map(|a| a.trim().to_owned()),
            q: search_text(self.q)?,
            cursor: parse_cursor(self.cursor)?,
            limit: limit + 1,
        })
    }
}

pub(super) fn parse_cursor(cursor: Option<String>) -> ApiResult<Option<ListCursor>> {
    cursor
        .map(|c| {
            ListCursor::parse(&c).ok_or_else(|| {
                ApiError::Unprocessable(format!("cursor `{c}` is not one this API gave out"))
            })
        })
        .transpose()
}

/// The `q` parameter, trimmed (a phone keyboard adds a trailing space): blank
/// means no search; a control character (which no stored task can hold) is
/// refused.
pub(super) fn search_text(q: Option<String>) -> ApiResult<Option<String>> {
    let Some(q) = q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty()) else {
        return Ok(None);
    };
    if let Some(message) = altimeter_api::control_character(&q, false) {
        return Err(ApiError::Unprocessable(format!("q: {message}")));
    }
    Ok(Some(q))
}

fn not_found(id: &str) -> ApiError {
    ApiError::NotFound(format!("no task has id `{id}`"))
}

/// A task id from the path; anything that is not a UUID names no task.
fn task_id(raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| not_found(raw))
}

async fn list(
    State(state): State<AppState>,
    _: Viewer,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<Page<Task>>> {
    let filter = params.into_filter()?;
    let limit = filter.limit - 1;
    let data = crate::store::tasks::list(state.db.pool(), &filter).await?;
    Ok(Json(paginate(data, limit, |t| {
        ListCursor::after(t).to_string()
    })))
}

/// A task with its version as `ETag`.
fn task_response(status: StatusCode, task: Task) -> Response {
    let mut headers = HeaderMap::new();
    if let Ok(etag) = HeaderValue::from_str(&altimeter_api::headers::etag(task.version)) {
        headers.insert(ETAG, etag);
    }
    if status == StatusCode::CREATED {
        if let Ok(location) = HeaderValue::from_str(&format!("/api/tasks/{}", task.id)) {
            headers.insert(LOCATION, location);
        }
    }
    (status, headers, Json(task)).into_response()
}

async fn create(
    State(state): State<AppState>,
    Editor(caller): Editor,
    ApiJson(input): ApiJson<TaskPatch>,
) -> ApiResult<Response> {
    let task = tasks::create(&state.db, &state.outbox, input, &caller.name).await?;
    Ok(task_response(StatusCode::CREATED, task))
}

async fn read(
    State(state): State<AppState>,
    _: Viewer,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let task = crate::store::tasks::get(state.db.pool(), task_id(&id)?)
        .await?
        .ok_or_else(|| not_found(&id))?;
    if task.deleted {
        return Err(ApiError::Gone(format!("task `{id}` was deleted")));
    }
    Ok(task_response(StatusCode::OK, task))
}

async fn update(
    State(state): State<AppState>,
    Editor(caller): Editor,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
    ApiJson(patch): ApiJson<TaskPatch>,
) -> ApiResult<Response> {
    let task = tasks::update(
        &state.db,
        &state.outbox,
        task_id(&id)?,
        patch,
        if_match,
        &caller.name,
    )
    .await?;
    Ok(task_response(StatusCode::OK, task))
}

async fn remove(
    State(state): State<AppState>,
    Editor(caller): Editor,
    Path(id): Path<String>,
    IfMatch(if_match): IfMatch,
) -> ApiResult<StatusCode> {
    tasks::delete(
        &state.db,
        &state.outbox,
        task_id(&id)?,
        if_match,
        &caller.name,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn task_history(
    State(state): State<AppState>,
    _: Viewer,
    Path(id): Path<String>,
    ApiQuery(params): ApiQuery<IdPageParams>,
) -> ApiResult<Json<Page<HistoryEntry>>> {
    let id = task_id(&id)?;
    if crate::store::tasks::get(state.db.pool(), id)
        .await?
        .is_none()
    {
        return Err(not_found(&id.to_string()));
    }
    let limit = page_limit(params.limit)?;
    let data = history::list(state.db.pool(), id, params.cursor, limit + 1).await?;
    Ok(Json(paginate(data, limit, |e| e.id.to_string())))
}
