//! `airlock hook AGENT`: one agent tool call in, one answer out. Each agent's protocol lives in its own file
//! (`claude`, `cursor`, `codex`, `gemini`): it turns the agent's hook JSON into a [`HookCall`] (the requests
//! in the engine's model, plus who asks and from where) and turns an [`Outcome`] into that agent's answer.
//! Deciding and recording is shared ([`judge`]): the engine decides, the gate records every decision in the
//! audit log, and an `ask` is held for a person out of band.
//!
//! Fail closed: every path that cannot decide — no input, input that is not JSON, a tool airlock does not
//! know, a policy or configuration it cannot load, a store it cannot open or write, a panic — answers *deny*
//! in the agent's own format, because an agent lets a tool run when its hook crashes, times out or exits
//! with an unexpected code. An agent name airlock does not know has no format: that exits 2 with the reason
//! on stderr, which Claude-like agents treat as a block.
//!
//! Speed: a hook runs on every tool call, so this path skips flag parsing (see `main.rs`) and hands the call
//! to the resident judge ([`resident`]) when a trusted one runs: a long-lived process of this binary with the
//! engine and the store already open, deciding with the same code. Without one it decides itself on one
//! single-threaded runtime and one database connection, and exits without tearing anything down (what it
//! committed is already in the database's write-ahead log).

mod claude;
mod codex;
mod cursor;
mod gemini;
pub mod judge;
pub mod resident;
mod tools;

use std::io::{Read as _, Write as _};

use airlock_engine::{Context, Request};

/// The agents airlock speaks the hook protocol of, by the name given to `airlock hook NAME`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agent {
    /// Anthropic's Claude Code (`PreToolUse`).
    ClaudeCode,
    /// Cursor (`beforeShellExecution`, `beforeMCPExecution`, `beforeReadFile`, `afterFileEdit`).
    Cursor,
    /// OpenAI's Codex CLI (`PreToolUse`).
    Codex,
    /// Google's Gemini CLI (`BeforeTool`).
    Gemini,
}

/// Every agent name `airlock hook` accepts, in the order help texts list them.
pub const AGENT_NAMES: [&str; 4] = ["claude-code", "cursor", "codex", "gemini"];

impl Agent {
    /// The agent named `name` (`claude-code`, `cursor`, `codex`, `gemini`).
    pub fn from_name(name: &str) -> Option<Self> {
        match name {
            "claude-code" => Some(Agent::ClaudeCode),
            "cursor" => Some(Agent::Cursor),
            "codex" => Some(Agent::Codex),
            "gemini" => Some(Agent::Gemini),
            _ => None,
        }
    }

    /// The name, as recorded in the audit log and on approvals.
    pub fn name(self) -> &'static str {
        match self {
            Agent::ClaudeCode => "claude-code",
            Agent::Cursor => "cursor",
            Agent::Codex => "codex",
            Agent::Gemini => "gemini",
        }
    }

    /// Whether the agent can put a question to the person at its keyboard (Claude Code's and Cursor's `ask`).
    /// Codex treats `ask` as a failed hook (and runs the tool), Gemini has no `ask`.
    pub fn can_ask_in_band(self) -> bool {
        matches!(self, Agent::ClaudeCode | Agent::Cursor)
    }

    fn parse(self, input: &serde_json::Value) -> Result<HookCall, String> {
        match self {
            Agent::ClaudeCode => claude::parse(input),
            Agent::Cursor => cursor::parse(input),
            Agent::Codex => codex::parse(input),
            Agent::Gemini => gemini::parse(input),
        }
    }

    fn answer(self, call: Option<&HookCall>, outcome: &Outcome) -> Answer {
        match self {
            Agent::ClaudeCode => claude::answer(call, outcome),
            Agent::Cursor => cursor::answer(call, outcome),
            Agent::Codex => codex::answer(call, outcome),
            Agent::Gemini => gemini::answer(call, outcome),
        }
    }
}

