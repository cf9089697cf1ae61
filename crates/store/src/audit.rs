//! The audit log: append-only, one linear hash chain. Each entry stores the hash of the entry before it and
//! its own hash over a canonical encoding of its fields ([`crate::canonical::entry_hash`]); `seq` numbers run
//! 1, 2, 3, … without gaps. Appends take the chain's write lock (`BEGIN IMMEDIATE` on SQLite, an advisory
//! transaction lock on PostgreSQL), read the head and insert in one transaction, so any number of processes,
//! tasks and replicas produce one chain. [`Store::verify`] recomputes every hash and names the first entry that
//! was altered, removed or inserted; with an anchored head hash it also detects a truncated tail.

use airlock_engine::{Decision, Envelope, Mitigation, Reason, Verdict};
use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::canonical::{
    GENESIS_HASH, HashedFields, canonical_json, entry_hash, entry_hash_hex, request_digest,
};
use crate::clock::Millis;
use crate::db::{Pool, Store, WritePool as _, on_pool};
use crate::error::{Result, StoreError};
use crate::redact::{redact_text, summarize};

/// What happened to a request, as recorded: conventional values are `allowed`, `denied`, `held` (waiting for
/// an approval), `approved` (let through by an approval), `executed`, `failed`.
pub type Outcome = String;

/// One decision to record, before it has a place in the chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// Agent (or agent token) name.
    pub agent: Option<String>,
    /// Agent session.
    pub session: Option<String>,
    /// Request kind: `shell`, `sql`, `http`, `mcp`, `file`.
    pub kind: String,
    /// [`request_digest`] of the exact request.
    pub digest: String,
    /// Readable summary, secrets redacted.
    pub summary: String,
    /// The verdict.
    pub decision: Verdict,
    /// Why (messages redacted).
    pub reasons: Vec<Reason>,
    /// The mitigation applied.
    pub mitigation: Mitigation,
    /// The approval that let it through, when one did.
    pub approval_id: Option<String>,
    /// What happened.
    pub outcome: Outcome,
}

impl AuditRecord {
    /// The record of `decision` on `envelope`: digest of the exact request, redacted summary and reasons.
    pub fn new(envelope: &Envelope, decision: &Decision, outcome: impl Into<Outcome>) -> Self {
        let reasons = decision
            .reasons
            .iter()
            .map(|r| Reason {
                message: redact_text(&r.message),
                ..r.clone()
            })
            .collect();
        Self {
            agent: envelope.context.agent.clone(),
            session: envelope.context.session.clone(),
            kind: envelope.request.kind().as_str().to_string(),
            digest: request_digest(envelope),
            summary: summarize(envelope),
            decision: decision.verdict,
            reasons,
            mitigation: decision.mitigation,
            approval_id: None,
            outcome: outcome.into(),
        }
    }

    /// The same record, naming the approval that let it through.
    pub fn with_approval(mut self, approval_id: impl Into<String>) -> Self {
        self.approval_id = Some(approval_id.into());
        self
    }
}

/// One stored entry of the chain, exactly as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Position in the chain, from 1.
    pub seq: i64,
    /// When it was appended, ms since the epoch.
    pub ts_ms: Millis,
    /// Agent name.
    pub agent: Option<String>,
    /// Agent session.
    pub session: Option<String>,
    /// Request kind.
    pub kind: String,
    /// Request digest.
    pub digest: String,
    /// Redacted summary.
    pub summary: String,
    /// `allow`, `ask` or `deny`.
    pub decision: String,
    /// Reasons as canonical JSON text (as hashed).
    pub reasons: String,
    /// Mitigation.
    pub mitigation: String,
    /// The approval that let it through.
    pub approval_id: Option<String>,
    /// What happened.
    pub outcome: String,
    /// Hash of the entry before (all zeros for the first).
    pub prev_hash: String,
    /// This entry's hash.
    pub hash: String,
}

impl AuditEntry {
    fn fields(&self) -> HashedFields<'_> {
        HashedFields {
            seq: self.seq,
            ts_ms: self.ts_ms,
            agent: self.agent.as_deref(),
            session: self.session.as_deref(),
            kind: &self.kind,
            digest: &self.digest,
            summary: &self.summary,
            decision: &self.decision,
            reasons: &self.reasons,
            mitigation: &self.mitigation,
            approval_id: self.approval_id.as_deref(),
            outcome: &self.outcome,
            prev_hash: &self.prev_hash,
        }
    }
}

