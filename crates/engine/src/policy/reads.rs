//! What a policy can read of a Cedar request: which context facts, and whether the resource. A fact no rule
//! reads is left out of the context, and the resource is a fixed id when no rule reads it; Cedar's answer
//! cannot depend on what no rule reads, so this changes no decision, and actions that agree on everything
//! read share one evaluation (see `Policy::decide`).
//!
//! Found from the policy text, conservatively: every identifier or string equal to a fact's name counts as
//! reading that fact (`context.effect`, `context["effect"]`, `context has effect`, but also a record field
//! of that name), `context` used other than as `context.`, `context[` or `context has` reads every fact,
//! and `resource` anywhere but an unconstrained scope (`…, resource)`) reads the resource. Annotation values
//! are not read. Reading Cedar's own JSON form of each rule would be exact but costs ~0.8M instructions per
//! rule at engine start; this costs ~0.14M for the default policy's text, so the default policy's reads are
//! found once, when its code is generated (`compiled.rs`), and only a user policy's text is scanned at start.

/// The names of the context facts (see `policies/airlock.cedarschema`), in context order.
pub(super) const FACTS: [&str; 12] = [
    "kind",
    "request_kind",
    "effect",
    "reversibility",
    "blast_radius",
    "environment",
    "severity",
    "rule",
    "rule_name",
    "family",
    "target",
    "agent",
];

/// The facts of one action, in [`FACTS`] order.
pub(super) type Facts<'a> = [&'a str; FACTS.len()];

/// The resource id used when no rule reads the resource.
pub(super) const ANY_TARGET: &str = "";

/// Which parts of a Cedar request some rule can read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Reads {
    /// Bit `i` set: some rule may read `context.<FACTS[i]>`.
    facts: u16,
    /// Some rule may constrain or read `resource`.
    resource: bool,
}

impl Reads {
    /// Everything (what a text that cannot be tokenised reads).
    pub(super) const ALL: Reads = Reads {
        facts: u16::MAX,
        resource: true,
    };

    /// Nothing.
    const NONE: Reads = Reads {
        facts: 0,
        resource: false,
    };

    /// The reads with these fact bits and resource flag (for the generated default policy, see
    /// `compiled.rs`; [`Reads::parts`] gives them back).
    pub(super) const fn from_parts(facts: u16, resource: bool) -> Reads {
        Reads { facts, resource }
    }

    /// The fact bits and resource flag.
    #[cfg(test)]
    pub(super) fn parts(self) -> (u16, bool) {
        (self.facts, self.resource)
    }

