//! Every answer the proxy gives the client itself, in one place: tool results with `isError: true` for a
//! call that airlock refused or is holding (the model reads these and tells the user), and JSON-RPC errors
//! for messages that are not acceptable at all.
//!
//! | situation | answer |
//! |---|---|
//! | policy denies the call | tool result, `isError`, `airlock denied this tool call: [RULE] reason; …` |
//! | held, no decision within the hold | tool result, `isError`, approval id, `airlock approvals approve ID`, page link |
//! | a person denied the approval / it expired | tool result, `isError`, what happened |
//! | the call could not be judged (store, audit) | tool result, `isError`, "blocked (fail closed)" |
//! | not JSON | JSON-RPC `-32700`, `id: null` |
//! | not JSON-RPC, batch, duplicate key, line too long, id in use | JSON-RPC `-32600` |
//! | malformed `tools/call` | JSON-RPC `-32602` |
//! | the server exited or misbehaved before answering | JSON-RPC `-32603` |
//!
//! Tool results carry `_meta.airlock` (`decision`, `approval_id`, `approval_url`, `audit_seq`) for programs.

use airlock_engine::{Decision, Reason};
use airlock_store::links::ApprovalPage;
use airlock_store::{Approval, ApprovalState, AuditEntry};
use rmcp::model::{
    CallToolResult, ContentBlock, ErrorCode, ErrorData, JsonRpcError, JsonRpcResponse,
    JsonRpcVersion2_0, MetaObject, RequestId,
};
use serde_json::{Map, Value, json};

use crate::frame::RawMessage;

/// The reasons of a decision as one line: `[SQL003] sql-drop-table on table items: …; [MCP004] …`.
pub fn reasons_text(decision: &Decision) -> String {
    if decision.reasons.is_empty() {
        return "no reason given".into();
    }
    decision
        .reasons
        .iter()
        .map(|r: &Reason| format!("[{}] {}", r.rule, r.message))
        .collect::<Vec<_>>()
        .join("; ")
}

/// The tool result for a call the policy denies.
pub fn denied(id: RequestId, decision: &Decision, audit: &AuditEntry) -> RawMessage {
    let text = format!(
        "airlock denied this tool call: {}. It was not sent to the server. Do not retry it in another form; tell the user what you wanted to do.",
        reasons_text(decision)
    );
    tool_error(
        id,
        text,
        meta([("decision", json!("deny")), ("audit_seq", json!(audit.seq))]),
    )
}

/// The tool result for a call still waiting for a person when the hold ran out.
pub fn held(
    id: RequestId,
    decision: &Decision,
    approval: &Approval,
    page: &ApprovalPage,
) -> RawMessage {
    let url = page.url(&approval.id);
    let text = format!(
        "airlock is holding this tool call for a person's approval (approval {id}): {reasons}. It was not sent to the server. An agent cannot approve it: a person approves it with `airlock approvals approve {id}` (needs an approver secret) or on {url}; then the identical call runs once. Do not retry it in another form.",
        id = approval.id,
        reasons = reasons_text(decision),
    );
    tool_error(
        id,
        text,
        meta([
            ("decision", json!("ask")),
            ("approval_id", json!(approval.id)),
            ("approval_url", json!(url)),
        ]),
    )
}

/// The tool result for a held call whose approval ended without letting it through (denied, expired, used).
pub fn not_approved(id: RequestId, approval: &Approval) -> RawMessage {
    let what = match approval.state {
        ApprovalState::Denied => match approval.deny_reason.as_deref() {
            Some(reason) if !reason.trim().is_empty() => {
                format!("a person denied it (approval {}): {reason}", approval.id)
            }
            _ => format!("a person denied it (approval {})", approval.id),
        },
        ApprovalState::Expired => format!("its approval {} expired", approval.id),
        ApprovalState::Consumed => format!(
            "its approval {} was already used by an identical call",
            approval.id
        ),
        ApprovalState::Pending | ApprovalState::Approved => {
            format!("its approval {} could not be used", approval.id)
        }
    };
    tool_error(
        id,
        format!("airlock did not run this tool call: {what}. It was not sent to the server."),
        meta([
            ("decision", json!("ask")),
            ("approval_id", json!(approval.id)),
            ("approval_state", json!(approval.state.as_str())),
        ]),
    )
}

