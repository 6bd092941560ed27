//! Counters behind `GET /_sim/stats`: API requests by `"<METHOD> <route>"`, and
//! webhook deliveries sent, failed, dropped and given up.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};

/// What `GET /_sim/stats` answers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatsSnapshot {
    /// Requests received per `"<METHOD> <route pattern>"`, e.g. `"POST /tasks"`,
    /// whatever their answer (rejected and faulted ones included).
    pub requests: BTreeMap<String, u64>,
    pub webhooks: WebhookCounts,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WebhookCounts {
    /// Deliveries the receiver answered with `2xx`.
    pub sent: u64,
    /// Delivery attempts that failed (non-`2xx` or no answer); each retry counts.
    pub failed: u64,
    /// Events the `webhook_drop_rate` fault swallowed.
    pub dropped: u64,
    /// Deliveries abandoned after their last attempt failed (each also counted
    /// in `failed`, once per attempt).
    pub given_up: u64,
}

#[derive(Debug, Default)]
pub struct Stats {
    requests: Mutex<BTreeMap<String, u64>>,
    sent: AtomicU64,
    failed: AtomicU64,
    dropped: AtomicU64,
    given_up: AtomicU64,
}

/// One kind of webhook outcome.
#[derive(Debug, Clone, Copy)]
pub enum WebhookOutcome {
    Sent,
    Failed,
    Dropped,
    GivenUp,
}

impl Stats {
    pub fn count_request(&self, key: String) {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        *requests.entry(key).or_default() += 1;
    }

    pub fn count_webhook(&self, outcome: WebhookOutcome) {
        let counter = match outcome {
            WebhookOutcome::Sent => &self.sent,
            WebhookOutcome::Failed => &self.failed,
            WebhookOutcome::Dropped => &self.dropped,
            WebhookOutcome::GivenUp => &self.given_up,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> StatsSnapshot {
        StatsSnapshot {
            requests: self
                .requests
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .clone(),
            webhooks: WebhookCounts {
                sent: self.sent.load(Ordering::Relaxed),
                failed: self.failed.load(Ordering::Relaxed),
                dropped: self.dropped.load(Ordering::Relaxed),
                given_up: self.given_up.load(Ordering::Relaxed),
            },
        }
    }

    pub fn reset(&self) {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        for counter in [&self.sent, &self.failed, &self.dropped, &self.given_up] {
            counter.store(0, Ordering::Relaxed);
        }
    }
}
