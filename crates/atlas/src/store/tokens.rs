//! The `api_tokens` table. Only a SHA-256 hash of each token is stored.

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Any, Executor, FromRow};

use crate::auth::Role;
use crate::db::{decode_opt_ts, decode_ts, encode_ts, now};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

#[derive(FromRow)]
struct TokenRow {
    id: String,
    name: String,
    role: String,
    created_at: String,
    revoked_at: Option<String>,
}

impl TokenRow {
    fn into_record(self) -> anyhow::Result<TokenRecord> {
        Ok(TokenRecord {
            role: Role::parse(&self.role)
                .with_context(|| format!("unknown role `{}` in api_tokens", self.role))?,
            id: self.id,
            name: self.name,
            created_at: decode_ts(&self.created_at)?,
            revoked_at: decode_opt_ts(self.revoked_at.as_deref())?,
        })
    }
}

pub async fn insert<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    record: &TokenRecord,
    token_hash: &str,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO api_tokens (id, name, role, token_hash, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&record.id)
    .bind(&record.name)
    .bind(record.role.as_str())
    .bind(token_hash)
    .bind(encode_ts(&record.created_at))
    .execute(executor)
    .await
    .context("storing the token failed")?;
    Ok(())
}

/// The live (not revoked) token with this hash.
pub async fn find_active<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    token_hash: &str,
) -> anyhow::Result<Option<TokenRecord>> {
    sqlx::query_as::<_, TokenRow>(
        "SELECT id, name, role, created_at, revoked_at FROM api_tokens \
         WHERE token_hash = $1 AND revoked_at IS NULL",
    )
    .bind(token_hash)
    .fetch_optional(executor)
    .await
    .context("looking up a token failed")?
    .map(TokenRow::into_record)
    .transpose()
}

pub async fn list<'c, E: Executor<'c, Database = Any>>(
    executor: E,
) -> anyhow::Result<Vec<TokenRecord>> {
    sqlx::query_as::<_, TokenRow>(
        "SELECT id, name, role, created_at, revoked_at FROM api_tokens ORDER BY created_at, id",
    )
    .fetch_all(executor)
    .await
    .context("listing tokens failed")?
    .into_iter()
    .map(TokenRow::into_record)
    .collect()
}

/// Revokes the token with this id (or, failing that, this name). Returns how
/// many tokens were revoked.
pub async fn revoke<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    id_or_name: &str,
) -> anyhow::Result<u64> {
    let result = sqlx::query(
        "UPDATE api_tokens SET revoked_at = $1 WHERE revoked_at IS NULL AND (id = $2 OR name = $2)",
    )
    .bind(encode_ts(&now()))
    .bind(id_or_name)
    .execute(executor)
    .await
    .context("revoking the token failed")?;
    Ok(result.rows_affected())
}
