//! A full disk under the SQLite database: appends fail with an error that says so, every append that
//! returned success is still there, and the chain still verifies. The disk is a real 1 MiB tmpfs mounted
//! for the test (needs root, as in CI); where mounting is not permitted the test says so and skips.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests fail by panicking"
)]

mod support;

use std::process::Command;

use airlock_engine::{Decision, Envelope, Mitigation, Verdict};
use airlock_store::{AuditRecord, Store};

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        // Lazy: the pool's connections close in the background and may still hold the files.
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn record(i: usize) -> AuditRecord {
    let envelope: Envelope = serde_json::from_value(serde_json::json!({
        "kind": "shell",
        "command": format!("echo {i} {}", "x".repeat(400)),
        "agent": "agent-a",
    }))
    .unwrap();
    let decision = Decision {
        verdict: Verdict::Allow,
        reasons: vec![],
        actions: vec![],
        mitigation: Mitigation::None,
    };
    AuditRecord::new(&envelope, &decision, "allowed")
}

#[tokio::test]
async fn full_disk_is_a_clear_error_and_loses_nothing_acknowledged() {
    let dir = support::TempDir::new("full-disk");
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(&dir.0)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("skipping: cannot mount a small tmpfs here (needs root) to fill a disk");
        return;
    }
    let _mount = Mount(dir.0.clone());
    let url = format!("sqlite://{}", dir.0.join("airlock.db").display());
    let store = Store::open(&url).await.unwrap();
    let mut acknowledged = 0i64;
    let mut failure = None;
    for i in 0..20_000 {
        match store.append(record(i)).await {
            Ok(entry) => {
                acknowledged += 1;
                assert_eq!(
                    entry.seq, acknowledged,
                    "seq stays gapless up to the failure"
                );
            }
            Err(err) => {
                failure = Some(err.to_string());
                break;
            }
        }
    }
    let failure = failure.expect("a 1 MiB disk must fill up within 20,000 appends of ~1 KiB");
    assert!(
        acknowledged > 10,
        "some appends fit before the disk filled ({acknowledged})"
    );
    assert!(
        failure.contains("full"),
        "the error names the problem: {failure}"
    );
    let report = store.verify(None).await.unwrap();
    assert!(report.problem.is_none(), "{:?}", report.problem);
    assert_eq!(
        report.count, acknowledged,
        "every acknowledged append is there, nothing more"
    );
    // Still full: the next append fails the same way (fail closed) and changes nothing.
    let again = store.append(record(0)).await.unwrap_err().to_string();
    assert!(again.contains("full"), "{again}");
    assert_eq!(store.verify(None).await.unwrap().count, acknowledged);
}
