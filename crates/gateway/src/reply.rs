//! Every answer the gateway gives in its own name, with its status and JSON body, declared in one place:
//! refusals before the engine (bad target, no token, no scope, body too large, …), the engine's `deny`, a
//! held request's 202, and failures of the gate or the upstream. An upstream's own answer is streamed back
//! unchanged and is not built here.
//!
//! | status | when | body |
//! |---|---|---|
//! | 400 | ambiguous target (`..`, `%2f`, absolute-form), unreadable or corrupt body | `{error: "bad_request", message}` |
//! | 401 | missing, unknown, expired or revoked agent token | `{error: "unauthenticated", message}` |
//! | 403 | token without scope for the upstream | `{error: "forbidden", message}` |
//! | 403 | the engine denied, or an approver denied | `{decision: "deny", reasons, audit_id, approval_id?, denied_by?, deny_reason?}` |
//! | 404 | not `/u/NAME/…`, or no such upstream | `{error: "not_found", message}` |
//! | 405 | `CONNECT` | `{error: "method_not_allowed", message}` |
//! | 413 | body (raw or decoded) over `max_body_bytes` | `{error: "payload_too_large", message}` |
//! | 415 | unknown `Content-Encoding` | `{error: "unsupported_media_type", message}` |
//! | 202 | held, no decision within `hold_seconds` | `{decision: "ask", approval_id, status_url, approval_page, retry, reasons, audit_id}` |
//! | 202 | allowed, but the policy marks it `defer`: stored, sent after the cancel window | `{decision: "defer", deferred_id, executes_at, cancel, reasons, audit_id}` |
//! | 403 | a circuit breaker is open for the agent or upstream (destructive requests only) | `{decision: "deny", error: "breaker_open", message, breakers: [{scope, name, count, limit, window_seconds, tripped_at, reset}], audit_id}` |
//! | 502 | the upstream could not be reached | `{error: "bad_gateway", message}` |
//! | 503 | the decision could not be recorded or settled (nothing was forwarded) | `{error: "unavailable", message}` |

use airlock_engine::Reason;
use airlock_store::Approval;
use axum::body::Body;
use axum::response::Response;
use http::{HeaderValue, StatusCode, header};
use serde::Serialize;

/// A refusal before or around the engine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// 400.
    BadRequest(String),
    /// 401.
    Unauthenticated(String),
    /// 403: the token has no scope for this upstream.
    NoScope {
        /// The token's name.
        token: String,
        /// The upstream.
        upstream: String,
    },
    /// 404.
    NotFound(String),
    /// 405.
    MethodNotAllowed(String),
    /// 413.
    TooLarge(String),
    /// 415.
    UnsupportedEncoding(String),
    /// 502.
    UpstreamFailed(String),
    /// 503.
    Unavailable(String),
}

impl Refusal {
    /// Status, error code and message.
    pub fn parts(&self) -> (StatusCode, &'static str, String) {
        match self {
            Refusal::BadRequest(m) => (StatusCode::BAD_REQUEST, "bad_request", m.clone()),
            Refusal::Unauthenticated(m) => (StatusCode::UNAUTHORIZED, "unauthenticated", m.clone()),
            Refusal::NoScope { token, upstream } => (
                StatusCode::FORBIDDEN,
                "forbidden",
                format!(
                    "agent token `{token}` has no scope for upstream `{upstream}` (create one with `airlock token create NAME --scope {upstream}`)"
                ),
            ),
            Refusal::NotFound(m) => (StatusCode::NOT_FOUND, "not_found", m.clone()),
            Refusal::MethodNotAllowed(m) => (
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                m.clone(),
            ),
            Refusal::TooLarge(m) => (
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                m.clone(),
            ),
            Refusal::UnsupportedEncoding(m) => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                m.clone(),
            ),
            Refusal::UpstreamFailed(m) => (StatusCode::BAD_GATEWAY, "bad_gateway", m.clone()),
            Refusal::Unavailable(m) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable", m.clone()),
        }
    }

    /// The short label used in metrics and logs.
    pub fn label(&self) -> &'static str {
        self.parts().1
    }

    /// The HTTP response.
    pub fn response(&self) -> Response {
        let (status, error, message) = self.parts();
        let mut response = json(status, &ErrorBody { error, message });
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"airlock\""),
            );
        }
        response
    }
}

#[derive(Serialize)]
struct ErrorBody {
    error: &'static str,
    message: String,
}

/// The body of a 403 for a denied request.
#[derive(Debug, Serialize)]
pub struct Denied<'a> {
    /// Always `deny`.
    pub decision: &'static str,
    /// The engine's reasons.
    pub reasons: &'a [Reason],
    /// The audit entry (its `seq`) recording the denial.
    pub audit_id: i64,
    /// The approval an approver denied, when one did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval_id: Option<&'a str>,
    /// Who denied it, when a person did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub denied_by: Option<&'a str>,
    /// Why they denied it, or why the approval no longer applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deny_reason: Option<&'a str>,
}

/// 403 for a request the engine denied.
pub fn denied(reasons: &[Reason], audit_id: i64) -> Response {
    json(
        StatusCode::FORBIDDEN,
        &Denied {
            decision: "deny",
            reasons,
            audit_id,
            approval_id: None,
            denied_by: None,
            deny_reason: None,
        },
    )
}

