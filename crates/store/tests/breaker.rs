//! The circuit breaker against real databases (SQLite file and a test-started PostgreSQL), with a manual clock:
//! it trips at N+1 destructive requests and not at N, per agent and per upstream; once tripped it stays
//! tripped whatever the time until a person with an approver secret resets it; the window slides; the state
//! survives a restart; concurrent requests from two connections are counted exactly.
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

use airlock_engine::{Decision, Engine, Envelope, Mitigation, Verdict};
use airlock_store::{
    AuditFilter, BreakerLimits, BreakerScope, BreakerVerdict, ManualClock, OpenOptions, ScopeKind,
    Store, is_destructive,
};
use support::TestDb;

on_both!(
    trips_at_n_plus_one_and_not_at_n,
    stays_tripped_until_a_person_resets_it,
    per_upstream_limit_across_agents,
    window_slides,
    state_survives_a_restart,
    concurrent_requests_are_counted_exactly,
);

const START: i64 = 1_700_000_000_000;

fn limits() -> BreakerLimits {
    BreakerLimits::default()
}

struct Fixture {
    store: Store,
    clock: Arc<ManualClock>,
    secret: String,
}

async fn fixture(db: &TestDb) -> Fixture {
    let clock = Arc::new(ManualClock::new(START));
    let store = db.store.clone().with_clock(clock.clone());
    let (_, secret) = store.add_approver("alice").await.unwrap();
    Fixture {
        store,
        clock,
        secret,
    }
}

async fn record(store: &Store, agent: &str, upstream: &str) -> BreakerVerdict {
    store
        .record_destructive(agent, upstream, &limits())
        .await
        .unwrap()
}

async fn trips_at_n_plus_one_and_not_at_n(db: TestDb) {
    let f = fixture(&db).await;
    assert_eq!(limits().per_agent, 5);
    for n in 1..=5 {
        let verdict = record(&f.store, "claude", "railway").await;
        assert_eq!(
            verdict,
            BreakerVerdict::Pass {
                agent_count: n,
                upstream_count: n
            }
        );
        f.clock.advance(1_000);
    }
    // The sixth within 60 s is refused, with a message naming the breaker and how to reset it.
    let sixth = record(&f.store, "claude", "railway").await;
    let BreakerVerdict::Tripped { trips } = &sixth else {
        panic!("not tripped at N+1: {sixth:?}")
    };
    assert_eq!(trips.len(), 1);
    assert_eq!(trips[0].scope, BreakerScope::agent("claude"));
    assert_eq!((trips[0].count, trips[0].limit), (6, 5));
    let message = sixth.message().unwrap();
    assert!(
        message.contains("circuit breaker tripped for agent `claude`"),
        "{message}"
    );
    assert!(
        message.contains("6 destructive requests within 60 s (limit 5)"),
        "{message}"
    );
    assert!(
        message.contains("airlock breaker reset --agent claude"),
        "{message}"
    );
    // Another agent is not affected (its own count is 1; the upstream's 7 is under 10).
    assert!(!record(&f.store, "cursor", "railway").await.is_tripped());
    let status = f.store.breaker_status(&limits()).await.unwrap();
    assert_eq!(status.tripped.len(), 1);
    assert_eq!(
        status
            .agents
            .iter()
            .map(|c| (c.name.as_str(), c.count))
            .collect::<Vec<_>>(),
        [("claude", 6), ("cursor", 1)]
    );
    assert_eq!(status.upstreams[0].count, 7);
}

