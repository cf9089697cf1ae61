//! `airlock install <agent>` and `airlock uninstall <agent>`: merge airlock's hook entry into an agent's
//! settings file, or take it out again, leaving every other hook and setting as it was (keys keep their
//! order). A second install changes nothing and says so; before any change the old file is copied to
//! `<file>.airlock-backup-<UTC time>`; the entries added or removed are printed. A settings file that is
//! not valid JSON is an error and nothing is written. Where each agent keeps its settings and what the
//! entry looks like is in `agents.rs`.

use std::path::{Path, PathBuf};

use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::{Map, Value};

use super::agents::{Agent, Layout, Scope, shell_quote};

/// Arguments of `airlock install` and `airlock uninstall`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The agent: claude-code, cursor, codex or gemini.
    #[arg(value_enum)]
    agent: Agent,
    /// The user's settings file in the home directory (`~/.claude/settings.json`, …); the default.
    #[arg(long, conflicts_with = "project")]
    user: bool,
    /// The project's settings file under the current directory (`.claude/settings.json`, …).
    #[arg(long)]
    project: bool,
    /// Instead of the hook: route the agent's stdio MCP servers through `airlock mcp wrap` (`uninstall`:
    /// back to the servers themselves). See `install_mcp.rs`.
    #[arg(long)]
    mcp: bool,
}

impl InstallArgs {
    fn scope(&self) -> Scope {
        if self.project {
            Scope::Project
        } else {
            Scope::User
        }
    }
}

/// The user's home directory (`$HOME`).
pub fn home_dir() -> anyhow::Result<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
        .context("`HOME` is not set, so the user's settings file cannot be found")
}

/// The settings file for `agent` in `scope`.
pub fn settings_path(agent: Agent, scope: Scope) -> anyhow::Result<PathBuf> {
    let project = std::env::current_dir().context("cannot read the current directory")?;
    let home = match scope {
        Scope::User => home_dir()?,
        Scope::Project => project.clone(),
    };
    Ok(agent.settings_file(scope, &home, &project))
}

/// The shell command an agent runs to call this airlock binary's hook: its absolute path (quoted when it
/// needs to be), `hook` and the agent's name.
pub fn hook_command(agent: Agent) -> anyhow::Result<String> {
    let exe = std::env::current_exe().context("cannot tell where the airlock binary is")?;
    let exe = exe.canonicalize().unwrap_or(exe);
    let text = exe
        .to_str()
        .with_context(|| format!("the airlock binary's path `{}` is not UTF-8", exe.display()))?;
    Ok(format!("{} hook {}", shell_quote(text), agent.slug()))
}

/// Runs `airlock install`.
pub fn run_install(args: InstallArgs) -> anyhow::Result<i32> {
    let agent = args.agent;
    if args.mcp {
        return super::install_mcp::run(agent, args.scope(), super::install_mcp::Direction::Wrap);
    }
    let path = settings_path(agent, args.scope())?;
    let command = hook_command(agent)?;
    let original = read_settings(&path)?;
    let mut doc = original.value.clone();
    let change = install_entries(&mut doc, agent, &command)?;
    if doc == original.value {
        println!(
            "airlock is already wired into {} in `{}`; nothing changed",
            agent.title(),
            path.display()
        );
        return Ok(0);
    }
    let backup = write_settings(&path, original.text.as_deref(), &doc)?;
    println!(
        "wired airlock into {} ({} settings): `{}`",
        agent.title(),
        args.scope().as_str(),
        path.display()
    );
    report(&change, backup.as_deref());
    if let Some(note) = agent.install_note() {
        println!("note: {note}");
    }
    Ok(0)
}

/// Runs `airlock uninstall`.
pub fn run_uninstall(args: InstallArgs) -> anyhow::Result<i32> {
    let agent = args.agent;
    if args.mcp {
        return super::install_mcp::run(agent, args.scope(), super::install_mcp::Direction::Unwrap);
    }
    let path = settings_path(agent, args.scope())?;
    let original = read_settings(&path)?;
    let mut doc = original.value.clone();
    let change = remove_entries(&mut doc, agent)?;
    if doc == original.value {
        println!(
            "airlock is not wired into {} in `{}`; nothing changed",
            agent.title(),
            path.display()
        );
        return Ok(0);
    }
    let backup = write_settings(&path, original.text.as_deref(), &doc)?;
    println!(
        "removed airlock from {} ({} settings): `{}`",
        agent.title(),
        args.scope().as_str(),
        path.display()
    );
    report(&change, backup.as_deref());
    Ok(0)
}

