//! The coding agents airlock wires into, described in one place: where each keeps its hook settings (user
//! and project file), the hook entries `airlock install` adds there, how airlock's own entries are
//! recognised again (`uninstall`, `doctor`), and a known-bad and a known-good sample of each agent's hook
//! input with how to read the agent's answer (`doctor`). Answering the hook protocol is `airlock hook`'s
//! job; this module only describes the settings and the documented answer shapes.
//!
//! Sources (the agents' documentation, 2025–2026): Claude Code `hooks` in `settings.json` (`PreToolUse`,
//! matcher regex, `timeout` in seconds); Cursor `hooks.json` (`version: 1`, `beforeShellExecution`,
//! `beforeMCPExecution`, `afterFileEdit`, `failClosed`); Codex `hooks.json` (Claude-like `PreToolUse`, tools
//! `Bash`, `apply_patch`, `mcp__…`, `timeout` in seconds); Gemini CLI `hooks` in `settings.json`
//! (`BeforeTool`, tools `run_shell_command`, `write_file`, `replace`, `save_memory`, `web_fetch`, MCP tools,
//! `timeout` in milliseconds). The matchers name exactly the tools `airlock hook` judges (the hook denies a
//! tool it does not know, so a catch-all matcher would block every new tool an agent release adds).

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// A coding agent airlock can wire its hook into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Agent {
    /// Anthropic's Claude Code.
    #[value(name = "claude-code", alias = "claude")]
    ClaudeCode,
    /// Cursor (the editor's agent and `cursor-agent`).
    Cursor,
    /// OpenAI's Codex CLI.
    Codex,
    /// Google's Gemini CLI.
    #[value(alias = "gemini-cli")]
    Gemini,
}

/// Every agent, in the order `doctor` reports them.
pub const ALL: [Agent; 4] = [
    Agent::ClaudeCode,
    Agent::Cursor,
    Agent::Codex,
    Agent::Gemini,
];

/// Which settings file: the user's (in the home directory) or the project's (in the current directory).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `~/.claude/settings.json`, `~/.cursor/hooks.json`, `~/.codex/hooks.json`, `~/.gemini/settings.json`.
    User,
    /// The same files under the project directory instead of the home directory.
    Project,
}

impl Scope {
    /// `user` or `project`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::User => "user",
            Scope::Project => "project",
        }
    }
}

/// How a settings file lists hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `hooks.<Event>: [{"matcher": …, "hooks": [{"type": "command", "command": …}]}]` (Claude Code,
    /// Codex, Gemini CLI).
    Grouped,
    /// `hooks.<event>: [{"command": …}]`, with `"version": 1` at the top (Cursor).
    Flat,
}

/// One hook event airlock registers for, with the tools it should see.
#[derive(Debug, Clone, Copy)]
pub struct HookEvent {
    /// The event's key under `hooks`.
    pub name: &'static str,
    /// The tool-name matcher (a regex in every agent that has one); `None` for Cursor's per-kind events.
    pub matcher: Option<&'static str>,
}

/// What an agent would do with a hook's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The tool runs.
    Allow,
    /// The tool is blocked; the reason the agent is shown.
    Deny(String),
    /// The agent asks its user.
    Ask(String),
    /// Not a valid answer (a crash, a wrong exit code, unreadable output): what is wrong with it.
    Broken(String),
}

