//! Upstreams: a pool of HTTP/1.1 connections per configured upstream (rustls on ring for `https`; one pool
//! per thread serving agents, see [`Upstream::with_own_pool`] and [`crate::connections`]), the URL a
//! routed request goes to (always the configured scheme, host and path prefix + the agent's path), and
//! sending a request with the upstream's credential injected. TLS trusts the system's root certificates,
//! or exactly the certificates in the upstream's `ca_file`.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use http::{Method, Uri};
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::config::UpstreamConfig;
use crate::connections::{ConnectionPool, UpstreamBody};
use crate::custody;
use crate::error::GatewayError;

/// How long connecting to an upstream may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How a client connects: TCP, then TLS for `https`.
pub type UpstreamConnector = HttpsConnector<HttpConnector>;

/// How long an idle pooled connection to an upstream is kept.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// One upstream, ready to receive requests.
#[derive(Debug, Clone)]
pub struct Upstream {
    config: UpstreamConfig,
    auth: Option<(HeaderName, HeaderValue)>,
    pool: Arc<ConnectionPool>,
    metrics: crate::metrics::UpstreamMetrics,
}

/// A failure to reach the upstream (no answer at all; an error status from the upstream is an answer).
#[derive(Debug, thiserror::Error)]
#[error("upstream `{upstream}` could not be reached: {message}")]
pub struct UpstreamError {
    /// The upstream.
    pub upstream: String,
    /// What went wrong (no credential in it).
    pub message: String,
}

impl Upstream {
    /// Builds the client for `config`: loads `ca_file` or the system's roots for `https`.
    pub fn new(config: UpstreamConfig) -> Result<Self, GatewayError> {
        let name = config.name.clone();
        let tls_error = |message: String| GatewayError::Tls {
            upstream: name.clone(),
            message,
        };
        let roots = roots_for(&config)?;
        let connector = connector(roots, CONNECT_TIMEOUT, &name)?;
        let pool = ConnectionPool::new(connector, POOL_IDLE_TIMEOUT);
        let auth = match &config.auth {
            None => None,
            Some((header, secret)) => {
                let name = HeaderName::from_bytes(header.as_bytes())
                    .map_err(|e| tls_error(format!("credential header: {e}")))?;
                let mut value = HeaderValue::from_str(secret.expose()).map_err(|_| {
                    tls_error("credential value is not a valid header value".into())
                })?;
                value.set_sensitive(true);
                Some((name, value))
            }
        };
        let metrics = crate::metrics::UpstreamMetrics::new(&config.name);
        Ok(Self {
            config,
            auth,
            pool,
            metrics,
        })
    }

