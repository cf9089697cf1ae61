//! Snapshots and undo on real files, on both databases: plans come from real engine decisions, the
//! destructive operation is really run (`std::fs` removal, an in-place overwrite, the real `git reset --hard`,
//! `git checkout -- .` and `git clean -fdx` in a temp repository), and undo must bring back every byte,
//! mode, modification time, symlink target and empty directory. Over the cap nothing is written; shapes that
//! cannot be planned exactly are refused; prune deletes files and keeps the index.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

#[macro_use]
mod support;

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use airlock_engine::{Decision, Engine, Envelope};
use airlock_store::snapshots::{
    Capture, PlanError, SnapshotLimits, SnapshotMeta, SnapshotOutcome, SnapshotPlan, SnapshotState,
    UndoOptions, plan_snapshot_in, snapshots_dir,
};
use airlock_store::{ManualClock, Store, StoreError};
use support::{TempDir, TestDb};

on_both!(
    rm_r_tree_round_trip_with_modes_symlinks_and_empty_dirs,
    overwrite_in_place_does_not_reach_the_snapshot,
    git_reset_hard_dirty_files_come_back,
    git_checkout_dot_discarded_edits_come_back,
    git_clean_fdx_ignored_and_untracked_come_back,
    over_the_cap_nothing_is_written,
    prune_keeps_the_newest_and_the_young,
);

/// A temp project directory (`proj/`) and an airlock home (`home/`) side by side.
struct World {
    _dir: TempDir,
    proj: PathBuf,
    home: PathBuf,
}

impl World {
    fn new(tag: &str) -> Self {
        let dir = TempDir::new(tag);
        let root = std::fs::canonicalize(&dir.0).unwrap();
        let proj = root.join("proj");
        let home = root.join("home");
        std::fs::create_dir_all(&proj).unwrap();
        std::fs::create_dir_all(&home).unwrap();
        World {
            _dir: dir,
            proj,
            home,
        }
    }

    fn envelope(&self, command: &str) -> Envelope {
        serde_json::from_value(serde_json::json!({
            "kind": "shell",
            "command": command,
            "cwd": self.proj.display().to_string(),
            "agent": "claude-code",
        }))
        .unwrap()
    }

    fn decide(&self, command: &str) -> (Envelope, Decision) {
        let envelope = self.envelope(command);
        let decision = engine().decide(&envelope);
        (envelope, decision)
    }

    fn plan(&self, command: &str) -> Result<SnapshotPlan, PlanError> {
        let (envelope, decision) = self.decide(command);
        plan_snapshot_in(
            &engine(),
            &envelope,
            &decision,
            &self.proj,
            Some(Path::new("/nonexistent-home")),
        )
    }

    async fn snapshot(&self, store: &Store, command: &str) -> airlock_store::SnapshotInfo {
        let plan = self
            .plan(command)
            .unwrap_or_else(|e| panic!("{command}: {e}"));
        let meta = SnapshotMeta::from_envelope(&self.envelope(command));
        match store
            .take_snapshot(&self.home, &plan, meta, SnapshotLimits::default())
            .await
            .unwrap()
        {
            SnapshotOutcome::Taken(info) => *info,
            other => panic!("{command}: expected a snapshot, got {other:?}"),
        }
    }

    fn git(&self, args: &[&str]) -> String {
        let out = Command::new("git")
            .args([
                "-c",
                "user.name=Airlock Test",
                "-c",
                "user.email=test@airlock.invalid",
                "-c",
                "commit.gpgsign=false",
                "-c",
                "init.defaultBranch=main",
            ])
            .args(args)
            .current_dir(&self.proj)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn write(&self, rel: &str, content: &str) {
        let path = self.proj.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, content).unwrap();
    }

    fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.proj.join(rel)).ok()
    }
}

fn engine() -> Engine {
    Engine::new().unwrap()
}

/// Everything about a tree a restore must reproduce: per relative path, its type, permission bits, contents
/// or link target, and (for files) modification time.
fn fingerprint(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(path) = stack.pop() {
        let meta = std::fs::symlink_metadata(&path).unwrap();
        let rel = path.strip_prefix(root).unwrap().display().to_string();
        let mode = meta.mode() & 0o7777;
        let value = if meta.file_type().is_symlink() {
            format!(
                "symlink -> {}",
                std::fs::read_link(&path).unwrap().display()
            )
        } else if meta.is_dir() {
            for entry in std::fs::read_dir(&path).unwrap() {
                stack.push(entry.unwrap().path());
            }
            format!("dir {mode:o}")
        } else {
            format!(
                "file {mode:o} mtime {}.{} {:?}",
                meta.mtime(),
                meta.mtime_nsec(),
                std::fs::read(&path).unwrap()
            )
        };
        out.insert(rel, value);
    }
    out
}

