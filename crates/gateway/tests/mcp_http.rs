//! Remote MCP servers behind the gateway (`[mcp_servers.items]`, agents call `/mcp/items`): a real rmcp
//! streamable-HTTP server on 127.0.0.1 (tools on a real SQLite file, its own bearer token required) behind
//! a real gateway over an SQLite store, called by a real rmcp client with the streamable HTTP client
//! transport and an airlock agent token:
//! - `list_items` passes; `DROP TABLE` through `execute_sql` is held and the table stays; a person's approval
//!   lets exactly one identical call through;
//! - a tool the policy denies is answered with `isError: true` and the reasons, never forwarded;
//! - the server sees its own credential and never the agent's token;
//! - a malformed body gets a JSON-RPC parse error and nothing reaches the server; a batch is judged call by
//!   call and only what is allowed is forwarded;
//! - no token ⇒ 401, a token without the server's scope ⇒ 403.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod support;

// The items server of the `airlock mcp wrap` tests, served here over streamable HTTP instead of stdio.
#[path = "../../cli/tests/support/items_server.rs"]
#[allow(dead_code, reason = "its stdio entry point is for the CLI tests")]
mod items_server;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_engine::Engine;
use airlock_gateway::{Gateway, GatewayConfig, RunningGateway};
use airlock_store::gate::Gate;
use airlock_store::{ApprovalState, Store};
use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use http_body_util::BodyExt as _;
use rmcp::model::{CallToolRequestParams, CallToolResult};
use rmcp::service::RunningService;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::streamable_http_server::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{RoleClient, ServiceExt as _};
use serde_json::{Value, json};
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};
use tokio::net::TcpListener;

/// The MCP server's own credential, which only the gateway holds.
const SERVER_SECRET: &str = "items-server-secret-0123456789";

// ---- the items server: rmcp over streamable HTTP ----------------------------------------------------------

/// One request as the MCP server received it.
#[derive(Debug, Clone)]
struct Received {
    method: String,
    headers: Vec<(String, String)>,
    body: String,
}

impl Received {
    fn everything(&self) -> String {
        let mut text = format!("{}\n", self.method);
        for (n, v) in &self.headers {
            text.push_str(&format!("{n}: {v}\n"));
        }
        text.push_str(&self.body);
        text
    }
}

#[derive(Clone, Default)]
struct Recorder(Arc<Mutex<Vec<Received>>>);

impl Recorder {
    fn all(&self) -> Vec<Received> {
        self.0.lock().unwrap().clone()
    }

    /// The `tools/call` bodies received that name `needle`.
    fn calls_with(&self, needle: &str) -> usize {
        self.all()
            .iter()
            .filter(|r| r.body.contains("tools/call") && r.body.contains(needle))
            .count()
    }
}

/// Records every request, and refuses (401) any without the server's own credential.
async fn record_and_check(
    State(recorder): State<Recorder>,
    request: Request,
    next: Next,
) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = body.collect().await.unwrap().to_bytes();
    recorder.0.lock().unwrap().push(Received {
        method: parts.method.to_string(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&bytes).into_owned(),
    });
    let authorized = parts
        .headers
        .get_all("authorization")
        .iter()
        .map(|v| v.to_str().unwrap_or_default().to_string())
        .collect::<Vec<_>>()
        == [format!("Bearer {SERVER_SECRET}")];
    if !authorized {
        return Response::builder()
            .status(401)
            .body(Body::from("the items server wants its own token"))
            .unwrap();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}

/// Starts the items server on 127.0.0.1:0; returns its MCP URL.
async fn start_items_server(db: &Path, recorder: Recorder) -> String {
    items_server::create_items_db(db).await.unwrap();
    let pool = SqlitePool::connect_with(SqliteConnectOptions::new().filename(db))
        .await
        .unwrap();
    let service = StreamableHttpService::new(
        move || Ok(items_server::ItemsServer::new(pool.clone())),
        Arc::new(LocalSessionManager::default()),
        StreamableHttpServerConfig::default(),
    );
    let app =
        Router::new()
            .route_service("/mcp", service)
            .layer(axum::middleware::from_fn_with_state(
                recorder,
                record_and_check,
            ));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/mcp")
}

async fn table_exists(db: &Path) -> bool {
    let pool = SqlitePool::connect_with(SqliteConnectOptions::new().filename(db))
        .await
        .unwrap();
    let found: Option<(String,)> =
        sqlx::query_as("SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'items'")
            .fetch_optional(&pool)
            .await
            .unwrap();
    pool.close().await;
    found.is_some()
}

