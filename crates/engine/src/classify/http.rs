//! HTTP classifier: method, host, path, parameters, headers and body of one request, judged against the
//! catalogue's `[rule.http]` patterns (`catalog/http-*.toml`); GraphQL bodies go to [`super::graphql`];
//! secrets in outbound bodies are exfiltration (`HEX…` rules). Reads, and writes to ordinary endpoints,
//! yield no action.
//!
//! # Span convention
//! Spans of HTTP actions are byte offsets into [`http_text`]: `METHOD URL`, then, when there is a body, a
//! newline and the body — the catalogue's example format. [`url_offset`] and [`body_offset`] give where the
//! URL and the body start. GraphQL findings span the mutation field inside the body: exactly, when the JSON
//! string holding the document is spelled the way serde_json writes it (any escapes), else the whole body.

pub(crate) mod secrets;
mod sql_body;
pub(crate) mod text;

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::Value;
use url::Url;

use crate::action::{Action, Span};
use crate::catalog::Rule;
use crate::classify::graphql::{self, classify_graphql};
use crate::classify::{Classifier, environment_hint};
use crate::request::{HttpRequest, RequestKind};

pub use secrets::SecretClass;
use text::{find_json_string, glob_match, json_offset, split_words};

/// Rule for a URL that does not parse.
pub const UNPARSEABLE_URL: &str = "HTP001";

/// Most path segments matched against templates; longer paths are judged on their first segments.
const MAX_SEGMENTS: usize = 64;

/// A catalogue pattern for an HTTP request (`[rule.http]`). Every non-empty condition must hold.
///
/// ```toml
/// [rule.http]
/// methods = ["DELETE"]                      # empty = any method
/// hosts = ["api.github.com", "*.amazonaws.com", "*:9200"]  # glob on `host` and `host:port`; empty = any
/// not_hosts = ["localhost", "127.0.0.1"]    # the rule does not fire for these
/// paths = ["/repos/{owner}/{repo}"]         # templates: literal (glob `*`, `\*` a literal star),
///                                           # `{name}` one segment, `**` any rest (captured as `{rest}`)
/// not_paths = ["/_*"]                       # the rule does not fire for these
/// params = { Action = ["Delete*"] }         # query-string or form-body parameter globs
/// json = { force = ["true"] }               # top-level fields of a JSON object body (scalars as text)
/// headers = { X-Amz-Target = ["*.Delete*"] }  # header value globs (names case-insensitive)
/// path_words = ["delete", "destroy"]        # the last segment's first or last word is one of these
/// not_words = ["cache"]                     # … and no word of it or of the segment before is one of these
/// secret = "strong"                         # the URL or body carries a secret (see `secrets`)
/// target = "repository {owner}/{repo}"      # `{capture}`, `{param}`, `{host}`, `{path}`, `{method}`
/// fallback = 2                              # see below
/// ```
///
/// `fallback`: rules of level 0 (the default) always fire; a rule of level `n > 0` fires only when no rule
/// of a lower level matched the request (generic rules sit behind provider rules).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpPattern {
    /// Methods (case-insensitive).
    #[serde(default)]
    pub methods: Vec<String>,
    /// Host globs, matched against `host` and `host:port`.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// Host globs the rule never fires for.
    #[serde(default)]
    pub not_hosts: Vec<String>,
    /// Path templates.
    #[serde(default)]
    pub paths: Vec<String>,
    /// Path templates the rule never fires for.
    #[serde(default)]
    pub not_paths: Vec<String>,
    /// Parameters (query string or form body): name → value globs; all names must be present.
    #[serde(default)]
    pub params: BTreeMap<String, Vec<String>>,
    /// Top-level fields of a JSON object body: name → value globs (strings as they are, numbers and booleans
    /// as JSON writes them); all names must be present.
    #[serde(default)]
    pub json: BTreeMap<String, Vec<String>>,
    /// Headers: name → value globs; all names must be present.
    #[serde(default)]
    pub headers: BTreeMap<String, Vec<String>>,
    /// Destructive verbs for the last path segment.
    #[serde(default)]
    pub path_words: Vec<String>,
    /// Words that make the last path segment harmless (`purge_cache`, `/password/reset`).
    #[serde(default)]
    pub not_words: Vec<String>,
    /// The request must carry a secret of this class.
    #[serde(default)]
    pub secret: Option<SecretClass>,
    /// Target template.
    #[serde(default)]
    pub target: Option<String>,
    /// Fallback level (0 = always fires).
    #[serde(default)]
    pub fallback: u8,
}

