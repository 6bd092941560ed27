//! The task pages: the list (filters, search, pages), a task's detail and
//! history, and the create, edit, delete and retry forms. Every live part of a
//! page is also served alone (`…/row`, `…/rows`, `…/summary`), so the script can
//! swap in exactly what a first render would show.

use altimeter_api::{FieldError, Status};
use axum::Form;
use axum::extract::{Path, Query, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use maud::{Markup, html};
use serde::Deserialize;
use uuid::Uuid;

use super::badge::{badge, badge_in_link};
use super::form::{self, TaskForm};
use super::page::{PageError, PageResult, Section, Visitor, csrf_field, layout};
use super::time::{ago, when};
use crate::auth::Role;
use crate::db::now;
use crate::http::AppState;
use crate::model::{HistoryEntry, HistorySource, SyncStatus, Task};
use crate::store::history;
use crate::store::tasks::{self as task_store, ListCursor, ListFilter};
use crate::sync::merge::{Field, differing_fields};
use crate::sync::ops;
use crate::tasks::{self, WriteError};

/// Tasks per page of the list.
const PAGE: i64 = 50;

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct ListParams {
    q: String,
    status: String,
    sync_status: String,
    assignee: String,
    cursor: String,
}

/// The filters as typed, and what they mean (or what is wrong with them).
fn filter_of(params: &ListParams) -> (ListFilter, Vec<String>) {
    let mut problems = Vec::new();
    let status = match params.status.as_str() {
        "" => None,
        s => s
            .parse::<Status>()
            .map_err(|_| problems.push(format!("unknown status `{s}` (ignored)")))
            .ok(),
    };
    let sync_status = match params.sync_status.as_str() {
        "" => None,
        s => SyncStatus::parse(s).or_else(|| {
            problems.push(format!("unknown sync status `{s}` (ignored)"));
            None
        }),
    };
    let q = params.q.trim();
    let q = if q.is_empty() {
        None
    } else if let Some(message) = altimeter_api::control_character(q, false) {
        problems.push(format!("search: {message} (ignored)"));
        None
    } else {
        Some(q.to_owned())
    };
    let assignee = params.assignee.trim();
    let filter = ListFilter {
        status,
        sync_status,
        assignee: (!assignee.is_empty()).then(|| assignee.to_owned()),
        q,
        cursor: ListCursor::parse(&params.cursor),
        limit: PAGE + 1,
    };
    (filter, problems)
}

pub async fn home(visitor: Result<Visitor, PageError>) -> Response {
    match visitor {
        Ok(_) => Redirect::to("/tasks").into_response(),
        Err(_) => Redirect::to("/sign-in").into_response(),
    }
}

pub async fn list(
    State(state): State<AppState>,
    visitor: Visitor,
    RawQuery(raw): RawQuery,
    Query(params): Query<ListParams>,
) -> PageResult {
    let (filter, problems) = filter_of(&params);
    let rows = rows(&state, raw.as_deref().unwrap_or_default(), &filter).await?;
    let status_option = |value: &str, label: &str| {
        html! { option value=(value) selected[params.status == value] { (label) } }
    };
    let sync_option = |value: &str, label: &str| {
        html! { option value=(value) selected[params.sync_status == value] { (label) } }
    };
    let body = html! {
        div.actions {
            h1 { "Tasks" }
            @if visitor.may(Role::Editor) {
                a.button.primary href="/tasks/new" { "+ New task" }
            }
        }
        @for problem in &problems { p.banner.warn role="alert" { (problem) } }
        form.filters method="get" action="/tasks" role="search" {
            label { "Search" input type="search" name="q" value=(params.q); }
            label { "Status"
                select name="status" {
                    (status_option("", "any"))
                    @for s in Status::ALL { (status_option(s.as_str(), &s.as_str().replace('_', " "))) }
                }
            }
            label { "Sync"
                select name="sync_status" {
                    (sync_option("", "any"))
                    (sync_option("pending", "waiting to sync"))
                    (sync_option("syncing", "syncing"))
                    (sync_option("synced", "synced"))
                    (sync_option("error", "error"))
                    (sync_option("conflict", "conflict"))
                }
            }
            label { "Assignee" input name="assignee" value=(params.assignee); }
            button type="submit" { "Filter" }
        }
        (rows)
    };
    Ok(layout("Tasks", Some(&visitor), Section::Tasks, body).into_response())
}

/// The list's table (and its "next page" link): the fragment `/tasks/rows`.
async fn rows(state: &AppState, query: &str, filter: &ListFilter) -> PageResult<Markup> {
    let mut found = task_store::list(state.db.pool(), filter).await?;
    let more = found.len() as i64 > PAGE;
    found.truncate(PAGE as usize);
    let next = more
        .then(|| found.last().map(|t| ListCursor::after(t).to_string()))
        .flatten();
    let fragment = format!("/tasks/rows?{query}");
    Ok(html! {
        div #task-list data-fragment=(fragment) data-topics="tasks" {
            @if found.is_empty() {
                p.banner { "No tasks match. Clear the filters, or create one." }
            } @else {
                table.tasks {
                    caption.muted { (found.len()) " task(s)" @if more { ", more on the next page" } }
                    thead { tr {
                        th scope="col" { "Task" } th scope="col" { "Status" } th scope="col" { "Priority" }
                        th scope="col" { "Assignee" } th scope="col" { "Due" } th scope="col" { "Sync" }
                    } }
                    tbody {
                        @for task in &found { (row(task)) }
                    }
                }
            }
            @if let Some(cursor) = next {
                nav.pager aria-label="Pages" {
                    a href=(next_page(query, &cursor)) { "Next page →" }
                }
            }
        }
    })
}

