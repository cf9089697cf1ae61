//! End-to-end tests of `airlock approvals list|show|watch` on a fresh `$AIRLOCK_HOME` (SQLite): requests are
//! held through the real engine and gate (as hooks and the gateway hold them), and the built binary renders
//! the decoded detail — table, sections with the triggering span marked, rules — and streams new pending
//! requests live, never showing a secret.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "tests"
)]

use std::io::{BufRead as _, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::mpsc;
use std::time::Duration;

use airlock_engine::{Engine, Envelope};
use airlock_store::{Approval, Gate, Settled, Store};

const SECRET_COMMAND: &str =
    "export API_KEY=sk-live-1234567890abcdefghij; git push --force origin main";

fn airlock(home: &Path, args: &[&str], secret: Option<&str>) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airlock"));
    cmd.args(args)
        .env("AIRLOCK_HOME", home)
        .env("HOME", home)
        .env_remove("AIRLOCK_DATABASE_URL")
        .env_remove("AIRLOCK_APPROVER_SECRET")
        .stdin(Stdio::null());
    if let Some(secret) = secret {
        cmd.env("AIRLOCK_APPROVER_SECRET", secret);
    }
    cmd
}

fn ok(home: &Path, args: &[&str], secret: Option<&str>) -> String {
    let out = airlock(home, args, secret).output().unwrap();
    assert!(
        out.status.success(),
        "airlock {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Holds `request` through the real engine and gate, as a hook would.
fn hold(home: &Path, request: serde_json::Value) -> Approval {
    let request: Envelope = serde_json::from_value(request).unwrap();
    let url = format!("sqlite://{}", home.join("airlock.db").display());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let store = Store::open(&url).await.unwrap();
        let gate = Gate::new(Arc::new(Engine::new().unwrap()), store.clone());
        let settlement = gate.judge(&request).await.unwrap();
        store.close().await;
        match settlement.settled {
            Settled::Hold(approval) => approval,
            other => panic!("not held: {other:?}"),
        }
    })
}

fn shell(command: &str) -> serde_json::Value {
    serde_json::json!({"kind": "shell", "command": command, "agent": "claude", "session": "s1", "cwd": "/work/app"})
}

fn approver(home: &Path) -> String {
    ok(home, &["approver", "add", "alice"], None)
        .trim()
        .to_string()
}

#[test]
fn list_and_show_render_the_decoded_detail_without_secrets() {
    let home = tempfile::TempDir::new().unwrap();
    let alice = approver(home.path());
    let approval = hold(home.path(), shell(SECRET_COMMAND));

    let list = ok(home.path(), &["approvals", "list"], Some(&alice));
    let header = list.lines().next().unwrap();
    for column in [
        "ID",
        "AGE",
        "EXPIRES IN",
        "KIND",
        "AGENT",
        "STATE",
        "HEADLINE",
    ] {
        assert!(header.contains(column), "{list}");
    }
    let row = list.lines().find(|l| l.contains(&approval.id)).unwrap();
    let headline = &approval.detail().unwrap().headline;
    assert!(
        row.contains("shell") && row.contains("claude") && row.contains("pending"),
        "{row}"
    );
    assert!(row.contains(headline.as_str()), "{row} lacks {headline}");
    assert!(!list.contains("1234567890abcdefghij"), "{list}");
    let json: serde_json::Value = serde_json::from_str(&ok(
        home.path(),
        &["approvals", "list", "--json"],
        Some(&alice),
    ))
    .unwrap();
    assert_eq!(json[0]["id"], approval.id.as_str());

    // Not a terminal: the triggering span is marked with ^^^ under the command.
    let shown = ok(
        home.path(),
        &["approvals", "show", &approval.id],
        Some(&alice),
    );
    assert!(!shown.contains("1234567890abcdefghij"), "{shown}");
    assert!(
        !shown.contains('\x1b'),
        "no ANSI when not a terminal: {shown}"
    );
    assert!(shown.contains("── Command ──"), "{shown}");
    assert!(shown.contains("rules\n"), "{shown}");
    let lines: Vec<&str> = shown.lines().collect();
    let at = 1 + lines.iter().position(|l| *l == "── Command ──").unwrap();
    assert!(
        lines[at].ends_with("git push --force origin main"),
        "{shown}"
    );
    let (command, marker) = (lines[at], lines[at + 1]);
    assert!(marker.trim_start().starts_with('^'), "{shown}");
    let marked: String = command
        .chars()
        .zip(marker.chars().chain(std::iter::repeat(' ')))
        .filter(|(_, m)| *m == '^')
        .map(|(c, _)| c)
        .collect();
    assert!(
        marked.contains("push") || marked.contains("force"),
        "marked {marked:?} in\n{shown}"
    );
    let rule = &approval.detail().unwrap().rules[0];
    assert!(shown.contains(&rule.rule), "{shown}");
}

/// Reads lines of the child's stdout on a thread; each arrives on the channel.
fn lines_of(stdout: std::process::ChildStdout) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// Kills the child if a test fails before it ends it.
struct Reap(std::process::Child);

impl Drop for Reap {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn interrupt(child: &std::process::Child) {
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn watch_prints_new_pending_requests_live_and_stops_on_ctrl_c() {
    let home = tempfile::TempDir::new().unwrap();
    let alice = approver(home.path());
    let first = hold(home.path(), shell("git push --force origin main"));

    let mut child = airlock(
        home.path(),
        &["approvals", "watch", "--interval-ms", "100"],
        Some(&alice),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    let lines = lines_of(child.stdout.take().unwrap());
    let mut child = Reap(child);
    // What was already pending comes first…
    let line = lines.recv_timeout(Duration::from_secs(60)).unwrap();
    assert!(
        line.contains(&first.id) && line.contains("claude"),
        "{line}"
    );
    // …then a request held while it runs.
    let second = hold(home.path(), shell(SECRET_COMMAND));
    let line = lines.recv_timeout(Duration::from_secs(60)).unwrap();
    assert!(line.contains(&second.id), "{line}");
    assert!(line.contains(&second.detail().unwrap().headline), "{line}");
    assert!(!line.contains("1234567890abcdefghij"), "{line}");

    interrupt(&child.0);
    let status = child.0.wait().unwrap();
    assert!(status.success(), "watch ends cleanly on Ctrl-C: {status:?}");
}

#[test]
fn watch_json_prints_one_approval_per_line() {
    let home = tempfile::TempDir::new().unwrap();
    let alice = approver(home.path());
    let mut child = airlock(
        home.path(),
        &["approvals", "watch", "--json", "--interval-ms", "100"],
        Some(&alice),
    )
    .stdout(Stdio::piped())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let lines = lines_of(child.stdout.take().unwrap());
    let mut child = Reap(child);
    let held = hold(home.path(), shell(SECRET_COMMAND));
    let line = lines.recv_timeout(Duration::from_secs(60)).unwrap();
    let json: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(json["id"], held.id.as_str());
    assert_eq!(json["detail"]["kind"], "shell");
    assert_eq!(json["detail"]["sections"][0]["title"], "Command");
    assert!(!line.contains("1234567890abcdefghij"), "{line}");
    interrupt(&child.0);
    assert!(child.0.wait().unwrap().success());
}
