//! Remote MCP servers over streamable HTTP (`[mcp_servers.NAME]`): agents call `http://LISTEN/mcp/NAME` with
//! their airlock token, as they call `/u/NAME/…`, and the same token, scope and custody rules apply (the
//! token's scope names the server; the agent's credentials are stripped; the server's own `auth` is
//! injected). MCP's streamable HTTP transport (revisions 2025-03-26 and 2025-06-18):
//!
//! - `POST` carries one JSON-RPC message (or a batch). Every `tools/call` in it is judged before anything
//!   is forwarded, with the stdio proxy's reading of messages ([`airlock_mcp::inbound`]), envelope
//!   ([`airlock_mcp::envelope`]) and answers ([`airlock_mcp::reply`]), through the shared [`Gate`](airlock_store::gate::Gate):
//!   allow (or approved by a person, once) ⇒ forwarded; deny ⇒ answered by the gateway, HTTP 200, with a
//!   tool result `isError: true` and the reasons; ask ⇒ held up to `hold_seconds`, then (still pending) a
//!   tool result `isError: true` with the approval id and the approvals page. The identical call after
//!   approval goes through once. A body that is not JSON gets HTTP 400 with a JSON-RPC parse error
//!   (`-32700`); nothing is forwarded.
//! - When nothing in the body was answered by the gateway, the body goes to the server as received and
//!   the server's answer (JSON or an SSE stream) is streamed back untouched. In a batch where some calls
//!   were answered by the gateway, only the rest is forwarded (never an unjudged call) and the gateway's
//!   answers are added to the server's: into its JSON array, or as the first events of its SSE stream.
//! - `GET` (the server's SSE stream) and `DELETE` (end of session) pass through without a body. Other
//!   methods get 405. `Mcp-Session-Id`, `MCP-Protocol-Version`, `Accept` and `Last-Event-ID` pass through
//!   in both directions.
//!
//! The circuit breaker and deferred deletes ([`crate::ForwardGuard`]s) are about HTTP API calls and do
//! not run here; every decision is audited by the gate.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use airlock_engine::{Context, Decision};
use airlock_mcp::envelope::tool_call_envelope;
use airlock_mcp::frame::RawMessage;
use airlock_mcp::inbound::{ClientMessage, Refusal as McpRefusal};
use airlock_mcp::reply as mcp_reply;
use airlock_store::gate::Settled;
use airlock_store::{ApprovalState, StoreError};
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use futures_util::StreamExt as _;
use http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use http_body_util::BodyExt as _;
use rmcp::model::{CallToolRequestParams, RequestId};
use serde_json::value::RawValue;

use crate::body::BodyError;
use crate::config::{UpstreamConfig, valid_upstream_name};
use crate::custody::{self, TokenProblem};
use crate::error::GatewayError;
use crate::proxy::Shared;
use crate::reply::Refusal;
use crate::upstream::Upstream;

/// The prefix of the MCP endpoints: `/mcp/NAME`.
pub const MCP_PREFIX: &str = "/mcp/";

/// The axum route of the MCP endpoints.
pub const MCP_ROUTE: &str = "/mcp/{server}";

/// The largest JSON answer of a server that is read whole (only when the gateway's own answers must be
/// merged into it; otherwise answers stream).
pub const MAX_MERGED_ANSWER_BYTES: usize = 16 * 1024 * 1024;

/// What the MCP endpoints share.
pub struct McpState {
    shared: Arc<Shared>,
    servers: HashMap<String, Upstream>,
}

impl McpState {
    /// The endpoints for `servers`, using the agents' pipeline state `shared` (gate, tokens, hold, cap).
    pub(crate) fn new(
        shared: Arc<Shared>,
        servers: &BTreeMap<String, UpstreamConfig>,
    ) -> Result<Self, GatewayError> {
        let mut built = HashMap::new();
        for (name, config) in servers {
            built.insert(name.clone(), Upstream::new(config.clone())?);
        }
        Ok(Self {
            shared,
            servers: built,
        })
    }

