//! airlock-gateway: the HTTP gateway with credential custody. Agents call an upstream API as
//! `http://GATEWAY/u/NAME/PATH` with their airlock token (`Authorization: Bearer alt_…`); the gateway keeps
//! the upstream's credential, judges every call with the engine (method, URL, headers, decoded body,
//! GraphQL inside it) through the shared [`Gate`], and then forwards it, refuses it (403), or holds it for
//! a person (202 after `hold_seconds`, forwarded once when the identical request comes back approved).
//!
//! - [`config`]: `airlock.toml` (`listen`, `admin_listen`, `hold_seconds`, `max_body_bytes`,
//!   `[upstreams.NAME]`);
//! - [`route`]: `/u/NAME/…` and the request targets refused as ambiguous;
//! - [`custody`]: the agent's token and scopes; what is stripped and what is injected; [`tokens`]: how long a
//!   valid token is trusted before the store is asked again (one second);
//! - [`body`]: the body cap and content decoding;
//! - [`proxy`]: the pipeline, and the [`ForwardGuard`] hook; [`breaker`]: the circuit breaker on
//!   destructive requests; [`deferred`]: what the policy marks `defer` is stored and run after the cancel
//!   window by the [`DeferredExecutor`];
//! - [`mcp_http`]: remote MCP servers (`[mcp_servers.NAME]`) at `/mcp/NAME`, every `tools/call` judged;
//! - [`reply`]: every status and JSON body the gateway answers in its own name;
//! - [`admin`]: `/healthz`, `/metrics`, `/api/approvals/ID`, the approval page (`airlock-web`); [`metrics`]: what is measured;
//! - [`webhooks`]: `[webhooks.NAME]` are told about every new pending approval (signed JSON or Slack text);
//! - agent connections are served on the runtime that runs the gateway, or on threads of their own
//!   ([`Gateway::with_agent_threads`]; `airlock serve`: one per core).
//!
//! ```no_run
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use airlock_gateway::{Gateway, GatewayConfig};
//! use airlock_store::{Store, gate::Gate};
//! let config = GatewayConfig::load("airlock.toml".as_ref(), &|v| std::env::var(v).ok())?;
//! let gate = Gate::new(Arc::new(airlock_engine::Engine::new()?), Store::open("sqlite://airlock.db").await?);
//! let bound = Gateway::new(config, gate).bind().await?;
//! println!("agents: http://{}", bound.agent_addr());
//! bound.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod admin;
pub mod body;
pub mod breaker;
pub mod config;
mod connections;
pub mod custody;
pub mod deferred;
pub mod error;
pub mod mcp_http;
pub mod metrics;
pub mod proxy;
pub mod reply;
pub mod route;
pub mod tokens;
pub mod upstream;
pub mod webhooks;
mod workers;

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use airlock_store::gate::Gate;
use axum::serve::ListenerExt as _;
use tokio::net::TcpListener;

