//! Routing and authentication through a real gateway: dot segments, encoded slashes, absolute-form request
//! targets (over a raw TCP stream) and Host header tricks never reach another upstream or host; an unknown
//! upstream is 404; a missing, wrong, expired or revoked token is 401; a token without scope is 403.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod support;

use std::time::Duration;

use support::{Harness, Options, raw_status, send, send_raw};

#[tokio::test]
async fn ambiguous_paths_are_refused() {
    let h = Harness::start(Options::default()).await;
    for target in [
        "/u/railway/../other/v1/items",
        "/u/railway/v1/../../other/v1/items",
        "/u/railway/%2e%2e/other/v1/items",
        "/u/railway/%2E%2E/other/v1/items",
        "/u/railway/.%2e/other/v1/items",
        "/u/railway/%252e%252e/other/v1/items",
        "/u/railway/..;/other/v1/items",
        "/u/railway/./v1/items",
        "/u/railway/..%2fother/v1/items",
        "/u/railway%2f..%2fother/v1/items",
        "/u/railway/v1%2Fitems",
        "/u/railway/v1%5citems",
        "/u/railway/v1%00items",
    ] {
        let answer = h.call("GET", target, "").await;
        assert_eq!(
            answer.status,
            400,
            "{target}: {}",
            String::from_utf8_lossy(&answer.body)
        );
        assert_eq!(answer.json()["error"], "bad_request", "{target}");
    }
    assert_eq!(h.railway.count(), 0);
    assert_eq!(h.other.count(), 0);
}

#[tokio::test]
async fn absolute_form_targets_are_refused() {
    let h = Harness::start(Options::default()).await;
    let token = h.token.clone();
    for target in [
        format!("http://{}/v1/items", h.other.addr),
        format!("http://{}/u/other/v1/items", h.addr()),
        "http://evil.example/u/railway/v1/items".to_string(),
        "http://evil.example/".to_string(),
    ] {
        let raw = format!(
            "GET {target} HTTP/1.1\r\nHost: evil.example\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
        );
        let answer = send_raw(h.addr(), raw.as_bytes()).await;
        assert_eq!(raw_status(&answer), 400, "{target}: {answer}");
    }
    let connect = format!(
        "CONNECT {} HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n",
        h.other.addr, h.other.addr
    );
    let answer = send_raw(h.addr(), connect.as_bytes()).await;
    let status = raw_status(&answer);
    assert!(status == 405 || status == 400, "CONNECT: {answer}");
    assert_eq!(h.railway.count(), 0);
    assert_eq!(h.other.count(), 0);
}

#[tokio::test]
async fn host_headers_do_not_route() {
    let h = Harness::start(Options::default()).await;
    let bearer = h.bearer();
    let other_host = h.other.addr.to_string();
    for host in [other_host.as_str(), "evil.example", "other", "127.0.0.1:1"] {
        let answer = send(
            h.addr(),
            "GET",
            "/u/railway/v1/items",
            &[
                ("host", host),
                ("authorization", &bearer),
                ("x-forwarded-host", host),
            ],
            "",
        )
        .await;
        assert_eq!(answer.status, 200, "Host: {host}");
        assert_eq!(answer.json()["upstream"], "railway");
    }
    let seen = h.railway.seen();
    assert_eq!(seen.len(), 4);
    for got in &seen {
        assert_eq!(got.header_values("host"), [h.railway.addr.to_string()]);
    }
    assert_eq!(h.other.count(), 0);
}

#[tokio::test]
async fn unknown_upstreams_and_other_paths_are_404() {
    let h = Harness::start(Options::default()).await;
    for target in [
        "/u/nope/v1/items",
        "/u/Railway/v1/items",
        "/",
        "/railway/v1/items",
        "/u/",
        "/healthz",
    ] {
        let answer = h.call("GET", target, "").await;
        assert_eq!(answer.status, 404, "{target}");
        assert_eq!(answer.json()["error"], "not_found");
    }
    assert_eq!(h.railway.count() + h.other.count(), 0);
}

#[tokio::test]
async fn bad_tokens_are_401() {
    let h = Harness::start(Options::default()).await;
    let (_, expiring) = h
        .store
        .create_token("short-lived", &["railway".to_string()], Some(1))
        .await
        .unwrap();
    let (_, revoked) = h
        .store
        .create_token("revoked", &["railway".to_string()], None)
        .await
        .unwrap();
    h.store.revoke_token("revoked").await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    let wrong = format!("alt_{}", "0".repeat(64));
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        ("missing", vec![]),
        (
            "not bearer",
            vec![("authorization", format!("Basic {}", h.token))],
        ),
        (
            "not an airlock token",
            vec![("authorization", "Bearer ghp_abcdef".to_string())],
        ),
        ("wrong", vec![("authorization", format!("Bearer {wrong}"))]),
        (
            "expired",
            vec![("authorization", format!("Bearer {expiring}"))],
        ),
        (
            "revoked",
            vec![("authorization", format!("Bearer {revoked}"))],
        ),
        (
            "two different tokens",
            vec![
                ("authorization", h.bearer()),
                ("authorization", format!("Bearer {wrong}")),
            ],
        ),
        ("token in the query only", vec![]),
    ];
    for (what, headers) in cases {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let target = if what == "token in the query only" {
            format!("/u/railway/v1/items?access_token={}", h.token)
        } else {
            "/u/railway/v1/items".to_string()
        };
        let answer = send(h.addr(), "GET", &target, &headers, "").await;
        assert_eq!(answer.status, 401, "{what}");
        assert_eq!(answer.json()["error"], "unauthenticated", "{what}");
        assert!(answer.headers.contains_key("www-authenticate"), "{what}");
    }
    assert_eq!(h.railway.count(), 0);
}

#[tokio::test]
async fn scopes_name_upstreams() {
    let h = Harness::start(Options {
        scopes: vec!["other".into()],
        ..Options::default()
    })
    .await;
    let answer = h.call("GET", "/u/railway/v1/items", "").await;
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json()["error"], "forbidden");
    let (_, none) = h.store.create_token("no-scope", &[], None).await.unwrap();
    let answer = send(
        h.addr(),
        "GET",
        "/u/railway/v1/items",
        &[("authorization", &format!("Bearer {none}"))],
        "",
    )
    .await;
    assert_eq!(answer.status, 403);
    assert_eq!(h.railway.count(), 0);
    for (name, scopes) in [
        ("prefixed", vec!["upstream:railway".to_string()]),
        ("all", vec!["*".to_string()]),
    ] {
        let (_, token) = h.store.create_token(name, &scopes, None).await.unwrap();
        let answer = send(
            h.addr(),
            "GET",
            "/u/railway/v1/items",
            &[("authorization", &format!("Bearer {token}"))],
            "",
        )
        .await;
        assert_eq!(answer.status, 200, "{name}");
    }
    assert_eq!(h.railway.count(), 2);
}

#[tokio::test]
async fn a_revoked_token_stops_working_within_the_recheck_window() {
    let h = Harness::start(Options::default()).await;
    assert_eq!(h.call("GET", "/u/railway/v1/items", "").await.status, 200);
    h.store.revoke_token("agent-1").await.unwrap();
    // Trusted for at most one second after it was last checked, then refused.
    tokio::time::sleep(airlock_gateway::tokens::TOKEN_RECHECK + Duration::from_millis(100)).await;
    let answer = h.call("GET", "/u/railway/v1/items", "").await;
    assert_eq!(answer.status, 401);
    assert_eq!(h.railway.count(), 1);
}
