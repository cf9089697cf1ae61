//! A cheap prefilter in front of Cedar: rules that cannot fire on a request are left out of the set Cedar
//! evaluates. Cedar evaluates every rule of a set (~5K instructions each); most rules of the default policy
//! open with a test on one fact (`context.effect == "delete" && …`), which fails for most actions.
//!
//! From each rule's structure (Cedar's PST, read once at load) we take its *guard*: the leading conjuncts
//! of its conditions that are simple tests of one fact or of the action, each of which Cedar evaluates
//! without error whenever the fact is in the context:
//!
//! - `context.F == "s"` (either side), `["s", …].contains(context.F)`, `action == Airlock::Action::"k"`,
//! - a disjunction (`||`) of such tests on the same fact or on the action.
//!
//! Cedar evaluates a rule as `scope && c1 && c2 && …` left to right and stops at the first `false`; the
//! scope cannot error. So when one of the guard's tests is false and every test before it could be
//! evaluated, the rule is false without error, and Cedar's answer (decision, rules that fired, errors) is
//! the same without it. Guards are taken only from a rule with one condition clause, or from one whose
//! conjuncts are all simple (then their order does not matter). A test of a fact not in the context is not
//! evaluated here and ends the guard at that point (Cedar reports the error).
//!
//! The context of such an evaluation holds only the facts the rules in it read (Cedar's answer on those rules
//! cannot depend on the others). The sets of rules that pass are made on first use and kept (at most
//! [`MAX_SETS`]).

use std::sync::{Arc, Mutex};

use cedar_policy::PolicySet;
use cedar_policy::pst::{self, BinaryOp, Clause, Expr, Literal, Var};

use super::reads::{FACTS, Facts, Reads};
use crate::request::RequestKind;

/// Most subsets kept; past that a subset is made per evaluation (still exact, only slower).
const MAX_SETS: usize = 64;

/// Most rules the prefilter handles (one bit each); a policy with more is evaluated whole.
const MAX_RULES: usize = 64;

/// What a test looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Subject {
    /// `context.<FACTS[i]>`.
    Fact(usize),
    /// The action kind (`action == Airlock::Action::"<kind>"`).
    Kind,
}

/// One conjunct of a guard: the subject equals one of `values`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Test {
    subject: Subject,
    values: Vec<String>,
}

/// The guard of one rule: tests that must all hold for the rule to fire; empty = always evaluate.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Guard {
    tests: Vec<Test>,
}

/// The facts of [`FACTS`] some rules read, one bit each (bit `i` for `FACTS[i]`).
pub(super) type FactMask = u16;

/// A subset of the rules and the facts they read.
pub(super) type Subset = (Arc<PolicySet>, FactMask);

/// The rules' guards and the subsets of rules made so far.
#[derive(Debug, Clone)]
pub(super) struct Prefilter {
    /// The rules in policy order with their guards and the facts they read; empty when the prefilter is off.
    rules: Vec<(Guard, FactMask, cedar_policy::Policy)>,
    /// Subsets made so far, by the bit mask of the rules they hold.
    sets: Arc<Mutex<Vec<(u64, Subset)>>>,
}

impl Prefilter {
    /// Guards for `rules` (in policy order).
    pub(super) fn new(rules: &[cedar_policy::Policy]) -> Self {
        if rules.len() > MAX_RULES {
            return Self::off();
        }
        Self {
            rules: rules
                .iter()
                .map(|p| (guard_of(p), facts_read(p), p.clone()))
                .collect(),
            sets: Arc::default(),
        }
    }

    /// No prefilter: every evaluation uses the whole set.
    pub(super) fn off() -> Self {
        Self {
            rules: Vec::new(),
            sets: Arc::default(),
        }
    }

    /// The rules that can fire on a request with these facts (`""` for a fact not in the context) and
    /// the facts they read, or `None` when that is every rule (or the prefilter is off): then evaluate the
    /// whole set.
    pub(super) fn subset(
        &self,
        kind: RequestKind,
        facts: &Facts<'_>,
        reads: Reads,
    ) -> Option<Subset> {
        if self.rules.is_empty() {
            return None;
        }
        let mut mask = 0u64;
        let mut all = true;
        for (bit, (guard, _, _)) in self.rules.iter().enumerate() {
            if guard.may_fire(kind, facts, reads) {
                mask |= 1 << bit;
            } else {
                all = false;
            }
        }
        if all {
            return None;
        }
        if let Ok(sets) = self.sets.lock()
            && let Some((_, (set, read))) = sets.iter().find(|(m, _)| *m == mask)
        {
            return Some((Arc::clone(set), *read));
        }
        let chosen: Vec<_> = self
            .rules
            .iter()
            .enumerate()
            .filter(|(bit, _)| mask & (1 << bit) != 0)
            .map(|(_, rule)| rule)
            .collect();
        let read = chosen.iter().fold(0, |read, (_, facts, _)| read | facts);
        let set =
            Arc::new(PolicySet::from_policies(chosen.into_iter().map(|(_, _, p)| p.clone())).ok()?);
        if let Ok(mut sets) = self.sets.lock()
            && sets.len() < MAX_SETS
        {
            sets.push((mask, (Arc::clone(&set), read)));
        }
        Some((set, read))
    }
}

