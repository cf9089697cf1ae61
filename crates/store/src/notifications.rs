//! The webhook outbox: one [`Notification`] per (pending approval, configured webhook), so that a person is told
//! about every new pending approval at least once, whichever process created it. Hooks are short-lived processes
//! that must never wait on a webhook, so nothing is enqueued where approvals are created: the delivery loop of
//! `airlock serve` calls [`Store::enqueue_notifications`] on each tick, which adds a row for every live pending
//! approval that has none yet for a webhook (a unique key on `(approval_id, webhook)` keeps that idempotent across
//! ticks, restarts and several `serve` processes on one PostgreSQL database).
//!
//! A row is due while `next_attempt_ms <= now`. An attempt starts with [`Store::claim_notification`], which counts
//! it and pushes `next_attempt_ms` a lease ([`CLAIM_LEASE_MS`]) into the future, so exactly one process sends it
//! and a crash mid-attempt only delays the next one. It ends with [`Store::notification_delivered`] or
//! [`Store::notification_failed`] (the next try, or none to give up). Rows never hold a secret: the body is built
//! from the approval's redacted detail at send time.

use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::clock::Millis;
use crate::db::{Store, on_pool, random_bytes};
use crate::error::Result;
use crate::redact::truncate_chars;

/// How long a claimed attempt owns its row before another process may try again.
pub const CLAIM_LEASE_MS: Millis = 60_000;

/// At most this many characters of an error are kept in `last_error`.
pub const MAX_ERROR_CHARS: usize = 500;

/// One webhook delivery of one pending approval.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Its id (`ntf_…`), also sent to the receiver (`X-Airlock-Delivery`) so it can drop duplicates.
    pub id: String,
    /// The approval it announces.
    pub approval_id: String,
    /// The configured webhook's name.
    pub webhook: String,
    /// Attempts started so far.
    pub attempts: u32,
    /// When the next attempt is due; `None` once finished (delivered or given up).
    pub next_attempt_ms: Option<Millis>,
    /// When the receiver accepted it.
    pub delivered_ms: Option<Millis>,
    /// Why the latest failed attempt failed (kept after a later success).
    pub last_error: Option<String>,
    /// Enqueued at.
    pub created_ms: Millis,
}

impl Notification {
    /// Delivered, or given up.
    pub fn is_finished(&self) -> bool {
        self.next_attempt_ms.is_none()
    }
}

const NOTIFICATION_COLUMNS: &str =
    "id, approval_id, webhook, attempts, next_attempt_ms, delivered_ms, last_error, created_ms";

macro_rules! decode_notification {
    ($row:expr) => {{
        let row = $row;
        let attempts: i64 = row.try_get(3)?;
        Notification {
            id: row.try_get(0)?,
            approval_id: row.try_get(1)?,
            webhook: row.try_get(2)?,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            next_attempt_ms: row.try_get(4)?,
            delivered_ms: row.try_get(5)?,
            last_error: row.try_get(6)?,
            created_ms: row.try_get(7)?,
        }
    }};
}

impl Store {
    /// For each of `webhooks`, adds a due notification for every pending, unexpired approval that has none for
    /// that webhook yet. Returns how many were added.
    pub async fn enqueue_notifications(&self, webhooks: &[String]) -> Result<u64> {
        let now = self.clock.now_ms();
        let mut added = 0;
        for webhook in webhooks {
            let ids: Vec<String> = on_pool!(self, pool => {
                sqlx::query_scalar(
                    "SELECT a.id FROM approvals a WHERE a.state = 'pending' AND a.expires_ms > $1 \
                     AND NOT EXISTS (SELECT 1 FROM notifications n WHERE n.approval_id = a.id AND n.webhook = $2) \
                     ORDER BY a.created_ms, a.id",
                )
                .bind(now)
                .bind(webhook)
                .fetch_all(pool)
                .await?
            });
            for approval_id in ids {
                let id = format!("ntf_{}", hex::encode(random_bytes::<8>()?));
                let done = on_pool!(self, pool => {
                    sqlx::query(
                        "INSERT INTO notifications (id, approval_id, webhook, attempts, next_attempt_ms, created_ms) \
                         VALUES ($1, $2, $3, 0, $4, $4) ON CONFLICT (approval_id, webhook) DO NOTHING",
                    )
                    .bind(&id)
                    .bind(&approval_id)
                    .bind(webhook)
                    .bind(now)
                    .execute(pool)
                    .await?
                    .rows_affected()
                });
                added += done;
            }
        }
        Ok(added)
    }

