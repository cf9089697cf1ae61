//! The Cedar policy: the default `policies/default.cedar`, validated against `policies/airlock.cedarschema`,
//! plus an optional user policy whose rules replace defaults with the same `@id` or add to them.
//!
//! One Cedar request is made per action (principal `Airlock::Agent`, action `Airlock::Action::"<kind>"`,
//! resource `Airlock::Target`, the action's facts as context). Facts no rule reads are left out of the
//! context and actions that agree on everything the rules read share one request (see `policy/reads.rs`):
//! the same answers, fewer evaluations. Rules whose leading tests cannot hold for an action are left out
//! of its evaluation (see `policy/prefilter.rs`): again the same answer. Every policy carries `@id`, `@verdict`
//! (`allow` on a `permit`, `ask` or `deny` on a `forbid`) and `@reason`; `@mitigation` is optional.
//! A user `permit` with `@verdict("allow")` that matches an action lets it through even where a default
//! `forbid` matches (user exceptions are evaluated first, in their own policy set).

use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Decision as CedarDecision, Entities, EntityId, EntityTypeName, EntityUid,
    PolicyId, PolicySet, Request as CedarRequest, RestrictedExpression, Schema, ValidationMode,
    Validator,
};

use crate::action::{Action, Verdict};
use crate::decision::{Decision, Mitigation, Reason};
use crate::error::EngineError;
use crate::request::{Envelope, RequestKind};

mod compiled;
mod prefilter;
mod reads;

use prefilter::{FactMask, Prefilter};
use reads::{ANY_TARGET, FACTS, Facts, Reads};

/// The default policy text.
pub const DEFAULT_POLICY: &str = include_str!("../../../policies/default.cedar");
/// The schema every policy is validated against.
pub const SCHEMA: &str = include_str!("../../../policies/airlock.cedarschema");

/// The `@id` used for decisions the engine takes without consulting a policy rule.
const NO_POLICY: &str = "none";

/// The action kinds, in the order of [`Policy::actions`].
const KINDS: [RequestKind; 5] = [
    RequestKind::Shell,
    RequestKind::Sql,
    RequestKind::Http,
    RequestKind::Mcp,
    RequestKind::File,
];

/// A loaded, validated policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// Default rules (minus those a user rule replaced) and the user's `forbid` rules.
    rules: PolicySet,
    /// The user's `permit` exceptions.
    exceptions: PolicySet,
    /// The Cedar action of each action kind, in [`KINDS`] order, made once.
    actions: Vec<EntityUid>,
    /// Each rule's annotations, read once (reading a Cedar annotation parses its key), in policy order.
    rule_infos: Vec<(PolicyId, RuleInfo)>,
    /// The same for the exceptions.
    exception_infos: Vec<(PolicyId, RuleInfo)>,
    agent_type: Option<EntityTypeName>,
    target_type: Option<EntityTypeName>,
    /// What the rules and exceptions can see of a Cedar request.
    reads: Reads,
    /// Leaves out of an evaluation the rules that cannot fire on it.
    prefilter: Prefilter,
}

/// A policy rule as a person reads it: id, verdict, reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleInfo {
    /// `@id`.
    pub id: String,
    /// `@verdict`.
    pub verdict: Verdict,
    /// `@reason`.
    pub reason: String,
    /// `@mitigation`.
    pub mitigation: Mitigation,
    /// `@approvers("2")`: distinct people who must approve a request this rule holds (two-person rule);
    /// 1 when absent.
    pub approvers: u32,
}

impl Policy {
    /// The default policy only. Its rules are built from code generated from the embedded text (see
    /// `policy/compiled.rs`), which the test suite checks equals the text; the text is validated by the
    /// test suite and by `airlock policy check`. Nothing is parsed here, to keep engine start-up fast.
    pub fn default_policy() -> Result<Self, EngineError> {
        Self::assemble(
            compiled::default_rules()?,
            Vec::new(),
            compiled::DEFAULT_READS,
        )
    }

