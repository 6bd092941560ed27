//! The hub: numbers each event once, serializes it once, and offers it to every
//! connection through a bounded broadcast channel. Publishing never waits: a
//! connection that falls more than `buffer` messages behind loses its backlog
//! and is told to resync (see `crate::http::ws`).

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::Utf8Bytes;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::event::{Event, Numbered};

/// How the feed treats its clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedConfig {
    /// Connections beyond this are refused with 503.
    pub max_connections: usize,
    /// Messages a connection may fall behind before it is told to resync.
    pub buffer: usize,
    /// A client that takes longer than this to accept one message is dropped.
    pub send_timeout: Duration,
    /// The server pings this often; a client silent for two intervals is dropped.
    pub ping_interval: Duration,
}

impl Default for FeedConfig {
    fn default() -> Self {
        FeedConfig {
            max_connections: 10_000,
            buffer: 256,
            send_timeout: Duration::from_secs(10),
            ping_interval: Duration::from_secs(25),
        }
    }
}

/// Who a message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// About one task: every client, except those following another task.
    Task(Uuid),
    /// About sync as a whole (queue, alerts): clients not following one task.
    Overview,
    /// Every client (`resync`).
    Everyone,
}

/// One serialized message.
#[derive(Debug)]
pub struct Outgoing {
    pub seq: u64,
    pub scope: Scope,
    pub text: Utf8Bytes,
}

impl Outgoing {
    /// Whether a client following `task` (or every task, with `None`) gets it.
    pub fn is_for(&self, task: Option<Uuid>) -> bool {
        match (self.scope, task) {
            (Scope::Everyone, _) | (_, None) => true,
            (Scope::Task(id), Some(followed)) => id == followed,
            (Scope::Overview, Some(_)) => false,
        }
    }
}

#[derive(Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

struct Inner {
    sender: broadcast::Sender<Arc<Outgoing>>,
    /// The last number given out; the lock also keeps sends in number order.
    seq: Mutex<u64>,
    connections: AtomicUsize,
    config: FeedConfig,
    closing: CancellationToken,
}

impl std::fmt::Debug for Hub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hub")
            .field("connections", &self.connections())
            .finish()
    }
}

impl Hub {
    pub fn new(config: FeedConfig) -> Hub {
        let (sender, _) = broadcast::channel(config.buffer.max(1));
        Hub {
            inner: Arc::new(Inner {
                sender,
                seq: Mutex::new(0),
                connections: AtomicUsize::new(0),
                config,
                closing: CancellationToken::new(),
            }),
        }
    }

    pub fn config(&self) -> &FeedConfig {
        &self.inner.config
    }

    /// Sends `event` to every connection, numbered; never waits for one.
    pub fn publish(&self, event: &Event) {
        let scope = match (event, event.task_id()) {
            (_, Some(task)) => Scope::Task(task),
            (Event::Resync, None) => Scope::Everyone,
            (_, None) => Scope::Overview,
        };
        let mut seq = self.inner.seq.lock().unwrap_or_else(|e| e.into_inner());
        *seq += 1;
        let outgoing = Outgoing {
            seq: *seq,
            scope,
            text: serialize(*seq, event),
        };
        // No receiver (no client connected) is not an error.
        let _ = self.inner.sender.send(Arc::new(outgoing));
    }

    /// A `resync` for one connection that fell behind, numbered after every
    /// message sent so far (which it will not receive).
    pub fn resync_for_one(&self) -> Utf8Bytes {
        let seq = *self.inner.seq.lock().unwrap_or_else(|e| e.into_inner());
        serialize(seq, &Event::Resync)
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Outgoing>> {
        self.inner.sender.subscribe()
    }

    /// Takes one of the `max_connections` places, or `None` when all are taken.
    pub fn admit(&self) -> Option<Admission> {
        let max = self.inner.config.max_connections;
        self.inner
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .ok()?;
        self.record_connections();
        Some(Admission { hub: self.clone() })
    }

    pub fn connections(&self) -> usize {
        self.inner.connections.load(Ordering::Acquire)
    }

    fn record_connections(&self) {
        metrics::gauge!("atlas_ws_connections").set(self.connections() as f64);
    }

    /// Asks every connection to close (the server is stopping).
    pub fn close(&self) {
        self.inner.closing.cancel();
    }

    pub fn closing(&self) -> CancellationToken {
        self.inner.closing.clone()
    }
}

fn serialize(seq: u64, event: &Event) -> Utf8Bytes {
    let text = serde_json::to_string(&Numbered { seq, event })
        .unwrap_or_else(|e| format!(r#"{{"seq":{seq},"type":"resync","error":"{e}"}}"#));
    Utf8Bytes::from(text)
}

/// A connection's place in the hub, given back when dropped.
#[derive(Debug)]
pub struct Admission {
    hub: Hub,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.hub.inner.connections.fetch_sub(1, Ordering::AcqRel);
        self.hub.record_connections();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(max_connections: usize, buffer: usize) -> FeedConfig {
        FeedConfig {
            max_connections,
            buffer,
            ..FeedConfig::default()
        }
    }

    #[test]
    fn connections_beyond_the_cap_are_refused_until_one_leaves() {
        let hub = Hub::new(config(2, 8));
        let a = hub.admit().unwrap();
        let _b = hub.admit().unwrap();
        assert!(hub.admit().is_none());
        drop(a);
        assert_eq!(hub.connections(), 1);
        assert!(hub.admit().is_some());
    }

    #[tokio::test]
    async fn messages_are_numbered_in_order_and_a_lagging_reader_learns_it() {
        let hub = Hub::new(config(10, 2));
        let mut rx = hub.subscribe();
        for _ in 0..3 {
            hub.publish(&Event::Resync);
        }
        assert!(matches!(
            rx.recv().await,
            Err(broadcast::error::RecvError::Lagged(1))
        ));
        let next = rx.recv().await.unwrap();
        assert_eq!(next.seq, 2);
        assert!(next.text.as_str().contains(r#""seq":2,"type":"resync""#));
        assert!(hub.resync_for_one().as_str().starts_with(r#"{"seq":3,"#));
    }

    #[test]
    fn a_client_following_one_task_gets_only_that_task_and_resyncs() {
        let task = Uuid::new_v4();
        let message = |scope| Outgoing {
            seq: 1,
            scope,
            text: Utf8Bytes::from_static("{}"),
        };
        assert!(message(Scope::Task(task)).is_for(Some(task)));
        assert!(!message(Scope::Task(Uuid::new_v4())).is_for(Some(task)));
        assert!(!message(Scope::Overview).is_for(Some(task)));
        assert!(message(Scope::Overview).is_for(None));
        assert!(message(Scope::Everyone).is_for(Some(task)));
    }
}
