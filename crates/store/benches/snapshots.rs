//! Snapshot benchmarks for the hook budget (~3 ms for a whole hook call): planning `rm -r tree` (no
//! process), planning `git reset --hard` (one `git diff`), and planning plus taking a snapshot of a small
//! tree (hard links, a manifest, one index row on SQLite).
//!
//! Run with `cargo bench -p airlock-store --bench snapshots`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::LazyLock;

use airlock_engine::{Decision, Engine, Envelope};
use airlock_store::Store;
use airlock_store::snapshots::{SnapshotLimits, SnapshotMeta, SnapshotOutcome, plan_snapshot_in};
use tokio::runtime::Runtime;

fn main() {
    divan::main();
    let _ = std::fs::remove_dir_all(root());
}

fn root() -> PathBuf {
    std::env::temp_dir().join(format!("airlock-bench-snapshots-{}", std::process::id()))
}

static RT: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
});

static ENGINE: LazyLock<Engine> = LazyLock::new(|| Engine::new().unwrap());

/// A project with a small tree (`tree/`: 4 files, 2 directories, a symlink) inside a git repository with
/// two dirty files, and an airlock home beside it.
struct Fixture {
    proj: PathBuf,
    home: PathBuf,
    store: Store,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let root = root();
    let _ = std::fs::remove_dir_all(&root);
    let proj = root.join("proj");
    let home = root.join("home");
    std::fs::create_dir_all(proj.join("tree/src/deep")).unwrap();
    std::fs::create_dir_all(&home).unwrap();
    for (name, body) in [
        ("tree/a.txt", "alpha\n"),
        ("tree/src/main.rs", "fn main() {}\n"),
        ("tree/src/deep/data.json", "{\"k\": 1}\n"),
        ("tree/README.md", "# tree\n"),
    ] {
        std::fs::write(proj.join(name), body).unwrap();
    }
    std::os::unix::fs::symlink("a.txt", proj.join("tree/link")).unwrap();
    let git = |args: &[&str]| {
        let ok = Command::new("git")
            .args([
                "-c",
                "user.name=b",
                "-c",
                "user.email=b@b.invalid",
                "-c",
                "commit.gpgsign=false",
            ])
            .args(args)
            .current_dir(&proj)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap()
            .status
            .success();
        assert!(ok, "git {args:?}");
    };
    git(&["init", "-q"]);
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "init"]);
    std::fs::write(proj.join("tree/a.txt"), "edited\n").unwrap();
    std::fs::write(proj.join("tree/README.md"), "# edited\n").unwrap();
    let url = format!("sqlite://{}", home.join("airlock.db").display());
    let store = RT.block_on(Store::open(&url)).unwrap();
    Fixture { proj, home, store }
});

fn decided(command: &str, cwd: &Path) -> (Envelope, Decision) {
    let envelope: Envelope = serde_json::from_value(serde_json::json!({
        "kind": "shell", "command": command, "cwd": cwd.display().to_string(),
    }))
    .unwrap();
    let decision = ENGINE.decide(&envelope);
    (envelope, decision)
}

#[divan::bench]
fn plan_rm_tree(bencher: divan::Bencher) {
    let f = &*FIXTURE;
    let (envelope, decision) = decided("rm -r tree", &f.proj);
    bencher.bench(|| plan_snapshot_in(&ENGINE, &envelope, &decision, &f.proj, None).unwrap());
}

#[divan::bench]
fn plan_git_reset_hard(bencher: divan::Bencher) {
    let f = &*FIXTURE;
    let (envelope, decision) = decided("git reset --hard", &f.proj);
    bencher.bench(|| {
        let plan = plan_snapshot_in(&ENGINE, &envelope, &decision, &f.proj, None).unwrap();
        assert_eq!(plan.paths.len(), 2);
        plan
    });
}

#[divan::bench(sample_count = 200, sample_size = 1)]
fn plan_and_take_rm_tree(bencher: divan::Bencher) {
    let f = &*FIXTURE;
    let (envelope, decision) = decided("rm -r tree", &f.proj);
    bencher.bench(|| {
        let plan = plan_snapshot_in(&ENGINE, &envelope, &decision, &f.proj, None).unwrap();
        let outcome = RT
            .block_on(f.store.take_snapshot(
                &f.home,
                &plan,
                SnapshotMeta::from_envelope(&envelope),
                SnapshotLimits::default(),
            ))
            .unwrap();
        assert!(matches!(outcome, SnapshotOutcome::Taken(_)));
    });
}
