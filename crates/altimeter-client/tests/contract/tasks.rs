//! The per-task calls: create, get, update, delete, and their error answers.

use altimeter_api::{Priority, RemoteTask, Status, TaskFields};
use altimeter_client::ClientError;
use serde_json::Value;

use crate::support::{KEY, client_for, expect_permanent, fixture, new_task, start};

#[tokio::test]
async fn a_missing_or_wrong_key_is_401() {
    let (sim, _) = start().await;
    let wrong = client_for(&sim.base_url(), "not-the-key");
    let (status, code, _) = expect_permanent(wrong.get("alt_x").await);
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    let empty = client_for(&sim.base_url(), "");
    assert_eq!(
        expect_permanent(empty.create(&new_task("a"), "k").await).0,
        401
    );

    let bare = reqwest::get(format!("{}/tasks", sim.base_url()))
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
    let body: serde_json::Value = bare.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(sim.state().tasks().is_empty());
}

#[tokio::test]
async fn create_get_and_update_round_trip() {
    let (_sim, client) = start().await;
    let mut request = new_task("Pour slab");
    request.fields.priority = Priority::Urgent;
    request.fields.due_date = chrono::NaiveDate::from_ymd_opt(2026, 3, 15);
    let created = client.create(&request, "create-1").await.unwrap();
    assert!(created.id.starts_with("alt_"));
    assert_eq!((created.version, created.deleted), (1, false));
    assert_eq!(created.fields, request.fields);
    assert_eq!(created.external_id, request.external_id);
    assert_eq!(created.created_at, created.updated_at);
    assert_eq!(client.get(&created.id).await.unwrap(), created);

    let mut fields = created.fields.clone();
    fields.status = Status::Done;
    fields.assignee = Some("Ana".into());
    let updated = client.update(&created.id, &fields, Some(1)).await.unwrap();
    assert_eq!((updated.version, &updated.fields), (2, &fields));
    assert!(updated.updated_at > created.updated_at);
    let unguarded = client
        .update(&created.id, &TaskFields::titled("x"), None)
        .await
        .unwrap();
    assert_eq!(unguarded.version, 3);
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_task() {
    let (sim, client) = start().await;
    let first = client.create(&new_task("a"), "key-1").await.unwrap();
    let again = client.create(&new_task("a"), "key-1").await.unwrap();
    assert_eq!(again, first);
    assert_eq!(sim.state().tasks().len(), 1);
    assert_eq!(sim.state().stats().requests["POST /tasks"], 2);
    let other = client.create(&new_task("a"), "key-2").await.unwrap();
    assert_ne!(other.id, first.id);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_idempotency_key_reused() {
    let (sim, client) = start().await;
    client.create(&new_task("a"), "key-1").await.unwrap();
    match client.create(&new_task("b"), "key-1").await {
        Err(ClientError::IdempotencyKeyReused { message }) => {
            assert!(message.contains("different"), "{message}");
        }
        other => panic!("expected IdempotencyKeyReused, got {other:?}"),
    }
    assert_eq!(sim.state().tasks().len(), 1);
}

#[tokio::test]
async fn a_header_that_cannot_be_sent_is_permanent_not_retryable() {
    let (sim, client) = start().await;
    let (status, code, message) = expect_permanent(client.create(&new_task("a"), "bad\nkey").await);
    assert_eq!((status, code.as_str()), (0, "invalid_request"), "{message}");
    assert!(sim.state().stats().requests.is_empty(), "nothing was sent");
}

#[tokio::test]
async fn a_stale_if_match_is_412_with_the_current_task() {
    let (_sim, client) = start().await;
    let task = client.create(&new_task("a"), "k").await.unwrap();
    client
        .update(&task.id, &TaskFields::titled("b"), Some(1))
        .await
        .unwrap();
    match client
        .update(&task.id, &TaskFields::titled("c"), Some(1))
        .await
    {
        Err(ClientError::PreconditionFailed(Some(current))) => {
            assert_eq!((current.version, current.fields.title.as_str()), (2, "b"));
        }
        other => panic!("expected 412, got {other:?}"),
    }
    match client.delete(&task.id, Some(1)).await {
        Err(ClientError::PreconditionFailed(Some(current))) => assert_eq!(current.version, 2),
        other => panic!("expected 412, got {other:?}"),
    }
    assert_eq!(client.get(&task.id).await.unwrap().version, 2);
}

#[tokio::test]
async fn invalid_fields_are_a_permanent_422_naming_the_field() {
    let (sim, client) = start().await;
    let (status, code, message) = expect_permanent(client.create(&new_task("  "), "k").await);
    assert_eq!((status, code.as_str()), (422, "validation_failed"));
    assert!(message.contains("title"), "{message}");

    let task = client.create(&new_task("a"), "k2").await.unwrap();
    let mut fields = TaskFields::titled("a");
    fields.assignee = Some("x".repeat(101));
    let (status, _, message) = expect_permanent(client.update(&task.id, &fields, None).await);
    assert_eq!(status, 422);
    assert!(message.starts_with("assignee:"), "{message}");

    let raw = reqwest::Client::new()
        .post(format!("{}/tasks", sim.base_url()))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(r#"{"title": "a", "status": "later", "due_date": "2026-02-30"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 422);
    let body: serde_json::Value = raw.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("status: unknown") && message.contains("due_date:"),
        "{message}"
    );
}

#[tokio::test]
async fn malformed_json_is_a_permanent_400() {
    let (sim, _) = start().await;
    let raw = reqwest::Client::new()
        .post(format!("{}/tasks", sim.base_url()))
        .bearer_auth(KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed_json");
}

#[tokio::test]
async fn a_deleted_task_is_gone_with_its_tombstone() {
    let (_sim, client) = start().await;
    let task = client.create(&new_task("a"), "k").await.unwrap();
    client.delete(&task.id, Some(1)).await.unwrap();
    let tombstone = match client.get(&task.id).await {
        Err(ClientError::Gone(Some(tombstone))) => *tombstone,
        other => panic!("expected 410, got {other:?}"),
    };
    assert!(tombstone.deleted);
    assert_eq!(
        (tombstone.id.as_str(), tombstone.version),
        (task.id.as_str(), 2)
    );
    assert!(matches!(
        client.update(&task.id, &task.fields, None).await,
        Err(ClientError::Gone(Some(_)))
    ));
    assert!(matches!(
        client.delete(&task.id, None).await,
        Err(ClientError::Gone(Some(_)))
    ));
}

#[tokio::test]
async fn an_unknown_id_is_not_found() {
    let (_sim, client) = start().await;
    assert!(matches!(
        client.get("alt_nope").await,
        Err(ClientError::NotFound)
    ));
    let update = client
        .update("alt_nope", &TaskFields::titled("a"), Some(1))
        .await;
    assert!(matches!(update, Err(ClientError::NotFound)));
    assert!(matches!(
        client.delete("alt_nope", None).await,
        Err(ClientError::NotFound)
    ));
    assert!(matches!(
        client.get("a/../b c").await,
        Err(ClientError::NotFound)
    ));
}

/// The keys of a JSON object, sorted (whether serde_json keeps their order
/// depends on what else is built).
fn keys(doc: &Value) -> Vec<String> {
    let mut keys: Vec<String> = doc.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn the_sims_410_and_412_bodies_have_the_recorded_shape() {
    let (sim, client) = start().await;
    let task: RemoteTask = client.create(&new_task("a"), "k").await.unwrap();
    let raw = reqwest::Client::new();
    let url = format!("{}/tasks/{}", sim.base_url(), task.id);
    let stale = raw
        .put(&url)
        .bearer_auth(KEY)
        .header("if-match", "\"7\"")
        .json(&task.fields)
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let body: Value = stale.json().await.unwrap();
    let recorded: Value = serde_json::from_str(&fixture("precondition_failed.json")).unwrap();
    assert_eq!(keys(&body), keys(&recorded));

    client.delete(&task.id, None).await.unwrap();
    let gone = raw.get(&url).bearer_auth(KEY).send().await.unwrap();
    assert_eq!(gone.status(), 410);
    let body: Value = gone.json().await.unwrap();
    let recorded: Value = serde_json::from_str(&fixture("gone.json")).unwrap();
    assert_eq!(keys(&body), keys(&recorded));
    assert_eq!(body["deleted"], true);
}
