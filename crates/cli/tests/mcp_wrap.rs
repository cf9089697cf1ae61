//! `airlock mcp wrap` end to end: the built `airlock` binary between a real MCP client and a real MCP server
//! process, with a fresh `$AIRLOCK_HOME` (SQLite store) and `$HOME` per test.
//!
//! - The items server (`support/items_server.rs`): an rmcp server on a real SQLite file, driven by an rmcp
//!   client — reads pass, `DROP TABLE` is held and the table stays, an approval lets exactly one call through,
//!   `--hide-denied-tools`.
//! - The recorder (below): a plain stdio JSON-RPC server that appends every line it receives to a file and can
//!   hang, crash or flood on request, driven line by line — so the tests see exactly what was forwarded
//!   (byte for byte, in order) and what never was, and how crashes and floods are answered.
//! - `@modelcontextprotocol/server-filesystem` from npm (installed by `.ci/run`): skipped when
//!   `mcp-server-filesystem` is not on `PATH`, unless `CI=true`.
//!
//! This binary also *is* those servers: run with `AIRLOCK_TEST_MCP_ROLE=items|recorder` it serves on stdio
//! instead of testing (so it brings its own harness, libtest-mimic). Every wait has a generous timeout: a
//! proxy that hangs fails the test instead of stalling it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

#[path = "support/items_server.rs"]
mod items_server;

use std::future::Future;
use std::io::{BufRead as _, Write as _};
use std::path::PathBuf;
use std::process::{ExitCode, Stdio};
use std::time::Duration;

use airlock_store::Store;
use libtest_mimic::{Arguments, Failed, Trial};
use rmcp::ServiceExt as _;
use rmcp::model::{CallToolRequestParams, CallToolResult, ContentBlock};
use rmcp::service::{RoleClient, RunningService};
use rmcp::transport::TokioChildProcess;
use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

use items_server::{DB_ENV, ROLE_ENV};

/// Where the recorder appends what it receives.
const RECORD_ENV: &str = "AIRLOCK_TEST_RECORD";
/// Longest wait for anything; a proxy that takes longer is hanging.
const PATIENCE: Duration = Duration::from_secs(60);

fn main() -> ExitCode {
    match std::env::var(ROLE_ENV).as_deref() {
        Ok("items") => return items_server::serve_items(),
        Ok("recorder") => return serve_recorder(),
        _ => {}
    }
    let args = Arguments::from_args();
    let filesystem_missing = which("mcp-server-filesystem").is_none();
    if filesystem_missing && std::env::var("CI").as_deref() == Ok("true") {
        eprintln!(
            "mcp-server-filesystem is not installed (npm install -g @modelcontextprotocol/server-filesystem)"
        );
        return ExitCode::FAILURE;
    }
    let tests = vec![
        trial(
            "reads_pass_and_a_drop_table_waits_for_one_approval",
            reads_pass_and_a_drop_table_waits_for_one_approval,
        ),
        trial(
            "an_approval_during_the_hold_lets_the_call_through_while_others_flow",
            an_approval_during_the_hold_lets_the_call_through_while_others_flow,
        ),
        trial(
            "hide_denied_tools_lists_no_account_deletion_and_still_judges_it",
            hide_denied_tools_lists_no_account_deletion_and_still_judges_it,
        ),
        trial(
            "every_other_message_passes_untouched_and_in_order",
            every_other_message_passes_untouched_and_in_order,
        ),
        trial(
            "malformed_messages_and_reused_ids_are_answered_never_forwarded",
            malformed_messages_and_reused_ids_are_answered_never_forwarded,
        ),
        trial(
            "a_cancelled_held_call_is_dropped_and_its_id_freed",
            a_cancelled_held_call_is_dropped_and_its_id_freed,
        ),
        trial(
            "a_crashing_server_fails_every_request_in_flight",
            a_crashing_server_fails_every_request_in_flight,
        ),
        trial(
            "a_flooding_server_is_stopped_with_a_clear_error",
            a_flooding_server_is_stopped_with_a_clear_error,
        ),
        trial(
            "install_mcp_routes_a_configured_server_through_airlock_and_back",
            install_mcp_routes_a_configured_server_through_airlock_and_back,
        ),
        trial(
            "filesystem_server_reads_pass_and_authorized_keys_is_not_written",
            filesystem_server_reads_pass_and_authorized_keys_is_not_written,
        )
        .with_ignored_flag(filesystem_missing),
    ];
    libtest_mimic::run(&args, tests).exit_code()
}

