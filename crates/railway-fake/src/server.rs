//! The HTTP side of the fake: one axum handler that records every request, then answers `POST /graphql/v2`
//! (bearer token checked first, then the JSON body, then the GraphQL document) and 404/405 elsewhere.

use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::execute::{self, Answer, GraphqlRequest};
use crate::state::Account;
use crate::{GRAPHQL_PATH, ReceivedRequest};

/// Largest request body read (Railway's own limit is larger; the incident's call is a few hundred bytes).
const MAX_BODY: usize = 1024 * 1024;

/// State shared by the handler and [`crate::RunningFake`].
#[derive(Debug)]
pub(crate) struct Shared {
    token: String,
    pub(crate) account: tokio::sync::Mutex<Account>,
    pub(crate) received: Mutex<Vec<ReceivedRequest>>,
}

impl Shared {
    pub(crate) fn new(token: &str, account: Account) -> Self {
        Self {
            token: token.to_string(),
            account: tokio::sync::Mutex::new(account),
            received: Mutex::new(Vec::new()),
        }
    }
}

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new().fallback(handle).with_state(shared)
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => {
            return json_response(Answer::request_error(
                413,
                "BAD_REQUEST",
                "Request body too large".to_string(),
            ));
        }
    };
    let path = parts.uri.path_and_query().map_or_else(
        || parts.uri.path().to_string(),
        |pq| pq.as_str().to_string(),
    );
    shared
        .received
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(ReceivedRequest {
            method: parts.method.to_string(),
            path: path.clone(),
            headers: parts
                .headers
                .iter()
                .map(|(name, value)| {
                    (
                        name.as_str().to_string(),
                        String::from_utf8_lossy(value.as_bytes()).into_owned(),
                    )
                })
                .collect(),
            body: body.to_vec(),
        });

    if parts.uri.path() != GRAPHQL_PATH {
        return json_response(Answer {
            status: 404,
            body: json!({"errors": [{"message": "Not Found"}]}),
        });
    }
    if parts.method != Method::POST {
        let mut response = json_response(Answer::request_error(
            405,
            "METHOD_NOT_ALLOWED",
            "Only POST requests are served here".to_string(),
        ));
        response
            .headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    let expected = format!("Bearer {}", shared.token);
    let authorizations: Vec<&HeaderValue> = parts
        .headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .collect();
    let authorized =
        matches!(authorizations.as_slice(), [only] if only.as_bytes() == expected.as_bytes());
    if !authorized {
        return json_response(Answer {
            status: 401,
            body: json!({"errors": [{"message": "Not Authorized"}]}),
        });
    }
    let request = match parse_body(&body) {
        Ok(request) => request,
        Err(message) => return json_response(Answer::request_error(400, "BAD_REQUEST", message)),
    };
    json_response(execute::run(&shared.account, &request).await)
}

/// Reads `{query, variables, operationName}`.
fn parse_body(body: &[u8]) -> Result<GraphqlRequest, String> {
    let value: Value = serde_json::from_slice(body)
        .map_err(|err| format!("POST body sent invalid JSON: {err}"))?;
    let Value::Object(mut object) = value else {
        return Err("POST body must be a JSON object".to_string());
    };
    let query = match object.remove("query") {
        Some(Value::String(query)) if !query.trim().is_empty() => query,
        _ => {
            return Err(
                "GraphQL operations must contain a non-empty `query` or a `persistedQuery` extension."
                    .to_string(),
            );
        }
    };
    let variables = match object.remove("variables") {
        None | Some(Value::Null) => serde_json::Map::new(),
        Some(Value::Object(variables)) => variables,
        Some(_) => return Err("`variables` in a POST body should be an object".to_string()),
    };
    let operation_name = match object.remove("operationName") {
        None | Some(Value::Null) => None,
        Some(Value::String(name)) => Some(name),
        Some(_) => return Err("`operationName` in a POST body must be a string".to_string()),
    };
    Ok(GraphqlRequest {
        query,
        variables,
        operation_name,
    })
}

fn json_response(answer: Answer) -> Response {
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = (status, Body::from(answer.body.to_string())).into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}
