//! Approvals and credentials against real databases (SQLite file and a test-started PostgreSQL): one approval
//! lets exactly one execution of exactly the approved request through; expiry (with a manual clock, no
//! sleeping); nobody approves their own request; an agent token never approves; the two-person rule; agent
//! tokens and approver secrets are stored only as hashes and stop working when revoked or expired.
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
use airlock_store::{ApprovalOptions, ApprovalState, ManualClock, Store, StoreError};
use support::TestDb;

on_both!(
    approved_request_runs_exactly_once,
    approving_after_expiry_fails,
    requester_cannot_approve_and_agent_token_never_approves,
    two_person_rule_needs_two_distinct_approvers,
    changed_request_does_not_match,
    denial_is_final,
    only_ask_decisions_are_held,
    tokens_are_hashed_scoped_revocable_and_expire,
    approver_secrets_are_argon2_hashed_and_removable,
    concurrent_consumers_only_one_wins,
);

const INCIDENT: &str = r#"curl -X POST https://backboard.railway.com/graphql/v2 -H "Authorization: Bearer rw_secret_123456" -d '{"query":"mutation { volumeDelete(volumeId: \"8a4c\") }"}'"#;

fn request(command: &str, agent: &str) -> Envelope {
    serde_json::from_value(
        serde_json::json!({"kind": "shell", "command": command, "agent": agent, "session": "s"}),
    )
    .unwrap()
}

fn ask() -> Decision {
    Decision {
        verdict: Verdict::Ask,
        reasons: vec![Reason {
            rule: "GQL001".into(),
            policy: "ask-destructive".into(),
            message: "graphql-volume-delete: volumeDelete".into(),
            span: None,
        }],
        actions: vec![],
        mitigation: Mitigation::None,
    }
}

struct Fixture {
    store: Store,
    clock: Arc<ManualClock>,
    alice: String,
    bob: String,
}

async fn fixture(db: &TestDb) -> Fixture {
    let clock = Arc::new(ManualClock::new(1_700_000_000_000));
    let store = db.store.clone().with_clock(clock.clone());
    let (_, alice) = store.add_approver("alice").await.unwrap();
    let (_, bob) = store.add_approver("bob").await.unwrap();
    Fixture {
        store,
        clock,
        alice,
        bob,
    }
}

async fn approved_request_runs_exactly_once(db: TestDb) {
    let f = fixture(&db).await;
    let req = request(INCIDENT, "claude");
    let approval = f
        .store
        .create_approval(&req, &ask(), ApprovalOptions::default())
        .await
        .unwrap();
    assert_eq!(approval.state, ApprovalState::Pending);
    assert_eq!(approval.expires_ms - approval.created_ms, 3_600_000);
    assert!(
        !approval.summary.contains("rw_secret_123456"),
        "{}",
        approval.summary
    );
    // Not approved yet: cannot run.
    let err = f.store.consume(&approval.id, &req).await.unwrap_err();
    assert!(matches!(err, StoreError::ApprovalState { .. }), "{err:?}");
    let alice = f.store.authenticate_approver(&f.alice).await.unwrap();
    let approved = f.store.approve(&approval.id, &alice).await.unwrap();
    assert_eq!(approved.state, ApprovalState::Approved);
    assert_eq!(approved.votes.len(), 1);
    assert_eq!(f.store.list_approvals(false).await.unwrap().len(), 0);
    let consumed = f.store.consume(&approval.id, &req).await.unwrap();
    assert_eq!(consumed.state, ApprovalState::Consumed);
    let again = f.store.consume(&approval.id, &req).await.unwrap_err();
    assert!(
        again.to_string().contains("is consumed, not approved"),
        "{again}"
    );
    let shown = f.store.approval(&approval.id).await.unwrap();
    assert_eq!(shown.state, ApprovalState::Consumed);
    assert_eq!(shown.votes[0].approver, "alice");
    assert!(matches!(
        f.store.approval("apr_nope").await.unwrap_err(),
        StoreError::ApprovalNotFound(_)
    ));
}

