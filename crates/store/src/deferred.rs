//! Deferred requests: what the policy marks `defer` (a remote delete, say) is stored here and replayed to its
//! upstream after a cancel window, unless a person cancels it first (`airlock deferred cancel ID`). The rows
//! are durable, so a restart in between changes nothing; the HTTP part (sending, injecting the upstream's
//! credential) belongs to the gateway, which hands [`run_due_deferred`] a closure that does it.
//!
//! Life of a row: `pending` → `executing` → `executed` | `failed`, or `pending` → `cancelled`.
//! - **At most once.** [`Store::claim_due`] moves a due row from `pending` to `executing` in a write
//!   transaction (`BEGIN IMMEDIATE` on SQLite; `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL) and re-checks
//!   `state = 'pending'` in the `UPDATE`, so of any number of executors in any number of processes or replicas
//!   exactly one gets a row.
//! - **A crash is not retried.** A row left `executing` (the executor died between claiming it and recording
//!   the result) is never claimed again: the request may or may not have reached the upstream, and sending a
//!   delete twice is worse than asking a person. Once it has been executing for
//!   [`EXECUTION_UNKNOWN_AFTER_MS`] it reads as [`DeferredState::Unknown`] and `airlock deferred list` shows it
//!   for a person to check on the upstream.
//! - **Only pending rows can be cancelled**; cancelling an executing or finished request is an error that says
//!   so. Anyone may cancel (it is the safe direction).
//! - **What is stored.** The method, path, body and the headers to replay — never a credential: headers named
//!   `authorization`, `proxy-authorization` or `cookie` are refused, and the upstream's credential is injected
//!   at execution. Unlike approvals (which keep only a digest), the exact request has to be kept to be
//!   replayed; its headers and body are emptied as soon as the row reaches a final state.
//! - **Audited.** Deferring (`deferred def_…`), each result (`executed def_…`, `failed def_…`) and each
//!   cancellation (`cancelled def_… by …`) is appended to the audit log, with the request's digest, summary,
//!   verdict and reasons; the entries' `seq` are kept on the row. The audit entry of a deferral is written
//!   before the row, and the entry of a result before the row is finished, so the log never misses an
//!   execution.
//!
//! The cancel window is the gateway's `defer_seconds` setting in `airlock.toml`, default
//! [`DEFAULT_DEFER_SECONDS`] (10 minutes: long enough for a person to see the notice and cancel, short enough
//! that a deletion somebody asked for still happens the same hour).

use std::future::Future;

use airlock_engine::{Decision, Envelope, Mitigation, Reason, Verdict};
use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::audit::AuditRecord;
use crate::canonical::canonical_json;
use crate::clock::{Millis, format_ms};
use crate::db::{Store, WritePool as _, on_pool, random_bytes};
use crate::error::{Result, StoreError};
use crate::redact::{redact_text, truncate_chars};

/// Default cancel window, in seconds (the `defer_seconds` setting): 10 minutes.
pub const DEFAULT_DEFER_SECONDS: u64 = 600;

/// A row executing for this long without a recorded result reads as [`DeferredState::Unknown`]: 10 minutes,
/// far longer than any upstream call the gateway waits for.
pub const EXECUTION_UNKNOWN_AFTER_MS: Millis = 600_000;

/// Longest result summary kept (in characters).
pub const MAX_RESULT_CHARS: usize = 500;

/// Most rows one [`run_due_deferred`] call executes; the rest wait for the next call.
pub const MAX_EXECUTIONS_PER_RUN: usize = 100;

/// Header names that carry credentials and are never stored with a deferred request.
pub const CREDENTIAL_HEADERS: [&str; 3] = ["authorization", "proxy-authorization", "cookie"];

/// What an execution reports: the upstream's status and a short summary of its answer, or why no answer came.
pub type ExecutionResult = std::result::Result<(u16, String), String>;

