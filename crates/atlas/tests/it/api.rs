//! The task API over HTTP: auth, CRUD, validation, preconditions, pagination.

use serde_json::{Value, json};

use crate::common::{Backend, TestApp, on_both_backends, spawn_app};

on_both_backends!(
    auth_is_required_and_roles_are_enforced,
    create_patch_history_delete,
    refused_requests_change_nothing,
    stale_if_match_is_refused_with_the_current_task,
    listing_filters_and_pages_cover_every_task_once,
    unknown_ids_and_routes_answer_json_errors,
    concurrent_patches_all_land,
    health_readiness_and_metrics,
    invented_methods_and_paths_mint_no_metric_series,
    control_characters_are_refused_with_the_field_named,
    empty_parameters_mean_no_filter_and_search_is_trimmed,
    search_ignores_case_in_every_script_on_both_backends,
);

async fn app(backend: Backend) -> Option<TestApp> {
    spawn_app(backend).await
}

async fn error_code(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    (
        status,
        body["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

async fn auth_is_required_and_roles_are_enforced(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let anonymous = app.http.get(app.url("/api/tasks")).send().await.unwrap();
    assert_eq!(error_code(anonymous).await, (401, "unauthorized".into()));
    let basic = app
        .http
        .get(app.url("/api/tasks"))
        .header("Authorization", "Basic dXNlcjpwYXNz")
        .send()
        .await
        .unwrap();
    assert_eq!(basic.status(), 401);
    let unknown = app.get("/api/tasks", "atlas_0000").send().await.unwrap();
    assert_eq!(unknown.status(), 401);

    assert_eq!(
        app.get("/api/tasks", &app.viewer)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let created = app.create_task(json!({"title": "Pour level 3 slab"})).await;
    let path = format!("/api/tasks/{}", created["id"].as_str().unwrap());
    assert_eq!(
        app.get(&path, &app.viewer).send().await.unwrap().status(),
        200
    );
    let viewer_patch = app
        .patch(&path, &app.viewer)
        .json(&json!({"status": "done"}))
        .send();
    assert_eq!(
        error_code(viewer_patch.await.unwrap()).await,
        (403, "forbidden".into())
    );
    // The role is checked before the body is read.
    let viewer_garbage = app
        .patch(&path, &app.viewer)
        .header("content-type", "application/json")
        .body("{");
    assert_eq!(viewer_garbage.send().await.unwrap().status(), 403);
    let viewer_create = app
        .post("/api/tasks", &app.viewer)
        .json(&json!({"title": "x"}))
        .send();
    assert_eq!(viewer_create.await.unwrap().status(), 403);
    assert_eq!(
        app.delete(&path, &app.viewer)
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    let admin_patch = app
        .patch(&path, &app.admin)
        .json(&json!({"status": "done"}))
        .send();
    assert_eq!(admin_patch.await.unwrap().status(), 200);

    atlas::store::tokens::revoke(app.db.pool(), "editor")
        .await
        .unwrap();
    assert_eq!(
        app.get("/api/tasks", &app.editor)
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
}

async fn create_patch_history_delete(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let response = app
        .post("/api/tasks", &app.editor)
        .json(
            &json!({"title": "Need 50 bags of concrete on level 3", "due_date": "2026-12-01",
                      "assignee": "Ana", "priority": "high"}),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["etag"], "\"1\"");
    let task: Value = response.json().await.unwrap();
    assert_eq!(task["version"], 1);
    assert_eq!(task["status"], "open");
    assert_eq!(task["sync_status"], "pending");
    assert_eq!(task["due_date"], "2026-12-01");
    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());

    let patched: Value = app
        .patch(&path, &app.editor)
        .json(&json!({"title": "Need 100 bags of concrete on level 3", "assignee": null}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(patched["version"], 2);
    assert_eq!(patched["assignee"], Value::Null);
    assert_eq!(patched["priority"], "high");
    assert_eq!(patched["created_at"], task["created_at"]);

    // A patch that changes nothing is not a new version.
    let same: Value = app
        .patch(&path, &app.editor)
        .json(&json!({"priority": "high"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(same["version"], 2);

    let history: Value = app.get_json(&format!("{path}/history")).await;
    let entries = history["data"].as_array().unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(
        entries[0]["task"]["title"],
        "Need 50 bags of concrete on level 3"
    );
    assert_eq!(
        entries[1]["task"]["title"],
        "Need 100 bags of concrete on level 3"
    );
    assert_eq!(entries[1]["source"], "local");
    assert_eq!(entries[1]["actor"], "editor");

    assert_eq!(
        app.delete(&path, &app.editor)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        error_code(app.get(&path, &app.viewer).send().await.unwrap()).await,
        (410, "gone".into())
    );
    let patch_deleted = app
        .patch(&path, &app.editor)
        .json(&json!({"title": "x"}))
        .send();
    assert_eq!(patch_deleted.await.unwrap().status(), 410);
    let history: Value = app.get_json(&format!("{path}/history")).await;
    assert_eq!(history["data"].as_array().unwrap().len(), 3);
    assert_eq!(history["data"][2]["task"]["deleted"], true);
    let list: Value = app.get_json("/api/tasks").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
}

async fn refused_requests_change_nothing(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let task = app.create_task(json!({"title": "Frame level 2"})).await;
    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    let big = json!({"description": "x".repeat(2 * 1024 * 1024)}).to_string();
    let cases: Vec<(reqwest::RequestBuilder, u16, &str)> = vec![
        (
            app.patch(&path, &app.editor)
                .json(&json!({"status": "finished"})),
            422,
            "validation_failed",
        ),
        (
            app.patch(&path, &app.editor)
                .json(&json!({"due_date": "2026-02-30"})),
            422,
            "validation_failed",
        ),
        (
            app.patch(&path, &app.editor)
                .json(&json!({"due_date": "tomorrow"})),
            422,
            "validation_failed",
        ),
        (
            app.patch(&path, &app.editor).json(&json!({"title": "   "})),
            422,
            "validation_failed",
        ),
        (
            app.patch(&path, &app.editor)
                .json(&json!({"title": "x".repeat(201)})),
            422,
            "validation_failed",
        ),
        (
            app.patch(&path, &app.editor)
                .json(&json!({"assignee": "a".repeat(101)})),
            422,
            "validation_failed",
        ),
        (
            app.patch(&path, &app.editor).json(&json!({"title": null})),
            422,
            "validation_failed",
        ),
        (
            app.patch(&path, &app.editor)
                .json(&json!({"colour": "red"})),
            422,
            "validation_failed",
        ),
        (
            app.patch(&path, &app.editor)
                .header("content-type", "application/json")
                .body("{\"title\":"),
            400,
            "bad_request",
        ),
        (
            app.patch(&path, &app.editor)
                .header("content-type", "application/json")
                .body("{} {}"),
            400,
            "bad_request",
        ),
        (
            app.patch(&path, &app.editor).body("title=x"),
            415,
            "unsupported_media_type",
        ),
        (
            app.patch(&path, &app.editor)
                .header("content-type", "application/json")
                .body(big.clone()),
            413,
            "payload_too_large",
        ),
        (
            app.patch(&path, &app.editor)
                .header("if-match", "yesterday")
                .json(&json!({"title": "y"})),
            400,
            "bad_request",
        ),
        (
            app.post("/api/tasks", &app.editor)
                .json(&json!({"description": "no title"})),
            422,
            "validation_failed",
        ),
        (
            app.post("/api/tasks", &app.editor)
                .header("content-type", "application/json")
                .body(big),
            413,
            "payload_too_large",
        ),
    ];
    for (i, (request, status, code)) in cases.into_iter().enumerate() {
        let response = request.send().await.unwrap();
        assert_eq!(
            error_code(response).await,
            (status, code.to_owned()),
            "case {i}"
        );
    }
    let field_errors: Value = app
        .patch(&path, &app.editor)
        .json(&json!({"title": ""}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(field_errors["error"]["fields"][0]["field"], "title");
    let date_error: Value = app
        .patch(&path, &app.editor)
        .json(&json!({"due_date": "2026-02-30"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        date_error["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("due_date:")
    );

    let now: Value = app.get_json(&path).await;
    assert_eq!(now, task);
    let history: Value = app.get_json(&format!("{path}/history")).await;
    assert_eq!(history["data"].as_array().unwrap().len(), 1);
    let list: Value = app.get_json("/api/tasks").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 1);
}

async fn stale_if_match_is_refused_with_the_current_task(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let task = app.create_task(json!({"title": "Order rebar"})).await;
    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    let first = app
        .patch(&path, &app.editor)
        .header("if-match", "\"1\"")
        .json(&json!({"status": "in_progress"}))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["etag"], "\"2\"");
    let stale = app
        .patch(&path, &app.editor)
        .header("if-match", "\"1\"")
        .json(&json!({"status": "blocked"}))
        .send()
        .await
        .unwrap();
    assert_eq!(stale.status(), 412);
    let body: Value = stale.json().await.unwrap();
    assert_eq!(body["error"]["code"], "precondition_failed");
    assert_eq!(body["current"]["version"], 2);
    assert_eq!(body["current"]["status"], "in_progress");
    let stale_delete = app
        .delete(&path, &app.editor)
        .header("if-match", "\"1\"")
        .send();
    assert_eq!(stale_delete.await.unwrap().status(), 412);
    let now: Value = app.get_json(&path).await;
    assert_eq!(
        (now["version"].clone(), now["status"].clone()),
        (json!(2), json!("in_progress"))
    );
}

async fn listing_filters_and_pages_cover_every_task_once(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let mut ids = Vec::new();
    for i in 0..23 {
        let status = if i % 3 == 0 { "blocked" } else { "open" };
        let title = if i == 7 {
            "Inspect 50% of anchors".to_owned()
        } else {
            format!("Task {i}")
        };
        let task = app
            .create_task(json!({"title": title, "status": status}))
            .await;
        ids.push(task["id"].as_str().unwrap().to_owned());
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = "/api/tasks?limit=10".to_owned();
        if let Some(c) = &cursor {
            path += &format!("&cursor={c}");
        }
        let page: Value = app.get_json(&path).await;
        pages += 1;
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["id"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    let mut newest_first = ids.clone();
    newest_first.reverse();
    assert_eq!(seen, newest_first);

    let blocked: Value = app.get_json("/api/tasks?status=blocked&limit=500").await;
    assert_eq!(blocked["data"].as_array().unwrap().len(), 8);
    let search: Value = app.get_json("/api/tasks?q=50%25").await;
    assert_eq!(search["data"].as_array().unwrap().len(), 1);
    let search: Value = app.get_json("/api/tasks?q=TASK%201").await;
    assert_eq!(
        search["data"].as_array().unwrap().len(),
        11,
        "Task 1, 10..19"
    );
    let pending: Value = app
        .get_json("/api/tasks?sync_status=pending&limit=500")
        .await;
    assert_eq!(pending["data"].as_array().unwrap().len(), 23);
    for bad in [
        "limit=0",
        "limit=501",
        "limit=ten",
        "cursor=nope",
        "status=closed",
        "sort=title",
    ] {
        let response = app
            .get(&format!("/api/tasks?{bad}"), &app.viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(
            error_code(response).await,
            (422, "validation_failed".into()),
            "{bad}"
        );
    }
}

async fn unknown_ids_and_routes_answer_json_errors(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    for path in [
        "/api/tasks/00000000-0000-0000-0000-000000000000",
        "/api/tasks/not-a-uuid",
        "/api/tasks/00000000-0000-0000-0000-000000000000/history",
        "/api/nothing-here",
    ] {
        let response = app.get(path, &app.viewer).send().await.unwrap();
        assert_eq!(
            error_code(response).await,
            (404, "not_found".into()),
            "{path}"
        );
    }
    let missing = app
        .patch(
            "/api/tasks/00000000-0000-0000-0000-000000000000",
            &app.editor,
        )
        .json(&json!({"title": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let wrong_method = app
        .http
        .put(app.url("/api/tasks"))
        .bearer_auth(&app.editor)
        .send()
        .await
        .unwrap();
    assert_eq!(
        error_code(wrong_method).await,
        (405, "method_not_allowed".into())
    );
}

async fn concurrent_patches_all_land(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    let task = app.create_task(json!({"title": "Crane schedule"})).await;
    let path = format!("/api/tasks/{}", task["id"].as_str().unwrap());
    let patches = (0..20).map(|i| {
        app.patch(&path, &app.editor)
            .json(&json!({"description": format!("revision {i}")}))
            .send()
    });
    for response in futures::future::join_all(patches).await {
        assert_eq!(response.unwrap().status(), 200);
    }
    let now: Value = app.get_json(&path).await;
    assert_eq!(now["version"], 21);
    let history: Value = app.get_json(&format!("{path}/history?limit=500")).await;
    let versions: Vec<i64> = history["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, (1..=21).collect::<Vec<_>>());
}

async fn metrics_text(app: &TestApp) -> String {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    response.text().await.unwrap()
}

async fn health_readiness_and_metrics(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    assert_eq!(
        app.http
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        app.http
            .get(app.url("/readyz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    app.get("/api/tasks", &app.viewer).send().await.unwrap();
    let metrics = metrics_text(&app).await;
    assert!(metrics.contains("atlas_http_requests_total{"), "{metrics}");
    assert!(metrics.contains("route=\"/api/tasks\""));
}

/// A hostile client sending made-up methods and paths cannot grow `/metrics`:
/// they are counted under `other` and `unmatched`.
async fn invented_methods_and_paths_mint_no_metric_series(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    for i in 0..3 {
        let method = reqwest::Method::from_bytes(format!("RAND{i}X").as_bytes()).unwrap();
        app.http
            .request(method, app.url("/healthz"))
            .send()
            .await
            .unwrap();
        app.http
            .get(app.url(&format!("/no-such-page-{i}")))
            .send()
            .await
            .unwrap();
    }
    let metrics = metrics_text(&app).await;
    assert!(
        !metrics.contains("RAND"),
        "a client-invented method became a label"
    );
    assert!(
        !metrics.contains("no-such-page"),
        "a raw path became a label"
    );
    assert!(metrics.contains("method=\"other\""), "{metrics}");
}

/// NUL and other control characters are refused with a 422 naming the field,
/// on both backends (PostgreSQL cannot store NUL in text); line breaks and
/// tabs in a description are kept.
async fn control_characters_are_refused_with_the_field_named(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    for body in [
        json!({"title": "a\u{0}b"}),
        json!({"title": "ok", "assignee": "ana\u{7}"}),
        json!({"title": "ok", "description": "nul \u{0} here"}),
    ] {
        let response = app
            .post("/api/tasks", &app.editor)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 422, "{body}");
        let answer: Value = response.json().await.unwrap();
        assert!(
            answer["error"]["message"]
                .as_str()
                .unwrap()
                .contains("must not contain control characters"),
            "{answer}"
        );
    }
    let kept = app
        .create_task(json!({"title": "Pour slab", "description": "line one\r\nline two\tend"}))
        .await;
    assert_eq!(kept["description"], "line one\r\nline two\tend");
    let id = kept["id"].as_str().unwrap();
    let response = app
        .patch(&format!("/api/tasks/{id}"), &app.editor)
        .json(&json!({"title": "x\u{0}"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let response = app
        .get("/api/tasks?q=%00", &app.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let list: Value = app.get_json("/api/tasks").await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        1,
        "nothing else was stored"
    );
}

/// A form submits blank fields as `status=&limit=`: they mean "no filter", not
/// a 422; and a search with the trailing space of a phone keyboard still finds.
async fn empty_parameters_mean_no_filter_and_search_is_trimmed(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    app.create_task(json!({"title": "Pour slab"})).await;
    app.create_task(json!({"title": "Order rebar"})).await;
    let all: Value = app
        .get_json("/api/tasks?status=&sync_status=&q=&limit=&cursor=")
        .await;
    assert_eq!(all["data"].as_array().unwrap().len(), 2, "{all}");
    let found: Value = app.get_json("/api/tasks?q=slab%20&status=").await;
    let titles: Vec<&str> = found["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["Pour slab"]);
    let response = app
        .get("/api/tasks?status=nonsense", &app.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        422,
        "a value that is there is still checked"
    );
}

async fn search_ignores_case_in_every_script_on_both_backends(backend: Backend) {
    let Some(app) = app(backend).await else {
        return;
    };
    app.create_task(json!({"title": "Überprüfung Beton", "description": "Ящик ÉCHAFAUDAGE"}))
        .await;
    app.create_task(json!({"title": "Rebar"})).await;
    for q in [
        "%C3%BCberpr%C3%BCfung",
        "%C3%9CBERPR%C3%9CFUNG",
        "%D1%8F%D1%89%D0%B8%D0%BA",
        "%C3%A9chafaudage",
    ] {
        let found: Value = app.get_json(&format!("/api/tasks?q={q}")).await;
        let titles: Vec<&str> = found["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["title"].as_str().unwrap())
            .collect();
        assert_eq!(titles, ["Überprüfung Beton"], "q={q}");
    }
    // Rows written before the folded column existed are found too, once Atlas starts.
    sqlx::query("UPDATE tasks SET search_folded = NULL")
        .execute(app.db.pool())
        .await
        .unwrap();
    app.db.migrate().await.unwrap();
    let found: Value = app.get_json("/api/tasks?q=%C3%BCberpr%C3%BCfung").await;
    assert_eq!(found["data"].as_array().unwrap().len(), 1);
}
