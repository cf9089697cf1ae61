//! `airlock mcp wrap --name NAME [--hold-seconds N] [--hide-denied-tools] -- CMD ARGS…`: runs an MCP server
//! behind airlock's stdio proxy (`airlock-mcp`). The agent's MCP client launches this instead of the server;
//! stdin and stdout carry the protocol, stderr carries the proxy's notices. Uses the policy, database and
//! `admin_listen` of `$AIRLOCK_HOME`, like the hook. A policy, configuration or database that cannot be
//! loaded stops it before the server starts (exit 1); so does a server that stops while the client is still
//! connected (after every request in flight was answered with an error).

use std::ffi::OsString;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Args, Subcommand};

use crate::command::home;

/// `airlock mcp …`.
#[derive(Debug, Subcommand)]
pub enum McpCommand {
    /// Run a stdio MCP server behind airlock: every `tools/call` is judged on its arguments (allowed ones
    /// are forwarded, denied ones answered with an error result, held ones wait for a person); everything
    /// else passes through untouched. Put this in the agent's MCP configuration in place of the server.
    Wrap(WrapArgs),
}

/// `airlock mcp wrap`.
#[derive(Debug, Args)]
pub struct WrapArgs {
    /// The server's name as policy and the audit log see it (e.g. `postgres`, `github`, `filesystem`).
    #[arg(long)]
    name: String,
    /// How long a call that needs a person's approval is held before it is answered with the approval id
    /// (0–3600; keep it under the agent's MCP tool timeout).
    #[arg(long, default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=3600))]
    hold_seconds: u64,
    /// Take the tools the policy denies on their name alone (called with no arguments) out of `tools/list`
    /// results; such tools are still judged if called.
    #[arg(long)]
    hide_denied_tools: bool,
    /// The server's command and arguments, after `--`.
    #[arg(last = true, required = true, num_args = 1.., value_name = "CMD")]
    command: Vec<OsString>,
}

/// Runs an `airlock mcp` command.
pub fn run(command: McpCommand) -> anyhow::Result<i32> {
    match command {
        McpCommand::Wrap(args) => wrap(args),
    }
}

fn wrap(args: WrapArgs) -> anyhow::Result<i32> {
    let mut command = args.command.into_iter();
    let program = command
        .next()
        .context("give the server's command after `--`")?;
    let airlock_home = home::airlock_home();
    let settings = crate::hook::judge::Settings::load(&airlock_home).map_err(anyhow::Error::msg)?;
    let engine = home::load_engine(None)?;
    let url = home::database_url()?;
    let mut options = airlock_mcp::WrapOptions::new(args.name, program, command.collect());
    options.hold = Duration::from_secs(args.hold_seconds);
    options.hide_denied_tools = args.hide_denied_tools;
    options.approval_page = settings.approval_page;
    options.cwd = std::env::current_dir()
        .ok()
        .map(|dir| dir.display().to_string());

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async {
        let store = airlock_store::Store::open(&url).await?;
        let gate = airlock_store::Gate::new(Arc::new(engine), store.clone());
        let ended = airlock_mcp::wrap(gate, options, tokio::io::stdin(), tokio::io::stdout()).await;
        store.close().await;
        anyhow::Ok(ended?)
    });
    // Reading stdin blocks a thread that cannot be interrupted; do not wait for it.
    runtime.shutdown_background();
    result.map(|_| 0)
}
