//! `airlock install <agent> --mcp` and `airlock uninstall <agent> --mcp`: route the agent's stdio MCP servers
//! through `airlock mcp wrap`, or back. A server entry `{"command": C, "args": A, …}` named `NAME` becomes
//! `{"command": "/abs/airlock", "args": ["mcp", "wrap", "--name", "NAME", "--", C, A…], …}` — every other key
//! (`env`, `cwd`, `type`, timeouts) stays, and so does every other setting in the file. Like the hook install:
//! a second run changes nothing, the old file is copied to `<file>.airlock-backup-<UTC time>` first, what
//! changed is printed, and a file that cannot be read as JSON (TOML for Codex) is left alone with an error.
//! An entry already wrapped by an airlock binary at another path is re-pointed at this one.
//!
//! Where the servers are (the agents' documentation, 2025–2026):
//!
//! | agent | `--user` | `--project` |
//! |---|---|---|
//! | Claude Code | `~/.claude.json`: `mcpServers` and every `projects.<dir>.mcpServers` (user and local scopes) | `.mcp.json` |
//! | Cursor | `~/.cursor/mcp.json` | `.cursor/mcp.json` |
//! | Codex CLI | `~/.codex/config.toml`: `[mcp_servers.NAME]` | `.codex/config.toml` |
//! | Gemini CLI | `~/.gemini/settings.json`: `mcpServers` | `.gemini/settings.json` |
//!
//! Remote servers (`url`, `httpUrl`, `serverUrl`, or `type` `http`/`sse`) are not stdio and are left as they
//! are, with a note: they go behind `airlock serve` (`[mcp_servers.NAME]`, agents call `/mcp/NAME`), which
//! needs the server's credential in airlock.toml and an agent token in the agent's entry — not rewritten
//! here. Uninstalling unwraps only entries that run `airlock mcp wrap … -- C A…`, giving back `C` and `A…`
//! (an empty `args` is dropped).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use serde_json::{Map, Value};

use super::agents::{Agent, Scope};
use super::install::{home_dir, read_settings, write_settings, write_text};

/// Wrap the servers (install) or unwrap them (uninstall).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Through `airlock mcp wrap`.
    Wrap,
    /// Back to the servers themselves.
    Unwrap,
}

/// The file where `agent` keeps its MCP servers in `scope`.
pub fn mcp_config_path(agent: Agent, scope: Scope, home: &Path, project: &Path) -> PathBuf {
    let base = match scope {
        Scope::User => home,
        Scope::Project => project,
    };
    match (agent, scope) {
        (Agent::ClaudeCode, Scope::User) => home.join(".claude.json"),
        (Agent::ClaudeCode, Scope::Project) => project.join(".mcp.json"),
        (Agent::Cursor, _) => base.join(".cursor").join("mcp.json"),
        (Agent::Codex, _) => base.join(".codex").join("config.toml"),
        (Agent::Gemini, _) => base.join(".gemini").join("settings.json"),
    }
}

/// Runs `airlock install|uninstall AGENT --mcp`.
pub fn run(agent: Agent, scope: Scope, direction: Direction) -> anyhow::Result<i32> {
    let project = std::env::current_dir().context("cannot read the current directory")?;
    let home = match scope {
        Scope::User => home_dir()?,
        Scope::Project => project.clone(),
    };
    let path = mcp_config_path(agent, scope, &home, &project);
    let airlock = airlock_path()?;
    let (notes, backup) = if agent == Agent::Codex {
        rewrite_toml(&path, &airlock, direction)?
    } else {
        rewrite_json(&path, agent, scope, &airlock, direction)?
    };
    let changed: Vec<&Note> = notes.iter().filter(|n| n.changed).collect();
    if changed.is_empty() {
        let what = match direction {
            Direction::Wrap => "no MCP server to route through airlock",
            Direction::Unwrap => "no MCP server routed through airlock",
        };
        println!(
            "{what} in `{}` ({}); nothing changed",
            path.display(),
            agent.title()
        );
    } else {
        let verb = match direction {
            Direction::Wrap => "routed MCP servers of",
            Direction::Unwrap => "took airlock out of the MCP servers of",
        };
        println!("{verb} {} in `{}`", agent.title(), path.display());
        match backup {
            Some(backup) => println!("backup of the previous file: `{}`", backup.display()),
            None => println!("(the file did not exist; it was created)"),
        }
    }
    for note in &notes {
        println!("{} {}", if note.changed { "*" } else { "-" }, note.text);
    }
    if !changed.is_empty() {
        println!(
            "note: restart {} (or reload its MCP servers) to use the new commands",
            agent.title()
        );
    }
    Ok(0)
}

