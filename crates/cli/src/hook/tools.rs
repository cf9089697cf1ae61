//! Agent tool inputs turned into the engine's requests, shared by the protocols: shell commands, file writes
//! and edits, MCP calls named `mcp__SERVER__TOOL`, web fetches, Codex patches. Also the lists of tools let
//! through without a decision because they change nothing themselves — everything else an agent sends that
//! is not listed here or in its protocol is a tool airlock cannot understand, and is denied.

use std::collections::BTreeMap;

use airlock_engine::{FileOp, FileRequest, HttpRequest, McpRequest, Request, ShellRequest};
use serde_json::Value;

/// Claude Code tools that change nothing themselves: they read files or the web, keep the agent's to-do
/// list, talk to the person, or start/inspect/stop work whose own tool calls come through this hook again
/// (`Task`/`Agent` subagents, `Skill`/`SlashCommand` instructions, background shell output).
pub const CLAUDE_READ_ONLY: &[&str] = &[
    "Read",
    "Glob",
    "Grep",
    "LS",
    "NotebookRead",
    "WebSearch",
    "TodoWrite",
    "TodoRead",
    "Task",
    "Agent",
    "ExitPlanMode",
    "AskUserQuestion",
    "BashOutput",
    "TaskOutput",
    "KillShell",
    "KillBash",
    "Skill",
    "SlashCommand",
    "ListMcpResourcesTool",
    "ReadMcpResourceTool",
];

/// Gemini CLI tools that change nothing themselves: reading and searching files and the web, the to-do
/// list, questions to the person.
pub const GEMINI_READ_ONLY: &[&str] = &[
    "read_file",
    "read_many_files",
    "list_directory",
    "glob",
    "search_file_content",
    "grep_search",
    "google_web_search",
    "web_search",
    "write_todos",
    "ask_user",
];

/// A shell command line.
pub fn shell(command: String) -> Request {
    Request::Shell(ShellRequest {
        command,
        shell: None,
    })
}

/// A file write, edit or delete.
pub fn file(op: FileOp, path: String, content: Option<String>) -> Request {
    Request::File(FileRequest { op, path, content })
}

/// An HTTP `GET` of `url` with no headers or body (what a web-fetch tool does).
pub fn http_get(url: String) -> Request {
    Request::Http(HttpRequest {
        method: "GET".into(),
        url,
        headers: BTreeMap::new(),
        body: None,
    })
}

/// An MCP tool call.
pub fn mcp(server: String, tool: String, arguments: serde_json::Map<String, Value>) -> Request {
    Request::Mcp(McpRequest {
        server,
        tool,
        arguments: Value::Object(arguments),
    })
}

/// `(server, tool)` from a tool name `mcp__SERVER__TOOL` (the naming of Claude Code, Codex and Gemini CLI).
pub fn split_mcp_name(name: &str) -> Option<(String, String)> {
    let rest = name.strip_prefix("mcp__")?;
    let (server, tool) = rest.split_once("__")?;
    (!server.is_empty() && !tool.is_empty()).then(|| (server.to_string(), tool.to_string()))
}

/// A command given as a string, or as an argument vector (joined with POSIX shell quoting).
pub fn command_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => {
            let words = items
                .iter()
                .map(|item| item.as_str().map(shell_quote))
                .collect::<Option<Vec<_>>>()?;
            (!words.is_empty()).then(|| words.join(" "))
        }
        _ => None,
    }
}

