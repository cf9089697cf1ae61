//! `airlock serve [--config FILE] [--policy FILE]`: runs the HTTP gateway (crates/gateway) until Ctrl-C or
//! SIGTERM. The configuration is `$AIRLOCK_HOME/airlock.toml` unless `--config` names another file; `${VAR}`
//! credentials come from this process's environment, and a missing one refuses to start. Prints one line
//! with both listening addresses on stdout when ready; logs go to stderr (`RUST_LOG`). Alongside the gateway it
//! runs the deferred-request executor and, when `[webhooks.NAME]` are configured, the webhook notifier that
//! announces every new pending approval, including those held by `airlock hook` processes
//! (`airlock_gateway::webhooks`).

use std::path::PathBuf;
use std::sync::Arc;

use airlock_gateway::{Gateway, GatewayConfig};
use airlock_store::gate::Gate;
use anyhow::Context as _;
use clap::Args;

use super::home;

/// Arguments of `airlock serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Gateway configuration (default: `$AIRLOCK_HOME/airlock.toml`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Policy file instead of `$AIRLOCK_HOME/policy.cedar`.
    #[arg(long, value_name = "FILE")]
    policy: Option<PathBuf>,
}

/// Runs `airlock serve`.
pub fn run(args: ServeArgs) -> anyhow::Result<i32> {
    airlock_gateway::init_logging();
    let path = args
        .config
        .unwrap_or_else(|| home::airlock_home().join(airlock_store::config::CONFIG_FILE));
    let config = GatewayConfig::load(&path, &|name| std::env::var(name).ok())?;
    let engine = Arc::new(home::load_engine(args.policy.as_ref())?);
    let database_url = match std::env::var(airlock_store::config::DATABASE_URL_ENV)
        .ok()
        .filter(|u| !u.trim().is_empty())
        .or_else(|| config.database_url.clone())
    {
        Some(url) => url,
        None => home::database_url()?,
    };
    // This thread's runtime runs the admin listener, the audit writer and the background tasks; agent
    // connections are served on one thread per core, each with a runtime of its own (see
    // `Gateway::with_agent_threads`).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        // Group commit: the audit entries of concurrent requests share one transaction.
        let store = airlock_store::Store::open(&database_url)
            .await?
            .with_group_commit();
        let gate = Gate::new(engine, store.clone());
        let bound = Gateway::new(config, gate)
            .with_agent_threads(airlock_gateway::agent_threads())
            .bind()
            .await?;
        println!(
            "airlock serve: agents on http://{}, admin on http://{}",
            bound.agent_addr(),
            bound.admin_addr()
        );
        use std::io::Write as _;
        let _ = std::io::stdout().flush();
        bound.run(shutdown_signal()).await?;
        store.close().await;
        anyhow::Ok(())
    })?;
    Ok(0)
}

/// Ctrl-C, or SIGTERM on Unix.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => {
                    let _ = tokio::signal::ctrl_c().await;
                    return;
                }
            };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    eprintln!("airlock serve: stopping (finishing the requests in flight)");
}