    /// The same endpoints over `shared` (a worker's, see [`Shared::for_worker`]), each server with a
    /// connection pool of its own.
    pub(crate) fn for_worker(&self, shared: Arc<Shared>) -> Self {
        Self {
            shared,
            servers: self
                .servers
                .iter()
                .map(|(name, server)| (name.clone(), server.with_own_pool()))
                .collect(),
        }
    }
}

/// The handler of `/mcp/NAME`.
pub async fn handle(State(state): State<Arc<McpState>>, request: http::Request<Body>) -> Response {
    let (parts, body) = request.into_parts();
    match serve(&state, parts, body).await {
        Ok(response) => response,
        Err(refusal) => refusal.response(),
    }
}

async fn serve(
    state: &McpState,
    parts: http::request::Parts,
    body: Body,
) -> Result<Response, Refusal> {
    let shared = &state.shared;
    if parts.uri.scheme().is_some() || parts.uri.authority().is_some() {
        return Err(Refusal::BadRequest(
            "absolute-form request targets are not accepted: send only the path (/mcp/SERVER)"
                .into(),
        ));
    }
    let name = parts
        .uri
        .path()
        .strip_prefix(MCP_PREFIX)
        .filter(|n| valid_upstream_name(n))
        .ok_or_else(|| Refusal::NotFound("no such route: call /mcp/SERVER".into()))?;
    let server = state.servers.get(name).ok_or_else(|| {
        Refusal::NotFound(format!(
            "no MCP server `{name}` is configured ([mcp_servers.{name}])"
        ))
    })?;
    // The agent's token and its scope, as for /u/NAME.
    let token = custody::agent_token(&parts.headers).map_err(|p| {
        Refusal::Unauthenticated(match p {
            TokenProblem::Missing => "an airlock agent token is required: send `Authorization: Bearer alt_…` (from `airlock token create`)".into(),
            TokenProblem::Ambiguous => "two different airlock tokens were sent: send one".into(),
        })
    })?;
    let agent = match shared.tokens.check(shared.gate.store(), token).await {
        Ok(agent) => agent,
        Err(StoreError::BadToken(why)) => {
            return Err(Refusal::Unauthenticated(format!(
                "the airlock token is not valid: {why}"
            )));
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot check an agent token; refusing");
            return Err(Refusal::Unavailable(
                "airlock cannot check tokens right now; nothing was forwarded".into(),
            ));
        }
    };
    if !scope_allows(&agent.scopes, name) {
        return Err(Refusal::NoScope {
            token: agent.name.clone(),
            upstream: name.to_string(),
        });
    }
    let query = custody::strip_query(parts.uri.query());
    let uri = server
        .target("", query.as_deref())
        .ok_or_else(|| Refusal::BadRequest("the query does not form a valid URL".into()))?;
    let mut headers = custody::forwardable_headers(&parts.headers, server.auth_header());
    let call = McpCall {
        state,
        server,
        agent: agent.name.clone(),
        uri,
    };
    match parts.method {
        Method::POST => {
            let raw = crate::body::read_capped(&parts.headers, body, shared.max_body_bytes)
                .await
                .map_err(|e| body_refusal(&e))?;
            let encodings = crate::body::encodings(&parts.headers);
            let decoded = crate::body::decode(&encodings, &raw, shared.max_body_bytes)
                .map_err(|e| body_refusal(&e))?
                .into_owned();
            // What is forwarded is the decoded body.
            headers.remove(header::CONTENT_ENCODING);
            Ok(call.post(headers, Bytes::from(decoded)).await)
        }
        Method::GET | Method::DELETE => {
            headers.remove(header::CONTENT_TYPE);
            headers.remove(header::CONTENT_ENCODING);
            Ok(call.forward(parts.method, headers, Bytes::new()).await)
        }
        other => Err(Refusal::MethodNotAllowed(format!(
            "{other} is not part of MCP's streamable HTTP transport: use POST, GET or DELETE"
        ))),
    }
}