    /// The same upstream with a connection pool of its own (a clone shares the pool). A pooled connection is
    /// driven by a task on the runtime that opened it, so each thread serving agents on a runtime of its own
    /// uses its own pool: no request then waits on another thread's connection task.
    pub fn with_own_pool(&self) -> Self {
        Self {
            pool: self.pool.empty_copy(),
            ..self.clone()
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &UpstreamConfig {
        &self.config
    }

    /// Its metric handles.
    pub fn metrics(&self) -> &crate::metrics::UpstreamMetrics {
        &self.metrics
    }

    /// Its name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// The lowercase name of the header carrying its credential, if it has one.
    pub fn auth_header(&self) -> Option<&str> {
        self.auth.as_ref().map(|(name, _)| name.as_str())
    }

    /// The URL a request for `rest` (empty or starting with `/`, percent-encoded as sent) and `query` goes
    /// to: the configured scheme, host and prefix, then `rest`. `None` if the result does not parse or would
    /// name another host (it cannot, since `rest` starts with `/`; checked anyway).
    pub fn target(&self, rest: &str, query: Option<&str>) -> Option<Uri> {
        let path = match (self.config.base_path.as_str(), rest) {
            ("", "") => "/",
            _ => rest,
        };
        let mut text = format!(
            "{}://{}{}{}",
            self.config.scheme, self.config.authority, self.config.base_path, path
        );
        if let Some(q) = query {
            text.push('?');
            text.push_str(q);
        }
        let uri: Uri = text.parse().ok()?;
        let same_host = uri
            .authority()
            .is_some_and(|a| a.as_str().eq_ignore_ascii_case(&self.config.authority))
            && uri.scheme_str() == Some(self.config.scheme.as_str());
        same_host.then_some(uri)
    }

    /// The URL the engine is shown for `rest` and `query` when the upstream is judged as a provider
    /// (`judge_as`): the provider's base URL (which stands for the whole configured `url`, prefix included),
    /// then `rest`. `None` without `judge_as`.
    pub fn judged_url(&self, rest: &str, query: Option<&str>) -> Option<String> {
        let base = self.config.judged_base.as_deref()?;
        let path = if rest.is_empty() { "/" } else { rest };
        let mut text = format!("{base}{path}");
        if let Some(q) = query {
            text.push('?');
            text.push_str(q);
        }
        Some(text)
    }

    /// Sends a request: `headers` are the agent's after [`custody::forwardable_headers`]; the upstream's
    /// credential is added here. Returns the upstream's response, its body still streaming.
    pub async fn send(
        &self,
        method: Method,
        uri: Uri,
        mut headers: HeaderMap,
        body: Bytes,
    ) -> Result<http::Response<UpstreamBody>, UpstreamError> {
        custody::inject_credential(&mut headers, self.auth.as_ref());
        let mut request = http::Request::new(Full::new(body));
        *request.method_mut() = method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        self.pool
            .send(request)
            .await
            .map_err(|message| UpstreamError {
                upstream: self.config.name.clone(),
                message,
            })
    }
}

fn roots_for(config: &UpstreamConfig) -> Result<RootCertStore, GatewayError> {
    let mut roots = RootCertStore::empty();
    if let Some(path) = &config.ca_file {
        let ca_error = |message: String| GatewayError::CaFile {
            upstream: config.name.clone(),
            path: path.clone(),
            message,
        };
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .map_err(|e| ca_error(e.to_string()))?
            .collect::<Result<_, _>>()
            .map_err(|e| ca_error(e.to_string()))?;
        if certs.is_empty() {
            return Err(ca_error("no PEM certificate in it".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| ca_error(e.to_string()))?;
        }
        return Ok(roots);
    }
    if config.scheme != "https" {
        return Ok(roots);
    }
    system_roots(&config.name)
}

/// The system's root certificates; an error naming `owner` (an upstream, `webhooks.NAME`) when none load.
pub(crate) fn system_roots(owner: &str) -> Result<RootCertStore, GatewayError> {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    let (added, _ignored) = roots.add_parsable_certificates(found.certs);
    if added == 0 {
        let message = found
            .errors
            .first()
            .map(ToString::to_string)
            .unwrap_or_else(|| "none found".into());
        return Err(GatewayError::NoRoots {
            upstream: owner.to_string(),
            message,
        });
    }
    Ok(roots)
}

/// A connector for plain HTTP or TLS (rustls on ring) trusting exactly `roots`, for the upstreams and the
/// webhooks; `owner` names the user in a TLS set-up error.
pub(crate) fn connector(
    roots: RootCertStore,
    connect_timeout: Duration,
    owner: &str,
) -> Result<UpstreamConnector, GatewayError> {
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| GatewayError::Tls {
        upstream: owner.to_string(),
        message: e.to_string(),
    })?
    .with_root_certificates(roots)
    .with_no_client_auth();
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    Ok(hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http()
        .enable_http1()
        .wrap_connector(http))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::config::GatewayConfig;

    fn upstream(url: &str) -> Upstream {
        let text = format!("[upstreams.a]\nurl = \"{url}\"\n");
        let config =
            GatewayConfig::parse(&text, std::path::Path::new("x.toml"), &|_| None).unwrap();
        Upstream::new(config.upstreams["a"].clone()).unwrap()
    }

    #[test]
    fn targets_stay_on_the_configured_host() {
        let a = upstream("http://127.0.0.1:9/api");
        assert_eq!(
            a.target("/graphql/v2", Some("x=1")).unwrap().to_string(),
            "http://127.0.0.1:9/api/graphql/v2?x=1"
        );
        assert_eq!(
            a.target("", None).unwrap().to_string(),
            "http://127.0.0.1:9/api"
        );
        assert_eq!(
            a.target("//evil.example/x", None).unwrap().to_string(),
            "http://127.0.0.1:9/api//evil.example/x"
        );
        let bare = upstream("http://127.0.0.1:9");
        assert_eq!(
            bare.target("", None).unwrap().to_string(),
            "http://127.0.0.1:9/"
        );
        assert_eq!(
            bare.target("//evil.example/x", None)
                .unwrap()
                .authority()
                .unwrap()
                .as_str(),
            "127.0.0.1:9"
        );
    }
}
