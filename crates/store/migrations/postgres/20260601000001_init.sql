-- airlock store schema v1 (PostgreSQL). Times are milliseconds since the Unix epoch (UTC).

-- The audit log: append-only, one linear hash chain ordered by `seq` (1, 2, 3, … without gaps).
CREATE TABLE audit_log (
    seq         BIGINT PRIMARY KEY,
    ts_ms       BIGINT NOT NULL,
    agent       TEXT,
    session     TEXT,
    kind        TEXT NOT NULL,
    digest      TEXT NOT NULL,
    summary     TEXT NOT NULL,
    decision    TEXT NOT NULL,
    reasons     TEXT NOT NULL,
    mitigation  TEXT NOT NULL,
    approval_id TEXT,
    outcome     TEXT NOT NULL,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
CREATE INDEX audit_log_ts ON audit_log (ts_ms);
CREATE INDEX audit_log_agent ON audit_log (agent, seq);

-- Defence in depth: the log refuses updates and deletes (the hash chain still detects a writer who drops these).
CREATE FUNCTION airlock_audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION airlock_audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION airlock_audit_log_append_only();

-- Approvals of `ask` decisions, bound to the digest of the exact request.
CREATE TABLE approvals (
    id          TEXT PRIMARY KEY,
    digest      TEXT NOT NULL,
    kind        TEXT NOT NULL,
    summary     TEXT NOT NULL,
    requester   TEXT NOT NULL,
    session     TEXT,
    reasons     TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    required    BIGINT NOT NULL,
    state       TEXT NOT NULL,
    decided_ms  BIGINT,
    deny_reason TEXT,
    consumed_ms BIGINT
);
CREATE INDEX approvals_state ON approvals (state, created_ms);
CREATE INDEX approvals_digest ON approvals (digest);

-- One row per approver per approval: distinct approvers are enforced by the key.
CREATE TABLE approval_votes (
    approval_id TEXT NOT NULL REFERENCES approvals (id),
    approver    TEXT NOT NULL,
    vote        TEXT NOT NULL,
    reason      TEXT,
    ts_ms       BIGINT NOT NULL,
    PRIMARY KEY (approval_id, approver)
);

-- Agent tokens: only the SHA-256 of the token is stored.
CREATE TABLE agent_tokens (
    name        TEXT PRIMARY KEY,
    token_hash  TEXT NOT NULL UNIQUE,
    scopes      TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    expires_ms  BIGINT,
    revoked_ms  BIGINT
);

-- Approvers: only an argon2 hash of the secret is stored; `id` is the public part of the secret.
CREATE TABLE approvers (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    secret_hash TEXT NOT NULL,
    created_ms  BIGINT NOT NULL,
    revoked_ms  BIGINT
);
