//! Self-protection end to end through the engine: every way an agent could change airlock (its files,
//! program, approvals, tokens, processes, the agents' hook settings) is denied by the policy rule
//! `airlock-self-protection`, in every request kind and every form the engine unwraps (file tool writes,
//! MCP filesystem servers, `bash -c`, `sudo`, `eval`, base64 piped to a shell); reading and checking stay
//! allowed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use airlock_engine::{
    Engine, Envelope, FileOp, FileRequest, McpRequest, Request, ShellRequest, Verdict,
};
use base64::Engine as _;

fn shell(command: &str) -> Envelope {
    Envelope::new(Request::Shell(ShellRequest {
        command: command.to_string(),
        shell: None,
    }))
}

fn file(op: FileOp, path: &str, content: Option<&str>) -> Envelope {
    Envelope::new(Request::File(FileRequest {
        op,
        path: path.to_string(),
        content: content.map(str::to_string),
    }))
}

fn mcp(server: &str, tool: &str, arguments: serde_json::Value) -> Envelope {
    Envelope::new(Request::Mcp(McpRequest {
        server: server.to_string(),
        tool: tool.to_string(),
        arguments,
    }))
}

/// Asserts a denial whose first reason is the self-protection policy rule.
fn assert_self_protected(engine: &Engine, envelope: &Envelope, what: &str) {
    let decision = engine.decide(envelope);
    assert_eq!(decision.verdict, Verdict::Deny, "{what}: {decision:?}");
    assert!(
        decision
            .reasons
            .iter()
            .any(|r| r.policy == "airlock-self-protection"),
        "{what}: denied, but not by airlock-self-protection: {:?}",
        decision.reasons
    );
}

#[test]
fn file_tool_writes_edits_and_deletes_of_airlocks_files_and_hook_settings_are_denied() {
    let engine = Engine::new().unwrap();
    let cases = [
        (FileOp::Edit, "~/.airlock/airlock.toml"),
        (FileOp::Write, "~/.airlock/policy.cedar"),
        (FileOp::Delete, "~/.airlock/airlock.db"),
        (
            FileOp::Delete,
            "/home/dev/.airlock/snapshots/snap_01/src/app.ts",
        ),
        (FileOp::Write, "$AIRLOCK_HOME/policy.cedar"),
        (FileOp::Write, "/usr/local/bin/airlock"),
        (FileOp::Edit, "~/.claude/settings.json"),
        (FileOp::Write, ".claude/settings.json"),
        (FileOp::Write, "/work/app/.claude/settings.local.json"),
        (FileOp::Write, "~/.cursor/hooks.json"),
        (FileOp::Edit, ".cursor/hooks.json"),
        (FileOp::Write, "~/.codex/hooks.json"),
        (FileOp::Edit, "~/.codex/config.toml"),
        (FileOp::Edit, "~/.gemini/settings.json"),
        (FileOp::Write, ".gemini/settings.json"),
    ];
    for (op, path) in cases {
        assert_self_protected(&engine, &file(op, path, Some("{}")), path);
    }
}

#[test]
fn mcp_filesystem_writes_of_protected_files_are_denied() {
    let engine = Engine::new().unwrap();
    assert_self_protected(
        &engine,
        &mcp(
            "filesystem",
            "write_file",
            serde_json::json!({"path": "/home/dev/.claude/settings.json", "content": "{}"}),
        ),
        "write_file hook settings",
    );
    assert_self_protected(
        &engine,
        &mcp(
            "filesystem",
            "edit_file",
            serde_json::json!({"path": "/home/dev/.airlock/policy.cedar", "edits": []}),
        ),
        "edit_file policy",
    );
}

#[test]
fn every_unwrapped_form_of_a_self_protection_command_is_denied() {
    let engine = Engine::new().unwrap();
    let commands = [
        "airlock approvals approve ap_1",
        "rm -rf ~/.airlock",
        "sed -i '/airlock/d' ~/.claude/settings.json",
        "pkill airlock",
        "airlock uninstall claude-code",
    ];
    for command in commands {
        let encoded = base64::engine::general_purpose::STANDARD.encode(command);
        let quoted = format!("'{}'", command.replace('\'', "'\\''"));
        let forms = [
            command.to_string(),
            format!("bash -c {quoted}"),
            format!("sudo {command}"),
            format!("eval {quoted}"),
            format!("echo {encoded} | base64 -d | sh"),
            format!("sh <<'EOF'\n{command}\nEOF"),
            format!("true && {command}"),
        ];
        for form in forms {
            assert_self_protected(&engine, &shell(&form), &form);
        }
    }
}

#[test]
fn reading_and_checking_stay_allowed() {
    let engine = Engine::new().unwrap();
    let allowed = [
        "cat ~/.airlock/airlock.toml",
        "ls -la ~/.airlock",
        "cat ~/.claude/settings.json",
        "jq .hooks ~/.claude/settings.json",
        "git diff .claude/settings.json",
        "airlock check --shell 'rm -rf ~'",
        "airlock log verify",
        "airlock log --json --limit 5",
        "airlock approvals list",
        "airlock approvals show ap_1",
        "airlock explain ALS001",
        "airlock doctor",
        "airlock undo",
        "cp ~/.claude/settings.json /tmp/settings-copy.json",
    ];
    for command in allowed {
        let decision = engine.decide(&shell(command));
        assert_eq!(decision.verdict, Verdict::Allow, "{command}: {decision:?}");
    }
}