/// The current query with `cursor` set to `cursor`.
fn next_page(query: &str, cursor: &str) -> String {
    let kept: Vec<&str> = query
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("cursor="))
        .collect();
    let mut out = String::from("/tasks?");
    for p in kept {
        out.push_str(p);
        out.push('&');
    }
    out.push_str("cursor=");
    out.push_str(&urlencode(cursor));
    out
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn row(task: &Task) -> Markup {
    let f = &task.fields;
    html! {
        tr id=(format!("task-{}", task.id)) data-fragment=(format!("/tasks/{}/row", task.id))
            data-tasks=(task.id) {
            td.title { a href=(format!("/tasks/{}", task.id)) { (f.title) } }
            td data-label="Status" { (f.status.as_str().replace('_', " ")) }
            td data-label="Priority" { (f.priority.as_str()) }
            td data-label="Assignee" { (f.assignee.as_deref().unwrap_or("—")) }
            td data-label="Due" { (f.due_date.map(|d| d.to_string()).unwrap_or_else(|| "—".into())) }
            td {
                @if task.sync_status == SyncStatus::Conflict {
                    a href=(format!("/tasks/{}/conflict", task.id)) { (badge_in_link(task)) }
                } @else { (badge(task)) }
            }
        }
    }
}

pub async fn rows_fragment(
    State(state): State<AppState>,
    _: Visitor,
    RawQuery(raw): RawQuery,
    Query(params): Query<ListParams>,
) -> PageResult {
    let (filter, _) = filter_of(&params);
    Ok(rows(&state, raw.as_deref().unwrap_or_default(), &filter)
        .await?
        .into_response())
}

async fn load(state: &AppState, id: &str) -> PageResult<Task> {
    let missing = || PageError::NotFound(format!("There is no task `{id}`."));
    let id = Uuid::parse_str(id).map_err(|_| missing())?;
    task_store::get(state.db.pool(), id)
        .await?
        .filter(|t| !t.deleted)
        .ok_or_else(missing)
}

pub async fn row_fragment(
    State(state): State<AppState>,
    _: Visitor,
    Path(id): Path<String>,
) -> PageResult {
    let task = load(&state, &id).await?;
    Ok(row(&task).into_response())
}

