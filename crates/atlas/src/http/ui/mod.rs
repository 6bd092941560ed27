//! The web UI: server-rendered pages (maud) with one small script for the live
//! feed. Every page is sent with a strict Content-Security-Policy: scripts and
//! styles only from this server's own files, which are embedded in the binary.

mod admin;
mod assets;
mod badge;
mod conflicts;
mod form;
mod help;
mod page;
mod sign_in;
mod tasks;
mod time;

use axum::Router;
use axum::extract::Request;
use axum::http::HeaderValue;
use axum::http::header::{
    CACHE_CONTROL, CONTENT_SECURITY_POLICY, REFERRER_POLICY, X_CONTENT_TYPE_OPTIONS,
    X_FRAME_OPTIONS,
};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};

use super::AppState;

/// No inline script or style, nothing from elsewhere, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
    connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(tasks::home))
        .route("/sign-in", get(sign_in::form).post(sign_in::submit))
        .route("/sign-in/link", get(sign_in::link))
        .route("/sign-out", post(sign_in::sign_out))
        .route("/help", get(help::page))
        .route("/tasks", get(tasks::list).post(tasks::create))
        .route("/tasks/new", get(tasks::new_form))
        .route("/tasks/rows", get(tasks::rows_fragment))
        .route("/tasks/{id}", get(tasks::detail))
        .route("/tasks/{id}/row", get(tasks::row_fragment))
        .route("/tasks/{id}/summary", get(tasks::summary_fragment))
        .route("/tasks/{id}/history", get(tasks::history_fragment))
        .route("/tasks/{id}/edit", get(tasks::edit_form).post(tasks::save))
        .route(
            "/tasks/{id}/delete",
            get(tasks::delete_form).post(tasks::delete),
        )
        .route("/tasks/{id}/retry", post(tasks::retry))
        .route("/tasks/{id}/conflict", get(conflicts::for_task))
        .route("/conflicts", get(conflicts::inbox))
        .route("/conflicts/count", get(conflicts::count_fragment))
        .route("/conflicts/inbox", get(conflicts::inbox_fragment))
        .route("/conflicts/{id}", get(conflicts::dialog))
        .route("/conflicts/{id}/dialog", get(conflicts::dialog_fragment))
        .route("/conflicts/{id}/resolve", post(conflicts::submit))
        .route("/conflicts/{id}/restore", post(conflicts::restore))
        .route("/admin", get(admin::page))
        .route("/admin/overview", get(admin::overview_fragment))
        .route("/admin/do/retry/{id}", post(admin::retry_task))
        .route("/admin/do/{action}", post(admin::act))
        .layer(middleware::from_fn(page_headers))
        .route("/assets/{file}", get(assets::serve))
}

/// Security headers on every page; pages are never cached (they show live data).
async fn page_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}