    /// The default policy with a user policy layered on top. The user policy is parsed and validated
    /// against the schema; any error refuses to load (fail closed).
    pub fn with_user_policy(source_name: &str, text: &str) -> Result<Self, EngineError> {
        let defaults = compiled::default_rules()?;
        let user = parse_checked(source_name, text, "user")?;
        validate(source_name, &policy_set(source_name, &user)?)?;
        let user: Vec<(cedar_policy::Policy, RuleInfo)> = user
            .into_iter()
            .map(|p| {
                let info = rule_info(&p);
                (p, info)
            })
            .collect();
        let replaced: BTreeSet<&str> = user.iter().map(|(_, info)| info.id.as_str()).collect();
        let (exceptions, mut rules): (Vec<_>, Vec<_>) = user
            .iter()
            .cloned()
            .partition(|(p, _)| p.effect() == cedar_policy::Effect::Permit);
        rules.extend(
            defaults
                .iter()
                .filter(|(_, info)| !replaced.contains(info.id.as_str()))
                .cloned(),
        );
        if rules
            .iter()
            .all(|(p, _)| p.effect() != cedar_policy::Effect::Permit)
        {
            // Keep the baseline permit even if the user replaced it: with no permit at all, Cedar would
            // deny everything silently. A user who wants that writes a forbid.
            let baseline = defaults
                .iter()
                .find(|(p, _)| p.effect() == cedar_policy::Effect::Permit);
            if let Some((baseline, info)) = baseline {
                rules.push((baseline.new_id(PolicyId::new("baseline")), info.clone()));
            }
        }
        Self::assemble(
            rules,
            exceptions,
            compiled::DEFAULT_READS.union(Reads::of_text(text)),
        )
    }

    /// Parses, checks conventions and validates a policy text against the schema, as `airlock policy check`
    /// does. Returns the number of rules.
    pub fn check(source_name: &str, text: &str) -> Result<usize, EngineError> {
        let policies = parse_checked(source_name, text, "checked")?;
        validate(source_name, &policy_set(source_name, &policies)?)?;
        Ok(policies.len())
    }

    /// `rules` and `exceptions` in policy order, each with what its annotations say; `reads` covers what
    /// the texts they come from read.
    fn assemble(
        rules: Vec<(cedar_policy::Policy, RuleInfo)>,
        exceptions: Vec<(cedar_policy::Policy, RuleInfo)>,
        reads: Reads,
    ) -> Result<Self, EngineError> {
        let split = |set: Vec<(cedar_policy::Policy, RuleInfo)>| {
            set.into_iter()
                .map(|(p, info)| {
                    let id = p.id().clone();
                    (p, (id, info))
                })
                .unzip::<_, _, Vec<_>, Vec<_>>()
        };
        let (rules, rule_infos) = split(rules);
        let (exceptions, exception_infos) = split(exceptions);
        let action_type = EntityTypeName::from_str("Airlock::Action").map_err(|e| {
            EngineError::PolicyInvalid {
                source_name: "policy".to_string(),
                message: e.to_string(),
            }
        })?;
        let actions = KINDS
            .iter()
            .map(|kind| {
                EntityUid::from_type_name_and_id(action_type.clone(), EntityId::new(kind.as_str()))
            })
            .collect();
        Ok(Self {
            reads,
            rule_infos,
            exception_infos,
            prefilter: Prefilter::new(&rules),
            rules: policy_set("policy", &rules)?,
            exceptions: policy_set("policy", &exceptions)?,
            actions,
            agent_type: EntityTypeName::from_str("Airlock::Agent").ok(),
            target_type: EntityTypeName::from_str("Airlock::Target").ok(),
        })
    }

    /// Every rule in force: exceptions first, then the rules.
    pub fn rules(&self) -> Vec<RuleInfo> {
        self.exception_infos
            .iter()
            .chain(&self.rule_infos)
            .map(|(_, info)| info.clone())
            .collect()
    }

    /// Distinct approvers `decision` needs: the largest `@approvers` of the rules that held it (1 when none
    /// asks for more, or when the decision is not `ask`).
    pub fn required_approvers(&self, decision: &Decision) -> u32 {
        if decision.verdict != Verdict::Ask {
            return 1;
        }
        decision
            .reasons
            .iter()
            .filter_map(|reason| {
                self.rule_infos
                    .iter()
                    .find(|(_, info)| info.id == reason.policy)
                    .map(|(_, info)| info.approvers)
            })
            .fold(1, u32::max)
    }