/// This airlock binary's absolute path.
fn airlock_path() -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot tell where the airlock binary is")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    exe.to_str()
        .map(str::to_string)
        .with_context(|| format!("the airlock binary's path `{}` is not UTF-8", exe.display()))
}

/// What happened to one server entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// Whether the entry was changed.
    pub changed: bool,
    /// For a person.
    pub text: String,
}

impl Note {
    fn changed(text: String) -> Self {
        Self {
            changed: true,
            text,
        }
    }
    fn kept(text: String) -> Self {
        Self {
            changed: false,
            text,
        }
    }
}

/// `airlock mcp wrap --name NAME -- PROGRAM ARGS…` as arguments of the airlock binary.
pub fn wrap_args(name: &str, program: &str, args: &[String]) -> Vec<String> {
    ["mcp", "wrap", "--name", name, "--", program]
        .into_iter()
        .map(str::to_string)
        .chain(args.iter().cloned())
        .collect()
}

/// For an entry that runs `airlock mcp wrap [FLAGS] -- PROGRAM ARGS…`: `PROGRAM` and `ARGS…`.
pub fn wrapped_server(command: &str, args: &[String]) -> Option<(String, Vec<String>)> {
    let file = Path::new(command).file_stem()?.to_str()?;
    if file != "airlock" {
        return None;
    }
    let (first, rest) = args.split_first()?;
    let (second, rest) = rest.split_first()?;
    if first != "mcp" || second != "wrap" {
        return None;
    }
    let dashes = rest.iter().position(|a| a == "--")?;
    let (program, server_args) = rest.get(dashes + 1..)?.split_first()?;
    Some((program.clone(), server_args.to_vec()))
}

