//! Routing: which upstream an agent's request goes to, from the request target alone. Agents call
//! `/u/NAME/REST?QUERY`; the upstream URL is always the configured `url` + `REST`, never anything from the
//! `Host` header or an absolute-form target. Targets that could mean something else to the upstream than to
//! the gateway are refused rather than normalised: `.` and `..` segments (also percent-encoded, doubly
//! encoded, or followed by `;params`), encoded slashes and backslashes (`%2f`, `%5c`), raw backslashes, NUL
//! (`%00`), absolute-form (`GET http://host/… HTTP/1.1`) and authority-form (`CONNECT`) targets.

use http::{Method, Uri};

/// The prefix of every gateway route.
pub const ROUTE_PREFIX: &str = "/u/";

/// A routed request: upstream name, the path after it (empty or starting with `/`), and the raw query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route<'a> {
    /// The upstream's name (not yet checked against the configuration).
    pub upstream: &'a str,
    /// The rest of the path, still percent-encoded as sent: empty, or starting with `/`.
    pub rest: &'a str,
    /// The raw query string, if any.
    pub query: Option<&'a str>,
}

/// Why a request target is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    /// Not under `/u/NAME` (404).
    NotARoute,
    /// An absolute-form or authority-form target (400).
    AbsoluteForm,
    /// `CONNECT` (405).
    Connect,
    /// A path the gateway will not pass on (400); says what was found.
    BadPath(&'static str),
}

impl RouteError {
    /// A message for the agent.
    pub fn message(self) -> &'static str {
        match self {
            RouteError::NotARoute => "no such route: call /u/UPSTREAM/PATH",
            RouteError::AbsoluteForm => {
                "absolute-form request targets are not accepted: send only the path (/u/UPSTREAM/PATH)"
            }
            RouteError::Connect => "CONNECT is not supported: call /u/UPSTREAM/PATH",
            RouteError::BadPath(what) => what,
        }
    }
}

/// Routes a request target.
pub fn route<'a>(method: &Method, uri: &'a Uri) -> Result<Route<'a>, RouteError> {
    if method == Method::CONNECT {
        return Err(RouteError::Connect);
    }
    if uri.scheme().is_some() || uri.authority().is_some() {
        return Err(RouteError::AbsoluteForm);
    }
    let path = uri.path();
    let Some(after) = path.strip_prefix(ROUTE_PREFIX) else {
        return Err(RouteError::NotARoute);
    };
    let (upstream, rest) = match after.find('/') {
        Some(i) => after.split_at(i),
        None => (after, ""),
    };
    if upstream.is_empty() {
        return Err(RouteError::NotARoute);
    }
    check_path(path)?;
    Ok(Route {
        upstream,
        rest,
        query: uri.query(),
    })
}

/// Refuses paths whose meaning could differ between the gateway and the upstream.
fn check_path(path: &str) -> Result<(), RouteError> {
    if path.contains('\\') {
        return Err(RouteError::BadPath(
            "backslashes are not allowed in the path",
        ));
    }
    let encodes = |escape: &[u8]| {
        path.as_bytes()
            .windows(escape.len())
            .any(|w| w.eq_ignore_ascii_case(escape))
    };
    if encodes(b"%2f") || encodes(b"%5c") {
        return Err(RouteError::BadPath(
            "encoded slashes or backslashes (%2F, %5C) are not allowed in the path",
        ));
    }
    if encodes(b"%00") {
        return Err(RouteError::BadPath("NUL (%00) is not allowed in the path"));
    }
    for segment in path.split('/') {
        if is_dot_segment(segment) {
            return Err(RouteError::BadPath(
                "`.` and `..` path segments (also encoded) are not allowed",
            ));
        }
    }
    Ok(())
}

/// Whether a raw segment means `.` or `..` once decoded (up to three times) and stripped of `;params`.
fn is_dot_segment(segment: &str) -> bool {
    let mut text = std::borrow::Cow::Borrowed(segment);
    for _ in 0..4 {
        let bare = text.split(';').next().unwrap_or_default();
        if bare == "." || bare == ".." {
            return true;
        }
        // Only a `%` decodes to something else (and most segments have none: no copy made for them).
        if !text.contains('%') {
            return false;
        }
        let decoded = percent_decode(&text);
        if decoded == *text {
            return false;
        }
        text = std::borrow::Cow::Owned(decoded);
    }
    // Still changing after four rounds: refuse rather than guess.
    true
}

fn percent_decode(text: &str) -> String {
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

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn target(text: &str) -> Result<(String, String, Option<String>), RouteError> {
        let uri: Uri = text.parse().unwrap();
        route(&Method::GET, &uri).map(|r| {
            (
                r.upstream.to_string(),
                r.rest.to_string(),
                r.query.map(str::to_string),
            )
        })
    }

    #[test]
    fn routes_by_path_only() {
        assert_eq!(
            target("/u/railway/graphql/v2?x=1").unwrap(),
            ("railway".into(), "/graphql/v2".into(), Some("x=1".into()))
        );
        assert_eq!(
            target("/u/railway").unwrap(),
            ("railway".into(), String::new(), None)
        );
        assert_eq!(target("/v/railway"), Err(RouteError::NotARoute));
        assert_eq!(target("/u/"), Err(RouteError::NotARoute));
        assert_eq!(target("/u//x"), Err(RouteError::NotARoute));
    }

    #[test]
    fn refuses_ambiguous_targets() {
        for bad in [
            "/u/railway/../other/x",
            "/u/railway/./x",
            "/u/railway/%2e%2e/other",
            "/u/railway/%2E./other",
            "/u/railway/.%2e",
            "/u/railway/%252e%252e/other",
            "/u/railway/..;/other",
            "/u/railway/a%2fb",
            "/u/railway/a%2Fb",
            "/u/railway/a%5cb",
            "/u/railway/a%00b",
            "/u/..",
        ] {
            assert!(
                matches!(target(bad), Err(RouteError::BadPath(_))),
                "{bad}: {:?}",
                target(bad)
            );
        }
        assert_eq!(
            target("http://evil/u/railway/x"),
            Err(RouteError::AbsoluteForm)
        );
        let connect: Uri = "evil.example:443".parse().unwrap();
        assert_eq!(route(&Method::CONNECT, &connect), Err(RouteError::Connect));
        assert!(target("/u/railway/a..b/.x/x.").is_ok());
    }
}
