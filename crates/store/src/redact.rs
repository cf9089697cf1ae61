//! The readable one-line summary of a request that the audit log and approvals store, with secrets removed:
//! authorization and cookie headers, bearer/basic credentials, `password=`/`token:`/`--api-key …` values,
//! passwords in URLs and SQL, and well-known token formats (GitHub, GitLab, Slack, OpenAI-style, AWS key
//! ids, JWTs, airlock's own). The exact request is never stored — only its digest — so the summary is all
//! a reader sees; when in doubt it redacts.

use std::sync::OnceLock;

use airlock_engine::{Envelope, Request};
use regex::Regex;
use serde_json::Value;

use crate::canonical::canonical_json;

/// The text that replaces a secret.
pub const REDACTED: &str = "[redacted]";

/// Summaries longer than this (in characters) are cut and end with `…`.
pub const MAX_SUMMARY_CHARS: usize = 1000;

/// One redaction rule: a pattern, its replacement, and literals one of which the text must contain for the
/// pattern to match. The literals are checked first, so text with nothing secret-looking in it (most
/// commands) costs no regex compilation — it matters in a hook process, which redacts one summary and exits.
struct Rule {
    pattern: &'static str,
    replacement: &'static str,
    /// The pattern is case-insensitive (`(?i)`): the needles are compared ignoring ASCII case.
    fold_case: bool,
    needles: &'static [&'static str],
    regex: OnceLock<Option<Regex>>,
}

impl Rule {
    const fn new(
        pattern: &'static str,
        replacement: &'static str,
        fold_case: bool,
        needles: &'static [&'static str],
    ) -> Self {
        Rule {
            pattern,
            replacement,
            fold_case,
            needles,
            regex: OnceLock::new(),
        }
    }

    /// Whether the pattern can match `text`; `lower` caches `text` with ASCII letters lowercased (computed
    /// on first need, for the case-insensitive rules). INVARIANT: every match of the pattern contains one of
    /// the needles (ignoring ASCII case when `fold_case`). On text with non-ASCII characters a
    /// case-insensitive pattern can also match through Unicode case folding (`K`, the Kelvin sign, for `k`),
    /// so then the answer is yes.
    fn may_match(&self, text: &str, lower: &mut Option<String>) -> bool {
        if self.fold_case {
            if !text.is_ascii() {
                return true;
            }
            let lower = lower.get_or_insert_with(|| text.to_ascii_lowercase());
            self.needles.iter().any(|needle| lower.contains(needle))
        } else {
            self.needles.iter().any(|needle| text.contains(needle))
        }
    }

    /// The compiled pattern (`None` if it does not compile).
    fn regex(&self) -> Option<&Regex> {
        self.regex
            .get_or_init(|| Regex::new(self.pattern).ok())
            .as_ref()
    }
}

