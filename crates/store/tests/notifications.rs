//! The webhook outbox against real databases (SQLite file and a test-started PostgreSQL), with a manual clock
//! (no sleeping): one notification per pending approval and webhook, however often enqueueing runs; none for
//! decided or expired approvals; an attempt is claimed by exactly one caller; a failure schedules the retry; a
//! delivery or a give-up finishes the row.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

#[macro_use]
mod support;

use std::sync::Arc;

use airlock_engine::{Decision, Envelope, Mitigation, Reason, Verdict};
use airlock_store::notifications::CLAIM_LEASE_MS;
use airlock_store::{ApprovalOptions, ManualClock, Store};
use support::TestDb;

on_both!(
    one_notification_per_pending_approval_and_webhook,
    claim_retry_and_finish,
);

const START_MS: i64 = 1_700_000_000_000;

fn held(command: &str) -> (Envelope, Decision) {
    let envelope: Envelope = serde_json::from_value(
        serde_json::json!({"kind": "shell", "command": command, "agent": "agent-1", "session": "s"}),
    )
    .unwrap();
    let decision = Decision {
        verdict: Verdict::Ask,
        reasons: vec![Reason {
            rule: "GQL001".into(),
            policy: "ask-destructive".into(),
            message: "graphql-volume-delete: volumeDelete".into(),
            span: None,
        }],
        actions: vec![],
        mitigation: Mitigation::None,
    };
    (envelope, decision)
}

async fn pending(store: &Store, command: &str, ttl_ms: i64) -> String {
    let (envelope, decision) = held(command);
    store
        .create_approval(
            &envelope,
            &decision,
            ApprovalOptions {
                ttl_ms,
                required: 1,
            },
        )
        .await
        .unwrap()
        .id
}

fn names(names: &[&str]) -> Vec<String> {
    names.iter().map(|n| n.to_string()).collect()
}

async fn one_notification_per_pending_approval_and_webhook(db: TestDb) {
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = db.store.clone().with_clock(clock.clone());
    let first = pending(&store, "railway volume delete a", 3_600_000).await;
    let short = pending(&store, "railway volume delete b", 1_000).await;
    let denied = pending(&store, "railway volume delete c", 3_600_000).await;
    let (_, secret) = store.add_approver("alice").await.unwrap();
    let alice = store.authenticate_approver(&secret).await.unwrap();
    store.deny(&denied, &alice, "no").await.unwrap();
    clock.advance(2_000); // `short` has expired by now

    let webhooks = names(&["ops", "slack"]);
    assert_eq!(store.enqueue_notifications(&webhooks).await.unwrap(), 2);
    // Enqueueing again (the next tick, a restart, another `serve`) adds nothing.
    assert_eq!(store.enqueue_notifications(&webhooks).await.unwrap(), 0);
    let rows = store.notifications_for(&first).await.unwrap();
    assert_eq!(
        rows.iter().map(|n| n.webhook.as_str()).collect::<Vec<_>>(),
        ["ops", "slack"]
    );
    for row in &rows {
        assert!(row.id.starts_with("ntf_"), "{}", row.id);
        assert_eq!(row.attempts, 0);
        assert_eq!(row.next_attempt_ms, Some(START_MS + 2_000));
        assert_eq!(row.created_ms, START_MS + 2_000);
        assert!(!row.is_finished());
    }
    assert_ne!(rows[0].id, rows[1].id);
    assert!(store.notifications_for(&short).await.unwrap().is_empty());
    assert!(store.notifications_for(&denied).await.unwrap().is_empty());

    // A webhook added later is told about what is still pending; a new approval gets one row per webhook.
    let second = pending(&store, "railway volume delete d", 3_600_000).await;
    assert_eq!(
        store
            .enqueue_notifications(&names(&["ops", "slack", "pager"]))
            .await
            .unwrap(),
        4,
        "pager for both, ops and slack for the new one"
    );
    assert_eq!(store.notifications_for(&first).await.unwrap().len(), 3);
    assert_eq!(store.notifications_for(&second).await.unwrap().len(), 3);
    let due = store.due_notifications(100).await.unwrap();
    assert_eq!(due.len(), 6);
    assert_eq!(store.due_notifications(4).await.unwrap().len(), 4);
    assert_eq!(
        store.next_notification_due().await.unwrap(),
        Some(START_MS + 2_000)
    );
}