fn trial<F, Fut>(name: &str, test: F) -> Trial
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = ()>,
{
    Trial::test(name, move || {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Failed::from(e.to_string()))?;
        runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(240), test())
                .await
                .map_err(|_| Failed::from("the test did not finish in 240 s: something hangs"))
        })
    })
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|path| path.is_file())
}

async fn within<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {PATIENCE:?} (the proxy hangs)"))
}

/// A fresh `$HOME`, `$AIRLOCK_HOME` and items database.
struct Sandbox {
    _dir: tempfile::TempDir,
    home: PathBuf,
    airlock_home: PathBuf,
    items_db: PathBuf,
    record: PathBuf,
}

impl Sandbox {
    async fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().join("home");
        let airlock_home = dir.path().join("airlock");
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&airlock_home).unwrap();
        let items_db = dir.path().join("items.db");
        items_server::create_items_db(&items_db).await.unwrap();
        let record = dir.path().join("received.jsonl");
        Self {
            _dir: dir,
            home,
            airlock_home,
            items_db,
            record,
        }
    }

    /// `airlock mcp wrap --name NAME FLAGS… -- SERVER…` with this sandbox's environment.
    fn wrap(&self, name: &str, flags: &[&str], server: &[&std::ffi::OsStr]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_airlock"));
        command
            .args(["mcp", "wrap", "--name", name])
            .args(flags)
            .arg("--")
            .args(server)
            .current_dir(&self.home)
            .env("HOME", &self.home)
            .env("AIRLOCK_HOME", &self.airlock_home)
            .env_remove("AIRLOCK_DATABASE_URL")
            .env(DB_ENV, &self.items_db)
            .env(RECORD_ENV, &self.record)
            .kill_on_drop(true);
        command
    }

    /// The wrapped test binary serving as `role`.
    fn wrap_self(&self, role: &str, name: &str, flags: &[&str]) -> Command {
        let exe = std::env::current_exe().unwrap();
        let mut command = self.wrap(name, flags, &[exe.as_os_str()]);
        command.env(ROLE_ENV, role);
        command
    }

    async fn store(&self) -> Store {
        Store::open(&format!(
            "sqlite://{}",
            self.airlock_home.join("airlock.db").display()
        ))
        .await
        .unwrap()
    }

    async fn approve(&self, approval_id: &str) {
        let store = self.store().await;
        let (_, secret) = store.add_approver("alice").await.unwrap();
        let alice = store.authenticate_approver(&secret).await.unwrap();
        store.approve(approval_id, &alice).await.unwrap();
        store.close().await;
    }

    async fn outcomes(&self) -> Vec<(String, String)> {
        let store = self.store().await;
        let entries = store.list(&Default::default()).await.unwrap();
        store.close().await;
        entries
            .into_iter()
            .map(|e| (e.outcome, e.summary))
            .collect()
    }

    async fn items_table_exists(&self) -> bool {
        let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", self.items_db.display()))
            .await
            .unwrap();
        let count: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'items'",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
        pool.close().await;
        count == 1
    }

    /// The lines the recorder received, in order.
    fn received(&self) -> Vec<String> {
        match std::fs::read_to_string(&self.record) {
            Ok(text) => text.lines().map(str::to_string).collect(),
            Err(_) => Vec::new(),
        }
    }
}

// ---- the items server through an rmcp client -----------------------------------------------------------

type Client = RunningService<RoleClient, ()>;

async fn connect(command: Command) -> Client {
    let transport = TokioChildProcess::new(command).unwrap();
    within("initialize", ().serve(transport)).await.unwrap()
}

