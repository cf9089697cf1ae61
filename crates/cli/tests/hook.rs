//! End-to-end tests of `airlock hook claude-code|cursor|codex|gemini`: the real binary, the agents' documented
//! hook input shapes (`tests/fixtures/hooks/<agent>/*.json`), a fresh `$AIRLOCK_HOME` and `$HOME` per test
//! (SQLite). Each answer is checked exactly — stdout, exit code — against the agent's own format, and the
//! audit log is checked for the decision. Covers the incident's `curl`, an obfuscated `rm -rf ~` and `ls` for
//! every agent; every fail-closed path (no input, bad JSON, unknown tool or agent, bad policy, configuration or
//! database); in-band asks; an approval round trip; and 20 hook processes at once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

#[path = "support/piped.rs"]
mod piped;

use airlock_engine::{
    Context, Decision, Engine, Envelope, FileOp, FileRequest, Request, ShellRequest,
};
use airlock_store::{Approval, AuditEntry, AuditFilter, Store};
use serde_json::{Value, json};

const AGENTS: [&str; 4] = ["claude-code", "cursor", "codex", "gemini"];

/// The fixtures of the three samples every agent is tested with.
fn sample(agent: &str, which: Sample) -> &'static str {
    match (agent, which) {
        ("claude-code", Sample::Incident) => "claude-code/bash-incident-curl.json",
        ("claude-code", Sample::RmHome) => "claude-code/bash-rm-home-obfuscated.json",
        ("claude-code", Sample::Ls) => "claude-code/bash-ls.json",
        ("cursor", Sample::Incident) => "cursor/before-shell-incident-curl.json",
        ("cursor", Sample::RmHome) => "cursor/before-shell-rm-home-base64.json",
        ("cursor", Sample::Ls) => "cursor/before-shell-ls.json",
        ("codex", Sample::Incident) => "codex/bash-incident-curl.json",
        ("codex", Sample::RmHome) => "codex/bash-rm-home-obfuscated.json",
        ("codex", Sample::Ls) => "codex/bash-ls.json",
        ("gemini", Sample::Incident) => "gemini/run-shell-incident-curl.json",
        ("gemini", Sample::RmHome) => "gemini/run-shell-rm-home-obfuscated.json",
        ("gemini", Sample::Ls) => "gemini/run-shell-ls.json",
        _ => panic!("no sample for {agent}"),
    }
}

#[derive(Clone, Copy)]
enum Sample {
    Incident,
    RmHome,
    Ls,
}

const INCIDENT: &str = r#"curl -X POST https://backboard.railway.com/graphql/v2 -H "Authorization: Bearer abc" -d '{"query":"mutation { volumeDelete(volumeId: \"8a4c0d8e-prod\") }"}'"#;
const CWD: &str = "/home/dev/projects/shop";

