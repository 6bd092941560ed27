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
use super::extract::{ApiJson, ApiQuery};
use super::pages::{page_limit, paginate};
use crate::auth::{Caller, Role};
use crate::model::{Snapshot, Task};
use crate::store::conflicts::{self, Conflict, ConflictStatus};
use crate::store::tasks;
use crate::sync::merge::{Field, differing_fields};
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
/// is now (what `keep_local` keeps) and `fields` what differs from `remote`.
#[derive(Debug, Serialize)]
struct ConflictView {
    #[serde(flatten)]
    conflict: Conflict,
    task_title: String,
}

fn view(mut conflict: Conflict, task: Option<&Task>) -> ConflictView {
    if conflict.status == ConflictStatus::Unresolved {
        if let Some(task) = task {
            conflict.local = task.snapshot();
            conflict.local_version = task.version;
            conflict.fields = shown_fields(&conflict.local, &conflict.remote, &conflict.fields);
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

fn shown_fields(local: &Snapshot, remote: &Snapshot, recorded: &[Field]) -> Vec<Field> {
    if local.deleted != remote.deleted {
        return recorded.to_vec();
    }
    differing_fields(&local.fields, &remote.fields)
}

async fn list(
    State(state): State<AppState>,
    caller: Caller,
    ApiQuery(params): ApiQuery<ListParams>,
) -> ApiResult<Json<Page<ConflictView>>> {
    caller.require(Role::Viewer)?;
    let limit = page_limit(params.limit)?;
    let rows = conflicts::list(
        state.db.pool(),
        params.status,
        params.task_id,
        params.cursor.as_deref(),
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
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Json<ConflictView>> {
    caller.require(Role::Viewer)?;
    let conflict = conflicts::get(state.db.pool(), conflict_id(&id)?)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no conflict has id `{id}`")))?;
    let task = tasks::get(state.db.pool(), conflict.task_id).await?;
    Ok(Json(view(conflict, task.as_ref())))
}

async fn resolve_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(request): ApiJson<ResolveRequest>,
) -> ApiResult<Json<Task>> {
    caller.require(Role::Editor)?;
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
