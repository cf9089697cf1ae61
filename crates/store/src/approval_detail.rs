//! The decoded detail of a held request, shown to the person deciding (web page and terminal): kind, agent,
//! upstream, environment, a one-line headline from the engine's actions, the request itself in readable
//! sections (the shell command with the spans that triggered each rule highlighted, the SQL, the HTTP request,
//! the GraphQL operation and variables, the MCP call, the file operation) and the rules that fired. Built
//! from the [`Envelope`] and the engine's [`Decision`] — never a second classifier — and redacted: it never
//! carries a secret (credential headers, tokens in URLs, commands or bodies).

use std::ops::Range;

use airlock_engine::request::{FileOp, HttpRequest, Request};
use airlock_engine::{Decision, Envelope};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::redact::{redact_json_value, redact_text, redact_url, truncate_chars};

/// At most this many characters of a file's new content are shown.
pub const MAX_FILE_EXCERPT_CHARS: usize = 2_000;
/// At most this many characters of any one section are kept.
pub const MAX_SECTION_CHARS: usize = 20_000;

/// What a person sees about a held request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDetail {
    /// `shell`, `sql`, `http`, `mcp` or `file`.
    pub kind: String,
    /// The agent (or agent token) that asked.
    #[serde(default)]
    pub agent: Option<String>,
    /// The gateway upstream name or the MCP server, if any.
    #[serde(default)]
    pub upstream: Option<String>,
    /// The environment of the target (`production`, …) when known.
    #[serde(default)]
    pub environment: Option<String>,
    /// One line from the decision's actions, e.g. `GraphQL mutation volumeDelete on volume 8a4c…`.
    pub headline: String,
    /// The request, decoded and redacted.
    #[serde(default)]
    pub sections: Vec<DetailSection>,
    /// The rules that fired and why.
    #[serde(default)]
    pub rules: Vec<DetailRule>,
}

/// One titled block of the request (`Command`, `SQL`, `HTTP request`, `GraphQL operation`, …).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailSection {
    /// Its title.
    pub title: String,
    /// Its text (redacted, possibly several lines).
    pub text: String,
    /// Byte ranges of `text` (on char boundaries, sorted, not overlapping) that triggered a rule.
    #[serde(default)]
    pub highlights: Vec<Range<usize>>,
}

/// One rule that fired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DetailRule {
    /// Catalogue rule id (`SHF001`) or policy rule id.
    pub rule: String,
    /// The policy rule (`@id`) that produced the verdict.
    #[serde(default)]
    pub policy: Option<String>,
    /// Why, redacted.
    pub message: String,
}

impl ApprovalDetail {
    /// Builds the detail of `envelope` as decided by `decision`. The upstream shown is the gateway upstream or
    /// MCP server the request went through (`context.upstream`), else an MCP request's server or the URL's host.
    pub fn build(envelope: &Envelope, decision: &Decision) -> Self {
        let request = &envelope.request;
        let upstream = envelope.context.upstream.clone().or_else(|| match request {
            Request::Mcp(mcp) => Some(mcp.server.clone()),
            Request::Http(http) => host_of(&http.url),
            _ => None,
        });
        let environment = envelope.context.environment.clone().or_else(|| {
            decision
                .actions
                .iter()
                .find_map(|action| action.environment.clone())
        });
        let spans: Vec<Range<usize>> = decision
            .reasons
            .iter()
            .filter_map(|reason| reason.span)
            .chain(
                decision
                    .actions
                    .iter()
                    .filter(|a| decision.reasons.iter().any(|r| r.rule == a.evidence.rule))
                    .filter_map(|a| a.evidence.span),
            )
            .map(|span| span.start..span.end)
            .collect();
        let mut graphql_operation = None;
        let sections = match request {
            Request::Shell(shell) => vec![highlighted_section("Command", &shell.command, &spans)],
            Request::Sql(sql) => vec![highlighted_section("SQL", &sql.sql, &spans)],
            Request::Http(http) => {
                let mut sections = vec![plain_section("HTTP request", http_text(http))];
                if let Some(graphql) = graphql_of(http) {
                    graphql_operation = operation_of(&graphql.document);
                    sections.push(plain_section(
                        "GraphQL operation",
                        redact_text(graphql.document.trim()),
                    ));
                    if let Some(variables) = graphql.variables {
                        sections.push(plain_section("GraphQL variables", pretty(&variables)));
                    }
                } else if let Some(body) = &http.body {
                    sections.push(plain_section("Body", redacted_body(body)));
                }
                sections
            }
            Request::Mcp(mcp) => vec![plain_section(
                "MCP call",
                format!(
                    "server: {}\ntool: {}\narguments:\n{}",
                    mcp.server,
                    mcp.tool,
                    pretty(&mcp.arguments)
                ),
            )],
            Request::File(file) => {
                let op = match file.op {
                    FileOp::Write => "write",
                    FileOp::Edit => "edit",
                    FileOp::Delete => "delete",
                };
                let mut text = format!("{op} {}", redact_text(&file.path));
                if let Some(content) = &file.content {
                    text.push_str(&format!(
                        "\ncontent ({} bytes):\n{}",
                        content.len(),
                        truncate_chars(&redact_text(content), MAX_FILE_EXCERPT_CHARS)
                    ));
                }
                vec![plain_section("File", text)]
            }
        };
        let rules = decision
            .reasons
            .iter()
            .map(|reason| DetailRule {
                rule: reason.rule.clone(),
                policy: Some(reason.policy.clone()).filter(|p| !p.is_empty()),
                message: redact_text(&reason.message),
            })
            .collect();
        ApprovalDetail {
            kind: request.kind().as_str().to_string(),
            agent: envelope.context.agent.clone(),
            upstream,
            environment,
            headline: headline(decision, graphql_operation.as_deref()),
            sections,
            rules,
        }
    }
}

