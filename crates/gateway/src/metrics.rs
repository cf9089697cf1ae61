//! Prometheus metrics, served on the admin listener at `/metrics`. Names and labels (label values are
//! bounded: configured upstream names or `unknown`, fixed decision and refusal words — never a path, token
//! or header value):
//!
//! - `airlock_gateway_requests_total{upstream, decision}` — requests judged by the engine; `decision` is
//!   `allow`, `ask` or `deny` (the engine's verdict);
//! - `airlock_gateway_refused_total{upstream, reason}` — requests refused before or around the engine
//!   (`unauthenticated`, `forbidden`, `bad_request`, `payload_too_large`, `unavailable`, …);
//! - `airlock_gateway_hold_seconds{upstream, result}` — how long held requests waited (`approved`, `denied`,
//!   `expired`, `pending` when answered 202);
//! - `airlock_gateway_upstream_latency_seconds{upstream}` — upstream time to response headers;
//! - `airlock_gateway_upstream_errors_total{upstream}` — upstream connection failures;
//! - `airlock_gateway_breaker_open{scope}` — 1 while a circuit breaker is open ([`set_breaker_state`]);
//! - `airlock_webhook_deliveries_total{webhook, result}` — webhook notification attempts by configured webhook
//!   name; `result` is `delivered`, `failed` (retry scheduled), `gave_up` or `skipped` ([`crate::webhooks`]).
//!
//! The recorder is process-wide (the `metrics` crate has one global recorder): several gateways in one
//! process (tests) share it.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Requests judged, by upstream and verdict.
pub const REQUESTS: &str = "airlock_gateway_requests_total";
/// Requests refused by the gateway itself, by upstream and reason.
pub const REFUSED: &str = "airlock_gateway_refused_total";
/// Hold time histogram.
pub const HOLD_SECONDS: &str = "airlock_gateway_hold_seconds";
/// Upstream latency histogram.
pub const UPSTREAM_LATENCY: &str = "airlock_gateway_upstream_latency_seconds";
/// Upstream failures.
pub const UPSTREAM_ERRORS: &str = "airlock_gateway_upstream_errors_total";
/// Circuit breaker state gauge.
pub const BREAKER_OPEN: &str = "airlock_gateway_breaker_open";
/// Webhook notification attempts, by webhook and result.
pub const WEBHOOK_DELIVERIES: &str = "airlock_webhook_deliveries_total";

const LATENCY_BUCKETS: &[f64] = &[
    0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
    10.0,
];
const HOLD_BUCKETS: &[f64] = &[0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide Prometheus recorder (once) and returns its handle; `None` when another
/// recorder was installed first (metrics are then recorded there, and `/metrics` says so).
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full(UPSTREAM_LATENCY.to_string()),
                    LATENCY_BUCKETS,
                )
                .and_then(|b| {
                    b.set_buckets_for_metric(Matcher::Full(HOLD_SECONDS.to_string()), HOLD_BUCKETS)
                });
            let builder = match builder {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(error = %e, "metrics buckets rejected; histograms fall back to summaries");
                    PrometheusBuilder::new()
                }
            };
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            match metrics::set_global_recorder(recorder) {
                Ok(()) => {
                    describe();
                    Some(handle)
                }
                Err(_) => {
                    tracing::warn!("another metrics recorder is installed; /metrics will be empty");
                    None
                }
            }
        })
        .clone()
}

fn describe() {
    metrics::describe_counter!(
        REQUESTS,
        "Requests judged by the engine, by upstream and verdict."
    );
    metrics::describe_counter!(
        REFUSED,
        "Requests refused by the gateway before or around the engine, by upstream and reason."
    );
    metrics::describe_histogram!(
        HOLD_SECONDS,
        metrics::Unit::Seconds,
        "Time held requests waited for a person, by upstream and result."
    );
    metrics::describe_histogram!(
        UPSTREAM_LATENCY,
        metrics::Unit::Seconds,
        "Upstream time to response headers."
    );
    metrics::describe_counter!(UPSTREAM_ERRORS, "Upstream connection failures.");
    metrics::describe_gauge!(
        BREAKER_OPEN,
        "1 while the circuit breaker for this scope is open."
    );
    metrics::describe_counter!(
        WEBHOOK_DELIVERIES,
        "Webhook notification attempts, by webhook and result."
    );
}

/// Keeps histogram storage bounded; runs until the process ends.
pub async fn upkeep(handle: PrometheusHandle) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    loop {
        tick.tick().await;
        handle.run_upkeep();
    }
}

/// The per-upstream metric handles used on every request, registered once (handles made before
/// [`install`] record nothing).
#[derive(Debug, Clone)]
pub struct UpstreamMetrics {
    allow: metrics::Counter,
    ask: metrics::Counter,
    deny: metrics::Counter,
    latency: metrics::Histogram,
}

impl UpstreamMetrics {
    /// Registers the handles for `upstream`.
    pub fn new(upstream: &str) -> Self {
        let judged = |verdict: &'static str| metrics::counter!(REQUESTS, "upstream" => upstream.to_string(), "decision" => verdict);
        Self {
            allow: judged("allow"),
            ask: judged("ask"),
            deny: judged("deny"),
            latency: metrics::histogram!(UPSTREAM_LATENCY, "upstream" => upstream.to_string()),
        }
    }

    /// Counts a judged request.
    pub fn judged(&self, verdict: airlock_engine::Verdict) {
        match verdict {
            airlock_engine::Verdict::Allow => self.allow.increment(1),
            airlock_engine::Verdict::Ask => self.ask.increment(1),
            airlock_engine::Verdict::Deny => self.deny.increment(1),
        }
    }

    /// Records the upstream's time to response headers.
    pub fn upstream_latency(&self, elapsed: Duration) {
        self.latency.record(elapsed.as_secs_f64());
    }
}

/// Counts a refusal.
pub fn refused(upstream: &str, reason: &'static str) {
    metrics::counter!(REFUSED, "upstream" => upstream.to_string(), "reason" => reason).increment(1);
}

/// Records how long a request was held and how the hold ended.
pub fn held(upstream: &str, result: &'static str, waited: Duration) {
    metrics::histogram!(HOLD_SECONDS, "upstream" => upstream.to_string(), "result" => result)
        .record(waited.as_secs_f64());
}

/// Counts an upstream failure.
pub fn upstream_error(upstream: &str) {
    metrics::counter!(UPSTREAM_ERRORS, "upstream" => upstream.to_string()).increment(1);
}

/// Counts a webhook notification attempt (`webhook` is a configured name, `result` a fixed word).
pub fn webhook_delivery(webhook: &str, result: &'static str) {
    metrics::counter!(WEBHOOK_DELIVERIES, "webhook" => webhook.to_string(), "result" => result)
        .increment(1);
}

/// Sets the circuit breaker gauge for `scope` (e.g. `agent:NAME` or `upstream:NAME`): for the breaker to
/// call when it opens or is reset.
pub fn set_breaker_state(scope: &str, open: bool) {
    metrics::gauge!(BREAKER_OPEN, "scope" => scope.to_string()).set(if open { 1.0 } else { 0.0 });
}
