//! End-to-end tests of the `airlock` binary: `check` exit codes and output forms, `--jsonl` with malformed
//! lines, the corpus through the CLI, and policies that must refuse to load. Each test gets a fresh
//! `$AIRLOCK_HOME` in a temp dir.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "tests fail by panicking"
)]

use std::path::PathBuf;
use std::process::{Command, Output};

#[path = "support/piped.rs"]
mod piped;

struct Home(PathBuf);

impl Home {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("airlock-cli-test-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Home(dir)
    }

    fn airlock(&self, args: &[&str], stdin: Option<&[u8]>) -> Output {
        piped::run_with_input(
            Command::new(env!("CARGO_BIN_EXE_airlock"))
                .args(args)
                .env("AIRLOCK_HOME", &self.0),
            stdin.unwrap_or_default(),
        )
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const INCIDENT: &str = r#"curl -X POST https://backboard.railway.com/graphql/v2 -H "Authorization: Bearer $RAILWAY_TOKEN" -d '{"query":"mutation { volumeDelete(volumeId: \"8a4c1f2e-5b7d-4e9a-b3c6-1d2e3f4a5b6c\") }"}'"#;

#[test]
fn exit_codes_are_0_allow_3_ask_2_deny() {
    let home = Home::new("exit");
    let allow = home.airlock(&["check", "--shell", "ls -la"], None);
    assert_eq!(allow.status.code(), Some(0), "{allow:?}");
    assert!(String::from_utf8_lossy(&allow.stdout).starts_with("ALLOW"));
    let ask = home.airlock(&["check", "--shell", INCIDENT], None);
    assert_eq!(ask.status.code(), Some(3), "{ask:?}");
    let text = String::from_utf8_lossy(&ask.stdout);
    assert!(
        text.starts_with("ASK") && text.contains("volumeDelete"),
        "{text}"
    );
    let deny = home.airlock(
        &["check", "--shell", "dd if=/dev/zero of=/dev/sda bs=1M"],
        None,
    );
    assert_eq!(deny.status.code(), Some(2), "{deny:?}");
}

#[test]
fn incident_in_production_is_held_and_json_names_the_mutation() {
    let home = Home::new("json");
    let out = home.airlock(
        &[
            "check",
            "--json",
            "--env",
            "production",
            "--shell",
            INCIDENT,
        ],
        None,
    );
    let value: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(value["decision"], "allow", "{value}");
    let reasons = value["reasons"].to_string();
    assert!(reasons.contains("volume"), "{reasons}");
    assert!(
        value["actions"]
            .as_array()
            .is_some_and(|a| a.iter().any(|a| a["kind"] == "http")),
        "{value}"
    );
}

#[test]
fn every_single_mode_reads_its_request() {
    let home = Home::new("modes");
    let cases: &[(&[&str], i32)] = &[
        (
            &[
                "check",
                "--sql",
                "DROP TABLE users",
                "--dialect",
                "postgres",
            ],
            3,
        ),
        (&["check", "--sql", "SELECT 1"], 0),
        (
            &[
                "check",
                "--http",
                "DELETE",
                "https://api.github.com/repos/acme/api",
            ],
            3,
        ),
        (
            &[
                "check",
                "--http",
                "GET",
                "https://api.github.com/repos/acme/api",
            ],
            0,
        ),
        (
            &[
                "check",
                "--mcp",
                "railway",
                "volume_delete",
                r#"{"volumeId":"v1"}"#,
            ],
            3,
        ),
        (
            &[
                "check",
                "--mcp",
                "github",
                "list_issues",
                r#"{"owner":"a"}"#,
            ],
            0,
        ),
        (
            &[
                "check",
                "--file",
                "write",
                "~/.ssh/authorized_keys",
                "--content",
                "ssh-ed25519 AAAA x",
            ],
            2,
        ),
        (
            &[
                "check",
                "--file",
                "write",
                "src/main.rs",
                "--content",
                "fn main() {}",
            ],
            0,
        ),
    ];
    for (args, code) in cases {
        let out = home.airlock(args, None);
        assert!(
            out.status.code() == Some(*code) || (*code == 3 && out.status.code() == Some(2)),
            "{args:?}: expected exit {code}, got {:?}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

#[test]
fn bad_flags_are_errors_with_exit_1_and_a_message() {
    let home = Home::new("badflags");
    for args in [
        &["check", "--mcp", "s", "t", "not json"][..],
        &["check", "--file", "chmod", "x"][..],
        &["check", "--http", "GET", "https://x", "-H", "no-colon"][..],
    ] {
        let out = home.airlock(args, None);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?} printed a decision");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("airlock:"),
            "{args:?}"
        );
    }
}

#[test]
fn jsonl_answers_every_line_in_order_and_reports_malformed_ones() {
    let home = Home::new("jsonl");
    let mut input = Vec::new();
    input.extend_from_slice(
        b"{\"id\":\"a\",\"kind\":\"shell\",\"command\":\"ls\",\"expect\":\"allow\"}\n",
    );
    input.extend_from_slice(b"{\"id\":\"b\",\"kind\":\"shell\"}\n");
    input.extend_from_slice(b"not json at all\n");
    input.extend_from_slice(b"\n");
    input.extend_from_slice(b"{\"id\":\"c\",\"kind\":\"teleport\",\"where\":\"mars\"}\n");
    input.extend_from_slice(b"\xff\xfe{\n");
    input.extend_from_slice(
        b"{\"id\":\"d\",\"kind\":\"sql\",\"dialect\":\"postgres\",\"sql\":\"TRUNCATE orders\"}\n",
    );
    let out = home.airlock(&["check", "--jsonl", "-"], Some(&input));
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let lines: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 6, "{lines:?}");
    assert_eq!(lines[0]["id"], "a");
    assert_eq!(lines[0]["decision"], "allow");
    assert_eq!(lines[1]["id"], "b");
    assert!(
        lines[1]["error"].as_str().unwrap().contains("command"),
        "{}",
        lines[1]
    );
    assert!(
        lines[2]["error"].as_str().unwrap().contains("not JSON"),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3]["id"], "c");
    assert!(
        lines[3]["error"].as_str().unwrap().contains("teleport"),
        "{}",
        lines[3]
    );
    assert!(
        lines[4]["error"].as_str().unwrap().contains("UTF-8"),
        "{}",
        lines[4]
    );
    assert_eq!(lines[5]["id"], "d");
    assert_ne!(lines[5]["decision"], "allow");
}

#[test]
fn the_corpus_through_the_cli_matches_the_library() {
    let home = Home::new("corpus");
    let corpus = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/corpus/dev.jsonl");
    let out = home.airlock(&["check", "--jsonl", corpus], None);
    assert_eq!(out.status.code(), Some(0));
    let engine = airlock_engine::Engine::new().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let inputs = std::fs::read_to_string(corpus).unwrap();
    let mut n = 0;
    for (line, input) in text.lines().zip(inputs.lines()) {
        let got: serde_json::Value = serde_json::from_str(line).unwrap();
        let envelope: airlock_engine::Envelope = serde_json::from_str(input).unwrap();
        assert_eq!(got["id"].as_str(), envelope.id.as_deref());
        assert_eq!(
            got["decision"],
            engine.decide(&envelope).verdict.as_str(),
            "{input}"
        );
        n += 1;
    }
    assert_eq!(n, inputs.lines().count());
}

#[test]
fn a_broken_user_policy_blocks_with_exit_1_and_names_the_file() {
    let home = Home::new("badpolicy");
    std::fs::write(
        home.0.join("policy.cedar"),
        "forbid (principal, action, resource",
    )
    .unwrap();
    let out = home.airlock(&["check", "--shell", "ls"], None);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("policy.cedar") && err.contains("does not parse"),
        "{err}"
    );
    let check = home.airlock(&["policy", "check"], None);
    assert_eq!(check.status.code(), Some(1));
}

#[test]
fn a_user_policy_can_hold_what_the_default_allows() {
    let home = Home::new("userpolicy");
    let policy = r#"
        @id("no-force-with-lease-either")
        @verdict("deny")
        @reason("this team never rewrites shared history")
        forbid (principal, action == Airlock::Action::"shell", resource)
        when { context.family == "git" };
    "#;
    std::fs::write(home.0.join("policy.cedar"), policy).unwrap();
    assert_eq!(
        home.airlock(&["policy", "check"], None).status.code(),
        Some(0)
    );
    let out = home.airlock(&["check", "--shell", "git push --force origin main"], None);
    assert_eq!(
        out.status.code(),
        Some(2),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("never rewrites shared history"));
}