/// The end of the chain: how many entries, and the last one's hash (for anchoring elsewhere).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainHead {
    /// Number of entries (the last `seq`).
    pub count: i64,
    /// Hash of the last entry; the genesis hash (all zeros) for an empty log.
    pub hash: String,
}

/// What is wrong with the first bad entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The entry's contents do not match its hash.
    Altered,
    /// The entry with this `seq` is gone.
    Removed,
    /// The entry does not link to the entry before it, or has a `seq` that cannot occur.
    Inserted,
    /// The anchored head is not in the chain: the tail was cut off or the log rewritten.
    Truncated,
}

/// The first problem found in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainProblem {
    /// The entry at fault.
    pub seq: i64,
    /// What is wrong.
    pub kind: ProblemKind,
    /// A sentence naming the entry and the problem.
    pub message: String,
}

/// The result of [`Store::verify`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Entries proven (up to the first problem).
    pub count: i64,
    /// Hash of the last proven entry (genesis hash when none).
    pub head: String,
    /// The first problem, if any.
    pub problem: Option<ChainProblem>,
}

impl VerifyReport {
    /// True when the whole chain (and the anchor, if given) checked out.
    pub fn is_ok(&self) -> bool {
        self.problem.is_none()
    }
}

/// Which entries [`Store::list`] returns.
#[derive(Debug, Clone, Default)]
pub struct AuditFilter {
    /// Only this agent.
    pub agent: Option<String>,
    /// Only this decision (`allow`, `ask`, `deny`).
    pub decision: Option<String>,
    /// Only entries at or after this time.
    pub since_ms: Option<Millis>,
    /// Only the last N matching entries.
    pub limit: Option<u32>,
}

/// Most rows in one `INSERT` of [`Store::append_batch`]: more rows per statement save round trips (and steps
/// of SQLite's statement machine); each row count is a statement of its own in sqlx's statement cache.
const ROWS_PER_INSERT: usize = 16;

/// How an `INSERT` of [`insert_sql`] writes its parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Placeholders {
    /// `?`, bound by position. For SQLite: sqlx asks SQLite for every parameter's name before binding it,
    /// and for `$N` SQLite finds that name with a linear scan — quadratic in the parameters of a statement,
    /// the database thread's largest single cost in `scripts/bench-gateway` before it was changed.
    Anonymous,
    /// `$1`, `$2`, …: PostgreSQL's form.
    Numbered,
}

/// `INSERT INTO audit_log (…) VALUES (…), (…), …` for 1 to [`ROWS_PER_INSERT`] rows of the 14 columns,
/// with `; COMMIT` after it when `then_commit` (SQLite: see [`append_batch_sqlite`]); built once per shape.
fn insert_sql(rows: usize, placeholders: Placeholders, then_commit: bool) -> &'static str {
    static SQL: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let all = SQL.get_or_init(|| {
        let mut all = Vec::with_capacity(4 * ROWS_PER_INSERT);
        for style in [Placeholders::Anonymous, Placeholders::Numbered] {
            for commit in ["", "; COMMIT"] {
                for rows in 1..=ROWS_PER_INSERT {
                    let values: Vec<String> = (0..rows)
                        .map(|row| {
                            let params: Vec<String> = (1..=COLUMN_NAMES.len())
                                .map(|column| match style {
                                    Placeholders::Anonymous => "?".to_string(),
                                    Placeholders::Numbered => {
                                        format!("${}", row * COLUMN_NAMES.len() + column)
                                    }
                                })
                                .collect();
                            format!("({})", params.join(", "))
                        })
                        .collect();
                    all.push(format!(
                        "INSERT INTO audit_log ({COLUMNS}) VALUES {}{commit}",
                        values.join(", ")
                    ));
                }
            }
        }
        all
    });
    let index = rows.clamp(1, ROWS_PER_INSERT) - 1
        + usize::from(then_commit) * ROWS_PER_INSERT
        + usize::from(placeholders == Placeholders::Numbered) * 2 * ROWS_PER_INSERT;
    all.get(index).map(String::as_str).unwrap_or_default()
}

