//! Onboarding existing data: `atlas import` and `atlas sync backfill`.

use std::io::Write;

use altimeter_api::{CreateTask, TaskFields};
use altimeter_sim::{SimConfig, SimHandle};
use atlas::db::Db;
use atlas::sync::backfill::{self, Options, Silent};
use atlas::sync::outbox::Outbox;
use tokio::net::TcpListener;

use crate::common::{Backend, fresh_db, on_both_backends};
use crate::sync_harness::{API_KEY, test_sync_config};

on_both_backends!(
    import_keeps_good_rows_and_reports_bad_ones_by_line,
    backfill_links_legacy_tasks_and_resumes,
    import_ids_follow_content_not_line_numbers,
);

/// Against `--rate-limit 10`, the run paces itself: it waits for the next
/// window when `X-Rate-Limit-Remaining` says this one is used up, waits out a
/// `429`'s `Retry-After`, and no task ends "could not check".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_waits_out_the_rate_limit_and_checks_every_task() {
    use atlas::sync::pacing::Hold;

    #[derive(Default)]
    struct Waits(std::sync::Mutex<Vec<Hold>>);
    impl backfill::Progress for Waits {
        fn start(&self, _total: u64) {}
        fn advance(&self) {}
        fn waiting(&self, _wait: std::time::Duration, why: Hold) {
            self.0.lock().unwrap().push(why);
        }
    }

    let Some(db) = fresh_db(Backend::Sqlite).await else {
        return;
    };
    let n = 40;
    let sim = legacy_sim(n).await;
    let rows: Vec<String> = sim
        .state()
        .tasks()
        .iter()
        .map(|r| {
            serde_json::json!({"title": r.fields.title, "related_altimeter_task_id": r.id})
                .to_string()
        })
        .collect();
    let outbox = Outbox::new(db.backend(), std::time::Duration::ZERO);
    let path = write_temp("legacy.jsonl", &rows.join("\n"));
    atlas::import::import_file(&db, &outbox, &path, "legacy")
        .await
        .unwrap();
    sim.state().set_faults(altimeter_sim::Faults {
        rate_limit: Some(10),
        ..Default::default()
    });
    let config = test_sync_config(&sim.base_url());
    let engine = atlas::sync::engine(&db, &config, &outbox).unwrap().unwrap();
    let waits = Waits::default();
    let options = Options {
        dry_run: false,
        batch: 500,
    };
    let report = backfill::run(&engine, options, &waits).await.unwrap();
    assert_eq!(
        (report.linked as usize, report.failed, report.missing),
        (n, 0, 0),
        "{report:?}"
    );
    assert_eq!(linked(&db).await as usize, n);
    let waits = waits.0.lock().unwrap();
    assert!(
        waits.contains(&Hold::WindowUsedUp),
        "40 calls at 10 a second must wait for a window: {waits:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_legacy_tasks_backfill_in_one_run() {
    backfill_scenario(Backend::Sqlite, 5_000).await;
}

async fn backfill_links_legacy_tasks_and_resumes(backend: Backend) {
    backfill_scenario(backend, 120).await;
}