pub use config::GatewayConfig;
pub use connections::UpstreamBody;
pub use deferred::DeferredExecutor;
pub use error::{ConfigError, GatewayError};
pub use proxy::{AllowedCall, ForwardGuard, GuardFuture, Guarded};
pub use upstream::Upstream;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`: holds, denials, refusals, failures; each
/// forwarded request is `debug`). Log lines carry token names, upstream names and ids, never a token, a
/// credential, a header value, a path or a body. Does nothing if a subscriber is already installed.
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

/// How many threads `airlock serve` serves agent connections on: one per core.
pub fn agent_threads() -> usize {
    std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get)
}

/// A gateway not yet listening: configuration, gate and guards.
pub struct Gateway {
    config: GatewayConfig,
    gate: Gate,
    guards: Vec<Arc<dyn ForwardGuard>>,
    token_recheck: Duration,
    executor_interval: Duration,
    webhook_interval: Duration,
    agent_threads: usize,
}

impl Gateway {
    /// A gateway for `config`, judging with `gate`.
    pub fn new(config: GatewayConfig, gate: Gate) -> Self {
        Self {
            config,
            gate,
            guards: Vec::new(),
            token_recheck: tokens::TOKEN_RECHECK,
            executor_interval: deferred::EXECUTOR_INTERVAL,
            webhook_interval: webhooks::POLL_INTERVAL,
            agent_threads: 0,
        }
    }

    /// Serves agent connections on `threads` threads of their own, each with a single-threaded runtime and
    /// its own upstream connection pools, connections dealt in turn (`airlock serve`: one per core). Zero,
    /// the default, serves them on the runtime that runs the gateway.
    pub fn with_agent_threads(mut self, threads: usize) -> Self {
        self.agent_threads = threads;
        self
    }

    /// How often the webhook notifier looks for new pending approvals when nothing is due sooner (default
    /// [`webhooks::POLL_INTERVAL`], one second).
    pub fn with_webhook_interval(mut self, interval: Duration) -> Self {
        self.webhook_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How often the deferred-request executor looks for due requests (default
    /// [`deferred::EXECUTOR_INTERVAL`], one second).
    pub fn with_executor_interval(mut self, interval: Duration) -> Self {
        self.executor_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How long a valid agent token is trusted before the store is asked again (default
    /// [`tokens::TOKEN_RECHECK`], one second; zero asks on every request).
    pub fn with_token_recheck(mut self, recheck: Duration) -> Self {
        self.token_recheck = recheck;
        self
    }

    /// Adds a check that runs on every allowed request just before it is forwarded (see
    /// [`ForwardGuard`]), after the built-in ones: the circuit breaker, then deferral (unless
    /// `defer_seconds = 0`).
    pub fn with_guard(mut self, guard: Arc<dyn ForwardGuard>) -> Self {
        self.guards.push(guard);
        self
    }

    /// Builds the upstream clients (TLS roots, credentials) and binds both listeners.
    pub async fn bind(self) -> Result<BoundGateway, GatewayError> {
        // Before the upstreams: their metric handles register with the recorder.
        let metrics = metrics::install();
        let mut upstreams = HashMap::new();
        for (name, upstream) in &self.config.upstreams {
            upstreams.insert(name.clone(), Upstream::new(upstream.clone())?);
        }
        let bind = |addr: SocketAddr, what: &'static str| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| GatewayError::Bind { addr, what, source })
        };
        let agent = bind(self.config.listen, "agents").await?;
        let admin = bind(self.config.admin_listen, "admin").await?;
        let agent_addr = local_addr(&agent, self.config.listen, "agents")?;
        let admin_addr = local_addr(&admin, self.config.admin_listen, "admin")?;
        let admin_host = if admin_addr.ip().is_unspecified() {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), admin_addr.port())
        } else {
            admin_addr
        };
        let mut guards: Vec<Arc<dyn ForwardGuard>> =
            vec![Arc::new(breaker::BreakerGuard::new(self.config.breaker))];
        let defer_seconds = self
            .config
            .defer_seconds
            .unwrap_or(airlock_store::deferred::DEFAULT_DEFER_SECONDS);
        if defer_seconds > 0 {
            guards.push(Arc::new(deferred::DeferGuard::new(Duration::from_secs(
                defer_seconds,
            ))));
        }
        guards.extend(self.guards);
        let approval_page = airlock_store::links::ApprovalPage::new(
            self.config.public_url.as_deref(),
            &admin_host.to_string(),
        );
        let shared = Arc::new(proxy::Shared {
            gate: self.gate.clone(),
            upstreams,
            hold: Duration::from_secs(self.config.hold_seconds),
            max_body_bytes: self.config.max_body_bytes,
            admin_base: format!("http://{admin_host}"),
            approval_page: approval_page.clone(),
            guards,
            tokens: Arc::new(tokens::TokenChecker::new(self.token_recheck)),
        });
        let mcp = Arc::new(mcp_http::McpState::new(
            shared.clone(),
            &self.config.mcp_servers,
        )?);
        let notifier = webhooks::Notifier::new(
            self.gate.store().clone(),
            &self.config.webhooks,
            approval_page,
        )?;
        let admin_state = Arc::new(admin::AdminState {
            gate: self.gate,
            metrics,
        });
        Ok(BoundGateway {
            agent,
            admin,
            agent_addr,
            admin_addr,
            shared,
            admin_state,
            mcp,
            breaker: self.config.breaker,
            executor_interval: self.executor_interval,
            notifier,
            webhook_interval: self.webhook_interval,
            agent_threads: self.agent_threads,
        })
    }
}

fn local_addr(
    listener: &TcpListener,
    addr: SocketAddr,
    what: &'static str,
) -> Result<SocketAddr, GatewayError> {
    listener
        .local_addr()
        .map_err(|source| GatewayError::Bind { addr, what, source })
}

/// A gateway bound to its addresses, ready to serve.
pub struct BoundGateway {
    agent: TcpListener,
    admin: TcpListener,
    agent_addr: SocketAddr,
    admin_addr: SocketAddr,
    shared: Arc<proxy::Shared>,
    admin_state: Arc<admin::AdminState>,
    /// `/mcp/NAME`: remote MCP servers.
    mcp: Arc<mcp_http::McpState>,
    breaker: airlock_store::breaker::BreakerLimits,
    executor_interval: Duration,
    notifier: webhooks::Notifier,
    webhook_interval: Duration,
    agent_threads: usize,
}

impl BoundGateway {
    /// The executor of deferred requests over this gateway's upstreams and store ([`BoundGateway::run`]
    /// runs one in the background; more may run at once, in this process or others).
    pub fn deferred_executor(&self) -> DeferredExecutor {
        DeferredExecutor::new(self.shared.clone())
    }

    /// Where agents connect.
    pub fn agent_addr(&self) -> SocketAddr {
        self.agent_addr
    }

    /// Where the admin listener is.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// Serves both listeners until `shutdown` completes (then stops accepting and lets requests in flight
    /// finish), or until a listener fails. Runs the deferred-request executor, the breaker gauge's watcher
    /// and the webhook notifier (when webhooks are configured) alongside, until then.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), GatewayError> {
        let executor = DeferredExecutor::new(self.shared.clone());
        let store = self.shared.gate.store().clone();
        let admin = admin::router(self.admin_state.clone());
        if let Some(handle) = self.admin_state.metrics.clone() {
            tokio::spawn(metrics::upkeep(handle));
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let wait = workers::stopped;
        let agent_server: std::pin::Pin<Box<dyn Future<Output = std::io::Result<()>> + Send>> =
            if self.agent_threads == 0 {
                let agent_listener = self.agent.tap_io(|tcp| {
                    let _ = tcp.set_nodelay(true);
                });
                let agents = workers::agent_router(self.shared, self.mcp);
                Box::pin(
                    axum::serve(agent_listener, agents)
                        .with_graceful_shutdown(wait(stop_rx.clone()))
                        .into_future(),
                )
            } else {
                let (listener, shared, mcp) = (self.agent, self.shared, self.mcp);
                let (threads, stop) = (self.agent_threads, stop_rx.clone());
                Box::pin(
                    async move { workers::serve(listener, threads, &shared, &mcp, stop).await },
                )
            };
        let admin_server = axum::serve(
            self.admin,
            admin.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(wait(stop_rx.clone()))
        .into_future();
        let background = [
            tokio::spawn(executor.run(self.executor_interval, wait(stop_rx.clone()))),
            tokio::spawn(breaker::watch(store, self.breaker, wait(stop_rx.clone()))),
            tokio::spawn(
                self.notifier
                    .run(self.webhook_interval, wait(stop_rx.clone())),
            ),
        ];
        let agent_task = tokio::spawn(agent_server);
        let admin_task = tokio::spawn(admin_server);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let joined = |what: &'static str,
                      r: Result<std::io::Result<()>, tokio::task::JoinError>| {
            r.map_err(|e| std::io::Error::other(e.to_string()))
                .and_then(|r| r)
                .map_err(|source| GatewayError::Serve { what, source })
        };
        let (agent, admin) = tokio::join!(agent_task, admin_task);
        for task in background {
            task.abort();
            let _ = task.await;
        }
        joined("agents", agent)?;
        joined("admin", admin)
    }

    /// Runs in a background task; for tests and embedding (`airlock demo`).
    pub fn spawn(self) -> RunningGateway {
        let agent_addr = self.agent_addr;
        let admin_addr = self.admin_addr;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async move {
            let _ = stopped.await;
        }));
        RunningGateway {
            agent_addr,
            admin_addr,
            stop: Some(stop),
            task,
        }
    }
}

/// A gateway serving in a background task.
pub struct RunningGateway {
    agent_addr: SocketAddr,
    admin_addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), GatewayError>>,
}

impl RunningGateway {
    /// Where agents connect.
    pub fn agent_addr(&self) -> SocketAddr {
        self.agent_addr
    }

    /// Where the admin listener is.
    pub fn admin_addr(&self) -> SocketAddr {
        self.admin_addr
    }

    /// `http://AGENT_ADDR/u/UPSTREAM` — the base URL an agent uses for an upstream.
    pub fn upstream_url(&self, upstream: &str) -> String {
        format!("http://{}/u/{upstream}", self.agent_addr)
    }

    /// Stops accepting, waits for requests in flight, and returns how serving ended.
    pub async fn stop(mut self) -> Result<(), GatewayError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match (&mut self.task).await {
            Ok(result) => result,
            Err(e) => Err(GatewayError::Serve {
                what: "gateway",
                source: std::io::Error::other(e.to_string()),
            }),
        }
    }
}
