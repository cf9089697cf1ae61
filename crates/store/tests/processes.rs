//! Many OS processes appending to one SQLite file at once, as hook processes do: 8 processes × 1,000 appends
//! give one chain of exactly 8,000 entries; and a process killed with SIGKILL in the middle of appending loses
//! nothing it had reported as appended, and leaves a chain that verifies. The writer processes are this test
//! binary itself, re-run with `AIRLOCK_STORE_TEST_CHILD` set so that only `child_appender` does anything.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

mod support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

use airlock_engine::{Decision, Envelope, Mitigation, Verdict};
use airlock_store::{AuditRecord, OpenOptions, Store};

const CHILD_ENV: &str = "AIRLOCK_STORE_TEST_CHILD";

/// Not a test of its own: the body of a writer process. Appends N records to the database named in
/// `AIRLOCK_STORE_TEST_CHILD` (`URL|N|NAME`) and prints `appended SEQ HASH` after each append has returned.
#[test]
fn child_appender() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let mut parts = spec.split('|');
    let (url, n, name) = (
        parts.next().unwrap(),
        parts.next().unwrap().parse::<usize>().unwrap(),
        parts.next().unwrap(),
    );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open_with(url, &OpenOptions { max_connections: 1, ..OpenOptions::default() }).await.unwrap();
        // Direct writes to stdout bypass the test harness's output capture.
        let mut out = std::io::stdout().lock();
        for i in 0..n {
            let envelope: Envelope = serde_json::from_value(
                serde_json::json!({"kind": "shell", "command": format!("echo {name} {i}"), "agent": name}),
            )
            .unwrap();
            let decision = Decision { verdict: Verdict::Allow, reasons: vec![], actions: vec![], mitigation: Mitigation::None };
            let entry = store.append(AuditRecord::new(&envelope, &decision, "allowed")).await.unwrap();
            writeln!(out, "appended {} {}", entry.seq, entry.hash).unwrap();
            out.flush().unwrap();
        }
    });
}

fn spawn_writer(url: &str, n: usize, name: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_appender",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(CHILD_ENV, format!("{url}|{n}|{name}"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

fn appended_lines(text: &str) -> Vec<(i64, String)> {
    text.lines()
        // The harness may print `test child_appender ... ` on the same line before the first one.
        .filter_map(|l| l.find("appended ").map(|i| &l[i + "appended ".len()..]))
        .map(|l| {
            let (seq, hash) = l.split_once(' ').unwrap();
            (seq.parse().unwrap(), hash.to_string())
        })
        .collect()
}

async fn stored_hashes(store: &Store) -> BTreeMap<i64, String> {
    store
        .list(&airlock_store::AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| (e.seq, e.hash))
        .collect()
}

#[tokio::test]
async fn eight_processes_times_1000_appends_make_one_chain() {
    const PROCESSES: usize = 8;
    const EACH: usize = 1000;
    let db = support::sqlite_db().await;
    let started = std::time::Instant::now();
    let children: Vec<Child> = (0..PROCESSES)
        .map(|p| spawn_writer(&db.url, EACH, &format!("proc{p}")))
        .collect();
    let mut reported = Vec::new();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "writer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let lines = appended_lines(&String::from_utf8_lossy(&out.stdout));
        assert_eq!(lines.len(), EACH);
        reported.extend(lines);
    }
    eprintln!(
        "{} appends from {PROCESSES} processes in {:?}",
        PROCESSES * EACH,
        started.elapsed()
    );
    let report = db.store.verify(None).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.count, (PROCESSES * EACH) as i64);
    // Every append got its own place, and the stored entry is the one the writer was told about.
    let stored = stored_hashes(&db.store).await;
    reported.sort();
    assert_eq!(
        reported.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        (1..=(PROCESSES * EACH) as i64).collect::<Vec<_>>()
    );
    for (seq, hash) in &reported {
        assert_eq!(stored.get(seq), Some(hash), "entry #{seq}");
    }
}

#[tokio::test]
async fn sigkill_in_the_middle_of_appends_loses_nothing_that_was_acknowledged() {
    let db = support::sqlite_db().await;
    let mut victims: Vec<Child> = (0..2)
        .map(|p| spawn_writer(&db.url, 1_000_000, &format!("victim{p}")))
        .collect();
    let mut acknowledged = Vec::new();
    for (i, child) in victims.iter_mut().enumerate() {
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        // Let each writer get well into its appends (a different amount each), then kill it without warning.
        let mut seen = 0;
        while seen < 200 + 150 * i {
            line.clear();
            assert!(
                reader.read_line(&mut line).unwrap() > 0,
                "writer ended early"
            );
            seen += usize::from(line.contains("appended "));
            acknowledged.extend(appended_lines(&line));
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // What it acknowledged before dying is still in the pipe.
        let mut rest = String::new();
        std::io::Read::read_to_string(&mut reader, &mut rest).unwrap();
        acknowledged.extend(appended_lines(&rest));
    }
    assert!(acknowledged.len() >= 550);
    let store = db.reopen(&OpenOptions::default()).await;
    let report = store.verify(None).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert!(report.count >= acknowledged.len() as i64);
    let stored = stored_hashes(&store).await;
    for (seq, hash) in &acknowledged {
        assert_eq!(
            stored.get(seq),
            Some(hash),
            "acknowledged entry #{seq} lost"
        );
    }
    // The log goes on after the crash.
    let after = store
        .append(AuditRecord::new(
            &serde_json::from_str(r#"{"kind":"shell","command":"true"}"#).unwrap(),
            &Decision {
                verdict: Verdict::Allow,
                reasons: vec![],
                actions: vec![],
                mitigation: Mitigation::None,
            },
            "allowed",
        ))
        .await
        .unwrap();
    assert_eq!(after.seq, report.count + 1);
    assert!(store.verify(Some(&after.hash)).await.unwrap().is_ok());
}
