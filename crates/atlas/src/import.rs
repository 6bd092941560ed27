//! `atlas import FILE`: loads an existing Atlas export — JSON lines or CSV — into
//! the task store. Each bad row is reported by line number and skipped; good rows
//! are kept. A row without an `id` gets one derived from what it says (never from
//! its position), so importing the same file again — after an interruption, or
//! re-exported with rows added or removed — skips the rows already in and changes
//! nothing; two rows that say the same are one task, and the second is refused.
//! Rows without a legacy Altimeter link are queued for their first push; rows
//! with one wait for `atlas sync backfill`, unless sync has already imported that
//! Altimeter task and nobody has changed it in Atlas: then the row is merged into
//! it rather than becoming its twin.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::path::Path;

use anyhow::Context;
use chrono::{DateTime, SubsecRound, Utc};
use serde::Deserialize;
use sqlx::AnyConnection;
use uuid::Uuid;

use crate::db::{Backend, Db, now};
use crate::model::{HistorySource, Task};
use crate::store::history::{self, Origin};
use crate::store::tasks;
use crate::sync::outbox::Outbox;
use crate::sync::task_status;
use crate::tasks::TaskPatch;

/// One row of an export: the task fields plus what an export may carry. Keys
/// other than these and the task fields are refused (by `TaskPatch`).
#[derive(Debug, Clone, Deserialize)]
struct Row {
    #[serde(default)]
    id: Option<Uuid>,
    #[serde(default)]
    related_altimeter_task_id: Option<String>,
    /// An Atlas export of a synced task names its Altimeter task here.
    #[serde(default)]
    remote_id: Option<String>,
    #[serde(default, deserialize_with = "flag")]
    deleted: bool,
    #[serde(default)]
    created_at: Option<DateTime<Utc>>,
    #[serde(default)]
    updated_at: Option<DateTime<Utc>>,
    #[serde(flatten)]
    fields: serde_json::Map<String, serde_json::Value>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Report {
    pub imported: u64,
    pub already_present: u64,
    /// Rows whose Altimeter task sync had already imported, untouched in Atlas:
    /// the row was merged into that task instead of becoming its twin.
    pub merged: u64,
    /// `(line number, what is wrong)` for each refused row.
    pub errors: Vec<(u64, String)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    JsonLines,
    Csv,
}

impl Format {
    /// From the file name: `.csv` is CSV, anything else JSON lines.
    pub fn of(path: &Path) -> Format {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("csv") => Format::Csv,
            _ => Format::JsonLines,
        }
    }
}

/// Reads `path` and imports every good row.
pub async fn import_file(
    db: &Db,
    outbox: &Outbox,
    path: &Path,
    actor: &str,
) -> anyhow::Result<Report> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let Rows { good, errors } = read(&text, Format::of(path))?;
    let mut report = Report {
        errors,
        ..Report::default()
    };
    for chunk in good.chunks(500) {
        let mut tx = db.begin_write().await?;
        for task in chunk {
            if tasks::get(&mut *tx, task.id).await?.is_some() {
                report.already_present += 1;
                continue;
            }
            let origin = Origin {
                source: HistorySource::Import,
                actor: Some(actor),
            };
            match merge_target(&mut tx, db.backend(), task).await? {
                Target::New => {}
                Target::AlreadyMerged => {
                    report.already_present += 1;
                    continue;
                }
                Target::SyncImport(twin) => {
                    merge(&mut tx, outbox, task, *twin, origin).await?;
                    report.merged += 1;
                    continue;
                }
            }
            tasks::insert(&mut tx, task).await?;
            history::record(&mut *tx, task, origin).await?;
            if task.related_altimeter_task_id.is_none() {
                outbox
                    .push(&mut tx, task.id, "import", task.updated_at, now())
                    .await?;
            }
            task_status::refresh(&mut tx, task.id).await?;
            report.imported += 1;
        }
        tx.commit().await?;
    }
    outbox.wake();
    Ok(report)
}

