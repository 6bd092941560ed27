//! The one error type of the HTTP edge: each variant knows its status and body
//! (`{"error": {"code", "message"}}`, or the task itself for `410`/`412`).

use altimeter_api::{ErrorBody, RemoteTask};
use axum::Json;
use axum::http::StatusCode;
use axum::http::header::RETRY_AFTER;
use axum::response::{IntoResponse, Response};

use crate::store::StoreError;

#[derive(Debug)]
pub enum ApiError {
    Unauthorized,
    NotFound,
    /// No API endpoint at this path.
    NoRoute,
    MethodNotAllowed,
    /// `410` with the tombstone as the body.
    Gone(Box<RemoteTask>),
    /// `412` with the current task as the body.
    PreconditionFailed(Box<RemoteTask>),
    /// `422`: the request is well-formed but its content is not acceptable.
    Invalid {
        code: &'static str,
        message: String,
    },
    /// `400`: the request could not be read at all.
    Malformed {
        code: &'static str,
        message: String,
    },
    /// `503` with `Retry-After`.
    Unavailable {
        message: &'static str,
    },
    /// `429` with `Retry-After`.
    RateLimited {
        retry_after: u64,
    },
    /// `502`: the call was carried out, but its answer is "lost" (a fault).
    AnswerLost,
}

impl ApiError {
    pub fn invalid(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Invalid {
            code,
            message: message.into(),
        }
    }

    pub fn malformed(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Malformed {
            code,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::NotFound => ApiError::NotFound,
            StoreError::Gone(task) => ApiError::Gone(task),
            StoreError::VersionMismatch(task) => ApiError::PreconditionFailed(task),
            StoreError::IdempotencyKeyReused => ApiError::invalid(
                "idempotency_key_reused",
                "this Idempotency-Key was already used with a different request body",
            ),
        }
    }
}

fn envelope(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    (status, Json(ErrorBody::new(code, message))).into_response()
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Unauthorized => envelope(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "missing or wrong API key: send Authorization: Bearer <key>",
            ),
            ApiError::NotFound => {
                envelope(StatusCode::NOT_FOUND, "not_found", "no task with this id")
            }
            ApiError::NoRoute => envelope(
                StatusCode::NOT_FOUND,
                "no_such_endpoint",
                "no such endpoint; the API has /tasks and /tasks/{id}",
            ),
            ApiError::MethodNotAllowed => envelope(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this endpoint does not accept that method",
            ),
            ApiError::Gone(task) => (StatusCode::GONE, Json(task)).into_response(),
            ApiError::PreconditionFailed(task) => {
                (StatusCode::PRECONDITION_FAILED, Json(task)).into_response()
            }
            ApiError::Invalid { code, message } => {
                envelope(StatusCode::UNPROCESSABLE_ENTITY, code, message)
            }
            ApiError::Malformed { code, message } => {
                envelope(StatusCode::BAD_REQUEST, code, message)
            }
            ApiError::Unavailable { message } => {
                let response = envelope(StatusCode::SERVICE_UNAVAILABLE, "unavailable", message);
                ([(RETRY_AFTER, 1)], response).into_response()
            }
            ApiError::AnswerLost => envelope(
                StatusCode::BAD_GATEWAY,
                "answer_lost",
                "the answer to this call was lost (simulated); it may or may not have been applied",
            )
            .into_response(),
            ApiError::RateLimited { retry_after } => {
                let response = envelope(
                    StatusCode::TOO_MANY_REQUESTS,
                    "rate_limited",
                    "too many requests; wait for Retry-After seconds",
                );
                ([(RETRY_AFTER, retry_after)], response).into_response()
            }
        }
    }
}
