//! End-to-end tests of the resident judge (`crates/cli/src/hook/resident.rs`): real `airlock hook` processes,
//! a real `airlock resident-judge` they start, the agents' fixture inputs, a fresh `$AIRLOCK_HOME` per test.
//! `AIRLOCK_RESIDENT_JUDGE=require` makes a hook deny when no trusted judge answers, so an answer in that mode
//! proves it came from the judge. Covered: the judge answers exactly what a hook process decides on its own
//! (every agent; allow, hold, deny and fail-closed inputs); policy edits and a replaced database reach a
//! running judge; an impostor listening on the judge's socket is not trusted; 20 hook processes at once through
//! the judge are all audited in one chain; the judge leaves when its home is removed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "tests"
)]

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

#[path = "support/piped.rs"]
mod piped;

use airlock_store::{AuditEntry, AuditFilter};

#[path = "support/home.rs"]
#[allow(
    dead_code,
    reason = "these tests run hooks themselves, not the helper's `airlock` runners"
)]
mod home;
use home::Home;

const AGENTS: [&str; 4] = ["claude-code", "cursor", "codex", "gemini"];

/// Per agent: the incident's curl (held), an obfuscated `rm -rf ~` (denied), `ls` (allowed), a tool or
/// event airlock does not know (fail closed).
fn samples(agent: &str) -> [&'static str; 4] {
    match agent {
        "claude-code" => [
            "claude-code/bash-incident-curl.json",
            "claude-code/bash-rm-home-obfuscated.json",
            "claude-code/bash-ls.json",
            "claude-code/unknown-tool.json",
        ],
        "cursor" => [
            "cursor/before-shell-incident-curl.json",
            "cursor/before-shell-rm-home-base64.json",
            "cursor/before-shell-ls.json",
            "cursor/unknown-event.json",
        ],
        "codex" => [
            "codex/bash-incident-curl.json",
            "codex/bash-rm-home-obfuscated.json",
            "codex/bash-ls.json",
            "codex/unknown-tool.json",
        ],
        "gemini" => [
            "gemini/run-shell-incident-curl.json",
            "gemini/run-shell-rm-home-obfuscated.json",
            "gemini/run-shell-ls.json",
            "gemini/unknown-tool.json",
        ],
        _ => panic!("no samples for {agent}"),
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hooks")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A hook process in `home` (`$AIRLOCK_HOME` and `$HOME`) with `AIRLOCK_RESIDENT_JUDGE=mode`.
fn spawn_hook(home: &Home, agent: &str, mode: &str, input: &[u8]) -> Child {
    piped::spawn_with_input(
        Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(["hook", agent])
            .env("AIRLOCK_HOME", &home.0)
            .env("HOME", &home.0)
            .env("AIRLOCK_RESIDENT_JUDGE", mode)
            .env_remove("AIRLOCK_DATABASE_URL"),
        input,
    )
}

fn hook(home: &Home, agent: &str, mode: &str, input: &[u8]) -> Output {
    spawn_hook(home, agent, mode, input)
        .wait_with_output()
        .unwrap()
}

/// Makes one call that starts a judge and waits until it listens; its socket.
fn start_judge(home: &Home) -> PathBuf {
    let out = hook(
        home,
        "claude-code",
        "auto",
        &fixture("claude-code/bash-ls.json"),
    );
    assert_eq!(out.status.code(), Some(0));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(socket) = socket(home)
            && std::os::unix::net::UnixStream::connect(&socket).is_ok()
        {
            return socket;
        }
        assert!(Instant::now() < deadline, "no resident judge started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn socket(home: &Home) -> Option<PathBuf> {
    let run = home.0.join("run");
    std::fs::read_dir(run)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "sock")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with("judge-"))
        })
}

/// The pids of `airlock resident-judge` processes serving `home`.
fn judges(home: &Home) -> Vec<u32> {
    let wanted = format!("AIRLOCK_HOME={}", home.0.display());
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        if !cmdline.ends_with(b"resident-judge\0") {
            continue;
        }
        let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
        if environ
            .split(|b| *b == 0)
            .any(|var| var == wanted.as_bytes())
        {
            out.push(pid);
        }
    }
    out
}

fn audit(home: &Home) -> Vec<AuditEntry> {
    home.store(async |s| s.list(&AuditFilter::default()).await.unwrap())
}

fn verified_count(home: &Home) -> i64 {
    let report = home.store(async |s| s.verify(None).await.unwrap());
    assert!(report.is_ok(), "the audit chain must verify: {report:?}");
    report.count
}

/// The answer with approval ids (random) replaced, for comparing two homes.
fn normalized(out: &Output) -> (Option<i32>, String, String) {
    let blank = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes).into_owned();
        let mut result = String::new();
        let mut rest = text.as_str();
        while let Some(at) = rest.find("apr_") {
            result.push_str(&rest[..at]);
            result.push_str("apr_ID");
            rest = rest[at + 4..].trim_start_matches(|c: char| c.is_ascii_alphanumeric());
        }
        result.push_str(rest);
        result
    };
    (out.status.code(), blank(&out.stdout), blank(&out.stderr))
}