/// The entries `records` become at the end of a chain whose last entry is `head` (`None`: the empty chain).
fn chain_entries(
    records: Vec<AuditRecord>,
    head: Option<(i64, String)>,
    now: Millis,
) -> Vec<AuditEntry> {
    let (mut seq, mut prev) = head.unwrap_or_else(|| (0, GENESIS_HASH.to_string()));
    let mut buf = Vec::with_capacity(512);
    let mut entries = Vec::with_capacity(records.len());
    for record in records {
        seq += 1;
        let mut entry = AuditEntry {
            seq,
            ts_ms: now,
            agent: record.agent,
            session: record.session,
            kind: record.kind,
            digest: record.digest,
            summary: record.summary,
            decision: record.decision.as_str().to_string(),
            reasons: canonical_json(&serde_json::to_value(&record.reasons).unwrap_or_default()),
            mitigation: record.mitigation.as_str().to_string(),
            approval_id: record.approval_id,
            outcome: record.outcome,
            prev_hash: prev,
            hash: String::new(),
        };
        entry.hash = entry_hash(&entry.fields(), &mut buf);
        prev = entry.hash.clone();
        entries.push(entry);
    }
    entries
}

/// Binds the 14 columns of `$entry` (in [`COLUMNS`] order) to `$query`.
macro_rules! bind_entry {
    ($query:expr, $entry:expr) => {
        $query
            .bind($entry.seq)
            .bind($entry.ts_ms)
            .bind($entry.agent.as_deref())
            .bind($entry.session.as_deref())
            .bind($entry.kind.as_str())
            .bind($entry.digest.as_str())
            .bind($entry.summary.as_str())
            .bind($entry.decision.as_str())
            .bind($entry.reasons.as_str())
            .bind($entry.mitigation.as_str())
            .bind($entry.approval_id.as_deref())
            .bind($entry.outcome.as_str())
            .bind($entry.prev_hash.as_str())
            .bind($entry.hash.as_str())
    };
}

/// `BEGIN IMMEDIATE` (the write lock, so the head read below is the head the entries chain onto) and the chain
/// head, as one statement list: one round trip to the connection's database thread.
const SQLITE_BEGIN_AND_HEAD: &str =
    "BEGIN IMMEDIATE; SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1";

/// [`Store::append_batch`] on SQLite, in two round trips to the connection's database thread however many
/// records: `BEGIN IMMEDIATE` with the head read, then the inserts with `COMMIT` (a batch of more than
/// [`ROWS_PER_INSERT`] records sends its leading chunks on their own first). Every statement is a hand-off to
/// that thread and back, and on this machine a hand-off to a sleeping thread costs tens of µs — with a
/// `Transaction` per statement it was 5–6 hand-offs, most of a proxied request's latency
/// (`scripts/bench-gateway`). The transaction is run by hand, so sqlx does not know about it: until `COMMIT`
/// has succeeded, the connection is marked to be closed (rolling back) instead of returned to the pool; after a
/// failure the caller must not use it again.
async fn append_batch_sqlite(
    conn: &mut sqlx::pool::PoolConnection<sqlx::Sqlite>,
    clock: &dyn crate::clock::Clock,
    records: Vec<AuditRecord>,
) -> Result<Vec<AuditEntry>> {
    let mut committed = false;
    let result = async {
        let head: Option<(i64, String)> = sqlx::query_as(SQLITE_BEGIN_AND_HEAD)
            .fetch_optional(&mut **conn)
            .await?;
        let entries = chain_entries(records, head, clock.now_ms());
        let mut chunks = entries.chunks(ROWS_PER_INSERT).peekable();
        while let Some(chunk) = chunks.next() {
            let last = chunks.peek().is_none();
            let mut query = sqlx::query(insert_sql(chunk.len(), Placeholders::Anonymous, last));
            for entry in chunk {
                query = bind_entry!(query, entry);
            }
            query.execute(&mut **conn).await?;
        }
        committed = true;
        Ok(entries)
    }
    .await;
    if !committed {
        // An error, or the caller gave up (the future was dropped) between the two round trips: the transaction
        // may still be open on this connection, so it is not handed to anyone else.
        conn.close_on_drop();
    }
    result
}

