//! Local task writes: every change made through Atlas (API, UI, CLI) goes through
//! here, so each one bumps `version`, stamps `updated_at`, records its history and
//! queues its push to Altimeter (the outbox) in one transaction.

use altimeter_api::{FieldError, Priority, Status, TaskFields, ValidationError};
use anyhow::Context;
use chrono::NaiveDate;
use serde::{Deserialize, Deserializer, de::Error as _};
use sqlx::{Any, Transaction};
use uuid::Uuid;

use crate::db::{Db, now};
use crate::model::{HistorySource, Task};
use crate::store::history::{self, Origin};
use crate::store::tasks as task_store;
use crate::sync::outbox::Outbox;
use crate::sync::task_status;

/// A partial task as a client sends it: absent fields stay as they are, and
/// `null` clears `assignee` or `due_date`. Also the body of a create, where
/// `title` is required and absent fields take their defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskPatch {
    #[serde(default, deserialize_with = "not_null")]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub description: Option<String>,
    #[serde(default, deserialize_with = "not_null")]
    pub status: Option<Status>,
    #[serde(default, deserialize_with = "not_null")]
    pub priority: Option<Priority>,
    #[serde(default, deserialize_with = "present")]
    pub assignee: Option<Option<String>>,
    #[serde(default, deserialize_with = "present_due_date")]
    pub due_date: Option<Option<NaiveDate>>,
}

/// A field that may be absent but, when present, must not be `null`.
fn not_null<'de, T: Deserialize<'de>, D: Deserializer<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

/// A field that is present maps to `Some`, even when its value is `null`.
fn present<'de, T: Deserialize<'de>, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

fn present_due_date<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<NaiveDate>>, D::Error> {
    let raw = Option::<String>::deserialize(d)?;
    raw.map(|s| altimeter_api::parse_due_date(&s))
        .transpose()
        .map(Some)
        .map_err(D::Error::custom)
}

impl TaskPatch {
    pub fn apply(self, fields: &mut TaskFields) {
        if let Some(v) = self.title {
            fields.title = v;
        }
        if let Some(v) = self.description {
            fields.description = v;
        }
        if let Some(v) = self.status {
            fields.status = v;
        }
        if let Some(v) = self.priority {
            fields.priority = v;
        }
        if let Some(v) = self.assignee {
            fields.assignee = v;
        }
        if let Some(v) = self.due_date {
            fields.due_date = v;
        }
    }

    /// The fields of a new task: this patch over the defaults; `title` required.
    pub fn into_new_fields(self) -> Result<TaskFields, ValidationError> {
        if self.title.is_none() {
            return Err(ValidationError(vec![FieldError::new(
                "title",
                "is required",
            )]));
        }
        let mut fields = TaskFields::titled("");
        self.apply(&mut fields);
        fields.validate()?;
        Ok(fields)
    }
}

/// Why a local write was refused; nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error("task not found")]
    NotFound,
    #[error("task was deleted")]
    Deleted,
    #[error("{}", stale_message(*expected, current.version))]
    Stale { expected: i64, current: Box<Task> },
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub fn stale_message(expected: i64, current: i64) -> String {
    format!("task changed since version {expected}; it is now at version {current}")
}

pub async fn create(
    db: &Db,
    outbox: &Outbox,
    input: TaskPatch,
    actor: &str,
) -> Result<Task, WriteError> {
    let fields = input.into_new_fields()?;
    let at = now();
    let task = Task::new(Uuid::now_v7(), fields, at);
    let mut tx = db.begin_write().await?;
    task_store::insert(&mut tx, &task).await?;
    history::record(&mut *tx, &task, local(actor)).await?;
    let task = queue_push(&mut tx, outbox, &task).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    outbox.wake();
    Ok(task)
}

/// Queues the push of a local change; returns the task as stored, with the sync
/// status that follows.
async fn queue_push(
    tx: &mut Transaction<'static, Any>,
    outbox: &Outbox,
    task: &Task,
) -> anyhow::Result<Task> {
    outbox.push_local_change(tx, task, task.updated_at).await?;
    task_status::refresh(tx, task.id).await?;
    task_store::get(&mut **tx, task.id)
        .await?
        .context("a task vanished inside its own transaction")
}

