//! GraphQL classifier: parses a document with apollo-parser, picks the operation that would run, and judges
//! each top-level field of a mutation by its NAME (never its alias) against the catalogue's `[rule.graphql]`
//! patterns. Queries, subscriptions and introspection are reads and yield nothing.
//!
//! Spans returned by [`classify_graphql`] are byte offsets into the GraphQL document: from the field's name
//! through its closing `)` (or the name alone when it has no arguments). The HTTP classifier maps them into
//! the request body (see `http.rs`).

use std::collections::{BTreeMap, BTreeSet};

use apollo_parser::cst::{self, CstNode};
use apollo_parser::{Parser, SyntaxKind, SyntaxNode};
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::action::{Action, Span};
use crate::catalog::Rule;
use crate::classify::http::text::{glob_match, split_words};
use crate::classify::{Classifier, environment_hint};
use crate::request::RequestKind;

/// Rule for a document that does not parse (sent to a GraphQL endpoint).
pub const UNPARSEABLE: &str = "GQL001";

/// Deepest GraphQL value, fragment or selection nesting followed.
const MAX_NESTING: u32 = 32;

/// A catalogue pattern for GraphQL mutation fields (`[rule.graphql]`). Every non-empty condition must hold.
///
/// ```toml
/// [rule.graphql]
/// hosts = ["backboard.railway.com", "*.railway.app"]   # glob; empty = any host
/// fields = ["volumeDelete"]                             # mutation field names (glob `*`), e.g. "delete_*"
/// field_words = ["delete", "remove"]                    # the name's first or last word is one of these
/// object_words = ["project", "environment"]             # some word of the name is one of these
/// unscoped = ["where"]                                  # fires only if such an argument is present and empty
/// unless_scoped = ["where"]                             # does not fire if such an argument holds a condition
/// target = "volume {volumeId|id}"                       # `{arg}`: that argument, also inside inputs;
///                                                       # `{a|b}` the first present; else the default
/// fallback = 2                                          # see below
/// ```
///
/// `fallback`: rules of level 0 (the default) always fire; a rule of level `n > 0` fires on a field only
/// when no rule of a lower level matched that field (generic word rules sit behind provider rules).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphqlPattern {
    /// Host globs the rule applies to (empty = any host, including an unknown one).
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Mutation field names (glob `*`, ASCII case-insensitive).
    #[serde(default)]
    pub fields: Vec<String>,
    /// Verbs: the field name's first or last word must be one of these.
    #[serde(default)]
    pub field_words: Vec<String>,
    /// Objects: some word of the field name must be one of these.
    #[serde(default)]
    pub object_words: Vec<String>,
    /// Argument names: the rule fires only when one of them is present and holds no condition (`{}`,
    /// `null`, an unresolved variable). A missing argument does not count (`update_x_by_pk` has no `where`).
    #[serde(default)]
    pub unscoped: Vec<String>,
    /// Argument names: the rule does not fire when one of them holds a condition.
    #[serde(default)]
    pub unless_scoped: Vec<String>,
    /// Target template; `{name}` is replaced by that argument's value.
    #[serde(default)]
    pub target: Option<String>,
    /// Fallback level (0 = always fires).
    #[serde(default)]
    pub fallback: u8,
}

