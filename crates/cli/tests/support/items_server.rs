//! The items MCP server of the `airlock mcp wrap` tests and latency benchmark: a real rmcp server on stdio whose
//! tools work on a real SQLite file (`list_items`, `delete_item`, `execute_sql`, and `delete_account`, which the
//! default policy denies on its name). The test and bench binaries run themselves as this server (see
//! [`ROLE_ENV`]), so it needs no binary of its own. [`create_items_db`] makes the database first.

use std::path::Path;
use std::process::ExitCode;

use rmcp::handler::server::router::tool::ToolRouter;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock, ServerCapabilities, ServerConfig};
use rmcp::{ErrorData, ServerHandler, ServiceExt as _, tool, tool_handler, tool_router};
use sqlx::Row as _;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool};

/// Set to `items` to make a test or bench binary serve the items server on stdio.
pub const ROLE_ENV: &str = "AIRLOCK_TEST_MCP_ROLE";
/// The SQLite file the items server works on.
pub const DB_ENV: &str = "AIRLOCK_TEST_ITEMS_DB";

#[derive(Debug, serde::Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct DeleteItem {
    /// The item's id.
    pub id: i64,
}

#[derive(Debug, serde::Deserialize, rmcp::schemars::JsonSchema)]
#[schemars(crate = "rmcp::schemars")]
pub struct ExecuteSql {
    /// SQL statements to run.
    pub sql: String,
}

#[derive(Debug, Clone)]
pub struct ItemsServer {
    pool: SqlitePool,
    tool_router: ToolRouter<Self>,
}

fn failed(error: sqlx::Error) -> ErrorData {
    ErrorData::internal_error(format!("database error: {error}"), None)
}

#[tool_router]
impl ItemsServer {
    pub fn new(pool: SqlitePool) -> Self {
        Self {
            pool,
            tool_router: Self::tool_router(),
        }
    }

    #[tool(description = "List every item as `id name` lines")]
    async fn list_items(&self) -> Result<CallToolResult, ErrorData> {
        let rows = sqlx::query("SELECT id, name FROM items ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(failed)?;
        let lines: Vec<String> = rows
            .iter()
            .map(|r| format!("{} {}", r.get::<i64, _>(0), r.get::<String, _>(1)))
            .collect();
        Ok(CallToolResult::success(vec![ContentBlock::text(
            lines.join("\n"),
        )]))
    }

    #[tool(description = "Delete one item by id")]
    async fn delete_item(
        &self,
        Parameters(DeleteItem { id }): Parameters<DeleteItem>,
    ) -> Result<CallToolResult, ErrorData> {
        let done = sqlx::query("DELETE FROM items WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(failed)?;
        Ok(CallToolResult::success(vec![ContentBlock::text(format!(
            "deleted {} item(s)",
            done.rows_affected()
        ))]))
    }

    #[tool(description = "Run SQL statements on the items database")]
    async fn execute_sql(
        &self,
        Parameters(ExecuteSql { sql }): Parameters<ExecuteSql>,
    ) -> Result<CallToolResult, ErrorData> {
        match sqlx::raw_sql(&sql).fetch_all(&self.pool).await {
            Ok(rows) => Ok(CallToolResult::success(vec![ContentBlock::text(format!(
                "ok, {} row(s)",
                rows.len()
            ))])),
            Err(error) => Ok(CallToolResult::error(vec![ContentBlock::text(format!(
                "sql error: {error}"
            ))])),
        }
    }

    #[tool(description = "Delete the whole account and everything in it")]
    async fn delete_account(&self) -> Result<CallToolResult, ErrorData> {
        sqlx::query("DELETE FROM items")
            .execute(&self.pool)
            .await
            .map_err(failed)?;
        Ok(CallToolResult::success(vec![ContentBlock::text(
            "account deleted",
        )]))
    }
}

#[tool_handler(router = self.tool_router)]
impl ServerHandler for ItemsServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(ServerCapabilities::builder().enable_tools().build())
    }
}

/// Creates `db` with the items table and three rows.
pub async fn create_items_db(db: &Path) -> Result<(), sqlx::Error> {
    let options = SqliteConnectOptions::new()
        .filename(db)
        .create_if_missing(true);
    let pool = SqlitePool::connect_with(options).await?;
    sqlx::raw_sql(
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
         INSERT INTO items (id, name) VALUES (1, 'anvil'), (2, 'bellows'), (3, 'crucible');",
    )
    .execute(&pool)
    .await?;
    pool.close().await;
    Ok(())
}

/// Serves the items server on stdin/stdout until the client leaves.
pub fn serve_items() -> ExitCode {
    let Some(db) = std::env::var_os(DB_ENV) else {
        eprintln!("items server: set {DB_ENV}");
        return ExitCode::FAILURE;
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("items server: {error}");
            return ExitCode::FAILURE;
        }
    };
    let served = runtime.block_on(async {
        let options = SqliteConnectOptions::new().filename(Path::new(&db));
        let pool = SqlitePool::connect_with(options)
            .await
            .map_err(|e| e.to_string())?;
        let service = ItemsServer::new(pool)
            .serve(rmcp::transport::stdio())
            .await
            .map_err(|e| e.to_string())?;
        service.waiting().await.map_err(|e| e.to_string())?;
        Ok::<(), String>(())
    });
    match served {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("items server: {error}");
            ExitCode::FAILURE
        }
    }
}
