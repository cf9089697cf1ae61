//! The decoded detail stored with an approval, against real databases (SQLite file and a test-started
//! PostgreSQL): the real engine decides, the gate holds the request, and the stored detail shows the command
//! with the triggering span highlighted, the GraphQL operation and variables, the rules — and never a secret.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice,
    reason = "tests"
)]

#[macro_use]
mod support;

use std::sync::Arc;

use airlock_engine::{Engine, Envelope, Verdict};
use airlock_store::{ApprovalState, Gate, Settled, StoreError};
use support::TestDb;

on_both!(
    shell_detail_highlights_the_rule_span_and_hides_secrets,
    graphql_detail_shows_operation_variables_and_no_token,
    production_remote_delete_needs_two_approvers,
);

fn envelope(json: serde_json::Value) -> Envelope {
    serde_json::from_value(json).unwrap()
}

/// A user rule asking for two approvers of remote deletes in production (the two-person rule).
const TWO_PERSON_POLICY: &str = r#"
@id("production-remote-delete-needs-two-approvers")
@verdict("ask")
@approvers("2")
@mitigation("defer")
@reason("it deletes a remote resource in production; two different people should approve it")
forbid (principal, action, resource)
when {
  (action == Airlock::Action::"http" || action == Airlock::Action::"mcp") &&
  context.severity == "ask" &&
  context.effect == "delete" &&
  context.environment == "production"
};
"#;

async fn hold(db: &TestDb, request: &Envelope) -> airlock_store::Approval {
    hold_with(db, Engine::new().unwrap(), request).await
}

async fn hold_with(db: &TestDb, engine: Engine, request: &Envelope) -> airlock_store::Approval {
    let gate = Gate::new(Arc::new(engine), db.store.clone());
    let settlement = gate.judge(request).await.unwrap();
    assert_eq!(
        settlement.decision.verdict,
        Verdict::Ask,
        "{:?}",
        settlement.decision
    );
    let Settled::Hold(approval) = settlement.settled else {
        panic!("not held: {:?}", settlement.settled)
    };
    // What was returned is what is stored.
    let stored = db.store.approval(&approval.id).await.unwrap();
    assert_eq!(stored.detail, approval.detail);
    let listed = db.store.list_approvals(false).await.unwrap();
    let listed = listed.iter().find(|a| a.id == approval.id).unwrap();
    assert_eq!(listed.detail, approval.detail);
    stored
}

async fn shell_detail_highlights_the_rule_span_and_hides_secrets(db: TestDb) {
    let command = "export API_KEY=sk-live-1234567890abcdefghij; git push --force origin main";
    let request = envelope(serde_json::json!({
        "kind": "shell", "command": command, "agent": "claude", "session": "s1", "cwd": "/work/app",
    }));
    let approval = hold(&db, &request).await;
    let detail = approval.detail().expect("detail stored");
    assert_eq!(detail.kind, "shell");
    assert_eq!(detail.agent.as_deref(), Some("claude"));
    let json = serde_json::to_string(detail).unwrap();
    assert!(!json.contains("1234567890abcdefghij"), "{json}");
    let section = &detail.sections[0];
    assert_eq!(section.title, "Command");
    assert!(
        section.text.contains("git push --force origin main"),
        "{}",
        section.text
    );
    assert!(!section.highlights.is_empty(), "{detail:?}");
    for h in &section.highlights {
        let text = section
            .text
            .get(h.clone())
            .expect("highlight on char boundaries");
        assert!(
            text.contains("push") || text.contains("force"),
            "{text:?} in {detail:?}"
        );
    }
    assert!(!detail.rules.is_empty());
    assert!(detail.rules.iter().all(|r| !r.message.is_empty()));
    assert!(!detail.headline.is_empty());
}

