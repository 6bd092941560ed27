//! `atlas sync ...`: the operator's sync commands. They act on the database, so
//! they work whether or not a server is running, and hold for every node.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::Subcommand;
use indicatif::{ProgressBar, ProgressStyle};
use uuid::Uuid;

use super::{open_db, outbox};
use crate::config::{DatabaseArgs, SyncArgs, parse_duration};
use crate::store::queue;
use crate::sync::pacing::Hold;
use crate::sync::{backfill, ops, status};

#[derive(Debug, Subcommand)]
pub enum SyncCommand {
    /// Show the queue, conflicts, held deletes and alerts.
    Status {
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Stop claiming new work (items in flight finish); for Altimeter maintenance.
    Pause,
    /// Resume after pause or drain.
    Resume,
    /// Stop claiming new work and wait until nothing is in flight (before a deploy).
    Drain {
        /// Give up waiting after this long.
        #[arg(long, default_value = "2m", value_parser = parse_duration)]
        timeout: Duration,
    },
    /// Re-sync one task now, or everything (a full reconciliation pass).
    Trigger {
        /// The Atlas task id; without it, everything.
        #[arg(long)]
        task: Option<Uuid>,
    },
    /// Put every failed item back in line.
    RetryFailed,
    /// List failed items with their errors.
    Failed,
    /// List the remote deletes held by the delete brake.
    Held,
    /// Link tasks that carry a legacy related_altimeter_task_id, and queue tasks never linked.
    Backfill {
        /// Verify and report what would happen; change nothing.
        #[arg(long)]
        dry_run: bool,
        /// Tasks read per batch.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(i64).range(1..=10_000))]
        batch: i64,
        #[command(flatten)]
        sync: SyncArgs,
    },
    /// Apply the remote deletes held by the delete brake.
    ReleaseDeletes,
    /// Drop the held deletes: keep the tasks and create them in Altimeter again.
    DiscardDeletes,
}

impl SyncCommand {
    fn changes_state(&self) -> bool {
        !matches!(
            self,
            SyncCommand::Status { .. } | SyncCommand::Failed | SyncCommand::Held
        ) && !matches!(self, SyncCommand::Backfill { dry_run: true, .. })
    }
}

pub async fn run(database: &DatabaseArgs, command: SyncCommand) -> anyhow::Result<()> {
    let db = open_db(database).await?;
    let outbox = outbox(&db);
    if command.changes_state() {
        let user = std::env::var("USER").unwrap_or_else(|_| "unknown".to_owned());
        tracing::info!(actor = %user, command = ?command, "sync operation from the command line");
    }
    match command {
        SyncCommand::Status { json } => {
            // What this shell's environment says; a server reports its own view.
            let configured = std::env::var_os("ALTIMETER_API_URL").is_some();
            let report = status::report(&db, configured).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                print_report(&report);
            }
        }
        SyncCommand::Pause => {
            ops::pause(&db).await?;
            println!("sync paused: nothing new is claimed until `atlas sync resume`");
        }
        SyncCommand::Resume => {
            ops::resume(&db, &outbox).await?;
            println!("sync resumed");
        }
        SyncCommand::Drain { timeout } => drain(&db, timeout).await?,
        SyncCommand::Trigger { task } => match ops::trigger(&db, &outbox, task).await? {
            ops::Triggered::Task { task_id } => println!("task {task_id} queued to sync now"),
            ops::Triggered::Reconciliation => {
                println!("a full reconciliation pass will run within seconds")
            }
        },
        SyncCommand::RetryFailed => {
            let n = ops::retry_failed(&db, &outbox, None).await?;
            println!("{n} task(s) queued to retry");
        }
        SyncCommand::Failed => {
            let mut after = None;
            loop {
                let items = queue::failed(db.pool(), after, 500).await?;
                let Some(last) = items.last() else { break };
                after = Some(last.id);
                for item in items {
                    let subject = item
                        .task_id
                        .map_or_else(|| item.lane.clone(), |t| t.to_string());
                    let error = item.last_error.unwrap_or_default();
                    println!(
                        "{}\t{}\t{subject}\t{error}",
                        item.id,
                        item.direction.as_str()
                    );
                }
            }
        }
        SyncCommand::Held => {
            for held in crate::store::remote_deletes::held(db.pool()).await? {
                println!(
                    "{}\ttask {}\t{} v{}\t{}",
                    held.id,
                    held.task_id,
                    held.remote_id,
                    held.remote_version,
                    held.detected_at.to_rfc3339()
                );
            }
        }
        SyncCommand::Backfill {
            dry_run,
            batch,
            sync,
        } => run_backfill(&db, &sync, dry_run, batch).await?,
        SyncCommand::ReleaseDeletes => {
            let n = ops::release_deletes(&db, &outbox).await?;
            println!("{n} held delete(s) released");
        }
        SyncCommand::DiscardDeletes => {
            let n = ops::discard_deletes(&db, &outbox).await?;
            println!(
                "{n} held delete(s) discarded; those tasks will be created in Altimeter again"
            );
        }
    }
    Ok(())
}

