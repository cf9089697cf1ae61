//! `airlock demo [--approve] [--keep]`: the incident, replayed on this machine in one process. It starts a
//! Railway-like GraphQL API holding a production volume with 1,000 rows (`airlock-railway-fake`, a real HTTP
//! server on 127.0.0.1) and the airlock gateway in front of it (holding the Railway token), in a temporary
//! `$AIRLOCK_HOME` on SQLite; sends the incident's curl call through the gateway with an agent token; shows
//! the call held with what the engine found in it (the gateway judges the fake as Railway's API:
//! `judge_as = "railway"`, so the catalogue's Railway rule applies); has a person deny it (or approve it, with
//! `--approve`: the policy marks remote deletes `defer`, so the approved call is stored and sent by the
//! gateway after a short cancel window); then shows the volume, the same call refused by
//! `airlock hook cursor`, and the audit log verified.
//!
//! Exit 0 when everything went as the story says (held; after a denial the volume is intact, after an
//! approval it is deferred and then gone; the hook refuses; the audit chain verifies), 1 with the discrepancy
//! named otherwise.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_engine::{Context, Engine, Envelope, HttpRequest, Reason, Request};
use airlock_gateway::{Gateway, GatewayConfig, RunningGateway};
use airlock_railway_fake::{
    CUSTOMER_ROWS, ENVIRONMENT_NAME, PROJECT_NAME, RailwayFake, RunningFake, VOLUME_ID, VOLUME_NAME,
};
use airlock_store::gate::Gate;
use airlock_store::{Approval, ApprovalState, AuditFilter, Store};
use anyhow::{Context as _, bail};
use clap::Args;
use serde_json::Value;

/// The agent token's name (what the audit log and the approval call the agent).
const AGENT: &str = "cursor-agent";
/// The person deciding.
const APPROVER: &str = "alice";
/// The Railway API token the gateway holds (a fake's; the demo's own "environment").
const RAILWAY_TOKEN: &str = "rw_demo_3c9f2a7e51b84d06";
/// How long the person's side waits for the held call to show up in the approvals queue.
const APPEAR_TIMEOUT: Duration = Duration::from_secs(20);
/// Width of the label column.
const LABEL: usize = 11;
/// The demo's cancel window for deferred deletes (`defer_seconds`; the default is 600).
const DEFER_SECONDS: u64 = 3;
/// Railway's GraphQL endpoint: what the gateway judges calls to the fake as.
const RAILWAY_GRAPHQL: &str = "https://backboard.railway.com/graphql/v2";

/// Arguments of `airlock demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Approve the held call instead of denying it: shows the other path (the volume is deleted).
    #[arg(long)]
    approve: bool,
    /// Keep the demo's temporary `$AIRLOCK_HOME` (audit log, approvals, the volume's file) and print where.
    #[arg(long)]
    keep: bool,
}

/// Runs `airlock demo`.
pub fn run(args: DemoArgs) -> anyhow::Result<i32> {
    let home = tempfile::Builder::new()
        .prefix("airlock-demo-")
        .tempdir()
        .context("cannot create a temporary directory for the demo")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(demo(&args, home.path()));
    runtime.shutdown_timeout(Duration::from_secs(2));
    if args.keep {
        let kept = home.keep();
        println!();
        println!("The demo's files are kept in {}", kept.display());
        println!("  AIRLOCK_HOME={} airlock log verify", kept.display());
    }
    result
}

/// Everything the demo started, for stopping it in order.
struct Running {
    fake: RunningFake,
    gateway: RunningGateway,
    store: Store,
}

