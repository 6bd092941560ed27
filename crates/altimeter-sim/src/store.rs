//! The task store: tasks by id, the `(updated_at, id)` listing order, versions,
//! tombstones and idempotency keys. Plain data, no locking, no clock: callers pass
//! `now`, which keeps every rule here testable.

use std::collections::{BTreeSet, HashMap};
use std::ops::Bound;

use altimeter_api::{CreateTask, RemoteTask, TaskFields};
use chrono::{DateTime, SubsecRound, TimeDelta, Utc};

use crate::cursor::ListKey;
use crate::idempotency::{IdempotencyKeys, KeyRecord, Lookup};

/// Why a store operation did not happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("no task with this id")]
    NotFound,
    #[error("the task was deleted")]
    Gone(Box<RemoteTask>),
    #[error("the task is at version {}, not the one in If-Match", .0.version)]
    VersionMismatch(Box<RemoteTask>),
    #[error("this Idempotency-Key was already used with a different body")]
    IdempotencyKeyReused,
}

/// A created task, and whether it is a replay of an earlier create.
#[derive(Debug, Clone)]
pub struct Created {
    pub task: RemoteTask,
    pub replayed: bool,
}

#[derive(Debug, Default)]
pub struct Store {
    tasks: HashMap<String, RemoteTask>,
    order: BTreeSet<ListKey>,
    keys: IdempotencyKeys,
    last_stamp: Option<DateTime<Utc>>,
    /// Whole-second stamps that may tie (the `coarse_timestamps` fault).
    coarse: bool,
}

impl Store {
    pub fn from_parts(tasks: Vec<RemoteTask>, keys: Vec<KeyRecord>, now: DateTime<Utc>) -> Self {
        let mut store = Store {
            keys: IdempotencyKeys::from_records(keys, now),
            ..Store::default()
        };
        for task in tasks {
            store.put(task);
        }
        store.last_stamp = store.order.last().map(|(at, _)| *at);
        store
    }

    /// Every task (tombstones too) in listing order, and the remembered keys.
    pub fn parts(&self) -> (Vec<RemoteTask>, Vec<KeyRecord>) {
        (self.all(), self.keys.records())
    }

    pub fn all(&self) -> Vec<RemoteTask> {
        self.order
            .iter()
            .map(|(_, id)| self.tasks[id].clone())
            .collect()
    }

    pub fn len(&self) -> usize {
        self.tasks.len()
    }

    /// The task as stored, tombstone or not.
    pub fn find(&self, id: &str) -> Option<&RemoteTask> {
        self.tasks.get(id)
    }

    pub fn find_by_external_id(&self, external_id: &str) -> Option<&RemoteTask> {
        self.tasks
            .values()
            .find(|t| t.external_id.as_deref() == Some(external_id))
    }

    /// The live task; a tombstone is [`StoreError::Gone`].
    pub fn get(&self, id: &str) -> Result<RemoteTask, StoreError> {
        let task = self.tasks.get(id).ok_or(StoreError::NotFound)?;
        if task.deleted {
            return Err(StoreError::Gone(Box::new(task.clone())));
        }
        Ok(task.clone())
    }

