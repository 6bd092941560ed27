//! Webhooks: one per change, signed over the raw body, in the SPEC's shape, and
//! misbehaving exactly as the faults ask.

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use altimeter_api::webhook::verify;
use altimeter_api::{CreateTask, TaskFields};
use altimeter_sim::{Faults, SimConfig, SimHandle};
use serde_json::{Value, json};

use crate::support::{
    Delivery, Receiver, SECRET, call, config, create, start, start_with, wait_until,
};

fn event_ids(deliveries: &[Delivery]) -> Vec<String> {
    deliveries
        .iter()
        .map(|d| d.json()["event_id"].as_str().unwrap().to_owned())
        .collect()
}

fn set_faults(sim: &SimHandle, faults: Faults) {
    sim.state().set_faults(faults);
}

fn create_request(title: &str) -> CreateTask {
    CreateTask {
        external_id: None,
        fields: TaskFields::titled(title),
    }
}

#[tokio::test]
async fn every_change_sends_a_signed_webhook_in_the_spec_shape() {
    let receiver = Receiver::start(0).await;
    let sim = start_with(&receiver).await;
    let task = create(&sim, "Pour slab").await;
    let path = format!("/tasks/{}", task.id);
    let (status, _) = call(&sim, "PUT", &path, Some(json!({"title": "Pour slab L3"}))).await;
    assert_eq!(status, 200);
    let (status, _) = call(&sim, "DELETE", &path, None).await;
    assert_eq!(status, 204);

    let deliveries = receiver.wait_for(3).await;
    let mut types = Vec::new();
    for delivery in &deliveries {
        let headers = &delivery.headers;
        assert_eq!(headers["content-type"], "application/json");
        let signature = headers["x-altimeter-signature"].to_str().unwrap();
        assert!(
            verify(SECRET.as_bytes(), &delivery.body, signature),
            "signature over the raw body"
        );
        let body = delivery.json();
        assert_eq!(
            headers["x-altimeter-event-id"].to_str().unwrap(),
            body["event_id"]
        );
        // Sorted: whether serde_json keeps key order depends on what else is built.
        let sorted_keys = |v: &serde_json::Value| {
            let mut keys: Vec<_> = v.as_object().unwrap().keys().cloned().collect();
            keys.sort();
            keys
        };
        assert_eq!(
            sorted_keys(&body),
            ["data", "event_id", "occurred_at", "type"]
        );
        assert_eq!(sorted_keys(&body["data"]), ["task_id", "version"]);
        assert!(body["event_id"].as_str().unwrap().starts_with("evt_"));
        assert_eq!(body["data"]["task_id"], task.id.as_str());
        assert!(
            chrono::DateTime::parse_from_rfc3339(body["occurred_at"].as_str().unwrap()).is_ok()
        );
        types.push((body["type"].clone(), body["data"]["version"].clone()));
    }
    assert_eq!(
        types,
        [
            (json!("task.created"), json!(1)),
            (json!("task.updated"), json!(2)),
            (json!("task.deleted"), json!(3))
        ]
    );
    assert_eq!(
        event_ids(&deliveries)
            .into_iter()
            .collect::<HashSet<_>>()
            .len(),
        3
    );
    wait_until("sent = 3", || sim.state().stats().webhooks.sent == 3).await;
}

#[tokio::test]
async fn an_idempotent_replay_sends_no_second_webhook() {
    let receiver = Receiver::start(0).await;
    let sim = start_with(&receiver).await;
    sim.state()
        .create_task(create_request("a"), Some("k"))
        .unwrap();
    let replay = sim
        .state()
        .create_task(create_request("a"), Some("k"))
        .unwrap();
    assert!(replay.replayed);
    sim.state().create_task(create_request("b"), None).unwrap();
    let deliveries = receiver.wait_for(2).await;
    let versions: Vec<_> = deliveries
        .iter()
        .map(|d| d.json()["data"]["version"].clone())
        .collect();
    assert_eq!(versions, [json!(1), json!(1)]);
    wait_until("both sent", || sim.state().stats().webhooks.sent == 2).await;
    assert_eq!(receiver.count(), 2);
}

#[tokio::test]
async fn without_a_secret_the_signature_header_is_left_out() {
    let receiver = Receiver::start(0).await;
    let sim = start(SimConfig {
        webhook_url: Some(receiver.url.clone()),
        ..config()
    })
    .await;
    create(&sim, "a").await;
    let deliveries = receiver.wait_for(1).await;
    assert!(!deliveries[0].headers.contains_key("x-altimeter-signature"));
}

#[tokio::test]
async fn dropped_webhooks_never_arrive_and_are_counted() {
    let receiver = Receiver::start(0).await;
    let sim = start_with(&receiver).await;
    set_faults(
        &sim,
        Faults {
            webhook_drop_rate: 1.0,
            ..Faults::default()
        },
    );
    for i in 0..4 {
        create(&sim, &format!("t{i}")).await;
    }
    wait_until("4 dropped", || sim.state().stats().webhooks.dropped == 4).await;
    assert_eq!(receiver.count(), 0);
    assert_eq!(sim.state().stats().webhooks.sent, 0);
}

