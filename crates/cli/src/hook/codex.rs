//! Codex CLI's `PreToolUse` hook (`~/.codex/hooks.json`, Claude-like). Input: `{session_id, turn_id,
//! transcript_path, cwd, hook_event_name, model, permission_mode, tool_name, tool_input, tool_use_id}`. Tools:
//! `Bash` (`command`, a string or an argument vector) → shell; `apply_patch` (`command`: the patch text) → one
//! file request per file the patch adds, updates, moves or deletes; `mcp__SERVER__TOOL` → MCP (`tool_input`
//! is the call's arguments); anything else → denied.
//!
//! Answer with exactly the documented fields, because Codex treats a hook whose output it does not accept as
//! failed — and lets the tool run: deny is exit 0 with `{"hookSpecificOutput": {"hookEventName":
//! "PreToolUse", "permissionDecision": "deny", "permissionDecisionReason": …}}` (a non-empty reason, or it does
//! not block). Codex supports no `ask` (it counts as a failed hook), so an `ask` is always a deny here; and an
//! `allow` without `updatedInput` is also unsupported, so allow is an empty answer (exit 0, nothing printed).

use airlock_engine::Context;
use serde_json::{Value, json};

use super::tools;
use super::{Agent, Answer, HookCall, Outcome, ToolAction, object_field, string_field};

/// The hook event airlock answers.
const EVENT: &str = "PreToolUse";

/// Reads a `PreToolUse` input.
pub fn parse(input: &Value) -> Result<HookCall, String> {
    let event = string_field(input, "hook_event_name").unwrap_or(EVENT);
    if event != EVENT {
        return Err(format!(
            "airlock answers Codex's `{EVENT}` hook, not `{event}`"
        ));
    }
    let tool = string_field(input, "tool_name").ok_or("the hook input has no `tool_name`")?;
    let args = object_field(input, "tool_input")?;
    let command = || {
        args.get("command")
            .and_then(tools::command_text)
            .ok_or_else(|| format!("`{tool}` input has no `command`"))
    };
    let requests = match tool {
        "Bash" => vec![tools::shell(command()?)],
        "apply_patch" => {
            // The patch text, or an argument vector (`["apply_patch", PATCH]`) holding it.
            let patch = match args.get("command") {
                Some(Value::Array(items)) => items
                    .iter()
                    .filter_map(Value::as_str)
                    .find(|item| item.contains("*** Begin Patch"))
                    .map(str::to_string)
                    .ok_or_else(|| format!("`{tool}` input has no patch"))?,
                _ => command()?,
            };
            tools::patch_requests(&patch)?
        }
        other => match tools::split_mcp_name(other) {
            Some((server, name)) => vec![tools::mcp(server, name, args.clone())],
            None => {
                return Err(format!(
                    "unknown tool `{other}`: airlock cannot tell what it would do"
                ));
            }
        },
    };
    Ok(HookCall {
        agent: Agent::Codex,
        permission_mode: string_field(input, "permission_mode").map(str::to_string),
        context: Context {
            agent: Some(Agent::Codex.name().to_string()),
            session: string_field(input, "session_id").map(str::to_string),
            cwd: string_field(input, "cwd").map(str::to_string),
            environment: None,
            upstream: None,
        },
        action: ToolAction::Judge(requests),
    })
}

/// The answer in Codex's format.
pub fn answer(_call: Option<&HookCall>, outcome: &Outcome) -> Answer {
    match outcome {
        Outcome::Allow | Outcome::Recorded => Answer {
            stdout: String::new(),
            stderr: String::new(),
            code: 0,
        },
        Outcome::Ask(reason) | Outcome::Deny(reason) => {
            let reason = if reason.trim().is_empty() {
                "airlock denied this tool call"
            } else {
                reason.as_str()
            };
            Answer::json(json!({
                "hookSpecificOutput": {
                    "hookEventName": EVENT,
                    "permissionDecision": "deny",
                    "permissionDecisionReason": reason,
                }
            }))
        }
    }
}
