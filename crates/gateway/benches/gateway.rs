//! Gateway benchmark (a measurement, not a test): a local upstream answering a small JSON body, the gateway
//! in front of it (SQLite store in a temp dir, the default engine and policy, an allowed `GET`), and a load
//! generator of keep-alive HTTP/1.1 connections, each on threads of its own. Reports, for the same run,
//! direct vs through the gateway: the p50/p99 latency of sequential requests on one connection (so the added
//! latency), and the requests per second with many connections, and the CPU time per request of each part
//! (threads are named `gateway`, `load`, `upstream`; the store's database threads count with the gateway),
//! from which it projects the throughput of 2 otherwise idle cores. Upstream, gateway and load generator
//! share this machine's cores. `BENCH_BATCHES=1` also prints how many audit entries were written in how many
//! distinct milliseconds.
//!
//! Run with `cargo bench -p airlock-gateway --bench gateway` (or `scripts/bench-gateway`); options after
//! `--`: `--seconds S` (each throughput phase, default 5), `--connections C` (default 64), `--latency-requests
//! N` (default 5000), `--agent-threads N` (threads serving agent connections, default one per core as
//! `airlock serve`; 0 serves them on the gateway's runtime), `--gateway-workers N` (worker threads of the
//! gateway's runtime, default 1), `--load raw|hyper` (the load generator's client, default raw, as wrk),
//! `--upstream raw|axum` (the upstream's server: by default a canned response per request read, as a
//! static-response server such as nginx's `return 200` answers; or an axum router). Load generator and upstream
//! each run on one thread with a single-threaded runtime. Budget (DESIGN.md): p50 added < 0.3 ms, ≥ 20,000
//! allowed requests/s on 2 cores.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "benchmark"
)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use airlock_gateway::{Gateway, GatewayConfig};
use airlock_store::Store;
use airlock_store::gate::Gate;
use bytes::Bytes;
use http_body_util::{BodyExt as _, Empty};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

/// The allocator the `airlock` binary uses (crates/cli/src/main.rs), so this measures what `airlock serve` runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

struct Options {
    seconds: u64,
    connections: usize,
    latency_requests: usize,
    agent_threads: usize,
    gateway_workers: usize,
    /// The load generator's client: `raw` (default) or `hyper`.
    load: Load,
    /// The upstream's server: `raw` (default) or `axum`.
    upstream: Serve,
}

/// How the upstream answers.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Serve {
    /// A canned response written for each request read (its head parsed with httparse, a `Content-Length`
    /// body skipped), one task per connection, as a static-response server (nginx `return 200`) does.
    Raw,
    /// An axum router on hyper's server connection.
    Axum,
}

/// How the load generator speaks HTTP/1.1.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Load {
    /// By hand, as wrk does: the request's bytes written, the response parsed with httparse (status 200
    /// checked, `Content-Length` body read), one task per connection, no allocation per request.
    Raw,
    /// hyper's client connection (a request task and a connection task per connection), as oha does.
    Hyper,
}

fn options() -> Options {
    let mut o = Options {
        seconds: 5,
        connections: 64,
        latency_requests: 5000,
        agent_threads: airlock_gateway::agent_threads(),
        gateway_workers: 1,
        load: Load::Raw,
        upstream: Serve::Raw,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = || args.get(i + 1).and_then(|v| v.parse::<u64>().ok());
        match args[i].as_str() {
            "--seconds" => o.seconds = value().unwrap_or(o.seconds),
            "--connections" => o.connections = value().map_or(o.connections, |v| v as usize),
            "--agent-threads" => o.agent_threads = value().map_or(o.agent_threads, |v| v as usize),
            "--gateway-workers" => {
                o.gateway_workers = value().map_or(o.gateway_workers, |v| v as usize)
            }
            "--load" => {
                o.load = match args.get(i + 1).map(String::as_str) {
                    Some("hyper") => Load::Hyper,
                    _ => Load::Raw,
                }
            }
            "--upstream" => {
                o.upstream = match args.get(i + 1).map(String::as_str) {
                    Some("axum") => Serve::Axum,
                    _ => Serve::Raw,
                }
            }
            "--latency-requests" => {
                o.latency_requests = value().map_or(o.latency_requests, |v| v as usize)
            }
            _ => {}
        }
        i += 1;
    }
    o
}