/// A row's id comes from what it says: the same rows in a re-export with one
/// more row above them are found again, two rows that say the same are one
/// task (the second refused), and a byte-order mark opens a JSON-lines file.
async fn import_ids_follow_content_not_line_numbers(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let outbox = Outbox::new(db.backend(), std::time::Duration::ZERO);
    let rows = [
        r#"{"title": "Pour slab", "status": "done"}"#,
        r#"{"title": "Order rebar"}"#,
        r#"{"title": "Frame level 2", "assignee": "Ana"}"#,
    ];
    let first = write_temp("first.jsonl", &format!("\u{feff}{}", rows.join("\n")));
    let report = atlas::import::import_file(&db, &outbox, &first, "test")
        .await
        .unwrap();
    assert_eq!((report.imported, report.errors.len()), (3, 0), "{report:?}");
    let shifted = format!(
        r#"{{"title": "Inspect anchors"}}{}{}"#,
        "\n",
        rows.join("\n")
    );
    let second = write_temp("second.jsonl", &shifted);
    let again = atlas::import::import_file(&db, &outbox, &second, "test")
        .await
        .unwrap();
    assert_eq!(
        (again.imported, again.already_present),
        (1, 3),
        "only the new row is imported"
    );
    let twice = write_temp("twice.jsonl", &[rows[1], rows[1]].join("\n"));
    let report = atlas::import::import_file(&db, &outbox, &twice, "test")
        .await
        .unwrap();
    assert_eq!(report.already_present, 1);
    assert_eq!(report.errors.len(), 1, "{report:?}");
    assert_eq!(report.errors[0].0, 2);
    assert!(
        report.errors[0].1.contains("same task as line 1"),
        "{report:?}"
    );
    let (tasks,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tasks")
        .fetch_one(db.pool())
        .await
        .unwrap();
    assert_eq!(tasks, 4);
}

fn write_temp(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("atlas-import-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::File::create(&path)
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    path
}

async fn import_keeps_good_rows_and_reports_bad_ones_by_line(backend: Backend) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let outbox = Outbox::new(db.backend(), std::time::Duration::ZERO);
    let jsonl = [
        r#"{"title": "Pour slab", "status": "done", "related_altimeter_task_id": "alt_1"}"#,
        r#"{"title": "", "status": "open"}"#,
        "",
        r#"{"title": "Order rebar", "due_date": "2026-02-30"}"#,
        r#"not json"#,
        r#"{"id": "0190d8a0-0000-7000-8000-000000000001", "title": "Frame", "version": 4, "sync_status": "synced"}"#,
        r#"{"title": "Old", "deleted": true}"#,
        r#"{"title": "Paint", "colour": "red"}"#,
    ]
    .join("\n");
    let path = write_temp("export.jsonl", &jsonl);
    let report = atlas::import::import_file(&db, &outbox, &path, "test")
        .await
        .unwrap();
    assert_eq!(report.imported, 2);
    let lines: Vec<u64> = report.errors.iter().map(|(line, _)| *line).collect();
    assert_eq!(lines, [2, 4, 5, 7, 8]);
    assert!(
        report.errors[1].1.contains("due_date"),
        "{:?}",
        report.errors
    );
    // Importing again changes nothing.
    let again = atlas::import::import_file(&db, &outbox, &path, "test")
        .await
        .unwrap();
    assert_eq!((again.imported, again.already_present), (0, 2));
    // Only the task without a legacy link is queued to push.
    assert_eq!(
        atlas::store::queue::depth(db.pool()).await.unwrap().pending,
        1
    );

    let csv = "title,status,assignee,due_date,related_altimeter_task_id\n\
               Inspect anchors,open,Ana,2026-12-01,\n\
               Bad status,closed,,,\n\
               \"Quoted, title\",blocked,,,alt_9\n\
               Too,many,cells,in,this,row\n";
    let report = atlas::import::import_file(&db, &outbox, &write_temp("export.csv", csv), "test")
        .await
        .unwrap();
    assert_eq!(report.imported, 2);
    assert_eq!(
        report.errors.iter().map(|(l, _)| *l).collect::<Vec<_>>(),
        [3, 5],
        "{:?}",
        report.errors
    );
}

async fn legacy_sim(remote_tasks: usize) -> SimHandle {
    let sim = altimeter_sim::spawn(
        SimConfig::new(API_KEY),
        TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    for i in 0..remote_tasks {
        let body = CreateTask {
            external_id: None,
            fields: TaskFields::titled(format!("Legacy task {i}")),
        };
        sim.state().create_task(body, None).unwrap();
    }
    sim
}

async fn backfill_scenario(backend: Backend, n: usize) {
    let Some(db) = fresh_db(backend).await else {
        return;
    };
    let sim = legacy_sim(n).await;
    let mut remote = sim.state().tasks();
    remote.sort_by_key(|r| r.fields.title.clone());
    // Every remote task has a legacy local twin; two differ, one link is dead.
    let mut rows: Vec<String> = remote
        .iter()
        .map(|r| {
            serde_json::json!({"title": r.fields.title, "related_altimeter_task_id": r.id})
                .to_string()
        })
        .collect();
    rows[0] =
        serde_json::json!({"title": "Edited locally", "related_altimeter_task_id": remote[0].id})
            .to_string();
    rows[1] =
        serde_json::json!({"title": "Also edited", "related_altimeter_task_id": remote[1].id})
            .to_string();
    rows.push(
        serde_json::json!({"title": "Dead link", "related_altimeter_task_id": "alt_gone"})
            .to_string(),
    );
    let outbox = Outbox::new(db.backend(), std::time::Duration::ZERO);
    let path = write_temp("legacy.jsonl", &rows.join("\n"));
    let imported = atlas::import::import_file(&db, &outbox, &path, "legacy")
        .await
        .unwrap();
    assert_eq!(imported.imported as usize, n + 1);
    let never_linked = insert_unqueued_task(&db).await;

    let config = test_sync_config(&sim.base_url());
    let engine = atlas::sync::engine(&db, &config, &outbox).unwrap().unwrap();
    let dry = backfill::run(
        &engine,
        Options {
            dry_run: true,
            batch: 500,
        },
        &Silent,
    )
    .await
    .unwrap();
    assert_eq!(
        (dry.candidates as usize, dry.linked as usize, dry.missing),
        (n + 1, n, 1)
    );
    assert_eq!(linked(&db).await, 0, "a dry run changes nothing");

    let report = backfill::run(
        &engine,
        Options {
            dry_run: false,
            batch: 500,
        },
        &Silent,
    )
    .await
    .unwrap();
    assert_eq!(
        (
            report.linked as usize,
            report.conflicts,
            report.missing,
            report.failed
        ),
        (n, 2, 1, 0)
    );
    assert_eq!(report.queued_pushes, 1);
    assert_eq!(linked(&db).await as usize, n);
    let queued = atlas::store::queue::for_task(db.pool(), never_linked)
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);

    let second = backfill::run(
        &engine,
        Options {
            dry_run: false,
            batch: 500,
        },
        &Silent,
    )
    .await
    .unwrap();
    assert_eq!(
        (second.candidates, second.linked, second.queued_pushes),
        (1, 0, 0),
        "only the dead link is left"
    );
}

async fn linked(db: &Db) -> i64 {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tasks WHERE remote_id IS NOT NULL")
        .fetch_one(db.pool())
        .await
        .unwrap();
    n
}

/// A task from before the outbox existed: no queue item, never linked.
async fn insert_unqueued_task(db: &Db) -> uuid::Uuid {
    let at = atlas::db::now();
    let task =
        atlas::model::Task::new(uuid::Uuid::now_v7(), TaskFields::titled("Never synced"), at);
    atlas::store::tasks::insert(&mut db.pool().acquire().await.unwrap(), &task)
        .await
        .unwrap();
    task.id
}
