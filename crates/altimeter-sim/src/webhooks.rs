//! Webhook dispatch: takes each change's event off the queue and applies the
//! webhook faults (drop, duplicate, delay, reorder) before handing it to
//! [`crate::delivery`]. Nothing here ever blocks an API call. Events from before
//! a reset are discarded here and again before every delivery attempt.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::config::SimTuning;
use crate::delivery::{Delivery, Outgoing};
use crate::faults::roll;
use crate::state::{QueuedEvent, SimState};
use crate::stats::WebhookOutcome;

/// Dispatches events until `shutdown`, then waits for delivery to stop.
pub async fn run(
    state: SimState,
    mut events: UnboundedReceiver<QueuedEvent>,
    shutdown: CancellationToken,
) {
    let Some(delivery) = Delivery::start(state.clone(), shutdown.clone()) else {
        return;
    };
    let dispatcher = Dispatcher { state, delivery };
    let tuning = dispatcher.state.tuning().clone();
    let mut held = Held::default();
    loop {
        let release_at = held.release_at;
        tokio::select! {
            () = shutdown.cancelled() => break,
            event = events.recv() => match event {
                Some(event) => dispatcher.accept(event, &mut held, &tuning),
                None => break,
            },
            () = sleep_until(release_at), if release_at.is_some() => dispatcher.release(&mut held),
        }
    }
    dispatcher.delivery.finish().await;
}

/// Events held back by the `webhook_reorder` fault, and when they must go.
#[derive(Default)]
struct Held {
    events: Vec<QueuedEvent>,
    release_at: Option<Instant>,
}

/// Sleeps until `at`; never returns for `None` (the branch is disabled then).
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

struct Dispatcher {
    state: SimState,
    delivery: Delivery,
}

impl Dispatcher {
    fn accept(&self, event: QueuedEvent, held: &mut Held, tuning: &SimTuning) {
        if !self.state.faults().webhook_reorder {
            self.dispatch(event);
            return;
        }
        held.release_at
            .get_or_insert_with(|| Instant::now() + tuning.reorder_window);
        held.events.push(event);
        if held.events.len() >= tuning.reorder_batch {
            self.release(held);
        }
    }

    /// Sends the held batch newest first.
    fn release(&self, held: &mut Held) {
        held.release_at = None;
        for event in std::mem::take(&mut held.events).into_iter().rev() {
            self.dispatch(event);
        }
    }

    /// Applies the drop, duplicate and delay faults, then queues for delivery.
    fn dispatch(&self, queued: QueuedEvent) {
        if self.state.is_stale(queued.generation) {
            return;
        }
        let QueuedEvent { generation, event } = queued;
        let faults = self.state.faults();
        if roll(faults.webhook_drop_rate) {
            tracing::debug!(event_id = %event.event_id, "webhook dropped by fault");
            self.state.counters().count_webhook(WebhookOutcome::Dropped);
            return;
        }
        let body: Arc<[u8]> = match serde_json::to_vec(&event) {
            Ok(body) => body.into(),
            Err(e) => {
                tracing::error!(error = %e, "cannot serialize a webhook event");
                return;
            }
        };
        let copies = if roll(faults.webhook_duplicate_rate) {
            2
        } else {
            1
        };
        let due = Instant::now() + Duration::from_millis(faults.webhook_delay_ms);
        for _ in 0..copies {
            self.delivery.enqueue(Outgoing {
                event_id: event.event_id.clone(),
                task_id: event.data.task_id.clone(),
                generation,
                body: body.clone(),
                due,
            });
        }
    }
}
