//! The shared simulator state. Every change, whether from the API, the HTML page
//! or a test, goes through [`SimState`], which bumps the version, queues the
//! webhook and marks the data file dirty in one place.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use altimeter_api::{CreateTask, EventType, RemoteTask, TaskFields, WebhookData, WebhookEvent};
use anyhow::ensure;
use chrono::{DateTime, Utc};
use tokio::sync::{Notify, mpsc};

use crate::config::{REDACTED, SimConfig, SimTuning};
use crate::cursor::ListKey;
use crate::faults::Faults;
use crate::idempotency::KeyRecord;
use crate::persist;
use crate::ratelimit::RateLimiter;
use crate::stats::{Stats, StatsSnapshot};
use crate::store::{Created, Store, StoreError};

/// A cheap-to-clone handle on one simulator's store, faults and counters.
#[derive(Clone)]
pub struct SimState {
    inner: Arc<Inner>,
}

struct Inner {
    api_key: String,
    rate_limit: Option<u32>,
    data_file: Option<PathBuf>,
    tuning: SimTuning,
    store: Mutex<Store>,
    faults: Mutex<Faults>,
    webhook_target: Mutex<WebhookTarget>,
    stats: Stats,
    limiter: RateLimiter,
    events: mpsc::UnboundedSender<QueuedEvent>,
    pending_events: Mutex<Option<mpsc::UnboundedReceiver<QueuedEvent>>>,
    /// Bumped by [`SimState::reset`]; webhooks of an older generation are
    /// discarded wherever they wait (queue, reorder batch, retry).
    generation: AtomicU64,
    changed: Notify,
}

/// A change's webhook event, tagged with the generation it belongs to.
#[derive(Debug, Clone)]
pub(crate) struct QueuedEvent {
    pub generation: u64,
    pub event: WebhookEvent,
}

/// Where webhooks go and how they are signed. `Debug` leaves the secret out.
#[derive(Clone, Default)]
pub struct WebhookTarget {
    pub url: Option<String>,
    pub secret: Option<String>,
}

impl std::fmt::Debug for WebhookTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebhookTarget")
            .field("url", &self.url)
            .field("secret", &self.secret.as_ref().map(|_| REDACTED))
            .finish()
    }
}