fn main() {
    let o = options();
    let dir = tempfile::tempdir().unwrap();
    // The upstream: a thread of its own.
    let upstream = spawn_upstream(o.upstream);
    // The gateway as `airlock serve` runs it: a runtime for the admin listener, the audit writer and the
    // background tasks, and agent connections on one thread per core (named `gateway-N`).
    let gateway_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(o.gateway_workers.max(1))
        .thread_name("gateway")
        .enable_all()
        .build()
        .unwrap();
    let (gateway, token) = gateway_rt.block_on(async {
        let store = Store::open(&format!(
            "sqlite://{}",
            dir.path().join("airlock.db").display()
        ))
        .await
        .unwrap()
        .with_group_commit();
        let gate = Gate::new(Arc::new(airlock_engine::Engine::new().unwrap()), store.clone());
        let text = format!(
            "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n[upstreams.bench]\nurl = \"http://{upstream}\"\nenvironment = \"production\"\nauth = {{ header = \"Authorization\", value = \"Bearer upstream-secret\" }}\n"
        );
        let config = GatewayConfig::parse(&text, "bench.toml".as_ref(), &|_| None).unwrap();
        let (_, token) = store
            .create_token("bench", &["bench".to_string()], None)
            .await
            .unwrap();
        let running = Gateway::new(config, gate)
            .with_agent_threads(o.agent_threads)
            .bind()
            .await
            .unwrap()
            .spawn();
        (running, token)
    });
    // The load generator: a thread named `load` with a single-threaded runtime.
    let gateway_addr = gateway.agent_addr();
    let auth = format!("Bearer {token}");
    let run_load = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(generate_load(&o, upstream, gateway_addr, &auth));
    };
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("load".into())
            .spawn_scoped(scope, run_load)
            .unwrap()
            .join()
            .unwrap();
    });
    gateway_rt.block_on(async {
        let _ = gateway.stop().await;
        if std::env::var_os("BENCH_BATCHES").is_some() {
            let store = Store::open(&format!(
                "sqlite://{}",
                dir.path().join("airlock.db").display()
            ))
            .await
            .unwrap();
            let head = store.head().await.unwrap();
            let entries = store
                .list(&airlock_store::AuditFilter {
                    limit: None,
                    ..Default::default()
                })
                .await
                .unwrap();
            let distinct: std::collections::BTreeSet<i64> =
                entries.iter().map(|e| e.ts_ms).collect();
            println!(
                "audit entries {} in {} distinct ms",
                head.count,
                distinct.len()
            );
        }
    });
}

/// The load: warm-up, latency on one connection, throughput over many, CPU per request of each thread group;
/// direct to the upstream and through the gateway.
async fn generate_load(o: &Options, upstream: SocketAddr, gateway_addr: SocketAddr, auth: &str) {
    let direct = Target {
        addr: upstream,
        path: "/v1/items".into(),
        auth: None,
        load: o.load,
    };
    let through = Target {
        addr: gateway_addr,
        path: "/u/bench/v1/items".into(),
        auth: Some(auth.to_string()),
        load: o.load,
    };
    println!(
        "load generator: {:?} HTTP/1.1 client (--load raw|hyper); upstream: {:?} server (--upstream raw|axum)",
        o.load, o.upstream
    );
    // Warm up both paths (connection pools, SQLite pages, engine caches).
    sequential(&direct, 500).await;
    sequential(&through, 500).await;
    let d = sequential(&direct, o.latency_requests).await;
    let g = sequential(&through, o.latency_requests).await;
    println!(
        "latency, 1 connection, {} sequential requests each:",
        o.latency_requests
    );
    println!(
        "  direct          p50 {:>7.1} µs   p99 {:>7.1} µs",
        pct(&d, 50),
        pct(&d, 99)
    );
    println!(
        "  through gateway p50 {:>7.1} µs   p99 {:>7.1} µs",
        pct(&g, 50),
        pct(&g, 99)
    );
    println!(
        "  added           p50 {:>7.1} µs   (budget < 300 µs)",
        pct(&g, 50) - pct(&d, 50)
    );
    let seconds = Duration::from_secs(o.seconds);
    let c0 = cpu_by_thread();
    let (dn, dl) = throughput(&direct, o.connections, seconds).await;
    let c1 = cpu_by_thread();
    let (gn, gl) = throughput(&through, o.connections, seconds).await;
    let c2 = cpu_by_thread();
    let direct_cpu = cpu_per_request(&c0, &c1, dn * o.seconds as f64);
    let gateway_cpu = cpu_per_request(&c1, &c2, gn * o.seconds as f64);
    println!(
        "throughput, {} connections, {} s each:",
        o.connections, o.seconds
    );
    println!(
        "  direct          {:>8.0} req/s   p50 {:>7.1} µs   p99 {:>7.1} µs",
        dn,
        pct(&dl, 50),
        pct(&dl, 99)
    );
    println!(
        "  through gateway {:>8.0} req/s   p50 {:>7.1} µs   p99 {:>7.1} µs   (budget ≥ 20,000 req/s)",
        gn,
        pct(&gl, 50),
        pct(&gl, 99)
    );
    let total = |v: &[(String, f64)]| v.iter().map(|(_, us)| us).sum::<f64>();
    println!("CPU per request (µs; the machine's other load is not counted):");
    for (name, us) in &direct_cpu {
        println!("  direct          {name:<28} {us:>6.1}");
    }
    for (name, us) in &gateway_cpu {
        println!("  through gateway {name:<28} {us:>6.1}");
    }
    let (dt, gt) = (total(&direct_cpu), total(&gateway_cpu));
    if gt > 0.0 {
        println!(
            "  all threads: direct {dt:.1} µs, through gateway {gt:.1} µs ⇒ on 2 otherwise idle cores at most {:.0} req/s through the gateway, load generator and upstream included",
            2e6 / gt
        );
    }
}

