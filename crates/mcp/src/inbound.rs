//! Reading the structure of one message, in rmcp's model types, without changing it: what the client sent
//! ([`ClientMessage`]) and what the server sent ([`ServerMessage`]). Only the parts the proxy acts on are
//! looked at — `tools/call` requests, `initialize` (who the client is), `notifications/cancelled`, request
//! ids — and the message itself is forwarded as the exact text received.
//!
//! Fail closed: a message that is not a single JSON-RPC 2.0 object, has a key twice anywhere (parsers
//! disagree on which one wins, so the server could act on a different method or argument than the one
//! judged), or says `tools/call` in any shape other than a well-formed request is refused, never forwarded.

use std::collections::HashSet;
use std::fmt;

use rmcp::model::{
    CallToolRequestParams, ClientJsonRpcMessage, ClientNotification, ClientRequest, RequestId,
};
use serde::de::{self, Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::Value;

/// The method whose calls are judged.
pub const TOOLS_CALL: &str = "tools/call";
/// The method whose results `--hide-denied-tools` filters.
pub const TOOLS_LIST: &str = "tools/list";

/// What a message from the client is, for the proxy.
#[derive(Debug)]
pub enum ClientMessage {
    /// A `tools/call` request: judged before anything is forwarded.
    ToolCall {
        /// Its id.
        id: RequestId,
        /// Its parameters (tool name and arguments).
        params: Box<CallToolRequestParams>,
    },
    /// Any other request, forwarded (the client's name is kept from `initialize`).
    Request {
        /// Its id.
        id: RequestId,
        /// Its method.
        method: String,
        /// The client's name, for an `initialize` request.
        client_name: Option<String>,
    },
    /// `notifications/cancelled` naming the request it cancels.
    Cancelled {
        /// The cancelled request's id.
        request_id: RequestId,
    },
    /// Any other notification, or a response to a request of the server: forwarded.
    Other,
    /// Not something to forward: answer with this error (when the message had a readable id, for that id).
    Refused {
        /// The request id, when one could be read.
        id: Option<RequestId>,
        /// Why.
        problem: Refusal,
    },
    /// A `tools/call` notification (no id, so no answer is possible): dropped.
    Dropped {
        /// Why.
        problem: String,
    },
}

/// Why a client message is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// Valid JSON, but not a JSON-RPC 2.0 message (or a batch).
    InvalidRequest(String),
    /// A `tools/call` whose parameters are not `{name, arguments?}` with an object of arguments.
    InvalidParams(String),
}

impl ClientMessage {
    /// Reads a message received from the client.
    pub fn read(text: &str) -> Self {
        if let Err(error) = serde_json::from_str::<UniqueKeys>(text) {
            return ClientMessage::Refused {
                id: loose_id(text),
                problem: Refusal::InvalidRequest(format!("airlock refuses this message: {error}")),
            };
        }
        match serde_json::from_str::<ClientJsonRpcMessage>(text) {
            Ok(ClientJsonRpcMessage::Request(request)) => {
                let id = request.id;
                match request.request {
                    ClientRequest::CallToolRequest(call) => ClientMessage::ToolCall {
                        id,
                        params: Box::new(call.params),
                    },
                    other if other.method() == TOOLS_CALL => ClientMessage::Refused {
                        id: Some(id),
                        problem: Refusal::InvalidParams(
                            "airlock refuses this `tools/call`: its params must be an object with a string `name` and an object of `arguments`".into(),
                        ),
                    },
                    ClientRequest::InitializeRequest(init) => ClientMessage::Request {
                        id,
                        method: "initialize".into(),
                        client_name: Some(init.params.client_info.name),
                    },
                    other => ClientMessage::Request {
                        id,
                        method: other.method().to_string(),
                        client_name: None,
                    },
                }
            }
            Ok(ClientJsonRpcMessage::Notification(notification)) => {
                match notification.notification {
                    ClientNotification::CancelledNotification(cancelled) => {
                        match cancelled.params.request_id {
                            Some(request_id) => ClientMessage::Cancelled { request_id },
                            None => ClientMessage::Other,
                        }
                    }
                    ClientNotification::CustomNotification(custom)
                        if custom.method == TOOLS_CALL =>
                    {
                        ClientMessage::Dropped {
                            problem: "a `tools/call` sent as a notification (without an id) cannot be judged and answered, so it was not forwarded".into(),
                        }
                    }
                    _ => ClientMessage::Other,
                }
            }
            Ok(ClientJsonRpcMessage::Response(_) | ClientJsonRpcMessage::Error(_)) => {
                ClientMessage::Other
            }
            Err(error) => refuse_unreadable(text, &error),
        }
    }
}

