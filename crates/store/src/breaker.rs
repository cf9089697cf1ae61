//! The circuit breaker on destructive requests, durable in the store so it holds across restarts and across
//! gateway replicas. Each destructive request about to be let through is counted
//! ([`Store::record_destructive`]) for its agent and for its upstream in a sliding window; more than
//! [`BreakerLimits::per_agent`] from one agent, or more than [`BreakerLimits::per_upstream`] to one upstream,
//! within [`BreakerLimits::window_seconds`] trips the breaker for that agent or upstream. The request that
//! makes the count N+1 is the first one refused; requests 1…N pass. A tripped breaker refuses every further
//! destructive request of its scope (they are not counted) and stays tripped — time does not close it —
//! until a person resets it with an approver secret ([`Store::reset_breaker`], `airlock breaker reset`).
//! After a reset the scope counts from zero. Non-destructive requests are never counted or refused.
//!
//! Defaults (`[breaker]` in `airlock.toml`): 5 destructive requests per agent and 10 per upstream within 60
//! seconds. A person cleaning up through an agent rarely deletes more than a handful of remote resources a
//! minute, while a confused agent in a loop does so in seconds; the upstream limit is higher because several
//! agents share it. Every single destructive request is already judged by the policy; the breaker is about
//! bursts.
//!
//! What counts as destructive is read off the engine's decision ([`is_destructive`]); the breaker does not
//! classify anything itself. Counting and tripping run in one write transaction (`BEGIN IMMEDIATE` on SQLite,
//! an advisory transaction lock on PostgreSQL), so concurrent requests are counted exactly.

use airlock_engine::{Decision, Effect, Mitigation, Reversibility, Verdict};
use serde::{Deserialize, Serialize};
use sqlx::Row as _;

use crate::audit::AuditRecord;
use crate::canonical::sha256_hex;
use crate::clock::{Millis, format_ms};
use crate::credentials::AuthenticatedApprover;
use crate::db::{Store, WritePool as _, on_pool, random_bytes};
use crate::error::{Result, StoreError};

/// Default: most destructive requests from one agent within the window.
pub const DEFAULT_PER_AGENT: u32 = 5;
/// Default: most destructive requests to one upstream within the window.
pub const DEFAULT_PER_UPSTREAM: u32 = 10;
/// Default window, in seconds.
pub const DEFAULT_WINDOW_SECONDS: u32 = 60;

/// Events older than this (or than the window, if longer) are deleted as new ones arrive.
const KEEP_EVENTS_MS: Millis = 3_600_000;

/// Advisory lock key for the breaker on PostgreSQL (`breaker` in ASCII, as a number).
const BREAKER_LOCK_KEY: i64 = 0x0062_7265_616b_6572;

/// The breaker's limits: the `[breaker]` table of `airlock.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BreakerLimits {
    /// Most destructive requests from one agent within the window (at least 1).
    pub per_agent: u32,
    /// Most destructive requests to one upstream within the window (at least 1).
    pub per_upstream: u32,
    /// The sliding window, in seconds (at least 1).
    pub window_seconds: u32,
}

impl Default for BreakerLimits {
    fn default() -> Self {
        Self {
            per_agent: DEFAULT_PER_AGENT,
            per_upstream: DEFAULT_PER_UPSTREAM,
            window_seconds: DEFAULT_WINDOW_SECONDS,
        }
    }
}

impl BreakerLimits {
    /// Refuses limits of 0 (a breaker that trips on every destructive request is a policy of `deny`; write it
    /// in the policy).
    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| {
            Err(StoreError::BadBreakerLimits(format!(
                "`{what}` must be at least 1"
            )))
        };
        if self.per_agent == 0 {
            return bad("per_agent");
        }
        if self.per_upstream == 0 {
            return bad("per_upstream");
        }
        if self.window_seconds == 0 {
            return bad("window_seconds");
        }
        Ok(())
    }

    /// The window in milliseconds.
    pub fn window_ms(&self) -> Millis {
        i64::from(self.window_seconds).saturating_mul(1000)
    }
}

/// What a breaker is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScopeKind {
    /// One agent (its token name).
    Agent,
    /// One upstream (its configured name).
    Upstream,
}