/// 403 for a held request a person denied (or whose approval expired).
pub fn denied_by_person(reasons: &[Reason], audit_id: i64, approval: &Approval) -> Response {
    let denied_by = approval
        .votes
        .iter()
        .rev()
        .find(|v| v.vote == "deny")
        .map(|v| v.approver.as_str());
    let expired = (approval.state == airlock_store::ApprovalState::Expired)
        .then_some("the approval expired before it was decided or used");
    json(
        StatusCode::FORBIDDEN,
        &Denied {
            decision: "deny",
            reasons,
            audit_id,
            approval_id: Some(&approval.id),
            denied_by,
            deny_reason: approval.deny_reason.as_deref().or(expired),
        },
    )
}

/// The body of a 202 for a request still waiting for a person.
#[derive(Debug, Serialize)]
pub struct Held<'a> {
    /// Always `ask`.
    pub decision: &'static str,
    /// The approval to decide.
    pub approval_id: &'a str,
    /// Where its state can be read (the admin listener's JSON API).
    pub status_url: &'a str,
    /// The approval's page (`PUBLIC_URL/approvals/apr_…`), for the person who decides.
    pub approval_page: String,
    /// What the agent should do next.
    pub retry: &'static str,
    /// Seconds to wait before retrying (also in `Retry-After`).
    pub retry_after_seconds: u64,
    /// Why the engine asked.
    pub reasons: &'a [Reason],
    /// The audit entry (its `seq`) recording the hold.
    pub audit_id: i64,
}

/// What a held request's 202 tells the agent to do.
pub const RETRY_CONTRACT: &str = "a person must approve this request; once approved, send the identical request again (same method, path, query, headers and body): it is forwarded exactly once";

/// Seconds an agent is told to wait before retrying a held request.
pub const RETRY_AFTER_SECONDS: u64 = 5;

/// 202 for a request held past `hold_seconds`.
pub fn held(
    approval_id: &str,
    status_url: &str,
    approval_page: String,
    reasons: &[Reason],
    audit_id: i64,
) -> Response {
    let mut response = json(
        StatusCode::ACCEPTED,
        &Held {
            decision: "ask",
            approval_id,
            status_url,
            approval_page,
            retry: RETRY_CONTRACT,
            retry_after_seconds: RETRY_AFTER_SECONDS,
            reasons,
            audit_id,
        },
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    response
}

/// The body of a 202 for a deferred request.
#[derive(Debug, Serialize)]
pub struct Deferred<'a> {
    /// Always `defer`.
    pub decision: &'static str,
    /// The stored request (`def_…`).
    pub deferred_id: &'a str,
    /// When it will be sent (UTC, RFC 3339), unless cancelled.
    pub executes_at: String,
    /// The command a person runs to cancel it.
    pub cancel: String,
    /// Why the policy marked it.
    pub reasons: &'a [Reason],
    /// The audit entry (its `seq`) recording the deferral.
    pub audit_id: i64,
}

/// 202 for a request stored to run after the cancel window.
pub fn deferred(deferred: &airlock_store::deferred::Deferred, reasons: &[Reason]) -> Response {
    json(
        StatusCode::ACCEPTED,
        &Deferred {
            decision: "defer",
            deferred_id: &deferred.id,
            executes_at: airlock_store::clock::format_ms(deferred.executes_at_ms),
            cancel: format!("airlock deferred cancel {}", deferred.id),
            reasons,
            audit_id: deferred.audit_seq.unwrap_or_default(),
        },
    )
}

/// One open breaker, as the agent is told.
#[derive(Debug, Serialize)]
pub struct OpenBreaker {
    /// `agent` or `upstream`.
    pub scope: &'static str,
    /// The agent's or upstream's name.
    pub name: String,
    /// Destructive requests counted in the window when it tripped.
    pub count: u32,
    /// The limit that was exceeded.
    pub limit: u32,
    /// The window, in seconds.
    pub window_seconds: i64,
    /// When it tripped (UTC, RFC 3339).
    pub tripped_at: String,
    /// The command a person runs to reset it.
    pub reset: String,
}

#[derive(Serialize)]
struct BreakerBody<'a> {
    decision: &'static str,
    error: &'static str,
    message: String,
    breakers: Vec<OpenBreaker>,
    reasons: &'a [Reason],
    audit_id: Option<i64>,
}

/// 403 for a destructive request refused because a circuit breaker is open.
pub fn breaker_open(
    trips: &[airlock_store::breaker::BreakerTrip],
    reasons: &[Reason],
    audit_id: Option<i64>,
) -> Response {
    let message = trips
        .iter()
        .map(airlock_store::breaker::BreakerTrip::message)
        .collect::<Vec<_>>()
        .join("; ");
    let breakers = trips
        .iter()
        .map(|t| OpenBreaker {
            scope: t.scope.kind.as_str(),
            name: t.scope.name.clone(),
            count: t.count,
            limit: t.limit,
            window_seconds: t.window_ms / 1000,
            tripped_at: airlock_store::clock::format_ms(t.tripped_ms),
            reset: t.reset_command(),
        })
        .collect();
    json(
        StatusCode::FORBIDDEN,
        &BreakerBody {
            decision: "deny",
            error: "breaker_open",
            message,
            breakers,
            reasons,
            audit_id,
        },
    )
}

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, body: &T) -> Response {
    let bytes = serde_json::to_vec(body).unwrap_or_else(|_| b"{}".to_vec());
    let mut response = Response::new(Body::from(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