pub async fn update(
    db: &Db,
    outbox: &Outbox,
    id: Uuid,
    patch: TaskPatch,
    if_match: Option<i64>,
    actor: &str,
) -> Result<Task, WriteError> {
    let mut tx = db.begin_write().await?;
    let current = load_live(db, &mut tx, id, if_match).await?;
    let mut fields = current.fields.clone();
    patch.apply(&mut fields);
    fields.validate()?;
    if fields == current.fields {
        return Ok(current);
    }
    let mut next = current.clone();
    next.fields = fields;
    commit_change(tx, outbox, &current, next, actor).await
}

pub async fn delete(
    db: &Db,
    outbox: &Outbox,
    id: Uuid,
    if_match: Option<i64>,
    actor: &str,
) -> Result<Task, WriteError> {
    let mut tx = db.begin_write().await?;
    let current = load_live(db, &mut tx, id, if_match).await?;
    let mut next = current.clone();
    next.deleted = true;
    commit_change(tx, outbox, &current, next, actor).await
}

fn local(actor: &str) -> Origin<'_> {
    Origin {
        source: HistorySource::Local,
        actor: Some(actor),
    }
}

/// Reads the task inside the write transaction (row-locked on PostgreSQL) and
/// checks it exists, is not deleted, and matches `If-Match`.
async fn load_live(
    db: &Db,
    tx: &mut Transaction<'static, Any>,
    id: Uuid,
    if_match: Option<i64>,
) -> Result<Task, WriteError> {
    let current = task_store::get_for_update(&mut **tx, id, db.backend())
        .await?
        .ok_or(WriteError::NotFound)?;
    if current.deleted {
        return Err(WriteError::Deleted);
    }
    match if_match {
        Some(expected) if expected != current.version => Err(WriteError::Stale {
            expected,
            current: Box::new(current),
        }),
        _ => Ok(current),
    }
}

async fn commit_change(
    mut tx: Transaction<'static, Any>,
    outbox: &Outbox,
    current: &Task,
    mut next: Task,
    actor: &str,
) -> Result<Task, WriteError> {
    next.version = current.version + 1;
    next.updated_at = now();
    if !task_store::update(&mut tx, &next, current.version).await? {
        return Err(WriteError::Stale {
            expected: current.version,
            current: Box::new(current.clone()),
        });
    }
    history::record(&mut *tx, &next, local(actor)).await?;
    let next = queue_push(&mut tx, outbox, &next).await?;
    tx.commit().await.map_err(anyhow::Error::from)?;
    outbox.wake();
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patch(json: &str) -> TaskPatch {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn null_clears_and_absent_keeps() {
        let mut fields = TaskFields::titled("t");
        fields.assignee = Some("ana".into());
        fields.due_date = NaiveDate::from_ymd_opt(2027, 1, 2);
        patch(r#"{"assignee": null}"#).apply(&mut fields);
        assert_eq!(fields.assignee, None);
        assert!(fields.due_date.is_some());
        patch(r#"{"due_date": null, "status": "done"}"#).apply(&mut fields);
        assert_eq!(fields.due_date, None);
        assert_eq!(fields.status, Status::Done);
    }

    #[test]
    fn create_needs_a_title_and_validates() {
        assert_eq!(
            patch("{}").into_new_fields().unwrap_err().0[0].message,
            "is required"
        );
        assert!(patch(r#"{"title": " "}"#).into_new_fields().is_err());
        let fields = patch(r#"{"title": "Pour", "priority": "high"}"#)
            .into_new_fields()
            .unwrap();
        assert_eq!(fields.priority, Priority::High);
        assert_eq!(fields.status, Status::Open);
    }

    #[test]
    fn null_is_refused_where_a_field_cannot_be_empty() {
        for field in ["title", "description", "status", "priority"] {
            let json = format!(r#"{{"{field}": null}}"#);
            assert!(serde_json::from_str::<TaskPatch>(&json).is_err(), "{field}");
        }
        assert_eq!(patch("{}"), TaskPatch::default());
    }

    #[test]
    fn unknown_fields_and_bad_dates_are_refused() {
        assert!(serde_json::from_str::<TaskPatch>(r#"{"titel": "x"}"#).is_err());
        let err = serde_json::from_str::<TaskPatch>(r#"{"due_date": "2026-02-30"}"#).unwrap_err();
        assert!(err.to_string().contains("not a real calendar date"));
    }
}
