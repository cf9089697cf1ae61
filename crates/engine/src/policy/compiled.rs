//! The default policy as code: `default_rules.rs`, generated from `policies/default.cedar`, builds the same
//! Cedar rules through Cedar's policy structure tree (PST) without parsing text. Parsing the default policy
//! cost ~3.5M instructions at every engine start (a hook is a fresh process per call); this costs ~0.2M.
//!
//! The rules are built without Cedar annotations: Cedar converts each annotation's key with its text
//! parser (~3M instructions for the default policy's annotations). The annotations (`@id`, `@verdict`, `@reason`, …) are kept as
//! written next to each rule and read into its [`RuleInfo`], which is all the engine reads of them.
//!
//! A test checks that the generated file is what `policies/default.cedar` generates today and that its
//! rules equal the parsed text (ids, effect, scope, conditions and annotations); after editing the
//! policy, regenerate it with `AIRLOCK_REGENERATE=1 cargo test -p airlock-engine --lib compiled`.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::Arc;

use cedar_policy::pst::{
    ActionConstraint, BinaryOp, Clause, Effect, EntityType, EntityUID, Expr, Literal, NonEmpty,
    PatternElem, PolicyID, PrincipalConstraint, ResourceConstraint, SmolStr, StaticPolicy,
    Template, UnaryOp, Var,
};
use cedar_policy::{EntityId, EntityTypeName, EntityUid};

use super::reads::Reads;
use super::{RuleInfo, rule_info_from};
use crate::error::EngineError;

#[rustfmt::skip]
mod default_rules;

/// One rule of the default policy as written: its annotations (in key order) and its Cedar parts.
pub(super) struct Rule {
    /// `@name("value")` pairs, sorted by name.
    pub(super) annotations: &'static [(&'static str, &'static str)],
    pub(super) effect: Effect,
    pub(super) principal: PrincipalConstraint,
    pub(super) action: ActionConstraint,
    pub(super) resource: ResourceConstraint,
    /// `when` and `unless` clauses, in order.
    pub(super) conditions: Vec<Clause>,
}

/// The default policy's rules in file order, each with Cedar id `default:<@id>` (as
/// `Policy::default_policy` parsed them) and its [`RuleInfo`].
pub(super) fn default_rules() -> Result<Vec<(cedar_policy::Policy, RuleInfo)>, EngineError> {
    default_rules::rules()?
        .into_iter()
        .map(|rule| {
            let notes: BTreeMap<&str, &str> = rule.annotations.iter().copied().collect();
            let info = rule_info_from(&notes);
            let id = PolicyID(SmolStr::from(format!("default:{}", info.id)));
            let template =
                Template::new(id, rule.effect, rule.principal, rule.action, rule.resource)
                    .try_with_clauses(rule.conditions)
                    .map_err(invalid)?;
            let body = StaticPolicy::try_from(template).map_err(invalid)?;
            let policy = cedar_policy::Policy::from_pst(cedar_policy::pst::Policy::Static(body))
                .map_err(invalid)?;
            Ok((policy, info))
        })
        .collect()
}

/// What the default rules read (see `reads.rs`), found from the text when the code was generated.
pub(super) const DEFAULT_READS: Reads = default_rules::READS;

fn invalid(error: impl std::fmt::Display) -> EngineError {
    EngineError::PolicyInvalid {
        source_name: "default.cedar".to_string(),
        message: format!("the compiled default policy: {error}"),
    }
}

// ---- building blocks of the generated code ---------------------------------------------------------

/// An expression node.
type Node = Arc<Expr>;

/// The Cedar entity type `name` (e.g. `Airlock::Action`), checked by Cedar's name pattern rather than its
/// text parser (which `pst::Id::new` would start, ~0.9M instructions).
fn entity_type(name: &str) -> Result<EntityType, EngineError> {
    let type_name = EntityTypeName::from_str(name).map_err(invalid)?;
    let uid = EntityUid::from_type_name_and_id(type_name, EntityId::new(""));
    Ok(EntityUID::from(uid).ty)
}

#[allow(
    dead_code,
    reason = "for rules the default policy may have; the generated code uses some"
)]
fn uid(ty: &EntityType, eid: &str) -> EntityUID {
    EntityUID {
        ty: ty.clone(),
        eid: SmolStr::from(eid),
    }
}

