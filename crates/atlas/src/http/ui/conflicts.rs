//! Conflicts: the inbox (open ones first, then those resolved automatically,
//! with the value that lost and a way to restore it) and, per conflict, the
//! dialog: Atlas, Altimeter and the base side by side, only the fields changed
//! on both sides offered as choices.

use altimeter_api::TaskFields;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect};
use maud::{Markup, html};
use serde_json::{Map, Value};
use std::collections::HashMap;
use uuid::Uuid;

use super::page::{PageError, PageResult, Section, Visitor, csrf_field, layout};
use super::time::when;
use crate::auth::Role;
use crate::http::conflicts::{ConflictView, view};
use crate::model::HistorySource;
use crate::store::conflicts::{self, Conflict, ConflictStatus};
use crate::store::{history, tasks as task_store};
use crate::sync::merge::{ConflictKind, Field, Winner, differing_fields};
use crate::sync::resolve::{self, Resolution, ResolveError, ResolveRequest};
use crate::tasks::{self, TaskPatch};

fn value_of(field: Field, fields: &TaskFields) -> Value {
    serde_json::to_value(fields)
        .ok()
        .and_then(|v| v.get(field.name()).cloned())
        .unwrap_or(Value::Null)
}

fn shown(value: &Value) -> String {
    match value {
        Value::Null => "—".to_owned(),
        Value::String(s) if s.is_empty() => "—".to_owned(),
        Value::String(s) => s.replace('_', " "),
        other => other.to_string(),
    }
}

fn label(field: Field) -> String {
    let name = field.name().replace('_', " ");
    let mut chars = name.chars();
    chars
        .next()
        .map(|c| c.to_uppercase().collect::<String>() + chars.as_str())
        .unwrap_or_default()
}

/// The nav link with the number of open conflicts (a live fragment).
pub fn nav_link(open: i64, current: bool) -> Markup {
    html! {
        a #nav-conflicts href="/conflicts" data-fragment="/conflicts/count" data-topics="conflicts"
            aria-current=[current.then_some("page")] {
            "Conflicts"
            @if open > 0 { span.count aria-label=(format!("{open} open")) { (open) } }
        }
    }
}

pub async fn count_fragment(State(state): State<AppState>, _: Visitor) -> PageResult {
    let open = conflicts::count_unresolved(state.db.pool()).await?;
    Ok(nav_link(open, false).into_response())
}

use crate::http::AppState;

pub async fn inbox(State(state): State<AppState>, visitor: Visitor) -> PageResult {
    let list = inbox_list(&state, &visitor).await?;
    let body = html! {
        h1 { "Conflicts" }
        p.help {
            "A conflict means a task was changed in Atlas and in Altimeter at nearly the same time. "
            "Nothing is lost: both versions are kept until someone chooses."
        }
        (list)
    };
    Ok(layout("Conflicts", Some(&visitor), Section::Conflicts, body).into_response())
}

pub async fn inbox_fragment(State(state): State<AppState>, visitor: Visitor) -> PageResult {
    Ok(inbox_list(&state, &visitor).await?.into_response())
}

async fn views(state: &AppState, status: ConflictStatus) -> PageResult<Vec<ConflictView>> {
    let rows = conflicts::list(state.db.pool(), Some(status), None, None, 200).await?;
    let mut out = Vec::with_capacity(rows.len());
    for conflict in rows {
        let task = task_store::get(state.db.pool(), conflict.task_id).await?;
        out.push(view(conflict, task.as_ref()));
    }
    Ok(out)
}