async fn call(client: &Client, tool: &str, arguments: Value) -> CallToolResult {
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
        .filter_map(|c| match c {
            ContentBlock::Text(t) => Some(t.text.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_error(result: &CallToolResult) -> bool {
    result.is_error == Some(true)
}

/// The approval id airlock put in a held call's result.
fn approval_id(result: &CallToolResult) -> String {
    let meta = result.meta.as_ref().expect("a held result carries _meta");
    meta.0["airlock"]["approval_id"]
        .as_str()
        .expect("_meta.airlock.approval_id")
        .to_string()
}

async fn reads_pass_and_a_drop_table_waits_for_one_approval() {
    let sandbox = Sandbox::new().await;
    let client = connect(sandbox.wrap_self("items", "items", &["--hold-seconds", "1"])).await;

    let tools = within("tools/list", client.list_all_tools()).await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    for expected in ["list_items", "delete_item", "execute_sql", "delete_account"] {
        assert!(names.contains(&expected), "{names:?}");
    }

    let listed = call(&client, "list_items", json!({})).await;
    assert!(!is_error(&listed), "{}", text(&listed));
    assert_eq!(text(&listed), "1 anvil\n2 bellows\n3 crucible");
    let selected = call(
        &client,
        "execute_sql",
        json!({"sql": "SELECT * FROM items"}),
    )
    .await;
    assert!(!is_error(&selected), "{}", text(&selected));

    let drop = json!({"sql": "DROP TABLE items"});
    let held = call(&client, "execute_sql", drop.clone()).await;
    assert!(
        is_error(&held),
        "a DROP TABLE must not run: {}",
        text(&held)
    );
    let id = approval_id(&held);
    let message = text(&held);
    assert!(message.contains("holding this tool call"), "{message}");
    assert!(message.contains("[SQL003]"), "{message}");
    assert!(
        message.contains(&format!("airlock approvals approve {id}")),
        "{message}"
    );
    assert!(
        message.contains(&format!("http://127.0.0.1:8788/approvals/{id}")),
        "{message}"
    );
    assert!(
        sandbox.items_table_exists().await,
        "the held DROP TABLE reached the server"
    );

    sandbox.approve(&id).await;
    let ran = call(&client, "execute_sql", drop.clone()).await;
    assert!(
        !is_error(&ran),
        "the approved call must run: {}",
        text(&ran)
    );
    assert!(
        !sandbox.items_table_exists().await,
        "the approved DROP TABLE did not run"
    );

    // The approval is used up: the identical call is held again, under a new approval.
    let again = call(&client, "execute_sql", drop).await;
    assert!(is_error(&again), "{}", text(&again));
    assert_ne!(approval_id(&again), id);

    within("shutdown", client.cancel()).await.unwrap();
    let outcomes: Vec<String> = sandbox
        .outcomes()
        .await
        .into_iter()
        .filter(|(_, summary)| summary.contains("execute_sql"))
        .map(|(outcome, _)| outcome)
        .collect();
    assert_eq!(outcomes, ["allowed", "held", "approved", "held"], "audit");
}

async fn an_approval_during_the_hold_lets_the_call_through_while_others_flow() {
    let sandbox = Sandbox::new().await;
    let client = connect(sandbox.wrap_self("items", "items", &["--hold-seconds", "120"])).await;

    let deleting = {
        let peer = client.peer().clone();
        tokio::spawn(async move {
            let params = CallToolRequestParams::new("delete_item")
                .with_arguments(json!({"id": 2}).as_object().unwrap().clone());
            peer.call_tool(params).await
        })
    };
    // Wait for the hold to exist, then show that other calls are answered while it waits.
    let store = sandbox.store().await;
    let pending = within("the hold", async {
        loop {
            let approvals = store.list_approvals(false).await.unwrap();
            if let Some(first) = approvals.into_iter().next() {
                return first;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    store.close().await;
    let listed = call(&client, "list_items", json!({})).await;
    assert_eq!(
        text(&listed),
        "1 anvil\n2 bellows\n3 crucible",
        "the held delete ran early"
    );
    assert!(
        !deleting.is_finished(),
        "the held call was answered before anyone approved it"
    );

    sandbox.approve(&pending.id).await;
    let deleted = within("the approved call", deleting)
        .await
        .unwrap()
        .unwrap();
    assert!(!is_error(&deleted), "{}", text(&deleted));
    assert_eq!(text(&deleted), "deleted 1 item(s)");
    let listed = call(&client, "list_items", json!({})).await;
    assert_eq!(text(&listed), "1 anvil\n3 crucible");
    within("shutdown", client.cancel()).await.unwrap();
}

async fn hide_denied_tools_lists_no_account_deletion_and_still_judges_it() {
    let sandbox = Sandbox::new().await;
    let client = connect(sandbox.wrap_self("items", "items", &["--hide-denied-tools"])).await;
    let tools = within("tools/list", client.list_all_tools()).await.unwrap();
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_ref()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(!names.contains(&"delete_account"), "{names:?}");
    assert!(
        names.contains(&"delete_item"),
        "held tools stay listed: {names:?}"
    );

    let denied = call(&client, "delete_account", json!({})).await;
    assert!(is_error(&denied), "{}", text(&denied));
    assert!(
        text(&denied).contains("airlock denied this tool call: [MCP002]"),
        "{}",
        text(&denied)
    );
    let listed = call(&client, "list_items", json!({})).await;
    assert_eq!(text(&listed), "1 anvil\n2 bellows\n3 crucible");
    within("shutdown", client.cancel()).await.unwrap();
}

// ---- the recorder, line by line ---------------------------------------------------------------------------

/// A plain stdio JSON-RPC server: appends every received line to `$AIRLOCK_TEST_RECORD`, answers requests
/// (`tools/list` first sends a `roots/list` request of its own), and for `tools/call` of `wait_forever` never
/// answers, of `crash` exits with status 3, of `flood` writes 17 MiB without a newline.
fn serve_recorder() -> ExitCode {
    let record_path = std::env::var_os(RECORD_ENV).expect("AIRLOCK_TEST_RECORD");
    let mut stdout = std::io::stdout().lock();
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let mut record = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&record_path)
            .unwrap();
        writeln!(record, "{line}").unwrap();
        drop(record);
        let Ok(message) = serde_json::from_str::<Value>(&line) else {
            continue;
        };
        let (Some(id), Some(method)) = (message.get("id"), message["method"].as_str()) else {
            continue;
        };
        let result = match method {
            "initialize" => json!({
                "protocolVersion": message["params"]["protocolVersion"],
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "recorder", "version": "1.0.0"}
            }),
            "tools/list" => {
                writeln!(stdout, "{}", SERVER_REQUEST).unwrap();
                json!({"tools": [
                    {"name": "echo", "inputSchema": {"type": "object"}},
                    {"name": "delete_account", "inputSchema": {"type": "object"}}
                ]})
            }
            "tools/call" => match message["params"]["name"].as_str().unwrap_or_default() {
                "wait_forever" => continue,
                "crash" => std::process::exit(3),
                "flood" => {
                    let chunk = vec![b'x'; 1024 * 1024];
                    for _ in 0..17 {
                        if stdout.write_all(&chunk).is_err() {
                            std::process::exit(0);
                        }
                    }
                    let _ = stdout.flush();
                    std::thread::sleep(Duration::from_secs(120));
                    std::process::exit(0);
                }
                name => json!({"content": [{"type": "text", "text": format!("ran {name}")}]}),
            },
            _ => json!({}),
        };
        writeln!(
            stdout,
            "{}",
            json!({"jsonrpc": "2.0", "id": id, "result": result})
        )
        .unwrap();
        stdout.flush().unwrap();
    }
    ExitCode::SUCCESS
}

/// The request the recorder sends before answering `tools/list`, oddly spaced on purpose.
const SERVER_REQUEST: &str =
    r#"{"jsonrpc":"2.0",  "id" : "srv-1", "method":"roots/list" ,"params":{}}"#;

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"roots":{}},"clientInfo":{"name":"line-client","version":"1.0"}}}"#;

/// `airlock mcp wrap` driven line by line.
struct LineSession {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: tokio::io::Lines<BufReader<ChildStdout>>,
}

impl LineSession {
    fn start(mut command: Command) -> Self {
        command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().unwrap();
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        Self {
            child,
            stdin,
            stdout,
        }
    }

    async fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        within("write", async {
            stdin.write_all(line.as_bytes()).await.unwrap();
            stdin.write_all(b"\n").await.unwrap();
            stdin.flush().await.unwrap();
        })
        .await;
    }

    async fn next_line(&mut self) -> String {
        within("read", self.stdout.next_line())
            .await
            .unwrap()
            .expect("the proxy closed its output")
    }

    async fn next(&mut self) -> Value {
        let line = self.next_line().await;
        serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
    }

    /// Closes the proxy's stdin and returns its exit status and stderr.
    async fn finish(mut self) -> (std::process::ExitStatus, String) {
        drop(self.stdin.take());
        let mut stderr = self.child.stderr.take().unwrap();
        let mut text = String::new();
        within("exit", async {
            tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text)
                .await
                .unwrap();
        })
        .await;
        let status = within("exit", self.child.wait()).await.unwrap();
        (status, text)
    }
}