/// Classifies a GraphQL document. `operation_name` selects one of several operations (when absent, every
/// operation is judged); `variables` resolve `$var` arguments; `host` selects provider rules and hints the
/// environment. Spans are relative to `document`.
pub fn classify_graphql(
    cx: &Classifier<'_>,
    document: &str,
    operation_name: Option<&str>,
    variables: Option<&Value>,
    host: Option<&str>,
) -> Vec<Action> {
    let whole = Span::new(0, document.len());
    let tree = Parser::new(document)
        .recursion_limit(200)
        .token_limit(200_000)
        .parse();
    if tree.errors().len() > 0 {
        return vec![unparseable(cx, host, whole)];
    }
    let doc = tree.document();
    let mut operations = Vec::new();
    let mut fragments = BTreeMap::new();
    for definition in doc.definitions() {
        match definition {
            cst::Definition::OperationDefinition(op) => operations.push(op),
            cst::Definition::FragmentDefinition(fragment) => {
                if let Some(name) = fragment.fragment_name().and_then(|f| f.name()) {
                    fragments.insert(name_text(&name), fragment);
                }
            }
            // Type-system definitions are not executable; a server rejects them and runs nothing.
            _ => {}
        }
    }
    let selected: Vec<&cst::OperationDefinition> = match operation_name {
        Some(wanted) => {
            let named: Vec<_> = operations
                .iter()
                .filter(|op| op.name().is_some_and(|n| name_text(&n) == wanted))
                .collect();
            // A name that matches nothing makes the server refuse; judge everything to stay closed.
            if named.is_empty() {
                operations.iter().collect()
            } else {
                named
            }
        }
        None => operations.iter().collect(),
    };
    // The host is the same for every field: pick the rules for it once.
    let rules: Vec<&Rule> = cx
        .catalog
        .graphql_rules()
        .filter(|rule| {
            rule.graphql
                .as_ref()
                .is_some_and(|pattern| host_matches(pattern, host))
        })
        .collect();
    let walker = Walker {
        cx,
        host,
        variables,
        fragments: &fragments,
        rules: &rules,
    };
    let mut actions = Vec::new();
    for op in selected {
        let is_mutation = op
            .operation_type()
            .is_some_and(|t| t.mutation_token().is_some());
        if !is_mutation {
            continue;
        }
        let mut fields = Vec::new();
        if let Some(set) = op.selection_set() {
            walker.top_fields(&set, &mut BTreeSet::new(), 0, &mut fields);
        }
        for field in fields {
            actions.extend(walker.field(&field));
        }
    }
    actions
}

fn unparseable(cx: &Classifier<'_>, host: Option<&str>, span: Span) -> Action {
    let target = host.map_or_else(
        || "graphql document".to_string(),
        |h| format!("graphql document for {h}"),
    );
    let mut action = cx.action(UNPARSEABLE, RequestKind::Http, target, Some(span));
    if action.environment.is_none() {
        action.environment = host.and_then(environment_hint).map(str::to_string);
    }
    action
}

struct Walker<'a, 'c> {
    cx: &'a Classifier<'c>,
    host: Option<&'a str>,
    variables: Option<&'a Value>,
    fragments: &'a BTreeMap<String, cst::FragmentDefinition>,
    /// The catalogue's GraphQL rules for this host, in catalogue order.
    rules: &'a [&'c Rule],
}

impl Walker<'_, '_> {
    /// Collects the top-level fields of a mutation's selection set, following fragment spreads (once each)
    /// and inline fragments.
    fn top_fields(
        &self,
        set: &cst::SelectionSet,
        seen: &mut BTreeSet<String>,
        depth: u32,
        out: &mut Vec<cst::Field>,
    ) {
        if depth > MAX_NESTING {
            return;
        }
        for selection in set.selections() {
            match selection {
                cst::Selection::Field(field) => out.push(field),
                cst::Selection::InlineFragment(inline) => {
                    if let Some(inner) = inline.selection_set() {
                        self.top_fields(&inner, seen, depth + 1, out);
                    }
                }
                cst::Selection::FragmentSpread(spread) => {
                    let Some(name) = spread
                        .fragment_name()
                        .and_then(|f| f.name())
                        .map(|n| name_text(&n))
                    else {
                        continue;
                    };
                    if !seen.insert(name.clone()) {
                        continue;
                    }
                    if let Some(inner) = self.fragments.get(&name).and_then(|f| f.selection_set()) {
                        self.top_fields(&inner, seen, depth + 1, out);
                    }
                }
            }
        }
    }

