//! Links to the approval page. One builder for every place that tells a person where to decide a held
//! request — the hook's denial, the MCP proxy's tool result, the gateway's 202 and the webhooks — so they all
//! point at the same page: `public_url` from `airlock.toml` when set (the address people reach, e.g. behind a
//! reverse proxy), else the admin listener `http://ADMIN_LISTEN`.

/// The admin listener (approval page, approvals API, metrics) when `airlock.toml` sets no `admin_listen`.
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:8788";

/// Where the approval page lives; [`ApprovalPage::url`] gives one approval's link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalPage {
    base: String,
}

impl ApprovalPage {
    /// The page under `public_url` (already checked with [`check_public_url`]) if given, else under the
    /// admin listener `admin_listen` (`host:port`).
    pub fn new(public_url: Option<&str>, admin_listen: &str) -> Self {
        let base = match public_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("http://{admin_listen}"),
        };
        Self { base }
    }

    /// The base every link starts with (`https://airlock.example.com`, `http://127.0.0.1:8788`).
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The page of one approval: `BASE/approvals/apr_…`.
    pub fn url(&self, approval_id: &str) -> String {
        format!("{}/approvals/{approval_id}", self.base)
    }
}

impl Default for ApprovalPage {
    fn default() -> Self {
        Self::new(None, DEFAULT_ADMIN_LISTEN)
    }
}

/// `url` without a trailing `/` if it can be the base of the page's links: an `http(s)://host[:port][/prefix]`
/// URL without credentials, query or fragment; `None` otherwise.
pub fn check_public_url(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url.trim()).ok()?;
    let fine = matches!(parsed.scheme(), "http" | "https")
        && parsed.host_str().is_some()
        && parsed.username().is_empty()
        && parsed.password().is_none()
        && parsed.query().is_none()
        && parsed.fragment().is_none();
    fine.then(|| parsed.as_str().trim_end_matches('/').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_use_the_public_url_when_set() {
        let page = ApprovalPage::new(Some("https://airlock.example.com/ops/"), "127.0.0.1:9");
        assert_eq!(
            page.url("apr_1"),
            "https://airlock.example.com/ops/approvals/apr_1"
        );
        let page = ApprovalPage::new(None, "127.0.0.1:9");
        assert_eq!(page.url("apr_2"), "http://127.0.0.1:9/approvals/apr_2");
        assert_eq!(
            ApprovalPage::default().url("apr_3"),
            "http://127.0.0.1:8788/approvals/apr_3"
        );
    }

    #[test]
    fn public_url_must_be_a_plain_http_base() {
        assert_eq!(
            check_public_url("https://Airlock.example.com/ops/").as_deref(),
            Some("https://airlock.example.com/ops")
        );
        assert_eq!(
            check_public_url("http://10.0.0.5:8788").as_deref(),
            Some("http://10.0.0.5:8788")
        );
        for bad in [
            "/approvals",
            "airlock.example.com",
            "ftp://airlock.example.com",
            "https://user:pw@airlock.example.com",
            "https://airlock.example.com/?x=1",
            "https://airlock.example.com/#top",
            "javascript:alert(1)",
        ] {
            assert_eq!(check_public_url(bad), None, "{bad}");
        }
    }
}
