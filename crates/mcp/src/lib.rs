//! airlock-mcp: the MCP proxy behind `airlock mcp wrap --name NAME -- CMD ARGS…`. An agent's MCP client
//! launches the proxy instead of the server; the proxy starts the server and sits on its stdin and stdout.
//! Every `tools/call` becomes an [`airlock_engine::Envelope`] of kind `mcp` (server `NAME`, the tool, its
//! arguments — SQL, commands and paths in them reach the engine's SQL, shell and file classifiers) and goes
//! through the shared [`airlock_store::Gate`], which decides, audits and settles it:
//!
//! - allow (or approved by a person, once) ⇒ forwarded to the server, its answer relayed;
//! - deny ⇒ answered by the proxy with a tool result `isError: true` and the reasons, never forwarded;
//! - ask ⇒ held up to `--hold-seconds` waiting for a person; approved in time ⇒ forwarded, otherwise
//!   answered with an error result carrying the approval id, `airlock approvals approve ID` and the approvals
//!   page — the identical call after approval goes through once.
//!
//! Every other message (initialize, lists, notifications, progress, cancellation, resources, prompts, the
//! server's own requests and the client's answers to them) passes through as the exact text received, in
//! order. What is answered by the proxy itself is listed in [`reply`].
//!
//! Modules: [`frame`] (lines on the pipes, rmcp's codec), [`inbound`] (reading a message's structure with
//! rmcp's model types), [`proxy`] (the session: judging, holding, the table of requests in flight, ending),
//! [`reply`] (the proxy's own answers), [`tools_list`] (`--hide-denied-tools`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use airlock_mcp::{WrapOptions, wrap};
//! let gate = airlock_store::Gate::new(
//!     Arc::new(airlock_engine::Engine::new()?),
//!     airlock_store::Store::open("sqlite:///tmp/airlock.db").await?,
//! );
//! let options = WrapOptions::new("postgres", "npx".into(), vec!["-y".into(), "@example/pg-mcp".into()]);
//! let ended = wrap(gate, options, tokio::io::stdin(), tokio::io::stdout()).await?;
//! println!("server exited: {:?}", ended.server_status);
//! # Ok(()) }
//! ```
#![deny(missing_docs)]

pub mod envelope;
pub mod error;
pub mod frame;
pub mod inbound;
pub mod proxy;
pub mod reply;
pub mod tools_list;

pub use error::ProxyError;
pub use proxy::{
    DEFAULT_AGENT, DEFAULT_HOLD, DEFAULT_SHUTDOWN_GRACE, Ended, MAX_HOLD, WrapOptions, wrap,
};
