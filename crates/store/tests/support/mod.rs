//! Test databases: a fresh SQLite file per test, and a real PostgreSQL server that this process starts itself
//! (initdb + pg_ctl into a temp dir on a free port, as a non-root OS user when running as root), shared by the
//! tests of one process, with a fresh database per test. A watcher process stops the server and deletes its
//! directory when this process exits, however it exits. Without PostgreSQL installed the PostgreSQL tests are
//! skipped with a printed reason — except with `CI=true`, where that is a failure.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice,
    dead_code
)]

/// Generates one test per backend for a suite function `async fn name(db: TestDb)`; test files use it after
/// `#[macro_use] mod support;`.
#[allow(unused_macros)]
macro_rules! on_both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::support::sqlite_db().await).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = super::support::pg_db().await {
                    super::$name(db).await;
                }
            }
        }
    )*};
}

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};

use airlock_store::{Backend, OpenOptions, Store};
use sqlx::Connection as _;

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A directory removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let dir = std::env::temp_dir().join(format!(
            "airlock-store-{tag}-{}-{n}-{nanos}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One test's database: the store, its URL, and the temp dir for SQLite.
pub struct TestDb {
    pub store: Store,
    pub url: String,
    pub backend: Backend,
    _dir: Option<TempDir>,
}

impl TestDb {
    /// Runs raw SQL (several statements allowed) on a separate connection, as an attacker with database access would.
    pub async fn raw(&self, sql: &str) {
        self.try_raw(sql)
            .await
            .unwrap_or_else(|e| panic!("raw SQL failed: {e}\n{sql}"));
    }

    pub async fn try_raw(&self, sql: &str) -> Result<(), sqlx::Error> {
        match self.backend {
            Backend::Sqlite => {
                let mut conn = sqlx::SqliteConnection::connect(&self.url).await?;
                sqlx::raw_sql(sql).execute(&mut conn).await?;
                conn.close().await
            }
            Backend::Postgres => {
                let mut conn = sqlx::PgConnection::connect(&self.url).await?;
                sqlx::raw_sql(sql).execute(&mut conn).await?;
                conn.close().await
            }
        }
    }

    /// Drops the append-only triggers (the first thing someone rewriting history would do).
    pub async fn drop_append_only_triggers(&self) {
        match self.backend {
            Backend::Sqlite => self.raw("DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete;").await,
            Backend::Postgres => {
                self.raw(
                    "DROP TRIGGER audit_log_no_update ON audit_log; DROP TRIGGER audit_log_no_truncate ON audit_log;",
                )
                .await
            }
        }
    }

    /// Opens another store on the same database.
    pub async fn reopen(&self, options: &OpenOptions) -> Store {
        Store::open_with(&self.url, options).await.unwrap()
    }
}

/// A fresh SQLite database in its own temp dir.
pub async fn sqlite_db() -> TestDb {
    let dir = TempDir::new("sqlite");
    let url = format!("sqlite://{}", dir.0.join("airlock.db").display());
    let store = Store::open(&url).await.unwrap();
    TestDb {
        store,
        url,
        backend: Backend::Sqlite,
        _dir: Some(dir),
    }
}

/// A fresh database on this process's PostgreSQL server, or `None` (with a printed reason) when PostgreSQL is
/// not installed and `CI` is not `true`.
pub async fn pg_db() -> Option<TestDb> {
    let server = pg_server()?;
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let name = format!("t_{}_{n}", std::process::id());
    let mut admin = sqlx::PgConnection::connect(&server.url("postgres"))
        .await
        .unwrap();
    sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
        .execute(&mut admin)
        .await
        .unwrap();
    admin.close().await.unwrap();
    let url = server.url(&name);
    let store = Store::open_with(
        &url,
        &OpenOptions {
            max_connections: 8,
            ..OpenOptions::default()
        },
    )
    .await
    .unwrap();
    Some(TestDb {
        store,
        url,
        backend: Backend::Postgres,
        _dir: None,
    })
}

/// A running PostgreSQL server owned by this process.
pub struct PgServer {
    pub port: u16,
    pub dir: PathBuf,
}

impl PgServer {
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }
}

static PG: OnceLock<Result<PgServer, String>> = OnceLock::new();

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// The shared server, started on first use.
pub fn pg_server() -> Option<&'static PgServer> {
    match PG.get_or_init(start_pg) {
        Ok(server) => Some(server),
        Err(reason) if in_ci() => panic!("PostgreSQL is required when CI=true: {reason}"),
        Err(reason) => {
            eprintln!("skipping PostgreSQL test: {reason}");
            None
        }
    }
}

