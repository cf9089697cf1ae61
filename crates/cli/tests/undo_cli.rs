//! End-to-end tests of `airlock undo` and `airlock snapshots list|show|prune` with the real binary, a fresh
//! `$AIRLOCK_HOME` and `HOME` each: a snapshot is taken through the store library (as the hook takes it, from
//! a real engine decision), the tree is really deleted and replaced, and the commands must put back every
//! byte, mode and symlink, keep what they replace, and refuse what cannot be undone.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use airlock_engine::{Engine, Envelope};
use airlock_store::Store;
use airlock_store::snapshots::{
    SnapshotLimits, SnapshotMeta, SnapshotOutcome, plan_snapshot_in, snapshots_dir,
};

struct World {
    root: PathBuf,
    home: PathBuf,
    user_home: PathBuf,
    proj: PathBuf,
}

impl World {
    fn new(name: &str) -> Self {
        let root =
            std::env::temp_dir().join(format!("airlock-cli-undo-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        let root = std::fs::canonicalize(&root).unwrap();
        let world = World {
            home: root.join("airlock-home"),
            user_home: root.join("user"),
            proj: root.join("user/proj"),
            root,
        };
        std::fs::create_dir_all(&world.home).unwrap();
        std::fs::create_dir_all(&world.proj).unwrap();
        world
    }

    fn airlock(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(args)
            .env("AIRLOCK_HOME", &self.home)
            .env("HOME", &self.user_home)
            .env_remove("AIRLOCK_DATABASE_URL")
            .current_dir(&self.proj)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.airlock(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "airlock {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn fails(&self, args: &[&str]) -> String {
        let out = self.airlock(args);
        assert_eq!(out.status.code(), Some(1), "airlock {args:?} should fail");
        String::from_utf8(out.stderr).unwrap()
    }

    /// Takes the snapshot the hook would take before `command`, through the library.
    fn snapshot(&self, command: &str) -> String {
        let envelope: Envelope = serde_json::from_value(serde_json::json!({
            "kind": "shell", "command": command, "cwd": self.proj.display().to_string(), "agent": "cursor",
        }))
        .unwrap();
        let engine = Engine::new().unwrap();
        let decision = engine.decide(&envelope);
        let plan = plan_snapshot_in(
            &engine,
            &envelope,
            &decision,
            &self.proj,
            Some(&self.user_home),
        )
        .unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let url = format!("sqlite://{}", self.home.join("airlock.db").display());
            let store = Store::open(&url).await.unwrap();
            let outcome = store
                .take_snapshot(
                    &self.home,
                    &plan,
                    SnapshotMeta::from_envelope(&envelope),
                    SnapshotLimits::default(),
                )
                .await
                .unwrap();
            store.close().await;
            match outcome {
                SnapshotOutcome::Taken(info) => info.id,
                other => panic!("expected a snapshot, got {other:?}"),
            }
        })
    }
}

impl Drop for World {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap()
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn undo_puts_back_the_tree_and_snapshots_lists_and_prunes() {
    let world = World::new("roundtrip");
    let tree = world.proj.join("build-output");
    std::fs::create_dir_all(tree.join("assets/empty")).unwrap();
    std::fs::write(tree.join("app.js"), "console.log(1)\n").unwrap();
    std::fs::write(tree.join("assets/run.sh"), "#!/bin/sh\n").unwrap();
    std::fs::set_permissions(
        tree.join("assets/run.sh"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::fs::set_permissions(tree.join("app.js"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink("app.js", tree.join("latest.js")).unwrap();

    let id = world.snapshot("rm -rf build-output");
    let listed = world.ok(&["snapshots", "list"]);
    assert!(listed.starts_with("ID "), "{listed}");
    let row = listed.lines().find(|l| l.starts_with(&id)).expect(&listed);
    assert!(
        row.contains("taken") && row.contains("shell: rm -rf build-output") && row.contains(" 2 "),
        "{row}"
    );
    let shown = world.ok(&["snapshots", "show", &id]);
    assert!(
        shown.contains(&format!(
            "symlink        {}/latest.js -> app.js",
            tree.display()
        )),
        "{shown}"
    );
    assert!(shown.contains("file     0755"), "{shown}");

    // The command runs; the agent then builds something else there.
    std::fs::remove_dir_all(&tree).unwrap();
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(tree.join("other.txt"), "generated later\n").unwrap();

    let out = world.ok(&["undo"]);
    assert!(out.starts_with(&format!("restored {id} ")), "{out}");
    assert_eq!(
        std::fs::read_to_string(tree.join("app.js")).unwrap(),
        "console.log(1)\n"
    );
    assert_eq!(mode(&tree.join("app.js")), 0o600);
    assert_eq!(mode(&tree.join("assets/run.sh")), 0o755);
    assert_eq!(
        std::fs::read_link(tree.join("latest.js")).unwrap(),
        PathBuf::from("app.js")
    );
    assert!(tree.join("assets/empty").is_dir());
    assert!(!tree.join("other.txt").exists(), "exactly what was there");
    let backup = out
        .split("`airlock undo ")
        .nth(1)
        .and_then(|rest| rest.split('`').next())
        .expect(&out)
        .to_string();

    let json: serde_json::Value =
        serde_json::from_str(&world.ok(&["snapshots", "list", "--json"])).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    let state = |id: &str| {
        rows.iter()
            .find(|r| r["id"] == id)
            .map(|r| r["state"].as_str().unwrap().to_string())
    };
    assert_eq!(state(&id).as_deref(), Some("restored"));
    assert_eq!(state(&backup).as_deref(), Some("taken"));

    // The backup is not undone by default; by id it brings back what the agent wrote.
    assert!(world.fails(&["undo"]).contains("no snapshot to undo"));
    world.ok(&["undo", &backup]);
    assert_eq!(
        std::fs::read_to_string(tree.join("other.txt")).unwrap(),
        "generated later\n"
    );
    assert!(!tree.join("app.js").exists());

    assert!(
        world
            .fails(&["snapshots", "prune", "--older-than", "soon"])
            .contains("invalid duration")
    );
    assert_eq!(
        world.ok(&["snapshots", "prune"]),
        "nothing to prune\n",
        "all younger than 7 days"
    );
    let pruned = world.ok(&["snapshots", "prune", "--keep", "1"]);
    assert!(pruned.starts_with("pruned 2 snapshots"), "{pruned}");
    assert!(!snapshots_dir(&world.home).join(&id).exists());
    assert!(world.fails(&["undo", &id]).contains("was pruned"));
    assert!(
        world
            .fails(&["undo", "snap_0000"])
            .contains("no snapshot `snap_0000`")
    );
}
