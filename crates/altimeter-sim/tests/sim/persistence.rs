//! `--data FILE`: the store (tasks and idempotency keys) survives a restart.

use std::path::PathBuf;

use altimeter_sim::SimConfig;
use serde_json::json;

use crate::support::{call, config, create, start, wait_until};

fn temp_file() -> PathBuf {
    std::env::temp_dir().join(format!("altimeter-sim-{}.json", uuid::Uuid::new_v4()))
}

#[tokio::test]
async fn tasks_and_keys_survive_a_restart() {
    let path = temp_file();
    let with_file = || SimConfig {
        data_file: Some(path.clone()),
        ..config()
    };

    let sim = start(with_file()).await;
    let kept = create(&sim, "kept").await;
    let (status, keyed) = call_with_key(&sim, "once").await;
    assert_eq!(status, 201);
    let doomed = create(&sim, "doomed").await;
    call(&sim, "DELETE", &format!("/tasks/{}", doomed.id), None).await;
    sim.shutdown().await;

    let sim = start(with_file()).await;
    assert_eq!(sim.state().tasks().len(), 3);
    let (status, body) = call(&sim, "GET", &format!("/tasks/{}", kept.id), None).await;
    assert_eq!((status, body["title"].clone()), (200, json!("kept")));
    assert_eq!(
        call(&sim, "GET", &format!("/tasks/{}", doomed.id), None)
            .await
            .0,
        410
    );
    let (status, replayed) = call_with_key(&sim, "once").await;
    assert_eq!((status, replayed), (201, keyed), "the key still replays");
    let newer = create(&sim, "newer").await;
    assert!(newer.updated_at > kept.updated_at);
    sim.shutdown().await;
    std::fs::remove_file(&path).unwrap();
}

#[tokio::test]
async fn changes_reach_the_file_without_a_shutdown() {
    let path = temp_file();
    let sim = start(SimConfig {
        data_file: Some(path.clone()),
        ..config()
    })
    .await;
    for i in 0..200 {
        sim.state()
            .create_task(
                altimeter_api::CreateTask {
                    external_id: Some(format!("ext-{i}")),
                    fields: altimeter_api::TaskFields::titled(format!("t{i}")),
                },
                None,
            )
            .unwrap();
    }
    let count_in_file = || {
        std::fs::read(&path)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok())
            .and_then(|doc| doc["tasks"].as_array().map(Vec::len))
    };
    wait_until("200 tasks in the data file", || {
        count_in_file() == Some(200)
    })
    .await;
    sim.shutdown().await;
    std::fs::remove_file(&path).unwrap();
}

async fn call_with_key(sim: &altimeter_sim::SimHandle, key: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/tasks", sim.base_url()))
        .bearer_auth(crate::support::KEY)
        .header("idempotency-key", key)
        .json(&json!({"title": "keyed", "external_id": "atlas-1"}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}
