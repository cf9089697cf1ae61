//! Secret detection for outbound request bodies and URLs: well-known credential formats found by prefix and
//! charset scanning (the way secret scanners do), no regexes. A *strong* secret is a token whose format
//! alone proves it is a credential (AWS key id, private key block, `ghp_…`, `xoxb-…`, `sk_live_…`); a *weak*
//! one is a field that usually holds a credential (`password=…`, `"api_key": "…"`), which only counts when
//! the destination is a known collection host.

use serde::Deserialize;

/// Which secrets a catalogue pattern requires in the request (`secret = "strong"` or `"any"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SecretClass {
    /// Only credential formats that are unmistakable.
    Strong,
    /// Also fields named like credentials (`password`, `secret`, `token`, `api_key`) with a value.
    Any,
}

/// A secret found at `start..end` of the scanned text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Found {
    /// What was found, for a person: `aws access key`, `private key`, …
    pub kind: &'static str,
    /// First byte.
    pub start: usize,
    /// One past the last byte.
    pub end: usize,
    /// Whether the format alone proves a credential.
    pub strong: bool,
}

/// Token formats: (prefix, minimum length of the tail, allowed tail characters, description).
const TOKENS: &[(&str, usize, &str, &str)] = &[
    ("AKIA", 16, UPPER_DIGITS, "aws access key"),
    ("ASIA", 16, UPPER_DIGITS, "aws access key"),
    ("ghp_", 30, ALNUM, "github token"),
    ("gho_", 30, ALNUM, "github token"),
    ("ghu_", 30, ALNUM, "github token"),
    ("ghs_", 30, ALNUM, "github token"),
    ("ghr_", 30, ALNUM, "github token"),
    ("github_pat_", 22, ALNUM_UNDERSCORE, "github token"),
    ("glpat-", 20, ALNUM_DASH, "gitlab token"),
    ("xoxb-", 10, ALNUM_DASH, "slack token"),
    ("xoxp-", 10, ALNUM_DASH, "slack token"),
    ("xoxa-", 10, ALNUM_DASH, "slack token"),
    ("xoxr-", 10, ALNUM_DASH, "slack token"),
    ("xoxs-", 10, ALNUM_DASH, "slack token"),
    ("xapp-", 10, ALNUM_DASH, "slack token"),
    ("sk_live_", 16, ALNUM, "stripe secret key"),
    ("rk_live_", 16, ALNUM, "stripe secret key"),
    ("AIza", 35, ALNUM_DASH_UNDERSCORE, "google api key"),
    ("sk-ant-", 20, ALNUM_DASH_UNDERSCORE, "anthropic api key"),
    ("sk-proj-", 20, ALNUM_DASH_UNDERSCORE, "openai api key"),
    ("npm_", 36, ALNUM, "npm token"),
    ("pypi-", 50, ALNUM_DASH_UNDERSCORE, "pypi token"),
];

const UPPER_DIGITS: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const ALNUM: &str = "";
const ALNUM_UNDERSCORE: &str = "_";
const ALNUM_DASH: &str = "-";
const ALNUM_DASH_UNDERSCORE: &str = "-_";

/// Field names whose value is a credential (weak evidence), compared case-insensitively.
const SECRET_FIELDS: &[&str] = &[
    "aws_secret_access_key",
    "password",
    "passwd",
    "pwd",
    "secret",
    "client_secret",
    "api_key",
    "apikey",
    "access_token",
    "auth_token",
    "token",
    "private_key",
    "secret_key",
];

/// Whether `c` belongs to a token tail of the given extra charset (`""` = letters and digits).
fn in_charset(c: char, extra: &str) -> bool {
    if extra == UPPER_DIGITS {
        return c.is_ascii_uppercase() || c.is_ascii_digit();
    }
    c.is_ascii_alphanumeric() || extra.contains(c)
}

/// `str::find` without the searcher set-up cost, which dominates for the short needles and bodies here:
/// jump between occurrences of the needle's first byte and compare.
fn find_fast(haystack: &str, needle: &str) -> Option<usize> {
    let bytes = haystack.as_bytes();
    let needle = needle.as_bytes();
    let first = *needle.first()?;
    let mut from = 0;
    while let Some(rel) = bytes.get(from..)?.iter().position(|&b| b == first) {
        let at = from + rel;
        if bytes.get(at..)?.starts_with(needle) {
            return Some(at);
        }
        from = at + 1;
    }
    None
}

/// The first secret in `text`, strong ones first.
pub(crate) fn find_secret(text: &str) -> Option<Found> {
    let pairs = Pairs::new(text);
    find_private_key(text, &pairs)
        .or_else(|| find_token(text, &pairs))
        .or_else(|| find_aws_secret(text, &pairs))
        .or_else(|| find_url_password(text, &pairs))
        .or_else(|| find_field(text, &pairs))
}

