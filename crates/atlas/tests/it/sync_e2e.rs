//! End to end against a real simulator over HTTP: the "done when" list of the
//! sync engine, on SQLite and on PostgreSQL.

use std::time::Duration;

use altimeter_api::{Status, TaskFields};
use altimeter_sim::Faults;
use serde_json::{Value, json};

use crate::common::{Backend, on_both_backends, wait_until};
use crate::sync_harness::{Synced, spawn_synced};

on_both_backends!(
    a_task_created_in_atlas_appears_in_altimeter,
    a_remote_edit_arrives_by_webhook_and_is_not_pushed_back,
    disjoint_concurrent_edits_merge_and_converge,
    same_field_edits_within_the_window_become_a_conflict,
    twenty_quick_edits_cost_at_most_five_remote_calls,
    reconciliation_brings_in_edits_whose_webhooks_were_dropped,
    an_outage_ends_in_error_and_retry_failed_recovers,
    a_remote_delete_becomes_a_local_tombstone,
    a_task_made_in_altimeter_is_imported,
    reconciliation_misses_no_change_that_ties_its_cursor,
    the_first_change_of_a_quiet_task_is_pushed_at_once_and_later_ones_coalesce,
    a_slow_call_holds_up_only_its_own_task,
);

/// The worker claims into free slots as they come: while one task's create
/// waits on a slow Altimeter, another task's create is already sent.
async fn a_slow_call_holds_up_only_its_own_task(backend: Backend) {
    let Some(s) = spawn_synced(backend, |c| c.concurrency = 4).await else {
        return;
    };
    s.faults(Faults {
        latency_ms: 5_000,
        ..Faults::default()
    });
    let slow = s.app.create_task(json!({"title": "Pour slab L3"})).await;
    let slow = slow["id"].as_str().unwrap().to_owned();
    wait_until(20, "the first create to reach Altimeter", || async {
        s.calls("POST /tasks") == 1
    })
    .await;
    s.app.create_task(json!({"title": "Order rebar"})).await;
    wait_until(20, "the second create to reach Altimeter", || async {
        s.calls("POST /tasks") == 2
    })
    .await;
    assert_eq!(
        s.task(&slow).await["sync_status"],
        "syncing",
        "the second create went out while the first was still under way"
    );
    s.faults(Faults::default());
}

/// With a 30 s push delay, a new task still reaches Altimeter at once (the
/// leading edge); a quick second edit does not put that push off; an edit right
/// after a sync waits out the window (the trailing edge).
async fn the_first_change_of_a_quiet_task_is_pushed_at_once_and_later_ones_coalesce(
    backend: Backend,
) {
    let Some(s) = spawn_synced(backend, |c| c.push_delay = Duration::from_secs(30)).await else {
        return;
    };
    let admin = |path: &str| s.app.post(path, &s.app.admin).send();
    assert_eq!(admin("/admin/sync/pause").await.unwrap().status(), 200);
    let task = s.app.create_task(json!({"title": "Pour slab L3"})).await;
    let id = task["id"].as_str().unwrap().to_owned();
    let task_id: uuid::Uuid = id.parse().unwrap();
    let edit = |title: &str| {
        s.app
            .patch(&format!("/api/tasks/{id}"), &s.app.editor)
            .json(&json!({"title": title}))
            .send()
    };
    let pushes = || atlas::store::queue::for_task(s.app.db.pool(), task_id);
    assert_eq!(edit("Pour slab L4").await.unwrap().status(), 200);
    let queued = pushes().await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    assert_eq!(
        queued[0].next_attempt_at, queued[0].created_at,
        "a push due at once is not put off by the next edit"
    );
    assert_eq!(admin("/admin/sync/resume").await.unwrap().status(), 200);
    s.wait_status(&id, "synced").await;
    let remote_id = s.task(&id).await["remote_id"].as_str().unwrap().to_owned();
    assert_eq!(s.remote(&remote_id).fields.title, "Pour slab L4");

    assert_eq!(edit("Pour slab L5").await.unwrap().status(), 200);
    let queued = pushes().await.unwrap();
    assert_eq!(queued.len(), 1, "{queued:?}");
    let wait = queued[0].next_attempt_at - queued[0].created_at;
    assert!(
        wait >= chrono::Duration::seconds(25),
        "an edit right after a sync waits for the window: {wait}"
    );
    assert_eq!(s.calls("PUT /tasks/{id}"), 0);
}