/// The connection the group-commit writer keeps from one batch to the next (SQLite). Every SQLite connection
/// has its own page cache, which SQLite empties at the start of a transaction when another connection has
/// written since; the pool hands out its idle connections in turn, so a writer taking any connection for each
/// batch re-read the log's pages with a system call each (`scripts/bench-gateway`: database-thread CPU per
/// request 11–13 → 9–11 µs). Given back when the store is closed ([`Store::closing`]): a connection kept past
/// [`Store::close`] would go on appending.
#[derive(Debug, Default)]
pub(crate) struct KeptConnection(Option<sqlx::pool::PoolConnection<sqlx::Sqlite>>);

impl KeptConnection {
    /// Gives the connection back to the pool.
    pub(crate) fn release(&mut self) {
        self.0 = None;
    }

    /// Whether a connection is kept.
    pub(crate) fn is_kept(&self) -> bool {
        self.0.is_some()
    }
}

/// [`Store::append_batch`] on PostgreSQL: a transaction holding the chain's advisory lock.
async fn append_batch_postgres(
    pool: &sqlx::PgPool,
    clock: &dyn crate::clock::Clock,
    records: Vec<AuditRecord>,
) -> Result<Vec<AuditEntry>> {
    let mut tx = pool.begin_write().await?;
    pool.lock_chain(&mut tx).await?;
    let head: Option<(i64, String)> =
        sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1")
            .fetch_optional(&mut *tx)
            .await?;
    let entries = chain_entries(records, head, clock.now_ms());
    // A few rows per statement (see `ROWS_PER_INSERT`): every statement is a round trip to the server.
    for chunk in entries.chunks(ROWS_PER_INSERT) {
        let mut query = sqlx::query(insert_sql(chunk.len(), Placeholders::Numbered, false));
        for entry in chunk {
            query = bind_entry!(query, entry);
        }
        query.execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(entries)
}

const COLUMNS: &str = "seq, ts_ms, agent, session, kind, digest, summary, decision, reasons, mitigation, approval_id, outcome, prev_hash, hash";
const COLUMN_NAMES: [&str; 14] = [
    "seq",
    "ts_ms",
    "agent",
    "session",
    "kind",
    "digest",
    "summary",
    "decision",
    "reasons",
    "mitigation",
    "approval_id",
    "outcome",
    "prev_hash",
    "hash",
];

/// Entries read per query while verifying.
const VERIFY_PAGE: i64 = 25_000;

/// SQLite: map up to 4 GiB of the database file while reading a verify page.
const VERIFY_MMAP: &str = "PRAGMA mmap_size = 4294967296";

/// Pages read ahead of the checker while verifying.
const FETCH_AHEAD: usize = 2;

/// Appends one `LEN:VALUE` (or `-1:` for NULL) field to a page, as [`take_field`] reads it.
fn push_field(page: &mut String, value: Option<&str>) {
    use std::fmt::Write as _;
    match value {
        Some(v) => {
            let _ = write!(page, "{}:", v.len());
            page.push_str(v);
        }
        None => page.push_str("-1:"),
    }
}

/// PostgreSQL: all entries up to `max_seq` as one stream of rows, framed into pages of [`VERIFY_PAGE`]
/// entries (the format of [`fetch_page`]) and sent in order; stops early when the checker has stopped
/// listening.
async fn stream_pages(
    pool: &sqlx::PgPool,
    max_seq: i64,
    pages: &tokio::sync::mpsc::Sender<String>,
) -> Result<()> {
    use futures_util::TryStreamExt as _;
    let sql = format!("SELECT {COLUMNS} FROM audit_log WHERE seq <= $1 ORDER BY seq");
    let mut rows = sqlx::query(&sql).bind(max_seq).fetch(pool);
    let page_rows = usize::try_from(VERIFY_PAGE).unwrap_or(25_000);
    let mut page = String::new();
    let mut in_page = 0usize;
    let mut number = String::new();
    while let Some(row) = rows.try_next().await? {
        for i in 0..2 {
            use std::fmt::Write as _;
            let v: i64 = row.try_get(i)?;
            number.clear();
            let _ = write!(number, "{v}");
            push_field(&mut page, Some(&number));
        }
        for i in 2..COLUMN_NAMES.len() {
            let v: Option<&str> = row.try_get(i)?;
            push_field(&mut page, v);
        }
        in_page += 1;
        if in_page == page_rows {
            let capacity = page.len() + page.len() / 8;
            let full = std::mem::replace(&mut page, String::with_capacity(capacity));
            in_page = 0;
            if pages.send(full).await.is_err() {
                return Ok(());
            }
        }
    }
    if !page.is_empty() {
        // A closed channel means the checker already stopped at a problem.
        let _ = pages.send(page).await;
    }
    Ok(())
}

/// `(lo, hi]` ranges of `seq` covering everything up to `max_seq`; the first also takes any `seq` ≤ 0 (which
/// can only be there by tampering).
fn page_bounds(max_seq: i64) -> impl Iterator<Item = (i64, i64)> {
    let first = std::iter::once((i64::MIN, VERIFY_PAGE));
    let rest = (1..)
        .map(|i: i64| (i * VERIFY_PAGE, (i + 1) * VERIFY_PAGE))
        .take_while(move |(lo, _)| *lo < max_seq);
    first.chain(rest)
}

fn malformed(message: &str) -> StoreError {
    StoreError::Malformed {
        what: "audit log entry",
        message: message.to_string(),
    }
}

/// Reads one `LEN:VALUE` or `-1:` (NULL) field off the front of `text`.
fn take_field<'a>(text: &mut &'a str) -> Result<Option<&'a str>> {
    if let Some(rest) = text.strip_prefix("-1:") {
        *text = rest;
        return Ok(None);
    }
    let colon = text
        .find(':')
        .ok_or_else(|| malformed("missing field length"))?;
    let len: usize = text
        .get(..colon)
        .and_then(|l| l.parse().ok())
        .ok_or_else(|| malformed("bad field length"))?;
    let start = colon + 1;
    let end = start
        .checked_add(len)
        .ok_or_else(|| malformed("bad field length"))?;
    let value = text
        .get(start..end)
        .ok_or_else(|| malformed("field runs past the page"))?;
    *text = text.get(end..).unwrap_or_default();
    Ok(Some(value))
}