async fn demo(args: &DemoArgs, home: &Path) -> anyhow::Result<i32> {
    let started = Instant::now();
    println!("airlock demo: the incident, replayed against a Railway-like API on this machine");
    println!(
        "An AI agent found an API token and sent one curl POST of a GraphQL `volumeDelete` mutation;"
    );
    println!(
        "the volume held the production database. Here the agent has an airlock token instead, and"
    );
    println!("the call goes through the airlock gateway.");

    // 1. Set up.
    section(1, "Setup (all in this process, on 127.0.0.1)");
    let fake = RailwayFake::start(&home.join("railway"), RAILWAY_TOKEN)
        .await
        .context("cannot start the Railway-like API")?;
    let rows = fake.volume_rows(VOLUME_ID).await?.unwrap_or(0);
    label(
        "railway",
        &format!("{} (a real HTTP server; GraphQL)", fake.graphql_url()),
    );
    label(
        "volume",
        &format!("{VOLUME_NAME} {VOLUME_ID}, project {PROJECT_NAME}, {ENVIRONMENT_NAME}"),
    );
    label(
        "",
        &format!("{rows} rows in its `customers` table (an SQLite file)"),
    );

    // The gateway's configuration as a person would write it; the Railway token comes from the gateway's
    // own environment (here: a value the demo holds), never from the agent.
    let config_path = home.join(airlock_store::config::CONFIG_FILE);
    let config_text = |listen: &str, admin: &str| {
        format!(
            "listen = \"{listen}\"\nadmin_listen = \"{admin}\"\nhold_seconds = 30\n\
             defer_seconds = {DEFER_SECONDS}\n\n\
             [upstreams.railway]\nurl = \"{}\"\nenvironment = \"production\"\njudge_as = \"railway\"\n\
             auth = {{ header = \"Authorization\", value = \"Bearer ${{RAILWAY_API_TOKEN}}\" }}\n",
            fake.url()
        )
    };
    let environment = |var: &str| (var == "RAILWAY_API_TOKEN").then(|| RAILWAY_TOKEN.to_string());
    let config = GatewayConfig::parse(
        &config_text("127.0.0.1:0", "127.0.0.1:0"),
        &config_path,
        &environment,
    )?;
    let url = airlock_store::config::database_url(home, None)?;
    let store = Store::open(&url).await?;
    let gate = Gate::new(Arc::new(Engine::new()?), store.clone());
    let bound = Gateway::new(config, gate.clone()).bind().await?;
    // Written with the ports actually bound, so `airlock` commands run on this home (the hook below, or a
    // person with `--keep`) find this gateway.
    let written = config_text(
        &bound.agent_addr().to_string(),
        &bound.admin_addr().to_string(),
    );
    std::fs::write(&config_path, written)
        .with_context(|| format!("cannot write `{}`", config_path.display()))?;
    let gateway = bound.spawn();
    let running = Running {
        fake,
        gateway,
        store,
    };
    let outcome = story(args, home, &running, &gate).await;
    let Running {
        fake,
        gateway,
        store,
    } = running;
    let stopped = gateway.stop().await;
    fake.shutdown().await;
    store.close().await;
    let code = outcome?;
    stopped.context("the gateway stopped with an error")?;
    println!();
    println!("Done in {:.1} s.", started.elapsed().as_secs_f64());
    Ok(code)
}