async fn initialized(sandbox: &Sandbox, flags: &[&str]) -> LineSession {
    let mut session = LineSession::start(sandbox.wrap_self("recorder", "recorder", flags));
    session.send(INITIALIZE).await;
    let answer = session.next().await;
    assert_eq!(answer["id"], 0, "{answer}");
    assert_eq!(
        answer["result"]["serverInfo"]["name"], "recorder",
        "{answer}"
    );
    session
}

async fn every_other_message_passes_untouched_and_in_order() {
    let sandbox = Sandbox::new().await;
    let mut session = initialized(&sandbox, &[]).await;
    let sent = [
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        r#"{ "jsonrpc" : "2.0", "method":"vendor/notice","params":{"b":1,"a":2.50,"s":"caf\u00e9 \ud83d\ude00"} }"#,
        r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":"t-1","progress":0.5,"total":1}}"#,
        r#"{"jsonrpc":"2.0","method":"notifications/roots/list_changed"}"#,
        r#"{"jsonrpc":"2.0","id":"srv-0","result":{"roots":[{"uri":"file:///w","name":"w"}]}}"#,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list","params":{}}"#,
    ];
    for line in sent {
        session.send(line).await;
    }
    // The server's own request comes through byte for byte, before its answer.
    assert_eq!(session.next_line().await, SERVER_REQUEST);
    let listed = session.next().await;
    assert_eq!(listed["id"], 1);
    assert_eq!(listed["result"]["tools"][0]["name"], "echo");
    let more = [
        r#"{"jsonrpc":"2.0","id":"srv-1","result":{"roots":[]}}"#,
        r#"{"jsonrpc":"2.0","id":2,"method":"resources/list","params":{"cursor":"c"}}"#,
        r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"},"_meta":{"progressToken":7}}}"#,
        r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#,
    ];
    for line in more {
        session.send(line).await;
    }
    let answers = [
        session.next().await,
        session.next().await,
        session.next().await,
    ];
    assert_eq!(
        answers.map(|a| a["id"].clone()),
        [json!(2), json!(3), json!(4)]
    );

    let (status, stderr) = session.finish().await;
    assert!(status.success(), "{status}: {stderr}");
    let mut expected = vec![INITIALIZE];
    expected.extend(sent);
    expected.extend(more);
    assert_eq!(sandbox.received(), expected, "what the server received");
}

