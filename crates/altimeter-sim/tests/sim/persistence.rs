//! `--data FILE`: the store (tasks and idempotency keys) survives a restart.

use std::path::PathBuf;

use altimeter_sim::{Faults, SimConfig};
use serde_json::{Value, json};

use crate::support::{KEY, call, config, create, start, wait_until};

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

#[tokio::test]
async fn a_write_in_flight_at_shutdown_is_in_the_data_file() {
    let path = temp_file();
    let sim = start(SimConfig {
        data_file: Some(path.clone()),
        ..config()
    })
    .await;
    sim.state().set_faults(Faults {
        latency_ms: 300,
        ..Faults::default()
    });
    let url = format!("{}/tasks", sim.base_url());
    let create = tokio::spawn(async move {
        let response = reqwest::Client::new()
            .post(url)
            .bearer_auth(KEY)
            .json(&json!({"title": "late"}))
            .send()
            .await
            .unwrap();
        response.status().as_u16()
    });
    // Counted on arrival, then held by the injected latency.
    wait_until("the create is in flight", || {
        sim.state().stats().requests.get("POST /tasks") == Some(&1)
    })
    .await;
    sim.shutdown().await;
    assert_eq!(create.await.unwrap(), 201, "the in-flight request finished");
    let file: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let titles: Vec<_> = file["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].clone())
        .collect();
    assert_eq!(titles, [json!("late")], "the acknowledged create was saved");
    std::fs::remove_file(&path).unwrap();
}

async fn call_with_key(sim: &altimeter_sim::SimHandle, key: &str) -> (u16, serde_json::Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/tasks", sim.base_url()))
        .bearer_auth(KEY)
        .header("idempotency-key", key)
        .json(&json!({"title": "keyed", "external_id": "atlas-1"}))
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}
