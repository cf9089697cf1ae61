//! Snapshots: what a recoverable delete or overwrite would destroy, kept before it runs so that
//! `airlock undo` can put it back. In hook mode an `ask` decision whose policy rule says
//! `@mitigation("snapshot")` (e.g. `rm -r build-output`, `git reset --hard`, `git checkout -- .`,
//! `git clean -fdx`) is allowed once its snapshot is taken; over the size cap, or when the files cannot be
//! worked out exactly, the hook asks a person instead.
//!
//! # API
//! ```text
//! plan_snapshot(&Engine, &Envelope, &Decision, cwd) -> Result<SnapshotPlan, PlanError>   (sync; may run git once)
//! Store::take_snapshot(&self, home, &SnapshotPlan, SnapshotMeta, SnapshotLimits) -> Result<SnapshotOutcome>
//!     Taken(Box<SnapshotInfo>) ⇒ allow, audit "snapshot snap_…";  NothingToKeep ⇒ allow (nothing would be lost);
//!     OverCap{..} | Unsupported{..} (or any Err, or a PlanError) ⇒ ask a person instead.
//! Store::set_snapshot_audit(&self, id, audit_seq, approval_id)      links the audit entry written afterwards
//! Store::list_snapshots / snapshot(id) / undo_snapshot(home, id?, &UndoOptions) / prune_snapshots(home, ..)
//! SnapshotLimits::from_config(home)     `[snapshots] max_bytes / max_files` in airlock.toml (256 MiB, 100 000)
//! ```
//! `decision.mitigation == Snapshot` alone is not enough to allow: the mitigation is the strongest over all
//! reasons, so `rm -r build && eval "$X"` carries it too. `plan_snapshot` checks that every reason comes from
//! a policy rule with the snapshot mitigation and that every action behind one can be planned.
//! `home` is `$AIRLOCK_HOME`; the files live in `$AIRLOCK_HOME/snapshots/<id>/` (`manifest.json` and
//! `files/<n>`, owner-only), the index in the `snapshots` table (state `taken` → `restored` | `pruned`).
//!
//! Inside: `plan` (what an action would destroy), `git` (asking git), `files` (walking, keeping and writing
//! back entries, the manifest), `restore` (undo, prune, manifest checks); the index and `take_snapshot` here.
//!
//! # Choices
//! - Files that the operation removes (`rm -r`, `git clean`, `mv … /dev/null`) are kept as hard links: an unlink
//!   leaves our link, and linking a large tree costs no copy. Files it may rewrite in place (`git reset --hard`,
//!   `git checkout`/`restore`, `truncate`, `shred`, a file write) and trees it only partly deletes
//!   (`find -delete`, `git rm`) are copied — a hard link shares the inode, so `> file` would change the
//!   snapshot too. Reflinks need an ioctl (unsafe code, forbidden here); the copy goes through
//!   `copy_file_range`, which shares extents on file systems that can. A link that fails (another file
//!   system) becomes a copy. The size cap counts every kept byte, linked or copied.
//! - Undo restores each planned path exactly: whatever is there now is removed and the kept entries (contents,
//!   modes, modification times, symlinks verbatim, directories, empty ones too) are written back; a path that
//!   did not exist before an overwrite is removed again. Before that, the current state of those paths is kept
//!   in a new snapshot (`undo_of` = the one restored), so undo can itself be undone with `airlock undo ID`.
//!   Without an id, undo takes the newest snapshot still `taken` that was not made by an undo.
//! - Git state other than working-tree files (HEAD, the index, stashes) is not restored: after undoing a
//!   `git reset --hard HEAD~3`, HEAD stays where the reset put it (`git reflog` has the old one) and formerly
//!   staged files come back as working-tree changes.

mod files;
mod git;
mod plan;
mod restore;

use std::path::{Path, PathBuf};

use airlock_engine::Envelope;
use serde::{Deserialize, Serialize};
use sqlx::Row as _;

pub use files::{FileTime, MANIFEST_FILE, MANIFEST_VERSION, Manifest, ManifestEntry, ManifestRoot};
pub use plan::{Capture, PlanError, PlannedPath, SnapshotPlan, plan_snapshot, plan_snapshot_in};
pub use restore::read_manifest;

