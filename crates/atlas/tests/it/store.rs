//! The storage layer, run identically against SQLite and PostgreSQL.

use altimeter_api::{Priority, Status, TaskFields};
use atlas::auth::{self, Role};
use atlas::db::{Db, now};
use atlas::model::{HistorySource, Snapshot, SyncStatus, Task};
use atlas::store::history::{self, Origin};
use atlas::store::{tasks, tokens};
use chrono::NaiveDate;
use uuid::Uuid;

use crate::common::{Backend, fresh_database_url, fresh_db, on_both_backends};

on_both_backends!(
    every_field_round_trips,
    update_refuses_a_stale_version,
    a_link_write_never_overwrites_a_link_it_did_not_read,
    history_keeps_versions_in_order,
    tokens_authenticate_until_revoked,
    readiness_follows_migrations,
);

fn sample_task() -> Task {
    let at = now();
    Task {
        id: Uuid::now_v7(),
        fields: TaskFields {
            title: "Béton: 50 sacs, niveau 3 — «urgent»".into(),
            description: "line 1\nline 2 with 'quotes' and \"double\"".into(),
            status: Status::Blocked,
            priority: Priority::Urgent,
            assignee: Some("Zoë".into()),
            due_date: NaiveDate::from_ymd_opt(2028, 2, 29),
        },
        version: 3,
        created_at: at,
        updated_at: at,
        deleted: false,
        remote_id: Some("alt_123".into()),
        remote_version: Some(7),
        last_synced_at: Some(at),
        sync_status: SyncStatus::Synced,
        sync_error: None,
        related_altimeter_task_id: Some("legacy-9".into()),
        sync_base: Some(Snapshot {
            fields: TaskFields::titled("base"),
            deleted: false,
        }),
        link_generation: 2,
        create_attempted_at: Some(at),
        create_sent: Some(atlas::model::SentCreate {
            generation: 2,
            fields: TaskFields::titled("as first sent"),
        }),
    }
}

async fn every_field_round_trips(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let task = sample_task();
    tasks::insert(&mut db.pool().acquire().await.unwrap(), &task)
        .await
        .unwrap();
    assert_eq!(
        tasks::get(db.pool(), task.id).await.unwrap(),
        Some(task.clone())
    );
    let mut bare = sample_task();
    bare.fields.assignee = None;
    bare.fields.due_date = None;
    bare.remote_id = None;
    bare.remote_version = None;
    bare.last_synced_at = None;
    bare.sync_status = SyncStatus::Error;
    bare.sync_base = None;
    bare.create_attempted_at = None;
    bare.sync_error = Some("Altimeter said 422: title too long".into());
    bare.deleted = true;
    tasks::insert(&mut db.pool().acquire().await.unwrap(), &bare)
        .await
        .unwrap();
    assert_eq!(tasks::get(db.pool(), bare.id).await.unwrap(), Some(bare));
    assert_eq!(tasks::get(db.pool(), Uuid::now_v7()).await.unwrap(), None);
}

async fn update_refuses_a_stale_version(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let task = sample_task();
    tasks::insert(&mut db.pool().acquire().await.unwrap(), &task)
        .await
        .unwrap();
    let mut next = task.clone();
    next.version = 4;
    next.fields.title = "changed".into();
    assert!(
        !tasks::update(&mut db.pool().acquire().await.unwrap(), &next, 2)
            .await
            .unwrap()
    );
    assert_eq!(
        tasks::get(db.pool(), task.id).await.unwrap(),
        Some(task.clone())
    );
    assert!(
        tasks::update(&mut db.pool().acquire().await.unwrap(), &next, 3)
            .await
            .unwrap()
    );
    assert_eq!(tasks::get(db.pool(), task.id).await.unwrap(), Some(next));
}

