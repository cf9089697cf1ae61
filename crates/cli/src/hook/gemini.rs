//! Gemini CLI's `BeforeTool` hook (`settings.json` `hooks.BeforeTool`). Input: `{session_id, transcript_path,
//! cwd, hook_event_name, timestamp, tool_name, tool_input, mcp_context?}`. Tools: `run_shell_command`
//! (`command`, `directory`/`dir_path` relative to the project) → shell; `write_file` (`file_path`, `content`)
//! → file write; `replace` (`file_path`, `new_string`) → file edit; `save_memory` (`fact`) → an edit of
//! `~/.gemini/GEMINI.md`; `web_fetch` (`prompt` naming URLs) → one HTTP GET per URL; MCP tools (`mcp_context`
//! `{server_name, tool_name}`, or a name `mcp__SERVER__TOOL`) → MCP; the read-only tools of `tools.rs` →
//! allowed; anything else → denied.
//!
//! Answer: exit 0 and `{"decision": "deny", "reason": …}` to block (the reason goes to the agent). Gemini CLI
//! has no in-band ask, so an `ask` is a deny. On allow airlock answers `{}` (no decision), leaving Gemini CLI's
//! own confirmations in place.

use airlock_engine::{Context, FileOp};
use serde_json::{Value, json};

use super::tools::{self, GEMINI_READ_ONLY};
use super::{
    Agent, Answer, HookCall, Outcome, ToolAction, object_field, required_str, string_field,
};

/// The hook event airlock answers.
const EVENT: &str = "BeforeTool";

/// Where `save_memory` writes.
const MEMORY_FILE: &str = "~/.gemini/GEMINI.md";

/// Reads a `BeforeTool` input.
pub fn parse(input: &Value) -> Result<HookCall, String> {
    let event = string_field(input, "hook_event_name").unwrap_or(EVENT);
    if event != EVENT {
        return Err(format!(
            "airlock answers Gemini CLI's `{EVENT}` hook, not `{event}`"
        ));
    }
    let tool = string_field(input, "tool_name").ok_or("the hook input has no `tool_name`")?;
    let args = object_field(input, "tool_input")?;
    let mut cwd = string_field(input, "cwd").map(str::to_string);
    let mcp_context = input.get("mcp_context").filter(|c| c.is_object());
    let action = match tool {
        _ if mcp_context.is_some() => {
            let field = |key: &str| {
                mcp_context
                    .and_then(|c| c.get(key))
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            let (server, name) = match (field("server_name"), field("tool_name")) {
                (Some(server), Some(name)) => (server, name),
                _ => tools::split_mcp_name(tool).ok_or("`mcp_context` names no server or tool")?,
            };
            ToolAction::Judge(vec![tools::mcp(server, name, args)])
        }
        "run_shell_command" => {
            let directory = ["directory", "dir_path"]
                .iter()
                .find_map(|key| args.get(*key).and_then(Value::as_str))
                .filter(|d| !d.is_empty());
            if let Some(directory) = directory {
                cwd = Some(match &cwd {
                    Some(root) if !directory.starts_with('/') => {
                        format!("{}/{directory}", root.trim_end_matches('/'))
                    }
                    _ => directory.to_string(),
                });
            }
            ToolAction::Judge(vec![tools::shell(required_str(&args, tool, "command")?)])
        }
        "write_file" => ToolAction::Judge(vec![tools::file(
            FileOp::Write,
            required_str(&args, tool, "file_path")?,
            Some(required_str(&args, tool, "content")?),
        )]),
        "replace" => ToolAction::Judge(vec![tools::file(
            FileOp::Edit,
            required_str(&args, tool, "file_path")?,
            Some(required_str(&args, tool, "new_string")?),
        )]),
        "save_memory" => ToolAction::Judge(vec![tools::file(
            FileOp::Edit,
            MEMORY_FILE.to_string(),
            Some(required_str(&args, tool, "fact")?),
        )]),
        "web_fetch" => {
            let urls = tools::urls_in(&required_str(&args, tool, "prompt")?);
            if urls.is_empty() {
                return Err("`web_fetch` prompt names no http(s) URL".into());
            }
            ToolAction::Judge(urls.into_iter().map(tools::http_get).collect())
        }
        read_only if GEMINI_READ_ONLY.contains(&read_only) => ToolAction::ReadOnly {
            tool: tool.to_string(),
            detail: super::claude::read_detail(&args),
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
        agent: Agent::Gemini,
        permission_mode: None,
        context: Context {
            agent: Some(Agent::Gemini.name().to_string()),
            session: string_field(input, "session_id").map(str::to_string),
            cwd,
            environment: None,
            upstream: None,
        },
        action,
    })
}

/// The answer in Gemini CLI's format.
pub fn answer(_call: Option<&HookCall>, outcome: &Outcome) -> Answer {
    match outcome {
        Outcome::Allow | Outcome::Recorded => Answer::json(json!({})),
        Outcome::Ask(reason) | Outcome::Deny(reason) => {
            Answer::json(json!({"decision": "deny", "reason": reason}))
        }
    }
}
