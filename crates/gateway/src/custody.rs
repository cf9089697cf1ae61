//! Credential custody: the agent's airlock token is checked and never passed on; every credential the agent
//! sends is stripped; the upstream's own credential (from the configuration) is injected. What is removed
//! from a request before it is judged and forwarded:
//!
//! - every `Authorization` header (all copies) and the other credential headers in
//!   [`CREDENTIAL_HEADERS`] (`Proxy-Authorization`, `Cookie`, `X-Api-Key`, …), and any header with the name
//!   of the upstream's configured credential header;
//! - client-address headers an upstream might trust: `Forwarded`, every `X-Forwarded-*`, `X-Real-IP`, …
//!   ([`is_forwarding_header`]);
//! - hop-by-hop headers (`Connection` and the headers it names, `Keep-Alive`, `TE`, `Trailer`,
//!   `Transfer-Encoding`, `Upgrade`, `Proxy-Connection`), `Host` (the upstream gets its own), `Expect`, and
//!   `Content-Length` (recomputed), and any `X-Airlock-*` header (the gateway's own namespace);
//! - query parameters whose name is a credential ([`CREDENTIAL_PARAMS`], case-insensitive: `access_token`,
//!   `token`, `api_key`, `key`, `password`, `X-Amz-Signature`, …).
//!
//! From responses: hop-by-hop headers and `Set-Cookie` (cookies are credentials in both directions).
//!
//! Agent token scopes (`airlock token create NAME --scope …`): each scope names one upstream the token may
//! call, as `NAME` or `upstream:NAME`; `*` (or `upstream:*`) allows every configured upstream. A token
//! without a matching scope gets 403.

use std::collections::BTreeMap;

use http::header::{self, HeaderMap, HeaderName, HeaderValue};

/// Headers that carry a credential; the agent's copies never reach the upstream.
pub const CREDENTIAL_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "api-key",
    "apikey",
    "x-auth-token",
    "x-access-token",
    "private-token",
    "x-vault-token",
    "x-hasura-admin-secret",
    "x-shopify-access-token",
    "x-github-token",
    "x-amz-security-token",
    "x-goog-api-key",
];

/// Hop-by-hop headers (RFC 9110 §7.6.1) and the non-standard `Proxy-Connection`.
pub const HOP_BY_HOP_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Query parameters that carry a credential (compared case-insensitively after percent-decoding).
pub const CREDENTIAL_PARAMS: &[&str] = &[
    "access_token",
    "accesstoken",
    "token",
    "auth",
    "auth_token",
    "authtoken",
    "authorization",
    "api_key",
    "apikey",
    "api-key",
    "x-api-key",
    "key",
    "private_token",
    "refresh_token",
    "id_token",
    "session_token",
    "client_secret",
    "secret",
    "password",
    "passwd",
    "jwt",
    "sig",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
];

/// Headers naming the client's address or the original request (`Forwarded`, `X-Forwarded-*`, …).
pub fn is_forwarding_header(name: &str) -> bool {
    name == "forwarded"
        || name.starts_with("x-forwarded-")
        || matches!(
            name,
            "x-real-ip"
                | "x-client-ip"
                | "true-client-ip"
                | "cf-connecting-ip"
                | "x-cluster-client-ip"
                | "x-original-url"
                | "x-rewrite-url"
                | "x-original-host"
                | "x-host"
        )
}

/// Why the agent's token was not accepted (before asking the store).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenProblem {
    /// No `Authorization: Bearer alt_…` header.
    Missing,
    /// Two different airlock tokens.
    Ambiguous,
}

/// The agent's airlock token: the one `Authorization: Bearer alt_…` value among all `Authorization`
/// headers. Other `Authorization` values are ignored here (and stripped before forwarding).
pub fn agent_token(headers: &HeaderMap) -> Result<&str, TokenProblem> {
    let mut found: Option<&str> = None;
    for value in headers.get_all(header::AUTHORIZATION) {
        let Ok(text) = value.to_str() else { continue };
        let text = text.trim();
        let Some((scheme, token)) = text.split_once(' ') else {
            continue;
        };
        let token = token.trim();
        if !scheme.eq_ignore_ascii_case("bearer")
            || !token.starts_with(airlock_store::credentials::TOKEN_PREFIX)
        {
            continue;
        }
        match found {
            Some(seen) if seen != token => return Err(TokenProblem::Ambiguous),
            _ => found = Some(token),
        }
    }
    found.ok_or(TokenProblem::Missing)
}

/// Whether a token with `scopes` may call `upstream`.
pub fn scope_allows(scopes: &[String], upstream: &str) -> bool {
    scopes.iter().any(|scope| {
        let scope = scope.trim();
        let name = scope.strip_prefix("upstream:").unwrap_or(scope);
        name == "*" || name == upstream
    })
}

/// Whether a request header is removed before judging and forwarding. `extra` lists the names of headers
/// named by `Connection`, and the upstream's credential header.
fn is_stripped_request_header(name: &str, extra: &[String]) -> bool {
    CREDENTIAL_HEADERS.contains(&name)
        || HOP_BY_HOP_HEADERS.contains(&name)
        || is_forwarding_header(name)
        || matches!(name, "host" | "expect" | "content-length")
        || name.starts_with("x-airlock-")
        || extra.iter().any(|e| e == name)
}