/// The text HTTP spans refer to: `METHOD URL`, plus a newline and the body when there is one.
pub fn http_text(request: &HttpRequest) -> String {
    match &request.body {
        Some(body) => format!("{} {}\n{}", request.method, request.url, body),
        None => format!("{} {}", request.method, request.url),
    }
}

/// Where the URL starts in [`http_text`].
pub fn url_offset(request: &HttpRequest) -> usize {
    request.method.len() + 1
}

/// Where the body starts in [`http_text`].
pub fn body_offset(request: &HttpRequest) -> usize {
    request.method.len() + 1 + request.url.len() + 1
}

/// A request taken apart once for every rule.
struct Parts<'r> {
    method: String,
    host: String,
    host_port: String,
    path: String,
    segments: Vec<String>,
    params: Vec<(String, String)>,
    /// Parameters found in the form body, with their raw span in the body.
    body_params: Vec<(String, String, Span)>,
    headers: BTreeMap<String, &'r str>,
    body: Option<&'r str>,
    /// The top-level scalar fields of a JSON object body, read on first use (most rules never ask).
    json_fields: std::cell::OnceCell<Vec<(String, String)>>,
    request: &'r HttpRequest,
}

/// Classifies an HTTP request. Spans are relative to [`http_text`] (see the module doc).
pub fn classify_http(cx: &Classifier<'_>, request: &HttpRequest) -> Vec<Action> {
    classify_http_and_host(cx, request).0
}

/// [`classify_http`], and the host of `url::Url::parse(&request.url)` (`""` when it does not parse or has
/// none), when it was found on the way: `None` when the URL has surrounding whitespace, which this
/// classifier trims before parsing. Callers that need the host then need not parse the URL again.
pub(crate) fn classify_http_and_host(
    cx: &Classifier<'_>,
    request: &HttpRequest,
) -> (Vec<Action>, Option<String>) {
    let line = Span::new(0, url_offset(request) + request.url.len());
    let trimmed = request.url.trim();
    let parsed = Url::parse(trimmed);
    let host = (trimmed.len() == request.url.len()).then(|| {
        parsed
            .as_ref()
            .ok()
            .and_then(|u| u.host_str())
            .unwrap_or_default()
            .to_string()
    });
    let url = match parsed {
        Ok(url) if url.host_str().is_some() => url,
        _ => {
            let unparseable = cx.action(
                UNPARSEABLE_URL,
                RequestKind::Http,
                request.url.clone(),
                Some(line),
            );
            return (vec![unparseable], host);
        }
    };
    let parts = Parts::new(request, &url);
    let mut actions = graphql_actions(cx, &parts, &url);
    actions.extend(rule_actions(cx, &parts, line));
    actions.extend(sql_body::sql_body_actions(
        cx,
        &parts.method,
        &parts.segments,
        parts.body,
        body_offset(request),
    ));
    (actions, host)
}

impl<'r> Parts<'r> {
    fn new(request: &'r HttpRequest, url: &Url) -> Self {
        let host = url
            .host_str()
            .unwrap_or_default()
            .trim_matches(['[', ']'])
            .to_ascii_lowercase();
        let host_port = match url.port_or_known_default() {
            Some(port) => format!("{host}:{port}"),
            None => host.clone(),
        };
        let segments: Vec<String> = url
            .path_segments()
            .map(|segs| {
                segs.filter(|s| !s.is_empty())
                    .take(MAX_SEGMENTS)
                    .map(percent_decode)
                    .collect()
            })
            .unwrap_or_default();
        let params = url
            .query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect();
        let headers: BTreeMap<String, &str> = request
            .headers
            .iter()
            .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
            .collect();
        let body = request.body.as_deref();
        let body_params = body.map(form_params).unwrap_or_default();
        Parts {
            method: request.method.trim().to_ascii_uppercase(),
            host,
            host_port,
            path: url.path().to_string(),
            segments,
            params,
            body_params,
            headers,
            body,
            json_fields: std::cell::OnceCell::new(),
            request,
        }
    }

