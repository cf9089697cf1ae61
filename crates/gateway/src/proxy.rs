//! The agents' request pipeline, in order: route `/u/NAME/…` → authenticate the airlock token → check its
//! scope → read the body (capped) and decode it → build the [`Envelope`] (the upstream's real URL, the
//! agent's headers without credentials, the decoded body; agent = token name, environment = the upstream's)
//! → [`Gate::judge`] (the engine decides, the gate audits and settles) → enforce: forward, refuse, or hold
//! for a person. The gateway never decides by itself: every verdict comes from the engine through the gate,
//! and an error from the gate is 503 with nothing forwarded.
//!
//! Allowed requests pass the [`ForwardGuard`]s (the circuit breaker, deferred deletes) just before they are
//! forwarded; a guard may answer instead.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_engine::{Context, Decision, Envelope, HttpRequest, Request};
use airlock_store::gate::{Gate, Settled, Settlement};
use airlock_store::{Approval, ApprovalState, StoreError};
use axum::body::Body;
use axum::extract::State;
use axum::response::Response;
use bytes::Bytes;
use http::request::Parts;
use http::{HeaderMap, Uri};

use crate::body::{self, BodyError};
use crate::custody::{self, TokenProblem};
use crate::metrics;
use crate::reply::{self, Refusal};
use crate::route::{self, RouteError};
use crate::upstream::Upstream;

/// What the pipeline shares between requests.
pub struct Shared {
    pub(crate) gate: Gate,
    pub(crate) upstreams: std::collections::HashMap<String, Upstream>,
    pub(crate) hold: Duration,
    pub(crate) max_body_bytes: usize,
    /// `http://ADMIN_ADDR` for status URLs.
    pub(crate) admin_base: String,
    /// Where a person decides a held request (`public_url` or the admin listener).
    pub(crate) approval_page: airlock_store::links::ApprovalPage,
    pub(crate) guards: Vec<Arc<dyn ForwardGuard>>,
    pub(crate) tokens: Arc<crate::tokens::TokenChecker>,
}

impl Shared {
    /// The same state for a thread serving agents on a runtime of its own: everything shared, except that
    /// each upstream gets a connection pool of its own ([`Upstream::with_own_pool`]).
    pub(crate) fn for_worker(&self) -> Self {
        Self {
            gate: self.gate.clone(),
            upstreams: self
                .upstreams
                .iter()
                .map(|(name, upstream)| (name.clone(), upstream.with_own_pool()))
                .collect(),
            hold: self.hold,
            max_body_bytes: self.max_body_bytes,
            admin_base: self.admin_base.clone(),
            approval_page: self.approval_page.clone(),
            guards: self.guards.clone(),
            tokens: self.tokens.clone(),
        }
    }
}

/// A request the engine allowed (or a person approved), about to be forwarded: what a [`ForwardGuard`]
/// sees.
pub struct AllowedCall<'a> {
    /// The upstream it goes to.
    pub upstream: &'a Upstream,
    /// The agent token's name.
    pub agent: &'a str,
    /// What the engine judged.
    pub envelope: &'a Envelope,
    /// The engine's decision (its mitigation, e.g. `defer`, and its actions' effects).
    pub decision: &'a Decision,
    /// The approval that let it through, if a person approved it.
    pub approval_id: Option<&'a str>,
    /// The method, URL and headers that will be sent (credential not yet injected) and the body as
    /// received.
    pub method: &'a http::Method,
    /// The upstream URL.
    pub uri: &'a Uri,
    /// Path and query after `/u/NAME` (credential parameters removed), as sent on to the upstream.
    pub path: &'a str,
    /// Headers to send, without any agent credential.
    pub headers: &'a HeaderMap,
    /// The body as received (still compressed if it was).
    pub body: &'a Bytes,
    /// The gate, for guards that record what they did.
    pub gate: &'a Gate,
}

/// A guard's verdict on an allowed call.
pub enum Guarded {
    /// Forward it.
    Forward,
    /// Answer this instead (e.g. 202 `{deferred_id, executes_at}`, or 403 breaker open).
    Respond(Response),
}

/// A boxed future returned by a guard.
pub type GuardFuture<'a> = Pin<Box<dyn Future<Output = Guarded> + Send + 'a>>;

/// A check between the decision and forwarding: the circuit breaker ("before forwarding a destructive
/// request") and deferred deletes ("if the mitigation is `defer`") plug in here with
/// [`crate::Gateway::with_guard`]. Guards run in the order added; the first that responds wins. A guard
/// that cannot do its job must respond (fail closed), not forward.
pub trait ForwardGuard: Send + Sync + 'static {
    /// Looks at the call.
    fn check<'a>(&'a self, call: &'a AllowedCall<'a>) -> GuardFuture<'a>;
}

