//! airlock-railway-fake: a Railway-like GraphQL server, a real HTTP server on 127.0.0.1 that speaks the part of
//! Railway's public API (`POST /graphql/v2`) the incident touched. It holds one "production volume"
//! ([`VOLUME_ID`], `pg-data` in project `acme-prod`, environment `production`) whose data is a real SQLite file
//! with a `customers` table, and `volumeDelete` really deletes that file.
//!
//! It is a protocol peer for tests and for `airlock demo`, not a classifier: it parses the GraphQL it receives
//! (apollo-parser), validates it against a small subset of Railway's schema and executes it. It answers like a
//! GraphQL-over-HTTP server: `401 {"errors":[{"message":"Not Authorized"}]}` without the expected bearer token,
//! `400` with `extensions.code` `GRAPHQL_PARSE_FAILED` / `GRAPHQL_VALIDATION_FAILED` / `BAD_REQUEST` for
//! documents it cannot run, `200 {"data": …}` (with `errors` for failed fields) otherwise. Every request it
//! receives, on any path, is recorded for tests to inspect ([`RunningFake::received`]).
//!
//! The schema subset: `me { id name email }`, `projects { edges { node { id name environments volumes } } }`,
//! `project(id)`, `volume(id) { id name projectId createdAt project rowCount volumeInstances }` (`rowCount`, the
//! rows of the volume's `customers` table, is this fake's own field) and `mutation { volumeDelete(volumeId) }`.
//!
//! ```no_run
//! # async fn demo() -> Result<(), airlock_railway_fake::FakeError> {
//! use airlock_railway_fake::{RailwayFake, VOLUME_ID};
//! let fake = RailwayFake::start(std::path::Path::new("/tmp/railway"), "railway-secret").await?;
//! println!("POST {}", fake.graphql_url());
//! assert_eq!(fake.volume_rows(VOLUME_ID).await?, Some(airlock_railway_fake::CUSTOMER_ROWS));
//! fake.shutdown().await;
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

mod execute;
mod schema;
mod server;
mod state;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError};

use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use state::Volume;

/// The production volume's id (the incident's volume).
pub const VOLUME_ID: &str = "8a4c1f2e-5b7d-4e9a-b3c6-1d2e3f4a5b6c";
/// The production volume's name.
pub const VOLUME_NAME: &str = "pg-data";
/// The project holding the volume.
pub const PROJECT_ID: &str = "5d1e6c3a-2f4b-4a8e-9c7d-0b1a2c3d4e5f";
/// The project's name.
pub const PROJECT_NAME: &str = "acme-prod";
/// The environment the volume is mounted in.
pub const ENVIRONMENT_ID: &str = "e7b2c9d4-1a3f-4e5b-8c6d-7f8a9b0c1d2e";
/// The environment's name.
pub const ENVIRONMENT_NAME: &str = "production";
/// Rows in the production volume's `customers` table when the fake starts.
pub const CUSTOMER_ROWS: i64 = 1_000;
/// The path of Railway's public GraphQL API.
pub const GRAPHQL_PATH: &str = "/graphql/v2";

/// Why the fake could not start or read its state.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FakeError {
    /// The data directory or a volume file could not be created or removed.
    #[error("railway fake: cannot use `{path}`: {source}")]
    Io {
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A volume's SQLite file could not be created or read.
    #[error("railway fake: volume database `{path}`: {source}")]
    Database {
        /// The SQLite file.
        path: PathBuf,
        /// The underlying error.
        source: sqlx::Error,
    },
    /// The listening socket could not be bound.
    #[error("railway fake: cannot listen on 127.0.0.1: {0}")]
    Listen(std::io::Error),
}

/// One HTTP request the fake received, as it arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedRequest {
    /// The method, e.g. `POST`.
    pub method: String,
    /// The request target's path and query, e.g. `/graphql/v2`.
    pub path: String,
    /// Every header in arrival order, names lowercase; a value that is not UTF-8 is decoded lossily.
    pub headers: Vec<(String, String)>,
    /// The body bytes.
    pub body: Vec<u8>,
}

impl ReceivedRequest {
    /// Every value of header `name` (ASCII case-insensitive).
    pub fn header_values(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// Starts Railway-like servers.
#[derive(Debug, Clone, Copy)]
pub struct RailwayFake;

impl RailwayFake {
    /// Creates the production volume's SQLite file under `dir` (created if missing; an existing volume file
    /// there is replaced by a fresh one with [`CUSTOMER_ROWS`] rows), binds 127.0.0.1 on a free port and serves
    /// until [`RunningFake::shutdown`] or drop. Requests must carry `Authorization: Bearer {token}`.
    pub async fn start(dir: &Path, token: &str) -> Result<RunningFake, FakeError> {
        let account = state::Account::create(dir).await?;
        let shared = Arc::new(server::Shared::new(token, account));
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(FakeError::Listen)?;
        let addr = listener.local_addr().map_err(FakeError::Listen)?;
        let (stop, stopped) = oneshot::channel::<()>();
        let app = server::router(Arc::clone(&shared));
        let task = tokio::spawn(async move {
            let serving = axum::serve(listener, app).with_graceful_shutdown(async move {
                // Resolves on an explicit stop and when the sender is dropped with the handle.
                let _ = stopped.await;
            });
            // INVARIANT: a serve error ends the task; requests then fail to connect, which tests notice.
            let _ = serving.await;
        });
        Ok(RunningFake {
            addr,
            shared,
            stop: Some(stop),
            task: Some(task),
        })
    }
}

/// A fake Railway server that is serving; stops on [`RunningFake::shutdown`] or when dropped.
#[derive(Debug)]
pub struct RunningFake {
    /// The address it listens on (127.0.0.1 and a free port).
    pub addr: SocketAddr,
    shared: Arc<server::Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningFake {
    /// `http://127.0.0.1:PORT`, the base URL to configure as the upstream.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `http://127.0.0.1:PORT/graphql/v2`.
    pub fn graphql_url(&self) -> String {
        format!("http://{}{GRAPHQL_PATH}", self.addr)
    }

    /// Rows in volume `id`'s `customers` table; `None` when no such volume exists (any more).
    pub async fn volume_rows(&self, id: &str) -> Result<Option<i64>, FakeError> {
        let account = self.shared.account.lock().await;
        account.row_count(id).await
    }

    /// Volume `id` as the fake holds it (also after deletion, with `deleted` set); `None` if it never existed.
    pub async fn volume(&self, id: &str) -> Option<Volume> {
        self.shared.account.lock().await.volume(id).cloned()
    }

    /// Every request received so far, oldest first.
    pub fn received(&self) -> Vec<ReceivedRequest> {
        self.shared
            .received
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops accepting connections, lets in-flight requests finish and waits for the server task.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for RunningFake {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