    /// The value of the top-level field `name` of a JSON object body, as text.
    fn json_field(&self, name: &str) -> Option<&str> {
        self.json_fields
            .get_or_init(|| self.body.map(json_fields).unwrap_or_default())
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn content_type(&self) -> String {
        self.headers
            .get("content-type")
            .map(|v| v.to_ascii_lowercase())
            .unwrap_or_default()
    }

    fn param(&self, name: &str) -> Option<(&str, Option<Span>)> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| (v.as_str(), None))
            .or_else(|| {
                self.body_params
                    .iter()
                    .find(|(k, _, _)| k == name)
                    .map(|(_, v, s)| (v.as_str(), Some(*s)))
            })
    }

    fn env(&self, cx: &Classifier<'_>, captures: &BTreeMap<String, String>) -> Option<String> {
        if let Some(env) = cx.environment {
            return Some(env.to_string());
        }
        environment_hint(&self.host)
            .or_else(|| captures.values().find_map(|v| environment_hint(v)))
            .or_else(|| self.params.iter().find_map(|(_, v)| environment_hint(v)))
            .or_else(|| {
                self.body_params
                    .iter()
                    .find_map(|(_, v, _)| environment_hint(v))
            })
            .map(str::to_string)
    }
}

/// The top-level scalar fields of a JSON object body (strings as they are, numbers and booleans as JSON writes
/// them); nothing for any other body.
fn json_fields(body: &str) -> Vec<(String, String)> {
    if !body.trim_start().starts_with('{') {
        return Vec::new();
    }
    let Ok(serde_json::Value::Object(map)) = serde_json::from_str::<Value>(body) else {
        return Vec::new();
    };
    map.into_iter()
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some((k, s)),
            Value::Bool(b) => Some((k, b.to_string())),
            Value::Number(n) => Some((k, n.to_string())),
            _ => None,
        })
        .collect()
}

/// Parameters of an `application/x-www-form-urlencoded`-looking body, with spans relative to the body.
fn form_params(body: &str) -> Vec<(String, String, Span)> {
    let trimmed = body.trim_start();
    if trimmed.starts_with('{')
        || trimmed.starts_with('[')
        || !body.contains('=')
        || body.contains('\n')
    {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut at = 0;
    for pair in body.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.push((
            percent_decode(k),
            percent_decode(v),
            Span::new(at, at + pair.len()),
        ));
        at += pair.len() + 1;
    }
    out
}

fn percent_decode(text: &str) -> String {
    if !text.contains(['%', '+']) {
        // Nothing to decode (the common case): no parsing, one copy.
        return text.to_string();
    }
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| text.to_string())
}

/// Matches every catalogue `[rule.http]` pattern; keeps the rules of the lowest fallback level.
fn rule_actions(cx: &Classifier<'_>, parts: &Parts<'_>, line: Span) -> Vec<Action> {
    let mut best: Option<(u8, Vec<(&Rule, Match)>)> = None;
    for rule in cx.catalog.http_rules() {
        let Some(pattern) = &rule.http else { continue };
        let Some(found) = matches(pattern, parts, line) else {
            continue;
        };
        match &mut best {
            Some((level, found_rules)) if *level == pattern.fallback => {
                found_rules.push((rule, found))
            }
            Some((level, _)) if *level < pattern.fallback => {}
            _ => best = Some((pattern.fallback, vec![(rule, found)])),
        }
    }
    let Some((_, found)) = best else {
        return Vec::new();
    };
    found
        .into_iter()
        .map(|(rule, found)| {
            let template = rule.http.as_ref().and_then(|p| p.target.as_deref());
            let target = render_target(template, parts, &found.captures);
            let mut action = cx.action(&rule.id, RequestKind::Http, target, Some(found.span));
            action.environment = parts.env(cx, &found.captures);
            action
        })
        .collect()
}

