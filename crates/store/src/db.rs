//! Opening a database: the URL forms, SQLite settings (WAL, busy timeout), PostgreSQL pools, the schema
//! migrations (one directory per backend) and the checks that refuse a corrupt database or one written by a
//! newer airlock. Query code lives with the feature it serves (`audit`, `approvals`, `credentials`).

use std::path::{Path, PathBuf};
use std::str::FromStr as _;
use std::sync::Arc;
use std::time::Duration;

use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Postgres, Sqlite, Transaction};

use crate::clock::{Clock, SystemClock};
use crate::error::{Result, StoreError};

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a writer waits for another process's write lock on SQLite before giving up.
pub const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(30);

/// How many pages the SQLite write-ahead log grows to before a commit copies it into the database (see
/// [`Store::open_sqlite`]).
const SQLITE_WAL_AUTOCHECKPOINT_PAGES: u32 = 64;

/// The write-ahead log size past which [`Store::trim_wal`] empties it: about `wal_autocheckpoint` frames (a
/// frame is a 4 KiB page and a 24-byte header, after the log's 32-byte header).
const SQLITE_WAL_TRIM_BYTES: u64 = 32 + SQLITE_WAL_AUTOCHECKPOINT_PAGES as u64 * (4096 + 24);

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (the embedded default).
    Sqlite,
    /// A PostgreSQL server (shared between gateway replicas).
    Postgres,
}

/// Options for [`crate::Store::open_with`].
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// Most connections the pool keeps open.
    pub max_connections: u32,
    /// How long to wait for a connection (and, on PostgreSQL, for the server) before failing.
    pub connect_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self {
            max_connections: 4,
            connect_timeout: Duration::from_secs(10),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum Pool {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The store: a connection pool to SQLite or PostgreSQL and the clock it stamps records with. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Store {
    pub(crate) pool: Pool,
    pub(crate) location: String,
    pub(crate) clock: Arc<dyn Clock>,
    /// Set by [`Store::with_group_commit`]: audit appends go through one writer task.
    pub(crate) group: Option<Arc<crate::audit_writer::GroupCommit>>,
}

/// Where a database URL points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// An SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL URL.
    Postgres(String),
}

impl Location {
    /// Parses `sqlite://PATH`, `sqlite:PATH`, `postgres://…` or `postgresql://…`.
    pub fn parse(url: &str) -> Result<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(Location::Postgres(url.to_string()));
        }
        if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            let path = path.split('?').next().unwrap_or(path);
            if !path.is_empty() {
                return Ok(Location::Sqlite(PathBuf::from(path)));
            }
        }
        Err(StoreError::BadUrl {
            url: redact_url(url),
        })
    }
}

/// The URL with any password replaced by `***`, for messages.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or_default();
            if userinfo.contains(':') {
                format!("{scheme}://{user}:***@{host}{tail}")
            } else {
                url.to_string()
            }
        }
        None => url.to_string(),
    }
}

fn sqlite_error(location: &str, source: sqlx::Error) -> StoreError {
    if let sqlx::Error::Database(db) = &source {
        // SQLITE_CORRUPT (11), SQLITE_NOTADB (26), and their extended codes.
        let code = db.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0) & 0xff;
        if code == 11 || code == 26 {
            return StoreError::Corrupt {
                location: location.to_string(),
                detail: db.message().to_string(),
            };
        }
    }
    StoreError::Open {
        location: location.to_string(),
        source,
    }
}

/// Whether `err` is SQLite's "database is locked" (`SQLITE_BUSY`, `SQLITE_LOCKED` and their extended codes),
/// from opening the file or from a migration: another process holds a lock for a moment.
fn is_sqlite_busy(err: &StoreError) -> bool {
    let source = match err {
        StoreError::Open { source, .. } => source,
        StoreError::Migrate {
            source:
                sqlx::migrate::MigrateError::Execute(source)
                | sqlx::migrate::MigrateError::ExecuteMigration(source, _),
            ..
        } => source,
        _ => return false,
    };
    let sqlx::Error::Database(db) = source else {
        return false;
    };
    let code = db.code().and_then(|c| c.parse::<i64>().ok()).unwrap_or(0) & 0xff;
    code == 5 || code == 6
}