fn body_refusal(error: &BodyError) -> Refusal {
    match error {
        BodyError::TooLarge { .. } => Refusal::TooLarge(error.message()),
        BodyError::Unsupported(_) => Refusal::UnsupportedEncoding(error.message()),
        BodyError::Read(_) | BodyError::Corrupt { .. } => Refusal::BadRequest(error.message()),
    }
}

/// Whether a token with `scopes` may call MCP server `name`: the upstream scopes (`NAME`, `upstream:NAME`,
/// `*`) or `mcp:NAME` / `mcp:*`.
fn scope_allows(scopes: &[String], name: &str) -> bool {
    custody::scope_allows(scopes, name)
        || scopes.iter().any(|scope| {
            scope
                .trim()
                .strip_prefix("mcp:")
                .is_some_and(|s| s == "*" || s == name)
        })
}

/// One message of a POST body, after judging.
enum Judged {
    /// Send it to the server.
    Forward(RawMessage),
    /// The gateway answers it with this.
    Answer(RawMessage),
    /// Neither (a `tools/call` notification, which cannot be answered or judged).
    Drop,
}

struct McpCall<'a> {
    state: &'a McpState,
    server: &'a Upstream,
    agent: String,
    uri: http::Uri,
}

impl McpCall<'_> {
    async fn post(&self, headers: HeaderMap, body: Bytes) -> Response {
        let messages = match split_body(&body) {
            Ok(messages) => messages,
            Err(answer) => return jsonrpc_response(StatusCode::BAD_REQUEST, answer.get()),
        };
        let batch = messages.batch;
        let deadline = Instant::now() + self.state.shared.hold;
        let mut forward = Vec::new();
        let mut answers = Vec::new();
        for message in messages.items {
            match self.judge(message, deadline).await {
                Judged::Forward(m) => forward.push(m),
                Judged::Answer(m) => answers.push(m),
                Judged::Drop => {}
            }
        }
        if answers.is_empty() && !forward.is_empty() {
            // Everything judged allowed: the body as received (content encoding undone).
            return self.forward(Method::POST, headers, body).await;
        }
        if forward.is_empty() {
            return own_answers(batch, answers);
        }
        // A batch, part of it answered by the gateway: forward the rest, merge the answers.
        let joined = format!(
            "[{}]",
            forward
                .iter()
                .map(|m| m.get())
                .collect::<Vec<_>>()
                .join(",")
        );
        let response = self
            .forward(Method::POST, headers, Bytes::from(joined))
            .await;
        merge_answers(response, answers).await
    }

    /// Reads one message; a `tools/call` is judged (and held when the policy asks).
    async fn judge(&self, message: RawMessage, deadline: Instant) -> Judged {
        match ClientMessage::read(message.get()) {
            ClientMessage::ToolCall { id, params } => {
                self.judge_tool_call(id, &params, message, deadline).await
            }
            ClientMessage::Refused { id, problem } => Judged::Answer(match problem {
                McpRefusal::InvalidRequest(why) => mcp_reply::invalid_request(id, why),
                McpRefusal::InvalidParams(why) => mcp_reply::invalid_params(id, why),
            }),
            ClientMessage::Dropped { problem } => {
                tracing::info!(server = self.server.name(), agent = %self.agent, problem, "dropped a message");
                Judged::Drop
            }
            ClientMessage::Request { .. }
            | ClientMessage::Cancelled { .. }
            | ClientMessage::Other => Judged::Forward(message),
        }
    }

    async fn judge_tool_call(
        &self,
        id: RequestId,
        params: &CallToolRequestParams,
        message: RawMessage,
        deadline: Instant,
    ) -> Judged {
        let gate = &self.state.shared.gate;
        let server = self.server.name();
        let context = Context {
            agent: Some(self.agent.clone()),
            session: None,
            cwd: None,
            environment: self.server.config().environment.clone(),
            upstream: Some(self.server.name().to_string()),
        };
        let envelope = tool_call_envelope(server, params, context);
        let settlement = match gate.judge(&envelope).await {
            Ok(settlement) => settlement,
            Err(error) => return self.blocked(id, &error),
        };
        let tool = params.name.as_ref();
        match settlement.settled {
            Settled::Allow | Settled::AllowedByApproval(_) => Judged::Forward(message),
            Settled::Deny => {
                tracing::info!(server, agent = %self.agent, tool, "tool call denied");
                Judged::Answer(mcp_reply::denied(
                    id,
                    &settlement.decision,
                    &settlement.audit,
                ))
            }
            Settled::Hold(approval) => {
                tracing::info!(server, agent = %self.agent, tool, approval_id = %approval.id, "tool call held for approval");
                let wait = deadline.saturating_duration_since(Instant::now());
                let latest = match gate.wait_for_decision(&approval.id, wait).await {
                    Ok(latest) => latest,
                    Err(error) => return self.blocked(id, &error),
                };
                match latest.state {
                    ApprovalState::Approved => {
                        match gate
                            .consume(&latest.id, &envelope, &settlement.decision)
                            .await
                        {
                            Ok(_) => Judged::Forward(message),
                            Err(error) => self.blocked(id, &error),
                        }
                    }
                    ApprovalState::Pending => {
                        Judged::Answer(self.held(id, &settlement.decision, &latest))
                    }
                    ApprovalState::Denied | ApprovalState::Expired | ApprovalState::Consumed => {
                        Judged::Answer(mcp_reply::not_approved(id, &latest))
                    }
                }
            }
        }
    }

    fn held(
        &self,
        id: RequestId,
        decision: &Decision,
        approval: &airlock_store::Approval,
    ) -> RawMessage {
        mcp_reply::held(id, decision, approval, &self.state.shared.approval_page)
    }

    fn blocked(&self, id: RequestId, error: &StoreError) -> Judged {
        tracing::error!(server = self.server.name(), error = %error, "cannot record or settle a tool call; blocking it");
        Judged::Answer(mcp_reply::blocked(id, &error.to_string()))
    }

    /// Sends the request to the server (its credential injected) and streams its answer back.
    async fn forward(&self, method: Method, headers: HeaderMap, body: Bytes) -> Response {
        match self
            .server
            .send(method, self.uri.clone(), headers, body)
            .await
        {
            Ok(answer) => {
                let (mut head, body) = answer.into_parts();
                custody::clean_response_headers(&mut head.headers);
                Response::from_parts(head, Body::new(body))
            }
            Err(e) => {
                crate::metrics::upstream_error(self.server.name());
                tracing::warn!(server = self.server.name(), error = %e.message, "MCP server failed");
                Refusal::UpstreamFailed(e.to_string()).response()
            }
        }
    }
}

