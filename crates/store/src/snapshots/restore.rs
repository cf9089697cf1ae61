//! Undo and prune: putting a snapshot back exactly (after keeping what it replaces in a new snapshot), deleting
//! old snapshots' files, and reading a manifest with the checks that keep a restore inside the snapshot's paths.

use std::path::{Component, Path, PathBuf};

use super::files;
use super::{
    Capture, MANIFEST_FILE, MANIFEST_VERSION, Manifest, ManifestEntry, PlannedPath, PruneReport,
    SnapshotError, SnapshotInfo, SnapshotMeta, SnapshotOutcome, SnapshotPlan, SnapshotState,
    UndoOptions, UndoReport, io_error, snapshots_dir, unsafe_root,
};
use crate::clock::Millis;
use crate::db::Store;
use crate::error::{Result, StoreError};

impl Store {
    /// Puts snapshot `id` back — without an id, the newest one still `taken` that no undo made. The
    /// current state of its paths is kept in a new snapshot first (unless `options.backup` is false), then
    /// each path is replaced by exactly what the snapshot holds.
    pub async fn undo_snapshot(
        &self,
        home: &Path,
        id: Option<&str>,
        options: &UndoOptions,
    ) -> Result<UndoReport> {
        let info = match id {
            Some(id) => self.snapshot(id).await?,
            None => self
                .list_snapshots()
                .await?
                .into_iter()
                .find(|s| s.state == SnapshotState::Taken && s.undo_of.is_none())
                .ok_or(SnapshotError::NothingToUndo)?,
        };
        if info.state == SnapshotState::Pruned {
            return Err(SnapshotError::Pruned(info.id).into());
        }
        let dir = snapshots_dir(home).join(&info.id);
        let manifest = read_manifest(&dir, &info.id)?;
        for root in &manifest.roots {
            if let Some(reason) = unsafe_root(Path::new(&root.path), home) {
                return Err(bad_manifest(&info.id, format!("`{}`: {reason}", root.path)));
            }
        }
        let backup = if options.backup {
            let plan = SnapshotPlan {
                cwd: PathBuf::from(&manifest.cwd),
                paths: manifest
                    .roots
                    .iter()
                    .map(|r| PlannedPath {
                        path: PathBuf::from(&r.path),
                        capture: Capture::Copy,
                        keep_absence: true,
                        rule: r.rule.clone(),
                    })
                    .collect(),
                rules: info.rules.clone(),
            };
            let meta = SnapshotMeta {
                summary: format!("before undo of {}: {}", info.id, info.summary),
                undo_of: Some(info.id.clone()),
                ..SnapshotMeta::default()
            };
            match self
                .take_snapshot(home, &plan, meta, options.limits)
                .await?
            {
                SnapshotOutcome::Taken(backup) => Some(*backup),
                SnapshotOutcome::NothingToKeep => None,
                SnapshotOutcome::OverCap { bytes, limits, .. } => {
                    return Err(SnapshotError::BackupOverCap {
                        id: info.id,
                        bytes,
                        max_bytes: limits.max_bytes,
                    }
                    .into());
                }
                SnapshotOutcome::Unsupported { path, reason } => {
                    return Err(SnapshotError::BackupUnsupported {
                        id: info.id,
                        path: path.display().to_string(),
                        reason,
                    }
                    .into());
                }
            }
        } else {
            None
        };
        let failed = |path: PathBuf, source: std::io::Error| SnapshotError::Restore {
            id: info.id.clone(),
            path: path.display().to_string(),
            source,
            backup: backup.as_ref().map(|b| b.id.clone()),
        };
        for root in &manifest.roots {
            files::remove_path(Path::new(&root.path))
                .map_err(|e| failed(PathBuf::from(&root.path), e))?;
        }
        files::restore_entries(&dir, &manifest.entries).map_err(|(path, e)| failed(path, e))?;
        self.set_snapshot_state(&info.id, SnapshotState::Restored)
            .await?;
        let restored = self.snapshot(&info.id).await?;
        let entries = manifest
            .entries
            .iter()
            .filter(|e| !matches!(e, ManifestEntry::Absent { .. }))
            .count();
        Ok(UndoReport {
            restored,
            backup,
            paths: manifest.roots.into_iter().map(|r| r.path).collect(),
            entries: u64::try_from(entries).unwrap_or(u64::MAX),
        })
    }