use crate::clock::Millis;
use crate::config::CONFIG_FILE;
use crate::db::{Store, on_pool, random_bytes};
use crate::error::{Result, StoreError};
use crate::redact::summarize;

/// The directory of snapshots inside `$AIRLOCK_HOME`.
pub const SNAPSHOTS_DIR: &str = "snapshots";
/// Default cap on the bytes one snapshot keeps: 256 MiB.
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;
/// Default cap on the files one snapshot keeps.
pub const DEFAULT_MAX_FILES: u64 = 100_000;

/// `$AIRLOCK_HOME/snapshots`.
pub fn snapshots_dir(home: &Path) -> PathBuf {
    home.join(SNAPSHOTS_DIR)
}

/// Everything that can go wrong with snapshots beyond the database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// No snapshot has this id.
    #[error("no snapshot `{0}`; `airlock snapshots list` shows them")]
    NotFound(String),
    /// Undo without an id found nothing.
    #[error("no snapshot to undo: every snapshot is restored or pruned (`airlock snapshots list`)")]
    NothingToUndo,
    /// The snapshot's files were pruned.
    #[error("snapshot `{0}` was pruned; its files are gone")]
    Pruned(String),
    /// A file operation failed.
    #[error("cannot {action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// On which path.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// A manifest is missing, unreadable or inconsistent.
    #[error("snapshot `{id}` has a bad manifest: {message}")]
    Manifest {
        /// The snapshot.
        id: String,
        /// What is wrong.
        message: String,
    },
    /// Keeping the current state before an undo would exceed the cap.
    #[error(
        "undo keeps the current files first, but they take {bytes} bytes, over the snapshot cap of {max_bytes}; raise `[snapshots] max_bytes` in airlock.toml or run `airlock undo {id} --no-backup`"
    )]
    BackupOverCap {
        /// The snapshot being restored.
        id: String,
        /// Bytes found (at least).
        bytes: u64,
        /// The cap.
        max_bytes: u64,
    },
    /// The current state before an undo cannot be kept.
    #[error(
        "undo keeps the current files first, but cannot keep `{path}`: {reason}; move it away or run `airlock undo {id} --no-backup`"
    )]
    BackupUnsupported {
        /// The snapshot being restored.
        id: String,
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
    /// Restoring failed part way.
    #[error(
        "restoring snapshot `{id}` failed at `{path}`: {source}{}",
        backup.as_ref().map(|b| format!("; the files as they were before this undo are in snapshot `{b}`")).unwrap_or_default()
    )]
    Restore {
        /// The snapshot.
        id: String,
        /// Where it failed.
        path: String,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
        /// The snapshot of the state before the undo, if taken.
        backup: Option<String>,
    },
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> StoreError {
    let path = path.display().to_string();
    move |source| {
        SnapshotError::Io {
            action,
            path,
            source,
        }
        .into()
    }
}

/// Caps on one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotLimits {
    /// Most bytes kept.
    pub max_bytes: u64,
    /// Most regular files kept.
    pub max_files: u64,
}

impl Default for SnapshotLimits {
    fn default() -> Self {
        Self {
            max_bytes: DEFAULT_MAX_BYTES,
            max_files: DEFAULT_MAX_FILES,
        }
    }
}

impl SnapshotLimits {
    /// The limits in `$AIRLOCK_HOME/airlock.toml` (`[snapshots] max_bytes = …`, `max_files = …`), defaults for
    /// what is not set. A file that does not parse, or a value that is not a positive integer, is an error.
    pub fn from_config(home: &Path) -> Result<Self> {
        let path = home.join(CONFIG_FILE);
        let bad = |message: String| StoreError::Config {
            path: path.display().to_string(),
            message,
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(bad(e.to_string())),
        };
        let table: toml::Table = toml::from_str(&text).map_err(|e| bad(e.message().to_string()))?;
        let mut limits = Self::default();
        let Some(section) = table.get("snapshots") else {
            return Ok(limits);
        };
        let Some(section) = section.as_table() else {
            return Err(bad("`[snapshots]` must be a table".to_string()));
        };
        for (key, slot) in [
            ("max_bytes", &mut limits.max_bytes),
            ("max_files", &mut limits.max_files),
        ] {
            match section.get(key) {
                None => {}
                Some(toml::Value::Integer(n)) if *n > 0 => *slot = n.unsigned_abs(),
                Some(_) => {
                    return Err(bad(format!("`snapshots.{key}` must be a positive integer")));
                }
            }
        }
        Ok(limits)
    }
}