impl Store {
    /// Opens (and on first use creates and migrates) the database at `url`: `sqlite://PATH` or
    /// `postgres://…`.
    pub async fn open(url: &str) -> Result<Self> {
        Self::open_with(url, &OpenOptions::default()).await
    }

    /// [`Store::open`] with pool options.
    pub async fn open_with(url: &str, options: &OpenOptions) -> Result<Self> {
        match Location::parse(url)? {
            Location::Sqlite(path) => Self::open_sqlite(&path, options).await,
            Location::Postgres(url) => Self::open_postgres(&url, options).await,
        }
    }

    /// Opens the SQLite file at `path`, creating it (and its directory) if it does not exist. An existing file
    /// that is not a readable airlock database is an error; it is never replaced.
    ///
    /// Several processes opening a new file at the same moment (twenty hook calls at once) race to switch it to
    /// WAL and to migrate it; SQLite answers some of those steps with "database is locked" at once instead of
    /// waiting for the busy timeout (a connection that already read the file header cannot wait for another's
    /// write lock). Such an open is retried from the start, with growing pauses, for up to
    /// [`SQLITE_BUSY_TIMEOUT`]; any other error is returned at once.
    pub async fn open_sqlite(path: &Path, options: &OpenOptions) -> Result<Self> {
        let location = path.display().to_string();
        if let Some(parent) = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty() && !p.exists())
        {
            std::fs::create_dir_all(parent).map_err(|e| StoreError::Open {
                location: location.clone(),
                source: sqlx::Error::Io(e),
            })?;
        }
        let deadline = std::time::Instant::now() + SQLITE_BUSY_TIMEOUT;
        let mut pause = Duration::from_millis(1);
        loop {
            match Self::try_open_sqlite(path, &location, options).await {
                Err(err) if is_sqlite_busy(&err) && std::time::Instant::now() < deadline => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
                result => return result,
            }
        }
    }

    /// One attempt of [`Store::open_sqlite`].
    async fn try_open_sqlite(path: &Path, location: &str, options: &OpenOptions) -> Result<Self> {
        let location = location.to_string();
        let connect = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL: a commit survives a crash of the process (not necessarily of the machine's power).
            .synchronous(SqliteSynchronous::Normal)
            // Copy the write-ahead log into the database every SQLITE_WAL_AUTOCHECKPOINT_PAGES pages rather than
            // SQLite's 1000. A process that opens the file while no other has it open (every `airlock hook`) rebuilds
            // the log's index by reading and checksumming the whole log: at 1000 pages that cost a hook call ~2 ms
            // of its ~4 (`perf stat` task-clock at 1000 vs 60 pages); a checkpoint of 64 pages is a few page copies and
            // two fsyncs (~0.08 ms each measured here), paid by one commit in ~20 — provided the log is started
            // over, which processes that exit without closing need `Store::trim_wal` for.
            .pragma(
                "wal_autocheckpoint",
                SQLITE_WAL_AUTOCHECKPOINT_PAGES.to_string(),
            )
            .busy_timeout(SQLITE_BUSY_TIMEOUT)
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(SQLITE_BUSY_TIMEOUT)
            // No ping before handing out a connection: a connection to a local file does not go stale, and the
            // ping is a round trip to the connection's database thread on every query.
            .test_before_acquire(false)
            // A connection still inside a transaction when it comes back (a COMMIT that failed, e.g. on a
            // full disk) is closed rather than reused, so the next caller gets a clean one.
            .after_release(|conn, _meta| {
                Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
            })
            .connect_with(connect)
            .await
            .map_err(|e| sqlite_error(&location, e))?;
        let store = Store {
            pool: Pool::Sqlite(pool),
            location,
            clock: Arc::new(SystemClock),
            group: None,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// Empties the SQLite write-ahead log when it has grown past `SQLITE_WAL_TRIM_BYTES` (about the
    /// auto-checkpoint size); a no-op on PostgreSQL, and best effort (nothing is reported, the next call tries
    /// again). For processes that exit without closing
    /// the store (`airlock hook`): SQLite only starts the log over when a process finds it fully copied into the
    /// database, and the first process to open the file after all others exited rebuilds the log's index from
    /// scratch, forgetting what was copied — so with no long-lived process holding the file open the log grew by
    /// every commit (4 MB after 300 hook calls), every call read all of it, and every commit past
    /// `wal_autocheckpoint` copied all of it into the database again (with two fsyncs). A `TRUNCATE` checkpoint
    /// copies what is left, syncs the database and cuts the log to nothing. It never waits: with a reader or
    /// writer in another process, it copies what it can and leaves the log for a later call.
    pub async fn trim_wal(&self) {
        let Pool::Sqlite(pool) = &self.pool else {
            return;
        };
        let wal = format!("{}-wal", self.location);
        if !std::fs::metadata(&wal).is_ok_and(|meta| meta.len() > SQLITE_WAL_TRIM_BYTES) {
            return;
        }
        let Ok(mut conn) = pool.acquire().await else {
            return;
        };
        let _ = sqlx::query("PRAGMA busy_timeout = 0")
            .execute(&mut *conn)
            .await;
        let _ = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut *conn)
            .await;
        let _ = sqlx::query(&format!(
            "PRAGMA busy_timeout = {}",
            SQLITE_BUSY_TIMEOUT.as_millis()
        ))
        .execute(&mut *conn)
        .await;
    }

    async fn open_postgres(url: &str, options: &OpenOptions) -> Result<Self> {
        let location = redact_url(url);
        let connect = PgConnectOptions::from_str(url).map_err(|source| StoreError::Open {
            location: location.clone(),
            source,
        })?;
        let pool = PgPoolOptions::new()
            .max_connections(options.max_connections.max(1))
            .acquire_timeout(options.connect_timeout)
            .connect_with(connect)
            .await
            .map_err(|source| StoreError::Open {
                location: location.clone(),
                source,
            })?;
        let store = Store {
            pool: Pool::Postgres(pool),
            location,
            clock: Arc::new(SystemClock),
            group: None,
        };
        store.migrate().await?;
        Ok(store)
    }

    /// The same store reading time from `clock` (tests move a [`crate::ManualClock`] instead of sleeping).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Now, by the store's clock (the one it stamps records with).
    pub fn now_ms(&self) -> crate::clock::Millis {
        self.clock.now_ms()
    }

    /// Which backend this store runs on.
    pub fn backend(&self) -> Backend {
        match self.pool {
            Pool::Sqlite(_) => Backend::Sqlite,
            Pool::Postgres(_) => Backend::Postgres,
        }
    }

    /// The database's location (file path, or URL without password), for messages.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// The newest schema version this build knows.
    pub fn supported_schema_version(&self) -> i64 {
        self.migrator().iter().map(|m| m.version).max().unwrap_or(0)
    }

    /// Closes every connection.
    pub async fn close(&self) {
        match &self.pool {
            Pool::Sqlite(pool) => pool.close().await,
            Pool::Postgres(pool) => pool.close().await,
        }
    }

    fn migrator(&self) -> &'static Migrator {
        match self.pool {
            Pool::Sqlite(_) => &SQLITE_MIGRATOR,
            Pool::Postgres(_) => &POSTGRES_MIGRATOR,
        }
    }

    /// The newest migration applied to the database, 0 for a new database.
    pub async fn schema_version(&self) -> Result<i64> {
        let version: Option<i64> = match &self.pool {
            Pool::Sqlite(pool) => {
                let exists: Option<String> = sqlx::query_scalar(
                    "SELECT name FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'",
                )
                .fetch_optional(pool)
                .await
                .map_err(|e| sqlite_error(&self.location, e))?;
                match exists {
                    None => None,
                    Some(_) => sqlx::query_scalar(
                        "SELECT MAX(version) FROM _sqlx_migrations WHERE success",
                    )
                    .fetch_one(pool)
                    .await
                    .map_err(|e| sqlite_error(&self.location, e))?,
                }
            }
            Pool::Postgres(pool) => {
                let exists: bool =
                    sqlx::query_scalar("SELECT to_regclass('_sqlx_migrations') IS NOT NULL")
                        .fetch_one(pool)
                        .await?;
                if exists {
                    sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations WHERE success")
                        .fetch_one(pool)
                        .await?
                } else {
                    None
                }
            }
        };
        Ok(version.unwrap_or(0))
    }

    /// Applies missing migrations; refuses a database whose schema is newer than this build.
    async fn migrate(&self) -> Result<()> {
        let supported = self.supported_schema_version();
        let found = self.schema_version().await?;
        if found > supported {
            return Err(StoreError::SchemaTooNew {
                location: self.location.clone(),
                found,
                supported,
            });
        }
        if found == supported {
            return Ok(());
        }
        let mut before = found;
        loop {
            let result = match &self.pool {
                Pool::Sqlite(pool) => self.migrator().run(pool).await,
                Pool::Postgres(pool) => self.migrator().run(pool).await,
            };
            let Err(source) = result else { return Ok(()) };
            // Another process may be migrating at the same moment (SQLite has no migration lock): our attempt at a
            // migration it applied first fails. While it makes progress, run what is still missing again.
            let now = self.schema_version().await?;
            if now == supported {
                return Ok(());
            }
            if now <= before {
                return Err(StoreError::Migrate {
                    location: self.location.clone(),
                    source,
                });
            }
            before = now;
        }
    }
}

