//! The request model: what an agent wants to do, in the corpus schema (`kind` plus that kind's fields).
//!
//! Wire format (one JSON object, unknown fields such as `expect` ignored):
//! `{"kind":"shell","command":"rm -rf ~"}`, `{"kind":"sql","dialect":"postgres","sql":"…"}`,
//! `{"kind":"http","method":"POST","url":"…","headers":{…},"body":"…"}`,
//! `{"kind":"mcp","server":"…","tool":"…","arguments":{…}}`, `{"kind":"file","op":"write","path":"…","content":"…"}`,
//! plus optional context fields `agent`, `session`, `cwd`, `environment`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A request together with its optional context, as read from one JSON object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope {
    /// The caller's identifier for this input (echoed back by `airlock check --jsonl`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// What the agent wants to do.
    #[serde(flatten)]
    pub request: Request,
    /// Who asks, from where, against which environment.
    #[serde(flatten)]
    pub context: Context,
}

impl Envelope {
    /// Wraps a request with an empty context and no id.
    pub fn new(request: Request) -> Self {
        Self {
            id: None,
            request,
            context: Context::default(),
        }
    }
}

/// Optional facts about who sends a request and where it would run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// Name of the agent (or agent token) that sent the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<String>,
    /// Agent session identifier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session: Option<String>,
    /// Working directory of the agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cwd: Option<String>,
    /// Environment label of the target (`production`, `staging`, `development`), when the caller knows it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment: Option<String>,
    /// The gateway upstream or MCP server the request goes through, when it goes through one (`railway`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upstream: Option<String>,
}

/// One request of one of the five kinds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Request {
    /// A shell command line (POSIX shell, PowerShell or cmd).
    Shell(ShellRequest),
    /// One or more SQL statements.
    Sql(SqlRequest),
    /// An HTTP call.
    Http(HttpRequest),
    /// An MCP `tools/call`.
    Mcp(McpRequest),
    /// A file write, edit or delete.
    File(FileRequest),
}

impl Request {
    /// The kind of this request, as it appears in the wire format.
    pub fn kind(&self) -> RequestKind {
        match self {
            Request::Shell(_) => RequestKind::Shell,
            Request::Sql(_) => RequestKind::Sql,
            Request::Http(_) => RequestKind::Http,
            Request::Mcp(_) => RequestKind::Mcp,
            Request::File(_) => RequestKind::File,
        }
    }
}

/// The five kinds of request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RequestKind {
    /// Shell command.
    Shell,
    /// SQL statements.
    Sql,
    /// HTTP call.
    Http,
    /// MCP tool call.
    Mcp,
    /// File operation.
    File,
}

impl RequestKind {
    /// The lowercase wire name (`shell`, `sql`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            RequestKind::Shell => "shell",
            RequestKind::Sql => "sql",
            RequestKind::Http => "http",
            RequestKind::Mcp => "mcp",
            RequestKind::File => "file",
        }
    }
}

/// A shell command line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShellRequest {
    /// The command line exactly as the agent would run it.
    pub command: String,
    /// The shell that would run it (`bash`, `sh`, `zsh`, `powershell`, `cmd`); POSIX when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shell: Option<String>,
}

/// SQL dialects understood by the SQL classifier.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqlDialect {
    /// PostgreSQL.
    Postgres,
    /// MySQL / MariaDB.
    Mysql,
    /// SQLite.
    Sqlite,
    /// Anything else: a permissive generic dialect.
    #[default]
    Generic,
}

/// One or more SQL statements.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SqlRequest {
    /// Dialect used to parse the statements.
    #[serde(default)]
    pub dialect: SqlDialect,
    /// The statements.
    pub sql: String,
}

/// An HTTP call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpRequest {
    /// Method, e.g. `POST`.
    pub method: String,
    /// Absolute URL.
    pub url: String,
    /// Request headers (names as sent).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Request body as text, when there is one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<String>,
}

/// An MCP tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct McpRequest {
    /// The MCP server's configured name.
    pub server: String,
    /// The tool name.
    pub tool: String,
    /// The call's arguments (a JSON object).
    #[serde(default)]
    pub arguments: serde_json::Value,
}

/// File operations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileOp {
    /// Create or overwrite.
    Write,
    /// Modify in place.
    Edit,
    /// Remove.
    Delete,
}

/// A file write, edit or delete.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRequest {
    /// The operation.
    pub op: FileOp,
    /// The path as the agent gave it (may start with `~`).
    pub path: String,
    /// New content for write/edit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}