fn print_report(r: &status::SyncReport) {
    let state = match (r.paused, r.draining) {
        (true, _) => "paused",
        (_, true) => "draining",
        _ => "running",
    };
    println!("sync:                {state}");
    println!(
        "queue:               {} pending, {} in flight, {} failed",
        r.queue.pending, r.queue.in_flight, r.queue.failed
    );
    println!(
        "oldest pending:      {}",
        r.oldest_pending_age_s
            .map_or("-".to_owned(), |s| format!("{s} s"))
    );
    println!(
        "last success:        {}",
        r.last_success_at.map_or("-".to_owned(), |t| t.to_rfc3339())
    );
    println!("error rate (5 min):  {:.0}%", r.error_rate_5m * 100.0);
    println!("throughput (1 min):  {}", r.throughput_1m);
    println!("conflicts:           {} unresolved", r.conflicts_unresolved);
    println!(
        "delete brake:        {}",
        if r.delete_brake_engaged {
            "ENGAGED"
        } else {
            "off"
        }
    );
    println!("deletes held:        {}", r.deletes_held);
    for alert in &r.alerts {
        println!(
            "ALERT [{}] {}: {}",
            alert.severity, alert.key, alert.message
        );
    }
}

async fn drain(db: &crate::db::Db, timeout: Duration) -> anyhow::Result<()> {
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let in_flight = ops::drain(db).await?;
        if in_flight == 0 {
            println!("drained: no sync item is in flight; `atlas sync resume` to start again");
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            anyhow::bail!(
                "{in_flight} item(s) still in flight after {}",
                humantime::format_duration(timeout)
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn run_backfill(
    db: &crate::db::Db,
    sync: &SyncArgs,
    dry_run: bool,
    batch: i64,
) -> anyhow::Result<()> {
    let config = sync.validate()?;
    let outbox = crate::sync::outbox::Outbox::new(db.backend(), config.push_delay);
    let Some(engine) = crate::sync::engine(db, &config, &outbox)? else {
        anyhow::bail!("backfill needs ALTIMETER_API_URL and ALTIMETER_API_KEY");
    };
    let bar = Bar(ProgressBar::new(0), AtomicBool::new(false));
    let report = backfill::run(&engine, backfill::Options { dry_run, batch }, &bar).await?;
    bar.0.finish_and_clear();
    let verb = if dry_run { "would link" } else { "linked" };
    println!(
        "{} legacy link(s) checked: {verb} {}",
        report.candidates, report.linked
    );
    println!("  conflicts to resolve: {}", report.conflicts);
    println!("  missing in Altimeter: {}", report.missing);
    for id in &report.missing_ids {
        println!("    {id}");
    }
    println!(
        "  already linked to another Atlas task (duplicates): {}",
        report.duplicates
    );
    for (task, other) in &report.duplicate_ids {
        println!("    {task} duplicates {other}");
    }
    println!("  could not check (run again): {}", report.failed);
    if !dry_run {
        println!(
            "tasks never linked, queued for their first push: {}",
            report.queued_pushes
        );
    }
    if report.failed > 0 {
        anyhow::bail!(
            "{} task(s) could not be checked; run the backfill again",
            report.failed
        );
    }
    Ok(())
}

/// A terminal progress bar for the backfill; its message says when (and why)
/// the run is waiting on Altimeter.
struct Bar(ProgressBar, AtomicBool);

impl backfill::Progress for Bar {
    fn start(&self, total: u64) {
        self.0.set_length(total);
        if let Ok(style) =
            ProgressStyle::with_template("{bar:40} {pos}/{len} tasks  {per_sec}  eta {eta}  {msg}")
        {
            self.0.set_style(style);
        }
    }

    fn advance(&self) {
        self.0.inc(1);
        if self.1.swap(false, Ordering::Relaxed) {
            self.0.set_message("");
        }
    }

    fn waiting(&self, wait: Duration, why: Hold) {
        let why = match why {
            Hold::Asked => "Altimeter asked to wait (Retry-After or a failed call)",
            Hold::WindowUsedUp => "rate limit reached (X-Rate-Limit-Remaining: 0)",
        };
        self.0
            .set_message(format!("waiting {:.1}s: {why}", wait.as_secs_f64()));
        self.1.store(true, Ordering::Relaxed);
    }
}
