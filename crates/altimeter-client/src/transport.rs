//! Sending one request: bearer auth, the tracing span, the metrics, the rate-limit
//! headers, and turning the answer into a body or a [`ClientError`].

use std::sync::{Mutex, PoisonError};
use std::time::Instant;

use chrono::Utc;
use reqwest::{Method, RequestBuilder, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use tracing::{Instrument, field};

use crate::error::{ClientError, Resource};
use crate::rate_limit::RateLimit;

/// An endpoint: its pattern (for spans and logs, never the raw id) and what it
/// addresses (which decides what a `404` means).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Route {
    pub pattern: &'static str,
    pub resource: Resource,
}

pub(crate) const TASKS: Route = Route {
    pattern: "/tasks",
    resource: Resource::Collection,
};

pub(crate) const TASK: Route = Route {
    pattern: "/tasks/{id}",
    resource: Resource::Task,
};

pub(crate) struct Transport {
    http: reqwest::Client,
    base_url: Url,
    api_key: SecretString,
    rate_limit: Mutex<Option<RateLimit>>,
}

impl Transport {
    pub(crate) fn new(http: reqwest::Client, base_url: Url, api_key: SecretString) -> Self {
        Self {
            http,
            base_url,
            api_key,
            rate_limit: Mutex::new(None),
        }
    }

    pub(crate) fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// The base URL with `segments` appended, each percent-encoded.
    pub(crate) fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base_url.clone();
        // `parse_base_url` refused URLs that cannot be a base, so this cannot fail.
        url.path_segments_mut()
            .expect("base URL was checked to be a base")
            .pop_if_empty()
            .extend(segments);
        url
    }

    pub(crate) fn request(&self, method: Method, segments: &[&str]) -> RequestBuilder {
        self.request_to(method, self.url(segments))
    }

    pub(crate) fn request_to(&self, method: Method, url: Url) -> RequestBuilder {
        // reqwest marks the Authorization header sensitive, so it is never logged.
        self.http
            .request(method, url)
            .bearer_auth(self.api_key.expose_secret())
    }

    pub(crate) fn rate_limit(&self) -> Option<RateLimit> {
        *self
            .rate_limit
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Sends and decodes a JSON answer.
    pub(crate) async fn send_json<T: DeserializeOwned>(
        &self,
        method: Method,
        route: Route,
        request: RequestBuilder,
    ) -> Result<T, ClientError> {
        let (status, body) = self.send(method, route, request).await?;
        serde_json::from_slice(&body).map_err(|e| ClientError::invalid_response(status, &e))
    }

    /// Sends one request, traced under its route pattern (never the raw id) and
    /// counted; a non-`2xx` answer (redirects included: they are not followed)
    /// comes back classified as an error.
    pub(crate) async fn send(
        &self,
        method: Method,
        route: Route,
        request: RequestBuilder,
    ) -> Result<(StatusCode, Vec<u8>), ClientError> {
        let span = tracing::info_span!(
            "altimeter_request",
            method = %method,
            route = route.pattern,
            status = field::Empty,
            duration_ms = field::Empty,
        );
        async {
            let started = Instant::now();
            let answer = self.round_trip(request).await;
            let elapsed = started.elapsed();
            let status = match &answer {
                Ok((status, ..)) => status.as_str().to_owned(),
                Err(_) => "error".to_owned(),
            };
            record(&method, status, elapsed);
            let answer = answer.and_then(|(status, headers, body)| {
                if status.is_success() {
                    Ok((status, body))
                } else {
                    Err(ClientError::from_answer(
                        status,
                        &headers,
                        &body,
                        route.resource,
                        Utc::now(),
                    ))
                }
            });
            if let Err(error) = &answer {
                tracing::debug!(%error, "Altimeter request failed");
            }
            answer
        }
        .instrument(span)
        .await
    }

    async fn round_trip(
        &self,
        request: RequestBuilder,
    ) -> Result<(StatusCode, reqwest::header::HeaderMap, Vec<u8>), ClientError> {
        let response = request.send().await.map_err(ClientError::transport)?;
        let status = response.status();
        let headers = response.headers().clone();
        if let Some(limit) = RateLimit::from_headers(&headers) {
            *self
                .rate_limit
                .lock()
                .unwrap_or_else(PoisonError::into_inner) = Some(limit);
        }
        let body = response
            .bytes()
            .await
            .map_err(ClientError::transport)?
            .to_vec();
        Ok((status, headers, body))
    }
}

/// Fills the span's status and duration and updates the request metrics.
fn record(method: &Method, status: String, elapsed: std::time::Duration) {
    let span = tracing::Span::current();
    span.record("status", status.as_str());
    span.record("duration_ms", elapsed.as_secs_f64() * 1000.0);
    metrics::counter!(
        "atlas_altimeter_requests_total",
        "method" => method.as_str().to_owned(),
        "status" => status,
    )
    .increment(1);
    metrics::histogram!(
        "atlas_altimeter_request_duration_seconds",
        "method" => method.as_str().to_owned(),
    )
    .record(elapsed.as_secs_f64());
}
