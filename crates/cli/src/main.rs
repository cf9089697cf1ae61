//! The `airlock` binary: parses flags and dispatches to one command module; the work is in the libraries.

mod command;
mod hook;

use std::process::ExitCode;

use clap::Parser;

/// mimalloc instead of the system allocator: the gateway allocates per request (headers, envelope, audit
/// record) and glibc's malloc/free took about a tenth of its CPU time (`scripts/bench-gateway`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// airlock: the gate between AI coding agents and production.
#[derive(Debug, Parser)]
#[command(name = "airlock", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: command::Command,
}

fn main() -> ExitCode {
    // `airlock hook AGENT` runs on every tool call of an agent: it skips building the flag parser, and exits
    // without tearing anything down (see `hook`).
    let mut args = std::env::args_os().skip(1);
    if let (Some(command), Some(agent), None) = (args.next(), args.next(), args.next())
        && command == "hook"
        && let Some(agent) = agent.to_str().filter(|a| !a.starts_with('-'))
    {
        std::process::exit(hook::run_process(agent));
    }
    // The resident judge hook calls start (see `hook::resident`); not a command for people.
    let mut args = std::env::args_os().skip(1);
    if let (Some(command), None) = (args.next(), args.next())
        && command == "resident-judge"
    {
        std::process::exit(hook::resident::serve());
    }
    let cli = Cli::parse();
    let code = command::run(cli.command);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