/// Entries taken out of and put into a settings file, as `(event, entry)`.
#[derive(Debug, Default)]
pub struct Change {
    /// Entries removed (airlock's own, outdated or uninstalled).
    pub removed: Vec<(String, Value)>,
    /// Entries added.
    pub added: Vec<(String, Value)>,
}

fn report(change: &Change, backup: Option<&Path>) {
    match backup {
        Some(backup) => println!("backup of the previous file: `{}`", backup.display()),
        None => println!("(the file did not exist; it was created)"),
    }
    for (sign, entries) in [("-", &change.removed), ("+", &change.added)] {
        for (event, entry) in entries {
            println!("{sign} hooks.{event}[]:");
            let pretty = serde_json::to_string_pretty(entry).unwrap_or_default();
            for line in pretty.lines() {
                println!("{sign}   {line}");
            }
        }
    }
}

/// A settings file as read: its text (if it exists) and its JSON (an empty object if it does not).
pub struct Settings {
    /// The file's text, `None` when there is no file.
    pub text: Option<String>,
    /// The parsed document; always an object.
    pub value: Value,
}

/// Reads and parses a settings file; a missing or empty file is an empty object. Anything that is not a
/// JSON object is an error that names the file (nothing gets written then).
pub fn read_settings(path: &Path) -> anyhow::Result<Settings> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => Some(text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
        Err(err) => return Err(err).with_context(|| format!("cannot read `{}`", path.display())),
    };
    let value = match text.as_deref() {
        None => Value::Object(Map::new()),
        Some(t) if t.trim().is_empty() => Value::Object(Map::new()),
        Some(t) => serde_json::from_str(t).with_context(|| {
            format!(
                "`{}` is not valid JSON; fix or move it by hand (airlock changed nothing)",
                path.display()
            )
        })?,
    };
    if !value.is_object() {
        bail!(
            "`{}` is not a JSON object; fix or move it by hand (airlock changed nothing)",
            path.display()
        );
    }
    Ok(Settings { text, value })
}

/// The `hooks` object of a settings document, created when missing.
fn hooks_object<'a>(
    doc: &'a mut Value,
    path_hint: &str,
) -> anyhow::Result<&'a mut Map<String, Value>> {
    let root = doc
        .as_object_mut()
        .context("the settings file is not a JSON object")?;
    let hooks = root
        .entry("hooks")
        .or_insert_with(|| Value::Object(Map::new()));
    hooks.as_object_mut().with_context(|| {
        format!("`hooks` in {path_hint} is not an object; airlock changed nothing")
    })
}

/// Puts airlock's entries for `agent` into `doc` (a settings document). An identical entry already there
/// is left alone; airlock's own outdated entries of those events (another binary path, another matcher)
/// are replaced.
pub fn install_entries(doc: &mut Value, agent: Agent, command: &str) -> anyhow::Result<Change> {
    let mut change = Change::default();
    if agent.layout() == Layout::Flat {
        ensure_version_first(doc)?;
    }
    let hooks = hooks_object(doc, agent.file_name())?;
    for event in agent.events() {
        let desired = agent.entry(event, command);
        let list = hooks
            .entry(event.name)
            .or_insert_with(|| Value::Array(Vec::new()));
        let list = list.as_array_mut().with_context(|| {
            format!(
                "`hooks.{}` is not a list; airlock changed nothing",
                event.name
            )
        })?;
        let ours = count_ours(list, agent);
        if ours == 1 && list.contains(&desired) {
            continue;
        }
        for removed in remove_ours(list, agent) {
            change.removed.push((event.name.to_string(), removed));
        }
        list.push(desired.clone());
        change.added.push((event.name.to_string(), desired));
    }
    Ok(change)
}