// ---- the gateway in front ------------------------------------------------------------------------------

struct Setup {
    dir: tempfile::TempDir,
    store: Store,
    recorder: Recorder,
    gateway: RunningGateway,
    token: String,
}

impl Setup {
    async fn start(hold_seconds: u64, scopes: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let recorder = Recorder::default();
        let url = start_items_server(&dir.path().join("items.db"), recorder.clone()).await;
        let store = Store::open(&format!(
            "sqlite://{}",
            dir.path().join("airlock.db").display()
        ))
        .await
        .unwrap();
        let gate = Gate::new(Arc::new(Engine::new().unwrap()), store.clone());
        let text = format!(
            "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nhold_seconds = {hold_seconds}\n\
             [mcp_servers.items]\nurl = \"{url}\"\nenvironment = \"production\"\n\
             auth = {{ header = \"Authorization\", value = \"Bearer ${{ITEMS_TOKEN}}\" }}\n"
        );
        let config = GatewayConfig::parse(&text, &dir.path().join("airlock.toml"), &|name| {
            (name == "ITEMS_TOKEN").then(|| SERVER_SECRET.to_string())
        })
        .unwrap();
        let gateway = Gateway::new(config, gate).bind().await.unwrap().spawn();
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let (_, token) = store.create_token("agent-1", &scopes, None).await.unwrap();
        Self {
            dir,
            store,
            recorder,
            gateway,
            token,
        }
    }

    fn url(&self) -> String {
        format!("http://{}/mcp/items", self.gateway.agent_addr())
    }

    fn db(&self) -> std::path::PathBuf {
        self.dir.path().join("items.db")
    }

    async fn client(&self) -> RunningService<RoleClient, ()> {
        let transport = StreamableHttpClientTransport::from_config(
            StreamableHttpClientTransportConfig::with_uri(self.url())
                .auth_header(self.token.clone()),
        );
        within("initialize", ().serve(transport)).await.unwrap()
    }

    /// Sends a raw POST to `/mcp/items` with the agent's token.
    async fn post(&self, body: &str, session: Option<&str>) -> support::Answer {
        let bearer = format!("Bearer {}", self.token);
        let mut headers = vec![
            ("authorization", bearer.as_str()),
            ("content-type", "application/json"),
            ("accept", "application/json, text/event-stream"),
        ];
        if let Some(session) = session {
            headers.push(("mcp-session-id", session));
        }
        support::send(
            self.gateway.agent_addr(),
            "POST",
            "/mcp/items",
            &headers,
            body.to_string(),
        )
        .await
    }

    async fn audit_outcomes(&self) -> Vec<String> {
        let mut entries = self
            .store
            .list(&airlock_store::AuditFilter::default())
            .await
            .unwrap();
        entries.sort_by_key(|e| e.seq);
        entries.into_iter().map(|e| e.outcome).collect()
    }
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within 60 s"))
}

async fn call(
    client: &RunningService<RoleClient, ()>,
    tool: &str,
    arguments: Value,
) -> CallToolResult {
    let Value::Object(arguments) = arguments else {
        panic!("arguments must be an object")
    };
    let params = CallToolRequestParams::new(tool.to_string()).with_arguments(arguments);
    within(tool, client.call_tool(params)).await.unwrap()
}

fn text(result: &CallToolResult) -> String {
    result
        .content
        .iter()
        .filter_map(|c| c.as_text().map(|t| t.text.clone()))
        .collect::<Vec<_>>()
        .join("\n")
}