async fn stays_tripped_until_a_person_resets_it(db: TestDb) {
    let f = fixture(&db).await;
    for _ in 0..6 {
        record(&f.store, "claude", "railway").await;
    }
    // Time does not close it: an hour, a day later it still refuses (and does not count) destructive requests.
    for wait in [60_000, 3_600_000, 86_400_000] {
        f.clock.advance(wait);
        assert!(
            record(&f.store, "claude", "railway").await.is_tripped(),
            "closed after {wait} ms"
        );
    }
    assert_eq!(
        f.store
            .tripped_breakers("claude", "other")
            .await
            .unwrap()
            .len(),
        1
    );
    assert!(
        f.store
            .tripped_breakers("cursor", "other")
            .await
            .unwrap()
            .is_empty()
    );

    // Resetting another scope leaves it tripped.
    let alice = f.store.authenticate_approver(&f.secret).await.unwrap();
    let other = f
        .store
        .reset_breaker(Some(&BreakerScope::agent("cursor")), &alice)
        .await
        .unwrap();
    assert!(other.is_empty());
    assert!(record(&f.store, "claude", "railway").await.is_tripped());

    let reset = f
        .store
        .reset_breaker(Some(&BreakerScope::agent("claude")), &alice)
        .await
        .unwrap();
    assert_eq!(reset.len(), 1);
    assert_eq!(reset[0].reset_by.as_deref(), Some("alice"));
    assert!(
        f.store
            .breaker_status(&limits())
            .await
            .unwrap()
            .tripped
            .is_empty()
    );
    // Counting starts from zero: five more pass, the sixth trips again.
    for n in 1..=5 {
        let verdict = record(&f.store, "claude", "railway").await;
        assert!(
            matches!(verdict, BreakerVerdict::Pass { agent_count, .. } if agent_count == n),
            "{verdict:?}"
        );
    }
    assert!(record(&f.store, "claude", "railway").await.is_tripped());
    let all = f.store.reset_breaker(None, &alice).await.unwrap();
    assert_eq!(all.len(), 1);
    assert!(!record(&f.store, "claude", "railway").await.is_tripped());

    // Resets are in the audit log, by name.
    let log: Vec<String> = f
        .store
        .list(&AuditFilter::default())
        .await
        .unwrap()
        .into_iter()
        .map(|e| format!("{} | {}", e.summary, e.outcome))
        .collect();
    assert_eq!(log.len(), 3, "{log:?}");
    assert!(
        log[1].starts_with("breaker reset: agent `claude` (agent `claude` tripped at "),
        "{log:?}"
    );
    assert!(log[1].ends_with("| breaker reset by alice"), "{log:?}");
    assert!(
        log[2].starts_with("breaker reset: every breaker"),
        "{log:?}"
    );
    assert!(f.store.verify(None).await.unwrap().is_ok());
}

async fn per_upstream_limit_across_agents(db: TestDb) {
    let f = fixture(&db).await;
    // Ten agents, one request each, then two more from new agents: the eleventh trips the upstream.
    for i in 0..10 {
        let verdict = record(&f.store, &format!("agent-{i}"), "railway").await;
        assert!(
            matches!(verdict, BreakerVerdict::Pass { agent_count: 1, upstream_count } if upstream_count == i + 1),
            "{verdict:?}"
        );
    }
    let eleventh = record(&f.store, "agent-10", "railway").await;
    let BreakerVerdict::Tripped { trips } = &eleventh else {
        panic!("upstream not tripped at 11: {eleventh:?}")
    };
    assert_eq!(trips.len(), 1);
    assert_eq!(trips[0].scope.kind, ScopeKind::Upstream);
    assert_eq!(trips[0].scope.name, "railway");
    assert!(
        eleventh
            .message()
            .unwrap()
            .contains("airlock breaker reset --upstream railway")
    );
    // Every agent is now refused on that upstream, and not on another.
    assert!(record(&f.store, "agent-0", "railway").await.is_tripped());
    assert!(!record(&f.store, "agent-0", "aws").await.is_tripped());

    let alice = f.store.authenticate_approver(&f.secret).await.unwrap();
    // Resetting the agent does not reset the upstream.
    f.store
        .reset_breaker(Some(&BreakerScope::agent("agent-0")), &alice)
        .await
        .unwrap();
    assert!(record(&f.store, "agent-0", "railway").await.is_tripped());
    let reset = f
        .store
        .reset_breaker(Some(&BreakerScope::upstream("railway")), &alice)
        .await
        .unwrap();
    assert_eq!(reset.len(), 1);
    assert!(!record(&f.store, "agent-0", "railway").await.is_tripped());
}

async fn window_slides(db: TestDb) {
    let f = fixture(&db).await;
    // Five at t=0 and five just over a minute later: never more than five within 60 s.
    for _ in 0..5 {
        assert!(!record(&f.store, "claude", "railway").await.is_tripped());
    }
    f.clock.advance(60_000);
    for n in 1..=5 {
        let verdict = record(&f.store, "claude", "railway").await;
        assert_eq!(
            verdict,
            BreakerVerdict::Pass {
                agent_count: n,
                upstream_count: n
            },
            "at t=60s"
        );
    }
    // One more at t=90s: with the five of t=60s that is six within 60 s.
    f.clock.advance(30_000);
    let verdict = record(&f.store, "claude", "railway").await;
    assert!(verdict.is_tripped(), "{verdict:?}");
    let trips = f.store.breaker_status(&limits()).await.unwrap().tripped;
    assert_eq!(trips[0].count, 6);

    // A smaller window from the configuration counts only what is in it.
    let db_limits = BreakerLimits {
        per_agent: 2,
        per_upstream: 100,
        window_seconds: 10,
    };
    for _ in 0..2 {
        assert!(
            !f.store
                .record_destructive("quick", "x", &db_limits)
                .await
                .unwrap()
                .is_tripped()
        );
        f.clock.advance(6_000);
    }
    // 12 s after the first: the window (2 s, 12 s] holds the one at 6 s and this one.
    assert_eq!(
        f.store
            .record_destructive("quick", "x", &db_limits)
            .await
            .unwrap(),
        BreakerVerdict::Pass {
            agent_count: 2,
            upstream_count: 2
        }
    );
    assert!(
        f.store
            .record_destructive("quick", "x", &db_limits)
            .await
            .unwrap()
            .is_tripped()
    );
}