fn shell_quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./=:,@%+".contains(&b));
    if plain {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

/// The URLs in a web-fetch prompt (Gemini's `web_fetch` takes a prompt that names up to 20 URLs).
pub fn urls_in(text: &str) -> Vec<String> {
    text.split_whitespace()
        .filter_map(|word| {
            let start = word.find("https://").or_else(|| word.find("http://"))?;
            let url = word.get(start..)?;
            Some(
                url.trim_end_matches(['.', ',', ';', ':', ')', ']', '>', '"', '\'', '!', '?'])
                    .to_string(),
            )
        })
        .collect()
}

/// The file operations of a patch in the `apply_patch` format (Codex): `*** Add File: P` writes P with the
/// `+` lines, `*** Update File: P` edits P (content: its `+` lines), `*** Move to: Q` after an update
/// deletes P and writes Q, `*** Delete File: P` deletes P. A patch that names no file is not understood.
pub fn patch_requests(patch: &str) -> Result<Vec<Request>, String> {
    struct Pending {
        op: FileOp,
        path: String,
        moved_to: Option<String>,
        added: Vec<String>,
    }
    fn finish(pending: Option<Pending>, out: &mut Vec<Request>) {
        let Some(p) = pending else { return };
        let content = (p.op != FileOp::Delete).then(|| p.added.join("\n"));
        match p.moved_to {
            Some(target) => {
                out.push(file(FileOp::Delete, p.path, None));
                out.push(file(FileOp::Write, target, content));
            }
            None => out.push(file(p.op, p.path, content)),
        }
    }
    let mut out = Vec::new();
    let mut pending: Option<Pending> = None;
    for line in patch.lines() {
        let header = |prefix: &str| line.strip_prefix(prefix).map(|p| p.trim().to_string());
        let start = [
            ("*** Add File:", FileOp::Write),
            ("*** Update File:", FileOp::Edit),
            ("*** Delete File:", FileOp::Delete),
        ]
        .into_iter()
        .find_map(|(prefix, op)| header(prefix).map(|path| (op, path)));
        if let Some((op, path)) = start {
            finish(pending.take(), &mut out);
            if path.is_empty() {
                return Err("the patch names a file operation without a path".into());
            }
            pending = Some(Pending {
                op,
                path,
                moved_to: None,
                added: Vec::new(),
            });
        } else if let Some(target) = header("*** Move to:") {
            match pending.as_mut() {
                Some(p) if p.op == FileOp::Edit && !target.is_empty() => p.moved_to = Some(target),
                _ => return Err("the patch has `*** Move to:` outside an update".into()),
            }
        } else if let (Some(p), Some(added)) = (pending.as_mut(), line.strip_prefix('+')) {
            p.added.push(added.to_string());
        }
    }
    finish(pending, &mut out);
    if out.is_empty() {
        return Err("the patch names no file to add, update or delete".into());
    }
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn mcp_names() {
        assert_eq!(
            split_mcp_name("mcp__railway__volume_delete"),
            Some(("railway".into(), "volume_delete".into()))
        );
        assert_eq!(split_mcp_name("mcp__railway"), None);
        assert_eq!(split_mcp_name("mcp____x"), None);
        assert_eq!(split_mcp_name("Bash"), None);
    }

    #[test]
    fn argv_is_quoted() {
        let argv = serde_json::json!(["bash", "-lc", "rm -rf ~/x; echo 'hi'"]);
        assert_eq!(
            command_text(&argv).unwrap(),
            r#"bash -lc 'rm -rf ~/x; echo '\''hi'\'''"#
        );
        assert_eq!(command_text(&serde_json::json!([1])), None);
    }

    #[test]
    fn urls_are_found_in_a_prompt() {
        assert_eq!(
            urls_in("Summarise https://example.com/a, and (http://x.test/b)."),
            vec!["https://example.com/a", "http://x.test/b"]
        );
    }

    #[test]
    fn patches_become_file_requests() {
        let patch = "*** Begin Patch\n*** Add File: a.txt\n+one\n+two\n*** Update File: src/b.rs\n*** Move to: src/c.rs\n@@\n-old\n+new\n*** Delete File: d.txt\n*** End Patch\n";
        let requests = patch_requests(patch).unwrap();
        assert_eq!(
            requests,
            vec![
                file(FileOp::Write, "a.txt".into(), Some("one\ntwo".into())),
                file(FileOp::Delete, "src/b.rs".into(), None),
                file(FileOp::Write, "src/c.rs".into(), Some("new".into())),
                file(FileOp::Delete, "d.txt".into(), None),
            ]
        );
        assert!(patch_requests("*** Begin Patch\n*** End Patch\n").is_err());
        assert!(patch_requests("*** Move to: x\n").is_err());
    }
}
