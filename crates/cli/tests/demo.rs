//! `airlock demo` end to end with the built binary: the incident's call is held and judged as Railway's API
//! (rule RWY001), a denial (audited, naming the person) leaves the production volume intact and `--approve`
//! lets it through once, deferred (202, then sent by the gateway after the cancel window: the volume is gone),
//! the Cursor hook refuses the same call, and the audit log the demo leaves behind (`--keep`) verifies with
//! `airlock log verify`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use airlock_railway_fake::{CUSTOMER_ROWS, VOLUME_ID};
use serde_json::Value;

fn airlock(args: &[&str], tmp: &Path, home: Option<&Path>) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_airlock"));
    command
        .args(args)
        // Everything the demo creates stays inside this test's directory.
        .env("TMPDIR", tmp)
        .env("HOME", tmp)
        .env("AIRLOCK_HOME", home.unwrap_or(&tmp.join("unused-home")))
        .env_remove("AIRLOCK_DATABASE_URL")
        .env_remove("AIRLOCK_APPROVER_SECRET")
        .stdin(Stdio::null());
    command.output().unwrap()
}

/// Runs `airlock demo ARGS --keep`; returns its stdout and the kept `$AIRLOCK_HOME`.
fn demo(args: &[&str], tmp: &Path) -> (String, PathBuf) {
    let mut all = vec!["demo", "--keep"];
    all.extend_from_slice(args);
    let out = airlock(&all, tmp, None);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "airlock {all:?}\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let kept = stdout
        .lines()
        .find_map(|line| line.strip_prefix("The demo's files are kept in "))
        .expect("the kept home is printed");
    let kept = PathBuf::from(kept.trim());
    assert!(kept.starts_with(tmp), "{}", kept.display());
    (stdout, kept)
}

fn line_with<'a>(stdout: &'a str, needle: &str) -> &'a str {
    stdout
        .lines()
        .find(|line| line.contains(needle))
        .unwrap_or_else(|| panic!("no line contains {needle:?} in:\n{stdout}"))
}

/// The value of the first `  LABEL   value` line.
fn labelled<'a>(stdout: &'a str, label: &str) -> &'a str {
    stdout
        .lines()
        .find_map(|line| {
            let rest = line.strip_prefix("  ")?.strip_prefix(label)?;
            rest.starts_with(' ').then(|| rest.trim())
        })
        .unwrap_or_else(|| panic!("no `{label}` line in:\n{stdout}"))
}

/// The kept home's audit log: verified by the binary, and its entries.
fn verified_log(tmp: &Path, home: &Path) -> Vec<Value> {
    let verify = airlock(&["log", "verify"], tmp, Some(home));
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
    let log = airlock(&["log", "--json"], tmp, Some(home));
    assert_eq!(log.status.code(), Some(0));
    let text = String::from_utf8(log.stdout).unwrap();
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Array(entries)) => entries,
        _ => text
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    }
}

fn volume_file(home: &Path) -> PathBuf {
    home.join("railway")
        .join("volumes")
        .join(VOLUME_ID)
        .join("data.db")
}