/// Starting a write transaction that serialises writers: `BEGIN IMMEDIATE` on SQLite (takes the database's
/// write lock at once, so two processes never both read the same chain head), a plain `BEGIN` on PostgreSQL
/// (callers take row or advisory locks).
pub(crate) trait WritePool {
    type Db: sqlx::Database;
    /// What to append to a `SELECT` of one row to lock it until the transaction ends.
    const ROW_LOCK: &'static str;
    fn begin_write(
        &self,
    ) -> impl std::future::Future<Output = Result<Transaction<'static, Self::Db>>> + Send;
    /// Takes the audit chain lock inside `tx` (a no-op on SQLite, where the transaction already holds it).
    fn lock_chain<'t>(
        &'t self,
        tx: &'t mut Transaction<'static, Self::Db>,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 't;
}

/// Advisory lock key for the audit chain on PostgreSQL (`airlock` in ASCII, as a number).
pub(crate) const CHAIN_LOCK_KEY: i64 = 0x0061_6972_6c6f_636b;

impl WritePool for SqlitePool {
    type Db = Sqlite;
    const ROW_LOCK: &'static str = "";
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>> {
        Ok(self.begin_with("BEGIN IMMEDIATE").await?)
    }
    async fn lock_chain(&self, _tx: &mut Transaction<'static, Sqlite>) -> Result<()> {
        Ok(())
    }
}