/// Which byte pairs occur in a text (ASCII case folded), hashed into 4096 bits: a needle with a pair that
/// is missing cannot occur in the text (in either case), so its scan is skipped. A filter only: a needle
/// that may occur is still searched for the way it always was, so the result is the same.
struct Pairs([u64; 64]);

impl Pairs {
    fn slot(a: u8, b: u8) -> usize {
        ((usize::from(a.to_ascii_lowercase()) << 6) ^ usize::from(b.to_ascii_lowercase())) & 4095
    }

    fn new(text: &str) -> Self {
        let mut bits = [0u64; 64];
        // Each byte folded once: `slot(a, b)` of every adjacent pair, as `(a << 6) ^ b` of folded bytes.
        let mut bytes = text.bytes().map(|b| usize::from(b.to_ascii_lowercase()));
        let Some(mut before) = bytes.next() else {
            return Self(bits);
        };
        for byte in bytes {
            let slot = ((before << 6) ^ byte) & 4095;
            if let Some(word) = bits.get_mut(slot / 64) {
                *word |= 1 << (slot % 64);
            }
            before = byte;
        }
        Self(bits)
    }

    /// False when `needle` (in any ASCII case) certainly does not occur in the text.
    fn may_contain(&self, needle: &str) -> bool {
        needle.as_bytes().windows(2).all(|pair| match pair {
            [a, b] => {
                let slot = Self::slot(*a, *b);
                self.0
                    .get(slot / 64)
                    .is_some_and(|word| word & (1 << (slot % 64)) != 0)
            }
            _ => true,
        })
    }
}

/// Database and broker URLs with a password: `postgres://user:pass@host/db`, `redis://:pass@host`.
const URL_SCHEMES: &[&str] = &[
    "postgres://",
    "postgresql://",
    "mysql://",
    "mariadb://",
    "mongodb://",
    "mongodb+srv://",
    "redis://",
    "rediss://",
    "amqp://",
    "amqps://",
    "mssql://",
    "sqlserver://",
    "clickhouse://",
];

fn find_url_password(text: &str, pairs: &Pairs) -> Option<Found> {
    let mut schemes = URL_SCHEMES
        .iter()
        .filter(|s| pairs.may_contain(s))
        .peekable();
    schemes.peek()?;
    let lower = text.to_ascii_lowercase();
    for scheme in schemes {
        let mut from = 0;
        while let Some(rel) = lower.get(from..).and_then(|t| find_fast(t, scheme)) {
            let start = from + rel;
            from = start + scheme.len();
            let rest = text.get(from..).unwrap_or_default();
            // userinfo ends at `@`, before any `/`, whitespace or quote.
            let authority: String = rest
                .chars()
                .take_while(|c| !matches!(c, '/' | ' ' | '"' | '\\' | '\'' | '\n' | '?' | '#'))
                .collect();
            let Some((userinfo, _)) = authority.rsplit_once('@') else {
                continue;
            };
            let Some((_, password)) = userinfo.split_once(':') else {
                continue;
            };
            if !password.is_empty() && !password.starts_with('$') && !password.starts_with('{') {
                let end = from + authority.len();
                return Some(Found {
                    kind: "database url with password",
                    start,
                    end,
                    strong: true,
                });
            }
        }
    }
    None
}

fn find_private_key(text: &str, pairs: &Pairs) -> Option<Found> {
    if !pairs.may_contain("-----BEGIN ") {
        return None;
    }
    let mut from = 0;
    while let Some(rel) = find_fast(text.get(from..)?, "-----BEGIN ") {
        let start = from + rel;
        let header_end = text
            .get(start + 11..)?
            .find("-----")
            .map(|e| start + 11 + e + 5)?;
        let header = text.get(start..header_end)?;
        if header.contains("PRIVATE KEY") && header.len() < 64 {
            return Some(Found {
                kind: "private key",
                start,
                end: header_end,
                strong: true,
            });
        }
        from = start + 11;
    }
    None
}

fn find_token(text: &str, pairs: &Pairs) -> Option<Found> {
    let mut best: Option<Found> = None;
    for &(prefix, min, charset, kind) in TOKENS {
        if !pairs.may_contain(prefix) {
            continue;
        }
        let mut from = 0;
        while let Some(rel) = text.get(from..).and_then(|t| find_fast(t, prefix)) {
            let start = from + rel;
            from = start + prefix.len();
            // A token starts at a word boundary.
            let before = text.get(..start).and_then(|b| b.chars().next_back());
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let tail = text.get(from..).unwrap_or_default();
            let len: usize = tail
                .chars()
                .take_while(|&c| in_charset(c, charset))
                .map(char::len_utf8)
                .sum();
            if len >= min && best.as_ref().is_none_or(|b| start < b.start) {
                best = Some(Found {
                    kind,
                    start,
                    end: from + len,
                    strong: true,
                });
                break;
            }
        }
    }
    best
}