/// Starts the upstream on a thread named `upstream` with a single-threaded runtime; returns its address.
fn spawn_upstream(serve: Serve) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::Builder::new()
        .name("upstream".into())
        .spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                match serve {
                    Serve::Axum => {
                        let app = axum::Router::new().fallback(|| async {
                            (
                                [(http::header::CONTENT_TYPE, "application/json")],
                                r#"{"ok":true}"#,
                            )
                        });
                        axum::serve(listener, app).await.unwrap();
                    }
                    Serve::Raw => loop {
                        let (stream, _) = listener.accept().await.unwrap();
                        stream.set_nodelay(true).unwrap();
                        tokio::spawn(serve_raw(stream));
                    },
                }
            });
        })
        .unwrap();
    addr
}

/// The raw upstream's connection: for every complete request head read (and its `Content-Length` body), one
/// canned `200` with a small JSON body.
async fn serve_raw(mut stream: TcpStream) {
    const RESPONSE: &[u8] =
        b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}";
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    let mut out: Vec<u8> = Vec::with_capacity(4096);
    loop {
        match stream.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let mut used = 0;
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut request = httparse::Request::new(&mut headers);
            let Ok(httparse::Status::Complete(head)) = request.parse(&buf[used..]) else {
                break;
            };
            let body = request
                .headers
                .iter()
                .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
                .unwrap_or(0);
            if buf.len() - used < head + body {
                break;
            }
            used += head + body;
            out.extend_from_slice(RESPONSE);
        }
        buf.drain(..used);
        if !out.is_empty() {
            if stream.write_all(&out).await.is_err() {
                return;
            }
            out.clear();
        }
    }
}

struct Target {
    addr: SocketAddr,
    path: String,
    auth: Option<String>,
    load: Load,
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

/// One keep-alive connection of the load generator.
enum Connection {
    Hyper(Sender),
    Raw {
        stream: TcpStream,
        /// The whole request, written as is every time.
        request: Vec<u8>,
        buf: Vec<u8>,
    },
}

async fn connect(target: &Target) -> Connection {
    let stream = TcpStream::connect(target.addr).await.unwrap();
    stream.set_nodelay(true).unwrap();
    match target.load {
        Load::Hyper => {
            let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
                .await
                .unwrap();
            tokio::spawn(connection);
            Connection::Hyper(sender)
        }
        Load::Raw => {
            let mut request = format!("GET {} HTTP/1.1\r\nhost: 127.0.0.1\r\n", target.path);
            if let Some(auth) = &target.auth {
                request.push_str(&format!("authorization: {auth}\r\n"));
            }
            request.push_str("\r\n");
            Connection::Raw {
                stream,
                request: request.into_bytes(),
                buf: Vec::with_capacity(4096),
            }
        }
    }
}

async fn one(connection: &mut Connection, target: &Target) {
    match connection {
        Connection::Hyper(sender) => {
            let mut request = http::Request::builder()
                .uri(target.path.as_str())
                .header(http::header::HOST, "127.0.0.1")
                .body(Empty::<Bytes>::new())
                .unwrap();
            if let Some(auth) = &target.auth {
                request
                    .headers_mut()
                    .insert(http::header::AUTHORIZATION, auth.parse().unwrap());
            }
            sender.ready().await.unwrap();
            let response = sender.send_request(request).await.unwrap();
            assert_eq!(
                response.status(),
                200,
                "the benchmark request must be allowed"
            );
            let _ = response.into_body().collect().await.unwrap();
        }
        Connection::Raw {
            stream,
            request,
            buf,
        } => {
            stream.write_all(request).await.unwrap();
            buf.clear();
            let (head, length) = loop {
                assert!(
                    stream.read_buf(buf).await.unwrap() > 0,
                    "the connection closed mid-response"
                );
                let mut headers = [httparse::EMPTY_HEADER; 32];
                let mut response = httparse::Response::new(&mut headers);
                if let httparse::Status::Complete(head) = response.parse(buf).unwrap() {
                    assert_eq!(
                        response.code,
                        Some(200),
                        "the benchmark request must be allowed"
                    );
                    let length = response
                        .headers
                        .iter()
                        .find(|h| h.name.eq_ignore_ascii_case("content-length"))
                        .and_then(|h| std::str::from_utf8(h.value).ok()?.parse::<usize>().ok())
                        .expect("the benchmark response has a Content-Length");
                    break (head, length);
                }
            };
            while buf.len() < head + length {
                assert!(
                    stream.read_buf(buf).await.unwrap() > 0,
                    "the connection closed mid-body"
                );
            }
            assert_eq!(buf.len(), head + length, "one response per request");
        }
    }
}

/// Latencies in µs of `n` sequential requests on one connection.
async fn sequential(target: &Target, n: usize) -> Vec<f64> {
    let mut sender = connect(target).await;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        one(&mut sender, target).await;
        out.push(started.elapsed().as_secs_f64() * 1e6);
    }
    out.sort_by(f64::total_cmp);
    out
}

