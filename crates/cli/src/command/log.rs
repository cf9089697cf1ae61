//! `airlock log`: list audit entries (a table, or `--json`), `log verify [--head HASH]` proves the hash chain
//! or names the first bad entry, `log head` prints the entry count and head hash for anchoring elsewhere.

use airlock_store::{AuditEntry, AuditFilter, Clock as _, SystemClock, clock};
use anyhow::Context as _;
use clap::{Args, Subcommand};

use super::home;

/// Arguments of `airlock log`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct LogArgs {
    #[command(subcommand)]
    command: Option<LogCommand>,
    /// One JSON object per line instead of a table.
    #[arg(long)]
    json: bool,
    /// Only this agent.
    #[arg(long)]
    agent: Option<String>,
    /// Only this decision.
    #[arg(long, value_parser = ["allow", "ask", "deny"])]
    decision: Option<String>,
    /// Only entries since T: RFC 3339 (`2026-05-01T12:00:00Z`), a date (`2026-05-01`) or a duration ago (`2h`).
    #[arg(long, value_name = "T")]
    since: Option<String>,
    /// Show the last N matching entries (default 50; 0 for all).
    #[arg(long, value_name = "N", default_value_t = 50)]
    limit: u32,
}

/// `airlock log` subcommands.
#[derive(Debug, Subcommand)]
pub enum LogCommand {
    /// Prove the hash chain: exit 0 with the count and head hash, or non-zero naming the first bad entry.
    Verify {
        /// A head hash recorded earlier (`airlock log head`): it must still be in the log, so a cut tail is detected.
        #[arg(long, value_name = "HASH")]
        head: Option<String>,
        /// Print the report as JSON.
        #[arg(long)]
        json: bool,
    },
    /// Print the number of entries and the head hash (`COUNT HASH`), to anchor elsewhere.
    Head {
        /// Print as JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Runs `airlock log`.
pub fn run(args: LogArgs) -> anyhow::Result<i32> {
    match args.command {
        Some(LogCommand::Verify { head, json }) => home::with_store(|store| async move {
            let report = store.verify(head.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string(&report)?);
            }
            match &report.problem {
                None => {
                    if !json {
                        println!("ok: {} entries, head {}", report.count, report.head);
                    }
                    Ok(0)
                }
                Some(problem) => {
                    eprintln!(
                        "airlock: the audit log does not verify: {}",
                        problem.message
                    );
                    eprintln!(
                        "airlock: {} entries before it verify, up to head {}",
                        report.count, report.head
                    );
                    Ok(1)
                }
            }
        }),
        Some(LogCommand::Head { json }) => home::with_store(|store| async move {
            let head = store.head().await?;
            if json {
                println!("{}", serde_json::to_string(&head)?);
            } else {
                println!("{} {}", head.count, head.hash);
            }
            Ok(0)
        }),
        None => list(args),
    }
}

fn list(args: LogArgs) -> anyhow::Result<i32> {
    let since_ms = match &args.since {
        Some(since) => Some(clock::parse_since(since, SystemClock.now_ms()).context("--since")?),
        None => None,
    };
    let filter = AuditFilter {
        agent: args.agent.clone(),
        decision: args.decision.clone(),
        since_ms,
        limit: Some(args.limit).filter(|l| *l > 0),
    };
    let entries = home::with_store(|store| async move { Ok(store.list(&filter).await?) })?;
    if args.json {
        for entry in &entries {
            println!("{}", entry_json(entry));
        }
    } else {
        print_table(&entries);
    }
    Ok(0)
}

fn entry_json(entry: &AuditEntry) -> serde_json::Value {
    serde_json::json!({
        "seq": entry.seq,
        "time": clock::format_ms(entry.ts_ms),
        "agent": entry.agent,
        "session": entry.session,
        "kind": entry.kind,
        "digest": entry.digest,
        "summary": entry.summary,
        "decision": entry.decision,
        "reasons": serde_json::from_str::<serde_json::Value>(&entry.reasons).unwrap_or(serde_json::Value::Null),
        "mitigation": entry.mitigation,
        "approval_id": entry.approval_id,
        "outcome": entry.outcome,
        "prev_hash": entry.prev_hash,
        "hash": entry.hash,
    })
}

fn print_table(entries: &[AuditEntry]) {
    if entries.is_empty() {
        println!("no audit entries");
        return;
    }
    println!(
        "{:>6}  {:<20}  {:<14}  {:<8}  {:<9}  SUMMARY",
        "SEQ", "TIME", "AGENT", "DECISION", "OUTCOME"
    );
    for e in entries {
        let time = clock::format_ms(e.ts_ms);
        let time: String = time.chars().take(19).collect();
        let agent = airlock_store::redact::truncate_chars(e.agent.as_deref().unwrap_or("-"), 14);
        let summary = airlock_store::redact::truncate_chars(&e.summary, 100);
        println!(
            "{:>6}  {:<20}  {:<14}  {:<8}  {:<9}  {}",
            e.seq, time, agent, e.decision, e.outcome, summary
        );
    }
}
