//! A person's resolution of a conflict: keep the local version, accept the remote
//! one, or merge field by field. The chosen result becomes the task, the remote
//! version shown becomes the base, and a push carries the result to Altimeter.

use altimeter_api::ValidationError;
use anyhow::Context;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::merge::ConflictKind;
use super::outbox::Outbox;
use super::task_status;
use crate::db::{Db, now};
use crate::model::{HistorySource, Snapshot, Task};
use crate::store::conflicts::{self, Conflict, ConflictStatus};
use crate::store::history::{self, Origin};
use crate::store::tasks;
use crate::tasks::TaskPatch;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Resolution {
    KeepLocal,
    AcceptRemote,
    Merge,
}

impl Resolution {
    pub fn as_str(self) -> &'static str {
        match self {
            Resolution::KeepLocal => "keep_local",
            Resolution::AcceptRemote => "accept_remote",
            Resolution::Merge => "merge",
        }
    }
}

/// `{"resolution": "keep_local" | "accept_remote" | "merge", "fields": {...}}`;
/// with `merge`, `fields` gives the value to keep for each conflicting field.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    pub resolution: Resolution,
    #[serde(default)]
    pub fields: Option<Map<String, Value>>,
}

#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    #[error("conflict not found")]
    NotFound,
    #[error("this conflict is already {}", .0.as_str())]
    AlreadyResolved(ConflictStatus),
    #[error("{0}")]
    BadRequest(String),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

pub async fn resolve(
    db: &Db,
    outbox: &Outbox,
    conflict_id: Uuid,
    request: ResolveRequest,
    actor: &str,
) -> Result<Task, ResolveError> {
    let mut tx = db.begin_write().await?;
    let conflict = conflicts::get(&mut *tx, conflict_id)
        .await?
        .ok_or(ResolveError::NotFound)?;
    if conflict.status != ConflictStatus::Unresolved {
        return Err(ResolveError::AlreadyResolved(conflict.status));
    }
    let task = tasks::get_for_update(&mut *tx, conflict.task_id, db.backend())
        .await?
        .ok_or(ResolveError::NotFound)?;
    let local = task.snapshot();
    let chosen = choose(&conflict, &local, &request)?;
    let at = now();
    let mut next = task.clone();
    if chosen != local {
        next.fields = chosen.fields.clone();
        next.deleted = chosen.deleted;
        next.version += 1;
        next.updated_at = at;
    }
    let recreate = conflict.remote.deleted && !chosen.deleted;
    if recreate {
        // Altimeter deleted it; keeping it means creating it there again.
        next.remote_id = None;
        next.remote_version = None;
        next.sync_base = None;
        next.link_generation += 1;
    } else {
        next.remote_version = Some(conflict.remote_version);
        next.sync_base = Some(conflict.remote.clone());
    }
    tasks::update(&mut *tx, &next, task.version).await?;
    if chosen != local {
        let origin = Origin {
            source: HistorySource::Resolution,
            actor: Some(actor),
        };
        history::record(&mut *tx, &next, origin).await?;
    }
    conflicts::mark_resolved(&mut tx, conflict.id, request.resolution.as_str(), actor, at).await?;
    if recreate || chosen != conflict.remote {
        outbox.push(&mut tx, task.id, "resolution", at, at).await?;
    }
    task_status::refresh(&mut tx, task.id).await?;
    let resolved = tasks::get(&mut *tx, task.id)
        .await?
        .context("task vanished while resolving")?;
    tx.commit()
        .await
        .context("committing the resolution failed")?;
    outbox.wake();
    tracing::info!(conflict_id = %conflict.id, task_id = %task.id, resolution = request.resolution.as_str(), "conflict resolved");
    Ok(resolved)
}

/// The version the person chose.
fn choose(
    conflict: &Conflict,
    local: &Snapshot,
    request: &ResolveRequest,
) -> Result<Snapshot, ResolveError> {
    match (request.resolution, &request.fields) {
        (Resolution::KeepLocal, None) => Ok(local.clone()),
        (Resolution::AcceptRemote, None) => Ok(conflict.remote.clone()),
        (Resolution::Merge, Some(fields)) => merged(conflict, local, fields),
        (Resolution::Merge, None) => Err(ResolveError::BadRequest(
            "a merge needs `fields`: the value to keep for each conflicting field".into(),
        )),
        (_, Some(_)) => Err(ResolveError::BadRequest(
            "`fields` goes only with the `merge` resolution".into(),
        )),
    }
}

/// The local version with the chosen value of every conflicting field.
fn merged(
    conflict: &Conflict,
    local: &Snapshot,
    chosen: &Map<String, Value>,
) -> Result<Snapshot, ResolveError> {
    if conflict.kind == ConflictKind::EditDelete || local.deleted || conflict.remote.deleted {
        return Err(ResolveError::BadRequest(
            "an edit-versus-delete conflict is resolved with keep_local or accept_remote".into(),
        ));
    }
    let differing = super::merge::differing_fields(&local.fields, &conflict.remote.fields);
    let missing: Vec<_> = differing
        .iter()
        .map(|f| f.name())
        .filter(|name| !chosen.contains_key(*name))
        .collect();
    if !missing.is_empty() {
        return Err(ResolveError::BadRequest(format!(
            "choose a value for every conflicting field; missing: {}",
            missing.join(", ")
        )));
    }
    let encoded = serde_json::to_vec(chosen).context("encoding fields")?;
    let patch: TaskPatch = crate::json::parse(&encoded)
        .map_err(|e| ResolveError::BadRequest(format!("fields: {e}")))?;
    let mut result = local.clone();
    patch.apply(&mut result.fields);
    result.fields.validate()?;
    Ok(result)
}
