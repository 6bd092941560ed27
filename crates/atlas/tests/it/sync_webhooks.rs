//! The webhook receiver: signatures, duplicates, and what an unsigned setup does.

use altimeter_api::webhook::sign;
use serde_json::{Value, json};

use crate::common::{Backend, on_both_backends, wait_until};
use crate::sync_harness::{SECRET, Synced, spawn_synced};

on_both_backends!(
    forged_or_missing_signatures_are_refused_and_change_nothing,
    a_duplicated_event_is_processed_once,
    an_empty_secret_refuses_webhooks_signed_with_the_empty_key,
    a_remote_task_atlas_cannot_store_fails_alone_and_says_what_to_fix,
    a_signed_event_with_unusable_ids_is_refused_and_stores_nothing,
);

/// A NUL in an id made PostgreSQL fail the insert (a `500`, and Altimeter
/// retrying the event for nothing): such an event is a `422` naming the field.
async fn a_signed_event_with_unusable_ids_is_refused_and_stores_nothing(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    for (body, field) in [
        (event("evt\u{0}1", "alt_1", 3), "event_id"),
        (event("evt_2", "alt\u{0}2", 3), "data.task_id"),
        (event("evt_3", "", 3), "data.task_id"),
        (event("evt_4", "alt_4", 0), "data.version"),
    ] {
        let signature = sign(SECRET.as_bytes(), body.as_bytes());
        let (status, answer) = post(&s, &body, Some(&signature)).await;
        assert_eq!(status, 422, "{body}: {answer}");
        let message = answer["error"]["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(field), "{body}: {answer}");
    }
    assert_eq!(queued(&s).await, 0);
}

fn event(event_id: &str, task_id: &str, version: i64) -> String {
    json!({
        "event_id": event_id,
        "type": "task.updated",
        "occurred_at": "2026-11-25T14:01:00Z",
        "data": {"task_id": task_id, "version": version}
    })
    .to_string()
}

async fn post(s: &Synced, body: &str, signature: Option<&str>) -> (u16, Value) {
    let mut request = s
        .app
        .http
        .post(s.app.url("/webhooks/altimeter"))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(signature) = signature {
        request = request.header("x-altimeter-signature", signature);
    }
    let response = request.send().await.unwrap();
    (
        response.status().as_u16(),
        response.json().await.unwrap_or(Value::Null),
    )
}

async fn queued(s: &Synced) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM webhook_events")
        .fetch_one(s.app.db.pool())
        .await
        .unwrap();
    n
}

async fn forged_or_missing_signatures_are_refused_and_change_nothing(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    let body = event("evt_forged", "alt_does_not_matter", 7);
    assert_eq!(post(&s, &body, None).await.0, 401);
    assert_eq!(post(&s, &body, Some("")).await.0, 403);
    assert_eq!(
        post(&s, &body, Some(&sign(b"wrong secret", body.as_bytes())))
            .await
            .0,
        403
    );
    let tampered = body.replace("7", "8");
    assert_eq!(
        post(
            &s,
            &tampered,
            Some(&sign(SECRET.as_bytes(), body.as_bytes()))
        )
        .await
        .0,
        403
    );
    assert_eq!(queued(&s).await, 0);
    let depth = atlas::store::queue::depth(s.app.db.pool()).await.unwrap();
    assert_eq!(depth.pending + depth.in_flight + depth.failed, 0);
    let signed_garbage = "{\"event_id\": 5}";
    let (status, _) = post(
        &s,
        signed_garbage,
        Some(&sign(SECRET.as_bytes(), signed_garbage.as_bytes())),
    )
    .await;
    assert_eq!(status, 422);
}

async fn a_duplicated_event_is_processed_once(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    let (id, remote_id) = s.create_synced("Check anchors").await;
    s.wait_idle().await;
    // An edit in Altimeter whose webhook we deliver ourselves, twice.
    s.faults(altimeter_sim::Faults {
        webhook_drop_rate: 1.0,
        ..Default::default()
    });
    let edited = s.edit_remote(&remote_id, |f| f.assignee = Some("Ana".into()));
    let gets_before = s.calls("GET /tasks/{id}");
    let body = event("evt_twice", &remote_id, edited.version);
    let signature = sign(SECRET.as_bytes(), body.as_bytes());
    let first = post(&s, &body, Some(&signature)).await;
    let second = post(&s, &body, Some(&signature)).await;
    assert_eq!((first.0, first.1["status"].as_str()), (200, Some("queued")));
    assert_eq!(
        (second.0, second.1["status"].as_str()),
        (200, Some("duplicate"))
    );
    wait_until(20, "the edit in Atlas", || async {
        s.task(&id).await["assignee"] == "Ana"
    })
    .await;
    s.wait_idle().await;
    assert_eq!(s.calls("GET /tasks/{id}") - gets_before, 1);
    // A replay of an old version after that is recorded but pulls nothing.
    let stale = event("evt_replayed_old", &remote_id, edited.version - 1);
    let replay = post(&s, &stale, Some(&sign(SECRET.as_bytes(), stale.as_bytes()))).await;
    assert_eq!(replay.1["status"], "already_current");
}

/// An unfilled `ALTIMETER_WEBHOOK_SECRET=` line is no secret: a webhook signed
/// under the empty key is refused like any unsigned one, and queues nothing.
async fn an_empty_secret_refuses_webhooks_signed_with_the_empty_key(backend: Backend) {
    let Some(s) = spawn_synced(backend, |c| {
        c.webhook_secret = Some(secrecy::SecretString::from(String::new()));
    })
    .await
    else {
        return;
    };
    let remote = s.create_remote("Forged target");
    s.wait_idle().await;
    let before = queued(&s).await;
    let body = event("evt_forged_empty_key", &remote.id, 99);
    let (status, answer) = post(&s, &body, Some(&sign(b"", body.as_bytes()))).await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(queued(&s).await, before, "nothing was queued");
}

/// Altimeter may hold a task Atlas cannot store (a NUL in its title): its pull
/// fails at once and for good, naming the Altimeter task and the field, and
/// the tasks behind it still sync.
async fn a_remote_task_atlas_cannot_store_fails_alone_and_says_what_to_fix(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    let bad = s.create_remote("Pour\u{0}slab");
    let good = s.create_remote("Order rebar");
    wait_until(20, "the good task imported", || async {
        let list: Value = s.app.get_json("/api/tasks").await;
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["remote_id"] == good.id.as_str())
    })
    .await;
    wait_until(20, "the bad task's pull failed", || async {
        let failed: Value = s.app.get_json("/admin/sync/failed").await;
        !failed["data"].as_array().unwrap().is_empty()
    })
    .await;
    let failed: Value = s.app.get_json("/admin/sync/failed").await;
    let items = failed["data"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{failed}");
    assert_eq!(items[0]["remote_id"], bad.id.as_str());
    assert_eq!(
        items[0]["attempts"], 1,
        "not retried as if Altimeter were down"
    );
    let error = items[0]["last_error"].as_str().unwrap();
    assert!(
        error.contains(&bad.id) && error.contains("title"),
        "{error}"
    );
    let list: Value = s.app.get_json("/api/tasks").await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "only the good task is in Atlas"
    );
}
