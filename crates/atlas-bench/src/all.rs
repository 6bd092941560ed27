//! `atlas-bench all`: every figure of docs/PERFORMANCE.md in one run, against
//! the simulator and Atlas over loopback. Prints a table, then (with `--json`)
//! one JSON object as the last line. The work is fixed (same tasks, same
//! counts, same order), so two runs do the same work.

use std::time::{Duration, Instant};

use altimeter_api::{CreateTask, TaskFields};
use altimeter_client::{AltimeterClient, ClientConfig};
use altimeter_sim::SimConfig;
use atlas::auth::{self, Role};
use atlas::config::SyncConfig;
use atlas::db::Db;
use futures::StreamExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::net::TcpListener;

use crate::feed::{self, rss_kib};
use crate::queue;
use crate::stats::quantile_ms;
use crate::sync::{self, Rig};

/// How much work a run does.
struct Sizes {
    push_tasks: usize,
    latency_samples: usize,
    claim_small: i64,
    claim_large: i64,
    webhooks: usize,
    ws_clients: usize,
    ws_rounds: usize,
}

impl Sizes {
    fn of(quick: bool) -> Sizes {
        if quick {
            Sizes {
                push_tasks: 2_000,
                latency_samples: 50,
                claim_small: 1_000,
                claim_large: 100_000,
                webhooks: 5_000,
                ws_clients: 10_000,
                ws_rounds: 10,
            }
        } else {
            Sizes {
                push_tasks: 10_000,
                latency_samples: 200,
                claim_small: 1_000,
                claim_large: 1_000_000,
                webhooks: 20_000,
                ws_clients: 10_000,
                ws_rounds: 30,
            }
        }
    }
}

pub async fn run(url: &str, quick: bool, json: bool) -> anyhow::Result<()> {
    let sizes = Sizes::of(quick);
    let concurrency = SyncConfig::unconfigured().concurrency;
    let mut report = serde_json::Map::new();
    let mut put = |key: &str, value: Value| {
        println!("  {key:<36} {value}");
        report.insert(key.to_owned(), value);
    };
    let round = |x: f64| (x * 10.0).round() / 10.0;

    println!("\n[1/6] the Altimeter client alone, {concurrency} calls at once");
    let raw = raw_client(sizes.push_tasks, concurrency).await?;
    put("raw_client_items_per_s", json!(round(raw)));

    println!("\n[2/6] the engine: pushes, latencies, coalescing, webhooks");
    let rig = sync::start(url, |_| {}).await?;
    let (admin, _) = auth::create_token(&rig.db, "bench-admin", Role::Admin).await?;
    put("rss_mb_idle", json!(round(rss_kib() as f64 / 1024.0)));
    let (push, peak_kib) = push_throughput(&rig, &admin, sizes.push_tasks).await?;
    put("push_items_per_s", json!(round(push)));
    put(
        "push_vs_raw_client_ratio",
        json!((push / raw * 100.0).round() / 100.0),
    );
    put("rss_mb_under_load", json!(round(peak_kib as f64 / 1024.0)));
    let local = local_to_remote(&rig, sizes.latency_samples).await?;
    put("e2e_local_to_remote_p50_ms", ms(&local, 0.5));
    put("e2e_local_to_remote_p99_ms", ms(&local, 0.99));
    put(
        "coalesced_calls_per_100_edits",
        json!(coalesced_calls(&rig).await?),
    );
    let ingest = webhook_ingest(&rig, &admin, sizes.webhooks).await?;
    put("webhook_ingest_per_s", json!(round(ingest)));
    rig.shutdown.cancel();

    println!("\n[3/6] the claim, small and large queue");
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let small = queue::claim_median(&db, sizes.claim_small).await?;
    let large = queue::claim_median(&db, sizes.claim_large).await?;
    put("claim_latency_small_ms", json!(ms_of(small)));
    put("claim_latency_large_ms", json!(ms_of(large)));
    put(
        "claim_latency_ratio_large_vs_small",
        json!((large.as_secs_f64() / small.as_secs_f64() * 100.0).round() / 100.0),
    );
    sqlx::query("DELETE FROM sync_queue")
        .execute(db.pool())
        .await?;

    println!("\n[4/6] the live feed, {} clients", sizes.ws_clients);
    let figures = feed::measure(url, sizes.ws_clients, sizes.ws_rounds).await?;
    put("e2e_remote_to_ws_p50_ms", ms(&figures.remote_to_ws, 0.5));
    put("e2e_remote_to_ws_p99_ms", ms(&figures.remote_to_ws, 0.99));
    put("ws_clients", json!(sizes.ws_clients));
    put("ws_broadcast_p99_ms", ms(&figures.broadcast, 0.99));

    println!("\n[5/6] PostgreSQL scale-out: one worker, then two");
    if db.backend() == atlas::db::Backend::Postgres {
        let one = workers_throughput(url, 1, sizes.push_tasks / 2).await?;
        put("pg_workers_1_items_per_s", json!(round(one)));
        let two = workers_throughput(url, 2, sizes.push_tasks / 2).await?;
        put("pg_workers_2_items_per_s", json!(round(two)));
    } else {
        println!("  (only with --database-url postgres://...)");
        put("pg_workers_1_items_per_s", Value::Null);
        put("pg_workers_2_items_per_s", Value::Null);
    }

    println!("\n[6/6] done");
    if json {
        println!("{}", Value::Object(report));
    }
    Ok(())
}

