//! Approvals: an `ask` decision held for a person. Each approval is bound to the digest of the exact request
//! and moves pending → approved | denied | expired, and approved → consumed: one approval lets exactly one
//! execution of exactly that request through. The time to live (default one hour) covers both waiting for a
//! decision and using an approval once granted. `required` distinct approvers must approve (two-person rule);
//! the requester can never approve or deny their own request, and only an [`AuthenticatedApprover`] (made from
//! an approver secret, never from an agent token) can vote. Every change runs in a write transaction that
//! locks the approval (`BEGIN IMMEDIATE` on SQLite, `SELECT … FOR UPDATE` on PostgreSQL), so concurrent
//! approvers and consumers cannot both win.

use airlock_engine::{Decision, Envelope, Reason, Verdict};
use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::approval_detail::ApprovalDetail;
use crate::canonical::{canonical_json, request_digest};
use crate::clock::Millis;
use crate::credentials::AuthenticatedApprover;
use crate::db::{Store, WritePool as _, on_pool, random_bytes, row_lock};
use crate::error::{Result, StoreError};
use crate::redact::{redact_text, summarize};

/// Default time to live of an approval: one hour.
pub const DEFAULT_APPROVAL_TTL_MS: Millis = 3_600_000;

/// Where an approval is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApprovalState {
    /// Waiting for approvers.
    Pending,
    /// Approved, not yet used.
    Approved,
    /// Denied by an approver.
    Denied,
    /// Not decided (or not used) in time.
    Expired,
    /// Used: the request ran once.
    Consumed,
}

impl ApprovalState {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalState::Pending => "pending",
            ApprovalState::Approved => "approved",
            ApprovalState::Denied => "denied",
            ApprovalState::Expired => "expired",
            ApprovalState::Consumed => "consumed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "pending" => ApprovalState::Pending,
            "approved" => ApprovalState::Approved,
            "denied" => ApprovalState::Denied,
            "expired" => ApprovalState::Expired,
            "consumed" => ApprovalState::Consumed,
            other => {
                return Err(StoreError::Malformed {
                    what: "approval",
                    message: format!("unknown state `{other}`"),
                });
            }
        })
    }
}

/// One approver's vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    /// Who.
    pub approver: String,
    /// `approve` or `deny`.
    pub vote: String,
    /// Why (for a denial).
    pub reason: Option<String>,
    /// When.
    pub ts_ms: Millis,
}

/// An approval and its votes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// Its id (`apr_…`).
    pub id: String,
    /// Digest of the exact request it lets through.
    pub digest: String,
    /// Request kind.
    pub kind: String,
    /// Redacted summary of the request.
    pub summary: String,
    /// Who asked (the agent or token name).
    pub requester: String,
    /// The agent's session.
    pub session: Option<String>,
    /// Why the engine asked, as JSON.
    pub reasons: serde_json::Value,
    /// Created at.
    pub created_ms: Millis,
    /// Expires at.
    pub expires_ms: Millis,
    /// Distinct approvers needed.
    pub required: u32,
    /// State (an undecided or unused approval past its expiry reads as expired).
    pub state: ApprovalState,
    /// When approved or denied.
    pub decided_ms: Option<Millis>,
    /// Why it was denied.
    pub deny_reason: Option<String>,
    /// When it was used.
    pub consumed_ms: Option<Millis>,
    /// Votes so far, oldest first.
    pub votes: Vec<Vote>,
    /// What a person reads before deciding (redacted); `None` for approvals stored before it existed.
    #[serde(default)]
    pub detail: Option<ApprovalDetail>,
}

impl Approval {
    /// The decoded, redacted detail of the held request, when stored.
    pub fn detail(&self) -> Option<&ApprovalDetail> {
        self.detail.as_ref()
    }
}

/// How to create an approval.
#[derive(Debug, Clone, Copy)]
pub struct ApprovalOptions {
    /// Time to live.
    pub ttl_ms: Millis,
    /// Distinct approvers needed (at least 1).
    pub required: u32,
}

