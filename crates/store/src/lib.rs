//! airlock-store: the memory of airlock. A hash-chained, append-only audit log of every decision; approvals
//! bound to the digest of the exact request they let through, once; agent tokens and approver credentials.
//! One [`Store`] runs on an SQLite file (the embedded default, `$AIRLOCK_HOME/airlock.db`, WAL) or on
//! PostgreSQL (shared by several gateway replicas), with the same behaviour and the same tests.
//!
//! The store never re-creates a database it cannot read: a corrupt file, a schema written by a newer airlock or
//! an unreachable server is an error naming the problem, and callers fail closed (a decision that cannot be
//! audited is not let through).
//!
//! ```no_run
//! # async fn demo() -> Result<(), airlock_store::StoreError> {
//! use airlock_engine::{Engine, Envelope};
//! use airlock_store::{AuditRecord, Store};
//! let store = Store::open("sqlite:///tmp/airlock-demo.db").await?;
//! let request: Envelope = serde_json::from_str(r#"{"kind":"shell","command":"ls"}"#).unwrap();
//! let decision = Engine::new().unwrap().decide(&request);
//! let entry = store.append(AuditRecord::new(&request, &decision, "allowed")).await?;
//! assert!(store.verify(Some(&entry.hash)).await?.is_ok());
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod approval_detail;
pub mod approvals;
pub mod audit;
mod audit_writer;
pub mod breaker;
pub mod canonical;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod db;
pub mod deferred;
pub mod error;
pub mod gate;
pub mod links;
pub mod notifications;
pub mod redact;
pub mod snapshots;

pub use approval_detail::{ApprovalDetail, DetailRule, DetailSection};
pub use approvals::{Approval, ApprovalOptions, ApprovalState, DEFAULT_APPROVAL_TTL_MS, Vote};
pub use audit::{
    AuditEntry, AuditFilter, AuditRecord, ChainHead, ChainProblem, ProblemKind, VerifyReport,
};
pub use breaker::{
    BreakerLimits, BreakerScope, BreakerStatus, BreakerTrip, BreakerVerdict, ScopeKind,
    is_destructive,
};
pub use canonical::{GENESIS_HASH, request_digest};
pub use clock::{Clock, ManualClock, Millis, SystemClock};
pub use credentials::{AgentToken, Approver, AuthenticatedApprover};
pub use db::{Backend, OpenOptions, Store};
pub use deferred::{
    DEFAULT_DEFER_SECONDS, Deferred, DeferredState, ExecutionResult, NewDeferred, ReplayRequest,
    run_due_deferred,
};
pub use error::{Result, StoreError};
pub use gate::{Gate, Settled, Settlement};
pub use notifications::Notification;
pub use snapshots::{
    PlanError, SnapshotError, SnapshotInfo, SnapshotLimits, SnapshotMeta, SnapshotOutcome,
    SnapshotPlan, plan_snapshot,
};
