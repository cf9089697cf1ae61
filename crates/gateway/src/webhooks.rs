//! Webhook notifications: every new pending approval is POSTed to each `[webhooks.NAME]` of the configuration,
//! so the person who decides learns that an agent is waiting. The [`Notifier`] runs inside `airlock serve`
//! next to the gateway ([`crate::BoundGateway::run`] starts it); it works from the store's outbox
//! (`airlock_store::notifications`): each tick it enqueues a notification for every pending approval not yet
//! announced to a webhook — whichever process created it: the gateway, the MCP proxy or a short-lived
//! `airlock hook` process, none of which ever waits on a webhook — then sends the due ones.
//!
//! Delivery is at least once: each attempt is claimed in the store (one sender across processes), has
//! [`ATTEMPT_TIMEOUT`], and counts as delivered on a `2xx` answer. A failure is retried after
//! `retry_base_ms` (default one second), doubling each time up to [`MAX_BACKOFF_MS`] (five minutes), until
//! `max_attempts` (default 8) have failed; then the notification is given up, and its `last_error` stays in the
//! store. An approval decided or expired before its notification is sent is not announced any more.
//!
//! Bodies are built from the approval's stored, redacted detail (`airlock_store::ApprovalDetail`): headline,
//! kind, agent, upstream, environment, rules and reasons — never a token, a credential header, a raw body.
//!
//! - `format = "json"`: `{"event": "approval.pending", "delivery_id", "timestamp", "approval_id", "kind",
//!   "agent", "upstream", "environment", "headline", "rules": [{rule, policy, message}], "reasons": […],
//!   "required", "created_at", "expires_at", "link"}`, with headers `X-Airlock-Event: approval.pending`,
//!   `X-Airlock-Delivery: ntf_…` (the same on every retry: drop duplicates by it), `X-Airlock-Timestamp`
//!   (Unix seconds of this attempt) and `X-Airlock-Signature: sha256=HEX`, the HMAC-SHA256 of the exact body
//!   bytes keyed by the webhook's `secret`. Replay: the body itself carries `delivery_id` and `timestamp`, so
//!   both are covered by the signature without a second signing scheme; a receiver checks the signature over
//!   the raw bytes (before parsing), refuses a `timestamp` more than five minutes old and remembers delivery ids
//!   for that long. The header copy of the timestamp is for convenience only.
//! - `format = "slack"`: `{"text": "airlock: HEADLINE — AGENT wants this … Approve or deny: LINK"}`, with `&`,
//!   `<`, `>` escaped as Slack requires; signed too when a `secret` is set.
//!
//! `link` is `PUBLIC_URL/approvals/apr_…` (`public_url`, default the admin listener's `http://ADDR`). The
//! webhook's URL is treated as a credential (a Slack webhook URL is one): it is never logged or stored;
//! logs, metrics and the store name the webhook.

use airlock_store::links::ApprovalPage;
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use airlock_store::{Approval, ApprovalState, Notification, Store, StoreError};
use bytes::Bytes;
use hmac::{Hmac, Mac as _};
use http::header::{CONTENT_TYPE, HeaderValue, USER_AGENT};
use http::{Request, Uri};
use http_body_util::Full;
use serde_json::json;
use sha2::Sha256;

use crate::config::{WebhookConfig, WebhookFormat};
use crate::connections::ConnectionPool;
use crate::error::GatewayError;

/// How long one attempt (connect, send, response headers) may take.
pub const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long an idle connection to a receiver is kept for the next notification.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest wait between two attempts.
pub const MAX_BACKOFF_MS: u64 = 300_000;
/// How often the outbox is looked at when nothing is due sooner (new approvals are noticed this late at most).
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);
/// Notifications sent per tick at most (concurrently).
pub const BATCH: u32 = 64;
/// The event every notification announces.
pub const EVENT: &str = "approval.pending";
/// `sha256=HEX`: HMAC-SHA256 of the body, keyed by the webhook's secret.
pub const SIGNATURE_HEADER: &str = "x-airlock-signature";
/// The notification's id (`ntf_…`), the same on every retry.
pub const DELIVERY_HEADER: &str = "x-airlock-delivery";
/// Unix seconds of this attempt (also in the signed body as `timestamp`).
pub const TIMESTAMP_HEADER: &str = "x-airlock-timestamp";
/// [`EVENT`].
pub const EVENT_HEADER: &str = "x-airlock-event";

struct Webhook {
    config: WebhookConfig,
    uri: Uri,
    /// Connections to its receiver (a pool serves one host).
    connections: Arc<ConnectionPool>,
}

