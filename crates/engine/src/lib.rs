//! airlock-engine: the one place that decides. A [`Request`] is classified into [`Action`]s by parsers
//! (brush-parser for shell, sqlparser, apollo-parser for GraphQL, serde_json), the actions are judged by a
//! Cedar policy, and the result is a [`Decision`]: allow, ask or deny, with reasons a person can read.
//!
//! The engine is pure: no files, network, processes, environment or clock. The catalogue and the default
//! policy are embedded; a user policy is passed in as text.
//!
//! ```
//! use airlock_engine::{Engine, Envelope, Verdict};
//! let engine = Engine::new().unwrap();
//! let req: Envelope = serde_json::from_str(r#"{"kind":"shell","command":"ls -la"}"#).unwrap();
//! assert_eq!(engine.decide(&req).verdict, Verdict::Allow);
//! ```
#![deny(missing_docs)]

pub mod action;
pub mod catalog;
pub mod classify;
pub mod decision;
pub mod error;
pub mod policy;
pub mod request;
pub mod wire;

pub use action::{Action, BlastRadius, Effect, Evidence, Reversibility, Span, Verdict};
pub use catalog::Catalog;
pub use decision::{Decision, Mitigation, Reason};
pub use error::EngineError;
pub use policy::Policy;
pub use request::{
    Context, Envelope, FileOp, FileRequest, HttpRequest, McpRequest, Request, RequestKind,
    ShellRequest, SqlDialect, SqlRequest,
};

use classify::Classifier;

/// The catalogue and the policy, loaded once; cheap to share between threads.
#[derive(Debug, Clone)]
pub struct Engine {
    catalog: Catalog,
    policy: Policy,
}

impl Engine {
    /// The embedded catalogue and the default policy.
    pub fn new() -> Result<Self, EngineError> {
        Ok(Self {
            catalog: Catalog::embedded()?,
            policy: Policy::default_policy()?,
        })
    }

    /// The embedded catalogue, the default policy, and a user policy (`source_name` names it in errors)
    /// whose rules add to or override the defaults.
    pub fn with_user_policy(source_name: &str, user_policy: &str) -> Result<Self, EngineError> {
        Ok(Self {
            catalog: Catalog::embedded()?,
            policy: Policy::with_user_policy(source_name, user_policy)?,
        })
    }

    /// The loaded catalogue.
    pub fn catalog(&self) -> &Catalog {
        &self.catalog
    }

    /// The loaded policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// What the request would do.
    pub fn classify(&self, envelope: &Envelope) -> Vec<Action> {
        Classifier::new(&self.catalog, envelope.context.environment.as_deref())
            .classify(&envelope.request)
    }

    /// Classifies the request and decides under the policy.
    pub fn decide(&self, envelope: &Envelope) -> Decision {
        let actions = self.classify(envelope);
        self.policy.decide(envelope, actions)
    }
}