    /// What the rules in a policy text (already parsed by Cedar) can read.
    pub(super) fn of_text(text: &str) -> Reads {
        let mut tokens = Tokens { text, at: 0 }.peekable();
        let mut reads = Reads::NONE;
        // The three tokens before the current one, nearest last (to recognise `@name("…")`).
        let mut before: [Option<Token<'_>>; 3] = [None; 3];
        // Open parentheses of the scope being read (`permit (` … `)`), when inside one.
        let mut scope_depth: Option<u32> = None;
        while let Some(token) = tokens.next() {
            let Some(token) = token else {
                // An unterminated string.
                return Reads::ALL;
            };
            let next = tokens.peek().copied().flatten();
            match token {
                Token::Ident(word) => {
                    reads.note_name(word);
                    match word {
                        "permit" | "forbid" if next == Some(Token::Punct('(')) => {
                            scope_depth = Some(0);
                        }
                        "context"
                            if !matches!(
                                next,
                                Some(Token::Punct('.' | '[') | Token::Ident("has"))
                            ) =>
                        {
                            reads.facts = u16::MAX;
                        }
                        "resource" => {
                            let unconstrained =
                                scope_depth == Some(1) && next == Some(Token::Punct(')'));
                            reads.resource |= !unconstrained;
                        }
                        _ => {}
                    }
                }
                Token::Str(raw) => {
                    let annotation = matches!(
                        (before, next),
                        (
                            [
                                Some(Token::Punct('@')),
                                Some(Token::Ident(_)),
                                Some(Token::Punct('('))
                            ],
                            Some(Token::Punct(')'))
                        )
                    );
                    if annotation {
                        // An annotation's value (`@reason("…")`) is never read by a rule.
                    } else if raw.contains('\\') {
                        // An escape could spell any name.
                        reads.facts = u16::MAX;
                    } else {
                        reads.note_name(raw);
                    }
                }
                Token::Punct('(') => scope_depth = scope_depth.map(|d| d.saturating_add(1)),
                Token::Punct(')') => {
                    scope_depth = match scope_depth {
                        Some(d) if d > 1 => Some(d - 1),
                        _ => None,
                    };
                }
                Token::Punct(_) => {}
            }
            let [_, second, third] = before;
            before = [second, third, Some(token)];
        }
        reads
    }

    /// Both texts' reads.
    pub(super) fn union(self, other: Reads) -> Reads {
        Reads {
            facts: self.facts | other.facts,
            resource: self.resource || other.resource,
        }
    }

    /// Whether fact `index` (in [`FACTS`] order) goes into the context.
    pub(super) fn reads_fact(self, index: usize) -> bool {
        u32::try_from(index)
            .ok()
            .and_then(|i| 1u16.checked_shl(i))
            .is_some_and(|bit| self.facts & bit != 0)
    }

    /// Whether the resource is read.
    pub(super) fn reads_resource(self) -> bool {
        self.resource
    }

    fn note_name(&mut self, name: &str) {
        if let Some(index) = FACTS.iter().position(|f| *f == name) {
            self.facts |= 1 << index;
        }
    }
}

/// A token of Cedar policy text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    /// An identifier or keyword (also a number: a run of alphanumerics, `_` and non-ASCII bytes).
    Ident(&'a str),
    /// A string literal, between its quotes, escapes as written.
    Str(&'a str),
    /// Any other character.
    Punct(char),
}

/// The tokens of a policy text, without whitespace and `//` comments; `None` for an unterminated string.
/// On bytes (this runs at every engine start): multi-byte characters only occur in comments and strings,
/// and any other non-ASCII byte is read as part of an identifier.
struct Tokens<'a> {
    text: &'a str,
    /// The next byte to read.
    at: usize,
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Option<Token<'a>>;

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.text.as_bytes();
        loop {
            let start = self.at;
            let c = *bytes.get(start)?;
            self.at += 1;
            match c {
                b'/' if bytes.get(self.at) == Some(&b'/') => {
                    self.at = self.find_from(self.at, '\n').unwrap_or(bytes.len());
                }
                b'"' => {
                    // The closing quote is the first one not escaped by a backslash.
                    let mut end = self.find_from(self.at, '"');
                    while let Some(quote) = end {
                        let backslashes = bytes
                            .get(start + 1..quote)
                            .map_or(0, |s| s.iter().rev().take_while(|&&b| b == b'\\').count());
                        if backslashes % 2 == 0 {
                            break;
                        }
                        end = self.find_from(quote + 1, '"');
                    }
                    let Some(end) = end else {
                        self.at = bytes.len();
                        return Some(None);
                    };
                    self.at = end + 1;
                    return Some(self.text.get(start + 1..end).map(Token::Str));
                }
                c if is_word_byte(c) => {
                    while bytes.get(self.at).copied().is_some_and(is_word_byte) {
                        self.at += 1;
                    }
                    return Some(self.text.get(start..self.at).map(Token::Ident));
                }
                c if c.is_ascii_whitespace() => {}
                c => return Some(Some(Token::Punct(char::from(c)))),
            }
        }
    }
}

impl Tokens<'_> {
    /// Where the next `c` at or after byte `from` is.
    fn find_from(&self, from: usize, c: char) -> Option<usize> {
        self.text.get(from..)?.find(c).map(|at| from + at)
    }
}

/// A byte of an identifier, keyword or number.
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || !b.is_ascii()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
mod tests {
    use std::str::FromStr;

    use serde_json::Value;

    use super::*;
    use crate::policy::DEFAULT_POLICY;