    fn field(&self, field: &cst::Field) -> Vec<Action> {
        let Some(name_node) = field.name() else {
            return Vec::new();
        };
        let name = name_text(&name_node);
        if name.starts_with("__") {
            return Vec::new();
        }
        let args = self.arguments(field);
        let words = split_words(&name);
        let span = field_span(field, &name_node);
        let mut best: Option<(u8, Vec<&Rule>)> = None;
        for &rule in self.rules {
            let Some(pattern) = &rule.graphql else {
                continue;
            };
            if !pattern_matches(pattern, &name, &words, &args) {
                continue;
            }
            match &mut best {
                Some((level, rules)) if *level == pattern.fallback => rules.push(rule),
                Some((level, _)) if *level < pattern.fallback => {}
                _ => best = Some((pattern.fallback, vec![rule])),
            }
        }
        let Some((_, rules)) = best else {
            return Vec::new();
        };
        rules
            .into_iter()
            .map(|rule| {
                let target = render_target(
                    rule.graphql.as_ref().and_then(|p| p.target.as_deref()),
                    &name,
                    &args,
                );
                let mut action = self
                    .cx
                    .action(&rule.id, RequestKind::Http, target.clone(), span);
                if action.environment.is_none() {
                    action.environment = self
                        .host
                        .and_then(environment_hint)
                        .or_else(|| environment_hint(&target))
                        .map(str::to_string);
                }
                action
            })
            .collect()
    }

    fn arguments(&self, field: &cst::Field) -> Map<String, Value> {
        let mut map = Map::new();
        if let Some(arguments) = field.arguments() {
            for argument in arguments.arguments() {
                let (Some(name), Some(value)) = (argument.name(), argument.value()) else {
                    continue;
                };
                map.insert(name_text(&name), self.value(&value, 0));
            }
        }
        map
    }

    fn value(&self, value: &cst::Value, depth: u32) -> Value {
        if depth > MAX_NESTING {
            return Value::Null;
        }
        match value {
            cst::Value::Variable(var) => {
                let name = var.name().map(|n| name_text(&n)).unwrap_or_default();
                self.variables
                    .and_then(|v| v.get(&name))
                    .cloned()
                    .unwrap_or(Value::Null)
            }
            cst::Value::StringValue(s) => Value::String(unescape(&token_text(s.syntax()))),
            cst::Value::IntValue(_) | cst::Value::FloatValue(_) => {
                let text = token_text(value.syntax());
                serde_json::from_str::<serde_json::Number>(&text)
                    .map_or(Value::String(text), Value::Number)
            }
            cst::Value::BooleanValue(_) => Value::Bool(token_text(value.syntax()) == "true"),
            cst::Value::NullValue(_) => Value::Null,
            cst::Value::EnumValue(_) => Value::String(token_text(value.syntax())),
            cst::Value::ListValue(list) => {
                Value::Array(list.values().map(|v| self.value(&v, depth + 1)).collect())
            }
            cst::Value::ObjectValue(object) => {
                let mut map = Map::new();
                for field in object.object_fields() {
                    let (Some(name), Some(v)) = (field.name(), field.value()) else {
                        continue;
                    };
                    map.insert(name_text(&name), self.value(&v, depth + 1));
                }
                Value::Object(map)
            }
        }
    }
}

/// Whether a pattern applies to requests to `host`.
fn host_matches(pattern: &GraphqlPattern, host: Option<&str>) -> bool {
    pattern.hosts.is_empty() || host.is_some_and(|h| pattern.hosts.iter().any(|p| glob_match(p, h)))
}