static RULES: [Rule; 7] = [
    // URL userinfo: scheme://user:password@host
    Rule::new(
        r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s:@]+):([^/\s@]+)@",
        "${1}${2}:[redacted]@",
        true,
        &["://"],
    ),
    // Credential-bearing header lines, e.g. in `curl -H "Authorization: Bearer …"`.
    Rule::new(
        r#"(?i)\b(authorization|proxy-authorization|cookie|set-cookie|x-api-key|api-key|x-auth-token|private-token|x-vault-token)(\s*:\s*)[^"'\r\n]*"#,
        "${1}${2}[redacted]",
        true,
        &["authorization", "cookie", "api-key", "token"],
    ),
    // Scheme credentials anywhere.
    Rule::new(
        r"(?i)\b(bearer|basic|token)((?:\s+(?:bearer|basic|token))*\s+)[A-Za-z0-9._~+/=-]{6,}",
        "${1}${2}[redacted]",
        true,
        &["bearer", "basic", "token"],
    ),
    // Flags: --password x, --token=x, -api-key x
    Rule::new(
        r#"(?i)(\s--?[a-z0-9_-]*(?:password|passwd|secret|token|api-?key|access-key|private-key|credentials?))(=|\s+)('[^']*'|"[^"]*"|\S+)"#,
        "${1}${2}[redacted]",
        true,
        &[
            "password",
            "passwd",
            "secret",
            "token",
            "apikey",
            "api-key",
            "access-key",
            "private-key",
            "credential",
        ],
    ),
    // key=value, key: value, "key": "value" for secret-looking keys.
    Rule::new(
        r#"(?i)\b([a-z0-9_.-]*(?:password|passwd|pwd|secret|token|apikey|api_key|api-key|access_key|private_key|credentials?)[a-z0-9_.-]*)(["']?\s*[:=]\s*)("[^"]*"|'[^']*'|[^\s&"',;}]+)"#,
        "${1}${2}[redacted]",
        true,
        &[
            "password",
            "passwd",
            "pwd",
            "secret",
            "token",
            "apikey",
            "api_key",
            "api-key",
            "access_key",
            "private_key",
            "credential",
        ],
    ),
    // SQL: PASSWORD '…', IDENTIFIED BY '…'
    Rule::new(
        r#"(?i)\b(password|identified\s+by)(\s+)('[^']*'|"[^"]*")"#,
        "${1}${2}'[redacted]'",
        true,
        &["password", "identified"],
    ),
    // Well-known token formats.
    Rule::new(
        r"\b(gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,}|glpat-[A-Za-z0-9_-]{20,}|xox[abprs]-[A-Za-z0-9-]{10,}|sk-[A-Za-z0-9_-]{20,}|AKIA[0-9A-Z]{16}|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}|alt_[0-9a-f]{64}|ala_[0-9a-f]{8}_[A-Za-z0-9_-]{20,})",
        "[redacted]",
        false,
        &[
            "gh",
            "github_pat_",
            "glpat-",
            "xox",
            "sk-",
            "AKIA",
            "eyJ",
            "alt_",
            "ala_",
        ],
    ),
];

/// Removes secrets from free text.
pub fn redact_text(text: &str) -> String {
    let mut out = std::borrow::Cow::Borrowed(text);
    let mut lower = None;
    for rule in &RULES {
        if !rule.may_match(&out, &mut lower) {
            continue;
        }
        let Some(regex) = rule.regex() else {
            // A pattern failed to compile: keep nothing rather than risk keeping a secret.
            return REDACTED.to_string();
        };
        let replaced = match regex.replace_all(&out, rule.replacement) {
            std::borrow::Cow::Owned(replaced) => replaced,
            std::borrow::Cow::Borrowed(_) => continue,
        };
        out = std::borrow::Cow::Owned(replaced);
        lower = None;
    }
    out.into_owned()
}

/// Whether a header, field or parameter with this name holds a secret (`Authorization`, `api_key`, …).
pub fn is_secret_name(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [
        "authorization",
        "cookie",
        "password",
        "passwd",
        "secret",
        "token",
        "apikey",
        "api_key",
        "api-key",
        "access_key",
        "private_key",
        "credential",
        "x-api-key",
    ]
    .iter()
    .any(|needle| lower.contains(needle))
}

