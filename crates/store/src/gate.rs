//! The gate: the one enforcement path every adapter (agent hooks, HTTP gateway, MCP proxy) shares. It asks the
//! engine for a [`Decision`], settles it against the store — an `ask` is let through only by a person's approval
//! of that exact request, once — and writes the audit entry before the adapter acts. An `Err` from any method
//! means the decision could not be recorded or settled: the adapter must block (fail closed).
//!
//! ```no_run
//! # async fn demo() -> Result<(), airlock_store::StoreError> {
//! use std::sync::Arc;
//! use airlock_engine::{Engine, Envelope};
//! use airlock_store::gate::{Gate, Settled};
//! use airlock_store::Store;
//! let gate = Gate::new(Arc::new(Engine::new().unwrap()), Store::open("sqlite:///tmp/airlock-gate.db").await?);
//! let request: Envelope = serde_json::from_str(r#"{"kind":"shell","command":"rm -r build-output"}"#).unwrap();
//! match gate.judge(&request).await?.settled {
//!     Settled::Allow | Settled::AllowedByApproval(_) => { /* run it */ }
//!     Settled::Hold(approval) => println!("held as {}", approval.id),
//!     Settled::Deny => { /* refuse */ }
//! }
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::Duration;

use airlock_engine::{Decision, Engine, Envelope, Verdict};

use crate::approvals::{Approval, ApprovalOptions, ApprovalState};
use crate::audit::{AuditEntry, AuditRecord};
use crate::canonical::request_digest;
use crate::db::Store;
use crate::error::{Result, StoreError};

/// How often [`Gate::wait_for_decision`] looks at a pending approval.
const POLL_INTERVAL: Duration = Duration::from_millis(100);

/// The engine and the store, together. Cheap to clone.
#[derive(Clone)]
pub struct Gate {
    engine: Arc<Engine>,
    store: Store,
    approval: ApprovalOptions,
}

/// What the gate did with a request.
#[derive(Debug, Clone)]
pub enum Settled {
    /// The engine allowed it: run it.
    Allow,
    /// The engine asked, and a person had approved this exact request: run it (the approval is now used).
    AllowedByApproval(Approval),
    /// The engine asked and no approval covers it yet: it waits for a person (a new or the existing pending
    /// approval of the identical request).
    Hold(Approval),
    /// The engine denied it: refuse.
    Deny,
}

/// A settled request: the engine's decision, what the gate did, and the audit entry recording it.
#[derive(Debug, Clone)]
pub struct Settlement {
    /// The engine's decision.
    pub decision: Decision,
    /// What the gate did.
    pub settled: Settled,
    /// The audit entry written for it.
    pub audit: AuditEntry,
}

impl Gate {
    /// A gate deciding with `engine` and recording in `store`.
    pub fn new(engine: Arc<Engine>, store: Store) -> Self {
        Self {
            engine,
            store,
            approval: ApprovalOptions::default(),
        }
    }