impl Default for ApprovalOptions {
    fn default() -> Self {
        Self {
            ttl_ms: DEFAULT_APPROVAL_TTL_MS,
            required: 1,
        }
    }
}

const APPROVAL_COLUMNS: &str = "id, digest, kind, summary, requester, session, reasons, created_ms, expires_ms, required, state, decided_ms, deny_reason, consumed_ms, detail";

macro_rules! decode_approval {
    ($row:expr) => {{
        let row = $row;
        let reasons: String = row.try_get(6)?;
        let required: i64 = row.try_get(9)?;
        let state: String = row.try_get(10)?;
        Approval {
            id: row.try_get(0)?,
            digest: row.try_get(1)?,
            kind: row.try_get(2)?,
            summary: row.try_get(3)?,
            requester: row.try_get(4)?,
            session: row.try_get(5)?,
            reasons: serde_json::from_str(&reasons).unwrap_or(serde_json::Value::String(reasons)),
            created_ms: row.try_get(7)?,
            expires_ms: row.try_get(8)?,
            required: u32::try_from(required).unwrap_or(u32::MAX),
            state: ApprovalState::parse(&state)?,
            decided_ms: row.try_get(11)?,
            deny_reason: row.try_get(12)?,
            consumed_ms: row.try_get(13)?,
            votes: Vec::new(),
            detail: row
                .try_get::<Option<String>, _>(14)?
                .and_then(|detail| serde_json::from_str(&detail).ok()),
        }
    }};
}

/// Fetches the votes of `$approval` with `$exec` and fills them in.
macro_rules! load_votes {
    ($exec:expr, $approval:expr) => {{
        let votes: Vec<(String, String, Option<String>, i64)> = sqlx::query_as(
            "SELECT approver, vote, reason, ts_ms FROM approval_votes WHERE approval_id = $1 ORDER BY ts_ms, approver",
        )
        .bind(&$approval.id)
        .fetch_all($exec)
        .await?;
        $approval.votes =
            votes.into_iter().map(|(approver, vote, reason, ts_ms)| Vote { approver, vote, reason, ts_ms }).collect();
    }};
}

