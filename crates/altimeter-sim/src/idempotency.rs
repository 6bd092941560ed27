//! `Idempotency-Key` memory: a key seen within 24 h replays the first answer; the
//! same key with a different body is refused.

use std::collections::HashMap;

use altimeter_api::{CreateTask, RemoteTask};
use chrono::{DateTime, TimeDelta, Utc};
use serde::{Deserialize, Serialize};

/// How long a key is remembered.
pub const KEY_TTL: TimeDelta = TimeDelta::hours(24);

/// Every this many new keys, expired ones are swept out in one pass.
const SWEEP_EVERY: usize = 1024;

/// One remembered create: its request and the task it answered with.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyRecord {
    pub key: String,
    pub request: CreateTask,
    pub response: RemoteTask,
    pub stored_at: DateTime<Utc>,
}

/// What a create with a key should do.
#[derive(Debug)]
pub enum Lookup {
    /// Never seen (or expired): create and remember.
    Fresh,
    /// Seen with the same body: answer this again.
    Replay(RemoteTask),
    /// Seen with a different body.
    Reused,
}

#[derive(Debug, Default)]
pub struct IdempotencyKeys {
    records: HashMap<String, KeyRecord>,
    inserts_since_sweep: usize,
}

impl IdempotencyKeys {
    pub fn from_records(records: Vec<KeyRecord>, now: DateTime<Utc>) -> Self {
        let mut keys = Self::default();
        for record in records.into_iter().filter(|r| !expired(r, now)) {
            keys.records.insert(record.key.clone(), record);
        }
        keys
    }

    pub fn records(&self) -> Vec<KeyRecord> {
        self.records.values().cloned().collect()
    }

    pub fn lookup(&mut self, key: &str, request: &CreateTask, now: DateTime<Utc>) -> Lookup {
        match self.records.get(key) {
            Some(record) if expired(record, now) => {
                self.records.remove(key);
                Lookup::Fresh
            }
            Some(record) if record.request == *request => Lookup::Replay(record.response.clone()),
            Some(_) => Lookup::Reused,
            None => Lookup::Fresh,
        }
    }

    pub fn remember(
        &mut self,
        key: &str,
        request: CreateTask,
        response: RemoteTask,
        now: DateTime<Utc>,
    ) {
        self.inserts_since_sweep += 1;
        if self.inserts_since_sweep >= SWEEP_EVERY {
            self.records.retain(|_, r| !expired(r, now));
            self.inserts_since_sweep = 0;
        }
        let record = KeyRecord {
            key: key.to_owned(),
            request,
            response,
            stored_at: now,
        };
        self.records.insert(key.to_owned(), record);
    }
}

fn expired(record: &KeyRecord, now: DateTime<Utc>) -> bool {
    now - record.stored_at >= KEY_TTL
}

#[cfg(test)]
mod tests {
    use altimeter_api::TaskFields;

    use super::*;

    fn request(title: &str) -> CreateTask {
        CreateTask {
            external_id: None,
            fields: TaskFields::titled(title),
        }
    }

    fn task(id: &str) -> RemoteTask {
        let now = Utc::now();
        RemoteTask {
            id: id.to_owned(),
            external_id: None,
            version: 1,
            fields: TaskFields::titled("t"),
            created_at: now,
            updated_at: now,
            deleted: false,
        }
    }

    #[test]
    fn keys_replay_refuse_and_expire() {
        let now = Utc::now();
        let mut keys = IdempotencyKeys::default();
        assert!(matches!(
            keys.lookup("k", &request("a"), now),
            Lookup::Fresh
        ));
        keys.remember("k", request("a"), task("alt_1"), now);
        match keys.lookup("k", &request("a"), now + TimeDelta::hours(23)) {
            Lookup::Replay(t) => assert_eq!(t.id, "alt_1"),
            other => panic!("expected a replay, got {other:?}"),
        }
        assert!(matches!(
            keys.lookup("k", &request("b"), now),
            Lookup::Reused
        ));
        assert!(matches!(
            keys.lookup("k", &request("a"), now + KEY_TTL),
            Lookup::Fresh
        ));
    }

    #[test]
    fn expired_records_are_not_loaded() {
        let now = Utc::now();
        let old = KeyRecord {
            key: "old".into(),
            request: request("a"),
            response: task("alt_1"),
            stored_at: now - KEY_TTL,
        };
        let fresh = KeyRecord {
            key: "new".into(),
            stored_at: now,
            ..old.clone()
        };
        let keys = IdempotencyKeys::from_records(vec![old, fresh], now);
        let loaded: Vec<_> = keys.records().into_iter().map(|r| r.key).collect();
        assert_eq!(loaded, ["new"]);
    }
}
