//! `atlas demo`: a newcomer's first five minutes in one process — Atlas on
//! SQLite in a local directory, an embedded `altimeter-sim` wired to it both
//! ways (API and signed webhooks, with a secret made for the run), the sync
//! worker and the UI, seeded with a dozen construction tasks on both sides.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use altimeter_api::{CreateTask, Priority, Status, TaskFields};
use altimeter_sim::{SimConfig, SimHandle};
use anyhow::Context;
use chrono::{Days, NaiveDate, Utc};
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::app::Application;
use crate::auth::{self, Role};
use crate::config::{AltimeterConfig, Config, SyncConfig};
use crate::db::Db;
use crate::feed::FeedConfig;
use crate::store::tokens;
use crate::sync::outbox::Outbox;
use crate::sync::retry::RetryPolicy;
use crate::tasks::{self, TaskPatch};

/// What `atlas demo` was asked for.
#[derive(Debug, Clone)]
pub struct DemoOptions {
    pub data_dir: PathBuf,
    pub reset: bool,
    pub port: u16,
    pub sim_port: u16,
}

/// Binds `port` on loopback, or says in one line which flag changes it.
async fn bind(port: u16, flag: &str, what: &str) -> anyhow::Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port)).await.map_err(|e| {
        anyhow::anyhow!(
            "cannot use port {port} for {what} ({e}): choose another with {flag} PORT, or {flag} 0 for a free one"
        )
    })
}

fn random_hex() -> anyhow::Result<String> {
    let mut bytes = [0u8; 24];
    rand::TryRngCore::try_fill_bytes(&mut rand::rngs::OsRng, &mut bytes)
        .context("the operating system's random number generator failed")?;
    Ok(hex::encode(bytes))
}

pub async fn run(options: DemoOptions, shutdown: CancellationToken) -> anyhow::Result<()> {
    if options.reset && options.data_dir.exists() {
        std::fs::remove_dir_all(&options.data_dir)
            .with_context(|| format!("cannot remove {} for --reset", options.data_dir.display()))?;
    }
    std::fs::create_dir_all(&options.data_dir).with_context(|| {
        format!(
            "cannot create the data directory {}",
            options.data_dir.display()
        )
    })?;
    let atlas_listener = bind(options.port, "--port", "Atlas").await?;
    let sim_listener = bind(options.sim_port, "--sim-port", "the Altimeter simulator").await?;
    let atlas_addr = atlas_listener.local_addr()?;

    // A fresh key and webhook secret each run: both ends live in this process.
    let api_key = random_hex()?;
    let secret = random_hex()?;
    let sim_config = SimConfig {
        webhook_url: Some(format!("http://{atlas_addr}/webhooks/altimeter")),
        webhook_secret: Some(secret.clone()),
        data_file: Some(options.data_dir.join("altimeter.json")),
        ..SimConfig::new(api_key.clone())
    };
    let sim = altimeter_sim::spawn(sim_config, sim_listener).await?;

    let mut sync = SyncConfig::unconfigured();
    sync.altimeter = Some(AltimeterConfig {
        api_url: sim.base_url(),
        api_key: SecretString::from(api_key),
    });
    sync.webhook_secret = Some(SecretString::from(secret));
    sync.reconcile_interval = Duration::from_secs(60);
    // Quick retries, so an outage turns into a visible error within seconds.
    sync.retry = RetryPolicy {
        max_retries: 2,
        base: Duration::from_secs(2),
        factor: 3,
    };
    let database = options.data_dir.join("atlas.db");
    let config = Config {
        database_url: format!("sqlite://{}", database.display()),
        bind: atlas_addr,
        run_worker: true,
        feed: FeedConfig::default(),
        sync,
    };
    let app = Application::build(config, atlas_listener).await?;
    let db = app.db().clone();
    let seeded = seed(&db, app.outbox(), &sim).await?;
    let link = sign_in_link(&db).await?;
    let running = tokio::spawn(app.run(shutdown.clone()));

    print_welcome(&options.data_dir, atlas_addr, sim.addr(), &link, seeded);
    let result = running.await.context("Atlas stopped unexpectedly")?;
    sim.shutdown().await;
    println!(
        "Atlas demo stopped. Your data is in {}; run `atlas demo` again to continue, or add --reset to start over.",
        options.data_dir.display()
    );
    result
}

/// A one-time link that signs the visitor in as the demo's admin.
async fn sign_in_link(db: &Db) -> anyhow::Result<String> {
    let existing = tokens::list(db.pool())
        .await?
        .into_iter()
        .find(|t| t.name == "demo" && t.revoked_at.is_none());
    let token = match existing {
        Some(token) => token,
        None => auth::create_token(db, "demo", Role::Admin).await?.1,
    };
    auth::sign_in_link(db, &token).await
}

