//! `atlas conflicts list|show|resolve`.

use clap::{Args, Subcommand};
use uuid::Uuid;

use super::{open_db, outbox};
use crate::config::DatabaseArgs;
use crate::store::conflicts::{self, ConflictStatus};
use crate::sync::resolve::{self, Resolution, ResolveRequest};

#[derive(Debug, Subcommand)]
pub enum ConflictsCommand {
    /// List unresolved conflicts (newest first).
    List {
        /// Include resolved and automatically resolved ones.
        #[arg(long)]
        all: bool,
    },
    /// Show one conflict: both versions, their base and the differing fields.
    Show { id: Uuid },
    /// Resolve a conflict by keeping one side.
    Resolve {
        id: Uuid,
        #[command(flatten)]
        side: Side,
        /// Who resolved it (shown in the task's history).
        #[arg(long, default_value = "cli")]
        by: String,
    },
}

#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct Side {
    /// Keep Atlas's version and push it to Altimeter.
    #[arg(long)]
    keep_local: bool,
    /// Take Altimeter's version.
    #[arg(long)]
    accept_remote: bool,
}

pub async fn run(database: &DatabaseArgs, command: ConflictsCommand) -> anyhow::Result<()> {
    let db = open_db(database).await?;
    match command {
        ConflictsCommand::List { all } => {
            let status = (!all).then_some(ConflictStatus::Unresolved);
            for c in conflicts::list(db.pool(), status, None, None, 500).await? {
                let fields: Vec<_> = c.fields.iter().map(|f| f.name()).collect();
                println!(
                    "{}\t{}\t{}\ttask {}\t{}\t{}",
                    c.id,
                    c.status.as_str(),
                    c.created_at.to_rfc3339(),
                    c.task_id,
                    fields.join(","),
                    c.local.fields.title
                );
            }
        }
        ConflictsCommand::Show { id } => {
            let c = conflicts::get(db.pool(), id)
                .await?
                .ok_or_else(|| anyhow::anyhow!("no conflict has id {id}"))?;
            println!("{}", serde_json::to_string_pretty(&c)?);
        }
        ConflictsCommand::Resolve { id, side, by } => {
            let resolution = if side.keep_local {
                Resolution::KeepLocal
            } else {
                Resolution::AcceptRemote
            };
            let request = ResolveRequest {
                resolution,
                fields: None,
            };
            let task = resolve::resolve(&db, &outbox(&db), id, request, &by).await?;
            println!(
                "resolved ({}); task {} is now version {} and {}",
                resolution.as_str(),
                task.id,
                task.version,
                task.sync_status.as_str()
            );
        }
    }
    Ok(())
}
