//! Recorded wire documents, written by hand from SPEC §4 (not produced by our own
//! serializer): each must deserialize to the expected values and serialize back
//! to the same JSON, so a serde mistake shared by client and simulator still fails.

use altimeter_api::{
    CreateTask, ErrorBody, EventType, Page, Priority, RemoteTask, Status, TaskFields, WebhookEvent,
    webhook,
};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

/// Parses a fixture as `T` and checks that `T` writes it back unchanged.
fn round_trip<T: DeserializeOwned + Serialize>(name: &str) -> T {
    let raw = fixture(name);
    let parsed: T = serde_json::from_str(&raw).unwrap_or_else(|e| panic!("{name}: {e}"));
    let recorded: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(
        serde_json::to_value(&parsed).unwrap(),
        recorded,
        "{name} changed on the way back"
    );
    parsed
}

fn at(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339)
        .unwrap()
        .with_timezone(&Utc)
}

#[test]
fn remote_task() {
    let task: RemoteTask = round_trip("task.json");
    assert_eq!(task.id, "alt_7f3c9a1e");
    assert_eq!(
        task.external_id.as_deref(),
        Some("0194f0a2-6c1e-7b3a-9d2f-5e8a1c4b7d90")
    );
    assert_eq!(task.version, 8);
    assert_eq!(task.fields.title, "Need 50 bags of concrete on level 3");
    assert_eq!(
        task.fields.description,
        "Deliver to the north hoist before 7:00."
    );
    assert_eq!(task.fields.status, Status::InProgress);
    assert_eq!(task.fields.priority, Priority::High);
    assert_eq!(task.fields.assignee.as_deref(), Some("Maria Lopez"));
    assert_eq!(task.fields.due_date, NaiveDate::from_ymd_opt(2026, 3, 15));
    assert_eq!(task.created_at, at("2026-02-01T08:30:00Z"));
    assert_eq!(task.updated_at, at("2026-02-03T14:05:12.345Z"));
    assert!(!task.deleted);
}

#[test]
fn every_key_of_a_remote_task_is_required() {
    let recorded: Value = serde_json::from_str(&fixture("task.json")).unwrap();
    let keys: Vec<String> = recorded.as_object().unwrap().keys().cloned().collect();
    assert_eq!(keys.len(), 12);
    for key in keys {
        let mut doc = recorded.clone();
        doc.as_object_mut().unwrap().remove(&key);
        let err = serde_json::from_value::<RemoteTask>(doc)
            .expect_err(&format!("task.json without `{key}` must not parse"));
        assert!(
            err.to_string().contains(&format!("missing field `{key}`")),
            "{key}: {err}"
        );
    }
}

#[test]
fn a_task_without_status_is_refused_not_read_as_open() {
    let raw = fixture("task.json").replace("  \"status\": \"in_progress\",\n", "");
    assert!(!raw.contains("status"), "the fixture line was removed");
    let err = serde_json::from_str::<RemoteTask>(&raw).unwrap_err();
    assert!(err.to_string().contains("missing field `status`"), "{err}");
    // Request bodies stay lenient: a PUT body without status means `open`.
    let fields: TaskFields = serde_json::from_str(&raw).unwrap();
    assert_eq!(fields.status, Status::Open);
}

#[test]
fn nullable_keys_may_be_null_but_not_absent() {
    let raw = fixture("task.json")
        .replace("\"Maria Lopez\"", "null")
        .replace("\"2026-03-15\"", "null");
    let task: RemoteTask = serde_json::from_str(&raw).unwrap();
    assert_eq!((task.fields.assignee, task.fields.due_date), (None, None));
}

#[test]
fn precondition_failed_body_is_the_current_task() {
    let task: RemoteTask = round_trip("precondition_failed.json");
    assert_eq!((task.version, task.deleted), (3, false));
    assert_eq!(task.fields.status, Status::Blocked);
    assert_eq!(task.updated_at, at("2026-02-03T14:05:12.345678Z"));
}

#[test]
fn gone_body_is_the_tombstone() {
    let task: RemoteTask = round_trip("gone.json");
    assert_eq!((task.version, task.deleted), (4, true));
    assert_eq!(task.id, "alt_3e9d0c2b4a6f48e1b7c5d9a0f2e4c6b8");
    assert_eq!(task.updated_at, at("2026-02-04T09:12:00.000001Z"));
}

