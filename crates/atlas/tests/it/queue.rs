//! The sync queue's storage rules, identically on SQLite and PostgreSQL:
//! coalescing, leases, fencing, failure bookkeeping.

use atlas::db::{Db, now};
use atlas::store::queue::{self, Direction, NewItem};
use chrono::Duration;
use uuid::Uuid;

use crate::common::{Backend, fresh_db, on_both_backends, spawn_app};

on_both_backends!(
    pending_items_of_a_lane_coalesce,
    a_burst_of_edits_slides_its_push_until_the_cap,
    pull_hints_keep_the_newest_version_unless_one_forces_a_read,
    a_lane_with_work_in_flight_is_skipped,
    an_expired_lease_is_reclaimed_and_its_holder_fenced_out,
    a_retry_folds_into_a_newer_pending_item,
    only_the_newest_failure_is_kept_and_retry_failed_requeues_it,
    failed_items_are_listed_page_by_page,
    concurrent_claims_never_put_two_items_of_one_lane_in_flight,
);

fn push(lane: &str, due_in_ms: i64) -> NewItem<'_> {
    NewItem {
        lane,
        direction: Direction::Push,
        task_id: Some(Uuid::parse_str(lane).unwrap_or_else(|_| Uuid::nil())),
        remote_id: None,
        hint_version: None,
        reason: "test",
        due_at: now() + Duration::milliseconds(due_in_ms),
        slide_since: None,
    }
}

async fn enqueue(db: &Db, item: NewItem<'_>) {
    let mut conn = db.pool().acquire().await.unwrap();
    queue::enqueue(&mut conn, &item, now()).await.unwrap();
}