fn build_tree(root: &Path) {
    use std::os::unix::fs::symlink;
    std::fs::create_dir_all(root.join("nested/deeper")).unwrap();
    std::fs::create_dir_all(root.join("empty")).unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::write(root.join("secret.env"), "TOKEN=abc\n").unwrap();
    std::fs::set_permissions(
        root.join("secret.env"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    std::fs::write(root.join("bin/run.sh"), "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(
        root.join("bin/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::write(root.join("nested/deeper/data.bin"), [0u8, 1, 2, 255, 254]).unwrap();
    std::fs::write(root.join("nested/notes.md"), "# notes\n").unwrap();
    std::fs::set_permissions(root.join("empty"), std::fs::Permissions::from_mode(0o750)).unwrap();
    symlink("../secret.env", root.join("nested/link-to-secret")).unwrap();
    symlink("does/not/exist", root.join("dangling")).unwrap();
    std::fs::set_permissions(
        root.join("nested/deeper"),
        std::fs::Permissions::from_mode(0o711),
    )
    .unwrap();
}

async fn rm_r_tree_round_trip_with_modes_symlinks_and_empty_dirs(db: TestDb) {
    let world = World::new("snap-rm");
    let tree = world.proj.join("tree");
    build_tree(&tree);
    let before = fingerprint(&tree);

    let plan = world.plan("rm -r tree").unwrap();
    assert_eq!(plan.paths.len(), 1);
    assert_eq!(plan.paths[0].path, tree);
    assert_eq!(
        plan.paths[0].capture,
        Capture::Link,
        "a delete keeps hard links"
    );
    assert_eq!(plan.rules, vec!["SHF004".to_string()]);
    let info = world.snapshot(&db.store, "rm -r tree").await;
    assert_eq!(info.files, 4);
    assert_eq!(info.bytes, 10 + 18 + 5 + 8);
    assert_eq!(info.summary, "shell: rm -r tree");
    assert_eq!(info.agent.as_deref(), Some("claude-code"));
    let dir = snapshots_dir(&world.home).join(&info.id);
    assert_eq!(
        std::fs::metadata(&dir).unwrap().mode() & 0o777,
        0o700,
        "snapshots are private"
    );
    // Kept as a hard link: the data file shares the inode of the original.
    assert_eq!(
        std::fs::metadata(dir.join("files/0")).unwrap().ino(),
        std::fs::metadata(tree.join("bin/run.sh")).unwrap().ino()
    );

    // The command runs, then the agent writes something else at the same path.
    std::fs::remove_dir_all(&tree).unwrap();
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("generated.txt"), "new\n").unwrap();
    let after_command = fingerprint(&tree);

    let report = db
        .store
        .undo_snapshot(&world.home, None, &UndoOptions::default())
        .await
        .unwrap();
    assert_eq!(report.restored.id, info.id);
    assert_eq!(report.restored.state, SnapshotState::Restored);
    assert_eq!(report.paths, vec![tree.display().to_string()]);
    assert_eq!(fingerprint(&tree), before, "exactly what was there");
    let backup = report.backup.expect("the replaced state is kept");
    assert_eq!(backup.undo_of.as_deref(), Some(info.id.as_str()));
    assert_eq!(backup.files, 1);

    // Without an id there is nothing left to undo: the backup is not picked by default.
    let err = db
        .store
        .undo_snapshot(&world.home, None, &UndoOptions::default())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no snapshot to undo"), "{err}");
    // Undo of the undo brings the generated file back.
    db.store
        .undo_snapshot(&world.home, Some(&backup.id), &UndoOptions::default())
        .await
        .unwrap();
    assert_eq!(fingerprint(&tree), after_command);
    let states: Vec<(String, SnapshotState)> = db
        .store
        .list_snapshots()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.id, s.state))
        .collect();
    assert!(states.contains(&(info.id.clone(), SnapshotState::Restored)));
    assert!(states.contains(&(backup.id.clone(), SnapshotState::Restored)));
    assert_eq!(states.len(), 3, "{states:?}");
}

async fn overwrite_in_place_does_not_reach_the_snapshot(db: TestDb) {
    let world = World::new("snap-truncate");
    world.write("data/app.db", "precious rows");
    let plan = world.plan("truncate -s 0 data/app.db").unwrap();
    assert_eq!(plan.paths[0].capture, Capture::Copy, "an overwrite copies");
    world.snapshot(&db.store, "truncate -s 0 data/app.db").await;
    // Same inode, rewritten in place: a hard link would now hold the new bytes.
    let path = world.proj.join("data/app.db");
    let ino = std::fs::metadata(&path).unwrap().ino();
    {
        use std::io::Write as _;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&path)
            .unwrap();
        f.write_all(b"oops").unwrap();
    }
    assert_eq!(std::fs::metadata(&path).unwrap().ino(), ino);
    db.store
        .undo_snapshot(&world.home, None, &UndoOptions::default())
        .await
        .unwrap();
    assert_eq!(world.read("data/app.db").as_deref(), Some("precious rows"));
}

