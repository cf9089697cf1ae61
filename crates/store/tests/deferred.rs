//! Deferred requests against real databases (SQLite file and a test-started PostgreSQL): a request runs only
//! after its cancel window (a manual clock, no sleeping), a cancelled one never runs, a restart in between
//! keeps it, two executors on two connections never both run it, a crash while executing is not retried,
//! credentials are never stored, and every step is in the audit log.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

#[macro_use]
mod support;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use airlock_engine::{Engine, Envelope, Mitigation, Verdict};
use airlock_store::deferred::EXECUTION_UNKNOWN_AFTER_MS;
use airlock_store::{
    AuditFilter, Clock as _, Deferred, DeferredState, ManualClock, NewDeferred, OpenOptions,
    ReplayRequest, Store, StoreError, run_due_deferred,
};
use support::TestDb;

on_both!(
    runs_after_the_window_and_only_then,
    cancel_prevents_it,
    restart_in_between_keeps_it,
    two_executors_never_run_one_request_twice,
    crash_while_executing_is_not_retried,
    credentials_are_never_stored,
    error_answers_and_network_errors_are_failures,
);

const START: i64 = 1_700_000_000_000;
const WINDOW: i64 = 600_000;
const BODY: &str = r#"{"query":"mutation { volumeDelete(volumeId: \"8a4c\") }"}"#;

fn incident(agent: &str) -> Envelope {
    serde_json::from_value(serde_json::json!({
        "kind": "http",
        "method": "POST",
        "url": "https://backboard.railway.com/graphql/v2",
        "headers": {"content-type": "application/json"},
        "body": BODY,
        "agent": agent,
        "session": "s1",
        "environment": "production",
    }))
    .unwrap()
}

fn new_deferred(agent: &str) -> NewDeferred {
    let envelope = incident(agent);
    let decision = Engine::new().unwrap().decide(&envelope);
    NewDeferred::new(
        "railway",
        ReplayRequest {
            method: "POST".into(),
            path: "/graphql/v2".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: BODY.as_bytes().to_vec(),
        },
        &envelope,
        &decision,
    )
    .with_approval("apr_0123456789abcdef")
}

fn clocked(store: &Store, clock: &Arc<ManualClock>) -> Store {
    store.clone().with_clock(clock.clone())
}

/// An executor that records what it was given and answers `status`.
#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Deferred>>>);

impl Recorder {
    async fn run(&self, store: &Store, status: u16) -> Vec<Deferred> {
        let seen = self.0.clone();
        run_due_deferred(store, store.now_ms(), move |d| {
            let seen = seen.clone();
            async move {
                seen.lock().unwrap().push(d);
                Ok((status, "{\"data\":{\"volumeDelete\":true}}".to_string()))
            }
        })
        .await
        .unwrap()
    }

    fn ids(&self) -> Vec<String> {
        self.0
            .lock()
            .unwrap()
            .iter()
            .map(|d| d.id.clone())
            .collect()
    }
}

async fn outcomes(store: &Store) -> Vec<String> {
    store
        .list(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| e.outcome)
        .collect()
}

