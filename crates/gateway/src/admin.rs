//! The admin listener (`admin_listen`, separate from the agents'): `/healthz`, `/metrics` (Prometheus text)
//! and `GET /api/approvals/ID` (an approval's state as JSON: what was asked, why, votes and outcome; the
//! summary is the store's redacted one, so no secret), merged with the approval web page (`airlock-web`:
//! `/approvals`, `/approvals/history`, `/audit`, `/login`, `/logout`).

use std::sync::Arc;

use airlock_store::StoreError;
use airlock_store::gate::Gate;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use http::{HeaderValue, StatusCode, header};
use metrics_exporter_prometheus::PrometheusHandle;
use serde_json::json;

use crate::reply;

/// What the admin handlers share.
#[derive(Clone)]
pub struct AdminState {
    pub(crate) gate: Gate,
    pub(crate) metrics: Option<PrometheusHandle>,
}

/// The admin router.
pub fn router(state: Arc<AdminState>) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(render_metrics))
        .route("/api/approvals/{id}", get(approval))
        .with_state(state.clone())
        .merge(airlock_web::router(airlock_web::WebState::new(
            state.gate.store().clone(),
        )))
}

/// 200 `{status: "ok"}` when the store answers; 503 otherwise (the gateway then refuses every request).
async fn healthz(State(state): State<Arc<AdminState>>) -> Response {
    match state.gate.store().head().await {
        Ok(_) => reply::json(StatusCode::OK, &json!({"status": "ok"})),
        Err(e) => {
            tracing::error!(error = %e, "health check: the store does not answer");
            reply::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"status": "unavailable", "message": "the store does not answer"}),
            )
        }
    }
}

async fn render_metrics(State(state): State<Arc<AdminState>>) -> Response {
    let text = match &state.metrics {
        Some(handle) => handle.render(),
        None => "# another metrics recorder is installed in this process\n".to_string(),
    };
    let mut response = Response::new(axum::body::Body::from(text));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    response
}

async fn approval(State(state): State<Arc<AdminState>>, Path(id): Path<String>) -> Response {
    let well_formed = id.len() <= 64
        && id
            .strip_prefix("apr_")
            .is_some_and(|hex| !hex.is_empty() && hex.chars().all(|c| c.is_ascii_hexdigit()));
    if !well_formed {
        return not_found();
    }
    match state.gate.store().approval(&id).await {
        Ok(approval) => reply::json(StatusCode::OK, &approval),
        Err(StoreError::ApprovalNotFound(_)) => not_found(),
        Err(e) => {
            tracing::error!(error = %e, "cannot read an approval");
            reply::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"error": "unavailable", "message": "the store does not answer"}),
            )
        }
    }
}

fn not_found() -> Response {
    reply::json(
        StatusCode::NOT_FOUND,
        &json!({"error": "not_found", "message": "no such approval"}),
    )
}
