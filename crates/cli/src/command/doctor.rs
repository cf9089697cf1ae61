//! `airlock doctor`: for each coding agent found on this machine (its directory in the home directory, or
//! its program on `PATH`), whether airlock's hook is wired into its user and project settings, and whether
//! it works: each installed hook command is run exactly as written in the settings file (`sh -c`), with a
//! known-bad sample (`rm -rf ~` as the agent's own shell tool call) that must be denied and a known-good
//! one (`ls`) that must be allowed, read the way that agent reads hook answers. Exit 0 when every agent
//! found is wired and working, 1 otherwise (also when no agent is found).
//!
//! The samples are real hook calls: they are decided and audited like any other (session `airlock-doctor`).
//! Last, whether the resident judge (`crate::hook::resident`) runs for this environment.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context as _;
use clap::Args;
use serde_json::Value;

use super::agents::{ALL, Agent, Answer, Scope, first_line};
use super::install::{home_dir, read_settings};

/// Arguments of `airlock doctor`.
#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Check only this agent (it is checked even when it does not look installed).
    #[arg(long, value_enum)]
    agent: Option<Agent>,
    /// Seconds to wait for each hook answer.
    #[arg(long, default_value_t = 10)]
    timeout: u64,
}

/// The known-bad sample: must be denied.
const BAD: &str = "rm -rf ~";
/// The known-good sample: must be allowed.
const GOOD: &str = "ls";

/// Runs `airlock doctor`.
pub fn run(args: DoctorArgs) -> anyhow::Result<i32> {
    let home = home_dir()?;
    let project = std::env::current_dir().context("cannot read the current directory")?;
    let timeout = Duration::from_secs(args.timeout.max(1));
    let agents: Vec<Agent> = match args.agent {
        Some(agent) => vec![agent],
        None => ALL
            .into_iter()
            .filter(|a| found(*a, &home).is_some())
            .collect(),
    };
    if agents.is_empty() {
        println!(
            "no coding agent found (looked for ~/.claude, ~/.cursor, ~/.codex, ~/.gemini and claude, cursor, codex, gemini on PATH)"
        );
        return Ok(1);
    }
    let mut healthy = true;
    for agent in agents {
        let where_found =
            found(agent, &home).unwrap_or_else(|| "not found, checked as asked".into());
        println!("{} ({where_found})", agent.title());
        let ok = check_agent(agent, &home, &project, timeout);
        println!(
            "  => {}",
            if ok {
                "protected: airlock is wired in and answers correctly"
            } else {
                "NOT protected"
            }
        );
        healthy &= ok;
    }
    // Speed, not protection: a hook decides the same with or without the judge.
    println!("{}", crate::hook::resident::status());
    Ok(if healthy { 0 } else { 1 })
}

/// Why an agent looks installed: its directory in the home directory or its program on `PATH`.
fn found(agent: Agent, home: &Path) -> Option<String> {
    let dir = home.join(agent.dir_name());
    if dir.is_dir() {
        return Some(format!("found {}", dir.display()));
    }
    agent
        .executables()
        .iter()
        .find_map(|exe| on_path(exe))
        .map(|p| format!("found {}", p.display()))
}