/// One hook invocation, understood: the event, who asks from where, and what the tool would do.
#[derive(Debug, Clone)]
pub struct HookCall {
    /// The agent.
    pub agent: Agent,
    /// The agent's permission mode, when it sends one (`default`, `bypassPermissions`, …).
    pub permission_mode: Option<String>,
    /// Agent name, session and working directory, for the policy, the approval digest and the audit log.
    pub context: Context,
    /// What the tool would do.
    pub action: ToolAction,
}

impl HookCall {
    /// Whether the agent, in this call, could put an `ask` to a person: it has an in-band ask and is not in a
    /// mode that answers every question with yes (`bypassPermissions`) or with no without asking (`dontAsk`).
    pub fn can_ask_in_band(&self) -> bool {
        self.agent.can_ask_in_band()
            && !matches!(
                self.permission_mode.as_deref(),
                Some("bypassPermissions" | "dontAsk")
            )
    }
}

/// What a tool call would do, in the engine's terms.
#[derive(Debug, Clone)]
pub enum ToolAction {
    /// Requests to decide on before the tool runs (usually one; a patch touching several files gives several).
    Judge(Vec<Request>),
    /// A tool airlock knows only reads, or only talks to the person (see `tools.rs`): allowed and audited.
    ReadOnly {
        /// The tool's name.
        tool: String,
        /// What it reads, for the audit summary.
        detail: String,
    },
    /// Something the agent reports after it happened (Cursor's `afterFileEdit`): decided and audited, never
    /// blocked (it cannot be).
    Report(Vec<Request>),
}

/// What airlock tells the agent, before it is put in the agent's format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Let it run.
    Allow,
    /// Ask the person at the agent's keyboard (only where the agent can, and configured so).
    Ask(String),
    /// Refuse, with the reason the agent (and the person) read.
    Deny(String),
    /// An after-the-fact report was recorded; nothing to allow or refuse.
    Recorded,
}

/// The answer as a process result: what goes to stdout and stderr, and the exit code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// Standard output (the agent's JSON), without the final newline.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Exit code.
    pub code: i32,
}

impl Answer {
    /// Exit 0 with `json` on stdout.
    fn json(json: serde_json::Value) -> Self {
        Answer {
            stdout: json.to_string(),
            stderr: String::new(),
            code: 0,
        }
    }

    /// Exit 2 with `reason` on stderr: "block" in every agent's hook protocol that has one.
    fn block_exit(reason: &str) -> Self {
        Answer {
            stdout: String::new(),
            stderr: format!("{reason}\n"),
            code: 2,
        }
    }
}

/// The most hook input airlock reads; more is refused (the engine asks on anything over 1 MiB anyway).
const MAX_INPUT_BYTES: u64 = 16 * 1024 * 1024;

/// Runs one hook call as a whole process: reads stdin, decides (through the resident judge when one answers),
/// writes the answer, returns the exit code. Never panics out: a panic anywhere below becomes a deny.
pub fn run_process(agent_name: &str) -> i32 {
    let (answer, start_judge) = match Agent::from_name(agent_name) {
        None => (
            Answer::block_exit(&format!(
                "airlock: unknown agent `{agent_name}` (expected one of {}); blocking this tool call",
                AGENT_NAMES.join(", ")
            )),
            false,
        ),
        Some(agent) => {
            let mut input = Vec::new();
            let read = std::io::stdin()
                .lock()
                .take(MAX_INPUT_BYTES + 1)
                .read_to_end(&mut input);
            let read = read.map(|_| ()).map_err(|err| err.to_string());
            match std::panic::catch_unwind(|| match read {
                Ok(()) => answer_call(agent, &input),
                Err(err) => (
                    refuse(agent, None, &format!("cannot read the hook input: {err}")),
                    false,
                ),
            }) {
                Ok(answered) => answered,
                Err(_) => (refuse(agent, None, "airlock crashed while deciding"), false),
            }
        }
    };
    let mut stdout = std::io::stdout().lock();
    if !answer.stdout.is_empty() {
        // A closed pipe leaves nothing to tell; the exit code still blocks where the protocol allows.
        let _ = writeln!(stdout, "{}", answer.stdout);
    }
    let _ = stdout.flush();
    if !answer.stderr.is_empty() {
        let _ = std::io::stderr().write_all(answer.stderr.as_bytes());
    }
    if start_judge {
        resident::start();
    }
    answer.code
}