/// Where a deferred request is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeferredState {
    /// Waiting for its time; can be cancelled.
    Pending,
    /// Cancelled by a person before it ran; it never will.
    Cancelled,
    /// Claimed by an executor and being sent.
    Executing,
    /// Sent; the upstream answered with a success (2xx/3xx) status.
    Executed,
    /// Sent and answered with an error status, or no answer came (network error, timeout).
    Failed,
    /// Claimed more than [`EXECUTION_UNKNOWN_AFTER_MS`] ago and never finished (the executor crashed): it may or
    /// may not have reached the upstream. Never retried; a person should check. Derived when read, never
    /// stored (the row stays `executing`).
    Unknown,
}

impl DeferredState {
    /// The name shown and stored.
    pub fn as_str(self) -> &'static str {
        match self {
            DeferredState::Pending => "pending",
            DeferredState::Cancelled => "cancelled",
            DeferredState::Executing => "executing",
            DeferredState::Executed => "executed",
            DeferredState::Failed => "failed",
            DeferredState::Unknown => "unknown",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "pending" => DeferredState::Pending,
            "cancelled" => DeferredState::Cancelled,
            "executing" => DeferredState::Executing,
            "executed" => DeferredState::Executed,
            "failed" => DeferredState::Failed,
            other => {
                return Err(StoreError::Malformed {
                    what: "deferred request",
                    message: format!("unknown state `{other}`"),
                });
            }
        })
    }
}

/// The request to replay to the upstream: no credential in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplayRequest {
    /// HTTP method (`POST`) or, for other kinds, the operation.
    pub method: String,
    /// Path and query on the upstream (`/graphql/v2`), after the gateway's `/u/NAME` prefix.
    pub path: String,
    /// Headers to send again, in order. Never a credential (see [`CREDENTIAL_HEADERS`]).
    pub headers: Vec<(String, String)>,
    /// The body, byte for byte (decoded as the engine saw it, or as received: the caller's choice).
    #[serde(skip)]
    pub body: Vec<u8>,
}

/// A request to defer: where it goes, what to send, and the decision that deferred it.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDeferred {
    /// The upstream's configured name (`railway`).
    pub upstream: String,
    /// What to send.
    pub request: ReplayRequest,
    /// Who asked (agent or token name).
    pub agent: Option<String>,
    /// The agent's session.
    pub session: Option<String>,
    /// Request kind (`http`, `mcp`).
    pub kind: String,
    /// [`crate::request_digest`] of the request as judged.
    pub digest: String,
    /// Redacted one-line summary.
    pub summary: String,
    /// The verdict (allow, or ask when a person approved it).
    pub decision: Verdict,
    /// Why, messages redacted.
    pub reasons: Vec<Reason>,
    /// The approval that let it through, if one did.
    pub approval_id: Option<String>,
}

impl NewDeferred {
    /// A deferred `request` to `upstream`, described by the envelope the engine judged and its decision (agent,
    /// session, kind, digest, redacted summary and reasons are taken from them, as in the audit log).
    pub fn new(
        upstream: impl Into<String>,
        request: ReplayRequest,
        envelope: &Envelope,
        decision: &Decision,
    ) -> Self {
        let record = AuditRecord::new(envelope, decision, "");
        Self {
            upstream: upstream.into(),
            request,
            agent: record.agent,
            session: record.session,
            kind: record.kind,
            digest: record.digest,
            summary: record.summary,
            decision: record.decision,
            reasons: record.reasons,
            approval_id: None,
        }
    }

    /// The same, naming the approval that let it through.
    pub fn with_approval(mut self, approval_id: impl Into<String>) -> Self {
        self.approval_id = Some(approval_id.into());
        self
    }
}