impl Guard {
    /// False only when some test fails and every test before it could be evaluated.
    fn may_fire(&self, kind: RequestKind, facts: &Facts<'_>, reads: Reads) -> bool {
        for test in &self.tests {
            let value = match test.subject {
                Subject::Kind => kind.as_str(),
                Subject::Fact(index) => {
                    if !reads.reads_fact(index) {
                        // Not in the context: Cedar reports an error here; let it.
                        return true;
                    }
                    let Some(value) = facts.get(index) else {
                        return true;
                    };
                    value
                }
            };
            if !test.values.iter().any(|v| v == value) {
                return false;
            }
        }
        true
    }
}

/// The guard of a rule (see the module doc); empty when nothing can be said.
fn guard_of(policy: &cedar_policy::Policy) -> Guard {
    let Ok(pst) = policy.to_pst() else {
        return Guard::default();
    };
    let body = match &pst {
        pst::Policy::Static(p) => p.body(),
        pst::Policy::Linked(p) => p.body(),
    };
    let mut conjuncts: Vec<&Expr> = Vec::new();
    let mut other = false;
    for clause in body.clauses() {
        match clause {
            Clause::When(e) => flatten_and(e, &mut conjuncts),
            Clause::Unless(_) => other = true,
        }
    }
    let several = body.clauses().len() > 1;
    let mut tests = Vec::new();
    for conjunct in conjuncts {
        match simple_test(conjunct) {
            Some(test) => tests.push(test),
            None => {
                other = true;
                break;
            }
        }
    }
    if several && other {
        // The order Cedar joins several clauses in is not ours to rely on.
        return Guard::default();
    }
    Guard { tests }
}

/// The facts a rule reads: `context.F` and `context has F` read `F`; `context` used any other way reads
/// every fact (so does a rule whose structure cannot be read).
fn facts_read(policy: &cedar_policy::Policy) -> FactMask {
    let Ok(pst) = policy.to_pst() else {
        return FactMask::MAX;
    };
    let body = match &pst {
        pst::Policy::Static(p) => p.body(),
        pst::Policy::Linked(p) => p.body(),
    };
    let mut read = 0;
    for clause in body.clauses() {
        let (Clause::When(e) | Clause::Unless(e)) = clause;
        note_reads(e, &mut read);
    }
    read
}

fn note_reads(expr: &Expr, read: &mut FactMask) {
    let fact_bit = |attr: &str| {
        FACTS
            .iter()
            .position(|f| *f == attr)
            .map_or(0, |index| 1 << index)
    };
    match expr {
        Expr::Var(Var::Context) => *read = FactMask::MAX,
        Expr::GetAttr { expr, attr } if matches!(expr.as_ref(), Expr::Var(Var::Context)) => {
            *read |= fact_bit(attr);
        }
        Expr::HasAttr { expr, attrs } if matches!(expr.as_ref(), Expr::Var(Var::Context)) => {
            *read |= fact_bit(attrs.first());
        }
        Expr::Literal(_) | Expr::Var(_) | Expr::Slot(_) | Expr::Unknown { .. } => {}
        Expr::UnaryOp { expr, .. }
        | Expr::GetAttr { expr, .. }
        | Expr::HasAttr { expr, .. }
        | Expr::Like { expr, .. } => note_reads(expr, read),
        Expr::Is { expr, in_expr, .. } => {
            note_reads(expr, read);
            if let Some(in_expr) = in_expr {
                note_reads(in_expr, read);
            }
        }
        Expr::BinaryOp { left, right, .. } => {
            note_reads(left, read);
            note_reads(right, read);
        }
        Expr::IfThenElse {
            cond,
            then_expr,
            else_expr,
        } => {
            note_reads(cond, read);
            note_reads(then_expr, read);
            note_reads(else_expr, read);
        }
        Expr::Set(items) => items.iter().for_each(|item| note_reads(item, read)),
        Expr::Record(fields) => fields.values().for_each(|v| note_reads(v, read)),
        #[allow(unreachable_patterns, reason = "variants behind Cedar features")]
        _ => *read = FactMask::MAX,
    }
}

/// `a && b && c` as `[a, b, c]`, left to right.
fn flatten_and<'e>(expr: &'e Expr, out: &mut Vec<&'e Expr>) {
    match expr {
        Expr::BinaryOp {
            op: BinaryOp::And,
            left,
            right,
        } => {
            flatten_and(left, out);
            flatten_and(right, out);
        }
        _ => out.push(expr),
    }
}