async fn synced(backend: Backend) -> Option<Synced> {
    spawn_synced(backend, |_| {}).await
}

async fn a_task_created_in_atlas_appears_in_altimeter(backend: Backend) {
    let Some(s) = synced(backend).await else {
        return;
    };
    let (id, remote_id) = s.create_synced("Need 50 bags of concrete on level 3").await;
    let remote = s.remote(&remote_id);
    assert_eq!(remote.external_id.as_deref(), Some(id.as_str()));
    assert_eq!(remote.fields.title, "Need 50 bags of concrete on level 3");
    let task = s.task(&id).await;
    assert_eq!(task["remote_version"], remote.version);
    assert!(task["last_synced_at"].is_string());
    assert_eq!(s.calls("POST /tasks"), 1);
}

async fn a_remote_edit_arrives_by_webhook_and_is_not_pushed_back(backend: Backend) {
    let Some(s) = synced(backend).await else {
        return;
    };
    let (id, remote_id) = s.create_synced("Frame level 2").await;
    s.wait_idle().await;
    let puts_before = s.calls("PUT /tasks/{id}");
    s.edit_remote(&remote_id, |f| f.status = Status::InProgress);
    wait_until(20, "the remote edit in Atlas", || async {
        s.task(&id).await["status"] == "in_progress"
    })
    .await;
    s.wait_idle().await;
    // Give an echo every chance to happen before checking it did not.
    tokio::time::sleep(Duration::from_millis(500)).await;
    s.wait_idle().await;
    assert_eq!(
        s.calls("PUT /tasks/{id}"),
        puts_before,
        "Atlas pushed the remote edit back"
    );
    assert_eq!(s.task(&id).await["sync_status"], "synced");
    let history: Value = s.app.get_json(&format!("/api/tasks/{id}/history")).await;
    let last = history["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["source"].as_str(), last["actor"].as_str()),
        (Some("remote"), Some("altimeter"))
    );
}

/// Webhooks are delayed so the local push meets a 412 and must merge.
async fn disjoint_concurrent_edits_merge_and_converge(backend: Backend) {
    let Some(s) = synced(backend).await else {
        return;
    };
    let (id, remote_id) = s.create_synced("Pour slab").await;
    let remote_edit = |f: &mut TaskFields| f.description = "Use the 32 MPa mix".into();
    s.edit_both_sides(&id, &remote_id, remote_edit, json!({"status": "blocked"}))
        .await;
    wait_until(20, "both edits on both sides", || async {
        let local = s.task(&id).await;
        let remote = s.remote(&remote_id);
        local["status"] == "blocked"
            && local["description"] == "Use the 32 MPa mix"
            && remote.fields.status == Status::Blocked
            && remote.fields.description == "Use the 32 MPa mix"
            && local["sync_status"] == "synced"
    })
    .await;
    let conflicts: Value = s.app.get_json("/api/conflicts").await;
    assert_eq!(conflicts["data"].as_array().unwrap().len(), 0);
}

