//! Subcommands, one file each; `run` dispatches and turns errors into exit code 1 with a message.

mod approvals;
mod approver;
mod check;
mod explain;
mod home;
mod log;
mod policy;
mod token;

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
    /// Held requests: list, show, approve, deny (needs an approver secret).
    Approvals {
        #[command(subcommand)]
        command: approvals::ApprovalsCommand,
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
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("airlock: {err:#}");
            airlock_engine::wire::EXIT_ERROR
        }
    }
}
