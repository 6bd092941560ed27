//! `/api/conflicts`: conflicts with their local, remote and base versions, and
//! their resolution.

use altimeter_api::Page;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{ApiJson, ApiQuery, Editor, Viewer};
use super::pages::{page_limit, paginate};
use crate::model::Task;
use crate::store::conflicts::{self, Conflict, ConflictStatus};
use crate::store::tasks;
use crate::sync::merge::{Field, merge_fields};
use crate::sync::resolve::{self, ResolveError, ResolveRequest};

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/conflicts", get(list))
        .route("/api/conflicts/{id}", get(read))
        .route("/api/conflicts/{id}/resolve", post(resolve_one))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ListParams {
    status: Option<ConflictStatus>,
    task_id: Option<Uuid>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// A conflict as shown to a person: for an open one, `local` is the task as it
/// is now and `fields` the fields still in conflict with `remote`.
#[derive(Debug, Serialize)]
pub(super) struct ConflictView {
    #[serde(flatten)]
    pub conflict: Conflict,
    pub task_title: String,
}

pub(super) fn view(mut conflict: Conflict, task: Option<&Task>) -> ConflictView {
    if conflict.status == ConflictStatus::Unresolved {
        if let Some(task) = task {
            conflict.local = task.snapshot();
            conflict.local_version = task.version;
            conflict.fields = shown_fields(&conflict);
        }
    }
    let task_title = task.map_or_else(
        || conflict.local.fields.title.clone(),
        |t| t.fields.title.clone(),
    );
    ConflictView {
        conflict,
        task_title,
    }
}

/// The fields still in conflict between the task as it is now and the remote
/// version (one-sided changes are not: any resolution keeps them).
fn shown_fields(conflict: &Conflict) -> Vec<Field> {
    if conflict.local.deleted != conflict.remote.deleted {
        return conflict.fields.clone();
    }
    let base = conflict.base.as_ref().map(|b| &b.fields);
    merge_fields(base, &conflict.local.fields, &conflict.remote.fields).conflicts
}

async fn list(
    State(state): State<AppState>,
    _: Viewer,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<Page<ConflictView>>> {
    let limit = page_limit(params.limit)?;
    let cursor = params
        .cursor
        .map(|c| {
            conflicts::parse_cursor(&c).ok_or_else(|| {
                ApiError::Unprocessable(format!("cursor `{c}` is not one this API gave out"))
            })
        })
        .transpose()?;
    let rows = conflicts::list(
        state.db.pool(),
        params.status,
        params.task_id,
        cursor,
        limit + 1,
    )
    .await?;
    let page = paginate(rows, limit, conflicts::cursor_of);
    let mut data = Vec::with_capacity(page.data.len());
    for conflict in page.data {
        let task = tasks::get(state.db.pool(), conflict.task_id).await?;
        data.push(view(conflict, task.as_ref()));
    }
    Ok(Json(Page {
        data,
        next_cursor: page.next_cursor,
    }))
}

fn conflict_id(raw: &str) -> ApiResult<Uuid> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("no conflict has id `{raw}`")))
}

async fn read(
    State(state): State<AppState>,
    _: Viewer,
    Path(id): Path<String>,
) -> ApiResult<Json<ConflictView>> {
    let conflict = conflicts::get(state.db.pool(), conflict_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no conflict has id `{id}`")))?;
    let task = tasks::get(state.db.pool(), conflict.task_id).await?;
    Ok(Json(view(conflict, task.as_ref())))
}

async fn resolve_one(
    State(state): State<AppState>,
    Editor(caller): Editor,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ResolveRequest>,
) -> ApiResult<Json<Task>> {
    let task = resolve::resolve(
        &state.db,
        &state.outbox,
        conflict_id(&id)?,
        request,
        &caller.name,
    )
    .await
    .map_err(|e| match e {
        ResolveError::NotFound => ApiError::NotFound(format!("no conflict has id `{id}`")),
        ResolveError::AlreadyResolved(_) => ApiError::StateConflict(e.to_string()),
        ResolveError::BadRequest(m) => ApiError::Unprocessable(m),
        ResolveError::Invalid(v) => ApiError::Invalid(v),
        ResolveError::Internal(cause) => ApiError::Internal(cause),
    })?;
    Ok(Json(task))
}
