//! Answers lost on the way back: a proxy between Atlas and the simulator lets a
//! request through and then drops Altimeter's answer, as a network cut would.
//! Whatever happened meanwhile on either side, the create found again on the
//! retry is settled three ways — nothing ends "synced" while the sides differ.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;
use tokio::net::TcpListener;

use crate::common::{Backend, on_both_backends, wait_until};
use crate::sync_harness::spawn_synced;

/// Forwards every call to the simulator; drops the answer to the next create
/// when asked.
#[derive(Clone, Default)]
struct Proxy {
    target: Arc<OnceLock<String>>,
    drop_next_create: Arc<AtomicBool>,
    dropped: Arc<AtomicU64>,
}

async fn forward(State(proxy): State<Proxy>, request: Request) -> Response {
    let target = proxy.target.get().expect("proxy target set").clone();
    let (parts, body) = request.into_parts();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let url = format!("{}{}", target.trim_end_matches("/v1"), path);
    let body = to_bytes(body, usize::MAX).await.unwrap();
    let mut outgoing = reqwest::Client::new()
        .request(parts.method.clone(), url)
        .body(body);
    for (name, value) in &parts.headers {
        if name != "host" {
            outgoing = outgoing.header(name, value);
        }
    }
    let answer = outgoing.send().await.unwrap();
    let is_create = parts.method == "POST" && path.ends_with("/tasks");
    if is_create && proxy.drop_next_create.swap(false, Ordering::SeqCst) {
        proxy.dropped.fetch_add(1, Ordering::SeqCst);
        // Altimeter acted on it; Atlas never hears how.
        return (StatusCode::BAD_GATEWAY, "the answer was lost").into_response();
    }
    let mut response = Response::builder().status(answer.status());
    for (name, value) in answer.headers() {
        response = response.header(name, value);
    }
    response
        .body(Body::from(answer.bytes().await.unwrap()))
        .unwrap()
}

async fn start_proxy(proxy: Proxy) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let app = axum::Router::new().fallback(forward).with_state(proxy);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}/v1")
}

async fn a_lost_create_answer_with_edits_on_both_sides_converges(backend: Backend) {
    let proxy = Proxy::default();
    let proxy_url = start_proxy(proxy.clone()).await;
    let Some(s) = spawn_synced(backend, |config| {
        let altimeter = config.altimeter.as_mut().unwrap();
        proxy.target.set(altimeter.api_url.clone()).unwrap();
        altimeter.api_url = proxy_url.clone();
        // Time for both edits before the retry.
        config.retry.base = Duration::from_secs(3);
    })
    .await
    else {
        return;
    };
    proxy.drop_next_create.store(true, Ordering::SeqCst);
    let task = s.app.create_task(json!({"title": "Pour slab L3"})).await;
    let id = task["id"].as_str().unwrap().to_owned();
    wait_until(
        10,
        "the create to reach Altimeter and its answer to be lost",
        || async { proxy.dropped.load(Ordering::SeqCst) == 1 },
    )
    .await;
    let remote = s
        .sim
        .state()
        .task_by_external_id(&id)
        .expect("created in Altimeter");
    assert_eq!(remote.fields.title, "Pour slab L3");

    // While the create waits for its retry: a local edit, and one in Altimeter.
    let edited = s
        .app
        .patch(&format!("/api/tasks/{id}"), &s.app.editor)
        .json(&json!({"title": "Pour slab L4"}))
        .send()
        .await
        .unwrap();
    assert_eq!(edited.status(), 200);
    s.edit_remote(&remote.id, |f| f.assignee = Some("pm-ana".into()));

    wait_until(30, "both sides to hold both edits", || async {
        let local = s.task(&id).await;
        let remote = s.remote(&remote.id);
        local["sync_status"] == "synced"
            && local["title"] == "Pour slab L4"
            && local["assignee"] == "pm-ana"
            && remote.fields.title == "Pour slab L4"
            && remote.fields.assignee.as_deref() == Some("pm-ana")
    })
    .await;
    s.wait_idle().await;
    let remotes = s.sim.state().tasks();
    assert_eq!(
        remotes
            .iter()
            .filter(|t| t.external_id.as_deref() == Some(id.as_str()))
            .count(),
        1,
        "one Altimeter task, not two"
    );
}

on_both_backends!(a_lost_create_answer_with_edits_on_both_sides_converges);