/// A stored deferred request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Deferred {
    /// Its id (`def_` + 16 hex digits).
    pub id: String,
    /// When it was deferred.
    pub created_ms: Millis,
    /// When it runs, unless cancelled.
    pub executes_at_ms: Millis,
    /// The upstream's configured name.
    pub upstream: String,
    /// What to send (headers and body are empty once the row is final).
    pub request: ReplayRequest,
    /// Length of the stored body in bytes.
    pub body_bytes: usize,
    /// Who asked.
    pub agent: Option<String>,
    /// The agent's session.
    pub session: Option<String>,
    /// Request kind.
    pub kind: String,
    /// Digest of the request as judged.
    pub digest: String,
    /// Redacted summary.
    pub summary: String,
    /// The verdict that deferred it.
    pub decision: Verdict,
    /// Why.
    pub reasons: Vec<Reason>,
    /// The approval that let it through.
    pub approval_id: Option<String>,
    /// State (a row executing for too long reads as [`DeferredState::Unknown`]).
    pub state: DeferredState,
    /// When an executor claimed it.
    pub claimed_ms: Option<Millis>,
    /// When it was executed, failed or cancelled.
    pub finished_ms: Option<Millis>,
    /// The upstream's status code.
    pub result_status: Option<u16>,
    /// A short summary of the upstream's answer, or the error.
    pub result_summary: Option<String>,
    /// Who cancelled it.
    pub cancelled_by: Option<String>,
    /// The audit entry recording the deferral.
    pub audit_seq: Option<i64>,
    /// The audit entry recording its result or cancellation.
    pub result_audit_seq: Option<i64>,
}

const DEFERRED_COLUMNS: &str = "id, created_ms, executes_at_ms, upstream, agent, session, kind, method, path, headers, body, digest, summary, decision, reasons, approval_id, state, claimed_ms, finished_ms, result_status, result_summary, cancelled_by, audit_seq, result_audit_seq";

fn malformed(message: String) -> StoreError {
    StoreError::Malformed {
        what: "deferred request",
        message,
    }
}

fn parse_verdict(s: &str) -> Result<Verdict> {
    match s {
        "allow" => Ok(Verdict::Allow),
        "ask" => Ok(Verdict::Ask),
        "deny" => Ok(Verdict::Deny),
        other => Err(malformed(format!("unknown decision `{other}`"))),
    }
}

macro_rules! decode_deferred {
    ($row:expr) => {{
        let row = $row;
        let headers: String = row.try_get(9)?;
        let body: Vec<u8> = row.try_get(10)?;
        let decision: String = row.try_get(13)?;
        let reasons: String = row.try_get(14)?;
        let state: String = row.try_get(16)?;
        let status: Option<i64> = row.try_get(19)?;
        Deferred {
            id: row.try_get(0)?,
            created_ms: row.try_get(1)?,
            executes_at_ms: row.try_get(2)?,
            upstream: row.try_get(3)?,
            agent: row.try_get(4)?,
            session: row.try_get(5)?,
            kind: row.try_get(6)?,
            request: ReplayRequest {
                method: row.try_get(7)?,
                path: row.try_get(8)?,
                headers: serde_json::from_str(&headers)
                    .map_err(|e| malformed(format!("headers: {e}")))?,
                body: Vec::new(),
            },
            body_bytes: body.len(),
            digest: row.try_get(11)?,
            summary: row.try_get(12)?,
            decision: parse_verdict(&decision)?,
            reasons: serde_json::from_str(&reasons)
                .map_err(|e| malformed(format!("reasons: {e}")))?,
            approval_id: row.try_get(15)?,
            state: DeferredState::parse(&state)?,
            claimed_ms: row.try_get(17)?,
            finished_ms: row.try_get(18)?,
            result_status: status.and_then(|s| u16::try_from(s).ok()),
            result_summary: row.try_get(20)?,
            cancelled_by: row.try_get(21)?,
            audit_seq: row.try_get(22)?,
            result_audit_seq: row.try_get(23)?,
        }
        .with_body(body)
    }};
}

impl Deferred {
    fn with_body(mut self, body: Vec<u8>) -> Self {
        self.request.body = body;
        self
    }

