//! Deciding and recording one hook call, for every agent alike: the engine decides each request, the gate
//! records the decision in the audit log and holds an `ask` as an approval that only a person can give (out of
//! band: `airlock approvals approve ID` with an approver secret, or the approvals page). An agent cannot answer
//! such a hold, so the hook denies and says how a person approves; once approved, the identical request from the
//! same directory passes exactly once.
//!
//! Choices where the protocol leaves room:
//! - `[hooks] in_band_ask = true` in `$AIRLOCK_HOME/airlock.toml` uses the agent's own question to the person
//!   at its keyboard (Claude Code's and Cursor's `ask`) instead of an out-of-band hold. Off by default: the
//!   incident's agent ran with nobody reading its prompts, and a click in the agent's own window is the channel
//!   the agent can talk a person into. Never used in `bypassPermissions` or `dontAsk` mode (where the agent
//!   answers its own questions), nor for agents without an `ask`.
//! - An `ask` whose mitigation is a snapshot is allowed once the snapshot is taken (audited as
//!   `snapshot snap_…`; `airlock undo` restores it); if it cannot be planned exactly, is over the size cap or
//!   fails, the normal hold applies.
//! - Tools that only read (see `tools.rs`) are allowed without the engine and audited as kind `tool`; a call
//!   that cannot be understood is denied and, when the store opens, audited as kind `hook`.
//! - Any error — configuration, policy, store, audit — denies: a decision that is not recorded does not pass.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use airlock_engine::{Decision, Engine, Envelope, Mitigation, Reason, Verdict};
use airlock_store::canonical::{canonical_json, sha256_hex};
use airlock_store::links::{ApprovalPage, DEFAULT_ADMIN_LISTEN, check_public_url};
use airlock_store::redact::{MAX_SUMMARY_CHARS, redact_text, truncate_chars};
use airlock_store::{
    Approval, AuditRecord, Gate, OpenOptions, Settled, SnapshotLimits, SnapshotMeta,
    SnapshotOutcome, Store, plan_snapshot,
};

use super::{Agent, HookCall, Outcome, ToolAction};
use crate::command::home;

/// The hook's settings from `$AIRLOCK_HOME/airlock.toml`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `[hooks] in_band_ask`: use the agent's own `ask` instead of an out-of-band hold.
    pub in_band_ask: bool,
    /// Where a person approves: `public_url`, else the gateway's admin listener `admin_listen`.
    pub approval_page: ApprovalPage,
}

impl Settings {
    /// Reads the settings from `home/airlock.toml`; a missing file gives the defaults, a file that cannot be
    /// read or has a setting of the wrong type is an error (airlock does not run on a configuration it cannot
    /// read).
    pub fn load(home: &Path) -> Result<Self, String> {
        let path = home.join(airlock_store::config::CONFIG_FILE);
        let mut settings = Settings {
            in_band_ask: false,
            approval_page: ApprovalPage::default(),
        };
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(settings),
            Err(err) => return Err(format!("cannot read `{}`: {err}", path.display())),
        };
        let bad = |message: &str| format!("`{}`: {message}", path.display());
        let table: toml::Table = toml::from_str(&text).map_err(|e| bad(e.message()))?;
        let admin_listen = match table.get("admin_listen") {
            None => DEFAULT_ADMIN_LISTEN,
            Some(toml::Value::String(listen)) => listen.as_str(),
            Some(_) => {
                return Err(bad(
                    "`admin_listen` must be a string such as \"127.0.0.1:8788\"",
                ));
            }
        };
        let public_url = match table.get("public_url") {
            None => None,
            Some(toml::Value::String(url)) => Some(check_public_url(url).ok_or_else(|| {
                bad("`public_url` must be an http(s) base URL such as \"https://airlock.example.com\" (no credentials, query or fragment)")
            })?),
            Some(_) => return Err(bad("`public_url` must be a string")),
        };
        settings.approval_page = ApprovalPage::new(public_url.as_deref(), admin_listen);
        match table.get("hooks") {
            None => {}
            Some(toml::Value::Table(hooks)) => match hooks.get("in_band_ask") {
                None => {}
                Some(toml::Value::Boolean(on)) => settings.in_band_ask = *on,
                Some(_) => return Err(bad("`hooks.in_band_ask` must be true or false")),
            },
            Some(_) => return Err(bad("`hooks` must be a table (`[hooks]`)")),
        }
        Ok(settings)
    }
}

/// The reason given when airlock could not decide.
pub fn failure_message(problem: &str) -> String {
    format!(
        "airlock could not check this tool call, so it is blocked (fail closed): {problem}. Run `airlock doctor` to see what is wrong."
    )
}

