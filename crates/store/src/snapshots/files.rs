//! The files of a snapshot: walking the planned paths (sizes summed before anything is written, so an
//! over-cap snapshot writes nothing), keeping each regular file as a hard link or a copy under
//! `files/<n>`, the `manifest.json` that records every entry (directories and their modes, files with mode,
//! size and modification time, symlinks with their target verbatim, paths that did not exist), and putting
//! it all back on undo.

use std::fs::{File, FileTimes};
use std::io;
use std::os::unix::fs::{
    DirBuilderExt as _, MetadataExt as _, OpenOptionsExt as _, PermissionsExt as _,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use super::plan::{Capture, PlannedPath};
use crate::clock::Millis;

/// The manifest's format version.
pub const MANIFEST_VERSION: u32 = 1;
/// The manifest's file name inside a snapshot directory.
pub const MANIFEST_FILE: &str = "manifest.json";
/// The directory of kept file contents inside a snapshot directory.
pub const DATA_DIR: &str = "files";

/// A modification time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileTime {
    /// Seconds since the Unix epoch (negative before it).
    pub secs: i64,
    /// Nanoseconds.
    pub nanos: u32,
}

impl FileTime {
    fn of(meta: &std::fs::Metadata) -> Self {
        Self {
            secs: meta.mtime(),
            nanos: u32::try_from(meta.mtime_nsec()).unwrap_or(0),
        }
    }

    fn system_time(self) -> SystemTime {
        let nanos = Duration::from_nanos(u64::from(self.nanos));
        if self.secs >= 0 {
            UNIX_EPOCH + Duration::from_secs(self.secs.unsigned_abs()) + nanos
        } else {
            UNIX_EPOCH - Duration::from_secs(self.secs.unsigned_abs()) + nanos
        }
    }
}

/// A planned path as recorded in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestRoot {
    /// Absolute path.
    pub path: String,
    /// How its files were kept.
    pub capture: Capture,
    /// Whether its absence was recorded.
    pub keep_absence: bool,
    /// The catalogue rule.
    pub rule: String,
}

/// One path as it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ManifestEntry {
    /// A directory (its entries follow it).
    Dir {
        /// Absolute path.
        path: String,
        /// Permission bits (`0o7777`).
        mode: u32,
        /// Modification time.
        mtime: FileTime,
    },
    /// A regular file.
    File {
        /// Absolute path.
        path: String,
        /// Permission bits.
        mode: u32,
        /// Size in bytes when walked.
        size: u64,
        /// Modification time.
        mtime: FileTime,
        /// Where its contents are kept, relative to the snapshot directory (`files/<n>`).
        data: String,
    },
    /// A symbolic link.
    Symlink {
        /// Absolute path.
        path: String,
        /// Its target, verbatim.
        target: String,
    },
    /// Nothing was there.
    Absent {
        /// Absolute path.
        path: String,
    },
}

impl ManifestEntry {
    /// The entry's absolute path.
    pub fn path(&self) -> &str {
        match self {
            ManifestEntry::Dir { path, .. }
            | ManifestEntry::File { path, .. }
            | ManifestEntry::Symlink { path, .. }
            | ManifestEntry::Absent { path } => path,
        }
    }
}

/// `manifest.json`: everything needed to put the paths back.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// [`MANIFEST_VERSION`].
    pub version: u32,
    /// The snapshot id.
    pub id: String,
    /// When it was taken.
    pub created_ms: Millis,
    /// The working directory of the operation.
    pub cwd: String,
    /// The planned paths.
    pub roots: Vec<ManifestRoot>,
    /// Every path under the roots, each directory before its entries.
    pub entries: Vec<ManifestEntry>,
}

/// A regular file to keep: where it is, how, and under which data name.
pub(crate) struct ToKeep {
    pub source: PathBuf,
    pub capture: Capture,
    pub data: String,
}