async fn runs_after_the_window_and_only_then(db: TestDb) {
    let clock = Arc::new(ManualClock::new(START));
    let store = clocked(&db.store, &clock);
    // The policy defers this request once a person approves it: what the gateway stores here.
    let decision = Engine::new().unwrap().decide(&incident("claude"));
    assert_eq!(decision.mitigation, Mitigation::Defer, "{decision:?}");
    let deferred = store.defer(new_deferred("claude"), WINDOW).await.unwrap();
    assert!(deferred.id.starts_with("def_"), "{}", deferred.id);
    assert_eq!(deferred.state, DeferredState::Pending);
    assert_eq!(deferred.executes_at_ms, START + WINDOW);
    assert_eq!(deferred.decision, Verdict::Ask);
    assert!(
        deferred.summary.contains("volumeDelete"),
        "{}",
        deferred.summary
    );
    assert_eq!(store.list_deferred(false).await.unwrap().len(), 1);

    let executor = Recorder::default();
    clock.set(START + WINDOW - 1);
    assert!(
        executor.run(&store, 200).await.is_empty(),
        "ran before its window"
    );
    assert!(
        store
            .claim_due(clock.now_ms(), 10)
            .await
            .unwrap()
            .is_empty()
    );

    clock.set(START + WINDOW);
    let done = executor.run(&store, 200).await;
    assert_eq!(done.len(), 1);
    let given = executor.0.lock().unwrap()[0].clone();
    assert_eq!(given.id, deferred.id);
    assert_eq!(given.request.method, "POST");
    assert_eq!(given.request.path, "/graphql/v2");
    assert_eq!(given.request.body, BODY.as_bytes());
    assert_eq!(
        given.request.headers,
        vec![("content-type".to_string(), "application/json".to_string())]
    );
    assert_eq!(given.upstream, "railway");

    let finished = store.deferred(&deferred.id).await.unwrap();
    assert_eq!(finished.state, DeferredState::Executed);
    assert_eq!(finished.result_status, Some(200));
    assert!(finished.result_summary.unwrap().contains("volumeDelete"));
    assert_eq!(finished.finished_ms, Some(START + WINDOW));
    assert!(finished.request.body.is_empty() && finished.request.headers.is_empty());
    assert!(store.list_deferred(false).await.unwrap().is_empty());
    assert_eq!(store.list_deferred(true).await.unwrap().len(), 1);

    // Later runs find nothing: executed once.
    clock.advance(3_600_000);
    assert!(executor.run(&store, 200).await.is_empty());
    assert_eq!(executor.ids(), vec![deferred.id.clone()]);

    let log = outcomes(&store).await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[0].starts_with(&format!("deferred {} until ", deferred.id)),
        "{log:?}"
    );
    assert_eq!(log[1], format!("executed {} (200)", deferred.id));
    let entries = store.list(&AuditFilter::default()).await.unwrap();
    assert_eq!(finished.audit_seq, Some(entries[0].seq));
    assert_eq!(finished.result_audit_seq, Some(entries[1].seq));
    assert_eq!(entries[1].mitigation, "defer");
    assert_eq!(
        entries[1].approval_id.as_deref(),
        Some("apr_0123456789abcdef")
    );
    assert_eq!(entries[1].agent.as_deref(), Some("claude"));
    assert!(store.verify(None).await.unwrap().is_ok());
}

async fn cancel_prevents_it(db: TestDb) {
    let clock = Arc::new(ManualClock::new(START));
    let store = clocked(&db.store, &clock);
    let keep = store.defer(new_deferred("claude"), WINDOW).await.unwrap();
    let cancel = store.defer(new_deferred("claude"), WINDOW).await.unwrap();
    clock.advance(WINDOW - 1);
    let cancelled = store.cancel_deferred(&cancel.id, "alice").await.unwrap();
    assert_eq!(cancelled.state, DeferredState::Cancelled);
    assert_eq!(cancelled.cancelled_by.as_deref(), Some("alice"));
    assert!(cancelled.request.body.is_empty());

    clock.advance(1);
    let executor = Recorder::default();
    executor.run(&store, 200).await;
    assert_eq!(
        executor.ids(),
        vec![keep.id.clone()],
        "the cancelled one ran"
    );
    assert_eq!(
        store.deferred(&cancel.id).await.unwrap().state,
        DeferredState::Cancelled
    );

    // Only pending requests can be cancelled; the error names the state.
    let again = store.cancel_deferred(&cancel.id, "bob").await.unwrap_err();
    assert!(
        matches!(&again, StoreError::DeferredNotCancellable { state, .. } if state == "cancelled"),
        "{again:?}"
    );
    let late = store.cancel_deferred(&keep.id, "bob").await.unwrap_err();
    assert!(
        late.to_string()
            .contains("is executed and can no longer be cancelled"),
        "{late}"
    );
    let missing = store.cancel_deferred("def_nope", "bob").await.unwrap_err();
    assert!(
        matches!(missing, StoreError::DeferredNotFound(_)),
        "{missing:?}"
    );

    let log = outcomes(&store).await;
    assert!(
        log.contains(&format!("cancelled {} by alice", cancel.id)),
        "{log:?}"
    );
    assert!(!log.iter().any(|o| o.contains("by bob")), "{log:?}");
    assert!(store.verify(None).await.unwrap().is_ok());
}