/// `GraphQL mutation volumeDelete on volume 8a4c…`, `rm-recursive on ~/projects`, or the first reason.
fn headline(decision: &Decision, graphql_operation: Option<&str>) -> String {
    let first_rule = decision.reasons.first().map(|r| r.rule.as_str());
    let action = decision
        .actions
        .iter()
        .find(|a| Some(a.evidence.rule.as_str()) == first_rule)
        .or_else(|| decision.actions.first());
    let text = match (action, graphql_operation) {
        (Some(action), Some(operation)) => {
            format!("GraphQL {operation} on {}", action.target)
        }
        (Some(action), None) => format!("{} on {}", action.evidence.name, action.target),
        (None, Some(operation)) => format!("GraphQL {operation}"),
        (None, None) => decision.summary(),
    };
    truncate_chars(&redact_text(&text).replace(['\n', '\r'], " "), 300)
}

fn plain_section(title: &str, text: String) -> DetailSection {
    DetailSection {
        title: title.to_string(),
        text: truncate_chars(&text, MAX_SECTION_CHARS),
        highlights: Vec::new(),
    }
}

/// A section of `text` with `spans` (byte ranges into `text`) highlighted, redacted. Each piece between span
/// boundaries is redacted on its own so the highlights still line up; if the pieced-together text would still
/// show a secret (one cut across a boundary), the whole text is redacted and the highlights are found again by
/// their redacted text.
fn highlighted_section(title: &str, text: &str, spans: &[Range<usize>]) -> DetailSection {
    let spans: Vec<Range<usize>> = spans
        .iter()
        .filter(|s| s.start < s.end && text.get(s.start..s.end).is_some())
        .cloned()
        .collect();
    let mut cuts: Vec<usize> = spans.iter().flat_map(|s| [s.start, s.end]).collect();
    cuts.push(0);
    cuts.push(text.len());
    cuts.sort_unstable();
    cuts.dedup();
    let mut out = String::new();
    // Where each original cut lands in the redacted text.
    let mut mapped = Vec::with_capacity(cuts.len());
    let mut previous = 0;
    for &cut in &cuts {
        if let Some(piece) = text.get(previous..cut) {
            out.push_str(&redact_text(piece));
        }
        mapped.push((cut, out.len()));
        previous = cut;
    }
    let map = |at: usize| mapped.iter().find(|(cut, _)| *cut == at).map(|(_, to)| *to);
    let mut highlights: Vec<Range<usize>> = if redact_text(&out) == out {
        spans
            .iter()
            .filter_map(|s| Some(map(s.start)?..map(s.end)?))
            .collect()
    } else {
        out = redact_text(text);
        spans
            .iter()
            .filter_map(|s| {
                let piece = redact_text(text.get(s.clone())?);
                let at = out.find(&piece)?;
                Some(at..at + piece.len())
            })
            .collect()
    };
    if out.len() > MAX_SECTION_CHARS {
        out = truncate_chars(&out, MAX_SECTION_CHARS);
        highlights.retain(|h| out.get(h.clone()).is_some());
    }
    DetailSection {
        title: title.to_string(),
        highlights: merge(highlights),
        text: out,
    }
}

/// Sorted, non-overlapping, non-empty.
fn merge(mut ranges: Vec<Range<usize>>) -> Vec<Range<usize>> {
    ranges.retain(|r| r.start < r.end);
    ranges.sort_by_key(|r| (r.start, r.end));
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(ranges.len());
    for range in ranges {
        match merged.last_mut() {
            Some(last) if range.start <= last.end => last.end = last.end.max(range.end),
            _ => merged.push(range),
        }
    }
    merged
}