/// A POST body's messages.
struct Messages {
    /// Sent as a JSON array.
    batch: bool,
    items: Vec<RawMessage>,
}

/// Splits a POST body into its messages; `Err` is the JSON-RPC error to answer with (400).
fn split_body(body: &[u8]) -> Result<Messages, RawMessage> {
    let text = std::str::from_utf8(body)
        .map_err(|e| mcp_reply::parse_error(&format!("the body is not UTF-8: {e}")))?;
    let value: Box<RawValue> =
        serde_json::from_str(text).map_err(|e| mcp_reply::parse_error(&e.to_string()))?;
    if !value.get().trim_start().starts_with('[') {
        return Ok(Messages {
            batch: false,
            items: vec![value],
        });
    }
    let items: Vec<Box<RawValue>> =
        serde_json::from_str(value.get()).map_err(|e| mcp_reply::parse_error(&e.to_string()))?;
    if items.is_empty() {
        return Err(mcp_reply::invalid_request(
            None,
            "airlock: an empty batch is not a JSON-RPC request; nothing was forwarded",
        ));
    }
    Ok(Messages { batch: true, items })
}

/// The gateway's own answers, when nothing was forwarded: one message, or an array for a batch; 202
/// without a body when there is nothing to answer.
fn own_answers(batch: bool, answers: Vec<RawMessage>) -> Response {
    if answers.is_empty() {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::ACCEPTED;
        return response;
    }
    match (batch, answers.as_slice()) {
        (false, [one]) => jsonrpc_response(StatusCode::OK, one.get()),
        _ => jsonrpc_response(StatusCode::OK, &json_array(&answers)),
    }
}