/// A message rmcp cannot read as JSON-RPC: a malformed `tools/call` is refused as invalid params, a batch or
/// anything else as an invalid request.
fn refuse_unreadable(text: &str, error: &serde_json::Error) -> ClientMessage {
    let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let id = loose_id(text);
    let problem = match &value {
        Value::Array(_) => Refusal::InvalidRequest(
            "airlock refuses JSON-RPC batches: send one message per line".into(),
        ),
        Value::Object(map) if map.get("method").and_then(Value::as_str) == Some(TOOLS_CALL) => {
            Refusal::InvalidParams(format!(
                "airlock refuses this `tools/call`: it is not a well-formed JSON-RPC request ({error})"
            ))
        }
        _ => Refusal::InvalidRequest(format!(
            "airlock refuses this message: it is not a JSON-RPC 2.0 request, notification or response ({error})"
        )),
    };
    ClientMessage::Refused { id, problem }
}

/// The `id` of a message that may be malformed, when it is a string or an integer.
fn loose_id(text: &str) -> Option<RequestId> {
    #[derive(serde::Deserialize)]
    struct WithId {
        id: Option<RequestId>,
    }
    serde_json::from_str::<WithId>(text).ok().and_then(|m| m.id)
}

/// What the proxy needs from a message of the server.
#[derive(Debug, PartialEq, Eq)]
pub enum ServerMessage {
    /// A response (result or error) to the client's request `id`.
    Response(RequestId),
    /// A request or notification of the server, or anything else: passed on.
    Other,
}

impl ServerMessage {
    /// Reads a message received from the server (only whether it answers a request, and which).
    pub fn read(text: &str) -> Self {
        #[derive(serde::Deserialize)]
        struct Shape {
            id: Option<RequestId>,
            method: Option<IgnoredAny>,
        }
        match serde_json::from_str::<Shape>(text) {
            Ok(Shape {
                id: Some(id),
                method: None,
            }) => ServerMessage::Response(id),
            _ => ServerMessage::Other,
        }
    }
}

/// Deserializes any JSON value, failing on an object that has the same key twice (at any depth).
struct UniqueKeys;

