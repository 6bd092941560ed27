//! Shared helpers: a simulator on port 0, clients for it, stub servers, and
//! matchers for the error variants.

use std::time::Duration;

use altimeter_api::{CreateTask, RemoteTask, TaskFields};
use altimeter_client::{AltimeterClient, ClientConfig, ClientError};
use altimeter_sim::{Faults, SimConfig, SimHandle, spawn};
use secrecy::SecretString;
use tokio::net::TcpListener;

pub const KEY: &str = "contract-test-key";

pub async fn start() -> (SimHandle, AltimeterClient) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = spawn(SimConfig::new(KEY), listener).await.unwrap();
    let client = client_for(&sim.base_url(), KEY);
    (sim, client)
}

pub fn client_for(base_url: &str, key: &str) -> AltimeterClient {
    AltimeterClient::new(ClientConfig::new(base_url, SecretString::from(key))).unwrap()
}

/// Serves `app` on port 0; returns its `/v1` base URL.
pub async fn stub(app: axum::Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

pub fn new_task(title: &str) -> CreateTask {
    CreateTask {
        external_id: Some(format!("atlas-{title}")),
        fields: TaskFields::titled(title),
    }
}

pub fn set_faults(sim: &SimHandle, faults: Faults) {
    sim.state().set_faults(faults);
}

/// A recorded wire document from `altimeter-api/tests/fixtures`.
pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../altimeter-api/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

pub async fn create_many(client: &AltimeterClient, n: usize) -> Vec<RemoteTask> {
    let mut tasks = Vec::new();
    for i in 0..n {
        tasks.push(
            client
                .create(&new_task(&format!("t{i}")), &format!("k{i}"))
                .await
                .unwrap(),
        );
    }
    tasks
}

pub fn expect_permanent(
    result: Result<impl std::fmt::Debug, ClientError>,
) -> (u16, String, String) {
    match result {
        Err(ClientError::Permanent {
            status,
            code,
            message,
        }) => (status, code, message),
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

pub fn expect_retryable(
    result: Result<impl std::fmt::Debug, ClientError>,
) -> (Option<u16>, Option<Duration>, String) {
    match result {
        Err(ClientError::Retryable {
            status,
            retry_after,
            message,
        }) => (status, retry_after, message),
        other => panic!("expected a retryable error, got {other:?}"),
    }
}