/// What walking the plan found.
pub(crate) enum Walked {
    /// Entries (in manifest order), the files to keep, their count and bytes.
    Found {
        entries: Vec<ManifestEntry>,
        keep: Vec<ToKeep>,
        bytes: u64,
    },
    /// More than the limits allow (counted up to the point the walk stopped).
    OverCap { bytes: u64, files: u64 },
    /// Something that cannot be kept faithfully.
    Unsupported { path: PathBuf, reason: String },
}

fn text(path: &Path) -> Option<String> {
    path.to_str().map(str::to_string)
}

/// Walks every planned path without following symlinks and without writing anything.
pub(crate) fn walk(paths: &[PlannedPath], max_bytes: u64, max_files: u64) -> Walked {
    let mut entries = Vec::new();
    let mut keep = Vec::new();
    let mut bytes: u64 = 0;
    let unsupported = |path: &Path, reason: String| Walked::Unsupported {
        path: path.to_path_buf(),
        reason,
    };
    for root in paths {
        let mut stack = vec![root.path.clone()];
        while let Some(path) = stack.pop() {
            let Some(path_text) = text(&path) else {
                return unsupported(&path, "the path is not valid UTF-8".to_string());
            };
            let meta = match std::fs::symlink_metadata(&path) {
                Ok(meta) => meta,
                Err(e) if e.kind() == io::ErrorKind::NotFound && path == root.path => {
                    if root.keep_absence {
                        entries.push(ManifestEntry::Absent { path: path_text });
                    }
                    continue;
                }
                Err(e) => return unsupported(&path, format!("cannot read it: {e}")),
            };
            let file_type = meta.file_type();
            let mode = meta.mode() & 0o7777;
            if file_type.is_dir() {
                let children = match std::fs::read_dir(&path).and_then(|dir| {
                    dir.map(|e| e.map(|e| e.file_name()))
                        .collect::<io::Result<Vec<_>>>()
                }) {
                    Ok(children) => children,
                    Err(e) => return unsupported(&path, format!("cannot list it: {e}")),
                };
                entries.push(ManifestEntry::Dir {
                    path: path_text,
                    mode,
                    mtime: FileTime::of(&meta),
                });
                let mut children = children;
                // Reverse order on the stack, so entries come out sorted.
                children.sort_by(|a, b| b.cmp(a));
                stack.extend(children.into_iter().map(|name| path.join(name)));
            } else if file_type.is_file() {
                bytes = bytes.saturating_add(meta.len());
                let files = u64::try_from(keep.len())
                    .unwrap_or(u64::MAX)
                    .saturating_add(1);
                if bytes > max_bytes || files > max_files {
                    return Walked::OverCap { bytes, files };
                }
                let data = format!("{DATA_DIR}/{}", keep.len());
                entries.push(ManifestEntry::File {
                    path: path_text,
                    mode,
                    size: meta.len(),
                    mtime: FileTime::of(&meta),
                    data: data.clone(),
                });
                keep.push(ToKeep {
                    source: path,
                    capture: root.capture,
                    data,
                });
            } else if file_type.is_symlink() {
                let target = match std::fs::read_link(&path) {
                    Ok(target) => target,
                    Err(e) => return unsupported(&path, format!("cannot read the symlink: {e}")),
                };
                let Some(target) = text(&target) else {
                    return unsupported(&path, "the symlink target is not valid UTF-8".to_string());
                };
                entries.push(ManifestEntry::Symlink {
                    path: path_text,
                    target,
                });
            } else {
                return unsupported(
                    &path,
                    "it is a device, socket or pipe, which airlock does not keep".to_string(),
                );
            }
        }
    }
    Walked::Found {
        entries,
        keep,
        bytes,
    }
}