// ---- tests ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_pass_drop_table_is_held_and_one_approved_call_goes_through() {
    let setup = Setup::start(1, &["items"]).await;
    let client = setup.client().await;

    let listed = call(&client, "list_items", json!({})).await;
    assert_ne!(listed.is_error, Some(true), "{}", text(&listed));
    assert_eq!(text(&listed), "1 anvil\n2 bellows\n3 crucible");

    let drop = json!({"sql": "DROP TABLE items"});
    let held = call(&client, "execute_sql", drop.clone()).await;
    assert_eq!(held.is_error, Some(true), "{}", text(&held));
    let pending = setup.store.list_approvals(false).await.unwrap();
    assert_eq!(pending.len(), 1);
    let approval = &pending[0];
    assert_eq!(approval.requester, "agent-1");
    assert!(text(&held).contains(&approval.id), "{}", text(&held));
    assert!(
        text(&held).contains(&format!("/approvals/{}", approval.id)),
        "{}",
        text(&held)
    );
    assert!(table_exists(&setup.db()).await, "the held DROP TABLE ran");
    assert_eq!(
        setup.recorder.calls_with("DROP TABLE"),
        0,
        "the held DROP TABLE reached the server"
    );

    let (_, secret) = setup.store.add_approver("alice").await.unwrap();
    let alice = setup.store.authenticate_approver(&secret).await.unwrap();
    setup.store.approve(&approval.id, &alice).await.unwrap();
    let ran = call(&client, "execute_sql", drop.clone()).await;
    assert_ne!(ran.is_error, Some(true), "{}", text(&ran));
    assert!(
        !table_exists(&setup.db()).await,
        "the approved DROP TABLE did not run"
    );
    assert_eq!(
        setup.store.approval(&approval.id).await.unwrap().state,
        ApprovalState::Consumed
    );

    // The approval was used: the identical call is held again and not forwarded.
    let again = call(&client, "execute_sql", drop).await;
    assert_eq!(again.is_error, Some(true), "{}", text(&again));
    assert_eq!(setup.recorder.calls_with("DROP TABLE"), 1);
    assert_eq!(
        setup
            .audit_outcomes()
            .await
            .iter()
            .filter(|o| *o == "approved")
            .count(),
        1
    );

    // Custody: the server saw its own credential on every request and never the agent's token.
    let received = setup.recorder.all();
    assert!(received.len() >= 4, "{received:?}");
    for request in &received {
        assert!(
            !request.everything().contains(&setup.token),
            "the agent's token reached the server: {request:?}"
        );
        let auth: Vec<&str> = request
            .headers
            .iter()
            .filter(|(n, _)| n == "authorization")
            .map(|(_, v)| v.as_str())
            .collect();
        assert_eq!(auth, [format!("Bearer {SERVER_SECRET}")], "{request:?}");
    }
    // The session header went back and forth.
    assert!(
        received
            .iter()
            .any(|r| r.headers.iter().any(|(n, _)| n == "mcp-session-id")),
        "no Mcp-Session-Id reached the server"
    );
    within("shutdown", client.cancel()).await.unwrap();
    let methods: Vec<String> = setup.recorder.all().into_iter().map(|r| r.method).collect();
    // The client's event stream (GET) and end of session (DELETE) passed through.
    assert!(methods.iter().any(|m| m == "GET"), "{methods:?}");
    assert!(methods.iter().any(|m| m == "DELETE"), "{methods:?}");
    setup.gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approved_during_the_hold_goes_through() {
    let setup = Setup::start(30, &["items"]).await;
    let client = setup.client().await;
    let peer = client.peer().clone();
    let held = tokio::spawn(async move {
        let Value::Object(arguments) = json!({"sql": "DROP TABLE items"}) else {
            unreachable!()
        };
        peer.call_tool(CallToolRequestParams::new("execute_sql").with_arguments(arguments))
            .await
    });
    let mut pending = Vec::new();
    for _ in 0..400 {
        pending = setup.store.list_approvals(false).await.unwrap();
        if !pending.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(pending.len(), 1, "the call was not held");
    assert_eq!(setup.recorder.calls_with("DROP TABLE"), 0);
    assert!(table_exists(&setup.db()).await);
    let (_, secret) = setup.store.add_approver("alice").await.unwrap();
    let alice = setup.store.authenticate_approver(&secret).await.unwrap();
    setup.store.approve(&pending[0].id, &alice).await.unwrap();
    let ran = within("held call", held).await.unwrap().unwrap();
    assert_ne!(ran.is_error, Some(true), "{}", text(&ran));
    assert!(!table_exists(&setup.db()).await);
    assert_eq!(setup.recorder.calls_with("DROP TABLE"), 1);
    assert_eq!(setup.audit_outcomes().await, ["held", "approved"]);
    within("shutdown", client.cancel()).await.unwrap();
    setup.gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denied_tool_is_answered_with_the_reasons_and_never_forwarded() {
    let setup = Setup::start(1, &["mcp:items"]).await;
    let client = setup.client().await;
    let denied = call(&client, "delete_account", json!({})).await;
    assert_eq!(denied.is_error, Some(true), "{}", text(&denied));
    assert!(
        text(&denied).contains("airlock denied"),
        "{}",
        text(&denied)
    );
    assert!(text(&denied).contains('['), "no rule in: {}", text(&denied));
    assert_eq!(setup.recorder.calls_with("delete_account"), 0);
    let listed = call(&client, "list_items", json!({})).await;
    assert_eq!(text(&listed), "1 anvil\n2 bellows\n3 crucible");
    let outcomes = setup.audit_outcomes().await;
    assert!(outcomes.contains(&"denied".to_string()), "{outcomes:?}");
    assert!(outcomes.contains(&"allowed".to_string()), "{outcomes:?}");
    within("shutdown", client.cancel()).await.unwrap();
    setup.gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_bodies_get_a_parse_error_and_nothing_reaches_the_server() {
    let setup = Setup::start(0, &["items"]).await;
    for body in [
        "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"tools/call\",",
        "DROP TABLE items",
        "",
    ] {
        let answer = setup.post(body, None).await;
        assert_eq!(answer.status, 400, "{body}");
        let reply = answer.json();
        assert_eq!(reply["error"]["code"], -32700, "{body}: {reply}");
        assert_eq!(reply["id"], Value::Null);
    }
    // A tools/call whose arguments are not an object is refused, not forwarded.
    let answer = setup
        .post(
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"execute_sql","arguments":"DROP TABLE items"}}"#,
            None,
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.json()["error"]["code"], -32602);
    assert_eq!(answer.json()["id"], 7);
    assert!(
        setup.recorder.all().is_empty(),
        "{:?}",
        setup.recorder.all()
    );
    assert!(table_exists(&setup.db()).await);
    setup.gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_batch_is_judged_call_by_call() {
    let setup = Setup::start(0, &["items"]).await;
    // A session first, with the real client, to learn its id.
    let init = setup
        .post(
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}"#,
            None,
        )
        .await;
    assert_eq!(init.status, 200, "{}", String::from_utf8_lossy(&init.body));
    let session = init
        .headers
        .get("mcp-session-id")
        .expect("a session id")
        .to_str()
        .unwrap()
        .to_string();
    let answer = setup
        .post(
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"delete_account","arguments":{}}},{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"execute_sql","arguments":{"sql":"DROP TABLE items"}}}]"#,
            Some(&session),
        )
        .await;
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let replies = answer.json();
    let replies = replies.as_array().expect("an array of answers");
    assert_eq!(replies.len(), 2, "{replies:?}");
    for reply in replies {
        assert_eq!(reply["result"]["isError"], true, "{reply}");
    }
    let by_id = |id: i64| replies.iter().find(|r| r["id"] == id).unwrap();
    assert_eq!(by_id(1)["result"]["_meta"]["airlock"]["decision"], "deny");
    assert_eq!(by_id(2)["result"]["_meta"]["airlock"]["decision"], "ask");
    assert_eq!(setup.recorder.calls_with("delete_account"), 0);
    assert_eq!(setup.recorder.calls_with("DROP TABLE"), 0);
    assert!(table_exists(&setup.db()).await);

    // Part allowed, part denied: only the allowed call is forwarded. (rmcp's server, like MCP 2025-06-18,
    // does not take batches, so its refusal comes back; merging answers is covered by the unit tests.)
    let mixed = setup
        .post(
            r#"[{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"list_items","arguments":{}}},{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"delete_account","arguments":{}}}]"#,
            Some(&session),
        )
        .await;
    assert!(
        String::from_utf8_lossy(&mixed.body).contains("JSON-RPC message"),
        "{mixed:?}"
    );
    assert_eq!(setup.recorder.calls_with("list_items"), 1);
    assert_eq!(setup.recorder.calls_with("delete_account"), 0);
    setup.gateway.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_scopes_are_checked() {
    let setup = Setup::start(0, &["railway"]).await;
    let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let no_token = support::send(
        setup.gateway.agent_addr(),
        "POST",
        "/mcp/items",
        &[("content-type", "application/json")],
        body,
    )
    .await;
    assert_eq!(no_token.status, 401);
    let no_scope = setup.post(body, None).await;
    assert_eq!(
        no_scope.status,
        403,
        "{}",
        String::from_utf8_lossy(&no_scope.body)
    );
    let unknown = support::send(
        setup.gateway.agent_addr(),
        "POST",
        "/mcp/nothing",
        &[("authorization", &format!("Bearer {}", setup.token))],
        body,
    )
    .await;
    assert_eq!(unknown.status, 404);
    assert!(setup.recorder.all().is_empty());
    setup.gateway.stop().await.unwrap();
}
