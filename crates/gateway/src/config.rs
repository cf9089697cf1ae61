//! The gateway's configuration: `$AIRLOCK_HOME/airlock.toml` (or `airlock serve --config FILE`). Unknown keys
//! are errors, so a typo never silently turns a setting off. `${VAR}` in an upstream's `url` or credential is
//! taken from airlock's own environment once, at start; a variable that is not set refuses the start, naming
//! it and the upstream. The resolved credential lives in a [`Secret`], whose `Debug` never shows it.
//!
//! ```toml
//! listen = "127.0.0.1:8787"          # agents
//! admin_listen = "127.0.0.1:8788"    # /approvals (web page), /metrics, /healthz, /api/approvals/ID
//! hold_seconds = 30                  # how long an `ask` is held open before answering 202
//! max_body_bytes = 10485760          # request bodies (also once decoded) over this are refused with 413
//! # database_url = "postgres://…"   # the store (default: $AIRLOCK_HOME/airlock.db)
//! # defer_seconds = 600             # cancel window of what the policy marks `defer`; 0 forwards at once
//! # [breaker]                       # circuit breaker: per_agent = 5, per_upstream = 10, window_seconds = 60
//! # public_url = "https://airlock.example.com"  # base of the approval page's links (202s, webhooks)
//!
//! [upstreams.railway]
//! url = "https://backboard.railway.com"
//! environment = "production"
//! auth = { header = "Authorization", value = "Bearer ${RAILWAY_API_TOKEN}" }
//! # ca_file = "/path/to/ca.pem"     # trust exactly these certificates instead of the system's roots
//! # judge_as = "railway"            # judge calls as if sent to this provider (a name or a base URL)
//!
//! [mcp_servers.items]                # a remote MCP server (streamable HTTP): agents call /mcp/items
//! url = "https://mcp.example.com/mcp"
//! environment = "production"
//! auth = { header = "Authorization", value = "Bearer ${ITEMS_TOKEN}" }
//!
//! [webhooks.slack]                   # told about every new pending approval (see `crate::webhooks`)
//! url = "${SLACK_WEBHOOK_URL}"
//! format = "slack"                   # {"text": "…"}
//! [webhooks.ops]
//! url = "http://127.0.0.1:9000/airlock"
//! format = "json"                    # generic JSON, signed: `secret` is required
//! secret = "${AIRLOCK_WEBHOOK_SECRET}"
//! # retry_base_ms = 1000             # first retry after this; doubles each time, at most 5 minutes
//! # max_attempts = 8                 # then give up (the error stays in the store)
//! ```
//!
//! `judge_as` is for an upstream that speaks a known provider's API at another address (a local fake, a
//! corporate proxy): the engine is given the provider's URL ([`PROVIDERS`], or the `https://…` base written
//! there) with the agent's path, so the provider's catalogue rules apply; the request still goes to `url`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::ConfigError;

/// Where agents connect by default.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8787";
/// Where the admin listener (metrics, health, approvals API) binds by default.
pub const DEFAULT_ADMIN_LISTEN: &str = airlock_store::links::DEFAULT_ADMIN_LISTEN;
/// How long an `ask` is held open by default, in seconds.
pub const DEFAULT_HOLD_SECONDS: u64 = 30;
/// The default request body cap: 10 MiB.
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

/// Provider names `judge_as` accepts, and the base URL the engine is shown for each (the hosts the
/// catalogue's provider rules are written for).
pub const PROVIDERS: &[(&str, &str)] = &[
    ("railway", "https://backboard.railway.com"),
    ("github", "https://api.github.com"),
];

