//! `atlas token create|list|revoke`.

use clap::Subcommand;

use crate::auth::{self, Role};
use crate::config::DatabaseArgs;
use crate::store::tokens;

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token and print it once (only its hash is stored).
    Create {
        /// What the token may do: viewer reads, editor also writes tasks and
        /// resolves conflicts, admin also runs sync operations.
        #[arg(long, value_parser = parse_role)]
        role: Role,
        /// A name to recognise the token by (shown in logs and history).
        #[arg(long, default_value = "cli")]
        name: String,
    },
    /// List tokens (never their secrets).
    List,
    /// Revoke a token by id or name.
    Revoke {
        /// The token's id, or its name (revokes every live token of that name).
        id_or_name: String,
    },
}

fn parse_role(s: &str) -> Result<Role, String> {
    Role::parse(s).ok_or_else(|| format!("`{s}` is not a role: use viewer, editor or admin"))
}

pub async fn run(database: &DatabaseArgs, command: TokenCommand) -> anyhow::Result<()> {
    let db = super::open_db(database).await?;
    match command {
        TokenCommand::Create { role, name } => {
            if name.trim().is_empty() {
                anyhow::bail!("--name must not be blank");
            }
            let (token, record) = auth::create_token(&db, &name, role).await?;
            eprintln!(
                "created {} token `{}` (id {}); it is shown only this once:",
                record.role.as_str(),
                record.name,
                record.id
            );
            println!("{token}");
        }
        TokenCommand::List => {
            for t in tokens::list(db.pool()).await? {
                let state = match t.revoked_at {
                    Some(at) => format!("revoked {}", at.to_rfc3339()),
                    None => "active".to_owned(),
                };
                println!("{}\t{}\t{}\t{}", t.id, t.name, t.role.as_str(), state);
            }
        }
        TokenCommand::Revoke { id_or_name } => {
            match tokens::revoke(db.pool(), &id_or_name).await? {
                0 => anyhow::bail!("no live token has id or name `{id_or_name}`"),
                n => println!("revoked {n} token(s)"),
            }
        }
    }
    Ok(())
}