    fn read_at(mut self, now: Millis) -> Self {
        if self.state == DeferredState::Executing
            && self
                .claimed_ms
                .is_some_and(|claimed| now.saturating_sub(claimed) >= EXECUTION_UNKNOWN_AFTER_MS)
        {
            self.state = DeferredState::Unknown;
        }
        self
    }

    /// The audit record of something that happened to this request.
    fn audit_record(&self, outcome: String) -> AuditRecord {
        AuditRecord {
            agent: self.agent.clone(),
            session: self.session.clone(),
            kind: self.kind.clone(),
            digest: self.digest.clone(),
            summary: self.summary.clone(),
            decision: self.decision,
            reasons: self.reasons.clone(),
            mitigation: Mitigation::Defer,
            approval_id: self.approval_id.clone(),
            outcome,
        }
    }
}

/// PostgreSQL skips rows another executor has locked; SQLite's write transaction already excludes the others.
trait ClaimLock {
    const SKIP_LOCKED: &'static str;
}

impl ClaimLock for sqlx::SqlitePool {
    const SKIP_LOCKED: &'static str = "";
}

impl ClaimLock for sqlx::PgPool {
    const SKIP_LOCKED: &'static str = " FOR UPDATE SKIP LOCKED";
}

fn skip_locked<P: ClaimLock>(_pool: &P) -> &'static str {
    P::SKIP_LOCKED
}

impl Store {
    /// Stores `request` to run `window_ms` from now, unless cancelled, and records `deferred def_…` in the
    /// audit log (before the row exists: a crash in between leaves nothing to run). Refuses a credential header.
    pub async fn defer(&self, request: NewDeferred, window_ms: Millis) -> Result<Deferred> {
        if let Some((name, _)) = request.request.headers.iter().find(|(name, _)| {
            CREDENTIAL_HEADERS
                .iter()
                .any(|c| name.trim().eq_ignore_ascii_case(c))
        }) {
            return Err(StoreError::CredentialInDeferred(name.clone()));
        }
        let now = self.clock.now_ms();
        let mut deferred = Deferred {
            id: format!("def_{}", hex::encode(random_bytes::<8>()?)),
            created_ms: now,
            executes_at_ms: now.saturating_add(window_ms.max(0)),
            upstream: request.upstream,
            body_bytes: request.request.body.len(),
            request: request.request,
            agent: request.agent,
            session: request.session,
            kind: request.kind,
            digest: request.digest,
            summary: request.summary,
            decision: request.decision,
            reasons: request.reasons,
            approval_id: request.approval_id,
            state: DeferredState::Pending,
            claimed_ms: None,
            finished_ms: None,
            result_status: None,
            result_summary: None,
            cancelled_by: None,
            audit_seq: None,
            result_audit_seq: None,
        };
        let outcome = format!(
            "deferred {} until {}",
            deferred.id,
            format_ms(deferred.executes_at_ms)
        );
        let entry = self.append(deferred.audit_record(outcome)).await?;
        deferred.audit_seq = Some(entry.seq);
        let headers = serde_json::to_string(&deferred.request.headers)
            .map_err(|e| malformed(format!("headers: {e}")))?;
        let reasons = canonical_json(&serde_json::to_value(&deferred.reasons).unwrap_or_default());
        let inserted = on_pool!(self, pool => {
            sqlx::query(&format!(
                "INSERT INTO deferred_requests ({DEFERRED_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, NULL, NULL, NULL, NULL, NULL, $18, NULL)"
            ))
            .bind(&deferred.id)
            .bind(deferred.created_ms)
            .bind(deferred.executes_at_ms)
            .bind(&deferred.upstream)
            .bind(&deferred.agent)
            .bind(&deferred.session)
            .bind(&deferred.kind)
            .bind(&deferred.request.method)
            .bind(&deferred.request.path)
            .bind(&headers)
            .bind(&deferred.request.body)
            .bind(&deferred.digest)
            .bind(&deferred.summary)
            .bind(deferred.decision.as_str())
            .bind(&reasons)
            .bind(&deferred.approval_id)
            .bind(deferred.state.as_str())
            .bind(entry.seq)
            .execute(pool)
            .await
            .map(|_| ())
        });
        if let Err(e) = inserted {
            // Best effort: the log already says `deferred`; say it was not kept. The caller must block.
            let _ = self
                .append(deferred.audit_record(format!("failed {}: not stored", deferred.id)))
                .await;
            return Err(e.into());
        }
        Ok(deferred)
    }