async fn inbox_list(state: &AppState, visitor: &Visitor) -> PageResult<Markup> {
    let open = views(state, ConflictStatus::Unresolved).await?;
    let auto = views(state, ConflictStatus::AutoResolved).await?;
    let editor = visitor.may(Role::Editor);
    Ok(html! {
        div #conflict-inbox data-fragment="/conflicts/inbox" data-topics="conflicts" {
            h2 { "Waiting for a decision (" (open.len()) ")" }
            @if open.is_empty() {
                p.banner.ok { "No open conflicts. ✓" }
            } @else {
                table {
                    thead { tr { th scope="col" { "Task" } th scope="col" { "In conflict" } th scope="col" { "Since" } th scope="col" {} } }
                    tbody {
                        @for v in &open {
                            tr {
                                td { a href=(format!("/tasks/{}", v.conflict.task_id)) { (v.task_title) } }
                                td {
                                    @if v.conflict.kind == ConflictKind::EditDelete { "edited on one side, deleted on the other" }
                                    @else { (v.conflict.fields.iter().map(|f| label(*f)).collect::<Vec<_>>().join(", ")) }
                                }
                                td { (when(v.conflict.created_at)) }
                                td { a.button.primary href=(format!("/conflicts/{}", v.conflict.id)) {
                                    @if editor { "Resolve…" } @else { "View" }
                                } }
                            }
                        }
                    }
                }
            }
            h2 { "Settled automatically (" (auto.len()) ")" }
            p.help { "Changed on both sides longer apart than the conflict window: the later change won. The value that lost is kept here." }
            @if auto.is_empty() {
                p { "None." }
            } @else {
                table {
                    thead { tr { th scope="col" { "Task" } th scope="col" { "Kept" } th scope="col" { "Lost" } th scope="col" { "When" } th scope="col" {} } }
                    tbody {
                        @for v in &auto {
                            @let (kept, lost) = sides(&v.conflict);
                            tr {
                                td { a href=(format!("/tasks/{}", v.conflict.task_id)) { (v.task_title) } }
                                td { @for f in &v.conflict.fields { div { strong { (label(*f)) } ": " (shown(&value_of(*f, &kept.fields))) } } }
                                td { @for f in &v.conflict.fields { div { strong { (label(*f)) } ": " (shown(&value_of(*f, &lost.fields))) } } }
                                td { (when(v.conflict.created_at)) }
                                td {
                                    @if editor && !lost.deleted {
                                        form method="post" action=(format!("/conflicts/{}/restore", v.conflict.id)) {
                                            (csrf_field(&visitor.session))
                                            button type="submit" { "Restore this value" }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

/// (the side that won, the side that lost) of an automatically settled conflict.
fn sides(c: &Conflict) -> (&crate::model::Snapshot, &crate::model::Snapshot) {
    match c.winner {
        Some(Winner::Remote) => (&c.remote, &c.local),
        _ => (&c.local, &c.remote),
    }
}

async fn load(state: &AppState, id: &str) -> PageResult<(Uuid, ConflictView)> {
    let missing = || PageError::NotFound(format!("There is no conflict `{id}`."));
    let id = Uuid::parse_str(id).map_err(|_| missing())?;
    let conflict = conflicts::get(state.db.pool(), id)
        .await?
        .ok_or_else(missing)?;
    let task = task_store::get(state.db.pool(), conflict.task_id).await?;
    Ok((id, view(conflict, task.as_ref())))
}

pub async fn for_task(
    State(state): State<AppState>,
    _: Visitor,
    Path(id): Path<String>,
) -> PageResult {
    let task_id = Uuid::parse_str(&id).map_err(|_| PageError::NotFound("No such task.".into()))?;
    match conflicts::open_for_task(state.db.pool(), task_id).await? {
        Some(c) => Ok(Redirect::to(&format!("/conflicts/{}", c.id)).into_response()),
        None => Ok(Redirect::to(&format!("/tasks/{task_id}")).into_response()),
    }
}

pub async fn dialog(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> PageResult {
    let (_, v) = load(&state, &id).await?;
    let content = dialog_content(&state, &visitor, &v, None).await?;
    let body = html! {
        p { a href="/conflicts" { "← All conflicts" } }
        (content)
    };
    Ok(layout(
        &format!("Conflict: {}", v.task_title),
        Some(&visitor),
        Section::Conflicts,
        body,
    )
    .into_response())
}

pub async fn dialog_fragment(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> PageResult {
    let (_, v) = load(&state, &id).await?;
    Ok(dialog_content(&state, &visitor, &v, None)
        .await?
        .into_response())
}

/// Who last changed the task in Atlas, from its history.
async fn atlas_editor(state: &AppState, task_id: Uuid) -> PageResult<Option<String>> {
    let entries = history::list(state.db.pool(), task_id, None, 1000).await?;
    Ok(entries
        .iter()
        .rev()
        .find(|e| e.source == HistorySource::Local)
        .and_then(|e| e.actor.clone()))
}

async fn dialog_content(
    state: &AppState,
    visitor: &Visitor,
    v: &ConflictView,
    problem: Option<&str>,
) -> PageResult<Markup> {
    let c = &v.conflict;
    let fragment = format!("/conflicts/{}/dialog", c.id);
    let editor = visitor.may(Role::Editor);
    let who = atlas_editor(state, c.task_id).await?;
    let base = c.base.as_ref().map(|b| &b.fields);
    let merged: Vec<Field> = Field::ALL
        .into_iter()
        .filter(|f| !c.fields.contains(f))
        .filter(|f| {
            base.is_some_and(|b| f.differs(b, &c.local.fields) || f.differs(b, &c.remote.fields))
        })
        .collect();
    let edit_delete = c.kind == ConflictKind::EditDelete || c.local.deleted != c.remote.deleted;
    let action = format!("/conflicts/{}/resolve", c.id);
    Ok(html! {
        dialog #conflict-dialog open data-modal data-later="/conflicts" data-fragment=(fragment)
            data-topics="conflicts" aria-labelledby="conflict-title" {
            h1 #conflict-title { (v.task_title) " — changed in Atlas and in Altimeter" }
            @if let Some(problem) = problem { p.banner.bad role="alert" { (problem) } }
            @if c.status != ConflictStatus::Unresolved {
                p.banner.ok role="status" {
                    "This conflict is settled"
                    @if let Some(by) = &c.resolved_by { " by " (by) }
                    @if let Some(at) = c.resolved_at { " at " (when(at)) }
                    "."
                }
                p { a.button href=(format!("/tasks/{}", c.task_id)) { "Open the task" } }
            } @else if edit_delete {
                @let remote_deleted = c.remote.deleted;
                p {
                    @if remote_deleted { "Altimeter deleted this task, and it was edited in Atlas." }
                    @else { "This task was deleted in Atlas, and edited in Altimeter." }
                }
                p.muted { "Atlas: " (who.as_deref().unwrap_or("someone")) ", " (when(c.local_edited_at))
                    " · Altimeter: " (when(c.remote_edited_at)) }
                @if editor {
                    form method="post" action=(action) {
                        (csrf_field(&visitor.session))
                        div.actions {
                            @if remote_deleted {
                                button.primary #keep-local name="resolution" value="keep_local" { "Keep it (it is created in Altimeter again)" }
                                button.danger #accept-remote name="resolution" value="accept_remote" { "Delete it here too (it stays in the history)" }
                            } @else {
                                button.primary #accept-remote name="resolution" value="accept_remote" { "Bring it back with Altimeter's version" }
                                button.danger #keep-local name="resolution" value="keep_local" { "Delete it in Altimeter too" }
                            }
                            a.button #later href="/conflicts" { "Decide later" }
                        }
                    }
                }
            } @else {
                form method="post" action=(action) {
                    (csrf_field(&visitor.session))
                    table {
                        thead { tr { th scope="col" { "Field" } th scope="col" { "Before (base)" } th scope="col" { "Atlas" } th scope="col" { "Altimeter" } } }
                        tbody {
                            @for f in &c.fields {
                                @let name = f.name();
                                @let local = value_of(*f, &c.local.fields);
                                @let remote = value_of(*f, &c.remote.fields);
                                tr {
                                    th scope="row" { (label(*f)) }
                                    td { (base.map(|b| shown(&value_of(*f, b))).unwrap_or_else(|| "—".into())) }
                                    td {
                                        @if editor {
                                            fieldset {
                                                legend.muted { "Keep for " (label(*f)) ":" }
                                                label { input type="radio" name=(format!("choice_{name}")) value="local" checked; " " (shown(&local)) }
                                                label { input type="radio" name=(format!("choice_{name}")) value="other"; " other: " }
                                                input type="text" name=(format!("other_{name}")) id=(format!("other_{name}"))
                                                    aria-label=(format!("Another value for {}", label(*f)));
                                            }
                                        } @else { (shown(&local)) }
                                    }
                                    td {
                                        @if editor {
                                            label { input type="radio" name=(format!("choice_{name}")) value="remote"; " " (shown(&remote)) }
                                        } @else { (shown(&remote)) }
                                    }
                                }
                            }
                            @for f in &merged {
                                @let local = value_of(*f, &c.local.fields);
                                @let remote = value_of(*f, &c.remote.fields);
                                tr.muted {
                                    th scope="row" { (label(*f)) }
                                    td { (base.map(|b| shown(&value_of(*f, b))).unwrap_or_else(|| "—".into())) }
                                    td colspan="2" {
                                        @if local != remote { (shown(&local)) " / " (shown(&remote)) }
                                        @else { (shown(&local)) }
                                        " — merged, kept automatically (changed on one side only)"
                                    }
                                }
                            }
                        }
                    }
                    p.muted { "Atlas: " (who.as_deref().unwrap_or("someone")) ", " (when(c.local_edited_at))
                        " · Altimeter: " (when(c.remote_edited_at)) }
                    @if editor {
                        div.actions {
                            button.primary #keep-local name="resolution" value="keep_local" { "Keep Atlas" }
                            button #accept-remote name="resolution" value="accept_remote" { "Accept Altimeter" }
                            button #save-choices name="resolution" value="merge" { "Save my choices" }
                            a.button #later href="/conflicts" { "Decide later" }
                        }
                    } @else {
                        p.muted { "Only editors can resolve conflicts." }
                        a.button #later href="/conflicts" { "Back" }
                    }
                }
            }
        }
    })
}

/// The fields a "Save my choices" keeps: each conflicting field's chosen side,
/// or the typed value.
fn chosen_fields(c: &Conflict, form: &HashMap<String, String>) -> Map<String, Value> {
    let mut out = Map::new();
    for f in &c.fields {
        let name = f.name();
        let value = match form.get(&format!("choice_{name}")).map(String::as_str) {
            Some("remote") => value_of(*f, &c.remote.fields),
            Some("other") => {
                let typed = form
                    .get(&format!("other_{name}"))
                    .cloned()
                    .unwrap_or_default();
                match (*f, typed.trim()) {
                    (Field::Assignee | Field::DueDate, "") => Value::Null,
                    _ => Value::String(typed),
                }
            }
            _ => value_of(*f, &c.local.fields),
        };
        out.insert(name.to_owned(), value);
    }
    out
}

pub async fn submit(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> PageResult {
    visitor.require(Role::Editor)?;
    visitor.check_form(&headers, form.get("_csrf").map_or("", String::as_str))?;
    let (conflict_id, v) = load(&state, &id).await?;
    let resolution = match form.get("resolution").map(String::as_str) {
        Some("keep_local") => Resolution::KeepLocal,
        Some("accept_remote") => Resolution::AcceptRemote,
        Some("merge") => Resolution::Merge,
        _ => return Err(PageError::NotFound("Choose one of the buttons.".into())),
    };
    let fields = (resolution == Resolution::Merge).then(|| chosen_fields(&v.conflict, &form));
    let request = ResolveRequest { resolution, fields };
    match resolve::resolve(
        &state.db,
        &state.outbox,
        conflict_id,
        request,
        &visitor.session.caller.name,
    )
    .await
    {
        Ok(task) => Ok(Redirect::to(&format!("/tasks/{}", task.id)).into_response()),
        Err(
            e @ (ResolveError::BadRequest(_)
            | ResolveError::Invalid(_)
            | ResolveError::AlreadyResolved(_)),
        ) => {
            let problem = match &e {
                ResolveError::Invalid(v) => {
                    v.0.iter()
                        .map(|f| format!("{}: {}", f.field, f.message))
                        .collect::<Vec<_>>()
                        .join("; ")
                }
                other => other.to_string(),
            };
            let (_, fresh) = load(&state, &id).await?;
            let content = dialog_content(&state, &visitor, &fresh, Some(&problem)).await?;
            let body = html! { p { a href="/conflicts" { "← All conflicts" } } (content) };
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                layout("Conflict", Some(&visitor), Section::Conflicts, body),
            )
                .into_response())
        }
        Err(ResolveError::NotFound) => Err(PageError::NotFound(
            "That conflict no longer exists.".into(),
        )),
        Err(ResolveError::Internal(cause)) => Err(PageError::Internal(cause)),
    }
}

#[derive(Debug, serde::Deserialize)]
pub struct Restore {
    #[serde(rename = "_csrf")]
    csrf: String,
}

/// Puts an automatically settled conflict's losing values back, as an edit.
pub async fn restore(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Restore>,
) -> PageResult {
    visitor.require(Role::Editor)?;
    visitor.check_form(&headers, &form.csrf)?;
    let (_, v) = load(&state, &id).await?;
    let c = &v.conflict;
    let (kept, lost) = sides(c);
    let mut changed = Map::new();
    for f in differing_fields(&kept.fields, &lost.fields) {
        if c.fields.contains(&f) {
            changed.insert(f.name().to_owned(), value_of(f, &lost.fields));
        }
    }
    let patch: TaskPatch = serde_json::from_value(Value::Object(changed))
        .map_err(|e| PageError::Internal(anyhow::anyhow!("restoring values: {e}")))?;
    tasks::update(
        &state.db,
        &state.outbox,
        c.task_id,
        patch,
        None,
        &visitor.session.caller.name,
    )
    .await
    .map_err(|e| PageError::from(crate::http::error::ApiError::from(e)))?;
    Ok(Redirect::to(&format!("/tasks/{}", c.task_id)).into_response())
}
