//! Credential custody through a real gateway: the upstream sees the credential the gateway injects and never
//! the agent's airlock token, whatever the agent sends (two `Authorization` headers, `Proxy-Authorization`,
//! `Cookie`, `X-Forwarded-*`, a credential in the query string), over plain HTTP and over TLS.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod support;

use support::{Harness, Options, UPSTREAM_SECRET, send};

#[tokio::test]
async fn upstream_sees_only_the_injected_credential() {
    let h = Harness::start(Options::default()).await;
    let answer = h.call("GET", "/u/railway/v1/items?page=2", "").await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
    assert_eq!(answer.json()["upstream"], "railway");
    assert_eq!(answer.headers["x-upstream"], "railway");
    assert!(
        answer.headers.get("set-cookie").is_none(),
        "upstream cookies are not passed to the agent"
    );
    let seen = h.railway.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].target, "/v1/items?page=2");
    assert_eq!(seen[0].header_values("authorization"), [UPSTREAM_SECRET]);
    assert_eq!(seen[0].header_values("host"), [h.railway.addr.to_string()]);
    assert!(!seen[0].everything().contains(&h.token));
    assert!(!seen[0].everything().contains("alt_"));
    assert!(
        !seen[0].everything().contains("other-credential"),
        "another upstream's credential leaked"
    );
    assert_eq!(h.other.count(), 0);
}

#[tokio::test]
async fn over_tls_with_the_configured_ca() {
    let h = Harness::start(Options {
        tls: true,
        ..Options::default()
    })
    .await;
    let answer = h.call("GET", "/u/railway/v1/items", "").await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let seen = h.railway.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header_values("authorization"), [UPSTREAM_SECRET]);
    assert!(!seen[0].everything().contains(&h.token));
}

#[tokio::test]
async fn every_agent_credential_is_stripped() {
    let h = Harness::start(Options::default()).await;
    let bearer = h.bearer();
    let target = format!(
        "/u/railway/v1/items?access_token={token}&page=2&Token=x&api_key=leak-api-key&KEY=leak-key&keyword=ok",
        token = h.token
    );
    let answer = send(
        h.addr(),
        "GET",
        &target,
        &[
            ("authorization", "Bearer stolen-root-token"),
            ("authorization", &bearer),
            ("proxy-authorization", "Basic cHJveHk6bGVhaw=="),
            ("cookie", "session=leak-cookie"),
            ("x-api-key", "leak-x-api-key"),
            ("x-forwarded-for", "10.9.8.7"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=10.9.8.7;host=evil.example"),
            ("x-real-ip", "10.9.8.7"),
            ("connection", "x-hop"),
            ("x-hop", "leak-hop"),
            ("x-airlock-body-sha256", "forged"),
            ("accept", "application/json"),
        ],
        "",
    )
    .await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let seen = h.railway.seen();
    assert_eq!(seen.len(), 1);
    let got = &seen[0];
    assert_eq!(got.header_values("authorization"), [UPSTREAM_SECRET]);
    assert_eq!(got.target, "/v1/items?page=2&keyword=ok");
    assert_eq!(got.header_values("accept"), ["application/json"]);
    let everything = got.everything();
    for leaked in [
        h.token.as_str(),
        "alt_",
        "stolen-root-token",
        "cHJveHk6bGVhaw",
        "leak-",
        "10.9.8.7",
        "evil.example",
        "forged",
    ] {
        assert!(
            !everything.contains(leaked),
            "`{leaked}` reached the upstream:\n{everything}"
        );
    }
    for name in [
        "proxy-authorization",
        "cookie",
        "x-api-key",
        "forwarded",
        "x-real-ip",
        "x-hop",
    ] {
        assert!(
            got.header_values(name).is_empty(),
            "{name} reached the upstream"
        );
    }
    assert!(
        !got.headers
            .iter()
            .any(|(n, _)| n.starts_with("x-forwarded-"))
    );
    // Nothing secret in the audit log either.
    let entries = h
        .store
        .list(&airlock_store::AuditFilter::default())
        .await
        .unwrap();
    let logged = serde_json::to_string(&entries).unwrap();
    assert!(!logged.contains(&h.token));
    assert!(!logged.contains("stolen-root-token"));
    assert!(!logged.contains(UPSTREAM_SECRET));
}

#[tokio::test]
async fn the_agent_cannot_override_the_injected_header() {
    let h = Harness::start(Options::default()).await;
    let bearer = h.bearer();
    // The `other` upstream's credential header is X-Other-Key: the agent's copy is replaced.
    let answer = send(
        h.addr(),
        "GET",
        "/u/other/v1/items",
        &[
            ("authorization", &bearer),
            ("x-other-key", "agent-chosen-value"),
        ],
        "",
    )
    .await;
    // This token's scope is `railway` only.
    assert_eq!(answer.status, 403);
    assert_eq!(h.other.count(), 0);
    let (_, wide) = h
        .store
        .create_token("agent-wide", &["*".to_string()], None)
        .await
        .unwrap();
    let answer = send(
        h.addr(),
        "GET",
        "/u/other/v1/items",
        &[
            ("authorization", &format!("Bearer {wide}")),
            ("x-other-key", "agent-chosen-value"),
        ],
        "",
    )
    .await;
    assert_eq!(answer.status, 200);
    let seen = h.other.seen();
    assert_eq!(seen[0].header_values("x-other-key"), ["other-credential"]);
    assert!(seen[0].header_values("authorization").is_empty());
    assert!(!seen[0].everything().contains(&wide));
}