/// The configuration file as written (before `${VAR}` expansion).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Agents' listener address.
    #[serde(default)]
    pub listen: Option<String>,
    /// Admin listener address.
    #[serde(default)]
    pub admin_listen: Option<String>,
    /// Seconds an `ask` is held open.
    #[serde(default)]
    pub hold_seconds: Option<u64>,
    /// Request body cap in bytes.
    #[serde(default)]
    pub max_body_bytes: Option<usize>,
    /// The store's database (`AIRLOCK_DATABASE_URL` overrides it).
    #[serde(default)]
    pub database_url: Option<String>,
    /// Cancel window of deferred deletes, in seconds (for the deferred-delete guard).
    #[serde(default)]
    pub defer_seconds: Option<u64>,
    /// The circuit breaker's `[breaker]` table; its keys are checked by `airlock-store`
    /// (`airlock_store::config::breaker_limits`).
    #[serde(default)]
    pub breaker: Option<toml::Table>,
    /// Upstreams by name.
    #[serde(default)]
    pub upstreams: BTreeMap<String, UpstreamFile>,
    /// Remote MCP servers (streamable HTTP) by name: agents call `/mcp/NAME` (see `crate::mcp_http`).
    #[serde(default)]
    pub mcp_servers: BTreeMap<String, UpstreamFile>,
    /// The base URL people reach the admin listener at, for links in notifications (default:
    /// `http://ADMIN_LISTEN`).
    #[serde(default)]
    pub public_url: Option<String>,
    /// Webhooks told about every new pending approval, by name.
    #[serde(default)]
    pub webhooks: BTreeMap<String, WebhookFile>,
}

/// One `[webhooks.NAME]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookFile {
    /// Where to POST: `http(s)://…` (`${VAR}` expanded; a Slack webhook URL is itself a credential).
    pub url: String,
    /// Body format (default `json`).
    #[serde(default)]
    pub format: Option<WebhookFormat>,
    /// The HMAC-SHA256 key of `X-Airlock-Signature` (`${VAR}` expanded); required for `json`.
    #[serde(default)]
    pub secret: Option<String>,
    /// Delay before the first retry, in milliseconds; doubled for each further one.
    #[serde(default)]
    pub retry_base_ms: Option<u64>,
    /// Attempts before giving up.
    #[serde(default)]
    pub max_attempts: Option<u32>,
}

/// What a webhook's body looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WebhookFormat {
    /// Generic JSON (`{"event": "approval.pending", …}`), signed with the webhook's secret.
    Json,
    /// Slack-compatible `{"text": "…"}` (also understood by Mattermost, Rocket.Chat, …).
    Slack,
}

/// Default delay before a webhook's first retry.
pub const DEFAULT_WEBHOOK_RETRY_BASE_MS: u64 = 1_000;
/// Default attempts at a webhook delivery before giving up.
pub const DEFAULT_WEBHOOK_MAX_ATTEMPTS: u32 = 8;

/// One webhook, resolved.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Its name (in metrics, logs and the store; never its URL).
    pub name: String,
    /// Where to POST, checked to be an absolute `http(s)` URL. A [`Secret`]: Slack-style URLs are credentials.
    pub url: Secret,
    /// Body format.
    pub format: WebhookFormat,
    /// The signing key, if any (always present for [`WebhookFormat::Json`]).
    pub secret: Option<Secret>,
    /// Delay before the first retry.
    pub retry_base_ms: u64,
    /// Attempts before giving up (at least 1).
    pub max_attempts: u32,
}

/// One `[upstreams.NAME]` table as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpstreamFile {
    /// Base URL: `https://host[:port][/prefix]`.
    pub url: String,
    /// Environment label given to the engine (`production`, `staging`, `development`).
    #[serde(default)]
    pub environment: Option<String>,
    /// The credential the gateway injects.
    #[serde(default)]
    pub auth: Option<AuthFile>,
    /// PEM file of the certificates to trust for this upstream instead of the system's roots.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Judge calls as if sent to this provider: a name from [`PROVIDERS`] or an `http(s)://host` base URL.
    #[serde(default)]
    pub judge_as: Option<String>,
}

/// `auth = { header = "…", value = "…" }` as written.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthFile {
    /// Header name, e.g. `Authorization`.
    pub header: String,
    /// Header value, usually with a `${VAR}`.
    pub value: String,
}