async fn claim(db: &Db, owner: &str, lease_ms: i64) -> Vec<queue::QueueItem> {
    let mut tx = db.begin_write().await.unwrap();
    let items = queue::claim(
        &mut tx,
        db.backend(),
        owner,
        now() + Duration::milliseconds(lease_ms),
        now(),
        10,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    items
}

async fn pending_items_of_a_lane_coalesce(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let lane = Uuid::now_v7().to_string();
    for _ in 0..10 {
        enqueue(&db, push(&lane, -10)).await;
    }
    let mut pull = push(&lane, -10);
    pull.direction = Direction::Pull;
    pull.remote_id = Some("alt_1");
    enqueue(&db, pull).await;
    assert_eq!(queue::depth(db.pool()).await.unwrap().pending, 2);
    // A later due time does not postpone the coalesced item.
    let due_before = queue::next_due(db.pool()).await.unwrap().unwrap();
    enqueue(&db, push(&lane, 60_000)).await;
    assert_eq!(
        queue::next_due(db.pool()).await.unwrap().unwrap(),
        due_before
    );
}

async fn a_burst_of_edits_slides_its_push_until_the_cap(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let lane = Uuid::now_v7().to_string();
    let debounced = |due_in_ms, since_ms| NewItem {
        slide_since: Some(now() - Duration::milliseconds(since_ms)),
        ..push(&lane, due_in_ms)
    };
    enqueue(&db, debounced(100, 1_000)).await;
    let first = queue::next_due(db.pool()).await.unwrap().unwrap();
    enqueue(&db, debounced(500, 1_000)).await;
    let slid = queue::next_due(db.pool()).await.unwrap().unwrap();
    assert!(
        slid > first,
        "a new edit within the window moves the push later"
    );
    // Past the cap (the pending item is older than `slide_since`) it no longer moves.
    enqueue(&db, debounced(5_000, -60_000)).await;
    assert_eq!(queue::next_due(db.pool()).await.unwrap().unwrap(), slid);
}

async fn pull_hints_keep_the_newest_version_unless_one_forces_a_read(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let lane = Uuid::now_v7().to_string();
    let pull = |hint| NewItem {
        direction: Direction::Pull,
        remote_id: Some("alt_7"),
        hint_version: hint,
        ..push(&lane, -10)
    };
    enqueue(&db, pull(Some(5))).await;
    enqueue(&db, pull(Some(3))).await;
    enqueue(&db, pull(Some(8))).await;
    assert_eq!(claim(&db, "w", 60_000).await[0].hint_version, Some(8));
    let lane2 = Uuid::now_v7().to_string();
    let forced = |hint| NewItem {
        lane: &lane2,
        ..pull(hint)
    };
    enqueue(&db, forced(Some(5))).await;
    enqueue(&db, forced(None)).await;
    enqueue(&db, forced(Some(9))).await;
    assert_eq!(claim(&db, "w", 60_000).await[0].hint_version, None);
}

async fn a_lane_with_work_in_flight_is_skipped(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let (a, b) = (Uuid::now_v7().to_string(), Uuid::now_v7().to_string());
    enqueue(&db, push(&a, -10)).await;
    enqueue(&db, push(&b, 60_000)).await;
    let first = claim(&db, "w1", 60_000).await;
    assert_eq!(first.len(), 1, "only the due item");
    assert_eq!((first[0].lane.as_str(), first[0].attempts), (a.as_str(), 1));
    enqueue(&db, push(&a, -10)).await;
    assert!(
        claim(&db, "w2", 60_000).await.is_empty(),
        "lane a is in flight"
    );
    let mut conn = db.pool().acquire().await.unwrap();
    queue::finish(&mut conn, &first[0]).await.unwrap();
    drop(conn);
    assert_eq!(claim(&db, "w2", 60_000).await.len(), 1);
}

async fn an_expired_lease_is_reclaimed_and_its_holder_fenced_out(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let lane = Uuid::now_v7().to_string();
    enqueue(&db, push(&lane, -10)).await;
    let held = claim(&db, "crashed", -1).await;
    assert_eq!(held.len(), 1);
    let mut tx = db.begin_write().await.unwrap();
    assert!(
        !queue::holds_lease(&mut tx, db.backend(), held[0].id, "crashed", now())
            .await
            .unwrap()
    );
    let touched = queue::reclaim_expired(&mut tx, now()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(touched.len(), 1);
    let again = claim(&db, "healthy", 60_000).await;
    assert_eq!((again[0].id, again[0].attempts), (held[0].id, 2));
    let mut tx = db.begin_write().await.unwrap();
    assert!(
        queue::holds_lease(&mut tx, db.backend(), again[0].id, "healthy", now())
            .await
            .unwrap()
    );
    assert!(
        !queue::holds_lease(&mut tx, db.backend(), again[0].id, "crashed", now())
            .await
            .unwrap()
    );
}

async fn a_retry_folds_into_a_newer_pending_item(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let lane = Uuid::now_v7().to_string();
    enqueue(&db, push(&lane, -10)).await;
    let item = claim(&db, "w", 60_000).await.remove(0);
    enqueue(&db, push(&lane, -10)).await;
    let mut conn = db.pool().acquire().await.unwrap();
    let later = now() + Duration::seconds(30);
    queue::requeue(&mut conn, &item, 1, later, Some("503"), now())
        .await
        .unwrap();
    drop(conn);
    let depth = queue::depth(db.pool()).await.unwrap();
    assert_eq!((depth.pending, depth.in_flight), (1, 0));
    assert_eq!(
        queue::next_due(db.pool()).await.unwrap().unwrap(),
        atlas::db::decode_ts(&atlas::db::encode_ts(&later)).unwrap()
    );
    assert!(
        claim(&db, "w", 60_000).await.is_empty(),
        "the backoff carries over"
    );
}

async fn only_the_newest_failure_is_kept_and_retry_failed_requeues_it(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let lane = Uuid::now_v7().to_string();
    for error in ["first", "second"] {
        enqueue(&db, push(&lane, -10)).await;
        let item = claim(&db, "w", 60_000).await.remove(0);
        let mut conn = db.pool().acquire().await.unwrap();
        queue::fail(&mut conn, &item, error, now()).await.unwrap();
    }
    let failed = queue::failed(db.pool(), None, 10).await.unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].last_error.as_deref(), Some("second"));
    let mut tx = db.begin_write().await.unwrap();
    let touched = queue::retry_failed(&mut tx, None, now()).await.unwrap();
    tx.commit().await.unwrap();
    assert_eq!(touched.len(), 1);
    let depth = queue::depth(db.pool()).await.unwrap();
    assert_eq!((depth.pending, depth.failed), (1, 0));
    assert_eq!(
        claim(&db, "w", 60_000).await[0].attempts,
        1,
        "a fresh count"
    );
}

