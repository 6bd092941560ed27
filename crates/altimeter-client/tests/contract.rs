//! Contract tests: the real client against the real simulator, over HTTP, for
//! every call and every error path of SPEC §4.

use std::collections::HashSet;
use std::time::Duration;

use altimeter_api::{CreateTask, Priority, RemoteTask, Status, TaskFields};
use altimeter_client::{AltimeterClient, ClientConfig, ClientError};
use altimeter_sim::{Faults, SimConfig, SimHandle, UNLIMITED, spawn};
use futures::TryStreamExt;
use secrecy::SecretString;
use tokio::net::TcpListener;

const KEY: &str = "contract-test-key";

async fn start() -> (SimHandle, AltimeterClient) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let sim = spawn(SimConfig::new(KEY), listener).await.unwrap();
    let client = client_for(&sim.base_url(), KEY);
    (sim, client)
}

fn client_for(base_url: &str, key: &str) -> AltimeterClient {
    AltimeterClient::new(ClientConfig::new(base_url, SecretString::from(key))).unwrap()
}

fn new_task(title: &str) -> CreateTask {
    CreateTask {
        external_id: Some(format!("atlas-{title}")),
        fields: TaskFields::titled(title),
    }
}

fn set_faults(sim: &SimHandle, faults: Faults) {
    sim.state().set_faults(faults);
}

