//! The messages of the feed, as clients receive them (documented in `docs/API.md`).

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::model::{SyncStatus, Task};

/// One feed message, without its `seq` (the hub adds it).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    SyncStatus {
        entity_type: &'static str,
        entity_id: Uuid,
        status: SyncStatus,
        error: Option<String>,
        at: DateTime<Utc>,
    },
    TaskChanged {
        task: Box<Task>,
    },
    /// Also sent when a newer remote version updates an open conflict.
    ConflictCreated {
        conflict_id: Uuid,
        task_id: Uuid,
    },
    /// Resolved by a person, or automatically (outside the conflict window).
    ConflictResolved {
        conflict_id: Uuid,
        task_id: Uuid,
    },
    Queue(QueueSummary),
    Alert {
        key: String,
        severity: String,
        message: String,
        /// `firing` or `resolved`.
        status: &'static str,
    },
    /// The client missed events: refetch what it shows.
    Resync,
}

/// The queue as the admin page shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct QueueSummary {
    pub pending: i64,
    pub in_flight: i64,
    pub failed: i64,
    pub paused: bool,
    pub draining: bool,
}

impl Event {
    /// The task this message is about, for clients that follow one task.
    pub fn task_id(&self) -> Option<Uuid> {
        match self {
            Event::SyncStatus { entity_id, .. } => Some(*entity_id),
            Event::TaskChanged { task } => Some(task.id),
            Event::ConflictCreated { task_id, .. } | Event::ConflictResolved { task_id, .. } => {
                Some(*task_id)
            }
            Event::Queue(_) | Event::Alert { .. } | Event::Resync => None,
        }
    }
}

/// A message on the wire: the event and its number.
#[derive(Serialize)]
pub(super) struct Numbered<'a> {
    pub seq: u64,
    #[serde(flatten)]
    pub event: &'a Event,
}