impl<'de> Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(UniqueKeysVisitor)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = UniqueKeys;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<UniqueKeys, A::Error> {
        let mut seen = HashSet::new();
        while let Some(key) = map.next_key::<String>()? {
            if let Some(key) = seen.replace(key) {
                return Err(de::Error::custom(format!(
                    "the key `{key}` appears twice in one object"
                )));
            }
            map.next_value::<UniqueKeys>()?;
        }
        Ok(UniqueKeys)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<UniqueKeys, A::Error> {
        while seq.next_element::<UniqueKeys>()?.is_some() {}
        Ok(UniqueKeys)
    }

    fn visit_bool<E>(self, _: bool) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_i64<E>(self, _: i64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_u64<E>(self, _: u64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_f64<E>(self, _: f64) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_str<E>(self, _: &str) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
    fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
        Ok(UniqueKeys)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::panic, reason = "tests")]

    use super::*;

    #[test]
    fn a_tool_call_is_read_with_its_name_and_arguments() {
        let message = ClientMessage::read(
            r#"{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"execute_sql","arguments":{"sql":"DROP TABLE items"}}}"#,
        );
        let ClientMessage::ToolCall { id, params } = message else {
            panic!("not a tool call: {message:?}");
        };
        assert_eq!(id, RequestId::Number(7));
        assert_eq!(params.name, "execute_sql");
        assert_eq!(
            params.arguments.and_then(|a| a.get("sql").cloned()),
            Some(Value::String("DROP TABLE items".into()))
        );
    }

    #[test]
    fn the_client_name_comes_from_initialize() {
        let message = ClientMessage::read(
            r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"claude-code","version":"1.0"}}}"#,
        );
        let ClientMessage::Request { client_name, .. } = message else {
            panic!("not a request: {message:?}");
        };
        assert_eq!(client_name.as_deref(), Some("claude-code"));
    }

    #[test]
    fn other_requests_notifications_and_responses_pass() {
        for (text, method) in [
            (
                r#"{"jsonrpc":"2.0","id":"a","method":"tools/list"}"#,
                "tools/list",
            ),
            (
                r#"{"jsonrpc":"2.0","id":2,"method":"vendor/custom","params":{"x":[1]}}"#,
                "vendor/custom",
            ),
            (
                r#"{"jsonrpc":"2.0","id":3,"method":"resources/read","params":{"uri":"file:///x"}}"#,
                "resources/read",
            ),
        ] {
            match ClientMessage::read(text) {
                ClientMessage::Request { method: m, .. } => assert_eq!(m, method),
                other => panic!("{text}: {other:?}"),
            }
        }
        for text in [
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/progress","params":{"progressToken":1,"progress":0.5}}"#,
            r#"{"jsonrpc":"2.0","id":9,"result":{"roots":[]}}"#,
            r#"{"jsonrpc":"2.0","id":9,"error":{"code":-1,"message":"no"}}"#,
        ] {
            assert!(
                matches!(ClientMessage::read(text), ClientMessage::Other),
                "{text}"
            );
        }
    }

    #[test]
    fn a_cancellation_names_its_request() {
        let message = ClientMessage::read(
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":"r1","reason":"user"}}"#,
        );
        let ClientMessage::Cancelled { request_id } = message else {
            panic!("not a cancellation: {message:?}");
        };
        assert_eq!(request_id, RequestId::String("r1".into()));
    }

    /// See the module doc: a second `method` or `sql` key could make the server act on what was not judged.
    #[test]
    fn duplicate_keys_are_refused_at_any_depth() {
        for text in [
            r#"{"jsonrpc":"2.0","id":1,"method":"ping","method":"tools/call","params":{"name":"x"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"q","arguments":{"sql":"SELECT 1","sql":"DROP TABLE t"}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"q","arguments":{"l":[{"a":1,"\u0061":2}]}}}"#,
        ] {
            match ClientMessage::read(text) {
                ClientMessage::Refused {
                    id,
                    problem: Refusal::InvalidRequest(why),
                } => {
                    assert!(why.contains("twice"), "{why}");
                    assert_eq!(id, Some(RequestId::Number(1)));
                }
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn a_malformed_tool_call_is_refused_never_passed() {
        for text in [
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x","arguments":"DROP TABLE t"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"tools/call"}"#,
            r#"{"jsonrpc":"2.0","id":null,"method":"tools/call","params":{"name":"x"}}"#,
            r#"{"id":1,"method":"tools/call","params":{"name":"x"}}"#,
        ] {
            match ClientMessage::read(text) {
                ClientMessage::Refused {
                    problem: Refusal::InvalidParams(_),
                    ..
                } => {}
                other => panic!("{text}: {other:?}"),
            }
        }
        assert!(matches!(
            ClientMessage::read(r#"{"jsonrpc":"2.0","method":"tools/call","params":{"name":"x"}}"#),
            ClientMessage::Dropped { .. }
        ));
    }

    #[test]
    fn batches_and_non_messages_are_invalid_requests() {
        for text in [
            r#"[{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"x"}}]"#,
            r#"{"hello":"world"}"#,
            "42",
            // MCP's params are always objects; positional params are not MCP.
            r#"{"jsonrpc":"2.0","id":2,"method":"vendor/custom","params":[1]}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{},"error":{"code":1,"message":"x"}}"#,
        ] {
            match ClientMessage::read(text) {
                ClientMessage::Refused {
                    problem: Refusal::InvalidRequest(_),
                    ..
                } => {}
                other => panic!("{text}: {other:?}"),
            }
        }
    }

    #[test]
    fn server_responses_are_told_from_its_requests() {
        assert_eq!(
            ServerMessage::read(r#"{"jsonrpc":"2.0","id":4,"result":{"tools":[]}}"#),
            ServerMessage::Response(RequestId::Number(4))
        );
        assert_eq!(
            ServerMessage::read(
                r#"{"jsonrpc":"2.0","id":"s","error":{"code":-32601,"message":"x"}}"#
            ),
            ServerMessage::Response(RequestId::String("s".into()))
        );
        assert_eq!(
            ServerMessage::read(r#"{"jsonrpc":"2.0","id":4,"method":"roots/list"}"#),
            ServerMessage::Other
        );
        assert_eq!(
            ServerMessage::read(
                r#"{"jsonrpc":"2.0","method":"notifications/message","params":{}}"#
            ),
            ServerMessage::Other
        );
    }
}
