//! Subcommands, one file each; `run` dispatches and turns errors into exit code 1 with a message.

mod agents;
mod approvals;
mod approver;
mod breaker;
mod check;
mod deferred;
mod demo;
mod doctor;
mod explain;
pub(crate) mod home;
mod hook;
mod install;
mod install_mcp;
mod log;
mod mcp;
mod policy;
mod serve;
mod snapshots;
mod token;
mod undo;

use clap::Subcommand;

/// Every `airlock` subcommand.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Decide on one request (exit 0 allow, 2 deny, 3 ask, 1 error) or on a JSONL file of requests.
    Check(Box<check::CheckArgs>),
    /// Validate a policy file, or the policy in force.
    Policy {
        #[command(subcommand)]
        command: policy::PolicyCommand,
    },
    /// Show a catalogue rule: why it exists and its examples.
    Explain(explain::ExplainArgs),
    /// Show the audit log; `log verify` proves its hash chain, `log head` prints its head for anchoring.
    Log(log::LogArgs),
    /// Agent tokens: create (printed once), list, revoke.
    Token {
        #[command(subcommand)]
        command: token::TokenCommand,
    },
    /// Approvers: add (prints their secret once), list, remove.
    Approver {
        #[command(subcommand)]
        command: approver::ApproverCommand,
    },
    /// Run the HTTP gateway: agents call upstream APIs through it with an airlock token.
    Serve(serve::ServeArgs),
    /// Held requests: list, show, approve, deny (needs an approver secret).
    Approvals {
        #[command(subcommand)]
        command: approvals::ApprovalsCommand,
    },
    /// Deferred requests (run after a cancel window): list, cancel.
    Deferred {
        #[command(subcommand)]
        command: deferred::DeferredCommand,
    },
    /// The circuit breaker on destructive requests: status, reset (needs an approver secret).
    Breaker {
        #[command(subcommand)]
        command: breaker::BreakerCommand,
    },
    /// Replay the incident against a local Railway-like API through the gateway: held, denied, audited.
    Demo(demo::DemoArgs),
    /// Put back what a snapshot kept (default: the newest one not yet restored).
    Undo(undo::UndoArgs),
    /// Snapshots taken before recoverable deletes: list, show, prune.
    Snapshots {
        #[command(subcommand)]
        command: snapshots::SnapshotsCommand,
    },
    /// Answer one agent hook call: reads the agent's hook JSON on stdin, answers in its format (fail closed).
    Hook(hook::HookArgs),
    /// Wire airlock's hook into an agent's settings (`--user`, the default, or `--project`), with a backup.
    Install(install::InstallArgs),
    /// Take airlock's hook out of an agent's settings again, with a backup.
    Uninstall(install::InstallArgs),
    /// For each agent found here: is airlock wired in, and does it deny `rm -rf ~` and allow `ls`?
    Doctor(doctor::DoctorArgs),
    /// MCP servers behind airlock: `mcp wrap --name NAME -- CMD ARGS…` judges every tool call on its arguments.
    Mcp {
        #[command(subcommand)]
        command: mcp::McpCommand,
    },
}

/// Runs a command and returns the process exit code.
pub fn run(command: Command) -> i32 {
    let result = match command {
        Command::Check(args) => check::run(*args),
        Command::Policy { command } => policy::run(command),
        Command::Explain(args) => explain::run(args),
        Command::Log(args) => log::run(args),
        Command::Token { command } => token::run(command),
        Command::Approver { command } => approver::run(command),
        Command::Approvals { command } => approvals::run(command),
        Command::Serve(args) => serve::run(args),
        Command::Deferred { command } => deferred::run(command),
        Command::Breaker { command } => breaker::run(command),
        Command::Demo(args) => demo::run(args),
        Command::Undo(args) => undo::run(args),
        Command::Snapshots { command } => snapshots::run(command),
        Command::Hook(args) => hook::run(args),
        Command::Install(args) => install::run_install(args),
        Command::Uninstall(args) => install::run_uninstall(args),
        Command::Doctor(args) => doctor::run(args),
        Command::Mcp { command } => mcp::run(command),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("airlock: {err:#}");
            airlock_engine::wire::EXIT_ERROR
        }
    }
}