fn redact_json(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| {
                    let v = if is_secret_name(k) && !v.is_null() {
                        Value::String(REDACTED.into())
                    } else {
                        redact_json(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(redact_json).collect()),
        Value::String(s) => Value::String(redact_text(s)),
        other => other.clone(),
    }
}

/// `value` with every secret-named field removed and secrets in strings redacted.
pub fn redact_json_value(value: &Value) -> Value {
    redact_json(value)
}

/// A URL with secret-named query parameters (`?access_token=…`) and credentials removed.
pub fn redact_url(url: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let mut out = redact_text(base);
    if let Some(query) = query {
        let (query, fragment) = match query.split_once('#') {
            Some((query, fragment)) => (query, Some(fragment)),
            None => (query, None),
        };
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((name, _)) if is_secret_name(name) || name.eq_ignore_ascii_case("key") => {
                    format!("{name}={REDACTED}")
                }
                _ => redact_text(pair),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
        if let Some(fragment) = fragment {
            out.push('#');
            out.push_str(&redact_text(fragment));
        }
    }
    out
}

/// Cuts `text` to at most `max` characters (on a character boundary), ending with `…` when cut.
pub fn truncate_chars(text: &str, max: usize) -> String {
    cut_chars(text, max).unwrap_or_else(|| text.to_string())
}

/// `text` cut to `max` characters and `…`, or `None` when it is not longer than that.
fn cut_chars(text: &str, max: usize) -> Option<String> {
    text.char_indices().nth(max)?;
    let mut s: String = text.chars().take(max).collect();
    s.push('…');
    Some(s)
}

/// One readable line describing the request, secrets redacted, at most [`MAX_SUMMARY_CHARS`] characters.
pub fn summarize(envelope: &Envelope) -> String {
    let text = match &envelope.request {
        Request::Shell(shell) => format!("shell: {}", redact_text(&shell.command)),
        Request::Sql(sql) => {
            let dialect = serde_json::to_value(sql.dialect)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string));
            format!(
                "sql ({}): {}",
                dialect.unwrap_or_default(),
                redact_text(&sql.sql)
            )
        }
        Request::Http(http) => {
            use std::fmt::Write as _;
            let mut s = format!("http: {} {}", http.method, redact_text(&http.url));
            for (name, value) in &http.headers {
                // Writing into a String cannot fail.
                let _ = if is_secret_name(name) {
                    write!(s, " [{name}: {REDACTED}]")
                } else {
                    write!(s, " [{name}: {}]", redact_text(value))
                };
            }
            if let Some(body) = &http.body {
                let body = match serde_json::from_str::<Value>(body) {
                    Ok(json) => canonical_json(&redact_json(&json)),
                    Err(_) => redact_text(body),
                };
                s.push_str(" body: ");
                s.push_str(&body);
            }
            s
        }
        Request::Mcp(mcp) => {
            format!(
                "mcp: {}/{} {}",
                mcp.server,
                mcp.tool,
                canonical_json(&redact_json(&mcp.arguments))
            )
        }
        Request::File(file) => {
            let op = serde_json::to_value(file.op)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string));
            let size = file
                .content
                .as_ref()
                .map(|c| format!(" ({} bytes)", c.len()))
                .unwrap_or_default();
            format!("file: {} {}{size}", op.unwrap_or_default(), file.path)
        }
    };
    let text = if text.contains(['\n', '\r']) {
        text.replace(['\n', '\r'], " ")
    } else {
        text
    };
    cut_chars(&text, MAX_SUMMARY_CHARS).unwrap_or(text)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn summary(json: &str) -> String {
        summarize(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn all_patterns_compile() {
        assert!(RULES.iter().all(|rule| rule.regex().is_some()));
    }

    /// Every rule applied without its needle check, as redaction worked before the check existed.
    fn redact_every_rule(text: &str) -> String {
        let mut out = text.to_string();
        for rule in &RULES {
            out = rule
                .regex()
                .unwrap()
                .replace_all(&out, rule.replacement)
                .into_owned();
        }
        out
    }

    #[test]
    fn the_needle_check_never_changes_a_redaction() {
        let texts = [
            r#"curl -H "Authorization: Bearer abcdef123456" https://x"#,
            r#"curl -H 'PROXY-AUTHORIZATION: Basic dXNlcjpwYXNz' -H "Cookie: s=1" -H 'X-Vault-Token: hvs.abc'"#,
            "mysql --password=hunter2 -u root; psql --PASSWD hunter2; app --Api-Key=k1 --private-key 'x y'",
            "export API_KEY=sk-live-1234567890abcdefghij; DB_PWD=p; Credentials: c; access_key=a; private_key=b",
            "git clone https://bob:s3cr3tpass@github.com/x/y; HTTPS://U:P@H/",
            "echo ghp_abcdefghijklmnopqrstuvwxyz0123456789 github_pat_abcdefghijklmnopqrstuvwxyz xoxb-1234567890-abc",
            "glpat-abcdefghijklmnopqrstu AKIAABCDEFGHIJKLMNOP eyJhbGciOiJI.eyJzdWIiOiIx.SflKxwRJSMeKKF2QT4",
            "TOKEN=xyz123 deploy; send token Bearer abcdef987654 now; auth basic token c2VjcmV0OnBhc3M=",
            "ALTER USER bob WITH PASSWORD 'hunter2'; CREATE USER a IDENTIFIED BY \"pw\"",
            "alt_0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef ala_0123abcd_abcdefghijklmnopqrstuvwxyz",
            // Unicode case folding: the Kelvin sign (U+212A) matches `k` in a case-insensitive pattern.
            "TO\u{212A}EN=xyz123 and api-\u{212A}ey: secret-value and pa\u{17F}\u{17F}word=x",
            "ls -la",
            "cargo build --release && ./target/release/app --port 8080",
            "é é é --token é",
        ];
        for text in texts {
            for variant in [text.to_string(), text.to_uppercase(), text.to_lowercase()] {
                assert_eq!(
                    redact_text(&variant),
                    redact_every_rule(&variant),
                    "{variant}"
                );
            }
        }
        assert!(redact_text("TO\u{212A}EN=xyz123").contains(REDACTED));
    }

    #[test]
    fn shell_secrets_are_redacted() {
        let cases = [
            (
                r#"curl -H "Authorization: Bearer abcdef123456" https://x"#,
                "abcdef123456",
            ),
            ("mysql --password=hunter2 -u root", "hunter2"),
            ("psql --password hunter2", "hunter2"),
            ("export API_KEY=sk-live-1234567890abcdefghij", "1234567890"),
            (
                "git clone https://bob:s3cr3tpass@github.com/x/y",
                "s3cr3tpass",
            ),
            (
                "echo ghp_abcdefghijklmnopqrstuvwxyz0123456789",
                "ghp_abcdef",
            ),
            (
                "aws configure set aws_access_key_id AKIAABCDEFGHIJKLMNOP",
                "AKIAABCDEFGHIJKLMNOP",
            ),
            ("TOKEN=xyz123 deploy", "xyz123"),
            // Schemes in a row: the value after the last one is the secret.
            ("send token Bearer abcdef987654 now", "abcdef987654"),
            ("auth basic token c2VjcmV0OnBhc3M=", "c2VjcmV0OnBhc3M"),
        ];
        for (command, secret) in cases {
            let s = summary(&serde_json::json!({"kind": "shell", "command": command}).to_string());
            assert!(!s.contains(secret), "{command} → {s}");
            assert!(s.contains(REDACTED), "{command} → {s}");
        }
        assert_eq!(
            summary(r#"{"kind":"shell","command":"ls -la"}"#),
            "shell: ls -la"
        );
    }

    #[test]
    fn http_headers_and_json_bodies_are_redacted() {
        let s = summary(
            r#"{"kind":"http","method":"POST","url":"https://api.example.com/v1?x=1","headers":{"Authorization":"Bearer zzz-top-secret","Content-Type":"application/json"},"body":"{\"password\":\"hunter2\",\"name\":\"db\"}"}"#,
        );
        assert!(
            !s.contains("zzz-top-secret") && !s.contains("hunter2"),
            "{s}"
        );
        assert!(
            s.contains("Content-Type: application/json") && s.contains("\"name\":\"db\""),
            "{s}"
        );
    }

    #[test]
    fn sql_and_mcp_secrets_are_redacted() {
        let s = summary(r#"{"kind":"sql","sql":"ALTER USER bob WITH PASSWORD 'hunter2'"}"#);
        assert!(!s.contains("hunter2"), "{s}");
        let s = summary(
            r#"{"kind":"mcp","server":"db","tool":"connect","arguments":{"api_key":"k-123","host":"h"}}"#,
        );
        assert!(!s.contains("k-123") && s.contains("\"host\":\"h\""), "{s}");
    }

    #[test]
    fn long_summaries_are_cut_on_a_char_boundary() {
        let long = "é".repeat(5000);
        let s = summary(&serde_json::json!({"kind": "shell", "command": long}).to_string());
        assert_eq!(s.chars().count(), MAX_SUMMARY_CHARS + 1);
        assert!(s.ends_with('…'));
    }
}