fn init_repo(world: &World) {
    world.git(&["init", "-q"]);
    world.write("a.txt", "committed a\n");
    world.write("b.txt", "committed b\n");
    world.write("src/lib.rs", "pub fn f() {}\n");
    world.write(".gitignore", ".env\ntarget/\n");
    world.git(&["add", "-A"]);
    world.git(&["commit", "-q", "-m", "init"]);
}

async fn git_reset_hard_dirty_files_come_back(db: TestDb) {
    let world = World::new("snap-reset");
    init_repo(&world);
    world.write("a.txt", "uncommitted edit of a\n");
    world.write("src/new.rs", "staged new file\n");
    world.git(&["add", "src/new.rs"]);
    std::fs::remove_file(world.proj.join("b.txt")).unwrap();
    world.write("untracked.txt", "not touched by reset\n");

    let plan = world.plan("git reset --hard").unwrap();
    let planned: Vec<&Path> = plan.paths.iter().map(|p| p.path.as_path()).collect();
    assert_eq!(
        planned,
        vec![
            world.proj.join("a.txt").as_path(),
            world.proj.join("b.txt").as_path(),
            world.proj.join("src/new.rs").as_path()
        ]
    );
    let info = world.snapshot(&db.store, "git reset --hard").await;
    assert_eq!(info.files, 2);

    world.git(&["reset", "--hard", "-q"]);
    assert_eq!(world.read("a.txt").as_deref(), Some("committed a\n"));
    assert_eq!(world.read("src/new.rs"), None);
    assert_eq!(world.read("b.txt").as_deref(), Some("committed b\n"));

    db.store
        .undo_snapshot(&world.home, Some(&info.id), &UndoOptions::default())
        .await
        .unwrap();
    assert_eq!(
        world.read("a.txt").as_deref(),
        Some("uncommitted edit of a\n")
    );
    assert_eq!(
        world.read("src/new.rs").as_deref(),
        Some("staged new file\n")
    );
    assert_eq!(
        world.read("b.txt"),
        None,
        "b.txt was deleted before the reset"
    );
    assert_eq!(
        world.read("untracked.txt").as_deref(),
        Some("not touched by reset\n")
    );
    let status = world.git(&["status", "--porcelain"]);
    assert!(
        status.contains(" M a.txt") && status.contains(" D b.txt"),
        "{status}"
    );
}

async fn git_checkout_dot_discarded_edits_come_back(db: TestDb) {
    let world = World::new("snap-checkout");
    init_repo(&world);
    world.write("src/lib.rs", "pub fn f() { /* work in progress */ }\n");
    world.write("a.txt", "edited a\n");
    let plan = world.plan("git checkout -- src").unwrap();
    assert_eq!(plan.paths.len(), 1, "only the pathspec: {plan:?}");
    let restore = world.plan("git restore src/lib.rs").unwrap();
    assert_eq!(restore.paths[0].path, world.proj.join("src/lib.rs"));
    assert_eq!(restore.paths[0].capture, Capture::Copy);
    let from_head = world.plan("git restore --source=HEAD -W .").unwrap();
    assert_eq!(from_head.paths.len(), 2, "{from_head:?}");
    let rm = world.plan("git rm -rf src").unwrap();
    assert_eq!(rm.paths[0].path, world.proj.join("src"));
    assert_eq!(
        rm.paths[0].capture,
        Capture::Copy,
        "git rm leaves untracked files"
    );
    let info = world.snapshot(&db.store, "git checkout -- .").await;
    assert_eq!(info.files, 2);
    world.git(&["checkout", "--", "."]);
    assert_eq!(world.read("a.txt").as_deref(), Some("committed a\n"));
    db.store
        .undo_snapshot(&world.home, None, &UndoOptions::default())
        .await
        .unwrap();
    assert_eq!(world.read("a.txt").as_deref(), Some("edited a\n"));
    assert_eq!(
        world.read("src/lib.rs").as_deref(),
        Some("pub fn f() { /* work in progress */ }\n")
    );
}