#[tokio::test]
async fn duplicated_webhooks_arrive_twice_each() {
    let receiver = Receiver::start(0).await;
    let sim = start_with(&receiver).await;
    set_faults(
        &sim,
        Faults {
            webhook_duplicate_rate: 1.0,
            ..Faults::default()
        },
    );
    for i in 0..3 {
        create(&sim, &format!("t{i}")).await;
    }
    let deliveries = receiver.wait_for(6).await;
    let mut per_event: BTreeMap<String, usize> = BTreeMap::new();
    for id in event_ids(&deliveries) {
        *per_event.entry(id).or_default() += 1;
    }
    assert_eq!(per_event.len(), 3);
    assert!(per_event.values().all(|&n| n == 2), "{per_event:?}");
}

#[tokio::test]
async fn reordered_webhooks_arrive_in_reverse_batches() {
    let receiver = Receiver::start(0).await;
    let sim = start_with(&receiver).await;
    set_faults(
        &sim,
        Faults {
            webhook_reorder: true,
            ..Faults::default()
        },
    );
    // Three changes to one task: delivery keeps each task's events in queue
    // order, so the reversed batch arrives reversed (events of different tasks
    // may be delivered concurrently, so their relative order is not fixed).
    let state = sim.state();
    let task = state.create_task(create_request("t"), None).unwrap().task;
    for title in ["u1", "u2"] {
        state
            .update_task(&task.id, TaskFields::titled(title), None)
            .unwrap();
    }
    let deliveries = receiver.wait_for(3).await;
    let arrived: Vec<_> = deliveries
        .iter()
        .map(|d| {
            (
                d.json()["type"].clone(),
                d.json()["data"]["version"].clone(),
            )
        })
        .collect();
    assert_eq!(
        arrived,
        [
            (json!("task.updated"), json!(3)),
            (json!("task.updated"), json!(2)),
            (json!("task.created"), json!(1)),
        ]
    );
}

#[tokio::test]
async fn delayed_webhooks_do_not_hold_up_the_api() {
    let receiver = Receiver::start(0).await;
    let sim = start_with(&receiver).await;
    set_faults(
        &sim,
        Faults {
            webhook_delay_ms: 2_000,
            ..Faults::default()
        },
    );
    let started = std::time::Instant::now();
    let task = create(&sim, "a").await;
    let (status, _) = call(&sim, "GET", &format!("/tasks/{}", task.id), None).await;
    let took = started.elapsed();
    assert_eq!(status, 200);
    // The one wall-clock bound in these tests: half the delay, for two local calls.
    assert!(
        took < Duration::from_millis(1_000),
        "the API took {took:?}, as if it waited for the 2 s webhook delay"
    );
    assert_eq!(
        receiver.count(),
        0,
        "the API answered before the delayed webhook went out"
    );
    let deliveries = receiver.wait_for(1).await;
    assert_eq!(deliveries[0].json()["data"]["task_id"], task.id.as_str());
}

#[tokio::test]
async fn a_failing_receiver_gets_the_event_on_retry() {
    let receiver = Receiver::start(3).await;
    let sim = start_with(&receiver).await;
    create(&sim, "a").await;
    let deliveries = receiver.wait_for(4).await;
    let ids = event_ids(&deliveries);
    assert!(
        ids.iter().all(|id| *id == ids[0]),
        "the same event each time"
    );
    wait_until("sent = 1", || sim.state().stats().webhooks.sent == 1).await;
    let webhooks = sim.state().stats().webhooks;
    assert_eq!(
        (
            webhooks.failed,
            webhooks.sent,
            webhooks.dropped,
            webhooks.given_up
        ),
        (3, 1, 0, 0)
    );
}

#[tokio::test]
async fn an_unreachable_receiver_is_retried_then_given_up() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = config();
    config.webhook_url = Some(format!("http://127.0.0.1:{port}/hook"));
    config.tuning.webhook_max_attempts = 3;
    let sim = start(config).await;
    create(&sim, "a").await;
    // Attempts at 0, +50 and +100 ms (base 50 ms, doubling), then given up.
    wait_until("the delivery is given up", || {
        sim.state().stats().webhooks.given_up == 1
    })
    .await;
    let webhooks = sim.state().stats().webhooks;
    assert_eq!(
        (webhooks.failed, webhooks.sent, webhooks.given_up),
        (3, 0, 1),
        "every attempt failed, then the delivery was given up once"
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn changes_by_a_person_on_the_page_send_webhooks_too() {
    let receiver = Receiver::start(0).await;
    let sim = start_with(&receiver).await;
    let task = create(&sim, "a").await;
    let form = [
        ("title", "Edited in Altimeter"),
        ("description", ""),
        ("status", "blocked"),
        ("priority", "high"),
        ("assignee", "Ana"),
        ("due_date", "2026-04-01"),
        ("version", "1"),
    ];
    let response = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .post(format!("http://{}/ui/tasks/{}", sim.addr(), task.id))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    let deliveries = receiver.wait_for(2).await;
    let body: Value = deliveries[1].json();
    assert_eq!(
        (body["type"].clone(), body["data"]["version"].clone()),
        (json!("task.updated"), json!(2))
    );
    let stored = sim.state().task(&task.id).unwrap();
    assert_eq!(stored.fields.title, "Edited in Altimeter");
    assert_eq!(stored.fields.assignee.as_deref(), Some("Ana"));
}
