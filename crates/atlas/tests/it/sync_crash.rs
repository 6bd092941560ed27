//! Crash safety: `kill -9` of `atlas serve` in the middle of a burst of creates,
//! then a restart. Every task must end up in Altimeter exactly once.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use altimeter_sim::SimConfig;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::common::{Backend, fresh_database_url, wait_until};
use crate::sync_harness::{API_KEY, SECRET};

pub fn start_atlas(database_url: &str, port: u16, sim_url: &str) -> Child {
    start_atlas_logging(database_url, port, sim_url, Stdio::null())
}

/// `atlas serve` with its JSON log lines (on stderr) written to `log`.
pub fn start_atlas_logging(database_url: &str, port: u16, sim_url: &str, log: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_atlas"))
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .env_clear()
        .env("DATABASE_URL", database_url)
        .env("ALTIMETER_API_URL", sim_url)
        .env("ALTIMETER_API_KEY", API_KEY)
        .env("ALTIMETER_WEBHOOK_SECRET", SECRET)
        .env("ATLAS_SYNC_LEASE", "2s")
        .env("ATLAS_SYNC_PUSH_DELAY", "0ms")
        .env("ATLAS_LOG_FORMAT", "json")
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start atlas serve")
}

/// A port nothing listens on yet, for an `atlas serve` to come.
pub fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A simulator that sends its signed webhooks to an Atlas on `port`.
pub async fn sim_for_atlas_on(port: u16) -> altimeter_sim::SimHandle {
    let sim_config = SimConfig {
        webhook_url: Some(format!("http://127.0.0.1:{port}/webhooks/altimeter")),
        webhook_secret: Some(SECRET.to_owned()),
        ..SimConfig::new(API_KEY)
    };
    altimeter_sim::spawn(sim_config, TcpListener::bind("127.0.0.1:0").await.unwrap())
        .await
        .unwrap()
}

pub async fn wait_ready(port: u16) {
    let url = format!("http://127.0.0.1:{port}/readyz");
    wait_until(30, "atlas to be ready", || async {
        reqwest::get(&url).await.is_ok_and(|r| r.status() == 200)
    })
    .await;
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn kill_9_during_a_burst_of_creates_loses_and_duplicates_nothing() {
    let database_url = fresh_database_url(Backend::Sqlite).await.unwrap();
    let port = free_port();
    let sim = sim_for_atlas_on(port).await;
    // Slow Altimeter down so creates are in flight when the process dies.
    sim.state().set_faults(altimeter_sim::Faults {
        latency_ms: 20,
        ..Default::default()
    });
    let db = atlas::db::Db::connect(&database_url).await.unwrap();
    db.migrate().await.unwrap();
    let (token, _) = atlas::auth::create_token(&db, "burst", atlas::auth::Role::Editor)
        .await
        .unwrap();

    let mut atlas = start_atlas(&database_url, port, &sim.base_url());
    wait_ready(port).await;
    let http = reqwest::Client::new();
    let accepted = Arc::new(AtomicUsize::new(0));
    let burst = (0..150).map(|i| {
        let (http, token, accepted) = (http.clone(), token.clone(), accepted.clone());
        async move {
            let url = format!("http://127.0.0.1:{port}/api/tasks");
            let sent = http
                .post(url)
                .bearer_auth(token)
                .json(&json!({"title": format!("Burst {i}")}))
                .send()
                .await;
            if sent.is_ok_and(|r| r.status() == 201) {
                accepted.fetch_add(1, Ordering::SeqCst);
            }
        }
    });
    let burst = futures::stream::iter(burst)
        .buffer_unordered(8)
        .collect::<Vec<()>>();
    let killer = async {
        wait_until(30, "half the burst accepted", || async {
            accepted.load(Ordering::SeqCst) >= 75
        })
        .await;
        atlas.kill().expect("kill -9");
        atlas.wait().expect("reap");
    };
    tokio::join!(burst, killer);

    let mut atlas = start_atlas(&database_url, port, &sim.base_url());
    wait_ready(port).await;
    let base = format!("http://127.0.0.1:{port}");
    wait_until(60, "every task synced after the restart", || async {
        let list: Value = http
            .get(format!("{base}/api/tasks?limit=500"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let tasks = list["data"].as_array().unwrap();
        !tasks.is_empty() && tasks.iter().all(|t| t["sync_status"] == "synced")
    })
    .await;
    let list: Value = http
        .get(format!("{base}/api/tasks?limit=500"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let local: Vec<String> = list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        local.len() >= accepted.load(Ordering::SeqCst),
        "every acknowledged create was kept"
    );
    let remote = sim.state().tasks();
    let mut external: Vec<String> = remote
        .iter()
        .filter_map(|r| r.external_id.clone())
        .collect();
    external.sort();
    let mut expected = local.clone();
    expected.sort();
    assert_eq!(
        external, expected,
        "each Atlas task is in Altimeter exactly once"
    );
    atlas.kill().ok();
    atlas.wait().ok();
}
