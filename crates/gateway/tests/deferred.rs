//! Deferred deletes through a real gateway: a call the policy marks `defer` (the incident's `volumeDelete`,
//! `remote-delete-needs-approval`), once a person approves it, is answered 202 `{deferred_id, executes_at,
//! cancel}` and stored without any credential; the gateway's executor sends it with the upstream's
//! credential after the cancel window — not before; a cancelled one never; one deferred before a restart is
//! run by the next gateway on the same database; and two executors racing on one database send each exactly
//! once. Time is a store `ManualClock`, moved by the tests instead of sleeping through the window.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod support;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use airlock_engine::Engine;
use airlock_gateway::{DeferredExecutor, Gateway, GatewayConfig, RunningGateway};
use airlock_store::deferred::{DeferredState, NewDeferred, ReplayRequest};
use airlock_store::gate::Gate;
use airlock_store::{AuditFilter, ManualClock, Store};
use support::{EchoUpstream, UPSTREAM_SECRET, VOLUME_DELETE, spawn_graphql};

/// The cancel window the tests configure.
const WINDOW_SECONDS: u64 = 60;

/// A gateway on the SQLite file in `dir`, reading time from `clock`, in front of `upstream`.
struct Node {
    store: Store,
    gateway: RunningGateway,
    executor: DeferredExecutor,
}

async fn node(dir: &Path, clock: &Arc<ManualClock>, upstream: &EchoUpstream) -> Node {
    let store = Store::open(&format!("sqlite://{}", dir.join("airlock.db").display()))
        .await
        .unwrap()
        .with_group_commit()
        .with_clock(clock.clone());
    let gate = Gate::new(Arc::new(Engine::new().unwrap()), store.clone());
    let text = format!(
        "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nhold_seconds = 20\ndefer_seconds = {WINDOW_SECONDS}\n\
         [upstreams.railway]\nurl = \"{}\"\nenvironment = \"production\"\n\
         auth = {{ header = \"Authorization\", value = \"${{UPSTREAM_SECRET}}\" }}\n",
        upstream.url()
    );
    let path = dir.join("airlock.toml");
    std::fs::write(&path, text).unwrap();
    let config = GatewayConfig::load(&path, &|name| {
        (name == "UPSTREAM_SECRET").then(|| UPSTREAM_SECRET.to_string())
    })
    .unwrap();
    let bound = Gateway::new(config, gate)
        .with_executor_interval(Duration::from_millis(10))
        .bind()
        .await
        .unwrap();
    let executor = bound.deferred_executor();
    Node {
        store,
        gateway: bound.spawn(),
        executor,
    }
}

fn clock() -> Arc<ManualClock> {
    Arc::new(ManualClock::new(airlock_store::Clock::now_ms(
        &airlock_store::SystemClock,
    )))
}

/// Sends `body` to the GraphQL endpoint, has a person approve the hold, and returns the 202's JSON.
async fn approved_and_deferred(node: &Node, token: &str, body: &'static str) -> serde_json::Value {
    let (_, secret) = node
        .store
        .add_approver(&format!("alice-{}", rand_suffix()))
        .await
        .unwrap();
    let alice = node.store.authenticate_approver(&secret).await.unwrap();
    let call = spawn_graphql(node.gateway.agent_addr(), format!("Bearer {token}"), body);
    let approval = loop {
        let pending = node.store.list_approvals(false).await.unwrap();
        if let Some(a) = pending.into_iter().next() {
            break a;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    node.store.approve(&approval.id, &alice).await.unwrap();
    let answer = call.await.unwrap();
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    answer.json()
}

fn rand_suffix() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::SeqCst)
}

async fn wait_for_state(store: &Store, id: &str, state: DeferredState) {
    for _ in 0..500 {
        if store.deferred(id).await.unwrap().state == state {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!(
        "{id} never reached {state:?}: {:?}",
        store.deferred(id).await.unwrap()
    );
}

async fn outcomes(store: &Store) -> Vec<String> {
    let mut entries = store.list(&AuditFilter::default()).await.unwrap();
    entries.sort_by_key(|e| e.seq);
    entries.into_iter().map(|e| e.outcome).collect()
}

/// Every byte of the database files, to look for a secret anywhere in them.
fn database_bytes(dir: &Path) -> Vec<u8> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with("airlock.db") {
            all.extend(std::fs::read(&path).unwrap());
        }
    }
    all
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack
        .windows(needle.len())
        .any(|w| w == needle.as_bytes())
}