    /// Creates a task, or with a known `key` replays the first answer.
    pub fn create(
        &mut self,
        request: CreateTask,
        key: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<Created, StoreError> {
        if let Some(key) = key {
            match self.keys.lookup(key, &request, now) {
                Lookup::Replay(task) => {
                    return Ok(Created {
                        task,
                        replayed: true,
                    });
                }
                Lookup::Reused => return Err(StoreError::IdempotencyKeyReused),
                Lookup::Fresh => {}
            }
        }
        let stamp = self.stamp(now);
        let task = RemoteTask {
            id: format!("alt_{}", uuid::Uuid::new_v4().simple()),
            external_id: request.external_id.clone(),
            version: 1,
            fields: request.fields.clone(),
            created_at: stamp,
            updated_at: stamp,
            deleted: false,
        };
        self.put(task.clone());
        if let Some(key) = key {
            self.keys.remember(key, request, task.clone(), now);
        }
        Ok(Created {
            task,
            replayed: false,
        })
    }

    /// Replaces the fields of a live task, checking `if_match` first.
    pub fn update(
        &mut self,
        id: &str,
        fields: TaskFields,
        if_match: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<RemoteTask, StoreError> {
        let mut task = self.checked(id, if_match)?;
        task.fields = fields;
        Ok(self.bump(task, now))
    }

    /// Turns a live task into a tombstone, checking `if_match` first.
    pub fn delete(
        &mut self,
        id: &str,
        if_match: Option<i64>,
        now: DateTime<Utc>,
    ) -> Result<RemoteTask, StoreError> {
        let mut task = self.checked(id, if_match)?;
        task.deleted = true;
        Ok(self.bump(task, now))
    }

    /// Up to `limit` tasks at or after `since` and strictly after `after`, in
    /// `(updated_at, id)` order, plus whether more follow.
    pub fn list(
        &self,
        since: Option<DateTime<Utc>>,
        after: Option<ListKey>,
        limit: usize,
    ) -> (Vec<RemoteTask>, bool) {
        let range = self
            .order
            .range((lower_bound(since, after), Bound::Unbounded));
        let mut page: Vec<_> = range
            .take(limit + 1)
            .map(|(_, id)| self.tasks[id].clone())
            .collect();
        let more = page.len() > limit;
        page.truncate(limit);
        (page, more)
    }

    fn checked(&self, id: &str, if_match: Option<i64>) -> Result<RemoteTask, StoreError> {
        let task = self.get(id)?;
        match if_match {
            Some(version) if version != task.version => {
                Err(StoreError::VersionMismatch(Box::new(task)))
            }
            _ => Ok(task),
        }
    }

    fn bump(&mut self, mut task: RemoteTask, now: DateTime<Utc>) -> RemoteTask {
        task.version += 1;
        task.updated_at = self.stamp(now);
        self.put(task.clone());
        task
    }

    fn put(&mut self, task: RemoteTask) {
        if let Some(old) = self.tasks.get(&task.id) {
            self.order.remove(&(old.updated_at, old.id.clone()));
        }
        self.order.insert((task.updated_at, task.id.clone()));
        self.tasks.insert(task.id.clone(), task);
    }

    pub fn set_coarse_timestamps(&mut self, coarse: bool) {
        self.coarse = coarse;
    }

    /// `now` to the microsecond, but always later than any earlier change, so a
    /// change can never land behind a cursor a reader already holds. Coarse
    /// stamps are whole seconds that never go back but may tie, so a change can
    /// land behind such a cursor (an id that sorts earlier, in the same second).
    fn stamp(&mut self, now: DateTime<Utc>) -> DateTime<Utc> {
        let stamp = match (self.coarse, self.last_stamp) {
            (true, last) => {
                last.map_or(now.trunc_subsecs(0), |last| last.max(now.trunc_subsecs(0)))
            }
            (false, Some(last)) if now.trunc_subsecs(6) <= last => {
                last + TimeDelta::microseconds(1)
            }
            (false, _) => now.trunc_subsecs(6),
        };
        self.last_stamp = Some(stamp);
        stamp
    }
}

/// Where a listing starts: after the cursor, unless `since` is later.
fn lower_bound(since: Option<DateTime<Utc>>, after: Option<ListKey>) -> Bound<ListKey> {
    if let Some(after) = after {
        if since.is_none_or(|since| after.0 >= since) {
            return Bound::Excluded(after);
        }
    }
    match since {
        // The empty id sorts first, so every task stamped `since` is included.
        Some(since) => Bound::Included((since, String::new())),
        None => Bound::Unbounded,
    }
}

#[cfg(test)]
mod tests;