/// Everything about one request once it has been routed, authenticated and read.
struct Call<'a> {
    shared: &'a Shared,
    upstream: &'a Upstream,
    agent: String,
    parts: Parts,
    uri: Uri,
    /// Path and query after `/u/NAME`, credential parameters removed.
    replay_path: String,
    headers: HeaderMap,
    raw: Bytes,
    envelope: Envelope,
}

/// The handler for every request on the agents' listener.
pub async fn handle(State(shared): State<Arc<Shared>>, request: http::Request<Body>) -> Response {
    let started = Instant::now();
    let (parts, body) = request.into_parts();
    let method = parts.method.clone();
    let outcome = pipeline(&shared, parts, body).await;
    let (response, upstream, agent, verdict) = match outcome {
        Ok(done) => (done.response, done.upstream, done.agent, done.verdict),
        Err(Failed {
            refusal,
            upstream,
            agent,
        }) => {
            metrics::refused(upstream.as_deref().unwrap_or("unknown"), refusal.label());
            (refusal.response(), upstream, agent, None)
        }
    };
    let status = response.status().as_u16();
    let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    let upstream = upstream.as_deref().unwrap_or("-");
    let agent = agent.as_deref().unwrap_or("-");
    let decision = verdict.unwrap_or("-");
    // Forwarded requests are routine (and all in the audit log): debug. Everything else: info.
    if verdict == Some("allow") {
        tracing::debug!(upstream, agent, method = %method, decision, status, elapsed_us, "request");
    } else {
        tracing::info!(upstream, agent, method = %method, decision, status, elapsed_us, "request");
    }
    response
}

struct Done {
    response: Response,
    upstream: Option<String>,
    agent: Option<String>,
    verdict: Option<&'static str>,
}

struct Failed {
    refusal: Refusal,
    upstream: Option<String>,
    agent: Option<String>,
}

async fn pipeline(shared: &Shared, parts: Parts, body: Body) -> Result<Done, Failed> {
    let fail = |refusal: Refusal, upstream: Option<&str>, agent: Option<&str>| Failed {
        refusal,
        upstream: upstream.map(str::to_string),
        agent: agent.map(str::to_string),
    };
    // 1. Route, by path only.
    let routed = route::route(&parts.method, &parts.uri).map_err(|e| {
        let refusal = match e {
            RouteError::NotARoute => Refusal::NotFound(e.message().into()),
            RouteError::Connect => Refusal::MethodNotAllowed(e.message().into()),
            RouteError::AbsoluteForm | RouteError::BadPath(_) => {
                Refusal::BadRequest(e.message().into())
            }
        };
        fail(refusal, None, None)
    })?;
    let Some(upstream) = shared.upstreams.get(routed.upstream) else {
        return Err(fail(
            Refusal::NotFound(format!(
                "no upstream `{}` is configured",
                printable(routed.upstream)
            )),
            None,
            None,
        ));
    };
    let name = Some(upstream.name());
    // 2. Authenticate the agent.
    let token = custody::agent_token(&parts.headers).map_err(|p| {
        let message = match p {
            TokenProblem::Missing => {
                "an airlock agent token is required: send `Authorization: Bearer alt_…` (from `airlock token create`)"
            }
            TokenProblem::Ambiguous => "two different airlock tokens were sent: send one",
        };
        fail(Refusal::Unauthenticated(message.into()), name, None)
    })?;
    let agent = match shared.tokens.check(shared.gate.store(), token).await {
        Ok(agent) => agent,
        Err(StoreError::BadToken(why)) => {
            return Err(fail(
                Refusal::Unauthenticated(format!("the airlock token is not valid: {why}")),
                name,
                None,
            ));
        }
        Err(e) => {
            tracing::error!(error = %e, "cannot check an agent token; refusing");
            return Err(fail(
                Refusal::Unavailable(
                    "airlock cannot check tokens right now; nothing was forwarded".into(),
                ),
                name,
                None,
            ));
        }
    };
    let agent_name = Some(agent.name.as_str());
    // 3. Scope.
    if !custody::scope_allows(&agent.scopes, upstream.name()) {
        return Err(fail(
            Refusal::NoScope {
                token: agent.name.clone(),
                upstream: upstream.name().to_string(),
            },
            name,
            agent_name,
        ));
    }
    // 4. Body: capped, decoded for the engine.
    let raw = body::read_capped(&parts.headers, body, shared.max_body_bytes)
        .await
        .map_err(|e| fail(body_refusal(&e), name, agent_name))?;
    let encodings = body::encodings(&parts.headers);
    let decoded = body::decode(&encodings, &raw, shared.max_body_bytes)
        .map_err(|e| fail(body_refusal(&e), name, agent_name))?;
    // 5. The envelope: the upstream's real URL, headers without credentials, the decoded body.
    let query = custody::strip_query(routed.query);
    let Some(uri) = upstream.target(routed.rest, query.as_deref()) else {
        return Err(fail(
            Refusal::BadRequest("the path does not form a valid upstream URL".into()),
            name,
            agent_name,
        ));
    };
    let headers = custody::forwardable_headers(&parts.headers, upstream.auth_header());
    let mut envelope_headers = custody::envelope_headers(&headers);
    let body_text = match std::str::from_utf8(&decoded) {
        Ok(text) => text.to_string(),
        Err(_) => {
            // Not UTF-8: the engine reads it lossily; the digest still binds the exact bytes, so an
            // approval of one binary body never covers another.
            envelope_headers.insert(
                BODY_DIGEST_HEADER.to_string(),
                airlock_store::canonical::sha256_hex(&decoded),
            );
            String::from_utf8_lossy(&decoded).into_owned()
        }
    };
    drop(decoded);
    let envelope = Envelope {
        id: None,
        request: Request::Http(HttpRequest {
            method: parts.method.as_str().to_string(),
            // The provider's URL when the upstream is judged as one (`judge_as`), else the real one.
            url: upstream
                .judged_url(routed.rest, query.as_deref())
                .unwrap_or_else(|| uri.to_string()),
            headers: envelope_headers,
            body: (!body_text.is_empty()).then_some(body_text),
        }),
        context: Context {
            agent: Some(agent.name.clone()),
            session: None,
            cwd: None,
            environment: upstream.config().environment.clone(),
            upstream: Some(upstream.name().to_string()),
        },
    };
    let replay_path = match query.as_deref() {
        Some(query) => format!("{}?{query}", routed.rest),
        None => routed.rest.to_string(),
    };
    let call = Call {
        shared,
        upstream,
        agent: agent.name.clone(),
        parts,
        uri,
        replay_path,
        headers,
        raw,
        envelope,
    };
    // 6. Judge, 7. enforce.
    let (response, verdict) = call.judge_and_enforce().await;
    Ok(Done {
        response,
        upstream: name.map(str::to_string),
        agent: Some(agent.name.clone()),
        verdict,
    })
}