    /// The exact reads, from Cedar's JSON form of each rule: the oracle the text scan must cover.
    fn exact(text: &str) -> Reads {
        fn note(reads: &mut Reads, json: &Value) {
            match json {
                Value::Array(items) => items.iter().for_each(|item| note(reads, item)),
                Value::Object(object) => {
                    let access = (object.len() == 1)
                        .then(|| object.get(".").or_else(|| object.get("has")))
                        .flatten()
                        .and_then(Value::as_object);
                    if let Some(access) = access
                        && access.get("left") == Some(&serde_json::json!({"Var": "context"}))
                        && let Some(attr) = access.get("attr").and_then(Value::as_str)
                    {
                        reads.note_name(attr);
                        return;
                    }
                    match object.get("Var").and_then(Value::as_str) {
                        Some("context") => reads.facts = u16::MAX,
                        Some("resource") => reads.resource = true,
                        _ => {}
                    }
                    object.values().for_each(|value| note(reads, value));
                }
                _ => {}
            }
        }
        let mut reads = Reads::NONE;
        for policy in cedar_policy::PolicySet::from_str(text).unwrap().policies() {
            let json = policy.to_json().unwrap();
            if json["resource"] != serde_json::json!({"op": "All"}) {
                reads.resource = true;
            }
            note(&mut reads, &json["conditions"]);
        }
        reads
    }

    fn names(reads: Reads) -> Vec<&'static str> {
        (0..FACTS.len())
            .filter(|i| reads.reads_fact(*i))
            .map(|i| FACTS[i])
            .collect()
    }

    #[test]
    fn the_default_policy_reads_neither_per_action_names_nor_the_resource() {
        let reads = Reads::of_text(DEFAULT_POLICY);
        assert_eq!(reads, exact(DEFAULT_POLICY), "the scan is exact here");
        assert_eq!(
            names(reads),
            [
                "effect",
                "blast_radius",
                "environment",
                "severity",
                "family"
            ],
            "a default rule that reads `target`, `rule`, `rule_name` or `agent` makes every action of a \
             request cost its own Cedar evaluation (~0.1M instructions each); prefer facts such as \
             `family`, `effect` or `severity`"
        );
        assert!(!reads.reads_resource());
    }

    #[test]
    fn the_scan_covers_every_way_a_rule_reads() {
        let rule = |scope: &str, when: &str| {
            format!(
                "@id(\"x\") @verdict(\"ask\") @reason(\"target rule agent\")\nforbid ({scope}) when {{ {when}\n}};"
            )
        };
        let any = "principal, action, resource";
        let cases = [
            (rule(any, "context.target == \"a\""), vec!["target"], false),
            (rule(any, "context[\"rule\"] == \"a\""), vec!["rule"], false),
            (rule(any, "context has agent"), vec!["agent"], false),
            (
                rule(any, "context has \"rule_name\" // context == {}"),
                vec!["rule_name"],
                false,
            ),
            (
                rule(
                    any,
                    "context.kind == \"sql\" && context.request_kind == \"shell\"",
                ),
                vec!["kind", "request_kind"],
                false,
            ),
            (rule(any, "context == {kind: \"x\"}"), FACTS.to_vec(), false),
            (
                rule(any, "context[\"t\\u{61}rget\"] == \"a\""),
                FACTS.to_vec(),
                false,
            ),
            (
                rule(
                    "principal, action, resource == Airlock::Target::\"db\"",
                    "true",
                ),
                vec![],
                true,
            ),
            (
                rule("principal, action, resource is Airlock::Target", "true"),
                vec![],
                true,
            ),
            (
                rule(any, "resource == Airlock::Target::\"x\""),
                vec![],
                true,
            ),
            (
                // Escaped quotes and backslashes in an annotation do not end it early.
                "@id(\"x\") @verdict(\"ask\") @reason(\"a \\\"quoted\\\" \\\\\\\\\")\n\
                 forbid (principal, action, resource) when { context.severity == \"ask\" };"
                    .to_string(),
                vec!["severity"],
                false,
            ),
            (
                // Non-ASCII text in a string; a quote and names in a comment.
                rule(any, "context.effect == \"é\" // \"target\" é resource"),
                vec!["effect"],
                false,
            ),
            (
                rule(
                    "principal == Airlock::Agent::\"a\", action in [Airlock::Action::\"sql\"], resource",
                    "(context.severity) == \"ask\"",
                ),
                vec!["severity"],
                false,
            ),
        ];
        for (text, facts, resource) in cases {
            let scanned = Reads::of_text(&text);
            let exact = exact(&text);
            assert_eq!(names(scanned), facts, "{text}");
            assert_eq!(scanned.reads_resource(), resource, "{text}");
            assert_eq!(
                scanned.union(exact),
                scanned,
                "the scan covers the exact reads: {text}"
            );
        }
    }

    #[test]
    fn an_unterminated_string_reads_everything() {
        assert_eq!(Reads::of_text("forbid \"oops"), Reads::ALL);
    }
}
