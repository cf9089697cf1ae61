//! Webhook notifications through a real gateway: a held `volumeDelete` creates a pending approval through the
//! real gate, and a real local HTTP receiver gets exactly one signed JSON POST (the HMAC recomputed here) and
//! one Slack-style `{"text"}` POST, naming the mutation, the approval and its page link, and carrying no secret.
//! A receiver that answers 500 twice is retried until the third attempt is delivered, and the held request's
//! 202 arrives while the receiver is still holding the first attempt unanswered (ordering, not timing). A
//! `json` webhook without a secret refuses the configuration, naming the webhook.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod support;

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_engine::Engine;
use airlock_gateway::{Gateway, GatewayConfig, RunningGateway};
use airlock_store::gate::Gate;
use airlock_store::{Notification, Store};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use hmac::{Hmac, Mac as _};
use http::Request;
use http_body_util::BodyExt as _;
use sha2::Sha256;
use support::{EchoUpstream, GRAPHQL, UPSTREAM_SECRET, VOLUME_DELETE, send};
use tokio::net::TcpListener;
use tokio::sync::{Notify, mpsc};

const WEBHOOK_SECRET: &str = "whsec-test-7f3a9c2e5b1d";

/// One POST as the receiver got it.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_else(|| panic!("no `{name}` header in {:?}", self.headers))
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    /// Headers and body as one text, to look for a leaked secret anywhere.
    fn everything(&self) -> String {
        let mut text = String::new();
        for (n, v) in &self.headers {
            text.push_str(&format!("{n}: {v}\n"));
        }
        text.push_str(&String::from_utf8_lossy(&self.body));
        text
    }
}

/// How the receiver answers one POST.
#[derive(Debug, Clone, Copy)]
enum Answer {
    Status(u16),
    /// Reports the arrival, waits until the test releases it, then answers with this status.
    HoldThen(u16),
}

/// A recording webhook receiver on 127.0.0.1: answers each POST as scripted (then 200), and reports every
/// arrival (its number, counting from 1) on a channel.
#[derive(Clone)]
struct Receiver {
    addr: SocketAddr,
    received: Arc<Mutex<Vec<Received>>>,
    script: Arc<Mutex<VecDeque<Answer>>>,
    arrivals: mpsc::UnboundedSender<usize>,
    release: Arc<Notify>,
}

impl Receiver {
    async fn start(script: &[Answer]) -> (Self, mpsc::UnboundedReceiver<usize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (arrivals, arrived) = mpsc::unbounded_channel();
        let receiver = Self {
            addr: listener.local_addr().unwrap(),
            received: Arc::default(),
            script: Arc::new(Mutex::new(script.iter().copied().collect())),
            arrivals,
            release: Arc::new(Notify::new()),
        };
        let app = Router::new().fallback(receive).with_state(receiver.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, arrived)
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn received(&self, path: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }
}

async fn receive(State(receiver): State<Receiver>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let received = Received {
        path: parts.uri.path().to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("<binary>").to_string()))
            .collect(),
        body: body.collect().await.unwrap().to_bytes().to_vec(),
    };
    let n = {
        let mut all = receiver.received.lock().unwrap();
        all.push(received);
        all.len()
    };
    let answer = receiver
        .script
        .lock()
        .unwrap()
        .pop_front()
        .unwrap_or(Answer::Status(200));
    receiver.arrivals.send(n).unwrap();
    let status = match answer {
        Answer::Status(status) => status,
        Answer::HoldThen(status) => {
            receiver.release.notified().await;
            status
        }
    };
    Response::builder()
        .status(status)
        .body(Body::from("ok"))
        .unwrap()
}

/// A gateway over an SQLite store in `dir` in front of a recording upstream, with `webhooks` (TOML tables)
/// configured, looking at the outbox every 10 ms.
struct Node {
    store: Store,
    gateway: RunningGateway,
    token: String,
    _upstream: EchoUpstream,
}

async fn node(dir: &Path, hold_seconds: u64, webhooks: &str) -> Node {
    let store = Store::open(&format!("sqlite://{}", dir.join("airlock.db").display()))
        .await
        .unwrap()
        .with_group_commit();
    let gate = Gate::new(Arc::new(Engine::new().unwrap()), store.clone());
    let upstream = EchoUpstream::plain("railway").await;
    let text = format!(
        "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nhold_seconds = {hold_seconds}\ndefer_seconds = 0\n\
         public_url = \"https://airlock.example.test/\"\n\
         [upstreams.railway]\nurl = \"{}\"\nenvironment = \"production\"\n\
         auth = {{ header = \"Authorization\", value = \"${{UPSTREAM_SECRET}}\" }}\n{webhooks}",
        upstream.url()
    );
    let path = dir.join("airlock.toml");
    std::fs::write(&path, text).unwrap();
    let config = GatewayConfig::load(&path, &|name| match name {
        "UPSTREAM_SECRET" => Some(UPSTREAM_SECRET.to_string()),
        "AIRLOCK_WEBHOOK_SECRET" => Some(WEBHOOK_SECRET.to_string()),
        _ => None,
    })
    .unwrap();
    let gateway = Gateway::new(config, gate)
        .with_webhook_interval(Duration::from_millis(10))
        .bind()
        .await
        .unwrap()
        .spawn();
    let (_, token) = store
        .create_token("agent-1", &["railway".to_string()], None)
        .await
        .unwrap();
    Node {
        store,
        gateway,
        token,
        _upstream: upstream,
    }
}

