-- airlock store schema: the webhook outbox. One row per (pending approval, configured webhook), added by the
-- delivery loop of `airlock serve` when it first sees the pending approval (so an approval created by a
-- short-lived hook process is notified too). Times are ms since the Unix epoch. `next_attempt_ms` is when the
-- next attempt is due, NULL once the row is finished (delivered, or given up with `last_error`); an attempt
-- in progress holds a lease by pushing `next_attempt_ms` into the future. Never holds a secret.
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    approval_id     TEXT NOT NULL REFERENCES approvals (id),
    webhook         TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms BIGINT,
    delivered_ms    BIGINT,
    last_error      TEXT,
    created_ms      BIGINT NOT NULL,
    UNIQUE (approval_id, webhook)
);
CREATE INDEX notifications_due ON notifications (next_attempt_ms);
