//! Engine benchmarks (`cargo bench -p airlock-engine`): classify + decide for typical requests, and engine
//! start (load catalogue + policy), which every hook process pays once.
//!
//! The benchmark uses the allocator the shipping `airlock` binary uses (mimalloc, see `crates/cli/src/main.rs`),
//! so the figures are what the hook and the gateway pay; the engine itself does not choose an allocator.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "tests fail by panicking"
)]

use airlock_engine::{Engine, Envelope};

/// The same global allocator as the `airlock` binary.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

fn envelope(json: &str) -> Envelope {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("bench input {json}: {e}"))
}

const INCIDENT_CURL: &str = r#"{"kind":"shell","command":"curl -X POST https://backboard.railway.com/graphql/v2 -H \"Authorization: Bearer $RAILWAY_TOKEN\" -H 'Content-Type: application/json' -d '{\"query\":\"mutation { volumeDelete(volumeId: \\\"8a4c1f2e-5b7d-4e9a-b3c6-1d2e3f4a5b6c\\\") }\"}'"}"#;

const SQL_BATCH: &str = r#"{"kind":"sql","dialect":"postgres","sql":"BEGIN; UPDATE users SET name = 'a' WHERE id = 7; INSERT INTO log (m) VALUES ('x'); DELETE FROM sessions; COMMIT;"}"#;

const GRAPHQL_ALIASES: &str = r#"{"kind":"http","method":"POST","url":"https://backboard.railway.com/graphql/v2","headers":{"Content-Type":"application/json"},"body":"{\"query\":\"mutation cleanup($a: String!, $b: String!) { first: volumeDelete(volumeId: $a) second: serviceDelete(id: $b) me: projectUpdate(id: $a, input: {name: \\\"x\\\"}) { id } }\",\"variables\":{\"a\":\"8a4c\",\"b\":\"c2b7\"}}"}"#;

/// The envelope the gateway builds for an allowed `GET` (what `scripts/bench-gateway` sends).
const GATEWAY_GET: &str = r#"{"kind":"http","method":"GET","url":"http://127.0.0.1:41000/v1/items","headers":{"accept":"*/*","user-agent":"curl/8.5.0"},"agent":"bench","environment":"production","upstream":"bench"}"#;

#[divan::bench(args = ["ls -la", "incident curl", "sql batch", "graphql aliases", "gateway get"])]
fn classify_and_decide(bencher: divan::Bencher, name: &str) {
    let engine = Engine::new().unwrap_or_else(|e| panic!("{e}"));
    let input = match name {
        "ls -la" => r#"{"kind":"shell","command":"ls -la"}"#,
        "incident curl" => INCIDENT_CURL,
        "sql batch" => SQL_BATCH,
        "gateway get" => GATEWAY_GET,
        _ => GRAPHQL_ALIASES,
    };
    let request = envelope(input);
    bencher.bench(|| engine.decide(divan::black_box(&request)));
}

#[divan::bench]
fn engine_start() -> Engine {
    Engine::new().unwrap_or_else(|e| panic!("{e}"))
}
