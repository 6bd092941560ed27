use super::*;

fn create(store: &mut Store, title: &str, now: DateTime<Utc>) -> RemoteTask {
    let request = CreateTask {
        external_id: Some(format!("ext-{title}")),
        fields: TaskFields::titled(title),
    };
    store.create(request, None, now).unwrap().task
}

/// Pages through the whole listing, calling `between` after each page.
fn page_all(
    store: &mut Store,
    limit: usize,
    mut between: impl FnMut(&mut Store, usize),
) -> Vec<String> {
    let (mut seen, mut after, mut page_no) = (Vec::new(), None, 0);
    loop {
        let (page, more) = store.list(None, after.clone(), limit);
        seen.extend(page.iter().map(|t| t.id.clone()));
        let last = page.last().map(|t| (t.updated_at, t.id.clone()));
        between(store, page_no);
        page_no += 1;
        if !more {
            return seen;
        }
        after = last;
    }
}

#[test]
fn changes_bump_version_and_stamps_only_move_forward() {
    let mut store = Store::default();
    let now = Utc::now();
    let a = create(&mut store, "a", now);
    let b = create(&mut store, "b", now);
    assert_eq!((a.version, b.version), (1, 1));
    assert!(
        b.updated_at > a.updated_at,
        "same clock reading, later stamp"
    );
    let a2 = store
        .update(&a.id, TaskFields::titled("a2"), None, now)
        .unwrap();
    assert_eq!(a2.version, 2);
    assert!(a2.updated_at > b.updated_at);
    assert_eq!(a2.created_at, a.created_at);
}

#[test]
fn stale_if_match_is_refused_with_the_current_task() {
    let mut store = Store::default();
    let now = Utc::now();
    let a = create(&mut store, "a", now);
    store
        .update(&a.id, TaskFields::titled("a2"), Some(1), now)
        .unwrap();
    match store.update(&a.id, TaskFields::titled("a3"), Some(1), now) {
        Err(StoreError::VersionMismatch(current)) => assert_eq!(current.version, 2),
        other => panic!("expected a mismatch, got {other:?}"),
    }
    assert!(matches!(
        store.delete(&a.id, Some(1), now),
        Err(StoreError::VersionMismatch(_))
    ));
    assert_eq!(store.get(&a.id).unwrap().fields.title, "a2");
}

#[test]
fn deleted_tasks_are_tombstones() {
    let mut store = Store::default();
    let now = Utc::now();
    let a = create(&mut store, "a", now);
    let tombstone = store.delete(&a.id, Some(1), now).unwrap();
    assert!(tombstone.deleted);
    assert_eq!(tombstone.version, 2);
    for result in [
        store.get(&a.id),
        store.update(&a.id, TaskFields::titled("x"), None, now),
        store.delete(&a.id, None, now),
    ] {
        assert_eq!(result, Err(StoreError::Gone(Box::new(tombstone.clone()))));
    }
    assert_eq!(store.get("alt_missing"), Err(StoreError::NotFound));
    assert_eq!(store.list(None, None, 10).0, vec![tombstone]);
}

#[test]
fn idempotency_keys_replay_or_refuse() {
    let mut store = Store::default();
    let now = Utc::now();
    let request = CreateTask {
        external_id: None,
        fields: TaskFields::titled("a"),
    };
    let first = store.create(request.clone(), Some("k"), now).unwrap();
    let again = store.create(request.clone(), Some("k"), now).unwrap();
    assert!(!first.replayed && again.replayed);
    assert_eq!(again.task, first.task);
    assert_eq!(store.len(), 1);
    let other = CreateTask {
        external_id: None,
        fields: TaskFields::titled("b"),
    };
    assert_eq!(
        store.create(other, Some("k"), now).unwrap_err(),
        StoreError::IdempotencyKeyReused
    );
}