fn take_str<'a>(text: &mut &'a str) -> Result<&'a str> {
    take_field(text)?.ok_or_else(|| malformed("unexpected NULL"))
}

fn take_int(text: &mut &str) -> Result<i64> {
    take_str(text)?
        .parse()
        .map_err(|_| malformed("not an integer"))
}

/// Splits a fetched page into entries (fields borrowed from the page) and their stored hashes.
fn parse_page(mut text: &str) -> Result<Vec<(HashedFields<'_>, &str)>> {
    let mut rows = Vec::new();
    while !text.is_empty() {
        let t = &mut text;
        let fields = HashedFields {
            seq: take_int(t)?,
            ts_ms: take_int(t)?,
            agent: take_field(t)?,
            session: take_field(t)?,
            kind: take_str(t)?,
            digest: take_str(t)?,
            summary: take_str(t)?,
            decision: take_str(t)?,
            reasons: take_str(t)?,
            mitigation: take_str(t)?,
            approval_id: take_field(t)?,
            outcome: take_str(t)?,
            prev_hash: take_str(t)?,
        };
        let hash = take_str(t)?;
        rows.push((fields, hash));
    }
    Ok(rows)
}

/// The running state of a chain check.
struct Verifier {
    anchor: Option<String>,
    anchor_seen: bool,
    expected: i64,
    prev: String,
    problem: Option<ChainProblem>,
}

impl Verifier {
    fn new(anchor: Option<&str>) -> Self {
        let anchor = anchor.map(|a| a.trim().to_ascii_lowercase());
        Self {
            anchor_seen: anchor.as_deref() == Some(GENESIS_HASH),
            anchor,
            expected: 1,
            prev: GENESIS_HASH.to_string(),
            problem: None,
        }
    }