async fn approving_after_expiry_fails(db: TestDb) {
    let f = fixture(&db).await;
    let req = request(INCIDENT, "claude");
    let alice = f.store.authenticate_approver(&f.alice).await.unwrap();
    let a = f
        .store
        .create_approval(&req, &ask(), ApprovalOptions::default())
        .await
        .unwrap();
    f.clock.advance(3_600_000 - 1);
    assert_eq!(
        f.store.approval(&a.id).await.unwrap().state,
        ApprovalState::Pending
    );
    f.clock.advance(1);
    assert_eq!(
        f.store.approval(&a.id).await.unwrap().state,
        ApprovalState::Expired
    );
    let err = f.store.approve(&a.id, &alice).await.unwrap_err();
    assert!(matches!(err, StoreError::ApprovalExpired(_)), "{err:?}");
    assert!(err.to_string().contains("has expired"));
    // The expiry is recorded; it stays expired.
    let err = f.store.approve(&a.id, &alice).await.unwrap_err();
    assert!(err.to_string().contains("is expired, not pending"), "{err}");

    // An approval granted in time but used too late cannot be used.
    let b = f
        .store
        .create_approval(
            &req,
            &ask(),
            ApprovalOptions {
                ttl_ms: 60_000,
                required: 1,
            },
        )
        .await
        .unwrap();
    f.store.approve(&b.id, &alice).await.unwrap();
    f.clock.advance(60_000);
    assert!(matches!(
        f.store.consume(&b.id, &req).await.unwrap_err(),
        StoreError::ApprovalExpired(_)
    ));
}

async fn requester_cannot_approve_and_agent_token_never_approves(db: TestDb) {
    let f = fixture(&db).await;
    // An approver who is also the requesting agent.
    let a = f
        .store
        .create_approval(
            &request(INCIDENT, "alice"),
            &ask(),
            ApprovalOptions::default(),
        )
        .await
        .unwrap();
    let alice = f.store.authenticate_approver(&f.alice).await.unwrap();
    let err = f.store.approve(&a.id, &alice).await.unwrap_err();
    assert!(matches!(err, StoreError::SelfApproval { .. }), "{err:?}");
    let err = f.store.deny(&a.id, &alice, "mine").await.unwrap_err();
    assert!(matches!(err, StoreError::SelfApproval { .. }), "{err:?}");
    // An agent token presented as an approver secret, with or without its prefix.
    let (_, token) = f.store.create_token("claude", &[], None).await.unwrap();
    let err = f.store.authenticate_approver(&token).await.unwrap_err();
    assert!(
        matches!(err, StoreError::AgentTokenCannotApprove),
        "{err:?}"
    );
    assert!(err.to_string().contains("an agent token can never approve"));
    let err = f.store.authenticate_approver("").await.unwrap_err();
    assert!(matches!(err, StoreError::BadApproverSecret), "{err:?}");
    // The secret with its last hex digit changed (to another digit, whatever it was).
    let last = if f.alice.ends_with('0') { '1' } else { '0' };
    let wrong = format!("{}{last}", &f.alice[..f.alice.len() - 1]);
    assert_ne!(wrong, f.alice);
    assert!(matches!(
        f.store.authenticate_approver(&wrong).await.unwrap_err(),
        StoreError::BadApproverSecret
    ));
    // Still pending: nothing above counted.
    assert_eq!(
        f.store.approval(&a.id).await.unwrap().state,
        ApprovalState::Pending
    );
    let bob = f.store.authenticate_approver(&f.bob).await.unwrap();
    assert_eq!(
        f.store.approve(&a.id, &bob).await.unwrap().state,
        ApprovalState::Approved
    );
}

