//! The engine's answer: a verdict, the reasons a person reads, the actions found, and the mitigation that
//! keeps an approved action recoverable. Adapters (CLI, hooks, gateway) map this to their wire form.

use serde::{Deserialize, Serialize};

use crate::action::{Action, Span, Verdict};

/// What airlock can do so that an approved destructive action can still be undone.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mitigation {
    /// Nothing.
    #[default]
    None,
    /// Copy local files before deleting them.
    Snapshot,
    /// Rename tables instead of dropping them.
    SoftDelete,
    /// Run the delete after a cancel window.
    Defer,
}

impl Mitigation {
    /// The snake_case wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mitigation::None => "none",
            Mitigation::Snapshot => "snapshot",
            Mitigation::SoftDelete => "soft_delete",
            Mitigation::Defer => "defer",
        }
    }
}

/// One reason for a decision: the catalogue rule that recognised an action and the policy rule that
/// judged it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reason {
    /// The catalogue rule id (`SHF001`), or the policy rule id when no catalogue rule is involved.
    pub rule: String,
    /// The policy rule (`@id` in the Cedar policy) that produced the verdict.
    pub policy: String,
    /// What a person reads: the catalogue's reason, the target, and the policy's reason.
    pub message: String,
    /// Where in the input the catalogue rule matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
}

/// The decision on one request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// allow, ask or deny.
    pub verdict: Verdict,
    /// Why; empty for a plain allow.
    pub reasons: Vec<Reason>,
    /// Everything the classifiers found.
    pub actions: Vec<Action>,
    /// How to keep it recoverable if a person approves it.
    pub mitigation: Mitigation,
}

impl Decision {
    /// One line for a person: `ask: SHF001 rm-recursive on ~/projects: …`.
    pub fn summary(&self) -> String {
        match self.reasons.first() {
            None => self.verdict.as_str().to_string(),
            Some(first) => {
                let more = self.reasons.len().saturating_sub(1);
                let tail = if more > 0 {
                    format!(" (+{more} more)")
                } else {
                    String::new()
                };
                format!(
                    "{}: {} {}{tail}",
                    self.verdict.as_str(),
                    first.rule,
                    first.message
                )
            }
        }
    }
}
