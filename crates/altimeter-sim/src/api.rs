//! The Altimeter v1 task API (SPEC §4), mounted under `/v1` behind the gate.

use altimeter_api::headers::{IDEMPOTENCY_KEY, etag, parse_etag};
use altimeter_api::{CreateTask, Page, RemoteTask, TaskFields};
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::header::{ETAG, IF_MATCH};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router, middleware};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::Value;

use crate::cursor;
use crate::error::ApiError;
use crate::gate::{gate, rate_limit};
use crate::state::SimState;

const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;
const MAX_IDEMPOTENCY_KEY_CHARS: usize = 255;

pub fn router(state: SimState) -> Router {
    Router::new()
        .route("/tasks", get(list).post(create))
        .route("/tasks/{id}", get(read).put(update).delete(remove))
        .route_layer(middleware::from_fn_with_state(state.clone(), gate))
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        // After the fallbacks, so their answers carry the headers too.
        .layer(middleware::from_fn_with_state(state.clone(), rate_limit))
        .with_state(state)
}

async fn create(
    State(state): State<SimState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let request = CreateTask::from_json(&json_body(&body)?)
        .map_err(|e| ApiError::invalid("validation_failed", e.to_string()))?;
    let key = idempotency_key(&headers)?;
    let created = state.create_task(request, key)?;
    Ok(task_response(StatusCode::CREATED, created.task))
}

async fn read(State(state): State<SimState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    Ok(task_response(StatusCode::OK, state.get_task(&id)?))
}

async fn update(
    State(state): State<SimState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let fields = TaskFields::from_json(&json_body(&body)?)
        .map_err(|e| ApiError::invalid("validation_failed", e.to_string()))?;
    let task = state.update_task(&id, fields, if_match(&headers)?)?;
    Ok(task_response(StatusCode::OK, task))
}

async fn remove(
    State(state): State<SimState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<StatusCode, ApiError> {
    state.delete_task(&id, if_match(&headers)?)?;
    Ok(StatusCode::NO_CONTENT)
}

/// The query of `GET /tasks`, kept as text so each bad value gets its own message.
#[derive(Deserialize)]
struct ListQuery {
    updated_since: Option<String>,
    cursor: Option<String>,
    limit: Option<String>,
}

async fn list(
    State(state): State<SimState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Json<Page<RemoteTask>>, ApiError> {
    let Query(query) = query.map_err(|e| ApiError::invalid("invalid_query", e.body_text()))?;
    let since = query
        .updated_since
        .as_deref()
        .map(parse_since)
        .transpose()?;
    let after = query.cursor.as_deref().map(parse_cursor).transpose()?;
    let limit = query
        .limit
        .as_deref()
        .map_or(Ok(DEFAULT_LIMIT), parse_limit)?;
    let (data, more) = state.list(since, after, limit);
    let next_cursor = data
        .last()
        .filter(|_| more)
        .map(|last| cursor::encode(&(last.updated_at, last.id.clone())));
    Ok(Json(Page { data, next_cursor }))
}

fn parse_since(raw: &str) -> Result<DateTime<Utc>, ApiError> {
    DateTime::parse_from_rfc3339(raw)
        .map(|at| at.with_timezone(&Utc))
        .map_err(|_| {
            ApiError::invalid(
                "invalid_query",
                format!("updated_since: `{raw}` is not an RFC 3339 timestamp such as 2026-02-03T14:05:12Z"),
            )
        })
}

fn parse_cursor(raw: &str) -> Result<cursor::ListKey, ApiError> {
    cursor::decode(raw).ok_or_else(|| {
        ApiError::invalid("invalid_query", "cursor: not a cursor this server issued")
    })
}

fn parse_limit(raw: &str) -> Result<usize, ApiError> {
    raw.parse()
        .ok()
        .filter(|limit| (1..=MAX_LIMIT).contains(limit))
        .ok_or_else(|| {
            ApiError::invalid(
                "invalid_query",
                format!("limit: `{raw}` is not a whole number from 1 to {MAX_LIMIT}"),
            )
        })
}

fn json_body(body: &[u8]) -> Result<Value, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::malformed("malformed_json", format!("the body is not valid JSON: {e}"))
    })
}

fn idempotency_key(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    let Some(value) = headers.get(IDEMPOTENCY_KEY) else {
        return Ok(None);
    };
    let key = value
        .to_str()
        .map_err(|_| ApiError::invalid("invalid_idempotency_key", "Idempotency-Key must be ASCII"))?
        .trim();
    if key.is_empty() || key.len() > MAX_IDEMPOTENCY_KEY_CHARS {
        return Err(ApiError::invalid(
            "invalid_idempotency_key",
            format!("Idempotency-Key must have 1 to {MAX_IDEMPOTENCY_KEY_CHARS} characters"),
        ));
    }
    Ok(Some(key))
}

/// The version `If-Match` requires; `None` when absent or `*` (any version).
fn if_match(headers: &HeaderMap) -> Result<Option<i64>, ApiError> {
    let Some(value) = headers.get(IF_MATCH) else {
        return Ok(None);
    };
    let bad = || {
        ApiError::malformed(
            "invalid_if_match",
            "If-Match must be a version such as \"3\"",
        )
    };
    let value = value.to_str().map_err(|_| bad())?.trim();
    if value == "*" {
        return Ok(None);
    }
    parse_etag(value).map(Some).ok_or_else(bad)
}

fn task_response(status: StatusCode, task: RemoteTask) -> Response {
    let tag = etag(task.version);
    (status, [(ETAG, tag)], Json(task)).into_response()
}
