//! Operations end to end: the delete brake, pausing, and several workers on one
//! PostgreSQL database.

use serde_json::Value;

use crate::common::{Backend, on_both_backends, wait_until};
use crate::sync_harness::{Synced, spawn_synced};

on_both_backends!(
    a_burst_of_remote_deletes_is_held_until_released,
    pausing_stops_pushes_and_resume_sends_them,
    a_drain_is_not_held_up_by_a_dead_workers_lease,
    editing_a_legacy_task_links_it_instead_of_creating_a_twin,
    a_legacy_row_loaded_after_sync_imported_its_task_is_merged_into_it,
    a_merged_legacy_row_that_disagrees_with_altimeter_is_a_conflict,
    the_reconciliation_lease_is_released_when_its_pass_ends,
    a_task_deleted_before_its_lost_create_answer_is_deleted_in_altimeter_too,
    a_held_delete_overtaken_by_a_recreate_is_dropped_not_applied,
);

/// How many of these tasks are deleted in Atlas.
async fn deleted(s: &Synced, tasks: &[(String, String)]) -> usize {
    let mut n = 0;
    for (id, _) in tasks {
        let status = s
            .app
            .get(&format!("/api/tasks/{id}"), &s.app.viewer)
            .send()
            .await
            .unwrap()
            .status();
        n += usize::from(status == 410);
    }
    n
}

