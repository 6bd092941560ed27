//! Request spans and request metrics, keyed on the route pattern (`/api/tasks/{id}`),
//! never on raw ids.

use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use tower_http::classify::{ServerErrorsAsFailures, SharedClassifier};
use tower_http::trace::{DefaultOnResponse, MakeSpan, TraceLayer};
use tracing::{Level, Span};

fn route_of(req: &Request<Body>) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned())
}

/// The method as a metric label: the standard ones by name, anything else a
/// client may invent as `other`, so requests cannot mint new series.
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::PATCH, "PATCH"),
        (Method::DELETE, "DELETE"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| known == method)
        .map_or("other", |(_, label)| label)
}

#[derive(Clone, Copy)]
pub struct RouteSpan;

impl MakeSpan<Body> for RouteSpan {
    fn make_span(&mut self, req: &Request<Body>) -> Span {
        tracing::info_span!("request", method = method_label(req.method()), route = %route_of(req))
    }
}

pub fn trace_layer() -> TraceLayer<SharedClassifier<ServerErrorsAsFailures>, RouteSpan> {
    TraceLayer::new_for_http()
        .make_span_with(RouteSpan)
        .on_response(DefaultOnResponse::new().level(Level::INFO))
}

/// Counts every request and its latency as `atlas_http_requests_total` and
/// `atlas_http_request_duration_seconds`, labelled by method, route and status.
pub async fn record_request(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = method_label(req.method());
    let route = route_of(&req);
    let response = next.run(req).await;
    let status = response.status().as_u16().to_string();
    metrics::counter!("atlas_http_requests_total", "method" => method, "route" => route.clone(), "status" => status)
        .increment(1);
    metrics::histogram!("atlas_http_request_duration_seconds", "method" => method, "route" => route)
        .record(started.elapsed().as_secs_f64());
    response
}