/// The tool result for a call that could not be judged or recorded.
pub fn blocked(id: RequestId, problem: &str) -> RawMessage {
    tool_error(
        id,
        format!(
            "airlock could not check this tool call, so it is blocked (fail closed): {problem}. It was not sent to the server. Run `airlock doctor` to see what is wrong."
        ),
        meta([("decision", json!("deny"))]),
    )
}

/// JSON-RPC parse error (`-32700`, `id: null`) for a line that is not JSON.
pub fn parse_error(problem: &str) -> RawMessage {
    error(
        None,
        ErrorData::parse_error(
            format!("airlock: the message is not valid JSON ({problem}); it was not forwarded"),
            None,
        ),
    )
}

/// JSON-RPC invalid request (`-32600`).
pub fn invalid_request(id: Option<RequestId>, problem: impl Into<String>) -> RawMessage {
    error(id, ErrorData::invalid_request(problem.into(), None))
}

/// JSON-RPC invalid params (`-32602`).
pub fn invalid_params(id: Option<RequestId>, problem: impl Into<String>) -> RawMessage {
    error(id, ErrorData::invalid_params(problem.into(), None))
}

/// JSON-RPC internal error (`-32603`) for a request the server will never answer.
pub fn server_gone(id: RequestId, problem: &str) -> RawMessage {
    error(
        Some(id),
        ErrorData::new(ErrorCode::INTERNAL_ERROR, problem.to_string(), None),
    )
}

fn meta<const N: usize>(fields: [(&str, Value); N]) -> MetaObject {
    let airlock: Map<String, Value> = fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    let mut object = Map::new();
    object.insert("airlock".into(), Value::Object(airlock));
    MetaObject(object)
}

fn tool_error(id: RequestId, text: String, meta: MetaObject) -> RawMessage {
    let mut result = CallToolResult::error(vec![ContentBlock::text(text)]);
    // Absent means "complete" for clients of every protocol revision; older ones do not know the field.
    result.result_type = None;
    result.meta = Some(meta);
    encode(&JsonRpcResponse {
        jsonrpc: JsonRpcVersion2_0,
        id,
        result,
    })
}

fn error(id: Option<RequestId>, error: ErrorData) -> RawMessage {
    let has_id = id.is_some();
    let message = JsonRpcError::new(id, error);
    if has_id {
        return encode(&message);
    }
    // JSON-RPC 2.0: when the id cannot be read, the error's id is null (rmcp omits it).
    let mut value = serde_json::to_value(&message).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("id".into(), Value::Null);
    }
    encode(&value)
}

fn encode<T: serde::Serialize>(message: &T) -> RawMessage {
    // INVARIANT: these messages are built from strings, numbers and maps, which always serialize.
    serde_json::value::to_raw_value(message).unwrap_or_else(|_| {
        serde_json::value::to_raw_value(&json!({
            "jsonrpc": "2.0",
            "id": null,
            "error": {"code": -32603, "message": "airlock could not encode its answer"}
        }))
        .unwrap_or_default()
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]

    use super::*;

    #[test]
    fn a_parse_error_has_a_null_id() {
        let reply: Value = serde_json::from_str(parse_error("eof").get()).unwrap();
        assert_eq!(reply["id"], Value::Null);
        assert_eq!(reply["error"]["code"], -32700);
        assert_eq!(reply["jsonrpc"], "2.0");
    }

    #[test]
    fn a_blocked_call_is_an_error_result_for_its_id() {
        let reply: Value =
            serde_json::from_str(blocked(RequestId::String("r".into()), "disk full").get())
                .unwrap();
        assert_eq!(reply["id"], "r");
        assert_eq!(reply["result"]["isError"], true);
        assert_eq!(reply["result"]["content"][0]["type"], "text");
        assert!(
            reply["result"]["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains("disk full")
        );
        assert_eq!(reply["result"]["_meta"]["airlock"]["decision"], "deny");
        assert!(reply["result"].get("resultType").is_none());
    }
}
