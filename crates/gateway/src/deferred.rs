//! Deferred requests in the gateway. [`DeferGuard`] is the [`ForwardGuard`] for what the policy marks
//! `defer` (the decision's mitigation; with the default policy, remote deletes a person approved): instead of
//! forwarding, it stores the request ([`Store::defer`](airlock_store::Store::defer): method, path and query
//! after `/u/NAME`, the headers and body as they would be forwarded — the agent's credentials already
//! stripped, the upstream's not yet injected, so no secret is ever in the database) and answers 202
//! `{deferred_id, executes_at, cancel}`. [`DeferredExecutor`] runs in `airlock serve` (every
//! [`EXECUTOR_INTERVAL`]): it claims due requests with [`run_due_deferred`] (at most once, across processes),
//! injects the upstream's credential, sends them, and the store records `executed def_… (STATUS)` or
//! `failed def_…` in the audit log. A person cancels with `airlock deferred cancel ID` until then. The store
//! failing ⇒ 503, nothing forwarded and nothing stored.

use std::sync::Arc;
use std::time::Duration;

use airlock_engine::Mitigation;
use airlock_store::deferred::{
    Deferred, ExecutionResult, MAX_RESULT_CHARS, NewDeferred, ReplayRequest, run_due_deferred,
};
use airlock_store::{Millis, StoreError};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use http_body_util::BodyExt as _;

use crate::metrics;
use crate::proxy::{AllowedCall, ForwardGuard, GuardFuture, Guarded, Shared};
use crate::reply::{self, Refusal};

/// How often the executor looks for due requests.
pub const EXECUTOR_INTERVAL: Duration = Duration::from_secs(1);

/// How long one execution may wait for the upstream's answer (headers and the start of the body).
pub const EXECUTION_TIMEOUT: Duration = Duration::from_secs(60);

/// Most bytes of the upstream's answer read for the result summary.
const SUMMARY_BYTES: usize = 4096;

/// Stores calls whose decision says `defer` instead of forwarding them.
#[derive(Debug, Clone, Copy)]
pub struct DeferGuard {
    window_ms: Millis,
}

impl DeferGuard {
    /// Deferred calls run `window` after they arrive, unless cancelled.
    pub fn new(window: Duration) -> Self {
        Self {
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
        }
    }
}

impl ForwardGuard for DeferGuard {
    fn check<'a>(&'a self, call: &'a AllowedCall<'a>) -> GuardFuture<'a> {
        Box::pin(async move {
            if call.decision.mitigation != Mitigation::Defer {
                return Guarded::Forward;
            }
            let upstream = call.upstream.name();
            let Some(headers) = replay_headers(call.headers) else {
                metrics::refused(upstream, "bad_request");
                return Guarded::Respond(
                    Refusal::BadRequest(
                        "this request must be deferred, but a header value is not text and cannot be stored; nothing was forwarded"
                            .into(),
                    )
                    .response(),
                );
            };
            let request = ReplayRequest {
                method: call.method.as_str().to_string(),
                path: call.path.to_string(),
                headers,
                body: call.body.to_vec(),
            };
            let mut new = NewDeferred::new(upstream, request, call.envelope, call.decision);
            if let Some(id) = call.approval_id {
                new = new.with_approval(id);
            }
            match call.gate.store().defer(new, self.window_ms).await {
                Ok(deferred) => {
                    tracing::info!(upstream, agent = call.agent, deferred_id = %deferred.id, executes_at_ms = deferred.executes_at_ms, "deferred");
                    Guarded::Respond(reply::deferred(&deferred, &call.decision.reasons))
                }
                Err(e) => {
                    tracing::error!(upstream, error = %e, "cannot store a deferred request; refusing");
                    metrics::refused(upstream, "unavailable");
                    Guarded::Respond(
                        Refusal::Unavailable(
                            "airlock cannot store this deferred request right now, so nothing was forwarded; try again later"
                                .into(),
                        )
                        .response(),
                    )
                }
            }
        })
    }
}

