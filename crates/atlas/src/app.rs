//! Building the application is separate from running it: `build` opens the
//! database, applies migrations and assembles the router around a listener the
//! caller bound (tests bind port 0); `run` serves until the token is cancelled.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::db::Db;
use crate::feed::{self, Hub};
use crate::http::{self, AppState};
use crate::sync::{self, engine::Engine, outbox::Outbox};
use crate::telemetry;

pub struct Application {
    listener: TcpListener,
    state: AppState,
    config: Config,
    engine: Option<Engine>,
}

impl Application {
    /// Opens the database named by `config`, migrates it and prepares the server
    /// (and, unless `--no-worker`, the sync worker).
    pub async fn build(config: Config, listener: TcpListener) -> anyhow::Result<Application> {
        let db = Db::connect(&config.database_url).await?;
        db.migrate().await?;
        let outbox = Outbox::new(db.backend(), config.sync.push_delay);
        let engine = match config.run_worker {
            true => sync::engine(&db, &config.sync, &outbox)?,
            false => None,
        };
        Ok(Application {
            listener,
            state: AppState {
                db,
                metrics: telemetry::metrics_handle(),
                outbox,
                sync: Arc::new(config.sync.clone()),
                feed: Hub::new(config.feed.clone()),
            },
            config,
            engine,
        })
    }

    pub fn local_addr(&self) -> anyhow::Result<SocketAddr> {
        self.listener
            .local_addr()
            .context("listener has no local address")
    }

    pub fn db(&self) -> &Db {
        &self.state.db
    }

    /// Where this application's writes queue their sync work (and wake its worker).
    pub fn outbox(&self) -> &Outbox {
        &self.state.outbox
    }

    /// Serves until `shutdown` is cancelled, then lets in-flight requests and
    /// sync items finish.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let addr = self.local_addr()?;
        match (&self.config.sync.altimeter, &self.engine) {
            (None, _) => tracing::warn!(
                "sync is not configured (ALTIMETER_API_URL is unset): serving tasks without sync"
            ),
            (Some(a), Some(_)) => {
                tracing::info!(altimeter = %a.api_url, "sync with Altimeter is on")
            }
            (Some(a), None) => {
                tracing::info!(altimeter = %a.api_url, "no sync worker in this process (--no-worker)")
            }
        }
        tracing::info!(%addr, backend = ?self.state.db.backend(), "atlas is listening");
        let db = self.state.db.clone();
        let hub = self.state.feed.clone();
        let mut workers = self.engine.map(|engine| sync::spawn(engine, &shutdown));
        let mut feed = feed::source::spawn(&db, &hub, &shutdown);
        let closing = shutdown.clone();
        let close_feed = hub.clone();
        tokio::spawn(async move {
            // WebSocket connections outlive the server's graceful shutdown
            // unless told to close.
            closing.cancelled().await;
            close_feed.close();
        });
        axum::serve(self.listener, http::router(self.state))
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .await
            .context("the HTTP server failed")?;
        shutdown.cancel();
        while feed.join_next().await.is_some() {}
        if let Some(workers) = workers.as_mut() {
            while workers.join_next().await.is_some() {}
        }
        db.close().await;
        tracing::info!("atlas stopped");
        Ok(())
    }
}

/// A token cancelled on SIGINT or SIGTERM.
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let trigger = token.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutdown requested; finishing in-flight work");
        trigger.cancel();
    });
    token
}

async fn wait_for_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}