fn find_pg_bin() -> Option<PathBuf> {
    let mut candidates: Vec<PathBuf> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        let mut versions: Vec<(u32, PathBuf)> = entries
            .flatten()
            .filter_map(|e| {
                Some((
                    e.file_name().to_str()?.parse::<u32>().ok()?,
                    e.path().join("bin"),
                ))
            })
            .collect();
        versions.sort();
        candidates.extend(versions.into_iter().rev().map(|(_, p)| p));
    }
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path));
    }
    candidates
        .into_iter()
        .find(|dir| dir.join("pg_ctl").is_file() && dir.join("initdb").is_file())
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// The OS user that runs PostgreSQL when we are root (PostgreSQL refuses to run as root).
fn pg_user() -> Option<String> {
    ["postgres", "nobody"]
        .into_iter()
        .find(|u| {
            Command::new("id")
                .arg("-u")
                .arg(u)
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .map(str::to_string)
}

fn run_as(
    user: Option<&str>,
    program: &Path,
    args: &[&str],
) -> Result<std::process::Output, String> {
    let mut cmd = match user {
        Some(user) => {
            let mut c = Command::new("runuser");
            c.args(["-u", user, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    };
    cmd.args(args).stdin(Stdio::null());
    cmd.output()
        .map_err(|e| format!("cannot run {}: {e}", program.display()))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_pg() -> Result<PgServer, String> {
    let bin =
        find_pg_bin().ok_or("initdb/pg_ctl not found on PATH or in /usr/lib/postgresql/*/bin")?;
    let user = if is_root() {
        Some(pg_user().ok_or("running as root and no `postgres` or `nobody` user")?)
    } else {
        None
    };
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("airlock-pg-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    if let Some(user) = &user {
        let status = Command::new("chown")
            .arg(user)
            .arg(&dir)
            .status()
            .map_err(|e| e.to_string())?;
        if !status.success() {
            return Err(format!("chown {user} {} failed", dir.display()));
        }
    }
    let data = dir.join("data");
    let data_s = data.to_string_lossy().to_string();
    // The watcher: when this process is gone, stop the server and remove its files.
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 0.5; done; {as_user}'{pg_ctl}' -D '{data_s}' stop -m immediate >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        as_user = user
            .as_ref()
            .map(|u| format!("runuser -u {u} -- "))
            .unwrap_or_default(),
        pg_ctl = bin.join("pg_ctl").display(),
        dir = dir.display(),
    );
    Command::new("setsid")
        .args(["sh", "-c", &stop])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start the watcher: {e}"))?;
    let out = run_as(
        user.as_deref(),
        &bin.join("initdb"),
        &[
            "-D",
            &data_s,
            "-U",
            "postgres",
            "--auth=trust",
            "-N",
            "-E",
            "UTF8",
            "--locale=C",
        ],
    )?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    for _attempt in 0..5 {
        let port = free_port();
        let options = format!(
            "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
            dir.display()
        );
        let log = dir.join("server.log").to_string_lossy().to_string();
        let out = run_as(
            user.as_deref(),
            &bin.join("pg_ctl"),
            &[
                "-D", &data_s, "-l", &log, "-o", &options, "-w", "-t", "60", "start",
            ],
        )?;
        if out.status.success() {
            return Ok(PgServer { port, dir });
        }
    }
    let log = std::fs::read_to_string(dir.join("server.log")).unwrap_or_default();
    Err(format!("pg_ctl start failed: {log}"))
}
