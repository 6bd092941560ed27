//! `GET /ws/sync-status`: the live feed's connections. Each one is admitted
//! (any role; a browser only from this server's own origin; at most
//! `max_connections`), then served by one task that forwards the hub's messages
//! and pings the client. A client that is slow to take a message, or silent for
//! two ping intervals, is dropped; one that fell behind gets `resync`.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::ws::rejection::WebSocketUpgradeRejection;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use serde::Deserialize;
use std::task::Poll;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::time::{Instant, timeout};
use uuid::Uuid;

use super::AppState;
use super::error::ApiError;
use super::extract::{ApiQuery, Viewer, same_origin};
use crate::feed::{Admission, Hub};

/// Largest message or frame a client may send (it only needs to answer pings).
const MAX_INCOMING: usize = 64 * 1024;
/// What one connection may hold unsent before a write waits.
const MAX_UNSENT: usize = 1024 * 1024;
/// The read buffer of a connection: clients send only pongs and close frames
/// (the library's default of 128 KiB would be most of a connection's memory).
const READ_BUFFER: usize = 4 * 1024;

pub fn router() -> Router<AppState> {
    Router::new().route("/ws/sync-status", get(upgrade))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FeedParams {
    /// Follow one task only.
    task: Option<Uuid>,
}

async fn upgrade(
    State(state): State<AppState>,
    _: Viewer,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<FeedParams>,
    upgrade: Result<WebSocketUpgrade, WebSocketUpgradeRejection>,
) -> Result<Response, ApiError> {
    // A page elsewhere could otherwise read the feed with the visitor's session.
    same_origin(&headers)?;
    let upgrade = upgrade.map_err(|e| {
        ApiError::BadRequest(format!(
            "this is a WebSocket endpoint: connect with a WebSocket client ({e})"
        ))
    })?;
    let admission = state.feed.admit().ok_or_else(|| {
        ApiError::Unavailable(format!(
            "the live feed is full ({} connections); try again later",
            state.feed.config().max_connections
        ))
    })?;
    let hub = state.feed.clone();
    Ok(upgrade
        .max_message_size(MAX_INCOMING)
        .max_frame_size(MAX_INCOMING)
        .read_buffer_size(READ_BUFFER)
        .write_buffer_size(0)
        .max_write_buffer_size(MAX_UNSENT)
        .on_upgrade(move |socket| serve(socket, hub, admission, params.task)))
}

/// Why the server ended a connection.
#[derive(Debug, Clone, Copy)]
enum Dropped {
    /// A message (or ping) was not taken within the send timeout.
    Slow,
    /// Nothing heard for two ping intervals.
    Idle,
    /// The socket failed.
    Error,
}

impl Dropped {
    fn label(self) -> &'static str {
        match self {
            Dropped::Slow => "slow",
            Dropped::Idle => "idle",
            Dropped::Error => "error",
        }
    }
}

async fn serve(mut socket: WebSocket, hub: Hub, admission: Admission, task: Option<Uuid>) {
    let _admission = admission;
    let config = hub.config().clone();
    let mut messages = hub.subscribe();
    let closing = hub.closing();
    let sent = metrics::counter!("atlas_ws_messages_sent_total");
    let mut pings =
        tokio::time::interval_at(Instant::now() + config.ping_interval, config.ping_interval);
    let mut heard = Instant::now();
    let limit = config.send_timeout;
    let dropped = loop {
        tokio::select! {
            received = messages.recv() => {
                let text = match received {
                    Ok(message) if message.is_for(task) => message.text.clone(),
                    Ok(_) => continue,
                    Err(RecvError::Lagged(missed)) => {
                        // Skip the backlog: the client refetches everything anyway.
                        messages = messages.resubscribe();
                        metrics::counter!("atlas_ws_resyncs_total").increment(1);
                        tracing::info!(missed, "a feed client fell behind; sent resync");
                        hub.resync_for_one()
                    }
                    Err(RecvError::Closed) => break None,
                };
                if let Err(why) = send(&mut socket, Message::Text(text), limit).await {
                    break Some(why);
                }
                sent.increment(1);
            }
            frame = socket.recv() => match frame {
                Some(Ok(Message::Close(_))) | None => break None,
                Some(Ok(_)) => heard = Instant::now(),
                Some(Err(_)) => break Some(Dropped::Error),
            },
            _ = pings.tick() => {
                if heard.elapsed() >= config.ping_interval * 2 {
                    break Some(Dropped::Idle);
                }
                if let Err(why) = send(&mut socket, Message::Ping(Bytes::new()), limit).await {
                    break Some(why);
                }
            }
            () = closing.cancelled() => {
                let bye = Message::Close(Some(CloseFrame {
                    code: 1001,
                    reason: "server stopping".into(),
                }));
                let _ = send(&mut socket, bye, limit).await;
                break None;
            }
        }
    };
    if let Some(why) = dropped {
        metrics::counter!("atlas_ws_clients_dropped_total", "reason" => why.label()).increment(1);
        tracing::info!(reason = why.label(), "dropped a feed client");
    }
}

/// Sends one message, giving up after `limit`. Most sends finish at once; only
/// one that has to wait for the socket pays for a timer.
async fn send(socket: &mut WebSocket, message: Message, limit: Duration) -> Result<(), Dropped> {
    let mut sending = std::pin::pin!(socket.send(message));
    let result = match futures::poll!(sending.as_mut()) {
        Poll::Ready(result) => result,
        Poll::Pending => match timeout(limit, sending).await {
            Ok(result) => result,
            Err(_) => return Err(Dropped::Slow),
        },
    };
    result.map_err(|_| Dropped::Error)
}
