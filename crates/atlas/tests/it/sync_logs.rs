//! What `atlas serve` logs: one JSON line per sync attempt, with the keys an
//! operator queries, and no line that repeats a key (log shippers keep one).

use std::fmt;
use std::process::Stdio;

use altimeter_sim::Faults;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::{Value, json};

use crate::common::{Backend, fresh_database_url, wait_until};
use crate::sync_crash::{free_port, sim_for_atlas_on, start_atlas_logging, wait_ready};

/// The top-level keys of a JSON object, in order, repeats included.
struct Keys(Vec<String>);

impl<'de> serde::Deserialize<'de> for Keys {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Keys, D::Error> {
        struct KeysVisitor;
        impl<'de> Visitor<'de> for KeysVisitor {
            type Value = Keys;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Keys, A::Error> {
                let mut keys = Vec::new();
                while let Some((key, IgnoredAny)) = map.next_entry::<String, IgnoredAny>()? {
                    keys.push(key);
                }
                Ok(Keys(keys))
            }
        }
        d.deserialize_map(KeysVisitor)
    }
}

fn log_lines(path: &std::path::Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .map(|line| {
            let Keys(keys) = serde_json::from_str(line).expect("every log line is a JSON object");
            let mut unique = keys.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(unique.len(), keys.len(), "a log line repeats a key: {line}");
            serde_json::from_str(line).unwrap()
        })
        .collect()
}