/// Who and what a snapshot is for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// The agent that asked.
    pub agent: Option<String>,
    /// Its session.
    pub session: Option<String>,
    /// One line about the request, secrets redacted.
    pub summary: String,
    /// The audit entry of the decision, when already written.
    pub audit_seq: Option<i64>,
    /// The approval involved, if any.
    pub approval_id: Option<String>,
    /// For the snapshot undo takes of the current state: the snapshot being restored.
    pub undo_of: Option<String>,
}

impl SnapshotMeta {
    /// Agent, session and a redacted summary from the request.
    pub fn from_envelope(envelope: &Envelope) -> Self {
        Self {
            agent: envelope.context.agent.clone(),
            session: envelope.context.session.clone(),
            summary: summarize(envelope),
            ..Self::default()
        }
    }
}

/// Where a snapshot is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SnapshotState {
    /// Kept, not restored.
    Taken,
    /// Put back by `airlock undo` (the files are still kept until pruned).
    Restored,
    /// Its files were deleted by `airlock snapshots prune`.
    Pruned,
}

impl SnapshotState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            SnapshotState::Taken => "taken",
            SnapshotState::Restored => "restored",
            SnapshotState::Pruned => "pruned",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "taken" => SnapshotState::Taken,
            "restored" => SnapshotState::Restored,
            "pruned" => SnapshotState::Pruned,
            other => {
                return Err(StoreError::Malformed {
                    what: "snapshot",
                    message: format!("unknown state `{other}`"),
                });
            }
        })
    }
}

/// A snapshot's index row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotInfo {
    /// `snap_<hex>`.
    pub id: String,
    /// When it was taken.
    pub created_ms: Millis,
    /// The working directory of the operation.
    pub cwd: String,
    /// The agent.
    pub agent: Option<String>,
    /// Its session.
    pub session: Option<String>,
    /// The request, redacted.
    pub summary: String,
    /// The catalogue rules it covers.
    pub rules: Vec<String>,
    /// The audit entry of the decision.
    pub audit_seq: Option<i64>,
    /// The approval involved.
    pub approval_id: Option<String>,
    /// Set on the snapshot an undo took of the state it replaced.
    pub undo_of: Option<String>,
    /// Regular files kept.
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// taken, restored or pruned.
    pub state: SnapshotState,
    /// When it was restored or pruned.
    pub state_ms: Option<Millis>,
}

/// The result of [`Store::take_snapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SnapshotOutcome {
    /// Kept; the operation can go ahead.
    Taken(Box<SnapshotInfo>),
    /// None of the planned paths holds anything the operation would lose; nothing was written.
    NothingToKeep,
    /// Over the cap; nothing was written. Ask a person instead.
    OverCap {
        /// Bytes found before the walk stopped (at least this many).
        bytes: u64,
        /// Files found before the walk stopped.
        files: u64,
        /// The limits in force.
        limits: SnapshotLimits,
    },
    /// A path cannot be kept faithfully (unreadable, a device or socket, a name that is not UTF-8, a place
    /// airlock never snapshots); nothing was written. Ask a person instead.
    Unsupported {
        /// The path.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

/// Options for [`Store::undo_snapshot`].
#[derive(Debug, Clone, Copy)]
pub struct UndoOptions {
    /// Keep the current state of the paths in a new snapshot first (default), so the undo can be undone.
    pub backup: bool,
    /// Limits for that snapshot.
    pub limits: SnapshotLimits,
}

impl Default for UndoOptions {
    fn default() -> Self {
        Self {
            backup: true,
            limits: SnapshotLimits::default(),
        }
    }
}

/// What an undo did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UndoReport {
    /// The snapshot restored (state now `restored`).
    pub restored: SnapshotInfo,
    /// The snapshot of what was there before the undo, if one was kept.
    pub backup: Option<SnapshotInfo>,
    /// The planned paths put back.
    pub paths: Vec<String>,
    /// Directories, files and symlinks written back.
    pub entries: u64,
}

/// What a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// Snapshots whose files were deleted.
    pub pruned: Vec<String>,
    /// Their bytes.
    pub bytes: u64,
    /// Leftover directories (interrupted or unindexed snapshots over an hour old) removed.
    pub leftovers: u64,
}