/// The names `Connection` lists (lowercase), plus the upstream's credential header.
fn extra_stripped(headers: &HeaderMap, upstream_auth: Option<&str>) -> Vec<String> {
    let mut extra: Vec<String> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty())
        .collect();
    if let Some(name) = upstream_auth {
        extra.push(name.to_string());
    }
    extra
}

/// The agent's headers with every credential, forwarding, hop-by-hop and framing header removed, as sent
/// upstream (before the upstream's credential is added).
pub fn forwardable_headers(headers: &HeaderMap, upstream_auth: Option<&str>) -> HeaderMap {
    let extra = extra_stripped(headers, upstream_auth);
    let mut out = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        if !is_stripped_request_header(name.as_str(), &extra) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Headers as the engine sees them: names lowercase, repeated headers joined with `, `.
pub fn envelope_headers(forwardable: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in forwardable {
        let value = String::from_utf8_lossy(value.as_bytes());
        out.entry(name.as_str().to_string())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    out
}

/// Adds the upstream's credential (marked sensitive, so it is never printed by hyper or `Debug`).
pub fn inject_credential(headers: &mut HeaderMap, auth: Option<&(HeaderName, HeaderValue)>) {
    if let Some((name, value)) = auth {
        let mut value = value.clone();
        value.set_sensitive(true);
        headers.insert(name.clone(), value);
    }
}

/// The query string without credential parameters, as the raw `name=value` pairs the agent sent, in order.
/// `None` when nothing is left.
pub fn strip_query(query: Option<&str>) -> Option<String> {
    let query = query?;
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .filter(|pair| {
            let raw_name = pair.split('=').next().unwrap_or_default();
            let name = decode_component(raw_name).to_ascii_lowercase();
            !CREDENTIAL_PARAMS.contains(&name.trim())
        })
        .collect();
    (!kept.is_empty()).then(|| kept.join("&"))
}

fn decode_component(text: &str) -> String {
    url_decode(&text.replace('+', " "))
}

fn url_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let (Some(h), Some(l)) = (
                bytes.get(i + 1).and_then(|c| (*c as char).to_digit(16)),
                bytes.get(i + 2).and_then(|c| (*c as char).to_digit(16)),
            )
        {
            out.push(u8::try_from(h * 16 + l).unwrap_or(b'?'));
            i += 3;
            continue;
        }
        out.push(b);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes hop-by-hop headers (and those `Connection` names) and `Set-Cookie` from an upstream response.
pub fn clean_response_headers(headers: &mut HeaderMap) {
    let extra = extra_stripped(headers, None);
    for name in HOP_BY_HOP_HEADERS.iter().copied().chain(["set-cookie"]) {
        headers.remove(name);
    }
    for name in extra {
        headers.remove(name.as_str());
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn finds_the_one_airlock_token() {
        let h = map(&[
            ("authorization", "Bearer upstream-secret"),
            ("authorization", "bearer alt_abc"),
        ]);
        assert_eq!(agent_token(&h), Ok("alt_abc"));
        assert_eq!(agent_token(&map(&[])), Err(TokenProblem::Missing));
        assert_eq!(
            agent_token(&map(&[("authorization", "Basic dTpw")])),
            Err(TokenProblem::Missing)
        );
        let two = map(&[
            ("authorization", "Bearer alt_a"),
            ("authorization", "Bearer alt_b"),
        ]);
        assert_eq!(agent_token(&two), Err(TokenProblem::Ambiguous));
    }

    #[test]
    fn scopes() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(scope_allows(&s(&["railway"]), "railway"));
        assert!(scope_allows(&s(&["upstream:railway"]), "railway"));
        assert!(scope_allows(&s(&["*"]), "github"));
        assert!(scope_allows(&s(&["upstream:*"]), "github"));
        assert!(!scope_allows(&s(&["railway"]), "github"));
        assert!(!scope_allows(&s(&[]), "railway"));
        assert!(!scope_allows(&s(&["rail*"]), "railway"));
    }

    #[test]
    fn strips_credentials_and_hop_by_hop() {
        let h = map(&[
            ("authorization", "Bearer alt_abc"),
            ("authorization", "Bearer other"),
            ("proxy-authorization", "Basic x"),
            ("cookie", "s=1"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-host", "evil"),
            ("forwarded", "for=1.2.3.4"),
            ("connection", "keep-alive, x-secret-hop"),
            ("x-secret-hop", "1"),
            ("host", "evil.example"),
            ("x-upstream-key", "agent-copy"),
            ("content-type", "application/json"),
            ("accept", "a"),
            ("accept", "b"),
        ]);
        let out = forwardable_headers(&h, Some("x-upstream-key"));
        let names: Vec<&str> = out.keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["content-type", "accept"]);
        assert_eq!(envelope_headers(&out)["accept"], "a, b");
    }

    #[test]
    fn strips_credential_query_parameters() {
        assert_eq!(
            strip_query(Some("a=1&access_token=x&Token=y&b=2&api%5Fkey=z&KEY=k")),
            Some("a=1&b=2".to_string())
        );
        assert_eq!(strip_query(Some("token=x")), None);
        assert_eq!(strip_query(None), None);
        assert_eq!(
            strip_query(Some("keyword=1&tokens=2")),
            Some("keyword=1&tokens=2".into())
        );
    }
}