fn ms_of(d: Duration) -> f64 {
    (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0
}

fn ms(samples: &[Duration], q: f64) -> Value {
    quantile_ms(samples, q).map_or(Value::Null, |v| json!((v * 100.0).round() / 100.0))
}

/// Creates per second by the client alone, against a fresh simulator.
async fn raw_client(tasks: usize, concurrency: usize) -> anyhow::Result<f64> {
    let sim = altimeter_sim::spawn(
        SimConfig::new("raw-key"),
        TcpListener::bind("127.0.0.1:0").await?,
    )
    .await?;
    let client = AltimeterClient::new(ClientConfig::new(
        sim.base_url(),
        SecretString::from("raw-key".to_owned()),
    ))?;
    let started = Instant::now();
    let results: Vec<_> = futures::stream::iter(0..tasks)
        .map(|i| {
            let client = client.clone();
            async move {
                let body = CreateTask {
                    external_id: Some(format!("raw-{i}")),
                    fields: TaskFields::titled(format!("Bench task {i}")),
                };
                client.create(&body, &format!("raw-{i}")).await
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    for result in results {
        result?;
    }
    sim.shutdown().await;
    Ok(tasks as f64 / elapsed)
}

/// `tasks` tasks created with sync paused, then timed from resume until all are
/// in Altimeter; also the peak resident memory meanwhile.
async fn push_throughput(rig: &Rig, admin: &str, tasks: usize) -> anyhow::Result<(f64, i64)> {
    admin_post(rig, admin, "/admin/sync/pause").await?;
    sync::create(rig, tasks, 16).await?;
    let started = Instant::now();
    admin_post(rig, admin, "/admin/sync/resume").await?;
    let mut peak = rss_kib();
    while synced(rig).await? < tasks {
        peak = peak.max(rss_kib());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok((tasks as f64 / started.elapsed().as_secs_f64(), peak))
}

async fn admin_post(rig: &Rig, admin: &str, path: &str) -> anyhow::Result<()> {
    rig.http
        .post(format!("{}{path}", rig.base))
        .bearer_auth(admin)
        .send()
        .await?
        .error_for_status()?;
    Ok(())
}

async fn synced(rig: &Rig) -> anyhow::Result<usize> {
    let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tasks WHERE sync_status = 'synced'")
        .fetch_one(rig.db.pool())
        .await?;
    Ok(usize::try_from(n)?)
}

/// `tasks` new tasks pushed by `workers` workers (each with its own leases, as
/// separate processes would have; here they share this process's two cores).
async fn workers_throughput(url: &str, workers: usize, tasks: usize) -> anyhow::Result<f64> {
    let rig = sync::start(url, |config| config.run_worker = false).await?;
    let before = synced(&rig).await?;
    sync::create(&rig, tasks, 16).await?;
    let stop = tokio_util::sync::CancellationToken::new();
    let started = Instant::now();
    for _ in 0..workers {
        let engine = atlas::sync::engine(&rig.db, &rig.sync, &rig.outbox)?
            .ok_or_else(|| anyhow::anyhow!("sync is not configured"))?;
        tokio::spawn(atlas::sync::worker::Worker::new(engine).run(stop.clone()));
    }
    while synced(&rig).await? < before + tasks {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let rate = tasks as f64 / started.elapsed().as_secs_f64();
    stop.cancel();
    rig.shutdown.cancel();
    Ok(rate)
}

/// Until nothing is queued or under way.
async fn idle(rig: &Rig) -> anyhow::Result<()> {
    loop {
        let depth = atlas::store::queue::depth(rig.db.pool()).await?;
        if depth.pending + depth.in_flight == 0 {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One task at a time on an idle node: Altimeter's create time minus Atlas's.
async fn local_to_remote(rig: &Rig, samples: usize) -> anyhow::Result<Vec<Duration>> {
    idle(rig).await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut out = Vec::with_capacity(samples);
    for _ in 0..samples {
        let before = synced(rig).await?;
        let id = sync::create(rig, 1, 1).await?.remove(0);
        while synced(rig).await? <= before {
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        let task = atlas::store::tasks::get(rig.db.pool(), id.parse()?)
            .await?
            .ok_or_else(|| anyhow::anyhow!("task {id} vanished"))?;
        let remote = rig
            .sim
            .state()
            .task_by_external_id(&id)
            .ok_or_else(|| anyhow::anyhow!("task {id} is not in Altimeter"))?;
        out.push(
            (remote.created_at - task.created_at)
                .to_std()
                .unwrap_or_default(),
        );
        // Quiet again before the next one.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(out)
}

/// 100 edits of one task as fast as the API takes them: the calls they cost.
async fn coalesced_calls(rig: &Rig) -> anyhow::Result<u64> {
    let id = sync::create(rig, 1, 1).await?.remove(0);
    let settle = || async {
        loop {
            idle(rig).await?;
            let task = atlas::store::tasks::get(rig.db.pool(), id.parse()?).await?;
            if task.is_some_and(|t| t.sync_status == atlas::model::SyncStatus::Synced) {
                return anyhow::Ok(());
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    settle().await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let before = calls(rig);
    for i in 0..100 {
        rig.http
            .patch(format!("{}/api/tasks/{id}", rig.base))
            .bearer_auth(&rig.token)
            .json(&json!({"description": format!("edit {i}")}))
            .send()
            .await?
            .error_for_status()?;
    }
    settle().await?;
    Ok(calls(rig) - before)
}

fn calls(rig: &Rig) -> u64 {
    rig.sim.state().stats().requests.values().sum()
}

/// Signed webhooks for distinct tasks, 64 in flight, with sync paused (so each
/// is verified, recorded and queued, and nothing else runs).
async fn webhook_ingest(rig: &Rig, admin: &str, webhooks: usize) -> anyhow::Result<f64> {
    admin_post(rig, admin, "/admin/sync/pause").await?;
    let url = format!("{}/webhooks/altimeter", rig.base);
    let started = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..webhooks)
        .map(|i| {
            let (http, url) = (rig.http.clone(), url.clone());
            async move {
                let body = json!({
                    "event_id": format!("evt_bench_{i}"),
                    "type": "task.updated",
                    "occurred_at": "2026-12-01T00:00:00Z",
                    "data": {"task_id": format!("alt_bench_{i}"), "version": 2}
                })
                .to_string();
                let signature =
                    altimeter_api::webhook::sign(sync::SECRET.as_bytes(), body.as_bytes());
                http.post(url)
                    .header("content-type", "application/json")
                    .header("x-altimeter-signature", signature)
                    .body(body)
                    .send()
                    .await?
                    .error_for_status()?;
                Ok(())
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    let elapsed = started.elapsed().as_secs_f64();
    for result in results {
        result?;
    }
    // The events name tasks Altimeter does not have: drop their pulls, then resume.
    sqlx::query("DELETE FROM sync_queue")
        .execute(rig.db.pool())
        .await?;
    admin_post(rig, admin, "/admin/sync/resume").await?;
    Ok(webhooks as f64 / elapsed)
}