/// `/admin/sync/failed` pages like every other list: walking its cursors sees
/// every failed item once, newest first, however many there are.
async fn failed_items_are_listed_page_by_page(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut failed_ids = Vec::new();
    for n in 0..5 {
        let lane = Uuid::now_v7().to_string();
        enqueue(&app.db, push(&lane, -10)).await;
        let item = claim(&app.db, "w", 60_000).await.remove(0);
        let mut conn = app.db.pool().acquire().await.unwrap();
        queue::fail(&mut conn, &item, &format!("failure {n}"), now())
            .await
            .unwrap();
        failed_ids.push(item.id);
    }
    let mut seen = Vec::new();
    let mut path = "/admin/sync/failed?limit=2".to_owned();
    loop {
        let page: serde_json::Value = app.get_json(&path).await;
        let data = page["data"].as_array().unwrap();
        assert!(data.len() <= 2, "{page}");
        seen.extend(data.iter().map(|item| item["id"].as_i64().unwrap()));
        match page["next_cursor"].as_str() {
            Some(cursor) => path = format!("/admin/sync/failed?limit=2&cursor={cursor}"),
            None => break,
        }
    }
    failed_ids.reverse();
    assert_eq!(seen, failed_ids, "every failed item once, newest first");
    let response = app
        .get("/admin/sync/failed?cursor=nonsense", &app.viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
}

/// Several workers claiming at once (on PostgreSQL, really at once): each lane
/// has a push and a pull due, and one worker may hold both (it works them in
/// order) but two workers may never hold one lane.
async fn concurrent_claims_never_put_two_items_of_one_lane_in_flight(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let lanes: Vec<String> = (0..300).map(|_| Uuid::new_v4().to_string()).collect();
    for (i, lane) in lanes.iter().enumerate() {
        // Each lane's pull is due just after its push, and batches of 7 split
        // lanes: a lane's two items are claimed by different claims.
        let due = -10_000 + 10 * i as i64;
        enqueue(&db, push(lane, due)).await;
        let pull = NewItem {
            direction: Direction::Pull,
            remote_id: Some("alt_x"),
            ..push(lane, due + 5)
        };
        enqueue(&db, pull).await;
    }
    let claimers = (0..6).map(|n| {
        let db = db.clone();
        tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let mut tx = db.begin_write().await.unwrap();
                let items = queue::claim(
                    &mut tx,
                    db.backend(),
                    &format!("worker-{n}"),
                    now() + Duration::seconds(60),
                    now(),
                    7,
                )
                .await
                .unwrap();
                // A worker does a little more before its claim commits.
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                tx.commit().await.unwrap();
                if items.is_empty() {
                    return mine;
                }
                mine.extend(items);
            }
        })
    });
    let mut claimed = Vec::new();
    for claimer in claimers {
        claimed.extend(claimer.await.unwrap());
    }
    let mut owners = std::collections::HashMap::<String, std::collections::BTreeSet<String>>::new();
    for item in &claimed {
        let owner = item.lease_owner.clone().unwrap_or_default();
        owners.entry(item.lane.clone()).or_default().insert(owner);
    }
    let shared: Vec<_> = owners.iter().filter(|(_, o)| o.len() > 1).collect();
    assert!(
        shared.is_empty(),
        "lanes held by two workers at once: {shared:?}"
    );
    assert_eq!(owners.len(), lanes.len(), "every lane was claimed");
}