impl Agent {
    /// The name used on the command line and in `airlock hook <name>`.
    pub fn slug(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "claude-code",
            Agent::Cursor => "cursor",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
        }
    }

    /// The product name, for messages.
    pub fn title(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "Claude Code",
            Agent::Cursor => "Cursor",
            Agent::Codex => "Codex CLI",
            Agent::Gemini => "Gemini CLI",
        }
    }

    /// The agent's directory in a home or project directory.
    pub fn dir_name(self) -> &'static str {
        match self {
            Agent::ClaudeCode => ".claude",
            Agent::Cursor => ".cursor",
            Agent::Codex => ".codex",
            Agent::Gemini => ".gemini",
        }
    }

    /// The file the hooks live in, inside [`Agent::dir_name`].
    pub fn file_name(self) -> &'static str {
        match self {
            Agent::ClaudeCode | Agent::Gemini => "settings.json",
            Agent::Cursor | Agent::Codex => "hooks.json",
        }
    }

    /// The settings file of `scope`: under `home` for the user, under `project` for the project.
    pub fn settings_file(self, scope: Scope, home: &Path, project: &Path) -> PathBuf {
        let base = match scope {
            Scope::User => home,
            Scope::Project => project,
        };
        base.join(self.dir_name()).join(self.file_name())
    }

    /// Executables whose presence on `PATH` means the agent is installed.
    pub fn executables(self) -> &'static [&'static str] {
        match self {
            Agent::ClaudeCode => &["claude"],
            Agent::Cursor => &["cursor", "cursor-agent"],
            Agent::Codex => &["codex"],
            Agent::Gemini => &["gemini"],
        }
    }

    /// How the agent's settings file lists hooks.
    pub fn layout(self) -> Layout {
        match self {
            Agent::Cursor => Layout::Flat,
            Agent::ClaudeCode | Agent::Codex | Agent::Gemini => Layout::Grouped,
        }
    }

    /// The events airlock registers for, each with the tools `airlock hook` judges: shell commands, file
    /// writes and edits, web fetches and MCP tool calls.
    pub fn events(self) -> &'static [HookEvent] {
        match self {
            Agent::ClaudeCode => &[HookEvent {
                name: "PreToolUse",
                matcher: Some("Bash|Write|Edit|MultiEdit|NotebookEdit|WebFetch|mcp__.*"),
            }],
            Agent::Codex => &[HookEvent {
                name: "PreToolUse",
                matcher: Some("Bash|apply_patch|mcp__.*"),
            }],
            Agent::Gemini => &[HookEvent {
                name: "BeforeTool",
                // MCP tools are `mcp__SERVER__TOOL` (older releases: `SERVER__TOOL`).
                matcher: Some(
                    "run_shell_command|write_file|replace|save_memory|web_fetch|mcp_.*|.*__.*",
                ),
            }],
            Agent::Cursor => &[
                HookEvent {
                    name: "beforeShellExecution",
                    matcher: None,
                },
                HookEvent {
                    name: "beforeMCPExecution",
                    matcher: None,
                },
                // Cursor has no hook before its own file edits: they are judged and audited afterwards.
                HookEvent {
                    name: "afterFileEdit",
                    matcher: None,
                },
            ],
        }
    }

    /// The entry airlock adds to `hooks.<event>` for `command` (the shell command that runs the hook).
    pub fn entry(self, event: &HookEvent, command: &str) -> Value {
        let matcher = event.matcher.unwrap_or("*");
        match self {
            // Seconds; a hook that does not answer in time lets the tool run, so airlock answers well within.
            Agent::ClaudeCode | Agent::Codex => json!({
                "matcher": matcher,
                "hooks": [{"type": "command", "command": command, "timeout": 30}],
            }),
            // Milliseconds; `name` is what `/hooks disable` would refer to.
            Agent::Gemini => json!({
                "matcher": matcher,
                "hooks": [{
                    "name": "airlock",
                    "type": "command",
                    "command": command,
                    "timeout": 30000,
                    "description": "airlock decides whether this tool call may run",
                }],
            }),
            // Before an action, a hook that crashes or times out blocks instead of letting it run.
            Agent::Cursor if event.name.starts_with("before") => {
                json!({"command": command, "failClosed": true})
            }
            Agent::Cursor => json!({"command": command}),
        }
    }

    /// Whether `command` (a hook command found in a settings file) runs airlock's hook for this agent: its
    /// program is a file named `airlock` and it is followed by `hook <agent>`.
    pub fn is_airlock_command(self, command: &str) -> bool {
        let marker = " hook ";
        let Some(at) = command.rfind(marker) else {
            return false;
        };
        let (program, rest) = command.split_at(at);
        let rest = rest.get(marker.len()..).unwrap_or_default();
        if rest.split_whitespace().next() != Some(self.slug()) {
            return false;
        }
        let program = program.trim().trim_matches(['\'', '"']);
        let name = program.rsplit(['/', '\\']).next().unwrap_or(program);
        matches!(name, "airlock" | "airlock.exe")
    }

    /// What to tell a person after installing, when the agent needs a step airlock cannot take for them.
    pub fn install_note(self) -> Option<&'static str> {
        match self {
            Agent::ClaudeCode => None,
            Agent::Cursor => Some("restart Cursor so that it reads hooks.json again"),
            Agent::Codex => Some(
                "Codex runs a new hook only after you trust it (open codex and review hooks); Codex releases before hooks were on by default also need `[features] codex_hooks = true` in ~/.codex/config.toml",
            ),
            Agent::Gemini => Some(
                "Gemini CLI releases where hooks are not on by default also need them switched on (`hooksConfig.enabled`, or `tools.enableHooks` in older releases); `airlock doctor` reports it",
            ),
        }
    }

    /// A hook input in this agent's own shape for a shell tool call of `command`, run from `cwd`.
    pub fn shell_sample(self, command: &str, cwd: &Path) -> Value {
        let cwd = cwd.display().to_string();
        match self {
            Agent::ClaudeCode => json!({
                "session_id": "airlock-doctor",
                "transcript_path": "",
                "cwd": cwd,
                "permission_mode": "default",
                "hook_event_name": "PreToolUse",
                "tool_name": "Bash",
                "tool_input": {"command": command, "description": "airlock doctor sample"},
                "tool_use_id": "toolu_airlock_doctor",
            }),
            Agent::Codex => json!({
                "session_id": "airlock-doctor",
                "transcript_path": null,
                "cwd": cwd,
                "hook_event_name": "PreToolUse",
                "model": "airlock-doctor",
                "permission_mode": "default",
                "tool_name": "Bash",
                "tool_input": {"command": command},
                "tool_use_id": "call_airlock_doctor",
            }),
            Agent::Gemini => json!({
                "session_id": "airlock-doctor",
                "transcript_path": "",
                "cwd": cwd,
                "hook_event_name": "BeforeTool",
                "timestamp": "1970-01-01T00:00:00Z",
                "tool_name": "run_shell_command",
                "tool_input": {"command": command, "description": "airlock doctor sample"},
            }),
            Agent::Cursor => json!({
                "conversation_id": "airlock-doctor",
                "generation_id": "airlock-doctor",
                "hook_event_name": "beforeShellExecution",
                "workspace_roots": [cwd],
                "command": command,
                "cwd": cwd,
            }),
        }
    }

    /// Reads a hook's answer (exit code, standard output and error) the way this agent would.
    pub fn read_answer(self, code: Option<i32>, stdout: &str, stderr: &str) -> Answer {
        match code {
            // Every agent documents exit code 2 as "block, reason on stderr".
            Some(2) => {
                let reason = stderr.trim();
                if reason.is_empty() {
                    Answer::Broken("exit code 2 without a reason on stderr".to_string())
                } else {
                    Answer::Deny(reason.to_string())
                }
            }
            Some(0) => self.read_json_answer(stdout),
            Some(other) => Answer::Broken(format!(
                "exit code {other} (stderr: {}); {} treats it as a failed hook",
                first_line(stderr),
                self.title()
            )),
            None => Answer::Broken("killed by a signal".to_string()),
        }
    }

    fn read_json_answer(self, stdout: &str) -> Answer {
        if stdout.trim().is_empty() {
            // No opinion: the agent goes on as without the hook.
            return Answer::Allow;
        }
        let value: Value = match serde_json::from_str(stdout.trim()) {
            Ok(value) => value,
            Err(err) => {
                return Answer::Broken(format!(
                    "standard output is not JSON ({err}): {}",
                    first_line(stdout)
                ));
            }
        };
        let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
        if value.get("continue") == Some(&Value::Bool(false)) {
            return Answer::Deny(text(value.get("stopReason")));
        }
        match self {
            Agent::ClaudeCode | Agent::Codex => {
                let specific = value.get("hookSpecificOutput");
                let reason = text(specific.and_then(|s| s.get("permissionDecisionReason")));
                match specific
                    .and_then(|s| s.get("permissionDecision"))
                    .and_then(Value::as_str)
                {
                    Some("allow") => Answer::Allow,
                    // Codex blocks only on a deny that gives a reason.
                    Some("deny") if self == Agent::Codex && reason.trim().is_empty() => {
                        Answer::Broken("deny without a reason, which Codex does not enforce".into())
                    }
                    Some("deny") => Answer::Deny(reason),
                    Some("ask") => Answer::Ask(reason),
                    Some(other) => Answer::Broken(format!("unknown permissionDecision `{other}`")),
                    None => match value.get("decision").and_then(Value::as_str) {
                        Some("block") => Answer::Deny(text(value.get("reason"))),
                        Some("approve") | None => Answer::Allow,
                        Some(other) => Answer::Broken(format!("unknown decision `{other}`")),
                    },
                }
            }
            Agent::Cursor => match value.get("permission").and_then(Value::as_str) {
                Some("allow") | None => Answer::Allow,
                Some("deny") => Answer::Deny(text(
                    value.get("agent_message").or(value.get("user_message")),
                )),
                Some("ask") => Answer::Ask(text(value.get("user_message"))),
                Some(other) => Answer::Broken(format!("unknown permission `{other}`")),
            },
            Agent::Gemini => match value.get("decision").and_then(Value::as_str) {
                Some("allow") | None => Answer::Allow,
                Some("deny" | "block") => Answer::Deny(text(value.get("reason"))),
                Some("ask") => Answer::Ask(text(value.get("reason"))),
                Some(other) => Answer::Broken(format!("unknown decision `{other}`")),
            },
        }
    }
}