fn fixture(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/hooks")
        .join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn fixture_json(name: &str) -> Value {
    serde_json::from_slice(&fixture(name)).unwrap()
}

/// A fresh `$AIRLOCK_HOME` (and `$HOME`, so nothing real is touched), removed afterwards.
struct Home {
    root: PathBuf,
}

static HOMES: AtomicUsize = AtomicUsize::new(0);

impl Home {
    fn new(name: &str) -> Self {
        let root = std::env::temp_dir().join(format!(
            "airlock-hook-{name}-{}-{}",
            std::process::id(),
            HOMES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("airlock")).unwrap();
        std::fs::create_dir_all(root.join("user")).unwrap();
        Home { root }
    }

    fn airlock_home(&self) -> PathBuf {
        self.root.join("airlock")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_airlock"));
        cmd.args(args)
            .env("AIRLOCK_HOME", self.airlock_home())
            .env("HOME", self.root.join("user"))
            .env_remove("AIRLOCK_DATABASE_URL")
            .env_remove("AIRLOCK_APPROVER_SECRET");
        cmd
    }

    fn spawn_hook(&self, agent: &str, input: &[u8]) -> Child {
        // A hook that refuses before reading (an unknown agent) may exit first: a broken pipe is its answer.
        piped::spawn_with_input(&mut self.command(&["hook", agent]), input)
    }

    fn hook(&self, agent: &str, input: &[u8]) -> Output {
        self.spawn_hook(agent, input).wait_with_output().unwrap()
    }

    fn store<T>(&self, work: impl AsyncFnOnce(Store) -> T) -> T {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let url = format!(
                "sqlite://{}",
                self.airlock_home().join("airlock.db").display()
            );
            let store = Store::open(&url).await.unwrap();
            let out = work(store.clone()).await;
            store.close().await;
            out
        })
    }

    fn audit(&self) -> Vec<AuditEntry> {
        let mut entries = self.store(async |s| s.list(&AuditFilter::default()).await.unwrap());
        entries.sort_by_key(|e| e.seq);
        entries
    }

    fn pending(&self) -> Vec<Approval> {
        self.store(async |s| s.list_approvals(false).await.unwrap())
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

// ---- what the answers must be ------------------------------------------------------------------------------

/// The engine's decision on a shell command from the fixtures' directory (what the hook's reasons come from).
fn decision_on_shell(agent: &str, command: &str) -> Decision {
    let envelope = Envelope {
        id: None,
        request: Request::Shell(ShellRequest {
            command: command.into(),
            shell: None,
        }),
        context: Context {
            agent: Some(agent.into()),
            session: None,
            cwd: Some(CWD.into()),
            environment: None,
            upstream: None,
        },
    };
    Engine::new().unwrap().decide(&envelope)
}

fn reasons(decision: &Decision) -> String {
    assert!(!decision.reasons.is_empty());
    decision
        .reasons
        .iter()
        .map(|r| format!("[{}] {}", r.rule, r.message))
        .collect::<Vec<_>>()
        .join("; ")
}

fn denied_reason(decision: &Decision) -> String {
    format!(
        "airlock denied this: {}. Do not retry it in another form; tell the user what you wanted to do.",
        reasons(decision)
    )
}

fn held_reason(id: &str, decision: &Decision, admin: &str) -> String {
    format!(
        "airlock is holding this for a person's approval ({id}): {}. An agent cannot approve it. A person approves it with `airlock approvals approve {id}` or http://{admin}/approvals/{id} (needs an approver secret); then the identical request from the same directory runs once. Do not retry it in another form.",
        reasons(decision)
    )
}

fn failed_reason(problem: &str) -> String {
    format!(
        "airlock could not check this tool call, so it is blocked (fail closed): {problem}. Run `airlock doctor` to see what is wrong."
    )
}

/// The agent's answer: `None` is "print nothing" (Codex's allow).
fn expected(agent: &str, verdict: &str, reason: &str) -> Option<Value> {
    let pre_tool_use = |decision: &str| {
        json!({"hookSpecificOutput": {
            "hookEventName": "PreToolUse",
            "permissionDecision": decision,
            "permissionDecisionReason": reason,
        }})
    };
    match (agent, verdict) {
        ("claude-code" | "gemini", "allow") => Some(json!({})),
        ("claude-code", "deny" | "ask") => Some(pre_tool_use(verdict)),
        ("cursor", "allow") => Some(json!({"continue": true, "permission": "allow"})),
        ("cursor", "deny" | "ask") => Some(json!({
            "continue": true, "permission": verdict, "user_message": reason, "agent_message": reason,
        })),
        ("codex", "allow") => None,
        ("codex", "deny") => Some(pre_tool_use("deny")),
        ("gemini", "deny") => Some(json!({"decision": "deny", "reason": reason})),
        _ => panic!("no {verdict} answer for {agent}"),
    }
}

/// Asserts the exact answer: exit 0, stdout one line of exactly that JSON (or nothing), stderr empty.
fn assert_answer(out: &Output, agent: &str, verdict: &str, reason: &str) {
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{agent}: stdout {stdout} stderr {stderr}"
    );
    assert_eq!(stderr, "", "{agent}");
    match expected(agent, verdict, reason) {
        None => assert_eq!(stdout, "", "{agent}"),
        Some(want) => {
            assert!(
                stdout.ends_with('\n') && stdout.lines().count() == 1,
                "{agent}: {stdout:?}"
            );
            let got: Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(got, want, "{agent}");
        }
    }
}

/// Asserts a fail-closed deny in the agent's format whose reason names `problem`; returns the reason.
fn assert_fail_closed(out: &Output, agent: &str, problem: &str) -> String {
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert_eq!(out.status.code(), Some(0), "{agent}: {stdout}");
    let got: Value =
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{agent}: {e}: {stdout:?}"));
    let reason = match agent {
        "claude-code" | "codex" => {
            assert_eq!(
                got["hookSpecificOutput"]["permissionDecision"], "deny",
                "{stdout}"
            );
            assert_eq!(got["hookSpecificOutput"]["hookEventName"], "PreToolUse");
            got["hookSpecificOutput"]["permissionDecisionReason"].clone()
        }
        "cursor" => {
            assert_eq!(got["permission"], "deny", "{stdout}");
            assert_eq!(got["continue"], true);
            assert_eq!(got["user_message"], got["agent_message"]);
            got["agent_message"].clone()
        }
        "gemini" => {
            assert_eq!(got["decision"], "deny", "{stdout}");
            got["reason"].clone()
        }
        _ => panic!("{agent}"),
    };
    let reason = reason.as_str().unwrap();
    assert!(
        reason.starts_with(
            "airlock could not check this tool call, so it is blocked (fail closed): "
        ),
        "{agent}: {reason}"
    );
    assert!(
        reason.contains(problem),
        "{agent}: `{problem}` not in {reason}"
    );
    reason.to_string()
}

// ---- the three samples, every agent ---------------------------------------------------------------------------

#[test]
fn the_incident_curl_is_held_for_a_person_for_every_agent() {
    for agent in AGENTS {
        let home = Home::new("incident");
        let out = home.hook(agent, &fixture(sample(agent, Sample::Incident)));
        let pending = home.pending();
        assert_eq!(pending.len(), 1, "{agent}: {pending:?}");
        let approval = &pending[0];
        assert_eq!(approval.requester, agent);
        assert!(approval.summary.contains("volumeDelete"), "{approval:?}");
        assert!(!approval.summary.contains("Bearer abc"), "{approval:?}");
        let decision = decision_on_shell(agent, INCIDENT);
        let reason = held_reason(&approval.id, &decision, "127.0.0.1:8788");
        assert!(reason.contains("RWY001"), "{reason}");
        assert_answer(&out, agent, "deny", &reason);
        let audit = home.audit();
        assert_eq!(audit.len(), 1, "{agent}");
        assert_eq!(
            (audit[0].decision.as_str(), audit[0].outcome.as_str()),
            ("ask", "held")
        );
        assert_eq!(audit[0].approval_id.as_deref(), Some(approval.id.as_str()));
        assert_eq!(audit[0].agent.as_deref(), Some(agent));
        assert_eq!(audit[0].kind, "shell");
    }
}

#[test]
fn an_obfuscated_rm_rf_home_is_denied_for_every_agent() {
    for agent in AGENTS {
        let home = Home::new("rm-home");
        let input = fixture_json(sample(agent, Sample::RmHome));
        let command = input
            .get("command")
            .or_else(|| input["tool_input"].get("command"))
            .and_then(Value::as_str)
            .unwrap()
            .to_string();
        assert!(
            command == "X=rm; $X -rf ~" || command == "echo cm0gLXJmIH4= | base64 -d | sh",
            "{command}"
        );
        let out = home.hook(agent, &fixture(sample(agent, Sample::RmHome)));
        let decision = decision_on_shell(agent, &command);
        assert_eq!(decision.verdict.as_str(), "deny");
        assert_answer(&out, agent, "deny", &denied_reason(&decision));
        let audit = home.audit();
        assert_eq!(audit.len(), 1, "{agent}");
        assert_eq!(
            (audit[0].decision.as_str(), audit[0].outcome.as_str()),
            ("deny", "denied")
        );
        assert!(home.pending().is_empty());
    }
}

#[test]
fn ls_is_allowed_and_audited_for_every_agent() {
    for agent in AGENTS {
        let home = Home::new("ls");
        let out = home.hook(agent, &fixture(sample(agent, Sample::Ls)));
        assert_answer(&out, agent, "allow", "");
        let audit = home.audit();
        assert_eq!(audit.len(), 1, "{agent}");
        assert_eq!(
            (
                audit[0].decision.as_str(),
                audit[0].outcome.as_str(),
                audit[0].summary.as_str()
            ),
            ("allow", "allowed", "shell: ls")
        );
        assert_eq!(audit[0].agent.as_deref(), Some(agent));
    }
}

// ---- the other documented tool shapes --------------------------------------------------------------------------

#[test]
fn claude_code_file_web_mcp_and_read_only_tools() {
    let home = Home::new("claude-tools");
    for name in [
        "write.json",
        "edit.json",
        "multiedit.json",
        "notebook-edit.json",
        "webfetch.json",
        "read.json",
    ] {
        let out = home.hook("claude-code", &fixture(&format!("claude-code/{name}")));
        assert_answer(&out, "claude-code", "allow", "");
    }
    let summaries: Vec<String> = home.audit().into_iter().map(|e| e.summary).collect();
    assert_eq!(
        summaries,
        [
            "file: write /home/dev/projects/shop/src/health.ts (24 bytes)",
            "file: edit /home/dev/projects/shop/src/health.ts (10 bytes)",
            "file: edit /home/dev/projects/shop/README.md (3 bytes)",
            "file: edit /home/dev/projects/shop/analysis.ipynb (8 bytes)",
            "http: GET https://docs.railway.com/reference/public-api",
            "Read /home/dev/projects/shop/package.json",
        ]
    );
    let read = home.audit().pop().unwrap();
    assert_eq!(
        (read.kind.as_str(), read.decision.as_str()),
        ("tool", "allow")
    );

    let out = home.hook(
        "claude-code",
        &fixture("claude-code/mcp-railway-volume-delete.json"),
    );
    let approval = home.pending().pop().unwrap();
    assert_eq!(approval.kind, "mcp");
    let reason = out_reason(&out, "claude-code");
    assert!(
        reason.starts_with(&format!(
            "airlock is holding this for a person's approval ({}): ",
            approval.id
        )),
        "{reason}"
    );
}

fn out_reason(out: &Output, agent: &str) -> String {
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let reason = match agent {
        "claude-code" | "codex" => &got["hookSpecificOutput"]["permissionDecisionReason"],
        "cursor" => &got["agent_message"],
        _ => &got["reason"],
    };
    reason.as_str().unwrap().to_string()
}

#[test]
fn cursor_mcp_read_and_after_edit_events() {
    let home = Home::new("cursor-events");
    let out = home.hook("cursor", &fixture("cursor/before-read-file.json"));
    assert_answer(&out, "cursor", "allow", "");
    let out = home.hook("cursor", &fixture("cursor/after-file-edit.json"));
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(String::from_utf8(out.stdout).unwrap(), "{}\n");
    let out = home.hook(
        "cursor",
        &fixture("cursor/before-mcp-railway-volume-delete.json"),
    );
    let approval = home.pending().pop().unwrap();
    assert_eq!(
        approval.summary,
        r#"mcp: mcp.railway.com/volume_delete {"volumeId":"8a4c0d8e-prod"}"#
    );
    assert!(out_reason(&out, "cursor").contains(&approval.id));
    let audit: Vec<(String, String, String)> = home
        .audit()
        .into_iter()
        .map(|e| (e.kind, e.outcome, e.summary))
        .collect();
    assert_eq!(
        audit,
        [
            (
                "tool".to_string(),
                "allowed".to_string(),
                "beforeReadFile /home/dev/projects/shop/package.json".to_string()
            ),
            (
                "file".into(),
                "reported after the fact".into(),
                "file: edit /home/dev/projects/shop/src/health.ts (10 bytes)".into()
            ),
            (
                "mcp".into(),
                "held".into(),
                r#"mcp: mcp.railway.com/volume_delete {"volumeId":"8a4c0d8e-prod"}"#.into()
            ),
        ]
    );
}

#[test]
fn codex_apply_patch_is_judged_file_by_file_and_mcp_is_held() {
    let home = Home::new("codex-tools");
    let out = home.hook("codex", &fixture("codex/apply-patch.json"));
    assert_answer(&out, "codex", "allow", "");
    let summaries: Vec<String> = home.audit().into_iter().map(|e| e.summary).collect();
    assert_eq!(
        summaries,
        [
            "file: write docs/notes.md (30 bytes)",
            "file: edit src/health.ts (24 bytes)"
        ]
    );
    // A patch given as an argument vector, deleting a credentials file: judged like any delete of it.
    let out = home.hook("codex", &fixture("codex/apply-patch-argv-delete-env.json"));
    let delete_env = Envelope {
        id: None,
        request: Request::File(FileRequest {
            op: FileOp::Delete,
            path: ".env".into(),
            content: None,
        }),
        context: Context {
            agent: Some("codex".into()),
            session: None,
            cwd: Some(CWD.into()),
            environment: None,
            upstream: None,
        },
    };
    let decision = Engine::new().unwrap().decide(&delete_env);
    assert_eq!(decision.verdict.as_str(), "deny");
    assert_answer(&out, "codex", "deny", &denied_reason(&decision));
    assert_eq!(home.audit().pop().unwrap().summary, "file: delete .env");
    let out = home.hook("codex", &fixture("codex/mcp-railway-volume-delete.json"));
    let approval = home.pending().pop().unwrap();
    assert_eq!(
        approval.summary,
        r#"mcp: railway/volume_delete {"volumeId":"8a4c0d8e-prod"}"#
    );
    assert!(out_reason(&out, "codex").contains(&approval.id));
}

#[test]
fn gemini_file_read_and_mcp_tools() {
    let home = Home::new("gemini-tools");
    for name in ["write-file.json", "replace.json", "read-file.json"] {
        let out = home.hook("gemini", &fixture(&format!("gemini/{name}")));
        assert_answer(&out, "gemini", "allow", "");
    }
    let out = home.hook("gemini", &fixture("gemini/mcp-railway-volume-delete.json"));
    let approval = home.pending().pop().unwrap();
    assert_eq!(
        approval.summary,
        r#"mcp: railway/volume_delete {"volumeId":"8a4c0d8e-prod"}"#
    );
    assert!(out_reason(&out, "gemini").contains(&approval.id));
    let kinds: Vec<String> = home.audit().into_iter().map(|e| e.kind).collect();
    assert_eq!(kinds, ["file", "file", "tool", "mcp"]);
}

// ---- fail closed ------------------------------------------------------------------------------------------------

#[test]
fn no_input_and_invalid_json_are_denied_in_every_agents_format() {
    for agent in AGENTS {
        let home = Home::new("bad-input");
        assert_eq!(
            assert_fail_closed(&home.hook(agent, b""), agent, "no hook input on stdin"),
            failed_reason("no hook input on stdin")
        );
        assert_fail_closed(&home.hook(agent, b" \n"), agent, "no hook input on stdin");
        assert_fail_closed(
            &home.hook(agent, b"{\"tool_name\": \"Bash\","),
            agent,
            "the hook input is not valid JSON",
        );
        assert_fail_closed(
            &home.hook(agent, b"[\"ls\"]"),
            agent,
            "the hook input is not a JSON object",
        );
        let audit = home.audit();
        assert_eq!(audit.len(), 4, "{agent}");
        assert!(
            audit
                .iter()
                .all(|e| e.kind == "hook" && e.decision == "deny" && e.outcome == "denied")
        );
    }
}

#[test]
fn an_unknown_tool_is_denied_and_audited() {
    for (agent, name, problem) in [
        (
            "claude-code",
            "claude-code/unknown-tool.json",
            "unknown tool `TeleportFiles`",
        ),
        (
            "cursor",
            "cursor/unknown-event.json",
            "airlock does not answer Cursor's `beforeTeleport` hook",
        ),
        (
            "codex",
            "codex/unknown-tool.json",
            "unknown tool `teleport_files`",
        ),
        (
            "gemini",
            "gemini/unknown-tool.json",
            "unknown tool `teleport_files`",
        ),
    ] {
        let home = Home::new("unknown-tool");
        assert_fail_closed(&home.hook(agent, &fixture(name)), agent, problem);
        let audit = home.audit();
        assert_eq!(audit.len(), 1, "{agent}");
        assert_eq!(
            (audit[0].kind.as_str(), audit[0].decision.as_str()),
            ("hook", "deny")
        );
        assert!(audit[0].summary.contains(problem), "{}", audit[0].summary);
    }
}

#[test]
fn a_tool_input_without_its_command_is_denied() {
    let home = Home::new("no-command");
    let mut input = fixture_json("claude-code/bash-ls.json");
    input["tool_input"] = json!({"description": "no command"});
    let reason = assert_fail_closed(
        &home.hook("claude-code", input.to_string().as_bytes()),
        "claude-code",
        "`Bash` input has no string `command`",
    );
    assert_eq!(
        reason,
        failed_reason("`Bash` input has no string `command`")
    );
}

#[test]
fn an_unknown_agent_exits_2_with_the_reason_on_stderr() {
    let home = Home::new("unknown-agent");
    let out = home.hook("windsurf", &fixture("claude-code/bash-ls.json"));
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(out.stdout, b"");
    assert_eq!(
        String::from_utf8(out.stderr).unwrap(),
        "airlock: unknown agent `windsurf` (expected one of claude-code, cursor, codex, gemini); blocking this tool call\n"
    );
}

#[test]
fn a_policy_that_cannot_be_loaded_is_denied() {
    for agent in AGENTS {
        // Tests run as root, so a chmod would not stop the read: a directory stands in for the file.
        let home = Home::new("policy-dir");
        std::fs::create_dir(home.airlock_home().join("policy.cedar")).unwrap();
        assert_fail_closed(
            &home.hook(agent, &fixture(sample(agent, Sample::Ls))),
            agent,
            "cannot read policy file",
        );
        let home = Home::new("policy-invalid");
        std::fs::write(
            home.airlock_home().join("policy.cedar"),
            "forbid (principal, action, resource) when { this is not cedar };\n",
        )
        .unwrap();
        assert_fail_closed(
            &home.hook(agent, &fixture(sample(agent, Sample::Ls))),
            agent,
            "policy.cedar",
        );
        let audit = home.audit();
        assert_eq!(audit.len(), 1, "{agent}: the refusal is audited");
        assert_eq!(audit[0].decision, "deny");
    }
}

#[test]
fn a_database_that_cannot_be_opened_or_written_is_denied() {
    for agent in AGENTS {
        let home = Home::new("db-dir");
        std::fs::create_dir(home.airlock_home().join("airlock.db")).unwrap();
        assert_fail_closed(
            &home.hook(agent, &fixture(sample(agent, Sample::Ls))),
            agent,
            "airlock.db",
        );
        let home = Home::new("db-corrupt");
        std::fs::write(
            home.airlock_home().join("airlock.db"),
            "this is not an SQLite database\n".repeat(300),
        )
        .unwrap();
        assert_fail_closed(
            &home.hook(agent, &fixture(sample(agent, Sample::Ls))),
            agent,
            "airlock.db",
        );
    }
}

#[test]
fn a_configuration_that_cannot_be_read_is_denied() {
    for agent in AGENTS {
        let home = Home::new("bad-config");
        std::fs::write(
            home.airlock_home().join("airlock.toml"),
            "[hooks]\nin_band_ask = \"yes\"\n",
        )
        .unwrap();
        assert_fail_closed(
            &home.hook(agent, &fixture(sample(agent, Sample::Ls))),
            agent,
            "`hooks.in_band_ask` must be true or false",
        );
    }
}

// ---- asking in band, and out of band ----------------------------------------------------------------------------

#[test]
fn in_band_ask_is_used_only_where_configured_and_the_agent_can_ask() {
    let home = Home::new("in-band");
    std::fs::write(
        home.airlock_home().join("airlock.toml"),
        "admin_listen = \"127.0.0.1:9911\"\n[hooks]\nin_band_ask = true\n",
    )
    .unwrap();
    let decision = decision_on_shell("claude-code", INCIDENT);
    let ask = format!(
        "airlock asks a person to confirm this: {}",
        reasons(&decision)
    );
    for agent in ["claude-code", "cursor"] {
        let out = home.hook(agent, &fixture(sample(agent, Sample::Incident)));
        assert_answer(&out, agent, "ask", &ask);
    }
    assert!(home.pending().is_empty(), "an in-band ask holds nothing");
    // bypassPermissions would answer the question itself: held out of band instead.
    let out = home.hook(
        "claude-code",
        &fixture("claude-code/bash-incident-curl-bypass.json"),
    );
    let approval = home.pending().pop().unwrap();
    assert_answer(
        &out,
        "claude-code",
        "deny",
        &held_reason(&approval.id, &decision, "127.0.0.1:9911"),
    );
    // Codex and Gemini have no ask: held out of band (the same pending approval: same request, same directory).
    for agent in ["codex", "gemini"] {
        let out = home.hook(agent, &fixture(sample(agent, Sample::Incident)));
        assert_answer(
            &out,
            agent,
            "deny",
            &held_reason(&approval.id, &decision, "127.0.0.1:9911"),
        );
    }
    let outcomes: Vec<String> = home.audit().into_iter().map(|e| e.outcome).collect();
    assert_eq!(
        outcomes,
        ["asked in band", "asked in band", "held", "held", "held"]
    );
}

#[test]
fn bypass_permissions_mode_never_gets_an_ask() {
    let home = Home::new("bypass");
    let out = home.hook(
        "claude-code",
        &fixture("claude-code/bash-incident-curl-bypass.json"),
    );
    let approval = home.pending().pop().unwrap();
    let decision = decision_on_shell("claude-code", INCIDENT);
    assert_answer(
        &out,
        "claude-code",
        "deny",
        &held_reason(&approval.id, &decision, "127.0.0.1:8788"),
    );
}

fn with_cwd(mut input: Value, cwd: &str) -> Vec<u8> {
    input["cwd"] = json!(cwd);
    input.to_string().into_bytes()
}

#[test]
fn an_approved_request_runs_once_from_the_same_directory_only() {
    let home = Home::new("round-trip");
    let incident = fixture("claude-code/bash-incident-curl.json");
    let decision = decision_on_shell("claude-code", INCIDENT);
    let out = home.hook("claude-code", &incident);
    let held = home.pending().pop().unwrap();
    assert_answer(
        &out,
        "claude-code",
        "deny",
        &held_reason(&held.id, &decision, "127.0.0.1:8788"),
    );
    // Asking again reuses the pending approval.
    let out = home.hook("claude-code", &incident);
    assert_answer(
        &out,
        "claude-code",
        "deny",
        &held_reason(&held.id, &decision, "127.0.0.1:8788"),
    );

    home.store(async |store| {
        let (_, secret) = store.add_approver("alice").await.unwrap();
        let alice = store.authenticate_approver(&secret).await.unwrap();
        store.approve(&held.id, &alice).await.unwrap();
    });

    // The same command from another directory is another request: not covered.
    let elsewhere = with_cwd(
        fixture_json("claude-code/bash-incident-curl.json"),
        "/home/dev/projects/other",
    );
    let out = home.hook("claude-code", &elsewhere);
    let other = home.pending().pop().unwrap();
    assert_ne!(other.id, held.id);
    assert_answer(
        &out,
        "claude-code",
        "deny",
        &held_reason(&other.id, &decision, "127.0.0.1:8788"),
    );

    // The identical request passes, once.
    let out = home.hook("claude-code", &incident);
    assert_answer(&out, "claude-code", "allow", "");
    let last = home.audit().pop().unwrap();
    assert_eq!(
        (last.outcome.as_str(), last.approval_id.as_deref()),
        ("approved", Some(held.id.as_str()))
    );
    let out = home.hook("claude-code", &incident);
    let again: Vec<Approval> = home
        .pending()
        .into_iter()
        .filter(|a| a.id != other.id)
        .collect();
    assert_eq!(again.len(), 1);
    assert_ne!(again[0].id, held.id);
    assert_answer(
        &out,
        "claude-code",
        "deny",
        &held_reason(&again[0].id, &decision, "127.0.0.1:8788"),
    );
    let outcomes: Vec<String> = home.audit().into_iter().map(|e| e.outcome).collect();
    assert_eq!(outcomes, ["held", "held", "held", "approved", "held"]);
}

#[test]
fn an_approval_through_the_cli_lets_the_codex_request_through_once() {
    let home = Home::new("cli-approve");
    let incident = fixture("codex/bash-incident-curl.json");
    let out = home.hook("codex", &incident);
    let held = home.pending().pop().unwrap();
    assert!(out_reason(&out, "codex").contains(&format!("airlock approvals approve {}", held.id)));

    let add = home
        .command(&["approver", "add", "bob"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        add.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&add.stderr)
    );
    let secret = String::from_utf8(add.stdout).unwrap().trim().to_string();
    // Without the approver secret (as an agent would try it) nothing is approved.
    let refused = home
        .command(&["approvals", "approve", &held.id])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_ne!(refused.status.code(), Some(0));
    assert_still_held(&home, "codex", &incident, &held.id);

    let approve = home
        .command(&["approvals", "approve", &held.id])
        .env("AIRLOCK_APPROVER_SECRET", &secret)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        approve.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&approve.stderr)
    );
    assert_answer(&home.hook("codex", &incident), "codex", "allow", "");
    let out = home.hook("codex", &incident);
    assert!(!out_reason(&out, "codex").contains(&held.id));
    let outcomes: Vec<String> = home.audit().into_iter().map(|e| e.outcome).collect();
    assert_eq!(outcomes, ["held", "held", "approved", "held"]);
}