    /// Checks one fetched page; stops at the first problem. Hashing (the costly part) is split over two
    /// threads; the checks then run in order.
    fn check_page(&mut self, page: &str) -> Result<()> {
        let mut rows = parse_page(page)?;
        rows.sort_by_key(|(fields, _)| fields.seq);
        let half = rows.len() / 2;
        let (front, back) = rows.split_at(half);
        let hash_all = |part: &[(HashedFields<'_>, &str)]| {
            let mut buf = Vec::with_capacity(1024);
            part.iter()
                .map(|(fields, _)| entry_hash_hex(fields, &mut buf))
                .collect::<Vec<[u8; 64]>>()
        };
        let (mut hashes, back_hashes) = std::thread::scope(|scope| {
            let back_job = scope.spawn(|| hash_all(back));
            let front_hashes = hash_all(front);
            (front_hashes, back_job.join().unwrap_or_default())
        });
        hashes.extend(back_hashes);
        if hashes.len() != rows.len() {
            return Err(malformed("hashing a page failed"));
        }
        for ((fields, stored), computed) in rows.iter().zip(&hashes) {
            if let Some(problem) = self.check(fields, stored, computed) {
                self.problem = Some(problem);
                return Ok(());
            }
            if self.anchor.as_deref() == Some(*stored) {
                self.anchor_seen = true;
            }
            self.prev.clear();
            self.prev.push_str(stored);
            self.expected += 1;
        }
        Ok(())
    }

    fn check(
        &self,
        entry: &HashedFields<'_>,
        hash: &str,
        computed: &[u8; 64],
    ) -> Option<ChainProblem> {
        let expected = self.expected;
        let count = expected - 1;
        let seq = entry.seq;
        if seq < expected {
            return Some(ChainProblem {
                seq,
                kind: ProblemKind::Inserted,
                message: format!(
                    "entry #{seq} was inserted: sequence numbers start at 1 and this one cannot occur"
                ),
            });
        }
        if seq > expected {
            return Some(ChainProblem {
                seq: expected,
                kind: ProblemKind::Removed,
                message: format!(
                    "entry #{expected} was removed: the log jumps from #{count} to #{seq}"
                ),
            });
        }
        if computed.as_slice() != hash.as_bytes() {
            return Some(ChainProblem {
                seq,
                kind: ProblemKind::Altered,
                message: format!("entry #{seq} was altered: its contents do not match its hash"),
            });
        }
        if entry.prev_hash != self.prev {
            return Some(ChainProblem {
                seq,
                kind: ProblemKind::Inserted,
                message: format!(
                    "entry #{seq} does not follow entry #{count}: it records a different previous hash (an entry was inserted, removed or reordered here)"
                ),
            });
        }
        None
    }

    fn finish(self) -> VerifyReport {
        let count = self.expected - 1;
        let problem = match (self.problem, self.anchor) {
            (Some(problem), _) => Some(problem),
            (None, Some(anchor)) if !self.anchor_seen => Some(ChainProblem {
                seq: count + 1,
                kind: ProblemKind::Truncated,
                message: format!(
                    "the anchored head `{anchor}` is not in the log, which ends at entry #{count} `{}`: entries were removed from the end or the log was rewritten",
                    self.prev
                ),
            }),
            (None, _) => None,
        };
        VerifyReport {
            count,
            head: self.prev,
            problem,
        }
    }
}

enum Param {
    Str(String),
    Int(i64),
}

macro_rules! decode_entry {
    ($row:expr) => {{
        let row = $row;
        AuditEntry {
            seq: row.try_get(0)?,
            ts_ms: row.try_get(1)?,
            agent: row.try_get(2)?,
            session: row.try_get(3)?,
            kind: row.try_get(4)?,
            digest: row.try_get(5)?,
            summary: row.try_get(6)?,
            decision: row.try_get(7)?,
            reasons: row.try_get(8)?,
            mitigation: row.try_get(9)?,
            approval_id: row.try_get(10)?,
            outcome: row.try_get(11)?,
            prev_hash: row.try_get(12)?,
            hash: row.try_get(13)?,
        }
    }};
}

impl Store {
    /// Appends one record at the end of the chain and returns the stored entry. When this returns `Ok`, the
    /// entry is committed. On a store made by [`Store::with_group_commit`], the record shares a transaction
    /// with the others appended at the same moment.
    pub async fn append(&self, record: AuditRecord) -> Result<AuditEntry> {
        if let Some(group) = &self.group {
            return group.append(record).await;
        }
        let mut entries = self.append_batch(vec![record]).await?;
        entries.pop().ok_or(StoreError::Malformed {
            what: "audit batch",
            message: "no entry appended".into(),
        })
    }

