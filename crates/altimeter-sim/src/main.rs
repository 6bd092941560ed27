//! The `altimeter-sim` binary: flags, logging, and a simulator that runs until
//! SIGINT or SIGTERM.

use std::net::SocketAddr;
use std::path::PathBuf;

use altimeter_sim::{SimConfig, spawn};
use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

/// A faithful, stateful Altimeter API (v1) for tests and demos: tasks with
/// versions and tombstones, signed webhooks, rate limits and fault injection.
/// The API is served under /v1, the control API under /_sim, and an HTML page
/// for editing tasks "in Altimeter" at /.
#[derive(Parser)]
#[command(name = "altimeter-sim", version)]
struct Cli {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:9090")]
    bind: SocketAddr,

    /// The bearer token every /v1 request must carry.
    #[arg(long, env = "ALTIMETER_API_KEY", hide_env_values = true)]
    api_key: String,

    /// URL that receives a webhook for every change (e.g. http://127.0.0.1:8080/webhooks/altimeter).
    #[arg(long)]
    webhook_url: Option<String>,

    /// Secret for X-Altimeter-Signature (HMAC-SHA256 of the body); unsigned without it.
    #[arg(long, env = "ALTIMETER_WEBHOOK_SECRET", hide_env_values = true)]
    webhook_secret: Option<String>,

    /// Requests per second allowed before answering 429 (default: no limit).
    #[arg(long, value_name = "REQ_PER_S", value_parser = clap::value_parser!(u32).range(1..))]
    rate_limit: Option<u32>,

    /// Keep tasks and idempotency keys in this JSON file across restarts
    /// (default: in memory only).
    #[arg(long, value_name = "FILE")]
    data: Option<PathBuf>,
}

/// By hand, so the API key and webhook secret never reach a log.
impl std::fmt::Debug for Cli {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const REDACTED: &str = "[redacted]";
        f.debug_struct("Cli")
            .field("bind", &self.bind)
            .field("api_key", &REDACTED)
            .field("webhook_url", &self.webhook_url)
            .field(
                "webhook_secret",
                &self.webhook_secret.as_ref().map(|_| REDACTED),
            )
            .field("rate_limit", &self.rate_limit)
            .field("data", &self.data)
            .finish()
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
    let config = SimConfig {
        webhook_url: cli.webhook_url,
        webhook_secret: cli.webhook_secret,
        rate_limit: cli.rate_limit,
        data_file: cli.data,
        ..SimConfig::new(cli.api_key)
    };
    let listener = tokio::net::TcpListener::bind(cli.bind)
        .await
        .with_context(|| format!("cannot listen on {}", cli.bind))?;
    let sim = spawn(config, listener).await?;
    tracing::info!(api = %sim.base_url(), page = %format!("http://{}/", sim.addr()), "ready");
    shutdown_signal().await;
    tracing::info!("shutting down");
    sim.shutdown().await;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_the_secrets() {
        let cli = Cli::try_parse_from([
            "altimeter-sim",
            "--api-key",
            "api-sekrit",
            "--webhook-secret",
            "whsec-sekrit",
            "--rate-limit",
            "5",
        ])
        .unwrap();
        let shown = format!("{cli:?}");
        assert!(!shown.contains("sekrit"), "{shown}");
        assert!(shown.contains("rate_limit: Some(5)"), "{shown}");
    }
}
