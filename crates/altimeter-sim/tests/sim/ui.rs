//! The HTML page: lists tasks, and a person's edits go through the store like
//! any API change; bad input shows a message instead of failing.

use altimeter_sim::SimHandle;
use serde_json::json;

use crate::support::{call, config, create, start};

fn page_client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn post_form(sim: &SimHandle, path: &str, form: &[(&str, &str)]) -> (u16, String) {
    let response = page_client()
        .post(format!("http://{}{path}", sim.addr()))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn edit_form<'a>(title: &'a str, due_date: &'a str, version: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("title", title),
        ("description", "from the page"),
        ("status", "in_progress"),
        ("priority", "urgent"),
        ("assignee", ""),
        ("due_date", due_date),
        ("version", version),
    ]
}

#[tokio::test]
async fn the_page_lists_tasks_with_their_fields_escaped() {
    let sim = start(config()).await;
    create(&sim, "<script>alert(1)</script> Pour slab").await;
    let gone = create(&sim, "Old task").await;
    call(&sim, "DELETE", &format!("/tasks/{}", gone.id), None).await;
    let html = reqwest::get(format!("http://{}/", sim.addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("&lt;script&gt;alert(1)&lt;/script&gt; Pour slab"));
    assert!(!html.contains("<script>alert"));
    assert!(html.contains("Old task") && html.contains("class=\"deleted\""));
}

#[tokio::test]
async fn an_edit_on_the_page_bumps_the_version() {
    let sim = start(config()).await;
    let task = create(&sim, "a").await;
    let path = format!("/ui/tasks/{}", task.id);
    let form_html = reqwest::get(format!("http://{}{path}", sim.addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(form_html.contains("name=\"version\" value=\"1\""));
    let (status, _) = post_form(&sim, &path, &edit_form("b", "2026-05-01", "1")).await;
    assert_eq!(status, 303);
    let (_, body) = call(&sim, "GET", &format!("/tasks/{}", task.id), None).await;
    assert_eq!(
        (
            body["version"].clone(),
            body["title"].clone(),
            body["due_date"].clone(),
            body["assignee"].clone()
        ),
        (json!(2), json!("b"), json!("2026-05-01"), json!(null))
    );
    assert_eq!(body["priority"], "urgent");
}

#[tokio::test]
async fn bad_input_and_stale_edits_show_a_message_and_change_nothing() {
    let sim = start(config()).await;
    let task = create(&sim, "a").await;
    let path = format!("/ui/tasks/{}", task.id);
    let (status, html) = post_form(&sim, &path, &edit_form("b", "2026-02-30", "1")).await;
    assert_eq!(status, 422);
    assert!(
        html.contains("due date:") && html.contains("not a real calendar date"),
        "{html}"
    );
    let (status, html) = post_form(&sim, &path, &edit_form("   ", "", "1")).await;
    assert_eq!(status, 422);
    assert!(html.contains("title: must not be blank"));
    let mut bad_status = edit_form("b", "", "1");
    bad_status[2] = ("status", "later");
    assert_eq!(post_form(&sim, &path, &bad_status).await.0, 422);

    call(
        &sim,
        "PUT",
        &format!("/tasks/{}", task.id),
        Some(json!({"title": "api"})),
    )
    .await;
    let (status, html) = post_form(&sim, &path, &edit_form("page", "", "1")).await;
    assert_eq!(status, 409);
    assert!(html.contains("now version 2"));
    assert_eq!(sim.state().task(&task.id).unwrap().fields.title, "api");
    assert_eq!(
        post_form(&sim, "/ui/tasks/alt_missing", &edit_form("x", "", "1"))
            .await
            .0,
        404
    );
}

#[tokio::test]
async fn a_person_can_create_and_delete_on_the_page() {
    let sim = start(config()).await;
    let (status, _) = post_form(&sim, "/ui/tasks", &edit_form("made by hand", "", "")).await;
    assert_eq!(status, 303);
    let tasks = sim.state().tasks();
    assert_eq!(
        (tasks.len(), tasks[0].fields.title.as_str()),
        (1, "made by hand")
    );
    let (status, _) = post_form(&sim, &format!("/ui/tasks/{}/delete", tasks[0].id), &[]).await;
    assert_eq!(status, 303);
    assert!(sim.state().task(&tasks[0].id).unwrap().deleted);
}

#[tokio::test]
async fn faults_are_switched_on_and_off_from_the_page() {
    let sim = start(config()).await;
    let html = reqwest::get(format!("http://{}/", sim.addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(html.contains("off — Outage"), "{html}");
    let (status, _) = post_form(&sim, "/ui/faults", &[("toggle", "outage")]).await;
    assert_eq!(status, 303);
    assert!(sim.state().faults().outage);
    post_form(&sim, "/ui/faults", &[("toggle", "slow")]).await;
    post_form(&sim, "/ui/faults", &[("toggle", "drop_webhooks")]).await;
    let faults = sim.state().faults();
    assert_eq!(faults.latency_ms, 2_000);
    assert_eq!(faults.webhook_drop_rate, 1.0);
    post_form(&sim, "/ui/faults", &[("toggle", "outage")]).await;
    assert!(
        !sim.state().faults().outage,
        "a second press switches it off"
    );
    let (status, _) = post_form(&sim, "/ui/faults", &[("toggle", "meteor")]).await;
    assert_eq!(status, 422);
}