/// The answer to `input`: from the resident judge when a trusted one answers, else decided here; and whether
/// to start a judge afterwards (none runs, and [`resident::mode`] allows it).
fn answer_call(agent: Agent, input: &[u8]) -> (Answer, bool) {
    let mode = resident::mode();
    if mode == resident::Mode::Off {
        return (handle(agent, input), false);
    }
    match resident::ask(agent, input) {
        resident::Reply::Answered(answer) => (answer, false),
        resident::Reply::Failed(problem) => (refuse(agent, None, &problem), false),
        resident::Reply::Unavailable { why, .. } if mode == resident::Mode::Require => (
            refuse(
                agent,
                None,
                &format!("{}=require, but {why}", resident::MODE_ENV),
            ),
            false,
        ),
        resident::Reply::Unavailable { start, .. } => (handle(agent, input), start),
    }
}

/// Decides one hook input in this process and answers in `agent`'s format.
pub fn handle(agent: Agent, input: &[u8]) -> Answer {
    let call = parse_input(agent, input);
    let outcome = judge::decide(agent, input, &call);
    agent.answer(call.as_ref().ok(), &outcome)
}

/// Decides one hook input in the resident judge, with its engine and store, and answers in `agent`'s format.
async fn handle_resident(agent: Agent, input: &[u8], judge: &resident::Resident) -> Answer {
    let call = parse_input(agent, input);
    let store = judge.store().await;
    let outcome = judge::decide_with(agent, input, &call, &store, || judge.engine()).await;
    agent.answer(call.as_ref().ok(), &outcome)
}

fn parse_input(agent: Agent, input: &[u8]) -> Result<HookCall, String> {
    if input.len() as u64 > MAX_INPUT_BYTES {
        return Err(format!(
            "the hook input is larger than {} MiB",
            MAX_INPUT_BYTES / 1024 / 1024
        ));
    }
    if input.iter().all(u8::is_ascii_whitespace) {
        return Err("no hook input on stdin".into());
    }
    let value: serde_json::Value = serde_json::from_slice(input)
        .map_err(|err| format!("the hook input is not valid JSON: {err}"))?;
    if !value.is_object() {
        return Err("the hook input is not a JSON object".into());
    }
    agent.parse(&value)
}

/// The deny answer for a failure before anything could be decided or recorded.
fn refuse(agent: Agent, call: Option<&HookCall>, problem: &str) -> Answer {
    agent.answer(call, &Outcome::Deny(judge::failure_message(problem)))
}

/// A string field of the input, when it is present and not empty.
fn string_field<'a>(input: &'a serde_json::Value, key: &str) -> Option<&'a str> {
    input
        .get(key)
        .and_then(serde_json::Value::as_str)
        .filter(|s| !s.is_empty())
}

/// `tool_input` as an object (some agents send it as a JSON string; that is decoded).
fn object_field(
    input: &serde_json::Value,
    key: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match input.get(key) {
        Some(serde_json::Value::Object(map)) => Ok(map.clone()),
        Some(serde_json::Value::String(text)) => match serde_json::from_str(text) {
            Ok(serde_json::Value::Object(map)) => Ok(map),
            _ => Err(format!("`{key}` is a string that is not a JSON object")),
        },
        Some(serde_json::Value::Null) | None => Err(format!("the hook input has no `{key}`")),
        Some(_) => Err(format!("`{key}` is not a JSON object")),
    }
}

/// A required string argument of a tool.
fn required_str(
    args: &serde_json::Map<String, serde_json::Value>,
    tool: &str,
    key: &str,
) -> Result<String, String> {
    match args.get(key) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        _ => Err(format!("`{tool}` input has no string `{key}`")),
    }
}
