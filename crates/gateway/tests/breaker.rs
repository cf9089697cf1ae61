//! The circuit breaker in a real gateway (`[breaker] per_agent = 2`): destructive requests a person
//! approved are counted; the third within the window is refused with 403 naming the breaker, its count, limit
//! and window and the `airlock breaker reset` command, and is not forwarded; further destructive requests
//! stay refused while ordinary reads go through; the agent's token cannot reset it, a person's approver
//! secret can, and then destructive requests pass again. `/metrics` shows the breaker open, then closed.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod support;

use std::time::Duration;

use airlock_store::breaker::BreakerScope;
use support::{Answer, Harness, Options, send};

fn volume_delete(n: usize) -> String {
    format!(r#"{{"query":"mutation {{ volumeDelete(volumeId: \"vol-{n}\") }}"}}"#)
}

/// Sends a destructive call, has `approver` approve it during the hold, and returns the answer.
async fn approved(
    h: &Harness,
    approver: &airlock_store::AuthenticatedApprover,
    n: usize,
) -> Answer {
    let call = h.spawn_graphql(volume_delete(n));
    let pending = h.pending(1).await;
    h.store.approve(&pending[0].id, approver).await.unwrap();
    call.await.unwrap()
}

async fn metrics(h: &Harness) -> String {
    let answer = send(h.gateway.admin_addr(), "GET", "/metrics", &[], "").await;
    assert_eq!(answer.status, 200);
    String::from_utf8(answer.body.to_vec()).unwrap()
}

fn gauge(text: &str, scope: &str) -> Option<f64> {
    let prefix = format!("airlock_gateway_breaker_open{{scope=\"{scope}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
}

#[tokio::test]
async fn trips_at_n_plus_one_and_only_a_person_resets_it() {
    let h = Harness::start(Options {
        hold_seconds: 20,
        extra_config: "[breaker]\nper_agent = 2\nper_upstream = 100\nwindow_seconds = 3600\n"
            .into(),
        ..Options::default()
    })
    .await;
    let alice = h.approver("alice").await;

    for n in 1..=2 {
        let answer = approved(&h, &alice, n).await;
        assert_eq!(
            answer.status,
            200,
            "{}",
            String::from_utf8_lossy(&answer.body)
        );
    }
    assert_eq!(h.railway.count(), 2);

    // The third destructive request within the window trips the agent's breaker.
    let answer = approved(&h, &alice, 3).await;
    assert_eq!(
        answer.status,
        403,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let body = answer.json();
    assert_eq!(body["decision"], "deny");
    assert_eq!(body["error"], "breaker_open");
    let breaker = &body["breakers"][0];
    assert_eq!(breaker["scope"], "agent");
    assert_eq!(breaker["name"], "agent-1");
    assert_eq!(breaker["count"], 3);
    assert_eq!(breaker["limit"], 2);
    assert_eq!(breaker["window_seconds"], 3600);
    assert_eq!(breaker["reset"], "airlock breaker reset --agent agent-1");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("airlock breaker reset --agent agent-1"),
        "{body}"
    );
    assert_eq!(
        h.railway.count(),
        2,
        "the refused request was not forwarded"
    );
    let entries = h
        .store
        .list(&airlock_store::AuditFilter::default())
        .await
        .unwrap();
    let refusal = entries
        .iter()
        .find(|e| e.outcome == "breaker open")
        .unwrap();
    assert_eq!(body["audit_id"].as_i64(), Some(refusal.seq));
    assert_eq!(
        gauge(&metrics(&h).await, "agent:agent-1"),
        Some(1.0),
        "the gauge shows the breaker open"
    );

    // Still open: another destructive request is refused; a read is not affected.
    let answer = approved(&h, &alice, 4).await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json()["error"], "breaker_open");
    let read = h.call("GET", "/u/railway/v1/items", "").await;
    assert_eq!(read.status, 200);
    assert_eq!(h.railway.count(), 3, "only the read went through");

    // The agent's token is no approver secret: it cannot reset anything.
    assert!(h.store.authenticate_approver(&h.token).await.is_err());
    // A person can.
    let reset = h
        .store
        .reset_breaker(Some(&BreakerScope::agent("agent-1")), &alice)
        .await
        .unwrap();
    assert_eq!(reset.len(), 1);
    let answer = approved(&h, &alice, 5).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(h.railway.count(), 4);
    // The gauge follows the store (the watcher reads it every 2 s).
    let mut closed = false;
    for _ in 0..100 {
        if gauge(&metrics(&h).await, "agent:agent-1") == Some(0.0) {
            closed = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(closed, "the gauge shows the breaker closed after the reset");
    assert!(h.store.verify(None).await.unwrap().is_ok());
}
