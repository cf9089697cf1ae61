//! Decisions enforced by a real gateway: allow forwards, deny is 403 with the reasons and the audit id, and
//! ask holds the request for a person: approved during the hold ⇒ the upstream's answer; denied ⇒ 403;
//! not decided in time ⇒ 202, and the identical request sent again after approval is forwarded exactly once
//! (a second retry is held again; a request one byte different is not covered).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod support;

use airlock_store::ApprovalState;
use support::{GRAPHQL, Harness, Options, VOLUME_DELETE, send};

async fn audit_outcomes(h: &Harness) -> Vec<String> {
    let mut entries = h
        .store
        .list(&airlock_store::AuditFilter::default())
        .await
        .unwrap();
    entries.sort_by_key(|e| e.seq);
    entries.into_iter().map(|e| e.outcome).collect()
}

#[tokio::test]
async fn deny_is_403_with_reasons_and_nothing_forwarded() {
    let h = Harness::start(Options::default()).await;
    let answer = h.call("DELETE", "/u/railway/v1/projects/p1", "").await;
    assert_eq!(answer.status, 403);
    let body = answer.json();
    assert_eq!(body["decision"], "deny");
    assert_eq!(body["reasons"][0]["rule"], "HTP003");
    let audit_id = body["audit_id"].as_i64().unwrap();
    let entries = h
        .store
        .list(&airlock_store::AuditFilter::default())
        .await
        .unwrap();
    let entry = entries.iter().find(|e| e.seq == audit_id).unwrap();
    assert_eq!(entry.outcome, "denied");
    assert_eq!(entry.agent.as_deref(), Some("agent-1"));
    assert!(entry.summary.contains("127.0.0.1"), "{}", entry.summary);
    assert_eq!(h.railway.count(), 0);
    // An allowed request on the same gateway goes through, and is audited too.
    let answer = h.call("GET", "/u/railway/v1/items", "").await;
    assert_eq!(answer.status, 200);
    assert_eq!(audit_outcomes(&h).await, ["denied", "allowed"]);
    assert!(h.store.verify(None).await.unwrap().is_ok());
}

#[tokio::test]
async fn approved_during_the_hold_returns_the_upstream_answer() {
    let h = Harness::start(Options {
        hold_seconds: 20,
        ..Options::default()
    })
    .await;
    let alice = h.approver("alice").await;
    let call = h.spawn_graphql(VOLUME_DELETE);
    let pending = h.pending(1).await;
    assert_eq!(pending[0].requester, "agent-1");
    assert!(
        pending[0].summary.contains("volumeDelete"),
        "{}",
        pending[0].summary
    );
    assert_eq!(h.railway.count(), 0, "nothing is forwarded while held");
    h.store.approve(&pending[0].id, &alice).await.unwrap();
    let answer = call.await.unwrap();
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.json()["upstream"], "railway");
    let seen = h.railway.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].body, VOLUME_DELETE.as_bytes());
    assert_eq!(
        h.store.approval(&pending[0].id).await.unwrap().state,
        ApprovalState::Consumed
    );
    assert_eq!(audit_outcomes(&h).await, ["held", "approved"]);
    assert!(h.store.verify(None).await.unwrap().is_ok());
}

#[tokio::test]
async fn denied_during_the_hold_is_403() {
    let h = Harness::start(Options {
        hold_seconds: 20,
        ..Options::default()
    })
    .await;
    let bob = h.approver("bob").await;
    let call = h.spawn_graphql(VOLUME_DELETE);
    let pending = h.pending(1).await;
    h.store
        .deny(&pending[0].id, &bob, "this is the production volume")
        .await
        .unwrap();
    let answer = call.await.unwrap();
    assert_eq!(answer.status, 403);
    let body = answer.json();
    assert_eq!(body["decision"], "deny");
    assert_eq!(body["approval_id"], pending[0].id.as_str());
    assert_eq!(body["denied_by"], "bob");
    assert_eq!(body["deny_reason"], "this is the production volume");
    assert_eq!(body["reasons"][0]["rule"], "GQL005");
    assert_eq!(h.railway.count(), 0);
    // The person's denial is in the audit log, after the hold, naming the approval and the person; the
    // 403's audit_id points at it.
    assert_eq!(audit_outcomes(&h).await, ["held", "denied by bob"]);
    let entries = h
        .store
        .list(&airlock_store::AuditFilter::default())
        .await
        .unwrap();
    let denial = entries
        .iter()
        .find(|e| e.outcome == "denied by bob")
        .unwrap();
    assert_eq!(denial.approval_id.as_deref(), Some(pending[0].id.as_str()));
    assert_eq!(body["audit_id"].as_i64(), Some(denial.seq));
    assert!(h.store.verify(None).await.unwrap().is_ok());
}

