//! Runs one request through the engine many times, for a profiler: `cargo build --release --example
//! profile -p airlock-engine && valgrind --tool=callgrind target/release/examples/profile '{"kind":"shell","command":"ls -la"}' [N]`;
//! `CLASSIFY_ONLY=1` skips the policy; `SHOW=1` prints the decision as JSON first;
//! `USER_POLICY=FILE` layers a user policy on the default (to compare rule spellings).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::disallowed_methods,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "a dev tool"
)]

use airlock_engine::{Engine, Envelope};

/// The allocator of the shipping `airlock` binary (`crates/cli/src/main.rs`), so profiles count what it runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let json = args.get(1).expect("usage: profile REQUEST-JSON [N]");
    let n: usize = args.get(2).map_or(1000, |n| n.parse().unwrap());
    let engine = match std::env::var_os("USER_POLICY") {
        Some(path) => {
            let text = std::fs::read_to_string(&path).unwrap();
            Engine::with_user_policy("user.cedar", &text).unwrap()
        }
        None => Engine::new().unwrap(),
    };
    let request: Envelope = serde_json::from_str(json).unwrap();
    let classify_only = std::env::var_os("CLASSIFY_ONLY").is_some();
    if std::env::var_os("SHOW").is_some() {
        println!(
            "{}",
            serde_json::to_string_pretty(&engine.decide(&request)).unwrap()
        );
    }
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
