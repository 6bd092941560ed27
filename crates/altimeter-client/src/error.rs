//! The typed error the sync engine branches on, and how an HTTP answer or a
//! transport failure maps onto it.

use std::time::Duration;

use altimeter_api::{ErrorBody, RemoteTask};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, RETRY_AFTER};

/// Why a call to Altimeter did not succeed, classified for the caller.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Worth trying again later: connect error, timeout, `5xx`, `429`, `408`, `409`.
    #[error("retryable Altimeter failure ({}): {message}", status_text(*.status))]
    Retryable {
        status: Option<u16>,
        retry_after: Option<Duration>,
        message: String,
    },
    /// `412`: the task changed since the version sent in `If-Match`; this is the
    /// task as it is now.
    #[error("Altimeter task changed meanwhile (now version {})", .0.version)]
    PreconditionFailed(Box<RemoteTask>),
    /// `404`: Altimeter has no task with this id.
    #[error("Altimeter task not found")]
    NotFound,
    /// `410`: the task was deleted; this is its tombstone.
    #[error("Altimeter task was deleted (version {})", .0.version)]
    Gone(Box<RemoteTask>),
    /// Any other failure that retrying will not fix (`401`, `422`, bad answers...).
    #[error("Altimeter refused the request ({status} {code}): {message}")]
    Permanent {
        status: u16,
        code: String,
        message: String,
    },
}

fn status_text(status: Option<u16>) -> String {
    status.map_or_else(|| "no answer".to_owned(), |s| s.to_string())
}

impl ClientError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, ClientError::Retryable { .. })
    }

    /// How long Altimeter asked us to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Retryable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A request that never got an answer (connect error, timeout, broken body).
    pub(crate) fn transport(error: &reqwest::Error) -> Self {
        let kind = if error.is_timeout() {
            "timed out"
        } else if error.is_connect() {
            "could not connect"
        } else {
            "transport error"
        };
        ClientError::Retryable {
            status: None,
            retry_after: None,
            message: format!("{kind}: {}", error_chain(error)),
        }
    }

    /// A `2xx`, `410` or `412` whose body is not the document the contract promises.
    pub(crate) fn invalid_response(status: StatusCode, error: &serde_json::Error) -> Self {
        ClientError::Permanent {
            status: status.as_u16(),
            code: "invalid_response".to_owned(),
            message: format!("Altimeter answered with an unexpected body: {error}"),
        }
    }

    /// Classifies a non-success answer from its status, headers and body.
    pub(crate) fn from_answer(status: StatusCode, headers: &HeaderMap, body: &[u8]) -> Self {
        match status.as_u16() {
            404 => ClientError::NotFound,
            410 => parse_task(status, body).map_or_else(|e| e, |t| ClientError::Gone(Box::new(t))),
            412 => parse_task(status, body)
                .map_or_else(|e| e, |t| ClientError::PreconditionFailed(Box::new(t))),
            408 | 409 | 429 | 500..=599 => ClientError::Retryable {
                status: Some(status.as_u16()),
                retry_after: retry_after(headers),
                message: error_detail(status, body).1,
            },
            _ => {
                let (code, message) = error_detail(status, body);
                ClientError::Permanent {
                    status: status.as_u16(),
                    code,
                    message,
                }
            }
        }
    }
}

fn parse_task(status: StatusCode, body: &[u8]) -> Result<RemoteTask, ClientError> {
    serde_json::from_slice(body).map_err(|e| ClientError::invalid_response(status, &e))
}

/// `(code, message)` from the error envelope, or a stand-in built from the raw
/// body when the answer is not one (a proxy's HTML page, say).
fn error_detail(status: StatusCode, body: &[u8]) -> (String, String) {
    if let Ok(parsed) = serde_json::from_slice::<ErrorBody>(body) {
        return (parsed.error.code, parsed.error.message);
    }
    let text = String::from_utf8_lossy(body);
    let text: String = text.trim().chars().take(200).collect();
    let message = if text.is_empty() {
        status.canonical_reason().unwrap_or("no message").to_owned()
    } else {
        text
    };
    ("http_".to_owned() + status.as_str(), message)
}

/// `Retry-After` in whole seconds (the form Altimeter uses).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(Duration::from_secs)
}

/// The error with its sources, so "error sending request" says why.
fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use reqwest::header::HeaderValue;

    use super::*;

    fn answer(status: u16, headers: &HeaderMap, body: &str) -> ClientError {
        ClientError::from_answer(
            StatusCode::from_u16(status).unwrap(),
            headers,
            body.as_bytes(),
        )
    }

    #[test]
    fn retryable_statuses_carry_retry_after() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        for status in [408, 409, 429, 500, 502, 503] {
            let err = answer(status, &headers, "");
            assert!(err.is_retryable(), "{status}");
            assert_eq!(err.retry_after(), Some(Duration::from_secs(7)));
        }
        let err = answer(503, &HeaderMap::new(), "");
        assert_eq!(err.retry_after(), None);
    }

    #[test]
    fn other_client_errors_are_permanent_with_the_envelope() {
        let body = r#"{"error":{"code":"validation_failed","message":"title: must not be blank"}}"#;
        match answer(422, &HeaderMap::new(), body) {
            ClientError::Permanent {
                status,
                code,
                message,
            } => {
                assert_eq!((status, code.as_str()), (422, "validation_failed"));
                assert_eq!(message, "title: must not be blank");
            }
            other => panic!("expected Permanent, got {other:?}"),
        }
        match answer(401, &HeaderMap::new(), "<html>nope</html>") {
            ClientError::Permanent { code, message, .. } => {
                assert_eq!(
                    (code.as_str(), message.as_str()),
                    ("http_401", "<html>nope</html>")
                );
            }
            other => panic!("expected Permanent, got {other:?}"),
        }
    }

    #[test]
    fn a_412_without_a_task_body_is_an_invalid_response() {
        let err = answer(412, &HeaderMap::new(), "{}");
        assert!(
            matches!(err, ClientError::Permanent { status: 412, ref code, .. } if code == "invalid_response")
        );
        assert!(matches!(
            answer(404, &HeaderMap::new(), ""),
            ClientError::NotFound
        ));
    }
}