/// A credential value. Its `Debug` output is `Secret(***)`; read it with [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value itself: only for putting it on the wire.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The gateway's configuration, resolved and checked.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Agents' listener.
    pub listen: SocketAddr,
    /// Admin listener.
    pub admin_listen: SocketAddr,
    /// Seconds an `ask` is held open before the gateway answers 202.
    pub hold_seconds: u64,
    /// Request body cap in bytes (raw and decoded).
    pub max_body_bytes: usize,
    /// Upstreams by name.
    pub upstreams: BTreeMap<String, UpstreamConfig>,
    /// Remote MCP servers by name (same keys as an upstream; `url` is the server's MCP endpoint).
    pub mcp_servers: BTreeMap<String, UpstreamConfig>,
    /// The store's database URL, when the file names one.
    pub database_url: Option<String>,
    /// Cancel window of deferred deletes, in seconds, when the file sets one (`0`: no deferral).
    pub defer_seconds: Option<u64>,
    /// The circuit breaker's limits (`[breaker]`, defaults from `airlock-store`).
    pub breaker: airlock_store::breaker::BreakerLimits,
    /// Base URL of the approval page in every link given to a person (202 answers, webhooks, MCP results) (`scheme://host[:port][/prefix]`, no trailing `/`), when
    /// the file sets `public_url`.
    pub public_url: Option<String>,
    /// Webhooks by name.
    pub webhooks: BTreeMap<String, WebhookConfig>,
}

/// One upstream, resolved.
#[derive(Debug, Clone)]
pub struct UpstreamConfig {
    /// Its name: agents call `/u/NAME/…`.
    pub name: String,
    /// `http` or `https`.
    pub scheme: String,
    /// `host[:port]` as configured.
    pub authority: String,
    /// Path prefix without a trailing `/` (often empty).
    pub base_path: String,
    /// Environment label for the engine.
    pub environment: Option<String>,
    /// The injected credential: header name (lowercase) and value.
    pub auth: Option<(String, Secret)>,
    /// Certificates to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// `scheme://host[/prefix]` the engine is shown instead of [`UpstreamConfig::base_url`] (`judge_as`).
    pub judged_base: Option<String>,
}

impl UpstreamConfig {
    /// `scheme://authority/base_path`, as configured.
    pub fn base_url(&self) -> String {
        format!("{}://{}{}", self.scheme, self.authority, self.base_path)
    }
}