/// A push that read link v7 and a pull that settled v9 meanwhile: the push's
/// link (v8) must not overwrite the newer one, nor a link of a later generation.
async fn a_link_write_never_overwrites_a_link_it_did_not_read(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let read = sample_task();
    let mut conn = db.pool().acquire().await.unwrap();
    tasks::insert(&mut conn, &read).await.unwrap();
    let link = |version: i64| tasks::Link {
        remote_version: Some(version),
        ..tasks::Link::of(&read)
    };
    assert!(tasks::set_link(&mut conn, &read, &link(9)).await.unwrap());
    assert!(!tasks::set_link(&mut conn, &read, &link(8)).await.unwrap());
    let now = tasks::get(db.pool(), read.id).await.unwrap().unwrap();
    assert_eq!(now.remote_version, Some(9));
    // From what is there now, it applies; an unlinked task (no remote yet) too.
    assert!(tasks::set_link(&mut conn, &now, &link(10)).await.unwrap());
    let mut unlinked = sample_task();
    unlinked.remote_id = None;
    unlinked.remote_version = None;
    tasks::insert(&mut conn, &unlinked).await.unwrap();
    let first = tasks::Link {
        remote_id: Some("alt_new".into()),
        remote_version: Some(1),
        ..tasks::Link::of(&unlinked)
    };
    assert!(tasks::set_link(&mut conn, &unlinked, &first).await.unwrap());
    assert!(!tasks::set_link(&mut conn, &unlinked, &first).await.unwrap());
}

async fn history_keeps_versions_in_order(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let mut task = sample_task();
    tasks::insert(&mut db.pool().acquire().await.unwrap(), &task)
        .await
        .unwrap();
    let origin = Origin {
        source: HistorySource::Local,
        actor: Some("ana"),
    };
    history::record(db.pool(), &task, origin).await.unwrap();
    task.version += 1;
    task.fields.status = Status::Done;
    let remote = Origin {
        source: HistorySource::Remote,
        actor: None,
    };
    history::record(db.pool(), &task, remote).await.unwrap();
    let entries = history::list(db.pool(), task.id, None, 10).await.unwrap();
    assert_eq!(entries.len(), 2);
    assert_eq!(entries[0].source, HistorySource::Local);
    assert_eq!(entries[0].task.fields.status, Status::Blocked);
    assert_eq!(entries[1].source, HistorySource::Remote);
    assert_eq!(entries[1].task.fields, task.fields);
    assert_eq!(entries[1].remote_version, Some(7));
    let after_first = history::list(db.pool(), task.id, Some(entries[0].id), 10)
        .await
        .unwrap();
    assert_eq!(after_first, entries[1..]);
}

async fn tokens_authenticate_until_revoked(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let (token, record) = auth::create_token(&db, "foreman", Role::Editor)
        .await
        .unwrap();
    let caller = auth::authenticate(&db, &token).await.unwrap().unwrap();
    assert_eq!(
        (caller.name.as_str(), caller.role),
        ("foreman", Role::Editor)
    );
    assert_eq!(
        auth::authenticate(&db, &format!("{token}x")).await.unwrap(),
        None
    );
    assert_eq!(auth::authenticate(&db, "").await.unwrap(), None);
    let listed = tokens::list(db.pool()).await.unwrap();
    assert_eq!(listed, vec![record.clone()]);
    assert_eq!(tokens::revoke(db.pool(), &record.id).await.unwrap(), 1);
    assert_eq!(auth::authenticate(&db, &token).await.unwrap(), None);
    assert_eq!(tokens::revoke(db.pool(), &record.id).await.unwrap(), 0);
}

async fn readiness_follows_migrations(backend: Backend) {
    let Some(url) = fresh_database_url(backend).await else {
        return;
    };
    let db = Db::connect(&url).await.unwrap();
    assert!(!db.is_ready().await.unwrap());
    db.migrate().await.unwrap();
    assert!(db.is_ready().await.unwrap());
    db.migrate().await.unwrap();
    assert!(db.is_ready().await.unwrap());
}