async fn two_person_rule_needs_two_distinct_approvers(db: TestDb) {
    let f = fixture(&db).await;
    let req = request(INCIDENT, "claude");
    let a = f
        .store
        .create_approval(
            &req,
            &ask(),
            ApprovalOptions {
                required: 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let alice = f.store.authenticate_approver(&f.alice).await.unwrap();
    let bob = f.store.authenticate_approver(&f.bob).await.unwrap();
    let after_one = f.store.approve(&a.id, &alice).await.unwrap();
    assert_eq!(after_one.state, ApprovalState::Pending);
    assert!(matches!(
        f.store.consume(&a.id, &req).await.unwrap_err(),
        StoreError::ApprovalState { .. }
    ));
    let err = f.store.approve(&a.id, &alice).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyVoted { .. }), "{err:?}");
    // Re-authenticating does not make alice a second person.
    let alice_again = f.store.authenticate_approver(&f.alice).await.unwrap();
    assert!(matches!(
        f.store.approve(&a.id, &alice_again).await.unwrap_err(),
        StoreError::AlreadyVoted { .. }
    ));
    assert_eq!(
        f.store.approval(&a.id).await.unwrap().state,
        ApprovalState::Pending
    );
    let after_two = f.store.approve(&a.id, &bob).await.unwrap();
    assert_eq!(after_two.state, ApprovalState::Approved);
    assert_eq!(after_two.votes.len(), 2);
    f.store.consume(&a.id, &req).await.unwrap();
}

async fn changed_request_does_not_match(db: TestDb) {
    let f = fixture(&db).await;
    let req = request(INCIDENT, "claude");
    let a = f
        .store
        .create_approval(&req, &ask(), ApprovalOptions::default())
        .await
        .unwrap();
    f.store
        .approve(
            &a.id,
            &f.store.authenticate_approver(&f.alice).await.unwrap(),
        )
        .await
        .unwrap();
    // One byte changed in the volume id.
    let changed = request(&INCIDENT.replace("8a4c", "8a4d"), "claude");
    let err = f.store.consume(&a.id, &changed).await.unwrap_err();
    assert!(matches!(err, StoreError::DigestMismatch { .. }), "{err:?}");
    // Same command, other working directory: also a different request.
    let mut moved = req.clone();
    moved.context.cwd = Some("/".into());
    assert!(matches!(
        f.store.consume(&a.id, &moved).await.unwrap_err(),
        StoreError::DigestMismatch { .. }
    ));
    // The approval is still there for the exact request.
    assert_eq!(
        f.store.consume(&a.id, &req).await.unwrap().state,
        ApprovalState::Consumed
    );
}

async fn denial_is_final(db: TestDb) {
    let f = fixture(&db).await;
    let req = request(INCIDENT, "claude");
    let a = f
        .store
        .create_approval(
            &req,
            &ask(),
            ApprovalOptions {
                required: 2,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    let alice = f.store.authenticate_approver(&f.alice).await.unwrap();
    let bob = f.store.authenticate_approver(&f.bob).await.unwrap();
    f.store.approve(&a.id, &alice).await.unwrap();
    let denied = f
        .store
        .deny(&a.id, &bob, "that is the production volume")
        .await
        .unwrap();
    assert_eq!(denied.state, ApprovalState::Denied);
    assert_eq!(
        denied.deny_reason.as_deref(),
        Some("that is the production volume")
    );
    assert!(
        f.store
            .approve(&a.id, &bob)
            .await
            .unwrap_err()
            .to_string()
            .contains("is denied, not pending")
    );
    assert!(
        f.store
            .consume(&a.id, &req)
            .await
            .unwrap_err()
            .to_string()
            .contains("is denied, not approved")
    );
    let all = f.store.list_approvals(true).await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].votes.len(), 2);
}

async fn only_ask_decisions_are_held(db: TestDb) {
    let f = fixture(&db).await;
    let mut deny = ask();
    deny.verdict = Verdict::Deny;
    let err = f
        .store
        .create_approval(
            &request("rm -rf /", "claude"),
            &deny,
            ApprovalOptions::default(),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NotApprovable(_)), "{err:?}");
}

