//! Sending webhooks. First attempts leave in queue order, up to
//! `webhook_concurrency` at a time but never two for the same task at once: a
//! receiver sees each task's events in the order its changes happened, while a
//! slow answer about one task does not hold up the others (a real Altimeter
//! would not serialize its whole tenant behind one slow request either). A
//! failed delivery is retried with exponential backoff on its own task, so it
//! holds up nothing — which is also why retries can overtake later events.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use altimeter_api::headers::{EVENT_ID, SIGNATURE};
use altimeter_api::webhook::sign;
use reqwest::header::CONTENT_TYPE;
use tokio::sync::mpsc::{self, UnboundedReceiver, UnboundedSender};
use tokio::task::{JoinHandle, JoinSet};
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
    pub task_id: String,
    /// The reset generation it belongs to; stale ones are never sent.
    pub generation: u64,
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
        // A redirect is not followed: it counts as a failed attempt, as a
        // non-2xx answer does at Altimeter.
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build();
        let http = match http {
            Ok(http) => http,
            Err(e) => {
                tracing::error!(error = %e, "cannot build the webhook HTTP client; no webhooks will be sent");
                return None;
            }
        };
        let tracker = TaskTracker::new();
        let limit = state.tuning().webhook_concurrency.max(1);
        let sender = Sender {
            state,
            http,
            shutdown,
            tracker: tracker.clone(),
        };
        let (queue, pending) = mpsc::unbounded_channel();
        let worker = tokio::spawn(FirstAttempts::new(sender, limit).run(pending));
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

/// The first-attempt scheduler: a bounded set of attempts in flight, and per
/// task the events waiting for that task's attempt to end.
struct FirstAttempts {
    sender: Sender,
    limit: usize,
    in_flight: JoinSet<()>,
    /// Which task each attempt in flight is for.
    running: HashMap<tokio::task::Id, String>,
    /// A key per task with an attempt in flight; its queue is what waits behind.
    waiting: HashMap<String, VecDeque<Outgoing>>,
}

impl FirstAttempts {
    fn new(sender: Sender, limit: usize) -> Self {
        Self {
            sender,
            limit,
            in_flight: JoinSet::new(),
            running: HashMap::new(),
            waiting: HashMap::new(),
        }
    }

    /// Takes events in queue order until shutdown (abandoning attempts in
    /// flight) or until the queue closes and everything taken has been tried.
    async fn run(mut self, mut pending: UnboundedReceiver<Outgoing>) {
        let shutdown = self.sender.shutdown.clone();
        let mut open = true;
        while open || !self.in_flight.is_empty() {
            let room = self.in_flight.len() < self.limit;
            tokio::select! {
                () = shutdown.cancelled() => break,
                Some(done) = self.in_flight.join_next_with_id() => self.finished(done),
                next = pending.recv(), if open && room => match next {
                    Some(outgoing) => {
                        // Events wait for their due time in queue order, as the
                        // delay fault applies to all of them alike.
                        let wait = outgoing.due.saturating_duration_since(Instant::now());
                        if !self.sender.pause(wait).await {
                            break;
                        }
                        self.start_or_wait(outgoing);
                    }
                    None => open = false,
                },
            }
        }
        self.in_flight.shutdown().await;
    }

    fn start_or_wait(&mut self, outgoing: Outgoing) {
        match self.waiting.get_mut(&outgoing.task_id) {
            Some(queue) => queue.push_back(outgoing),
            None => {
                self.waiting
                    .insert(outgoing.task_id.clone(), VecDeque::new());
                self.start(outgoing);
            }
        }
    }

    fn start(&mut self, outgoing: Outgoing) {
        let task_id = outgoing.task_id.clone();
        let handle = self
            .in_flight
            .spawn(self.sender.clone().first_attempt(outgoing));
        self.running.insert(handle.id(), task_id);
    }

    /// One attempt ended: the next event of its task, if any, may go.
    fn finished(&mut self, done: Result<(tokio::task::Id, ()), tokio::task::JoinError>) {
        let id = match done {
            Ok((id, ())) => id,
            Err(e) => {
                tracing::error!(error = %e, "a webhook attempt panicked");
                e.id()
            }
        };
        let Some(task_id) = self.running.remove(&id) else {
            return;
        };
        let next = self.waiting.get_mut(&task_id).and_then(VecDeque::pop_front);
        match next {
            Some(outgoing) => self.start(outgoing),
            None => {
                self.waiting.remove(&task_id);
            }
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
    /// Attempt 1; on failure, hands the event to [`Sender::retry`].
    async fn first_attempt(self, outgoing: Outgoing) {
        if self.state.is_stale(outgoing.generation) {
            return;
        }
        if let Err(reason) = self.attempt(&outgoing).await {
            self.failed(&outgoing, 1, &reason);
            let tracker = self.tracker.clone();
            tracker.spawn(self.retry(outgoing));
        }
    }

    /// Attempts 2, 3, … after growing waits, until one succeeds or they run out
    /// (counted as given up). Stops quietly at shutdown or after a reset.
    async fn retry(self, outgoing: Outgoing) {
        let tuning = self.state.tuning().clone();
        for attempt in 2..=tuning.webhook_max_attempts {
            if !self.pause(backoff(&tuning, attempt - 1)).await
                || self.state.is_stale(outgoing.generation)
            {
                return;
            }
            match self.attempt(&outgoing).await {
                Ok(()) => return,
                Err(reason) => self.failed(&outgoing, attempt, &reason),
            }
        }
        if self.state.is_stale(outgoing.generation) {
            return;
        }
        let attempts = tuning.webhook_max_attempts;
        tracing::warn!(event_id = %outgoing.event_id, attempts, "webhook given up");
        self.state.counters().count_webhook(WebhookOutcome::GivenUp);
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