async fn state_survives_a_restart(db: TestDb) {
    let f = fixture(&db).await;
    for _ in 0..6 {
        record(&f.store, "claude", "railway").await;
    }
    for _ in 0..3 {
        record(&f.store, "cursor", "fly").await;
    }
    f.store.close().await;
    db.store.close().await;
    let reopened = db
        .reopen(&OpenOptions::default())
        .await
        .with_clock(f.clock.clone());
    assert!(record(&reopened, "claude", "railway").await.is_tripped());
    // cursor's three are still counted: the fourth and fifth pass, the sixth trips.
    assert!(matches!(
        record(&reopened, "cursor", "fly").await,
        BreakerVerdict::Pass { agent_count: 4, .. }
    ));
    assert!(!record(&reopened, "cursor", "fly").await.is_tripped());
    assert!(record(&reopened, "cursor", "fly").await.is_tripped());
    reopened.close().await;
}

async fn concurrent_requests_are_counted_exactly(db: TestDb) {
    let f = fixture(&db).await;
    let second = db
        .reopen(&OpenOptions::default())
        .await
        .with_clock(f.clock.clone());
    let limits = BreakerLimits {
        per_agent: 20,
        per_upstream: 100,
        window_seconds: 60,
    };
    let burst = |store: Store| {
        tokio::spawn(async move {
            let mut passed = 0;
            for _ in 0..15 {
                if !store
                    .record_destructive("claude", "railway", &limits)
                    .await
                    .unwrap()
                    .is_tripped()
                {
                    passed += 1;
                }
            }
            passed
        })
    };
    let (a, b) = tokio::join!(burst(f.store.clone()), burst(second.clone()));
    // 30 requests, limit 20: exactly 20 pass, whatever the interleaving.
    assert_eq!(a.unwrap() + b.unwrap(), 20);
    let status = f.store.breaker_status(&limits).await.unwrap();
    assert_eq!(status.tripped.len(), 1);
    assert_eq!(status.tripped[0].count, 21);
    second.close().await;
}

fn decide(json: serde_json::Value) -> Decision {
    let envelope: Envelope = serde_json::from_value(json).unwrap();
    Engine::new().unwrap().decide(&envelope)
}

#[test]
fn what_counts_as_destructive_is_read_off_the_decision() {
    let volume_delete = decide(serde_json::json!({
        "kind": "http", "method": "POST", "url": "https://backboard.railway.com/graphql/v2",
        "body": r#"{"query":"mutation { volumeDelete(volumeId: \"8a4c\") }"}"#,
    }));
    assert!(is_destructive(&volume_delete), "{volume_delete:?}");
    let read = decide(serde_json::json!({
        "kind": "http", "method": "POST", "url": "https://backboard.railway.com/graphql/v2",
        "body": r#"{"query":"query { me { id } }"}"#,
    }));
    assert_eq!(read.verdict, Verdict::Allow, "{read:?}");
    assert!(!is_destructive(&read), "{read:?}");
    let get = decide(
        serde_json::json!({"kind": "http", "method": "GET", "url": "https://api.github.com/repos/a/b"}),
    );
    assert!(!is_destructive(&get), "{get:?}");
    // An allowed decision carrying a mitigation still counts.
    let mut mitigated = read.clone();
    mitigated.mitigation = Mitigation::Defer;
    assert!(is_destructive(&mitigated));
}

#[test]
fn limits_of_zero_are_refused() {
    let bad = BreakerLimits {
        per_agent: 0,
        ..BreakerLimits::default()
    };
    assert!(
        bad.validate()
            .unwrap_err()
            .to_string()
            .contains("per_agent")
    );
    assert!(BreakerLimits::default().validate().is_ok());
}
