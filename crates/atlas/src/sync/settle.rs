//! Bringing a task and the current remote version together: the three-way
//! decision of `merge.rs`, applied in one transaction — local writes, the new
//! base, conflict records, held deletes and the follow-up push. Used by pulls
//! and by pushes that met a `412`.

use std::collections::BTreeMap;

use altimeter_api::RemoteTask;
use chrono::{DateTime, Utc};
use sqlx::AnyConnection;
use uuid::Uuid;

use super::brake;
use super::engine::{Engine, ItemError};
use super::merge::{self, ConflictKind, Decision, Field, Side, Winner, differing_fields};
use super::outbox::Outbox;
use crate::db::now;
use crate::model::{HistorySource, Snapshot, Task};
use crate::store::conflicts::{self, Conflict, ConflictStatus};
use crate::store::history::{self, Origin};
use crate::store::queue::QueueItem;
use crate::store::tasks::{self, Link};

/// The history actor of changes that came from Altimeter.
pub const REMOTE_ACTOR: &str = "altimeter";

pub fn snapshot_of(remote: &RemoteTask) -> Snapshot {
    Snapshot {
        fields: remote.fields.clone(),
        deleted: remote.deleted,
    }
}

/// The link a task has once it agrees with `remote` on `base`.
pub fn link_to(task: &Task, remote: &RemoteTask, base: Snapshot, at: DateTime<Utc>) -> Link {
    Link {
        remote_id: Some(remote.id.clone()),
        remote_version: Some(remote.version),
        base: Some(base),
        last_synced_at: Some(at),
        link_generation: task.link_generation,
    }
}

/// Refuses, for good, a remote task whose fields break the task rules (a
/// control character, an over-long title): Atlas cannot store it, and no retry
/// changes that until someone fixes it in Altimeter.
pub fn storable(remote: &RemoteTask) -> Result<(), ItemError> {
    if remote.deleted {
        return Ok(());
    }
    remote.fields.validate().map_err(|e| {
        ItemError::Permanent(format!(
            "Altimeter task {} cannot be stored in Atlas ({e}); fix it in Altimeter, then retry",
            remote.id
        ))
    })
}

/// Settles `task_id` against `remote` and ends `item` (if any).
pub async fn settle(
    engine: &Engine,
    item: Option<&QueueItem>,
    task_id: Uuid,
    remote: &RemoteTask,
) -> Result<(), ItemError> {
    storable(remote)?;
    let mut tx = engine.begin(item).await?;
    let task = tasks::get_for_update(&mut *tx, task_id, engine.db.backend())
        .await?
        .ok_or_else(|| ItemError::Permanent(format!("task {task_id} no longer exists in Atlas")))?;
    if task.remote_id.is_none() {
        if let Some(other) = tasks::find_by_remote_id(&mut *tx, &remote.id).await? {
            let remote_id = remote.id.clone();
            return Err(ItemError::AlreadyLinked {
                remote_id,
                other: other.id,
            });
        }
    }
    let linked_here = task.remote_id.as_deref() == Some(remote.id.as_str());
    if linked_here && remote.version <= task.remote_version.unwrap_or(i64::MIN) {
        // Our own write coming back, or an older version than we hold.
        return engine.complete(tx, item, &[task.id]).await;
    }
    if let Some(open) = conflicts::open_for_task(&mut *tx, task.id).await? {
        refresh_open_conflict(&mut tx, open, &task, remote).await?;
        return engine.complete(tx, item, &[task.id]).await;
    }
    let local_edit = history::last_local_edit(&mut *tx, task.id)
        .await?
        .unwrap_or(task.updated_at);
    let base = match &task.sync_base {
        Some(base) => Some(base.clone()),
        None => first_link_base(&mut tx, &task, remote).await?,
    };
    let field_edits = local_field_edits(&mut tx, task.id).await?;
    let decision = merge::decide(
        base.as_ref(),
        Side {
            snapshot: &task.snapshot(),
            edited_at: local_edit,
            field_edited_at: Some(&field_edits),
        },
        Side {
            snapshot: &snapshot_of(remote),
            edited_at: remote.updated_at,
            field_edited_at: None,
        },
        engine.config.conflict_window + engine.config.clock_skew,
    );
    let released = item.is_some_and(|i| i.reason == brake::RELEASED);
    act(
        &mut tx, engine, &task, remote, decision, local_edit, released,
    )
    .await?;
    engine.complete(tx, item, &[task.id]).await
}

/// When each field was last changed by a person in Atlas (a local edit or a
/// resolution), from the task's history.
async fn local_field_edits(
    conn: &mut AnyConnection,
    task_id: Uuid,
) -> anyhow::Result<BTreeMap<Field, DateTime<Utc>>> {
    let entries = history::list(&mut *conn, task_id, None, i64::MAX).await?;
    let mut edits = BTreeMap::new();
    for pair in entries.windows(2) {
        let (before, after) = (&pair[0], &pair[1]);
        if matches!(
            after.source,
            HistorySource::Local | HistorySource::Resolution
        ) {
            for field in differing_fields(&before.task.fields, &after.task.fields) {
                edits.insert(field, after.recorded_at);
            }
        }
    }
    Ok(edits)
}

