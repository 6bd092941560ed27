//! The live feed (`/ws/sync-status`) against a real server and simulator, with a
//! real WebSocket client: what a page or `atlas watch` sees as tasks change.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{self, Message};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::common::{Backend, TestApp, on_both_backends, spawn_app_configured, wait_until};
use crate::sync_harness::{Synced, spawn_synced, spawn_synced_node};

type Socket = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// A connected feed client that remembers what it saw.
pub struct FeedClient {
    socket: Socket,
    pub seen: Vec<Value>,
}

pub fn feed_request(
    app: &TestApp,
    token: Option<&str>,
    query: &str,
) -> tungstenite::handshake::client::Request {
    let url = format!(
        "{}/ws/sync-status{query}",
        app.base.replace("http://", "ws://")
    );
    let mut request = url.into_client_request().unwrap();
    if let Some(token) = token {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    request
}

impl FeedClient {
    pub async fn connect(app: &TestApp, token: &str, query: &str) -> FeedClient {
        let (socket, response) =
            tokio_tungstenite::connect_async(feed_request(app, Some(token), query))
                .await
                .expect("feed upgrade");
        assert_eq!(response.status(), 101);
        FeedClient {
            socket,
            seen: Vec::new(),
        }
    }

    /// Reads messages until one satisfies `wanted`, for at most `secs` seconds.
    pub async fn wait_for(
        &mut self,
        secs: u64,
        what: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            let frame = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .unwrap_or_else(|_| {
                    panic!(
                        "timed out after {secs} s waiting for {what}; saw {:#?}",
                        self.seen
                    )
                });
            let text = match frame {
                Some(Ok(Message::Text(text))) => text,
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("the feed ended while waiting for {what}: {other:?}"),
            };
            let message: Value = serde_json::from_str(&text).expect("feed message is JSON");
            if let Some(previous) = self.seen.last() {
                assert!(
                    message["seq"].as_u64() > previous["seq"].as_u64(),
                    "seq must increase: {previous} then {message}"
                );
            }
            self.seen.push(message.clone());
            if wanted(&message) {
                return message;
            }
        }
    }

    /// Like [`FeedClient::wait_for`], but content with a message already seen.
    pub async fn expect(
        &mut self,
        secs: u64,
        what: &str,
        wanted: impl Fn(&Value) -> bool,
    ) -> Value {
        match self.seen.iter().find(|m| wanted(m)) {
            Some(seen) => seen.clone(),
            None => self.wait_for(secs, what, wanted).await,
        }
    }

    /// Messages seen so far about task `id`.
    pub fn about(&self, id: &str) -> Vec<&Value> {
        self.seen
            .iter()
            .filter(|m| task_of(m) == Some(id))
            .collect()
    }
}

/// The task a message is about, if any.
pub fn task_of(message: &Value) -> Option<&str> {
    match message["type"].as_str()? {
        "sync_status" => message["entity_id"].as_str(),
        "task_changed" => message["task"]["id"].as_str(),
        "conflict_created" | "conflict_resolved" => message["task_id"].as_str(),
        _ => None,
    }
}

pub fn is_status(id: &str, status: &str) -> impl Fn(&Value) -> bool {
    move |m| {
        (m["type"] == "sync_status" && m["entity_id"] == id && m["status"] == status)
            || (m["type"] == "task_changed"
                && m["task"]["id"] == id
                && m["task"]["sync_status"] == status)
    }
}