fn expect_permanent(result: Result<impl std::fmt::Debug, ClientError>) -> (u16, String, String) {
    match result {
        Err(ClientError::Permanent {
            status,
            code,
            message,
        }) => (status, code, message),
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

fn expect_retryable(
    result: Result<impl std::fmt::Debug, ClientError>,
) -> (Option<u16>, Option<Duration>, String) {
    match result {
        Err(ClientError::Retryable {
            status,
            retry_after,
            message,
        }) => (status, retry_after, message),
        other => panic!("expected a retryable error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_401() {
    let (sim, _) = start().await;
    let wrong = client_for(&sim.base_url(), "not-the-key");
    let (status, code, _) = expect_permanent(wrong.get("alt_x").await);
    assert_eq!((status, code.as_str()), (401, "unauthorized"));
    let empty = client_for(&sim.base_url(), "");
    assert_eq!(
        expect_permanent(empty.create(&new_task("a"), "k").await).0,
        401
    );

    let bare = reqwest::get(format!("{}/tasks", sim.base_url()))
        .await
        .unwrap();
    assert_eq!(bare.status(), 401);
    let body: serde_json::Value = bare.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unauthorized");
    assert!(sim.state().tasks().is_empty());
}

#[tokio::test]
async fn create_get_and_update_round_trip() {
    let (_sim, client) = start().await;
    let mut request = new_task("Pour slab");
    request.fields.priority = Priority::Urgent;
    request.fields.due_date = chrono::NaiveDate::from_ymd_opt(2026, 3, 15);
    let created = client.create(&request, "create-1").await.unwrap();
    assert!(created.id.starts_with("alt_"));
    assert_eq!((created.version, created.deleted), (1, false));
    assert_eq!(created.fields, request.fields);
    assert_eq!(created.external_id, request.external_id);
    assert_eq!(created.created_at, created.updated_at);
    assert_eq!(client.get(&created.id).await.unwrap(), created);

    let mut fields = created.fields.clone();
    fields.status = Status::Done;
    fields.assignee = Some("Ana".into());
    let updated = client.update(&created.id, &fields, Some(1)).await.unwrap();
    assert_eq!((updated.version, &updated.fields), (2, &fields));
    assert!(updated.updated_at > created.updated_at);
    let unguarded = client
        .update(&created.id, &TaskFields::titled("x"), None)
        .await
        .unwrap();
    assert_eq!(unguarded.version, 3);
}

#[tokio::test]
async fn the_same_idempotency_key_returns_the_same_task() {
    let (sim, client) = start().await;
    let first = client.create(&new_task("a"), "key-1").await.unwrap();
    let again = client.create(&new_task("a"), "key-1").await.unwrap();
    assert_eq!(again, first);
    assert_eq!(sim.state().tasks().len(), 1);
    assert_eq!(sim.state().stats().requests["POST /tasks"], 2);
    let other = client.create(&new_task("a"), "key-2").await.unwrap();
    assert_ne!(other.id, first.id);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_permanent_422() {
    let (sim, client) = start().await;
    client.create(&new_task("a"), "key-1").await.unwrap();
    let (status, code, _) = expect_permanent(client.create(&new_task("b"), "key-1").await);
    assert_eq!((status, code.as_str()), (422, "idempotency_key_reused"));
    assert_eq!(sim.state().tasks().len(), 1);
}

#[tokio::test]
async fn a_stale_if_match_is_412_with_the_current_task() {
    let (_sim, client) = start().await;
    let task = client.create(&new_task("a"), "k").await.unwrap();
    client
        .update(&task.id, &TaskFields::titled("b"), Some(1))
        .await
        .unwrap();
    match client
        .update(&task.id, &TaskFields::titled("c"), Some(1))
        .await
    {
        Err(ClientError::PreconditionFailed(current)) => {
            assert_eq!((current.version, current.fields.title.as_str()), (2, "b"));
        }
        other => panic!("expected 412, got {other:?}"),
    }
    match client.delete(&task.id, Some(1)).await {
        Err(ClientError::PreconditionFailed(current)) => assert_eq!(current.version, 2),
        other => panic!("expected 412, got {other:?}"),
    }
    assert_eq!(client.get(&task.id).await.unwrap().version, 2);
}

#[tokio::test]
async fn invalid_fields_are_a_permanent_422_naming_the_field() {
    let (sim, client) = start().await;
    let (status, code, message) = expect_permanent(client.create(&new_task("  "), "k").await);
    assert_eq!((status, code.as_str()), (422, "validation_failed"));
    assert!(message.contains("title"), "{message}");

    let task = client.create(&new_task("a"), "k2").await.unwrap();
    let mut fields = TaskFields::titled("a");
    fields.assignee = Some("x".repeat(101));
    let (status, _, message) = expect_permanent(client.update(&task.id, &fields, None).await);
    assert_eq!(status, 422);
    assert!(message.starts_with("assignee:"), "{message}");

    let raw = reqwest::Client::new()
        .post(format!("{}/tasks", sim.base_url()))
        .bearer_auth(KEY)
        .header("content-type", "application/json")
        .body(r#"{"title": "a", "status": "later", "due_date": "2026-02-30"}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 422);
    let body: serde_json::Value = raw.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("status: unknown") && message.contains("due_date:"),
        "{message}"
    );
}

#[tokio::test]
async fn malformed_json_is_a_permanent_400() {
    let (sim, _) = start().await;
    let raw = reqwest::Client::new()
        .post(format!("{}/tasks", sim.base_url()))
        .bearer_auth(KEY)
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let body: serde_json::Value = raw.json().await.unwrap();
    assert_eq!(body["error"]["code"], "malformed_json");
}

#[tokio::test]
async fn a_deleted_task_is_gone_with_its_tombstone() {
    let (_sim, client) = start().await;
    let task = client.create(&new_task("a"), "k").await.unwrap();
    client.delete(&task.id, Some(1)).await.unwrap();
    let tombstone = match client.get(&task.id).await {
        Err(ClientError::Gone(tombstone)) => *tombstone,
        other => panic!("expected 410, got {other:?}"),
    };
    assert!(tombstone.deleted);
    assert_eq!(
        (tombstone.id.as_str(), tombstone.version),
        (task.id.as_str(), 2)
    );
    assert!(matches!(
        client.update(&task.id, &task.fields, None).await,
        Err(ClientError::Gone(_))
    ));
    assert!(matches!(
        client.delete(&task.id, None).await,
        Err(ClientError::Gone(_))
    ));
}

#[tokio::test]
async fn an_unknown_id_is_not_found() {
    let (_sim, client) = start().await;
    assert!(matches!(
        client.get("alt_nope").await,
        Err(ClientError::NotFound)
    ));
    let update = client
        .update("alt_nope", &TaskFields::titled("a"), Some(1))
        .await;
    assert!(matches!(update, Err(ClientError::NotFound)));
    assert!(matches!(
        client.delete("alt_nope", None).await,
        Err(ClientError::NotFound)
    ));
    assert!(matches!(
        client.get("a/../b c").await,
        Err(ClientError::NotFound)
    ));
}

async fn create_many(client: &AltimeterClient, n: usize) -> Vec<RemoteTask> {
    let mut tasks = Vec::new();
    for i in 0..n {
        tasks.push(
            client
                .create(&new_task(&format!("t{i}")), &format!("k{i}"))
                .await
                .unwrap(),
        );
    }
    tasks
}

#[tokio::test]
async fn listing_pages_follow_next_cursor_until_null() {
    let (_sim, client) = start().await;
    let created = create_many(&client, 25).await;
    client.delete(&created[3].id, None).await.unwrap();

    let (mut seen, mut cursor, mut sizes) = (Vec::new(), None::<String>, Vec::new());
    loop {
        let page = client.list_page(None, cursor.as_deref(), 10).await.unwrap();
        sizes.push(page.data.len());
        seen.extend(page.data);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(sizes, [10, 10, 5]);
    let ids: HashSet<_> = seen.iter().map(|t| t.id.clone()).collect();
    assert_eq!(ids.len(), 25, "every task exactly once");
    let keys: Vec<_> = seen.iter().map(|t| (t.updated_at, t.id.clone())).collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "ordered by (updated_at, id)"
    );
    let last = seen.last().unwrap();
    assert!(
        last.deleted && last.id == created[3].id,
        "tombstones are listed, by change time"
    );
}

#[tokio::test]
async fn list_since_streams_every_task_from_a_point() {
    let (_sim, client) = start().await;
    let created = create_many(&client, 12).await;
    let all: Vec<_> = client.list_since(None, 5).try_collect().await.unwrap();
    assert_eq!(all, created);
    let since = created[9].updated_at;
    let recent: Vec<_> = client
        .list_since(Some(since), 2)
        .try_collect()
        .await
        .unwrap();
    assert_eq!(recent, created[9..], "updated_since is inclusive");
    let page = client.list_page(Some(since), None, 500).await.unwrap();
    assert_eq!((page.data.len(), page.next_cursor), (3, None));
}

#[tokio::test]
async fn bad_listing_parameters_are_a_permanent_422() {
    let (_sim, client) = start().await;
    for limit in [0, 501] {
        let (status, _, message) = expect_permanent(client.list_page(None, None, limit).await);
        assert_eq!(status, 422);
        assert!(message.starts_with("limit:"), "{message}");
    }
    let (status, _, message) = expect_permanent(client.list_page(None, Some("bogus"), 10).await);
    assert_eq!(status, 422);
    assert!(message.starts_with("cursor:"), "{message}");
}

#[tokio::test]
async fn an_outage_is_retryable_503() {
    let (sim, client) = start().await;
    set_faults(
        &sim,
        Faults {
            outage: true,
            ..Faults::default()
        },
    );
    let (status, retry_after, _) = expect_retryable(client.get("alt_x").await);
    assert_eq!(status, Some(503));
    assert_eq!(retry_after, Some(Duration::from_secs(1)));
    assert!(
        client
            .create(&new_task("a"), "k")
            .await
            .unwrap_err()
            .is_retryable()
    );
    assert!(sim.state().tasks().is_empty());
}

#[tokio::test]
async fn an_error_rate_of_one_fails_every_call_with_503() {
    let (sim, client) = start().await;
    set_faults(
        &sim,
        Faults {
            error_rate: 1.0,
            ..Faults::default()
        },
    );
    for _ in 0..5 {
        let (status, ..) = expect_retryable(client.list_page(None, None, 10).await);
        assert_eq!(status, Some(503));
    }
    set_faults(&sim, Faults::default());
    assert!(client.list_page(None, None, 10).await.is_ok());
}

#[tokio::test]
async fn over_the_rate_limit_is_retryable_429_with_retry_after() {
    let (sim, client) = start().await;
    set_faults(
        &sim,
        Faults {
            rate_limit: Some(2),
            ..Faults::default()
        },
    );
    let mut refused = None;
    for _ in 0..50 {
        if let Err(error) = client.list_page(None, None, 1).await {
            refused = Some(error);
            break;
        }
    }
    let error = refused.expect("a 429 within 50 quick calls at 2 req/s");
    assert_eq!(error.retry_after(), Some(Duration::from_secs(1)));
    let (status, ..) = expect_retryable(Err::<(), _>(error));
    assert_eq!(status, Some(429));
    let limit = client.rate_limit().expect("rate-limit headers on the 429");
    assert_eq!((limit.limit, limit.remaining), (2, 0));
}

#[tokio::test]
async fn rate_limit_headers_are_exposed() {
    let (sim, client) = start().await;
    assert_eq!(client.rate_limit(), None);
    client.list_page(None, None, 1).await.unwrap();
    let unlimited = client.rate_limit().unwrap();
    assert_eq!(unlimited.limit, u64::from(UNLIMITED));
    assert!(unlimited.remaining < unlimited.limit);
    assert!(unlimited.reset > chrono::Utc::now().timestamp() - 1);

    set_faults(
        &sim,
        Faults {
            rate_limit: Some(1000),
            ..Faults::default()
        },
    );
    let _ = client.get("alt_missing").await;
    let limited = client.rate_limit().unwrap();
    assert_eq!(limited.limit, 1000);
    assert!(limited.remaining < 1000);
}

#[tokio::test]
async fn an_unreachable_server_is_retryable_without_status() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let client = client_for(&format!("http://127.0.0.1:{port}/v1"), KEY);
    let (status, retry_after, message) = expect_retryable(client.get("alt_x").await);
    assert_eq!((status, retry_after), (None, None));
    assert!(message.contains("connect"), "{message}");
}

#[tokio::test]
async fn a_slow_answer_times_out_as_retryable() {
    let (sim, _) = start().await;
    set_faults(
        &sim,
        Faults {
            latency_ms: 3_000,
            ..Faults::default()
        },
    );
    let mut config = ClientConfig::new(sim.base_url(), SecretString::from(KEY));
    config.request_timeout = Duration::from_millis(200);
    let client = AltimeterClient::new(config).unwrap();
    let (status, _, message) = expect_retryable(client.get("alt_x").await);
    assert_eq!(status, None);
    assert!(message.contains("timed out"), "{message}");
}