pub async fn detail(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> PageResult {
    let task = load(&state, &id).await?;
    let body = html! {
        p { a href="/tasks" { "← All tasks" } }
        (summary(&task, &visitor))
        (history_section(&state, &task).await?)
    };
    Ok(layout(&task.fields.title, Some(&visitor), Section::Tasks, body).into_response())
}

pub async fn summary_fragment(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> PageResult {
    let task = load(&state, &id).await?;
    Ok(summary(&task, &visitor).into_response())
}

pub async fn history_fragment(
    State(state): State<AppState>,
    _: Visitor,
    Path(id): Path<String>,
) -> PageResult {
    let task = load(&state, &id).await?;
    Ok(history_section(&state, &task).await?.into_response())
}

/// The task's fields, badge, sync state and actions.
fn summary(task: &Task, visitor: &Visitor) -> Markup {
    let f = &task.fields;
    let editor = visitor.may(Role::Editor);
    html! {
        section #task-summary data-fragment=(format!("/tasks/{}/summary", task.id))
            data-tasks=(task.id) aria-labelledby="task-title" {
            h1 #task-title { span #task-name { (f.title) } " " (badge(task)) }
            p.muted {
                @match task.last_synced_at {
                    Some(at) => { "Last synced " (ago(at, now())) " (" (when(at)) ")" }
                    None => { "Not synced with Altimeter yet." }
                }
            }
            @if let Some(error) = &task.sync_error {
                @let class = if task.sync_status == SyncStatus::Error { "banner bad" } else { "banner warn" };
                div class=(class) role="status" {
                    p { strong { "Sync: " } (error) }
                    @if editor && task.sync_status == SyncStatus::Error {
                        form method="post" action=(format!("/tasks/{}/retry", task.id)) {
                            (csrf_field(&visitor.session))
                            button #retry type="submit" { "Retry" }
                        }
                    }
                }
            }
            dl.fields {
                dt { "Status" } dd { (f.status.as_str().replace('_', " ")) }
                dt { "Priority" } dd { (f.priority.as_str()) }
                dt { "Assignee" } dd { (f.assignee.as_deref().unwrap_or("—")) }
                dt { "Due date" } dd { (f.due_date.map(|d| d.to_string()).unwrap_or_else(|| "—".into())) }
                dt { "Description" } dd { @if f.description.is_empty() { "—" } @else { (f.description) } }
                dt { "Version" } dd { (task.version) }
                dt { "In Altimeter" } dd { (task.remote_id.as_deref().unwrap_or("not yet")) }
            }
            @if task.sync_status == SyncStatus::Conflict {
                p { a.button.primary #resolve href=(format!("/tasks/{}/conflict", task.id)) { "Resolve the conflict…" } }
            }
            @if editor {
                div.actions {
                    a.button.primary #edit href=(format!("/tasks/{}/edit", task.id)) { "Edit" }
                    a.button #delete href=(format!("/tasks/{}/delete", task.id)) { "Delete…" }
                }
            }
        }
    }
}

fn source_label(source: HistorySource) -> &'static str {
    match source {
        HistorySource::Local => "Atlas",
        HistorySource::Remote => "Altimeter",
        HistorySource::RemoteHeld => "Altimeter (held by a conflict)",
        HistorySource::Merge => "merged (both sides)",
        HistorySource::Resolution => "conflict resolved",
        HistorySource::Import => "import",
    }
}

fn field_value(field: Field, entry: &HistoryEntry) -> String {
    let f = &entry.task.fields;
    let text = match field {
        Field::Title => f.title.clone(),
        Field::Description => f.description.clone(),
        Field::Status => f.status.as_str().replace('_', " "),
        Field::Priority => f.priority.as_str().to_owned(),
        Field::Assignee => f.assignee.clone().unwrap_or_default(),
        Field::DueDate => f.due_date.map(|d| d.to_string()).unwrap_or_default(),
    };
    if text.is_empty() {
        "—".to_owned()
    } else {
        text
    }
}

/// Every version, newest first: when, which side, who, and what changed.
async fn history_section(state: &AppState, task: &Task) -> PageResult<Markup> {
    let entries = history::list(state.db.pool(), task.id, None, 500).await?;
    let mut shown = Vec::with_capacity(entries.len());
    for (i, entry) in entries.iter().enumerate() {
        let before = i.checked_sub(1).map(|j| &entries[j]);
        let changes: Vec<(Field, String, String)> = match before {
            Some(prev) => differing_fields(&prev.task.fields, &entry.task.fields)
                .into_iter()
                .map(|f| (f, field_value(f, prev), field_value(f, entry)))
                .collect(),
            None => Vec::new(),
        };
        shown.push((entry, before.is_none(), changes));
    }
    shown.reverse();
    Ok(html! {
        section #task-history data-fragment=(format!("/tasks/{}/history", task.id))
            data-tasks=(task.id) aria-labelledby="history-title" {
            h2 #history-title { "History" }
            table {
                thead { tr { th scope="col" { "When" } th scope="col" { "Where" } th scope="col" { "Who" } th scope="col" { "What changed" } } }
                tbody {
                    @for (entry, first, changes) in &shown {
                        tr {
                            td { (when(entry.recorded_at)) }
                            td { (source_label(entry.source)) }
                            td { (entry.actor.as_deref().unwrap_or("—")) }
                            td {
                                @if *first { "created" }
                                @else if entry.task.deleted { "deleted" }
                                @else if changes.is_empty() { "no field changed" }
                                @for (field, from, to) in changes {
                                    div { strong { (field.name().replace('_', " ")) } ": " (from) " → " (to) }
                                }
                            }
                        }
                    }
                }
            }
        }
    })
}

pub async fn new_form(visitor: Visitor) -> PageResult {
    visitor.require(Role::Editor)?;
    Ok(form_page(
        &visitor,
        "New task",
        "/tasks",
        &TaskForm::blank(),
        &[],
        None,
        "Create",
    )
    .into_response())
}

fn form_page(
    visitor: &Visitor,
    title: &str,
    action: &str,
    form: &TaskForm,
    errors: &[FieldError],
    notice: Option<Markup>,
    submit: &str,
) -> Markup {
    let body = html! {
        p { a href="/tasks" { "← All tasks" } }
        h1 { (title) }
        @if !errors.is_empty() {
            p.banner.bad role="alert" { "Please fix the fields marked ⚠ below; nothing was saved." }
        }
        @if let Some(notice) = notice { (notice) }
        (form::render(&visitor.session, action, form, errors, submit))
    };
    layout(title, Some(visitor), Section::Tasks, body)
}

pub async fn create(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Form(input): Form<TaskForm>,
) -> PageResult {
    visitor.require(Role::Editor)?;
    visitor.check_form(&headers, &input.csrf)?;
    let written = match input.patch() {
        Ok(patch) => {
            tasks::create(
                &state.db,
                &state.outbox,
                patch,
                &visitor.session.caller.name,
            )
            .await
        }
        Err(invalid) => Err(WriteError::Invalid(invalid)),
    };
    match written {
        Ok(task) => Ok(Redirect::to(&format!("/tasks/{}", task.id)).into_response()),
        Err(WriteError::Invalid(invalid)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            form_page(
                &visitor, "New task", "/tasks", &input, &invalid.0, None, "Create",
            ),
        )
            .into_response()),
        Err(other) => Err(PageError::from(crate::http::error::ApiError::from(other))),
    }
}

pub async fn edit_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> PageResult {
    visitor.require(Role::Editor)?;
    let task = load(&state, &id).await?;
    let title = format!("Edit “{}”", task.fields.title);
    let action = format!("/tasks/{}/edit", task.id);
    Ok(form_page(
        &visitor,
        &title,
        &action,
        &TaskForm::of(&task),
        &[],
        None,
        "Save",
    )
    .into_response())
}

pub async fn save(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(mut input): Form<TaskForm>,
) -> PageResult {
    visitor.require(Role::Editor)?;
    visitor.check_form(&headers, &input.csrf)?;
    let task = load(&state, &id).await?;
    let title = format!("Edit “{}”", task.fields.title);
    let action = format!("/tasks/{}/edit", task.id);
    let written = match input.patch() {
        Ok(patch) => {
            let actor = &visitor.session.caller.name;
            tasks::update(
                &state.db,
                &state.outbox,
                task.id,
                patch,
                input.version(),
                actor,
            )
            .await
        }
        Err(invalid) => Err(WriteError::Invalid(invalid)),
    };
    match written {
        Ok(task) => Ok(Redirect::to(&format!("/tasks/{}", task.id)).into_response()),
        Err(WriteError::Invalid(invalid)) => Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            form_page(&visitor, &title, &action, &input, &invalid.0, None, "Save"),
        )
            .into_response()),
        Err(WriteError::Stale { current, .. }) => {
            let theirs = TaskForm::of(&current);
            let notice = html! {
                div.banner.warn role="alert" {
                    p { strong { "Someone else saved this task first" } " (it is now at version "
                        (current.version) "). Nothing of yours was saved yet." }
                    p { "Their version:" }
                    dl.fields {
                        dt { "Title" } dd { (theirs.title) }
                        dt { "Status" } dd { (theirs.status.replace('_', " ")) }
                        dt { "Priority" } dd { (theirs.priority) }
                        dt { "Assignee" } dd { @if theirs.assignee.is_empty() { "—" } @else { (theirs.assignee) } }
                        dt { "Due date" } dd { @if theirs.due_date.is_empty() { "—" } @else { (theirs.due_date) } }
                        dt { "Description" } dd { @if theirs.description.is_empty() { "—" } @else { (theirs.description) } }
                    }
                    p { "The form below still holds what you typed: save again to apply it over theirs." }
                }
            };
            input.version = current.version.to_string();
            Ok((
                StatusCode::CONFLICT,
                form_page(
                    &visitor,
                    &title,
                    &action,
                    &input,
                    &[],
                    Some(notice),
                    "Save over theirs",
                ),
            )
                .into_response())
        }
        Err(other) => Err(PageError::from(crate::http::error::ApiError::from(other))),
    }
}