    /// The same gate creating approvals with `options` (time to live, approvers needed).
    pub fn with_approval_options(mut self, options: ApprovalOptions) -> Self {
        self.approval = options;
        self
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The engine's decision on `envelope`; no I/O.
    pub fn decide(&self, envelope: &Envelope) -> Decision {
        self.engine.decide(envelope)
    }

    /// Decides on `envelope` and settles the decision ([`Gate::settle`]).
    pub async fn judge(&self, envelope: &Envelope) -> Result<Settlement> {
        let decision = self.decide(envelope);
        self.settle(envelope, decision).await
    }

    /// Records and enforces `decision` on `envelope`:
    /// - `allow` ⇒ audited `allowed`, [`Settled::Allow`];
    /// - `deny` ⇒ audited `denied`, [`Settled::Deny`];
    /// - `ask` ⇒ an approved, unexpired approval of the identical request (same digest: request, cwd and
    ///   environment) is used up ⇒ audited `approved`, [`Settled::AllowedByApproval`]; otherwise the pending
    ///   approval of the identical request is reused, or a new one created ⇒ audited `held`, [`Settled::Hold`].
    pub async fn settle(&self, envelope: &Envelope, decision: Decision) -> Result<Settlement> {
        match decision.verdict {
            Verdict::Allow => {
                let audit = self.record(envelope, &decision, "allowed", None).await?;
                Ok(Settlement {
                    decision,
                    settled: Settled::Allow,
                    audit,
                })
            }
            Verdict::Deny => {
                let audit = self.record(envelope, &decision, "denied", None).await?;
                Ok(Settlement {
                    decision,
                    settled: Settled::Deny,
                    audit,
                })
            }
            Verdict::Ask => self.settle_ask(envelope, decision).await,
        }
    }

    async fn settle_ask(&self, envelope: &Envelope, decision: Decision) -> Result<Settlement> {
        let live = self
            .store
            .live_approvals_for_digest(&request_digest(envelope))
            .await?;
        for approved in live.iter().filter(|a| a.state == ApprovalState::Approved) {
            match self.store.consume(&approved.id, envelope).await {
                Ok(approval) => {
                    let audit = self
                        .record(envelope, &decision, "approved", Some(&approval.id))
                        .await?;
                    return Ok(Settlement {
                        decision,
                        settled: Settled::AllowedByApproval(approval),
                        audit,
                    });
                }
                // Another process used or expired it between the read and now: try the next one.
                Err(StoreError::ApprovalState { .. } | StoreError::ApprovalExpired(_)) => {}
                Err(other) => return Err(other),
            }
        }
        let approval = match live.into_iter().find(|a| a.state == ApprovalState::Pending) {
            Some(pending) => pending,
            None => {
                // A rule with `@approvers("2")` raises the number of distinct approvers (two-person rule).
                let options = ApprovalOptions {
                    required: self
                        .approval
                        .required
                        .max(self.engine.policy().required_approvers(&decision)),
                    ..self.approval
                };
                self.store
                    .create_approval(envelope, &decision, options)
                    .await?
            }
        };
        let audit = self
            .record(envelope, &decision, "held", Some(&approval.id))
            .await?;
        Ok(Settlement {
            decision,
            settled: Settled::Hold(approval),
            audit,
        })
    }

    /// Waits until the approval is no longer pending, or `timeout` has passed; returns its latest state
    /// (still [`ApprovalState::Pending`] on timeout).
    pub async fn wait_for_decision(
        &self,
        approval_id: &str,
        timeout: Duration,
    ) -> Result<Approval> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let approval = self.store.approval(approval_id).await?;
            let now = tokio::time::Instant::now();
            if approval.state != ApprovalState::Pending || now >= deadline {
                return Ok(approval);
            }
            tokio::time::sleep(POLL_INTERVAL.min(deadline - now)).await;
        }
    }

    /// Uses the approved approval `approval_id` for `envelope` (once, and only for the identical request) and
    /// audits it as `approved`.
    pub async fn consume(
        &self,
        approval_id: &str,
        envelope: &Envelope,
        decision: &Decision,
    ) -> Result<Approval> {
        let approval = self.store.consume(approval_id, envelope).await?;
        self.record(envelope, decision, "approved", Some(&approval.id))
            .await?;
        Ok(approval)
    }

    /// Appends one audit entry about `envelope` and `decision` with a free-form `outcome` (`executed`,
    /// `failed`, `snapshot snap_…`, `deferred def_…`, …).
    pub async fn record(
        &self,
        envelope: &Envelope,
        decision: &Decision,
        outcome: &str,
        approval_id: Option<&str>,
    ) -> Result<AuditEntry> {
        let mut record = AuditRecord::new(envelope, decision, outcome);
        if let Some(id) = approval_id {
            record = record.with_approval(id);
        }
        self.store.append(record).await
    }
}