/// Decides `call` (or records why the input could not be understood) and says what to answer, in this
/// process. Every error is a [`Outcome::Deny`].
pub fn decide(agent: Agent, raw: &[u8], call: &Result<HookCall, String>) -> Outcome {
    // The engine (catalogue and policy, CPU-bound) loads on its own thread while the store opens.
    let engine = needs_engine(call).then(|| std::thread::spawn(|| home::load_engine(None)));
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            return Outcome::Deny(failure_message(&format!(
                "cannot start the async runtime: {err}"
            )));
        }
    };
    let outcome = runtime.block_on(async {
        let store = open_store().await;
        let engine = move || match engine.map(std::thread::JoinHandle::join) {
            Some(Ok(Ok(engine))) => Ok(Arc::new(engine)),
            Some(Ok(Err(err))) => Err(format!("{err:#}")),
            Some(Err(_)) => Err("loading the policy crashed".into()),
            None => Err("the policy was not loaded".into()),
        };
        let outcome = decide_with(agent, raw, call, &store, engine).await;
        // Closing would checkpoint the write-ahead log into the database and sync it (measured: slower by a
        // third); exiting the process is enough — what was committed is in the log already. Without a close,
        // the log only shrinks when trimmed (see `Store::trim_wal`): once every few dozen calls, when it has
        // grown.
        if let Ok(store) = &store {
            store.trim_wal().await;
        }
        std::mem::forget(store);
        outcome
    });
    // The process exits right after answering: what was committed is in the database already.
    std::mem::forget(runtime);
    outcome
}

/// Whether deciding `call` needs the engine (tools that only read, and input that could not be understood,
/// do not).
pub fn needs_engine(call: &Result<HookCall, String>) -> bool {
    matches!(
        call,
        Ok(HookCall {
            action: ToolAction::Judge(_) | ToolAction::Report(_),
            ..
        })
    )
}

/// Decides `call` with `store` (or why it could not be opened) and the engine `engine` gives when asked —
/// the same for a hook process and the resident judge. Every error is a [`Outcome::Deny`].
pub async fn decide_with(
    agent: Agent,
    raw: &[u8],
    call: &Result<HookCall, String>,
    store: &Result<Store, String>,
    engine: impl FnOnce() -> Result<Arc<Engine>, String>,
) -> Outcome {
    match (call, store) {
        (Err(problem), _) => {
            if let Ok(store) = store {
                // Best effort: the refusal stands whether or not it could be written down.
                let _ = store.append(refusal_record(agent, raw, problem)).await;
            }
            Outcome::Deny(failure_message(problem))
        }
        (Ok(_), Err(problem)) => Outcome::Deny(failure_message(problem)),
        (Ok(call), Ok(store)) => match decide_call(call, store, engine).await {
            Ok(outcome) => outcome,
            Err(problem) => {
                let _ = store.append(refusal_record(agent, raw, &problem)).await;
                Outcome::Deny(failure_message(&problem))
            }
        },
    }
}

async fn open_store() -> Result<Store, String> {
    let url = home::database_url().map_err(|e| format!("{e:#}"))?;
    let options = OpenOptions {
        max_connections: 1,
        connect_timeout: Duration::from_secs(10),
    };
    Store::open_with(&url, &options)
        .await
        .map_err(|e| e.to_string())
}

async fn decide_call(
    call: &HookCall,
    store: &Store,
    engine: impl FnOnce() -> Result<Arc<Engine>, String>,
) -> Result<Outcome, String> {
    let settings = Settings::load(&home::airlock_home())?;
    let requests = match &call.action {
        ToolAction::ReadOnly { tool, detail } => {
            store
                .append(read_only_record(call, tool, detail))
                .await
                .map_err(|e| e.to_string())?;
            return Ok(Outcome::Allow);
        }
        ToolAction::Judge(requests) | ToolAction::Report(requests) => requests,
    };
    let gate = Gate::new(engine()?, store.clone());
    let envelopes: Vec<Envelope> = requests
        .iter()
        .map(|request| Envelope {
            id: None,
            request: request.clone(),
            context: call.context.clone(),
        })
        .collect();
    if matches!(call.action, ToolAction::Report(_)) {
        record_reports(&gate, &envelopes).await
    } else {
        judge_all(&gate, call, &envelopes, &settings).await
    }
}

/// After-the-fact reports: decided and audited as `reported after the fact`; nothing can be refused.
async fn record_reports(gate: &Gate, envelopes: &[Envelope]) -> Result<Outcome, String> {
    for envelope in envelopes {
        let decision = gate.decide(envelope);
        gate.record(envelope, &decision, "reported after the fact", None)
            .await
            .map_err(|e| e.to_string())?;
    }
    Ok(Outcome::Recorded)
}