async fn tokens_are_hashed_scoped_revocable_and_expire(db: TestDb) {
    let f = fixture(&db).await;
    let scopes = vec!["railway".to_string(), "github".to_string()];
    let (record, token) = f
        .store
        .create_token("ci-bot", &scopes, Some(30 * 86_400_000))
        .await
        .unwrap();
    assert!(token.starts_with("alt_") && token.len() == 68);
    assert_eq!(record.scopes, scopes);
    // Only a hash is stored.
    let stored = match db.backend {
        airlock_store::Backend::Sqlite => {
            use sqlx::Connection as _;
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar::<_, String>("SELECT token_hash FROM agent_tokens")
                .fetch_one(&mut c)
                .await
                .unwrap()
        }
        airlock_store::Backend::Postgres => {
            use sqlx::Connection as _;
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar::<_, String>("SELECT token_hash FROM agent_tokens")
                .fetch_one(&mut c)
                .await
                .unwrap()
        }
    };
    assert_ne!(stored, token);
    assert_eq!(
        stored,
        airlock_store::canonical::sha256_hex(token.as_bytes())
    );
    assert_eq!(
        f.store.authenticate_token(&token).await.unwrap().name,
        "ci-bot"
    );
    assert!(f.store.authenticate_token("alt_0000").await.is_err());
    // Names are unique across tokens and approvers.
    assert!(matches!(
        f.store.create_token("alice", &[], None).await.unwrap_err(),
        StoreError::NameTaken(_)
    ));
    assert!(matches!(
        f.store.create_token("ci-bot", &[], None).await.unwrap_err(),
        StoreError::NameTaken(_)
    ));
    assert!(matches!(
        f.store
            .create_token("bad name", &[], None)
            .await
            .unwrap_err(),
        StoreError::BadName(_)
    ));
    // Expiry.
    let (_, short) = f
        .store
        .create_token("short", &[], Some(1000))
        .await
        .unwrap();
    f.clock.advance(1000);
    assert!(
        f.store
            .authenticate_token(&short)
            .await
            .unwrap_err()
            .to_string()
            .contains("expired")
    );
    // Revocation.
    f.store.revoke_token("ci-bot").await.unwrap();
    assert!(
        f.store
            .authenticate_token(&token)
            .await
            .unwrap_err()
            .to_string()
            .contains("revoked")
    );
    assert!(matches!(
        f.store.revoke_token("nobody").await.unwrap_err(),
        StoreError::TokenNotFound(_)
    ));
    let list = f.store.list_tokens().await.unwrap();
    assert_eq!(
        list.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(),
        vec!["ci-bot", "short"]
    );
    assert!(list[0].revoked_ms.is_some());
}

async fn approver_secrets_are_argon2_hashed_and_removable(db: TestDb) {
    let f = fixture(&db).await;
    assert!(f.alice.starts_with("ala_"));
    let approvers = f.store.list_approvers().await.unwrap();
    assert_eq!(approvers.len(), 2);
    assert!(matches!(
        f.store.add_approver("bob").await.unwrap_err(),
        StoreError::NameTaken(_)
    ));
    f.store.remove_approver("bob").await.unwrap();
    let err = f.store.authenticate_approver(&f.bob).await.unwrap_err();
    assert!(matches!(err, StoreError::ApproverRevoked(_)), "{err:?}");
    assert_eq!(
        f.store
            .authenticate_approver(&f.alice)
            .await
            .unwrap()
            .name(),
        "alice"
    );
    let hash = match db.backend {
        airlock_store::Backend::Sqlite => {
            use sqlx::Connection as _;
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar::<_, String>(
                "SELECT secret_hash FROM approvers WHERE name = 'alice'",
            )
            .fetch_one(&mut c)
            .await
            .unwrap()
        }
        airlock_store::Backend::Postgres => {
            use sqlx::Connection as _;
            let mut c = sqlx::PgConnection::connect(&db.url).await.unwrap();
            sqlx::query_scalar::<_, String>(
                "SELECT secret_hash FROM approvers WHERE name = 'alice'",
            )
            .fetch_one(&mut c)
            .await
            .unwrap()
        }
    };
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    assert!(!hash.contains(&f.alice));
}

async fn concurrent_consumers_only_one_wins(db: TestDb) {
    let f = fixture(&db).await;
    let req = request(INCIDENT, "claude");
    let a = f
        .store
        .create_approval(&req, &ask(), ApprovalOptions::default())
        .await
        .unwrap();
    f.store
        .approve(
            &a.id,
            &f.store.authenticate_approver(&f.alice).await.unwrap(),
        )
        .await
        .unwrap();
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = f.store.clone();
        let (id, req) = (a.id.clone(), req.clone());
        tasks.push(tokio::spawn(async move {
            store.consume(&id, &req).await.is_ok()
        }));
    }
    let mut wins = 0;
    for t in tasks {
        wins += usize::from(t.await.unwrap());
    }
    assert_eq!(wins, 1, "exactly one execution");
}