/// A server entry in the agent-neutral form: a stdio command, a remote URL, or something else.
enum Entry {
    Stdio { command: String, args: Vec<String> },
    Remote(String),
    Unreadable(&'static str),
}

/// What to do with one entry; `Some((command, args))` when it changes.
fn rewrite_entry(
    name: &str,
    entry: Entry,
    airlock: &str,
    direction: Direction,
) -> (Option<(String, Vec<String>)>, Note) {
    let (command, args) = match entry {
        Entry::Stdio { command, args } => (command, args),
        Entry::Remote(url) => {
            return (
                None,
                Note::kept(format!(
                    "`{name}`: a remote server ({url}), not stdio; left as it is (to judge its calls, add `[mcp_servers.{name}] url = \"{url}\"` to airlock.toml and point the agent at `http://LISTEN/mcp/{name}` with an agent token from `airlock token create`)"
                )),
            );
        }
        Entry::Unreadable(why) => {
            return (None, Note::kept(format!("`{name}`: {why}; left as it is")));
        }
    };
    let wrapped = wrapped_server(&command, &args);
    match (direction, wrapped) {
        (Direction::Wrap, Some(_)) if command == airlock => (
            None,
            Note::kept(format!("`{name}`: already runs through airlock")),
        ),
        (Direction::Wrap, Some(_)) => (
            Some((airlock.to_string(), args)),
            Note::changed(format!(
                "`{name}`: runs through airlock at `{airlock}` now (was `{command}`)"
            )),
        ),
        (Direction::Wrap, None) => {
            let new_args = wrap_args(name, &command, &args);
            let text = format!(
                "`{name}`: {} → airlock {}",
                command_line(&command, &args),
                new_args.join(" ")
            );
            (Some((airlock.to_string(), new_args)), Note::changed(text))
        }
        (Direction::Unwrap, Some((program, server_args))) => {
            let text = format!("`{name}`: back to {}", command_line(&program, &server_args));
            (Some((program, server_args)), Note::changed(text))
        }
        (Direction::Unwrap, None) => (
            None,
            Note::kept(format!("`{name}`: does not run through airlock")),
        ),
    }
}

fn command_line(command: &str, args: &[String]) -> String {
    std::iter::once(command)
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ")
}

// ---- JSON (Claude Code, Cursor, Gemini CLI) ------------------------------------------------------------

fn rewrite_json(
    path: &Path,
    agent: Agent,
    scope: Scope,
    airlock: &str,
    direction: Direction,
) -> anyhow::Result<(Vec<Note>, Option<PathBuf>)> {
    let original = read_settings(path)?;
    let mut doc = original.value.clone();
    let notes = rewrite_json_doc(&mut doc, agent, scope, airlock, direction)?;
    if doc == original.value {
        return Ok((notes, None));
    }
    let backup = write_settings(path, original.text.as_deref(), &doc)?;
    Ok((notes, backup))
}

/// Rewrites the MCP servers of a settings document (see the module doc for which maps).
pub fn rewrite_json_doc(
    doc: &mut Value,
    agent: Agent,
    scope: Scope,
    airlock: &str,
    direction: Direction,
) -> anyhow::Result<Vec<Note>> {
    let mut notes = Vec::new();
    if let Some(servers) = doc.get_mut("mcpServers") {
        rewrite_json_servers(servers, "", airlock, direction, &mut notes)?;
    }
    if agent == Agent::ClaudeCode
        && scope == Scope::User
        && let Some(projects) = doc.get_mut("projects").and_then(Value::as_object_mut)
    {
        for (dir, project) in projects.iter_mut() {
            if let Some(servers) = project.get_mut("mcpServers") {
                let prefix = format!("{dir}: ");
                rewrite_json_servers(servers, &prefix, airlock, direction, &mut notes)?;
            }
        }
    }
    Ok(notes)
}

fn rewrite_json_servers(
    servers: &mut Value,
    prefix: &str,
    airlock: &str,
    direction: Direction,
    notes: &mut Vec<Note>,
) -> anyhow::Result<()> {
    let servers = servers.as_object_mut().with_context(|| {
        "`mcpServers` is not an object; fix it by hand (airlock changed nothing)".to_string()
    })?;
    for (name, entry) in servers.iter_mut() {
        let Some(object) = entry.as_object_mut() else {
            notes.push(Note::kept(format!(
                "{prefix}`{name}`: not an object; left as it is"
            )));
            continue;
        };
        let (change, mut note) = rewrite_entry(name, json_entry(object), airlock, direction);
        note.text = format!("{prefix}{}", note.text);
        notes.push(note);
        if let Some((command, args)) = change {
            object.insert("command".into(), Value::String(command));
            if args.is_empty() {
                object.shift_remove("args");
            } else {
                object.insert(
                    "args".into(),
                    Value::Array(args.into_iter().map(Value::String).collect()),
                );
            }
        }
    }
    Ok(())
}

fn json_entry(object: &Map<String, Value>) -> Entry {
    for key in ["url", "httpUrl", "serverUrl"] {
        if let Some(url) = object.get(key).and_then(Value::as_str) {
            return Entry::Remote(url.to_string());
        }
    }
    if let Some(kind) = object.get("type").and_then(Value::as_str)
        && matches!(kind, "http" | "sse" | "streamable-http" | "streamableHttp")
    {
        return Entry::Remote(format!("type {kind}"));
    }
    let Some(command) = object.get("command").and_then(Value::as_str) else {
        return Entry::Unreadable("no `command`");
    };
    let args = match object.get("args") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(items)) => {
            let strings: Option<Vec<String>> = items
                .iter()
                .map(|a| a.as_str().map(str::to_string))
                .collect();
            match strings {
                Some(strings) => strings,
                None => return Entry::Unreadable("`args` holds something other than strings"),
            }
        }
        Some(_) => return Entry::Unreadable("`args` is not a list"),
    };
    Entry::Stdio {
        command: command.to_string(),
        args,
    }
}

// ---- TOML (Codex CLI) --------------------------------------------------------------------------------------

fn rewrite_toml(
    path: &Path,
    airlock: &str,
    direction: Direction,
) -> anyhow::Result<(Vec<Note>, Option<PathBuf>)> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok((Vec::new(), None)),
        Err(err) => return Err(err).with_context(|| format!("cannot read `{}`", path.display())),
    };
    let (rewritten, notes) = rewrite_toml_text(&text, airlock, direction).with_context(|| {
        format!(
            "`{}` cannot be rewritten; fix it by hand (airlock changed nothing)",
            path.display()
        )
    })?;
    if rewritten == text {
        return Ok((notes, None));
    }
    let backup = write_text(path, Some(&text), &rewritten)?;
    Ok((notes, backup))
}

