//! `POST /webhooks/altimeter`: the signature is checked in constant time over the
//! raw body before anything is parsed; a verified event is recorded and turned
//! into a pull before the 2xx. Webhooks are only hints: the pull always reads
//! the task from Altimeter.

use altimeter_api::WebhookEvent;
use altimeter_api::headers::{EVENT_ID, SIGNATURE};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::routing::post;
use secrecy::ExposeSecret;
use serde_json::{Value, json};

use super::AppState;
use super::error::{ApiError, ApiResult};
use super::extract::{parse_json, read_body};
use crate::sync::intake::{self, Intake};

pub fn router() -> Router<AppState> {
    Router::new().route("/webhooks/altimeter", post(receive))
}

fn count(outcome: &'static str) {
    metrics::counter!("atlas_webhooks_received_total", "outcome" => outcome).increment(1);
}

async fn receive(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<axum::Json<Value>> {
    let bytes = read_body(body).await.inspect_err(|_| count("too_large"))?;
    check_signature(&state, &headers, &bytes)?;
    let event: WebhookEvent = parse_json(&bytes).inspect_err(|_| count("malformed"))?;
    event.validate().map_err(|message| {
        count("malformed");
        ApiError::Unprocessable(message)
    })?;
    if let Some(header_id) = headers.get(EVENT_ID).and_then(|v| v.to_str().ok()) {
        if header_id != event.event_id {
            count("malformed");
            return Err(ApiError::BadRequest(format!(
                "X-Altimeter-Event-Id `{header_id}` does not match the body's event_id `{}`",
                event.event_id
            )));
        }
    }
    let outcome = intake::accept(&state.db, &state.outbox, &event).await?;
    let status = match outcome {
        Intake::Queued => "queued",
        Intake::AlreadyCurrent => "already_current",
        Intake::Duplicate => "duplicate",
    };
    count(status);
    tracing::info!(event_id = %event.event_id, remote_id = %event.data.task_id, version = event.data.version, status, "webhook received");
    Ok(axum::Json(json!({"status": status})))
}

/// Refuses a webhook that is not signed with our secret: 401 without a
/// signature, 403 with a wrong one. With no secret configured, webhooks are
/// refused unless `ATLAS_ALLOW_UNSIGNED_WEBHOOKS` is set.
fn check_signature(state: &AppState, headers: &HeaderMap, body: &[u8]) -> ApiResult<()> {
    let Some(secret) = crate::config::filled(state.sync.webhook_secret.as_ref()) else {
        if state.sync.allow_unsigned_webhooks {
            count("unsigned_accepted");
            tracing::warn!(
                "accepting an unsigned webhook because ATLAS_ALLOW_UNSIGNED_WEBHOOKS is set"
            );
            return Ok(());
        }
        count("unsigned_refused");
        return Err(ApiError::Unauthorized(
            "webhooks are refused: ALTIMETER_WEBHOOK_SECRET is not set on this server".into(),
        ));
    };
    let Some(signature) = headers.get(SIGNATURE).and_then(|v| v.to_str().ok()) else {
        count("missing_signature");
        return Err(ApiError::Unauthorized(
            "missing X-Altimeter-Signature header".into(),
        ));
    };
    if !altimeter_api::webhook::verify(secret.expose_secret().as_bytes(), body, signature) {
        count("invalid_signature");
        return Err(ApiError::Forbidden(
            "X-Altimeter-Signature does not match the body".into(),
        ));
    }
    Ok(())
}
