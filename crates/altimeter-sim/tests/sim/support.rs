//! Test helpers: a simulator on port 0, a raw API caller, a webhook receiver,
//! and polling with a timeout instead of fixed sleeps.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use altimeter_api::RemoteTask;
use altimeter_sim::{SimConfig, SimHandle, SimTuning, spawn};
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};
use tokio::net::TcpListener;

pub const KEY: &str = "sim-test-key";
pub const SECRET: &str = "whsec_sim_test";

/// Tuning fast enough for tests, with a generous reorder window so a batch is
/// never split by a slow machine.
pub fn config() -> SimConfig {
    SimConfig {
        tuning: SimTuning {
            webhook_retry_base: Duration::from_millis(50),
            reorder_window: Duration::from_secs(2),
            persist_debounce: Duration::from_millis(20),
            ..SimTuning::default()
        },
        ..SimConfig::new(KEY)
    }
}

pub async fn start(config: SimConfig) -> SimHandle {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    spawn(config, listener).await.unwrap()
}

/// A simulator sending signed webhooks to `receiver`.
pub async fn start_with(receiver: &Receiver) -> SimHandle {
    start(SimConfig {
        webhook_url: Some(receiver.url.clone()),
        webhook_secret: Some(SECRET.to_owned()),
        ..config()
    })
    .await
}

/// Waits up to 10 s for `condition`, checking every 20 ms.
pub async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Calls the API with the right key; returns status and JSON body (null if none).
pub async fn call(sim: &SimHandle, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = reqwest::Client::new()
        .request(method, format!("{}{path}", sim.base_url()))
        .bearer_auth(KEY);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

pub async fn create(sim: &SimHandle, title: &str) -> RemoteTask {
    let (status, body) = call(sim, "POST", "/tasks", Some(json!({"title": title}))).await;
    assert_eq!(status, 201, "{body}");
    serde_json::from_value(body).unwrap()
}

/// One webhook POST as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Delivery {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }
}

/// A tiny webhook receiver: records every POST, answering 500 to the first
/// `failures` of them and 200 after that.
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    seen: Arc<Mutex<Vec<Delivery>>>,
}

impl Receiver {
    pub async fn start(failures: usize) -> Self {
        let seen: Arc<Mutex<Vec<Delivery>>> = Arc::default();
        let app = axum::Router::new()
            .route("/hook", post(receive))
            .with_state((seen.clone(), failures));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hook", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver { url, seen }
    }

    pub fn deliveries(&self) -> Vec<Delivery> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub async fn wait_for(&self, n: usize) -> Vec<Delivery> {
        wait_until(&format!("{n} webhook deliveries"), || self.count() >= n).await;
        self.deliveries()
    }
}

async fn receive(
    State((seen, failures)): State<(Arc<Mutex<Vec<Delivery>>>, usize)>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let mut seen = seen.lock().unwrap();
    seen.push(Delivery { headers, body });
    if seen.len() <= failures {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}