impl Node {
    /// Sends a `volumeDelete` of `volume` with the agent's token.
    async fn delete_volume(&self, volume: &str) -> support::Answer {
        let bearer = format!("Bearer {}", self.token);
        send(
            self.gateway.agent_addr(),
            "POST",
            GRAPHQL,
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            VOLUME_DELETE.replace("3d2f6a0e-prod-volume", volume),
        )
        .await
    }

    /// Waits (at most 30 s) until every notification of `approval_id` is finished, and returns them.
    async fn finished_notifications(
        &self,
        approval_id: &str,
        webhooks: usize,
    ) -> Vec<Notification> {
        for _ in 0..1500 {
            let rows = self.store.notifications_for(approval_id).await.unwrap();
            if rows.len() == webhooks && rows.iter().all(Notification::is_finished) {
                return rows;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!(
            "notifications of {approval_id} not finished: {:?}",
            self.store.notifications_for(approval_id).await.unwrap()
        );
    }
}

/// `sha256=HEX` computed here, independently of the gateway's code.
fn expected_signature(body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(WEBHOOK_SECRET.as_bytes()).unwrap();
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

fn assert_no_secret(received: &Received, token: &str) {
    let text = received.everything();
    for secret in [UPSTREAM_SECRET, "upstream-credential-0123456789", token] {
        assert!(!text.contains(secret), "`{secret}` leaked into {text}");
    }
    assert!(
        !text.contains(WEBHOOK_SECRET),
        "the signing secret leaked into {text}"
    );
}

#[tokio::test]
async fn held_request_is_posted_once_per_webhook_signed_and_without_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, _arrivals) = Receiver::start(&[]).await;
    let webhooks = format!(
        "[webhooks.ops]\nurl = \"{}\"\nformat = \"json\"\nsecret = \"${{AIRLOCK_WEBHOOK_SECRET}}\"\n\
         [webhooks.chat]\nurl = \"{}\"\nformat = \"slack\"\n",
        receiver.url("/ops"),
        receiver.url("/chat")
    );
    let node = node(dir.path(), 1, &webhooks).await;

    let answer = node.delete_volume("3d2f6a0e-prod-volume").await;
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let approval_id = answer.json()["approval_id"].as_str().unwrap().to_string();
    let rows = node.finished_notifications(&approval_id, 2).await;
    for row in &rows {
        assert_eq!(row.attempts, 1, "{row:?}");
        assert!(row.delivered_ms.is_some(), "{row:?}");
        assert_eq!(row.last_error, None);
    }
    let link = format!("https://airlock.example.test/approvals/{approval_id}");

    // The signed JSON notification.
    let posts = receiver.received("/ops");
    assert_eq!(posts.len(), 1, "{posts:?}");
    let post = &posts[0];
    assert_eq!(post.header("content-type"), "application/json");
    assert_eq!(post.header("x-airlock-event"), "approval.pending");
    let ops_row = rows.iter().find(|r| r.webhook == "ops").unwrap();
    assert_eq!(post.header("x-airlock-delivery"), ops_row.id);
    assert_eq!(
        post.header("x-airlock-signature"),
        expected_signature(&post.body)
    );
    let mut tampered = post.body.clone();
    tampered.push(b' ');
    assert_ne!(
        post.header("x-airlock-signature"),
        expected_signature(&tampered)
    );
    let body = post.json();
    assert_eq!(body["event"], "approval.pending");
    assert_eq!(body["approval_id"], approval_id.as_str());
    assert_eq!(body["delivery_id"], ops_row.id.as_str());
    assert_eq!(
        body["timestamp"].to_string(),
        post.header("x-airlock-timestamp")
    );
    assert_eq!(body["kind"], "http");
    assert_eq!(body["agent"], "agent-1");
    assert_eq!(body["environment"], "production");
    assert_eq!(
        body["upstream"], "railway",
        "the upstream's name, not its host"
    );
    assert_eq!(body["link"], link.as_str());
    let headline = body["headline"].as_str().unwrap();
    assert!(headline.contains("volumeDelete"), "{body}");
    assert!(!body["rules"].as_array().unwrap().is_empty(), "{body}");
    assert!(!body["reasons"].as_array().unwrap().is_empty(), "{body}");
    assert!(
        body["expires_at"].as_str().unwrap().ends_with('Z'),
        "{body}"
    );
    assert_no_secret(post, &node.token);

    // The Slack-style notification: only `text`, readable, with the link.
    let chats = receiver.received("/chat");
    assert_eq!(chats.len(), 1, "{chats:?}");
    let chat = chats[0].json();
    assert_eq!(
        chat.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["text"]
    );
    let text = chat["text"].as_str().unwrap();
    assert!(text.starts_with("airlock: "), "{text}");
    assert!(text.contains("volumeDelete"), "{text}");
    assert!(text.contains("agent-1"), "{text}");
    assert!(text.contains("production"), "{text}");
    assert!(text.contains("Approve or deny"), "{text}");
    assert!(text.ends_with(&link), "{text}");
    assert_no_secret(&chats[0], &node.token);

    // A second held request is announced once too; the first is not announced again meanwhile.
    let answer = node.delete_volume("9b1e-other-volume").await;
    assert_eq!(answer.status, 202);
    let second = answer.json()["approval_id"].as_str().unwrap().to_string();
    node.finished_notifications(&second, 2).await;
    let ids: Vec<String> = receiver
        .received("/ops")
        .iter()
        .map(|r| r.json()["approval_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(ids, [approval_id.clone(), second.clone()]);
    assert_eq!(receiver.received("/chat").len(), 2);
    node.gateway.stop().await.unwrap();
}

#[tokio::test]
async fn failing_receiver_is_retried_and_never_blocks_the_hold() {
    let dir = tempfile::tempdir().unwrap();
    let (receiver, mut arrivals) =
        Receiver::start(&[Answer::HoldThen(500), Answer::Status(500)]).await;
    let webhooks = format!(
        "[webhooks.flaky]\nurl = \"{}\"\nformat = \"json\"\nsecret = \"${{AIRLOCK_WEBHOOK_SECRET}}\"\nretry_base_ms = 10\n",
        receiver.url("/hook")
    );
    let node = Arc::new(node(dir.path(), 1, &webhooks).await);

    let call = tokio::spawn({
        let node = node.clone();
        async move { node.delete_volume("3d2f6a0e-prod-volume").await }
    });
    // The first attempt has reached the receiver, which holds it unanswered until released below …
    assert_eq!(arrivals.recv().await, Some(1));
    // … and the held request is answered all the same.
    let answer = call.await.unwrap();
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let approval_id = answer.json()["approval_id"].as_str().unwrap().to_string();
    let rows = node.store.notifications_for(&approval_id).await.unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].attempts, 1);
    assert_eq!(
        rows[0].delivered_ms, None,
        "the first attempt is still open"
    );
    assert_eq!(receiver.received("/hook").len(), 1);

    receiver.release.notify_one();
    let rows = node.finished_notifications(&approval_id, 1).await;
    let row = &rows[0];
    assert_eq!(row.attempts, 3, "{row:?}");
    assert!(row.delivered_ms.is_some(), "{row:?}");
    let error = row.last_error.as_deref().unwrap();
    assert!(
        error.contains("attempt 2") && error.contains("500"),
        "{error}"
    );
    let posts = receiver.received("/hook");
    assert_eq!(posts.len(), 3);
    for post in &posts {
        assert_eq!(post.header("x-airlock-delivery"), row.id);
        assert_eq!(
            post.header("x-airlock-signature"),
            expected_signature(&post.body)
        );
        assert_eq!(post.json()["approval_id"], approval_id.as_str());
        assert_no_secret(post, &node.token);
    }

    // The attempts are counted by result on /metrics.
    let metrics = send(node.gateway.admin_addr(), "GET", "/metrics", &[], "").await;
    let metrics = String::from_utf8_lossy(&metrics.body).into_owned();
    let count = |result: &str| {
        metrics
            .lines()
            .find(|l| {
                l.starts_with("airlock_webhook_deliveries_total{")
                    && l.contains("webhook=\"flaky\"")
                    && l.contains(&format!("result=\"{result}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse::<f64>().ok())
    };
    assert_eq!(count("failed"), Some(2.0), "{metrics}");
    assert_eq!(count("delivered"), Some(1.0), "{metrics}");
}

#[test]
fn json_webhook_without_secret_is_a_config_error_naming_it() {
    let text = "[upstreams.railway]\nurl = \"http://127.0.0.1:9\"\n\
                [webhooks.pager]\nurl = \"http://127.0.0.1:9/hook\"\nformat = \"json\"\n";
    let err = GatewayConfig::parse(text, Path::new("airlock.toml"), &|_| None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("webhooks.pager.secret"), "{err}");
    assert!(err.contains("`pager`"), "{err}");
    assert!(err.contains("secret = "), "{err}");
}
