//! The approval web page on the gateway's admin listener: `/approvals` (pending requests, decoded, with
//! approve / deny forms), `/approvals/history`, `/audit` (recent entries and the chain's verify status),
//! `/login` and `/logout` for approvers.
//!
//! Security: server-rendered HTML escaped by default (maud), no inline script (CSP `script-src 'self'`, and
//! the page ships none), `X-Frame-Options: DENY`; server-side sessions in an `HttpOnly; SameSite=Strict`
//! cookie; a per-session CSRF token on every POST compared in constant time (the login form has its own,
//! bound to a cookie); at most [`auth::MAX_LOGIN_FAILURES`] failed logins per client address per minute
//! (then 429). Agent tokens are refused as approver credentials. Votes go to the store with the
//! authenticated approver, so the store's rules (a second approval from a different approver) hold.

pub mod auth;
pub mod render;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use airlock_store::{ApprovalState, AuditFilter, Store, StoreError};
use axum::Form;
use axum::Router;
use axum::extract::{ConnectInfo, FromRequestParts, Path, Request, State};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use http::request::Parts;
use http::{HeaderMap, HeaderValue, StatusCode, header};
use maud::Markup;
use serde::Deserialize;

use auth::{LOGIN_COOKIE, SESSION_COOKIE, Session, Sessions, random_token, same_secret};
use render::Viewer;

/// The Content-Security-Policy of every page: nothing but this server's own stylesheet (and scripts, of which
/// there are none), no framing, forms post only here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// How many audit entries `/audit` shows.
pub const AUDIT_PAGE_ENTRIES: u32 = 200;

const STYLESHEET: &str = include_str!("../assets/approvals.css");

/// What the page's handlers share.
#[derive(Clone)]
pub struct WebState {
    store: Store,
    sessions: Arc<Sessions>,
}

impl WebState {
    /// The page over `store`, with no session yet.
    pub fn new(store: Store) -> Self {
        Self {
            store,
            sessions: Arc::new(Sessions::default()),
        }
    }
}

/// The page's routes (merge into the admin router). Serve with
/// `into_make_service_with_connect_info::<SocketAddr>()` so the login limit is per client address.
pub fn router(state: WebState) -> Router {
    Router::new()
        .route("/", get(|| async { Redirect::to("/approvals") }))
        .route("/login", get(login_form).post(login))
        .route("/logout", post(logout))
        .route("/approvals", get(pending))
        .route("/approvals/history", get(history))
        .route("/approvals/{id}", get(one_approval))
        .route("/approvals/{id}/approve", post(approve))
        .route("/approvals/{id}/deny", post(deny))
        .route("/audit", get(audit))
        .route("/assets/approvals.css", get(stylesheet))
        .layer(middleware::from_fn(security_headers))
        .with_state(state)
}

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The client's address when the server records it (`None` otherwise: all such clients share one limit).
struct ClientAddr(Option<IpAddr>);

impl<S: Send + Sync> FromRequestParts<S> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(ClientAddr(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|info| info.0.ip()),
        ))
    }
}

fn page(status: StatusCode, markup: Markup) -> Response {
    let mut response = (status, markup.into_string()).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    response
}

fn problem(status: StatusCode, title: &str, message: &str) -> Response {
    page(status, render::problem(title, message))
}

fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v.to_string())
}

fn set_cookie(response: &mut Response, name: &str, value: &str, max_age: Option<u64>) {
    let age = max_age.map_or(String::new(), |s| format!("; Max-Age={s}"));
    if let Ok(value) = HeaderValue::from_str(&format!(
        "{name}={value}; HttpOnly; SameSite=Strict; Path=/{age}"
    )) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
}

fn session(state: &WebState, headers: &HeaderMap) -> Option<(String, Session)> {
    let id = cookie(headers, SESSION_COOKIE)?;
    let session = state.sessions.get(&id)?;
    Some((id, session))
}

fn unavailable(e: &StoreError) -> Response {
    tracing::error!(error = %e, "approval page: the store does not answer");
    problem(
        StatusCode::SERVICE_UNAVAILABLE,
        "Unavailable",
        "The store does not answer; try again.",
    )
}

