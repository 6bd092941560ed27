//! End to end: Atlas and an embedded `altimeter-sim`, wired both ways over HTTP
//! as in production. Times a task created in Atlas reaching Altimeter, and an
//! edit made in Altimeter reaching Atlas.

use std::time::{Duration, Instant};

use altimeter_sim::{SimConfig, SimHandle};
use atlas::app::Application;
use atlas::auth::{self, Role};
use atlas::config::{AltimeterConfig, Config, SyncConfig};
use futures::StreamExt;
use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::stats::summary;

const KEY: &str = "bench-key";
pub const SECRET: &str = "bench-secret";

/// Atlas and the simulator, each on its own loopback port, wired both ways.
pub struct Rig {
    pub base: String,
    pub token: String,
    pub http: reqwest::Client,
    pub sim: SimHandle,
    pub db: atlas::db::Db,
    /// What Atlas syncs with, for extra workers a benchmark starts itself.
    pub sync: SyncConfig,
    pub outbox: atlas::sync::outbox::Outbox,
    pub shutdown: CancellationToken,
}

pub async fn run(url: &str, tasks: usize, concurrency: usize) -> anyhow::Result<()> {
    let rig = start(url, |_| {}).await?;
    println!(
        "settings: defaults (push delay 300 ms, {} concurrent remote calls per worker)",
        SyncConfig::unconfigured().concurrency
    );

    let started = Instant::now();
    let ids = create(&rig, tasks, concurrency).await?;
    wait_synced(&rig, tasks).await?;
    let elapsed = started.elapsed();
    println!(
        "\n{tasks} tasks created in Atlas, all in Altimeter after {:.2} s ({:.0} tasks/s)",
        elapsed.as_secs_f64(),
        tasks as f64 / elapsed.as_secs_f64()
    );
    println!(
        "  Atlas → Altimeter:   {}",
        summary(push_latencies(&rig, &ids).await?)
    );
    println!(
        "  remote calls:        {} ({:.2} per task)",
        calls(&rig),
        calls(&rig) as f64 / tasks as f64
    );

    let before = calls(&rig);
    let edited = Instant::now();
    for remote in rig.sim.state().tasks() {
        let mut fields = remote.fields.clone();
        fields.description = "edited in Altimeter".into();
        rig.sim.state().update_task(&remote.id, fields, None)?;
    }
    wait_description(&rig, tasks, "edited in Altimeter").await?;
    println!(
        "\n{tasks} edits made in Altimeter, all in Atlas after {:.2} s",
        edited.elapsed().as_secs_f64()
    );
    println!(
        "  Altimeter → Atlas:   {}",
        summary(pull_latencies(&rig).await?)
    );
    println!(
        "  remote calls:        {} ({:.2} per edit)",
        calls(&rig) - before,
        (calls(&rig) - before) as f64 / tasks as f64
    );
    rig.shutdown.cancel();
    Ok(())
}

/// Starts the rig on `url`, with `tweak` applied to Atlas's configuration.
pub async fn start(url: &str, tweak: impl FnOnce(&mut Config)) -> anyhow::Result<Rig> {
    let atlas_listener = TcpListener::bind("127.0.0.1:0").await?;
    let atlas_addr = atlas_listener.local_addr()?;
    let sim_config = SimConfig {
        webhook_url: Some(format!("http://{atlas_addr}/webhooks/altimeter")),
        webhook_secret: Some(SECRET.to_owned()),
        ..SimConfig::new(KEY)
    };
    let sim = altimeter_sim::spawn(sim_config, TcpListener::bind("127.0.0.1:0").await?).await?;
    let mut sync = SyncConfig::unconfigured();
    sync.altimeter = Some(AltimeterConfig {
        api_url: sim.base_url(),
        api_key: SecretString::from(KEY.to_owned()),
    });
    sync.webhook_secret = Some(SecretString::from(SECRET.to_owned()));
    let mut config = Config {
        database_url: url.to_owned(),
        bind: atlas_addr,
        run_worker: true,
        feed: atlas::feed::FeedConfig::default(),
        sync,
    };
    tweak(&mut config);
    let sync = config.sync.clone();
    let app = Application::build(config, atlas_listener).await?;
    let db = app.db().clone();
    let outbox = app.outbox().clone();
    let (token, _) = auth::create_token(&db, "bench", Role::Editor).await?;
    let shutdown = CancellationToken::new();
    tokio::spawn(app.run(shutdown.clone()));
    Ok(Rig {
        base: format!("http://{atlas_addr}"),
        token,
        http: reqwest::Client::new(),
        sim,
        db,
        sync,
        outbox,
        shutdown,
    })
}

pub async fn create(rig: &Rig, tasks: usize, concurrency: usize) -> anyhow::Result<Vec<String>> {
    let bar = indicatif::ProgressBar::new(tasks as u64);
    let results: Vec<anyhow::Result<String>> = futures::stream::iter(0..tasks)
        .map(|i| {
            let bar = bar.clone();
            async move {
                let body = json!({"title": format!("Bench task {i}"), "priority": "high"});
                let task: Value = rig
                    .http
                    .post(format!("{}/api/tasks", rig.base))
                    .bearer_auth(&rig.token)
                    .json(&body)
                    .send()
                    .await?
                    .error_for_status()?
                    .json()
                    .await?;
                bar.inc(1);
                Ok(task["id"].as_str().unwrap_or_default().to_owned())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    bar.finish_and_clear();
    results.into_iter().collect()
}

async fn wait_synced(rig: &Rig, tasks: usize) -> anyhow::Result<()> {
    wait(|| async {
        let (n,): (i64,) =
            sqlx::query_as("SELECT COUNT(*) FROM tasks WHERE sync_status = 'synced'")
                .fetch_one(rig.db.pool())
                .await?;
        Ok(n as usize >= tasks)
    })
    .await
}

async fn wait_description(rig: &Rig, tasks: usize, text: &str) -> anyhow::Result<()> {
    wait(|| async {
        let (n,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM tasks WHERE description = $1")
            .bind(text)
            .fetch_one(rig.db.pool())
            .await?;
        Ok(n as usize >= tasks)
    })
    .await
}

async fn wait<F, Fut>(mut done: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let deadline = Instant::now() + Duration::from_secs(600);
    while Instant::now() < deadline {
        if done().await? {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    anyhow::bail!("gave up after 10 minutes")
}

/// For each task: when Altimeter created it, minus when Atlas did.
async fn push_latencies(rig: &Rig, ids: &[String]) -> anyhow::Result<Vec<Duration>> {
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        let task = atlas::store::tasks::get(rig.db.pool(), uuid::Uuid::parse_str(id)?).await?;
        let Some(task) = task else { continue };
        let Some(remote) = rig.sim.state().task_by_external_id(id) else {
            continue;
        };
        out.push(
            (remote.created_at - task.created_at)
                .to_std()
                .unwrap_or_default(),
        );
    }
    Ok(out)
}

/// For each task: when Atlas applied the remote edit, minus when it was made.
async fn pull_latencies(rig: &Rig) -> anyhow::Result<Vec<Duration>> {
    let mut out = Vec::new();
    for remote in rig.sim.state().tasks() {
        if let Some(task) =
            atlas::store::tasks::find_by_remote_id(rig.db.pool(), &remote.id).await?
        {
            out.push(
                (task.updated_at - remote.updated_at)
                    .to_std()
                    .unwrap_or_default(),
            );
        }
    }
    Ok(out)
}

fn calls(rig: &Rig) -> u64 {
    rig.sim.state().stats().requests.values().sum()
}