pub async fn delete_form(
    State(state): State<AppState>,
    visitor: Visitor,
    Path(id): Path<String>,
) -> PageResult {
    visitor.require(Role::Editor)?;
    let task = load(&state, &id).await?;
    let body = html! {
        h1 { "Delete “" (task.fields.title) "”?" }
        p { "The task is deleted in Atlas and, once synced, in Altimeter. Its history is kept." }
        form method="post" action=(format!("/tasks/{}/delete", task.id)) {
            (csrf_field(&visitor.session))
            input type="hidden" name="version" value=(task.version);
            div.actions {
                button.danger #confirm-delete type="submit" { "Delete the task" }
                a.button href=(format!("/tasks/{}", task.id)) { "Cancel" }
            }
        }
    };
    Ok(layout("Delete task", Some(&visitor), Section::Tasks, body).into_response())
}

#[derive(Debug, Deserialize)]
pub struct Confirm {
    #[serde(rename = "_csrf")]
    csrf: String,
    #[serde(default)]
    version: String,
}

pub async fn delete(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Confirm>,
) -> PageResult {
    visitor.require(Role::Editor)?;
    visitor.check_form(&headers, &form.csrf)?;
    let task = load(&state, &id).await?;
    let version = form.version.parse().ok();
    match tasks::delete(
        &state.db,
        &state.outbox,
        task.id,
        version,
        &visitor.session.caller.name,
    )
    .await
    {
        Ok(_) => Ok(Redirect::to("/tasks").into_response()),
        Err(WriteError::Stale { .. }) => {
            Ok(Redirect::to(&format!("/tasks/{}", task.id)).into_response())
        }
        Err(other) => Err(PageError::from(crate::http::error::ApiError::from(other))),
    }
}

pub async fn retry(
    State(state): State<AppState>,
    visitor: Visitor,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<Confirm>,
) -> PageResult {
    visitor.require(Role::Editor)?;
    visitor.check_form(&headers, &form.csrf)?;
    let task = load(&state, &id).await?;
    if ops::retry_failed(&state.db, &state.outbox, Some(task.id)).await? == 0 {
        ops::trigger(&state.db, &state.outbox, Some(task.id)).await?;
    }
    tracing::info!(actor = %visitor.session.caller.name, task_id = %task.id, "retry from the web UI");
    Ok(Redirect::to(&format!("/tasks/{}", task.id)).into_response())
}
