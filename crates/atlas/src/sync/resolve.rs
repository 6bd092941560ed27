//! A person's resolution of a conflict: keep the local version, accept the remote
//! one, or merge field by field. The chosen result becomes the task, the remote
//! version shown becomes the base, and a push carries the result to Altimeter.

use altimeter_api::ValidationError;
use anyhow::Context;
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::merge::{ConflictKind, Field, merge_fields};
use super::outbox::Outbox;
use super::task_status;
use crate::db::{Db, now};
use crate::model::{HistorySource, Snapshot, Task};
use crate::store::conflicts::{self, Conflict, ConflictStatus};
use crate::store::history::{self, Origin};
use crate::store::{remote_deletes, tasks};
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
    let task_id = conflicts::get(&mut *tx, conflict_id)
        .await?
        .ok_or(ResolveError::NotFound)?
        .task_id;
    // The task row first (as every writer of a task does), then the conflict as
    // it stands under that lock: a pull may have updated it meanwhile.
    let task = tasks::get_for_update(&mut *tx, task_id, db.backend())
        .await?
        .ok_or(ResolveError::NotFound)?;
    let conflict = conflicts::get(&mut *tx, conflict_id)
        .await?
        .ok_or(ResolveError::NotFound)?;
    if conflict.status != ConflictStatus::Unresolved {
        return Err(ResolveError::AlreadyResolved(conflict.status));
    }
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
        // A delete the brake held names the Altimeter task being replaced.
        remote_deletes::discard_for_task(&mut tx, task.id).await?;
        // Altimeter deleted it; keeping it means creating it there again.
        next.remote_id = None;
        next.remote_version = None;
        next.sync_base = None;
        next.link_generation += 1;
    } else {
        next.remote_version = Some(conflict.remote_version);
        next.sync_base = Some(conflict.remote.clone());
    }
    tasks::update(&mut tx, &next, task.version).await?;
    if chosen != local {
        let origin = Origin {
            source: HistorySource::Resolution,
            actor: Some(actor),
        };
        history::record(&mut *tx, &next, origin).await?;
    }
    let resolution = request.resolution.as_str();
    if !conflicts::mark_resolved(&mut tx, conflict.id, task.id, resolution, actor, at).await? {
        return Err(ResolveError::AlreadyResolved(ConflictStatus::Resolved));
    }
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

/// The version the person chose. Changes made on one side only are kept, as
/// any merge keeps them; only the fields in conflict take the chosen side's
/// values (or, with `merge`, the values given).
fn choose(
    conflict: &Conflict,
    local: &Snapshot,
    request: &ResolveRequest,
) -> Result<Snapshot, ResolveError> {
    if request.fields.is_some() && request.resolution != Resolution::Merge {
        return Err(ResolveError::BadRequest(
            "`fields` goes only with the `merge` resolution".into(),
        ));
    }
    if conflict.kind == ConflictKind::EditDelete || local.deleted || conflict.remote.deleted {
        return match request.resolution {
            Resolution::KeepLocal => Ok(local.clone()),
            Resolution::AcceptRemote => Ok(conflict.remote.clone()),
            Resolution::Merge => Err(ResolveError::BadRequest(
                "an edit-versus-delete conflict is resolved with keep_local or accept_remote"
                    .into(),
            )),
        };
    }
    let base = conflict.base.as_ref().map(|b| &b.fields);
    let merge = merge_fields(base, &local.fields, &conflict.remote.fields);
    let mut result = Snapshot {
        fields: merge.merged,
        deleted: false,
    };
    match (request.resolution, &request.fields) {
        (Resolution::KeepLocal, _) => {}
        (Resolution::AcceptRemote, _) => {
            for field in &merge.conflicts {
                field.copy(&conflict.remote.fields, &mut result.fields);
            }
        }
        (Resolution::Merge, Some(chosen)) => apply_chosen(&mut result, &merge.conflicts, chosen)?,
        (Resolution::Merge, None) => {
            return Err(ResolveError::BadRequest(
                "a merge needs `fields`: the value to keep for each conflicting field".into(),
            ));
        }
    }
    Ok(result)
}

/// Applies the values a person chose; every field in conflict needs one.
fn apply_chosen(
    result: &mut Snapshot,
    conflicts: &[Field],
    chosen: &Map<String, Value>,
) -> Result<(), ResolveError> {
    let missing: Vec<_> = conflicts
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
    patch.apply(&mut result.fields);
    result.fields.validate()?;
    Ok(())
}