    /// Appends records in order, in one transaction (all or none).
    pub async fn append_batch(&self, records: Vec<AuditRecord>) -> Result<Vec<AuditEntry>> {
        self.append_batch_kept(&mut KeptConnection::default(), records)
            .await
    }

    /// Completes when [`Store::close`] has been called (never on PostgreSQL, where no connection is kept).
    pub(crate) async fn closing(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close_event().await,
            Pool::Postgres(_) => std::future::pending().await,
        }
    }

    /// [`Store::append_batch`], on SQLite on the connection `kept` holds (taken from the pool when it holds
    /// none, and kept there unless the append failed): the group-commit writer keeps it from batch to batch.
    pub(crate) async fn append_batch_kept(
        &self,
        kept: &mut KeptConnection,
        records: Vec<AuditRecord>,
    ) -> Result<Vec<AuditEntry>> {
        if records.is_empty() {
            return Ok(Vec::new());
        }
        let pool = match &self.pool {
            Pool::Sqlite(pool) => pool,
            Pool::Postgres(pool) => {
                return append_batch_postgres(pool, &*self.clock, records).await;
            }
        };
        let mut conn = match kept.0.take() {
            Some(conn) => conn,
            None => pool.acquire().await?,
        };
        let result = append_batch_sqlite(&mut conn, &*self.clock, records).await;
        if result.is_ok() {
            kept.0 = Some(conn);
        }
        result
    }