    /// Decides on the actions classified from `envelope`: the strictest verdict over all actions.
    pub fn decide(&self, envelope: &Envelope, actions: Vec<Action>) -> Decision {
        let mut verdict = Verdict::Allow;
        let mut mitigation = Mitigation::None;
        let mut reasons: Vec<(Verdict, Reason)> = Vec::new();
        // Actions that agree on everything the policy reads get the same answer: evaluate each once.
        let mut judged: BTreeMap<Seen<'_>, Option<(Verdict, &RuleInfo)>> = BTreeMap::new();
        for action in &actions {
            let seen = self.seen(envelope, action);
            let judgement = *judged
                .entry(seen)
                .or_insert_with_key(|seen| self.judge(seen));
            let Some((action_verdict, rule)) = judgement else {
                // INVARIANT: an action the policy could not be evaluated on is held, never allowed.
                verdict = verdict.max(Verdict::Ask);
                reasons.push((
                    Verdict::Ask,
                    reason(
                        action,
                        NO_POLICY,
                        "the policy could not be evaluated on this action",
                    ),
                ));
                continue;
            };
            if action_verdict > Verdict::Allow {
                reasons.push((action_verdict, reason(action, &rule.id, &rule.reason)));
                mitigation = mitigation.max(rule.mitigation);
            }
            verdict = verdict.max(action_verdict);
        }
        // The strictest reasons first; within a verdict, the order the actions were found.
        reasons.sort_by_key(|(v, _)| std::cmp::Reverse(*v));
        let reasons = reasons.into_iter().map(|(_, r)| r).collect();
        if verdict == Verdict::Deny {
            mitigation = Mitigation::None;
        }
        Decision {
            verdict,
            reasons,
            actions,
            mitigation,
        }
    }

    /// What the policy sees of one action: the parts of its Cedar request that some rule reads.
    fn seen<'a>(&self, envelope: &'a Envelope, action: &'a Action) -> Seen<'a> {
        let agent = envelope.context.agent.as_deref().unwrap_or("unknown");
        let environment = action
            .environment
            .as_deref()
            .or(envelope.context.environment.as_deref())
            .unwrap_or("unknown");
        let mut facts: Facts<'a> = [
            action.kind.as_str(),
            envelope.request.kind().as_str(),
            action.effect.as_str(),
            action.reversibility.as_str(),
            action.blast_radius.as_str(),
            environment,
            action.severity.as_str(),
            &action.evidence.rule,
            &action.evidence.name,
            &action.evidence.family,
            &action.target,
            agent,
        ];
        for (index, fact) in facts.iter_mut().enumerate() {
            if !self.reads.reads_fact(index) {
                *fact = "";
            }
        }
        Seen {
            agent,
            kind: action.kind,
            resource: if self.reads.reads_resource() {
                &action.target
            } else {
                ANY_TARGET
            },
            facts,
        }
    }

    /// The verdict for what the policy sees of one action and the policy rule that gave it; `None` if
    /// Cedar could not evaluate.
    fn judge(&self, seen: &Seen<'_>) -> Option<(Verdict, &RuleInfo)> {
        // The rules that can fire on this request and the facts they read (the same answer, fewer
        // evaluations and a smaller context); the exceptions see every fact read.
        let subset = self.prefilter.subset(seen.kind, &seen.facts, self.reads);
        let (rules, facts) = match &subset {
            Some((set, facts)) if self.exceptions.is_empty() => (set.as_ref(), *facts),
            Some((set, _)) => (set.as_ref(), FactMask::MAX),
            None => (&self.rules, FactMask::MAX),
        };
        let request = self.cedar_request(seen, facts)?;
        let authorizer = Authorizer::new();
        let entities = Entities::empty();
        if !self.exceptions.is_empty() {
            let response = authorizer.is_authorized(&request, &self.exceptions, &entities);
            if response.decision() == CedarDecision::Allow {
                let fired: BTreeSet<&PolicyId> = response.diagnostics().reason().collect();
                let (_, first) = self
                    .exception_infos
                    .iter()
                    .find(|(id, _)| fired.contains(id))?;
                return Some((Verdict::Allow, first));
            }
        }
        let response = authorizer.is_authorized(&request, rules, &entities);
        if response.diagnostics().errors().next().is_some() {
            return None;
        }
        // The strictest rule that fired; among equals, the first in policy order (user rules, then the
        // default file's order), so the reason shown is deterministic and the most specific one.
        let fired: BTreeSet<&PolicyId> = response.diagnostics().reason().collect();
        let mut best: Option<&RuleInfo> = None;
        for (_, info) in self.rule_infos.iter().filter(|(id, _)| fired.contains(id)) {
            if best.is_none_or(|b| info.verdict > b.verdict) {
                best = Some(info);
            }
        }
        let best = best?;
        match response.decision() {
            CedarDecision::Allow => Some((Verdict::Allow, best)),
            CedarDecision::Deny => Some((best.verdict.max(Verdict::Ask), best)),
        }
    }

    /// The Cedar action of an action kind.
    fn cedar_action(&self, kind: RequestKind) -> Option<EntityUid> {
        let slot = KINDS.iter().position(|k| *k == kind)?;
        self.actions.get(slot).cloned()
    }

    /// The Cedar request: principal the agent, action the kind, resource the target, and as context the
    /// facts some rule reads (of those in `facts`, one bit per fact).
    fn cedar_request(&self, seen: &Seen<'_>, facts: FactMask) -> Option<CedarRequest> {
        let principal =
            EntityUid::from_type_name_and_id(self.agent_type.clone()?, EntityId::new(seen.agent));
        let cedar_action = self.cedar_action(seen.kind)?;
        let resource = EntityUid::from_type_name_and_id(
            self.target_type.clone()?,
            EntityId::new(seen.resource),
        );
        let pairs = FACTS
            .iter()
            .zip(seen.facts)
            .enumerate()
            .filter(|(index, _)| self.reads.reads_fact(*index) && facts & (1 << index) != 0)
            .map(|(_, (name, value))| {
                (
                    (*name).to_string(),
                    RestrictedExpression::new_string(value.to_string()),
                )
            });
        let context = Context::from_pairs(pairs).ok()?;
        CedarRequest::new(principal, cedar_action, resource, context, None).ok()
    }
}

