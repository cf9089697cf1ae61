//! The one place that maps a [`Decision`] to each wire form: the exit code of `airlock check`, its JSON
//! line, and its human-readable text. (Later: HTTP status and body for the gateway, each agent's hook reply.)

use serde_json::{Value, json};

use crate::action::Verdict;
use crate::decision::Decision;

/// Exit code of `airlock check` for a verdict: 0 allow, 2 deny, 3 ask (1 is reserved for errors).
pub fn exit_code(verdict: Verdict) -> i32 {
    match verdict {
        Verdict::Allow => 0,
        Verdict::Deny => 2,
        Verdict::Ask => 3,
    }
}

/// Exit code of `airlock check` when it could not decide (bad input, bad policy).
pub const EXIT_ERROR: i32 = 1;

/// The JSON object `airlock check --json` / `--jsonl` prints for one decision.
pub fn check_json(id: Option<&str>, decision: &Decision) -> Value {
    let reasons: Vec<Value> = decision
        .reasons
        .iter()
        .map(|r| {
            let mut reason = json!({"rule": r.rule, "policy": r.policy, "message": r.message});
            if let (Some(span), Some(obj)) = (r.span, reason.as_object_mut()) {
                obj.insert("span".to_string(), json!([span.start, span.end]));
            }
            reason
        })
        .collect();
    json!({
        "id": id,
        "decision": decision.verdict.as_str(),
        "reasons": reasons,
        "mitigation": decision.mitigation.as_str(),
        "actions": decision.actions,
    })
}

/// The JSON object for an input that could not be read.
pub fn error_json(id: Option<&str>, message: &str) -> Value {
    json!({"id": id, "error": message})
}

/// Readable text for a person: the verdict, then one line per reason with the triggering text underlined
/// when `input` (the text spans refer to) is given.
pub fn human_text(decision: &Decision, input: Option<&str>) -> String {
    let mut out = format!("{}\n", decision.verdict.as_str().to_uppercase());
    for reason in &decision.reasons {
        out.push_str(&format!("  - [{}] {}\n", reason.rule, reason.message));
        if let (Some(span), Some(input)) = (reason.span, input)
            && let Some(text) = span.text(input)
            && !text.is_empty()
            && text.len() <= 200
        {
            out.push_str(&format!(
                "    at {}..{}: `{}`\n",
                span.start,
                span.end,
                text.replace('\n', "⏎")
            ));
        }
    }
    if decision.verdict != Verdict::Allow
        && decision.mitigation != crate::decision::Mitigation::None
    {
        out.push_str(&format!(
            "  mitigation if approved: {}\n",
            decision.mitigation.as_str()
        ));
    }
    out
}