#[tokio::test]
async fn executes_after_the_window_with_the_credential_injected_then() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = EchoUpstream::plain("railway").await;
    let clock = clock();
    let node = node(dir.path(), &clock, &upstream).await;
    let (_, token) = node
        .store
        .create_token("agent-1", &["railway".into()], None)
        .await
        .unwrap();

    let body = approved_and_deferred(&node, &token, VOLUME_DELETE).await;
    assert_eq!(body["decision"], "defer");
    let id = body["deferred_id"].as_str().unwrap().to_string();
    assert!(id.starts_with("def_"), "{body}");
    assert_eq!(body["cancel"], format!("airlock deferred cancel {id}"));
    let stored = node.store.deferred(&id).await.unwrap();
    assert_eq!(
        body["executes_at"],
        airlock_store::clock::format_ms(stored.executes_at_ms)
    );
    assert_eq!(
        stored.executes_at_ms - stored.created_ms,
        i64::try_from(WINDOW_SECONDS * 1000).unwrap()
    );
    assert_eq!(stored.state, DeferredState::Pending);
    assert_eq!(stored.upstream, "railway");
    assert_eq!(stored.request.path, "/graphql/v2");
    assert_eq!(stored.request.body, VOLUME_DELETE.as_bytes());
    assert!(stored.approval_id.is_some());
    // No credential is stored: neither the agent's token nor the upstream's secret, anywhere in the files.
    assert!(
        !stored
            .request
            .headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("authorization")),
        "{:?}",
        stored.request.headers
    );
    let bytes = database_bytes(dir.path());
    assert!(!contains(&bytes, UPSTREAM_SECRET));
    assert!(!contains(&bytes, &token));

    // Before the window: the executor runs (in the background every 10 ms, and here) and sends nothing.
    assert!(node.executor.run_due().await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(upstream.count(), 0);
    assert_eq!(
        node.store.deferred(&id).await.unwrap().state,
        DeferredState::Pending
    );

    // After it: the background executor sends it, once, with the upstream's credential.
    clock.advance(i64::try_from(WINDOW_SECONDS * 1000).unwrap() + 1);
    wait_for_state(&node.store, &id, DeferredState::Executed).await;
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].target, "/graphql/v2");
    assert_eq!(seen[0].body, VOLUME_DELETE.as_bytes());
    assert_eq!(seen[0].header_values("authorization"), [UPSTREAM_SECRET]);
    assert!(!seen[0].everything().contains(&token));
    let done = node.store.deferred(&id).await.unwrap();
    assert_eq!(done.result_status, Some(200));
    assert!(done.request.body.is_empty(), "emptied once final");

    let log = outcomes(&node.store).await;
    assert_eq!(log.len(), 4, "{log:?}");
    assert_eq!(log[0], "held");
    assert_eq!(log[1], "approved");
    assert!(log[2].starts_with(&format!("deferred {id}")), "{log:?}");
    assert_eq!(log[3], format!("executed {id} (200)"));
    assert!(node.store.verify(None).await.unwrap().is_ok());
    node.gateway.stop().await.unwrap();
    assert_eq!(upstream.count(), 1);
}

#[tokio::test]
async fn a_cancelled_request_is_never_sent() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = EchoUpstream::plain("railway").await;
    let clock = clock();
    let node = node(dir.path(), &clock, &upstream).await;
    let (_, token) = node
        .store
        .create_token("agent-1", &["railway".into()], None)
        .await
        .unwrap();
    let body = approved_and_deferred(&node, &token, VOLUME_DELETE).await;
    let id = body["deferred_id"].as_str().unwrap().to_string();

    node.store.cancel_deferred(&id, "bob").await.unwrap();
    clock.advance(i64::try_from(WINDOW_SECONDS * 1000).unwrap() * 2);
    assert!(node.executor.run_due().await.unwrap().is_empty());
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(upstream.count(), 0);
    assert_eq!(
        node.store.deferred(&id).await.unwrap().state,
        DeferredState::Cancelled
    );
    let log = outcomes(&node.store).await;
    assert_eq!(log.last().unwrap(), &format!("cancelled {id} by bob"));
    node.gateway.stop().await.unwrap();
}