    /// One deferred request.
    pub async fn deferred(&self, id: &str) -> Result<Deferred> {
        let now = self.clock.now_ms();
        let found = on_pool!(self, pool => {
            let row = sqlx::query(&format!("SELECT {DEFERRED_COLUMNS} FROM deferred_requests WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(row) => Some(decode_deferred!(&row)),
                None => None,
            }
        });
        found
            .map(|d| d.read_at(now))
            .ok_or_else(|| StoreError::DeferredNotFound(id.to_string()))
    }

    /// Deferred requests in the order they run: the pending and executing (or unknown) ones, or every one with
    /// `all`.
    pub async fn list_deferred(&self, all: bool) -> Result<Vec<Deferred>> {
        let now = self.clock.now_ms();
        let filter = if all {
            ""
        } else {
            " WHERE state IN ('pending', 'executing')"
        };
        let sql = format!(
            "SELECT {DEFERRED_COLUMNS} FROM deferred_requests{filter} ORDER BY executes_at_ms, id"
        );
        let rows: Vec<Deferred> = on_pool!(self, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(decode_deferred!(row));
            }
            out
        });
        Ok(rows.into_iter().map(|d| d.read_at(now)).collect())
    }

    /// Cancels a pending deferred request: it will never run. `who` names the person (or process) cancelling,
    /// for the row and the audit log. A request already executing or finished cannot be cancelled (an error
    /// says which state it is in). The cancellation is committed before its audit entry is written; an error
    /// after that means only the audit entry is missing.
    pub async fn cancel_deferred(&self, id: &str, who: &str) -> Result<Deferred> {
        let now = self.clock.now_ms();
        let cancelled = on_pool!(self, pool => {
            sqlx::query(
                "UPDATE deferred_requests SET state = 'cancelled', finished_ms = $1, cancelled_by = $2, headers = '[]', body = $3 WHERE id = $4 AND state = 'pending'",
            )
            .bind(now)
            .bind(who)
            .bind(Vec::<u8>::new())
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        let deferred = self.deferred(id).await?;
        if cancelled != 1 {
            return Err(StoreError::DeferredNotCancellable {
                id: id.to_string(),
                state: deferred.state.as_str().to_string(),
            });
        }
        let entry = self
            .append(deferred.audit_record(format!("cancelled {id} by {}", redact_text(who))))
            .await?;
        on_pool!(self, pool => {
            sqlx::query("UPDATE deferred_requests SET result_audit_seq = $1 WHERE id = $2")
                .bind(entry.seq)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(Deferred {
            result_audit_seq: Some(entry.seq),
            ..deferred
        })
    }

    /// Claims up to `limit` pending requests due at `now` (oldest first) by moving them to `executing`, and
    /// returns them with their bodies. A row is claimed by exactly one caller, across processes and replicas;
    /// the caller must execute it and then call [`Store::finish_deferred`].
    pub async fn claim_due(&self, now: Millis, limit: u32) -> Result<Vec<Deferred>> {
        let limit = i64::from(limit);
        let claimed: Vec<Deferred> = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let select = format!(
                "SELECT id FROM deferred_requests WHERE state = 'pending' AND executes_at_ms <= $1 ORDER BY executes_at_ms, id LIMIT $2{}",
                skip_locked(pool)
            );
            let ids: Vec<String> =
                sqlx::query_scalar(&select).bind(now).bind(limit).fetch_all(&mut *tx).await?;
            let mut claimed = Vec::with_capacity(ids.len());
            for id in ids {
                // INVARIANT: only a row still pending is claimed, so no two executors get the same row.
                let moved = sqlx::query(
                    "UPDATE deferred_requests SET state = 'executing', claimed_ms = $1 WHERE id = $2 AND state = 'pending'",
                )
                .bind(now)
                .bind(&id)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if moved == 1 {
                    let row = sqlx::query(&format!("SELECT {DEFERRED_COLUMNS} FROM deferred_requests WHERE id = $1"))
                        .bind(&id)
                        .fetch_one(&mut *tx)
                        .await?;
                    claimed.push(decode_deferred!(&row));
                }
            }
            tx.commit().await?;
            claimed
        });
        Ok(claimed)
    }

    /// Records the result of executing a claimed request: a status 200–399 ⇒ `executed`, any other status or
    /// an error ⇒ `failed`. Neither is ever retried. The audit entry (`executed def_… (200)`, `failed def_…: …`)
    /// is written first, then the row is finished and its headers and body emptied.
    pub async fn finish_deferred(&self, id: &str, result: &ExecutionResult) -> Result<Deferred> {
        let deferred = self.deferred(id).await?;
        if !matches!(
            deferred.state,
            DeferredState::Executing | DeferredState::Unknown
        ) {
            return Err(StoreError::DeferredState {
                id: id.to_string(),
                state: deferred.state.as_str().to_string(),
                wanted: "executing",
            });
        }
        let (state, status, summary, outcome) = match result {
            Ok((status, summary)) => {
                let state = if (200..400).contains(status) {
                    DeferredState::Executed
                } else {
                    DeferredState::Failed
                };
                let outcome = format!("{} {id} ({status})", state.as_str());
                (state, Some(i64::from(*status)), summary.as_str(), outcome)
            }
            Err(error) => {
                let outcome = format!("failed {id}: {}", truncate_chars(&redact_text(error), 200));
                (DeferredState::Failed, None, error.as_str(), outcome)
            }
        };
        let summary = truncate_chars(
            &redact_text(summary).replace(['\n', '\r'], " "),
            MAX_RESULT_CHARS,
        );
        let entry = self.append(deferred.audit_record(outcome)).await?;
        let now = self.clock.now_ms();
        let finished = on_pool!(self, pool => {
            sqlx::query(
                "UPDATE deferred_requests SET state = $1, finished_ms = $2, result_status = $3, result_summary = $4, result_audit_seq = $5, headers = '[]', body = $6 WHERE id = $7 AND state = 'executing'",
            )
            .bind(state.as_str())
            .bind(now)
            .bind(status)
            .bind(&summary)
            .bind(entry.seq)
            .bind(Vec::<u8>::new())
            .bind(id)
            .execute(pool)
            .await?
            .rows_affected()
        });
        if finished != 1 {
            let state = self.deferred(id).await?.state;
            return Err(StoreError::DeferredState {
                id: id.to_string(),
                state: state.as_str().to_string(),
                wanted: "executing",
            });
        }
        self.deferred(id).await
    }
}

/// Executes every deferred request due at `now`, one at a time: claims it (so no other executor can), awaits
/// `execute` on it — the gateway's closure that injects the upstream's credential and sends it — and records
/// the result. Returns the finished rows. At most [`MAX_EXECUTIONS_PER_RUN`] per call. An `Err` (the store
/// failed) stops the run; a row claimed but not finished stays `executing` and is not retried.
pub async fn run_due_deferred<F, Fut>(
    store: &Store,
    now: Millis,
    mut execute: F,
) -> Result<Vec<Deferred>>
where
    F: FnMut(Deferred) -> Fut,
    Fut: Future<Output = ExecutionResult>,
{
    let mut finished = Vec::new();
    for _ in 0..MAX_EXECUTIONS_PER_RUN {
        let Some(next) = store.claim_due(now, 1).await?.pop() else {
            break;
        };
        let id = next.id.clone();
        let result = execute(next).await;
        finished.push(store.finish_deferred(&id, &result).await?);
    }
    Ok(finished)
}