#[test]
fn tombstone() {
    let task: RemoteTask = round_trip("tombstone.json");
    assert!(task.deleted);
    assert_eq!(task.version, 3);
    assert_eq!(task.external_id, None);
    assert_eq!(task.fields.assignee, None);
    assert_eq!(task.fields.due_date, None);
    assert_eq!(task.fields.description, "");
    assert_eq!(task.fields.status, Status::Done);
    assert_eq!(task.updated_at, at("2026-02-02T16:45:30.5Z"));
}

#[test]
fn list_pages() {
    let page: Page<RemoteTask> = round_trip("list_page.json");
    let ids: Vec<_> = page.data.iter().map(|t| t.id.as_str()).collect();
    assert_eq!(ids, ["alt_0b44de21", "alt_7f3c9a1e"]);
    assert!(page.data[0].deleted);
    assert!(page.data[0].updated_at < page.data[1].updated_at);
    assert_eq!(
        page.next_cursor.as_deref(),
        Some("c2VlbjoyMDI2LTAyLTAzVDE0OjA1OjEyLjM0NVo")
    );

    let last: Page<RemoteTask> = round_trip("last_page.json");
    assert!(last.data.is_empty());
    assert_eq!(last.next_cursor, None);
}

#[test]
fn create_request() {
    let create: CreateTask = round_trip("create_request.json");
    assert_eq!(
        create.external_id.as_deref(),
        Some("0194f0a2-6c1e-7b3a-9d2f-5e8a1c4b7d90")
    );
    assert_eq!(create.fields.priority, Priority::Urgent);
    assert_eq!(create.fields.status, Status::Open);
    assert_eq!(create.fields.due_date, NaiveDate::from_ymd_opt(2026, 3, 15));
    let recorded: Value = serde_json::from_str(&fixture("create_request.json")).unwrap();
    assert_eq!(CreateTask::from_json(&recorded).unwrap(), create);
}

#[test]
fn update_request() {
    let fields: TaskFields = round_trip("update_request.json");
    assert_eq!(fields.title, "Need 60 bags of concrete on level 3");
    assert_eq!(fields.status, Status::Blocked);
    assert_eq!(fields.priority, Priority::Low);
    assert_eq!(fields.assignee.as_deref(), Some("Sam Okafor"));
    assert_eq!(fields.due_date, None);
    let recorded: Value = serde_json::from_str(&fixture("update_request.json")).unwrap();
    assert_eq!(TaskFields::from_json(&recorded).unwrap(), fields);
}

#[test]
fn webhook_body() {
    let event: WebhookEvent = round_trip("webhook.json");
    assert_eq!(event.event_id, "evt_01jkq8w3c5x2m4n6p8r0s2t4v6");
    assert_eq!(event.kind, EventType::Updated);
    assert_eq!(event.occurred_at, at("2026-02-03T14:05:12.345Z"));
    assert_eq!(event.data.task_id, "alt_7f3c9a1e");
    assert_eq!(event.data.version, 8);
}

#[test]
fn webhook_signature_matches_an_independent_hmac() {
    // webhook.json.sig was computed with Python's hmac module over the raw file
    // bytes under the secret below, not with our own code.
    let body = fixture("webhook.json");
    let recorded = fixture("webhook.json.sig");
    let recorded = recorded.trim();
    assert_eq!(webhook::sign(b"whsec_test_8d1f", body.as_bytes()), recorded);
    assert!(webhook::verify(
        b"whsec_test_8d1f",
        body.as_bytes(),
        recorded
    ));
    assert!(!webhook::verify(b"whsec_other", body.as_bytes(), recorded));
}

#[test]
fn error_body() {
    let body: ErrorBody = round_trip("error.json");
    assert_eq!(body.error.code, "validation_failed");
    assert_eq!(body.error.message, "title: must not be blank");
}

#[test]
fn event_types_use_the_dotted_names() {
    for (kind, name) in [
        (EventType::Created, "task.created"),
        (EventType::Updated, "task.updated"),
        (EventType::Deleted, "task.deleted"),
    ] {
        assert_eq!(serde_json::to_value(kind).unwrap(), name);
        assert_eq!(
            serde_json::from_value::<EventType>(name.into()).unwrap(),
            kind
        );
    }
}

#[test]
fn timestamps_in_other_rfc3339_forms_are_read() {
    let base =
        fixture("task.json").replace("2026-02-03T14:05:12.345Z", "2026-02-03T15:05:12.345+01:00");
    let task: RemoteTask = serde_json::from_str(&base).unwrap();
    assert_eq!(task.updated_at, at("2026-02-03T14:05:12.345Z"));
}
