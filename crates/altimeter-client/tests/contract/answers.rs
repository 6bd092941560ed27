//! Answers only a misconfigured deployment gives: redirects, a proxy's `404`
//! page, a `404` on the listing — all permanent, none mistaken for a missing task.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use altimeter_api::TaskFields;
use altimeter_client::ClientError;
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::IntoResponse;
use axum::routing::{any, get};

use crate::support::{KEY, client_for, expect_permanent, new_task, stub};

#[tokio::test]
async fn a_redirect_is_permanent_and_not_followed() {
    let followed = Arc::new(AtomicUsize::new(0));
    let counter = followed.clone();
    let app = axum::Router::new()
        .route(
            "/v1/{*rest}",
            any(|| async {
                (
                    StatusCode::TEMPORARY_REDIRECT,
                    [(LOCATION, "/v2/tasks/alt_1")],
                )
            }),
        )
        .route(
            "/v2/{*rest}",
            any(move || {
                counter.fetch_add(1, Ordering::SeqCst);
                async { StatusCode::OK }
            }),
        );
    let client = client_for(&stub(app).await, KEY);
    let (status, code, message) = expect_permanent(client.get("alt_1").await);
    assert_eq!((status, code.as_str()), (307, "redirect"));
    assert_eq!(
        message,
        "ALTIMETER_API_URL redirects to /v2/tasks/alt_1; point it at the final URL"
    );
    let (status, ..) = expect_permanent(client.create(&new_task("a"), "k").await);
    assert_eq!(status, 307);
    let (status, ..) = expect_permanent(client.delete("alt_1", None).await);
    assert_eq!(status, 307);
    assert_eq!(followed.load(Ordering::SeqCst), 0, "never followed");
}

#[tokio::test]
async fn a_404_page_from_a_proxy_is_permanent_not_a_missing_task() {
    let page = "<html><body><h1>404 Not Found</h1>nginx</body></html>";
    let app = axum::Router::new()
        .fallback(move || async move { (StatusCode::NOT_FOUND, page).into_response() });
    let client = client_for(&stub(app).await, KEY);
    let (status, code, message) = expect_permanent(client.get("alt_1").await);
    assert_eq!(
        (status, code.as_str(), message.as_str()),
        (404, "http_404", page)
    );
    let update = client.update("alt_1", &TaskFields::titled("a"), None).await;
    assert_eq!(expect_permanent(update).1, "http_404");
    assert_eq!(
        expect_permanent(client.delete("alt_1", None).await).1,
        "http_404"
    );
}

#[tokio::test]
async fn an_empty_404_is_permanent_too() {
    let app = axum::Router::new().fallback(|| async { StatusCode::NOT_FOUND });
    let client = client_for(&stub(app).await, KEY);
    let (status, code, _) = expect_permanent(client.get("alt_1").await);
    assert_eq!((status, code.as_str()), (404, "http_404"));
}

#[tokio::test]
async fn a_404_envelope_on_the_listing_is_permanent() {
    let envelope = r#"{"error":{"code":"not_found","message":"no such thing"}}"#;
    let app = axum::Router::new()
        .route(
            "/v1/tasks",
            get(move || async move { (StatusCode::NOT_FOUND, envelope) }),
        )
        .route(
            "/v1/tasks/{id}",
            get(move || async move { (StatusCode::NOT_FOUND, envelope) }),
        );
    let client = client_for(&stub(app).await, KEY);
    let (status, code, _) = expect_permanent(client.list_page(None, None, 10).await);
    assert_eq!((status, code.as_str()), (404, "not_found"));
    assert!(
        matches!(client.get("alt_1").await, Err(ClientError::NotFound)),
        "the same body on a task is NotFound"
    );
}
