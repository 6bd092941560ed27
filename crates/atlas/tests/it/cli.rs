//! The `atlas` binary: tokens, one-line errors, start-up and graceful shutdown.

use std::process::{Command, Stdio};
use std::time::Duration;

use crate::common::{Backend, fresh_database_url};

fn atlas(database_url: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_atlas"));
    cmd.env_clear()
        .env("DATABASE_URL", database_url)
        .env("ATLAS_LOG_FORMAT", "json")
        .stdin(Stdio::null());
    cmd
}

#[tokio::test]
async fn token_create_prints_a_working_token_once() {
    let url = fresh_database_url(Backend::Sqlite).await.unwrap();
    let out = atlas(&url)
        .args([
            "token",
            "create",
            "--role",
            "viewer",
            "--name",
            "site-office",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("atlas_") && token.len() > 60, "{token}");
    let db = atlas::db::Db::connect(&url).await.unwrap();
    let caller = atlas::auth::authenticate(&db, &token)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(caller.name, "site-office");
    let listed = atlas(&url).args(["token", "list"]).output().unwrap();
    let listed = String::from_utf8(listed.stdout).unwrap();
    assert!(listed.contains("site-office\tviewer\tactive"), "{listed}");
    assert!(!listed.contains(&token));
    let revoked = atlas(&url)
        .args(["token", "revoke", "site-office"])
        .output()
        .unwrap();
    assert!(revoked.status.success());
    assert_eq!(atlas::auth::authenticate(&db, &token).await.unwrap(), None);
}

fn one_line_failure(out: &std::process::Output) -> String {
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    stderr
}

#[tokio::test]
async fn errors_are_one_line_and_name_the_setting() {
    let url = fresh_database_url(Backend::Sqlite).await.unwrap();
    let bad_role = atlas(&url)
        .args(["token", "create", "--role", "root"])
        .output()
        .unwrap();
    assert!(one_line_failure(&bad_role).contains("viewer, editor or admin"));
    let bad_db = atlas("mysql://nowhere/db")
        .args(["migrate"])
        .output()
        .unwrap();
    assert!(one_line_failure(&bad_db).contains("DATABASE_URL"));
    let no_key = atlas(&url)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("ALTIMETER_API_URL", "http://127.0.0.1:9/v1")
        .output()
        .unwrap();
    assert!(one_line_failure(&no_key).contains("ALTIMETER_API_KEY"));
    let bad_bind = atlas(&url)
        .args(["serve"])
        .env("ATLAS_BIND", "not-an-address")
        .output()
        .unwrap();
    assert!(one_line_failure(&bad_bind).contains("bind"));
}

#[tokio::test]
async fn import_exits_non_zero_when_a_row_is_refused() {
    let url = fresh_database_url(Backend::Sqlite).await.unwrap();
    let dir = std::env::temp_dir().join(format!("atlas-cli-import-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("export.jsonl");
    std::fs::write(&file, "{\"title\": \"Pour slab\"}\n{\"title\": \"\"}\n").unwrap();
    let out = atlas(&url).arg("import").arg(&file).output().unwrap();
    assert!(!out.status.success(), "a refused row fails the command");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("imported 1 task(s)"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("export.jsonl:2: title"), "{stderr}");
    assert!(stderr.contains("1 row(s) of"), "{stderr}");
    std::fs::write(&file, "{\"title\": \"Order rebar\"}\n").unwrap();
    let ok = atlas(&url).arg("import").arg(&file).output().unwrap();
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
}

#[cfg(unix)]
#[tokio::test]
async fn serve_answers_then_stops_cleanly_on_sigterm() {
    let url = fresh_database_url(Backend::Sqlite).await.unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = atlas(&url)
        .args(["serve", "--bind", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ready = format!("http://127.0.0.1:{port}/readyz");
    let mut up = false;
    for _ in 0..100 {
        if reqwest::get(&ready).await.is_ok_and(|r| r.status() == 200) {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(up, "atlas serve never became ready");
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    assert!(status.success(), "exit status {status}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(stderr.contains("sync is not configured"), "{stderr}");
    assert!(stderr.contains("atlas stopped"), "{stderr}");
}

#[cfg(unix)]
#[tokio::test]
async fn a_worker_process_serves_health_and_metrics_and_stops_on_sigterm() {
    let url = fresh_database_url(Backend::Sqlite).await.unwrap();
    let sim = altimeter_sim::spawn(
        altimeter_sim::SimConfig::new("key"),
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut child = atlas(&url)
        .args(["worker", "--metrics-bind", &format!("127.0.0.1:{port}")])
        .env("ALTIMETER_API_URL", sim.base_url())
        .env("ALTIMETER_API_KEY", "key")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = format!("http://127.0.0.1:{port}/metrics");
    let mut body = String::new();
    for _ in 0..100 {
        if let Ok(r) = reqwest::get(&metrics).await {
            body = r.text().await.unwrap();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(body.contains("atlas_sync_queue_depth"), "{body}");
    let health = reqwest::get(format!("http://127.0.0.1:{port}/readyz"))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert!(status.success(), "exit status {status}: {stderr}");
    assert!(stderr.contains("sync worker stopped"), "{stderr}");
}

#[tokio::test]
async fn a_worker_without_altimeter_settings_says_what_is_missing() {
    let url = fresh_database_url(Backend::Sqlite).await.unwrap();
    let out = atlas(&url).args(["worker"]).output().unwrap();
    assert!(one_line_failure(&out).contains("ALTIMETER_API_URL"));
}
