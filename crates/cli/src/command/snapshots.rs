//! `airlock snapshots list|show|prune`: the files airlock kept before recoverable deletes and overwrites
//! (`$AIRLOCK_HOME/snapshots/`), what each one holds, and deleting old ones. `airlock undo` puts one back.

use airlock_store::clock::{self, Millis};
use airlock_store::redact::truncate_chars;
use airlock_store::snapshots::{ManifestEntry, read_manifest, snapshots_dir};
use airlock_store::{Clock as _, SnapshotInfo, SystemClock};
use clap::Subcommand;

use super::home;

/// `airlock snapshots` subcommands.
#[derive(Debug, Subcommand)]
pub enum SnapshotsCommand {
    /// List snapshots, newest first: id, age, directory, files, size, state and the request.
    List {
        /// JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one snapshot: the paths it covers and every entry it keeps.
    Show {
        /// Snapshot id (`snap_…`).
        id: String,
        /// The manifest as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Delete the files of old snapshots (their index rows stay, marked `pruned`). Without options, prunes
    /// snapshots older than 7 days.
    Prune {
        /// Only snapshots older than this: `12h`, `7d`, `2w`.
        #[arg(long, value_name = "DURATION")]
        older_than: Option<String>,
        /// Always keep the newest N snapshots.
        #[arg(long, value_name = "N")]
        keep: Option<usize>,
    },
}

/// Runs `airlock snapshots`.
pub fn run(command: SnapshotsCommand) -> anyhow::Result<i32> {
    let home = home::airlock_home();
    match command {
        SnapshotsCommand::List { json } => {
            let snapshots =
                home::with_store(|store| async move { Ok(store.list_snapshots().await?) })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&snapshots)?);
            } else if snapshots.is_empty() {
                println!("no snapshots");
            } else {
                print_table(&snapshots, SystemClock.now_ms());
            }
            Ok(0)
        }
        SnapshotsCommand::Show { id, json } => {
            let info = home::with_store(|store| async move { Ok(store.snapshot(&id).await?) })?;
            if info.state == airlock_store::snapshots::SnapshotState::Pruned {
                anyhow::bail!("snapshot `{}` was pruned; its files are gone", info.id);
            }
            let manifest = read_manifest(&snapshots_dir(&home).join(&info.id), &info.id)?;
            if json {
                println!("{}", serde_json::to_string_pretty(&manifest)?);
                return Ok(0);
            }
            println!("snapshot   {}", info.id);
            println!("taken      {}", clock::format_ms(info.created_ms));
            println!("state      {}", info.state.as_str());
            println!("cwd        {}", info.cwd);
            println!("request    {}", info.summary);
            println!("rules      {}", info.rules.join(", "));
            if let Some(of) = &info.undo_of {
                println!("undo of    {of} (the files that undo replaced)");
            }
            println!("files      {} ({})", info.files, size(info.bytes));
            for root in &manifest.roots {
                println!("path       {}", root.path);
            }
            for entry in &manifest.entries {
                let line = match entry {
                    ManifestEntry::Dir { path, mode, .. } => {
                        format!("dir      {mode:04o}  {path}/")
                    }
                    ManifestEntry::File {
                        path,
                        mode,
                        size: bytes,
                        ..
                    } => {
                        format!("file     {mode:04o}  {path} ({})", size(*bytes))
                    }
                    ManifestEntry::Symlink { path, target } => {
                        format!("symlink        {path} -> {target}")
                    }
                    ManifestEntry::Absent { path } => format!("absent         {path}"),
                };
                println!("  {line}");
            }
            Ok(0)
        }
        SnapshotsCommand::Prune { older_than, keep } => {
            let older_than_ms = match (&older_than, keep) {
                (Some(text), _) => Some(clock::parse_duration(text)?),
                (None, Some(_)) => None,
                (None, None) => Some(clock::parse_duration("7d")?),
            };
            let home_for_store = home.clone();
            let report = home::with_store(|store| async move {
                Ok(store
                    .prune_snapshots(&home_for_store, older_than_ms, keep)
                    .await?)
            })?;
            if report.pruned.is_empty() {
                println!("nothing to prune");
            } else {
                println!(
                    "pruned {} snapshot{} ({}): {}",
                    report.pruned.len(),
                    if report.pruned.len() == 1 { "" } else { "s" },
                    size(report.bytes),
                    report.pruned.join(", ")
                );
            }
            if report.leftovers > 0 {
                println!("removed {} leftover snapshot directories", report.leftovers);
            }
            Ok(0)
        }
    }
}

fn print_table(snapshots: &[SnapshotInfo], now: Millis) {
    println!(
        "{:<21}  {:>5}  {:<32}  {:>6}  {:>9}  {:<8}  SUMMARY",
        "ID", "AGE", "CWD", "FILES", "SIZE", "STATE"
    );
    for s in snapshots {
        println!(
            "{:<21}  {:>5}  {:<32}  {:>6}  {:>9}  {:<8}  {}",
            s.id,
            age(now.saturating_sub(s.created_ms)),
            short_path(&s.cwd, 32),
            s.files,
            size(s.bytes),
            s.state.as_str(),
            truncate_chars(&s.summary, 80)
        );
    }
}

/// `42s`, `5m`, `3h`, `2d`.
pub fn age(ms: Millis) -> String {
    let secs = ms.max(0) / 1000;
    match secs {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// `512 B`, `1.5 KiB`, `256.0 MiB`.
pub fn size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = "KiB";
    for next in UNITS.iter().skip(1) {
        if value < 1024.0 {
            break;
        }
        value /= 1024.0;
        unit = next;
    }
    format!("{value:.1} {unit}")
}

/// The path, cut from the left to `max` characters (`…/proj/sub`).
fn short_path(path: &str, max: usize) -> String {
    let count = path.chars().count();
    if count <= max {
        return path.to_string();
    }
    let tail: String = path
        .chars()
        .skip(count.saturating_sub(max.saturating_sub(1)))
        .collect();
    format!("…{tail}")
}