    /// The last entry's `seq` and hash (genesis hash and 0 for an empty log). Not a proof: see [`Store::verify`].
    pub async fn head(&self) -> Result<ChainHead> {
        let head: Option<(i64, String)> = on_pool!(self, pool => {
            sqlx::query_as("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetch_optional(pool).await?
        });
        let (count, hash) = head.unwrap_or_else(|| (0, GENESIS_HASH.to_string()));
        Ok(ChainHead { count, hash })
    }

    /// Recomputes the whole chain. Reports the number of entries proven and the head hash, or the first entry
    /// that was altered, removed or inserted. With `anchor` (a head hash recorded earlier, e.g. by `airlock log
    /// head`), the anchored entry must still be in the chain, so cutting off the tail is detected too. Entries
    /// appended while the check runs are not covered.
    ///
    /// Entries come from the database as pages of framed text (see `fetch_page`); a separate thread
    /// hashes and checks each page while the next ones are read. On SQLite several pages are read at once
    /// (each on its own connection, so on its own worker thread); on PostgreSQL all entries come as one
    /// stream of rows, framed into pages here.
    pub async fn verify(&self, anchor: Option<&str>) -> Result<VerifyReport> {
        let max_seq: Option<i64> = on_pool!(self, pool => {
            sqlx::query_scalar("SELECT MAX(seq) FROM audit_log").fetch_one(pool).await?
        });
        let Some(max_seq) = max_seq else {
            return Ok(Verifier::new(anchor).finish());
        };
        let (pages, mut inbox) = tokio::sync::mpsc::channel::<String>(FETCH_AHEAD);
        let anchor = anchor.map(str::to_string);
        let checker = tokio::task::spawn_blocking(move || -> Result<VerifyReport> {
            let mut state = Verifier::new(anchor.as_deref());
            while let Some(page) = inbox.blocking_recv() {
                state.check_page(&page)?;
                if state.problem.is_some() {
                    break;
                }
            }
            Ok(state.finish())
        });
        let read = match &self.pool {
            crate::db::Pool::Sqlite(pool) => send_pages(pool, max_seq, &pages).await,
            crate::db::Pool::Postgres(pool) => stream_pages(pool, max_seq, &pages).await,
        };
        // The checker stops when the channel closes (all sent) or at the first problem.
        drop(pages);
        let report = checker.await.map_err(|e| StoreError::Malformed {
            what: "audit page",
            message: e.to_string(),
        })??;
        // A problem found is the answer even if reading later pages failed meanwhile.
        if report.problem.is_none() {
            read?;
        }
        Ok(report)
    }

    /// Entries matching `filter`, oldest first (the last `limit` of them when a limit is given).
    pub async fn list(&self, filter: &AuditFilter) -> Result<Vec<AuditEntry>> {
        let mut sql = format!("SELECT {COLUMNS} FROM audit_log WHERE 1 = 1");
        let mut params = Vec::new();
        if let Some(agent) = &filter.agent {
            params.push(Param::Str(agent.clone()));
            sql.push_str(&format!(" AND agent = ${}", params.len()));
        }
        if let Some(decision) = &filter.decision {
            params.push(Param::Str(decision.to_ascii_lowercase()));
            sql.push_str(&format!(" AND decision = ${}", params.len()));
        }
        if let Some(since) = filter.since_ms {
            params.push(Param::Int(since));
            sql.push_str(&format!(" AND ts_ms >= ${}", params.len()));
        }
        sql.push_str(" ORDER BY seq DESC");
        if let Some(limit) = filter.limit {
            params.push(Param::Int(i64::from(limit)));
            sql.push_str(&format!(" LIMIT ${}", params.len()));
        }
        let mut entries: Vec<AuditEntry> = on_pool!(self, pool => {
            let mut query = sqlx::query(&sql);
            for param in params {
                query = match param {
                    Param::Str(s) => query.bind(s),
                    Param::Int(i) => query.bind(i),
                };
            }
            let rows = query.fetch_all(pool).await?;
            let mut entries = Vec::with_capacity(rows.len());
            for row in &rows {
                entries.push(decode_entry!(row));
            }
            entries
        });
        entries.reverse();
        Ok(entries)
    }
}

/// Reads every page up to `max_seq` (several at once) and sends them in order; stops early when the checker
/// has stopped listening.
async fn send_pages(
    pool: &sqlx::SqlitePool,
    max_seq: i64,
    pages: &tokio::sync::mpsc::Sender<String>,
) -> Result<()> {
    let mut pending = std::collections::VecDeque::new();
    let mut bounds = page_bounds(max_seq);
    loop {
        while pending.len() < FETCH_AHEAD {
            let Some(next) = bounds.next() else { break };
            pending.push_back(tokio::spawn(fetch_page(pool.clone(), next)));
        }
        let Some(fetch) = pending.pop_front() else {
            return Ok(());
        };
        let page = fetch.await.map_err(|e| StoreError::Malformed {
            what: "audit page",
            message: e.to_string(),
        });
        let sent = match page {
            Ok(Ok(page)) => pages.send(page).await.is_ok(),
            Ok(Err(e)) | Err(e) => {
                pending.iter().for_each(tokio::task::JoinHandle::abort);
                return Err(e);
            }
        };
        if !sent {
            pending.iter().for_each(tokio::task::JoinHandle::abort);
            return Ok(());
        }
    }
}

/// Entries with `lo < seq <= hi`, in `seq` order, as one text: each column of each row as `LEN:VALUE`
/// (`LEN` in bytes), `-1:` for NULL, in the order of `COLUMNS`. One value per page keeps the driver's
/// per-row cost out of the check, and the framing needs no unescaping.
async fn fetch_page(pool: sqlx::SqlitePool, (lo, hi): (i64, i64)) -> Result<String> {
    // One printf per row: `LEN:VALUE` per column, LEN -1 for NULL.
    let format = "%d:%s".repeat(COLUMN_NAMES.len());
    let args: Vec<String> = COLUMN_NAMES
        .iter()
        .map(|c| format!("COALESCE(octet_length({c}), -1), {c}"))
        .collect();
    let mut conn = pool.acquire().await?;
    // Reading through a memory map saves a copy of every database page; only while verifying,
    // so other work keeps SQLite's default (an I/O error under a map is a signal, not an error).
    sqlx::query(VERIFY_MMAP).execute(&mut *conn).await?;
    let text: std::result::Result<Option<String>, sqlx::Error> = sqlx::query_scalar(&format!(
        "SELECT group_concat(printf('{format}', {}), '') FROM \
         (SELECT {COLUMNS} FROM audit_log WHERE seq > $1 AND seq <= $2 ORDER BY seq)",
        args.join(", ")
    ))
    .bind(lo)
    .bind(hi)
    .fetch_one(&mut *conn)
    .await;
    sqlx::query("PRAGMA mmap_size = 0")
        .execute(&mut *conn)
        .await?;
    Ok(text?.unwrap_or_default())
}
