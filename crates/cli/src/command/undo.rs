//! `airlock undo [ID]`: puts back what a snapshot kept — without an id, the newest snapshot not yet restored
//! (not one that an undo made). The files now at those paths are kept in a new snapshot first, so the undo
//! can itself be undone with `airlock undo <that id>` (`--no-backup` skips this).

use airlock_store::snapshots::{SnapshotLimits, UndoOptions};
use airlock_store::{Clock as _, SystemClock};
use clap::Args;

use super::home;
use super::snapshots::{age, size};

/// Arguments of `airlock undo`.
#[derive(Debug, Args)]
pub struct UndoArgs {
    /// Snapshot id (`snap_…`, see `airlock snapshots list`); default: the newest one not yet restored.
    id: Option<String>,
    /// Do not keep the files this replaces (the undo cannot then be undone).
    #[arg(long)]
    no_backup: bool,
    /// Print the report as JSON.
    #[arg(long)]
    json: bool,
}

/// Runs `airlock undo`.
pub fn run(args: UndoArgs) -> anyhow::Result<i32> {
    let home = home::airlock_home();
    let options = UndoOptions {
        backup: !args.no_backup,
        limits: SnapshotLimits::from_config(&home)?,
    };
    let id = args.id;
    let report = home::with_store(|store| async move {
        Ok(store.undo_snapshot(&home, id.as_deref(), &options).await?)
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(0);
    }
    let restored = &report.restored;
    println!(
        "restored {} (taken {} ago in {}): {}",
        restored.id,
        age(SystemClock.now_ms().saturating_sub(restored.created_ms)),
        restored.cwd,
        restored.summary
    );
    println!(
        "{} entries ({} files, {}) under:",
        report.entries,
        restored.files,
        size(restored.bytes)
    );
    for path in &report.paths {
        println!("  {path}");
    }
    match &report.backup {
        Some(backup) => println!(
            "what was there before is kept in {}: `airlock undo {}` puts it back",
            backup.id, backup.id
        ),
        None if args.no_backup => {
            println!("nothing was kept of what was there before (--no-backup)")
        }
        None => println!("nothing was there before"),
    }
    Ok(0)
}