impl WritePool for PgPool {
    type Db = Postgres;
    const ROW_LOCK: &'static str = " FOR UPDATE";
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>> {
        Ok(self.begin().await?)
    }
    async fn lock_chain(&self, tx: &mut Transaction<'static, Postgres>) -> Result<()> {
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(CHAIN_LOCK_KEY)
            .execute(&mut **tx)
            .await?;
        Ok(())
    }
}

/// Runs `$body` with `$pool` bound to the SQLite or the PostgreSQL pool. The body is compiled once per backend,
/// so the same query code (which uses `$1`-style parameters understood by both) serves both.
macro_rules! on_pool {
    ($store:expr, $pool:ident => $body:expr) => {
        match &$store.pool {
            $crate::db::Pool::Sqlite($pool) => $body,
            $crate::db::Pool::Postgres($pool) => $body,
        }
    };
}
pub(crate) use on_pool;

/// The row-lock suffix for a pool's backend (see [`WritePool::ROW_LOCK`]).
pub(crate) fn row_lock<P: WritePool>(_pool: &P) -> &'static str {
    P::ROW_LOCK
}

/// Random bytes from the operating system.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N]> {
    let mut buf = [0u8; N];
    getrandom::fill(&mut buf).map_err(|e| StoreError::Random(e.to_string()))?;
    Ok(buf)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert_eq!(
            Location::parse("sqlite:///a/b.db").unwrap(),
            Location::Sqlite("/a/b.db".into())
        );
        assert_eq!(
            Location::parse("sqlite:x.db?mode=rwc").unwrap(),
            Location::Sqlite("x.db".into())
        );
        assert!(matches!(
            Location::parse("postgres://u:p@h/db").unwrap(),
            Location::Postgres(_)
        ));
        assert!(Location::parse("mysql://x").is_err());
        assert!(Location::parse("sqlite://").is_err());
        assert_eq!(
            redact_url("postgres://u:pw@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
    }
}