async fn git_clean_fdx_ignored_and_untracked_come_back(db: TestDb) {
    let world = World::new("snap-clean");
    init_repo(&world);
    world.write(".env", "DATABASE_URL=postgres://prod\n");
    world.write("scratch/notes.md", "ideas\n");
    world.write("scratch/deep/more.txt", "more\n");
    std::fs::create_dir_all(world.proj.join("scratch/empty")).unwrap();
    world.write("target/debug/out.o", "object\n");
    let before: Vec<_> = [".env", "scratch", "target"]
        .iter()
        .map(|p| fingerprint(&world.proj.join(p)))
        .collect();

    let plan = world.plan("git clean -fdx").unwrap();
    let planned: Vec<&Path> = plan.paths.iter().map(|p| p.path.as_path()).collect();
    assert_eq!(
        planned,
        vec![
            world.proj.join(".env").as_path(),
            world.proj.join("scratch").as_path(),
            world.proj.join("target").as_path()
        ]
    );
    // Without -x, git keeps ignored files: the plan follows git.
    let without_x = world.plan("git clean -fd").unwrap();
    assert_eq!(without_x.paths.len(), 1, "{without_x:?}");
    assert_eq!(without_x.paths[0].path, world.proj.join("scratch"));

    world.snapshot(&db.store, "git clean -fdx").await;
    world.git(&["clean", "-fdx", "-q"]);
    assert_eq!(world.read(".env"), None);
    assert!(!world.proj.join("scratch").exists());
    db.store
        .undo_snapshot(&world.home, None, &UndoOptions::default())
        .await
        .unwrap();
    let after: Vec<_> = [".env", "scratch", "target"]
        .iter()
        .map(|p| fingerprint(&world.proj.join(p)))
        .collect();
    assert_eq!(after, before);
    assert_eq!(world.read("a.txt").as_deref(), Some("committed a\n"));
}

async fn over_the_cap_nothing_is_written(db: TestDb) {
    let world = World::new("snap-cap");
    world.write("tree/big.bin", &"x".repeat(4096));
    world.write("tree/small.txt", "s");
    let plan = world.plan("rm -r tree").unwrap();
    let limits = SnapshotLimits {
        max_bytes: 4000,
        max_files: 100,
    };
    let outcome = db
        .store
        .take_snapshot(&world.home, &plan, SnapshotMeta::default(), limits)
        .await
        .unwrap();
    assert!(
        matches!(outcome, SnapshotOutcome::OverCap { bytes, .. } if bytes > 4000),
        "{outcome:?}"
    );
    let files_cap = SnapshotLimits {
        max_bytes: 1 << 20,
        max_files: 1,
    };
    let outcome = db
        .store
        .take_snapshot(&world.home, &plan, SnapshotMeta::default(), files_cap)
        .await
        .unwrap();
    assert!(
        matches!(outcome, SnapshotOutcome::OverCap { files: 2, .. }),
        "{outcome:?}"
    );
    assert!(!snapshots_dir(&world.home).exists(), "nothing written");
    assert!(db.store.list_snapshots().await.unwrap().is_empty());
    // A tree that is gone already: nothing to keep, nothing written.
    std::fs::remove_dir_all(world.proj.join("tree")).unwrap();
    let outcome = db
        .store
        .take_snapshot(
            &world.home,
            &plan,
            SnapshotMeta::default(),
            SnapshotLimits::default(),
        )
        .await
        .unwrap();
    assert_eq!(outcome, SnapshotOutcome::NothingToKeep);
    assert!(!snapshots_dir(&world.home).exists());
}

async fn prune_keeps_the_newest_and_the_young(db: TestDb) {
    let clock = Arc::new(ManualClock::new(1_000_000_000_000));
    let store = db.store.clone().with_clock(clock.clone());
    let world = World::new("snap-prune");
    let mut ids = Vec::new();
    for n in 0..4 {
        world.write(&format!("t{n}/f.txt"), "data");
        ids.push(world.snapshot(&store, &format!("rm -r t{n}")).await.id);
        clock.advance(86_400_000);
    }
    // Now: t0 is 4 days old, t3 one day old.
    let report = store
        .prune_snapshots(&world.home, Some(2 * 86_400_000 + 1), None)
        .await
        .unwrap();
    assert_eq!(report.pruned, vec![ids[1].clone(), ids[0].clone()]);
    assert_eq!(report.bytes, 8);
    let dir = snapshots_dir(&world.home);
    assert!(!dir.join(&ids[0]).exists() && dir.join(&ids[2]).exists());
    let report = store
        .prune_snapshots(&world.home, None, Some(1))
        .await
        .unwrap();
    assert_eq!(report.pruned, vec![ids[2].clone()]);
    let info = store.snapshot(&ids[0]).await.unwrap();
    assert_eq!(info.state, SnapshotState::Pruned);
    let err = store
        .undo_snapshot(&world.home, Some(&ids[0]), &UndoOptions::default())
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Snapshot(_)) && err.to_string().contains("pruned"));
    // The one kept can still be restored.
    store
        .undo_snapshot(&world.home, None, &UndoOptions::default())
        .await
        .unwrap();
    assert_eq!(world.read("t3/f.txt").as_deref(), Some("data"));
}

