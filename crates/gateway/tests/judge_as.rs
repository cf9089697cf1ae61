//! `judge_as`: an upstream on 127.0.0.1 configured `judge_as = "railway"` is judged as Railway's GraphQL API
//! — the engine sees `https://backboard.railway.com/…` and the catalogue's Railway rule (RWY001) names the
//! volume — while the request still goes to the configured URL. Without it the same call is judged by the
//! generic GraphQL rule (GQL005).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod support;

use support::{GRAPHQL, Harness, Options, VOLUME_DELETE};

async fn held_rule(railway_config: &str) -> (String, String, Harness) {
    let h = Harness::start(Options {
        railway_config: railway_config.into(),
        ..Options::default()
    })
    .await;
    let answer = h.call("POST", GRAPHQL, VOLUME_DELETE).await;
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let body = answer.json();
    let rule = body["reasons"][0]["rule"].as_str().unwrap().to_string();
    let pending = h.pending(1).await;
    (rule, pending[0].summary.clone(), h)
}

#[tokio::test]
async fn judged_as_railway_by_the_railway_rule_and_still_sent_to_the_configured_url() {
    let (rule, summary, h) = held_rule("judge_as = \"railway\"\n").await;
    assert_eq!(rule, "RWY001");
    assert!(
        summary.contains("https://backboard.railway.com/graphql/v2"),
        "{summary}"
    );
    assert_eq!(h.railway.count(), 0);
    // Approved: forwarded to the configured upstream on 127.0.0.1, not to Railway.
    let alice = h.approver("alice").await;
    let pending = h.pending(1).await;
    h.store.approve(&pending[0].id, &alice).await.unwrap();
    let answer = h.call("POST", GRAPHQL, VOLUME_DELETE).await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(h.railway.count(), 1);
    assert_eq!(h.railway.seen()[0].target, "/graphql/v2");

    let (rule, summary, _h) = held_rule("").await;
    assert_eq!(rule, "GQL005");
    assert!(summary.contains("127.0.0.1"), "{summary}");
}