/// Writes the link of `task` as read; a link moved on meanwhile (by a writer
/// that did not see this one) makes the item run again, on what is there now.
pub(super) async fn write_link(
    conn: &mut AnyConnection,
    task: &Task,
    link: &Link,
) -> Result<(), ItemError> {
    if tasks::set_link(conn, task, link).await? {
        Ok(())
    } else {
        Err(ItemError::Stale)
    }
}

/// Carries out a merge decision inside the settling transaction.
async fn act(
    conn: &mut AnyConnection,
    engine: &Engine,
    task: &Task,
    remote: &RemoteTask,
    decision: Decision,
    local_edit: DateTime<Utc>,
    released: bool,
) -> Result<(), ItemError> {
    let at = now();
    match decision {
        Decision::InSync { result } => {
            write_link(conn, task, &link_to(task, remote, result, at)).await?;
        }
        Decision::Merge {
            result,
            change_local,
            change_remote,
        } => {
            // A remote delete of a task unchanged here waits while the brake holds.
            if result.deleted && change_local && !released {
                let config = &engine.config.brake;
                let backend = engine.db.backend();
                if !brake::admit(
                    conn,
                    backend,
                    config,
                    task.id,
                    &remote.id,
                    remote.version,
                    at,
                )
                .await?
                {
                    return Ok(());
                }
            }
            let changes = (change_local, change_remote);
            converge(conn, &engine.outbox, task, remote, &result, changes, at).await?;
        }
        Decision::Hold { kind, fields } => {
            let draft = Draft {
                kind,
                fields,
                winner: None,
                local_edit,
            };
            record_conflict(conn, task, remote, draft, at).await?;
            if task.remote_id.is_none() {
                // A first link: remember which remote task the conflict is with.
                let link = Link {
                    remote_id: Some(remote.id.clone()),
                    ..Link::of(task)
                };
                write_link(conn, task, &link).await?;
            }
        }
        Decision::AutoResolved {
            result,
            winner,
            fields,
            change_local,
            change_remote,
        } => {
            let draft = Draft {
                kind: ConflictKind::Fields,
                fields,
                winner: Some(winner),
                local_edit,
            };
            record_conflict(conn, task, remote, draft, at).await?;
            let changes = (change_local, change_remote);
            converge(conn, &engine.outbox, task, remote, &result, changes, at).await?;
        }
    }
    Ok(())
}

/// The base of a task being linked for the first time, when something proves
/// what both sides agreed on:
/// - Altimeter's copy is the one our own create made (its `external_id`): it
///   started as exactly what the first create of this link generation sent
///   (or, for a task whose sent body was not recorded, what version 1 holds);
/// - the task came with a legacy `related_altimeter_task_id` and Altimeter
///   holds exactly the version it was imported with.
///
/// Otherwise nothing is known, and every difference is a conflict for the
/// window rule to weigh.
async fn first_link_base(
    conn: &mut AnyConnection,
    task: &Task,
    remote: &RemoteTask,
) -> Result<Option<Snapshot>, ItemError> {
    let remote_snapshot = snapshot_of(remote);
    if remote.external_id.as_deref() == Some(task.id.to_string().as_str()) {
        match &task.create_sent {
            Some(sent) if sent.generation == task.link_generation => {
                return Ok(Some(Snapshot {
                    fields: sent.fields.clone(),
                    deleted: false,
                }));
            }
            _ if remote.version == 1 => return Ok(Some(remote_snapshot)),
            _ => {}
        }
    }
    if task.related_altimeter_task_id.is_none() {
        return Ok(None);
    }
    let imported = history::first_of_source(conn, task.id, HistorySource::Import).await?;
    Ok(imported.filter(|snapshot| *snapshot == remote_snapshot))
}

/// Brings both sides to `result`: the remote state becomes the base, the task
/// becomes `result` if it differs (`changes.0`), and if Altimeter differs too
/// (`changes.1`) its version is kept in the history and a push is queued.
async fn converge(
    conn: &mut AnyConnection,
    outbox: &Outbox,
    task: &Task,
    remote: &RemoteTask,
    result: &Snapshot,
    (change_local, change_remote): (bool, bool),
    at: DateTime<Utc>,
) -> Result<(), ItemError> {
    let source = if change_remote {
        hold_remote_version(&mut *conn, task, remote).await?;
        HistorySource::Merge
    } else {
        HistorySource::Remote
    };
    apply(
        &mut *conn,
        task,
        remote,
        change_local.then_some(result),
        source,
        at,
    )
    .await?;
    if change_remote {
        outbox.push(conn, task.id, "merge", at, at).await?;
    }
    Ok(())
}