async fn stylesheet() -> Response {
    let mut response = STYLESHEET.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/css; charset=utf-8"),
    );
    response
}

fn login_page(status: StatusCode, error: Option<&str>) -> Response {
    let Some(token) = random_token() else {
        return problem(
            StatusCode::SERVICE_UNAVAILABLE,
            "Unavailable",
            "No randomness available for a login form.",
        );
    };
    let mut response = page(status, render::login(&token, error));
    set_cookie(&mut response, LOGIN_COOKIE, &token, Some(600));
    response
}

async fn login_form(State(state): State<WebState>, headers: HeaderMap) -> Response {
    if session(&state, &headers).is_some() {
        return Redirect::to("/approvals").into_response();
    }
    login_page(StatusCode::OK, None)
}

#[derive(Deserialize)]
struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    secret: String,
}

async fn login(
    State(state): State<WebState>,
    ClientAddr(client): ClientAddr,
    headers: HeaderMap,
    Form(form): Form<LoginForm>,
) -> Response {
    let expected = cookie(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !same_secret(&expected, &form.csrf) {
        return problem(
            StatusCode::FORBIDDEN,
            "Refused",
            "The login form expired or did not come from this page; reload it and try again.",
        );
    }
    if state.sessions.login_limited(client) {
        return login_page(
            StatusCode::TOO_MANY_REQUESTS,
            Some("Too many failed logins from your address; wait a minute and try again."),
        );
    }
    match state.store.authenticate_approver(&form.secret).await {
        Ok(approver) => {
            tracing::info!(
                approver = approver.name(),
                "approver logged in to the approval page"
            );
            let Some(id) = state.sessions.open(approver) else {
                return problem(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Unavailable",
                    "Cannot start a session.",
                );
            };
            let mut response = Redirect::to("/approvals").into_response();
            set_cookie(&mut response, SESSION_COOKIE, &id, None);
            set_cookie(&mut response, LOGIN_COOKIE, "", Some(0));
            response
        }
        Err(StoreError::AgentTokenCannotApprove) => {
            state.sessions.login_failed(client);
            login_page(
                StatusCode::FORBIDDEN,
                Some(
                    "That is an agent token (alt_…): agents can never approve. Log in with an approver secret (ala_…) from `airlock approver add`.",
                ),
            )
        }
        Err(e @ (StoreError::BadApproverSecret | StoreError::ApproverRevoked(_))) => {
            state.sessions.login_failed(client);
            login_page(StatusCode::UNAUTHORIZED, Some(&e.to_string()))
        }
        Err(e) => unavailable(&e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// The session of a POST whose CSRF token matches, or the 403 to answer.
fn checked_post(
    state: &WebState,
    headers: &HeaderMap,
    csrf: &str,
) -> Result<(String, Session), Box<Response>> {
    let Some((id, session)) = session(state, headers) else {
        return Err(Box::new(problem(
            StatusCode::FORBIDDEN,
            "Not logged in",
            "Log in with your approver secret first.",
        )));
    };
    if csrf.is_empty() || !same_secret(&session.csrf, csrf) {
        return Err(Box::new(problem(
            StatusCode::FORBIDDEN,
            "Refused",
            "This form did not come from the approval page (missing or wrong CSRF token); reload the page.",
        )));
    }
    Ok((id, session))
}

async fn logout(
    State(state): State<WebState>,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Response {
    match checked_post(&state, &headers, &form.csrf) {
        Ok((id, _)) => {
            state.sessions.close(&id);
            let mut response = Redirect::to("/login").into_response();
            set_cookie(&mut response, SESSION_COOKIE, "", Some(0));
            response
        }
        Err(response) => *response,
    }
}

async fn list_page(
    state: &WebState,
    headers: &HeaderMap,
    decided: bool,
    status: StatusCode,
    notice: Option<&str>,
) -> Response {
    let Some((_, session)) = session(state, headers) else {
        return Redirect::to("/login").into_response();
    };
    let list = match state.store.list_approvals(decided).await {
        Ok(list) => list,
        Err(e) => return unavailable(&e),
    };
    let list: Vec<_> = list
        .into_iter()
        .filter(|a| (a.state != ApprovalState::Pending) == decided)
        .collect();
    let viewer = Viewer {
        name: session.approver.name(),
        csrf: &session.csrf,
    };
    let title = if decided {
        "Decided"
    } else {
        "Pending approvals"
    };
    page(
        status,
        render::approvals(title, &list, state.store.now_ms(), &viewer, notice),
    )
}

async fn pending(State(state): State<WebState>, headers: HeaderMap) -> Response {
    list_page(&state, &headers, false, StatusCode::OK, None).await
}

async fn history(State(state): State<WebState>, headers: HeaderMap) -> Response {
    list_page(&state, &headers, true, StatusCode::OK, None).await
}

/// `/approvals/apr_…` (the link in hook messages): the approval's anchor on the right page.
async fn one_approval(State(state): State<WebState>, Path(id): Path<String>) -> Response {
    let well_formed = id.len() <= 64
        && id
            .strip_prefix("apr_")
            .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()));
    if !well_formed {
        return problem(StatusCode::NOT_FOUND, "Not found", "No such approval.");
    }
    match state.store.approval(&id).await {
        Ok(approval) if approval.state == ApprovalState::Pending => {
            Redirect::to(&format!("/approvals#{id}")).into_response()
        }
        Ok(_) => Redirect::to(&format!("/approvals/history#{id}")).into_response(),
        Err(StoreError::ApprovalNotFound(_)) => {
            problem(StatusCode::NOT_FOUND, "Not found", "No such approval.")
        }
        Err(e) => unavailable(&e),
    }
}

async fn vote(
    state: WebState,
    headers: HeaderMap,
    id: String,
    form: CsrfForm,
    approve: bool,
) -> Response {
    let (_, session) = match checked_post(&state, &headers, &form.csrf) {
        Ok(session) => session,
        Err(response) => return *response,
    };
    let reason = form.reason.trim();
    let result = if approve {
        state.store.approve(&id, &session.approver).await
    } else if reason.is_empty() {
        return list_page(
            &state,
            &headers,
            false,
            StatusCode::BAD_REQUEST,
            Some("Give a reason for denying."),
        )
        .await;
    } else {
        state.store.deny(&id, &session.approver, reason).await
    };
    match result {
        Ok(approval) => {
            tracing::info!(approver = session.approver.name(), approval = %approval.id, approve, "vote from the approval page");
            let to = if approval.state == ApprovalState::Pending {
                format!("/approvals#{}", approval.id)
            } else {
                format!("/approvals/history#{}", approval.id)
            };
            Redirect::to(&to).into_response()
        }
        Err(e @ (StoreError::Database(_) | StoreError::Open { .. })) => unavailable(&e),
        Err(e) => {
            let message = format!("Your vote on {id} was not recorded: {e}");
            list_page(
                &state,
                &headers,
                false,
                StatusCode::CONFLICT,
                Some(&message),
            )
            .await
        }
    }
}

async fn approve(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    vote(state, headers, id, form, true).await
}

async fn deny(
    State(state): State<WebState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    vote(state, headers, id, form, false).await
}

async fn audit(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let Some((_, session)) = session(&state, &headers) else {
        return Redirect::to("/login").into_response();
    };
    let filter = AuditFilter {
        limit: Some(AUDIT_PAGE_ENTRIES),
        ..AuditFilter::default()
    };
    let mut entries = match state.store.list(&filter).await {
        Ok(entries) => entries,
        Err(e) => return unavailable(&e),
    };
    entries.sort_by_key(|e| std::cmp::Reverse(e.seq));
    let report = state.store.verify(None).await.ok();
    let viewer = Viewer {
        name: session.approver.name(),
        csrf: &session.csrf,
    };
    page(
        StatusCode::OK,
        render::audit(&entries, report.as_ref(), &viewer),
    )
}
