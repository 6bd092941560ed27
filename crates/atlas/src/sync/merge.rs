//! The three-way merge of SPEC §3 as pure functions over plain data: given the
//! base (what both sides last agreed on), the local and the remote version, decide
//! what each side must become, and what needs a person. No I/O here; the worker
//! around it does that.

use std::time::Duration;

use altimeter_api::TaskFields;
use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::model::Snapshot;

/// One of the six shared task fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Title,
    Description,
    Status,
    Priority,
    Assignee,
    DueDate,
}

impl Field {
    pub const ALL: [Field; 6] = [
        Field::Title,
        Field::Description,
        Field::Status,
        Field::Priority,
        Field::Assignee,
        Field::DueDate,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::Title => "title",
            Field::Description => "description",
            Field::Status => "status",
            Field::Priority => "priority",
            Field::Assignee => "assignee",
            Field::DueDate => "due_date",
        }
    }

    pub fn parse(name: &str) -> Option<Field> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether `a` and `b` hold different values in this field.
    pub fn differs(self, a: &TaskFields, b: &TaskFields) -> bool {
        match self {
            Field::Title => a.title != b.title,
            Field::Description => a.description != b.description,
            Field::Status => a.status != b.status,
            Field::Priority => a.priority != b.priority,
            Field::Assignee => a.assignee != b.assignee,
            Field::DueDate => a.due_date != b.due_date,
        }
    }

    /// Copies this field's value from `from` into `to`.
    pub fn copy(self, from: &TaskFields, to: &mut TaskFields) {
        match self {
            Field::Title => to.title.clone_from(&from.title),
            Field::Description => to.description.clone_from(&from.description),
            Field::Status => to.status = from.status,
            Field::Priority => to.priority = from.priority,
            Field::Assignee => to.assignee.clone_from(&from.assignee),
            Field::DueDate => to.due_date = from.due_date,
        }
    }
}

/// The fields in which `a` and `b` differ.
pub fn differing_fields(a: &TaskFields, b: &TaskFields) -> Vec<Field> {
    Field::ALL.into_iter().filter(|f| f.differs(a, b)).collect()
}

/// The field-by-field merge: one-sided changes are taken, a field changed on both
/// sides to different values is a conflict (and keeps the local value in
/// `merged` until someone decides). Without a base every difference is a
/// conflict, since nothing says which side changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldMerge {
    pub merged: TaskFields,
    pub conflicts: Vec<Field>,
}

pub fn merge_fields(
    base: Option<&TaskFields>,
    local: &TaskFields,
    remote: &TaskFields,
) -> FieldMerge {
    let mut merged = local.clone();
    let mut conflicts = Vec::new();
    for field in Field::ALL {
        if !field.differs(local, remote) {
            continue;
        }
        match base {
            Some(base) if !field.differs(base, local) => field.copy(remote, &mut merged),
            Some(base) if !field.differs(base, remote) => {}
            _ => conflicts.push(field),
        }
    }
    FieldMerge { merged, conflicts }
}

/// One side of a merge: its version and when it was last edited — as a whole,
/// and, where known (Atlas's own history), field by field.
#[derive(Debug, Clone, Copy)]
pub struct Side<'a> {
    pub snapshot: &'a Snapshot,
    pub edited_at: DateTime<Utc>,
    pub field_edited_at: Option<&'a BTreeMap<Field, DateTime<Utc>>>,
}

