//! Store benchmarks (budgets from DESIGN.md: one append < 1 ms, ≥ 20,000 appends/s batched, verify of
//! 1,000,000 entries < 3 s), on an SQLite file and on a PostgreSQL server started like the tests start it.
//!
//! Run with `cargo bench -p airlock-store --bench store`. `AIRLOCK_BENCH_PG=0` skips PostgreSQL.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::LazyLock;

use airlock_engine::{Decision, Envelope, Mitigation, Reason, Verdict};
use airlock_store::{AuditRecord, Store};
use divan::{Bencher, counter::ItemsCount};
use tokio::runtime::Runtime;

/// The allocator the `airlock` binary (and so the gateway) uses.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() {
    divan::main();
}

static RT: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
});

static BIG_N: LazyLock<usize> = LazyLock::new(|| {
    std::env::var("AIRLOCK_BENCH_BIG")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
});
const BATCH: usize = 1000;

fn record(i: usize) -> AuditRecord {
    let envelope: Envelope = serde_json::from_value(serde_json::json!({
        "kind": "shell",
        "command": format!("curl -X POST https://backboard.railway.com/graphql/v2 -H 'Authorization: Bearer x' -d '{{\"query\":\"mutation {{ volumeDelete(volumeId: \\\"{i}\\\") }}\"}}'"),
        "agent": "claude-code",
        "session": "0f8e2c",
    }))
    .unwrap();
    let decision = Decision {
        verdict: Verdict::Ask,
        reasons: vec![Reason {
            rule: "GQL001".into(),
            policy: "ask-destructive".into(),
            message: "graphql-volume-delete: volumeDelete on railway".into(),
            span: None,
        }],
        actions: vec![],
        mitigation: Mitigation::None,
    };
    AuditRecord::new(&envelope, &decision, "held")
}

/// The envelope the gateway builds for an allowed `GET` (what `scripts/bench-gateway` sends).
const GATEWAY_GET: &str = r#"{"kind":"http","method":"GET","url":"http://127.0.0.1:41000/v1/items","headers":{"accept":"*/*","user-agent":"curl/8.5.0"},"agent":"bench","environment":"production","upstream":"bench"}"#;

/// What every judged request pays before its audit entry is queued: digest, redacted summary and reasons.
#[divan::bench]
fn audit_record_of_a_gateway_get(bencher: Bencher) {
    let envelope: Envelope = serde_json::from_str(GATEWAY_GET).unwrap();
    let decision = Decision {
        verdict: Verdict::Allow,
        reasons: vec![],
        actions: vec![],
        mitigation: Mitigation::None,
    };
    bencher.bench(|| AuditRecord::new(divan::black_box(&envelope), &decision, "allowed"));
}

/// The request digest alone (binds approvals and audit entries to the exact request).
#[divan::bench]
fn request_digest_of_a_gateway_get(bencher: Bencher) {
    let envelope: Envelope = serde_json::from_str(GATEWAY_GET).unwrap();
    bencher.bench(|| airlock_store::request_digest(divan::black_box(&envelope)));
}

struct Db {
    #[allow(dead_code)]
    test: support::TestDb,
}

fn pg_enabled() -> bool {
    std::env::var("AIRLOCK_BENCH_PG")
        .map(|v| v != "0")
        .unwrap_or(true)
}

static SQLITE_SMALL: LazyLock<Db> = LazyLock::new(|| Db {
    test: RT.block_on(support::sqlite_db()),
});
static PG_SMALL: LazyLock<Option<Db>> = LazyLock::new(|| {
    if pg_enabled() {
        RT.block_on(support::pg_db()).map(|test| Db { test })
    } else {
        None
    }
});

/// A database holding exactly `BIG` entries.
fn filled(test: support::TestDb) -> Db {
    RT.block_on(async {
        let started = std::time::Instant::now();
        for chunk in 0..(*BIG_N / 10_000) {
            test.store
                .append_batch((0..10_000).map(|i| record(chunk * 10_000 + i)).collect())
                .await
                .unwrap();
        }
        eprintln!(
            "filled {} entries ({:?}) in {:?}",
            *BIG_N,
            test.backend,
            started.elapsed()
        );
    });
    Db { test }
}

static SQLITE_BIG: LazyLock<Db> = LazyLock::new(|| filled(RT.block_on(support::sqlite_db())));
static PG_BIG: LazyLock<Option<Db>> = LazyLock::new(|| {
    if pg_enabled() {
        RT.block_on(support::pg_db()).map(filled)
    } else {
        None
    }
});

fn store_of(db: &Db) -> &Store {
    &db.test.store
}

#[divan::bench(sample_count = 200, sample_size = 5)]
fn sqlite_append_one(bencher: Bencher) {
    let store = store_of(&SQLITE_SMALL).clone();
    let rec = record(1);
    bencher.bench_local(|| RT.block_on(store.append(rec.clone())).unwrap());
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn sqlite_append_batch_1000(bencher: Bencher) {
    let store = store_of(&SQLITE_SMALL).clone();
    let records: Vec<AuditRecord> = (0..BATCH).map(record).collect();
    bencher
        .counter(ItemsCount::new(BATCH))
        .with_inputs(|| records.clone())
        .bench_local_values(|batch| RT.block_on(store.append_batch(batch)).unwrap());
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn sqlite_verify_1m(bencher: Bencher) {
    let store = store_of(&SQLITE_BIG).clone();
    bencher.counter(ItemsCount::new(*BIG_N)).bench_local(|| {
        let report = RT.block_on(store.verify(None)).unwrap();
        assert!(report.is_ok() && report.count >= *BIG_N as i64);
    });
}

#[divan::bench(sample_count = 200, sample_size = 5)]
fn postgres_append_one(bencher: Bencher) {
    let Some(db) = PG_SMALL.as_ref() else { return };
    let store = store_of(db).clone();
    let rec = record(1);
    bencher.bench_local(|| RT.block_on(store.append(rec.clone())).unwrap());
}

#[divan::bench(sample_count = 20, sample_size = 1)]
fn postgres_append_batch_1000(bencher: Bencher) {
    let Some(db) = PG_SMALL.as_ref() else { return };
    let store = store_of(db).clone();
    let records: Vec<AuditRecord> = (0..BATCH).map(record).collect();
    bencher
        .counter(ItemsCount::new(BATCH))
        .with_inputs(|| records.clone())
        .bench_local_values(|batch| RT.block_on(store.append_batch(batch)).unwrap());
}

#[divan::bench(sample_count = 3, sample_size = 1)]
fn postgres_verify_1m(bencher: Bencher) {
    let Some(db) = PG_BIG.as_ref() else { return };
    let store = store_of(db).clone();
    bencher.counter(ItemsCount::new(*BIG_N)).bench_local(|| {
        let report = RT.block_on(store.verify(None)).unwrap();
        assert!(report.is_ok() && report.count >= *BIG_N as i64);
    });
}