enum Change<'a> {
    Approve(&'a AuthenticatedApprover),
    Deny(&'a AuthenticatedApprover, &'a str),
    Consume(&'a str),
}

fn is_live(state: ApprovalState) -> bool {
    matches!(state, ApprovalState::Pending | ApprovalState::Approved)
}

impl Store {
    /// Holds an `ask` decision on `envelope` for approval. Refuses any other verdict: `allow` needs no approval
    /// and `deny` can never be approved.
    pub async fn create_approval(
        &self,
        envelope: &Envelope,
        decision: &Decision,
        options: ApprovalOptions,
    ) -> Result<Approval> {
        if decision.verdict != Verdict::Ask {
            return Err(StoreError::NotApprovable(
                decision.verdict.as_str().to_string(),
            ));
        }
        let reasons: Vec<Reason> = decision
            .reasons
            .iter()
            .map(|r| Reason {
                message: redact_text(&r.message),
                ..r.clone()
            })
            .collect();
        let reasons = serde_json::to_value(&reasons).unwrap_or_default();
        let now = self.clock.now_ms();
        let approval = Approval {
            id: format!("apr_{}", hex::encode(random_bytes::<8>()?)),
            digest: request_digest(envelope),
            kind: envelope.request.kind().as_str().to_string(),
            summary: summarize(envelope),
            requester: envelope
                .context
                .agent
                .clone()
                .unwrap_or_else(|| "unknown-agent".to_string()),
            session: envelope.context.session.clone(),
            reasons,
            created_ms: now,
            expires_ms: now.saturating_add(options.ttl_ms.max(1)),
            required: options.required.max(1),
            state: ApprovalState::Pending,
            decided_ms: None,
            deny_reason: None,
            consumed_ms: None,
            votes: Vec::new(),
            detail: Some(ApprovalDetail::build(envelope, decision)),
        };
        let detail = approval
            .detail
            .as_ref()
            .and_then(|detail| serde_json::to_string(detail).ok());
        on_pool!(self, pool => {
            sqlx::query(&format!(
                "INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, NULL, NULL, NULL, $12)"
            ))
            .bind(&approval.id)
            .bind(&approval.digest)
            .bind(&approval.kind)
            .bind(&approval.summary)
            .bind(&approval.requester)
            .bind(&approval.session)
            .bind(canonical_json(&approval.reasons))
            .bind(approval.created_ms)
            .bind(approval.expires_ms)
            .bind(i64::from(approval.required))
            .bind(approval.state.as_str())
            .bind(detail)
            .execute(pool)
            .await?;
        });
        Ok(approval)
    }

    /// One approval with its votes.
    pub async fn approval(&self, id: &str) -> Result<Approval> {
        let now = self.clock.now_ms();
        let approval = on_pool!(self, pool => {
            let row = sqlx::query(&format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1"))
                .bind(id)
                .fetch_optional(pool)
                .await?;
            let Some(row) = row else { return Err(StoreError::ApprovalNotFound(id.to_string())) };
            let mut approval = decode_approval!(&row);
            load_votes!(pool, approval);
            approval
        });
        Ok(with_expiry(approval, now))
    }

    /// Approvals, newest first: only the pending ones unless `all`.
    pub async fn list_approvals(&self, all: bool) -> Result<Vec<Approval>> {
        let now = self.clock.now_ms();
        let sql = if all {
            format!("SELECT {APPROVAL_COLUMNS} FROM approvals ORDER BY created_ms DESC, id")
        } else {
            format!(
                "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE state = 'pending' ORDER BY created_ms DESC, id"
            )
        };
        let approvals: Vec<Approval> = on_pool!(self, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let mut approval = decode_approval!(row);
                load_votes!(pool, approval);
                out.push(with_expiry(approval, now));
            }
            out
        });
        Ok(if all {
            approvals
        } else {
            approvals
                .into_iter()
                .filter(|a| a.state == ApprovalState::Pending)
                .collect()
        })
    }

    /// Records `approver`'s approval; once `required` distinct approvers have approved, the approval is granted.
    pub async fn approve(&self, id: &str, approver: &AuthenticatedApprover) -> Result<Approval> {
        self.change(id, Change::Approve(approver)).await
    }

    /// Denies the approval (one denial is final).
    pub async fn deny(
        &self,
        id: &str,
        approver: &AuthenticatedApprover,
        reason: &str,
    ) -> Result<Approval> {
        self.change(id, Change::Deny(approver, reason)).await
    }

    /// Uses a granted approval for `envelope`: succeeds once, and only if the request is byte for byte the one
    /// that was approved (same digest) and the approval has not expired.
    pub async fn consume(&self, id: &str, envelope: &Envelope) -> Result<Approval> {
        let digest = request_digest(envelope);
        self.change(id, Change::Consume(&digest)).await
    }

    async fn change(&self, id: &str, change: Change<'_>) -> Result<Approval> {
        let now = self.clock.now_ms();
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            let sql = format!("SELECT {APPROVAL_COLUMNS} FROM approvals WHERE id = $1{}", row_lock(pool));
            let row = sqlx::query(&sql).bind(id).fetch_optional(&mut *tx).await?;
            let Some(row) = row else { return Err(StoreError::ApprovalNotFound(id.to_string())) };
            let mut approval = decode_approval!(&row);
            load_votes!(&mut *tx, approval);
            if is_live(approval.state) && now >= approval.expires_ms {
                sqlx::query("UPDATE approvals SET state = 'expired' WHERE id = $1").bind(id).execute(&mut *tx).await?;
                tx.commit().await?;
                return Err(StoreError::ApprovalExpired(id.to_string()));
            }
            let wanted = |wanted: &'static str| StoreError::ApprovalState {
                id: id.to_string(),
                state: approval.state.as_str().to_string(),
                wanted,
            };
            match change {
                Change::Approve(approver) | Change::Deny(approver, _) => {
                    if approval.state != ApprovalState::Pending {
                        return Err(wanted("pending"));
                    }
                    if approver.name() == approval.requester {
                        return Err(StoreError::SelfApproval { id: id.to_string(), approver: approver.name().to_string() });
                    }
                    if approval.votes.iter().any(|v| v.approver == approver.name()) {
                        return Err(StoreError::AlreadyVoted { id: id.to_string(), approver: approver.name().to_string() });
                    }
                    let (vote, reason) = match change {
                        Change::Deny(_, reason) => ("deny", Some(reason.to_string())),
                        _ => ("approve", None),
                    };
                    sqlx::query("INSERT INTO approval_votes (approval_id, approver, vote, reason, ts_ms) VALUES ($1, $2, $3, $4, $5)")
                        .bind(id)
                        .bind(approver.name())
                        .bind(vote)
                        .bind(&reason)
                        .bind(now)
                        .execute(&mut *tx)
                        .await?;
                    approval.votes.push(Vote { approver: approver.name().to_string(), vote: vote.to_string(), reason: reason.clone(), ts_ms: now });
                    let approvals = approval.votes.iter().filter(|v| v.vote == "approve").count();
                    let new_state = if vote == "deny" {
                        Some(ApprovalState::Denied)
                    } else if approvals >= usize::try_from(approval.required).unwrap_or(usize::MAX) {
                        Some(ApprovalState::Approved)
                    } else {
                        None
                    };
                    if let Some(state) = new_state {
                        sqlx::query("UPDATE approvals SET state = $1, decided_ms = $2, deny_reason = $3 WHERE id = $4 AND state = 'pending'")
                            .bind(state.as_str())
                            .bind(now)
                            .bind(&reason)
                            .bind(id)
                            .execute(&mut *tx)
                            .await?;
                        approval.state = state;
                        approval.decided_ms = Some(now);
                        approval.deny_reason = reason;
                    }
                }
                Change::Consume(digest) => {
                    if digest != approval.digest {
                        return Err(StoreError::DigestMismatch {
                            id: id.to_string(),
                            approved: approval.digest.clone(),
                            presented: digest.to_string(),
                        });
                    }
                    if approval.state != ApprovalState::Approved {
                        return Err(wanted("approved"));
                    }
                    let done = sqlx::query("UPDATE approvals SET state = 'consumed', consumed_ms = $1 WHERE id = $2 AND state = 'approved'")
                        .bind(now)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?
                        .rows_affected();
                    if done != 1 {
                        return Err(wanted("approved"));
                    }
                    approval.state = ApprovalState::Consumed;
                    approval.consumed_ms = Some(now);
                }
            }
            tx.commit().await?;
            Ok(approval)
        })
    }
}

fn with_expiry(mut approval: Approval, now: Millis) -> Approval {
    if is_live(approval.state) && now >= approval.expires_ms {
        approval.state = ApprovalState::Expired;
    }
    approval
}

impl Store {
    /// The live (pending or approved, not expired) approvals for requests with this digest, oldest first.
    pub async fn live_approvals_for_digest(&self, digest: &str) -> Result<Vec<Approval>> {
        let now = self.clock.now_ms();
        let sql = format!(
            "SELECT {APPROVAL_COLUMNS} FROM approvals WHERE digest = $1 AND state IN ('pending', 'approved') AND expires_ms > $2 ORDER BY created_ms, id"
        );
        let approvals: Vec<Approval> = on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(digest).bind(now).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                let mut approval = decode_approval!(row);
                load_votes!(pool, approval);
                out.push(with_expiry(approval, now));
            }
            out
        });
        Ok(approvals.into_iter().filter(|a| is_live(a.state)).collect())
    }
}