/// Shapes whose files cannot be worked out exactly are refused, so the hook asks a person.
#[test]
fn unplannable_shapes_are_refused() {
    let world = World::new("snap-refuse");
    world.write("tree/f.txt", "x");
    world.write("sub/tree/f.txt", "x");
    for (command, expect) in [
        ("cd sub && rm -r tree", "changes directory"),
        ("rm -rf tree && eval \"$X\"", "no snapshot mitigation"),
        ("rm -rf tree/*", "pattern"),
        ("rm -rf $OUT/x", "does not know"),
        ("git push --force origin main", "does not know"),
        ("git reset --hard", "not inside a git repository"),
        ("env -C sub rm -r tree", "another directory"),
        ("ls", "nothing to snapshot"),
        ("rm -rf ~", "nothing to snapshot"),
    ] {
        let err = world.plan(command).unwrap_err().to_string();
        assert!(err.contains(expect), "{command}: {err}");
    }
    // `~` is the home directory: never snapshot it or anything holding it, even when the engine would ask.
    let home_parent = world.proj.parent().unwrap().to_path_buf();
    let (envelope, decision) = world.decide("rm -r ../proj");
    let err = plan_snapshot_in(
        &engine(),
        &envelope,
        &decision,
        &world.proj,
        Some(&world.proj.join("inner-home")),
    )
    .unwrap_err();
    assert!(err.to_string().contains("home directory"), "{err}");
    assert!(home_parent.exists());
}

/// Quoted git arguments lose their quoting in the action's target, so they are not guessed at.
#[test]
fn git_with_quoted_arguments_is_refused() {
    let world = World::new("snap-quoted");
    init_repo(&world);
    world.write("my dir/x.txt", "untracked");
    let err = world.plan("git clean -fd \"my dir\"").unwrap_err();
    assert!(err.to_string().contains("quoted"), "{err}");
    let plan = world.plan("git clean -fd").unwrap();
    assert_eq!(plan.paths[0].path, world.proj.join("my dir"));
}

/// A manifest edited to write outside the snapshot's paths, or through a symlink it restores, is refused
/// before anything is touched.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_manifest_is_refused() {
    let db = support::sqlite_db().await;
    let world = World::new("snap-tamper");
    world.write("tree/f.txt", "kept");
    let info = world.snapshot(&db.store, "rm -r tree").await;
    let manifest_path = snapshots_dir(&world.home)
        .join(&info.id)
        .join(airlock_store::snapshots::MANIFEST_FILE);
    let original = std::fs::read_to_string(&manifest_path).unwrap();
    let tree = world.proj.join("tree").display().to_string();
    let outside = world.proj.join("outside.txt");
    for (tampered, expect) in [
        (
            original.replace(&format!("{tree}/f.txt"), &format!("{tree}/../outside.txt")),
            "`..`",
        ),
        (
            original.replace(
                &format!("{{\"type\":\"file\",\"path\":\"{tree}/f.txt\""),
                &format!(
                    "{{\"type\":\"symlink\",\"path\":\"{tree}/l\",\"target\":\"..\"}},{{\"type\":\"file\",\"path\":\"{tree}/l/outside.txt\""
                ),
            ),
            "under a file or symlink",
        ),
        (original.replace("files/0", "../../airlock.db"), "missing"),
    ] {
        assert_ne!(tampered, original);
        std::fs::write(&manifest_path, &tampered).unwrap();
        let err = db
            .store
            .undo_snapshot(&world.home, None, &UndoOptions::default())
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("bad manifest") && err.contains(expect), "{err}");
        assert!(!outside.exists());
        assert_eq!(world.read("tree/f.txt").as_deref(), Some("kept"), "nothing touched");
    }
    std::fs::write(&manifest_path, &original).unwrap();
    db.store
        .undo_snapshot(&world.home, None, &UndoOptions::default())
        .await
        .unwrap();
}
