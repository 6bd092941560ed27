//! The `--data` file: the whole store (tasks and idempotency keys) as one JSON
//! document, written atomically (temp file + rename) a moment after changes settle
//! and once more at shutdown.

use std::io::Write;
use std::path::{Path, PathBuf};

use altimeter_api::RemoteTask;
use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use crate::idempotency::KeyRecord;
use crate::state::SimState;
use crate::store::Store;

#[derive(Serialize, Deserialize)]
struct Snapshot {
    tasks: Vec<RemoteTask>,
    idempotency_keys: Vec<KeyRecord>,
}

/// The store kept in `path`, or an empty one if the file does not exist yet.
pub fn load(path: &Path, now: DateTime<Utc>) -> anyhow::Result<Store> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Store::default()),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    let snapshot: Snapshot = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a simulator data file", path.display()))?;
    Ok(Store::from_parts(
        snapshot.tasks,
        snapshot.idempotency_keys,
        now,
    ))
}

/// Writes the file so that a crash leaves either the old or the new content:
/// the JSON goes to a temp file beside it, which is flushed, synced to disk and
/// renamed over the old file; then the directory is synced so the rename itself
/// survives a power cut. On any failure the temp file is removed.
pub fn save(path: &Path, tasks: Vec<RemoteTask>, keys: Vec<KeyRecord>) -> anyhow::Result<()> {
    let snapshot = Snapshot {
        tasks,
        idempotency_keys: keys,
    };
    let temp = temp_path(path);
    let write = || -> std::io::Result<()> {
        let mut writer = std::io::BufWriter::new(std::fs::File::create(&temp)?);
        serde_json::to_writer(&mut writer, &snapshot)?;
        // `into_inner` would flush too, but this way a failed flush is an error
        // we see rather than bytes silently lost with the writer.
        writer.flush()?;
        let file = writer.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)?;
        sync_directory(path)
    };
    write().map_err(|e| {
        // Best effort: the temp file may not exist (create failed, or the rename
        // already happened and only the directory sync failed).
        let _ = std::fs::remove_file(&temp);
        anyhow::Error::new(e).context(format!("writing {}", path.display()))
    })
}

/// Makes the rename in `path`'s directory durable.
#[cfg(unix)]
fn sync_directory(path: &Path) -> std::io::Result<()> {
    let dir = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::fs::File::open(dir)?.sync_all()
}

/// Directories cannot be opened for syncing here; the rename is as durable as
/// the platform makes it.
#[cfg(not(unix))]
fn sync_directory(_path: &Path) -> std::io::Result<()> {
    Ok(())
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".tmp");
    PathBuf::from(name)
}

/// Keeps the data file up to date until `shutdown`, then writes it a last time.
pub async fn run(state: SimState, shutdown: CancellationToken) {
    let Some(path) = state.data_file().cloned() else {
        return;
    };
    let debounce = state.tuning().persist_debounce;
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = state.store_changed() => {}
        }
        // Let a burst of changes settle so bulk loads write the file once.
        tokio::select! {
            () = shutdown.cancelled() => break,
            () = tokio::time::sleep(debounce) => {}
        }
        flush(&state, &path).await;
    }
    flush(&state, &path).await;
}

async fn flush(state: &SimState, path: &Path) {
    let (tasks, keys) = state.snapshot();
    let path_owned = path.to_owned();
    let result = tokio::task::spawn_blocking(move || save(&path_owned, tasks, keys)).await;
    match result {
        Ok(Ok(())) => tracing::debug!(path = %path.display(), "data file written"),
        Ok(Err(e)) => tracing::error!(error = format!("{e:#}"), "could not write the data file"),
        Err(e) => tracing::error!(error = %e, "the data file writer panicked"),
    }
}

#[cfg(test)]
mod tests {
    use altimeter_api::{CreateTask, TaskFields};

    use super::*;

    #[test]
    fn a_saved_store_loads_back_and_a_missing_file_is_empty() {
        let dir = std::env::temp_dir().join(format!("sim-persist-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("store.json");
        let now = Utc::now();
        assert_eq!(load(&path, now).unwrap().len(), 0);

        let mut store = Store::default();
        let request = CreateTask {
            external_id: None,
            fields: TaskFields::titled("a"),
        };
        store.create(request, Some("k"), now).unwrap();
        let (tasks, keys) = store.parts();
        save(&path, tasks.clone(), keys).unwrap();
        assert!(!temp_path(&path).exists());
        assert_eq!(load(&path, now).unwrap().all(), tasks);

        std::fs::write(&path, "not json").unwrap();
        let err = load(&path, now).unwrap_err();
        assert!(format!("{err:#}").contains("not a simulator data file"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_failed_save_leaves_no_temp_file_and_the_old_content() {
        let dir = std::env::temp_dir().join(format!("sim-persist-{}", uuid::Uuid::new_v4()));
        // The data file's path is taken by a non-empty directory: writing the
        // temp file works, the rename over it does not.
        let path = dir.join("store.json");
        std::fs::create_dir_all(path.join("occupied")).unwrap();
        let err = save(&path, Vec::new(), Vec::new()).unwrap_err();
        assert!(format!("{err:#}").starts_with("writing "), "{err:#}");
        assert!(!temp_path(&path).exists(), "the temp file was cleaned up");
        assert!(path.join("occupied").exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_relative_path_syncs_the_current_directory() {
        sync_directory(Path::new("store.json")).unwrap();
    }
}