impl GatewayConfig {
    /// Reads and resolves the file at `path`, taking `${VAR}` values from `env`.
    pub fn load(path: &Path, env: &dyn Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text, path, env)
    }

    /// Parses and resolves configuration text; `path` only names the file in errors and resolves a relative
    /// `ca_file`.
    pub fn parse(
        text: &str,
        path: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigError> {
        let file: ConfigFile = toml::from_str(text).map_err(|e| ConfigError::Syntax {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        let addr = |key: &'static str, value: Option<&str>, default: &str| {
            let value = value.unwrap_or(default);
            value
                .parse::<SocketAddr>()
                .map_err(|_| ConfigError::BadAddress {
                    key,
                    value: value.to_string(),
                })
        };
        let listen = addr("listen", file.listen.as_deref(), DEFAULT_LISTEN)?;
        let admin_listen = addr(
            "admin_listen",
            file.admin_listen.as_deref(),
            DEFAULT_ADMIN_LISTEN,
        )?;
        let max_body_bytes = file.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if max_body_bytes == 0 {
            return Err(ConfigError::Invalid {
                key: "max_body_bytes".into(),
                message: "must be at least 1".into(),
            });
        }
        let base_dir = path.parent().unwrap_or(Path::new("."));
        let mut upstreams = BTreeMap::new();
        for (name, upstream) in file.upstreams {
            let resolved = resolve_upstream("upstreams", &name, upstream, base_dir, env)?;
            upstreams.insert(name, resolved);
        }
        let mut mcp_servers = BTreeMap::new();
        for (name, server) in file.mcp_servers {
            let resolved = resolve_upstream("mcp_servers", &name, server, base_dir, env)?;
            mcp_servers.insert(name, resolved);
        }
        if upstreams.is_empty() && mcp_servers.is_empty() {
            return Err(ConfigError::NoUpstreams {
                path: path.to_path_buf(),
            });
        }
        let breaker = match file.breaker {
            None => airlock_store::breaker::BreakerLimits::default(),
            Some(table) => {
                let limits: airlock_store::breaker::BreakerLimits = toml::Value::Table(table)
                    .try_into()
                    .map_err(|e: toml::de::Error| ConfigError::Invalid {
                        key: "breaker".into(),
                        message: e.message().to_string(),
                    })?;
                limits.validate().map_err(|e| ConfigError::Invalid {
                    key: "breaker".into(),
                    message: e.to_string(),
                })?;
                limits
            }
        };
        let public_url = match file.public_url.as_deref().map(str::trim) {
            None => None,
            Some(url) => Some(airlock_store::links::check_public_url(url).ok_or_else(|| ConfigError::Invalid {
                key: "public_url".into(),
                message: format!(
                    "`{url}` is not an http(s) base URL such as `https://airlock.example.com` (no credentials, query or fragment)"
                ),
            })?),
        };
        let mut webhooks = BTreeMap::new();
        for (name, webhook) in file.webhooks {
            let resolved = resolve_webhook(&name, webhook, env)?;
            webhooks.insert(name, resolved);
        }
        Ok(Self {
            listen,
            admin_listen,
            hold_seconds: file.hold_seconds.unwrap_or(DEFAULT_HOLD_SECONDS),
            max_body_bytes,
            upstreams,
            mcp_servers,
            database_url: file.database_url,
            defer_seconds: file.defer_seconds,
            breaker,
            public_url,
            webhooks,
        })
    }
}

/// Upstream names: what may follow `/u/` (letters, digits, `-`, `_`, `.`; not `.` or `..`).
pub fn valid_upstream_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn resolve_upstream(
    table: &str,
    name: &str,
    file: UpstreamFile,
    base_dir: &Path,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<UpstreamConfig, ConfigError> {
    if !valid_upstream_name(name) {
        return Err(ConfigError::BadUpstreamName(name.to_string()));
    }
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: format!("{table}.{name}.{key}"),
        message,
    };
    let url = expand(&file.url, name, "url", env)?;
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        invalid(
            "url",
            format!("`{url}` is not an absolute http(s) URL such as `https://api.example.com`"),
        )
    })?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(invalid(
            "url",
            format!("scheme `{scheme}` is not supported: use http or https"),
        ));
    }
    if rest.contains(['?', '#', '\\']) {
        return Err(invalid(
            "url",
            "must not contain a query (`?`), a fragment (`#`) or a backslash".into(),
        ));
    }
    let (authority, path) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    if authority.is_empty() || authority.contains('@') {
        return Err(invalid(
            "url",
            "needs a host, and no user name or password in it (use `auth`)".into(),
        ));
    }
    if authority.parse::<http::uri::Authority>().is_err() {
        return Err(invalid("url", format!("`{authority}` is not a valid host")));
    }
    if path.split('/').any(|s| s == "." || s == "..") {
        return Err(invalid(
            "url",
            "must not contain `.` or `..` path segments".into(),
        ));
    }
    let auth = match file.auth {
        None => None,
        Some(auth) => {
            let header = auth.header.trim().to_ascii_lowercase();
            if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
                return Err(invalid(
                    "auth.header",
                    format!("`{}` is not a header name", auth.header),
                ));
            }
            let value = expand(&auth.value, name, "auth.value", env)?;
            if http::HeaderValue::from_str(&value).is_err() {
                return Err(invalid(
                    "auth.value",
                    "contains characters not allowed in a header value (after expanding variables)"
                        .into(),
                ));
            }
            Some((header, Secret::new(value)))
        }
    };
    let ca_file = file
        .ca_file
        .map(|p| if p.is_absolute() { p } else { base_dir.join(p) });
    let judged_base = match file.judge_as.as_deref().map(str::trim) {
        None => None,
        Some(judge_as) => Some(judged_base(judge_as).ok_or_else(|| {
            let names: Vec<&str> = PROVIDERS.iter().map(|(n, _)| *n).collect();
            invalid(
                "judge_as",
                format!(
                    "`{judge_as}` is neither a known provider ({}) nor an http(s) base URL without a query",
                    names.join(", ")
                ),
            )
        })?),
    };
    Ok(UpstreamConfig {
        name: name.to_string(),
        scheme,
        authority: authority.to_ascii_lowercase(),
        base_path: path.trim_end_matches('/').to_string(),
        environment: file.environment.filter(|e| !e.trim().is_empty()),
        auth,
        ca_file,
        judged_base,
    })
}