/// The review's scenario: the foreman writes 50 bags, the PM 100, within minutes.
async fn same_field_edits_within_the_window_become_a_conflict(backend: Backend) {
    let Some(s) = synced(backend).await else {
        return;
    };
    let (id, remote_id) = s.create_synced("Need concrete on level 3").await;
    let remote_edit = |f: &mut TaskFields| f.title = "Need 100 bags of concrete on level 3".into();
    let local_patch = json!({"title": "Need 50 bags of concrete on level 3"});
    s.edit_both_sides(&id, &remote_id, remote_edit, local_patch)
        .await;
    s.wait_status(&id, "conflict").await;
    // Neither side was overwritten.
    assert_eq!(
        s.task(&id).await["title"],
        "Need 50 bags of concrete on level 3"
    );
    assert_eq!(
        s.remote(&remote_id).fields.title,
        "Need 100 bags of concrete on level 3"
    );
    let list: Value = s.app.get_json("/api/conflicts?status=unresolved").await;
    let conflict = list["data"][0].clone();
    assert_eq!(conflict["fields"], json!(["title"]));
    assert_eq!(
        conflict["local"]["title"],
        "Need 50 bags of concrete on level 3"
    );
    assert_eq!(
        conflict["remote"]["title"],
        "Need 100 bags of concrete on level 3"
    );
    assert_eq!(conflict["base"]["title"], "Need concrete on level 3");
    // The held remote version is in the task's history.
    let history: Value = s.app.get_json(&format!("/api/tasks/{id}/history")).await;
    assert!(
        history["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["source"] == "remote_held"
                && e["task"]["title"] == "Need 100 bags of concrete on level 3")
    );

    let path = format!(
        "/api/conflicts/{}/resolve",
        conflict["id"].as_str().unwrap()
    );
    let viewer = s
        .app
        .post(&path, &s.app.viewer)
        .json(&json!({"resolution": "keep_local"}))
        .send()
        .await
        .unwrap();
    assert_eq!(viewer.status(), 403);
    let resolved = s
        .app
        .post(&path, &s.app.editor)
        .json(&json!({"resolution": "keep_local"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), 200);
    s.wait_status(&id, "synced").await;
    assert_eq!(
        s.remote(&remote_id).fields.title,
        "Need 50 bags of concrete on level 3"
    );
    let again = s
        .app
        .post(&path, &s.app.editor)
        .json(&json!({"resolution": "accept_remote"}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 409);
}

async fn twenty_quick_edits_cost_at_most_five_remote_calls(backend: Backend) {
    let Some(s) = synced(backend).await else {
        return;
    };
    let (id, _) = s.create_synced("Crane schedule").await;
    s.wait_idle().await;
    let before = s.remote_calls();
    for i in 0..20 {
        let patch = json!({"description": format!("revision {i}")});
        let response = s
            .app
            .patch(&format!("/api/tasks/{id}"), &s.app.editor)
            .json(&patch)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    wait_until(20, "the last revision in Altimeter", || async {
        let task = s.task(&id).await;
        task["sync_status"] == "synced" && task["description"] == "revision 19"
    })
    .await;
    s.wait_idle().await;
    let remote_id = s.task(&id).await["remote_id"].as_str().unwrap().to_owned();
    assert_eq!(s.remote(&remote_id).fields.description, "revision 19");
    let spent = s.remote_calls() - before;
    assert!(spent <= 5, "20 edits cost {spent} remote calls");
}

async fn reconciliation_brings_in_edits_whose_webhooks_were_dropped(backend: Backend) {
    let Some(s) = spawn_synced(backend, |c| c.reconcile_interval = Duration::from_secs(1)).await
    else {
        return;
    };
    let (id, remote_id) = s.create_synced("Inspect anchors").await;
    s.faults(Faults {
        webhook_drop_rate: 1.0,
        ..Faults::default()
    });
    s.edit_remote(&remote_id, |f| f.assignee = Some("Ana".into()));
    wait_until(20, "reconciliation to bring the edit in", || async {
        s.task(&id).await["assignee"] == "Ana"
    })
    .await;
    assert!(s.sim.state().stats().webhooks.dropped >= 1);
}

async fn an_outage_ends_in_error_and_retry_failed_recovers(backend: Backend) {
    let Some(s) = synced(backend).await else {
        return;
    };
    s.faults(Faults {
        outage: true,
        ..Faults::default()
    });
    let task = s.app.create_task(json!({"title": "Order rebar"})).await;
    let id = task["id"].as_str().unwrap().to_owned();
    s.wait_status(&id, "error").await;
    let errored = s.task(&id).await;
    let message = errored["sync_error"].as_str().unwrap();
    assert!(
        message.contains("503") && message.contains("retry-failed"),
        "{message}"
    );
    // Initial try and two retries.
    assert_eq!(s.calls("POST /tasks"), 3);
    let status: Value = s.app.get_json("/admin/sync-status").await;
    assert_eq!(status["queue"]["failed"], 1);

    s.faults(Faults::default());
    let retry = s
        .app
        .post("/admin/sync/retry-failed", &s.app.admin)
        .send()
        .await
        .unwrap();
    assert_eq!(retry.status(), 200);
    s.wait_status(&id, "synced").await;
    let status: Value = s.app.get_json("/admin/sync-status").await;
    assert_eq!(status["queue"]["failed"], 0);
    assert_eq!(s.sim.state().tasks().len(), 1);
}

async fn a_remote_delete_becomes_a_local_tombstone(backend: Backend) {
    let Some(s) = synced(backend).await else {
        return;
    };
    let (id, remote_id) = s.create_synced("Remove scaffolding").await;
    s.sim.state().delete_task(&remote_id, None).unwrap();
    wait_until(20, "the delete in Atlas", || async {
        s.app
            .get(&format!("/api/tasks/{id}"), &s.app.viewer)
            .send()
            .await
            .unwrap()
            .status()
            == 410
    })
    .await;
    let history: Value = s.app.get_json(&format!("/api/tasks/{id}/history")).await;
    let last = history["data"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["source"].as_str(), last["task"]["deleted"].as_bool()),
        (Some("remote"), Some(true))
    );
}

async fn a_task_made_in_altimeter_is_imported(backend: Backend) {
    let Some(s) = synced(backend).await else {
        return;
    };
    let remote = s.create_remote("Site walk with the architect");
    wait_until(20, "the remote task in Atlas", || async {
        let list: Value = s.app.get_json("/api/tasks").await;
        list["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["remote_id"] == remote.id.as_str())
    })
    .await;
    s.wait_idle().await;
    assert_eq!(
        s.calls("POST /tasks"),
        0,
        "the import was pushed back as a new task"
    );
}

/// With whole-second stamps (the simulator's `coarse_timestamps`), many changes
/// share one `updated_at`: listing pages break ties by id, and a change made
/// after a pass, in the second it ended on, must still be found by the next.
/// Passes and the worker are stepped by hand, so the order is the test's.
async fn reconciliation_misses_no_change_that_ties_its_cursor(backend: Backend) {
    use atlas::sync::{outbox::Outbox, reconcile, worker};

    let Some(database_url) = crate::common::fresh_database_url(backend).await else {
        return;
    };
    let sim = altimeter_sim::spawn(
        altimeter_sim::SimConfig::new(crate::sync_harness::API_KEY),
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    sim.state().set_faults(Faults {
        coarse_timestamps: true,
        ..Faults::default()
    });
    let db = atlas::db::Db::connect(&database_url).await.unwrap();
    db.migrate().await.unwrap();
    let config = crate::sync_harness::test_sync_config(&sim.base_url());
    let outbox = Outbox::new(db.backend(), config.push_delay);
    let engine = atlas::sync::engine(&db, &config, &outbox).unwrap().unwrap();
    let worker = worker::Worker::new(engine.clone());
    let drain =
        || async { while let worker::Outcome::Worked(_) = worker.run_once().await.unwrap() {} };
    // More than a page (200), nearly all in one second.
    let mut remote: Vec<_> = (0..210)
        .map(|i| {
            let request = altimeter_api::CreateTask {
                external_id: None,
                fields: TaskFields::titled(format!("Anchor {i}")),
            };
            sim.state().create_task(request, None).unwrap().task
        })
        .collect();
    remote.sort_by(|a, b| a.id.cmp(&b.id));
    let first = reconcile::run(&engine).await.unwrap();
    assert_eq!((first.seen, first.queued), (210, 210), "{first:?}");
    drain().await;

    // At the start of a second, edit the task with the largest id (the pass
    // ends on it) and run a pass; then edit the task with the smallest id, which
    // sorts before that cursor. Until that edit lands in the cursor's second
    // (a slow machine may need a few tries), the next pass must still find it.
    let (first, last) = (&remote[0].id, &remote[remote.len() - 1].id);
    let mut tied = false;
    for round in 0..40 {
        let into_second = chrono::Utc::now().timestamp_subsec_millis();
        tokio::time::sleep(Duration::from_millis(u64::from(
            1010 - into_second.min(1000),
        )))
        .await;
        let newest = sim
            .state()
            .update_task(
                last,
                TaskFields::titled(format!("Anchor last, round {round}")),
                None,
            )
            .unwrap();
        assert_eq!(reconcile::run(&engine).await.unwrap().queued, 1);
        drain().await;
        let title = format!("Anchor 0, round {round}");
        let edited = sim
            .state()
            .update_task(first, TaskFields::titled(&title), None)
            .unwrap();
        let pass = reconcile::run(&engine).await.unwrap();
        assert_eq!(pass.queued, 1, "round {round}: {pass:?}");
        drain().await;
        let local = atlas::store::tasks::find_by_remote_id(db.pool(), first)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(local.fields.title, title, "round {round}");
        if edited.updated_at == newest.updated_at {
            tied = true;
            break;
        }
    }
    assert!(
        tied,
        "no edit landed in the second of the cursor in 40 rounds"
    );
    sim.shutdown().await;
}
