//! The task form: what was typed, kept as text so it can be shown back with the
//! API's own message next to each field.

use altimeter_api::{FieldError, Priority, Status, ValidationError};
use maud::{Markup, html};
use serde::Deserialize;

use super::page::csrf_field;
use crate::auth::Session;
use crate::model::Task;
use crate::tasks::TaskPatch;

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(default)]
pub struct TaskForm {
    #[serde(rename = "_csrf")]
    pub csrf: String,
    pub title: String,
    pub description: String,
    pub status: String,
    pub priority: String,
    pub assignee: String,
    pub due_date: String,
    /// The version the person was editing (edits only).
    pub version: String,
}

impl TaskForm {
    pub fn blank() -> TaskForm {
        TaskForm {
            status: Status::Open.as_str().to_owned(),
            priority: Priority::Normal.as_str().to_owned(),
            ..TaskForm::default()
        }
    }

    pub fn of(task: &Task) -> TaskForm {
        let f = &task.fields;
        TaskForm {
            csrf: String::new(),
            title: f.title.clone(),
            description: f.description.clone(),
            status: f.status.as_str().to_owned(),
            priority: f.priority.as_str().to_owned(),
            assignee: f.assignee.clone().unwrap_or_default(),
            due_date: f.due_date.map(|d| d.to_string()).unwrap_or_default(),
            version: task.version.to_string(),
        }
    }

    /// Every field as a change (blank assignee or due date clears it); the API's
    /// rules decide the rest.
    pub fn patch(&self) -> Result<TaskPatch, ValidationError> {
        let mut errors = Vec::new();
        let status = self
            .status
            .parse::<Status>()
            .map_err(|e| errors.push(FieldError::new("status", e.to_string())))
            .ok();
        let priority = self
            .priority
            .parse::<Priority>()
            .map_err(|e| errors.push(FieldError::new("priority", e.to_string())))
            .ok();
        let due_date = match self.due_date.trim() {
            "" => Some(None),
            raw => altimeter_api::parse_due_date(raw)
                .map(|d| Some(Some(d)))
                .unwrap_or_else(|e| {
                    errors.push(FieldError::new("due_date", e.to_string()));
                    None
                }),
        };
        ValidationError::from_errors(errors)?;
        let assignee = self.assignee.trim();
        Ok(TaskPatch {
            title: Some(self.title.trim().to_owned()),
            description: Some(self.description.clone()),
            status,
            priority,
            assignee: Some((!assignee.is_empty()).then(|| assignee.to_owned())),
            due_date,
        })
    }

    pub fn version(&self) -> Option<i64> {
        self.version.parse().ok()
    }
}

/// The form, with each error next to its field.
pub fn render(
    session: &Session,
    action: &str,
    form: &TaskForm,
    errors: &[FieldError],
    submit: &str,
) -> Markup {
    let error_of = |field: &str| {
        errors
            .iter()
            .filter(|e| e.field == field)
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let field = |name: &str, label: &str, hint: Option<&str>, input: Markup| {
        let error = error_of(name);
        html! {
            label for=(name) {
                (label)
                @if let Some(hint) = hint { span.hint { (hint) } }
                (input)
                @if !error.is_empty() {
                    span.field-error id=(format!("{name}-error")) { "⚠ " (error) }
                }
            }
        }
    };
    let invalid = |name: &str| (!error_of(name).is_empty()).then_some("true");
    let described = |name: &str| (!error_of(name).is_empty()).then(|| format!("{name}-error"));
    html! {
        form.task method="post" action=(action) novalidate {
            (csrf_field(session))
            input type="hidden" name="version" value=(form.version);
            (field("title", "Title", None, html! {
                input #title name="title" value=(form.title) required maxlength="200"
                    aria-invalid=[invalid("title")] aria-describedby=[described("title")];
            }))
            (field("description", "Description", Some("Optional. New lines are kept."), html! {
                textarea #description name="description" rows="5"
                    aria-invalid=[invalid("description")]
                    aria-describedby=[described("description")] { (form.description) }
            }))
            (field("status", "Status", None, html! {
                select #status name="status" aria-invalid=[invalid("status")]
                    aria-describedby=[described("status")] {
                    @for s in Status::ALL {
                        option value=(s.as_str()) selected[form.status == s.as_str()] {
                            (s.as_str().replace('_', " "))
                        }
                    }
                }
            }))
            (field("priority", "Priority", None, html! {
                select #priority name="priority" aria-invalid=[invalid("priority")]
                    aria-describedby=[described("priority")] {
                    @for p in Priority::ALL {
                        option value=(p.as_str()) selected[form.priority == p.as_str()] { (p.as_str()) }
                    }
                }
            }))
            (field("assignee", "Assignee", Some("Optional: who does it, as in Altimeter."), html! {
                input #assignee name="assignee" value=(form.assignee) maxlength="100"
                    aria-invalid=[invalid("assignee")] aria-describedby=[described("assignee")];
            }))
            (field("due_date", "Due date", Some("Optional."), html! {
                input #due_date type="date" name="due_date" value=(form.due_date)
                    aria-invalid=[invalid("due_date")] aria-describedby=[described("due_date")];
            }))
            div.actions { button.primary type="submit" { (submit) } }
        }
    }
}