/// Still held (same pending approval) while nobody with a secret has approved.
fn assert_still_held(home: &Home, agent: &str, input: &[u8], id: &str) {
    let out = home.hook(agent, input);
    assert!(out_reason(&out, agent).contains(id));
}

// ---- many at once --------------------------------------------------------------------------------------------

#[test]
fn twenty_hooks_at_once_are_all_audited_and_the_chain_verifies() {
    let home = Home::new("twenty");
    let samples = [Sample::Ls, Sample::Incident, Sample::RmHome];
    let children: Vec<(String, Child)> = (0..20)
        .map(|i| {
            let agent = AGENTS[i % AGENTS.len()];
            let input = fixture(sample(agent, samples[i % samples.len()]));
            (agent.to_string(), home.spawn_hook(agent, &input))
        })
        .collect();
    let mut denials = 0;
    for (agent, child) in children {
        let out = child.wait_with_output().unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{agent}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        assert!(!stdout.contains("fail closed"), "{agent}: {stdout}");
        if stdout.contains("\"deny\"") {
            denials += 1;
        }
    }
    // 20 calls: i % 3 == 0 is `ls` (7 of them), the other 13 are held or denied.
    assert_eq!(denials, 13);
    let audit = home.audit();
    assert_eq!(audit.len(), 20);
    assert_eq!(
        audit.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=20).collect::<Vec<_>>()
    );
    let verify = home
        .command(&["log", "verify"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}{}",
        String::from_utf8_lossy(&verify.stdout),
        String::from_utf8_lossy(&verify.stderr)
    );
}