/// The header added to the envelope (never sent upstream) when a body is not UTF-8: the SHA-256 of the
/// decoded bytes, so the request digest binds them exactly.
pub const BODY_DIGEST_HEADER: &str = "x-airlock-body-sha256";

fn body_refusal(error: &BodyError) -> Refusal {
    match error {
        BodyError::TooLarge { .. } => Refusal::TooLarge(error.message()),
        BodyError::Unsupported(_) => Refusal::UnsupportedEncoding(error.message()),
        BodyError::Read(_) | BodyError::Corrupt { .. } => Refusal::BadRequest(error.message()),
    }
}

/// A name for a message: printable ASCII only, at most 64 characters.
fn printable(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(64)
        .collect()
}

impl Call<'_> {
    async fn judge_and_enforce(&self) -> (Response, Option<&'static str>) {
        let settlement = match self.shared.gate.judge(&self.envelope).await {
            Ok(s) => s,
            Err(e) => return (self.gate_failed(&e), None),
        };
        let verdict = settlement.decision.verdict.as_str();
        self.upstream.metrics().judged(settlement.decision.verdict);
        (self.enforce(settlement, true).await, Some(verdict))
    }

    /// Enforces a settlement; `may_hold` is false when re-judging after a lost race for an approval (the
    /// agent is then answered at once).
    async fn enforce(&self, settlement: Settlement, may_hold: bool) -> Response {
        let Settlement {
            decision,
            settled,
            audit,
        } = settlement;
        match settled {
            Settled::Allow => self.forward(&decision, None).await,
            Settled::AllowedByApproval(approval) => {
                self.forward(&decision, Some(&approval.id)).await
            }
            Settled::Deny => reply::denied(&decision.reasons, audit.seq),
            Settled::Hold(approval) if may_hold => self.hold(decision, approval, audit.seq).await,
            Settled::Hold(approval) => self.held(&approval.id, &decision.reasons, audit.seq),
        }
    }

    /// Holds an `ask` for up to `hold_seconds`: approved ⇒ use the approval and forward; denied or expired
    /// ⇒ 403; still pending ⇒ 202 with the retry contract.
    async fn hold(&self, decision: Decision, approval: Approval, audit_seq: i64) -> Response {
        let started = Instant::now();
        let upstream = self.upstream.name();
        tracing::info!(upstream, agent = %self.agent, approval_id = %approval.id, "held for approval");
        let latest = match self
            .shared
            .gate
            .wait_for_decision(&approval.id, self.shared.hold)
            .await
        {
            Ok(latest) => latest,
            Err(e) => return self.gate_failed(&e),
        };
        let waited = started.elapsed();
        match latest.state {
            ApprovalState::Pending => {
                metrics::held(upstream, "pending", waited);
                self.held(&latest.id, &decision.reasons, audit_seq)
            }
            ApprovalState::Denied | ApprovalState::Expired => {
                let denied = latest.state == ApprovalState::Denied;
                metrics::held(upstream, if denied { "denied" } else { "expired" }, waited);
                // The person's answer is part of the request's story: audited, naming who denied it.
                let outcome = if denied {
                    match latest.votes.iter().rev().find(|v| v.vote == "deny") {
                        Some(vote) => format!("denied by {}", vote.approver),
                        None => "denied by a person".to_string(),
                    }
                } else {
                    "expired".to_string()
                };
                let audit_seq = match self
                    .shared
                    .gate
                    .record(&self.envelope, &decision, &outcome, Some(&latest.id))
                    .await
                {
                    Ok(entry) => entry.seq,
                    Err(e) => {
                        tracing::error!(upstream, error = %e, "cannot record a person's denial");
                        audit_seq
                    }
                };
                reply::denied_by_person(&decision.reasons, audit_seq, &latest)
            }
            ApprovalState::Approved => {
                metrics::held(upstream, "approved", waited);
                match self
                    .shared
                    .gate
                    .consume(&latest.id, &self.envelope, &decision)
                    .await
                {
                    Ok(used) => self.forward(&decision, Some(&used.id)).await,
                    // Another identical request used it first: judge again, answer at once.
                    Err(StoreError::ApprovalState { .. } | StoreError::ApprovalExpired(_)) => {
                        self.rejudge().await
                    }
                    Err(e) => self.gate_failed(&e),
                }
            }
            ApprovalState::Consumed => {
                metrics::held(upstream, "approved", waited);
                self.rejudge().await
            }
        }
    }

    async fn rejudge(&self) -> Response {
        match self.shared.gate.judge(&self.envelope).await {
            Ok(settlement) => Box::pin(self.enforce(settlement, false)).await,
            Err(e) => self.gate_failed(&e),
        }
    }

    /// Runs the guards, then sends the request upstream and streams the answer back.
    async fn forward(&self, decision: &Decision, approval_id: Option<&str>) -> Response {
        if !self.shared.guards.is_empty() {
            let allowed = AllowedCall {
                upstream: self.upstream,
                agent: &self.agent,
                envelope: &self.envelope,
                decision,
                approval_id,
                method: &self.parts.method,
                uri: &self.uri,
                path: &self.replay_path,
                headers: &self.headers,
                body: &self.raw,
                gate: &self.shared.gate,
            };
            for guard in &self.shared.guards {
                if let Guarded::Respond(response) = guard.check(&allowed).await {
                    return response;
                }
            }
        }
        let started = Instant::now();
        let sent = self
            .upstream
            .send(
                self.parts.method.clone(),
                self.uri.clone(),
                self.headers.clone(),
                self.raw.clone(),
            )
            .await;
        let elapsed = started.elapsed();
        match sent {
            Ok(answer) => {
                self.upstream.metrics().upstream_latency(elapsed);
                let (mut head, body) = answer.into_parts();
                custody::clean_response_headers(&mut head.headers);
                Response::from_parts(head, Body::new(body))
            }
            Err(e) => {
                metrics::upstream_error(self.upstream.name());
                tracing::warn!(upstream = self.upstream.name(), error = %e.message, "upstream failed");
                if let Err(audit) = self
                    .shared
                    .gate
                    .record(&self.envelope, decision, "failed", approval_id)
                    .await
                {
                    tracing::error!(error = %audit, "cannot record the upstream failure");
                }
                Refusal::UpstreamFailed(e.to_string()).response()
            }
        }
    }

    /// The 202 for a request still held: its status URL on the admin listener's API and its approval page.
    fn held(
        &self,
        approval_id: &str,
        reasons: &[airlock_engine::Reason],
        audit_seq: i64,
    ) -> Response {
        reply::held(
            approval_id,
            &format!("{}/api/approvals/{approval_id}", self.shared.admin_base),
            self.shared.approval_page.url(approval_id),
            reasons,
            audit_seq,
        )
    }

    fn gate_failed(&self, error: &StoreError) -> Response {
        tracing::error!(upstream = self.upstream.name(), error = %error, "cannot record or settle a decision; refusing");
        metrics::refused(self.upstream.name(), "unavailable");
        Refusal::Unavailable(
            "airlock cannot record its decision right now, so nothing was forwarded; try again later".into(),
        )
        .response()
    }
}