#[allow(
    dead_code,
    reason = "for rules the default policy may have; the generated code uses some"
)]
fn var(var: Var) -> Node {
    Arc::new(Expr::Var(var))
}

#[allow(
    dead_code,
    reason = "for rules the default policy may have; the generated code uses some"
)]
fn string(value: &str) -> Node {
    Arc::new(Expr::Literal(Literal::String(SmolStr::from(value))))
}

#[allow(
    dead_code,
    reason = "for rules the default policy may have; the generated code uses some"
)]
fn long(value: i64) -> Node {
    Arc::new(Expr::Literal(Literal::Long(value)))
}

#[allow(
    dead_code,
    reason = "for rules the default policy may have; the generated code uses some"
)]
fn boolean(value: bool) -> Node {
    Arc::new(Expr::Literal(Literal::Bool(value)))
}

#[allow(
    dead_code,
    reason = "for rules the default policy may have; the generated code uses some"
)]
fn entity(ty: &EntityType, eid: &str) -> Node {
    Arc::new(Expr::Literal(Literal::EntityUID(uid(ty, eid))))
}

#[allow(
    dead_code,
    reason = "for rules the default policy may have; the generated code uses some"
)]
fn attr(expr: Node, name: &str) -> Node {
    Arc::new(Expr::GetAttr {
        expr,
        attr: SmolStr::from(name),
    })
}

#[allow(
    dead_code,
    reason = "for rules the default policy may have; the generated code uses some"
)]
fn has(expr: Node, first: &str, rest: &[&str]) -> Node {
    Arc::new(Expr::HasAttr {
        expr,
        attrs: NonEmpty {
            head: SmolStr::from(first),
            tail: rest.iter().map(|a| SmolStr::from(*a)).collect(),
        },
    })
}

#[allow(
    dead_code,
    reason = "for rules the default policy may have; the generated code uses some"
)]
fn unary(op: UnaryOp, expr: Node) -> Node {
    Arc::new(Expr::UnaryOp { op, expr })
}

#[allow(
    dead_code,
    reason = "for rules the default policy may have; the generated code uses some"
)]
fn binary(op: BinaryOp, left: Node, right: Node) -> Node {
    Arc::new(Expr::BinaryOp { op, left, right })
}

/// `expr like pattern`; `None` in `pattern` is the wildcard `*`.
#[allow(
    dead_code,
    reason = "for rules the default policy may have; the generated code uses some"
)]
fn like(expr: Node, pattern: &[Option<char>]) -> Node {
    Arc::new(Expr::Like {
        expr,
        pattern: pattern
            .iter()
            .map(|c| c.map_or(PatternElem::Wildcard, PatternElem::Char))
            .collect(),
    })
}

#[allow(
    dead_code,
    reason = "for rules the default policy may have; the generated code uses some"
)]
fn is(expr: Node, entity_type: &EntityType, in_expr: Option<Node>) -> Node {
    Arc::new(Expr::Is {
        expr,
        entity_type: entity_type.clone(),
        in_expr,
    })
}

#[allow(
    dead_code,
    reason = "for rules the default policy may have; the generated code uses some"
)]
fn if_then_else(cond: Node, then_expr: Node, else_expr: Node) -> Node {
    Arc::new(Expr::IfThenElse {
        cond,
        then_expr,
        else_expr,
    })
}

#[allow(
    dead_code,
    reason = "for rules the default policy may have; the generated code uses some"
)]
fn set(items: Vec<Node>) -> Node {
    Arc::new(Expr::Set(items))
}

