//! The database handle: one sqlx `Any` pool over SQLite (embedded default) or
//! PostgreSQL, the embedded migrations of each backend, and the write
//! transaction every change goes through.
//!
//! Both backends share one code path and one SQL text wherever the dialects agree
//! (`$n` parameters, `ON CONFLICT`, `RETURNING`); where they differ the caller asks
//! [`Db::backend`]. Column types are limited to what `Any` decodes on both: TEXT,
//! BIGINT/INTEGER, 0/1 for booleans, and fixed-format UTC text for timestamps.

use std::str::FromStr;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, SecondsFormat, SubsecRound, Utc};
use sqlx::any::{AnyConnectOptions, AnyPoolOptions};
use sqlx::migrate::{Migrate, Migrator};
use sqlx::{Any, AnyPool, Executor, Transaction};

static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: Migrator = sqlx::migrate!("migrations/postgres");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// What a `SELECT` appends to lock the rows it reads until the transaction
    /// ends: `FOR UPDATE` on PostgreSQL; nothing on SQLite, whose write
    /// transactions already hold the database's write lock.
    pub fn lock_clause(self) -> &'static str {
        match self {
            Backend::Postgres => " FOR UPDATE",
            Backend::Sqlite => "",
        }
    }
}

#[derive(Clone)]
pub struct Db {
    pool: AnyPool,
    backend: Backend,
    url: String,
}

impl std::fmt::Debug for Db {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Db")
            .field("backend", &self.backend)
            .finish()
    }
}