// ---- recoverable deletes: snapshot, then allow ---------------------------------------------------------------

/// A project with a `build-output` tree (a file, a nested file, an executable, a symlink) and the Claude Code
/// input that deletes it from there.
fn project_with_build_output(home: &Home) -> (PathBuf, Vec<u8>) {
    let project = home.root.join("project");
    let tree = project.join("build-output/nested");
    std::fs::create_dir_all(&tree).unwrap();
    std::fs::write(project.join("build-output/app.js"), "console.log(1);\n").unwrap();
    std::fs::write(tree.join("data.bin"), [0u8, 1, 2, 3]).unwrap();
    let script = project.join("build-output/run.sh");
    std::fs::write(&script, "#!/bin/sh\necho run\n").unwrap();
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink("app.js", project.join("build-output/latest.js")).unwrap();
    let mut input = fixture_json("claude-code/bash-ls.json");
    input["cwd"] = json!(project.display().to_string());
    input["tool_input"]["command"] = json!("rm -r build-output");
    (project, input.to_string().into_bytes())
}

#[test]
fn a_recoverable_delete_is_snapshotted_then_allowed_and_undo_restores_it() {
    let home = Home::new("snapshot");
    let (project, input) = project_with_build_output(&home);
    let out = home.hook("claude-code", &input);
    assert_answer(&out, "claude-code", "allow", "");
    let snapshots = home.store(async |s| s.list_snapshots().await.unwrap());
    assert_eq!(snapshots.len(), 1);
    let snapshot = &snapshots[0];
    assert_eq!(snapshot.files, 3);
    assert_eq!(snapshot.cwd, project.display().to_string());
    let audit = home.audit();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit[0].outcome, format!("snapshot {}", snapshot.id));
    assert_eq!(audit[0].decision, "ask");
    assert!(home.pending().is_empty());

    // The agent runs it; `airlock undo` puts the tree back exactly.
    std::fs::remove_dir_all(project.join("build-output")).unwrap();
    let undo = home
        .command(&["undo", &snapshot.id])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert_eq!(
        undo.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&undo.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(project.join("build-output/app.js")).unwrap(),
        "console.log(1);\n"
    );
    assert_eq!(
        std::fs::read(project.join("build-output/nested/data.bin")).unwrap(),
        [0u8, 1, 2, 3]
    );
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(project.join("build-output/run.sh"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o755);
    assert_eq!(
        std::fs::read_link(project.join("build-output/latest.js")).unwrap(),
        Path::new("app.js")
    );
}

#[test]
fn a_recoverable_delete_over_the_snapshot_cap_is_held_for_a_person() {
    let home = Home::new("snapshot-cap");
    std::fs::write(
        home.airlock_home().join("airlock.toml"),
        "[snapshots]\nmax_bytes = 4\n",
    )
    .unwrap();
    let (_, input) = project_with_build_output(&home);
    let out = home.hook("claude-code", &input);
    let approval = home.pending().pop().unwrap();
    let decision = decision_on_shell("claude-code", "rm -r build-output");
    assert_eq!(decision.mitigation.as_str(), "snapshot");
    assert_answer(
        &out,
        "claude-code",
        "deny",
        &held_reason(&approval.id, &decision, "127.0.0.1:8788"),
    );
    assert!(
        home.store(async |s| s.list_snapshots().await.unwrap())
            .is_empty()
    );
}
