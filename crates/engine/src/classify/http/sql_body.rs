//! SQL sent over HTTP: database APIs that run the statements in a JSON body (Supabase
//! `/v1/projects/{ref}/database/query`, Cloudflare D1 `…/query|raw`, Neon `/sql`, Turso `/v2/pipeline`,
//! Hasura `run_sql`, Snowflake and Databricks `statements`). The statements go to the SQL classifier.

use serde_json::Value;

use super::text::{find_json_string, json_offset};
use crate::action::{Action, Span};
use crate::classify::Classifier;
use crate::classify::mcp::looks_like_sql;
use crate::request::SqlDialect;

/// Last path segments of SQL-running endpoints.
const SQL_ENDPOINTS: &[&str] = &[
    "query",
    "sql",
    "raw",
    "pipeline",
    "execute",
    "statements",
    "run_sql",
    "queries",
];

/// Keys holding SQL text; `query` and `statement` only when the text reads like SQL.
const SQL_KEYS: &[&str] = &["sql", "query", "statement", "stmt", "q"];

/// How deep in the JSON body to look for SQL.
const MAX_DEPTH: u32 = 6;

/// The actions of the SQL in a JSON body sent to an SQL endpoint; spans point at each SQL string.
pub(super) fn sql_body_actions(
    cx: &Classifier<'_>,
    method: &str,
    segments: &[String],
    body: Option<&str>,
    body_at: usize,
) -> Vec<Action> {
    let Some(body) = body else {
        return Vec::new();
    };
    let endpoint = segments
        .last()
        .is_some_and(|s| SQL_ENDPOINTS.contains(&s.to_ascii_lowercase().as_str()));
    if !endpoint
        || !matches!(method, "POST" | "PUT" | "PATCH")
        || !body.trim_start().starts_with(['{', '['])
    {
        return Vec::new();
    }
    let Ok(value) = serde_json::from_str::<Value>(body) else {
        return Vec::new();
    };
    let mut texts = Vec::new();
    collect(&value, 0, &mut texts);
    let mut out = Vec::new();
    for text in texts {
        let span = find_json_string(body, text).map(|start| {
            let start = body_at + start;
            Span::new(start, start + json_offset(text, text.len()))
        });
        let actions = cx.sql(SqlDialect::Generic, text);
        out.extend(match span {
            Some(span) => crate::classify::respan(actions, span),
            None => actions,
        });
    }
    out
}

fn collect<'v>(value: &'v Value, depth: u32, out: &mut Vec<&'v str>) {
    if depth > MAX_DEPTH {
        return;
    }
    match value {
        Value::Object(map) => {
            for (key, v) in map {
                match v {
                    Value::String(text)
                        if SQL_KEYS.contains(&key.as_str()) && looks_like_sql(text) =>
                    {
                        out.push(text);
                    }
                    _ => collect(v, depth + 1, out),
                }
            }
        }
        Value::Array(items) => {
            for item in items {
                collect(item, depth + 1, out);
            }
        }
        _ => {}
    }
}