fn resolve_webhook(
    name: &str,
    file: WebhookFile,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<WebhookConfig, ConfigError> {
    if !valid_upstream_name(name) {
        return Err(ConfigError::Invalid {
            key: format!("webhooks.{name}"),
            message:
                "a webhook name uses letters, digits, `-`, `_` and `.` (at most 64 characters)"
                    .into(),
        });
    }
    let owner = format!("webhooks.{name}");
    let invalid = |key: &str, message: String| ConfigError::Invalid {
        key: format!("webhooks.{name}.{key}"),
        message,
    };
    let url = expand(&file.url, &owner, "url", env)?;
    let fine = url
        .parse::<http::Uri>()
        .ok()
        .filter(|uri| {
            matches!(uri.scheme_str(), Some("http" | "https"))
                && uri
                    .authority()
                    .is_some_and(|a| !a.as_str().is_empty() && !a.as_str().contains('@'))
        })
        .is_some();
    if !fine {
        // The URL itself is not repeated: it may be a credential (Slack-style webhook URLs are).
        return Err(invalid(
            "url",
            "is not an absolute http(s) URL with a host (and no user name or password)".into(),
        ));
    }
    let format = file.format.unwrap_or(WebhookFormat::Json);
    let secret = match file.secret {
        None => None,
        Some(secret) => Some(Secret::new(expand(&secret, &owner, "secret", env)?)),
    };
    if format == WebhookFormat::Json && secret.is_none() {
        return Err(invalid(
            "secret",
            format!(
                "webhook `{name}` has format = \"json\", which is signed: add `secret = \"${{AIRLOCK_WEBHOOK_SECRET}}\"` (the receiver checks `X-Airlock-Signature` with it)"
            ),
        ));
    }
    let max_attempts = file.max_attempts.unwrap_or(DEFAULT_WEBHOOK_MAX_ATTEMPTS);
    if max_attempts == 0 {
        return Err(invalid("max_attempts", "must be at least 1".into()));
    }
    Ok(WebhookConfig {
        name: name.to_string(),
        url: Secret::new(url),
        format,
        secret,
        retry_base_ms: file
            .retry_base_ms
            .unwrap_or(DEFAULT_WEBHOOK_RETRY_BASE_MS)
            .max(1),
        max_attempts,
    })
}

/// The base URL for a `judge_as` value: a provider's, or an `http(s)://host[/prefix]` written out.
fn judged_base(judge_as: &str) -> Option<String> {
    if let Some((_, url)) = PROVIDERS
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(judge_as))
    {
        return Some((*url).to_string());
    }
    let uri: http::Uri = judge_as.parse().ok()?;
    let scheme = uri.scheme_str()?.to_ascii_lowercase();
    let authority = uri.authority()?.as_str();
    let fine = (scheme == "http" || scheme == "https")
        && !authority.contains('@')
        && uri.query().is_none();
    fine.then(|| {
        format!(
            "{scheme}://{}{}",
            authority.to_ascii_lowercase(),
            uri.path().trim_end_matches('/')
        )
    })
}