/// Every request of the call through the gate; the strictest result wins. Stops at the first denial.
async fn judge_all(
    gate: &Gate,
    call: &HookCall,
    envelopes: &[Envelope],
    settings: &Settings,
) -> Result<Outcome, String> {
    let in_band = settings.in_band_ask && call.can_ask_in_band();
    let mut held: Vec<(Approval, Decision)> = Vec::new();
    let mut asked: Vec<Decision> = Vec::new();
    for envelope in envelopes {
        let decision = gate.decide(envelope);
        if decision.verdict == Verdict::Ask
            && decision.mitigation == Mitigation::Snapshot
            && snapshot_then_allow(gate, envelope, &decision).await?
        {
            continue;
        }
        if decision.verdict == Verdict::Ask && in_band {
            gate.record(envelope, &decision, "asked in band", None)
                .await
                .map_err(|e| e.to_string())?;
            asked.push(decision);
            continue;
        }
        let settlement = gate
            .settle(envelope, decision)
            .await
            .map_err(|e| e.to_string())?;
        match settlement.settled {
            Settled::Allow | Settled::AllowedByApproval(_) => {}
            Settled::Hold(approval) => held.push((approval, settlement.decision)),
            Settled::Deny => return Ok(Outcome::Deny(denial_message(&settlement.decision))),
        }
    }
    if !held.is_empty() {
        return Ok(Outcome::Deny(hold_message(&held, &settings.approval_page)));
    }
    if !asked.is_empty() {
        return Ok(Outcome::Ask(ask_message(&asked)));
    }
    Ok(Outcome::Allow)
}

/// An `ask` whose mitigation is a snapshot: keeps what the request would destroy (`airlock undo` puts it back)
/// and records it as `snapshot snap_…` (or `allowed: nothing to snapshot` when nothing would be lost) —
/// `true`, let it run. `false` when no snapshot can stand in for a person: not plannable exactly, over the size
/// cap (`[snapshots]` in `airlock.toml`), something that cannot be kept, or any error; the request is then held
/// like any other `ask`. `Err` only when the audit entry cannot be written.
async fn snapshot_then_allow(
    gate: &Gate,
    envelope: &Envelope,
    decision: &Decision,
) -> Result<bool, String> {
    let Some(cwd) = envelope.context.cwd.as_deref() else {
        return Ok(false);
    };
    let Ok(plan) = plan_snapshot(gate.engine(), envelope, decision, Path::new(cwd)) else {
        return Ok(false);
    };
    let home = home::airlock_home();
    let Ok(limits) = SnapshotLimits::from_config(&home) else {
        return Ok(false);
    };
    let meta = SnapshotMeta::from_envelope(envelope);
    let store = gate.store();
    match store.take_snapshot(&home, &plan, meta, limits).await {
        Ok(SnapshotOutcome::Taken(info)) => {
            let audit = gate
                .record(envelope, decision, &format!("snapshot {}", info.id), None)
                .await
                .map_err(|e| e.to_string())?;
            // The snapshot is kept either way; the link only helps `airlock snapshots list` name the entry.
            let _ = store
                .set_snapshot_audit(&info.id, Some(audit.seq), None)
                .await;
            Ok(true)
        }
        Ok(SnapshotOutcome::NothingToKeep) => {
            gate.record(envelope, decision, "allowed: nothing to snapshot", None)
                .await
                .map_err(|e| e.to_string())?;
            Ok(true)
        }
        Ok(_) | Err(_) => Ok(false),
    }
}

/// `[RULE] message; [RULE] message` over the decisions' reasons (the verdict when there are none).
pub fn reasons_text<'a>(decisions: impl IntoIterator<Item = &'a Decision>) -> String {
    let mut parts: Vec<String> = Vec::new();
    for decision in decisions {
        if decision.reasons.is_empty() {
            parts.push(format!("the policy says {}", decision.verdict.as_str()));
        }
        parts.extend(
            decision
                .reasons
                .iter()
                .map(|r: &Reason| format!("[{}] {}", r.rule, r.message)),
        );
    }
    parts.join("; ")
}

/// The reason given for a denial.
pub fn denial_message(decision: &Decision) -> String {
    format!(
        "airlock denied this: {}. Do not retry it in another form; tell the user what you wanted to do.",
        reasons_text([decision])
    )
}

