//! `airlock policy check [FILE]`: parse and validate a policy against the schema and airlock's conventions.

use std::path::PathBuf;

use airlock_engine::policy::{DEFAULT_POLICY, Policy};
use anyhow::Context as _;
use clap::Subcommand;

use super::home;

/// `airlock policy …`
#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Validate FILE (or the default policy plus `$AIRLOCK_HOME/policy.cedar` if present). Exit 0 if valid.
    Check {
        /// The policy file to check.
        file: Option<PathBuf>,
    },
}

/// Runs `airlock policy …`.
pub fn run(command: PolicyCommand) -> anyhow::Result<i32> {
    match command {
        PolicyCommand::Check { file } => {
            let n = Policy::check("default.cedar", DEFAULT_POLICY)?;
            let user = file.or_else(|| Some(home::user_policy_path()).filter(|p| p.exists()));
            match user {
                None => println!("ok: default policy, {n} rules"),
                Some(path) => {
                    let text = std::fs::read_to_string(&path)
                        .with_context(|| format!("cannot read policy file `{}`", path.display()))?;
                    let m = Policy::check(&path.display().to_string(), &text)?;
                    Policy::with_user_policy(&path.display().to_string(), &text)?;
                    println!(
                        "ok: `{}`, {m} rules (on top of the default policy, {n} rules)",
                        path.display()
                    );
                }
            }
            Ok(0)
        }
    }
}
