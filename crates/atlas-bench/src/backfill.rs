//! Onboarding at scale: N legacy tasks imported into Atlas, each naming its twin
//! in a pre-filled simulator, then linked by `backfill`.

use std::time::Instant;

use altimeter_api::{CreateTask, TaskFields};
use altimeter_sim::SimConfig;
use atlas::config::{AltimeterConfig, SyncConfig};
use atlas::db::Db;
use atlas::sync::backfill::{self, Options, Silent};
use atlas::sync::outbox::Outbox;
use secrecy::SecretString;
use tokio::net::TcpListener;

pub async fn run(url: &str, tasks: usize) -> anyhow::Result<()> {
    let db = Db::connect(url).await?;
    db.migrate().await?;
    let sim = altimeter_sim::spawn(
        SimConfig::new("bench-key"),
        TcpListener::bind("127.0.0.1:0").await?,
    )
    .await?;
    let mut lines = Vec::with_capacity(tasks);
    for i in 0..tasks {
        let body = CreateTask {
            external_id: None,
            fields: TaskFields::titled(format!("Legacy task {i}")),
        };
        let remote = sim.state().create_task(body, None)?.task;
        lines.push(serde_json::json!({"title": remote.fields.title, "related_altimeter_task_id": remote.id}).to_string());
    }
    let file = std::env::temp_dir().join(format!("atlas-bench-{}.jsonl", uuid::Uuid::new_v4()));
    std::fs::write(&file, lines.join("\n"))?;
    let outbox = Outbox::new(db.backend(), std::time::Duration::ZERO);

    let started = Instant::now();
    let imported = atlas::import::import_file(&db, &outbox, &file, "bench").await?;
    println!(
        "import of {} tasks: {:.2} s",
        imported.imported,
        started.elapsed().as_secs_f64()
    );

    let mut config = SyncConfig::unconfigured();
    config.altimeter = Some(AltimeterConfig {
        api_url: sim.base_url(),
        api_key: SecretString::from("bench-key".to_owned()),
    });
    let engine =
        atlas::sync::engine(&db, &config, &outbox)?.ok_or_else(|| anyhow::anyhow!("no engine"))?;
    let started = Instant::now();
    let report = backfill::run(
        &engine,
        Options {
            dry_run: false,
            batch: 500,
        },
        &Silent,
    )
    .await?;
    let elapsed = started.elapsed();
    println!(
        "backfill: {} linked, {} conflicts, {} missing, {} failed in {:.2} s ({:.0} tasks/s)",
        report.linked,
        report.conflicts,
        report.missing,
        report.failed,
        elapsed.as_secs_f64(),
        report.linked as f64 / elapsed.as_secs_f64()
    );
    let started = Instant::now();
    let again = backfill::run(
        &engine,
        Options {
            dry_run: false,
            batch: 500,
        },
        &Silent,
    )
    .await?;
    println!(
        "second run: {} candidates, {:.2} s",
        again.candidates,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}
