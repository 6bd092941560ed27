//! The `atlas` command line: every command, its flags and environment variables.
//! Each command exits non-zero with a one-line reason on error.

mod conflicts;
mod sync;
mod token;
mod watch;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::app::{self, Application};
use crate::config::{Config, DatabaseArgs, ServeArgs, WorkerArgs};
use crate::db::Db;
use crate::sync::outbox::Outbox;
use crate::telemetry::{self, LogFormat};

#[derive(Debug, Parser)]
#[command(
    name = "atlas",
    version,
    about = "Atlas: construction tasks kept in two-way sync with Altimeter",
    long_about = "Atlas keeps the tasks of building projects and syncs them both ways with \
                  Altimeter. Configure it with environment variables; a flag overrides \
                  the variable of the same name."
)]
pub struct Cli {
    #[command(flatten)]
    pub database: DatabaseArgs,
    /// Log format.
    #[arg(
        long,
        env = "ATLAS_LOG_FORMAT",
        value_enum,
        default_value = "pretty",
        global = true
    )]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the API, the webhook receiver and (unless --no-worker) the sync worker.
    Serve(ServeArgs),
    /// Run only the sync worker (any number may run against one PostgreSQL database).
    Worker(WorkerArgs),
    /// Apply database migrations (they also run at start-up).
    Migrate,
    /// Operate sync: status, pause, resume, drain, trigger, retry, backfill, held deletes.
    #[command(subcommand)]
    Sync(sync::SyncCommand),
    /// List and resolve sync conflicts.
    #[command(subcommand)]
    Conflicts(conflicts::ConflictsCommand),
    /// Load an existing Atlas export (JSON lines, or CSV by its .csv name).
    Import {
        /// The export file.
        file: PathBuf,
    },
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// Print the live sync feed of a running server, one line per event.
    Watch(watch::WatchArgs),
    /// Try Atlas in one command: Atlas, a simulated Altimeter wired to it, the
    /// sync worker and the UI, seeded with tasks; prints a sign-in link.
    Demo(DemoArgs),
}

#[derive(Debug, clap::Args)]
pub struct DemoArgs {
    /// Where the demo keeps its data (Atlas's SQLite file and the simulator's).
    #[arg(long, default_value = "./atlas-demo")]
    pub data_dir: PathBuf,
    /// Start over: delete the data directory first.
    #[arg(long)]
    pub reset: bool,
    /// Atlas's port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// The simulator's port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 9090)]
    pub sim_port: u16,
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    let filter = match cli.command {
        Command::Demo(_) => telemetry::QUIET_FILTER,
        _ => telemetry::DEFAULT_FILTER,
    };
    telemetry::init_logging(cli.log_format, filter);
    match cli.command {
        Command::Serve(args) => serve(&cli.database, &args).await,
        Command::Worker(args) => worker(&cli.database, &args).await,
        Command::Migrate => {
            open_db(&cli.database).await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Sync(command) => sync::run(&cli.database, command).await,
        Command::Conflicts(command) => conflicts::run(&cli.database, command).await,
        Command::Import { file } => import(&cli.database, &file).await,
        Command::Token(command) => token::run(&cli.database, command).await,
        Command::Watch(args) => watch::run(args).await,
        Command::Demo(args) => {
            let options = crate::demo::DemoOptions {
                data_dir: args.data_dir,
                reset: args.reset,
                port: args.port,
                sim_port: args.sim_port,
            };
            crate::demo::run(options, app::shutdown_on_signal()).await
        }
    }
}

/// The database, migrated.
async fn open_db(database: &DatabaseArgs) -> anyhow::Result<Db> {
    let db = Db::connect(&database.database_url).await?;
    db.migrate().await?;
    Ok(db)
}

/// The outbox of a command that queues work for the workers.
fn outbox(db: &Db) -> Outbox {
    Outbox::new(
        db.backend(),
        crate::config::SyncConfig::unconfigured().push_delay,
    )
}

async fn serve(database: &DatabaseArgs, args: &ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_args(database, args)?;
    let listener = TcpListener::bind(config.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {} (ATLAS_BIND): {e}", config.bind))?;
    let app = Application::build(config, listener).await?;
    app.run(app::shutdown_on_signal()).await
}

async fn worker(database: &DatabaseArgs, args: &WorkerArgs) -> anyhow::Result<()> {
    let config = args.sync.validate()?;
    let db = open_db(database).await?;
    let outbox = Outbox::new(db.backend(), config.push_delay);
    let Some(engine) = crate::sync::engine(&db, &config, &outbox)? else {
        anyhow::bail!("atlas worker needs ALTIMETER_API_URL and ALTIMETER_API_KEY");
    };
    let shutdown = app::shutdown_on_signal();
    let mut tasks = crate::sync::spawn(engine, &shutdown);
    if let Some(addr) = args.metrics_bind {
        let listener = TcpListener::bind(addr).await.map_err(|e| {
            anyhow::anyhow!("cannot listen on {addr} (ATLAS_WORKER_METRICS_BIND): {e}")
        })?;
        let state = crate::http::AppState {
            db: db.clone(),
            metrics: telemetry::metrics_handle(),
            outbox,
            sync: std::sync::Arc::new(config),
            feed: crate::feed::Hub::new(crate::feed::FeedConfig::default()),
        };
        let serve = axum::serve(listener, crate::http::health_router(state))
            .with_graceful_shutdown(shutdown.clone().cancelled_owned());
        tasks.spawn(async move {
            if let Err(e) = serve.await {
                tracing::error!(error = %e, "the worker's metrics listener failed");
            }
        });
        tracing::info!(%addr, "worker serving /healthz, /readyz and /metrics");
    }
    while tasks.join_next().await.is_some() {}
    db.close().await;
    Ok(())
}

async fn import(database: &DatabaseArgs, file: &std::path::Path) -> anyhow::Result<()> {
    let db = open_db(database).await?;
    let report = crate::import::import_file(&db, &outbox(&db), file, "import").await?;
    for (line, message) in &report.errors {
        eprintln!("{}:{line}: {message}", file.display());
    }
    println!(
        "imported {} task(s); {} merged into tasks sync had imported; {} already present; {} \
         row(s) refused",
        report.imported,
        report.merged,
        report.already_present,
        report.errors.len()
    );
    if !report.errors.is_empty() {
        anyhow::bail!(
            "{} row(s) of {} were refused (listed above); the others were imported",
            report.errors.len(),
            file.display()
        );
    }
    Ok(())
}