/// What a pattern matched: captured values and the evidence span.
struct Match {
    captures: BTreeMap<String, String>,
    span: Span,
}

fn matches(pattern: &HttpPattern, parts: &Parts<'_>, line: Span) -> Option<Match> {
    if !pattern.methods.is_empty()
        && !pattern
            .methods
            .iter()
            .any(|m| m.eq_ignore_ascii_case(&parts.method))
    {
        return None;
    }
    let host_matches = |p: &String| glob_match(p, &parts.host) || glob_match(p, &parts.host_port);
    if !pattern.hosts.is_empty() && !pattern.hosts.iter().any(host_matches) {
        return None;
    }
    if pattern.not_hosts.iter().any(host_matches) {
        return None;
    }
    let mut captures = BTreeMap::new();
    if !pattern.paths.is_empty() {
        captures = pattern
            .paths
            .iter()
            .find_map(|t| match_template(t, &parts.segments))?;
    }
    if pattern
        .not_paths
        .iter()
        .any(|t| match_template(t, &parts.segments).is_some())
    {
        return None;
    }
    let mut span = line;
    for (name, globs) in &pattern.params {
        let (value, body_span) = parts.param(name)?;
        if !globs.iter().any(|g| glob_match(g, value)) {
            return None;
        }
        captures.insert(name.clone(), value.to_string());
        if let Some(s) = body_span {
            span = s.shifted(body_offset(parts.request));
        }
    }
    for (name, globs) in &pattern.json {
        let value = parts.json_field(name)?;
        if !globs.iter().any(|g| glob_match(g, value)) {
            return None;
        }
        captures.insert(name.clone(), value.to_string());
        // The evidence is the body.
        if let Some(body) = parts.body {
            let at = body_offset(parts.request);
            span = Span::new(at, at + body.len());
        }
    }
    for (name, globs) in &pattern.headers {
        let value = parts.headers.get(&name.to_ascii_lowercase())?;
        if !globs.iter().any(|g| glob_match(g, value)) {
            return None;
        }
        captures.insert(name.clone(), (*value).to_string());
    }
    if !pattern.path_words.is_empty() {
        let last = parts.segments.last()?;
        let words = split_words(last);
        let edge = [words.first(), words.last()];
        if !edge
            .iter()
            .flatten()
            .any(|w| pattern.path_words.iter().any(|v| v.eq_ignore_ascii_case(w)))
        {
            return None;
        }
        // `not_words` look at the last two segments (`/password/reset`, `/zones/x/purge_cache`).
        let before = parts
            .segments
            .len()
            .checked_sub(2)
            .and_then(|i| parts.segments.get(i));
        let context: Vec<String> = before.map(|s| split_words(s)).unwrap_or_default();
        if words
            .iter()
            .chain(&context)
            .any(|w| pattern.not_words.iter().any(|v| v.eq_ignore_ascii_case(w)))
        {
            return None;
        }
    }
    if let Some(class) = pattern.secret {
        let found = find_request_secret(parts).or_else(|| {
            (class == SecretClass::Any)
                .then(|| header_secret(parts, line))
                .flatten()
        });
        let (found, offset) = found?;
        if class == SecretClass::Strong && !found.strong {
            return None;
        }
        captures.insert("secret".to_string(), found.kind.to_string());
        span = Span::new(found.start, found.end).shifted(offset);
    }
    Some(Match { captures, span })
}

/// Header names that carry a credential.
const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "x-api-key",
    "api-key",
    "apikey",
    "x-auth-token",
    "cookie",
    "private-token",
    "x-vault-token",
    "x-hasura-admin-secret",
    "x-shopify-access-token",
    "x-github-token",
];

