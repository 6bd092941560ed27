use reqwest::header::{HeaderValue, RETRY_AFTER};

use super::*;

fn answer_to(resource: Resource, status: u16, headers: &HeaderMap, body: &str) -> ClientError {
    ClientError::from_answer(
        StatusCode::from_u16(status).unwrap(),
        headers,
        body.as_bytes(),
        resource,
        Utc::now(),
    )
}

fn answer(status: u16, headers: &HeaderMap, body: &str) -> ClientError {
    answer_to(Resource::Task, status, headers, body)
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../altimeter-api/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

const ENVELOPE_404: &str = r#"{"error":{"code":"not_found","message":"no task with this id"}}"#;

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
fn a_reused_idempotency_key_has_its_own_variant() {
    let body = r#"{"error":{"code":"idempotency_key_reused","message":"used with another body"}}"#;
    match answer_to(Resource::Collection, 422, &HeaderMap::new(), body) {
        ClientError::IdempotencyKeyReused { message } => {
            assert_eq!(message, "used with another body");
        }
        other => panic!("expected IdempotencyKeyReused, got {other:?}"),
    }
    let err = answer_to(Resource::Collection, 409, &HeaderMap::new(), body);
    assert!(err.is_retryable(), "only a 422 carries this meaning");
}

#[test]
fn the_sims_410_and_412_bodies_come_with_the_task() {
    match answer(412, &HeaderMap::new(), &fixture("precondition_failed.json")) {
        ClientError::PreconditionFailed(Some(task)) => assert_eq!(task.version, 3),
        other => panic!("expected PreconditionFailed(Some), got {other:?}"),
    }
    match answer(410, &HeaderMap::new(), &fixture("gone.json")) {
        ClientError::Gone(Some(task)) => assert!(task.deleted && task.version == 4),
        other => panic!("expected Gone(Some), got {other:?}"),
    }
}

#[test]
fn a_410_or_412_without_a_task_body_is_still_gone_or_changed() {
    let envelope = r#"{"error":{"code":"gone","message":"deleted"}}"#;
    for body in ["", "{}", envelope, "<html>Gone</html>", r#"{"id":"alt_1"}"#] {
        assert!(
            matches!(
                answer(410, &HeaderMap::new(), body),
                ClientError::Gone(None)
            ),
            "410 {body:?}"
        );
        assert!(
            matches!(
                answer(412, &HeaderMap::new(), body),
                ClientError::PreconditionFailed(None)
            ),
            "412 {body:?}"
        );
    }
    let gone = answer(410, &HeaderMap::new(), "").to_string();
    assert!(gone.contains("did not include the task"), "{gone}");
    let changed = answer(412, &HeaderMap::new(), &fixture("precondition_failed.json"));
    assert!(changed.to_string().contains("now 3"), "{changed}");
}

#[test]
fn a_404_is_not_found_only_for_a_task_with_the_envelope() {
    assert!(matches!(
        answer(404, &HeaderMap::new(), ENVELOPE_404),
        ClientError::NotFound
    ));
    for body in ["", "<html><body>Not Found</body></html>", "{}"] {
        match answer(404, &HeaderMap::new(), body) {
            ClientError::Permanent { status, code, .. } => {
                assert_eq!((status, code.as_str()), (404, "http_404"), "{body:?}");
            }
            other => panic!("{body:?}: expected Permanent, got {other:?}"),
        }
    }
    match answer_to(Resource::Collection, 404, &HeaderMap::new(), ENVELOPE_404) {
        ClientError::Permanent { status: 404, .. } => {}
        other => panic!("a listing 404 must be Permanent, got {other:?}"),
    }
}

#[test]
fn redirects_are_permanent_and_name_the_target() {
    let mut headers = HeaderMap::new();
    headers.insert(
        LOCATION,
        HeaderValue::from_static("https://new.example/v1/tasks"),
    );
    for status in [301, 302, 307, 308] {
        match answer(status, &headers, "") {
            ClientError::Permanent {
                status: s,
                code,
                message,
            } => {
                assert_eq!((s, code.as_str()), (status, "redirect"));
                assert_eq!(
                    message,
                    "ALTIMETER_API_URL redirects to https://new.example/v1/tasks; point it at the final URL"
                );
            }
            other => panic!("expected Permanent, got {other:?}"),
        }
    }
    let err = answer(302, &HeaderMap::new(), "").to_string();
    assert!(err.contains("(no Location header)"), "{err}");
}
