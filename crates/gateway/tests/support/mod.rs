//! Test support for the gateway: a recording "echo upstream" (a real HTTP server on 127.0.0.1, plain or TLS
//! with a CA made by rcgen), a harness that starts a real gateway on port 0 over an SQLite store in a temp
//! dir, and a small HTTP/1.1 client that sends request targets exactly as written (no normalisation).
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use airlock_engine::Engine;
use airlock_gateway::{Gateway, GatewayConfig, RunningGateway};
use airlock_store::gate::Gate;
use airlock_store::{Approval, AuthenticatedApprover, Store};
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use http_body_util::{BodyExt as _, Full};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// The credential the gateway injects for the upstream under test.
pub const UPSTREAM_SECRET: &str = "Bearer upstream-credential-0123456789";

/// One request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    /// Path and query exactly as received.
    pub target: String,
    /// Every header, in order, names lowercase.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Everything received, as one text (to look for a leaked token anywhere).
    pub fn everything(&self) -> String {
        let mut text = format!("{} {}\n", self.method, self.target);
        for (n, v) in &self.headers {
            text.push_str(&format!("{n}: {v}\n"));
        }
        text.push_str(&String::from_utf8_lossy(&self.body));
        text
    }
}

/// A recording upstream server.
#[derive(Clone)]
pub struct EchoUpstream {
    pub addr: SocketAddr,
    pub name: &'static str,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// PEM of the CA that signed its certificate, when it speaks TLS.
    pub ca_pem: Option<String>,
}

impl EchoUpstream {
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn count(&self) -> usize {
        self.seen.lock().unwrap().len()
    }

    pub fn url(&self) -> String {
        match self.ca_pem {
            Some(_) => format!("https://127.0.0.1:{}", self.addr.port()),
            None => format!("http://{}", self.addr),
        }
    }

    /// A plain HTTP upstream.
    pub async fn plain(name: &'static str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = Self {
            addr,
            name,
            seen: Arc::default(),
            ca_pem: None,
        };
        let app = upstream.router();
        tokio::spawn(async move { axum::serve(listener, app).await });
        upstream
    }

    /// A TLS upstream whose certificate (for 127.0.0.1) is signed by a fresh CA.
    pub async fn tls(name: &'static str) -> Self {
        let (ca_pem, server_config) = tls_server_config();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server_config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let upstream = Self {
            addr,
            name,
            seen: Arc::default(),
            ca_pem: Some(ca_pem),
        };
        let app = upstream.router();
        tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let acceptor = acceptor.clone();
                let app = app.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper_util::service::TowerToHyperService::new(app);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        upstream
    }

    fn router(&self) -> Router {
        Router::new().fallback(record).with_state(self.clone())
    }
}

async fn record(State(upstream): State<EchoUpstream>, request: Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    let body = body.collect().await.unwrap().to_bytes().to_vec();
    let seen = Seen {
        method: parts.method.to_string(),
        target: parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_default(),
        headers: parts
            .headers
            .iter()
            .map(|(n, v)| {
                (
                    n.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    let n = {
        let mut all = upstream.seen.lock().unwrap();
        all.push(seen);
        all.len()
    };
    let body = serde_json::json!({"upstream": upstream.name, "n": n}).to_string();
    Response::builder()
        .status(200)
        .header("content-type", "application/json")
        .header("x-upstream", upstream.name)
        .header("set-cookie", "session=upstream-session-cookie")
        .body(Body::from(body))
        .unwrap()
}

fn tls_server_config() -> (String, rustls::ServerConfig) {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    };
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "airlock test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
        .unwrap()
        .signed_by(&leaf_key, &issuer)
        .unwrap();
    let key = rustls::pki_types::PrivateKeyDer::try_from(leaf_key.serialize_der()).unwrap();
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![leaf.der().clone()], key)
    .unwrap();
    (ca_cert.pem(), config)
}

/// How to start a harness.
#[derive(Debug, Clone)]
pub struct Options {
    pub hold_seconds: u64,
    pub max_body_bytes: Option<usize>,
    pub tls: bool,
    pub scopes: Vec<String>,
    /// `defer_seconds`: 0 (no deferral) unless a test of deferral sets it.
    pub defer_seconds: u64,
    /// More top-level configuration (e.g. a `[breaker]` table), written before the upstreams.
    pub extra_config: String,
    /// More keys for `[upstreams.railway]` (e.g. `judge_as = "railway"`).
    pub railway_config: String,
    /// Threads serving agent connections ([`Gateway::with_agent_threads`]): 2, as `airlock serve` on this
    /// machine, unless a test sets 0 (served on the test's runtime).
    pub agent_threads: usize,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            hold_seconds: 1,
            max_body_bytes: None,
            tls: false,
            scopes: vec!["railway".into()],
            defer_seconds: 0,
            extra_config: String::new(),
            railway_config: String::new(),
            agent_threads: 2,
        }
    }
}

/// A gateway with two upstreams (`railway`, the one under test, and `other`), a store and an agent token.
pub struct Harness {
    pub dir: tempfile::TempDir,
    pub store: Store,
    pub gate: Gate,
    pub railway: EchoUpstream,
    pub other: EchoUpstream,
    pub gateway: RunningGateway,
    pub token: String,
}