/// Takes every airlock entry for `agent` out of `doc`, from every event. A matcher group left without
/// hooks and an event left without entries are removed too (so install then uninstall gives back the
/// file as it was); everything else stays.
pub fn remove_entries(doc: &mut Value, agent: Agent) -> anyhow::Result<Change> {
    let mut change = Change::default();
    let Some(hooks) = doc
        .as_object_mut()
        .and_then(|root| root.get_mut("hooks"))
        .and_then(Value::as_object_mut)
    else {
        return Ok(change);
    };
    let mut emptied = Vec::new();
    for (event, list) in hooks.iter_mut() {
        let Some(list) = list.as_array_mut() else {
            continue;
        };
        let removed = remove_ours(list, agent);
        if !removed.is_empty() && list.is_empty() {
            emptied.push(event.clone());
        }
        for entry in removed {
            change.removed.push((event.clone(), entry));
        }
    }
    for event in emptied {
        hooks.shift_remove(&event);
    }
    if hooks.is_empty()
        && !change.removed.is_empty()
        && let Some(root) = doc.as_object_mut()
    {
        root.shift_remove("hooks");
    }
    Ok(change)
}

/// Whether one hook handler (`{"command": …}`) runs airlock's hook for `agent`.
fn is_ours(handler: &Value, agent: Agent) -> bool {
    handler
        .get("command")
        .and_then(Value::as_str)
        .is_some_and(|c| agent.is_airlock_command(c))
}

fn count_ours(list: &[Value], agent: Agent) -> usize {
    match agent.layout() {
        Layout::Flat => list.iter().filter(|e| is_ours(e, agent)).count(),
        Layout::Grouped => list
            .iter()
            .filter_map(|group| group.get("hooks").and_then(Value::as_array))
            .map(|handlers| handlers.iter().filter(|h| is_ours(h, agent)).count())
            .sum(),
    }
}

/// Removes airlock's entries from one event's list; returns what was removed (whole groups when a group
/// held only airlock's hook, else the single handlers).
fn remove_ours(list: &mut Vec<Value>, agent: Agent) -> Vec<Value> {
    let mut removed = Vec::new();
    match agent.layout() {
        Layout::Flat => list.retain(|entry| {
            let ours = is_ours(entry, agent);
            if ours {
                removed.push(entry.clone());
            }
            !ours
        }),
        Layout::Grouped => {
            list.retain_mut(|group| {
                let Some(handlers) = group.get_mut("hooks").and_then(Value::as_array_mut) else {
                    return true;
                };
                if !handlers.iter().any(|h| is_ours(h, agent)) {
                    return true;
                }
                if handlers.iter().all(|h| is_ours(h, agent)) {
                    removed.push(group.clone());
                    return false;
                }
                handlers.retain(|h| {
                    let ours = is_ours(h, agent);
                    if ours {
                        removed.push(h.clone());
                    }
                    !ours
                });
                true
            });
        }
    }
    removed
}

/// Cursor's `hooks.json` starts with `"version": 1`; adds it (first) when missing.
fn ensure_version_first(doc: &mut Value) -> anyhow::Result<()> {
    let root = doc
        .as_object_mut()
        .context("the settings file is not a JSON object")?;
    if root.contains_key("version") {
        return Ok(());
    }
    let rest = std::mem::take(root);
    root.insert("version".to_string(), Value::from(1));
    root.extend(rest);
    Ok(())
}

/// Writes `doc` to `path` (through a symlink to its target): first a backup of the old text next to the
/// file, then the new text to a temporary file in the same directory, renamed over the old one so that a
/// crash leaves either the old or the new file. Returns the backup's path (none for a new file).
pub fn write_settings(
    path: &Path,
    old: Option<&str>,
    doc: &Value,
) -> anyhow::Result<Option<PathBuf>> {
    let mut text = serde_json::to_string_pretty(doc).context("cannot encode the settings")?;
    text.push('\n');
    write_text(path, old, &text)
}

/// [`write_settings`] for a file already encoded as `text` (e.g. TOML).
pub fn write_text(path: &Path, old: Option<&str>, text: &str) -> anyhow::Result<Option<PathBuf>> {
    let target = if old.is_some() {
        path.canonicalize().unwrap_or_else(|_| path.to_path_buf())
    } else {
        path.to_path_buf()
    };
    let dir = target
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the directory `{}`", dir.display()))?;
    let name = target
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("settings.json")
        .to_string();
    let backup = match old {
        None => None,
        Some(old) => {
            let backup = free_backup_path(&dir, &name);
            std::fs::write(&backup, old)
                .with_context(|| format!("cannot write the backup `{}`", backup.display()))?;
            Some(backup)
        }
    };
    let temp = dir.join(format!(".{name}.airlock-tmp-{}", std::process::id()));
    std::fs::write(&temp, text).with_context(|| format!("cannot write `{}`", temp.display()))?;
    if let Ok(meta) = std::fs::metadata(&target) {
        let _ = std::fs::set_permissions(&temp, meta.permissions());
    }
    if let Err(err) = std::fs::rename(&temp, &target) {
        let _ = std::fs::remove_file(&temp);
        return Err(err).with_context(|| format!("cannot replace `{}`", target.display()));
    }
    Ok(backup)
}

