//! The HTTP client Atlas uses to talk to Altimeter (SPEC §4). Every call goes over
//! real HTTP; the client classifies failures ([`ClientError`]) but never retries by
//! itself: the sync engine owns the retry schedule.

mod error;
mod listing;
mod rate_limit;
mod retry_after;
mod transport;

use std::sync::Arc;
use std::time::Duration;

use altimeter_api::headers::{IDEMPOTENCY_KEY, etag};
use altimeter_api::{CreateTask, RemoteTask, TaskFields};
use reqwest::header::IF_MATCH;
use reqwest::{Method, Url};
use secrecy::SecretString;
use transport::{TASK, TASKS};

pub use error::ClientError;
pub use listing::{MAX_PAGE_SIZE, MIN_PAGE_SIZE};
pub use rate_limit::RateLimit;
pub use retry_after::MAX_RETRY_AFTER;

/// Where Altimeter is and how to reach it.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The API root including the version, e.g. `http://127.0.0.1:9090/v1`.
    pub base_url: String,
    pub api_key: SecretString,
    pub connect_timeout: Duration,
    /// The whole request, from sending to the last byte of the answer.
    pub request_timeout: Duration,
}

impl ClientConfig {
    /// A configuration with 5 s to connect and 30 s per request.
    pub fn new(base_url: impl Into<String>, api_key: SecretString) -> Self {
        Self {
            base_url: base_url.into(),
            api_key,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(30),
        }
    }
}

/// Why a client could not be built from its configuration.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("ALTIMETER_API_URL `{url}` is not a usable http(s) URL: {reason}")]
    InvalidBaseUrl { url: String, reason: String },
    #[error("could not build the HTTP client: {0}")]
    Http(#[from] reqwest::Error),
}

/// A cheap-to-clone handle on one connection pool to Altimeter.
#[derive(Clone)]
pub struct AltimeterClient {
    inner: Arc<transport::Transport>,
}

impl std::fmt::Debug for AltimeterClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AltimeterClient")
            .field("base_url", &self.inner.base_url().as_str())
            .finish_non_exhaustive()
    }
}

impl AltimeterClient {
    pub fn new(config: ClientConfig) -> Result<Self, BuildError> {
        let base_url = parse_base_url(&config.base_url)?;
        let http = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .timeout(config.request_timeout)
            // A redirect is answered as a permanent error naming its target:
            // following it would hide a wrong ALTIMETER_API_URL (and turn a
            // redirected POST into a GET).
            .redirect(reqwest::redirect::Policy::none())
            .build()?;
        let inner = transport::Transport::new(http, base_url, config.api_key);
        Ok(Self {
            inner: Arc::new(inner),
        })
    }

    /// `POST /tasks`. Repeating a call with the same `idempotency_key` (within
    /// Altimeter's 24 h) returns the task the first call created; repeating it
    /// with a different body is [`ClientError::IdempotencyKeyReused`].
    pub async fn create(
        &self,
        body: &CreateTask,
        idempotency_key: &str,
    ) -> Result<RemoteTask, ClientError> {
        let request = self
            .inner
            .request(Method::POST, &["tasks"])
            .header(IDEMPOTENCY_KEY, idempotency_key)
            .json(body);
        self.inner.send_json(Method::POST, TASKS, request).await
    }

    /// `GET /tasks/{id}`; a deleted task is [`ClientError::Gone`] (with its
    /// tombstone when Altimeter sends it), an unknown id [`ClientError::NotFound`].
    pub async fn get(&self, id: &str) -> Result<RemoteTask, ClientError> {
        let request = self.inner.request(Method::GET, &["tasks", id]);
        self.inner.send_json(Method::GET, TASK, request).await
    }

    /// `PUT /tasks/{id}`, a full replace; with `if_match`, only if the remote
    /// version is still that one (else [`ClientError::PreconditionFailed`]).
    pub async fn update(
        &self,
        id: &str,
        fields: &TaskFields,
        if_match: Option<i64>,
    ) -> Result<RemoteTask, ClientError> {
        let request = self.inner.request(Method::PUT, &["tasks", id]).json(fields);
        let request = with_if_match(request, if_match);
        self.inner.send_json(Method::PUT, TASK, request).await
    }

    /// `DELETE /tasks/{id}`, optionally guarded by `if_match` like [`Self::update`].
    /// A task already deleted is [`ClientError::Gone`]; a caller retrying a delete
    /// whose answer was lost should take that as success.
    pub async fn delete(&self, id: &str, if_match: Option<i64>) -> Result<(), ClientError> {
        let request = self.inner.request(Method::DELETE, &["tasks", id]);
        let request = with_if_match(request, if_match);
        self.inner.send(Method::DELETE, TASK, request).await?;
        Ok(())
    }

    /// The `X-Rate-Limit-*` headers of the most recent answer, if any carried them.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.inner.rate_limit()
    }
}

fn with_if_match(
    request: reqwest::RequestBuilder,
    if_match: Option<i64>,
) -> reqwest::RequestBuilder {
    match if_match {
        Some(version) => request.header(IF_MATCH, etag(version)),
        None => request,
    }
}

fn parse_base_url(raw: &str) -> Result<Url, BuildError> {
    let invalid = |reason: String| BuildError::InvalidBaseUrl {
        url: raw.to_owned(),
        reason,
    };
    let url = Url::parse(raw.trim()).map_err(|e| invalid(e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(invalid(format!(
            "scheme `{}` is not http or https",
            url.scheme()
        )));
    }
    if url.cannot_be_a_base() || url.query().is_some() {
        return Err(invalid(
            "it must be a plain base such as https://host/v1".to_owned(),
        ));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(base: &str) -> AltimeterClient {
        AltimeterClient::new(ClientConfig::new(base, SecretString::from("k"))).unwrap()
    }

    #[test]
    fn urls_join_segments_and_escape_ids() {
        let c = client("http://127.0.0.1:9090/v1");
        assert_eq!(
            c.inner.url(&["tasks", "alt_1"]).as_str(),
            "http://127.0.0.1:9090/v1/tasks/alt_1"
        );
        let c = client("http://127.0.0.1:9090/v1/");
        assert_eq!(
            c.inner.url(&["tasks", "a/b c"]).as_str(),
            "http://127.0.0.1:9090/v1/tasks/a%2Fb%20c"
        );
    }

    #[test]
    fn bad_base_urls_are_refused_with_the_setting_named() {
        for bad in ["", "ftp://host/v1", "not a url", "http://host/v1?x=1"] {
            let err =
                AltimeterClient::new(ClientConfig::new(bad, SecretString::from("k"))).unwrap_err();
            assert!(
                err.to_string().starts_with("ALTIMETER_API_URL"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn debug_output_never_shows_the_key() {
        let config = ClientConfig::new("http://h/v1", SecretString::from("sekrit-key"));
        assert!(!format!("{config:?}").contains("sekrit-key"));
        let c = AltimeterClient::new(config).unwrap();
        assert!(!format!("{c:?}").contains("sekrit-key"));
    }
}
