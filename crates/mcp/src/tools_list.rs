//! `--hide-denied-tools`: takes out of a `tools/list` result the tools the policy denies on their name alone.
//!
//! What "always denied" can mean here: the engine judges a call on its tool name *and* arguments, and
//! arguments can both add reasons (an SQL text, a path) and take them away (a `filter` that scopes a bulk
//! delete, a `namespace` naming the environment). Without arguments the proxy can only ask the engine about
//! the call with empty arguments (`{}`); a tool whose call is denied even so — the name says it deletes an
//! account or organisation, or a whole project of a production server — is hidden. This is a convenience for
//! the model's tool list, not a control: a hidden tool that is called anyway is judged on its real
//! arguments like any other call, and a tool denied only for some arguments stays listed.

use airlock_engine::{Engine, Envelope, McpRequest, Request, Verdict};
use serde_json::{Map, Value};

use crate::frame::RawMessage;

/// Whether the engine denies calling `tool` of `server` with no arguments, in `context`.
pub fn denied_without_arguments(
    engine: &Engine,
    server: &str,
    tool: &str,
    context: &airlock_engine::Context,
) -> bool {
    let envelope = Envelope {
        id: None,
        request: Request::Mcp(McpRequest {
            server: server.to_string(),
            tool: tool.to_string(),
            arguments: Value::Object(Map::new()),
        }),
        context: context.clone(),
    };
    engine.decide(&envelope).verdict == Verdict::Deny
}

/// The `tools/list` response `message` without the tools `hide` says to hide, and their names. `None` when
/// nothing is hidden or the message is not a `tools/list` result (it is then passed on as it was).
pub fn without_tools(
    message: &RawMessage,
    hide: impl Fn(&str) -> bool,
) -> Option<(RawMessage, Vec<String>)> {
    let mut value: Value = serde_json::from_str(message.get()).ok()?;
    let tools = value.get_mut("result")?.get_mut("tools")?.as_array_mut()?;
    let mut hidden = Vec::new();
    tools.retain(|tool| match tool.get("name").and_then(Value::as_str) {
        Some(name) if hide(name) => {
            hidden.push(name.to_string());
            false
        }
        _ => true,
    });
    if hidden.is_empty() {
        return None;
    }
    let rewritten = serde_json::value::to_raw_value(&value).ok()?;
    Some((rewritten, hidden))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

    use super::*;

    fn engine() -> Engine {
        Engine::new().expect("default policy loads")
    }

    #[test]
    fn account_deletion_is_denied_on_its_name_and_reads_are_not() {
        let engine = engine();
        let context = airlock_engine::Context::default();
        assert!(denied_without_arguments(
            &engine,
            "acme",
            "delete_organization",
            &context
        ));
        assert!(!denied_without_arguments(
            &engine,
            "acme",
            "list_organizations",
            &context
        ));
        // Held for a person, not denied: stays listed.
        assert!(!denied_without_arguments(
            &engine,
            "items",
            "delete_item",
            &context
        ));
    }

    #[test]
    fn hidden_tools_leave_the_list_and_the_rest_is_kept() {
        let message = serde_json::value::to_raw_value(&serde_json::json!({
            "jsonrpc": "2.0",
            "id": 3,
            "result": {
                "tools": [
                    {"name": "list_items", "inputSchema": {"type": "object"}},
                    {"name": "delete_account", "inputSchema": {"type": "object"}}
                ],
                "nextCursor": "c2"
            }
        }))
        .unwrap();
        let (rewritten, hidden) = without_tools(&message, |t| t == "delete_account").unwrap();
        assert_eq!(hidden, ["delete_account"]);
        let value: Value = serde_json::from_str(rewritten.get()).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "jsonrpc": "2.0",
                "id": 3,
                "result": {
                    "tools": [{"name": "list_items", "inputSchema": {"type": "object"}}],
                    "nextCursor": "c2"
                }
            })
        );
        assert!(without_tools(&message, |_| false).is_none());
    }
}