fn print_welcome(dir: &Path, atlas: SocketAddr, sim: SocketAddr, code: &str, seeded: bool) {
    let atlas_url = format!("http://{atlas}");
    let sim_url = format!("http://{sim}");
    println!();
    println!(
        "Atlas demo — data in {}{}",
        dir.display(),
        if seeded {
            " (new: a dozen tasks were added)"
        } else {
            ""
        }
    );
    println!();
    println!("  Open Atlas:          {atlas_url}/sign-in/link?code={code}");
    println!(
        "                       (signs you in as an admin; the link works once — afterwards use {atlas_url}/)"
    );
    println!("  Altimeter (sim):     {sim_url}/");
    println!("                       edit there as if you were in Altimeter");
    println!();
    println!("Three things to try:");
    println!(
        "  1. Edit a task's title on {sim_url}/ and watch its row change in Atlas within a second."
    );
    println!(
        "  2. Make a conflict: press Pause on {atlas_url}/admin, change the same task's title in Atlas"
    );
    println!(
        "     and in the simulator, then press Resume. The task shows \"Conflict\": click it and choose."
    );
    println!(
        "  3. Press \"Outage\" on the simulator's page and edit a task in Atlas: it retries, then shows"
    );
    println!("     \"Error\" with the reason. Switch the outage off and press Retry.");
    println!();
    println!("Ctrl-C stops the demo.");
    println!("Ready.");
}

fn due(days: u64) -> Option<NaiveDate> {
    Utc::now().date_naive().checked_add_days(Days::new(days))
}

fn fields(
    title: &str,
    status: Status,
    priority: Priority,
    assignee: &str,
    days: u64,
) -> TaskFields {
    TaskFields {
        title: title.to_owned(),
        description: String::new(),
        status,
        priority,
        assignee: Some(assignee.to_owned()),
        due_date: due(days),
    }
}

/// On the first run only: tasks made in Atlas (they sync out) and tasks made in
/// Altimeter (they sync in), so the first screen already shows sync at work.
async fn seed(db: &Db, outbox: &Outbox, sim: &SimHandle) -> anyhow::Result<bool> {
    let existing = crate::store::tasks::count_all(db.pool()).await?;
    if existing > 0 || !sim.state().tasks().is_empty() {
        return Ok(false);
    }
    let in_atlas = [
        fields(
            "Pour slab, level 3",
            Status::InProgress,
            Priority::Urgent,
            "foreman-joe",
            1,
        ),
        fields(
            "Order formwork for level 4",
            Status::Open,
            Priority::High,
            "pm-ana",
            3,
        ),
        fields(
            "Rebar delivery, level 4",
            Status::Blocked,
            Priority::High,
            "foreman-joe",
            2,
        ),
        fields(
            "Crane inspection",
            Status::Open,
            Priority::Normal,
            "super-li",
            5,
        ),
        fields(
            "Install temporary railings, stair B",
            Status::Open,
            Priority::High,
            "foreman-joe",
            1,
        ),
        fields(
            "Concrete cylinder tests, level 2",
            Status::Done,
            Priority::Normal,
            "qa-sam",
            0,
        ),
    ];
    for f in in_atlas {
        let patch = TaskPatch {
            title: Some(f.title),
            description: Some(f.description),
            status: Some(f.status),
            priority: Some(f.priority),
            assignee: Some(f.assignee),
            due_date: Some(f.due_date),
        };
        tasks::create(db, outbox, patch, "demo").await?;
    }
    let in_altimeter = [
        fields(
            "Survey column grid, level 5",
            Status::Open,
            Priority::Normal,
            "surveyor-kim",
            4,
        ),
        fields(
            "Fire-stopping inspection, level 1",
            Status::Open,
            Priority::High,
            "pm-ana",
            6,
        ),
        fields(
            "Waterproofing, basement wall east",
            Status::InProgress,
            Priority::Normal,
            "sub-aqua",
            7,
        ),
        fields(
            "Tower crane weekly check",
            Status::Open,
            Priority::Urgent,
            "super-li",
            2,
        ),
        fields(
            "Scaffold tag renewal, north face",
            Status::Open,
            Priority::Normal,
            "foreman-joe",
            3,
        ),
        fields(
            "Deliver precast stairs",
            Status::Blocked,
            Priority::High,
            "pm-ana",
            9,
        ),
    ];
    for f in in_altimeter {
        let request = CreateTask {
            external_id: None,
            fields: f,
        };
        sim.state().create_task(request, None)?;
    }
    Ok(true)
}