async fn graphql_detail_shows_operation_variables_and_no_token(db: TestDb) {
    let body = serde_json::json!({
        "query": "mutation Del($id: String!) { volumeDelete(volumeId: $id) }",
        "variables": {"id": "8a4c1f2e-0000-4000-8000-000000000000", "apiToken": "tok_top_secret_999"},
    })
    .to_string();
    let request = envelope(serde_json::json!({
        "kind": "http", "method": "POST",
        "url": "https://backboard.railway.com/graphql/v2?access_token=rw_url_secret_777",
        "headers": {"Authorization": "Bearer rw_secret_123456", "Content-Type": "application/json"},
        "body": body, "agent": "claude", "environment": "production",
    }));
    let approval = hold(&db, &request).await;
    let detail = approval.detail().expect("detail stored");
    let json = serde_json::to_string(detail).unwrap();
    for secret in [
        "rw_secret_123456",
        "rw_url_secret_777",
        "tok_top_secret_999",
    ] {
        assert!(!json.contains(secret), "{secret} leaked: {json}");
    }
    assert_eq!(detail.kind, "http");
    assert_eq!(detail.environment.as_deref(), Some("production"));
    assert_eq!(detail.upstream.as_deref(), Some("backboard.railway.com"));
    assert!(
        detail
            .headline
            .starts_with("GraphQL mutation volumeDelete on "),
        "{}",
        detail.headline
    );
    assert!(detail.headline.contains("8a4c"), "{}", detail.headline);
    let titles: Vec<&str> = detail.sections.iter().map(|s| s.title.as_str()).collect();
    assert_eq!(
        titles,
        ["HTTP request", "GraphQL operation", "GraphQL variables"]
    );
    assert!(
        detail.sections[0]
            .text
            .starts_with("POST https://backboard.railway.com/graphql/v2")
    );
    assert!(
        detail.sections[0]
            .text
            .contains("Content-Type: application/json")
    );
    assert!(
        detail.sections[1]
            .text
            .contains("volumeDelete(volumeId: $id)")
    );
    // Pretty-printed variables: one field per line.
    assert!(
        detail.sections[2]
            .text
            .contains("\n  \"id\": \"8a4c1f2e-0000-4000-8000-000000000000\""),
        "{}",
        detail.sections[2].text
    );
    assert!(
        detail
            .rules
            .iter()
            .any(|r| r.policy.as_deref() == Some("remote-delete-needs-approval")),
        "{:?}",
        detail.rules
    );
}

/// `@approvers("2")` on a production remote-delete rule: the gate holds it for two distinct people; the same
/// request against staging (or under the default policy) needs one.
async fn production_remote_delete_needs_two_approvers(db: TestDb) {
    let (_, alice) = db.store.add_approver("alice").await.unwrap();
    let (_, bob) = db.store.add_approver("bob").await.unwrap();
    let alice = db.store.authenticate_approver(&alice).await.unwrap();
    let bob = db.store.authenticate_approver(&bob).await.unwrap();
    // Different volumes: the gate reuses a pending approval for the identical request.
    let incident = |environment: &str, volume: &str| {
        let body = serde_json::json!({"query": format!("mutation {{ volumeDelete(volumeId: \"{volume}\") }}")});
        envelope(serde_json::json!({
            "kind": "http", "method": "POST", "url": "https://backboard.railway.com/graphql/v2",
            "headers": {"Content-Type": "application/json"},
            "body": body.to_string(),
            "agent": "claude", "environment": environment,
        }))
    };
    let two_person = || Engine::with_user_policy("policy.cedar", TWO_PERSON_POLICY).unwrap();
    let default = hold(&db, &incident("production", "v1")).await;
    assert_eq!(default.required, 1);
    let staging = hold_with(&db, two_person(), &incident("staging", "v2")).await;
    assert_eq!(staging.required, 1);
    let production = hold_with(&db, two_person(), &incident("production", "v3")).await;
    assert_eq!(production.required, 2);
    let rules = &production.detail().unwrap().rules;
    assert_eq!(
        rules[0].policy.as_deref(),
        Some("production-remote-delete-needs-two-approvers")
    );
    let once = db.store.approve(&production.id, &alice).await.unwrap();
    assert_eq!(once.state, ApprovalState::Pending);
    let err = db.store.approve(&production.id, &alice).await.unwrap_err();
    assert!(matches!(err, StoreError::AlreadyVoted { .. }), "{err:?}");
    let twice = db.store.approve(&production.id, &bob).await.unwrap();
    assert_eq!(twice.state, ApprovalState::Approved);
}
