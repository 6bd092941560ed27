//! What every `/v1` request passes. Two layers:
//!
//! - [`rate_limit`], around the whole `/v1` router (fallbacks included), counts
//!   each request against the rate-limit window and puts the `X-Rate-Limit-*`
//!   headers on every answer, as SPEC §4 says;
//! - [`gate`], around the API routes only, counts the request by route pattern,
//!   applies injected latency and failures, refuses it over the rate limit, and
//!   checks the API key.
//!
//! The order is deliberate and documented: a request counts against the rate
//! limit before its key is checked, and over the limit the answer is `429` even
//! when the key is wrong. Real APIs differ on this; Atlas does not depend on it.

use altimeter_api::auth::secrets_match;
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

/// Admits the request into the current window and writes the window's headers
/// on whatever answer comes back, a fallback's `404`/`405` included.
pub async fn rate_limit(
    State(state): State<SimState>,
    mut request: Request,
    next: Next,
) -> Response {
    let admission = state
        .limiter()
        .admit(state.effective_rate_limit(), Utc::now());
    request.extensions_mut().insert(admission);
    let mut response = next.run(request).await;
    admission.write_headers(response.headers_mut());
    response
}

pub async fn gate(State(state): State<SimState>, request: Request, next: Next) -> Response {
    let route = route_key(&request);
    state.counters().count_request(route.clone());
    let faults = state.faults();
    if faults.latency_ms > 0 {
        tokio::time::sleep(std::time::Duration::from_millis(faults.latency_ms)).await;
    }
    // `rate_limit` runs first and always leaves its verdict; a request that
    // somehow arrives without one is admitted.
    let admission = request.extensions().get::<Admission>().copied();
    let response = match refusal(&state, &faults, admission, request.headers()) {
        Some(error) => error.into_response(),
        None => {
            let answer = next.run(request).await;
            if roll(faults.response_loss_rate) {
                // Done, but the caller never hears how.
                ApiError::AnswerLost.into_response()
            } else {
                answer
            }
        }
    };
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
    admission: Option<Admission>,
    headers: &HeaderMap,
) -> Option<ApiError> {
    if let Some(refused) = admission.filter(|a| !a.admitted) {
        return Some(ApiError::RateLimited {
            retry_after: refused.retry_after,
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

/// Whether the request carries `Authorization: Bearer <the key>`; the token is
/// compared in constant time, so response timing says nothing about the key.
fn authorized(headers: &HeaderMap, api_key: &str) -> bool {
    let Some(value) = headers.get(AUTHORIZATION).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    match value.trim().split_once(' ') {
        Some((scheme, token)) => {
            scheme.eq_ignore_ascii_case("bearer")
                && secrets_match(api_key.as_bytes(), token.trim().as_bytes())
        }
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
