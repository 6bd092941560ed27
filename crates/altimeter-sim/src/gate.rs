//! What every `/v1` request passes before its handler: counting (by route
//! pattern), injected latency and failures, the rate limit, and the API key.
//! The rate-limit headers go on every answer, refused or not.

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use chrono::Utc;

use crate::error::ApiError;
use crate::faults::{Faults, roll};
use crate::ratelimit::Admission;
use crate::state::SimState;

pub async fn gate(State(state): State<SimState>, request: Request, next: Next) -> Response {
    let route = route_key(&request);
    state.counters().count_request(route.clone());
    let faults = state.faults();
    if faults.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.latency_ms)).await;
    }
    let admission = state
        .limiter()
        .admit(state.effective_rate_limit(), Utc::now());
    let mut response = match refusal(&state, &faults, &admission, request.headers()) {
        Some(error) => error.into_response(),
        None => next.run(request).await,
    };
    admission.write_headers(response.headers_mut());
    tracing::debug!(%route, status = response.status().as_u16(), "api request");
    response
}

/// `"<METHOD> <route pattern>"` without the `/v1` prefix, e.g. `"GET /tasks/{id}"`.
fn route_key(request: &Request) -> String {
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(request.uri().path(), MatchedPath::as_str);
    let path = path.strip_prefix("/v1").unwrap_or(path);
    format!("{} {path}", request.method())
}

/// Why this request is turned away before reaching its handler, if it is.
fn refusal(
    state: &SimState,
    faults: &Faults,
    admission: &Admission,
    headers: &HeaderMap,
) -> Option<ApiError> {
    if !admission.admitted {
        return Some(ApiError::RateLimited {
            retry_after: admission.retry_after,
        });
    }
    if faults.outage {
        return Some(ApiError::Unavailable {
            message: "Altimeter is unavailable (simulated outage)",
        });
    }
    if roll(faults.error_rate) {
        return Some(ApiError::Unavailable {
            message: "Altimeter is temporarily unavailable (simulated error)",
        });
    }
    if !authorized(headers, state.api_key()) {
        return Some(ApiError::Unauthorized);
    }
    None
}

fn authorized(headers: &HeaderMap, api_key: &str) -> bool {
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    match value.trim().split_once(' ') {
        Some((scheme, token)) => scheme.eq_ignore_ascii_case("bearer") && token.trim() == api_key,
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn only_the_bearer_key_is_accepted() {
        let with = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(AUTHORIZATION, HeaderValue::from_static(value));
            authorized(&headers, "k3y")
        };
        assert!(with("Bearer k3y"));
        assert!(with("bearer k3y"));
        assert!(!with("Bearer k3"));
        assert!(!with("Basic k3y"));
        assert!(!with("k3y"));
        assert!(!with("Bearer "));
        assert!(!authorized(&HeaderMap::new(), "k3y"));
    }
}
