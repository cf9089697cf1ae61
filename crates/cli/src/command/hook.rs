//! `airlock hook claude-code|cursor|codex|gemini`: answers one agent hook call (the work is in `crate::hook`).
//! Hook calls normally skip flag parsing altogether (`main.rs`); this is the same command reached through clap,
//! for `--help` and unusual argument spellings.

use clap::Args;

/// Arguments of `airlock hook`.
#[derive(Debug, Args)]
pub struct HookArgs {
    /// The agent whose hook protocol to speak: claude-code, cursor, codex or gemini.
    #[arg(value_name = "AGENT")]
    agent: String,
}

/// Runs `airlock hook`.
pub fn run(args: HookArgs) -> anyhow::Result<i32> {
    Ok(crate::hook::run_process(&args.agent))
}
