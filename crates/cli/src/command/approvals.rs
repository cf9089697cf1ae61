//! `airlock approvals list|show|approve|deny`: held requests and the people who decide on them. Every
//! subcommand needs an approver secret (`AIRLOCK_APPROVER_SECRET`, or a prompt in a terminal); an agent token
//! is refused.

use airlock_store::{Approval, AuthenticatedApprover, Store, clock};
use clap::Subcommand;

use super::home;

/// `airlock approvals` subcommands.
#[derive(Debug, Subcommand)]
pub enum ApprovalsCommand {
    /// List pending approvals (newest first).
    List {
        /// Include decided, expired and consumed approvals.
        #[arg(long)]
        all: bool,
        /// JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Show one approval: the request summary, digest, reasons and votes.
    Show {
        /// Approval id (`apr_…`).
        id: String,
        /// JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Approve a held request (it can then run once, exactly as it was asked).
    Approve {
        /// Approval id.
        id: String,
    },
    /// Deny a held request.
    Deny {
        /// Approval id.
        id: String,
        /// Why (recorded and shown to the agent).
        #[arg(long)]
        reason: String,
    },
}

async fn authenticate(store: &Store) -> anyhow::Result<AuthenticatedApprover> {
    let secret = home::approver_secret()?;
    Ok(store.authenticate_approver(&secret).await?)
}

/// Runs `airlock approvals`.
pub fn run(command: ApprovalsCommand) -> anyhow::Result<i32> {
    match command {
        ApprovalsCommand::List { all, json } => {
            let approvals = home::with_store(|store| async move {
                authenticate(&store).await?;
                Ok(store.list_approvals(all).await?)
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&approvals)?);
            } else if approvals.is_empty() {
                println!(
                    "{}",
                    if all {
                        "no approvals"
                    } else {
                        "no pending approvals"
                    }
                );
            } else {
                println!(
                    "{:<20}  {:<9}  {:<14}  {:<5}  {:<24}  SUMMARY",
                    "ID", "STATE", "REQUESTER", "VOTES", "EXPIRES"
                );
                for a in &approvals {
                    let summary = airlock_store::redact::truncate_chars(&a.summary, 90);
                    println!(
                        "{:<20}  {:<9}  {:<14}  {:<5}  {:<24}  {}",
                        a.id,
                        a.state.as_str(),
                        a.requester,
                        format!("{}/{}", approve_votes(a), a.required),
                        clock::format_ms(a.expires_ms),
                        summary
                    );
                }
            }
            Ok(0)
        }
        ApprovalsCommand::Show { id, json } => {
            let approval = home::with_store(|store| async move {
                authenticate(&store).await?;
                Ok(store.approval(&id).await?)
            })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&approval)?);
            } else {
                print_approval(&approval);
            }
            Ok(0)
        }
        ApprovalsCommand::Approve { id } => {
            let approval = home::with_store(|store| async move {
                let approver = authenticate(&store).await?;
                Ok(store.approve(&id, &approver).await?)
            })?;
            match approval.state {
                airlock_store::ApprovalState::Approved => {
                    println!(
                        "approved {}: it may run once, exactly as requested",
                        approval.id
                    )
                }
                _ => println!(
                    "recorded approval {} of {} for {}; waiting for another approver",
                    approve_votes(&approval),
                    approval.required,
                    approval.id
                ),
            }
            Ok(0)
        }
        ApprovalsCommand::Deny { id, reason } => {
            let approval = home::with_store(|store| async move {
                let approver = authenticate(&store).await?;
                Ok(store.deny(&id, &approver, &reason).await?)
            })?;
            println!("denied {}", approval.id);
            Ok(0)
        }
    }
}

fn approve_votes(a: &Approval) -> usize {
    a.votes.iter().filter(|v| v.vote == "approve").count()
}

fn print_approval(a: &Approval) {
    println!("approval   {}", a.id);
    println!("state      {}", a.state.as_str());
    println!(
        "requester  {}{}",
        a.requester,
        a.session
            .as_deref()
            .map(|s| format!(" (session {s})"))
            .unwrap_or_default()
    );
    println!("request    {}", a.summary);
    println!("digest     {}", a.digest);
    println!("created    {}", clock::format_ms(a.created_ms));
    println!("expires    {}", clock::format_ms(a.expires_ms));
    println!("approvals  {} of {} needed", approve_votes(a), a.required);
    if let Some(reasons) = a.reasons.as_array() {
        for r in reasons {
            let rule = r.get("rule").and_then(|v| v.as_str()).unwrap_or("-");
            let message = r.get("message").and_then(|v| v.as_str()).unwrap_or("");
            println!("reason     {rule}: {message}");
        }
    }
    for v in &a.votes {
        let reason = v
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        println!(
            "vote       {} {} at {}{reason}",
            v.approver,
            v.vote,
            clock::format_ms(v.ts_ms)
        );
    }
    if let Some(reason) = &a.deny_reason {
        println!("denied     {reason}");
    }
}