async fn malformed_messages_and_reused_ids_are_answered_never_forwarded() {
    let sandbox = Sandbox::new().await;
    let mut session = initialized(&sandbox, &[]).await;

    session.send("this is not json").await;
    let answer = session.next().await;
    assert_eq!(answer["error"]["code"], -32700, "{answer}");
    assert_eq!(answer["id"], Value::Null, "{answer}");

    session
        .send(r#"{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"execute_sql","arguments":"DROP TABLE items"}}"#)
        .await;
    let answer = session.next().await;
    assert_eq!(
        (answer["id"].clone(), answer["error"]["code"].clone()),
        (json!(5), json!(-32602)),
        "{answer}"
    );

    session
        .send(r#"{"jsonrpc":"2.0","id":6,"method":"tools/call","params":{"name":"execute_sql","arguments":{"sql":"SELECT 1","sql":"DROP TABLE items"}}}"#)
        .await;
    let answer = session.next().await;
    assert_eq!(
        (answer["id"].clone(), answer["error"]["code"].clone()),
        (json!(6), json!(-32600)),
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("twice"),
        "{answer}"
    );

    session
        .send(r#"[{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"echo"}}]"#)
        .await;
    let answer = session.next().await;
    assert_eq!(answer["error"]["code"], -32600, "{answer}");

    // A call that stays in flight (the server never answers it), then its id again.
    let in_flight = r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"wait_forever","arguments":{}}}"#;
    session.send(in_flight).await;
    session
        .send(r#"{"jsonrpc":"2.0","id":7,"method":"ping"}"#)
        .await;
    let answer = session.next().await;
    assert_eq!(
        (answer["id"].clone(), answer["error"]["code"].clone()),
        (json!(7), json!(-32600)),
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("already in use"),
        "{answer}"
    );

    // A tools/call without an id cannot be answered: dropped. Then the session still works, in order.
    session
        .send(r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"echo","arguments":{}}}"#)
        .await;
    let ping = r#"{"jsonrpc":"2.0","id":8,"method":"ping"}"#;
    session.send(ping).await;
    let answer = session.next().await;
    assert_eq!(answer, json!({"jsonrpc": "2.0", "id": 8, "result": {}}));

    let (status, stderr) = session.finish().await;
    assert!(status.success(), "{status}: {stderr}");
    assert!(stderr.contains("appears twice"), "{stderr}");
    assert_eq!(
        sandbox.received(),
        [INITIALIZE, in_flight, ping],
        "what the server received"
    );
    let outcomes = sandbox.outcomes().await;
    assert_eq!(
        outcomes.len(),
        1,
        "only the one judged call is audited: {outcomes:?}"
    );
    assert_eq!(outcomes[0].0, "allowed");
    assert!(outcomes[0].1.contains("wait_forever"), "{outcomes:?}");
}

async fn a_cancelled_held_call_is_dropped_and_its_id_freed() {
    let sandbox = Sandbox::new().await;
    let mut session = initialized(&sandbox, &["--hold-seconds", "120"]).await;
    session
        .send(r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"execute_sql","arguments":{"sql":"DROP TABLE items"}}}"#)
        .await;
    // While it is held, other requests are answered.
    let ping = r#"{"jsonrpc":"2.0","id":5,"method":"ping"}"#;
    session.send(ping).await;
    assert_eq!(
        session.next().await,
        json!({"jsonrpc": "2.0", "id": 5, "result": {}})
    );
    session
        .send(r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":4,"reason":"user pressed escape"}}"#)
        .await;
    // The id is free again: a request reusing it is forwarded and answered (not the held call's result).
    let reuse = r#"{"jsonrpc":"2.0","id":4,"method":"ping"}"#;
    session.send(reuse).await;
    assert_eq!(
        session.next().await,
        json!({"jsonrpc": "2.0", "id": 4, "result": {}})
    );

    let (status, stderr) = session.finish().await;
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(
        sandbox.received(),
        [INITIALIZE, ping, reuse],
        "what the server received"
    );
    let outcomes = within("the cancellation audit", async {
        loop {
            let outcomes: Vec<String> = sandbox
                .outcomes()
                .await
                .into_iter()
                .map(|(o, _)| o)
                .collect();
            if outcomes.len() >= 2 {
                return outcomes;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    assert_eq!(outcomes, ["held", "cancelled"]);
}

async fn a_crashing_server_fails_every_request_in_flight() {
    let sandbox = Sandbox::new().await;
    let mut session = initialized(&sandbox, &["--hold-seconds", "120"]).await;
    session
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"wait_forever","arguments":{}}}"#)
        .await;
    session
        .send(r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"execute_sql","arguments":{"sql":"DROP TABLE items"}}}"#)
        .await;
    session
        .send(r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"crash","arguments":{}}}"#)
        .await;
    let mut failed = Vec::new();
    for _ in 0..3 {
        let answer = session.next().await;
        assert_eq!(answer["error"]["code"], -32603, "{answer}");
        let message = answer["error"]["message"].as_str().unwrap();
        assert!(
            message.contains("the MCP server `recorder` exited"),
            "{message}"
        );
        failed.push(answer["id"].as_i64().unwrap());
    }
    failed.sort_unstable();
    assert_eq!(failed, [1, 2, 3]);
    let (status, stderr) = session.finish().await;
    assert!(
        !status.success(),
        "the proxy must fail when its server crashes"
    );
    assert!(
        stderr.contains("the MCP server `recorder` exited (exit status: 3)"),
        "{stderr}"
    );
    assert!(stderr.contains("3 request(s) in flight"), "{stderr}");
    let received = sandbox.received();
    assert!(
        !received.iter().any(|l| l.contains("DROP TABLE")),
        "{received:?}"
    );
}

async fn a_flooding_server_is_stopped_with_a_clear_error() {
    let sandbox = Sandbox::new().await;
    let mut session = initialized(&sandbox, &[]).await;
    session
        .send(r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"flood","arguments":{}}}"#)
        .await;
    let answer = session.next().await;
    assert_eq!(
        (answer["id"].clone(), answer["error"]["code"].clone()),
        (json!(1), json!(-32603)),
        "{answer}"
    );
    assert!(
        answer["error"]["message"]
            .as_str()
            .unwrap()
            .contains("longer than 16 MiB"),
        "{answer}"
    );
    let (status, stderr) = session.finish().await;
    assert!(!status.success());
    assert!(
        stderr.contains("sent a message longer than 16 MiB"),
        "{stderr}"
    );
}