    /// Notifications due now, oldest due first, at most `limit`.
    pub async fn due_notifications(&self, limit: u32) -> Result<Vec<Notification>> {
        let now = self.clock.now_ms();
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE next_attempt_ms IS NOT NULL AND next_attempt_ms <= $1 \
             ORDER BY next_attempt_ms, id LIMIT $2"
        );
        Ok(on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(now).bind(i64::from(limit)).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(decode_notification!(row));
            }
            out
        }))
    }

    /// When the next unfinished notification is due (possibly in the past), if any.
    pub async fn next_notification_due(&self) -> Result<Option<Millis>> {
        Ok(on_pool!(self, pool => {
            sqlx::query_scalar("SELECT MIN(next_attempt_ms) FROM notifications WHERE next_attempt_ms IS NOT NULL")
                .fetch_one(pool)
                .await?
        }))
    }

    /// Starts an attempt at `notification` (as read by [`Store::due_notifications`]): counts it and leases the row
    /// for [`CLAIM_LEASE_MS`]. `false` when another process claimed it first or it is no longer due; only the
    /// caller that got `true` may send it.
    pub async fn claim_notification(&self, notification: &Notification) -> Result<bool> {
        let now = self.clock.now_ms();
        let done = on_pool!(self, pool => {
            sqlx::query(
                "UPDATE notifications SET attempts = attempts + 1, next_attempt_ms = $1 \
                 WHERE id = $2 AND attempts = $3 AND delivered_ms IS NULL \
                 AND next_attempt_ms IS NOT NULL AND next_attempt_ms <= $4",
            )
            .bind(now.saturating_add(CLAIM_LEASE_MS))
            .bind(&notification.id)
            .bind(i64::from(notification.attempts))
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(done == 1)
    }

    /// The receiver accepted the notification: it is finished.
    pub async fn notification_delivered(&self, id: &str) -> Result<()> {
        let now = self.clock.now_ms();
        on_pool!(self, pool => {
            sqlx::query("UPDATE notifications SET delivered_ms = $1, next_attempt_ms = NULL WHERE id = $2")
                .bind(now)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// An attempt failed (or the notification is no longer worth sending) because of `error` (no secret in it):
    /// tries again at `retry_at`, or never (`None`: given up, finished).
    pub async fn notification_failed(
        &self,
        id: &str,
        error: &str,
        retry_at: Option<Millis>,
    ) -> Result<()> {
        let error = truncate_chars(error, MAX_ERROR_CHARS);
        on_pool!(self, pool => {
            sqlx::query("UPDATE notifications SET last_error = $1, next_attempt_ms = $2 WHERE id = $3 AND delivered_ms IS NULL")
                .bind(&error)
                .bind(retry_at)
                .bind(id)
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// The notifications of one approval, by webhook name.
    pub async fn notifications_for(&self, approval_id: &str) -> Result<Vec<Notification>> {
        let sql = format!(
            "SELECT {NOTIFICATION_COLUMNS} FROM notifications WHERE approval_id = $1 ORDER BY webhook, id"
        );
        Ok(on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(approval_id).fetch_all(pool).await?;
            let mut out = Vec::with_capacity(rows.len());
            for row in &rows {
                out.push(decode_notification!(row));
            }
            out
        }))
    }
}
