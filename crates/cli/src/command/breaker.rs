//! `airlock breaker status|reset`: the circuit breaker on destructive requests. Anyone may look; only a
//! person with an approver secret (`AIRLOCK_APPROVER_SECRET`, or a prompt in a terminal) may reset — an agent
//! resetting its own breaker would defeat it, and an agent token is refused.

use airlock_store::{BreakerScope, BreakerStatus, clock};
use clap::{ArgGroup, Subcommand};

use super::home;

/// `airlock breaker` subcommands.
#[derive(Debug, Subcommand)]
pub enum BreakerCommand {
    /// Show tripped breakers and destructive requests per agent and upstream in the current window.
    Status {
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Reset a tripped breaker (needs an approver secret); its count starts again from zero.
    #[command(group(ArgGroup::new("target").required(true).args(["agent", "upstream", "all"])))]
    Reset {
        /// The agent (token name) whose breaker to reset.
        #[arg(long)]
        agent: Option<String>,
        /// The upstream whose breaker to reset.
        #[arg(long)]
        upstream: Option<String>,
        /// Reset every breaker.
        #[arg(long)]
        all: bool,
    },
}

/// Runs `airlock breaker`.
pub fn run(command: BreakerCommand) -> anyhow::Result<i32> {
    match command {
        BreakerCommand::Status { json } => {
            let limits = airlock_store::config::breaker_limits(&home::airlock_home())?;
            let status =
                home::with_store(|store| async move { Ok(store.breaker_status(&limits).await?) })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&status)?);
            } else {
                print_status(&status);
            }
            Ok(0)
        }
        BreakerCommand::Reset {
            agent,
            upstream,
            all: _,
        } => {
            let scope = match (agent, upstream) {
                (Some(agent), _) => Some(BreakerScope::agent(agent)),
                (None, Some(upstream)) => Some(BreakerScope::upstream(upstream)),
                (None, None) => None,
            };
            let what = scope
                .as_ref()
                .map_or_else(|| "every breaker".to_string(), ToString::to_string);
            let trips = home::with_store(|store| async move {
                let secret = home::approver_secret()?;
                let approver = store.authenticate_approver(&secret).await?;
                Ok(store.reset_breaker(scope.as_ref(), &approver).await?)
            })?;
            if trips.is_empty() {
                println!("{what}: nothing was tripped; its count starts again from zero");
            } else {
                for trip in &trips {
                    println!(
                        "reset the breaker of {} (tripped at {}: {})",
                        trip.scope,
                        clock::format_ms(trip.tripped_ms),
                        trip.reason
                    );
                }
            }
            Ok(0)
        }
    }
}

fn print_status(status: &BreakerStatus) {
    let limits = &status.limits;
    println!(
        "limits: more than {} destructive requests from one agent, or more than {} to one upstream, within {} s trips the breaker",
        limits.per_agent, limits.per_upstream, limits.window_seconds
    );
    if status.tripped.is_empty() {
        println!("no breaker is tripped");
    }
    for trip in &status.tripped {
        println!(
            "TRIPPED  {} since {}: {}",
            trip.scope,
            clock::format_ms(trip.tripped_ms),
            trip.reason
        );
        println!("         reset with `{}`", trip.reset_command());
    }
    let counts = |kind: &str, list: &[airlock_store::breaker::ScopeCount], limit: u32| {
        for c in list {
            println!("{kind:<9} {:<24} {}/{limit}", c.name, c.count);
        }
    };
    if !status.agents.is_empty() || !status.upstreams.is_empty() {
        println!("in the last {} s:", limits.window_seconds);
        counts("agent", &status.agents, limits.per_agent);
        counts("upstream", &status.upstreams, limits.per_upstream);
    }
}