/// A conjunct Cedar evaluates without error (given its fact is in the context) as one [`Test`].
fn simple_test(expr: &Expr) -> Option<Test> {
    match expr {
        Expr::BinaryOp {
            op: BinaryOp::Or,
            left,
            right,
        } => {
            let (left, right) = (simple_test(left)?, simple_test(right)?);
            (left.subject == right.subject).then(|| Test {
                subject: left.subject,
                values: left.values.into_iter().chain(right.values).collect(),
            })
        }
        Expr::BinaryOp {
            op: BinaryOp::Eq,
            left,
            right,
        } => equality(left, right).or_else(|| equality(right, left)),
        Expr::BinaryOp {
            op: BinaryOp::Contains,
            left,
            right,
        } => {
            let Expr::Set(items) = left.as_ref() else {
                return None;
            };
            let subject = Subject::Fact(context_fact(right)?);
            let values = items
                .iter()
                .map(|item| string_literal(item).map(str::to_string))
                .collect::<Option<Vec<_>>>()?;
            Some(Test { subject, values })
        }
        _ => None,
    }
}

/// `subject == literal` as a test.
fn equality(subject: &Expr, literal: &Expr) -> Option<Test> {
    match subject {
        Expr::Var(Var::Action) => {
            let Expr::Literal(Literal::EntityUID(uid)) = literal else {
                return None;
            };
            (uid.ty.0.to_string() == "Airlock::Action").then(|| Test {
                subject: Subject::Kind,
                values: vec![uid.eid.to_string()],
            })
        }
        _ => Some(Test {
            subject: Subject::Fact(context_fact(subject)?),
            values: vec![string_literal(literal)?.to_string()],
        }),
    }
}

/// `context.F` for a fact `F`: its index in [`FACTS`].
fn context_fact(expr: &Expr) -> Option<usize> {
    let Expr::GetAttr { expr, attr } = expr else {
        return None;
    };
    if !matches!(expr.as_ref(), Expr::Var(Var::Context)) {
        return None;
    }
    FACTS.iter().position(|f| *f == attr.as_str())
}

fn string_literal(expr: &Expr) -> Option<&str> {
    match expr {
        Expr::Literal(Literal::String(s)) => Some(s.as_str()),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use std::str::FromStr;

    use super::*;

    fn guard(text: &str) -> Guard {
        guard_of(&cedar_policy::Policy::from_str(text).unwrap())
    }

    fn test(subject: Subject, values: &[&str]) -> Test {
        Test {
            subject,
            values: values.iter().map(|v| v.to_string()).collect(),
        }
    }

    const EFFECT: Subject = Subject::Fact(2);
    const FAMILY: Subject = Subject::Fact(9);

    #[test]
    fn guards_are_the_leading_simple_tests() {
        assert_eq!(
            guard(
                r#"forbid (principal, action, resource) when {
                  (action == Airlock::Action::"shell" || action == Airlock::Action::"file") &&
                  "delete" == context.effect &&
                  ["a", "b"].contains(context.family) && context.target like "x*" &&
                  context.severity == "ask" };"#
            )
            .tests,
            vec![
                test(Subject::Kind, &["shell", "file"]),
                test(EFFECT, &["delete"]),
                test(FAMILY, &["a", "b"]),
            ],
            "the test after a `like` is not part of the guard"
        );
        for none in [
            r#"permit (principal, action, resource);"#,
            r#"forbid (principal, action, resource) when { context.effect == "delete" || context.family == "x" };"#,
            r#"forbid (principal, action, resource) when { if context.effect == "a" then true else false };"#,
            r#"forbid (principal, action, resource) when { context.nope == "a" };"#,
            r#"forbid (principal, action, resource) when { action == Other::Action::"sql" };"#,
            r#"forbid (principal, action, resource) when { context.effect != "a" };"#,
            r#"forbid (principal, action, resource) when { [context.effect].contains("a") };"#,
            r#"forbid (principal, action, resource) when { context.effect == "a" } unless { context.family == "b" };"#,
        ] {
            assert_eq!(guard(none), Guard::default(), "{none}");
        }
        assert_eq!(
            guard(
                r#"forbid (principal, action, resource) when { context.effect == "a" } when { context.family == "b" };"#
            )
            .tests,
            vec![test(EFFECT, &["a"]), test(FAMILY, &["b"])],
            "several clauses whose conjuncts are all simple"
        );
    }

    #[test]
    fn a_test_on_a_fact_not_in_the_context_is_left_to_cedar() {
        let g = Guard {
            tests: vec![test(EFFECT, &["delete"]), test(FAMILY, &["x"])],
        };
        let mut facts: Facts<'_> = [""; FACTS.len()];
        facts[2] = "read";
        assert!(!g.may_fire(RequestKind::Shell, &facts, Reads::ALL));
        facts[2] = "delete";
        assert!(!g.may_fire(RequestKind::Shell, &facts, Reads::ALL));
        facts[9] = "x";
        assert!(g.may_fire(RequestKind::Shell, &facts, Reads::ALL));
        facts[2] = "read";
        let only_family = Reads::of_text("context.family");
        assert!(
            g.may_fire(RequestKind::Shell, &facts, only_family),
            "effect is not in the context: Cedar must see the rule"
        );
    }
}