/// Creates a directory only the owner can enter.
pub(crate) fn private_dir(path: &Path) -> io::Result<()> {
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// Copies `from` to a new file `to` (owner-only), through `copy_file_range` where the kernel offers it.
fn copy_new(from: &Path, to: &Path, mode: u32) -> io::Result<File> {
    let mut source = File::open(from)?;
    let mut dest = File::options()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(to)?;
    io::copy(&mut source, &mut dest)?;
    Ok(dest)
}

/// Why keeping a file failed: the source could not be read (ask a person), or writing the snapshot failed.
pub(crate) enum KeepError {
    Source(PathBuf, io::Error),
    Snapshot(PathBuf, io::Error),
}

/// Keeps one file in `dir`: a hard link when asked and possible, else a copy.
pub(crate) fn keep_file(dir: &Path, item: &ToKeep) -> Result<(), KeepError> {
    let dest = dir.join(&item.data);
    if item.capture == Capture::Link && std::fs::hard_link(&item.source, &dest).is_ok() {
        return Ok(());
    }
    let mut source =
        File::open(&item.source).map_err(|e| KeepError::Source(item.source.clone(), e))?;
    let mut file = File::options()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&dest)
        .map_err(|e| KeepError::Snapshot(dest.clone(), e))?;
    io::copy(&mut source, &mut file)
        .map(drop)
        .map_err(|e| KeepError::Snapshot(dest, e))
}

/// Removes whatever is at `path` (a file, a symlink or a whole tree), making read-only directories writable
/// first when that is what stops the removal. A missing path is fine.
pub(crate) fn remove_path(path: &Path) -> io::Result<()> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    if !meta.file_type().is_dir() {
        return std::fs::remove_file(path);
    }
    match std::fs::remove_dir_all(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            make_dirs_writable(path)?;
            std::fs::remove_dir_all(path)
        }
        Err(e) => Err(e),
    }
}

fn make_dirs_writable(path: &Path) -> io::Result<()> {
    let mut stack = vec![path.to_path_buf()];
    while let Some(dir) = stack.pop() {
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))?;
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            if entry.file_type()?.is_dir() {
                stack.push(entry.path());
            }
        }
    }
    Ok(())
}

/// Puts `entries` back (the roots were removed first): directories are made owner-writable while they are
/// filled and get their mode and time at the end, deepest first.
pub(crate) fn restore_entries(
    dir: &Path,
    entries: &[ManifestEntry],
) -> Result<(), (PathBuf, io::Error)> {
    let mut dirs: Vec<(&str, u32, FileTime)> = Vec::new();
    for entry in entries {
        let at = |e: io::Error| (PathBuf::from(entry.path()), e);
        match entry {
            ManifestEntry::Absent { .. } => {}
            ManifestEntry::Dir { path, mode, mtime } => {
                if let Some(parent) = Path::new(path).parent() {
                    std::fs::create_dir_all(parent).map_err(at)?;
                }
                match std::fs::DirBuilder::new().mode(0o700).create(path) {
                    Err(e)
                        if !(e.kind() == io::ErrorKind::AlreadyExists
                            && Path::new(path).is_dir()) =>
                    {
                        return Err(at(e));
                    }
                    _ => {}
                }
                dirs.push((path, *mode, *mtime));
            }
            ManifestEntry::File {
                path,
                mode,
                mtime,
                data,
                ..
            } => {
                if let Some(parent) = Path::new(path).parent() {
                    std::fs::create_dir_all(parent).map_err(at)?;
                }
                let file = copy_new(&dir.join(data), Path::new(path), 0o600).map_err(at)?;
                file.set_times(FileTimes::new().set_modified(mtime.system_time()))
                    .map_err(at)?;
                file.set_permissions(std::fs::Permissions::from_mode(*mode))
                    .map_err(at)?;
            }
            ManifestEntry::Symlink { path, target } => {
                if let Some(parent) = Path::new(path).parent() {
                    std::fs::create_dir_all(parent).map_err(at)?;
                }
                std::os::unix::fs::symlink(target, path).map_err(at)?;
            }
        }
    }
    for (path, mode, mtime) in dirs.into_iter().rev() {
        let at = |e: io::Error| (PathBuf::from(path), e);
        File::open(path)
            .and_then(|d| d.set_times(FileTimes::new().set_modified(mtime.system_time())))
            .map_err(at)?;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(at)?;
    }
    Ok(())
}

/// The data name is one this store wrote (`files/<n>`), so a manifest cannot point outside its directory.
pub(crate) fn valid_data_name(data: &str) -> bool {
    data.strip_prefix(DATA_DIR)
        .and_then(|rest| rest.strip_prefix('/'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}