impl Side<'_> {
    /// When `field` was last edited on this side.
    pub fn edited(&self, field: Field) -> DateTime<Utc> {
        self.field_edited_at
            .and_then(|by_field| by_field.get(&field).copied())
            .unwrap_or(self.edited_at)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConflictKind {
    /// The same field changed on both sides to different values.
    Fields,
    /// One side deleted the task while the other edited it.
    EditDelete,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Winner {
    Local,
    Remote,
}

/// What to do with a task whose two versions are compared against their base.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Both sides already hold `result`; it becomes the new base.
    InSync { result: Snapshot },
    /// No conflict: each side that differs from `result` must become it.
    Merge {
        result: Snapshot,
        change_local: bool,
        change_remote: bool,
    },
    /// A conflict a person must resolve; neither side is touched.
    Hold {
        kind: ConflictKind,
        fields: Vec<Field>,
    },
    /// Conflicting edits far enough apart that the later one won `fields`; the
    /// losing values are kept in the conflict record.
    AutoResolved {
        result: Snapshot,
        winner: Winner,
        fields: Vec<Field>,
        change_local: bool,
        change_remote: bool,
    },
}

/// Whether two edits are close enough in time to need a person.
pub fn within_window(a: DateTime<Utc>, b: DateTime<Utc>, window: Duration) -> bool {
    let gap = (a - b).abs().to_std().unwrap_or(Duration::MAX);
    gap <= window
}

/// Decides a task's merge (SPEC §3). Edit-versus-delete is always held; field
/// conflicts are held when the two edits of any conflicting field fall within
/// the window (each field's own edit time, not the task's), and won by the
/// later edit outside it. `window` already includes the allowance for skew
/// between the two clocks.
pub fn decide(
    base: Option<&Snapshot>,
    local: Side<'_>,
    remote: Side<'_>,
    window: Duration,
) -> Decision {
    let (l, r) = (local.snapshot, remote.snapshot);
    // Two tombstones agree whatever fields they carry; Altimeter's is kept.
    if l == r || (l.deleted && r.deleted) {
        return Decision::InSync { result: r.clone() };
    }
    if l.deleted || r.deleted {
        return decide_delete(base, l, r);
    }
    let fields = merge_fields(base.map(|b| &b.fields), &l.fields, &r.fields);
    if fields.conflicts.is_empty() {
        let (result, change_local, change_remote) = live_result(fields.merged, l, r);
        return if change_local || change_remote {
            Decision::Merge {
                result,
                change_local,
                change_remote,
            }
        } else {
            Decision::InSync { result }
        };
    }
    let close = fields
        .conflicts
        .iter()
        .any(|f| within_window(local.edited(*f), remote.edited(*f), window));
    if close {
        return Decision::Hold {
            kind: ConflictKind::Fields,
            fields: fields.conflicts,
        };
    }
    let latest_local = fields
        .conflicts
        .iter()
        .map(|f| local.edited(*f))
        .max()
        .unwrap_or(local.edited_at);
    let latest_remote = fields
        .conflicts
        .iter()
        .map(|f| remote.edited(*f))
        .max()
        .unwrap_or(remote.edited_at);
    let (winner, winning) = if latest_remote > latest_local {
        (Winner::Remote, r)
    } else {
        (Winner::Local, l)
    };
    let mut merged = fields.merged;
    for field in &fields.conflicts {
        field.copy(&winning.fields, &mut merged);
    }
    let (result, change_local, change_remote) = live_result(merged, l, r);
    Decision::AutoResolved {
        result,
        winner,
        fields: fields.conflicts,
        change_local,
        change_remote,
    }
}

/// One side deleted the task. A delete wins only over a side that has not
/// changed since the base.
fn decide_delete(base: Option<&Snapshot>, l: &Snapshot, r: &Snapshot) -> Decision {
    let (deleted, other) = if l.deleted { (l, r) } else { (r, l) };
    let other_unchanged = base.is_some_and(|b| b.fields == other.fields && !b.deleted);
    if other_unchanged {
        return Decision::Merge {
            change_local: !l.deleted,
            change_remote: !r.deleted,
            result: deleted.clone(),
        };
    }
    let fields = base.map_or_else(
        || differing_fields(&deleted.fields, &other.fields),
        |b| differing_fields(&b.fields, &other.fields),
    );
    Decision::Hold {
        kind: ConflictKind::EditDelete,
        fields,
    }
}

/// The merged fields as a live task, and whether each side must change to match.
fn live_result(merged: TaskFields, l: &Snapshot, r: &Snapshot) -> (Snapshot, bool, bool) {
    let result = Snapshot {
        fields: merged,
        deleted: false,
    };
    let change_local = &result != l;
    let change_remote = &result != r;
    (result, change_local, change_remote)
}

#[cfg(test)]
#[path = "merge_tests.rs"]
mod tests;
