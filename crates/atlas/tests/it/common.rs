//! Test support: fresh databases on both backends and the app on port 0.
//!
//! PostgreSQL is `ATLAS_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`); each test gets its own new
//! database. When PostgreSQL is unreachable its tests print why and skip, except
//! under `CI=true`, where that is a failure.

use std::time::Duration;

use atlas::app::Application;
use atlas::auth::{self, Role};
use atlas::config::{Config, SyncConfig};
use atlas::db::Db;
use atlas::feed::FeedConfig;
use sqlx::Connection;
use sqlx::postgres::PgConnection;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs each named `async fn(Backend)` as a test on SQLite and on PostgreSQL.
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::common::Backend::Sqlite).await } )*
        }
        mod postgres {
            $( #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
               async fn $name() { super::$name($crate::common::Backend::Postgres).await } )*
        }
    };
}
pub(crate) use on_both_backends;

fn postgres_admin_url() -> String {
    std::env::var("ATLAS_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned())
}

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// A database URL nobody else uses: a file in a fresh temporary directory, or a
/// newly created PostgreSQL database. `None` (after saying why) when PostgreSQL
/// cannot be reached outside CI.
pub async fn fresh_database_url(backend: Backend) -> Option<String> {
    match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("atlas-test-{}", uuid::Uuid::new_v4()));
            std::fs::create_dir_all(&dir).expect("create temp dir");
            Some(format!("sqlite://{}/atlas.db", dir.display()))
        }
        Backend::Postgres => create_postgres_database().await,
    }
}

async fn create_postgres_database() -> Option<String> {
    let admin_url = postgres_admin_url();
    let connect = tokio::time::timeout(Duration::from_secs(5), PgConnection::connect(&admin_url));
    let mut conn = match connect.await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return skip_postgres(&format!("{e}")),
        Err(_) => return skip_postgres("connection timed out"),
    };
    drop_stale_databases(&mut conn).await;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let name = format!("atlas_test_{now}_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .expect("create test database");
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    Some(format!("{base}/{name}"))
}

/// Test databases more than an hour old are left over from earlier runs.
async fn drop_stale_databases(conn: &mut PgConnection) {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    let names: Vec<(String,)> =
        sqlx::query_as("SELECT datname FROM pg_database WHERE datname LIKE 'atlas_test_%'")
            .fetch_all(&mut *conn)
            .await
            .unwrap_or_default();
    for (name,) in names {
        let created: u64 = name
            .split('_')
            .nth(2)
            .and_then(|s| s.parse().ok())
            .unwrap_or(u64::MAX);
        if created.saturating_add(3600) < now {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut *conn)
                .await;
        }
    }
}

fn skip_postgres(reason: &str) -> Option<String> {
    assert!(
        !in_ci(),
        "PostgreSQL is required in CI but unreachable at {}: {reason}",
        postgres_admin_url()
    );
    eprintln!(
        "SKIPPED: PostgreSQL unreachable at {} ({reason})",
        postgres_admin_url()
    );
    None
}

/// A migrated database of the given backend.
pub async fn fresh_db(backend: Backend) -> Option<Db> {
    let url = fresh_database_url(backend).await?;
    let db = Db::connect(&url).await.expect("connect test database");
    db.migrate().await.expect("migrate test database");
    Some(db)
}

/// The app running on port 0 with a fresh database, and a token per role.
pub struct TestApp {
    pub base: String,
    pub database_url: String,
    pub db: Db,
    pub http: reqwest::Client,
    pub viewer: String,
    pub editor: String,
    pub admin: String,
    shutdown: CancellationToken,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind port 0");
    spawn_app_configured(backend, listener, SyncConfig::unconfigured(), |_| {}).await
}

/// The app on `listener` with these sync settings (and its worker when sync is
/// configured), with `tweak` applied to its whole configuration.
pub async fn spawn_app_configured(
    backend: Backend,
    listener: TcpListener,
    sync: SyncConfig,
    tweak: impl FnOnce(&mut Config),
) -> Option<TestApp> {
    init_test_logging();
    let database_url = fresh_database_url(backend).await?;
    let mut config = Config {
        database_url: database_url.clone(),
        bind: listener.local_addr().expect("local addr"),
        run_worker: true,
        feed: FeedConfig::default(),
        sync,
    };
    tweak(&mut config);
    let app = Application::build(config, listener)
        .await
        .expect("build app");
    let base = format!("http://{}", app.local_addr().expect("addr"));
    let db = app.db().clone();
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    let token = |role: Role| {
        let db = db.clone();
        async move {
            auth::create_token(&db, role.as_str(), role)
                .await
                .expect("token")
                .0
        }
    };
    Some(TestApp {
        viewer: token(Role::Viewer).await,
        editor: token(Role::Editor).await,
        admin: token(Role::Admin).await,
        base,
        database_url,
        db,
        http: reqwest::Client::new(),
        shutdown,
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn get(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http.get(self.url(path)).bearer_auth(token)
    }

    pub fn post(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http.post(self.url(path)).bearer_auth(token)
    }

    pub fn patch(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http.patch(self.url(path)).bearer_auth(token)
    }

    pub fn delete(&self, path: &str, token: &str) -> reqwest::RequestBuilder {
        self.http.delete(self.url(path)).bearer_auth(token)
    }

    /// GETs `path` as the viewer and returns the JSON answer.
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        self.get(path, &self.viewer)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Creates a task as the editor and returns its JSON.
    pub async fn create_task(&self, body: serde_json::Value) -> serde_json::Value {
        let response = self
            .post("/api/tasks", &self.editor)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 201, "create {body}");
        response.json().await.unwrap()
    }
}

/// Logs (warnings and errors by default, `RUST_LOG` to change) go to the test's
/// captured output, shown when it fails.
pub fn init_test_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx=error"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Polls `check` every 50 ms until it holds, for at most `secs` seconds.
pub async fn wait_until<F, Fut>(secs: u64, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out after {secs} s waiting for {what}");
}
