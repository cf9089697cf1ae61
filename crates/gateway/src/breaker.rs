//! The circuit breaker in the gateway: a [`ForwardGuard`] that counts every destructive request about to be
//! let through (the store's [`is_destructive`] reads the engine's decision; nothing is classified here) with
//! [`Store::record_destructive`](airlock_store::Store::record_destructive), and refuses it with 403
//! (`error: "breaker_open"`, naming each open breaker, its count, limit and window, and the
//! `airlock breaker reset …` command) when a breaker of its agent or upstream is open or opens now. The
//! refusal is audited (`breaker open`). Only a person resets a breaker (an approver secret, in the store);
//! [`watch`] keeps the `airlock_gateway_breaker_open{scope}` gauge in step with the store, so a reset made by
//! `airlock breaker reset` in another process shows up within [`WATCH_INTERVAL`]. The store failing ⇒ 503,
//! nothing forwarded.

use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

use airlock_store::Store;
use airlock_store::breaker::{BreakerLimits, BreakerScope, BreakerVerdict, is_destructive};

use crate::metrics;
use crate::proxy::{AllowedCall, ForwardGuard, GuardFuture, Guarded};
use crate::reply::{self, Refusal};

/// How often [`watch`] reads the open breakers from the store.
pub const WATCH_INTERVAL: Duration = Duration::from_secs(2);

/// Gauge labels set to 1 in this process (the gauge is process-wide, like the metrics recorder), so that
/// [`watch`] sets them back to 0 once the store says they are closed.
static SHOWN_OPEN: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

fn show(label: String, open: bool) {
    metrics::set_breaker_state(&label, open);
    if let Ok(mut shown) = SHOWN_OPEN.lock() {
        if open {
            shown.insert(label);
        } else {
            shown.remove(&label);
        }
    }
}

/// The breaker, as a guard.
#[derive(Debug, Clone, Copy)]
pub struct BreakerGuard {
    limits: BreakerLimits,
}

impl BreakerGuard {
    /// A breaker counting against `limits`.
    pub fn new(limits: BreakerLimits) -> Self {
        Self { limits }
    }
}

/// The gauge label of a breaker: `agent:NAME` or `upstream:NAME`.
pub fn scope_label(scope: &BreakerScope) -> String {
    format!("{}:{}", scope.kind.as_str(), scope.name)
}

impl ForwardGuard for BreakerGuard {
    fn check<'a>(&'a self, call: &'a AllowedCall<'a>) -> GuardFuture<'a> {
        Box::pin(async move {
            if !is_destructive(call.decision) {
                return Guarded::Forward;
            }
            let upstream = call.upstream.name();
            let verdict = call
                .gate
                .store()
                .record_destructive(call.agent, upstream, &self.limits)
                .await;
            let trips = match verdict {
                Ok(BreakerVerdict::Pass { .. }) => return Guarded::Forward,
                Ok(BreakerVerdict::Tripped { trips }) => trips,
                Err(e) => {
                    tracing::error!(upstream, error = %e, "cannot count a destructive request for the circuit breaker; refusing");
                    metrics::refused(upstream, "unavailable");
                    return Guarded::Respond(
                        Refusal::Unavailable(
                            "airlock cannot check its circuit breaker right now, so nothing was forwarded; try again later"
                                .into(),
                        )
                        .response(),
                    );
                }
            };
            for trip in &trips {
                show(scope_label(&trip.scope), true);
                tracing::warn!(upstream, agent = call.agent, breaker = %trip.scope, count = trip.count, limit = trip.limit, "circuit breaker open; destructive request refused");
            }
            metrics::refused(upstream, "breaker_open");
            let audit = call
                .gate
                .record(
                    call.envelope,
                    call.decision,
                    "breaker open",
                    call.approval_id,
                )
                .await;
            let audit_id = match audit {
                Ok(entry) => Some(entry.seq),
                Err(e) => {
                    tracing::error!(upstream, error = %e, "cannot record a circuit breaker refusal");
                    None
                }
            };
            Guarded::Respond(reply::breaker_open(
                &trips,
                &call.decision.reasons,
                audit_id,
            ))
        })
    }
}

/// Keeps the breaker gauge in step with the store until `stop` completes: every [`WATCH_INTERVAL`], open
/// breakers read 1 and breakers closed since (reset by a person) read 0.
pub async fn watch(
    store: Store,
    limits: BreakerLimits,
    stop: impl std::future::Future<Output = ()>,
) {
    let mut tick = tokio::time::interval(WATCH_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {}
        }
        let status = match store.breaker_status(&limits).await {
            Ok(status) => status,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the circuit breakers");
                continue;
            }
        };
        let now: BTreeSet<String> = status
            .tripped
            .iter()
            .map(|t| scope_label(&t.scope))
            .collect();
        let shown: BTreeSet<String> = SHOWN_OPEN.lock().map(|s| s.clone()).unwrap_or_default();
        for closed in shown.difference(&now) {
            show(closed.clone(), false);
        }
        for label in now {
            show(label, true);
        }
    }
}