/// Sends the outbox's notifications to the configured webhooks.
#[derive(Clone)]
pub struct Notifier {
    store: Store,
    webhooks: Arc<BTreeMap<String, Webhook>>,
    names: Arc<Vec<String>>,
    approval_page: ApprovalPage,
}

/// What became of one due notification (also the `result` label of the deliveries metric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    /// The receiver answered `2xx`.
    Delivered,
    /// The attempt failed; another is scheduled.
    Failed,
    /// The last allowed attempt failed.
    GaveUp,
    /// Not sent: the approval was already decided or expired, or the webhook is no longer configured.
    Skipped,
    /// Another sender claimed it first.
    Claimed,
}

impl AttemptResult {
    /// The metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            AttemptResult::Delivered => "delivered",
            AttemptResult::Failed => "failed",
            AttemptResult::GaveUp => "gave_up",
            AttemptResult::Skipped => "skipped",
            AttemptResult::Claimed => "claimed",
        }
    }
}

impl Notifier {
    /// A notifier for `webhooks` over `store`; links point at `approval_page`. Loads the system's root certificates when a webhook uses `https`.
    pub fn new(
        store: Store,
        webhooks: &BTreeMap<String, WebhookConfig>,
        approval_page: ApprovalPage,
    ) -> Result<Self, GatewayError> {
        let mut parsed = Vec::with_capacity(webhooks.len());
        let mut roots = None;
        for (name, config) in webhooks {
            let owner = format!("webhooks.{name}");
            let uri: Uri = config.url.expose().parse().map_err(|_| {
                GatewayError::Config(crate::ConfigError::Invalid {
                    key: format!("{owner}.url"),
                    message: "is not a URL".into(),
                })
            })?;
            if uri.scheme_str() == Some("https") && roots.is_none() {
                roots = Some(crate::upstream::system_roots(&owner)?);
            }
            parsed.push((name, config, uri));
        }
        let connector = crate::upstream::connector(
            roots.unwrap_or_else(rustls::RootCertStore::empty),
            ATTEMPT_TIMEOUT,
            "webhooks",
        )?;
        let resolved: BTreeMap<String, Webhook> = parsed
            .into_iter()
            .map(|(name, config, uri)| {
                let webhook = Webhook {
                    config: config.clone(),
                    uri,
                    connections: ConnectionPool::new(connector.clone(), IDLE_TIMEOUT),
                };
                (name.clone(), webhook)
            })
            .collect();
        Ok(Self {
            store,
            names: Arc::new(resolved.keys().cloned().collect()),
            webhooks: Arc::new(resolved),
            approval_page,
        })
    }

    /// No webhook configured: nothing to do.
    pub fn is_empty(&self) -> bool {
        self.webhooks.is_empty()
    }

    /// The approval page's link for `approval_id`.
    pub fn link(&self, approval_id: &str) -> String {
        self.approval_page.url(approval_id)
    }