impl Harness {
    pub async fn start(options: Options) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&format!(
            "sqlite://{}",
            dir.path().join("airlock.db").display()
        ))
        .await
        .unwrap()
        .with_group_commit();
        let gate = Gate::new(Arc::new(Engine::new().unwrap()), store.clone());
        let railway = if options.tls {
            EchoUpstream::tls("railway").await
        } else {
            EchoUpstream::plain("railway").await
        };
        let other = EchoUpstream::plain("other").await;
        let mut text = format!(
            "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nhold_seconds = {}\n",
            options.hold_seconds
        );
        if let Some(cap) = options.max_body_bytes {
            text.push_str(&format!("max_body_bytes = {cap}\n"));
        }
        text.push_str(&format!("defer_seconds = {}\n", options.defer_seconds));
        text.push_str(&options.extra_config);
        text.push_str(&format!(
            "[upstreams.railway]\nurl = \"{}\"\nenvironment = \"production\"\nauth = {{ header = \"Authorization\", value = \"${{UPSTREAM_SECRET}}\" }}\n",
            railway.url()
        ));
        text.push_str(&options.railway_config);
        if let Some(pem) = &railway.ca_pem {
            std::fs::write(dir.path().join("ca.pem"), pem).unwrap();
            text.push_str("ca_file = \"ca.pem\"\n");
        }
        text.push_str(&format!(
            "[upstreams.other]\nurl = \"{}\"\nenvironment = \"development\"\nauth = {{ header = \"X-Other-Key\", value = \"other-credential\" }}\n",
            other.url()
        ));
        let config_path = dir.path().join("airlock.toml");
        std::fs::write(&config_path, &text).unwrap();
        let config = GatewayConfig::load(&config_path, &|name| {
            (name == "UPSTREAM_SECRET").then(|| UPSTREAM_SECRET.to_string())
        })
        .unwrap();
        let gateway = Gateway::new(config, gate.clone())
            .with_agent_threads(options.agent_threads)
            .bind()
            .await
            .unwrap()
            .spawn();
        let (_, token) = store
            .create_token("agent-1", &options.scopes, None)
            .await
            .unwrap();
        Self {
            dir,
            store,
            gate,
            railway,
            other,
            gateway,
            token,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.gateway.agent_addr()
    }

    pub fn bearer(&self) -> String {
        format!("Bearer {}", self.token)
    }

    /// Sends a request with the agent's token.
    pub async fn call(&self, method: &str, target: &str, body: impl Into<Bytes>) -> Answer {
        let bearer = self.bearer();
        send(
            self.addr(),
            method,
            target,
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await
    }

    /// The free function `spawn_graphql` with this harness's gateway and agent token.
    pub fn spawn_graphql(&self, body: impl Into<Bytes>) -> tokio::task::JoinHandle<Answer> {
        spawn_graphql(self.addr(), self.bearer(), body)
    }

    /// An approver who can vote.
    pub async fn approver(&self, name: &str) -> AuthenticatedApprover {
        let (_, secret) = self.store.add_approver(name).await.unwrap();
        self.store.authenticate_approver(&secret).await.unwrap()
    }

    /// Waits until exactly `n` approvals are pending (at most 10 s) and returns them, newest first.
    pub async fn pending(&self, n: usize) -> Vec<Approval> {
        for _ in 0..200 {
            let pending = self.store.list_approvals(false).await.unwrap();
            if pending.len() == n {
                return pending;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("expected {n} pending approvals");
    }
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Sends one HTTP/1.1 request on a new connection, with the request target exactly as given. A `host`
/// header is added unless `headers` has one.
pub async fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    body: impl Into<Bytes>,
) -> Answer {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut request = Request::builder()
        .method(method)
        .uri(target)
        .body(Full::new(body.into()))
        .unwrap();
    if !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("host")) {
        request
            .headers_mut()
            .insert("host", HeaderValue::from_str(&addr.to_string()).unwrap());
    }
    for (name, value) in headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    let response = sender.send_request(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Answer {
        status: parts.status.as_u16(),
        headers: parts.headers,
        body,
    }
}

/// Sends `body` as an agent's GraphQL POST (the incident's shape) to the gateway at `addr` with the
/// `Authorization` value `bearer`, in a task of its own, so the test can act while the gateway holds it.
pub fn spawn_graphql(
    addr: SocketAddr,
    bearer: String,
    body: impl Into<Bytes>,
) -> tokio::task::JoinHandle<Answer> {
    let body = body.into();
    tokio::spawn(async move {
        send(
            addr,
            "POST",
            GRAPHQL,
            &[
                ("authorization", &bearer),
                ("content-type", "application/json"),
            ],
            body,
        )
        .await
    })
}

/// Writes raw bytes to the gateway and reads the whole answer (the request should say `Connection: close`).
pub async fn send_raw(addr: SocketAddr, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(raw).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP answer.
pub fn raw_status(answer: &str) -> u16 {
    answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {answer:?}"))
}

/// The agent-side path of the Railway upstream's GraphQL endpoint.
pub const GRAPHQL: &str = "/u/railway/graphql/v2";

/// The incident's request body: a GraphQL `volumeDelete` mutation.
pub const VOLUME_DELETE: &str =
    r#"{"query":"mutation { volumeDelete(volumeId: \"3d2f6a0e-prod-volume\") }"}"#;