impl Db {
    /// Connects to `url` (`sqlite://file.db` or `postgres://...`). A SQLite file is
    /// created on first use and opened in WAL mode with a busy timeout.
    pub async fn connect(url: &str) -> anyhow::Result<Db> {
        sqlx::any::install_default_drivers();
        let backend = backend_of(url)?;
        let url = match backend {
            Backend::Sqlite => sqlite_url_with_create(url),
            Backend::Postgres => url.to_owned(),
        };
        let options = AnyConnectOptions::from_str(&url).with_context(|| {
            format!("DATABASE_URL is not a valid database URL: {}", redact(&url))
        })?;
        let pool = match backend {
            Backend::Sqlite => {
                AnyPoolOptions::new()
                    .max_connections(8)
                    .after_connect(|conn, _| {
                        Box::pin(async move {
                            conn.execute(
                                "PRAGMA journal_mode = WAL; PRAGMA busy_timeout = 10000; \
                                 PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                            )
                            .await
                            .map(|_| ())
                        })
                    })
                    .connect_with(options)
                    .await
            }
            Backend::Postgres => {
                AnyPoolOptions::new()
                    .max_connections(16)
                    .acquire_timeout(Duration::from_secs(10))
                    .connect_with(options)
                    .await
            }
        }
        .with_context(|| format!("cannot open the database at {}", redact(&url)))?;
        Ok(Db { pool, backend, url })
    }

    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The URL this handle was opened with (PostgreSQL `LISTEN` needs its own
    /// connection).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn migrator(&self) -> &'static Migrator {
        match self.backend {
            Backend::Sqlite => &SQLITE_MIGRATIONS,
            Backend::Postgres => &POSTGRES_MIGRATIONS,
        }
    }

    /// Applies every embedded migration not yet applied, then fills the columns
    /// a migration added but only Atlas can compute.
    pub async fn migrate(&self) -> anyhow::Result<()> {
        self.migrator()
            .run(&self.pool)
            .await
            .context("applying database migrations failed")?;
        crate::store::tasks::refold(&self.pool).await?;
        Ok(())
    }

    /// True when the database answers and every embedded migration is applied.
    pub async fn is_ready(&self) -> anyhow::Result<bool> {
        let mut conn = self.pool.acquire().await?;
        conn.ensure_migrations_table().await?;
        let applied = conn.list_applied_migrations().await?;
        Ok(self
            .migrator()
            .iter()
            .filter(|m| m.migration_type.is_up_migration())
            .all(|m| applied.iter().any(|a| a.version == m.version)))
    }

    /// Begins a transaction that will write. On SQLite it takes the write lock at
    /// once (`BEGIN IMMEDIATE`), so a read-then-write never fails half-way with
    /// "database is locked"; PostgreSQL uses row locks instead.
    pub async fn begin_write(&self) -> anyhow::Result<Transaction<'static, Any>> {
        let tx = match self.backend {
            Backend::Sqlite => self.pool.begin_with("BEGIN IMMEDIATE").await,
            Backend::Postgres => self.pool.begin().await,
        };
        tx.context("cannot begin a database transaction")
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn backend_of(url: &str) -> anyhow::Result<Backend> {
    if url.starts_with("sqlite:") {
        Ok(Backend::Sqlite)
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Backend::Postgres)
    } else {
        anyhow::bail!(
            "DATABASE_URL must start with sqlite:// or postgres:// (got {})",
            redact(url)
        )
    }
}

/// `sqlite://atlas.db` opens read-write-create unless the URL names a mode.
fn sqlite_url_with_create(url: &str) -> String {
    if url.contains("mode=") || url.contains(":memory:") {
        url.to_owned()
    } else if url.contains('?') {
        format!("{url}&mode=rwc")
    } else {
        format!("{url}?mode=rwc")
    }
}

/// The URL with any password replaced, for messages and logs: the one in
/// `user:password@` and any query parameter that names one (`?password=`,
/// `sslpassword=`).
pub fn redact(url: &str) -> String {
    let (address, query) = match url.split_once('?') {
        Some((address, query)) => (address, Some(query)),
        None => (url, None),
    };
    let mut out = match (address.find("://"), address.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            match address[scheme_end + 3..at].split_once(':') {
                Some((user, _)) => {
                    format!("{}{user}:***{}", &address[..scheme_end + 3], &address[at..])
                }
                None => address.to_owned(),
            }
        }
        _ => address.to_owned(),
    };
    if let Some(query) = query {
        let params: Vec<String> = query
            .split('&')
            .map(|param| match param.split_once('=') {
                Some((name, _)) if name.to_ascii_lowercase().contains("password") => {
                    format!("{name}=***")
                }
                _ => param.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&params.join("&"));
    }
    out
}

/// Now, truncated to what the database keeps (microseconds), so a value read back
/// equals the value written.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// The stored form of a timestamp: fixed-width UTC text that sorts as time does.
pub fn encode_ts(ts: &DateTime<Utc>) -> String {
    ts.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub fn decode_ts(text: &str) -> anyhow::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .with_context(|| format!("stored timestamp `{text}` is not RFC 3339"))
}

pub fn decode_opt_ts(text: Option<&str>) -> anyhow::Result<Option<DateTime<Utc>>> {
    text.map(decode_ts).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_and_sort_as_text() {
        let a = now();
        let b = a + chrono::Duration::microseconds(1);
        assert_eq!(decode_ts(&encode_ts(&a)).unwrap(), a);
        assert!(encode_ts(&a) < encode_ts(&b));
        assert_eq!(encode_ts(&a).len(), "2026-01-01T00:00:00.000000Z".len());
    }

    #[test]
    fn urls() {
        assert_eq!(backend_of("sqlite://a.db").unwrap(), Backend::Sqlite);
        assert_eq!(backend_of("postgres://u@h/d").unwrap(), Backend::Postgres);
        assert!(backend_of("mysql://h/d").is_err());
        assert_eq!(
            sqlite_url_with_create("sqlite://a.db"),
            "sqlite://a.db?mode=rwc"
        );
        assert_eq!(redact("postgres://u:secret@h/d"), "postgres://u:***@h/d");
        assert_eq!(redact("postgres://u@h/d"), "postgres://u@h/d");
        assert_eq!(
            redact("postgres://u@h/d?sslmode=disable&password=secret"),
            "postgres://u@h/d?sslmode=disable&password=***"
        );
        assert_eq!(
            redact("postgres://u:a@h/d?PassWord=b&sslpassword=c"),
            "postgres://u:***@h/d?PassWord=***&sslpassword=***"
        );
        assert_eq!(
            redact("sqlite://atlas.db?mode=rwc"),
            "sqlite://atlas.db?mode=rwc"
        );
    }
}
