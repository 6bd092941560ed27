//! Running a simulator: the HTTP server, webhook delivery and the data-file
//! writer as background tasks under one cancellation token, and a handle to
//! stop them cleanly.

use std::net::SocketAddr;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::SimConfig;
use crate::state::SimState;
use crate::{persist, router, webhooks};

/// A running simulator. Dropping it leaves the server running until the
/// runtime ends; call [`SimHandle::shutdown`] to stop it and flush the data file.
#[derive(Debug)]
pub struct SimHandle {
    addr: SocketAddr,
    state: SimState,
    shutdown: CancellationToken,
    tasks: Vec<JoinHandle<()>>,
}

/// Starts a simulator on `listener` (bind port 0 in tests).
pub async fn spawn(config: SimConfig, listener: TcpListener) -> anyhow::Result<SimHandle> {
    let state = SimState::new(config)?;
    let addr = listener
        .local_addr()
        .context("reading the listener's address")?;
    let events = state
        .take_events()
        .context("this simulator state is already running")?;
    let shutdown = CancellationToken::new();
    let app = router(state.clone());
    let server_stop = shutdown.clone();
    let server = tokio::spawn(async move {
        let serve =
            axum::serve(listener, app).with_graceful_shutdown(server_stop.cancelled_owned());
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "the simulator's HTTP server failed");
        }
    });
    let tasks = vec![
        server,
        tokio::spawn(webhooks::run(state.clone(), events, shutdown.clone())),
        tokio::spawn(persist::run(state.clone(), shutdown.clone())),
    ];
    tracing::info!(%addr, "altimeter-sim listening");
    Ok(SimHandle {
        addr,
        state,
        shutdown,
        tasks,
    })
}

impl SimHandle {
    /// The API root, e.g. `http://127.0.0.1:9090/v1`.
    pub fn base_url(&self) -> String {
        format!("http://{}/v1", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn state(&self) -> &SimState {
        &self.state
    }

    /// Stops taking requests, lets in-flight ones finish, abandons pending
    /// webhook retries and writes the data file one last time.
    pub async fn shutdown(self) {
        self.shutdown.cancel();
        for task in self.tasks {
            if let Err(e) = task.await {
                tracing::error!(error = %e, "a simulator task panicked");
            }
        }
        tracing::info!("altimeter-sim stopped");
    }
}