/// `aws_secret_access_key` followed by a 40-character key (form, JSON, ini or env spelling).
fn find_aws_secret(text: &str, pairs: &Pairs) -> Option<Found> {
    if !pairs.may_contain("aws_secret_access_key") {
        return None;
    }
    let lower = text.to_ascii_lowercase();
    let start = find_fast(&lower, "aws_secret_access_key")?;
    let (value_start, value_end) = field_value(text, start + "aws_secret_access_key".len())?;
    let value = text.get(value_start..value_end)?;
    let keylike = value.len() >= 40
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/+=".contains(c));
    keylike.then_some(Found {
        kind: "aws secret key",
        start,
        end: value_end,
        strong: true,
    })
}

/// A credential-named field with a non-empty value: `password=…`, `"token": "…"`, `secret: …`.
fn find_field(text: &str, pairs: &Pairs) -> Option<Found> {
    let mut fields = SECRET_FIELDS
        .iter()
        .filter(|f| pairs.may_contain(f))
        .peekable();
    fields.peek()?;
    let lower = text.to_ascii_lowercase();
    for field in fields {
        let mut from = 0;
        while let Some(rel) = lower.get(from..).and_then(|t| find_fast(t, field)) {
            let start = from + rel;
            from = start + field.len();
            let before = lower.get(..start).and_then(|b| b.chars().next_back());
            if before.is_some_and(|c| c.is_ascii_alphanumeric()) {
                continue;
            }
            if let Some((_, end)) = field_value(text, from) {
                return Some(Found {
                    kind: "credential field",
                    start,
                    end,
                    strong: false,
                });
            }
        }
    }
    None
}

/// After a field name ending at `at`: skips a closing quote, `=` or `:` and an opening quote, and returns
/// the byte range of a non-empty value.
fn field_value(text: &str, at: usize) -> Option<(usize, usize)> {
    let rest = text.get(at..)?;
    let mut offset = 0;
    let mut chars = rest.char_indices().peekable();
    // Optional closing quote(s) of a JSON key (`\"` inside an escaped JSON string too).
    while let Some(&(_, c)) = chars.peek() {
        if c == '"' || c == '\\' || c == '\'' {
            chars.next();
        } else {
            break;
        }
    }
    while let Some(&(_, c)) = chars.peek() {
        if c == ' ' {
            chars.next();
        } else {
            break;
        }
    }
    match chars.next() {
        Some((_, '=' | ':')) => {}
        _ => return None,
    }
    while let Some(&(i, c)) = chars.peek() {
        if c == ' ' || c == '"' || c == '\\' || c == '\'' {
            chars.next();
        } else {
            offset = i;
            break;
        }
    }
    let value_start = at + offset;
    let value = text.get(value_start..)?;
    let len: usize = value
        .chars()
        .take_while(|&c| {
            !matches!(
                c,
                '&' | '"' | '\'' | '\\' | ',' | '}' | '\n' | '\r' | ' ' | ';'
            )
        })
        .map(char::len_utf8)
        .sum();
    (len > 0 && offset > 0).then_some((value_start, value_start + len))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(text: &str) -> Option<(&'static str, bool, String)> {
        find_secret(text).map(|f| {
            (
                f.kind,
                f.strong,
                text.get(f.start..f.end).unwrap_or("?").to_string(),
            )
        })
    }

    #[test]
    fn finds_strong_secrets() {
        let (k, strong, text) =
            kind("aws_access_key_id=AKIAIOSFODNN7EXAMPLE&x=1").unwrap_or_default();
        assert_eq!(
            (k, strong, text.as_str()),
            ("aws access key", true, "AKIAIOSFODNN7EXAMPLE")
        );
        assert_eq!(
            kind(r#"{"t": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl"}"#).map(|f| f.0),
            Some("private key")
        );
        assert_eq!(
            kind("token ghp_0123456789abcdefghijABCDEFGHIJ0123456").map(|f| f.0),
            Some("github token")
        );
        assert_eq!(
            kind("key=sk_live_51H8abcdEFGH1234ijkl").map(|f| f.0),
            Some("stripe secret key")
        );
        let aws = "aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
        assert_eq!(
            kind(aws).map(|f| (f.0, f.1)),
            Some(("aws secret key", true))
        );
    }

    #[test]
    fn finds_weak_fields() {
        assert_eq!(
            kind(r#"{"user":"a","password":"hunter2"}"#).map(|f| (f.0, f.1)),
            Some(("credential field", false))
        );
        assert_eq!(
            kind("password=hunter2&x=1").map(|f| f.2),
            Some("password=hunter2".to_string())
        );
    }

    #[test]
    fn ignores_ordinary_text() {
        assert_eq!(kind(r#"{"name": "widget", "count": 3}"#), None);
        assert_eq!(kind("AKIA is a prefix"), None);
        assert_eq!(kind(r#"{"password": ""}"#), None);
        assert_eq!(kind("-----BEGIN PUBLIC KEY-----"), None);
        assert_eq!(kind("xAKIAIOSFODNN7EXAMPLE"), None);
    }
}
