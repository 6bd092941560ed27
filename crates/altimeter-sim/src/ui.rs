//! The plain HTML page at `/`: a person "in Altimeter" lists, creates, edits and
//! deletes tasks. Changes take the same path as the API (versions, webhooks).

use altimeter_api::{CreateTask, Priority, RemoteTask, Status, TaskFields, parse_due_date};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde::Deserialize;

use crate::faults::Faults;
use crate::state::SimState;
use crate::store::StoreError;

const STYLE: &str = "
body { font-family: system-ui, sans-serif; margin: 2rem auto; max-width: 70rem; color: #222; }
h1 { font-size: 1.4rem; } h1 small { color: #777; font-weight: normal; }
table { border-collapse: collapse; width: 100%; margin: 1rem 0; }
th, td { text-align: left; padding: .35rem .6rem; border-bottom: 1px solid #ddd; }
tr.deleted td { color: #999; text-decoration: line-through; }
form.task label { display: block; margin: .6rem 0 .2rem; font-weight: 600; }
form.task input, form.task select, form.task textarea { width: 100%; max-width: 30rem; padding: .3rem; }
.error { background: #fde8e8; border: 1px solid #e99; padding: .6rem; }
button { padding: .35rem .9rem; margin-top: .8rem; }
";

pub fn router(state: SimState) -> Router {
    Router::new()
        .route("/", get(index))
        .route("/ui/tasks", post(create))
        .route("/ui/tasks/{id}", get(edit).post(save))
        .route("/ui/tasks/{id}/delete", post(delete))
        .route("/ui/faults", post(toggle_fault))
        .with_state(state)
}

/// The form as typed: text everywhere, so a bad value can be shown back.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TaskForm {
    title: String,
    description: String,
    status: String,
    priority: String,
    assignee: String,
    due_date: String,
    version: String,
}

impl TaskForm {
    fn from_task(task: &RemoteTask) -> Self {
        let f = &task.fields;
        TaskForm {
            title: f.title.clone(),
            description: f.description.clone(),
            status: f.status.as_str().to_owned(),
            priority: f.priority.as_str().to_owned(),
            assignee: f.assignee.clone().unwrap_or_default(),
            due_date: f.due_date.map(|d| d.to_string()).unwrap_or_default(),
            version: task.version.to_string(),
        }
    }

    /// The fields this form describes, or a message saying what to fix.
    fn fields(&self) -> Result<TaskFields, String> {
        let assignee = self.assignee.trim();
        let due_date = self.due_date.trim();
        let fields = TaskFields {
            title: self.title.clone(),
            description: self.description.clone(),
            status: self.status.parse().map_err(|e| format!("status: {e}"))?,
            priority: self
                .priority
                .parse()
                .map_err(|e| format!("priority: {e}"))?,
            assignee: (!assignee.is_empty()).then(|| assignee.to_owned()),
            due_date: match due_date {
                "" => None,
                raw => Some(parse_due_date(raw).map_err(|e| format!("due date: {e}"))?),
            },
        };
        fields.validate().map_err(|e| e.to_string())?;
        Ok(fields)
    }
}

/// The failures a person can switch on from the page, each with what it does.
const FAULTS: [(&str, &str); 3] = [
    ("outage", "Outage: every API call answers 503"),
    ("slow", "Slow: every API call takes 2 s"),
    ("drop_webhooks", "Drop webhooks: changes here send none"),
];

fn fault_is_on(faults: &Faults, key: &str) -> bool {
    match key {
        "outage" => faults.outage,
        "slow" => faults.latency_ms >= SLOW_MS,
        "drop_webhooks" => faults.webhook_drop_rate >= 1.0,
        _ => false,
    }
}

const SLOW_MS: u64 = 2_000;

fn faults_section(faults: &Faults) -> Markup {
    html! {
        h2 { "Faults" }
        p { "Switch a failure on to see how the system syncing with this one copes: errors, retries, recovery." }
        form method="post" action="/ui/faults" {
            @for (key, label) in FAULTS {
                @let on = fault_is_on(faults, key);
                button type="submit" name="toggle" value=(key) aria-pressed=(on) {
                    (if on { "ON — " } else { "off — " }) (label)
                }
                " "
            }
        }
    }
}

#[derive(Debug, Deserialize)]
struct Toggle {
    toggle: String,
}

async fn toggle_fault(State(state): State<SimState>, Form(form): Form<Toggle>) -> Response {
    let mut faults = state.faults();
    let on = !fault_is_on(&faults, &form.toggle);
    match form.toggle.as_str() {
        "outage" => faults.outage = on,
        "slow" => faults.latency_ms = if on { SLOW_MS } else { 0 },
        "drop_webhooks" => faults.webhook_drop_rate = if on { 1.0 } else { 0.0 },
        other => {
            return message_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("no fault `{other}`"),
            );
        }
    }
    state.set_faults(faults);
    Redirect::to("/").into_response()
}

async fn index(State(state): State<SimState>) -> Markup {
    let mut tasks = state.tasks();
    tasks.reverse();
    page(
        "Tasks",
        html! {
            p { "Every change made here is a change \"in Altimeter\": the version goes up and a webhook is sent." }
            (faults_section(&state.faults()))
            (task_table(&tasks))
            h2 { "New task" }
            (task_form("/ui/tasks", &TaskForm::default(), "Create"))
        },
    )
}

fn task_table(tasks: &[RemoteTask]) -> Markup {
    html! {
        table {
            thead { tr { th { "Title" } th { "Status" } th { "Priority" } th { "Assignee" }
                th { "Due" } th { "Version" } th { "Deleted" } th { "Updated (UTC)" } th {} } }
            tbody {
                @if tasks.is_empty() { tr { td colspan="9" { "No tasks yet." } } }
                @for task in tasks {
                    tr class=[task.deleted.then_some("deleted")] {
                        td { (task.fields.title) }
                        td { (task.fields.status.as_str()) }
                        td { (task.fields.priority.as_str()) }
                        td { (task.fields.assignee.as_deref().unwrap_or("")) }
                        td { (task.fields.due_date.map(|d| d.to_string()).unwrap_or_default()) }
                        td { (task.version) }
                        td { (if task.deleted { "yes" } else { "no" }) }
                        td { (task.updated_at.format("%Y-%m-%d %H:%M:%S")) }
                        td { @if !task.deleted { a href={ "/ui/tasks/" (task.id) } { "Edit" } } }
                    }
                }
            }
        }
    }
}

fn task_form(action: &str, form: &TaskForm, button: &str) -> Markup {
    html! {
        form.task method="post" action=(action) {
            input type="hidden" name="version" value=(form.version);
            label for="title" { "Title" }
            input #title name="title" value=(form.title) required;
            label for="description" { "Description" }
            textarea #description name="description" rows="3" { (form.description) }
            label for="status" { "Status" }
            select #status name="status" {
                @for s in Status::ALL {
                    option value=(s.as_str()) selected[s.as_str() == form.status] { (s.as_str()) }
                }
            }
            label for="priority" { "Priority" }
            select #priority name="priority" {
                @for p in Priority::ALL {
                    option value=(p.as_str()) selected[p.as_str() == form.priority] { (p.as_str()) }
                }
            }
            label for="assignee" { "Assignee" }
            input #assignee name="assignee" value=(form.assignee);
            label for="due_date" { "Due date (YYYY-MM-DD)" }
            input #due_date name="due_date" value=(form.due_date) pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}";
            div { button type="submit" { (button) } }
        }
    }
}

async fn create(State(state): State<SimState>, Form(form): Form<TaskForm>) -> Response {
    let fields = match form.fields() {
        Ok(fields) => fields,
        Err(message) => {
            return form_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "New task",
                "/ui/tasks",
                &form,
                &message,
            );
        }
    };
    let request = CreateTask {
        external_id: None,
        fields,
    };
    match state.create_task(request, None) {
        Ok(_) => Redirect::to("/").into_response(),
        Err(e) => message_page(StatusCode::CONFLICT, &e.to_string()),
    }
}