#[allow(
    dead_code,
    reason = "for rules the default policy may have; the generated code uses some"
)]
fn record(fields: Vec<(&str, Node)>) -> Node {
    Arc::new(Expr::Record(
        fields
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    ))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use std::collections::BTreeSet;
    use std::fmt::Write as _;

    use cedar_policy::pst::EntityOrSlot;

    use super::*;
    use crate::policy::{DEFAULT_POLICY, parse_checked};

    /// Where the generated file is, from the crate root.
    const GENERATED: &str = "src/policy/compiled/default_rules.rs";

    /// Generates `default_rules.rs` from a policy text.
    fn generate(text: &str) -> String {
        let parsed = cedar_policy::PolicySet::from_str(text).expect("the policy parses");
        let mut types = BTreeSet::new();
        let mut rules = String::new();
        for policy in parsed.policies() {
            let pst = policy.to_pst().expect("the policy converts to a PST");
            let body = match &pst {
                cedar_policy::pst::Policy::Static(policy) => policy.body(),
                other => panic!("only static rules are supported: {other:?}"),
            };
            let mut g = Generator {
                types: &mut types,
                out: String::new(),
            };
            g.rule(body);
            rules.push_str(&g.out);
        }
        let (facts, resource) = Reads::of_text(text).parts();
        let mut out = String::new();
        write!(
            out,
            "//! GENERATED from `policies/default.cedar` by `AIRLOCK_REGENERATE=1 cargo test -p airlock-engine --lib compiled`;\n\
             //! do not edit (see `compiled.rs`).\n\n\
             use super::*;\n\n\
             /// What the rules read (`Reads::of_text` of the policy text).\n\
             pub(super) const READS: Reads = Reads::from_parts({facts:#018b}, {resource});\n\n\
             /// The rules of `policies/default.cedar`, in file order.\n\
             pub(super) fn rules() -> Result<Vec<Rule>, EngineError> {{\n",
        )
        .unwrap();
        for (name, local) in &types {
            writeln!(out, "    let {local} = entity_type({name:?})?;").unwrap();
        }
        out.push_str("    Ok(vec![\n");
        out.push_str(&rules);
        out.push_str("    ])\n}\n");
        out
    }

    struct Generator<'a> {
        /// Entity type name ⇒ the local variable holding it.
        types: &'a mut BTreeSet<(String, String)>,
        out: String,
    }

    impl Generator<'_> {
        fn rule(&mut self, body: &Template) {
            let mut s = String::from("        Rule {\n            annotations: &[\n");
            for (key, value) in &body.annotations {
                writeln!(s, "                ({key:?}, {:?}),", value.as_str()).unwrap();
            }
            s.push_str("            ],\n");
            let effect = match body.effect {
                Effect::Permit => "Permit",
                Effect::Forbid => "Forbid",
            };
            writeln!(s, "            effect: Effect::{effect},").unwrap();
            let principal = match &body.principal {
                PrincipalConstraint::Any => "PrincipalConstraint::Any".to_string(),
                PrincipalConstraint::Eq(e) => format!("PrincipalConstraint::Eq({})", self.eos(e)),
                PrincipalConstraint::In(e) => format!("PrincipalConstraint::In({})", self.eos(e)),
                PrincipalConstraint::Is(t) => {
                    format!("PrincipalConstraint::Is({}.clone())", self.ty(t))
                }
                PrincipalConstraint::IsIn(t, e) => {
                    format!(
                        "PrincipalConstraint::IsIn({}.clone(), {})",
                        self.ty(t),
                        self.eos(e)
                    )
                }
            };
            writeln!(s, "            principal: {principal},").unwrap();
            let action = match &body.action {
                ActionConstraint::Any => "ActionConstraint::Any".to_string(),
                ActionConstraint::Eq(u) => format!("ActionConstraint::Eq({})", self.uid(u)),
                ActionConstraint::In(us) => format!(
                    "ActionConstraint::In(vec![{}])",
                    us.iter()
                        .map(|u| self.uid(u))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            writeln!(s, "            action: {action},").unwrap();
            let resource = match &body.resource {
                ResourceConstraint::Any => "ResourceConstraint::Any".to_string(),
                ResourceConstraint::Eq(e) => format!("ResourceConstraint::Eq({})", self.eos(e)),
                ResourceConstraint::In(e) => format!("ResourceConstraint::In({})", self.eos(e)),
                ResourceConstraint::Is(t) => {
                    format!("ResourceConstraint::Is({}.clone())", self.ty(t))
                }
                ResourceConstraint::IsIn(t, e) => {
                    format!(
                        "ResourceConstraint::IsIn({}.clone(), {})",
                        self.ty(t),
                        self.eos(e)
                    )
                }
            };
            writeln!(s, "            resource: {resource},").unwrap();
            if body.clauses().is_empty() {
                s.push_str("            conditions: vec![],\n");
            } else {
                s.push_str("            conditions: vec![\n");
                for clause in body.clauses() {
                    let (kind, expr) = match clause {
                        Clause::When(e) => ("When", e),
                        Clause::Unless(e) => ("Unless", e),
                    };
                    let expr = self.expr(expr);
                    writeln!(s, "                Clause::{kind}({expr}),").unwrap();
                }
                s.push_str("            ],\n");
            }
            s.push_str("        },\n");
            self.out.push_str(&s);
        }

        /// The local variable of an entity type, declared once at the top.
        fn ty(&mut self, ty: &EntityType) -> String {
            let name = ty.to_string();
            let local = name.replace("::", "_").to_lowercase() + "_type";
            self.types.insert((name, local.clone()));
            local
        }

        fn uid(&mut self, uid: &EntityUID) -> String {
            format!("uid(&{}, {:?})", self.ty(&uid.ty), uid.eid.as_str())
        }

        fn eos(&mut self, eos: &EntityOrSlot) -> String {
            match eos {
                EntityOrSlot::Entity(u) => format!("EntityOrSlot::Entity({})", self.uid(u)),
                EntityOrSlot::Slot(_) => panic!("templates are not supported"),
            }
        }

        fn expr(&mut self, expr: &Expr) -> String {
            match expr {
                Expr::Literal(Literal::String(s)) => format!("string({:?})", s.as_str()),
                Expr::Literal(Literal::Long(n)) => format!("long({n})"),
                Expr::Literal(Literal::Bool(b)) => format!("boolean({b})"),
                Expr::Literal(Literal::EntityUID(u)) => {
                    format!("entity(&{}, {:?})", self.ty(&u.ty), u.eid.as_str())
                }
                Expr::Var(v) => format!("var(Var::{v:?})"),
                Expr::GetAttr { expr, attr } => {
                    format!("attr({}, {:?})", self.expr(expr), attr.as_str())
                }
                Expr::HasAttr { expr, attrs } => format!(
                    "has({}, {:?}, &{:?})",
                    self.expr(expr),
                    attrs.head.as_str(),
                    attrs.tail.iter().map(SmolStr::as_str).collect::<Vec<_>>()
                ),
                Expr::UnaryOp { op, expr } => {
                    format!("unary(UnaryOp::{op:?}, {})", self.expr(expr))
                }
                Expr::BinaryOp { op, left, right } => format!(
                    "binary(BinaryOp::{op:?}, {}, {})",
                    self.expr(left),
                    self.expr(right)
                ),
                Expr::Like { expr, pattern } => {
                    let pattern: Vec<Option<char>> = pattern
                        .iter()
                        .map(|p| match p {
                            PatternElem::Char(c) => Some(*c),
                            PatternElem::Wildcard => None,
                        })
                        .collect();
                    format!("like({}, &{pattern:?})", self.expr(expr))
                }
                Expr::Is {
                    expr,
                    entity_type,
                    in_expr,
                } => {
                    let in_expr = match in_expr {
                        Some(e) => format!("Some({})", self.expr(e)),
                        None => "None".to_string(),
                    };
                    format!(
                        "is({}, &{}, {in_expr})",
                        self.expr(expr),
                        self.ty(entity_type)
                    )
                }
                Expr::IfThenElse {
                    cond,
                    then_expr,
                    else_expr,
                } => format!(
                    "if_then_else({}, {}, {})",
                    self.expr(cond),
                    self.expr(then_expr),
                    self.expr(else_expr)
                ),
                Expr::Set(items) => format!(
                    "set(vec![{}])",
                    items
                        .iter()
                        .map(|e| self.expr(e))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                Expr::Record(fields) => format!(
                    "record(vec![{}])",
                    fields
                        .iter()
                        .map(|(k, v)| format!("({k:?}, {})", self.expr(v)))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                other => panic!(
                    "the default-policy generator does not support {other:?} yet: add it to `compiled.rs`"
                ),
            }
        }
    }

    #[test]
    fn the_generated_rules_are_up_to_date() {
        let generated = generate(DEFAULT_POLICY);
        #[allow(
            clippy::disallowed_methods,
            reason = "the test rewrites the generated file when asked to"
        )]
        if std::env::var_os("AIRLOCK_REGENERATE").is_some() {
            let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(GENERATED);
            std::fs::write(&path, &generated).unwrap();
            return;
        }
        assert!(
            generated == include_str!("compiled/default_rules.rs"),
            "{GENERATED} is out of date with policies/default.cedar: regenerate it with \
             `AIRLOCK_REGENERATE=1 cargo test -p airlock-engine --lib compiled`"
        );
    }

    #[test]
    fn the_compiled_rules_are_the_parsed_policy_text() {
        let compiled = default_rules().unwrap();
        let parsed = parse_checked("default.cedar", DEFAULT_POLICY, "default").unwrap();
        assert_eq!(compiled.len(), parsed.len(), "one rule per rule, in order");
        assert_eq!(DEFAULT_READS, Reads::of_text(DEFAULT_POLICY));
        for ((policy, info), text) in compiled.iter().zip(&parsed) {
            assert_eq!(policy.id(), text.id());
            assert_eq!(
                policy.annotations().count(),
                0,
                "compiled rules carry no Cedar annotations"
            );
            // The text's rule without its annotations: its PST with them removed, back to Cedar.
            let cedar_policy::pst::Policy::Static(body) = text.to_pst().unwrap() else {
                panic!("static")
            };
            let bare = Template::new(
                body.body().id.clone(),
                body.body().effect,
                body.body().principal.clone(),
                body.body().action.clone(),
                body.body().resource.clone(),
            )
            .try_with_clauses(body.body().clauses().clone())
            .unwrap();
            let bare = cedar_policy::Policy::from_pst(cedar_policy::pst::Policy::Static(
                StaticPolicy::try_from(bare).unwrap(),
            ))
            .unwrap();
            // Cedar compares policies by their evaluated form (source positions aside).
            assert_eq!(policy, &bare, "{}", text.id());
            // And as Cedar's JSON form (a second path: text to JSON, versus code to PST to JSON).
            let json = |p: &cedar_policy::Policy| {
                let mut json = p.to_json().unwrap();
                json.as_object_mut().unwrap().remove("annotations");
                json
            };
            assert_eq!(json(policy), json(text), "{}", text.id());
            let notes: BTreeMap<&str, &str> = text.annotations().collect();
            assert_eq!(info, &rule_info_from(&notes), "{}", text.id());
            let generated: BTreeMap<&str, &str> = default_rules::rules()
                .unwrap()
                .into_iter()
                .find(|r| r.annotations.contains(&("id", info.id.as_str())))
                .unwrap()
                .annotations
                .iter()
                .copied()
                .collect();
            assert_eq!(generated, notes, "annotations as written: {}", text.id());
        }
    }

    #[test]
    fn the_generator_covers_every_construct() {
        let text = r#"
            @id("a") @verdict("ask") @reason("r \"q\" é")
            forbid (principal == Airlock::Agent::"x", action in [Airlock::Action::"sql", Airlock::Action::"shell"], resource is Airlock::Target in Airlock::Target::"t")
            when { context has target && !(context.target like "a*b") && (if context.kind == "sql" then 1 else -2) < 3 }
            unless { {a: principal is Airlock::Agent, b: [true, false]}.b.contains(resource == Airlock::Target::"u") };
        "#;
        let code = generate(text);
        for expected in [
            "PrincipalConstraint::Eq(EntityOrSlot::Entity(uid(&airlock_agent_type, \"x\")))",
            "ActionConstraint::In(vec![uid(&airlock_action_type, \"sql\"), uid(&airlock_action_type, \"shell\")])",
            "ResourceConstraint::IsIn(airlock_target_type.clone(),",
            "has(var(Var::Context), \"target\", &[])",
            "like(attr(var(Var::Context), \"target\"), &[Some('a'), None, Some('b')])",
            "unary(UnaryOp::Not,",
            "if_then_else(",
            "long(1)",
            "record(vec![(\"a\", is(var(Var::Principal), &airlock_agent_type, None))",
            "set(vec![boolean(true), boolean(false)])",
            "Clause::Unless(",
            "(\"reason\", \"r \\\"q\\\" é\")",
            "let airlock_target_type = entity_type(\"Airlock::Target\")?;",
        ] {
            assert!(code.contains(expected), "{expected}\nin\n{code}");
        }
    }
}
