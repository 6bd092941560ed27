//! `atlas-bench`: measures what Atlas promises, on this machine, and prints the
//! numbers. `queue` fills the sync queue (a million rows by default), shows the
//! claim's query plan and times claims and enqueues; `sync` runs Atlas against an
//! embedded `altimeter-sim` over HTTP and times changes crossing both ways;
//! `backfill` links thousands of legacy tasks. Wall-clock goals live here, never
//! in the tests.

mod all;
mod backfill;
mod feed;
mod queue;
mod stats;
mod sync;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "atlas-bench",
    about = "Benchmarks for Atlas (see docs/PERFORMANCE.md)"
)]
struct Cli {
    /// Database to run against: a new temporary SQLite file unless given. A
    /// PostgreSQL URL should name an empty database made for the run.
    #[arg(long, env = "BENCH_DATABASE_URL", global = true)]
    database_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every figure in one run: a table, and with --json one JSON object as the
    /// last line (see docs/PERFORMANCE.md).
    All {
        /// Smaller sizes (2,000 pushes, 100,000 queued rows): a few minutes.
        #[arg(long)]
        quick: bool,
        /// End with the figures as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Fill the sync queue, show the claim's plan, time claims and enqueues.
    Queue {
        /// Rows in the queue.
        #[arg(long, default_value_t = 1_000_000)]
        rows: i64,
    },
    /// End to end against an embedded altimeter-sim: creates, edits both ways.
    Sync {
        /// Tasks to create in Atlas.
        #[arg(long, default_value_t = 1_000)]
        tasks: usize,
        /// Requests sent to Atlas at once.
        #[arg(long, default_value_t = 16)]
        concurrency: usize,
    },
    /// Link legacy tasks to a pre-filled simulator.
    Backfill {
        /// Legacy tasks (and their remote twins).
        #[arg(long, default_value_t = 5_000)]
        tasks: usize,
    },
    /// The live feed: one change reaching many WebSocket clients, and an
    /// Altimeter edit reaching a client as `synced`.
    Feed {
        /// WebSocket clients connected at once.
        #[arg(long, default_value_t = 10_000)]
        clients: usize,
        /// Changes timed (each way).
        #[arg(long, default_value_t = 30)]
        rounds: usize,
    },
    /// (Used by `feed`: the child process that holds the client connections.)
    #[command(hide = true)]
    FeedClients {
        #[arg(long)]
        url: String,
        #[arg(long, env = "BENCH_FEED_TOKEN", hide_env_values = true)]
        token: String,
        #[arg(long)]
        clients: usize,
    },
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    if let Command::FeedClients {
        url,
        token,
        clients,
    } = &cli.command
    {
        return feed::clients(url, token, *clients).await;
    }
    let url = match cli.database_url {
        Some(url) => url,
        None => temporary_sqlite()?,
    };
    println!("database: {}", atlas::db::redact(&url));
    match cli.command {
        Command::All { quick, json } => all::run(&url, quick, json).await,
        Command::Queue { rows } => queue::run(&url, rows).await,
        Command::Sync { tasks, concurrency } => sync::run(&url, tasks, concurrency).await,
        Command::Backfill { tasks } => backfill::run(&url, tasks).await,
        Command::Feed { clients, rounds } => feed::run(&url, clients, rounds).await,
        Command::FeedClients { .. } => Ok(()),
    }
}

fn temporary_sqlite() -> anyhow::Result<String> {
    let dir = std::env::temp_dir().join(format!("atlas-bench-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir)?;
    Ok(format!("sqlite://{}/bench.db", dir.display()))
}