// ---- a third-party server ----------------------------------------------------------------------------------

async fn filesystem_server_reads_pass_and_authorized_keys_is_not_written() {
    let sandbox = Sandbox::new().await;
    std::fs::write(sandbox.home.join("notes.txt"), "remember the milk\n").unwrap();
    // `~/.ssh` exists, so a write that reached the server would succeed.
    std::fs::create_dir(sandbox.home.join(".ssh")).unwrap();
    let server = which("mcp-server-filesystem").unwrap();
    let client = connect(sandbox.wrap(
        "filesystem",
        &["--hold-seconds", "0"],
        &[server.as_os_str(), sandbox.home.as_os_str()],
    ))
    .await;

    let notes = sandbox.home.join("notes.txt").display().to_string();
    let read = call(&client, "read_text_file", json!({"path": notes})).await;
    assert!(!is_error(&read), "{}", text(&read));
    assert!(text(&read).contains("remember the milk"), "{}", text(&read));
    let written = sandbox.home.join("todo.txt").display().to_string();
    let write = call(
        &client,
        "write_file",
        json!({"path": written, "content": "buy bread"}),
    )
    .await;
    assert!(!is_error(&write), "{}", text(&write));
    assert_eq!(
        std::fs::read_to_string(sandbox.home.join("todo.txt")).unwrap(),
        "buy bread"
    );

    let planted = call(
        &client,
        "write_file",
        json!({"path": "~/.ssh/authorized_keys", "content": "ssh-ed25519 AAAAC3Nza attacker@evil"}),
    )
    .await;
    assert!(is_error(&planted), "{}", text(&planted));
    assert!(text(&planted).contains("[LGK001]"), "{}", text(&planted));
    assert!(
        text(&planted).contains("It was not sent to the server"),
        "{}",
        text(&planted)
    );
    assert!(
        !sandbox.home.join(".ssh/authorized_keys").exists(),
        "authorized_keys was written"
    );
    within("shutdown", client.cancel()).await.unwrap();

    let outcomes: Vec<String> = sandbox
        .outcomes()
        .await
        .into_iter()
        .map(|(o, _)| o)
        .collect();
    assert_eq!(outcomes, ["allowed", "allowed", "denied"]);
}

