//! Runs one request through the engine many times, for a profiler: `cargo build --release --example
//! profile -p airlock-engine && valgrind --tool=callgrind target/release/examples/profile '{"kind":"shell","command":"ls -la"}' [N]`;
//! `CLASSIFY_ONLY=1` skips the policy.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a dev tool"
)]

use airlock_engine::{Engine, Envelope};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json = args.get(1).expect("usage: profile REQUEST-JSON [N]");
    let n: usize = args.get(2).map_or(1000, |n| n.parse().unwrap());
    let engine = Engine::new().unwrap();
    let request: Envelope = serde_json::from_str(json).unwrap();
    let classify_only = std::env::var_os("CLASSIFY_ONLY").is_some();
    let mut verdicts = 0;
    for _ in 0..n {
        verdicts += if classify_only {
            engine.classify(&request).len()
        } else {
            engine.decide(&request).reasons.len()
        };
    }
    println!("{verdicts}");
}
