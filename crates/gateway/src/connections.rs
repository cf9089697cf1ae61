//! A pool of HTTP/1.1 connections to one host (an upstream, or a webhook's receiver), kept by hand instead of hyper-util's pooled client: a
//! request takes the most recently used idle connection (or opens one), is sent on it, and the connection
//! goes back to the pool when the response body has been read to its end ([`UpstreamBody`]); a connection
//! whose body was dropped unread is closed. Compared with the pooled client this saves a task spawned per
//! request (which waits for the connection to be free again), the pool key built and hashed per request and
//! a lock shared by every host. A pool never looks at the host of what it sends: each upstream and each webhook
//! has pools of its own, and each thread serving agents a pool per upstream
//! ([`crate::Upstream::with_own_pool`]), so the lock is never contended there.
//!
//! Like the pooled client: a request gets a `Host` header for the upstream, its URL is sent in origin form,
//! and a request that could not even be started on a reused connection (the upstream closed it while idle)
//! is sent again on another; one that may have reached the upstream never is.

use std::pin::Pin;
use std::sync::{Arc, Mutex, Weak};
use std::task::{Context, Poll, ready};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HOST, HeaderValue};
use http::{Request, Response, Uri};
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::client::conn::http1::SendRequest;
use tower_service::Service as _;

use crate::upstream::UpstreamConnector;

/// The sending half of a pooled connection.
type Sender = SendRequest<Full<Bytes>>;

/// At most this many idle connections are kept per pool; more are closed when they come back.
const MAX_IDLE: usize = 512;

/// Connections to one host.
pub(crate) struct ConnectionPool {
    connector: UpstreamConnector,
    idle_timeout: Duration,
    /// Idle connections, the most recently used last.
    idle: Mutex<Vec<Idle>>,
}

struct Idle {
    sender: Sender,
    since: Instant,
}

impl std::fmt::Debug for ConnectionPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConnectionPool")
            .field("idle_timeout", &self.idle_timeout)
            .finish_non_exhaustive()
    }
}