fn json_array(messages: &[RawMessage]) -> String {
    format!(
        "[{}]",
        messages
            .iter()
            .map(|m| m.get())
            .collect::<Vec<_>>()
            .join(",")
    )
}

fn jsonrpc_response(status: StatusCode, text: &str) -> Response {
    let mut response = Response::new(Body::from(text.to_string()));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// Adds the gateway's `answers` to the server's answer to the rest of a batch: as the first events of an
/// SSE stream (which keeps streaming), into a JSON array, or alone when the server had nothing to say
/// (202). An error status of the server is passed on as it is.
async fn merge_answers(response: Response, answers: Vec<RawMessage>) -> Response {
    let status = response.status();
    if status == StatusCode::ACCEPTED {
        return own_answers(true, answers);
    }
    if !status.is_success() {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_ascii_lowercase();
    let (mut head, body) = response.into_parts();
    head.headers.remove(header::CONTENT_LENGTH);
    if content_type.starts_with("text/event-stream") {
        let events: Vec<Result<Bytes, axum::Error>> = answers
            .iter()
            .map(|m| {
                Ok(Bytes::from(format!(
                    "event: message\ndata: {}\n\n",
                    m.get()
                )))
            })
            .collect();
        let stream = futures_util::stream::iter(events).chain(body.into_data_stream());
        return Response::from_parts(head, Body::from_stream(stream));
    }
    let collected = http_body_util::Limited::new(body, MAX_MERGED_ANSWER_BYTES)
        .collect()
        .await;
    let Ok(collected) = collected else {
        return Refusal::UpstreamFailed(
            "the MCP server's answer could not be read (or is over 16 MiB)".into(),
        )
        .response();
    };
    let bytes = collected.to_bytes();
    let mut all: Vec<RawMessage> = match serde_json::from_slice::<Vec<Box<RawValue>>>(&bytes) {
        Ok(items) => items,
        Err(_) => match serde_json::from_slice::<Box<RawValue>>(&bytes) {
            Ok(one) => vec![one],
            Err(_) => {
                return Refusal::UpstreamFailed(
                    "the MCP server answered a batch with something that is not JSON".into(),
                )
                .response();
            }
        },
    };
    all.extend(answers);
    let mut merged = jsonrpc_response(head.status, &json_array(&all));
    for (name, value) in &head.headers {
        if name != header::CONTENT_TYPE {
            merged.headers_mut().append(name.clone(), value.clone());
        }
    }
    merged
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn bodies_split_into_messages() {
        let one = split_body(br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#).unwrap();
        assert!(!one.batch);
        assert_eq!(one.items.len(), 1);
        let two = split_body(br#" [ {"id":1}, {"id" : 2} ]"#).unwrap();
        assert!(two.batch);
        assert_eq!(two.items[1].get(), r#"{"id" : 2}"#);
        for bad in [&b"{not json"[..], b"[]", b"\xff"] {
            let answer: serde_json::Value =
                serde_json::from_str(split_body(bad).err().unwrap().get()).unwrap();
            assert!(
                answer["error"]["code"].as_i64().unwrap() < -32000,
                "{answer}"
            );
            assert_eq!(answer["id"], serde_json::Value::Null);
        }
    }

    fn answer(id: i64) -> RawMessage {
        mcp_reply::invalid_request(Some(RequestId::Number(id)), "no")
    }

    fn upstream(status: u16, content_type: &str, body: &'static str) -> Response {
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = StatusCode::from_u16(status).unwrap();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_str(content_type).unwrap(),
        );
        response
            .headers_mut()
            .insert("mcp-session-id", HeaderValue::from_static("s1"));
        response
    }

    async fn text_of(response: Response) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn answers_join_a_json_array() {
        let merged = merge_answers(
            upstream(
                200,
                "application/json",
                r#"[{"jsonrpc":"2.0","id":1,"result":{}}]"#,
            ),
            vec![answer(2)],
        )
        .await;
        assert_eq!(merged.status(), StatusCode::OK);
        assert_eq!(merged.headers()["mcp-session-id"], "s1");
        let all: serde_json::Value = serde_json::from_str(&text_of(merged).await).unwrap();
        assert_eq!(all[0]["id"], 1);
        assert_eq!(all[1]["id"], 2);
        assert_eq!(all.as_array().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn answers_lead_an_sse_stream() {
        let merged = merge_answers(
            upstream(
                200,
                "text/event-stream",
                "data: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{}}\n\n",
            ),
            vec![answer(2)],
        )
        .await;
        let text = text_of(merged).await;
        let (first, rest) = text.split_once("\n\n").unwrap();
        assert!(first.starts_with("event: message\ndata: {"), "{text}");
        assert!(first.contains("\"id\":2"), "{text}");
        assert!(rest.contains("\"id\":1"), "{text}");
    }

    #[tokio::test]
    async fn answers_stand_alone_when_the_server_accepts_silently_and_errors_pass() {
        let merged = merge_answers(upstream(202, "text/plain", ""), vec![answer(2)]).await;
        assert_eq!(merged.status(), StatusCode::OK);
        let all: serde_json::Value = serde_json::from_str(&text_of(merged).await).unwrap();
        assert_eq!(all[0]["id"], 2);
        let failed =
            merge_answers(upstream(400, "text/plain", "no batches"), vec![answer(2)]).await;
        assert_eq!(failed.status(), StatusCode::BAD_REQUEST);
        assert_eq!(text_of(failed).await, "no batches");
    }

    #[test]
    fn mcp_servers_alone_are_a_configuration() {
        let path = std::path::Path::new("/etc/airlock/airlock.toml");
        let env = |v: &str| (v == "ITEMS_TOKEN").then(|| "s3cret".to_string());
        let config = crate::GatewayConfig::parse(
            "[mcp_servers.items]\nurl = \"http://127.0.0.1:9/mcp\"\nenvironment = \"production\"\nauth = { header = \"Authorization\", value = \"Bearer ${ITEMS_TOKEN}\" }\n",
            path,
            &env,
        )
        .unwrap();
        assert!(config.upstreams.is_empty());
        let items = &config.mcp_servers["items"];
        assert_eq!(items.base_url(), "http://127.0.0.1:9/mcp");
        assert_eq!(items.auth.as_ref().unwrap().1.expose(), "Bearer s3cret");
        let err =
            crate::GatewayConfig::parse("[mcp_servers.items]\nurl = \"ftp://h\"\n", path, &env)
                .unwrap_err()
                .to_string();
        assert!(err.contains("mcp_servers.items.url"), "{err}");
        let err =
            crate::GatewayConfig::parse("[mcp_servers.items]\nuri = \"http://h\"\n", path, &env)
                .unwrap_err()
                .to_string();
        assert!(err.contains("uri"), "{err}");
    }

    #[test]
    fn mcp_scopes() {
        let scopes = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert!(scope_allows(&scopes(&["items"]), "items"));
        assert!(scope_allows(&scopes(&["mcp:items"]), "items"));
        assert!(scope_allows(&scopes(&["mcp:*"]), "items"));
        assert!(!scope_allows(&scopes(&["mcp:other", "railway"]), "items"));
    }
}
