//! The fake account's state: one user, one project with one environment, and the production volume whose data
//! is an SQLite file with a `customers` table. Deleting the volume removes the file for good.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions, Connection};

use crate::{
    CUSTOMER_ROWS, ENVIRONMENT_ID, ENVIRONMENT_NAME, FakeError, PROJECT_ID, PROJECT_NAME,
    VOLUME_ID, VOLUME_NAME,
};

const USER_ID: &str = "0c9b8a7f-6e5d-4c3b-2a19-8f7e6d5c4b3a";
const USER_NAME: &str = "Acme Ops";
const USER_EMAIL: &str = "ops@acme.example";
const CREATED_AT: &str = "2024-03-14T09:26:53.000Z";
const MOUNT_PATH: &str = "/var/lib/postgresql/data";
const VOLUME_INSTANCE_ID: &str = "3b4c5d6e-7f80-4192-a3b4-c5d6e7f80912";

/// A volume as the fake holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Volume {
    /// Railway's volume id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// The project it belongs to.
    pub project_id: String,
    /// The environment its instance is mounted in.
    pub environment_id: String,
    /// The SQLite file holding its data.
    pub path: PathBuf,
    /// Set by `volumeDelete`; the file is gone then.
    pub deleted: bool,
}

/// The account the API token belongs to.
#[derive(Debug)]
pub(crate) struct Account {
    volumes: Vec<Volume>,
}

impl Account {
    /// Creates `dir` and the production volume's database with [`CUSTOMER_ROWS`] customers.
    pub(crate) async fn create(dir: &Path) -> Result<Self, FakeError> {
        let volume_dir = dir.join("volumes").join(VOLUME_ID);
        tokio::fs::create_dir_all(&volume_dir)
            .await
            .map_err(|source| FakeError::Io {
                path: volume_dir.clone(),
                source,
            })?;
        let path = volume_dir.join("data.db");
        for stale in sqlite_files(&path) {
            remove_if_present(&stale).await?;
        }
        seed(&path).await?;
        Ok(Self {
            volumes: vec![Volume {
                id: VOLUME_ID.to_string(),
                name: VOLUME_NAME.to_string(),
                project_id: PROJECT_ID.to_string(),
                environment_id: ENVIRONMENT_ID.to_string(),
                path,
                deleted: false,
            }],
        })
    }

    pub(crate) fn volume(&self, id: &str) -> Option<&Volume> {
        self.volumes.iter().find(|v| v.id == id)
    }

    fn live_volume(&self, id: &str) -> Option<&Volume> {
        self.volume(id).filter(|v| !v.deleted)
    }

    /// Rows in the live volume's `customers` table.
    pub(crate) async fn row_count(&self, id: &str) -> Result<Option<i64>, FakeError> {
        let Some(volume) = self.live_volume(id) else {
            return Ok(None);
        };
        let database = |source| FakeError::Database {
            path: volume.path.clone(),
            source,
        };
        let mut conn = SqliteConnectOptions::new()
            .filename(&volume.path)
            .read_only(true)
            .connect()
            .await
            .map_err(database)?;
        let count: i64 = sqlx::query_scalar("SELECT count(*) FROM customers")
            .fetch_one(&mut conn)
            .await
            .map_err(database)?;
        conn.close().await.map_err(database)?;
        Ok(Some(count))
    }

    /// Deletes the volume and its data. `Ok(false)` when there is no such live volume.
    pub(crate) async fn delete_volume(&mut self, id: &str) -> Result<bool, FakeError> {
        let Some(volume) = self.volumes.iter_mut().find(|v| v.id == id && !v.deleted) else {
            return Ok(false);
        };
        for file in sqlite_files(&volume.path) {
            remove_if_present(&file).await?;
        }
        volume.deleted = true;
        Ok(true)
    }

    /// Reads everything a query can see, row counts included, so that resolving fields needs no I/O.
    pub(crate) async fn snapshot(&self) -> Result<Snapshot, FakeError> {
        let mut volumes = Vec::new();
        for volume in self.volumes.iter().filter(|v| !v.deleted) {
            let rows = self.row_count(&volume.id).await?;
            volumes.push(json!({
                "id": volume.id,
                "name": volume.name,
                "projectId": volume.project_id,
                "createdAt": CREATED_AT,
                "rowCount": rows,
                "environmentId": volume.environment_id,
            }));
        }
        Ok(Snapshot { volumes })
    }
}

