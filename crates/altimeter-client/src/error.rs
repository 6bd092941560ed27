//! The typed error the sync engine branches on, and how an HTTP answer or a
//! transport failure maps onto it.

use std::time::Duration;

use altimeter_api::{ErrorBody, RemoteTask};
use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, LOCATION};

use crate::retry_after::retry_after;

/// The error code Altimeter answers (with `422`) when an `Idempotency-Key` comes
/// back with a different body.
const IDEMPOTENCY_KEY_REUSED: &str = "idempotency_key_reused";

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
    /// `412`: the task changed since the version sent in `If-Match`. `Some` is the
    /// task as it is now (the body Altimeter sends); `None` if the body was not a
    /// task — fetch it with `get`.
    #[error("Altimeter task changed meanwhile ({})", version_text(.0.as_deref(), "now"))]
    PreconditionFailed(Option<Box<RemoteTask>>),
    /// `404` with Altimeter's error envelope on `get`/`update`/`delete`: Altimeter
    /// has no task with this id. A `404` with any other body (a proxy's page, an
    /// empty body) or on a listing is [`ClientError::Permanent`] instead, since it
    /// says more about the URL than about the task.
    #[error("Altimeter task not found")]
    NotFound,
    /// `410`: the task was deleted. `Some` is its tombstone (the body Altimeter
    /// sends); `None` if the body was not a task.
    #[error("Altimeter task was deleted ({})", version_text(.0.as_deref(), "tombstone version"))]
    Gone(Option<Box<RemoteTask>>),
    /// `422` `idempotency_key_reused`: an earlier create with this key succeeded
    /// with a different body (e.g. it timed out, then the task was edited before
    /// the retry). That task exists; find it (by `external_id`) rather than fail.
    #[error("Altimeter already created a task with this Idempotency-Key: {message}")]
    IdempotencyKeyReused { message: String },
    /// One task of a listing page could not be read; the rest of the page could.
    /// `id` is the item's `"id"` when it had a string one.
    #[error("Altimeter listed a task that cannot be read ({}): {message}", .id.as_deref().unwrap_or("no id"))]
    InvalidItem { id: Option<String>, message: String },
    /// Any other failure that retrying will not fix (`401`, `422`, `3xx`, bad
    /// answers...). `status` is `0` when the request could not even be built.
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

fn version_text(task: Option<&RemoteTask>, label: &str) -> String {
    task.map_or_else(
        || "the answer did not include the task".to_owned(),
        |t| format!("{label} {}", t.version),
    )
}

/// What a call addressed; a `404` means different things for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resource {
    /// `/tasks/{id}`: a `404` envelope means this task does not exist.
    Task,
    /// `/tasks`: a `404` means the base URL is wrong.
    Collection,
}

impl ClientError {
    /// The HTTP status Altimeter answered with, if it answered at all.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ClientError::Retryable { status, .. } => *status,
            ClientError::PreconditionFailed(_) => Some(412),
            ClientError::NotFound => Some(404),
            ClientError::Gone(_) => Some(410),
            ClientError::IdempotencyKeyReused { .. } => Some(422),
            ClientError::InvalidItem { .. } => Some(200),
            ClientError::Permanent { status: 0, .. } => None,
            ClientError::Permanent { status, .. } => Some(*status),
        }
    }

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

    /// A request that never got an answer (connect error, timeout, broken body),
    /// or one that could not be built (a header value that is not allowed, say).
    /// The message leaves the URL out: it is logged, and a URL may carry a token.
    pub(crate) fn transport(error: reqwest::Error) -> Self {
        let error = &error.without_url();
        if error.is_builder() {
            return ClientError::Permanent {
                status: 0,
                code: "invalid_request".to_owned(),
                message: format!("could not build the request: {}", error_chain(error)),
            };
        }
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

    /// A `2xx` whose body is not the document the contract promises.
    pub(crate) fn invalid_response(status: StatusCode, error: &serde_json::Error) -> Self {
        ClientError::Permanent {
            status: status.as_u16(),
            code: "invalid_response".to_owned(),
            message: format!("Altimeter answered with an unexpected body: {error}"),
        }
    }

    /// Classifies a non-success answer from its status, headers and body.
    pub(crate) fn from_answer(
        status: StatusCode,
        headers: &HeaderMap,
        body: &[u8],
        resource: Resource,
        now: DateTime<Utc>,
    ) -> Self {
        match status.as_u16() {
            300..=399 => redirect(status, headers),
            404 if resource == Resource::Task && is_envelope(body) => ClientError::NotFound,
            410 => ClientError::Gone(parse_task(body)),
            412 => ClientError::PreconditionFailed(parse_task(body)),
            408 | 409 | 429 | 500..=599 => ClientError::Retryable {
                status: Some(status.as_u16()),
                retry_after: retry_after(status, headers, now),
                message: error_detail(status, body).1,
            },
            _ => {
                let (code, message) = error_detail(status, body);
                if status == StatusCode::UNPROCESSABLE_ENTITY && code == IDEMPOTENCY_KEY_REUSED {
                    return ClientError::IdempotencyKeyReused { message };
                }
                ClientError::Permanent {
                    status: status.as_u16(),
                    code,
                    message,
                }
            }
        }
    }
}

/// The task in a `410`/`412` body, if that is what the body is.
fn parse_task(body: &[u8]) -> Option<Box<RemoteTask>> {
    serde_json::from_slice(body).ok().map(Box::new)
}

fn is_envelope(body: &[u8]) -> bool {
    serde_json::from_slice::<ErrorBody>(body).is_ok()
}

/// Redirects are not followed (a `POST` or `PUT` silently turned into a `GET`
/// elsewhere would be worse than failing), so the setting has to be fixed.
fn redirect(status: StatusCode, headers: &HeaderMap) -> ClientError {
    let location = headers
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("(no Location header)");
    ClientError::Permanent {
        status: status.as_u16(),
        code: "redirect".to_owned(),
        message: format!("ALTIMETER_API_URL redirects to {location}; point it at the final URL"),
    }
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
mod tests;
