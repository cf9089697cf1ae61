//! Temporary: CPU per gate.judge under concurrency.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "scratch"
)]
use airlock_engine::{Context, Envelope, HttpRequest, Request};
use airlock_store::{AuditRecord, Store, gate::Gate};
use std::sync::Arc;
use std::time::Instant;
fn cpu() -> u64 {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .flatten()
        .map(|t| {
            std::fs::read_to_string(t.path().join("schedstat"))
                .unwrap()
                .split_whitespace()
                .next()
                .unwrap()
                .parse::<u64>()
                .unwrap()
        })
        .sum()
}
fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!("sqlite://{}", dir.path().join("a.db").display()))
            .await
            .unwrap()
            .with_group_commit();
        let engine = Arc::new(airlock_engine::Engine::new().unwrap());
        let gate = Gate::new(engine.clone(), store.clone());
        let env = Envelope {
            id: None,
            request: Request::Http(HttpRequest {
                method: "GET".into(),
                url: "http://127.0.0.1:4000/v1/items".into(),
                headers: [("accept".to_string(), "*/*".to_string())]
                    .into_iter()
                    .collect(),
                body: None,
            }),
            context: Context {
                agent: Some("bench".into()),
                environment: Some("production".into()),
                ..Default::default()
            },
        };
        let n = 20000u64;
        let c = cpu();
        let t = Instant::now();
        for _ in 0..n {
            std::hint::black_box(engine.decide(&env));
        }
        println!(
            "decide: {:.1} µs cpu",
            (cpu() - c) as f64 / 1000.0 / n as f64
        );
        let d = engine.decide(&env);
        let c = cpu();
        for _ in 0..n {
            std::hint::black_box(AuditRecord::new(&env, &d, "allowed"));
        }
        println!(
            "AuditRecord::new: {:.1} µs cpu",
            (cpu() - c) as f64 / 1000.0 / n as f64
        );
        let c = cpu();
        let t0 = Instant::now();
        let mut tasks = vec![];
        for _ in 0..64 {
            let gate = gate.clone();
            let env = env.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..(n / 64) {
                    gate.judge(&env).await.unwrap();
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
        let per = (cpu() - c) as f64 / 1000.0 / n as f64;
        println!(
            "judge x64 concurrent: {:.1} µs cpu each, {:.0}/s",
            per,
            n as f64 / t0.elapsed().as_secs_f64()
        );
        let _ = t;
    });
}