/// `<dir>/<name>.airlock-backup-<UTC time>`, with `-2`, `-3`, … when that exists already.
fn free_backup_path(dir: &Path, name: &str) -> PathBuf {
    let stamp = utc_stamp();
    let first = dir.join(format!("{name}.airlock-backup-{stamp}"));
    if !first.exists() {
        return first;
    }
    (2..)
        .map(|n| dir.join(format!("{name}.airlock-backup-{stamp}-{n}")))
        .find(|p| !p.exists())
        .unwrap_or(first)
}

/// The current UTC time as `YYYYMMDDTHHMMSSZ`.
fn utc_stamp() -> String {
    let now = time::OffsetDateTime::now_utc();
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        now.year(),
        u8::from(now.month()),
        now.day(),
        now.hour(),
        now.minute(),
        now.second()
    )
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "tests")]
    use super::*;
    use serde_json::json;

    const CMD: &str = "/opt/airlock/bin/airlock hook claude-code";

    #[test]
    fn install_keeps_other_hooks_and_is_idempotent() {
        let mut doc = json!({
            "model": "opus",
            "hooks": {"PreToolUse": [{"matcher": "Bash", "hooks": [{"type": "command", "command": "fmt.sh"}]}]},
            "permissions": {"allow": ["Bash(ls:*)"]},
        });
        let original = doc.clone();
        let change = install_entries(&mut doc, Agent::ClaudeCode, CMD).unwrap();
        assert_eq!(change.added.len(), 1);
        assert!(change.removed.is_empty());
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["model", "hooks", "permissions"]);
        assert_eq!(
            doc["hooks"]["PreToolUse"][0],
            original["hooks"]["PreToolUse"][0]
        );
        assert_eq!(doc["hooks"]["PreToolUse"][1]["hooks"][0]["command"], CMD);
        let once = doc.clone();
        let again = install_entries(&mut doc, Agent::ClaudeCode, CMD).unwrap();
        assert!(again.added.is_empty() && again.removed.is_empty());
        assert_eq!(doc, once);
        remove_entries(&mut doc, Agent::ClaudeCode).unwrap();
        assert_eq!(doc, original);
    }

    #[test]
    fn a_moved_binary_replaces_the_old_entry() {
        let mut doc = json!({});
        install_entries(&mut doc, Agent::ClaudeCode, "/old/airlock hook claude-code").unwrap();
        let change = install_entries(&mut doc, Agent::ClaudeCode, CMD).unwrap();
        assert_eq!(change.removed.len(), 1);
        let list = doc["hooks"]["PreToolUse"].as_array().unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0]["hooks"][0]["command"], CMD);
    }

    #[test]
    fn cursor_gets_version_first_and_fail_closed_entries() {
        let mut doc = json!({"hooks": {"afterFileEdit": [{"command": "fmt"}]}});
        install_entries(&mut doc, Agent::Cursor, "/bin/airlock hook cursor").unwrap();
        let keys: Vec<&String> = doc.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["version", "hooks"]);
        assert_eq!(doc["hooks"]["beforeShellExecution"][0]["failClosed"], true);
        assert_eq!(
            doc["hooks"]["beforeMCPExecution"][0]["command"],
            "/bin/airlock hook cursor"
        );
        remove_entries(&mut doc, Agent::Cursor).unwrap();
        assert_eq!(
            doc,
            json!({"version": 1, "hooks": {"afterFileEdit": [{"command": "fmt"}]}})
        );
    }

    #[test]
    fn a_hooks_value_of_the_wrong_type_is_an_error() {
        let mut doc = json!({"hooks": []});
        assert!(install_entries(&mut doc, Agent::Gemini, "airlock hook gemini").is_err());
        let mut doc = json!({"hooks": {"BeforeTool": {}}});
        assert!(install_entries(&mut doc, Agent::Gemini, "airlock hook gemini").is_err());
    }
}