/// Where a row with a legacy link goes.
enum Target {
    /// Nowhere yet: it becomes a task of its own.
    New,
    /// An earlier run merged it into the task sync imported.
    AlreadyMerged,
    /// Sync already imported its Altimeter task, and nobody has changed that
    /// task in Atlas: it is the same task, so the row is merged into it.
    SyncImport(Box<Task>),
}

async fn merge_target(
    tx: &mut AnyConnection,
    backend: Backend,
    row: &Task,
) -> anyhow::Result<Target> {
    let Some(related) = row.related_altimeter_task_id.as_deref() else {
        return Ok(Target::New);
    };
    if let Some(earlier) = tasks::find_by_related_id(&mut *tx, related).await? {
        let imported =
            history::first_of_source(&mut *tx, earlier.id, HistorySource::Import).await?;
        if imported == Some(row.snapshot()) {
            return Ok(Target::AlreadyMerged);
        }
    }
    let Some(found) = tasks::find_by_remote_id(&mut *tx, related).await? else {
        return Ok(Target::New);
    };
    let Some(twin) = tasks::get_for_update(&mut *tx, found.id, backend).await? else {
        return Ok(Target::New);
    };
    if twin.deleted
        || twin.related_altimeter_task_id.is_some()
        || history::changed_in_atlas(&mut *tx, twin.id).await?
    {
        return Ok(Target::New);
    }
    Ok(Target::SyncImport(Box::new(twin)))
}

/// Merges a legacy row into the task sync imported from the same Altimeter
/// task. The task keeps its id; it takes the row's fields and times as its
/// import version (recorded in its history), and its link starts over as a
/// first link, queued for a pull: settling it then treats the row exactly as
/// it would had the row been imported first — in sync if Altimeter still holds
/// what the row says, otherwise every difference weighed as a conflict.
async fn merge(
    tx: &mut AnyConnection,
    outbox: &Outbox,
    row: &Task,
    twin: Task,
    origin: Origin<'_>,
) -> anyhow::Result<()> {
    let remote_id = twin.remote_id.clone().unwrap_or_default();
    let merged = Task {
        fields: row.fields.clone(),
        version: twin.version + 1,
        created_at: row.created_at,
        updated_at: row.updated_at,
        related_altimeter_task_id: row.related_altimeter_task_id.clone(),
        remote_id: None,
        remote_version: None,
        sync_base: None,
        last_synced_at: None,
        ..twin.clone()
    };
    anyhow::ensure!(
        tasks::update(&mut *tx, &merged, twin.version).await?,
        "task {} changed while the import merged a row into it",
        twin.id
    );
    history::record(&mut *tx, &merged, origin).await?;
    outbox
        .pull(tx, Some(twin.id), &remote_id, None, "import", now())
        .await?;
    task_status::refresh(tx, twin.id).await?;
    tracing::info!(task_id = %twin.id, %remote_id, "legacy row merged into the task sync imported");
    Ok(())
}

type Numbered = (u64, Result<Row, String>);

/// What a file holds: the tasks of its good rows, and `(line, what is wrong)`
/// for each refused one.
#[derive(Debug, Default)]
pub struct Rows {
    pub good: Vec<Task>,
    pub errors: Vec<(u64, String)>,
}

/// Parses and checks every row of an export, touching nothing; fails only when
/// the file as a whole cannot be read (a CSV header that is not one).
pub fn read(text: &str, format: Format) -> anyhow::Result<Rows> {
    let rows = match format {
        Format::JsonLines => json_rows(text),
        Format::Csv => csv_rows(text)?,
    };
    let mut out = Rows::default();
    let mut first_line_of = HashMap::new();
    for (line, row) in rows {
        match row.and_then(|r| to_task(r).map_err(|e| e.to_string())) {
            Ok(task) => match first_line_of.entry(task.id) {
                Entry::Occupied(first) => out.errors.push((
                    line,
                    format!(
                        "the same task as line {} (same id or same content)",
                        first.get()
                    ),
                )),
                Entry::Vacant(slot) => {
                    slot.insert(line);
                    out.good.push(task);
                }
            },
            Err(message) => out.errors.push((line, message)),
        }
    }
    Ok(out)
}