/// A credential in a header (by name, or a token format in any value): evidence only towards collection
/// hosts, since every API call carries its own credential. Spans the request line.
fn header_secret(parts: &Parts<'_>, line: Span) -> Option<(secrets::Found, usize)> {
    let found = parts.headers.iter().find_map(|(name, value)| {
        let strong = secrets::find_secret(value)
            .filter(|f| f.strong)
            .map(|f| f.kind);
        let named = (CREDENTIAL_HEADERS.contains(&name.as_str()) && !value.trim().is_empty())
            .then_some("credential header");
        strong.or(named)
    })?;
    Some((
        secrets::Found {
            kind: found,
            start: line.start,
            end: line.end,
            strong: false,
        },
        0,
    ))
}

/// A secret in the URL or the body, with the offset of the scanned text in [`http_text`].
fn find_request_secret(parts: &Parts<'_>) -> Option<(secrets::Found, usize)> {
    let url_found =
        secrets::find_secret(&parts.request.url).map(|f| (f, url_offset(parts.request)));
    let body_at = body_offset(parts.request);
    let body_found = parts.body.and_then(|body| {
        secrets::find_secret(body)
            .map(|f| (f, body_at))
            .or_else(|| {
                // A percent-encoded form body: scan the decoded pairs; the span is then the whole body.
                if !body.contains('%') && !body.contains('+') {
                    return None;
                }
                let decoded: Vec<String> = url::form_urlencoded::parse(body.as_bytes())
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                secrets::find_secret(&decoded.join("\n")).map(|f| {
                    (
                        secrets::Found {
                            start: 0,
                            end: body.len(),
                            ..f
                        },
                        body_at,
                    )
                })
            })
    });
    match (url_found, body_found) {
        (Some(u), Some(b)) => Some(if b.0.strong && !u.0.strong { b } else { u }),
        (u, b) => u.or(b),
    }
}

/// Matches a path template against decoded segments, returning the captures.
fn match_template(template: &str, segments: &[String]) -> Option<BTreeMap<String, String>> {
    let parts: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
    let mut captures = BTreeMap::new();
    match_from(&parts, segments, &mut captures, 0).then_some(captures)
}

fn match_from(
    template: &[&str],
    segments: &[String],
    captures: &mut BTreeMap<String, String>,
    depth: u32,
) -> bool {
    if depth > 16 {
        return false;
    }
    let Some((&first, rest)) = template.split_first() else {
        return segments.is_empty();
    };
    if first == "**" {
        for split in 0..=segments.len() {
            let (taken, remaining) = segments.split_at(split);
            let mut attempt = captures.clone();
            if match_from(rest, remaining, &mut attempt, depth + 1) {
                attempt
                    .entry("rest".to_string())
                    .or_insert_with(|| taken.join("/"));
                *captures = attempt;
                return true;
            }
        }
        return false;
    }
    let Some((segment, remaining)) = segments.split_first() else {
        return false;
    };
    if let Some(name) = first.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
        captures.insert(name.to_string(), segment.clone());
    } else if !glob_match(first, segment) {
        return false;
    }
    match_from(rest, remaining, captures, depth + 1)
}

fn render_target(
    template: Option<&str>,
    parts: &Parts<'_>,
    captures: &BTreeMap<String, String>,
) -> String {
    let Some(template) = template else {
        return format!("{} {}{}", parts.method, parts.host, parts.path);
    };
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
        let key = after.get(..close).unwrap_or_default();
        let value = match key {
            "host" => parts.host.clone(),
            "path" => parts.path.clone(),
            "method" => parts.method.clone(),
            _ => captures
                .get(key)
                .cloned()
                .unwrap_or_else(|| "?".to_string()),
        };
        out.push_str(&value);
        rest = after.get(close + 1..).unwrap_or_default();
    }
    out.push_str(rest);
    out
}

/// Whether the URL path is a GraphQL endpoint (`/graphql`, `/graphql/v2`, `/v1/graphql`, `graphql.json`).
fn is_graphql_path(segments: &[String]) -> bool {
    segments.iter().rev().take(2).any(|s| {
        let s = s.to_ascii_lowercase();
        s == "graphql" || s == "graphql.json" || s == "gql" || s.starts_with("graphql")
    })
}

