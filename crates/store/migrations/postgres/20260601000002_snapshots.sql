-- airlock store schema: snapshots index (PostgreSQL). The files themselves live in `$AIRLOCK_HOME/snapshots/<id>/`
-- (a `manifest.json` and the kept file contents); a row says what was taken, for whom and what became of it.
CREATE TABLE snapshots (
    id          TEXT PRIMARY KEY,
    created_ms  BIGINT NOT NULL,
    cwd         TEXT NOT NULL,
    agent       TEXT,
    session     TEXT,
    summary     TEXT NOT NULL,
    rules       TEXT NOT NULL,
    audit_seq   BIGINT,
    approval_id TEXT,
    undo_of     TEXT,
    files       BIGINT NOT NULL,
    bytes       BIGINT NOT NULL,
    state       TEXT NOT NULL,
    state_ms    BIGINT
);
CREATE INDEX snapshots_created ON snapshots (created_ms);
CREATE INDEX snapshots_state ON snapshots (state, created_ms);
