//! `airlock deferred list|cancel`: requests the policy deferred (a remote delete replayed after a cancel
//! window by `airlock serve`). Anyone may list and cancel — cancelling is the safe direction — so no approver
//! secret is needed; when `AIRLOCK_APPROVER_SECRET` is set, the cancellation is recorded under that
//! approver's name, otherwise under the OS user's.

use airlock_store::{Deferred, DeferredState, Store, clock};
use clap::Subcommand;

use super::home;

/// `airlock deferred` subcommands.
#[derive(Debug, Subcommand)]
pub enum DeferredCommand {
    /// List deferred requests waiting to run (and any running or of unknown outcome), soonest first.
    List {
        /// Include executed, failed and cancelled ones.
        #[arg(long)]
        all: bool,
        /// JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Cancel a pending deferred request: it will never run.
    Cancel {
        /// Deferred request id (`def_…`).
        id: String,
    },
}

/// Who is cancelling: the approver whose secret is in the environment, else the OS user.
async fn who(store: &Store) -> anyhow::Result<String> {
    if let Some(secret) = std::env::var("AIRLOCK_APPROVER_SECRET")
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        return Ok(store
            .authenticate_approver(&secret)
            .await?
            .name()
            .to_string());
    }
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| "unknown".to_string());
    Ok(format!("os-user:{user}"))
}

/// Runs `airlock deferred`.
pub fn run(command: DeferredCommand) -> anyhow::Result<i32> {
    match command {
        DeferredCommand::List { all, json } => {
            let (deferred, now) = home::with_store(|store| async move {
                Ok((store.list_deferred(all).await?, store.now_ms()))
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&deferred)?);
            } else if deferred.is_empty() {
                println!(
                    "{}",
                    if all {
                        "no deferred requests"
                    } else {
                        "no pending deferred requests"
                    }
                );
            } else {
                print_table(&deferred, now);
            }
            Ok(0)
        }
        DeferredCommand::Cancel { id } => {
            let deferred = home::with_store(|store| async move {
                let who = who(&store).await?;
                Ok(store.cancel_deferred(&id, &who).await?)
            })?;
            println!(
                "cancelled {}: it will not run ({})",
                deferred.id,
                airlock_store::redact::truncate_chars(&deferred.summary, 120)
            );
            Ok(0)
        }
    }
}

/// `in 9m 58s`, `3m 2s ago`.
fn relative(ms: i64, now: i64) -> String {
    let delta = ms.saturating_sub(now);
    let secs = delta.unsigned_abs() / 1000;
    let text = if secs >= 3600 {
        format!("{}h {}m", secs / 3600, secs % 3600 / 60)
    } else if secs >= 60 {
        format!("{}m {}s", secs / 60, secs % 60)
    } else {
        format!("{secs}s")
    };
    if delta >= 0 {
        format!("in {text}")
    } else {
        format!("{text} ago")
    }
}

fn print_table(deferred: &[Deferred], now: i64) {
    println!(
        "{:<20}  {:<9}  {:<14}  {:<10}  {:<38}  SUMMARY",
        "ID", "STATE", "AGENT", "UPSTREAM", "RUNS"
    );
    for d in deferred {
        let when = match d.state {
            DeferredState::Pending => format!(
                "{} ({})",
                clock::format_ms(d.executes_at_ms),
                relative(d.executes_at_ms, now)
            ),
            _ => clock::format_ms(d.finished_ms.or(d.claimed_ms).unwrap_or(d.executes_at_ms)),
        };
        let result = match (d.state, d.result_status, &d.cancelled_by) {
            (DeferredState::Cancelled, _, Some(by)) => format!(" [cancelled by {by}]"),
            (_, Some(status), _) => format!(" [{status}]"),
            (DeferredState::Unknown, _, _) => {
                " [outcome unknown: airlock stopped while sending it; check the upstream]"
                    .to_string()
            }
            (DeferredState::Failed, None, _) => {
                format!(" [{}]", d.result_summary.as_deref().unwrap_or("no answer"))
            }
            _ => String::new(),
        };
        println!(
            "{:<20}  {:<9}  {:<14}  {:<10}  {:<38}  {}{result}",
            d.id,
            d.state.as_str(),
            d.agent.as_deref().unwrap_or("-"),
            d.upstream,
            when,
            airlock_store::redact::truncate_chars(&d.summary, 120),
        );
    }
}
