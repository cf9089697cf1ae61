//! Agent connections served on threads of their own: one accepting task deals each new connection, in turn,
//! to one of N threads, each running a single-threaded runtime with its own upstream connection pools. A
//! request then stays on one thread from the agent's socket to the upstream's and back — no work stealing,
//! no wake-ups across threads except to the audit writer — which costs measurably less CPU per request than
//! one multi-threaded runtime (`scripts/bench-gateway`). Everything else (store, tokens, breaker, guards,
//! metrics) is shared.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::serve::Listener;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

use crate::mcp_http::{self, McpState};
use crate::proxy::{self, Shared};

/// A connection accepted by the dealer, on its way to a worker.
type Dealt = (std::net::TcpStream, SocketAddr);

/// The connections dealt to one worker, as an axum [`Listener`].
struct DealtConnections {
    incoming: mpsc::UnboundedReceiver<Dealt>,
    local: SocketAddr,
}

impl Listener for DealtConnections {
    type Io = TcpStream;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (TcpStream, SocketAddr) {
        loop {
            let Some((stream, peer)) = self.incoming.recv().await else {
                // The dealer stopped: only the shutdown signal ends serving now.
                return std::future::pending().await;
            };
            match TcpStream::from_std(stream) {
                Ok(stream) => return (stream, peer),
                Err(error) => tracing::warn!(%error, "an agent connection could not be served"),
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<SocketAddr> {
        Ok(self.local)
    }
}

/// The router every agent listener serves: `/mcp/NAME`, then the proxy.
pub(crate) fn agent_router(shared: Arc<Shared>, mcp: Arc<McpState>) -> Router {
    Router::new()
        .route(
            mcp_http::MCP_ROUTE,
            axum::routing::any(mcp_http::handle).with_state(mcp),
        )
        .fallback(proxy::handle)
        .with_state(shared)
}

/// Serves `listener` on `workers` threads until `stop` turns true, then lets each worker finish the requests
/// in flight. If a worker ends on its own (its runtime could not be built, it panicked), the others are
/// stopped the same way and that is the error returned.
pub(crate) async fn serve(
    listener: TcpListener,
    workers: usize,
    shared: &Shared,
    mcp: &McpState,
    stop: watch::Receiver<bool>,
) -> std::io::Result<()> {
    let local = listener.local_addr()?;
    let workers = workers.max(1);
    let (halt, halted) = watch::channel(false);
    let (done, mut finished) = mpsc::unbounded_channel::<std::io::Result<()>>();
    let mut outlets = Vec::with_capacity(workers);
    let mut failure = None;
    for index in 0..workers {
        let (outlet, incoming) = mpsc::unbounded_channel();
        let worker_shared = Arc::new(shared.for_worker());
        let worker_mcp = Arc::new(mcp.for_worker(worker_shared.clone()));
        let (halted, done) = (halted.clone(), done.clone());
        let spawned = std::thread::Builder::new()
            .name(format!("gateway-{index}"))
            .spawn(move || {
                let result = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .and_then(|runtime| {
                        runtime.block_on(async move {
                            let router = agent_router(worker_shared, worker_mcp);
                            axum::serve(DealtConnections { incoming, local }, router)
                                .with_graceful_shutdown(stopped(halted))
                                .await
                        })
                    });
                let _ = done.send(result);
            });
        match spawned {
            Ok(_) => outlets.push(outlet),
            Err(error) => {
                failure = Some(std::io::Error::other(format!(
                    "cannot start a thread serving agents: {error}"
                )));
                break;
            }
        }
    }
    drop(done);
    // One per thread started: every thread that ends sends its result, unless it panicked.
    let started = outlets.len();
    let mut answered = 0;
    if failure.is_none() {
        tokio::select! {
            () = deal(listener, &outlets, stopped(stop)) => {}
            early = finished.recv() => {
                answered += usize::from(early.is_some());
                failure = Some(match early {
                    Some(Err(error)) => error,
                    _ => std::io::Error::other("a thread serving agents stopped unexpectedly"),
                });
            }
        }
    }
    let _ = halt.send(true);
    drop(outlets);
    while let Some(result) = finished.recv().await {
        answered += 1;
        if let Err(error) = result {
            failure.get_or_insert(error);
        }
    }
    if answered < started {
        failure.get_or_insert_with(|| std::io::Error::other("a thread serving agents panicked"));
    }
    failure.map_or(Ok(()), Err)
}

/// Accepts connections (axum's accept loop: transient errors are retried) and deals them round-robin until
/// `stop` completes.
async fn deal(
    mut listener: TcpListener,
    outlets: &[mpsc::UnboundedSender<Dealt>],
    stop: impl Future<Output = ()>,
) {
    tokio::pin!(stop);
    let mut next = 0usize;
    loop {
        let (stream, peer) = tokio::select! {
            () = &mut stop => return,
            accepted = Listener::accept(&mut listener) => accepted,
        };
        let _ = stream.set_nodelay(true);
        let stream = match stream.into_std() {
            Ok(stream) => stream,
            Err(error) => {
                tracing::warn!(%error, "an agent connection could not be handed to a worker");
                continue;
            }
        };
        let Some(outlet) = outlets.get(next % outlets.len().max(1)) else {
            return;
        };
        next = next.wrapping_add(1);
        if outlet.send((stream, peer)).is_err() {
            // That worker is gone; `serve` reports why once the dealer stops.
            return;
        }
    }
}

/// Completes once `stop` is true (or its sender is gone).
pub(crate) async fn stopped(mut stop: watch::Receiver<bool>) {
    let _ = stop.wait_for(|stop| *stop).await;
}