#[test]
fn the_held_call_is_denied_and_the_volume_stays_intact() {
    let tmp = tempfile::tempdir().unwrap();
    let (stdout, home) = demo(&[], tmp.path());

    // Held while a person decides, before anything reached the API.
    assert!(
        stdout.contains("The agent's curl is still waiting"),
        "{stdout}"
    );
    assert!(
        stdout.contains("The Railway-like API has received 0 request(s) so far."),
        "{stdout}"
    );
    let approval = labelled(&stdout, "approval");
    assert!(
        approval.starts_with("apr_") && approval.ends_with("(pending)"),
        "{approval}"
    );
    assert!(
        labelled(&stdout, "mutation").contains(&format!("volumeDelete(volumeId: \"{VOLUME_ID}\")")),
        "{stdout}"
    );
    assert!(labelled(&stdout, "target").contains(VOLUME_ID), "{stdout}");
    assert!(
        labelled(&stdout, "reason").contains("graphql-volume-delete"),
        "{stdout}"
    );
    // Judged as Railway's API (`judge_as = "railway"`): the catalogue's Railway rule, not the generic one.
    assert!(
        labelled(&stdout, "reason").starts_with("RWY001 "),
        "{stdout}"
    );
    assert!(
        labelled(&stdout, "request").contains("https://backboard.railway.com/graphql/v2"),
        "{stdout}"
    );

    // Denied: the agent gets 403 naming the person, and the volume is untouched.
    assert!(stdout.contains("HTTP 403"), "{stdout}");
    assert!(
        line_with(&stdout, "denied_by:").contains("alice"),
        "{stdout}"
    );
    assert!(
        labelled(&stdout, "pg-data").contains(&format!("intact: {CUSTOMER_ROWS} rows")),
        "{stdout}"
    );
    assert!(stdout.contains("received 0 requests"), "{stdout}");
    assert!(
        volume_file(&home).exists(),
        "the volume's SQLite file is still there"
    );

    // The Cursor hook refuses the same call sent straight to Railway.
    assert!(
        labelled(&stdout, "answer").contains("permission deny"),
        "{stdout}"
    );

    // The audit log verifies, in the demo and again with `airlock log verify` on the home it leaves.
    assert!(stdout.contains("hash chain intact"), "{stdout}");
    let entries = verified_log(tmp.path(), &home);
    let outcomes: Vec<(&str, &str)> = entries
        .iter()
        .map(|e| {
            (
                e["agent"].as_str().unwrap_or(""),
                e["outcome"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(outcomes.contains(&("cursor-agent", "held")), "{outcomes:?}");
    assert!(
        outcomes.contains(&("cursor-agent", "denied by alice")),
        "the person's denial is audited: {outcomes:?}"
    );
    assert!(outcomes.contains(&("cursor", "held")), "{outcomes:?}");
    assert!(
        !outcomes
            .iter()
            .any(|(_, o)| *o == "approved" || *o == "allowed"),
        "nothing was let through: {outcomes:?}"
    );
}

#[test]
fn approve_lets_the_call_through_once_and_the_volume_is_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let (stdout, home) = demo(&["--approve"], tmp.path());

    assert!(
        stdout.contains("The agent's curl is still waiting"),
        "{stdout}"
    );
    // Approved, then deferred: 202 with the cancel command, executed by the gateway after the window.
    assert!(stdout.contains("HTTP 202"), "{stdout}");
    let deferred_id = line_with(&stdout, "deferred_id:")
        .trim()
        .strip_prefix("deferred_id: ")
        .unwrap()
        .to_string();
    assert!(deferred_id.starts_with("def_"), "{stdout}");
    assert!(
        stdout.contains(&format!("cancel: airlock deferred cancel {deferred_id}")),
        "{stdout}"
    );
    let deferred = labelled(&stdout, "deferred");
    assert!(
        deferred.starts_with(&format!("{deferred_id}: executed (HTTP 200)")),
        "{stdout}"
    );
    assert!(deferred.contains(r#"{"volumeDelete":true}"#), "{stdout}");
    assert!(labelled(&stdout, "pg-data").contains("deleted"), "{stdout}");
    assert!(
        !volume_file(&home).exists(),
        "the volume's SQLite file is gone"
    );
    // The API saw exactly one call, carrying the gateway's credential, never the agent's token.
    assert!(stdout.contains("received 1 request\n"), "{stdout}");
    assert!(
        line_with(&stdout, "POST /graphql/v2").contains("the gateway's Railway token"),
        "{stdout}"
    );
    assert!(
        labelled(&stdout, "answer").contains("permission deny"),
        "{stdout}"
    );

    let entries = verified_log(tmp.path(), &home);
    let approved: Vec<&Value> = entries
        .iter()
        .filter(|e| e["outcome"] == "approved")
        .collect();
    assert_eq!(approved.len(), 1, "{entries:?}");
    assert_eq!(approved[0]["agent"], "cursor-agent");
    let outcomes: Vec<&str> = entries
        .iter()
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    let deferred_at = outcomes
        .iter()
        .position(|o| o.starts_with(&format!("deferred {deferred_id}")))
        .unwrap_or_else(|| panic!("{outcomes:?}"));
    let executed_at = outcomes
        .iter()
        .position(|o| *o == format!("executed {deferred_id} (200)"))
        .unwrap_or_else(|| panic!("{outcomes:?}"));
    assert!(deferred_at < executed_at, "{outcomes:?}");
}
