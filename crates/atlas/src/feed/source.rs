//! Where this node's feed events come from: the committed signals of every
//! process (PostgreSQL: `LISTEN atlas_feed`, reconnecting, with a `resync` to
//! clients after a gap; SQLite: a tail of `feed_signals`, which also picks up
//! what the CLI wrote within one poll), and a once-a-second queue summary.

use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use sqlx::postgres::PgListener;

use super::{Event, Hub, QueueSummary};
use crate::db::{Backend, Db, now};
use crate::store::feed::{self, CHANNEL, Signal};
use crate::store::{queue, sync_state, tasks};

/// How often SQLite's signal table is read.
const POLL: Duration = Duration::from_millis(50);
/// Signals read per query.
const BATCH: i64 = 500;
/// How long a signal is kept on SQLite (delivered long before).
const KEEP: Duration = Duration::from_secs(600);
/// The queue summary is sent at most this often, while it changes.
const QUEUE_EVERY: Duration = Duration::from_secs(1);

/// Starts feeding `hub` until `shutdown`.
pub fn spawn(db: &Db, hub: &Hub, shutdown: &CancellationToken) -> JoinSet<()> {
    let mut set = JoinSet::new();
    match db.backend() {
        Backend::Postgres => set.spawn(listen(db.clone(), hub.clone(), shutdown.clone())),
        Backend::Sqlite => set.spawn(tail(db.clone(), hub.clone(), shutdown.clone())),
    };
    set.spawn(summarize_queue(db.clone(), hub.clone(), shutdown.clone()));
    set
}

/// Turns one committed signal into the event clients receive.
async fn deliver(db: &Db, hub: &Hub, signal: Signal) -> anyhow::Result<()> {
    if hub.connections() == 0 {
        return Ok(());
    }
    let event = match signal {
        Signal::Status {
            task,
            status,
            error,
            at,
        } => Event::SyncStatus {
            entity_type: "task",
            entity_id: task,
            status,
            error,
            at,
        },
        Signal::Task { task } => match tasks::get(db.pool(), task).await? {
            Some(task) => Event::TaskChanged {
                task: Box::new(task),
            },
            None => return Ok(()),
        },
        Signal::Conflict {
            conflict,
            task,
            open: true,
        } => Event::ConflictCreated {
            conflict_id: conflict,
            task_id: task,
        },
        Signal::Conflict {
            conflict,
            task,
            open: false,
        } => Event::ConflictResolved {
            conflict_id: conflict,
            task_id: task,
        },
        Signal::Alert {
            key,
            severity,
            message,
            firing,
        } => Event::Alert {
            key,
            severity,
            message,
            status: if firing { "firing" } else { "resolved" },
        },
    };
    hub.publish(&event);
    Ok(())
}

async fn deliver_payload(db: &Db, hub: &Hub, payload: &str) {
    let delivered = match feed::parse(payload) {
        Ok(signal) => deliver(db, hub, signal).await,
        Err(e) => Err(e),
    };
    if let Err(e) = delivered {
        tracing::warn!(
            error = format!("{e:#}"),
            "a feed event could not be delivered"
        );
    }
}

/// PostgreSQL: every node's signals, by `LISTEN`.
async fn listen(db: Db, hub: Hub, shutdown: CancellationToken) {
    let mut connected_before = false;
    while !shutdown.is_cancelled() {
        match PgListener::connect(db.url()).await {
            Ok(mut listener) => match listener.listen(CHANNEL).await {
                Ok(()) => {
                    if connected_before {
                        // Notifications sent while we were away are lost.
                        hub.publish(&Event::Resync);
                    }
                    connected_before = true;
                    receive(&db, &hub, &mut listener, &shutdown).await;
                }
                Err(e) => tracing::warn!(error = %e, "LISTEN atlas_feed failed; retrying"),
            },
            Err(e) => tracing::warn!(error = %e, "the feed's LISTEN connection failed; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = shutdown.cancelled() => {}
        }
    }
}

/// Delivers notifications until the connection fails for good or `shutdown`.
async fn receive(db: &Db, hub: &Hub, listener: &mut PgListener, shutdown: &CancellationToken) {
    loop {
        tokio::select! {
            received = listener.try_recv() => match received {
                Ok(Some(notification)) => deliver_payload(db, hub, notification.payload()).await,
                Ok(None) => {
                    // The connection dropped; the next call reconnects.
                    tracing::warn!("the feed's LISTEN connection dropped; reconnecting");
                    hub.publish(&Event::Resync);
                }
                Err(e) => {
                    tracing::warn!(error = %e, "the feed's LISTEN connection failed; reconnecting");
                    return;
                }
            },
            () = shutdown.cancelled() => return,
        }
    }
}

/// SQLite: the signal table, from its newest row on.
async fn tail(db: Db, hub: Hub, shutdown: CancellationToken) {
    let mut last = loop {
        match feed::latest(db.pool()).await {
            Ok(id) => break id,
            Err(e) => tracing::warn!(error = format!("{e:#}"), "cannot read the feed signals"),
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
            () = shutdown.cancelled() => return,
        }
    };
    let mut ticks = tokio::time::interval(POLL);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut pruned_at = Instant::now();
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shutdown.cancelled() => return,
        }
        match read_new(&db, &hub, last).await {
            Ok(newest) => last = newest,
            Err(e) => tracing::warn!(error = format!("{e:#}"), "cannot read the feed signals"),
        }
        if pruned_at.elapsed() >= KEEP / 10 {
            pruned_at = Instant::now();
            let before = now() - chrono::Duration::from_std(KEEP).unwrap_or_default();
            if let Err(e) = feed::prune(db.pool(), before).await {
                tracing::warn!(error = format!("{e:#}"), "cannot prune the feed signals");
            }
        }
    }
}

/// Delivers every signal after `last`; returns the newest id read.
async fn read_new(db: &Db, hub: &Hub, mut last: i64) -> anyhow::Result<i64> {
    loop {
        let rows = feed::after(db.pool(), last, BATCH).await?;
        let full = rows.len() as i64 == BATCH;
        let mut previous: Option<String> = None;
        for (id, payload) in rows {
            last = id;
            // One transaction often signals the same thing twice (content, then link).
            if previous.as_deref() != Some(payload.as_str()) {
                deliver_payload(db, hub, &payload).await;
            }
            previous = Some(payload);
        }
        if !full {
            return Ok(last);
        }
    }
}

/// The queue summary, sent when it changed, at most once a second.
async fn summarize_queue(db: Db, hub: Hub, shutdown: CancellationToken) {
    let mut sent: Option<QueueSummary> = None;
    let mut ticks = tokio::time::interval(QUEUE_EVERY);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            () = shutdown.cancelled() => return,
        }
        if hub.connections() == 0 {
            sent = None;
            continue;
        }
        match queue_summary(&db).await {
            Ok(summary) if sent != Some(summary) => {
                hub.publish(&Event::Queue(summary));
                sent = Some(summary);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = format!("{e:#}"), "cannot summarize the queue"),
        }
    }
}

pub async fn queue_summary(db: &Db) -> anyhow::Result<QueueSummary> {
    let pool = db.pool();
    let depth = queue::depth(pool).await?;
    Ok(QueueSummary {
        pending: depth.pending,
        in_flight: depth.in_flight,
        failed: depth.failed,
        paused: sync_state::flag(pool, sync_state::PAUSED).await?,
        draining: sync_state::flag(pool, sync_state::DRAINING).await?,
    })
}