/// Requests per second over `connections` keep-alive connections for `duration`, and their latencies.
async fn throughput(target: &Target, connections: usize, duration: Duration) -> (f64, Vec<f64>) {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let target = Arc::new(Target {
        addr: target.addr,
        path: target.path.clone(),
        auth: target.auth.clone(),
        load: target.load,
    });
    let mut tasks = Vec::new();
    let started = Instant::now();
    for _ in 0..connections {
        let (stop, done, target) = (stop.clone(), done.clone(), target.clone());
        tasks.push(tokio::spawn(async move {
            let mut sender = connect(&target).await;
            let mut latencies = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let t = Instant::now();
                one(&mut sender, &target).await;
                latencies.push(t.elapsed().as_secs_f64() * 1e6);
                done.fetch_add(1, Ordering::Relaxed);
            }
            latencies
        }));
    }
    tokio::time::sleep(duration).await;
    stop.store(true, Ordering::Relaxed);
    let counted = done.load(Ordering::Relaxed);
    let elapsed = started.elapsed();
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort_by(f64::total_cmp);
    (counted as f64 / elapsed.as_secs_f64(), all)
}

/// CPU time (ns) used so far by this process's threads, by thread name (Linux: `/proc/self/task/*/schedstat`);
/// empty elsewhere. Threads: `gateway` (its runtime), `sqlx-sqlite-wor…` (the store's database threads),
/// `load`, `upstream`.
fn cpu_by_thread() -> std::collections::BTreeMap<String, u64> {
    let mut out = std::collections::BTreeMap::new();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return out;
    };
    for task in tasks.flatten() {
        let path = task.path();
        let name = std::fs::read_to_string(path.join("comm")).unwrap_or_default();
        let ns = std::fs::read_to_string(path.join("schedstat"))
            .ok()
            .and_then(|s| {
                s.split_whitespace()
                    .next()
                    .and_then(|n| n.parse::<u64>().ok())
            })
            .unwrap_or(0);
        let group = match name.trim() {
            n if n.starts_with("sqlx") => "gateway (database threads)",
            n if n.starts_with("gateway") => "gateway",
            n if n.starts_with("load") => "load generator",
            n if n.starts_with("upstream") => "upstream",
            _ => "other",
        };
        *out.entry(group.to_string()).or_insert(0) += ns;
    }
    out
}

/// CPU µs per request for each thread group between two [`cpu_by_thread`] readings.
fn cpu_per_request(
    before: &std::collections::BTreeMap<String, u64>,
    after: &std::collections::BTreeMap<String, u64>,
    requests: f64,
) -> Vec<(String, f64)> {
    after
        .iter()
        .map(|(k, v)| {
            let used = v.saturating_sub(*before.get(k).unwrap_or(&0)) as f64 / 1000.0;
            (k.clone(), used / requests)
        })
        .filter(|(_, us)| *us > 0.05)
        .collect()
}

fn pct(sorted: &[f64], p: usize) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    sorted[(sorted.len() * p / 100).min(sorted.len() - 1)]
}
