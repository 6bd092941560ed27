//! On PostgreSQL, wakes this process's worker when any node queues work
//! (`LISTEN atlas_sync`), reconnecting if the connection drops.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::outbox::{CHANNEL, Outbox};

pub async fn run(url: String, outbox: Outbox, shutdown: CancellationToken) {
    while !shutdown.is_cancelled() {
        if let Err(e) = listen(&url, &outbox, &shutdown).await {
            tracing::warn!(
                error = format!("{e:#}"),
                "LISTEN connection lost; reconnecting"
            );
            tokio::select! {
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
                () = shutdown.cancelled() => {}
            }
        }
    }
}

async fn listen(url: &str, outbox: &Outbox, shutdown: &CancellationToken) -> anyhow::Result<()> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    // Work queued while we were not listening is found by the next claim.
    outbox.wake();
    loop {
        tokio::select! {
            notification = listener.recv() => {
                notification?;
                outbox.wake();
            }
            () = shutdown.cancelled() => return Ok(()),
        }
    }
}