/// Whether a pattern for the request's host matches a mutation field.
fn pattern_matches(
    pattern: &GraphqlPattern,
    name: &str,
    words: &[String],
    args: &Map<String, Value>,
) -> bool {
    if !pattern.fields.is_empty() && !pattern.fields.iter().any(|p| glob_match(p, name)) {
        return false;
    }
    if !pattern.field_words.is_empty() {
        let edge = [words.first(), words.last()];
        if !edge.iter().flatten().any(|w| {
            pattern
                .field_words
                .iter()
                .any(|v| v.eq_ignore_ascii_case(w))
        }) {
            return false;
        }
    }
    if !pattern.object_words.is_empty()
        && !words.iter().any(|w| {
            pattern
                .object_words
                .iter()
                .any(|o| o.eq_ignore_ascii_case(w))
        })
    {
        return false;
    }
    if !pattern.unscoped.is_empty()
        && !pattern
            .unscoped
            .iter()
            .any(|a| args.contains_key(a) && !has_condition(args.get(a), 0))
    {
        return false;
    }
    if pattern
        .unless_scoped
        .iter()
        .any(|a| has_condition(args.get(a), 0))
    {
        return false;
    }
    true
}

/// Whether a filter value (a Hasura `where`, a Mongo `filter`) holds at least one concrete condition:
/// some non-null scalar somewhere inside it that is not always true. `{}`, `null`, `{_and: [{}]}`, a
/// missing value and tautologies on an id (`{id: {_gt: 0}}`, `{_id: {$exists: true}}`) hold none.
pub(crate) fn has_condition(value: Option<&Value>, depth: u32) -> bool {
    if depth > MAX_NESTING {
        return true;
    }
    match value {
        None | Some(Value::Null) => false,
        Some(Value::String(s)) => !s.trim().is_empty() && s.trim() != "{}",
        Some(Value::Bool(_) | Value::Number(_)) => true,
        Some(Value::Array(items)) => items.iter().any(|v| has_condition(Some(v), depth + 1)),
        Some(Value::Object(map)) => map
            .iter()
            .any(|(k, v)| !is_always_true(k, v) && has_condition(Some(v), depth + 1)),
    }
}

/// Whether `key: {op: value}` holds for every row: an id compared to 0 (`_gt: 0`, `$gte: 1`,
/// `_neq: 0`), an id that is not null or exists, or a match-all pattern (`_like: "%"`, `$regex: ".*"`).
fn is_always_true(key: &str, value: &Value) -> bool {
    let Some((op, operand)) = value.as_object().and_then(|m| {
        let mut entries = m.iter();
        entries.next().filter(|_| entries.next().is_none())
    }) else {
        return false;
    };
    let k = key.to_ascii_lowercase();
    let id = matches!(k.as_str(), "id" | "_id" | "uuid" | "rowid" | "oid") || k.ends_with("_id");
    let num = operand.as_f64();
    match op.as_str() {
        "_gt" | "$gt" => id && num.is_some_and(|n| n <= 0.0),
        "_gte" | "$gte" => id && num.is_some_and(|n| n <= 1.0),
        "_neq" | "$ne" => id && (operand.is_null() || num.is_some_and(|n| n == 0.0)),
        "_is_null" => id && operand == &Value::Bool(false),
        "$exists" => id && operand == &Value::Bool(true),
        "_like" | "_ilike" => operand
            .as_str()
            .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c == '%')),
        "$regex" | "_regex" | "_iregex" | "_similar" => operand
            .as_str()
            .is_some_and(|p| matches!(p, "" | ".*" | "^" | "^.*" | ".*$" | "^.*$")),
        _ => false,
    }
}

/// Renders a target: the template with `{arg}` (or `{a|b}`, `{field}`) replaced, or `field id` with the
/// first id-like argument when there is no template or one of its arguments is missing.
pub(crate) fn render_target(
    template: Option<&str>,
    field: &str,
    args: &Map<String, Value>,
) -> String {
    if let Some(template) = template {
        let mut out = String::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            let (before, after) = rest.split_at(open);
            out.push_str(before);
            let after = after.get(1..).unwrap_or_default();
            let Some(close) = after.find('}') else {
                out.push('{');
                rest = after;
                continue;
            };
            // `{a|b}`: the first of the arguments that is present.
            let key = after.get(..close).unwrap_or_default();
            let value = key.split('|').find_map(|k| {
                if k == "field" {
                    Some(field.to_string())
                } else {
                    find_scalar(args, k, 0)
                }
            });
            let Some(value) = value else {
                return render_target(None, field, args);
            };
            out.push_str(&value);
            rest = after.get(close + 1..).unwrap_or_default();
        }
        out.push_str(rest);
        return out;
    }
    match first_id(args, 0) {
        Some(id) => format!("{field} {id}"),
        None => field.to_string(),
    }
}