fn json_rows(text: &str) -> Vec<Numbered> {
    text.strip_prefix('\u{feff}')
        .unwrap_or(text)
        .lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            (
                i as u64 + 1,
                crate::json::parse::<Row>(line.as_bytes()).map_err(|e| e.to_string()),
            )
        })
        .collect()
}

/// CSV with a header row naming the columns; empty cells are absent values.
fn csv_rows(text: &str) -> anyhow::Result<Vec<Numbered>> {
    let mut reader = csv::ReaderBuilder::new().from_reader(text.as_bytes());
    let headers = reader
        .headers()
        .context("the CSV file has no header row")?
        .clone();
    Ok(reader
        .records()
        .map(|record| {
            let position = match &record {
                Ok(r) => r.position(),
                Err(e) => e.position(),
            };
            let line = position.map_or(0, csv::Position::line);
            let row = record.map_err(|e| e.to_string()).and_then(|r| {
                let object: serde_json::Map<String, serde_json::Value> = headers
                    .iter()
                    .zip(r.iter())
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(k, v)| (k.to_owned(), serde_json::Value::String(v.to_owned())))
                    .collect();
                let bytes = serde_json::to_vec(&object).map_err(|e| e.to_string())?;
                crate::json::parse::<Row>(&bytes).map_err(|e| e.to_string())
            });
            (line, row)
        })
        .collect())
}

/// Sync bookkeeping an export may carry; it describes the old system, so it is
/// not imported.
const IGNORED: [&str; 5] = [
    "version",
    "sync_status",
    "sync_error",
    "last_synced_at",
    "remote_version",
];

/// `true`/`false` as JSON or as CSV text.
fn flag<'de, D: serde::Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Ok(b),
        serde_json::Value::String(s) if s == "true" || s == "1" => Ok(true),
        serde_json::Value::String(s) if s == "false" || s == "0" => Ok(false),
        other => Err(serde::de::Error::custom(format!(
            "deleted: expected true or false, got {other}"
        ))),
    }
}

/// The id of a row that has none: made from what the row says — its fields,
/// legacy link and times — so the same row gets the same id wherever it stands
/// in whichever export, and a re-run finds what it imported before.
fn derived_id(row: &Row) -> Uuid {
    let content = serde_json::to_string(&row.fields).unwrap_or_default();
    let related = row.related_altimeter_task_id.as_deref().unwrap_or_default();
    let remote = row.remote_id.as_deref().unwrap_or_default();
    let time = |t: Option<DateTime<Utc>>| t.map(|t| t.to_rfc3339()).unwrap_or_default();
    let (created, updated) = (time(row.created_at), time(row.updated_at));
    Uuid::new_v5(
        &IMPORT_NAMESPACE,
        format!("{related}\n{remote}\n{created}\n{updated}\n{content}").as_bytes(),
    )
}

/// Namespace of the ids `derived_id` makes.
const IMPORT_NAMESPACE: Uuid = Uuid::from_u128(0x6a5f_0c2e_9d41_4b7a_8e3c_2f1d_7a90_b6e4);

fn to_task(mut row: Row) -> anyhow::Result<Task> {
    if row.deleted {
        anyhow::bail!("a deleted task; not imported");
    }
    row.fields.retain(|key, _| !IGNORED.contains(&key.as_str()));
    let id = row.id.unwrap_or_else(|| derived_id(&row));
    let patch: TaskPatch = crate::json::parse(&serde_json::to_vec(&row.fields)?)?;
    let fields = patch.into_new_fields()?;
    let at = now();
    let created_at = row.created_at.map_or(at, |t| t.trunc_subsecs(6));
    let mut task = Task::new(id, fields, created_at);
    task.updated_at = row.updated_at.map_or(created_at, |t| t.trunc_subsecs(6));
    task.related_altimeter_task_id = row
        .related_altimeter_task_id
        .or(row.remote_id)
        .filter(|r| !r.trim().is_empty());
    Ok(task)
}