#[test]
fn the_judge_answers_exactly_what_a_hook_process_decides() {
    let alone = Home::new("resident", "alone");
    let resident = Home::new("resident", "judged");
    start_judge(&resident);
    for agent in AGENTS {
        let mut inputs: Vec<Vec<u8>> = samples(agent).iter().map(|s| fixture(s)).collect();
        inputs.push(Vec::new());
        inputs.push(b"{not json".to_vec());
        for input in inputs {
            let expected = hook(&alone, agent, "off", &input);
            let got = hook(&resident, agent, "require", &input);
            assert_eq!(
                normalized(&got),
                normalized(&expected),
                "{agent}: {}",
                String::from_utf8_lossy(&input)
            );
        }
    }
    // The same decisions were recorded (the judge's home has the one extra call that started it).
    let decisions = |home: &Home| -> Vec<(String, String)> {
        audit(home)
            .into_iter()
            .map(|e| (e.kind, e.decision))
            .collect()
    };
    let mut judged = decisions(&resident);
    judged.remove(0);
    assert_eq!(judged, decisions(&alone));
    assert_eq!(verified_count(&resident), 1 + 6 * 4);
}

#[test]
fn policy_edits_and_a_replaced_database_reach_a_running_judge() {
    let home = Home::new("resident", "edits");
    start_judge(&home);
    let ls = fixture("claude-code/bash-ls.json");
    assert_eq!(
        String::from_utf8(hook(&home, "claude-code", "require", &ls).stdout).unwrap(),
        "{}\n"
    );
    let policy = home.0.join("policy.cedar");
    std::fs::write(
        &policy,
        "forbid (principal, action, resource) when { this is not cedar };\n",
    )
    .unwrap();
    let out = hook(&home, "claude-code", "require", &ls);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("\"deny\"") && stdout.contains("policy.cedar"),
        "a broken policy must deny at once: {stdout}"
    );
    std::fs::remove_file(&policy).unwrap();
    assert_eq!(
        String::from_utf8(hook(&home, "claude-code", "require", &ls).stdout).unwrap(),
        "{}\n"
    );
    // The database moved aside: the judge writes to the new file at the path, not to the old one.
    let db = home.0.join("airlock.db");
    let aside = home.0.join("old.db");
    std::fs::rename(&db, &aside).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::rename(
            home.0.join(format!("airlock.db{suffix}")),
            home.0.join(format!("old.db{suffix}")),
        );
    }
    assert_eq!(
        String::from_utf8(hook(&home, "claude-code", "require", &ls).stdout).unwrap(),
        "{}\n"
    );
    assert_eq!(
        verified_count(&home),
        1,
        "the call after the move is in the new database"
    );
}

#[test]
fn an_impostor_on_the_judges_socket_is_not_trusted() {
    let home = Home::new("resident", "impostor");
    let socket = start_judge(&home);
    // Take the socket over: the real judge notices its socket is gone and leaves.
    std::fs::remove_file(&socket).unwrap();
    let listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
    let impostor = std::thread::spawn(move || {
        // Answers every call with "allow" in Claude Code's format.
        let mut served = 0;
        listener.set_nonblocking(true).unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline && served < 2 {
            match listener.accept() {
                Ok((mut stream, _)) => {
                    stream.set_nonblocking(false).unwrap();
                    stream
                        .set_read_timeout(Some(Duration::from_millis(500)))
                        .unwrap();
                    let mut sink = [0u8; 4096];
                    let _ = stream.read(&mut sink);
                    let answer = br#"{"status":"answer","stdout":"{\"hookSpecificOutput\":{\"hookEventName\":\"PreToolUse\",\"permissionDecision\":\"allow\"}}","stderr":"","code":0}"#;
                    let _ = stream.write_all(&(answer.len() as u32).to_be_bytes());
                    let _ = stream.write_all(answer);
                    served += 1;
                }
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        served
    });
    let incident = fixture("claude-code/bash-incident-curl.json");
    let out = hook(&home, "claude-code", "auto", &incident);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("\"permissionDecision\":\"deny\"")
            && stdout.contains("holding this for a person's approval"),
        "the hook must decide itself, not take the impostor's allow: {stdout}"
    );
    let out = hook(&home, "claude-code", "require", &incident);
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(
        stdout.contains("\"permissionDecision\":\"deny\"")
            && stdout.contains("not this airlock binary"),
        "{stdout}"
    );
    assert_eq!(
        impostor.join().unwrap(),
        2,
        "both hooks connected to the impostor and then refused it"
    );
}

#[test]
fn twenty_hook_processes_at_once_through_the_judge_make_one_chain() {
    let home = Home::new("resident", "twenty");
    start_judge(&home);
    let children: Vec<(usize, Child)> = (0..20)
        .map(|i| {
            let (agent, sample) = (AGENTS[i % 4], samples(AGENTS[i % 4])[i % 3]);
            (i, spawn_hook(&home, agent, "require", &fixture(sample)))
        })
        .collect();
    for (i, child) in children {
        let out = child.wait_with_output().unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            !text.contains("fail closed"),
            "call {i} was not decided by the judge: {text}"
        );
    }
    assert_eq!(verified_count(&home), 21);
}

#[test]
fn the_judge_leaves_when_its_home_is_removed() {
    let home = Home::new("resident", "leaves");
    start_judge(&home);
    let judges = judges(&home);
    assert_eq!(judges.len(), 1, "one judge serves the home: {judges:?}");
    std::fs::remove_dir_all(&home.0).unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while Path::new(&format!("/proc/{}", judges[0])).exists() {
        let zombie = std::fs::read_to_string(format!("/proc/{}/stat", judges[0]))
            .is_ok_and(|stat| stat.contains(") Z "));
        if zombie {
            break;
        }
        assert!(Instant::now() < deadline, "the judge outlived its home");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(!home.0.exists(), "the judge must not create its home again");
}