impl ScopeKind {
    /// `agent` or `upstream`.
    pub fn as_str(self) -> &'static str {
        match self {
            ScopeKind::Agent => "agent",
            ScopeKind::Upstream => "upstream",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "agent" => Ok(ScopeKind::Agent),
            "upstream" => Ok(ScopeKind::Upstream),
            other => Err(StoreError::Malformed {
                what: "breaker trip",
                message: format!("unknown scope `{other}`"),
            }),
        }
    }
}

/// One agent's or one upstream's breaker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerScope {
    /// Agent or upstream.
    pub kind: ScopeKind,
    /// Its name.
    pub name: String,
}

impl BreakerScope {
    /// The breaker of agent `name`.
    pub fn agent(name: impl Into<String>) -> Self {
        Self {
            kind: ScopeKind::Agent,
            name: name.into(),
        }
    }

    /// The breaker of upstream `name`.
    pub fn upstream(name: impl Into<String>) -> Self {
        Self {
            kind: ScopeKind::Upstream,
            name: name.into(),
        }
    }
}

impl std::fmt::Display for BreakerScope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} `{}`", self.kind.as_str(), self.name)
    }
}

/// A trip: the breaker of one scope opened, and (once reset) who closed it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerTrip {
    /// Its id (`brk_…`).
    pub id: String,
    /// Agent or upstream, and its name.
    pub scope: BreakerScope,
    /// When it tripped.
    pub tripped_ms: Millis,
    /// Destructive requests counted in the window when it tripped (limit + 1).
    pub count: u32,
    /// The limit that was exceeded.
    pub limit: u32,
    /// The window, in milliseconds.
    pub window_ms: Millis,
    /// Why, for a person.
    pub reason: String,
    /// When a person reset it.
    pub reset_ms: Option<Millis>,
    /// Who reset it.
    pub reset_by: Option<String>,
}

impl BreakerTrip {
    /// The command a person runs to reset this breaker.
    pub fn reset_command(&self) -> String {
        format!(
            "airlock breaker reset --{} {}",
            self.scope.kind.as_str(),
            self.scope.name
        )
    }

    /// One sentence for the agent and the person: what tripped, since when, and how to reset it.
    pub fn message(&self) -> String {
        format!(
            "circuit breaker tripped for {}: {} (since {}); destructive requests are refused until a person runs `{}`",
            self.scope,
            self.reason,
            format_ms(self.tripped_ms),
            self.reset_command()
        )
    }
}

/// The answer to [`Store::record_destructive`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "breaker")]
pub enum BreakerVerdict {
    /// Let it through; the counts in the window, this request included.
    Pass {
        /// The agent's destructive requests in the window.
        agent_count: u32,
        /// The upstream's destructive requests in the window.
        upstream_count: u32,
    },
    /// Refuse it: these breakers are tripped (one or both; never empty).
    Tripped {
        /// The tripped breakers of this agent and upstream.
        trips: Vec<BreakerTrip>,
    },
}

impl BreakerVerdict {
    /// True when the request must be refused.
    pub fn is_tripped(&self) -> bool {
        matches!(self, BreakerVerdict::Tripped { .. })
    }

    /// Why the request is refused, naming each tripped breaker and how to reset it; `None` for a pass.
    pub fn message(&self) -> Option<String> {
        match self {
            BreakerVerdict::Pass { .. } => None,
            BreakerVerdict::Tripped { trips } => Some(
                trips
                    .iter()
                    .map(BreakerTrip::message)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
        }
    }
}

/// Destructive requests of one agent or upstream in the current window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScopeCount {
    /// Agent or upstream name.
    pub name: String,
    /// Requests counted in the window since the last reset.
    pub count: u32,
}

/// Everything `airlock breaker status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerStatus {
    /// The limits counted against.
    pub limits: BreakerLimits,
    /// Breakers tripped now (oldest first).
    pub tripped: Vec<BreakerTrip>,
    /// Per agent, in the window.
    pub agents: Vec<ScopeCount>,
    /// Per upstream, in the window.
    pub upstreams: Vec<ScopeCount>,
}

