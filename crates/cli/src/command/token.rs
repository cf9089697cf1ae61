//! `airlock token create|list|revoke`: agent tokens. The token is printed once at creation; only its hash is
//! stored.

use airlock_store::clock;
use clap::Subcommand;

use super::home;

/// `airlock token` subcommands.
#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create an agent token and print it (once: it cannot be shown again).
    Create {
        /// Token name (letters, digits, `-`, `_`, `.`); it names the agent in the audit log.
        name: String,
        /// Upstreams the token may call, comma-separated.
        #[arg(long, value_delimiter = ',', value_name = "UPSTREAM,…")]
        scope: Vec<String>,
        /// Lifetime, e.g. `30d`, `12h`; no expiry when absent.
        #[arg(long, value_name = "DURATION")]
        expires: Option<String>,
    },
    /// List tokens (never the tokens themselves).
    List {
        /// JSON array instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a token: it stops working at once.
    Revoke {
        /// Token name.
        name: String,
    },
}

/// Runs `airlock token`.
pub fn run(command: TokenCommand) -> anyhow::Result<i32> {
    match command {
        TokenCommand::Create {
            name,
            scope,
            expires,
        } => {
            let ttl = expires.as_deref().map(clock::parse_duration).transpose()?;
            let scope: Vec<String> = scope
                .into_iter()
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect();
            let (record, token) = home::with_store(|store| async move {
                Ok(store.create_token(&name, &scope, ttl).await?)
            })?;
            println!("{token}");
            let expiry = record
                .expires_ms
                .map(clock::format_ms)
                .unwrap_or_else(|| "never".into());
            eprintln!(
                "created agent token `{}` (scopes: {}; expires: {expiry}); it is shown only this once — store it now",
                record.name,
                if record.scopes.is_empty() {
                    "none".to_string()
                } else {
                    record.scopes.join(",")
                }
            );
            Ok(0)
        }
        TokenCommand::List { json } => {
            let tokens = home::with_store(|store| async move { Ok(store.list_tokens().await?) })?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
                return Ok(0);
            }
            if tokens.is_empty() {
                println!("no agent tokens");
                return Ok(0);
            }
            let now = airlock_store::Clock::now_ms(&airlock_store::SystemClock);
            println!(
                "{:<20}  {:<8}  {:<24}  {:<24}  SCOPES",
                "NAME", "STATUS", "CREATED", "EXPIRES"
            );
            for t in tokens {
                let status = if t.revoked_ms.is_some() {
                    "revoked"
                } else if t.expires_ms.is_some_and(|e| now >= e) {
                    "expired"
                } else {
                    "active"
                };
                let expires = t
                    .expires_ms
                    .map(clock::format_ms)
                    .unwrap_or_else(|| "never".into());
                println!(
                    "{:<20}  {:<8}  {:<24}  {:<24}  {}",
                    t.name,
                    status,
                    clock::format_ms(t.created_ms),
                    expires,
                    t.scopes.join(",")
                );
            }
            Ok(0)
        }
        TokenCommand::Revoke { name } => {
            let shown = name.clone();
            home::with_store(|store| async move { Ok(store.revoke_token(&name).await?) })?;
            println!("revoked agent token `{shown}`");
            Ok(0)
        }
    }
}
