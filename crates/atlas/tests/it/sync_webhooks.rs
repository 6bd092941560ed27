//! The webhook receiver: signatures, duplicates, and what an unsigned setup does.

use altimeter_api::webhook::sign;
use serde_json::{Value, json};

use crate::common::{Backend, on_both_backends, wait_until};
use crate::sync_harness::{SECRET, Synced, spawn_synced};

on_both_backends!(
    forged_or_missing_signatures_are_refused_and_change_nothing,
    a_duplicated_event_is_processed_once,
);

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