fn on_path(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    path.metadata()
        .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// Checks both settings files of one agent; prints what it finds. True when at least one airlock hook is
/// wired in, every one of them answers both samples correctly, and nothing switches hooks off.
fn check_agent(agent: Agent, home: &Path, project: &Path, timeout: Duration) -> bool {
    let mut wired = 0;
    let mut ok = true;
    for scope in [Scope::User, Scope::Project] {
        let path = agent.settings_file(scope, home, project);
        let label = format!("  {:<8}{}", scope.as_str(), path.display());
        if !path.exists() {
            println!("{label}: no file");
            continue;
        }
        let settings = match read_settings(&path) {
            Ok(settings) => settings,
            Err(err) => {
                println!("{label}: {err:#}");
                ok = false;
                continue;
            }
        };
        let commands = airlock_commands(&settings.value, agent);
        if commands.is_empty() {
            println!("{label}: airlock is not wired in");
            continue;
        }
        // One run per distinct command (Cursor lists the same one under several events).
        let mut distinct: Vec<(String, Vec<String>)> = Vec::new();
        for (event, command) in commands {
            match distinct.iter_mut().find(|(c, _)| *c == command) {
                Some((_, events)) => events.push(format!("hooks.{event}")),
                None => distinct.push((command, vec![format!("hooks.{event}")])),
            }
        }
        for (command, events) in distinct {
            wired += 1;
            println!("{label}: {} runs `{command}`", events.join(", "));
            ok &= check_command(agent, &command, project, timeout);
        }
    }
    for problem in switched_off(agent, home, project) {
        println!("  hooks are switched off: {problem}");
        ok = false;
    }
    if wired == 0 {
        println!(
            "  airlock is not wired in: run `airlock install {}`",
            agent.slug()
        );
    }
    ok && wired > 0
}

/// Every `(event, command)` of airlock's hooks for `agent` in a settings document.
fn airlock_commands(doc: &Value, agent: Agent) -> Vec<(String, String)> {
    let mut found = Vec::new();
    let Some(hooks) = doc.get("hooks").and_then(Value::as_object) else {
        return found;
    };
    for (event, list) in hooks {
        for entry in list.as_array().into_iter().flatten() {
            // Flat entries (Cursor) carry the command; grouped ones hold a list of handlers.
            let handlers: Vec<&Value> = match entry.get("hooks").and_then(Value::as_array) {
                Some(handlers) => handlers.iter().collect(),
                None => vec![entry],
            };
            for handler in handlers {
                if let Some(command) = handler.get("command").and_then(Value::as_str)
                    && agent.is_airlock_command(command)
                {
                    found.push((event.clone(), command.to_string()));
                }
            }
        }
    }
    found
}

/// Settings that keep the agent from running any hook (as far as its files show).
fn switched_off(agent: Agent, home: &Path, project: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    match agent {
        Agent::Codex => {
            for dir in [home, project] {
                let path = dir.join(".codex").join("config.toml");
                let Ok(text) = std::fs::read_to_string(&path) else {
                    continue;
                };
                let Ok(config) = text.parse::<toml::Table>() else {
                    problems.push(format!("`{}` is not valid TOML", path.display()));
                    continue;
                };
                let features = config.get("features").and_then(|f| f.as_table());
                for key in ["hooks", "codex_hooks"] {
                    if features
                        .and_then(|f| f.get(key))
                        .and_then(toml::Value::as_bool)
                        == Some(false)
                    {
                        problems.push(format!(
                            "`[features] {key} = false` in `{}`",
                            path.display()
                        ));
                    }
                }
            }
        }
        Agent::Gemini => {
            for scope in [Scope::User, Scope::Project] {
                let path = agent.settings_file(scope, home, project);
                let Ok(settings) = read_settings(&path) else {
                    continue;
                };
                let doc = &settings.value;
                for pointer in [
                    "/tools/enableHooks",
                    "/hooks/enabled",
                    "/hooksConfig/enabled",
                ] {
                    if doc.pointer(pointer) == Some(&Value::Bool(false)) {
                        problems.push(format!("`{pointer}` is false in `{}`", path.display()));
                    }
                }
                for pointer in ["/hooks/disabled", "/hooksConfig/disabled"] {
                    let disabled = doc.pointer(pointer).and_then(Value::as_array);
                    if disabled.is_some_and(|list| list.iter().any(|n| n == "airlock")) {
                        problems.push(format!(
                            "`airlock` is listed in `{pointer}` in `{}`",
                            path.display()
                        ));
                    }
                }
            }
        }
        Agent::ClaudeCode => {
            for scope in [Scope::User, Scope::Project] {
                let path = agent.settings_file(scope, home, project);
                if let Ok(settings) = read_settings(&path)
                    && settings.value.get("disableAllHooks") == Some(&Value::Bool(true))
                {
                    problems.push(format!("`disableAllHooks` is true in `{}`", path.display()));
                }
            }
        }
        Agent::Cursor => {}
    }
    problems
}

/// Runs one installed hook command with the bad and the good sample; prints and returns whether both
/// answers are right.
fn check_command(agent: Agent, command: &str, cwd: &Path, timeout: Duration) -> bool {
    let mut ok = true;
    for (sample, want_deny) in [(BAD, true), (GOOD, false)] {
        let input = agent.shell_sample(sample, cwd).to_string();
        let answer = match run_hook(command, &input, cwd, timeout) {
            Ok((code, stdout, stderr)) => agent.read_answer(code, &stdout, &stderr),
            Err(err) => Answer::Broken(format!("{err:#}")),
        };
        let right = matches!(
            (&answer, want_deny),
            (Answer::Deny(_), true) | (Answer::Allow, false)
        );
        let shown = match &answer {
            Answer::Allow => "allow".to_string(),
            Answer::Deny(reason) => format!("deny ({})", first_line(reason)),
            Answer::Ask(reason) => format!("ask ({})", first_line(reason)),
            Answer::Broken(problem) => format!("broken: {problem}"),
        };
        let expected = if want_deny { "deny" } else { "allow" };
        println!(
            "            `{sample}` => {shown} [{}]",
            if right {
                "ok".to_string()
            } else {
                format!("WRONG, expected {expected}")
            }
        );
        ok &= right;
    }
    ok
}

/// Runs `sh -c command` in `cwd` with `input` on standard input; returns its exit code, standard output
/// and standard error. Killed after `timeout` (an error, as the agent would give up on it too).
fn run_hook(
    command: &str,
    input: &str,
    cwd: &Path,
    timeout: Duration,
) -> anyhow::Result<(Option<i32>, String, String)> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(cwd)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("cannot start `sh`")?;
    let stdin = child.stdin.take();
    let input = input.to_string();
    let writer = std::thread::spawn(move || {
        if let Some(mut stdin) = stdin {
            let _ = stdin.write_all(input.as_bytes());
        }
    });
    let reader = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = reader(child.stdout.take().map(|p| Box::new(p) as Box<_>));
    let stderr = reader(child.stderr.take().map(|p| Box::new(p) as Box<_>));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().context("cannot wait for the hook")? {
            break status;
        }
        if started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            anyhow::bail!("no answer within {} s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = writer.join();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    Ok((status.code(), stdout, stderr))
}