// ---- `airlock install <agent> --mcp` ---------------------------------------------------------------------

async fn airlock(sandbox: &Sandbox, args: &[&str]) -> String {
    let output = within(
        "airlock",
        Command::new(env!("CARGO_BIN_EXE_airlock"))
            .args(args)
            .current_dir(&sandbox.home)
            .env("HOME", &sandbox.home)
            .env("AIRLOCK_HOME", &sandbox.airlock_home)
            .output(),
    )
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "airlock {args:?}: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

/// The command an agent would run for the server `name` of a `.mcp.json`-style file.
fn configured_command(sandbox: &Sandbox, config: &Value, name: &str) -> Command {
    let entry = &config["mcpServers"][name];
    let mut command = Command::new(entry["command"].as_str().unwrap());
    for arg in entry["args"].as_array().into_iter().flatten() {
        command.arg(arg.as_str().unwrap());
    }
    for (key, value) in entry["env"].as_object().into_iter().flatten() {
        command.env(key, value.as_str().unwrap());
    }
    command
        .current_dir(&sandbox.home)
        .env("HOME", &sandbox.home)
        .env("AIRLOCK_HOME", &sandbox.airlock_home)
        .env_remove("AIRLOCK_DATABASE_URL")
        .kill_on_drop(true);
    command
}

async fn install_mcp_routes_a_configured_server_through_airlock_and_back() {
    let sandbox = Sandbox::new().await;
    let exe = std::env::current_exe().unwrap();
    let original = json!({"mcpServers": {
        "items": {
            "command": exe.to_str().unwrap(),
            "env": {ROLE_ENV: "items", DB_ENV: sandbox.items_db.to_str().unwrap()}
        },
        "docs": {"type": "http", "url": "https://docs.example.com/mcp"}
    }});
    let config_path = sandbox.home.join(".mcp.json");
    std::fs::write(
        &config_path,
        serde_json::to_string_pretty(&original).unwrap(),
    )
    .unwrap();

    let said = airlock(&sandbox, &["install", "claude-code", "--project", "--mcp"]).await;
    assert!(said.contains("backup of the previous file"), "{said}");
    assert!(said.contains("`docs`: a remote server"), "{said}");
    let config: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    let items = &config["mcpServers"]["items"];
    assert_eq!(
        items["args"],
        json!([
            "mcp",
            "wrap",
            "--name",
            "items",
            "--",
            exe.to_str().unwrap()
        ])
    );
    assert_eq!(config["mcpServers"]["docs"], original["mcpServers"]["docs"]);
    assert!(
        !sandbox.home.join(".claude/settings.json").exists(),
        "--mcp must not wire the hook"
    );
    let again = airlock(&sandbox, &["install", "claude-code", "--project", "--mcp"]).await;
    assert!(again.contains("nothing changed"), "{again}");

    // What the agent would now launch is the server behind airlock.
    let client = connect(configured_command(&sandbox, &config, "items")).await;
    let listed = call(&client, "list_items", json!({})).await;
    assert_eq!(text(&listed), "1 anvil\n2 bellows\n3 crucible");
    let denied = call(&client, "delete_account", json!({})).await;
    assert!(is_error(&denied), "{}", text(&denied));
    assert!(
        text(&denied).contains("airlock denied"),
        "{}",
        text(&denied)
    );
    let listed = call(&client, "list_items", json!({})).await;
    assert_eq!(text(&listed), "1 anvil\n2 bellows\n3 crucible");
    within("shutdown", client.cancel()).await.unwrap();

    airlock(
        &sandbox,
        &["uninstall", "claude-code", "--project", "--mcp"],
    )
    .await;
    let restored: Value =
        serde_json::from_str(&std::fs::read_to_string(&config_path).unwrap()).unwrap();
    assert_eq!(restored, original);
}
