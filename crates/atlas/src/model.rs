//! The Atlas task (SPEC §2): the shared fields plus Atlas's own bookkeeping, its
//! sync state, and the versions kept in its history.

use altimeter_api::TaskFields;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Where a task stands with Altimeter; always true to the sync queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    Pending,
    Syncing,
    Synced,
    Error,
    Conflict,
}

impl SyncStatus {
    pub const ALL: [SyncStatus; 5] = [
        SyncStatus::Pending,
        SyncStatus::Syncing,
        SyncStatus::Synced,
        SyncStatus::Error,
        SyncStatus::Conflict,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncStatus::Pending => "pending",
            SyncStatus::Syncing => "syncing",
            SyncStatus::Synced => "synced",
            SyncStatus::Error => "error",
            SyncStatus::Conflict => "conflict",
        }
    }

    pub fn parse(s: &str) -> Option<SyncStatus> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Task {
    pub id: Uuid,
    #[serde(flatten)]
    pub fields: TaskFields,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted: bool,
    pub remote_id: Option<String>,
    pub remote_version: Option<i64>,
    pub last_synced_at: Option<DateTime<Utc>>,
    pub sync_status: SyncStatus,
    pub sync_error: Option<String>,
    pub related_altimeter_task_id: Option<String>,
    /// What both sides last agreed on (the base of the three-way merge).
    #[serde(skip)]
    pub sync_base: Option<Snapshot>,
    /// Bumped when the task is linked to a new Altimeter task, so the create
    /// call gets a fresh idempotency key.
    #[serde(skip)]
    pub link_generation: i64,
    /// When Atlas first sent this task's create to Altimeter (set before the
    /// call), so a create whose answer was lost can be found again.
    #[serde(skip)]
    pub create_attempted_at: Option<DateTime<Utc>>,
    /// The fields the first create of this link generation sent: what
    /// Altimeter's copy held when it was made, whatever happened to the answer.
    #[serde(skip)]
    pub create_sent: Option<SentCreate>,
}

/// The body of a task's first create for one link generation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentCreate {
    pub generation: i64,
    pub fields: TaskFields,
}

/// The content of one version of a task: its fields and whether it is deleted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(flatten)]
    pub fields: TaskFields,
    #[serde(default)]
    pub deleted: bool,
}

impl Task {
    /// A new task at version 1, not yet synced.
    pub fn new(id: Uuid, fields: TaskFields, at: DateTime<Utc>) -> Task {
        Task {
            id,
            fields,
            version: 1,
            created_at: at,
            updated_at: at,
            deleted: false,
            remote_id: None,
            remote_version: None,
            last_synced_at: None,
            sync_status: SyncStatus::Pending,
            sync_error: None,
            related_altimeter_task_id: None,
            sync_base: None,
            link_generation: 0,
            create_attempted_at: None,
            create_sent: None,
        }
    }

    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            fields: self.fields.clone(),
            deleted: self.deleted,
        }
    }
}

/// Which side, or which step, produced a version in a task's history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HistorySource {
    /// Written through Atlas (API, UI or CLI).
    Local,
    /// Pulled from Altimeter and applied.
    Remote,
    /// Pulled from Altimeter but held back by a conflict; kept so it is restorable.
    RemoteHeld,
    /// The automatic three-way merge of both sides.
    Merge,
    /// A person's resolution of a conflict.
    Resolution,
    /// Loaded by `atlas import`.
    Import,
}

impl HistorySource {
    pub fn as_str(self) -> &'static str {
        match self {
            HistorySource::Local => "local",
            HistorySource::Remote => "remote",
            HistorySource::RemoteHeld => "remote_held",
            HistorySource::Merge => "merge",
            HistorySource::Resolution => "resolution",
            HistorySource::Import => "import",
        }
    }

    pub fn parse(s: &str) -> Option<HistorySource> {
        [
            HistorySource::Local,
            HistorySource::Remote,
            HistorySource::RemoteHeld,
            HistorySource::Merge,
            HistorySource::Resolution,
            HistorySource::Import,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// One version of a task, from either side.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub id: i64,
    pub task_id: Uuid,
    /// The Atlas version this entry produced (or, for a held remote version, the
    /// Atlas version current when it arrived).
    pub version: i64,
    pub source: HistorySource,
    pub remote_version: Option<i64>,
    pub actor: Option<String>,
    pub recorded_at: DateTime<Utc>,
    pub task: Snapshot,
}