/// Links `task` to `remote` (whose state becomes the base) and, when given,
/// writes `content` as a new version of the task.
async fn apply(
    conn: &mut AnyConnection,
    task: &Task,
    remote: &RemoteTask,
    content: Option<&Snapshot>,
    source: HistorySource,
    at: DateTime<Utc>,
) -> Result<(), ItemError> {
    let link = link_to(task, remote, snapshot_of(remote), at);
    let Some(content) = content else {
        write_link(conn, task, &link).await?;
        return Ok(());
    };
    let mut next = task.clone();
    next.fields = content.fields.clone();
    next.deleted = content.deleted;
    next.version = task.version + 1;
    next.updated_at = at;
    next.remote_id = link.remote_id;
    next.remote_version = link.remote_version;
    next.sync_base = link.base;
    next.last_synced_at = link.last_synced_at;
    if !tasks::update(&mut *conn, &next, task.version).await? {
        return Err(ItemError::Stale);
    }
    let origin = Origin {
        source,
        actor: Some(REMOTE_ACTOR),
    };
    history::record(&mut *conn, &next, origin).await?;
    Ok(())
}

/// What the merge found: the kind of conflict, the fields at stake, the winner
/// when it was decided automatically, and when the local side was edited.
struct Draft {
    kind: ConflictKind,
    fields: Vec<merge::Field>,
    winner: Option<Winner>,
    local_edit: DateTime<Utc>,
}

/// Writes a conflict record (unresolved, or auto-resolved with its winner) and
/// keeps the remote version in the task's history, so no version is lost.
async fn record_conflict(
    conn: &mut AnyConnection,
    task: &Task,
    remote: &RemoteTask,
    draft: Draft,
    at: DateTime<Utc>,
) -> Result<(), ItemError> {
    let Draft {
        kind,
        fields,
        winner,
        local_edit,
    } = draft;
    let conflict = Conflict {
        id: Uuid::now_v7(),
        task_id: task.id,
        kind,
        status: if winner.is_some() {
            ConflictStatus::AutoResolved
        } else {
            ConflictStatus::Unresolved
        },
        fields,
        base: task.sync_base.clone(),
        local: task.snapshot(),
        remote: snapshot_of(remote),
        local_version: task.version,
        remote_version: remote.version,
        local_edited_at: local_edit,
        remote_edited_at: remote.updated_at,
        winner,
        resolution: winner.map(|_| "later_edit_wins".to_owned()),
        resolved_by: winner.map(|_| "atlas".to_owned()),
        resolved_at: winner.map(|_| at),
        created_at: at,
    };
    conflicts::insert(&mut *conn, &conflict).await?;
    if winner.is_none() {
        hold_remote_version(conn, task, remote).await?;
    }
    let kind_label = if winner.is_some() {
        "auto_resolved"
    } else {
        kind_name(kind)
    };
    metrics::counter!("atlas_sync_conflicts_total", "kind" => kind_label).increment(1);
    tracing::info!(task_id = %task.id, conflict_id = %conflict.id, kind = kind_label, "sync conflict");
    Ok(())
}

fn kind_name(kind: ConflictKind) -> &'static str {
    match kind {
        ConflictKind::Fields => "fields",
        ConflictKind::EditDelete => "edit_delete",
    }
}

/// Keeps a remote version that was not applied in the task's history.
async fn hold_remote_version(
    conn: &mut AnyConnection,
    task: &Task,
    remote: &RemoteTask,
) -> Result<(), ItemError> {
    let origin = Origin {
        source: HistorySource::RemoteHeld,
        actor: Some(REMOTE_ACTOR),
    };
    let snapshot = snapshot_of(remote);
    history::record_snapshot(
        conn,
        task.id,
        task.version,
        Some(remote.version),
        &snapshot,
        origin,
    )
    .await?;
    Ok(())
}

/// A newer remote version arrived while a person is still deciding: the open
/// conflict now shows it (and the task as it is now).
async fn refresh_open_conflict(
    conn: &mut AnyConnection,
    mut open: Conflict,
    task: &Task,
    remote: &RemoteTask,
) -> Result<(), ItemError> {
    if remote.version <= open.remote_version {
        return Ok(());
    }
    open.remote = snapshot_of(remote);
    open.remote_version = remote.version;
    open.remote_edited_at = remote.updated_at;
    open.local = task.snapshot();
    open.local_version = task.version;
    open.kind = if open.local.deleted != open.remote.deleted {
        ConflictKind::EditDelete
    } else {
        ConflictKind::Fields
    };
    open.fields = match open.kind {
        ConflictKind::EditDelete => differing_fields(&open.local.fields, &open.remote.fields),
        ConflictKind::Fields => {
            let base = open.base.as_ref().map(|b| &b.fields);
            merge::merge_fields(base, &open.local.fields, &open.remote.fields).conflicts
        }
    };
    conflicts::update_sides(&mut *conn, &open).await?;
    hold_remote_version(conn, task, remote).await
}
