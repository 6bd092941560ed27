//! Running a simulator: the HTTP server, webhook delivery and the data-file
//! writer as background tasks, each under its own child of one cancellation
//! token, and a handle that stops them in the order that loses no write.

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
    server: Stoppable,
    webhooks: Stoppable,
    persister: Stoppable,
}

/// A background task and the token that asks it to stop.
#[derive(Debug)]
struct Stoppable {
    stop: CancellationToken,
    task: JoinHandle<()>,
}

impl Stoppable {
    fn spawn<F>(stop: CancellationToken, run: impl FnOnce(CancellationToken) -> F) -> Self
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let task = tokio::spawn(run(stop.clone()));
        Self { stop, task }
    }

    /// Asks the task to stop without waiting for it.
    fn cancel(&self) {
        self.stop.cancel();
    }

    async fn join(self, what: &str) {
        if let Err(e) = self.task.await {
            tracing::error!(error = %e, task = what, "a simulator task panicked");
        }
    }
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
    // A token per part (children of one root) so `shutdown` can stop the parts
    // one after the other instead of all at once.
    let root = CancellationToken::new();
    let app = router(state.clone());
    let server = Stoppable::spawn(root.child_token(), |stop| async move {
        let serve = axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned());
        if let Err(e) = serve.await {
            tracing::error!(error = %e, "the simulator's HTTP server failed");
        }
    });
    let webhooks = Stoppable::spawn(root.child_token(), |stop| {
        webhooks::run(state.clone(), events, stop)
    });
    let persister = Stoppable::spawn(root.child_token(), |stop| persist::run(state.clone(), stop));
    tracing::info!(%addr, "altimeter-sim listening");
    Ok(SimHandle {
        addr,
        state,
        server,
        webhooks,
        persister,
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

    /// Stops taking requests and waits for in-flight ones to finish; only then
    /// stops webhook delivery (pending retries are abandoned) and the data-file
    /// writer, which writes the file one last time. So every write the API
    /// acknowledged is in the data file.
    pub async fn shutdown(self) {
        self.server.cancel();
        self.server.join("http server").await;
        self.webhooks.cancel();
        self.persister.cancel();
        self.webhooks.join("webhook delivery").await;
        self.persister.join("data file writer").await;
        tracing::info!("altimeter-sim stopped");
    }
}