#[tokio::test]
async fn timeout_then_approval_lets_the_identical_retry_through_once() {
    let h = Harness::start(Options {
        extra_config: "public_url = \"https://airlock.example.com/ops/\"\n".into(),
        ..Options::default()
    })
    .await;
    let alice = h.approver("alice").await;
    let first = h.call("POST", GRAPHQL, VOLUME_DELETE).await;
    assert_eq!(first.status, 202);
    assert_eq!(first.headers["retry-after"], "5");
    let held = first.json();
    assert_eq!(held["decision"], "ask");
    let approval_id = held["approval_id"].as_str().unwrap().to_string();
    assert!(
        held["retry"]
            .as_str()
            .unwrap()
            .contains("identical request")
    );
    assert_eq!(held["reasons"][0]["rule"], "GQL005");
    // The person's link is on the configured public URL; the agent's status URL on the admin listener.
    assert_eq!(
        held["approval_page"],
        format!("https://airlock.example.com/ops/approvals/{approval_id}")
    );
    // The status URL on the admin listener says pending, and shows no secret.
    let status_url = held["status_url"].as_str().unwrap();
    let admin = h.gateway.admin_addr().to_string();
    let path = status_url
        .split(admin.as_str())
        .nth(1)
        .unwrap_or_else(|| panic!("{status_url}"));
    assert_eq!(path, format!("/api/approvals/{approval_id}"));
    let status = send(h.gateway.admin_addr(), "GET", path, &[], "").await;
    assert_eq!(status.status, 200);
    assert_eq!(status.json()["state"], "pending");
    assert!(!String::from_utf8_lossy(&status.body).contains(&h.token));
    assert_eq!(h.railway.count(), 0);

    h.store.approve(&approval_id, &alice).await.unwrap();
    assert_eq!(
        send(h.gateway.admin_addr(), "GET", path, &[], "")
            .await
            .json()["state"],
        "approved"
    );
    // One byte different: not covered, held as a new approval, not forwarded.
    let different = VOLUME_DELETE.replace("3d2f6a0e", "3d2f6a0f");
    let other = h.call("POST", GRAPHQL, different).await;
    assert_eq!(other.status, 202);
    assert_ne!(other.json()["approval_id"].as_str().unwrap(), approval_id);
    assert_eq!(h.railway.count(), 0);
    // The identical retry: forwarded once, with the exact body.
    let retry = h.call("POST", GRAPHQL, VOLUME_DELETE).await;
    assert_eq!(
        retry.status,
        200,
        "{}",
        String::from_utf8_lossy(&retry.body)
    );
    assert_eq!(h.railway.count(), 1);
    assert_eq!(h.railway.seen()[0].body, VOLUME_DELETE.as_bytes());
    assert_eq!(
        send(h.gateway.admin_addr(), "GET", path, &[], "")
            .await
            .json()["state"],
        "consumed"
    );
    // A second identical retry: held again, under a new approval.
    let again = h.call("POST", GRAPHQL, VOLUME_DELETE).await;
    assert_eq!(again.status, 202);
    let again_id = again.json()["approval_id"].as_str().unwrap().to_string();
    assert_ne!(again_id, approval_id);
    assert_eq!(h.railway.count(), 1);
    assert_eq!(
        audit_outcomes(&h).await,
        ["held", "held", "approved", "held"]
    );
    assert!(h.store.verify(None).await.unwrap().is_ok());
}

#[tokio::test]
async fn unknown_approvals_are_404_on_the_admin_listener() {
    let h = Harness::start(Options::default()).await;
    for path in [
        "/api/approvals/apr_0000000000000000",
        "/api/approvals/../../etc/passwd",
        "/api/approvals/x",
    ] {
        let answer = send(h.gateway.admin_addr(), "GET", path, &[], "").await;
        assert_eq!(answer.status, 404, "{path}");
    }
    let health = send(h.gateway.admin_addr(), "GET", "/healthz", &[], "").await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");
}

#[tokio::test]
async fn metrics_count_requests_by_upstream_and_decision() {
    let h = Harness::start(Options::default()).await;
    assert_eq!(h.call("GET", "/u/railway/v1/items", "").await.status, 200);
    assert_eq!(
        h.call("DELETE", "/u/railway/v1/projects/p1", "")
            .await
            .status,
        403
    );
    assert_eq!(h.call("POST", GRAPHQL, VOLUME_DELETE).await.status, 202);
    assert_eq!(
        send(h.addr(), "GET", "/u/railway/v1/items", &[], "")
            .await
            .status,
        401
    );
    let text = String::from_utf8(
        send(h.gateway.admin_addr(), "GET", "/metrics", &[], "")
            .await
            .body
            .to_vec(),
    )
    .unwrap();
    for needle in [
        "airlock_gateway_requests_total{upstream=\"railway\",decision=\"allow\"}",
        "airlock_gateway_requests_total{upstream=\"railway\",decision=\"deny\"}",
        "airlock_gateway_requests_total{upstream=\"railway\",decision=\"ask\"}",
        "airlock_gateway_refused_total{upstream=\"railway\",reason=\"unauthenticated\"}",
        "airlock_gateway_hold_seconds_bucket{upstream=\"railway\",result=\"pending\"",
        "airlock_gateway_upstream_latency_seconds_bucket{upstream=\"railway\"",
    ] {
        assert!(text.contains(needle), "{needle} missing from:\n{text}");
    }
    assert!(!text.contains(&h.token));
}