const SNAPSHOT_COLUMNS: &str = "id, created_ms, cwd, agent, session, summary, rules, audit_seq, approval_id, undo_of, files, bytes, state, state_ms";

macro_rules! decode_snapshot {
    ($row:expr) => {{
        let row = $row;
        let rules: String = row.try_get(6)?;
        let files: i64 = row.try_get(10)?;
        let bytes: i64 = row.try_get(11)?;
        let state: String = row.try_get(12)?;
        SnapshotInfo {
            id: row.try_get(0)?,
            created_ms: row.try_get(1)?,
            cwd: row.try_get(2)?,
            agent: row.try_get(3)?,
            session: row.try_get(4)?,
            summary: row.try_get(5)?,
            rules: rules
                .split(',')
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect(),
            audit_seq: row.try_get(7)?,
            approval_id: row.try_get(8)?,
            undo_of: row.try_get(9)?,
            files: files.unsigned_abs(),
            bytes: bytes.unsigned_abs(),
            state: SnapshotState::parse(&state)?,
            state_ms: row.try_get(13)?,
        }
    }};
}

fn user_home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Why `root` may not be kept or restored over: a place airlock never touches, or one that holds (or is
/// inside) airlock's own home.
fn unsafe_root(root: &Path, airlock_home: &Path) -> Option<String> {
    if let Some(why) = plan::forbidden_root(root, user_home().as_deref()) {
        return Some(format!("airlock never snapshots {why}"));
    }
    let home = std::fs::canonicalize(airlock_home).unwrap_or_else(|_| airlock_home.to_path_buf());
    (home.starts_with(root) || root.starts_with(&home) || airlock_home.starts_with(root))
        .then(|| "the path holds airlock's own files".to_string())
}

fn clamp(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

impl Store {
    /// Keeps what `plan` would lose in `$AIRLOCK_HOME/snapshots/<id>/` and indexes it. The planned paths are
    /// walked (and sized) before anything is written: over `limits`, or with something that cannot be kept,
    /// nothing is written and the outcome says why. `Err` means the snapshot could not be written or indexed;
    /// the operation must not go ahead unprotected.
    pub async fn take_snapshot(
        &self,
        home: &Path,
        plan: &SnapshotPlan,
        meta: SnapshotMeta,
        limits: SnapshotLimits,
    ) -> Result<SnapshotOutcome> {
        for item in &plan.paths {
            if let Some(reason) = unsafe_root(&item.path, home) {
                return Ok(SnapshotOutcome::Unsupported {
                    path: item.path.clone(),
                    reason,
                });
            }
        }
        let (entries, keep, bytes) =
            match files::walk(&plan.paths, limits.max_bytes, limits.max_files) {
                files::Walked::Found {
                    entries,
                    keep,
                    bytes,
                } => (entries, keep, bytes),
                files::Walked::OverCap { bytes, files } => {
                    return Ok(SnapshotOutcome::OverCap {
                        bytes,
                        files,
                        limits,
                    });
                }
                files::Walked::Unsupported { path, reason } => {
                    return Ok(SnapshotOutcome::Unsupported { path, reason });
                }
            };
        if entries.is_empty() {
            return Ok(SnapshotOutcome::NothingToKeep);
        }
        let id = format!("snap_{}", hex::encode(random_bytes::<8>()?));
        let created_ms = self.clock.now_ms();
        let root = snapshots_dir(home);
        files::private_dir(&root).map_err(io_error("create", &root))?;
        let partial = root.join(format!("{id}.partial"));
        let data_dir = partial.join(files::DATA_DIR);
        files::private_dir(&data_dir).map_err(io_error("create", &data_dir))?;
        let discard = |partial: &Path| {
            let _ = files::remove_path(partial);
        };
        for item in &keep {
            match files::keep_file(&partial, item) {
                Ok(()) => {}
                Err(files::KeepError::Source(path, e)) => {
                    discard(&partial);
                    return Ok(SnapshotOutcome::Unsupported {
                        path,
                        reason: format!("cannot read it: {e}"),
                    });
                }
                Err(files::KeepError::Snapshot(path, e)) => {
                    discard(&partial);
                    return Err(io_error("write", &path)(e));
                }
            }
        }
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            id: id.clone(),
            created_ms,
            cwd: plan.cwd.display().to_string(),
            roots: plan
                .paths
                .iter()
                .map(|p| ManifestRoot {
                    path: p.path.display().to_string(),
                    capture: p.capture,
                    keep_absence: p.keep_absence,
                    rule: p.rule.clone(),
                })
                .collect(),
            entries,
        };
        let manifest_path = partial.join(MANIFEST_FILE);
        let written = serde_json::to_vec(&manifest)
            .map_err(std::io::Error::other)
            .and_then(|json| std::fs::write(&manifest_path, json));
        if let Err(e) = written {
            discard(&partial);
            return Err(io_error("write", &manifest_path)(e));
        }
        let dir = root.join(&id);
        if let Err(e) = std::fs::rename(&partial, &dir) {
            discard(&partial);
            return Err(io_error("rename", &partial)(e));
        }
        let info = SnapshotInfo {
            id,
            created_ms,
            cwd: manifest.cwd,
            agent: meta.agent,
            session: meta.session,
            summary: meta.summary,
            rules: plan.rules.clone(),
            audit_seq: meta.audit_seq,
            approval_id: meta.approval_id,
            undo_of: meta.undo_of,
            files: u64::try_from(keep.len()).unwrap_or(u64::MAX),
            bytes,
            state: SnapshotState::Taken,
            state_ms: None,
        };
        let inserted: Result<()> = async {
            on_pool!(self, pool => {
                sqlx::query(&format!(
                    "INSERT INTO snapshots ({SNAPSHOT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, NULL)"
                ))
                .bind(&info.id)
                .bind(info.created_ms)
                .bind(&info.cwd)
                .bind(&info.agent)
                .bind(&info.session)
                .bind(&info.summary)
                .bind(info.rules.join(","))
                .bind(info.audit_seq)
                .bind(&info.approval_id)
                .bind(&info.undo_of)
                .bind(clamp(info.files))
                .bind(clamp(info.bytes))
                .bind(info.state.as_str())
                .execute(pool)
                .await?;
            });
            Ok(())
        }
        .await;
        if let Err(e) = inserted {
            discard(&dir);
            return Err(e);
        }
        Ok(SnapshotOutcome::Taken(Box::new(info)))
    }

    /// Links a snapshot to the audit entry (and approval) of the decision it protects.
    pub async fn set_snapshot_audit(
        &self,
        id: &str,
        audit_seq: Option<i64>,
        approval_id: Option<&str>,
    ) -> Result<()> {
        let done = on_pool!(self, pool => {
            sqlx::query("UPDATE snapshots SET audit_seq = COALESCE($2, audit_seq), approval_id = COALESCE($3, approval_id) WHERE id = $1")
                .bind(id)
                .bind(audit_seq)
                .bind(approval_id)
                .execute(pool)
                .await?
                .rows_affected()
        });
        if done == 0 {
            return Err(SnapshotError::NotFound(id.to_string()).into());
        }
        Ok(())
    }

    /// One snapshot's index row.
    pub async fn snapshot(&self, id: &str) -> Result<SnapshotInfo> {
        on_pool!(self, pool => {
            let row = sqlx::query(&format!("SELECT {SNAPSHOT_COLUMNS} FROM snapshots WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Ok(decode_snapshot!(&row)),
                None => Err(SnapshotError::NotFound(id.to_string()).into()),
            }
        })
    }

    /// Every snapshot, newest first.
    pub async fn list_snapshots(&self) -> Result<Vec<SnapshotInfo>> {
        on_pool!(self, pool => {
            let rows = sqlx::query(&format!(
                "SELECT {SNAPSHOT_COLUMNS} FROM snapshots ORDER BY created_ms DESC, id DESC"
            ))
            .fetch_all(pool)
            .await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(decode_snapshot!(row));
            }
            Ok(out)
        })
    }

    async fn set_snapshot_state(&self, id: &str, state: SnapshotState) -> Result<()> {
        let now = self.clock.now_ms();
        on_pool!(self, pool => {
            sqlx::query("UPDATE snapshots SET state = $2, state_ms = $3 WHERE id = $1")
                .bind(id)
                .bind(state.as_str())
                .bind(now)
                .execute(pool)
                .await?;
        });
        Ok(())
    }
}
