//! The web UI over plain HTTP (no browser): sessions, CSRF, and what the forms
//! say when a save is refused. The browser scenarios are in `browser.rs`.

use serde_json::json;

use crate::browser::sign_in_cookie;
use crate::common::{Backend, TestApp, on_both_backends, spawn_app};

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The page at `path` as the holder of `cookie`.
pub async fn page(app: &TestApp, cookie: &str, path: &str) -> (u16, String) {
    let response = no_redirects()
        .get(app.url(path))
        .header("cookie", cookie)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

/// The CSRF token a page's forms carry.
pub fn csrf_of(html: &str) -> String {
    let start = html
        .find(r#"name="_csrf" value=""#)
        .expect("a form with a CSRF token")
        + r#"name="_csrf" value=""#.len();
    html[start..].split('"').next().unwrap().to_owned()
}

pub async fn post_form<F: serde::Serialize + ?Sized>(
    app: &TestApp,
    cookie: &str,
    path: &str,
    form: &F,
) -> (u16, String) {
    let response = no_redirects()
        .post(app.url(path))
        .header("cookie", cookie)
        .header("origin", &app.base)
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

async fn a_session_ends_when_its_token_is_revoked_or_at_sign_out(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let cookie = sign_in_cookie(&app, &app.editor).await;
    let (status, html) = page(&app, &cookie, "/tasks").await;
    assert_eq!(status, 200);
    assert!(html.contains("Sign out"));
    // The cookie also reads the API (a page's script may), but cannot write without CSRF.
    let read = app
        .http
        .get(app.url("/api/tasks"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), 200);
    atlas::store::tokens::revoke(app.db.pool(), "editor")
        .await
        .unwrap();
    let (status, _) = page(&app, &cookie, "/tasks").await;
    assert_eq!(status, 303, "a revoked token's session is over");

    let cookie = sign_in_cookie(&app, &app.viewer).await;
    let (_, html) = page(&app, &cookie, "/tasks").await;
    let (status, _) = post_form(&app, &cookie, "/sign-out", &[("_csrf", &csrf_of(&html))]).await;
    assert_eq!(status, 303);
    let (status, _) = page(&app, &cookie, "/tasks").await;
    assert_eq!(status, 303, "signed out");
}

async fn a_refused_create_shows_each_message_by_its_field_and_keeps_what_was_typed(
    backend: Backend,
) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let cookie = sign_in_cookie(&app, &app.editor).await;
    let (_, html) = page(&app, &cookie, "/tasks/new").await;
    let csrf = csrf_of(&html);
    let long_assignee = "x".repeat(101);
    let form = [
        ("_csrf", csrf.as_str()),
        ("title", "   "),
        ("description", "Pour on Tuesday"),
        ("status", "open"),
        ("priority", "normal"),
        ("assignee", long_assignee.as_str()),
        ("due_date", ""),
    ];
    let (status, html) = post_form(&app, &cookie, "/tasks", &form).await;
    assert_eq!(status, 422);
    assert!(html.contains(r#"id="title-error""#), "{html}");
    assert!(html.contains(r#"id="assignee-error""#), "{html}");
    assert!(html.contains("Pour on Tuesday"), "what was typed is kept");
    assert!(html.contains(r#"aria-invalid="true""#));
    let list = app.get_json("/api/tasks").await;
    assert_eq!(
        list["data"].as_array().unwrap().len(),
        0,
        "nothing was saved"
    );
}

async fn a_stale_edit_says_who_saved_first_and_keeps_the_typed_change(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let task = app.create_task(json!({"title": "Order formwork"})).await;
    let id = task["id"].as_str().unwrap();
    let cookie = sign_in_cookie(&app, &app.editor).await;
    let (_, html) = page(&app, &cookie, &format!("/tasks/{id}/edit")).await;
    let csrf = csrf_of(&html);
    let theirs = app
        .patch(&format!("/api/tasks/{id}"), &app.admin)
        .json(&json!({"title": "Order formwork for L2"}))
        .send()
        .await
        .unwrap();
    assert_eq!(theirs.status(), 200);
    let form = [
        ("_csrf", csrf.as_str()),
        ("title", "Order formwork for L3"),
        ("description", ""),
        ("status", "open"),
        ("priority", "high"),
        ("assignee", ""),
        ("due_date", ""),
        ("version", "1"),
    ];
    let (status, html) = post_form(&app, &cookie, &format!("/tasks/{id}/edit"), &form).await;
    assert_eq!(status, 409);
    assert!(
        html.contains("Someone else saved this task first"),
        "{html}"
    );
    assert!(
        html.contains("Order formwork for L2"),
        "their version is shown"
    );
    assert!(
        html.contains(r#"value="Order formwork for L3""#),
        "mine is kept"
    );
    assert!(
        html.contains(r#"name="version" value="2""#),
        "saving again applies over theirs"
    );
    let stored = app.get_json(&format!("/api/tasks/{id}")).await;
    assert_eq!(stored["title"], "Order formwork for L2");
}

async fn a_form_without_its_csrf_token_or_from_another_site_changes_nothing(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let cookie = sign_in_cookie(&app, &app.editor).await;
    let (_, html) = page(&app, &cookie, "/tasks/new").await;
    let csrf = csrf_of(&html);
    let fields = |csrf: &str| {
        vec![
            ("_csrf".to_owned(), csrf.to_owned()),
            ("title".to_owned(), "Forged".to_owned()),
            ("status".to_owned(), "open".to_owned()),
            ("priority".to_owned(), "normal".to_owned()),
        ]
    };
    let (status, _) = post_form(&app, &cookie, "/tasks", &fields("wrong")).await;
    assert_eq!(status, 403);
    let foreign = no_redirects()
        .post(app.url("/tasks"))
        .header("cookie", &cookie)
        .header("origin", "http://evil.example")
        .form(&fields(&csrf))
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);
    let api = app
        .http
        .post(app.url("/api/tasks"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .header("origin", "http://evil.example")
        .json(&json!({"title": "Forged"}))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 403);
    let list = app.get_json("/api/tasks").await;
    assert_eq!(list["data"].as_array().unwrap().len(), 0);
    let (status, _) = post_form(&app, &cookie, "/tasks", &fields(&csrf)).await;
    assert_eq!(status, 303, "the genuine form is taken");
}

on_both_backends!(
    a_session_ends_when_its_token_is_revoked_or_at_sign_out,
    a_refused_create_shows_each_message_by_its_field_and_keeps_what_was_typed,
    a_stale_edit_says_who_saved_first_and_keeps_the_typed_change,
    a_form_without_its_csrf_token_or_from_another_site_changes_nothing,
);
