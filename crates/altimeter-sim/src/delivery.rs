//! Sending webhooks. First attempts go out one at a time in queue order, so
//! without faults a receiver sees events in the order the changes happened; a
//! failed delivery is retried with exponential backoff on its own task, so it
//! never holds up the queue.

use std::sync::Arc;
use std::time::Duration;

use altimeter_api::headers::{EVENT_ID, SIGNATURE};
use altimeter_api::webhook::sign;
use reqwest::header::CONTENT_TYPE;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::SimTuning;
use crate::state::SimState;
use crate::stats::WebhookOutcome;

/// One webhook POST to make, not before `due`.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub event_id: String,
    pub body: Arc<[u8]>,
    pub due: Instant,
}

/// The running delivery worker and its retries.
pub struct Delivery {
    queue: UnboundedSender<Outgoing>,
    worker: JoinHandle<()>,
    tracker: TaskTracker,
}

impl Delivery {
    /// Starts the worker; `None` (logged) if no HTTP client can be built.
    pub fn start(state: SimState, shutdown: CancellationToken) -> Option<Self> {
        let timeout = state.tuning().webhook_timeout;
        let http = match reqwest::Client::builder().timeout(timeout).build() {
            Ok(http) => http,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the webhook HTTP client; no webhooks will be sent");
                return None;
            }
        };
        let tracker = TaskTracker::new();
        let sender = Sender {
            state,
            http,
            shutdown,
            tracker: tracker.clone(),
        };
        let (queue, pending) = mpsc::unbounded_channel();
        let worker = tokio::spawn(send_in_order(sender, pending));
        Some(Self {
            queue,
            worker,
            tracker,
        })
    }

    pub fn enqueue(&self, outgoing: Outgoing) {
        // The worker only stops at shutdown, when undelivered webhooks are abandoned.
        let _ = self.queue.send(outgoing);
    }

    /// Waits for the worker and every retry to stop (they stop at shutdown).
    pub async fn finish(self) {
        drop(self.queue);
        if let Err(e) = self.worker.await {
            tracing::error!(error = %e, "the webhook worker panicked");
        }
        self.tracker.close();
        self.tracker.wait().await;
    }
}

async fn send_in_order(sender: Sender, mut pending: UnboundedReceiver<Outgoing>) {
    loop {
        let outgoing = tokio::select! {
            () = sender.shutdown.cancelled() => return,
            next = pending.recv() => match next {
                Some(outgoing) => outgoing,
                None => return,
            },
        };
        if !sender
            .pause(outgoing.due.saturating_duration_since(Instant::now()))
            .await
        {
            return;
        }
        if let Err(reason) = sender.attempt(&outgoing).await {
            sender.failed(&outgoing, 1, &reason);
            let retrying = sender.clone();
            sender.tracker.spawn(retrying.retry(outgoing));
        }
    }
}

#[derive(Clone)]
struct Sender {
    state: SimState,
    http: reqwest::Client,
    shutdown: CancellationToken,
    tracker: TaskTracker,
}

impl Sender {
    /// Attempts 2, 3, … after growing waits, until one succeeds or they run out.
    async fn retry(self, outgoing: Outgoing) {
        let tuning = self.state.tuning().clone();
        for attempt in 2..=tuning.webhook_max_attempts {
            if !self.pause(backoff(&tuning, attempt - 1)).await {
                return;
            }
            match self.attempt(&outgoing).await {
                Ok(()) => return,
                Err(reason) => self.failed(&outgoing, attempt, &reason),
            }
        }
        let attempts = tuning.webhook_max_attempts;
        tracing::warn!(event_id = %outgoing.event_id, attempts, "webhook given up");
    }

    /// One POST; `Ok` when the receiver answered `2xx` or no URL is set.
    async fn attempt(&self, outgoing: &Outgoing) -> Result<(), String> {
        let target = self.state.webhook_target();
        let Some(url) = target.url else {
            return Ok(());
        };
        let mut request = self
            .http
            .post(url)
            .header(CONTENT_TYPE, "application/json")
            .header(EVENT_ID, outgoing.event_id.as_str())
            .body(outgoing.body.to_vec());
        if let Some(secret) = target.secret {
            request = request.header(SIGNATURE, sign(secret.as_bytes(), &outgoing.body));
        }
        match request.send().await {
            Ok(response) if response.status().is_success() => {
                self.state.counters().count_webhook(WebhookOutcome::Sent);
                Ok(())
            }
            Ok(response) => Err(format!("answered {}", response.status())),
            Err(e) => Err(e.to_string()),
        }
    }

    fn failed(&self, outgoing: &Outgoing, attempt: u32, reason: &str) {
        tracing::debug!(event_id = %outgoing.event_id, attempt, %reason, "webhook attempt failed");
        self.state.counters().count_webhook(WebhookOutcome::Failed);
    }

    /// Sleeps unless shutdown comes first; false if it did.
    async fn pause(&self, duration: Duration) -> bool {
        if duration.is_zero() {
            return !self.shutdown.is_cancelled();
        }
        tokio::select! {
            () = self.shutdown.cancelled() => false,
            () = tokio::time::sleep(duration) => true,
        }
    }
}

/// The wait after failed attempt `attempt` (1-based): base, 2×base, 4×base… capped.
fn backoff(tuning: &SimTuning, attempt: u32) -> Duration {
    let factor = 2u32.saturating_pow(attempt.saturating_sub(1));
    tuning
        .webhook_retry_base
        .saturating_mul(factor)
        .min(tuning.webhook_retry_max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let tuning = SimTuning {
            webhook_retry_base: Duration::from_millis(200),
            webhook_retry_max: Duration::from_secs(1),
            ..SimTuning::default()
        };
        let waits: Vec<_> = (1..=5).map(|a| backoff(&tuning, a).as_millis()).collect();
        assert_eq!(waits, [200, 400, 800, 1000, 1000]);
        assert_eq!(backoff(&tuning, 40), Duration::from_secs(1));
    }
}