/// Rewrites the `[mcp_servers.NAME]` tables of a Codex `config.toml`, keeping comments and layout.
pub fn rewrite_toml_text(
    text: &str,
    airlock: &str,
    direction: Direction,
) -> anyhow::Result<(String, Vec<Note>)> {
    let mut doc: toml_edit::DocumentMut = text.parse().context("not valid TOML")?;
    let mut notes = Vec::new();
    if let Some(servers) = doc.get_mut("mcp_servers") {
        let servers = servers
            .as_table_like_mut()
            .context("`mcp_servers` is not a table")?;
        for (name, item) in servers.iter_mut() {
            let name = name.get().to_string();
            let Some(table) = item.as_table_like_mut() else {
                notes.push(Note::kept(format!("`{name}`: not a table; left as it is")));
                continue;
            };
            let (change, note) = rewrite_entry(&name, toml_entry(table), airlock, direction);
            notes.push(note);
            if let Some((command, args)) = change {
                set_toml_value(table, "command", command.into());
                if args.is_empty() {
                    table.remove("args");
                } else {
                    let array = args.into_iter().collect::<toml_edit::Array>();
                    set_toml_value(table, "args", array.into());
                }
            }
        }
    }
    Ok((doc.to_string(), notes))
}

/// Sets `key` to `value`, keeping the key (and the comments above it) and the spacing around the old value.
fn set_toml_value(table: &mut dyn toml_edit::TableLike, key: &str, mut value: toml_edit::Value) {
    match table.get_mut(key) {
        Some(item) => {
            if let Some(old) = item.as_value() {
                *value.decor_mut() = old.decor().clone();
            }
            *item = toml_edit::Item::Value(value);
        }
        None => {
            table.insert(key, toml_edit::Item::Value(value));
        }
    }
}