/// The reason given for a hold: the approval ids and how a person approves them.
pub fn hold_message(held: &[(Approval, Decision)], page: &ApprovalPage) -> String {
    let ids: Vec<&str> = held.iter().map(|(a, _)| a.id.as_str()).collect();
    let how: Vec<String> = ids
        .iter()
        .map(|id| format!("`airlock approvals approve {id}` or {}", page.url(id)))
        .collect();
    format!(
        "airlock is holding this for a person's approval ({}): {}. An agent cannot approve it. A person approves it with {} (needs an approver secret); then the identical request from the same directory runs once. Do not retry it in another form.",
        ids.join(", "),
        reasons_text(held.iter().map(|(_, d)| d)),
        how.join(" and ")
    )
}

/// The question put to the person at the agent's keyboard (in-band ask).
pub fn ask_message(decisions: &[Decision]) -> String {
    format!(
        "airlock asks a person to confirm this: {}",
        reasons_text(decisions)
    )
}

fn summary(text: &str) -> String {
    truncate_chars(&redact_text(text), MAX_SUMMARY_CHARS)
}

/// The audit record of a tool let through because it only reads.
fn read_only_record(call: &HookCall, tool: &str, detail: &str) -> AuditRecord {
    let digest = sha256_hex(
        canonical_json(&serde_json::json!({
            "tool": tool,
            "detail": detail,
            "cwd": call.context.cwd,
        }))
        .as_bytes(),
    );
    AuditRecord {
        agent: call.context.agent.clone(),
        session: call.context.session.clone(),
        kind: "tool".into(),
        digest,
        summary: summary(format!("{tool} {detail}").trim_end()),
        decision: Verdict::Allow,
        reasons: vec![Reason {
            rule: "hook-read-only".into(),
            policy: "hook".into(),
            message: format!("`{tool}` only reads or talks to the person; nothing to judge"),
            span: None,
        }],
        mitigation: Mitigation::None,
        approval_id: None,
        outcome: "allowed".into(),
    }
}

/// The audit record of a hook call refused because it could not be understood or decided.
fn refusal_record(agent: Agent, raw: &[u8], problem: &str) -> AuditRecord {
    let input: Option<serde_json::Value> = serde_json::from_slice(raw).ok();
    let session = input.as_ref().and_then(|v| {
        ["session_id", "conversation_id"]
            .iter()
            .find_map(|key| v.get(key).and_then(serde_json::Value::as_str))
            .map(str::to_string)
    });
    let tool = input
        .as_ref()
        .and_then(|v| v.get("tool_name").and_then(serde_json::Value::as_str))
        .map(|t| format!("{t}: "))
        .unwrap_or_default();
    AuditRecord {
        agent: Some(agent.name().to_string()),
        session,
        kind: "hook".into(),
        digest: sha256_hex(raw),
        summary: summary(&format!("{tool}{problem}")),
        decision: Verdict::Deny,
        reasons: vec![Reason {
            rule: "hook-fail-closed".into(),
            policy: "hook".into(),
            message: redact_text(problem),
            span: None,
        }],
        mitigation: Mitigation::None,
        approval_id: None,
        outcome: "denied".into(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn settings_default_then_file() {
        let home =
            std::env::temp_dir().join(format!("airlock-hook-settings-{}", std::process::id()));
        std::fs::create_dir_all(&home).unwrap();
        let config = home.join("airlock.toml");
        let _ = std::fs::remove_file(&config);
        assert_eq!(
            Settings::load(&home).unwrap(),
            Settings {
                in_band_ask: false,
                approval_page: ApprovalPage::new(None, DEFAULT_ADMIN_LISTEN)
            }
        );
        std::fs::write(
            &config,
            "admin_listen = \"127.0.0.1:9999\"\n[hooks]\nin_band_ask = true\n",
        )
        .unwrap();
        assert_eq!(
            Settings::load(&home).unwrap(),
            Settings {
                in_band_ask: true,
                approval_page: ApprovalPage::new(None, "127.0.0.1:9999")
            }
        );
        std::fs::write(
            &config,
            "admin_listen = \"127.0.0.1:9999\"\npublic_url = \"https://airlock.example.com/\"\n",
        )
        .unwrap();
        assert_eq!(
            Settings::load(&home).unwrap().approval_page.url("apr_1"),
            "https://airlock.example.com/approvals/apr_1"
        );
        std::fs::write(&config, "public_url = \"airlock.example.com\"\n").unwrap();
        assert!(Settings::load(&home).unwrap_err().contains("public_url"));
        std::fs::write(&config, "[hooks]\nin_band_ask = \"yes\"\n").unwrap();
        assert!(Settings::load(&home).unwrap_err().contains("in_band_ask"));
        std::fs::write(&config, "admin_listen = [\n").unwrap();
        assert!(Settings::load(&home).is_err());
        std::fs::remove_dir_all(&home).unwrap();
    }
}