#[tokio::test]
async fn a_restart_in_between_keeps_it() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = EchoUpstream::plain("railway").await;
    let clock = clock();
    let first = node(dir.path(), &clock, &upstream).await;
    let (_, token) = first
        .store
        .create_token("agent-1", &["railway".into()], None)
        .await
        .unwrap();
    let body = approved_and_deferred(&first, &token, VOLUME_DELETE).await;
    let id = body["deferred_id"].as_str().unwrap().to_string();
    first.gateway.stop().await.unwrap();
    first.store.close().await;
    assert_eq!(upstream.count(), 0);

    // A new gateway on the same database, its clock past the window, runs it.
    clock.advance(i64::try_from(WINDOW_SECONDS * 1000).unwrap() + 1);
    let second = node(dir.path(), &clock, &upstream).await;
    wait_for_state(&second.store, &id, DeferredState::Executed).await;
    let seen = upstream.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].header_values("authorization"), [UPSTREAM_SECRET]);
    assert_eq!(seen[0].body, VOLUME_DELETE.as_bytes());
    assert!(second.store.verify(None).await.unwrap().is_ok());
    second.gateway.stop().await.unwrap();
}

#[tokio::test]
async fn two_executors_racing_send_each_request_once() {
    let dir = tempfile::tempdir().unwrap();
    let upstream = EchoUpstream::plain("railway").await;
    let clock = clock();
    let a = node(dir.path(), &clock, &upstream).await;
    let b = node(dir.path(), &clock, &upstream).await;
    let (_, token) = a
        .store
        .create_token("agent-1", &["railway".into()], None)
        .await
        .unwrap();
    // One deferred through the gateway, and more stored the way the gateway stores them.
    let body = approved_and_deferred(&a, &token, VOLUME_DELETE).await;
    let mut ids = vec![body["deferred_id"].as_str().unwrap().to_string()];
    let envelope = airlock_engine::Envelope {
        id: None,
        request: airlock_engine::Request::Http(airlock_engine::HttpRequest {
            method: "DELETE".into(),
            url: format!("{}/v1/volumes/x", upstream.url()),
            headers: Default::default(),
            body: None,
        }),
        context: airlock_engine::Context::default(),
    };
    let decision = Engine::new().unwrap().decide(&envelope);
    for i in 0..15 {
        let request = ReplayRequest {
            method: "DELETE".into(),
            path: format!("/v1/volumes/vol-{i}"),
            headers: vec![("x-request".into(), i.to_string())],
            body: Vec::new(),
        };
        let stored = b
            .store
            .defer(
                NewDeferred::new("railway", request, &envelope, &decision),
                1000,
            )
            .await
            .unwrap();
        ids.push(stored.id);
    }
    clock.advance(i64::try_from(WINDOW_SECONDS * 1000).unwrap() + 1);
    // Both background executors run every 10 ms; these direct calls race them too.
    let (ra, rb) = tokio::join!(a.executor.run_due(), b.executor.run_due());
    ra.unwrap();
    rb.unwrap();
    for id in &ids {
        wait_for_state(&a.store, id, DeferredState::Executed).await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let seen = upstream.seen();
    assert_eq!(seen.len(), ids.len(), "each sent exactly once");
    let mut targets: Vec<&str> = seen.iter().map(|s| s.target.as_str()).collect();
    targets.sort_unstable();
    targets.dedup();
    assert_eq!(targets.len(), 16, "{targets:?}");
    let executed = outcomes(&a.store)
        .await
        .into_iter()
        .filter(|o| o.starts_with("executed "))
        .count();
    assert_eq!(executed, ids.len());
    a.gateway.stop().await.unwrap();
    b.gateway.stop().await.unwrap();
}
