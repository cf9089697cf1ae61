//! `airlock approver add|list|remove`: the people who can approve held requests. `add` prints the approver's
//! secret once; only an argon2 hash is stored. Once an approver exists, adding or removing one needs an
//! existing approver's secret, so the agent's side cannot make itself an approver.

use airlock_store::{Store, clock};
use clap::Subcommand;

use super::home;

/// `airlock approver` subcommands.
#[derive(Debug, Subcommand)]
pub enum ApproverCommand {
    /// Add an approver and print their secret (once: it cannot be shown again).
    Add {
        /// Approver name.
        name: String,
    },
    /// List approvers.
    List {
        /// JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Remove an approver: their secret stops working at once.
    Remove {
        /// Approver name.
        name: String,
    },
}

/// After the first approver, changes to the approver list need an approver's secret.
async fn require_approver_if_any(store: &Store) -> anyhow::Result<()> {
    let active = store
        .list_approvers()
        .await?
        .iter()
        .filter(|a| a.revoked_ms.is_none())
        .count();
    if active > 0 {
        let secret = home::approver_secret()?;
        store.authenticate_approver(&secret).await?;
    }
    Ok(())
}

/// Runs `airlock approver`.
pub fn run(command: ApproverCommand) -> anyhow::Result<i32> {
    match command {
        ApproverCommand::Add { name } => {
            let (approver, secret) = home::with_store(|store| async move {
                require_approver_if_any(&store).await?;
                Ok(store.add_approver(&name).await?)
            })?;
            println!("{secret}");
            eprintln!(
                "added approver `{}`; the secret above is shown only this once — give it to them out of the agent's reach",
                approver.name
            );
            Ok(0)
        }
        ApproverCommand::List { json } => {
            let approvers =
                home::with_store(|store| async move { Ok(store.list_approvers().await?) })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&approvers)?);
            } else if approvers.is_empty() {
                println!("no approvers");
            } else {
                println!("{:<20}  {:<8}  CREATED", "NAME", "STATUS");
                for a in approvers {
                    let status = if a.revoked_ms.is_some() {
                        "removed"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<20}  {:<8}  {}",
                        a.name,
                        status,
                        clock::format_ms(a.created_ms)
                    );
                }
            }
            Ok(0)
        }
        ApproverCommand::Remove { name } => {
            let shown = name.clone();
            home::with_store(|store| async move {
                require_approver_if_any(&store).await?;
                Ok(store.remove_approver(&name).await?)
            })?;
            println!("removed approver `{shown}`");
            Ok(0)
        }
    }
}
