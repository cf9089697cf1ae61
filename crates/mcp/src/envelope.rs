//! The one translation of an MCP `tools/call` into what the engine judges: an [`Envelope`] of kind `mcp`
//! (server name, tool, arguments as an object). The stdio proxy ([`crate::proxy`]) and the gateway's
//! streamable HTTP endpoint (`airlock serve`, `[mcp_servers.NAME]`) both build their envelopes here, so a
//! call is judged the same way whichever transport carried it.

use airlock_engine::{Context, Envelope, McpRequest, Request};
use rmcp::model::CallToolRequestParams;
use serde_json::Value;

/// The envelope for calling `params.name` with `params.arguments` on the server called `server`.
pub fn tool_call_envelope(
    server: &str,
    params: &CallToolRequestParams,
    context: Context,
) -> Envelope {
    Envelope {
        id: None,
        request: Request::Mcp(McpRequest {
            server: server.to_string(),
            tool: params.name.to_string(),
            arguments: Value::Object(params.arguments.clone().unwrap_or_default()),
        }),
        context,
    }
}