impl std::fmt::Debug for SimState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimState")
            .field("tasks", &lock(&self.inner.store).len())
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl SimState {
    /// A simulator state, loaded from `config.data_file` when that file exists.
    /// Webhooks queue up until [`crate::spawn`] starts delivering them.
    pub fn new(config: SimConfig) -> anyhow::Result<Self> {
        ensure!(
            !config.api_key.trim().is_empty(),
            "the API key must not be empty"
        );
        let store = match &config.data_file {
            Some(path) => persist::load(path, Utc::now())?,
            None => Store::default(),
        };
        let (events, pending) = mpsc::unbounded_channel();
        let inner = Inner {
            api_key: config.api_key,
            rate_limit: config.rate_limit,
            data_file: config.data_file,
            tuning: config.tuning,
            store: Mutex::new(store),
            faults: Mutex::default(),
            webhook_target: Mutex::new(WebhookTarget {
                url: config.webhook_url,
                secret: config.webhook_secret,
            }),
            stats: Stats::default(),
            limiter: RateLimiter::default(),
            events,
            pending_events: Mutex::new(Some(pending)),
            generation: AtomicU64::new(0),
            changed: Notify::new(),
        };
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// Creates a task; with a known `idempotency_key`, replays the first answer
    /// (no new task, no webhook).
    pub fn create_task(
        &self,
        request: CreateTask,
        idempotency_key: Option<&str>,
    ) -> Result<Created, StoreError> {
        let mut store = lock(&self.inner.store);
        let created = store.create(request, idempotency_key, Utc::now())?;
        if !created.replayed {
            self.changed(EventType::Created, &created.task);
        }
        Ok(created)
    }

    /// Replaces a task's fields, as the API's `PUT` or a person on the HTML page.
    pub fn update_task(
        &self,
        id: &str,
        fields: TaskFields,
        if_match: Option<i64>,
    ) -> Result<RemoteTask, StoreError> {
        let mut store = lock(&self.inner.store);
        let task = store.update(id, fields, if_match, Utc::now())?;
        self.changed(EventType::Updated, &task);
        Ok(task)
    }

    /// Deletes a task, leaving its tombstone; returns the tombstone.
    pub fn delete_task(&self, id: &str, if_match: Option<i64>) -> Result<RemoteTask, StoreError> {
        let mut store = lock(&self.inner.store);
        let task = store.delete(id, if_match, Utc::now())?;
        self.changed(EventType::Deleted, &task);
        Ok(task)
    }

    /// The live task, as `GET /tasks/{id}` sees it.
    pub fn get_task(&self, id: &str) -> Result<RemoteTask, StoreError> {
        lock(&self.inner.store).get(id)
    }

    /// The stored task, tombstone or not.
    pub fn task(&self, id: &str) -> Option<RemoteTask> {
        lock(&self.inner.store).find(id).cloned()
    }

    pub fn task_by_external_id(&self, external_id: &str) -> Option<RemoteTask> {
        lock(&self.inner.store)
            .find_by_external_id(external_id)
            .cloned()
    }

    /// Every task, tombstones included, in listing order.
    pub fn tasks(&self) -> Vec<RemoteTask> {
        lock(&self.inner.store).all()
    }

    /// One listing page (see [`Store::list`]).
    pub(crate) fn list(
        &self,
        since: Option<DateTime<Utc>>,
        after: Option<ListKey>,
        limit: usize,
    ) -> (Vec<RemoteTask>, bool) {
        lock(&self.inner.store).list(since, after, limit)
    }

    pub fn faults(&self) -> Faults {
        lock(&self.inner.faults).clone()
    }

    pub fn set_faults(&self, faults: Faults) {
        lock(&self.inner.store).set_coarse_timestamps(faults.coarse_timestamps);
        *lock(&self.inner.faults) = faults;
    }

    pub fn stats(&self) -> StatsSnapshot {
        self.inner.stats.snapshot()
    }

    pub fn webhook_target(&self) -> WebhookTarget {
        lock(&self.inner.webhook_target).clone()
    }

    /// Points webhooks somewhere else from now on (for a receiver started later).
    pub fn set_webhook_target(&self, target: WebhookTarget) {
        *lock(&self.inner.webhook_target) = target;
    }

    /// Empty store, faults off, counters zero, and no webhook from before the
    /// reset is sent any more (queued, held for reordering or being retried).
    pub fn reset(&self) {
        let mut store = lock(&self.inner.store);
        *store = Store::default();
        // Under the store lock, so every event queued after this carries the
        // new generation and every one before it the old.
        self.inner.generation.fetch_add(1, Ordering::SeqCst);
        drop(store);
        self.set_faults(Faults::default());
        self.inner.stats.reset();
        self.inner.limiter.reset();
        self.inner.changed.notify_one();
    }

    /// The rate limit in force: the fault's if set, else the configured one.
    pub(crate) fn effective_rate_limit(&self) -> Option<u32> {
        self.faults().rate_limit.or(self.inner.rate_limit)
    }

    pub(crate) fn api_key(&self) -> &str {
        &self.inner.api_key
    }

    pub(crate) fn tuning(&self) -> &SimTuning {
        &self.inner.tuning
    }

    pub(crate) fn data_file(&self) -> Option<&PathBuf> {
        self.inner.data_file.as_ref()
    }

    pub(crate) fn counters(&self) -> &Stats {
        &self.inner.stats
    }

    pub(crate) fn limiter(&self) -> &RateLimiter {
        &self.inner.limiter
    }

    /// The webhook queue's receiving end; only the first caller gets it.
    pub(crate) fn take_events(&self) -> Option<mpsc::UnboundedReceiver<QueuedEvent>> {
        lock(&self.inner.pending_events).take()
    }

    /// Whether a webhook of `generation` predates the last reset.
    pub(crate) fn is_stale(&self, generation: u64) -> bool {
        generation != self.inner.generation.load(Ordering::SeqCst)
    }

    /// Waits until the store has changed since the last wait.
    pub(crate) async fn store_changed(&self) {
        self.inner.changed.notified().await;
    }

    /// Tasks and idempotency keys as they are now, for the data file.
    pub(crate) fn snapshot(&self) -> (Vec<RemoteTask>, Vec<KeyRecord>) {
        lock(&self.inner.store).parts()
    }

    /// Queues the webhook and wakes the persister. Called under the store lock,
    /// so events leave in the order the changes happened.
    fn changed(&self, kind: EventType, task: &RemoteTask) {
        let event = WebhookEvent {
            event_id: format!("evt_{}", uuid::Uuid::new_v4().simple()),
            kind,
            occurred_at: task.updated_at,
            data: WebhookData {
                task_id: task.id.clone(),
                version: task.version,
            },
        };
        let queued = QueuedEvent {
            generation: self.inner.generation.load(Ordering::SeqCst),
            event,
        };
        // The receiver only goes away at shutdown, when events no longer matter.
        let _ = self.inner.events.send(queued);
        self.inner.changed.notify_one();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_target_debug_leaves_the_secret_out() {
        let target = WebhookTarget {
            url: Some("http://127.0.0.1:1/hook".into()),
            secret: Some("whsec-sekrit".into()),
        };
        let shown = format!("{target:?}");
        assert!(!shown.contains("sekrit"), "{shown}");
        assert!(shown.contains("127.0.0.1:1/hook"), "{shown}");
    }

    #[test]
    fn reset_makes_earlier_generations_stale() {
        let state = SimState::new(SimConfig::new("k")).unwrap();
        let mut events = state.take_events().unwrap();
        let request = || CreateTask {
            external_id: None,
            fields: TaskFields::titled("a"),
        };
        state.create_task(request(), None).unwrap();
        let before = events.try_recv().unwrap().generation;
        assert!(!state.is_stale(before));
        state.reset();
        assert!(state.is_stale(before));
        state.create_task(request(), None).unwrap();
        let after = events.try_recv().unwrap().generation;
        assert!(!state.is_stale(after));
    }
}
