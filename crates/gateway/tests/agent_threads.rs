//! Agent connections served on threads of their own (`Gateway::with_agent_threads`, what `airlock serve`
//! does): many keep-alive connections at once are all forwarded with the upstream's credential and audited in
//! one verified chain, the same as on the caller's runtime; stopping lets a held request finish and then
//! refuses new connections. (Every other gateway test runs with 2 agent threads too, see `support`.)
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod support;

use bytes::Bytes;
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use support::{Harness, Options, UPSTREAM_SECRET, VOLUME_DELETE};

const CONNECTIONS: usize = 24;
const REQUESTS_PER_CONNECTION: usize = 4;

/// `CONNECTIONS` connections at once, each sending `REQUESTS_PER_CONNECTION` allowed requests on the same
/// keep-alive connection; returns every status.
async fn load(h: &Harness) -> Vec<u16> {
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let (addr, bearer) = (h.addr(), h.bearer());
        tasks.push(tokio::spawn(async move {
            let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
            let (mut sender, connection) =
                hyper::client::conn::http1::handshake(TokioIo::new(stream))
                    .await
                    .unwrap();
            tokio::spawn(connection);
            let mut statuses = Vec::new();
            for r in 0..REQUESTS_PER_CONNECTION {
                let request = http::Request::get(format!("/u/railway/v1/items/{c}-{r}"))
                    .header("host", addr.to_string())
                    .header("authorization", &bearer)
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                sender.ready().await.unwrap();
                let response = sender.send_request(request).await.unwrap();
                statuses.push(response.status().as_u16());
                response.into_body().collect().await.unwrap();
            }
            statuses
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    all
}

async fn many_connections_are_forwarded_and_audited(agent_threads: usize) {
    let h = Harness::start(Options {
        agent_threads,
        ..Options::default()
    })
    .await;
    let statuses = load(&h).await;
    let total = CONNECTIONS * REQUESTS_PER_CONNECTION;
    assert_eq!(statuses, vec![200; total]);
    let seen = h.railway.seen();
    assert_eq!(seen.len(), total);
    let mut targets: Vec<String> = seen.iter().map(|s| s.target.clone()).collect();
    targets.sort();
    targets.dedup();
    assert_eq!(
        targets.len(),
        total,
        "every request reached the upstream once"
    );
    for s in &seen {
        assert_eq!(s.header_values("authorization"), [UPSTREAM_SECRET]);
        assert!(!s.everything().contains(&h.token), "{}", s.everything());
    }
    let entries = h
        .store
        .list(&airlock_store::AuditFilter {
            limit: None,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(entries.len(), total);
    assert!(entries.iter().all(|e| e.outcome == "allowed"));
    let report = h.store.verify(None).await.unwrap();
    assert!(report.is_ok() && report.count == total as i64, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connections_through_three_agent_threads() {
    many_connections_are_forwarded_and_audited(3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_connections_on_the_callers_runtime() {
    many_connections_are_forwarded_and_audited(0).await;
}

#[tokio::test]
async fn stopping_lets_a_held_request_finish_then_refuses_connections() {
    let h = Harness::start(Options {
        hold_seconds: 2,
        ..Options::default()
    })
    .await;
    let addr = h.addr();
    let held = h.spawn_graphql(VOLUME_DELETE);
    h.pending(1).await;
    let Harness {
        gateway, railway, ..
    } = h;
    gateway.stop().await.unwrap();
    // The held request was answered, not cut off: its hold ran out, so 202 with the approval.
    let answer = held.await.unwrap();
    assert_eq!(answer.status, 202);
    assert!(
        answer.json()["approval_id"].is_string(),
        "{:?}",
        answer.json()
    );
    assert_eq!(railway.count(), 0);
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "the agent listener still accepts after stop"
    );
}