/// What the policy sees of one action (see [`Reads`]); equal for two actions ⇒ the same Cedar request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Seen<'a> {
    agent: &'a str,
    kind: RequestKind,
    resource: &'a str,
    /// The facts, `""` for those no rule reads.
    facts: Facts<'a>,
}

/// Validates `set` against the schema in strict mode.
fn validate(source_name: &str, set: &PolicySet) -> Result<(), EngineError> {
    let invalid = |message: String| EngineError::PolicyInvalid {
        source_name: source_name.to_string(),
        message,
    };
    let (schema, _warnings) =
        Schema::from_cedarschema_str(SCHEMA).map_err(|e| invalid(format!("schema: {e}")))?;
    let result = Validator::new(schema).validate(set, ValidationMode::Strict);
    if let Some(first) = result.validation_errors().next() {
        let count = result.validation_errors().count();
        return Err(invalid(format!(
            "{first} ({count} validation error(s) in all)"
        )));
    }
    Ok(())
}

/// Parses a policy text, gives every rule a unique Cedar id (`<prefix>:<@id>`), and checks airlock's
/// conventions: `@id`, `@verdict` and `@reason` on every rule, `allow` only on `permit`, `ask`/`deny`
/// only on `forbid`, a valid `@mitigation`, no `@id` twice, no templates.
fn parse_checked(
    source_name: &str,
    text: &str,
    prefix: &str,
) -> Result<Vec<cedar_policy::Policy>, EngineError> {
    let parsed = PolicySet::from_str(text).map_err(|e| EngineError::PolicyParse {
        source_name: source_name.to_string(),
        message: e.to_string(),
    })?;
    let invalid = |message: String| EngineError::PolicyInvalid {
        source_name: source_name.to_string(),
        message,
    };
    if parsed.templates().next().is_some() {
        return Err(invalid(
            "templates are not supported; write plain rules".to_string(),
        ));
    }
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for policy in parsed.policies() {
        let notes = annotations(policy);
        let Some(id) = notes.get("id").copied() else {
            return Err(invalid(format!(
                "a rule has no @id: `{}`",
                first_line(&policy.to_string())
            )));
        };
        if !seen.insert(id.to_string()) {
            return Err(invalid(format!("@id(\"{id}\") is used twice")));
        }
        let verdict = match notes.get("verdict").copied() {
            Some("allow") => Verdict::Allow,
            Some("ask") => Verdict::Ask,
            Some("deny") => Verdict::Deny,
            Some(other) => {
                return Err(invalid(format!(
                    "rule `{id}`: @verdict(\"{other}\") must be allow, ask or deny"
                )));
            }
            None => return Err(invalid(format!("rule `{id}` has no @verdict"))),
        };
        let is_permit = policy.effect() == cedar_policy::Effect::Permit;
        if is_permit != (verdict == Verdict::Allow) {
            return Err(invalid(format!(
                "rule `{id}`: a permit must have @verdict(\"allow\") and a forbid @verdict(\"ask\") or @verdict(\"deny\")"
            )));
        }
        if notes.get("reason").copied().is_none_or(str::is_empty) {
            return Err(invalid(format!("rule `{id}` has no @reason")));
        }
        if let Some(n) = notes.get("approvers").copied()
            && parse_approvers(n).is_none()
        {
            return Err(invalid(format!(
                "rule `{id}`: @approvers(\"{n}\") must be a whole number from 1 to {MAX_APPROVERS}"
            )));
        }
        if let Some(m) = notes.get("mitigation").copied()
            && parse_mitigation(m).is_none()
        {
            return Err(invalid(format!(
                "rule `{id}`: @mitigation(\"{m}\") must be none, snapshot, soft_delete or defer"
            )));
        }
        out.push(policy.new_id(PolicyId::new(format!("{prefix}:{id}"))));
    }
    Ok(out)
}