fn attempts(path: &std::path::Path) -> Vec<Value> {
    log_lines(path)
        .into_iter()
        .filter(|l| l["message"] == "sync attempt")
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sync_attempt_is_one_queryable_log_line() {
    let database_url = fresh_database_url(Backend::Sqlite).await.unwrap();
    let port = free_port();
    let sim = sim_for_atlas_on(port).await;
    let db = atlas::db::Db::connect(&database_url).await.unwrap();
    db.migrate().await.unwrap();
    let (token, _) = atlas::auth::create_token(&db, "logs", atlas::auth::Role::Editor)
        .await
        .unwrap();
    let dir = std::env::temp_dir().join(format!("atlas-logs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("atlas.log");
    let file = std::fs::File::create(&log).unwrap();
    let mut atlas = start_atlas_logging(&database_url, port, &sim.base_url(), Stdio::from(file));
    wait_ready(port).await;
    let http = reqwest::Client::new();
    let create = |title: &'static str| {
        http.post(format!("http://127.0.0.1:{port}/api/tasks"))
            .bearer_auth(&token)
            .json(&json!({"title": title}))
            .send()
    };
    let first: Value = create("Pour slab").await.unwrap().json().await.unwrap();
    let first_id = first["id"].as_str().unwrap().to_owned();
    wait_until(20, "a successful push logged", || async {
        attempts(&log)
            .iter()
            .any(|l| l["task_id"] == first_id.as_str() && l["outcome"] == "ok")
    })
    .await;
    sim.state().set_faults(Faults {
        outage: true,
        ..Default::default()
    });
    let second: Value = create("Order rebar").await.unwrap().json().await.unwrap();
    let second_id = second["id"].as_str().unwrap().to_owned();
    wait_until(20, "a failed attempt logged", || async {
        attempts(&log)
            .iter()
            .any(|l| l["task_id"] == second_id.as_str() && l["outcome"] == "retry")
    })
    .await;
    atlas.kill().unwrap();
    atlas.wait().unwrap();

    let lines = attempts(&log);
    let ok = lines
        .iter()
        .find(|l| l["task_id"] == first_id.as_str() && l["outcome"] == "ok")
        .unwrap();
    assert_eq!(ok["direction"], "push", "{ok}");
    assert_eq!(ok["level"], "INFO", "{ok}");
    assert!(ok["attempt"].is_i64() && ok["duration_ms"].is_u64(), "{ok}");
    let retry = lines
        .iter()
        .find(|l| l["task_id"] == second_id.as_str() && l["outcome"] == "retry")
        .unwrap();
    assert_eq!(retry["remote_status"], 503, "{retry}");
    assert_eq!(retry["level"], "WARN", "{retry}");
    assert!(
        retry["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{retry}"
    );
}

/// Every secret a deployment configures, none of which may show in a log line.
const API_KEY_SECRET: &str = "altimeter-key-7f3a9c";
const WEBHOOK_SECRET: &str = "webhook-secret-4b8e2d1f";
const ALERT_TOKEN: &str = "slack-token-91c5e0";
const DB_PASSWORD: &str = "pg-password-6d2a";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_configured_secret_appears_in_the_logs_of_a_failing_run() {
    let Some(database_url) = fresh_database_url(Backend::Postgres).await else {
        return;
    };
    // PostgreSQL here trusts local connections, so the password is accepted and unused.
    let database_url = format!("{database_url}?password={DB_PASSWORD}");
    let db = atlas::db::Db::connect(&database_url).await.unwrap();
    db.migrate().await.unwrap();
    let (token, _) = atlas::auth::create_token(&db, "logs", atlas::auth::Role::Editor)
        .await
        .unwrap();
    let (port, nowhere) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("atlas-logs-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let log = dir.join("atlas.log");
    // Altimeter and the alert receiver are both unreachable: every call fails.
    let mut atlas = std::process::Command::new(env!("CARGO_BIN_EXE_atlas"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env_clear()
        .env("DATABASE_URL", &database_url)
        .env(
            "ALTIMETER_API_URL",
            format!("http://127.0.0.1:{nowhere}/v1"),
        )
        .env("ALTIMETER_API_KEY", API_KEY_SECRET)
        .env("ALTIMETER_WEBHOOK_SECRET", WEBHOOK_SECRET)
        .env(
            "ATLAS_ALERT_WEBHOOK_URL",
            format!("http://127.0.0.1:{nowhere}/services/T0/B0/{ALERT_TOKEN}"),
        )
        .env("ATLAS_ALERT_INTERVAL", "200ms")
        .env("ATLAS_SYNC_MAX_ATTEMPTS", "0")
        .env("ATLAS_SYNC_PUSH_DELAY", "0ms")
        .env("ATLAS_RECONCILE_INTERVAL", "1s")
        .env("ATLAS_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(Stdio::from(std::fs::File::create(&log).unwrap()))
        .spawn()
        .unwrap();
    wait_ready(port).await;
    let http = reqwest::Client::new();
    http.post(format!("http://127.0.0.1:{port}/api/tasks"))
        .bearer_auth(&token)
        .json(&json!({"title": "Pour slab"}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    // A forged webhook, refused.
    http.post(format!("http://127.0.0.1:{port}/webhooks/altimeter"))
        .header("X-Altimeter-Signature", "sha256=00")
        .body("{}")
        .send()
        .await
        .unwrap();
    wait_until(
        30,
        "a failed push and an undeliverable alert logged",
        || async {
            let lines = log_lines(&log);
            lines
                .iter()
                .any(|l| l["message"] == "sync attempt" && l["outcome"] == "failed")
                && lines
                    .iter()
                    .any(|l| l["message"] == "alert webhook unreachable")
        },
    )
    .await;
    atlas.kill().unwrap();
    atlas.wait().unwrap();

    // A database that cannot be reached names its URL, with the passwords hidden.
    let unreachable =
        format!("postgres://atlas:{DB_PASSWORD}@127.0.0.1:{nowhere}/atlas?password={DB_PASSWORD}");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_atlas"))
        .args(["token", "list"])
        .env_clear()
        .env("DATABASE_URL", &unreachable)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("127.0.0.1:{nowhere}")), "{stderr}");

    let text = std::fs::read_to_string(&log).unwrap() + stderr.as_ref();
    for secret in [API_KEY_SECRET, WEBHOOK_SECRET, ALERT_TOKEN, DB_PASSWORD] {
        let leaks: Vec<&str> = text.lines().filter(|l| l.contains(secret)).collect();
        assert!(leaks.is_empty(), "`{secret}` is logged: {leaks:#?}");
    }
}
