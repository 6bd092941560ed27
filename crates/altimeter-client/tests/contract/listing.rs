//! Listing: pages, cursors, `list_since`, and one bad item or a misbehaving
//! server not taking the rest of a listing down with it.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use altimeter_api::RemoteTask;
use altimeter_client::{AltimeterClient, ClientError};
use axum::Json;
use axum::extract::Query;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::{StreamExt, TryStreamExt};
use serde_json::{Value, json};

use crate::support::{KEY, client_for, create_many, expect_permanent, fixture, start, stub};

/// Every page's tasks; panics on an unreadable item.
fn tasks(page: altimeter_api::Page<Result<RemoteTask, ClientError>>) -> Vec<RemoteTask> {
    page.data.into_iter().map(Result::unwrap).collect()
}

#[tokio::test]
async fn listing_pages_follow_next_cursor_until_null() {
    let (_sim, client) = start().await;
    let created = create_many(&client, 25).await;
    client.delete(&created[3].id, None).await.unwrap();

    let (mut seen, mut cursor, mut sizes) = (Vec::new(), None::<String>, Vec::new());
    loop {
        let page = client.list_page(None, cursor.as_deref(), 10).await.unwrap();
        let next = page.next_cursor.clone();
        let data = tasks(page);
        sizes.push(data.len());
        seen.extend(data);
        match next {
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
async fn list_since_clamps_the_page_size() {
    let (sim, client) = start().await;
    let created = create_many(&client, 3).await;
    for size in [0, 501, u32::MAX] {
        let all: Vec<_> = client.list_since(None, size).try_collect().await.unwrap();
        assert_eq!(all, created, "page size {size}");
    }
    // Size 0 became 1 (three pages of one); the others became 500 (one page
    // each). Unclamped, 0 and 501 would have been refused with 422.
    assert_eq!(sim.state().stats().requests["GET /tasks"], 3 + 1 + 1);
}

#[tokio::test]
async fn the_listing_stream_outlives_the_client_and_moves_across_tasks() {
    let (_sim, client) = start().await;
    let created = create_many(&client, 4).await;
    let stream = client.list_since(None, 3);
    drop(client);
    let listed: Vec<_> = tokio::spawn(stream.try_collect::<Vec<_>>())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(listed, created);
}

/// Answers `GET /v1/tasks` with `pages[cursor]` (the first page under ""),
/// recording every query it gets.
async fn listing_stub(pages: HashMap<&'static str, Response>) -> (AltimeterClient, Seen) {
    let seen = Seen::default();
    let pages = Arc::new(Mutex::new(
        pages
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Some(v)))
            .collect::<HashMap<_, _>>(),
    ));
    let recorder = seen.clone();
    let app = axum::Router::new().route(
        "/v1/tasks",
        get(move |Query(query): Query<HashMap<String, String>>| {
            let pages = pages.clone();
            let seen = recorder.clone();
            async move {
                let cursor = query.get("cursor").cloned().unwrap_or_default();
                seen.0.lock().unwrap().push(query);
                let mut pages = pages.lock().unwrap();
                match pages.get_mut(&cursor).and_then(Option::take) {
                    Some(answer) => answer,
                    None => StatusCode::IM_A_TEAPOT.into_response(),
                }
            }
        }),
    );
    (client_for(&stub(app).await, KEY), seen)
}

#[derive(Clone, Default)]
struct Seen(Arc<Mutex<Vec<HashMap<String, String>>>>);

fn doc(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap()
}

fn page(data: Vec<Value>, next_cursor: Option<&str>) -> Response {
    Json(json!({"data": data, "next_cursor": next_cursor})).into_response()
}

#[tokio::test]
async fn one_unreadable_item_does_not_fail_the_page_or_the_walk() {
    let mut no_status = doc("task.json");
    no_status.as_object_mut().unwrap().remove("status");
    no_status["id"] = json!("alt_bad");
    let first = vec![
        doc("task.json"),
        no_status,
        json!(42),
        doc("tombstone.json"),
    ];
    let (client, _) = listing_stub(HashMap::from([
        ("", page(first, Some("p2"))),
        ("p2", page(vec![doc("gone.json")], None)),
    ]))
    .await;

    let listed: Vec<_> = client.list_since(None, 100).collect().await;
    let summary: Vec<_> = listed
        .iter()
        .map(|item| match item {
            Ok(task) => format!("ok {}", task.id),
            Err(ClientError::InvalidItem { id, message }) => {
                format!("invalid {id:?}: {message}")
            }
            Err(other) => panic!("unexpected {other:?}"),
        })
        .collect();
    assert_eq!(
        summary,
        [
            "ok alt_7f3c9a1e".to_owned(),
            "invalid Some(\"alt_bad\"): missing field `status`".to_owned(),
            "invalid None: invalid type: integer `42`, expected a task object".to_owned(),
            "ok alt_0b44de21".to_owned(),
            "ok alt_3e9d0c2b4a6f48e1b7c5d9a0f2e4c6b8".to_owned(),
        ]
    );
}

#[tokio::test]
async fn list_page_returns_the_bad_item_in_place() {
    let mut bad = doc("task.json");
    bad["due_date"] = json!("2026-02-30");
    let (client, seen) = listing_stub(HashMap::from([(
        "",
        page(vec![bad, doc("tombstone.json")], None),
    )]))
    .await;
    let page = client.list_page(None, None, 7).await.unwrap();
    assert_eq!(page.data.len(), 2);
    match &page.data[0] {
        Err(ClientError::InvalidItem { id, message }) => {
            assert_eq!(id.as_deref(), Some("alt_7f3c9a1e"));
            assert!(message.contains("real calendar date"), "{message}");
        }
        other => panic!("expected InvalidItem, got {other:?}"),
    }
    assert!(page.data[1].as_ref().unwrap().deleted);
    assert_eq!(seen.0.lock().unwrap()[0]["limit"], "7");
}

#[tokio::test]
async fn a_failed_page_ends_the_walk_after_what_came_before() {
    let (client, seen) = listing_stub(HashMap::from([
        ("", page(vec![doc("task.json")], Some("p2"))),
        (
            "p2",
            (StatusCode::SERVICE_UNAVAILABLE, "overloaded").into_response(),
        ),
    ]))
    .await;
    let listed: Vec<_> = client.list_since(None, 10).collect().await;
    assert_eq!(listed.len(), 2, "{listed:?}");
    assert_eq!(listed[0].as_ref().unwrap().id, "alt_7f3c9a1e");
    assert!(listed[1].as_ref().unwrap_err().is_retryable());
    assert_eq!(seen.0.lock().unwrap().len(), 2, "no call after the failure");
}

#[tokio::test]
async fn a_repeated_next_cursor_stops_the_walk_instead_of_looping() {
    let seen = Seen::default();
    let recorder = seen.clone();
    let app = axum::Router::new().route(
        "/v1/tasks",
        get(move |Query(query): Query<HashMap<String, String>>| {
            recorder.0.lock().unwrap().push(query);
            async { page(vec![doc("task.json")], Some("stuck")) }
        }),
    );
    let client = client_for(&stub(app).await, KEY);
    // Bounded, so a client that loops fails here instead of hanging.
    let listed: Vec<_> = client.list_since(None, 10).take(10).collect().await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    assert!(listed[..2].iter().all(Result::is_ok));
    match &listed[2] {
        Err(ClientError::Permanent { status, code, .. }) => {
            assert_eq!((*status, code.as_str()), (200, "cursor_loop"));
        }
        other => panic!("expected a permanent cursor_loop error, got {other:?}"),
    }
    let cursors: Vec<_> = seen
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|q| q.get("cursor").cloned())
        .collect();
    assert_eq!(cursors, [None, Some("stuck".to_owned())]);
}