impl ConnectionPool {
    /// An empty pool connecting with `connector`; connections idle for longer than `idle_timeout` are not
    /// used again.
    pub(crate) fn new(connector: UpstreamConnector, idle_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            connector,
            idle_timeout,
            idle: Mutex::new(Vec::new()),
        })
    }

    /// A new, empty pool connecting as this one does.
    pub(crate) fn empty_copy(&self) -> Arc<Self> {
        Self::new(self.connector.clone(), self.idle_timeout)
    }

    /// Sends `request` (absolute URL) on an idle connection or a new one and returns the response, its body
    /// streaming. `Err` is a one-line description of what failed, without request data.
    pub(crate) async fn send(
        self: &Arc<Self>,
        mut request: Request<Full<Bytes>>,
    ) -> Result<Response<UpstreamBody>, String> {
        let target = request.uri().clone();
        let host = host_header(&target).ok_or("the upstream URL has no host")?;
        request.headers_mut().insert(HOST, host);
        *request.uri_mut() = origin_form(&target);
        loop {
            let (mut sender, reused) = match self.checkout().await {
                Some(sender) => (sender, true),
                None => (self.connect(&target).await?, false),
            };
            match sender.try_send_request(request).await {
                Ok(response) => {
                    let pool = Arc::downgrade(self);
                    return Ok(response.map(|body| UpstreamBody {
                        inner: body,
                        sender: Some(sender),
                        pool,
                    }));
                }
                Err(mut failed) => match failed.take_message() {
                    // Not started: the idle connection had been closed. Another one, as hyper-util does.
                    Some(unsent) if reused => request = unsent,
                    _ => return Err(describe(&failed.into_error())),
                },
            }
        }
    }

    /// The most recently used idle connection that is still open, once it can take a request.
    async fn checkout(&self) -> Option<Sender> {
        loop {
            let Idle { mut sender, since } = self.lock().pop()?;
            if since.elapsed() > self.idle_timeout || sender.is_closed() {
                continue;
            }
            // A connection comes back when its last response's body has been read; hyper's connection task
            // may not yet have seen that, so wait for it (at once, or at its next turn).
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    /// Opens a connection (TCP, then TLS for `https`) and starts its task on the current runtime.
    async fn connect(&self, target: &Uri) -> Result<Sender, String> {
        let mut connector = self.connector.clone();
        std::future::poll_fn(|cx| connector.poll_ready(cx))
            .await
            .map_err(|e| describe(&*e))?;
        let io = connector
            .call(target.clone())
            .await
            .map_err(|e| describe(&*e))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(io)
            .await
            .map_err(|e| describe(&e))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(error = %describe(&e), "upstream connection ended");
            }
        });
        Ok(sender)
    }

    fn give_back(&self, sender: Sender) {
        if sender.is_closed() {
            return;
        }
        let mut idle = self.lock();
        if idle.len() < MAX_IDLE {
            idle.push(Idle {
                sender,
                since: Instant::now(),
            });
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Idle>> {
        // A panic while holding the lock cannot leave the list half-changed (push and pop only).
        self.idle
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// An upstream's response body: hyper's, and the connection it came on, which goes back to its pool once
/// the body has been read to its end (and is closed if the body is dropped before).
pub struct UpstreamBody {
    inner: Incoming,
    sender: Option<Sender>,
    pool: Weak<ConnectionPool>,
}

impl std::fmt::Debug for UpstreamBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamBody").finish_non_exhaustive()
    }
}

impl UpstreamBody {
    fn give_back(&mut self) {
        if let (Some(sender), Some(pool)) = (self.sender.take(), self.pool.upgrade()) {
            pool.give_back(sender);
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let frame = ready!(Pin::new(&mut this.inner).poll_frame(cx));
        match &frame {
            Some(Err(_)) => this.sender = None,
            None => this.give_back(),
            Some(Ok(_)) if this.inner.is_end_stream() => this.give_back(),
            Some(Ok(_)) => {}
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for UpstreamBody {
    fn drop(&mut self) {
        // An empty body (or one whose end was seen without a last poll) leaves the connection reusable; a body
        // dropped half-read does not, and its connection is closed with the sender.
        if self.inner.is_end_stream() {
            self.give_back();
        }
    }
}

/// The `Host` header for `uri`: its host, and its port unless the scheme's default.
fn host_header(uri: &Uri) -> Option<HeaderValue> {
    let host = uri.host()?;
    let default_port = match uri.scheme_str() {
        Some("https") => 443,
        _ => 80,
    };
    let value = match uri.port_u16() {
        Some(port) if port != default_port => HeaderValue::from_str(&format!("{host}:{port}")),
        _ => HeaderValue::from_str(host),
    };
    value.ok()
}

/// `uri` as sent on an HTTP/1.1 connection to the server itself: path and query only.
fn origin_form(uri: &Uri) -> Uri {
    match uri.path_and_query() {
        Some(path) if path.as_str() != "/" => {
            let mut parts = http::uri::Parts::default();
            parts.path_and_query = Some(path.clone());
            Uri::from_parts(parts).unwrap_or_default()
        }
        _ => Uri::default(),
    }
}

/// An error and its causes, one line (hyper's and the connector's errors carry no request data).
fn describe(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn host_header_names_the_port_only_when_not_the_default() {
        let host = |u: &str| host_header(&u.parse().unwrap()).unwrap();
        assert_eq!(host("http://127.0.0.1:8080/x"), "127.0.0.1:8080");
        assert_eq!(host("http://example.com:80/x"), "example.com");
        assert_eq!(host("https://example.com:443/x"), "example.com");
        assert_eq!(host("https://example.com:80/x"), "example.com:80");
        assert_eq!(host("http://[::1]:9/"), "[::1]:9");
    }

    #[test]
    fn origin_form_keeps_path_and_query_only() {
        let origin = |u: &str| origin_form(&u.parse().unwrap()).to_string();
        assert_eq!(
            origin("https://a.example/graphql/v2?x=1"),
            "/graphql/v2?x=1"
        );
        assert_eq!(origin("https://a.example"), "/");
        assert_eq!(origin("https://a.example/"), "/");
    }
}
