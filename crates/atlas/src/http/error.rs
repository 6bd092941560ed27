//! The one error type at the HTTP edge. 4xx answers say what is wrong in the
//! client's terms; 5xx answers are logged with their cause and say nothing more.
//! Every body is `{"error": {"code", "message"}}` (plus `fields` for validation
//! and `current` for a failed precondition).

use altimeter_api::ValidationError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::model::Task;
use crate::tasks::{WriteError, stale_message};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Gone(String),
    /// The request is fine but the resource is not in a state that allows it.
    #[error("{0}")]
    StateConflict(String),
    #[error("{message}")]
    PreconditionFailed { message: String, current: Box<Task> },
    #[error("request body is larger than the 1 MiB limit")]
    PayloadTooLarge,
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    #[error("{0}")]
    Unprocessable(String),
    /// Temporarily unable to take the request (e.g. every connection slot taken).
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::Unauthorized(_) => (StatusCode::UNAUTHORIZED, "unauthorized"),
            ApiError::Forbidden(_) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::NotFound(_) => (StatusCode::NOT_FOUND, "not_found"),
            ApiError::MethodNotAllowed(_) => (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed"),
            ApiError::Gone(_) => (StatusCode::GONE, "gone"),
            ApiError::StateConflict(_) => (StatusCode::CONFLICT, "state_conflict"),
            ApiError::PreconditionFailed { .. } => {
                (StatusCode::PRECONDITION_FAILED, "precondition_failed")
            }
            ApiError::PayloadTooLarge => (StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large"),
            ApiError::UnsupportedMediaType(_) => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type")
            }
            ApiError::Invalid(_) | ApiError::Unprocessable(_) => {
                (StatusCode::UNPROCESSABLE_ENTITY, "validation_failed")
            }
            ApiError::Unavailable(_) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
            ApiError::Internal(_) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        if let ApiError::Internal(cause) = &self {
            tracing::error!(error = format!("{cause:#}"), "request failed");
        }
        let mut body = json!({"error": {"code": code, "message": self.to_string()}});
        match self {
            ApiError::Invalid(errors) => {
                body["error"]["fields"] = serde_json::to_value(&errors.0).unwrap_or(Value::Null);
            }
            ApiError::PreconditionFailed { current, .. } => {
                body["current"] = serde_json::to_value(&current).unwrap_or(Value::Null);
            }
            _ => {}
        }
        (status, axum::Json(body)).into_response()
    }
}

impl From<WriteError> for ApiError {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::NotFound => ApiError::NotFound("task not found".into()),
            WriteError::Deleted => ApiError::Gone("task was deleted".into()),
            WriteError::Stale { expected, current } => ApiError::PreconditionFailed {
                message: stale_message(expected, current.version),
                current,
            },
            WriteError::Invalid(v) => ApiError::Invalid(v),
            WriteError::Internal(cause) => ApiError::Internal(cause),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(e.into())
    }
}

pub type ApiResult<T> = Result<T, ApiError>;
