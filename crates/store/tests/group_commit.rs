//! Group commit ([`Store::with_group_commit`]): many concurrent appends make one valid chain in which every
//! caller gets its own committed entry; when a batch cannot be written every caller in it gets an error and
//! nothing of it is in the log (fail closed), and the writer goes on once the database accepts writes again;
//! once the store is closed, the connection the writer keeps is not used any more.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod support;

use std::collections::BTreeSet;

use airlock_engine::{Engine, Envelope};
use airlock_store::{AuditRecord, StoreError};

fn record(i: usize) -> AuditRecord {
    let envelope: Envelope = serde_json::from_str(&format!(
        r#"{{"kind":"shell","command":"echo {i}","agent":"a{i}"}}"#
    ))
    .unwrap();
    let decision = Engine::new().unwrap().decide(&envelope);
    AuditRecord::new(&envelope, &decision, format!("outcome-{i}"))
}

async fn concurrent_appends_form_one_chain(db: support::TestDb) {
    let store = db.store.clone().with_group_commit();
    let records: Vec<AuditRecord> = (0..300).map(record).collect();
    let mut tasks = Vec::new();
    for (i, r) in records.iter().cloned().enumerate() {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            (i, r.clone(), store.append(r).await.unwrap())
        }));
    }
    let mut seqs = BTreeSet::new();
    for task in tasks {
        let (i, r, entry) = task.await.unwrap();
        assert_eq!(entry.outcome, format!("outcome-{i}"));
        assert_eq!(entry.digest, r.digest);
        assert_eq!(entry.agent.as_deref(), Some(format!("a{i}").as_str()));
        assert!(seqs.insert(entry.seq), "seq {} given twice", entry.seq);
    }
    assert_eq!(seqs, (1..=300).collect());
    let report = store.verify(None).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.count, 300);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_concurrent_appends_form_one_chain() {
    concurrent_appends_form_one_chain(support::sqlite_db().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_concurrent_appends_form_one_chain() {
    let Some(db) = support::pg_db().await else {
        return;
    };
    concurrent_appends_form_one_chain(db).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_batch_fails_every_caller_and_records_nothing() {
    let db = support::sqlite_db().await;
    let store = db.store.clone().with_group_commit();
    store.append(record(0)).await.unwrap();
    db.raw("CREATE TRIGGER refuse_appends BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'disk says no'); END;")
        .await;
    let mut tasks = Vec::new();
    for i in 1..40 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move { store.append(record(i)).await }));
    }
    for task in tasks {
        match task.await.unwrap() {
            Err(StoreError::AuditBatch(message)) => {
                assert!(message.contains("disk says no"), "{message}")
            }
            other => panic!("expected a failed batch, got {other:?}"),
        }
    }
    assert_eq!(store.head().await.unwrap().count, 1);
    db.raw("DROP TRIGGER refuse_appends;").await;
    let entry = store.append(record(99)).await.unwrap();
    assert_eq!(entry.seq, 2);
    assert!(store.verify(None).await.unwrap().is_ok());
}

/// The writer keeps one SQLite connection between batches (its page cache stays warm); closing the store
/// completes, and appends after it fail — the kept connection is not used past the close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closing_ends_the_writers_kept_connection() {
    let db = support::sqlite_db().await;
    let store = db.store.clone().with_group_commit();
    for i in 0..20 {
        store.append(record(i)).await.unwrap();
    }
    tokio::time::timeout(std::time::Duration::from_secs(10), store.close())
        .await
        .expect("closing the store did not finish");
    assert!(store.append(record(20)).await.is_err());
}