fn toml_entry(table: &dyn toml_edit::TableLike) -> Entry {
    if let Some(url) = table.get("url").and_then(toml_edit::Item::as_str) {
        return Entry::Remote(url.to_string());
    }
    let Some(command) = table.get("command").and_then(toml_edit::Item::as_str) else {
        return Entry::Unreadable("no `command`");
    };
    let args = match table.get("args") {
        None => Vec::new(),
        Some(item) => match item.as_array() {
            Some(array) => {
                let strings: Option<Vec<String>> = array
                    .iter()
                    .map(|a| a.as_str().map(str::to_string))
                    .collect();
                match strings {
                    Some(strings) => strings,
                    None => return Entry::Unreadable("`args` holds something other than strings"),
                }
            }
            None => return Entry::Unreadable("`args` is not a list"),
        },
    };
    Entry::Stdio {
        command: command.to_string(),
        args,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use serde_json::json;

    use super::*;

    const AIRLOCK: &str = "/opt/airlock/bin/airlock";

    #[test]
    fn stdio_servers_are_wrapped_once_and_unwrapped_back() {
        let original = json!({
            "theme": "dark",
            "mcpServers": {
                "postgres": {"command": "npx", "args": ["-y", "@example/pg", "postgres://db"], "env": {"PGSSL": "1"}},
                "bare": {"command": "/usr/local/bin/mcp-bare"},
                "remote": {"type": "http", "url": "https://mcp.example.com/mcp"}
            }
        });
        let mut doc = original.clone();
        let notes = rewrite_json_doc(
            &mut doc,
            Agent::Cursor,
            Scope::User,
            AIRLOCK,
            Direction::Wrap,
        )
        .unwrap();
        assert_eq!(notes.iter().filter(|n| n.changed).count(), 2, "{notes:?}");
        assert_eq!(
            doc["mcpServers"]["postgres"],
            json!({"command": AIRLOCK, "args": ["mcp", "wrap", "--name", "postgres", "--", "npx", "-y", "@example/pg", "postgres://db"], "env": {"PGSSL": "1"}})
        );
        assert_eq!(
            doc["mcpServers"]["bare"]["args"],
            json!([
                "mcp",
                "wrap",
                "--name",
                "bare",
                "--",
                "/usr/local/bin/mcp-bare"
            ])
        );
        assert_eq!(
            doc["mcpServers"]["remote"],
            original["mcpServers"]["remote"]
        );

        let once = doc.clone();
        let again = rewrite_json_doc(
            &mut doc,
            Agent::Cursor,
            Scope::User,
            AIRLOCK,
            Direction::Wrap,
        )
        .unwrap();
        assert!(again.iter().all(|n| !n.changed), "{again:?}");
        assert_eq!(doc, once);

        rewrite_json_doc(
            &mut doc,
            Agent::Cursor,
            Scope::User,
            AIRLOCK,
            Direction::Unwrap,
        )
        .unwrap();
        assert_eq!(doc, original);
    }

    #[test]
    fn a_moved_airlock_is_repointed_keeping_the_wrap() {
        let mut doc = json!({"mcpServers": {"pg": {"command": "/old/airlock", "args": ["mcp", "wrap", "--name", "pg", "--hold-seconds", "5", "--", "pg-mcp"]}}});
        let notes = rewrite_json_doc(
            &mut doc,
            Agent::Gemini,
            Scope::User,
            AIRLOCK,
            Direction::Wrap,
        )
        .unwrap();
        assert!(notes[0].changed);
        assert_eq!(doc["mcpServers"]["pg"]["command"], AIRLOCK);
        assert_eq!(doc["mcpServers"]["pg"]["args"][4], "--hold-seconds");
    }

    #[test]
    fn claude_user_settings_wrap_every_project_too() {
        let mut doc = json!({
            "mcpServers": {"a": {"command": "a-mcp"}},
            "projects": {"/work/x": {"allowedTools": [], "mcpServers": {"b": {"type": "stdio", "command": "b-mcp", "args": []}}}}
        });
        rewrite_json_doc(
            &mut doc,
            Agent::ClaudeCode,
            Scope::User,
            AIRLOCK,
            Direction::Wrap,
        )
        .unwrap();
        assert_eq!(doc["mcpServers"]["a"]["command"], AIRLOCK);
        assert_eq!(
            doc["projects"]["/work/x"]["mcpServers"]["b"]["command"],
            AIRLOCK
        );
        assert_eq!(
            doc["projects"]["/work/x"]["mcpServers"]["b"]["type"],
            "stdio"
        );
    }

    #[test]
    fn codex_toml_keeps_its_comments() {
        let text = "# my codex config\nmodel = \"o3\"\n\n[mcp_servers.pg]\n# the database\ncommand = \"npx\"\nargs = [\"-y\", \"pg-mcp\"]\nenv = { PGHOST = \"db\" }\n\n[mcp_servers.docs]\nurl = \"https://docs.example.com/mcp\"\n";
        let (wrapped, notes) = rewrite_toml_text(text, AIRLOCK, Direction::Wrap).unwrap();
        assert_eq!(notes.iter().filter(|n| n.changed).count(), 1, "{notes:?}");
        assert!(wrapped.contains("# my codex config"), "{wrapped}");
        assert!(wrapped.contains("# the database"), "{wrapped}");
        let parsed: toml::Table = toml::from_str(&wrapped).unwrap();
        let pg = &parsed["mcp_servers"]["pg"];
        assert_eq!(pg["command"].as_str(), Some(AIRLOCK));
        let args: Vec<&str> = pg["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(
            args,
            ["mcp", "wrap", "--name", "pg", "--", "npx", "-y", "pg-mcp"]
        );
        assert_eq!(pg["env"]["PGHOST"].as_str(), Some("db"));

        let (same, _) = rewrite_toml_text(&wrapped, AIRLOCK, Direction::Wrap).unwrap();
        assert_eq!(same, wrapped);
        let (unwrapped, _) = rewrite_toml_text(&wrapped, AIRLOCK, Direction::Unwrap).unwrap();
        assert_eq!(
            toml::from_str::<toml::Table>(&unwrapped).unwrap(),
            toml::from_str::<toml::Table>(text).unwrap()
        );
        assert!(unwrapped.contains("# the database"));
    }

    #[test]
    fn only_airlock_mcp_wrap_is_recognised() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            wrapped_server(
                "/bin/airlock",
                &args(&["mcp", "wrap", "--name", "x", "--", "srv", "-v"])
            ),
            Some(("srv".to_string(), args(&["-v"])))
        );
        assert_eq!(
            wrapped_server("/bin/airlock", &args(&["mcp", "wrap", "--name", "x"])),
            None
        );
        assert_eq!(
            wrapped_server("/bin/other", &args(&["mcp", "wrap", "--", "srv"])),
            None
        );
        assert_eq!(wrapped_server("airlock", &args(&["hook", "cursor"])), None);
    }
}