/// The first line of a text, shortened, for messages.
pub fn first_line(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or_default();
    let short: String = line.chars().take(160).collect();
    if short.len() < line.len() {
        format!("{short}…")
    } else {
        short
    }
}

/// `text` quoted for a POSIX shell when it needs quoting (a path with spaces, quotes, `$`, …).
pub fn shell_quote(text: &str) -> String {
    let plain = !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:@%,=".contains(c));
    if plain {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_airlock_hook_commands_only() {
        let a = Agent::ClaudeCode;
        assert!(a.is_airlock_command("/usr/local/bin/airlock hook claude-code"));
        assert!(a.is_airlock_command("'/home/a b/bin/airlock' hook claude-code"));
        assert!(a.is_airlock_command("airlock hook claude-code --verbose"));
        assert!(!a.is_airlock_command("/usr/local/bin/airlock hook cursor"));
        assert!(!a.is_airlock_command("/opt/other-guard hook claude-code"));
        assert!(!a.is_airlock_command("python3 ~/.claude/hooks/format.py"));
        assert!(Agent::Cursor.is_airlock_command("C:\\tools\\airlock.exe hook cursor"));
    }

    #[test]
    fn quotes_paths_for_a_shell_only_when_needed() {
        assert_eq!(shell_quote("/usr/bin/airlock"), "/usr/bin/airlock");
        assert_eq!(shell_quote("/a b/airlock"), "'/a b/airlock'");
        assert_eq!(shell_quote("/it's/airlock"), "'/it'\\''s/airlock'");
    }

    #[test]
    fn reads_each_agents_answers() {
        let deny = r#"{"hookSpecificOutput":{"hookEventName":"PreToolUse","permissionDecision":"deny","permissionDecisionReason":"no"}}"#;
        assert_eq!(
            Agent::ClaudeCode.read_answer(Some(0), deny, ""),
            Answer::Deny("no".into())
        );
        assert_eq!(
            Agent::ClaudeCode.read_answer(Some(2), "", "blocked\n"),
            Answer::Deny("blocked".into())
        );
        assert!(matches!(
            Agent::Codex.read_answer(
                Some(0),
                r#"{"hookSpecificOutput":{"permissionDecision":"deny"}}"#,
                ""
            ),
            Answer::Broken(_)
        ));
        assert_eq!(
            Agent::Cursor.read_answer(Some(0), r#"{"continue":true,"permission":"allow"}"#, ""),
            Answer::Allow
        );
        assert_eq!(
            Agent::Gemini.read_answer(Some(0), r#"{"decision":"block","reason":"r"}"#, ""),
            Answer::Deny("r".into())
        );
        assert!(matches!(
            Agent::Gemini.read_answer(Some(1), "", "boom"),
            Answer::Broken(_)
        ));
        assert!(matches!(
            Agent::Cursor.read_answer(Some(0), "not json", ""),
            Answer::Broken(_)
        ));
    }
}