    /// Ticks until `stop` completes: after each tick, waits until the next notification is due or `interval`
    /// (at most) has passed. A store that cannot be reached is logged and tried again next tick.
    pub async fn run(self, interval: Duration, stop: impl Future<Output = ()>) {
        if self.is_empty() {
            return;
        }
        tokio::pin!(stop);
        loop {
            if let Err(error) = self.tick().await {
                tracing::warn!(%error, "webhook notifications: the store failed; trying again");
            }
            let wait = self.until_next(interval).await;
            tokio::select! {
                () = &mut stop => return,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    async fn until_next(&self, interval: Duration) -> Duration {
        let Ok(Some(due)) = self.store.next_notification_due().await else {
            return interval;
        };
        let wait_ms = u64::try_from(due.saturating_sub(self.store.now_ms())).unwrap_or(0);
        Duration::from_millis(wait_ms).clamp(Duration::from_millis(1), interval)
    }

    /// One round: enqueues a notification for each pending approval not yet announced to each webhook, then
    /// makes one attempt at every due notification (at most [`BATCH`], concurrently). Returns what became of
    /// each.
    pub async fn tick(&self) -> Result<Vec<AttemptResult>, StoreError> {
        self.store.enqueue_notifications(&self.names).await?;
        let due = self.store.due_notifications(BATCH).await?;
        let results =
            futures_util::future::join_all(due.into_iter().map(|n| self.attempt(n))).await;
        results.into_iter().collect()
    }

    async fn attempt(&self, notification: Notification) -> Result<AttemptResult, StoreError> {
        let result = self.attempt_inner(&notification).await?;
        if result != AttemptResult::Claimed {
            crate::metrics::webhook_delivery(&notification.webhook, result.as_str());
        }
        Ok(result)
    }

    async fn attempt_inner(
        &self,
        notification: &Notification,
    ) -> Result<AttemptResult, StoreError> {
        let store = &self.store;
        let Some(webhook) = self.webhooks.get(&notification.webhook) else {
            store
                .notification_failed(
                    &notification.id,
                    "not sent: this webhook is no longer configured",
                    None,
                )
                .await?;
            return Ok(AttemptResult::Skipped);
        };
        if !store.claim_notification(notification).await? {
            return Ok(AttemptResult::Claimed);
        }
        let attempt = notification.attempts.saturating_add(1);
        let approval = match store.approval(&notification.approval_id).await {
            Ok(approval) => approval,
            Err(StoreError::ApprovalNotFound(_)) => {
                store
                    .notification_failed(&notification.id, "not sent: no such approval", None)
                    .await?;
                return Ok(AttemptResult::Skipped);
            }
            Err(error) => return Err(error),
        };
        if approval.state != ApprovalState::Pending {
            store
                .notification_failed(
                    &notification.id,
                    &format!("not sent: the approval is {}", approval.state.as_str()),
                    None,
                )
                .await?;
            return Ok(AttemptResult::Skipped);
        }
        let timestamp = store.now_ms().div_euclid(1000);
        let link = self.link(&approval.id);
        let body = match webhook.config.format {
            WebhookFormat::Json => json_body(&approval, &notification.id, timestamp, &link),
            WebhookFormat::Slack => slack_body(&approval, &link),
        };
        match self.post(webhook, &notification.id, timestamp, body).await {
            Ok(()) => {
                store.notification_delivered(&notification.id).await?;
                tracing::info!(webhook = %notification.webhook, approval = %approval.id, delivery = %notification.id, attempt, "webhook notified");
                Ok(AttemptResult::Delivered)
            }
            Err(error) => {
                let error = format!("attempt {attempt}: {error}");
                if attempt >= webhook.config.max_attempts {
                    store
                        .notification_failed(&notification.id, &error, None)
                        .await?;
                    tracing::warn!(webhook = %notification.webhook, approval = %approval.id, delivery = %notification.id, %error, "webhook notification given up");
                    Ok(AttemptResult::GaveUp)
                } else {
                    let delay = backoff_ms(webhook.config.retry_base_ms, attempt);
                    let retry_at = store
                        .now_ms()
                        .saturating_add(i64::try_from(delay).unwrap_or(i64::MAX));
                    store
                        .notification_failed(&notification.id, &error, Some(retry_at))
                        .await?;
                    tracing::info!(webhook = %notification.webhook, approval = %approval.id, delivery = %notification.id, %error, retry_in_ms = delay, "webhook notification failed; will retry");
                    Ok(AttemptResult::Failed)
                }
            }
        }
    }

    /// One POST: `Ok` on a `2xx` answer within [`ATTEMPT_TIMEOUT`]; otherwise what went wrong (never the URL).
    async fn post(
        &self,
        webhook: &Webhook,
        delivery: &str,
        timestamp: i64,
        body: Vec<u8>,
    ) -> Result<(), String> {
        let mut request = Request::post(webhook.uri.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(
                USER_AGENT,
                concat!("airlock/", env!("CARGO_PKG_VERSION"), " (webhook)"),
            )
            .header(EVENT_HEADER, EVENT)
            .header(DELIVERY_HEADER, delivery)
            .header(TIMESTAMP_HEADER, timestamp.to_string());
        if let Some(secret) = &webhook.config.secret {
            let mut value = HeaderValue::try_from(signature(secret.expose().as_bytes(), &body))
                .map_err(|e| e.to_string())?;
            value.set_sensitive(true);
            request = request.header(SIGNATURE_HEADER, value);
        }
        let request = request
            .body(Full::new(Bytes::from(body)))
            .map_err(|e| format!("cannot build the request: {e}"))?;
        match tokio::time::timeout(ATTEMPT_TIMEOUT, webhook.connections.send(request)).await {
            Err(_) => Err(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())),
            Ok(Err(error)) => Err(format!("could not send: {error}")),
            Ok(Ok(response)) if response.status().is_success() => Ok(()),
            Ok(Ok(response)) => Err(format!("the receiver answered HTTP {}", response.status())),
        }
    }
}

/// `sha256=HEX`: the HMAC-SHA256 of `body` keyed by `secret` (what [`SIGNATURE_HEADER`] carries).
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    // HMAC accepts keys of any length, so this never fails; the fallback keeps the code panic-free.
    let Ok(mut mac) = <Hmac<Sha256> as hmac::Mac>::new_from_slice(secret) else {
        return String::from("sha256=");
    };
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait before attempt `attempt + 1`: `base_ms · 2^(attempt − 1)`, at most [`MAX_BACKOFF_MS`].
pub fn backoff_ms(base_ms: u64, attempt: u32) -> u64 {
    let factor = 1u64
        .checked_shl(attempt.saturating_sub(1))
        .unwrap_or(u64::MAX);
    base_ms.saturating_mul(factor).min(MAX_BACKOFF_MS)
}

/// The headline, agent, upstream and environment of `approval` (from its redacted detail, or its redacted
/// summary for an approval stored before details existed).
struct Facts<'a> {
    headline: &'a str,
    agent: &'a str,
    upstream: Option<&'a str>,
    environment: Option<&'a str>,
}

fn facts(approval: &Approval) -> Facts<'_> {
    let detail = approval.detail();
    Facts {
        headline: detail.map_or(approval.summary.as_str(), |d| d.headline.as_str()),
        agent: detail
            .and_then(|d| d.agent.as_deref())
            .unwrap_or(approval.requester.as_str()),
        upstream: detail.and_then(|d| d.upstream.as_deref()),
        environment: detail.and_then(|d| d.environment.as_deref()),
    }
}

/// The redacted reason messages of `approval`.
fn reason_messages(approval: &Approval) -> Vec<String> {
    approval
        .reasons
        .as_array()
        .map(|reasons| {
            reasons
                .iter()
                .filter_map(|r| {
                    r.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The generic JSON body (see the module documentation).
pub fn json_body(approval: &Approval, delivery: &str, timestamp: i64, link: &str) -> Vec<u8> {
    let facts = facts(approval);
    let rules: Vec<serde_json::Value> = approval
        .detail()
        .map(|d| {
            d.rules
                .iter()
                .map(|r| json!({"rule": r.rule, "policy": r.policy, "message": r.message}))
                .collect()
        })
        .unwrap_or_default();
    let body = json!({
        "event": EVENT,
        "delivery_id": delivery,
        "timestamp": timestamp,
        "approval_id": approval.id,
        "kind": approval.kind,
        "agent": facts.agent,
        "upstream": facts.upstream,
        "environment": facts.environment,
        "headline": facts.headline,
        "rules": rules,
        "reasons": reason_messages(approval),
        "required": approval.required,
        "created_at": airlock_store::clock::format_ms(approval.created_ms),
        "expires_at": airlock_store::clock::format_ms(approval.expires_ms),
        "link": link,
    });
    body.to_string().into_bytes()
}

/// The Slack-compatible body: one readable line of text.
pub fn slack_body(approval: &Approval, link: &str) -> Vec<u8> {
    let facts = facts(approval);
    let mut text = format!(
        "airlock: {} — {} wants this",
        slack_escape(facts.headline),
        slack_escape(facts.agent)
    );
    match (facts.upstream, facts.environment) {
        (Some(upstream), Some(environment)) => text.push_str(&format!(
            " on {} ({})",
            slack_escape(upstream),
            slack_escape(environment)
        )),
        (Some(place), None) | (None, Some(place)) => {
            text.push_str(&format!(" on {}", slack_escape(place)));
        }
        (None, None) => {}
    }
    let rules: Vec<&str> = approval
        .detail()
        .map(|d| d.rules.iter().map(|r| r.rule.as_str()).collect())
        .unwrap_or_default();
    if !rules.is_empty() {
        text.push_str(&format!(" (rules: {})", slack_escape(&rules.join(", "))));
    }
    if approval.required > 1 {
        text.push_str(&format!(
            ". {} different approvers must approve",
            approval.required
        ));
    }
    text.push_str(&format!(
        ". Approve or deny before {}: {link}",
        airlock_store::clock::format_ms(approval.expires_ms)
    ));
    json!({ "text": text }).to_string().into_bytes()
}

/// Slack's three control characters in message text.
fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_capped() {
        assert_eq!(
            (1..=4).map(|a| backoff_ms(1_000, a)).collect::<Vec<_>>(),
            [1_000, 2_000, 4_000, 8_000]
        );
        assert_eq!(backoff_ms(1_000, 9), 256_000);
        assert_eq!(backoff_ms(1_000, 10), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(1_000, 200), MAX_BACKOFF_MS);
        assert_eq!(backoff_ms(u64::MAX, 3), MAX_BACKOFF_MS);
    }

    #[test]
    fn signature_matches_rfc_4231_test_case_2() {
        // RFC 4231, test case 2: key "Jefe", data "what do ya want for nothing?".
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn slack_text_is_escaped() {
        assert_eq!(slack_escape("a <b> & c"), "a &lt;b&gt; &amp; c");
    }
}