/// Whether a string looks like a GraphQL document (starts with an operation keyword or `{`).
fn looks_like_graphql(text: &str) -> bool {
    let mut t = text.trim_start_matches(|c: char| c.is_whitespace() || c == '\u{feff}');
    // Leading `# comment` lines.
    while let Some(comment) = t.strip_prefix('#') {
        t = comment
            .split_once('\n')
            .map_or("", |(_, rest)| rest)
            .trim_start();
    }
    if t.starts_with('{') {
        return true;
    }
    ["query", "mutation", "subscription", "fragment"]
        .iter()
        .any(|kw| {
            t.strip_prefix(kw).is_some_and(|r| {
                r.chars()
                    .next()
                    .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
            })
        })
}

/// One GraphQL operation request found in an HTTP request.
struct GraphqlCall {
    document: String,
    operation_name: Option<String>,
    variables: Option<Value>,
    /// Offset of the document's byte 0 in [`http_text`] when offsets map one to one through a JSON
    /// string (`Json`), directly (`Raw`), or `None` when only a coarse span is known.
    origin: Origin,
}

enum Origin {
    /// Document bytes map to `http_text` at this offset through serde_json string encoding.
    Json(usize),
    /// Document bytes are verbatim at this offset.
    Raw(usize),
    /// Only this coarse span is known.
    Coarse(Span),
}

/// Finds GraphQL in the request and classifies it.
fn graphql_actions(cx: &Classifier<'_>, parts: &Parts<'_>, url: &Url) -> Vec<Action> {
    let endpoint = is_graphql_path(&parts.segments);
    let mut calls = Vec::new();
    let mut unparseable_body = false;
    let body_at = body_offset(parts.request);
    let body_span = parts.body.map(|b| Span::new(body_at, body_at + b.len()));
    if let Some(body) = parts.body.filter(|b| !b.trim().is_empty()) {
        let trimmed = body.trim_start();
        let content_type = parts.content_type();
        if content_type.contains("application/graphql") {
            calls.push(GraphqlCall {
                document: body.to_string(),
                operation_name: None,
                variables: None,
                origin: Origin::Raw(body_at),
            });
        } else if trimmed.starts_with('{') || trimmed.starts_with('[') {
            match serde_json::from_str::<Value>(body) {
                Ok(Value::Array(items)) => {
                    for item in &items {
                        calls.extend(json_call(item, body, body_at, endpoint));
                    }
                }
                Ok(value) => calls.extend(json_call(&value, body, body_at, endpoint)),
                Err(_) => unparseable_body = endpoint,
            }
        } else if let Some((_, query, span)) =
            parts.body_params.iter().find(|(k, _, _)| k == "query")
        {
            if endpoint || looks_like_graphql(query) {
                calls.push(GraphqlCall {
                    document: query.clone(),
                    operation_name: parts
                        .body_params
                        .iter()
                        .find(|p| p.0 == "operationName")
                        .map(|p| p.1.clone()),
                    variables: None,
                    origin: Origin::Coarse(span.shifted(body_at)),
                });
            }
        } else if endpoint && looks_like_graphql(body) {
            calls.push(GraphqlCall {
                document: body.to_string(),
                operation_name: None,
                variables: None,
                origin: Origin::Raw(body_at),
            });
        } else if endpoint {
            unparseable_body = true;
        }
    }
    let url_query = parts
        .params
        .iter()
        .find(|(k, _)| k == "query")
        .map(|(_, v)| v);
    if let Some(query) = url_query.filter(|q| endpoint || looks_like_graphql(q)) {
        {
            let variables = parts
                .params
                .iter()
                .find(|(k, _)| k == "variables")
                .and_then(|(_, v)| serde_json::from_str(v).ok());
            let span = query_param_span(parts.request, url).unwrap_or(Span::new(
                0,
                url_offset(parts.request) + parts.request.url.len(),
            ));
            calls.push(GraphqlCall {
                document: query.clone(),
                operation_name: parts
                    .params
                    .iter()
                    .find(|(k, _)| k == "operationName")
                    .map(|(_, v)| v.clone()),
                variables,
                origin: Origin::Coarse(span),
            });
        }
    }
    let mut actions = Vec::new();
    if unparseable_body {
        let mut action = cx.action(
            graphql::UNPARSEABLE,
            RequestKind::Http,
            format!("graphql request to {}", parts.host),
            body_span,
        );
        action.environment = parts.env(cx, &BTreeMap::new());
        actions.push(action);
    }
    let Some(inner) = cx.nested() else {
        if !calls.is_empty() {
            actions.push(cx.too_deep(RequestKind::Http, body_span));
        }
        return actions;
    };
    for call in calls {
        let found = classify_graphql(
            &inner,
            &call.document,
            call.operation_name.as_deref(),
            call.variables.as_ref(),
            Some(&parts.host),
        );
        actions.extend(found.into_iter().map(|mut action| {
            action.evidence.span = map_span(action.evidence.span, &call.document, &call.origin);
            action
        }));
    }
    actions
}