/// The scalar value of argument `key`, at the top level or inside nested input objects.
fn find_scalar(args: &Map<String, Value>, key: &str, depth: u32) -> Option<String> {
    if depth > MAX_NESTING {
        return None;
    }
    if let Some(value) = args.get(key).and_then(scalar_text) {
        return Some(value);
    }
    args.values()
        .filter_map(Value::as_object)
        .find_map(|inner| find_scalar(inner, key, depth + 1))
}

/// The value of the first id-like argument (`id`, `volumeId`, `name`, `database`, …), also inside inputs.
pub(crate) fn first_id(args: &Map<String, Value>, depth: u32) -> Option<String> {
    if depth > MAX_NESTING {
        return None;
    }
    let id_like = |k: &str| {
        let words = split_words(k);
        words.last().is_some_and(|w| {
            matches!(
                w.as_str(),
                "id" | "ids"
                    | "name"
                    | "slug"
                    | "key"
                    | "database"
                    | "collection"
                    | "namespace"
                    | "bucket"
                    | "table"
            )
        })
    };
    for (key, value) in args {
        if let Some(text) = scalar_text(value).filter(|_| id_like(key)) {
            return Some(text);
        }
    }
    args.values()
        .filter_map(Value::as_object)
        .find_map(|inner| first_id(inner, depth + 1))
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().filter_map(scalar_text).collect();
            (!parts.is_empty()).then(|| parts.join(","))
        }
        _ => None,
    }
}

/// The span of a field: its name through the closing `)` of its arguments.
fn field_span(field: &cst::Field, name: &cst::Name) -> Option<Span> {
    let start = significant_range(name.syntax())?.0;
    let end = field
        .arguments()
        .and_then(|a| a.r_paren_token())
        .map(|t| usize::from(t.text_range().end()))
        .or_else(|| significant_range(name.syntax()).map(|r| r.1))?;
    Some(Span::new(start, end))
}

fn is_trivia(kind: SyntaxKind) -> bool {
    matches!(
        kind,
        SyntaxKind::WHITESPACE | SyntaxKind::COMMENT | SyntaxKind::COMMA
    )
}

/// Byte range of the first non-trivia token of a node.
fn significant_range(node: &SyntaxNode) -> Option<(usize, usize)> {
    node.descendants_with_tokens()
        .filter_map(|e| e.into_token())
        .find(|t| !is_trivia(t.kind()))
        .map(|t| {
            (
                usize::from(t.text_range().start()),
                usize::from(t.text_range().end()),
            )
        })
}

/// The text of a node's non-trivia tokens.
fn token_text(node: &SyntaxNode) -> String {
    node.descendants_with_tokens()
        .filter_map(|e| e.into_token())
        .filter(|t| !is_trivia(t.kind()))
        .map(|t| t.text().to_string())
        .collect()
}

fn name_text(name: &cst::Name) -> String {
    token_text(name.syntax())
}

/// Unescapes a GraphQL string literal (with its quotes), never panicking on odd escapes.
fn unescape(literal: &str) -> String {
    if let Some(block) = literal
        .strip_prefix("\"\"\"")
        .and_then(|s| s.strip_suffix("\"\"\""))
    {
        return block.replace("\\\"\"\"", "\"\"\"");
    }
    let inner = literal
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(literal);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('b') => out.push('\u{8}'),
            Some('f') => out.push('\u{c}'),
            Some('u') => {
                let hex: String = chars.by_ref().take(4).collect();
                if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    out.push(ch);
                }
            }
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests;
