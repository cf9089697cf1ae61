//! What a classifier finds in a request: actions with a target, an effect, reversibility, blast radius,
//! environment and evidence (which catalogue rule fired, on which span of the input).
//!
//! Actions carry facts only; the Cedar policy (see `policy.rs`) turns them into a verdict.

use serde::{Deserialize, Serialize};

use crate::request::RequestKind;

/// A byte range `[start, end)` in the original request text (the shell command, the SQL, the HTTP body or
/// URL, …). For text found inside another layer (a `bash -c` string, a base64 payload) the span covers the
/// outer text it came from when exact inner offsets cannot be recovered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Span {
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
}

impl Span {
    /// A span from `start` to `end`.
    pub fn new(start: usize, end: usize) -> Self {
        Self {
            start,
            end: end.max(start),
        }
    }

    /// This span moved right by `offset` bytes.
    pub fn shifted(self, offset: usize) -> Self {
        Self::new(
            self.start.saturating_add(offset),
            self.end.saturating_add(offset),
        )
    }

    /// The text this span covers in `input`, if it lies on character boundaries inside it.
    pub fn text(self, input: &str) -> Option<&str> {
        input.get(self.start..self.end)
    }
}

/// What an action does to its target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Effect {
    /// Reads only.
    Read,
    /// Creates or modifies.
    Write,
    /// Destroys data or resources.
    Delete,
    /// Sends secrets or private data off the machine.
    Exfiltrate,
    /// Runs code whose effect could not be determined statically.
    Execute,
    /// Changes permissions, users, credentials or configuration of the guard itself.
    Admin,
    /// The classifier could not understand the input.
    Unknown,
}

impl Effect {
    /// The lowercase name used in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Read => "read",
            Effect::Write => "write",
            Effect::Delete => "delete",
            Effect::Exfiltrate => "exfiltrate",
            Effect::Execute => "execute",
            Effect::Admin => "admin",
            Effect::Unknown => "unknown",
        }
    }
}

/// Whether the effect can be undone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Reversibility {
    /// Can be undone by the agent itself (e.g. a git operation with reflog).
    Reversible,
    /// Can be undone by a person with effort (backups, soft delete, trash, cancel window).
    Recoverable,
    /// Gone for good.
    Irreversible,
}

impl Reversibility {
    /// The lowercase name used in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            Reversibility::Reversible => "reversible",
            Reversibility::Recoverable => "recoverable",
            Reversibility::Irreversible => "irreversible",
        }
    }
}

/// How much an action can touch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BlastRadius {
    /// One resource (a file, a row set, a volume).
    Resource,
    /// A whole project, database, namespace or repository.
    Project,
    /// A whole cloud account, organisation or user home.
    Account,
    /// The machine itself (disks, system files, users).
    Host,
}

impl BlastRadius {
    /// The lowercase name used in policies.
    pub fn as_str(self) -> &'static str {
        match self {
            BlastRadius::Resource => "resource",
            BlastRadius::Project => "project",
            BlastRadius::Account => "account",
            BlastRadius::Host => "host",
        }
    }
}

/// The three answers airlock can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Let it run.
    Allow,
    /// Hold it until a person approves.
    Ask,
    /// Never run it from an agent.
    Deny,
}

impl Verdict {
    /// The lowercase wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Ask => "ask",
            Verdict::Deny => "deny",
        }
    }
}

/// Why a classifier produced an action: the catalogue rule and where in the input it matched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Evidence {
    /// Catalogue rule id, e.g. `SHF001`.
    pub rule: String,
    /// Catalogue rule name, e.g. `rm-recursive`.
    pub name: String,
    /// Catalogue family (the file the rule is in), e.g. `git`.
    #[serde(default)]
    pub family: String,
    /// The rule's reason, for a person.
    pub message: String,
    /// Where in the input the rule matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub span: Option<Span>,
}

/// One thing a request would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// Which classifier recognised it (a curl inside a shell command yields an `http` action).
    pub kind: RequestKind,
    /// What is touched, for a person: `~/projects`, `volume 8a4c…`, `table users`, `s3://acme-logs`.
    pub target: String,
    /// The effect on the target.
    pub effect: Effect,
    /// Whether it can be undone.
    pub reversibility: Reversibility,
    /// How much it can touch.
    pub blast_radius: BlastRadius,
    /// `production`, `staging`, `development` when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The verdict the catalogue rule suggests; the policy may use or override it.
    pub severity: Verdict,
    /// The rule that fired and where.
    pub evidence: Evidence,
}