async fn a_new_task_is_seen_pending_then_synced_with_its_fields(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    let mut feed = FeedClient::connect(&s.app, &s.app.viewer, "").await;
    // A new task is pushed at once; sync is paused so its pending state is
    // there to see (the feed shows a task as it is when the message goes out).
    let admin = |path: &str| s.app.post(path, &s.app.admin).send();
    assert_eq!(admin("/admin/sync/pause").await.unwrap().status(), 200);
    let task = s.app.create_task(json!({"title": "Pour slab L3"})).await;
    let id = task["id"].as_str().unwrap().to_owned();
    let changed = feed
        .wait_for(10, "the new task", |m| {
            m["type"] == "task_changed" && m["task"]["id"] == id.as_str()
        })
        .await;
    assert_eq!(changed["task"]["title"], "Pour slab L3");
    assert_eq!(changed["task"]["sync_status"], "pending");
    assert_eq!(admin("/admin/sync/resume").await.unwrap().status(), 200);
    let synced = feed
        .wait_for(20, "the task synced", |m| {
            m["type"] == "sync_status" && m["entity_id"] == id.as_str() && m["status"] == "synced"
        })
        .await;
    assert_eq!(synced["entity_type"], "task");
    assert!(synced["error"].is_null());
    assert!(synced["at"].is_string());
    let statuses: Vec<&str> = feed
        .about(&id)
        .iter()
        .filter(|m| m["type"] == "sync_status")
        .map(|m| m["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.last(), Some(&"synced"), "{statuses:?}");
    assert!(!statuses.contains(&"error"), "{statuses:?}");
    // The link (remote id) arrives as a change of the task too.
    feed.expect(10, "the task with its remote id", |m| {
        m["type"] == "task_changed"
            && m["task"]["id"] == id.as_str()
            && m["task"]["remote_id"].is_string()
    })
    .await;
}

async fn a_same_field_clash_is_announced_and_so_is_its_resolution_from_the_cli(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    let (id, remote_id) = s.create_synced("Order rebar").await;
    let mut feed = FeedClient::connect(&s.app, &s.app.viewer, "").await;
    s.edit_both_sides(
        &id,
        &remote_id,
        |f| f.title = "Order rebar: 12 t".into(),
        json!({"title": "Order rebar: 10 t"}),
    )
    .await;
    let created = feed
        .wait_for(20, "conflict_created", |m| m["type"] == "conflict_created")
        .await;
    assert_eq!(created["task_id"], id.as_str());
    feed.wait_for(10, "the conflict badge", is_status(&id, "conflict"))
        .await;
    let conflict_id = created["conflict_id"].as_str().unwrap().to_owned();
    // The CLI writes to the database directly; its effect still reaches clients.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_atlas"))
        .args(["conflicts", "resolve", &conflict_id, "--keep-local"])
        .env_clear()
        .env("DATABASE_URL", &s.app.database_url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let resolved = feed
        .wait_for(10, "conflict_resolved", |m| {
            m["type"] == "conflict_resolved"
        })
        .await;
    assert_eq!(resolved["conflict_id"], conflict_id.as_str());
    assert_eq!(resolved["task_id"], id.as_str());
    feed.wait_for(20, "the task synced again", is_status(&id, "synced"))
        .await;
}

async fn a_client_following_one_task_sees_only_that_task(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    let other = s
        .app
        .create_task(json!({"title": "Someone else's task"}))
        .await;
    let other_id = other["id"].as_str().unwrap().to_owned();
    let followed = s.app.create_task(json!({"title": "Mine"})).await;
    let id = followed["id"].as_str().unwrap().to_owned();
    let mut feed = FeedClient::connect(&s.app, &s.app.viewer, &format!("?task={id}")).await;
    let patch = s
        .app
        .patch(&format!("/api/tasks/{other_id}"), &s.app.editor)
        .json(&json!({"title": "Someone else's task, edited"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 200);
    let patch = s
        .app
        .patch(&format!("/api/tasks/{id}"), &s.app.editor)
        .json(&json!({"title": "Mine, edited"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patch.status(), 200);
    feed.wait_for(10, "my edit", |m| {
        m["type"] == "task_changed" && m["task"]["title"] == "Mine, edited"
    })
    .await;
    feed.wait_for(20, "my task synced", is_status(&id, "synced"))
        .await;
    for message in &feed.seen {
        assert_eq!(
            task_of(message),
            Some(id.as_str()),
            "only my task: {message}"
        );
    }
    let refused = s
        .app
        .get("/ws/sync-status?task=not-a-uuid", &s.app.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
}

on_both_backends!(
    a_new_task_is_seen_pending_then_synced_with_its_fields,
    a_same_field_clash_is_announced_and_so_is_its_resolution_from_the_cli,
    a_client_following_one_task_sees_only_that_task,
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_feed_needs_a_token_and_refuses_foreign_pages() {
    let Some(s) = spawn_synced(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let app = &s.app;
    let plain = app
        .http
        .get(app.url("/ws/sync-status"))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 401);
    let body: Value = plain.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    for token in [None, Some("atlas_not-a-real-token")] {
        match tokio_tungstenite::connect_async(feed_request(app, token, "")).await {
            Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
            other => panic!("an upgrade without a valid token must be refused: {other:?}"),
        }
    }
    let mut foreign = feed_request(app, Some(&app.viewer), "");
    foreign
        .headers_mut()
        .insert("origin", "http://evil.example".parse().unwrap());
    match tokio_tungstenite::connect_async(foreign).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("a foreign Origin must be refused: {other:?}"),
    }
    let mut own = feed_request(app, Some(&app.viewer), "");
    let origin = app.base.clone();
    own.headers_mut().insert("origin", origin.parse().unwrap());
    assert!(tokio_tungstenite::connect_async(own).await.is_ok());
    let not_upgraded = app
        .get("/ws/sync-status", &app.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(not_upgraded.status(), 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_beyond_the_cap_get_503() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sync = atlas::config::SyncConfig::unconfigured();
    let Some(app) = spawn_app_configured(Backend::Sqlite, listener, sync, |config| {
        config.feed.max_connections = 2;
    })
    .await
    else {
        return;
    };
    let first = FeedClient::connect(&app, &app.viewer, "").await;
    let _second = FeedClient::connect(&app, &app.viewer, "").await;
    match tokio_tungstenite::connect_async(feed_request(&app, Some(&app.viewer), "")).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 503),
        other => panic!("a third connection must be refused: {other:?}"),
    }
    drop(first);
    wait_until(10, "a place to free up", || async {
        tokio_tungstenite::connect_async(feed_request(&app, Some(&app.viewer), ""))
            .await
            .is_ok()
    })
    .await;
}

/// A client that never reads: the server's writes to it stall once the socket
/// buffers are full.
async fn connect_without_reading(app: &TestApp) -> Socket {
    let addr = app.base.trim_start_matches("http://").parse().unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let stream = socket.connect(addr).await.unwrap();
    let request = feed_request(app, Some(&app.viewer), "");
    let (socket, _) = tokio_tungstenite::client_async(request, MaybeTlsStream::Plain(stream))
        .await
        .unwrap();
    socket
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_that_never_reads_delays_no_one_and_is_dropped() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sync = atlas::config::SyncConfig::unconfigured();
    let Some(app) = spawn_app_configured(Backend::Sqlite, listener, sync, |config| {
        config.feed.send_timeout = Duration::from_secs(1);
    })
    .await
    else {
        return;
    };
    let mut stalled = connect_without_reading(&app).await;
    let mut reader = FeedClient::connect(&app, &app.viewer, "").await;
    let description = "Rebar schedule. ".repeat(560);
    // More than the kernel buffers on both ends hold (up to 4 MiB here).
    let creates = (0..600).map(|i| {
        let body = json!({"title": format!("Level {i} slab"), "description": description});
        let app = &app;
        async move {
            app.create_task(body).await["id"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    });
    let create_all = futures::stream::iter(creates)
        .buffered(4)
        .collect::<Vec<String>>();
    let read_all = async {
        let mut titles = std::collections::HashSet::new();
        while titles.len() < 600 {
            let changed = reader
                .wait_for(30, "every new task on the reading client", |m| {
                    m["type"] == "task_changed"
                })
                .await;
            titles.insert(changed["task"]["title"].as_str().unwrap().to_owned());
        }
    };
    let (ids, ()) = tokio::join!(create_all, read_all);
    assert!(
        !reader.seen.iter().any(|m| m["type"] == "resync"),
        "the reading client kept up"
    );
    // The stalled client now reads what reached it: some messages, then the
    // end of the connection (or a resync) — never all 150 tasks.
    let mut tasks_seen = 0;
    let ended = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match stalled.next().await {
                Some(Ok(Message::Text(text))) => {
                    let message: Value = serde_json::from_str(&text).unwrap();
                    if message["type"] == "resync" {
                        return "resync";
                    }
                    if message["type"] == "task_changed" {
                        tasks_seen += 1;
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return "closed",
            }
        }
    })
    .await
    .expect("the stalled client was neither dropped nor resynced");
    assert!(tasks_seen < ids.len(), "{ended} after {tasks_seen} tasks");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atlas_watch_prints_one_line_per_event() {
    let Some(s) = spawn_synced(Backend::Sqlite, |_| {}).await else {
        return;
    };
    let url = format!("{}/ws/sync-status", s.app.base.replace("http://", "ws://"));
    let mut watch = tokio::process::Command::new(env!("CARGO_BIN_EXE_atlas"))
        .args(["watch", "--url", &url])
        .env_clear()
        .env("ATLAS_TOKEN", &s.app.viewer)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stderr = tokio::io::BufReader::new(watch.stderr.take().unwrap());
    let mut banner = String::new();
    tokio::io::AsyncBufReadExt::read_line(&mut stderr, &mut banner)
        .await
        .unwrap();
    assert!(banner.starts_with("watching ws://"), "{banner}");
    let task = s
        .app
        .create_task(json!({"title": "Crane inspection"}))
        .await;
    let id = task["id"].as_str().unwrap().to_owned();
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(watch.stdout.take().unwrap()));
    let mut printed = Vec::new();
    let synced = format!("sync_status       task {id} synced");
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            let done = line.contains(&synced);
            printed.push(line);
            if done {
                return;
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no synced line; printed {printed:#?}"));
    assert!(
        printed
            .iter()
            .any(|l| l.contains("task_changed") && l.contains("\"Crane inspection\" open sync ")),
        "{printed:#?}"
    );
    watch.kill().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_on_a_web_only_node_sees_what_a_worker_process_pushed() {
    let Some(s) = spawn_synced_node(Backend::Postgres, |config| config.run_worker = false).await
    else {
        return;
    };
    let mut feed = FeedClient::connect(&s.app, &s.app.viewer, "").await;
    let mut worker = start_worker(&s);
    let task = s.app.create_task(json!({"title": "Scaffold check"})).await;
    let id = task["id"].as_str().unwrap().to_owned();
    feed.wait_for(
        30,
        "synced, pushed by the worker process",
        is_status(&id, "synced"),
    )
    .await;
    assert!(
        s.sim
            .state()
            .tasks()
            .iter()
            .any(|t| t.external_id.as_deref() == Some(id.as_str()))
    );
    worker.kill().ok();
    worker.wait().ok();
}

fn start_worker(s: &Synced) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_atlas"))
        .arg("worker")
        .env_clear()
        .env("DATABASE_URL", &s.app.database_url)
        .env("ALTIMETER_API_URL", s.sim.base_url())
        .env("ALTIMETER_API_KEY", crate::sync_harness::API_KEY)
        .env("ATLAS_SYNC_PUSH_DELAY", "0ms")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start atlas worker")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_listen_connection_is_killed_clients_resync_and_events_still_arrive() {
    let Some(s) = spawn_synced(Backend::Postgres, |_| {}).await else {
        return;
    };
    let mut feed = FeedClient::connect(&s.app, &s.app.viewer, "").await;
    let killed = || async {
        let (n,): (i64,) = sqlx::query_as(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity \
             WHERE datname = current_database() AND query LIKE 'LISTEN%atlas_feed%'",
        )
        .fetch_one(s.app.db.pool())
        .await
        .unwrap();
        n > 0
    };
    wait_until(10, "the feed's LISTEN connection to be killed", killed).await;
    feed.wait_for(20, "resync", |m| m["type"] == "resync").await;
    let task = s.app.create_task(json!({"title": "After the gap"})).await;
    let id = task["id"].as_str().unwrap().to_owned();
    feed.wait_for(20, "a later event", is_status(&id, "synced"))
        .await;
}