/// The policies as one Cedar set.
fn policy_set(
    source_name: &str,
    policies: &[cedar_policy::Policy],
) -> Result<PolicySet, EngineError> {
    PolicySet::from_policies(policies.iter().cloned()).map_err(|e| EngineError::PolicyInvalid {
        source_name: source_name.to_string(),
        message: e.to_string(),
    })
}

fn first_line(text: &str) -> &str {
    text.lines()
        .find(|l| !l.trim().is_empty() && !l.trim_start().starts_with('@'))
        .unwrap_or(text)
        .trim()
}

/// The most approvers a rule may ask for.
const MAX_APPROVERS: u32 = 10;

fn parse_approvers(text: &str) -> Option<u32> {
    text.trim()
        .parse::<u32>()
        .ok()
        .filter(|n| (1..=MAX_APPROVERS).contains(n))
}

fn parse_mitigation(text: &str) -> Option<Mitigation> {
    match text {
        "none" => Some(Mitigation::None),
        "snapshot" => Some(Mitigation::Snapshot),
        "soft_delete" => Some(Mitigation::SoftDelete),
        "defer" => Some(Mitigation::Defer),
        _ => None,
    }
}

/// A policy's annotations. (`Policy::annotation(key)` parses `key` on every call, which costs more than
/// reading them all once.)
fn annotations(policy: &cedar_policy::Policy) -> BTreeMap<&str, &str> {
    policy.annotations().collect()
}

fn rule_info(policy: &cedar_policy::Policy) -> RuleInfo {
    rule_info_from(&annotations(policy))
}

/// What a rule's annotations say.
fn rule_info_from(notes: &BTreeMap<&str, &str>) -> RuleInfo {
    let verdict = match notes.get("verdict").copied() {
        Some("allow") => Verdict::Allow,
        Some("deny") => Verdict::Deny,
        // INVARIANT: conventions are checked at load; anything else is treated as ask.
        _ => Verdict::Ask,
    };
    RuleInfo {
        id: notes.get("id").copied().unwrap_or(NO_POLICY).to_string(),
        verdict,
        reason: notes.get("reason").copied().unwrap_or_default().to_string(),
        mitigation: notes
            .get("mitigation")
            .copied()
            .and_then(parse_mitigation)
            .unwrap_or_default(),
        approvers: notes
            .get("approvers")
            .copied()
            .and_then(parse_approvers)
            .unwrap_or(1),
    }
}