async fn a_burst_of_remote_deletes_is_held_until_released(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    let mut tasks = Vec::new();
    for i in 0..8 {
        tasks.push(s.create_synced(&format!("Task {i}")).await);
    }
    s.wait_idle().await;
    for (_, remote_id) in &tasks[..7] {
        s.sim.state().delete_task(remote_id, None).unwrap();
    }
    let status = || async {
        let v: Value = s.app.get_json("/admin/sync-status").await;
        v
    };
    wait_until(20, "five deletes applied and two held", || async {
        let report = status().await;
        report["deletes_held"] == 2 && report["delete_brake_engaged"] == true
    })
    .await;
    s.wait_idle().await;
    assert_eq!(
        deleted(&s, &tasks).await,
        5,
        "only the deletes within the allowance are applied"
    );

    let forbidden = s
        .app
        .post("/admin/sync/release-deletes", &s.app.editor)
        .send()
        .await
        .unwrap();
    assert_eq!(forbidden.status(), 403);
    let released = s
        .app
        .post("/admin/sync/release-deletes", &s.app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(released.status(), 200);
    let body: Value = released.json().await.unwrap();
    assert_eq!(body["released"], 2);
    // Released deletes are pulled again and applied, past the brake.
    wait_until(20, "the released deletes applied", || async {
        deleted(&s, &tasks).await == 7
    })
    .await;
    let report = status().await;
    assert_eq!(
        (
            report["deletes_held"].clone(),
            report["delete_brake_engaged"].clone()
        ),
        (0.into(), false.into())
    );
}

async fn pausing_stops_pushes_and_resume_sends_them(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    assert_eq!(
        s.app
            .post("/admin/sync/pause", &s.app.admin)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let task = s
        .app
        .create_task(serde_json::json!({"title": "Wait for me"}))
        .await;
    let id = task["id"].as_str().unwrap().to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    assert_eq!(s.calls("POST /tasks"), 0);
    assert_eq!(s.task(&id).await["sync_status"], "pending");
    let report: Value = s.app.get_json("/admin/sync-status").await;
    assert_eq!(
        (report["paused"].clone(), report["queue"]["pending"].clone()),
        (true.into(), 1.into())
    );
    assert_eq!(
        s.app
            .post("/admin/sync/resume", &s.app.admin)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    s.wait_status(&id, "synced").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn several_workers_on_one_postgres_create_each_task_once() {
    let Some(s) = spawn_synced(Backend::Postgres, |_| {}).await else {
        return;
    };
    // A second worker process, as `atlas worker` would run it.
    let config = crate::sync_harness::test_sync_config(&s.sim.base_url());
    let outbox = atlas::sync::outbox::Outbox::new(s.app.db.backend(), config.push_delay);
    let engine = atlas::sync::engine(&s.app.db, &config, &outbox)
        .unwrap()
        .unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut second = atlas::sync::spawn(engine, &shutdown);
    let creates = (0..100).map(|i| {
        s.app
            .create_task(serde_json::json!({"title": format!("Task {i}")}))
    });
    futures::future::join_all(creates).await;
    wait_until(60, "all 100 tasks synced", || async {
        let list: Value = s
            .app
            .get_json("/api/tasks?sync_status=synced&limit=500")
            .await;
        list["data"].as_array().unwrap().len() == 100
    })
    .await;
    shutdown.cancel();
    while second.join_next().await.is_some() {}
    let remote = s.sim.state().tasks();
    let mut external: Vec<_> = remote
        .iter()
        .filter_map(|r| r.external_id.clone())
        .collect();
    external.sort();
    external.dedup();
    assert_eq!((remote.len(), external.len()), (100, 100));
    assert_eq!(s.calls("POST /tasks"), 100);
}

async fn a_drain_is_not_held_up_by_a_dead_workers_lease(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    let (id, _) = s.create_synced("Hoist inspection").await;
    s.wait_idle().await;
    assert_eq!(
        s.app
            .post("/admin/sync/drain", &s.app.admin)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // An item left in flight by a worker that died, its lease already over.
    sqlx::query(
        "INSERT INTO sync_queue (lane, direction, task_id, status, attempts, next_attempt_at, \
         lease_owner, lease_expires_at, reason, created_at, updated_at) \
         VALUES ($1, 'push', $1, 'in_flight', 1, $2, 'dead-worker', $2, 'test', $2, $2)",
    )
    .bind(&id)
    .bind(atlas::db::encode_ts(
        &(atlas::db::now() - chrono::Duration::seconds(5)),
    ))
    .execute(s.app.db.pool())
    .await
    .unwrap();
    wait_until(20, "the drain to finish", || async {
        let v: Value = s
            .app
            .post("/admin/sync/drain", &s.app.admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        v["drained"] == true
    })
    .await;
    let report: Value = s.app.get_json("/admin/sync-status").await;
    assert_eq!(
        report["queue"]["pending"], 1,
        "the dead worker's item waits in line"
    );
    assert_eq!(
        s.app
            .post("/admin/sync/resume", &s.app.admin)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    s.wait_idle().await;
    s.wait_status(&id, "synced").await;
}

/// Loads one legacy export row naming `remote_id` (plus `extra` fields)
/// through `atlas import`.
async fn import_legacy_row(s: &Synced, remote_id: &str, extra: Value) -> atlas::import::Report {
    let outbox = atlas::sync::outbox::Outbox::new(s.app.db.backend(), std::time::Duration::ZERO);
    let mut row = serde_json::json!({"title": "Legacy: order formwork", "related_altimeter_task_id": remote_id});
    row.as_object_mut()
        .unwrap()
        .extend(extra.as_object().unwrap().clone());
    let dir = std::env::temp_dir().join(format!("atlas-legacy-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("legacy.jsonl"), row.to_string()).unwrap();
    atlas::import::import_file(&s.app.db, &outbox, &dir.join("legacy.jsonl"), "test")
        .await
        .unwrap()
}

/// Every live task in Atlas.
async fn all_tasks(s: &Synced) -> Vec<Value> {
    let list: Value = s.app.get_json("/api/tasks?limit=200").await;
    list["data"].as_array().unwrap().clone()
}

/// The one Atlas task for the legacy row: edited, then pushed to its Altimeter
/// task rather than to a new one.
async fn edit_the_legacy_task(s: &Synced, remote_id: &str) {
    let tasks = all_tasks(s).await;
    assert_eq!(
        tasks.len(),
        1,
        "one Atlas task for the legacy row: {tasks:?}"
    );
    assert_eq!(tasks[0]["related_altimeter_task_id"], remote_id);
    let id = tasks[0]["id"].as_str().unwrap().to_owned();
    let patch = serde_json::json!({"assignee": "Ana"});
    let status = s
        .app
        .patch(&format!("/api/tasks/{id}"), &s.app.editor)
        .json(&patch)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);
    wait_until(20, "the legacy task linked and pushed", || async {
        let task = s.task(&id).await;
        task["remote_id"] == remote_id
            && task["sync_status"] == "synced"
            && task["assignee"] == "Ana"
    })
    .await;
    s.wait_idle().await;
    assert_eq!(all_tasks(s).await.len(), 1, "still one Atlas task");
    assert_eq!(
        s.calls("POST /tasks"),
        0,
        "no twin was created in Altimeter"
    );
    assert_eq!(s.remote(remote_id).fields.assignee.as_deref(), Some("Ana"));
}

/// The legacy row is loaded while sync is paused, so it is in Atlas before the
/// webhook for its Altimeter task is acted on.
async fn editing_a_legacy_task_links_it_instead_of_creating_a_twin(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    s.app
        .post("/admin/sync/pause", &s.app.admin)
        .send()
        .await
        .unwrap();
    let remote = s.create_remote("Legacy: order formwork");
    let report = import_legacy_row(&s, &remote.id, serde_json::json!({})).await;
    assert_eq!((report.imported, report.merged), (1, 0));
    s.app
        .post("/admin/sync/resume", &s.app.admin)
        .send()
        .await
        .unwrap();
    edit_the_legacy_task(&s, &remote.id).await;
}

/// An Altimeter task, once sync has imported it into Atlas.
async fn imported_by_sync(s: &Synced) -> altimeter_api::RemoteTask {
    let remote = s.create_remote("Legacy: order formwork");
    wait_until(20, "the Altimeter task imported by sync", || async {
        all_tasks(s)
            .await
            .iter()
            .any(|t| t["remote_id"] == remote.id.as_str())
    })
    .await;
    remote
}

/// The other order: sync imports the Altimeter task first, then the legacy row
/// naming it is loaded. It is merged into that task instead of becoming a twin.
async fn a_legacy_row_loaded_after_sync_imported_its_task_is_merged_into_it(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    let remote = imported_by_sync(&s).await;
    let report = import_legacy_row(&s, &remote.id, serde_json::json!({})).await;
    assert_eq!((report.imported, report.merged), (0, 1));
    let again = import_legacy_row(&s, &remote.id, serde_json::json!({})).await;
    assert_eq!(
        (again.imported, again.merged, again.already_present),
        (0, 0, 1),
        "a second run of the same file changes nothing"
    );
    edit_the_legacy_task(&s, &remote.id).await;
}

/// A merged legacy row that disagrees with Altimeter is weighed like any first
/// link without a known base: the difference is a conflict for a person.
async fn a_merged_legacy_row_that_disagrees_with_altimeter_is_a_conflict(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    let remote = imported_by_sync(&s).await;
    let report = import_legacy_row(&s, &remote.id, serde_json::json!({"priority": "urgent"})).await;
    assert_eq!(report.merged, 1);
    let id = all_tasks(&s).await[0]["id"].as_str().unwrap().to_owned();
    s.wait_status(&id, "conflict").await;
    let conflicts: Value = s.app.get_json("/api/conflicts?status=unresolved").await;
    assert_eq!(conflicts["data"].as_array().unwrap().len(), 1);
    assert_eq!(all_tasks(&s).await.len(), 1, "no twin in Atlas");
    assert_eq!(s.calls("POST /tasks"), 0, "no twin in Altimeter");
}

/// A node holds the reconciliation lease only while its pass runs: once the
/// pass is over, another node (here: a made-up one) can take it at once,
/// rather than waiting out a whole interval if the first node had crashed.
async fn the_reconciliation_lease_is_released_when_its_pass_ends(backend: Backend) {
    use atlas::store::sync_state;
    use atlas::sync::maintenance::{RECONCILE_LAST, RECONCILE_LEASE};
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    let pool = s.app.db.pool();
    wait_until(20, "the first reconciliation pass done", || async {
        sync_state::get_ts(pool, RECONCILE_LAST)
            .await
            .unwrap()
            .is_some()
    })
    .await;
    // The pass records its end just before it releases the lease: wait for that.
    wait_until(10, "the lease free for another node", || async {
        let mut conn = pool.acquire().await.unwrap();
        let now = chrono::Utc::now();
        let until = now + chrono::Duration::seconds(30);
        sync_state::try_lease(&mut conn, RECONCILE_LEASE, "another-node", until, now)
            .await
            .unwrap()
    })
    .await;
}

/// A receiver for Atlas's alert webhook: every JSON body it is sent.
async fn alert_receiver() -> (String, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    let received = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/alerts",
        axum::routing::post(move |axum::Json(body): axum::Json<Value>| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push(body);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/alerts", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_item_raises_an_alert_that_resolves_once_fixed() {
    let (url, received) = alert_receiver().await;
    let Some(s) = spawn_synced(Backend::Sqlite, |c| {
        c.alert_webhook_url = Some(secrecy::SecretString::from(url));
        c.alert_interval = std::time::Duration::from_millis(200);
    })
    .await
    else {
        return;
    };
    s.faults(altimeter_sim::Faults {
        outage: true,
        ..Default::default()
    });
    let task = s
        .app
        .create_task(serde_json::json!({"title": "Order rebar"}))
        .await;
    let id = task["id"].as_str().unwrap().to_owned();
    s.wait_status(&id, "error").await;
    let sent = |status: &'static str| {
        let received = received.clone();
        move || {
            let received = received.clone();
            async move {
                received
                    .lock()
                    .unwrap()
                    .iter()
                    .any(|a| a["alert"] == "sync_failed" && a["status"] == status)
            }
        }
    };
    wait_until(20, "the sync_failed alert to be sent", sent("firing")).await;
    let report: Value = s.app.get_json("/admin/sync-status").await;
    assert!(
        report["alerts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["key"] == "sync_failed")
    );
    let firing = received
        .lock()
        .unwrap()
        .iter()
        .find(|a| a["alert"] == "sync_failed")
        .cloned()
        .unwrap();
    assert_eq!(firing["severity"], "critical");
    assert!(
        firing["text"].as_str().unwrap().contains("retry-failed"),
        "{firing}"
    );

    s.faults(altimeter_sim::Faults::default());
    s.app
        .post("/admin/sync/retry-failed", &s.app.admin)
        .send()
        .await
        .unwrap();
    s.wait_status(&id, "synced").await;
    wait_until(20, "the alert to be resolved", sent("resolved")).await;
    let count = received
        .lock()
        .unwrap()
        .iter()
        .filter(|a| a["alert"] == "sync_failed")
        .count();
    assert_eq!(count, 2, "sent once when it started and once when it ended");
}

async fn a_task_deleted_before_its_lost_create_answer_is_deleted_in_altimeter_too(
    backend: Backend,
) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    s.app
        .post("/admin/sync/pause", &s.app.admin)
        .send()
        .await
        .unwrap();
    let task = s
        .app
        .create_task(serde_json::json!({"title": "Temporary fence"}))
        .await;
    let id = task["id"].as_str().unwrap().to_owned();
    // As if Atlas's create reached Altimeter and its answer was lost.
    let task_id = uuid::Uuid::parse_str(&id).unwrap();
    let sent = atlas::model::SentCreate {
        generation: 0,
        fields: altimeter_api::TaskFields::titled("Temporary fence"),
    };
    atlas::store::tasks::mark_create_attempt(s.app.db.pool(), task_id, atlas::db::now(), &sent)
        .await
        .unwrap();
    let body = altimeter_api::CreateTask {
        external_id: Some(id.clone()),
        fields: altimeter_api::TaskFields::titled("Temporary fence"),
    };
    let orphan = s.sim.state().create_task(body, None).unwrap().task;
    assert_eq!(
        s.app
            .delete(&format!("/api/tasks/{id}"), &s.app.editor)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    s.app
        .post("/admin/sync/resume", &s.app.admin)
        .send()
        .await
        .unwrap();
    wait_until(20, "the orphan deleted in Altimeter", || async {
        s.sim.state().task(&orphan.id).is_some_and(|r| r.deleted)
    })
    .await;
    s.wait_idle().await;
    assert_eq!(s.calls("POST /tasks"), 0, "nothing was created again");
}

/// The delete brake holds R1's delete for task T; T is edited, the push meets
/// 410, the edit-versus-delete conflict is resolved by keeping T, which is
/// created again as R2. Discarding (or releasing) the held deletes afterwards
/// must leave T linked to R2: no R3, no live orphan, no second Atlas task.
async fn a_held_delete_overtaken_by_a_recreate_is_dropped_not_applied(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    let mut tasks = Vec::new();
    for i in 0..10 {
        tasks.push(s.create_synced(&format!("Slab {i}")).await);
    }
    s.wait_idle().await;
    for (_, remote_id) in &tasks[..7] {
        s.sim.state().delete_task(remote_id, None).unwrap();
    }
    wait_until(20, "two deletes held by the brake", || async {
        let report: Value = s.app.get_json("/admin/sync-status").await;
        report["deletes_held"] == 2
    })
    .await;
    s.wait_idle().await;
    let held: Value = s.app.get_json("/admin/sync/held-deletes").await;
    let held_task = held["data"][0]["task_id"].as_str().unwrap().to_owned();
    let old_remote = held["data"][0]["remote_id"].as_str().unwrap().to_owned();

    let edit = s
        .app
        .patch(&format!("/api/tasks/{held_task}"), &s.app.editor)
        .json(&serde_json::json!({"title": "Slab edited"}))
        .send()
        .await
        .unwrap();
    assert_eq!(edit.status(), 200);
    s.wait_status(&held_task, "conflict").await;
    let conflicts: Value = s.app.get_json("/api/conflicts?status=unresolved").await;
    let conflict = conflicts["data"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["task_id"] == held_task.as_str())
        .expect("an edit-versus-delete conflict")
        .clone();
    let kept = s
        .app
        .post(
            &format!(
                "/api/conflicts/{}/resolve",
                conflict["id"].as_str().unwrap()
            ),
            &s.app.editor,
        )
        .json(&serde_json::json!({"resolution": "keep_local"}))
        .send()
        .await
        .unwrap();
    assert_eq!(kept.status(), 200);
    s.wait_status(&held_task, "synced").await;
    let recreated = s.task(&held_task).await["remote_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(recreated, old_remote, "created in Altimeter again");

    let discarded = s
        .app
        .post("/admin/sync/discard-deletes", &s.app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(discarded.status(), 200);
    s.wait_idle().await;
    let task = s.task(&held_task).await;
    assert_eq!(
        task["remote_id"],
        recreated.as_str(),
        "still linked to its new Altimeter task"
    );
    assert_eq!(task["sync_status"], "synced");
    let live_twins = s
        .sim
        .state()
        .tasks()
        .into_iter()
        .filter(|t| !t.deleted && t.fields.title == "Slab edited")
        .count();
    assert_eq!(live_twins, 1, "exactly one live copy in Altimeter");
    let list: Value = s.app.get_json("/api/tasks?q=slab%20edited").await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "one task in Atlas"
    );
}