/// Whether the breaker counts a request with this decision: anything the engine did not plainly allow (ask,
/// deny, or a mitigation), and any action that deletes, administers, overwrites irreversibly, or whose effect
/// the engine could not tell. Reads the engine's facts; classifies nothing.
pub fn is_destructive(decision: &Decision) -> bool {
    decision.verdict != Verdict::Allow
        || decision.mitigation != Mitigation::None
        || decision.actions.iter().any(|action| match action.effect {
            Effect::Delete | Effect::Admin | Effect::Execute | Effect::Unknown => true,
            Effect::Write => action.reversibility == Reversibility::Irreversible,
            Effect::Read | Effect::Exfiltrate => false,
        })
}

/// Taking the breaker's lock inside a write transaction: nothing more on SQLite (`BEGIN IMMEDIATE` already
/// serialises writers), an advisory transaction lock on PostgreSQL.
trait BreakerLock {
    const LOCK: Option<&'static str>;
}

impl BreakerLock for sqlx::SqlitePool {
    const LOCK: Option<&'static str> = None;
}

impl BreakerLock for sqlx::PgPool {
    const LOCK: Option<&'static str> = Some("SELECT pg_advisory_xact_lock($1)");
}

fn breaker_lock<P: BreakerLock>(_pool: &P) -> Option<&'static str> {
    P::LOCK
}

const TRIP_COLUMNS: &str =
    "id, scope, name, tripped_ms, count, max_count, window_ms, reason, reset_ms, reset_by";

macro_rules! decode_trip {
    ($row:expr) => {{
        let row = $row;
        let scope: String = row.try_get(1)?;
        let count: i64 = row.try_get(4)?;
        let limit: i64 = row.try_get(5)?;
        BreakerTrip {
            id: row.try_get(0)?,
            scope: BreakerScope {
                kind: ScopeKind::parse(&scope)?,
                name: row.try_get(2)?,
            },
            tripped_ms: row.try_get(3)?,
            count: u32::try_from(count).unwrap_or(u32::MAX),
            limit: u32::try_from(limit).unwrap_or(u32::MAX),
            window_ms: row.try_get(6)?,
            reason: row.try_get(7)?,
            reset_ms: row.try_get(8)?,
            reset_by: row.try_get(9)?,
        }
    }};
}

fn count_u32(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The `WHERE` condition selecting active trips in `scope` (all when `None`), with `$1` bound to its name.
fn scope_condition(scope: Option<&BreakerScope>) -> &'static str {
    match scope.map(|s| s.kind) {
        None => "reset_ms IS NULL",
        Some(ScopeKind::Agent) => "reset_ms IS NULL AND scope = 'agent' AND name = $1",
        Some(ScopeKind::Upstream) => "reset_ms IS NULL AND scope = 'upstream' AND name = $1",
    }
}