async fn claim_retry_and_finish(db: TestDb) {
    let clock = Arc::new(ManualClock::new(START_MS));
    let store = db.store.clone().with_clock(clock.clone());
    let id = pending(&store, "railway volume delete a", 3_600_000).await;
    store
        .enqueue_notifications(&names(&["ops", "slack"]))
        .await
        .unwrap();
    let rows = store.notifications_for(&id).await.unwrap();
    let (ops, slack) = (&rows[0], &rows[1]);

    // Exactly one claimer wins an attempt; a claimed row is not due during its lease.
    let other = db
        .reopen(&Default::default())
        .await
        .with_clock(clock.clone());
    assert!(store.claim_notification(ops).await.unwrap());
    assert!(!other.claim_notification(ops).await.unwrap());
    let due = store.due_notifications(100).await.unwrap();
    assert_eq!(
        due.iter().map(|n| n.webhook.as_str()).collect::<Vec<_>>(),
        ["slack"]
    );
    let claimed = &store.notifications_for(&id).await.unwrap()[0];
    assert_eq!(claimed.attempts, 1);
    assert_eq!(claimed.next_attempt_ms, Some(START_MS + CLAIM_LEASE_MS));

    // A failure records why and when to try again; the row is due again then, and not before.
    store
        .notification_failed(
            &ops.id,
            "HTTP 500 Internal Server Error",
            Some(START_MS + 1_000),
        )
        .await
        .unwrap();
    assert!(
        store
            .due_notifications(100)
            .await
            .unwrap()
            .iter()
            .all(|n| n.id != ops.id)
    );
    clock.advance(1_000);
    let again = store
        .due_notifications(100)
        .await
        .unwrap()
        .into_iter()
        .find(|n| n.id == ops.id)
        .unwrap();
    assert_eq!(again.attempts, 1);
    assert_eq!(
        again.last_error.as_deref(),
        Some("HTTP 500 Internal Server Error")
    );
    // A stale read (attempt count already moved on) cannot claim it.
    assert!(!store.claim_notification(ops).await.unwrap());
    assert!(store.claim_notification(&again).await.unwrap());
    store.notification_delivered(&ops.id).await.unwrap();
    let delivered = &store.notifications_for(&id).await.unwrap()[0];
    assert_eq!(delivered.attempts, 2);
    assert_eq!(delivered.delivered_ms, Some(START_MS + 1_000));
    assert!(delivered.is_finished());
    assert_eq!(
        delivered.last_error.as_deref(),
        Some("HTTP 500 Internal Server Error")
    );
    // A late failure report does not undo a delivery.
    store
        .notification_failed(&ops.id, "late", Some(START_MS + 5_000))
        .await
        .unwrap();
    assert!(store.notifications_for(&id).await.unwrap()[0].is_finished());

    // Giving up finishes the row with its error; nothing is due any more.
    assert!(store.claim_notification(slack).await.unwrap());
    let long_error = "x".repeat(2_000);
    store
        .notification_failed(&slack.id, &long_error, None)
        .await
        .unwrap();
    let given_up = &store.notifications_for(&id).await.unwrap()[1];
    assert!(given_up.is_finished());
    assert_eq!(given_up.delivered_ms, None);
    assert!(given_up.last_error.as_ref().unwrap().chars().count() <= 501);
    clock.advance(10 * CLAIM_LEASE_MS);
    assert!(store.due_notifications(100).await.unwrap().is_empty());
    assert_eq!(store.next_notification_due().await.unwrap(), None);
}