async fn edit(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    match state.get_task(&id) {
        Ok(task) => form_page(
            StatusCode::OK,
            "Edit task",
            &edit_url(&id),
            &TaskForm::from_task(&task),
            "",
        ),
        Err(e) => store_error_page(&e),
    }
}

async fn save(
    State(state): State<SimState>,
    Path(id): Path<String>,
    Form(form): Form<TaskForm>,
) -> Response {
    let action = edit_url(&id);
    let fields = match form.fields() {
        Ok(fields) => fields,
        Err(message) => {
            return form_page(
                StatusCode::UNPROCESSABLE_ENTITY,
                "Edit task",
                &action,
                &form,
                &message,
            );
        }
    };
    // The version the person saw, so an edit over a newer change is not lost.
    let seen = form.version.trim().parse().ok();
    match state.update_task(&id, fields, seen) {
        Ok(_) => Redirect::to("/").into_response(),
        Err(StoreError::VersionMismatch(current)) => {
            let message = format!(
                "This task changed while you were editing it (now version {}). Your edit was not saved; here is the current task.",
                current.version
            );
            form_page(
                StatusCode::CONFLICT,
                "Edit task",
                &action,
                &TaskForm::from_task(&current),
                &message,
            )
        }
        Err(e) => store_error_page(&e),
    }
}

async fn delete(State(state): State<SimState>, Path(id): Path<String>) -> Response {
    match state.delete_task(&id, None) {
        Ok(_) => Redirect::to("/").into_response(),
        Err(e) => store_error_page(&e),
    }
}

fn edit_url(id: &str) -> String {
    format!("/ui/tasks/{id}")
}

fn form_page(
    status: StatusCode,
    title: &str,
    action: &str,
    form: &TaskForm,
    error: &str,
) -> Response {
    let is_edit = action != "/ui/tasks";
    let body = html! {
        @if !error.is_empty() { p.error { (error) } }
        (task_form(action, form, if is_edit { "Save" } else { "Create" }))
        @if is_edit {
            form method="post" action={ (action) "/delete" } {
                button type="submit" { "Delete this task" }
            }
        }
        p { a href="/" { "Back to all tasks" } }
    };
    (status, page(title, body)).into_response()
}

fn store_error_page(error: &StoreError) -> Response {
    let status = match error {
        StoreError::NotFound => StatusCode::NOT_FOUND,
        StoreError::Gone(_) => StatusCode::GONE,
        StoreError::VersionMismatch(_) | StoreError::IdempotencyKeyReused => StatusCode::CONFLICT,
    };
    message_page(status, &error.to_string())
}

fn message_page(status: StatusCode, message: &str) -> Response {
    let body = html! {
        p.error { (message) }
        p { a href="/" { "Back to all tasks" } }
    };
    (status, page("Cannot do that", body)).into_response()
}

fn page(title: &str, body: Markup) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · Altimeter (simulator)" }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { "Altimeter " small { "simulator — " (title) } }
                (body)
            }
        }
    }
}
