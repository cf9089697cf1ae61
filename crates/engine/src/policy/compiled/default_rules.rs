//! GENERATED from `policies/default.cedar` by `AIRLOCK_REGENERATE=1 cargo test -p airlock-engine --lib compiled`;
//! do not edit (see `compiled.rs`).

use super::*;

/// What the rules read (`Reads::of_text` of the policy text).
pub(super) const READS: Reads = Reads::from_parts(0b0000001001110100, false);

/// The rules of `policies/default.cedar`, in file order.
pub(super) fn rules() -> Result<Vec<Rule>, EngineError> {
    let airlock_action_type = entity_type("Airlock::Action")?;
    Ok(vec![
        Rule {
            annotations: &[
                ("id", "baseline-allow"),
                ("reason", "nothing in this request is destructive, exfiltrating or unknown"),
                ("verdict", "allow"),
            ],
            effect: Effect::Permit,
            principal: PrincipalConstraint::Any,
            action: ActionConstraint::Any,
            resource: ResourceConstraint::Any,
            conditions: vec![],
        },
        Rule {
            annotations: &[
                ("id", "airlock-self-protection"),
                ("reason", "it would disable or bypass airlock (its configuration, policy, audit log, approvals, tokens, program or the agents' hook settings); only a person may change airlock, outside the agent"),
                ("verdict", "deny"),
            ],
            effect: Effect::Forbid,
            principal: PrincipalConstraint::Any,
            action: ActionConstraint::Any,
            resource: ResourceConstraint::Any,
            conditions: vec![
                Clause::When(binary(BinaryOp::Eq, attr(var(Var::Context), "family"), string("airlock-self"))),
            ],
        },
        Rule {
            annotations: &[
                ("id", "wipe-host"),
                ("reason", "it destroys the machine itself (disks, system files, users); no agent should do this"),
                ("verdict", "deny"),
            ],
            effect: Effect::Forbid,
            principal: PrincipalConstraint::Any,
            action: ActionConstraint::Any,
            resource: ResourceConstraint::Any,
            conditions: vec![
                Clause::When(binary(BinaryOp::And, binary(BinaryOp::Eq, attr(var(Var::Context), "effect"), string("delete")), binary(BinaryOp::Eq, attr(var(Var::Context), "blast_radius"), string("host")))),
            ],
        },
        Rule {
            annotations: &[
                ("id", "delete-account"),
                ("reason", "it deletes a whole account, organisation or home directory; no agent should do this"),
                ("verdict", "deny"),
            ],
            effect: Effect::Forbid,
            principal: PrincipalConstraint::Any,
            action: ActionConstraint::Any,
            resource: ResourceConstraint::Any,
            conditions: vec![
                Clause::When(binary(BinaryOp::And, binary(BinaryOp::Eq, attr(var(Var::Context), "effect"), string("delete")), binary(BinaryOp::Eq, attr(var(Var::Context), "blast_radius"), string("account")))),
            ],
        },
        Rule {
            annotations: &[
                ("id", "delete-production-project"),
                ("reason", "it deletes a whole project, database or environment in production; no agent should do this"),
                ("verdict", "deny"),
            ],
            effect: Effect::Forbid,
            principal: PrincipalConstraint::Any,
            action: ActionConstraint::Any,
            resource: ResourceConstraint::Any,
            conditions: vec![
                Clause::When(binary(BinaryOp::And, binary(BinaryOp::And, binary(BinaryOp::Eq, attr(var(Var::Context), "effect"), string("delete")), binary(BinaryOp::Eq, attr(var(Var::Context), "blast_radius"), string("project"))), binary(BinaryOp::Eq, attr(var(Var::Context), "environment"), string("production")))),
            ],
        },
        Rule {
            annotations: &[
                ("id", "exfiltrate-secrets"),
                ("reason", "it sends credentials or private keys off this machine"),
                ("verdict", "deny"),
            ],
            effect: Effect::Forbid,
            principal: PrincipalConstraint::Any,
            action: ActionConstraint::Any,
            resource: ResourceConstraint::Any,
            conditions: vec![
                Clause::When(binary(BinaryOp::Eq, attr(var(Var::Context), "effect"), string("exfiltrate"))),
            ],
        },
        Rule {
            annotations: &[
                ("id", "plant-login-keys"),
                ("reason", "it adds or replaces the SSH keys allowed to log in to this machine (authorized_keys): a back door no agent should open"),
                ("verdict", "deny"),
            ],
            effect: Effect::Forbid,
            principal: PrincipalConstraint::Any,
            action: ActionConstraint::Any,
            resource: ResourceConstraint::Any,
            conditions: vec![
                Clause::When(binary(BinaryOp::And, binary(BinaryOp::Eq, attr(var(Var::Context), "family"), string("login-keys")), binary(BinaryOp::Eq, attr(var(Var::Context), "effect"), string("write")))),
            ],
        },
        Rule {
            annotations: &[
                ("id", "catalogue-deny"),
                ("reason", "the catalogue marks this as something no agent should run"),
                ("verdict", "deny"),
            ],
            effect: Effect::Forbid,
            principal: PrincipalConstraint::Any,
            action: ActionConstraint::Any,
            resource: ResourceConstraint::Any,
            conditions: vec![
                Clause::When(binary(BinaryOp::Eq, attr(var(Var::Context), "severity"), string("deny"))),
            ],
        },
        Rule {
            annotations: &[
                ("id", "local-delete-needs-approval"),
                ("mitigation", "snapshot"),
                ("reason", "it deletes or overwrites local files that cannot be restored from the project; a person should approve it"),
                ("verdict", "ask"),
            ],
            effect: Effect::Forbid,
            principal: PrincipalConstraint::Any,
            action: ActionConstraint::Any,
            resource: ResourceConstraint::Any,
            conditions: vec![
                Clause::When(binary(BinaryOp::And, binary(BinaryOp::And, binary(BinaryOp::And, binary(BinaryOp::Or, binary(BinaryOp::Eq, var(Var::Action), entity(&airlock_action_type, "shell")), binary(BinaryOp::Eq, var(Var::Action), entity(&airlock_action_type, "file"))), binary(BinaryOp::Eq, attr(var(Var::Context), "severity"), string("ask"))), binary(BinaryOp::Or, binary(BinaryOp::Eq, attr(var(Var::Context), "effect"), string("delete")), binary(BinaryOp::Eq, attr(var(Var::Context), "effect"), string("write")))), binary(BinaryOp::Contains, set(vec![string("shell-fs"), string("paths"), string("file"), string("git"), string("windows"), string("shell-exec")]), attr(var(Var::Context), "family")))),
            ],
        },
        Rule {
            annotations: &[
                ("id", "sql-delete-needs-approval"),
                ("mitigation", "soft_delete"),
                ("reason", "it destroys rows, tables or databases; a person should approve it"),
                ("verdict", "ask"),
            ],
            effect: Effect::Forbid,
            principal: PrincipalConstraint::Any,
            action: ActionConstraint::Any,
            resource: ResourceConstraint::Any,
            conditions: vec![
                Clause::When(binary(BinaryOp::And, binary(BinaryOp::And, binary(BinaryOp::Eq, var(Var::Action), entity(&airlock_action_type, "sql")), binary(BinaryOp::Eq, attr(var(Var::Context), "severity"), string("ask"))), binary(BinaryOp::Eq, attr(var(Var::Context), "effect"), string("delete")))),
            ],
        },
        Rule {
            annotations: &[
                ("id", "remote-delete-needs-approval"),
                ("mitigation", "defer"),
                ("reason", "it deletes a remote resource through an API or a tool; a person should approve it"),
                ("verdict", "ask"),
            ],
            effect: Effect::Forbid,
            principal: PrincipalConstraint::Any,
            action: ActionConstraint::Any,
            resource: ResourceConstraint::Any,
            conditions: vec![
                Clause::When(binary(BinaryOp::And, binary(BinaryOp::And, binary(BinaryOp::Or, binary(BinaryOp::Eq, var(Var::Action), entity(&airlock_action_type, "http")), binary(BinaryOp::Eq, var(Var::Action), entity(&airlock_action_type, "mcp"))), binary(BinaryOp::Eq, attr(var(Var::Context), "severity"), string("ask"))), binary(BinaryOp::Eq, attr(var(Var::Context), "effect"), string("delete")))),
            ],
        },
        Rule {
            annotations: &[
                ("id", "catalogue-ask"),
                ("reason", "the catalogue marks this as needing a person's approval"),
                ("verdict", "ask"),
            ],
            effect: Effect::Forbid,
            principal: PrincipalConstraint::Any,
            action: ActionConstraint::Any,
            resource: ResourceConstraint::Any,
            conditions: vec![
                Clause::When(binary(BinaryOp::Eq, attr(var(Var::Context), "severity"), string("ask"))),
            ],
        },
        Rule {
            annotations: &[
                ("id", "unknown-needs-approval"),
                ("reason", "airlock could not tell what this would do; a person should look at it"),
                ("verdict", "ask"),
            ],
            effect: Effect::Forbid,
            principal: PrincipalConstraint::Any,
            action: ActionConstraint::Any,
            resource: ResourceConstraint::Any,
            conditions: vec![
                Clause::When(binary(BinaryOp::Or, binary(BinaryOp::Eq, attr(var(Var::Context), "effect"), string("unknown")), binary(BinaryOp::Eq, attr(var(Var::Context), "effect"), string("execute")))),
            ],
        },
        Rule {
            annotations: &[
                ("id", "admin-needs-approval"),
                ("reason", "it changes permissions, credentials or airlock's own protection; a person should approve it"),
                ("verdict", "ask"),
            ],
            effect: Effect::Forbid,
            principal: PrincipalConstraint::Any,
            action: ActionConstraint::Any,
            resource: ResourceConstraint::Any,
            conditions: vec![
                Clause::When(binary(BinaryOp::Eq, attr(var(Var::Context), "effect"), string("admin"))),
            ],
        },
    ])
}