    /// Deletes the files of snapshots (not yet pruned) that are older than `older_than_ms` and not among the
    /// newest `keep`; their rows stay, marked `pruned`. Either filter may be absent; with neither, every
    /// snapshot is pruned. Also removes leftover directories over an hour old (interrupted or unindexed).
    pub async fn prune_snapshots(
        &self,
        home: &Path,
        older_than_ms: Option<Millis>,
        keep: Option<usize>,
    ) -> Result<PruneReport> {
        let now = self.clock.now_ms();
        let all = self.list_snapshots().await?;
        let mut report = PruneReport::default();
        let live: Vec<&SnapshotInfo> = all
            .iter()
            .filter(|s| s.state != SnapshotState::Pruned)
            .collect();
        for (rank, snap) in live.iter().enumerate() {
            let kept_by_count = keep.is_some_and(|k| rank < k);
            let young = older_than_ms.is_some_and(|d| now.saturating_sub(snap.created_ms) < d);
            if kept_by_count || young {
                continue;
            }
            let dir = snapshots_dir(home).join(&snap.id);
            files::remove_path(&dir).map_err(io_error("remove", &dir))?;
            self.set_snapshot_state(&snap.id, SnapshotState::Pruned)
                .await?;
            report.pruned.push(snap.id.clone());
            report.bytes = report.bytes.saturating_add(snap.bytes);
        }
        let root = snapshots_dir(home);
        let listing = match std::fs::read_dir(&root) {
            Ok(listing) => listing,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(report),
            Err(e) => return Err(io_error("list", &root)(e)),
        };
        let hour_ago = std::time::SystemTime::now()
            .checked_sub(std::time::Duration::from_secs(3600))
            .unwrap_or(std::time::UNIX_EPOCH);
        for entry in listing {
            let entry = entry.map_err(io_error("list", &root))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let indexed = all
                .iter()
                .any(|s| s.id == name && s.state != SnapshotState::Pruned);
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t < hour_ago);
            if name.starts_with("snap_") && !indexed && old {
                files::remove_path(&entry.path()).map_err(io_error("remove", &entry.path()))?;
                report.leftovers = report.leftovers.saturating_add(1);
            }
        }
        Ok(report)
    }
}

fn bad_manifest(id: &str, message: String) -> StoreError {
    SnapshotError::Manifest {
        id: id.to_string(),
        message,
    }
    .into()
}

/// Reads and checks the manifest in snapshot directory `dir`: the right id, absolute roots, every entry
/// under a root, data names this store writes and data files present.
pub fn read_manifest(dir: &Path, id: &str) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let text = std::fs::read(&path)
        .map_err(|e| bad_manifest(id, format!("cannot read `{}`: {e}", path.display())))?;
    let manifest: Manifest =
        serde_json::from_slice(&text).map_err(|e| bad_manifest(id, e.to_string()))?;
    if manifest.version != MANIFEST_VERSION {
        return Err(bad_manifest(
            id,
            format!("version {} is not {MANIFEST_VERSION}", manifest.version),
        ));
    }
    if manifest.id != id {
        return Err(bad_manifest(id, format!("it names `{}`", manifest.id)));
    }
    // Entries that hold no others: nothing may be restored through a symlink or a file written earlier.
    let mut leaves = std::collections::BTreeSet::new();
    for entry in &manifest.entries {
        let path = Path::new(entry.path());
        if path
            .components()
            .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
        {
            return Err(bad_manifest(
                id,
                format!("`{}` has `.` or `..` in it", entry.path()),
            ));
        }
        if path.ancestors().skip(1).any(|a| leaves.contains(a)) {
            return Err(bad_manifest(
                id,
                format!(
                    "`{}` lies under a file or symlink of the snapshot",
                    entry.path()
                ),
            ));
        }
        if matches!(
            entry,
            ManifestEntry::File { .. }
                | ManifestEntry::Symlink { .. }
                | ManifestEntry::Absent { .. }
        ) {
            leaves.insert(path);
        }
        if !manifest
            .roots
            .iter()
            .any(|r| Path::new(&r.path).is_absolute() && path.starts_with(&r.path))
        {
            return Err(bad_manifest(
                id,
                format!("`{}` is outside the snapshot's paths", entry.path()),
            ));
        }
        if let ManifestEntry::File { data, .. } = entry
            && !(files::valid_data_name(data) && dir.join(data).is_file())
        {
            return Err(bad_manifest(
                id,
                format!("the contents of `{}` (`{data}`) are missing", entry.path()),
            ));
        }
    }
    Ok(manifest)
}
