//! The `ui_sessions` table: signed-in browsers. Only a hash of each session
//! cookie is stored, and a session is only found while its token is live.

use anyhow::Context;
use chrono::{DateTime, Utc};
use sqlx::{Any, Executor};

use crate::auth::Role;
use crate::db::encode_ts;

/// A live session as a lookup finds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub token_name: String,
    pub role: Role,
    pub csrf: String,
}

pub async fn insert<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    id_hash: &str,
    token_id: &str,
    csrf: &str,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO ui_sessions (id_hash, token_id, csrf, created_at, expires_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(id_hash)
    .bind(token_id)
    .bind(csrf)
    .bind(encode_ts(&created_at))
    .bind(encode_ts(&expires_at))
    .execute(executor)
    .await
    .context("storing a session failed")?;
    Ok(())
}

/// The unexpired session with this hash whose token is not revoked.
pub async fn find_live<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    id_hash: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<SessionRecord>> {
    let row: Option<(String, String, String)> = sqlx::query_as(
        "SELECT t.name, t.role, s.csrf FROM ui_sessions s \
         JOIN api_tokens t ON t.id = s.token_id \
         WHERE s.id_hash = $1 AND s.expires_at > $2 AND t.revoked_at IS NULL",
    )
    .bind(id_hash)
    .bind(encode_ts(&now))
    .fetch_optional(executor)
    .await
    .context("looking up a session failed")?;
    row.map(|(token_name, role, csrf)| {
        Ok(SessionRecord {
            role: Role::parse(&role).with_context(|| format!("unknown role `{role}`"))?,
            token_name,
            csrf,
        })
    })
    .transpose()
}

pub async fn delete<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    id_hash: &str,
) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM ui_sessions WHERE id_hash = $1")
        .bind(id_hash)
        .execute(executor)
        .await
        .context("ending a session failed")?;
    Ok(())
}

/// Forgets sessions that expired before `now`.
pub async fn prune<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    now: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query("DELETE FROM ui_sessions WHERE expires_at <= $1")
        .bind(encode_ts(&now))
        .execute(executor)
        .await
        .context("pruning sessions failed")?;
    Ok(())
}

/// Records a one-time sign-in link for a token.
pub async fn insert_link<'c, E: Executor<'c, Database = Any>>(
    executor: E,
    code_hash: &str,
    token_id: &str,
    expires_at: DateTime<Utc>,
) -> anyhow::Result<()> {
    sqlx::query(
        "INSERT INTO ui_sign_in_links (code_hash, token_id, expires_at) VALUES ($1, $2, $3)",
    )
    .bind(code_hash)
    .bind(token_id)
    .bind(encode_ts(&expires_at))
    .execute(executor)
    .await
    .context("storing a sign-in link failed")?;
    Ok(())
}

/// Uses up a sign-in link: the token id it was for, if it was unused, unexpired
/// and its token is live. A link works once, whatever the outcome.
pub async fn take_link(
    conn: &mut sqlx::AnyConnection,
    code_hash: &str,
    now: DateTime<Utc>,
) -> anyhow::Result<Option<String>> {
    let taken: Option<(String, String)> = sqlx::query_as(
        "DELETE FROM ui_sign_in_links WHERE code_hash = $1 RETURNING token_id, expires_at",
    )
    .bind(code_hash)
    .fetch_optional(&mut *conn)
    .await
    .context("using a sign-in link failed")?;
    let Some((token_id, expires_at)) = taken else {
        return Ok(None);
    };
    if expires_at <= encode_ts(&now) {
        return Ok(None);
    }
    let live: Option<(String,)> =
        sqlx::query_as("SELECT id FROM api_tokens WHERE id = $1 AND revoked_at IS NULL")
            .bind(&token_id)
            .fetch_optional(&mut *conn)
            .await
            .context("checking a sign-in link's token failed")?;
    Ok(live.map(|(id,)| id))
}