/// What a query sees: records as JSON objects, relations resolved on demand.
#[derive(Debug)]
pub(crate) struct Snapshot {
    volumes: Vec<Value>,
}

impl Snapshot {
    /// `me`.
    pub(crate) fn user(&self) -> Value {
        json!({"id": USER_ID, "name": USER_NAME, "email": USER_EMAIL})
    }

    /// Every project record (flat: relations are resolved by [`Snapshot::relation`]).
    pub(crate) fn projects(&self) -> Vec<Value> {
        vec![json!({"id": PROJECT_ID, "name": PROJECT_NAME, "createdAt": CREATED_AT})]
    }

    /// A project record by id.
    pub(crate) fn project(&self, id: &str) -> Option<Value> {
        self.projects()
            .into_iter()
            .find(|p| p.get("id").and_then(Value::as_str) == Some(id))
    }

    /// A live volume's record, with its row count.
    pub(crate) fn volume(&self, id: &str) -> Option<Value> {
        self.volumes
            .iter()
            .find(|v| v.get("id").and_then(Value::as_str) == Some(id))
            .cloned()
    }

    /// Resolves a relation field of a record: `Volume.project`, `Volume.volumeInstances`,
    /// `Project.environments`, `Project.volumes`. `None` for a plain field of the record.
    pub(crate) fn relation(&self, type_name: &str, field: &str, record: &Value) -> Option<Value> {
        let text = |key: &str| record.get(key).and_then(Value::as_str).unwrap_or_default();
        Some(match (type_name, field) {
            ("Volume", "project") => self.project(text("projectId")).unwrap_or(Value::Null),
            ("Volume", "volumeInstances") => connection(vec![json!({
                "id": VOLUME_INSTANCE_ID,
                "environmentId": text("environmentId"),
                "mountPath": MOUNT_PATH,
                "state": "READY",
            })]),
            ("Project", "environments") => connection(vec![
                json!({"id": ENVIRONMENT_ID, "name": ENVIRONMENT_NAME}),
            ]),
            ("Project", "volumes") => connection(
                self.volumes
                    .iter()
                    .filter(|v| v.get("projectId").and_then(Value::as_str) == Some(text("id")))
                    .cloned()
                    .collect(),
            ),
            _ => return None,
        })
    }
}

/// A Relay connection `{edges: [{node}]}`.
pub(crate) fn connection(nodes: Vec<Value>) -> Value {
    let edges: Vec<Value> = nodes
        .into_iter()
        .map(|node| json!({"node": node}))
        .collect();
    json!({ "edges": edges })
}

fn sqlite_files(path: &Path) -> [PathBuf; 3] {
    let with_suffix = |suffix: &str| {
        let mut name = path.as_os_str().to_owned();
        name.push(suffix);
        PathBuf::from(name)
    };
    [path.to_path_buf(), with_suffix("-wal"), with_suffix("-shm")]
}

async fn remove_if_present(path: &Path) -> Result<(), FakeError> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(FakeError::Io {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// Creates the volume's database: a `customers` table with [`CUSTOMER_ROWS`] rows, in one transaction.
async fn seed(path: &Path) -> Result<(), FakeError> {
    let database = |source| FakeError::Database {
        path: path.to_path_buf(),
        source,
    };
    let mut conn = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true)
        .connect()
        .await
        .map_err(database)?;
    let mut tx = conn.begin().await.map_err(database)?;
    sqlx::query(
        "CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, email TEXT NOT NULL, \
         plan TEXT NOT NULL, created_at TEXT NOT NULL)",
    )
    .execute(&mut *tx)
    .await
    .map_err(database)?;
    for n in 1..=CUSTOMER_ROWS {
        let plan = match n % 10 {
            0 => "enterprise",
            1..=3 => "team",
            _ => "hobby",
        };
        sqlx::query(
            "INSERT INTO customers (id, name, email, plan, created_at) VALUES (?, ?, ?, ?, ?)",
        )
        .bind(n)
        .bind(format!("Customer {n:04}"))
        .bind(format!("customer{n:04}@example.com"))
        .bind(plan)
        .bind(format!("2024-{:02}-{:02}", n % 12 + 1, n % 28 + 1))
        .execute(&mut *tx)
        .await
        .map_err(database)?;
    }
    tx.commit().await.map_err(database)?;
    conn.close().await.map_err(database)?;
    Ok(())
}