async fn restart_in_between_keeps_it(db: TestDb) {
    let clock = Arc::new(ManualClock::new(START));
    let store = clocked(&db.store, &clock);
    let deferred = store.defer(new_deferred("claude"), WINDOW).await.unwrap();
    store.close().await;
    db.store.close().await;

    // A new process: a new store on the same database, after the window.
    clock.advance(WINDOW + 5_000);
    let reopened = clocked(&db.reopen(&OpenOptions::default()).await, &clock);
    let pending = reopened.list_deferred(false).await.unwrap();
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0].id, deferred.id);
    assert_eq!(pending[0].request.body, BODY.as_bytes());
    let executor = Recorder::default();
    executor.run(&reopened, 200).await;
    assert_eq!(executor.ids(), vec![deferred.id.clone()]);
    reopened.close().await;

    let third = clocked(&db.reopen(&OpenOptions::default()).await, &clock);
    assert!(
        executor.run(&third, 200).await.is_empty(),
        "ran again after a restart"
    );
    assert_eq!(
        third.deferred(&deferred.id).await.unwrap().state,
        DeferredState::Executed
    );
    third.close().await;
}

async fn two_executors_never_run_one_request_twice(db: TestDb) {
    let clock = Arc::new(ManualClock::new(START));
    let first = clocked(&db.store, &clock);
    let mut ids = BTreeSet::new();
    for _ in 0..24 {
        ids.insert(
            first
                .defer(new_deferred("claude"), WINDOW)
                .await
                .unwrap()
                .id,
        );
    }
    clock.advance(WINDOW);
    // Two stores = two connection pools, as two gateway processes or replicas have.
    let second = clocked(&db.reopen(&OpenOptions::default()).await, &clock);
    let executed: Arc<Mutex<Vec<String>>> = Arc::default();
    let executor = |store: Store| {
        let executed = executed.clone();
        tokio::spawn(async move {
            run_due_deferred(&store, store.now_ms(), move |d| {
                let executed = executed.clone();
                async move {
                    executed.lock().unwrap().push(d.id);
                    tokio::task::yield_now().await;
                    Ok((204, String::new()))
                }
            })
            .await
            .unwrap()
            .len()
        })
    };
    let (a, b) = tokio::join!(executor(first.clone()), executor(second.clone()));
    let (a, b) = (a.unwrap(), b.unwrap());
    let executed = executed.lock().unwrap().clone();
    assert_eq!(a + b, 24, "first ran {a}, second ran {b}");
    let unique: BTreeSet<String> = executed.iter().cloned().collect();
    assert_eq!(
        executed.len(),
        unique.len(),
        "a request ran twice: {executed:?}"
    );
    assert_eq!(unique, ids);
    let states: Vec<DeferredState> = first
        .list_deferred(true)
        .await
        .unwrap()
        .into_iter()
        .map(|d| d.state)
        .collect();
    assert!(
        states.iter().all(|s| *s == DeferredState::Executed),
        "{states:?}"
    );
    assert!(first.verify(None).await.unwrap().is_ok());
    second.close().await;
}