/// `POST https://…` then the headers, credentials redacted.
fn http_text(http: &HttpRequest) -> String {
    let mut text = format!("{} {}", http.method, redact_url(&http.url));
    for (name, value) in &http.headers {
        let value = if crate::redact::is_secret_name(name) {
            crate::redact::REDACTED.to_string()
        } else {
            redact_text(value)
        };
        text.push_str(&format!("\n{name}: {value}"));
    }
    text
}

/// The host of an absolute URL (no credentials, no port).
fn host_of(url: &str) -> Option<String> {
    let rest = url.trim().split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = host.split(':').next()?;
    Some(host.to_ascii_lowercase()).filter(|h| !h.is_empty())
}

fn redacted_body(body: &str) -> String {
    match serde_json::from_str::<Value>(body) {
        Ok(json) => pretty(&json),
        Err(_) => redact_text(body),
    }
}

fn pretty(value: &Value) -> String {
    serde_json::to_string_pretty(&redact_json_value(value)).unwrap_or_default()
}

struct GraphqlBody {
    document: String,
    variables: Option<Value>,
}

/// The GraphQL document and variables as sent (JSON body `{"query", "variables"}`, an `application/graphql`
/// body, or a `query=` URL parameter). This only unwraps the transport; the engine judges the document.
fn graphql_of(http: &HttpRequest) -> Option<GraphqlBody> {
    let content_type = http
        .headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("content-type"))
        .map(|(_, value)| value.to_ascii_lowercase())
        .unwrap_or_default();
    if let Some(body) = http.body.as_deref().filter(|b| !b.trim().is_empty()) {
        if content_type.contains("application/graphql") {
            return Some(GraphqlBody {
                document: body.to_string(),
                variables: None,
            });
        }
        let json: Value = serde_json::from_str(body).ok()?;
        let object = match &json {
            Value::Array(items) => items.first()?.as_object()?,
            Value::Object(object) => object,
            _ => return None,
        };
        let document = object.get("query")?.as_str()?.to_string();
        let variables = match object.get("variables") {
            Some(Value::String(s)) => serde_json::from_str(s).ok(),
            Some(Value::Null) | None => None,
            Some(v) => Some(v.clone()),
        };
        return Some(GraphqlBody {
            document,
            variables,
        });
    }
    None
}

/// `mutation volumeDelete`: the first operation's type and first top-level field, read with apollo-parser.
fn operation_of(document: &str) -> Option<String> {
    use apollo_parser::cst::{self, CstNode as _};
    let tree = apollo_parser::Parser::new(document).parse();
    tree.document().definitions().find_map(|definition| {
        let cst::Definition::OperationDefinition(operation) = definition else {
            return None;
        };
        let kind = operation
            .operation_type()
            .map(|t| t.syntax().text().to_string())
            .unwrap_or_else(|| "query".to_string());
        let field =
            operation
                .selection_set()?
                .selections()
                .find_map(|selection| match selection {
                    cst::Selection::Field(field) => Some(field.name()?.text().to_string()),
                    _ => None,
                })?;
        Some(format!("{} {field}", kind.trim()))
    })
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::string_slice,
    clippy::single_range_in_vec_init,
    reason = "tests"
)]
mod tests {
    use super::*;

    #[test]
    fn highlights_follow_redaction() {
        let command = "TOKEN=xyz123 deploy && rm -rf /srv/data";
        let at = command.find("rm -rf").unwrap();
        let section = highlighted_section("Command", command, &[at..command.len()]);
        assert!(!section.text.contains("xyz123"), "{}", section.text);
        assert_eq!(section.highlights.len(), 1);
        assert_eq!(
            &section.text[section.highlights[0].clone()],
            "rm -rf /srv/data"
        );
    }

    #[test]
    fn a_secret_cut_by_a_span_is_still_redacted() {
        let command = "curl -H 'Authorization: Bearer abcdef123456' https://x";
        let at = command.find("abc").unwrap();
        let section = highlighted_section("Command", command, &[at..at + 3]);
        assert!(!section.text.contains("abcdef123456"), "{}", section.text);
        for h in &section.highlights {
            assert!(section.text.get(h.clone()).is_some());
        }
    }

    #[test]
    fn graphql_operation_is_named() {
        assert_eq!(
            operation_of("mutation Del { volumeDelete(volumeId: \"8a4c\") }").as_deref(),
            Some("mutation volumeDelete")
        );
        assert_eq!(operation_of("{ me { id } }").as_deref(), Some("query me"));
    }
}
