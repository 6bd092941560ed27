//! The sync queue at scale: how long a claim takes with a million rows queued,
//! and which plan the database uses for it.

use std::time::{Duration, Instant};

use atlas::db::{Backend, Db, encode_ts, now};
use atlas::store::queue::{self, Direction, NewItem};
use sqlx::Row;

use crate::stats::summary;

const CLAIMS: usize = 200;
const ENQUEUES: usize = 1_000;

pub async fn run(url: &str, rows: i64) -> anyhow::Result<()> {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let started = Instant::now();
    fill(&db, rows).await?;
    println!(
        "filled the queue with {rows} rows in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    println!("\nclaim plan:\n{}", plan(&db).await?);
    println!(
        "claim of 32 items:     {}",
        summary(time_claims(&db).await?)
    );
    println!(
        "enqueue (coalescing):  {}",
        summary(time_enqueues(&db).await?)
    );
    let depth = Instant::now();
    queue::depth(db.pool()).await?;
    println!(
        "queue depth (status):  {:.2} ms",
        depth.elapsed().as_secs_f64() * 1000.0
    );
    Ok(())
}

/// The median claim of 32 items with `rows` rows queued (the queue is emptied
/// and refilled first).
pub async fn claim_median(db: &Db, rows: i64) -> anyhow::Result<Duration> {
    sqlx::query("DELETE FROM sync_queue")
        .execute(db.pool())
        .await?;
    fill(db, rows).await?;
    let mut samples = time_claims(db).await?;
    samples.sort_unstable();
    Ok(samples[samples.len() / 2])
}

/// `rows` items: 88% pending (due across a day), 10% failed, 2% in flight.
async fn fill(db: &Db, rows: i64) -> anyhow::Result<()> {
    let sql = match db.backend() {
        Backend::Postgres => {
            "INSERT INTO sync_queue (lane, direction, task_id, status, attempts, next_attempt_at, \
             reason, created_at, updated_at) \
             SELECT md5(i::text), CASE WHEN i % 3 = 0 THEN 'pull' ELSE 'push' END, md5(i::text), \
               CASE WHEN i % 10 = 0 THEN 'failed' WHEN i % 50 = 1 THEN 'in_flight' ELSE 'pending' END, \
               i % 4, to_char(timestamp '2026-01-01' + (i % 86400) * interval '1 second', \
               'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"'), 'bench', '2026-01-01T00:00:00.000000Z', \
               '2026-01-01T00:00:00.000000Z' FROM generate_series(1, $1) AS i"
        }
        Backend::Sqlite => {
            "WITH RECURSIVE seq(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM seq WHERE i < $1) \
             INSERT INTO sync_queue (lane, direction, task_id, status, attempts, next_attempt_at, \
             reason, created_at, updated_at) \
             SELECT printf('%032x', i), CASE WHEN i % 3 = 0 THEN 'pull' ELSE 'push' END, printf('%032x', i), \
               CASE WHEN i % 10 = 0 THEN 'failed' WHEN i % 50 = 1 THEN 'in_flight' ELSE 'pending' END, \
               i % 4, strftime('%Y-%m-%dT%H:%M:%S.000000Z', '2026-01-01', '+' || (i % 86400) || ' seconds'), \
               'bench', '2026-01-01T00:00:00.000000Z', '2026-01-01T00:00:00.000000Z' FROM seq"
        }
    };
    sqlx::query(sql).bind(rows).execute(db.pool()).await?;
    sqlx::query("ANALYZE").execute(db.pool()).await?;
    Ok(())
}

/// The plan of the claim statement, as the database explains it.
async fn plan(db: &Db) -> anyhow::Result<String> {
    let explain = match db.backend() {
        Backend::Postgres => "EXPLAIN ANALYZE ",
        Backend::Sqlite => "EXPLAIN QUERY PLAN ",
    };
    let sql = format!("{explain}{}", queue::claim_sql(db.backend()));
    let mut tx = db.begin_write().await?;
    let rows = sqlx::query(&sql)
        .bind("bench")
        .bind(encode_ts(&now()))
        .bind(encode_ts(&now()))
        .bind(32_i64)
        .fetch_all(&mut *tx)
        .await?;
    tx.rollback().await?;
    let column = match db.backend() {
        Backend::Postgres => 0,
        Backend::Sqlite => 3,
    };
    let lines: Result<Vec<String>, _> = rows
        .iter()
        .map(|r| r.try_get::<String, _>(column))
        .collect();
    Ok(lines?
        .iter()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Claims of a batch of 32, each rolled back so the queue stays as filled.
async fn time_claims(db: &Db) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(CLAIMS);
    for _ in 0..CLAIMS {
        let mut tx = db.begin_write().await?;
        let started = Instant::now();
        let lease = now() + chrono::Duration::minutes(1);
        let items = queue::claim(&mut tx, db.backend(), "bench", lease, now(), 32).await?;
        samples.push(started.elapsed());
        anyhow::ensure!(
            items.len() == 32,
            "the claim found only {} items",
            items.len()
        );
        tx.rollback().await?;
    }
    Ok(samples)
}

/// Enqueues into existing lanes (coalescing) and new ones, one transaction each.
async fn time_enqueues(db: &Db) -> anyhow::Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(ENQUEUES);
    for i in 0..ENQUEUES {
        let lane = if i % 2 == 0 {
            format!("{:032x}", i + 2)
        } else {
            uuid::Uuid::new_v4().to_string()
        };
        let item = NewItem {
            lane: &lane,
            direction: Direction::Push,
            task_id: None,
            remote_id: None,
            hint_version: None,
            reason: "bench",
            due_at: now(),
            slide_since: None,
        };
        let started = Instant::now();
        let mut tx = db.begin_write().await?;
        queue::enqueue(&mut tx, &item, now()).await?;
        tx.commit().await?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}