impl Store {
    /// Counts one destructive request from `agent` to `upstream` that is about to be let through, and says
    /// whether it may pass. [`BreakerVerdict::Tripped`] when a breaker of this agent or upstream is already
    /// tripped (the request is not counted) or when this request exceeds a limit (the breaker trips now).
    pub async fn record_destructive(
        &self,
        agent: &str,
        upstream: &str,
        limits: &BreakerLimits,
    ) -> Result<BreakerVerdict> {
        limits.validate()?;
        let now = self.clock.now_ms();
        let window_ms = limits.window_ms();
        let since = now.saturating_sub(window_ms);
        let prune_before = now.saturating_sub(window_ms.max(KEEP_EVENTS_MS));
        let tripped_sql = format!(
            "SELECT {TRIP_COLUMNS} FROM breaker_trips WHERE reset_ms IS NULL AND ((scope = 'agent' AND name = $1) OR (scope = 'upstream' AND name = $2)) ORDER BY tripped_ms, id"
        );
        let insert_trip = format!(
            "INSERT INTO breaker_trips ({TRIP_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, NULL, NULL)"
        );
        on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            if let Some(lock) = breaker_lock(pool) {
                sqlx::query(lock).bind(BREAKER_LOCK_KEY).execute(&mut *tx).await?;
            }
            let rows = sqlx::query(&tripped_sql).bind(agent).bind(upstream).fetch_all(&mut *tx).await?;
            if !rows.is_empty() {
                let mut trips = Vec::with_capacity(rows.len());
                for row in &rows {
                    trips.push(decode_trip!(row));
                }
                tx.rollback().await?;
                return Ok(BreakerVerdict::Tripped { trips });
            }
            sqlx::query("INSERT INTO breaker_events (agent, upstream, ts_ms) VALUES ($1, $2, $3)")
                .bind(agent)
                .bind(upstream)
                .bind(now)
                .execute(&mut *tx)
                .await?;
            let agent_count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM breaker_events WHERE agent = $1 AND agent_cleared = 0 AND ts_ms > $2",
            )
            .bind(agent)
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
            let upstream_count: i64 = sqlx::query_scalar(
                "SELECT COUNT(*) FROM breaker_events WHERE upstream = $1 AND upstream_cleared = 0 AND ts_ms > $2",
            )
            .bind(upstream)
            .bind(since)
            .fetch_one(&mut *tx)
            .await?;
            let checks = [
                (BreakerScope::agent(agent), count_u32(agent_count), limits.per_agent, "sent"),
                (BreakerScope::upstream(upstream), count_u32(upstream_count), limits.per_upstream, "received"),
            ];
            let mut trips = Vec::new();
            for (scope, count, limit, verb) in checks {
                if count <= limit {
                    continue;
                }
                let trip = BreakerTrip {
                    id: format!("brk_{}", hex::encode(random_bytes::<8>()?)),
                    reason: format!(
                        "{scope} {verb} {count} destructive requests within {} s (limit {limit})",
                        limits.window_seconds
                    ),
                    scope,
                    tripped_ms: now,
                    count,
                    limit,
                    window_ms,
                    reset_ms: None,
                    reset_by: None,
                };
                sqlx::query(&insert_trip)
                    .bind(&trip.id)
                    .bind(trip.scope.kind.as_str())
                    .bind(&trip.scope.name)
                    .bind(trip.tripped_ms)
                    .bind(i64::from(trip.count))
                    .bind(i64::from(trip.limit))
                    .bind(trip.window_ms)
                    .bind(&trip.reason)
                    .execute(&mut *tx)
                    .await?;
                trips.push(trip);
            }
            sqlx::query("DELETE FROM breaker_events WHERE ts_ms <= $1")
                .bind(prune_before)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
            Ok(if trips.is_empty() {
                BreakerVerdict::Pass { agent_count: count_u32(agent_count), upstream_count: count_u32(upstream_count) }
            } else {
                BreakerVerdict::Tripped { trips }
            })
        })
    }

    /// The tripped breakers of `agent` and `upstream`, without counting anything (empty: none tripped).
    pub async fn tripped_breakers(&self, agent: &str, upstream: &str) -> Result<Vec<BreakerTrip>> {
        let sql = format!(
            "SELECT {TRIP_COLUMNS} FROM breaker_trips WHERE reset_ms IS NULL AND ((scope = 'agent' AND name = $1) OR (scope = 'upstream' AND name = $2)) ORDER BY tripped_ms, id"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).bind(agent).bind(upstream).fetch_all(pool).await?;
            let mut trips = Vec::with_capacity(rows.len());
            for row in &rows {
                trips.push(decode_trip!(row));
            }
            Ok(trips)
        })
    }

    /// Resets the breaker of `scope` (every breaker when `None`): its trip is closed and its count starts again
    /// from zero. Only a person can do it — it takes an [`AuthenticatedApprover`], which only an approver
    /// secret yields — and it is recorded in the audit log (`breaker reset by NAME`). Returns the trips that
    /// were reset (empty if none was tripped; the count is cleared all the same).
    pub async fn reset_breaker(
        &self,
        scope: Option<&BreakerScope>,
        approver: &AuthenticatedApprover,
    ) -> Result<Vec<BreakerTrip>> {
        let now = self.clock.now_ms();
        let condition = scope_condition(scope);
        let select = format!(
            "SELECT {TRIP_COLUMNS} FROM breaker_trips WHERE {condition} ORDER BY tripped_ms, id"
        );
        let name = scope.map(|s| s.name.as_str()).unwrap_or_default();
        let reset = |i: usize| {
            format!(
                "UPDATE breaker_trips SET reset_ms = ${}, reset_by = ${} WHERE {condition}",
                i,
                i + 1
            )
        };
        let clear = match scope.map(|s| s.kind) {
            None => "UPDATE breaker_events SET agent_cleared = 1, upstream_cleared = 1",
            Some(ScopeKind::Agent) => {
                "UPDATE breaker_events SET agent_cleared = 1 WHERE agent = $1"
            }
            Some(ScopeKind::Upstream) => {
                "UPDATE breaker_events SET upstream_cleared = 1 WHERE upstream = $1"
            }
        };
        let trips: Vec<BreakerTrip> = on_pool!(self, pool => {
            let mut tx = pool.begin_write().await?;
            if let Some(lock) = breaker_lock(pool) {
                sqlx::query(lock).bind(BREAKER_LOCK_KEY).execute(&mut *tx).await?;
            }
            let mut query = sqlx::query(&select);
            if scope.is_some() {
                query = query.bind(name);
            }
            let rows = query.fetch_all(&mut *tx).await?;
            let mut trips = Vec::with_capacity(rows.len());
            for row in &rows {
                let mut trip = decode_trip!(row);
                trip.reset_ms = Some(now);
                trip.reset_by = Some(approver.name().to_string());
                trips.push(trip);
            }
            let update = if scope.is_some() { reset(2) } else { reset(1) };
            let mut query = sqlx::query(&update);
            if scope.is_some() {
                query = query.bind(name);
            }
            query.bind(now).bind(approver.name()).execute(&mut *tx).await?;
            let mut query = sqlx::query(clear);
            if scope.is_some() {
                query = query.bind(name);
            }
            query.execute(&mut *tx).await?;
            tx.commit().await?;
            trips
        });
        let what = scope.map_or_else(|| "every breaker".to_string(), ToString::to_string);
        let tripped = if trips.is_empty() {
            "none was tripped".to_string()
        } else {
            trips
                .iter()
                .map(|t| {
                    format!(
                        "{} tripped at {}: {}",
                        t.scope,
                        format_ms(t.tripped_ms),
                        t.reason
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        };
        let summary = format!("breaker reset: {what} ({tripped})");
        self.append(AuditRecord {
            agent: None,
            session: None,
            kind: "breaker".to_string(),
            digest: sha256_hex(summary.as_bytes()),
            summary,
            decision: Verdict::Allow,
            reasons: Vec::new(),
            mitigation: Mitigation::None,
            approval_id: None,
            outcome: format!("breaker reset by {}", approver.name()),
        })
        .await?;
        Ok(trips)
    }

    /// The tripped breakers and the destructive requests per agent and per upstream in the current window.
    pub async fn breaker_status(&self, limits: &BreakerLimits) -> Result<BreakerStatus> {
        let since = self.clock.now_ms().saturating_sub(limits.window_ms());
        let tripped_sql = format!(
            "SELECT {TRIP_COLUMNS} FROM breaker_trips WHERE reset_ms IS NULL ORDER BY tripped_ms, id"
        );
        on_pool!(self, pool => {
            let rows = sqlx::query(&tripped_sql).fetch_all(pool).await?;
            let mut tripped = Vec::with_capacity(rows.len());
            for row in &rows {
                tripped.push(decode_trip!(row));
            }
            let agents: Vec<(String, i64)> = sqlx::query_as(
                "SELECT agent, COUNT(*) FROM breaker_events WHERE agent_cleared = 0 AND ts_ms > $1 GROUP BY agent ORDER BY agent",
            )
            .bind(since)
            .fetch_all(pool)
            .await?;
            let upstreams: Vec<(String, i64)> = sqlx::query_as(
                "SELECT upstream, COUNT(*) FROM breaker_events WHERE upstream_cleared = 0 AND ts_ms > $1 GROUP BY upstream ORDER BY upstream",
            )
            .bind(since)
            .fetch_all(pool)
            .await?;
            let counts = |rows: Vec<(String, i64)>| {
                rows.into_iter().map(|(name, count)| ScopeCount { name, count: count_u32(count) }).collect()
            };
            Ok(BreakerStatus { limits: *limits, tripped, agents: counts(agents), upstreams: counts(upstreams) })
        })
    }
}
