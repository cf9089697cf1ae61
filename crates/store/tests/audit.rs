//! The audit log against real databases — every test runs on an SQLite file and on a PostgreSQL server the
//! test setup starts: appending and listing, the append-only triggers, tamper detection with raw SQL (a changed
//! field, a re-hashed change, a removed, inserted or reordered entry, a cut tail with an anchored head),
//! concurrent writers on several connections, and refusing a database from a newer airlock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

#[macro_use]
mod support;

use std::sync::Arc;

use airlock_engine::{Decision, Envelope, Mitigation, Reason, Verdict};
use airlock_store::canonical::{HashedFields, entry_hash};
use airlock_store::{
    AuditFilter, AuditRecord, ManualClock, OpenOptions, ProblemKind, StoreError, VerifyReport,
};
use support::TestDb;

on_both!(
    append_list_and_verify,
    log_refuses_update_and_delete,
    changed_field_is_named,
    changed_field_with_recomputed_hash_breaks_the_next_link,
    removed_entry_is_named,
    inserted_entry_is_named,
    reordered_entries_are_named,
    truncated_tail_is_detected_with_an_anchored_head,
    four_connections_make_one_chain,
    newer_schema_is_refused,
    failed_batch_leaves_nothing_and_the_next_append_works,
);

pub fn record(i: usize, agent: &str, verdict: Verdict) -> AuditRecord {
    let envelope: Envelope = serde_json::from_value(serde_json::json!({
        "kind": "shell",
        "command": format!("curl -H 'Authorization: Bearer sekret{i}' https://example.com/{i}"),
        "agent": agent,
        "session": "s1",
    }))
    .unwrap();
    let decision = Decision {
        verdict,
        reasons: vec![Reason {
            rule: "HTTP001".into(),
            policy: "ask-destructive".into(),
            message: format!("request {i} with token=sekret{i}"),
            span: None,
        }],
        actions: vec![],
        mitigation: Mitigation::None,
    };
    AuditRecord::new(&envelope, &decision, "held")
}

async fn fill(db: &TestDb, n: usize) -> Vec<airlock_store::AuditEntry> {
    db.store
        .append_batch(
            (1..=n)
                .map(|i| record(i, "agent-a", Verdict::Ask))
                .collect(),
        )
        .await
        .unwrap()
}

fn problem(report: &VerifyReport) -> (i64, ProblemKind, String) {
    let p = report
        .problem
        .as_ref()
        .unwrap_or_else(|| panic!("tampering went undetected: {report:?}"));
    (p.seq, p.kind, p.message.clone())
}