fn reason(action: &Action, policy: &str, policy_reason: &str) -> Reason {
    let evidence = &action.evidence;
    Reason {
        rule: evidence.rule.clone(),
        policy: policy.to_string(),
        message: format!(
            "{} on {}: {} [policy {policy}: {policy_reason}]",
            evidence.name, action.target, evidence.message
        ),
        span: evidence.span,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::action::{BlastRadius, Effect, Evidence, Reversibility};
    use crate::request::{Request, RequestKind, ShellRequest};

    fn action(
        effect: Effect,
        severity: Verdict,
        blast: BlastRadius,
        environment: Option<&str>,
    ) -> Action {
        Action {
            kind: RequestKind::Shell,
            target: "t".to_string(),
            effect,
            reversibility: Reversibility::Irreversible,
            blast_radius: blast,
            environment: environment.map(str::to_string),
            severity,
            evidence: Evidence {
                rule: "TST001".into(),
                name: "test".into(),
                family: "shell-fs".into(),
                message: "because".into(),
                span: None,
            },
        }
    }

    fn envelope() -> Envelope {
        Envelope::new(Request::Shell(ShellRequest {
            command: "x".into(),
            shell: None,
        }))
    }

    /// Actions over every value the default policy tells apart, and some it does not.
    fn varied_actions() -> Vec<Action> {
        let mut out = Vec::new();
        let effects = [
            Effect::Read,
            Effect::Write,
            Effect::Delete,
            Effect::Exfiltrate,
            Effect::Execute,
            Effect::Admin,
            Effect::Unknown,
        ];
        let blasts = [
            BlastRadius::Resource,
            BlastRadius::Project,
            BlastRadius::Account,
            BlastRadius::Host,
        ];
        let families = [
            "shell-fs",
            "git",
            "sql",
            "http-railway",
            "airlock-self",
            "login-keys",
            "",
        ];
        let environments = [None, Some("production"), Some("staging")];
        for (i, effect) in effects.into_iter().enumerate() {
            for (j, blast) in blasts.into_iter().enumerate() {
                for (k, family) in families.into_iter().enumerate() {
                    for severity in [Verdict::Allow, Verdict::Ask, Verdict::Deny] {
                        let mut a = action(effect, severity, blast, environments[(i + j) % 3]);
                        a.kind = KINDS[(i + j + k) % KINDS.len()];
                        a.evidence.family = family.to_string();
                        a.evidence.rule = format!("R{}", (i + k) % 3);
                        a.target = format!("t{}", (j + k) % 2);
                        out.push(a);
                    }
                }
            }
        }
        out
    }

    /// The decision as it was made before actions shared evaluations and facts no rule reads were left
    /// out: one full Cedar request per action.
    fn reference(policy: &Policy, envelope: &Envelope, actions: Vec<Action>) -> Decision {
        let full = Policy {
            reads: Reads::ALL,
            prefilter: Prefilter::off(),
            ..policy.clone()
        };
        let mut verdict = Verdict::Allow;
        let mut mitigation = Mitigation::None;
        let mut reasons = Vec::new();
        for action in &actions {
            let one = full.decide(envelope, vec![action.clone()]);
            verdict = verdict.max(one.verdict);
            mitigation = mitigation.max(one.mitigation);
            reasons.extend(one.reasons.into_iter().map(|r| (one.verdict, r)));
        }
        reasons.sort_by_key(|(v, _)| std::cmp::Reverse(*v));
        if verdict == Verdict::Deny {
            mitigation = Mitigation::None;
        }
        Decision {
            verdict,
            reasons: reasons.into_iter().map(|(_, r)| r).collect(),
            actions,
            mitigation,
        }
    }

    #[test]
    fn shared_evaluations_and_unread_facts_change_no_decision() {
        let user = r#"
            @id("tests-may-clean")
            @verdict("allow")
            @reason("the test agent may delete scratch targets")
            permit (principal == Airlock::Agent::"tester", action, resource == Airlock::Target::"t1")
            when { context.rule == "R1" };
            @id("no-agent-on-t0")
            @verdict("deny")
            @reason("t0 is off limits to the unknown agent")
            forbid (principal, action, resource)
            when { context.target == "t0" && context.agent == "unknown" && context.effect == "write" };
        "#;
        let policies = [
            Policy::default_policy().unwrap(),
            Policy::with_user_policy("user.cedar", user).unwrap(),
        ];
        assert!(
            !policies[0].reads.reads_resource() && policies[1].reads.reads_resource(),
            "the two policies read different parts of the request"
        );
        let actions = varied_actions();
        for policy in &policies {
            for agent in [None, Some("tester")] {
                let mut envelope = envelope();
                envelope.context.agent = agent.map(str::to_string);
                // One action at a time, and many at once (where evaluations are shared).
                for action in &actions {
                    assert_eq!(
                        policy.decide(&envelope, vec![action.clone()]),
                        reference(policy, &envelope, vec![action.clone()]),
                        "{action:?}"
                    );
                }
                for batch in actions.chunks(37) {
                    assert_eq!(
                        policy.decide(&envelope, batch.to_vec()),
                        reference(policy, &envelope, batch.to_vec())
                    );
                }
            }
        }
    }

    /// The default rules test the action kind in `when` (`action == Airlock::Action::"sql"`), which Cedar
    /// evaluates faster than an `action in [...]` scope; they decide exactly as the scoped form did.
    #[test]
    fn kind_tests_in_when_decide_as_action_scopes_did() {
        let scoped = r#"
            @id("local-delete-needs-approval")
            @verdict("ask")
            @mitigation("snapshot")
            @reason("scoped")
            forbid (principal, action in [Airlock::Action::"shell", Airlock::Action::"file"], resource)
            when {
              context.severity == "ask" &&
              (context.effect == "delete" || context.effect == "write") &&
              ["shell-fs", "paths", "file", "git", "windows", "shell-exec"].contains(context.family)
            };
            @id("sql-delete-needs-approval")
            @verdict("ask")
            @mitigation("soft_delete")
            @reason("scoped")
            forbid (principal, action == Airlock::Action::"sql", resource)
            when { context.severity == "ask" && context.effect == "delete" };
            @id("remote-delete-needs-approval")
            @verdict("ask")
            @mitigation("defer")
            @reason("scoped")
            forbid (principal, action in [Airlock::Action::"http", Airlock::Action::"mcp"], resource)
            when { context.severity == "ask" && context.effect == "delete" };
        "#;
        let default = Policy::default_policy().unwrap();
        let old = Policy::with_user_policy("scoped.cedar", scoped).unwrap();
        let envelope = envelope();
        let mut checked = 0;
        for mut action in varied_actions() {
            for family in [
                "paths",
                "file",
                "windows",
                "login-keys",
                "http-railway",
                "sql",
            ] {
                action.evidence.family = family.to_string();
                let (new, was) = (
                    default.decide(&envelope, vec![action.clone()]),
                    old.decide(&envelope, vec![action.clone()]),
                );
                assert_eq!(new.verdict, was.verdict, "{action:?}");
                assert_eq!(new.mitigation, was.mitigation, "{action:?}");
                let policies = |d: &Decision| -> Vec<String> {
                    d.reasons.iter().map(|r| r.policy.clone()).collect()
                };
                assert_eq!(policies(&new), policies(&was), "{action:?}");
                checked += 1;
            }
        }
        assert!(checked > 1000, "{checked}");
    }

    /// The default policy as loaded (built by generated code, see `policy/compiled.rs`) decides exactly as
    /// the default policy parsed from its text.
    #[test]
    fn the_compiled_default_decides_as_the_parsed_text() {
        let parsed = parse_checked("default.cedar", DEFAULT_POLICY, "default")
            .unwrap()
            .into_iter()
            .map(|p| {
                let info = rule_info(&p);
                (p, info)
            })
            .collect();
        let text = Policy::assemble(parsed, Vec::new(), Reads::of_text(DEFAULT_POLICY)).unwrap();
        let compiled = Policy::default_policy().unwrap();
        assert_eq!(compiled.rules(), text.rules());
        assert_eq!(compiled.reads, text.reads);
        let mut decided = 0;
        for agent in [None, Some("tester")] {
            let mut envelope = envelope();
            envelope.context.agent = agent.map(str::to_string);
            for action in varied_actions() {
                let (new, old) = (
                    compiled.decide(&envelope, vec![action.clone()]),
                    text.decide(&envelope, vec![action.clone()]),
                );
                assert_eq!(new, old, "{action:?}");
                assert_eq!(
                    compiled.required_approvers(&new),
                    text.required_approvers(&old)
                );
                decided += 1;
            }
            for batch in varied_actions().chunks(23) {
                assert_eq!(
                    compiled.decide(&envelope, batch.to_vec()),
                    text.decide(&envelope, batch.to_vec())
                );
            }
        }
        assert!(decided > 1000, "{decided}");
    }

    #[test]
    fn default_policy_validates_against_the_schema() {
        assert!(Policy::check("default.cedar", DEFAULT_POLICY).unwrap() >= 10);
    }

    #[test]
    fn no_actions_is_allow_and_the_strictest_action_wins() {
        let policy = Policy::default_policy().unwrap();
        assert_eq!(policy.decide(&envelope(), vec![]).verdict, Verdict::Allow);
        let ask = action(Effect::Delete, Verdict::Ask, BlastRadius::Resource, None);
        let d = policy.decide(&envelope(), vec![ask.clone()]);
        assert_eq!(d.verdict, Verdict::Ask);
        assert_eq!(d.reasons[0].policy, "local-delete-needs-approval");
        assert_eq!(d.mitigation, Mitigation::Snapshot);
        let deny = action(Effect::Delete, Verdict::Deny, BlastRadius::Resource, None);
        let d = policy.decide(&envelope(), vec![ask, deny]);
        assert_eq!(d.verdict, Verdict::Deny);
        assert_eq!(
            d.reasons[0].policy, "catalogue-deny",
            "deny reasons come first"
        );
        assert_eq!(d.mitigation, Mitigation::None);
    }

    #[test]
    fn production_project_delete_is_denied_but_staging_is_held() {
        let policy = Policy::default_policy().unwrap();
        let prod = action(
            Effect::Delete,
            Verdict::Ask,
            BlastRadius::Project,
            Some("production"),
        );
        assert_eq!(
            policy.decide(&envelope(), vec![prod]).verdict,
            Verdict::Deny
        );
        let staging = action(
            Effect::Delete,
            Verdict::Ask,
            BlastRadius::Project,
            Some("staging"),
        );
        assert_eq!(
            policy.decide(&envelope(), vec![staging]).verdict,
            Verdict::Ask
        );
    }

    #[test]
    fn unknown_effect_is_held() {
        let policy = Policy::default_policy().unwrap();
        let unknown = action(Effect::Unknown, Verdict::Ask, BlastRadius::Resource, None);
        assert_eq!(
            policy.decide(&envelope(), vec![unknown]).verdict,
            Verdict::Ask
        );
    }

    #[test]
    fn user_rule_replaces_a_default_by_id_and_exceptions_allow() {
        let user = r#"
            @id("local-delete-needs-approval")
            @verdict("ask")
            @reason("off")
            forbid (principal, action, resource) when { false };
            @id("tests-may-clean")
            @verdict("allow")
            @reason("the test agent may delete local scratch files")
            permit (principal == Airlock::Agent::"tester", action == Airlock::Action::"shell", resource)
            when { context.effect == "delete" && context.severity == "ask" };
        "#;
        let policy = Policy::with_user_policy("user.cedar", user).unwrap();
        let ask = action(Effect::Delete, Verdict::Ask, BlastRadius::Resource, None);
        let d = policy.decide(&envelope(), vec![ask.clone()]);
        assert_eq!(
            d.reasons[0].policy, "catalogue-ask",
            "the replaced rule no longer fires"
        );
        let mut tester = envelope();
        tester.context.agent = Some("tester".into());
        assert_eq!(policy.decide(&tester, vec![ask]).verdict, Verdict::Allow);
    }

    #[test]
    fn approvers_annotation_sets_the_two_person_rule_and_is_checked() {
        let policy = Policy::with_user_policy(
            "user.cedar",
            r#"@id("two") @verdict("ask") @approvers("2") @reason("r")
forbid (principal, action, resource) when { context.effect == "delete" };"#,
        )
        .unwrap();
        let ask = policy.decide(
            &envelope(),
            vec![action(
                Effect::Delete,
                Verdict::Ask,
                BlastRadius::Resource,
                None,
            )],
        );
        assert_eq!(ask.verdict, Verdict::Ask);
        assert!(ask.reasons.iter().any(|r| r.policy == "two"), "{ask:?}");
        assert_eq!(policy.required_approvers(&ask), 2);
        let allow = policy.decide(&envelope(), Vec::new());
        assert_eq!(policy.required_approvers(&allow), 1);
        for bad in ["0", "eleven", "11"] {
            let text = format!(
                r#"@id("x") @verdict("ask") @approvers("{bad}") @reason("r") forbid (principal, action, resource);"#
            );
            let err = Policy::with_user_policy("user.cedar", &text).unwrap_err();
            assert!(err.to_string().contains("@approvers"), "{err}");
        }
    }

    #[test]
    fn bad_user_policies_refuse_to_load_with_a_clear_message() {
        let cases = [
            ("forbid (principal, action, resource", "does not parse"),
            (
                "@verdict(\"ask\") @reason(\"r\") forbid (principal, action, resource);",
                "has no @id",
            ),
            (
                "@id(\"x\") @verdict(\"maybe\") @reason(\"r\") forbid (principal, action, resource);",
                "must be allow, ask or deny",
            ),
            (
                "@id(\"x\") @verdict(\"allow\") @reason(\"r\") forbid (principal, action, resource);",
                "a permit must have",
            ),
            (
                "@id(\"x\") @verdict(\"ask\") forbid (principal, action, resource);",
                "has no @reason",
            ),
            (
                "@id(\"x\") @verdict(\"ask\") @reason(\"r\") forbid (principal, action, resource) when { context.nope == \"a\" };",
                "invalid",
            ),
            (
                "@id(\"x\") @verdict(\"ask\") @reason(\"r\") @mitigation(\"pray\") forbid (principal, action, resource);",
                "@mitigation",
            ),
        ];
        for (text, expected) in cases {
            let err = Policy::with_user_policy("user.cedar", text)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(expected),
                "policy {text:?}: error {err:?} should mention {expected:?}"
            );
            assert!(err.contains("user.cedar"), "error names the file: {err}");
        }
    }
}