/// Sections 1 (rest) to 7; returns the exit code.
async fn story(
    args: &DemoArgs,
    home: &Path,
    running: &Running,
    gate: &Gate,
) -> anyhow::Result<i32> {
    let Running {
        fake,
        gateway,
        store,
    } = running;
    let mut problems: Vec<String> = Vec::new();
    let (_, agent_token) = store
        .create_token(AGENT, &["railway".to_string()], None)
        .await?;
    let (_, approver_secret) = store.add_approver(APPROVER).await?;
    let approver = store.authenticate_approver(&approver_secret).await?;
    label(
        "gateway",
        &format!("{} -> {}", gateway.upstream_url("railway"), fake.url()),
    );
    label(
        "",
        "it holds the Railway token (from its own environment, never the agent's)",
    );
    label(
        "agent",
        &format!(
            "token `{AGENT}`, scope railway: {}",
            abbreviate(&agent_token)
        ),
    );
    label(
        "approver",
        &format!("`{APPROVER}` (a person; an agent token can never approve)"),
    );
    label(
        "home",
        &format!("{} (audit log in airlock.db, SQLite)", home.display()),
    );

    // 2. The agent's call.
    section(
        2,
        "The agent sends the incident's call, through the gateway",
    );
    let url = format!("{}/graphql/v2", gateway.upstream_url("railway"));
    let body = format!(r#"{{"query":"mutation {{ volumeDelete(volumeId: \"{VOLUME_ID}\") }}"}}"#);
    println!("  $ curl -X POST {url} \\");
    println!(
        "      -H \"Authorization: Bearer {}\" \\",
        abbreviate(&agent_token)
    );
    println!("      -H \"Content-Type: application/json\" \\");
    println!("      -d '{body}'");
    println!("  (sent from this process with exactly that method, headers and body)");
    let sent_at = Instant::now();
    let call = tokio::spawn({
        let url = url.clone();
        let body = body.clone();
        let token = agent_token.clone();
        async move {
            let response = reqwest::Client::new()
                .post(url)
                .header("Authorization", format!("Bearer {token}"))
                .header("Content-Type", "application/json")
                .body(body)
                .send()
                .await?;
            let status = response.status().as_u16();
            let text = response.text().await?;
            Ok::<_, reqwest::Error>((status, text))
        }
    });

    // 3. Held.
    section(3, "airlock holds it for a person");
    let approval = wait_for_approval(store).await?;
    let waiting = !call.is_finished();
    println!(
        "  The agent's curl is {} the gateway holds the call open for up to 30 s.",
        if waiting {
            "still waiting:"
        } else {
            "NOT waiting (unexpected);"
        }
    );
    if !waiting {
        problems.push("the call was not held open while a person decides".into());
    }
    let railway_saw = fake.received().len();
    println!("  The Railway-like API has received {railway_saw} request(s) so far.");
    if railway_saw != 0 {
        problems.push(format!(
            "the API received {railway_saw} requests before anyone decided"
        ));
    }
    println!();
    show_approval(&approval, RAILWAY_GRAPHQL, &body, gate);

    // 4. The person decides.
    let reason = "deleting the production volume is not part of this task";
    let decided = if args.approve {
        section(
            4,
            &format!("A person approves it (`{APPROVER}`, out of the agent's reach)"),
        );
        println!(
            "  $ AIRLOCK_APPROVER_SECRET=… airlock approvals approve {}",
            approval.id
        );
        store.approve(&approval.id, &approver).await?
    } else {
        section(
            4,
            &format!("A person denies it (`{APPROVER}`, out of the agent's reach)"),
        );
        println!(
            "  $ AIRLOCK_APPROVER_SECRET=… airlock approvals deny {} --reason \"{reason}\"",
            approval.id
        );
        store.deny(&approval.id, &approver, reason).await?
    };
    label("approval", decided.state.as_str());
    let (status, answer) = call.await.context("the agent's request task failed")??;
    let waited = sent_at.elapsed().as_secs_f64();
    println!("  The agent's curl returns after {waited:.1} s:");
    println!("    HTTP {status}");
    for line in pretty_lines(&answer) {
        println!("    {line}");
    }
    let expected_status = if args.approve { 202 } else { 403 };
    if status != expected_status {
        problems.push(format!(
            "the agent got HTTP {status}, expected {expected_status}"
        ));
    }
    if args.approve {
        let deferred_id = serde_json::from_str::<Value>(&answer).ok().and_then(|v| {
            v.get("deferred_id")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
        match deferred_id {
            Some(id) => {
                println!(
                    "  The policy marks remote deletes `defer`: the gateway keeps the call (without any credential)"
                );
                println!(
                    "  and sends it after the cancel window ({DEFER_SECONDS} s here, 10 min by default) unless a person runs"
                );
                println!("  `airlock deferred cancel {id}`.");
                let done = wait_for_deferred(store, &id).await?;
                label(
                    "deferred",
                    &format!(
                        "{}: {} (HTTP {}) {}",
                        done.id,
                        done.state.as_str(),
                        done.result_status
                            .map_or_else(|| "-".to_string(), |s| s.to_string()),
                        done.result_summary.as_deref().unwrap_or_default()
                    ),
                );
                if done.state != airlock_store::deferred::DeferredState::Executed {
                    problems.push(format!(
                        "the deferred call ended `{}`, not executed",
                        done.state.as_str()
                    ));
                }
            }
            None => problems.push("the approved call was not deferred".into()),
        }
    }

    // 5. The volume.
    section(5, "The production volume");
    let rows = fake.volume_rows(VOLUME_ID).await?;
    match rows {
        Some(rows) => label("pg-data", &format!("intact: {rows} rows in `customers`")),
        None => label(
            "pg-data",
            "deleted: the volume and its SQLite file are gone",
        ),
    }
    let received = fake.received();
    let count = received.len();
    label(
        "railway",
        &format!(
            "received {count} request{}",
            if count == 1 { "" } else { "s" }
        ),
    );
    for request in &received {
        let auth = request.header_values("authorization");
        let shown: Vec<String> = auth
            .iter()
            .map(|a| describe_credential(a, &agent_token))
            .collect();
        label(
            "",
            &format!(
                "{} {}  Authorization: {}",
                request.method,
                request.path,
                shown.join(", ")
            ),
        );
        if request.body_text().contains(&agent_token)
            || auth.iter().any(|a| a.contains(&agent_token))
        {
            problems.push("the agent's airlock token reached the Railway API".into());
        }
    }
    match (args.approve, rows) {
        (false, Some(rows)) if rows == CUSTOMER_ROWS => {}
        (true, None) => {}
        (false, _) => problems.push(format!("after the denial the volume has {rows:?} rows")),
        (true, Some(rows)) => {
            problems.push(format!(
                "after the approval the volume still has {rows} rows"
            ));
        }
    }

    // 6. The hook.
    section(
        6,
        "The same call from Cursor's shell, straight to Railway: `airlock hook cursor`",
    );
    let command = format!(
        r#"curl -X POST https://backboard.railway.com/graphql/v2 -H "Authorization: Bearer $RAILWAY_API_TOKEN" -H "Content-Type: application/json" -d '{body}'"#
    );
    match run_cursor_hook(home, &command).await {
        Ok((code, answer)) => {
            println!(
                "  Cursor's beforeShellExecution hook input (stdin JSON) carries the command:"
            );
            for line in wrap(&command, 90) {
                println!("    {line}");
            }
            let permission = answer
                .get("permission")
                .and_then(Value::as_str)
                .unwrap_or("(none)");
            label("answer", &format!("permission {permission} (exit {code})"));
            let message = ["user_message", "agent_message"]
                .iter()
                .find_map(|key| answer.get(*key).and_then(Value::as_str));
            if let Some(message) = message {
                for (i, line) in wrap(message, 86).iter().enumerate() {
                    label(if i == 0 { "message" } else { "" }, line);
                }
            }
            if permission != "deny" {
                problems.push(format!("the Cursor hook answered `{permission}`, not deny"));
            }
        }
        Err(err) => {
            println!("  could not run `airlock hook cursor`: {err:#}");
            problems.push(format!("the Cursor hook could not run: {err:#}"));
        }
    }

    // 7. The audit log.
    section(7, "The audit log");
    let entries = store.list(&AuditFilter::default()).await?;
    for entry in &entries {
        let approval = entry.approval_id.as_deref().unwrap_or("");
        let agent = entry.agent.as_deref().unwrap_or("-");
        println!(
            "  #{:<3} {:<13} {:<5} {:<9} {}",
            entry.seq, agent, entry.decision, entry.outcome, approval
        );
        println!("       {}", truncate(&entry.summary, 90));
    }
    let report = store.verify(None).await?;
    match &report.problem {
        None => {
            println!("  $ airlock log verify");
            println!(
                "  verified: {} entries, hash chain intact, head {}",
                report.count,
                truncate(&report.head, 16)
            );
        }
        Some(problem) => {
            println!("  verify FAILED: {}", problem.message);
            problems.push(format!(
                "the audit log does not verify: {}",
                problem.message
            ));
        }
    }

    println!();
    if problems.is_empty() {
        if args.approve {
            println!(
                "With --approve a person let the call through, once, after the cancel window: the volume is gone."
            );
            println!("Without it (the default) the call is denied and the volume stays intact.");
        } else {
            println!(
                "The call never reached the API, the volume is intact, and each decision is in the"
            );
            println!("verified audit log. Run `airlock demo --approve` to see the other path.");
        }
        Ok(0)
    } else {
        println!("The demo did not go as expected:");
        for problem in &problems {
            println!("  - {problem}");
        }
        Ok(1)
    }
}

/// Waits until the deferred call has run (the gateway's executor sends it once the window has passed).
async fn wait_for_deferred(
    store: &Store,
    id: &str,
) -> anyhow::Result<airlock_store::deferred::Deferred> {
    use airlock_store::deferred::DeferredState;
    let deadline = Instant::now() + APPEAR_TIMEOUT + Duration::from_secs(DEFER_SECONDS);
    loop {
        let deferred = store.deferred(id).await?;
        if !matches!(
            deferred.state,
            DeferredState::Pending | DeferredState::Executing
        ) {
            return Ok(deferred);
        }
        if Instant::now() >= deadline {
            bail!("the deferred call {id} did not run in time");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the agent's held call shows up as a pending approval.
async fn wait_for_approval(store: &Store) -> anyhow::Result<Approval> {
    let deadline = Instant::now() + APPEAR_TIMEOUT;
    loop {
        let pending = store.list_approvals(false).await?;
        if let Some(approval) = pending.into_iter().find(|a| a.requester == AGENT) {
            return Ok(approval);
        }
        if Instant::now() >= deadline {
            bail!(
                "the agent's call did not show up as a pending approval within {} s",
                APPEAR_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Prints what a person sees of the held call: the approval, the mutation the engine found (the reason's span
/// in the request as the gateway judged it) and what the engine makes of it.
fn show_approval(approval: &Approval, upstream_url: &str, body: &str, gate: &Gate) {
    label(
        "approval",
        &format!("{} ({})", approval.id, approval.state.as_str()),
    );
    label("requester", &approval.requester);
    // The summary is `http: METHOD URL [header: value]… body: …`; its first words name the call.
    let call = approval
        .summary
        .split(" [")
        .next()
        .unwrap_or(&approval.summary)
        .split(" body: ")
        .next()
        .unwrap_or_default();
    let call = call.strip_prefix("http: ").unwrap_or(call);
    label(
        "request",
        &format!("{} (judged as Railway's API)", truncate(call, 70)),
    );
    let reasons: Vec<Reason> = serde_json::from_value(approval.reasons.clone()).unwrap_or_default();
    // The engine's spans index `METHOD URL\nBODY` of the request it judged: the upstream's URL and the body.
    let judged = HttpRequest {
        method: "POST".into(),
        url: upstream_url.to_string(),
        headers: [("content-type".to_string(), "application/json".to_string())]
            .into_iter()
            .collect(),
        body: Some(body.to_string()),
    };
    let text = airlock_engine::classify::http::http_text(&judged);
    if let Some(found) = reasons
        .iter()
        .find_map(|r| r.span)
        .and_then(|span| text.get(span.start..span.end))
    {
        let decoded = serde_json::from_str::<String>(&format!("\"{found}\""))
            .unwrap_or_else(|_| found.to_string());
        label("mutation", &decoded);
    }
    let envelope = Envelope {
        id: None,
        request: Request::Http(judged),
        context: Context {
            agent: Some(approval.requester.clone()),
            session: None,
            cwd: None,
            environment: Some("production".into()),
            upstream: None,
        },
    };
    let decision = gate.decide(&envelope);
    let same_rules = decision
        .reasons
        .iter()
        .map(|r| &r.rule)
        .eq(reasons.iter().map(|r| &r.rule));
    if same_rules {
        for action in &decision.actions {
            label("target", &action.target);
            label(
                "effect",
                &format!(
                    "{}, {}, environment {}, blast radius {}",
                    json_word(&action.effect),
                    json_word(&action.reversibility),
                    action.environment.as_deref().unwrap_or("unknown"),
                    json_word(&action.blast_radius)
                ),
            );
        }
    }
    for reason in &reasons {
        let (found, policy) = reason
            .message
            .split_once(" [policy ")
            .map_or((reason.message.as_str(), ""), |(f, p)| {
                (f, p.trim_end_matches(']'))
            });
        for (i, line) in wrap(&format!("{} {found}", reason.rule), 86)
            .iter()
            .enumerate()
        {
            label(if i == 0 { "reason" } else { "" }, line);
        }
        if !policy.is_empty() {
            for (i, line) in wrap(policy, 86).iter().enumerate() {
                label(if i == 0 { "policy" } else { "" }, line);
            }
        }
    }
    if approval.state != ApprovalState::Pending {
        label("note", "the approval is no longer pending");
    }
}

/// Runs this binary as `airlock hook cursor` on a `beforeShellExecution` call of `command`, with the demo's
/// home; returns its exit code and its JSON answer.
async fn run_cursor_hook(home: &Path, command: &str) -> anyhow::Result<(i32, Value)> {
    let exe = std::env::current_exe().context("cannot find the airlock binary")?;
    let project = home.join("project");
    std::fs::create_dir_all(&project)
        .with_context(|| format!("cannot create `{}`", project.display()))?;
    let input = serde_json::json!({
        "conversation_id": "demo-conversation",
        "generation_id": "demo-generation",
        "model": "demo",
        "hook_event_name": "beforeShellExecution",
        "cursor_version": "1.7.38",
        "workspace_roots": [project.display().to_string()],
        "command": command,
        "cwd": project.display().to_string(),
    })
    .to_string();
    let home: PathBuf = home.to_path_buf();
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new(&exe)
            .args(["hook", "cursor"])
            .env("AIRLOCK_HOME", &home)
            .env("HOME", &home)
            .env_remove("AIRLOCK_DATABASE_URL")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot run `{} hook cursor`", exe.display()))?;
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(input.as_bytes())?;
        }
        let output = child.wait_with_output()?;
        let code = output.status.code().unwrap_or(-1);
        let answer: Value = serde_json::from_slice(&output.stdout).with_context(|| {
            format!(
                "the hook's answer is not JSON: {}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            )
        })?;
        Ok((code, answer))
    })
    .await
    .context("the hook task failed")?
}

fn section(number: u32, title: &str) {
    println!();
    println!("== {number}. {title}");
}

fn label(name: &str, value: &str) {
    println!("  {name:<LABEL$} {value}");
}

/// An enum's serde name (`delete`, `irreversible`, …).
fn json_word<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// A secret shown by its first characters only.
fn abbreviate(secret: &str) -> String {
    let shown: String = secret.chars().take(12).collect();
    format!("{shown}…")
}

/// What an `Authorization` value the Railway API received is.
fn describe_credential(value: &str, agent_token: &str) -> String {
    if value == format!("Bearer {RAILWAY_TOKEN}") {
        "the gateway's Railway token".to_string()
    } else if value.contains(agent_token) {
        "THE AGENT'S AIRLOCK TOKEN".to_string()
    } else {
        "something else".to_string()
    }
}

fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Words of `text` in lines of at most `width` characters (a longer word gets its own line).
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split_whitespace() {
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() {
        lines.push(line);
    }
    lines
}

/// A JSON answer as short lines: `key: value` per top-level field, long values wrapped; other text as is.
fn pretty_lines(answer: &str) -> Vec<String> {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(answer) else {
        return wrap(answer, 90);
    };
    let mut lines = Vec::new();
    for (key, value) in &map {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Array(items) if key == "reasons" => {
                let mut rules = String::new();
                for item in items {
                    let rule = item.get("rule").and_then(Value::as_str).unwrap_or("?");
                    let policy = item.get("policy").and_then(Value::as_str).unwrap_or("?");
                    let _ = write!(
                        rules,
                        "{}{rule} ({policy})",
                        if rules.is_empty() { "" } else { ", " }
                    );
                }
                rules
            }
            other => other.to_string(),
        };
        for (i, line) in wrap(&text, 80).into_iter().enumerate() {
            lines.push(if i == 0 {
                format!("{key}: {line}")
            } else {
                format!("  {line}")
            });
        }
    }
    lines
}