async fn append_list_and_verify(db: TestDb) {
    let clock = Arc::new(ManualClock::new(1_000_000));
    let store = db.store.clone().with_clock(clock.clone());
    let empty = store.verify(None).await.unwrap();
    assert!(empty.is_ok() && empty.count == 0 && empty.head == airlock_store::GENESIS_HASH);

    let first = store
        .append(record(1, "agent-a", Verdict::Allow))
        .await
        .unwrap();
    assert_eq!(first.seq, 1);
    assert_eq!(first.prev_hash, airlock_store::GENESIS_HASH);
    clock.advance(60_000);
    let batch = store
        .append_batch(
            (2..=20)
                .map(|i| {
                    record(
                        i,
                        if i % 2 == 0 { "agent-b" } else { "agent-a" },
                        Verdict::Ask,
                    )
                })
                .collect(),
        )
        .await
        .unwrap();
    assert_eq!(batch.first().unwrap().prev_hash, first.hash);
    assert_eq!(batch.last().unwrap().seq, 20);
    clock.advance(60_000);
    let last = store
        .append(record(21, "agent-c", Verdict::Deny))
        .await
        .unwrap();

    // Secrets never reach the store.
    for e in store.list(&AuditFilter::default()).await.unwrap() {
        assert!(
            !e.summary.contains("sekret") && !e.reasons.contains("sekret"),
            "{e:?}"
        );
        assert_eq!(e.digest.len(), 64);
    }

    let report = store.verify(None).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(
        (report.count, report.head.as_str()),
        (21, last.hash.as_str())
    );
    let head = store.head().await.unwrap();
    assert_eq!((head.count, head.hash.as_str()), (21, last.hash.as_str()));
    assert!(store.verify(Some(&first.hash)).await.unwrap().is_ok());
    assert!(
        store
            .verify(Some(&last.hash.to_uppercase()))
            .await
            .unwrap()
            .is_ok()
    );

    let all = store.list(&AuditFilter::default()).await.unwrap();
    assert_eq!(
        all.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=21).collect::<Vec<_>>()
    );
    let b = store
        .list(&AuditFilter {
            agent: Some("agent-b".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(b.len(), 10);
    assert!(b.iter().all(|e| e.agent.as_deref() == Some("agent-b")));
    let denies = store
        .list(&AuditFilter {
            decision: Some("DENY".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(denies.len(), 1);
    assert_eq!(denies[0].hash, last.hash);
    let recent = store
        .list(&AuditFilter {
            since_ms: Some(1_000_000 + 90_000),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(recent.len(), 1);
    let limited = store
        .list(&AuditFilter {
            limit: Some(3),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(
        limited.iter().map(|e| e.seq).collect::<Vec<_>>(),
        vec![19, 20, 21]
    );

    // A second store on the same database continues the same chain.
    let other = db.reopen(&OpenOptions::default()).await;
    let next = other
        .append(record(22, "agent-a", Verdict::Allow))
        .await
        .unwrap();
    assert_eq!(
        (next.seq, next.prev_hash.as_str()),
        (22, last.hash.as_str())
    );
    assert!(store.verify(None).await.unwrap().is_ok());
}

/// A batch whose last row the database refuses: nothing of it is kept, the error reaches the caller, and the
/// connection it ran on is usable afterwards (on SQLite the transaction is run by hand, so this is the path
/// that must roll back and not hand out a connection still inside it).
async fn failed_batch_leaves_nothing_and_the_next_append_works(db: TestDb) {
    fill(&db, 2).await;
    let refuse = match db.backend {
        airlock_store::Backend::Sqlite => {
            "CREATE TRIGGER refuse_boom BEFORE INSERT ON audit_log WHEN NEW.agent = 'boom' \
             BEGIN SELECT RAISE(ABORT, 'boom refused'); END"
        }
        airlock_store::Backend::Postgres => {
            "CREATE FUNCTION refuse_boom() RETURNS trigger AS $$ BEGIN \
             IF NEW.agent = 'boom' THEN RAISE EXCEPTION 'boom refused'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql; \
             CREATE TRIGGER refuse_boom BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_boom()"
        }
    };
    db.raw(refuse).await;
    // 11 records: more than one INSERT statement, the refused row in the last one.
    let mut batch: Vec<AuditRecord> = (3..=12)
        .map(|i| record(i, "agent-a", Verdict::Ask))
        .collect();
    batch.push(record(13, "boom", Verdict::Deny));
    let err = db.store.append_batch(batch).await.unwrap_err();
    assert!(err.to_string().contains("boom refused"), "{err}");
    assert_eq!(
        db.store.head().await.unwrap().count,
        2,
        "nothing of the batch is kept"
    );
    // Every connection of the pool still appends (none is left inside the failed transaction).
    for i in 0..6 {
        let entry = db
            .store
            .append(record(100 + i, "agent-a", Verdict::Allow))
            .await
            .unwrap();
        assert_eq!(entry.seq, 3 + i as i64);
    }
    let report = db.store.verify(None).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.count, 8);
}

async fn log_refuses_update_and_delete(db: TestDb) {
    fill(&db, 3).await;
    let update = db
        .try_raw("UPDATE audit_log SET summary = 'nothing to see' WHERE seq = 2")
        .await;
    assert!(update.unwrap_err().to_string().contains("append-only"));
    let delete = db.try_raw("DELETE FROM audit_log WHERE seq = 3").await;
    assert!(delete.unwrap_err().to_string().contains("append-only"));
    assert_eq!(db.store.verify(None).await.unwrap().count, 3);
}

async fn changed_field_is_named(db: TestDb) {
    fill(&db, 30).await;
    db.drop_append_only_triggers().await;
    db.raw("UPDATE audit_log SET decision = 'allow' WHERE seq = 17")
        .await;
    let report = db.store.verify(None).await.unwrap();
    let (seq, kind, message) = problem(&report);
    assert_eq!((seq, kind), (17, ProblemKind::Altered));
    assert!(message.contains("entry #17 was altered"), "{message}");
    assert_eq!(report.count, 16);
}

async fn changed_field_with_recomputed_hash_breaks_the_next_link(db: TestDb) {
    let entries = fill(&db, 30).await;
    db.drop_append_only_triggers().await;
    let mut forged = entries[16].clone();
    forged.outcome = "executed".into();
    let fields = HashedFields {
        seq: forged.seq,
        ts_ms: forged.ts_ms,
        agent: forged.agent.as_deref(),
        session: forged.session.as_deref(),
        kind: &forged.kind,
        digest: &forged.digest,
        summary: &forged.summary,
        decision: &forged.decision,
        reasons: &forged.reasons,
        mitigation: &forged.mitigation,
        approval_id: forged.approval_id.as_deref(),
        outcome: &forged.outcome,
        prev_hash: &forged.prev_hash,
    };
    let hash = entry_hash(&fields, &mut Vec::new());
    db.raw(&format!(
        "UPDATE audit_log SET outcome = 'executed', hash = '{hash}' WHERE seq = 17"
    ))
    .await;
    let (seq, kind, message) = problem(&db.store.verify(None).await.unwrap());
    assert_eq!((seq, kind), (18, ProblemKind::Inserted));
    assert!(
        message.contains("entry #18 does not follow entry #17"),
        "{message}"
    );
}

async fn removed_entry_is_named(db: TestDb) {
    fill(&db, 30).await;
    db.drop_append_only_triggers().await;
    db.raw("DELETE FROM audit_log WHERE seq = 10").await;
    let (seq, kind, message) = problem(&db.store.verify(None).await.unwrap());
    assert_eq!((seq, kind), (10, ProblemKind::Removed));
    assert!(message.contains("entry #10 was removed"), "{message}");
}

async fn inserted_entry_is_named(db: TestDb) {
    let entries = fill(&db, 30).await;
    db.drop_append_only_triggers().await;
    // Make room at #10 and insert a well-formed entry there that links to #9 and has a correct hash of its own.
    db.raw("UPDATE audit_log SET seq = seq + 1000000 WHERE seq >= 10")
        .await;
    db.raw("UPDATE audit_log SET seq = seq - 999999 WHERE seq >= 1000000")
        .await;
    let prev = &entries[8];
    let fields = HashedFields {
        seq: 10,
        ts_ms: prev.ts_ms,
        agent: Some("agent-a"),
        session: None,
        kind: "shell",
        digest: &prev.digest,
        summary: "shell: true",
        decision: "allow",
        reasons: "[]",
        mitigation: "none",
        approval_id: None,
        outcome: "allowed",
        prev_hash: &prev.hash,
    };
    let hash = entry_hash(&fields, &mut Vec::new());
    db.raw(&format!(
        "INSERT INTO audit_log (seq, ts_ms, agent, session, kind, digest, summary, decision, reasons, mitigation, approval_id, outcome, prev_hash, hash) \
         VALUES (10, {}, 'agent-a', NULL, 'shell', '{}', 'shell: true', 'allow', '[]', 'none', NULL, 'allowed', '{}', '{hash}')",
        prev.ts_ms, prev.digest, prev.hash
    ))
    .await;
    let (seq, kind, message) = problem(&db.store.verify(None).await.unwrap());
    // The forged entry itself is consistent; the first entry that no longer fits is the one after it, which is
    // the old #10 (now numbered 11, so its own hash, which covers its number, no longer matches).
    assert_eq!(seq, 11, "{message}");
    assert!(
        matches!(kind, ProblemKind::Altered | ProblemKind::Inserted),
        "{kind:?}"
    );
}

async fn reordered_entries_are_named(db: TestDb) {
    fill(&db, 30).await;
    db.drop_append_only_triggers().await;
    db.raw("UPDATE audit_log SET seq = -5 WHERE seq = 5").await;
    db.raw("UPDATE audit_log SET seq = 5 WHERE seq = 6").await;
    db.raw("UPDATE audit_log SET seq = 6 WHERE seq = -5").await;
    let (seq, kind, message) = problem(&db.store.verify(None).await.unwrap());
    assert_eq!((seq, kind), (5, ProblemKind::Altered), "{message}");
}

async fn truncated_tail_is_detected_with_an_anchored_head(db: TestDb) {
    fill(&db, 30).await;
    let anchor = db.store.head().await.unwrap();
    assert_eq!(anchor.count, 30);
    db.drop_append_only_triggers().await;
    db.raw("DELETE FROM audit_log WHERE seq > 24").await;
    // Without an anchor a cut tail is indistinguishable from a shorter log…
    let plain = db.store.verify(None).await.unwrap();
    assert!(plain.is_ok() && plain.count == 24);
    // …with the anchor it is named.
    let report = db.store.verify(Some(&anchor.hash)).await.unwrap();
    let (seq, kind, message) = problem(&report);
    assert_eq!((seq, kind), (25, ProblemKind::Truncated));
    assert!(
        message.contains(&anchor.hash) && message.contains("ends at entry #24"),
        "{message}"
    );
}

async fn four_connections_make_one_chain(db: TestDb) {
    const WRITERS: usize = 4;
    const EACH: usize = 1000;
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        // Each writer has its own pool with a single connection: four connections at once.
        let store = db
            .reopen(&OpenOptions {
                max_connections: 1,
                ..OpenOptions::default()
            })
            .await;
        tasks.push(tokio::spawn(async move {
            let mut seqs = Vec::with_capacity(EACH);
            for i in 0..EACH {
                seqs.push(
                    store
                        .append(record(w * EACH + i, &format!("w{w}"), Verdict::Allow))
                        .await
                        .unwrap()
                        .seq,
                );
            }
            seqs
        }));
    }
    let mut seqs = Vec::new();
    for task in tasks {
        seqs.extend(task.await.unwrap());
    }
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=(WRITERS * EACH) as i64).collect::<Vec<_>>());
    let report = db.store.verify(None).await.unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.count, (WRITERS * EACH) as i64);
}

async fn newer_schema_is_refused(db: TestDb) {
    fill(&db, 2).await;
    db.raw(
        "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
         VALUES (99990101000000, 'from the future', TRUE, X'00', 0)"
            .replace(
                "X'00'",
                if db.backend == airlock_store::Backend::Sqlite {
                    "X'00'"
                } else {
                    "'\\x00'::bytea"
                },
            )
            .as_str(),
    )
    .await;
    let err = airlock_store::Store::open(&db.url).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 99990101000000,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains("schema version 99990101000000, newer than this airlock")
            && message.contains("upgrade airlock")
    );
    // Nothing was changed: the log is still there.
    assert_eq!(db.store.verify(None).await.unwrap().count, 2);
}

#[tokio::test]
async fn corrupt_sqlite_file_is_an_error_and_is_left_alone() {
    let dir = support::TempDir::new("corrupt");
    let path = dir.0.join("airlock.db");
    let garbage =
        b"this is not an SQLite database, it is a text file that happens to be here".repeat(100);
    std::fs::write(&path, &garbage).unwrap();
    let err = airlock_store::Store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::Corrupt { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("corrupt or not an SQLite database"),
        "{err}"
    );
    assert_eq!(
        std::fs::read(&path).unwrap(),
        garbage,
        "the file must not be replaced"
    );
}

#[tokio::test]
async fn unreadable_sqlite_location_is_an_error() {
    let dir = support::TempDir::new("unreadable");
    // A directory where the database file should be.
    let path = dir.0.join("airlock.db");
    std::fs::create_dir_all(&path).unwrap();
    let err = airlock_store::Store::open(&format!("sqlite://{}", path.display()))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
}

#[tokio::test]
async fn postgres_that_is_down_is_a_clear_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let options = OpenOptions {
        connect_timeout: std::time::Duration::from_secs(2),
        ..OpenOptions::default()
    };
    let err = airlock_store::Store::open_with(
        &format!("postgres://airlock:pw@127.0.0.1:{port}/airlock"),
        &options,
    )
    .await
    .unwrap_err();
    let message = err.to_string();
    assert!(
        message.starts_with("cannot open database `postgres://airlock:***@127.0.0.1:"),
        "{message}"
    );
    assert!(!message.contains(":pw@"), "{message}");
}

/// Verification reads the log in pages of 25,000 entries; a removal right at a page boundary and an alteration
/// in a later page are still named (see `page_bounds` in the store).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn problems_across_verify_pages_are_named() {
    let db = support::sqlite_db().await;
    for chunk in 0..6 {
        db.store
            .append_batch(
                (0..5_000)
                    .map(|i| record(chunk * 5_000 + i, "bulk", Verdict::Allow))
                    .collect(),
            )
            .await
            .unwrap();
    }
    let report = db.store.verify(None).await.unwrap();
    assert!(report.is_ok() && report.count == 30_000, "{report:?}");
    db.drop_append_only_triggers().await;
    db.raw("UPDATE audit_log SET agent = 'someone-else' WHERE seq = 27000")
        .await;
    let (seq, kind, _) = problem(&db.store.verify(None).await.unwrap());
    assert_eq!((seq, kind), (27_000, ProblemKind::Altered));
    db.raw("DELETE FROM audit_log WHERE seq = 25001").await;
    let (seq, kind, message) = problem(&db.store.verify(None).await.unwrap());
    assert_eq!((seq, kind), (25_001, ProblemKind::Removed), "{message}");
    db.raw("DELETE FROM audit_log WHERE seq = 25000").await;
    let (seq, kind, message) = problem(&db.store.verify(None).await.unwrap());
    assert_eq!((seq, kind), (25_000, ProblemKind::Removed), "{message}");
}
