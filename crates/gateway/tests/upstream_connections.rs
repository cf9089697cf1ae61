//! The upstream connection pool (crates/gateway/src/connections.rs), through `Upstream::send` against real
//! HTTP servers on 127.0.0.1: connections are reused once a response has been read, a response dropped
//! half-read closes its connection, an idle connection the upstream closed is not used again, and every
//! request carries the upstream's `Host` and an origin-form target.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use airlock_gateway::upstream::UpstreamError;
use airlock_gateway::{GatewayConfig, Upstream, UpstreamBody};
use axum::Router;
use axum::extract::{ConnectInfo, Request, State};
use axum::routing::get;
use bytes::Bytes;
use http::{HeaderMap, Method, Response};
use http_body_util::BodyExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpListener;

/// What the upstream saw: for each request, the client's port (one per connection), the target and `Host`.
type Log = Arc<Mutex<Vec<(u16, String, String)>>>;

async fn recording_upstream() -> (SocketAddr, Log) {
    let log: Log = Arc::default();
    async fn small(
        State(log): State<Log>,
        ConnectInfo(peer): ConnectInfo<SocketAddr>,
        request: Request,
    ) -> &'static str {
        let host = request.headers()[http::header::HOST]
            .to_str()
            .unwrap()
            .to_string();
        log.lock()
            .unwrap()
            .push((peer.port(), request.uri().to_string(), host));
        "ok"
    }
    async fn big(State(log): State<Log>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Vec<u8> {
        log.lock()
            .unwrap()
            .push((peer.port(), "/big".into(), String::new()));
        vec![b'x'; 4 << 20]
    }
    let app = Router::new()
        .route("/base/small", get(small))
        .route("/base/big", get(big))
        .with_state(log.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .await
    });
    (addr, log)
}

fn upstream(url: &str) -> Upstream {
    let text = format!("[upstreams.u]\nurl = \"{url}\"\n");
    let config = GatewayConfig::parse(&text, "x.toml".as_ref(), &|_| None).unwrap();
    Upstream::new(config.upstreams["u"].clone()).unwrap()
}

/// `GET` of `path` (and `query`) on the upstream, as the gateway sends it.
async fn send_get(
    upstream: &Upstream,
    path: &str,
    query: Option<&str>,
) -> Result<Response<UpstreamBody>, UpstreamError> {
    let uri = upstream.target(path, query).unwrap();
    upstream
        .send(Method::GET, uri, HeaderMap::new(), Bytes::new())
        .await
}

async fn get_small(upstream: &Upstream) -> String {
    let response = send_get(upstream, "/small", Some("x=1")).await.unwrap();
    assert_eq!(response.status(), 200);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(body.to_vec()).unwrap()
}

fn ports(log: &Log) -> HashSet<u16> {
    log.lock().unwrap().iter().map(|(port, ..)| *port).collect()
}

#[tokio::test]
async fn sequential_requests_share_one_connection_with_host_and_origin_form() {
    let (addr, log) = recording_upstream().await;
    let upstream = upstream(&format!("http://{addr}/base"));
    for _ in 0..10 {
        assert_eq!(get_small(&upstream).await, "ok");
    }
    let seen = log.lock().unwrap().clone();
    assert_eq!(seen.len(), 10);
    assert_eq!(ports(&log).len(), 1, "one connection for all: {seen:?}");
    for (_, target, host) in &seen {
        assert_eq!(target, "/base/small?x=1");
        assert_eq!(host, &addr.to_string());
    }
}

#[tokio::test]
async fn a_response_dropped_half_read_closes_its_connection() {
    let (addr, log) = recording_upstream().await;
    let upstream = upstream(&format!("http://{addr}/base"));
    let response = send_get(&upstream, "/big", None).await.unwrap();
    let mut body = response.into_body();
    // Read a little of the 4 MiB, then drop the rest: the connection cannot carry another request.
    let first = body.frame().await.unwrap().unwrap();
    assert!(first.data_ref().is_some_and(|d| !d.is_empty()));
    drop(body);
    assert_eq!(get_small(&upstream).await, "ok");
    assert_eq!(get_small(&upstream).await, "ok");
    let seen = log.lock().unwrap().clone();
    let big_port = seen[0].0;
    assert!(
        seen[1..].iter().all(|(port, ..)| *port != big_port),
        "no request after the dropped body went on its connection: {seen:?}"
    );
    assert_eq!(seen[1].0, seen[2].0, "the new connection is reused");
}

#[tokio::test]
async fn concurrent_requests_open_connections_that_are_then_reused() {
    let (addr, log) = recording_upstream().await;
    let upstream = upstream(&format!("http://{addr}/base"));
    for _ in 0..3 {
        let calls: Vec<_> = (0..8)
            .map(|_| {
                let upstream = upstream.clone();
                tokio::spawn(async move { get_small(&upstream).await })
            })
            .collect();
        for call in calls {
            assert_eq!(call.await.unwrap(), "ok");
        }
    }
    assert_eq!(log.lock().unwrap().len(), 24);
    let connections = ports(&log).len();
    assert!(
        (1..=8).contains(&connections),
        "24 requests, at most 8 at a time: {connections} connections"
    );
}

/// An upstream that answers one request per connection, keep-alive as far as the client can tell, and then
/// closes the connection without saying so.
#[tokio::test]
async fn idle_connections_the_upstream_closed_are_not_used_again() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let accepted = Arc::new(Mutex::new(0_usize));
    let counter = accepted.clone();
    tokio::spawn(async move {
        loop {
            let (mut socket, _) = listener.accept().await.unwrap();
            *counter.lock().unwrap() += 1;
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buf = [0_u8; 1024];
                while !request.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = socket.read(&mut buf).await.unwrap();
                    if n == 0 {
                        return;
                    }
                    request.extend_from_slice(&buf[..n]);
                }
                socket
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                    .await
                    .unwrap();
                // Dropped: closed, no `Connection: close`.
            });
        }
    });
    let upstream = upstream(&format!("http://{addr}/base"));
    for _ in 0..5 {
        assert_eq!(get_small(&upstream).await, "ok");
        // Let the connection task see the close before the next request.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert_eq!(*accepted.lock().unwrap(), 5);
}

#[tokio::test]
async fn an_unreachable_upstream_is_an_error_naming_it() {
    // A port with nothing listening: bind, note it, close.
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap();
    let upstream = upstream(&format!("http://{addr}"));
    let error = send_get(&upstream, "/x", None).await.unwrap_err();
    assert_eq!(error.upstream, "u");
    assert!(
        error.to_string().contains("could not be reached"),
        "{error}"
    );
}