/// Replaces every `${VAR}` in `text` with the variable's value from `env`. `$` not followed by `{` stays.
fn expand(
    text: &str,
    upstream: &str,
    key: &'static str,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("${") {
        let (before, after) = rest.split_at(at);
        out.push_str(before);
        let after = after.get(2..).unwrap_or_default();
        let Some(end) = after.find('}') else {
            return Err(ConfigError::BadVariable {
                upstream: upstream.to_string(),
                key,
                message: "`${` without a closing `}`".into(),
            });
        };
        let (var, tail) = after.split_at(end);
        let valid = var
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(ConfigError::BadVariable {
                upstream: upstream.to_string(),
                key,
                message: format!("`${{{var}}}` is not a variable name"),
            });
        }
        match env(var) {
            Some(value) if !value.is_empty() => out.push_str(&value),
            Some(_) => {
                return Err(ConfigError::EmptyVariable {
                    variable: var.to_string(),
                    upstream: upstream.to_string(),
                });
            }
            None => {
                return Err(ConfigError::MissingVariable {
                    variable: var.to_string(),
                    upstream: upstream.to_string(),
                });
            }
        }
        rest = tail.get(1..).unwrap_or_default();
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, reason = "tests")]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "TOKEN" => Some("s3cret".into()),
            "EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    fn parse(text: &str) -> Result<GatewayConfig, ConfigError> {
        GatewayConfig::parse(text, Path::new("/etc/airlock/airlock.toml"), &env)
    }

    #[test]
    fn defaults_and_expansion() {
        let config = parse(
            r#"
            [upstreams.railway]
            url = "https://Backboard.railway.com/"
            environment = "production"
            auth = { header = "Authorization", value = "Bearer ${TOKEN}" }
            ca_file = "ca.pem"
            "#,
        )
        .unwrap();
        assert_eq!(config.listen.to_string(), DEFAULT_LISTEN);
        assert_eq!(config.admin_listen.to_string(), DEFAULT_ADMIN_LISTEN);
        assert_eq!(config.hold_seconds, 30);
        assert_eq!(config.max_body_bytes, 10 * 1024 * 1024);
        let railway = &config.upstreams["railway"];
        assert_eq!(railway.base_url(), "https://backboard.railway.com");
        let (header, value) = railway.auth.as_ref().unwrap();
        assert_eq!(header, "authorization");
        assert_eq!(value.expose(), "Bearer s3cret");
        assert!(!format!("{config:?}").contains("s3cret"));
        assert_eq!(
            railway.ca_file.as_deref(),
            Some(Path::new("/etc/airlock/ca.pem"))
        );
    }

    #[test]
    fn judge_as_and_breaker_limits() {
        let config = parse(
            "[breaker]\nper_agent = 2\n[upstreams.a]\nurl = \"http://127.0.0.1:9/x\"\njudge_as = \"Railway\"\n\
             [upstreams.b]\nurl = \"http://127.0.0.1:9\"\njudge_as = \"https://API.example.com/v1/\"\n",
        )
        .unwrap();
        assert_eq!(
            config.upstreams["a"].judged_base.as_deref(),
            Some("https://backboard.railway.com")
        );
        assert_eq!(
            config.upstreams["b"].judged_base.as_deref(),
            Some("https://api.example.com/v1")
        );
        assert_eq!(
            (
                config.breaker.per_agent,
                config.breaker.per_upstream,
                config.breaker.window_seconds
            ),
            (2, 10, 60)
        );
    }

    #[test]
    fn missing_variable_names_it_and_the_upstream() {
        let err = parse(
            r#"
            [upstreams.railway]
            url = "https://backboard.railway.com"
            auth = { header = "Authorization", value = "Bearer ${RAILWAY_API_TOKEN}" }
            "#,
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("RAILWAY_API_TOKEN"), "{message}");
        assert!(message.contains("railway"), "{message}");
        let empty = parse(
            "[upstreams.a]\nurl = \"http://h\"\nauth = { header = \"X-Key\", value = \"${EMPTY}\" }\n",
        )
        .unwrap_err();
        assert!(empty.to_string().contains("EMPTY"), "{empty}");
    }

    #[test]
    fn webhooks_and_public_url() {
        let config = parse(
            "public_url = \"https://airlock.example.com/ops/\"\n[upstreams.a]\nurl = \"http://h\"\n\
             [webhooks.ops]\nurl = \"http://127.0.0.1:9/hook\"\nformat = \"json\"\nsecret = \"${TOKEN}\"\nretry_base_ms = 10\n\
             [webhooks.slack]\nurl = \"https://hooks.slack.com/services/${TOKEN}\"\nformat = \"slack\"\n",
        )
        .unwrap();
        assert_eq!(
            config.public_url.as_deref(),
            Some("https://airlock.example.com/ops")
        );
        let ops = &config.webhooks["ops"];
        assert_eq!(ops.format, WebhookFormat::Json);
        assert_eq!(ops.secret.as_ref().unwrap().expose(), "s3cret");
        assert_eq!((ops.retry_base_ms, ops.max_attempts), (10, 8));
        let slack = &config.webhooks["slack"];
        assert_eq!(slack.format, WebhookFormat::Slack);
        assert_eq!(
            slack.url.expose(),
            "https://hooks.slack.com/services/s3cret"
        );
        assert!(slack.secret.is_none());
        // Neither the secret nor a webhook URL (a credential for Slack) shows in the configuration's Debug.
        assert!(!format!("{config:?}").contains("s3cret"));
        assert!(!format!("{config:?}").contains("hooks.slack.com"));
    }

    #[test]
    fn json_webhook_without_secret_is_refused_naming_it() {
        for text in [
            "[upstreams.a]\nurl = \"http://h\"\n[webhooks.pager]\nurl = \"http://127.0.0.1:9/\"\nformat = \"json\"\n",
            // `json` is the default format.
            "[upstreams.a]\nurl = \"http://h\"\n[webhooks.pager]\nurl = \"http://127.0.0.1:9/\"\n",
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains("webhooks.pager.secret"), "{err}");
            assert!(err.contains("`pager`"), "{err}");
            assert!(err.contains("json"), "{err}");
        }
        for (text, needle) in [
            (
                "[upstreams.a]\nurl = \"http://h\"\n[webhooks.x]\nurl = \"hooks.slack.com/x\"\nformat = \"slack\"\n",
                "webhooks.x.url",
            ),
            (
                "[upstreams.a]\nurl = \"http://h\"\n[webhooks.x]\nurl = \"http://h\"\nformat = \"xml\"\n",
                "xml",
            ),
            (
                "[upstreams.a]\nurl = \"http://h\"\n[webhooks.x]\nurl = \"http://h\"\nsecret = \"${NOPE}\"\n",
                "NOPE",
            ),
            (
                "[upstreams.a]\nurl = \"http://h\"\n[webhooks.x]\nurl = \"http://h\"\nformat = \"slack\"\nmax_attempts = 0\n",
                "max_attempts",
            ),
            (
                "public_url = \"/approvals\"\n[upstreams.a]\nurl = \"http://h\"\n",
                "public_url",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_are_errors() {
        for (text, needle) in [
            (
                "lisen = \"127.0.0.1:1\"\n[upstreams.a]\nurl = \"http://h\"\n",
                "lisen",
            ),
            (
                "[upstreams.a]\nurl = \"http://h\"\ntimeout = 3\n",
                "timeout",
            ),
            ("[upstreams.a]\nurl = \"ftp://h\"\n", "scheme"),
            ("[upstreams.a]\nurl = \"http://u:p@h\"\n", "password"),
            ("[upstreams.a]\nurl = \"http://h/x?y=1\"\n", "query"),
            ("[upstreams.\"a/b\"]\nurl = \"http://h\"\n", "a/b"),
            (
                "listen = \"nowhere\"\n[upstreams.a]\nurl = \"http://h\"\n",
                "nowhere",
            ),
            ("[upstreams.a]\nurl = \"http://h/${X\"\n", "closing"),
            ("hold_seconds = 3\n", "upstream"),
            (
                "[upstreams.a]\nurl = \"http://h\"\njudge_as = \"railwy\"\n",
                "railwy",
            ),
            (
                "[breaker]\nper_agent = 0\n[upstreams.a]\nurl = \"http://h\"\n",
                "per_agent",
            ),
            (
                "[breaker]\nper_agnet = 2\n[upstreams.a]\nurl = \"http://h\"\n",
                "per_agnet",
            ),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.contains(needle), "{text}: {err}");
        }
    }
}