/// One GraphQL call from a JSON object `{"query": "…", "operationName": …, "variables": …}`. A `query`
/// that is not a string (Elasticsearch's query DSL) is not GraphQL.
fn json_call(value: &Value, body: &str, body_at: usize, endpoint: bool) -> Option<GraphqlCall> {
    let object = value.as_object()?;
    let operation_name = object.get("operationName").and_then(Value::as_str);
    let Some(document) = object.get("query").and_then(Value::as_str) else {
        // A persisted query sends only a hash and an operation name: judge the name as if it were the
        // mutation field (`DeleteProject`), the only evidence there is.
        let name = operation_name.filter(|n| {
            endpoint
                && !object.contains_key("query")
                && n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && n.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        })?;
        let is_name = |n: &str| {
            n.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && n.chars()
                    .next()
                    .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        };
        // Pass the variables as arguments so that ids reach the target.
        let args: Vec<String> = object
            .get("variables")
            .and_then(Value::as_object)
            .map(|vars| {
                vars.keys()
                    .filter(|k| is_name(k))
                    .take(16)
                    .map(|k| format!("{k}: ${k}"))
                    .collect()
            })
            .unwrap_or_default();
        let args = if args.is_empty() {
            String::new()
        } else {
            format!("({})", args.join(", "))
        };
        return Some(GraphqlCall {
            document: format!("mutation {{ {name}{args} }}"),
            operation_name: None,
            variables: object.get("variables").cloned(),
            origin: Origin::Coarse(Span::new(body_at, body_at + body.len())),
        });
    };
    if !endpoint && !looks_like_graphql(document) {
        return None;
    }
    let variables = match object.get("variables") {
        // Some clients send variables as a JSON-encoded string.
        Some(Value::String(s)) => serde_json::from_str(s).ok(),
        Some(v) => Some(v.clone()),
        None => None,
    };
    let origin = match find_json_string(body, document) {
        Some(at) => Origin::Json(body_at + at),
        None => Origin::Coarse(Span::new(body_at, body_at + body.len())),
    };
    Some(GraphqlCall {
        document: document.to_string(),
        operation_name: object
            .get("operationName")
            .and_then(Value::as_str)
            .map(str::to_string),
        variables,
        origin,
    })
}

/// The span of the raw `query=` value in the URL, in [`http_text`] coordinates.
fn query_param_span(request: &HttpRequest, url: &Url) -> Option<Span> {
    let query = url.query()?;
    let query_at = request.url.find(query)?;
    let mut at = 0;
    for pair in query.split('&') {
        if let Some(value) = pair.strip_prefix("query=") {
            let start = url_offset(request) + query_at + at + "query=".len();
            return Some(Span::new(start, start + value.len()));
        }
        at += pair.len() + 1;
    }
    None
}

fn map_span(span: Option<Span>, document: &str, origin: &Origin) -> Option<Span> {
    match origin {
        Origin::Coarse(coarse) => Some(*coarse),
        Origin::Raw(at) => span.map(|s| s.shifted(*at)),
        Origin::Json(at) => span.map(|s| {
            Span::new(
                at + json_offset(document, s.start),
                at + json_offset(document, s.end),
            )
        }),
    }
}

#[cfg(test)]
mod tests;
