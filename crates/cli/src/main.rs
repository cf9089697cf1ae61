//! The `airlock` binary: parses flags and dispatches to one command module; the work is in the libraries.

mod command;

use std::process::ExitCode;

use clap::Parser;

/// airlock: the gate between AI coding agents and production.
#[derive(Debug, Parser)]
#[command(name = "airlock", version, about, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: command::Command,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let code = command::run(cli.command);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
}
