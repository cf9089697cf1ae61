-- airlock store schema: deferred requests and the circuit breaker (PostgreSQL). Times are ms since the Unix epoch.

-- Requests the policy marks `defer`: replayed to their upstream after a cancel window unless a person
-- cancels them. State: pending → executing → executed | failed, or pending → cancelled. A row is claimed
-- (pending → executing) by exactly one executor; a row left `executing` by a crash is never re-run.
-- `headers` (JSON [[name, value], …]) and `body` are what to replay, never a credential; they are emptied
-- once the row reaches a final state.
CREATE TABLE deferred_requests (
    id               TEXT PRIMARY KEY,
    created_ms       BIGINT NOT NULL,
    executes_at_ms   BIGINT NOT NULL,
    upstream         TEXT NOT NULL,
    agent            TEXT,
    session          TEXT,
    kind             TEXT NOT NULL,
    method           TEXT NOT NULL,
    path             TEXT NOT NULL,
    headers          TEXT NOT NULL,
    body             BYTEA NOT NULL,
    digest           TEXT NOT NULL,
    summary          TEXT NOT NULL,
    decision         TEXT NOT NULL,
    reasons          TEXT NOT NULL,
    approval_id      TEXT,
    state            TEXT NOT NULL,
    claimed_ms       BIGINT,
    finished_ms      BIGINT,
    result_status    BIGINT,
    result_summary   TEXT,
    cancelled_by     TEXT,
    audit_seq        BIGINT,
    result_audit_seq BIGINT
);
CREATE INDEX deferred_requests_due ON deferred_requests (state, executes_at_ms);

-- One row per destructive request let through, counted in a sliding window per agent and per upstream.
-- A person's reset marks the scope's events cleared, so counting starts again from zero.
CREATE TABLE breaker_events (
    id               BIGSERIAL PRIMARY KEY,
    agent            TEXT NOT NULL,
    upstream         TEXT NOT NULL,
    ts_ms            BIGINT NOT NULL,
    agent_cleared    BIGINT NOT NULL DEFAULT 0,
    upstream_cleared BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX breaker_events_agent ON breaker_events (agent, ts_ms);
CREATE INDEX breaker_events_upstream ON breaker_events (upstream, ts_ms);
CREATE INDEX breaker_events_ts ON breaker_events (ts_ms);

-- Trips: a scope (`agent` or `upstream`) stays tripped until a person resets it; resets are kept as history.
CREATE TABLE breaker_trips (
    id          TEXT PRIMARY KEY,
    scope       TEXT NOT NULL,
    name        TEXT NOT NULL,
    tripped_ms  BIGINT NOT NULL,
    count       BIGINT NOT NULL,
    max_count   BIGINT NOT NULL,
    window_ms   BIGINT NOT NULL,
    reason      TEXT NOT NULL,
    reset_ms    BIGINT,
    reset_by    TEXT
);
CREATE UNIQUE INDEX breaker_trips_active ON breaker_trips (scope, name) WHERE reset_ms IS NULL;
