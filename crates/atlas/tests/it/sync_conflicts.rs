//! Conflicts end to end: edit versus delete, the window rule, per-field merges.

use std::time::Duration;

use altimeter_sim::Faults;
use serde_json::{Value, json};

use crate::common::{Backend, on_both_backends, wait_until};
use crate::sync_harness::{Synced, spawn_synced};

on_both_backends!(
    an_edit_against_a_remote_delete_is_held_until_someone_chooses,
    outside_the_window_the_later_edit_wins_and_the_loser_is_kept,
    a_per_field_merge_resolution_reaches_both_sides,
    resolving_a_conflict_keeps_what_only_one_side_changed,
);

async fn unresolved(s: &Synced) -> Value {
    let list: Value = s.app.get_json("/api/conflicts?status=unresolved").await;
    list["data"][0].clone()
}

async fn an_edit_against_a_remote_delete_is_held_until_someone_chooses(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    let (id, remote_id) = s.create_synced("Strip formwork").await;
    s.wait_idle().await;
    s.faults(Faults {
        webhook_delay_ms: 3_000,
        ..Faults::default()
    });
    s.sim.state().delete_task(&remote_id, None).unwrap();
    let patch = s
        .app
        .patch(&format!("/api/tasks/{id}"), &s.app.editor)
        .json(&json!({"assignee": "Bo"}));
    assert_eq!(patch.send().await.unwrap().status(), 200);
    s.wait_status(&id, "conflict").await;
    let conflict = unresolved(&s).await;
    assert_eq!(conflict["kind"], "edit_delete");
    assert_eq!(
        s.task(&id).await["assignee"],
        "Bo",
        "the local edit must survive"
    );
    // Keeping the edit re-creates the task in Altimeter.
    let path = format!(
        "/api/conflicts/{}/resolve",
        conflict["id"].as_str().unwrap()
    );
    let merge = s
        .app
        .post(&path, &s.app.editor)
        .json(&json!({"resolution": "merge", "fields": {}}))
        .send();
    assert_eq!(
        merge.await.unwrap().status(),
        422,
        "a delete conflict cannot be merged field by field"
    );
    let keep = s
        .app
        .post(&path, &s.app.editor)
        .json(&json!({"resolution": "keep_local"}))
        .send();
    assert_eq!(keep.await.unwrap().status(), 200);
    s.wait_status(&id, "synced").await;
    let new_remote = s.task(&id).await["remote_id"].as_str().unwrap().to_owned();
    assert_ne!(new_remote, remote_id);
    assert_eq!(s.remote(&new_remote).fields.assignee.as_deref(), Some("Bo"));
}

async fn outside_the_window_the_later_edit_wins_and_the_loser_is_kept(backend: Backend) {
    let Some(s) = spawn_synced(backend, |c| {
        c.conflict_window = Duration::ZERO;
        c.clock_skew = Duration::ZERO;
    })
    .await
    else {
        return;
    };
    let (id, remote_id) = s.create_synced("Need concrete").await;
    s.wait_idle().await;
    s.faults(Faults {
        webhook_delay_ms: 3_000,
        ..Faults::default()
    });
    // Sync is paused around the local edit, so its push (which would go at
    // once) goes out after the remote edit and meets a 412.
    let admin = |path: &str| s.app.post(path, &s.app.admin).send();
    assert_eq!(admin("/admin/sync/pause").await.unwrap().status(), 200);
    let patch = json!({"title": "Need 50 bags"});
    s.app
        .patch(&format!("/api/tasks/{id}"), &s.app.editor)
        .json(&patch)
        .send()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    s.edit_remote(&remote_id, |f| f.title = "Need 100 bags".into());
    assert_eq!(admin("/admin/sync/resume").await.unwrap().status(), 200);
    wait_until(20, "the later (remote) edit to win", || async {
        let task = s.task(&id).await;
        task["title"] == "Need 100 bags" && task["sync_status"] == "synced"
    })
    .await;
    let list: Value = s.app.get_json("/api/conflicts?status=auto_resolved").await;
    let record = &list["data"][0];
    assert_eq!(record["winner"], "remote");
    assert_eq!(
        record["local"]["title"], "Need 50 bags",
        "the losing value stays restorable"
    );
    assert_eq!(s.remote(&remote_id).fields.title, "Need 100 bags");

    // The Conflicts page lists it with the value that lost, and restores it.
    s.faults(Faults::default());
    let cookie = crate::browser::sign_in_cookie(&s.app, &s.app.editor).await;
    let (_, html) = crate::ui_forms::page(&s.app, &cookie, "/conflicts").await;
    assert!(
        html.contains("Restore this value") && html.contains("Need 50 bags"),
        "{html}"
    );
    let restore = format!("/conflicts/{}/restore", record["id"].as_str().unwrap());
    let csrf = crate::ui_forms::csrf_of(&html);
    let (status, _) =
        crate::ui_forms::post_form(&s.app, &cookie, &restore, &[("_csrf", csrf)]).await;
    assert_eq!(status, 303);
    wait_until(20, "the restored value on both sides", || async {
        let task = s.task(&id).await;
        task["title"] == "Need 50 bags"
            && task["sync_status"] == "synced"
            && s.remote(&remote_id).fields.title == "Need 50 bags"
    })
    .await;
}

