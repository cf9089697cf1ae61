//! Claude Code's `PreToolUse` hook. Input: `{session_id, transcript_path, cwd, permission_mode,
//! hook_event_name, tool_name, tool_input, tool_use_id}`. Tools: `Bash` (`command`) → shell; `Write`
//! (`file_path`, `content`), `Edit` (`new_string`), `MultiEdit` (`edits[].new_string`), `NotebookEdit`
//! (`notebook_path`, `new_source`) → file; `WebFetch` (`url`) → HTTP GET; `mcp__SERVER__TOOL` → MCP; the
//! read-only tools of `tools.rs` → allowed; anything else → denied.
//!
//! Answer: exit 0 and `{"hookSpecificOutput": {"hookEventName": "PreToolUse", "permissionDecision": "deny" |
//! "ask", "permissionDecisionReason": …}}`. On allow airlock answers `{}`: no decision, so Claude Code's own
//! permission rules and prompts still apply (a hook's `allow` would skip them, and airlock only adds guards).
//! `ask` is given only when the call can ask in band (never in `bypassPermissions` mode, where Claude Code
//! would approve it itself); otherwise it is a deny.

use airlock_engine::{Context, FileOp};
use serde_json::{Value, json};

use super::tools::{self, CLAUDE_READ_ONLY};
use super::{
    Agent, Answer, HookCall, Outcome, ToolAction, object_field, required_str, string_field,
};

/// The hook event airlock answers.
const EVENT: &str = "PreToolUse";

/// Reads a `PreToolUse` input.
pub fn parse(input: &Value) -> Result<HookCall, String> {
    let event = string_field(input, "hook_event_name").unwrap_or(EVENT);
    if event != EVENT {
        return Err(format!(
            "airlock answers Claude Code's `{EVENT}` hook, not `{event}`"
        ));
    }
    let tool = string_field(input, "tool_name").ok_or("the hook input has no `tool_name`")?;
    let args = object_field(input, "tool_input")?;
    let action = match tool {
        "Bash" => ToolAction::Judge(vec![tools::shell(required_str(&args, tool, "command")?)]),
        "Write" => ToolAction::Judge(vec![tools::file(
            FileOp::Write,
            required_str(&args, tool, "file_path")?,
            Some(required_str(&args, tool, "content")?),
        )]),
        "Edit" => ToolAction::Judge(vec![tools::file(
            FileOp::Edit,
            required_str(&args, tool, "file_path")?,
            Some(required_str(&args, tool, "new_string")?),
        )]),
        "MultiEdit" => {
            let edits = args
                .get("edits")
                .and_then(Value::as_array)
                .ok_or("`MultiEdit` input has no `edits` list")?;
            let new_text = edits
                .iter()
                .map(|edit| edit.get("new_string").and_then(Value::as_str))
                .collect::<Option<Vec<_>>>()
                .ok_or("a `MultiEdit` edit has no string `new_string`")?
                .join("\n");
            ToolAction::Judge(vec![tools::file(
                FileOp::Edit,
                required_str(&args, tool, "file_path")?,
                Some(new_text),
            )])
        }
        "NotebookEdit" => ToolAction::Judge(vec![tools::file(
            FileOp::Edit,
            required_str(&args, tool, "notebook_path")?,
            args.get("new_source")
                .and_then(Value::as_str)
                .map(str::to_string),
        )]),
        "WebFetch" => ToolAction::Judge(vec![tools::http_get(required_str(&args, tool, "url")?)]),
        read_only if CLAUDE_READ_ONLY.contains(&read_only) => ToolAction::ReadOnly {
            tool: tool.to_string(),
            detail: read_detail(&args),
        },
        other => match tools::split_mcp_name(other) {
            Some((server, name)) => ToolAction::Judge(vec![tools::mcp(server, name, args)]),
            None => {
                return Err(format!(
                    "unknown tool `{other}`: airlock cannot tell what it would do"
                ));
            }
        },
    };
    Ok(HookCall {
        agent: Agent::ClaudeCode,
        permission_mode: string_field(input, "permission_mode").map(str::to_string),
        context: Context {
            agent: Some(Agent::ClaudeCode.name().to_string()),
            session: string_field(input, "session_id").map(str::to_string),
            cwd: string_field(input, "cwd").map(str::to_string),
            environment: None,
            upstream: None,
        },
        action,
    })
}

/// What a read-only tool reads, for the audit summary.
pub fn read_detail(args: &serde_json::Map<String, Value>) -> String {
    [
        "file_path",
        "notebook_path",
        "path",
        "pattern",
        "url",
        "query",
        "description",
    ]
    .iter()
    .find_map(|key| args.get(*key).and_then(Value::as_str))
    .unwrap_or_default()
    .to_string()
}

/// The answer in Claude Code's format.
pub fn answer(call: Option<&HookCall>, outcome: &Outcome) -> Answer {
    match outcome {
        Outcome::Allow | Outcome::Recorded => Answer::json(json!({})),
        Outcome::Ask(reason) if call.is_some_and(HookCall::can_ask_in_band) => {
            decision("ask", reason)
        }
        Outcome::Ask(reason) | Outcome::Deny(reason) => decision("deny", reason),
    }
}

fn decision(permission: &str, reason: &str) -> Answer {
    Answer::json(json!({
        "hookSpecificOutput": {
            "hookEventName": EVENT,
            "permissionDecision": permission,
            "permissionDecisionReason": reason,
        }
    }))
}
