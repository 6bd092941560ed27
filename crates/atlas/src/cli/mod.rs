//! The `atlas` command line: every command, its flags and environment variables.
//! Each command exits non-zero with a one-line reason on error.

mod token;

use clap::{Parser, Subcommand};
use tokio::net::TcpListener;

use crate::app::{self, Application};
use crate::config::{Config, DatabaseArgs, ServeArgs};
use crate::db::Db;
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
    /// Serve the REST API and health endpoints.
    Serve(ServeArgs),
    /// Apply database migrations (they also run at start-up).
    Migrate,
    /// Create, list and revoke API tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
}

/// Runs the parsed command line.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    telemetry::init_logging(cli.log_format);
    match cli.command {
        Command::Serve(args) => serve(&cli.database, &args).await,
        Command::Migrate => {
            let db = Db::connect(&cli.database.database_url).await?;
            db.migrate().await?;
            println!("database is up to date");
            Ok(())
        }
        Command::Token(command) => token::run(&cli.database, command).await,
    }
}

async fn serve(database: &DatabaseArgs, args: &ServeArgs) -> anyhow::Result<()> {
    let config = Config::from_args(database, args)?;
    let listener = TcpListener::bind(config.bind)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {} (ATLAS_BIND): {e}", config.bind))?;
    let app = Application::build(config, listener).await?;
    app.run(app::shutdown_on_signal()).await
}
