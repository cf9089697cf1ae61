//! Cursor's hooks (`~/.cursor/hooks.json`, `{"version": 1, "hooks": {EVENT: [{"command": …, "failClosed":
//! true}]}}`). Every input has `hook_event_name`, `conversation_id`, `generation_id`, `workspace_roots`.
//! - `beforeShellExecution` (`command`, `cwd`) → shell;
//! - `beforeMCPExecution` (`tool_name`, `tool_input` as an object or a JSON string, and the server's `url` or
//!   `command`) → MCP. Cursor does not send the server's configured name: the server is named by its `server`
//!   field if present, else its URL's host, else its command's first word;
//! - `beforeReadFile` (`file_path`) → a read: allowed and audited (the engine judges writes, not reads);
//! - `afterFileEdit` (`file_path`, `edits[].new_string`) → after the fact: decided and audited, answered `{}`.
//!
//! Any other event is not understood and denied. Answer: `{"continue": true, "permission": "allow" | "deny" |
//! "ask", "user_message": …, "agent_message": …}` — with `failClosed` Cursor refuses a hook that prints no
//! permission, so allow is said explicitly. `ask` only when configured for in-band asks.

use airlock_engine::{Context, FileOp};
use serde_json::{Value, json};

use super::tools;
use super::{
    Agent, Answer, HookCall, Outcome, ToolAction, object_field, required_str, string_field,
};

/// Reads a Cursor hook input.
pub fn parse(input: &Value) -> Result<HookCall, String> {
    let event =
        string_field(input, "hook_event_name").ok_or("the hook input has no `hook_event_name`")?;
    let action = match event {
        "beforeShellExecution" => {
            let command = string_field(input, "command")
                .ok_or("`beforeShellExecution` input has no `command`")?;
            ToolAction::Judge(vec![tools::shell(command.to_string())])
        }
        "beforeMCPExecution" => {
            let tool = string_field(input, "tool_name")
                .ok_or("`beforeMCPExecution` input has no `tool_name`")?;
            let arguments = match input.get("tool_input") {
                None | Some(Value::Null) => serde_json::Map::new(),
                Some(_) => object_field(input, "tool_input")?,
            };
            ToolAction::Judge(vec![tools::mcp(
                server_name(input),
                tool.to_string(),
                arguments,
            )])
        }
        "beforeReadFile" => ToolAction::ReadOnly {
            tool: event.to_string(),
            detail: string_field(input, "file_path")
                .unwrap_or_default()
                .to_string(),
        },
        "afterFileEdit" => {
            let path = string_field(input, "file_path")
                .ok_or("`afterFileEdit` input has no `file_path`")?;
            let edits = input
                .get("edits")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default();
            let new_text: Vec<String> = edits
                .iter()
                .filter_map(|edit| edit.as_object())
                .map(|edit| required_str(edit, event, "new_string"))
                .collect::<Result<_, _>>()?;
            ToolAction::Report(vec![tools::file(
                FileOp::Edit,
                path.to_string(),
                Some(new_text.join("\n")),
            )])
        }
        other => return Err(format!("airlock does not answer Cursor's `{other}` hook")),
    };
    let cwd = string_field(input, "cwd").map(str::to_string).or_else(|| {
        input
            .get("workspace_roots")
            .and_then(Value::as_array)
            .and_then(|roots| roots.first())
            .and_then(Value::as_str)
            .map(str::to_string)
    });
    Ok(HookCall {
        agent: Agent::Cursor,
        permission_mode: None,
        context: Context {
            agent: Some(Agent::Cursor.name().to_string()),
            session: string_field(input, "conversation_id").map(str::to_string),
            cwd,
            environment: None,
            upstream: None,
        },
        action,
    })
}

fn server_name(input: &Value) -> String {
    if let Some(name) = string_field(input, "server").or_else(|| string_field(input, "server_name"))
    {
        return name.to_string();
    }
    if let Some(url) = string_field(input, "url") {
        let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
        let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
        let host = authority
            .rsplit_once('@')
            .map_or(authority, |(_, host)| host);
        if !host.is_empty() {
            return host.to_string();
        }
    }
    string_field(input, "command")
        .and_then(|c| c.split_whitespace().next())
        .unwrap_or("unknown")
        .to_string()
}

/// The answer in Cursor's format.
pub fn answer(call: Option<&HookCall>, outcome: &Outcome) -> Answer {
    if let Some(HookCall {
        action: ToolAction::Report(_),
        ..
    }) = call
    {
        // After the fact: nothing to allow or refuse. A recording failure is reported on stderr.
        let mut answer = Answer::json(json!({}));
        if let Outcome::Deny(reason) | Outcome::Ask(reason) = outcome {
            answer.stderr = format!("{reason}\n");
        }
        return answer;
    }
    match outcome {
        Outcome::Allow | Outcome::Recorded => {
            Answer::json(json!({"continue": true, "permission": "allow"}))
        }
        Outcome::Ask(reason) if call.is_some_and(HookCall::can_ask_in_band) => {
            permission("ask", reason)
        }
        Outcome::Ask(reason) | Outcome::Deny(reason) => permission("deny", reason),
    }
}

fn permission(permission: &str, reason: &str) -> Answer {
    Answer::json(json!({
        "continue": true,
        "permission": permission,
        "user_message": reason,
        "agent_message": reason,
    }))
}
