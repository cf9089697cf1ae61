//! End-to-end tests of `airlock install|uninstall <agent>` and `airlock doctor` with the real binary and a
//! fresh `$HOME` and `$AIRLOCK_HOME` per test: an existing settings file with an unrelated hook and other
//! settings is merged (key order kept), backed up byte for byte, left unchanged by a second install, and
//! given back by uninstall; a file that is not JSON is refused and left alone; then the hook command exactly
//! as written into each agent's settings is run through `sh -c` with the agent's documented hook input
//! (`tests/fixtures/hooks/`), and its answer read in that agent's format. `doctor` reports wired-in agents as
//! protected and a broken or permissive hook as not.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "support/piped.rs"]
mod piped;

use serde_json::{Value, json};

/// A temporary home directory (also the project directory's parent), removed at the end.
struct Home {
    root: PathBuf,
}

impl Home {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let root = std::env::temp_dir().join(format!(
            "airlock-install-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("project")).unwrap();
        Home { root }
    }

    fn project(&self) -> PathBuf {
        self.root.join("project")
    }

    fn airlock_home(&self) -> PathBuf {
        self.root.join(".airlock")
    }

    /// The settings file of `agent` in the user's home.
    fn settings(&self, agent: &str) -> PathBuf {
        let (dir, file) = match agent {
            "claude-code" => (".claude", "settings.json"),
            "cursor" => (".cursor", "hooks.json"),
            "codex" => (".codex", "hooks.json"),
            "gemini" => (".gemini", "settings.json"),
            other => panic!("unknown agent {other}"),
        };
        self.root.join(dir).join(file)
    }

    fn write(&self, path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    /// Runs the airlock binary in the project directory with this home.
    fn airlock(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(args)
            .current_dir(self.project())
            .env("HOME", &self.root)
            .env("AIRLOCK_HOME", self.airlock_home())
            .env("PATH", "/usr/bin:/bin")
            .env_remove("AIRLOCK_DATABASE_URL")
            .stdin(Stdio::null())
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.airlock(args);
        assert_eq!(
            out.status.code(),
            Some(0),
            "airlock {args:?}\nstdout: {}\nstderr: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// Files next to `path` whose name starts with its name plus `.airlock-backup-`.
    fn backups(&self, path: &Path) -> Vec<PathBuf> {
        let name = path.file_name().unwrap().to_str().unwrap().to_string();
        let mut found: Vec<PathBuf> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                p.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with(&format!("{name}.airlock-backup-"))
            })
            .collect();
        found.sort();
        found
    }

    /// Runs a hook command exactly as written in a settings file, as the agent would: `sh -c COMMAND` with
    /// the hook input on standard input.
    fn run_hook_command(&self, command: &str, input: &[u8]) -> Output {
        piped::run_with_input(
            Command::new("sh")
                .arg("-c")
                .arg(command)
                .current_dir(self.project())
                .env("HOME", &self.root)
                .env("AIRLOCK_HOME", self.airlock_home())
                .env_remove("AIRLOCK_DATABASE_URL"),
            input,
        )
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The airlock binary's canonical path, as `install` writes it.
fn binary() -> String {
    std::fs::canonicalize(env!("CARGO_BIN_EXE_airlock"))
        .unwrap()
        .to_str()
        .unwrap()
        .to_string()
}

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hooks")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every hook command of a settings document, with its event.
fn hook_commands(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (event, list) in doc["hooks"].as_object().unwrap() {
        for entry in list.as_array().unwrap() {
            let handlers = match entry.get("hooks") {
                Some(handlers) => handlers.as_array().unwrap().clone(),
                None => vec![entry.clone()],
            };
            for handler in handlers {
                out.push((
                    event.clone(),
                    handler["command"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    out
}

const CLAUDE_SETTINGS: &str = r#"{
  "model": "opus",
  "permissions": {"allow": ["Bash(npm test:*)"], "deny": ["Read(./.env)"]},
  "hooks": {
    "PreToolUse": [
      {"matcher": "Write|Edit", "hooks": [{"type": "command", "command": "prettier --write \"$FILE\"", "timeout": 5}]}
    ],
    "Stop": [{"hooks": [{"type": "command", "command": "notify-send done"}]}]
  },
  "env": {"ZETA": "1", "ALPHA": "2"},
  "statusLine": {"type": "command", "command": "echo ünïcödé"}
}
"#;

#[test]
fn install_merges_keeps_everything_else_backs_up_is_idempotent_and_uninstall_gives_it_back() {
    let home = Home::new("merge");
    let path = home.settings("claude-code");
    home.write(&path, CLAUDE_SETTINGS);
    let original = read_json(&path);

    let out = home.ok(&["install", "claude-code"]);
    assert!(out.contains("wired airlock into Claude Code"), "{out}");
    let merged = read_json(&path);
    // Every other setting kept, in its order.
    let keys: Vec<&String> = merged.as_object().unwrap().keys().collect();
    assert_eq!(keys, ["model", "permissions", "hooks", "env", "statusLine"]);
    for key in ["model", "permissions", "env", "statusLine"] {
        assert_eq!(
            serde_json::to_string(&merged[key]).unwrap(),
            serde_json::to_string(&original[key]).unwrap(),
            "{key} changed"
        );
    }
    assert_eq!(merged["hooks"]["Stop"], original["hooks"]["Stop"]);
    // The unrelated hook first, airlock's after it.
    let pre = merged["hooks"]["PreToolUse"].as_array().unwrap();
    assert_eq!(pre.len(), 2);
    assert_eq!(pre[0], original["hooks"]["PreToolUse"][0]);
    assert_eq!(
        pre[1]["hooks"][0]["command"],
        format!("{} hook claude-code", binary())
    );
    assert_eq!(pre[1]["hooks"][0]["type"], "command");
    let matcher = pre[1]["matcher"].as_str().unwrap();
    for tool in [
        "Bash",
        "Write",
        "Edit",
        "MultiEdit",
        "NotebookEdit",
        "WebFetch",
        "mcp__",
    ] {
        assert!(matcher.contains(tool), "matcher {matcher} misses {tool}");
    }
    // The backup is the old file, byte for byte.
    let backups = home.backups(&path);
    assert_eq!(backups.len(), 1, "{backups:?}");
    assert_eq!(
        std::fs::read_to_string(&backups[0]).unwrap(),
        CLAUDE_SETTINGS
    );

    // A second install changes nothing, writes no backup, and says so.
    let installed_bytes = std::fs::read(&path).unwrap();
    let again = home.ok(&["install", "claude-code", "--user"]);
    assert!(again.contains("nothing changed"), "{again}");
    assert_eq!(std::fs::read(&path).unwrap(), installed_bytes);
    assert_eq!(home.backups(&path).len(), 1);

    // Uninstall takes out only airlock's entry: the document is the original again, keys in order.
    let removed = home.ok(&["uninstall", "claude-code"]);
    assert!(removed.contains("removed airlock"), "{removed}");
    assert_eq!(
        serde_json::to_string(&read_json(&path)).unwrap(),
        serde_json::to_string(&original).unwrap()
    );
    let backups = home.backups(&path);
    assert_eq!(backups.len(), 2, "uninstall backs up too: {backups:?}");
    assert_eq!(std::fs::read(&backups[1]).unwrap(), installed_bytes);
    let nothing = home.ok(&["uninstall", "claude-code"]);
    assert!(nothing.contains("nothing changed"), "{nothing}");
}

#[test]
fn a_settings_file_that_is_not_json_is_refused_and_left_alone() {
    let home = Home::new("invalid");
    let path = home.settings("claude-code");
    let broken = "{\n  \"model\": \"opus\",\n  // a comment is not JSON\n}\n";
    home.write(&path, broken);
    for args in [["install", "claude-code"], ["uninstall", "claude-code"]] {
        let out = home.airlock(&args);
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("is not valid JSON"), "{stderr}");
        assert!(stderr.contains(path.to_str().unwrap()), "{stderr}");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), broken);
        assert!(home.backups(&path).is_empty());
    }
    // Valid JSON of the wrong shape is refused the same way.
    let wrong = r#"{"hooks": {"PreToolUse": {"matcher": "Bash"}}}"#;
    home.write(&path, wrong);
    let out = home.airlock(&["install", "claude-code"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("hooks.PreToolUse"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), wrong);
}

#[test]
fn project_scope_writes_under_the_current_directory_only() {
    let home = Home::new("project");
    home.ok(&["install", "gemini", "--project"]);
    let project_file = home.project().join(".gemini/settings.json");
    let doc = read_json(&project_file);
    let group = &doc["hooks"]["BeforeTool"][0];
    assert!(
        group["matcher"]
            .as_str()
            .unwrap()
            .contains("run_shell_command")
    );
    assert_eq!(group["hooks"][0]["timeout"], 30000, "Gemini counts ms");
    assert!(!home.settings("gemini").exists());
    assert!(
        home.backups(&project_file).is_empty(),
        "a new file has no backup"
    );
    let out = home.airlock(&["install", "gemini", "--user", "--project"]);
    assert_ne!(out.status.code(), Some(0), "--user and --project conflict");
}

/// The hook input samples of each agent (from the hook tests' fixtures) and how to read a deny and an
/// allow in that agent's answer format.
fn expect_answer(agent: &str, out: &Output, deny: bool) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let what = format!(
        "{agent} deny={deny}: exit {:?}, stdout {stdout}, stderr {stderr}",
        out.status.code()
    );
    if out.status.code() == Some(2) {
        assert!(deny && !stderr.trim().is_empty(), "{what}");
        return;
    }
    assert_eq!(out.status.code(), Some(0), "{what}");
    let answer: Value = if stdout.trim().is_empty() {
        json!({})
    } else {
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{what}: {e}"))
    };
    let verdict = match agent {
        "claude-code" | "codex" => answer["hookSpecificOutput"]["permissionDecision"]
            .as_str()
            .unwrap_or("allow")
            .to_string(),
        "cursor" => answer["permission"].as_str().unwrap_or("none").to_string(),
        "gemini" => match answer["decision"].as_str() {
            Some("block") => "deny".to_string(),
            Some(other) => other.to_string(),
            None => "allow".to_string(),
        },
        other => panic!("unknown agent {other}"),
    };
    assert_eq!(verdict, if deny { "deny" } else { "allow" }, "{what}");
    if deny && agent == "codex" {
        let reason = answer["hookSpecificOutput"]["permissionDecisionReason"]
            .as_str()
            .unwrap_or_default();
        assert!(!reason.trim().is_empty(), "Codex needs a reason: {what}");
    }
}

#[test]
fn the_hook_command_written_for_each_agent_runs_and_answers_in_its_format() {
    let samples = [
        (
            "claude-code",
            "claude-code/bash-rm-home-obfuscated.json",
            "claude-code/bash-ls.json",
        ),
        (
            "cursor",
            "cursor/before-shell-rm-home-base64.json",
            "cursor/before-shell-ls.json",
        ),
        (
            "codex",
            "codex/bash-rm-home-obfuscated.json",
            "codex/bash-ls.json",
        ),
        (
            "gemini",
            "gemini/run-shell-rm-home-obfuscated.json",
            "gemini/run-shell-ls.json",
        ),
    ];
    let home = Home::new("run");
    for (agent, bad, good) in samples {
        home.ok(&["install", agent]);
        let doc = read_json(&home.settings(agent));
        let commands = hook_commands(&doc);
        assert!(!commands.is_empty(), "{agent}: nothing installed");
        for (event, command) in &commands {
            assert_eq!(
                *command,
                format!("{} hook {agent}", binary()),
                "{agent} {event}"
            );
        }
        if agent == "cursor" {
            assert_eq!(doc["version"], 1);
            for event in ["beforeShellExecution", "beforeMCPExecution"] {
                assert_eq!(doc["hooks"][event][0]["failClosed"], true, "{event}");
            }
        }
        let (_, command) = &commands[0];
        expect_answer(agent, &home.run_hook_command(command, &fixture(bad)), true);
        expect_answer(
            agent,
            &home.run_hook_command(command, &fixture(good)),
            false,
        );
    }
}

#[test]
fn doctor_reports_wired_agents_as_protected_and_broken_hooks_as_not() {
    let home = Home::new("doctor");
    let none = home.airlock(&["doctor"]);
    assert_eq!(none.status.code(), Some(1), "no agent found is not healthy");
    assert!(String::from_utf8_lossy(&none.stdout).contains("no coding agent found"));

    // Claude Code is there but airlock is not wired in.
    std::fs::create_dir_all(home.root.join(".claude")).unwrap();
    let unwired = home.airlock(&["doctor"]);
    assert_eq!(unwired.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&unwired.stdout).contains("airlock install claude-code"));

    for agent in ["claude-code", "cursor", "codex", "gemini"] {
        home.ok(&["install", agent]);
    }
    let out = home.ok(&["doctor"]);
    assert_eq!(
        out.matches("=> protected").count(),
        4,
        "every agent protected:\n{out}"
    );
    assert_eq!(out.matches("[ok]").count(), 8, "{out}");
    // The sample calls started the resident judge; a later doctor finds it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let out = home.ok(&["doctor"]);
        if out.contains("resident judge: running at") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no resident judge after the doctor's hook calls:\n{out}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }

    // A hook that lets everything through is caught by the known-bad sample.
    let permissive = home.root.join("bin/airlock");
    home.write(&permissive, "#!/bin/sh\ncat >/dev/null\necho '{}'\n");
    std::process::Command::new("chmod")
        .args(["+x", permissive.to_str().unwrap()])
        .status()
        .unwrap();
    let codex = home.settings("codex");
    let mut doc = read_json(&codex);
    doc["hooks"]["PreToolUse"][0]["hooks"][0]["command"] =
        json!(format!("{} hook codex", permissive.display()));
    home.write(&codex, &serde_json::to_string_pretty(&doc).unwrap());
    let out = home.airlock(&["doctor", "--agent", "codex"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("WRONG, expected deny"), "{text}");

    // A hook whose program is gone (exit 127) is broken, not protected.
    doc["hooks"]["PreToolUse"][0]["hooks"][0]["command"] = json!("/nonexistent/airlock hook codex");
    home.write(&codex, &serde_json::to_string_pretty(&doc).unwrap());
    let out = home.airlock(&["doctor", "--agent", "codex"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("broken: exit code 127"));

    // Gemini with its hooks switched off is not protected even though the entry is there.
    let gemini = home.settings("gemini");
    let mut doc = read_json(&gemini);
    doc["hooksConfig"] = json!({"enabled": false});
    home.write(&gemini, &serde_json::to_string_pretty(&doc).unwrap());
    let out = home.airlock(&["doctor", "--agent", "gemini"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("hooks are switched off"));
}