async fn crash_while_executing_is_not_retried(db: TestDb) {
    let clock = Arc::new(ManualClock::new(START));
    let store = clocked(&db.store, &clock);
    let deferred = store.defer(new_deferred("claude"), WINDOW).await.unwrap();
    clock.advance(WINDOW);
    // The executor claims it, then the process dies before it records a result.
    let claimed = store.claim_due(clock.now_ms(), 10).await.unwrap();
    assert_eq!(claimed.len(), 1);
    assert_eq!(claimed[0].request.body, BODY.as_bytes());
    store.close().await;
    db.store.close().await;

    let restarted = clocked(&db.reopen(&OpenOptions::default()).await, &clock);
    let executor = Recorder::default();
    clock.advance(60_000);
    assert!(
        executor.run(&restarted, 200).await.is_empty(),
        "an interrupted execution was retried"
    );
    assert_eq!(
        restarted.deferred(&deferred.id).await.unwrap().state,
        DeferredState::Executing
    );
    clock.advance(EXECUTION_UNKNOWN_AFTER_MS);
    let listed = restarted.list_deferred(false).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        listed[0].state,
        DeferredState::Unknown,
        "shown to a person as unknown"
    );
    let cancel = restarted
        .cancel_deferred(&deferred.id, "alice")
        .await
        .unwrap_err();
    assert!(cancel.to_string().contains("is unknown"), "{cancel}");
    assert!(executor.run(&restarted, 200).await.is_empty());
    restarted.close().await;
}

async fn credentials_are_never_stored(db: TestDb) {
    let store = db.store.clone();
    for header in ["Authorization", "proxy-authorization", " Cookie"] {
        let mut request = new_deferred("claude");
        request
            .request
            .headers
            .push((header.to_string(), "Bearer alt_agent_token".to_string()));
        let err = store.defer(request, WINDOW).await.unwrap_err();
        assert!(
            matches!(err, StoreError::CredentialInDeferred(_)),
            "{err:?}"
        );
        assert!(
            err.to_string().contains("credentials are never stored"),
            "{err}"
        );
    }
    assert!(store.list_deferred(true).await.unwrap().is_empty());
    assert!(
        outcomes(&store).await.is_empty(),
        "a refused deferral was audited as deferred"
    );
}

async fn error_answers_and_network_errors_are_failures(db: TestDb) {
    let clock = Arc::new(ManualClock::new(START));
    let store = clocked(&db.store, &clock);
    let answered = store.defer(new_deferred("claude"), WINDOW).await.unwrap();
    clock.advance(1);
    let unreachable = store.defer(new_deferred("claude"), WINDOW).await.unwrap();
    clock.advance(WINDOW);
    let done = run_due_deferred(&store, clock.now_ms(), |d| {
        let first = d.id == answered.id;
        async move {
            if first {
                Ok((500, "internal error\nretry later".to_string()))
            } else {
                Err("connection refused (sent Bearer abcdef123456)".to_string())
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(done.len(), 2);
    let answered = store.deferred(&answered.id).await.unwrap();
    assert_eq!(answered.state, DeferredState::Failed);
    assert_eq!(answered.result_status, Some(500));
    assert_eq!(
        answered.result_summary.as_deref(),
        Some("internal error retry later")
    );
    let unreachable = store.deferred(&unreachable.id).await.unwrap();
    assert_eq!(unreachable.state, DeferredState::Failed);
    assert_eq!(unreachable.result_status, None);
    let summary = unreachable.result_summary.unwrap();
    assert!(summary.starts_with("connection refused"), "{summary}");
    assert!(!summary.contains("abcdef123456"), "secret kept: {summary}");
    let log = outcomes(&store).await;
    assert!(
        log.contains(&format!("failed {} (500)", answered.id)),
        "{log:?}"
    );
    assert!(
        log.iter()
            .any(|o| o.starts_with(&format!("failed {}: connection refused", unreachable.id))),
        "{log:?}"
    );
    // A finished request cannot be finished again.
    let err = store
        .finish_deferred(&answered.id, &Ok((200, String::new())))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::DeferredState { .. }), "{err:?}");
}