/// Headers as text pairs, in order; `None` if a value is not visible ASCII/UTF-8.
fn replay_headers(headers: &HeaderMap) -> Option<Vec<(String, String)>> {
    headers
        .iter()
        .map(|(name, value)| {
            std::str::from_utf8(value.as_bytes())
                .ok()
                .map(|v| (name.as_str().to_string(), v.to_string()))
        })
        .collect()
}

/// Runs due deferred requests against the gateway's upstreams.
#[derive(Clone)]
pub struct DeferredExecutor {
    shared: Arc<Shared>,
}

impl DeferredExecutor {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Self { shared }
    }

    /// Executes every request due now (by the store's clock), each at most once across every executor on
    /// the same database; returns the rows finished by this call.
    pub async fn run_due(&self) -> Result<Vec<Deferred>, StoreError> {
        let store = self.shared.gate.store();
        let finished = run_due_deferred(store, store.now_ms(), |d| self.execute(d)).await?;
        for d in &finished {
            tracing::info!(upstream = %d.upstream, deferred_id = %d.id, state = d.state.as_str(), status = d.result_status, "deferred request run");
        }
        Ok(finished)
    }

    /// Runs [`DeferredExecutor::run_due`] every `interval` until `stop` completes.
    pub async fn run(self, interval: Duration, stop: impl std::future::Future<Output = ()>) {
        let mut tick = tokio::time::interval(interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                () = &mut stop => return,
                _ = tick.tick() => {}
            }
            if let Err(e) = self.run_due().await {
                tracing::error!(error = %e, "cannot run deferred requests");
            }
        }
    }

    /// Sends one claimed request with the upstream's credential injected.
    async fn execute(&self, deferred: Deferred) -> ExecutionResult {
        let Some(upstream) = self.shared.upstreams.get(&deferred.upstream) else {
            return Err(format!(
                "upstream `{}` is no longer configured; nothing was sent",
                deferred.upstream
            ));
        };
        let request = deferred.request;
        let (rest, query) = match request.path.split_once('?') {
            Some((rest, query)) => (rest, Some(query)),
            None => (request.path.as_str(), None),
        };
        let uri = upstream
            .target(rest, query)
            .ok_or_else(|| "the stored path does not form an upstream URL".to_string())?;
        let method = Method::from_bytes(request.method.as_bytes())
            .map_err(|_| format!("`{}` is not an HTTP method", request.method))?;
        let mut headers = HeaderMap::with_capacity(request.headers.len());
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("stored header `{name}` is not a header name"))?;
            let value = HeaderValue::from_str(value)
                .map_err(|_| format!("stored header `{name}` has an invalid value"))?;
            headers.append(name, value);
        }
        let started = std::time::Instant::now();
        let sent = tokio::time::timeout(
            EXECUTION_TIMEOUT,
            upstream.send(method, uri, headers, Bytes::from(request.body)),
        )
        .await;
        let response = match sent {
            Err(_) => {
                return Err(format!(
                    "no answer from the upstream within {} s",
                    EXECUTION_TIMEOUT.as_secs()
                ));
            }
            Ok(Err(e)) => {
                metrics::upstream_error(upstream.name());
                return Err(e.message);
            }
            Ok(Ok(response)) => response,
        };
        upstream.metrics().upstream_latency(started.elapsed());
        let status = response.status().as_u16();
        let mut body = response.into_body();
        let mut read: Vec<u8> = Vec::new();
        // The start of the answer, for the summary; the rest is drained so the connection can be reused.
        let drained = tokio::time::timeout(EXECUTION_TIMEOUT, async {
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else { break };
                if let Some(data) = frame.data_ref()
                    && read.len() < SUMMARY_BYTES
                {
                    let room = SUMMARY_BYTES.saturating_sub(read.len());
                    read.extend_from_slice(data.get(..room.min(data.len())).unwrap_or_default());
                }
            }
        })
        .await;
        let mut summary: String = String::from_utf8_lossy(&read)
            .chars()
            .take(MAX_RESULT_CHARS)
            .collect();
        if drained.is_err() {
            summary.push_str(" (the rest of the answer did not arrive in time)");
        }
        Ok((status, summary))
    }
}
