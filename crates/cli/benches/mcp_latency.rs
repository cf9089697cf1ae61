//! Added latency of `airlock mcp wrap` per `tools/call`: the items MCP server (rmcp, SQLite) called directly by
//! an rmcp client, then the same server behind `airlock mcp wrap` (engine decision + audit append in SQLite per
//! call), many allowed `list_items` calls one after the other; prints p50/p95/p99 of each and the difference.
//!
//! Run with `cargo bench -p airlock --bench mcp_latency` (`MCP_BENCH_CALLS=N` to change the 2000 calls).
//! Like the tests, this binary also serves as the items server (`AIRLOCK_TEST_MCP_ROLE=items`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    reason = "benchmark"
)]

#[path = "../tests/support/items_server.rs"]
mod items_server;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use rmcp::ServiceExt as _;
use rmcp::model::CallToolRequestParams;
use rmcp::transport::TokioChildProcess;
use tokio::process::Command;

use items_server::{DB_ENV, ROLE_ENV};

const WARMUP: usize = 200;

fn main() -> ExitCode {
    if std::env::var(ROLE_ENV).as_deref() == Ok("items") {
        return items_server::serve_items();
    }
    let calls: usize = std::env::var("MCP_BENCH_CALLS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(2000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(bench(calls));
    ExitCode::SUCCESS
}

async fn bench(calls: usize) {
    let dir = tempfile::tempdir().unwrap();
    let home = dir.path().join("home");
    let airlock_home = dir.path().join("airlock");
    std::fs::create_dir_all(&home).unwrap();
    std::fs::create_dir_all(&airlock_home).unwrap();
    let db = dir.path().join("items.db");
    items_server::create_items_db(&db).await.unwrap();
    let exe = std::env::current_exe().unwrap();

    let configure = |command: &mut Command| {
        command
            .current_dir(&home)
            .env("HOME", &home)
            .env("AIRLOCK_HOME", &airlock_home)
            .env_remove("AIRLOCK_DATABASE_URL")
            .env(ROLE_ENV, "items")
            .env(DB_ENV, &db);
    };
    let mut direct = Command::new(&exe);
    configure(&mut direct);
    let mut wrapped = Command::new(env!("CARGO_BIN_EXE_airlock"));
    wrapped
        .args(["mcp", "wrap", "--name", "items", "--"])
        .arg(&exe);
    configure(&mut wrapped);

    println!(
        "{calls} sequential tools/call list_items (after {WARMUP} warm-up calls), rmcp client over stdio"
    );
    let direct = measure(direct, calls).await;
    let wrapped = measure(wrapped, calls).await;
    report("direct", &direct);
    report("airlock mcp wrap", &wrapped);
    println!(
        "added latency per call: p50 {:?}, p95 {:?}",
        percentile(&wrapped, 50).saturating_sub(percentile(&direct, 50)),
        percentile(&wrapped, 95).saturating_sub(percentile(&direct, 95)),
    );
}

async fn measure(command: Command, calls: usize) -> Vec<Duration> {
    let client = ().serve(TokioChildProcess::new(command).unwrap()).await.unwrap();
    let mut times = Vec::with_capacity(calls);
    for i in 0..WARMUP + calls {
        let started = Instant::now();
        let result = client
            .call_tool(CallToolRequestParams::new("list_items"))
            .await
            .unwrap();
        let took = started.elapsed();
        assert_ne!(result.is_error, Some(true), "list_items failed");
        if i >= WARMUP {
            times.push(took);
        }
    }
    client.cancel().await.unwrap();
    times.sort_unstable();
    times
}

fn percentile(sorted: &[Duration], p: usize) -> Duration {
    sorted[(sorted.len() - 1) * p / 100]
}

fn report(name: &str, sorted: &[Duration]) {
    println!(
        "{name:>18}: p50 {:?}  p95 {:?}  p99 {:?}  max {:?}",
        percentile(sorted, 50),
        percentile(sorted, 95),
        percentile(sorted, 99),
        sorted[sorted.len() - 1]
    );
}
