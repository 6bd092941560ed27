//! API credentials: roles, token generation (OS RNG) and hashing. A token is shown
//! once when created; only its SHA-256 hash is stored.

use anyhow::Context;
use rand::TryRngCore;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::db::{Db, now};
use crate::store::sessions;
use crate::store::tokens::{self, TokenRecord};

/// What a caller may do. Each role includes the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads tasks, history, conflicts and sync status.
    Viewer,
    /// Also writes tasks and resolves conflicts.
    Editor,
    /// Also runs sync operations.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        [Role::Viewer, Role::Editor, Role::Admin]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// Someone who presented a live token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub name: String,
    pub role: Role,
}

impl Caller {
    pub fn may(&self, needed: Role) -> bool {
        self.role >= needed
    }
}

const TOKEN_PREFIX: &str = "atlas_";

pub fn hash_token(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// Creates a token; the returned string is the only time it is ever visible.
pub async fn create_token(
    db: &Db,
    name: &str,
    role: Role,
) -> anyhow::Result<(String, TokenRecord)> {
    let token = format!("{TOKEN_PREFIX}{}", random_hex()?);
    let record = TokenRecord {
        id: uuid::Uuid::now_v7().to_string(),
        name: name.to_owned(),
        role,
        created_at: now(),
        revoked_at: None,
    };
    tokens::insert(db.pool(), &record, &hash_token(&token)).await?;
    Ok((token, record))
}

/// How long a web UI session lasts after sign-in.
pub const SESSION_HOURS: i64 = 12;

/// A signed-in browser: who it is, and the token its forms must carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub caller: Caller,
    pub csrf: String,
}

fn random_hex() -> anyhow::Result<String> {
    let mut secret = [0u8; 32];
    OsRng
        .try_fill_bytes(&mut secret)
        .context("the operating system's random number generator failed")?;
    Ok(hex::encode(secret))
}

/// Exchanges a live token for a session. Returns the cookie value (shown only
/// here; its hash is stored) and the session, or `None` for a bad token.
pub async fn sign_in(db: &Db, token: &str) -> anyhow::Result<Option<(String, Session)>> {
    let token = token.trim();
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    let Some(record) = tokens::find_active(db.pool(), &hash_token(token)).await? else {
        return Ok(None);
    };
    start_session(db, record).await.map(Some)
}

/// How long a one-time sign-in link stays usable.
pub const LINK_MINUTES: i64 = 60;

/// A one-time sign-in link code for `token` (no token to copy by hand).
pub async fn sign_in_link(db: &Db, token: &TokenRecord) -> anyhow::Result<String> {
    let code = random_hex()?;
    let expires = now() + chrono::Duration::minutes(LINK_MINUTES);
    sessions::insert_link(db.pool(), &hash_token(&code), &token.id, expires).await?;
    Ok(code)
}

/// Uses up a sign-in link code: a session for its token, or `None`.
pub async fn sign_in_with_link(db: &Db, code: &str) -> anyhow::Result<Option<(String, Session)>> {
    let mut conn = db.pool().acquire().await?;
    let Some(token_id) = sessions::take_link(&mut conn, &hash_token(code.trim()), now()).await?
    else {
        return Ok(None);
    };
    drop(conn);
    let record = tokens::list(db.pool())
        .await?
        .into_iter()
        .find(|t| t.id == token_id)
        .context("the sign-in link's token vanished")?;
    start_session(db, record).await.map(Some)
}

async fn start_session(db: &Db, record: TokenRecord) -> anyhow::Result<(String, Session)> {
    let cookie = random_hex()?;
    let csrf = random_hex()?;
    let at = now();
    sessions::prune(db.pool(), at).await?;
    let expires = at + chrono::Duration::hours(SESSION_HOURS);
    sessions::insert(
        db.pool(),
        &hash_token(&cookie),
        &record.id,
        &csrf,
        at,
        expires,
    )
    .await?;
    let session = Session {
        caller: Caller {
            name: record.name,
            role: record.role,
        },
        csrf,
    };
    Ok((cookie, session))
}

/// The live session a cookie names, if any.
pub async fn session(db: &Db, cookie: &str) -> anyhow::Result<Option<Session>> {
    let found = sessions::find_live(db.pool(), &hash_token(cookie), now()).await?;
    Ok(found.map(|s| Session {
        caller: Caller {
            name: s.token_name,
            role: s.role,
        },
        csrf: s.csrf,
    }))
}

pub async fn sign_out(db: &Db, cookie: &str) -> anyhow::Result<()> {
    sessions::delete(db.pool(), &hash_token(cookie)).await
}

/// The caller a presented token belongs to, if it is live.
pub async fn authenticate(db: &Db, token: &str) -> anyhow::Result<Option<Caller>> {
    if !token.starts_with(TOKEN_PREFIX) {
        return Ok(None);
    }
    Ok(tokens::find_active(db.pool(), &hash_token(token))
        .await?
        .map(|record| Caller {
            name: record.name,
            role: record.role,
        }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered() {
        let editor = Caller {
            name: "e".into(),
            role: Role::Editor,
        };
        assert!(editor.may(Role::Viewer));
        assert!(editor.may(Role::Editor));
        assert!(!editor.may(Role::Admin));
        assert_eq!(Role::parse("admin"), Some(Role::Admin));
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(
            hash_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