async fn a_per_field_merge_resolution_reaches_both_sides(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    let (id, remote_id) = s.create_synced("Need concrete").await;
    s.edit_both_sides(
        &id,
        &remote_id,
        |f| {
            f.title = "Need 100 bags".into();
            f.assignee = Some("PM".into());
        },
        json!({"title": "Need 50 bags", "assignee": "Foreman"}),
    )
    .await;
    s.wait_status(&id, "conflict").await;
    let conflict = unresolved(&s).await;
    assert_eq!(conflict["fields"], json!(["title", "assignee"]));
    let path = format!(
        "/api/conflicts/{}/resolve",
        conflict["id"].as_str().unwrap()
    );
    let partial = json!({"resolution": "merge", "fields": {"title": "Need 75 bags"}});
    let refused = s
        .app
        .post(&path, &s.app.editor)
        .json(&partial)
        .send()
        .await
        .unwrap();
    assert_eq!(
        refused.status(),
        422,
        "every conflicting field needs a value"
    );
    let full =
        json!({"resolution": "merge", "fields": {"title": "Need 75 bags", "assignee": "PM"}});
    let resolved = s
        .app
        .post(&path, &s.app.editor)
        .json(&full)
        .send()
        .await
        .unwrap();
    assert_eq!(resolved.status(), 200);
    s.wait_status(&id, "synced").await;
    let remote = s.remote(&remote_id);
    assert_eq!(
        (
            remote.fields.title.as_str(),
            remote.fields.assignee.as_deref()
        ),
        ("Need 75 bags", Some("PM"))
    );
    let task = s.task(&id).await;
    assert_eq!(
        (task["title"].as_str(), task["assignee"].as_str()),
        (Some("Need 75 bags"), Some("PM"))
    );
}

async fn resolving_a_conflict_keeps_what_only_one_side_changed(backend: Backend) {
    let Some(s) = spawn_synced(backend, |_| {}).await else {
        return;
    };
    let (id, remote_id) = s.create_synced("Need concrete").await;
    s.edit_both_sides(
        &id,
        &remote_id,
        |f| {
            f.title = "Need 100 bags".into();
            f.priority = altimeter_api::Priority::Urgent;
        },
        json!({"title": "Need 50 bags"}),
    )
    .await;
    s.wait_status(&id, "conflict").await;
    let conflict = unresolved(&s).await;
    assert_eq!(
        conflict["fields"],
        json!(["title"]),
        "only the title is in conflict"
    );
    let path = format!(
        "/api/conflicts/{}/resolve",
        conflict["id"].as_str().unwrap()
    );
    let keep = s
        .app
        .post(&path, &s.app.editor)
        .json(&json!({"resolution": "keep_local"}))
        .send();
    assert_eq!(keep.await.unwrap().status(), 200);
    s.wait_status(&id, "synced").await;
    let remote = s.remote(&remote_id);
    assert_eq!(remote.fields.title, "Need 50 bags");
    assert_eq!(
        remote.fields.priority,
        altimeter_api::Priority::Urgent,
        "the PM's priority survives"
    );
    assert_eq!(s.task(&id).await["priority"], "urgent");
}