#[test]
fn paging_never_skips_an_unchanged_task_under_concurrent_writes() {
    let mut store = Store::default();
    let now = Utc::now();
    let ids: Vec<_> = (0..7)
        .map(|i| create(&mut store, &i.to_string(), now).id)
        .collect();
    let seen = page_all(&mut store, 2, |store, page_no| {
        if page_no == 0 {
            // One task already returned and one not yet returned change meanwhile.
            store
                .update(&ids[0], TaskFields::titled("x"), None, now)
                .unwrap();
            store
                .update(&ids[4], TaskFields::titled("y"), None, now)
                .unwrap();
        }
    });
    for id in &ids {
        assert!(seen.contains(id), "{id} was skipped");
    }
    let tail: Vec<_> = seen[seen.len() - 2..].to_vec();
    assert_eq!(
        tail,
        [ids[0].clone(), ids[4].clone()],
        "changed tasks come again, last"
    );
}

#[test]
fn since_is_inclusive_and_combines_with_the_cursor() {
    let mut store = Store::default();
    let now = Utc::now();
    let tasks: Vec<_> = (0..4)
        .map(|i| create(&mut store, &i.to_string(), now))
        .collect();
    let (page, more) = store.list(Some(tasks[1].updated_at), None, 10);
    assert_eq!(page, tasks[1..]);
    assert!(!more);
    let (page, more) = store.list(Some(tasks[1].updated_at), None, 2);
    assert_eq!(page, tasks[1..3]);
    assert!(more);
    let after = (tasks[2].updated_at, tasks[2].id.clone());
    assert_eq!(
        store
            .list(Some(tasks[1].updated_at), Some(after.clone()), 2)
            .0,
        tasks[3..]
    );
    let early = (tasks[0].updated_at, tasks[0].id.clone());
    assert_eq!(
        store.list(Some(tasks[2].updated_at), Some(early), 10).0,
        tasks[2..]
    );
}

#[test]
fn a_reloaded_store_keeps_order_and_stamps_moving_forward() {
    let mut store = Store::default();
    let now = Utc::now();
    let a = create(&mut store, "a", now);
    store
        .create(
            CreateTask {
                external_id: None,
                fields: TaskFields::titled("b"),
            },
            Some("k"),
            now,
        )
        .unwrap();
    let (tasks, keys) = store.parts();
    let mut reloaded = Store::from_parts(tasks.clone(), keys, now);
    assert_eq!(reloaded.all(), tasks);
    assert_eq!(
        reloaded.find_by_external_id("ext-a").map(|t| t.id.clone()),
        Some(a.id)
    );
    let again = reloaded
        .create(
            CreateTask {
                external_id: None,
                fields: TaskFields::titled("b"),
            },
            Some("k"),
            now,
        )
        .unwrap();
    assert!(again.replayed);
    let c = create(&mut reloaded, "c", now);
    assert!(c.updated_at > tasks[1].updated_at);
}

#[test]
fn coarse_stamps_are_whole_seconds_that_tie_and_never_go_back() {
    let mut store = Store::default();
    store.set_coarse_timestamps(true);
    let now = Utc::now().trunc_subsecs(0) + TimeDelta::milliseconds(300);
    let a = create(&mut store, "a", now);
    let b = create(&mut store, "b", now + TimeDelta::milliseconds(400));
    assert_eq!(a.updated_at, now.trunc_subsecs(0));
    assert_eq!(b.updated_at, a.updated_at, "same second, same stamp");
    // A clock that steps back still stamps no earlier than the last change.
    let c = create(&mut store, "c", now - TimeDelta::seconds(5));
    assert_eq!(c.updated_at, a.updated_at);
    let later = create(&mut store, "d", now + TimeDelta::seconds(2));
    assert_eq!(
        later.updated_at,
        now.trunc_subsecs(0) + TimeDelta::seconds(2)
    );
    // Ties list in id order, so a page boundary inside one second is exact.
    let ids = page_all(&mut store, 1, |_, _| {});
    let mut tied = vec![a.id, b.id, c.id];
    tied.sort();
    tied.push(later.id);
    assert_eq!(ids, tied);
}
