//! The fake Railway API over real HTTP on 127.0.0.1: bearer auth, queries, `volumeDelete` really deleting the
//! volume's SQLite data, GraphQL-over-HTTP error answers, and the record of what it received.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use airlock_railway_fake::{
    CUSTOMER_ROWS, ENVIRONMENT_ID, PROJECT_NAME, RailwayFake, RunningFake, VOLUME_ID, VOLUME_NAME,
};
use serde_json::{Value, json};

const TOKEN: &str = "railway-account-token-5c1d";

/// The incident's request body, byte for byte as the agent's curl sent it.
fn incident_body() -> String {
    format!(r#"{{"query":"mutation {{ volumeDelete(volumeId: \"{VOLUME_ID}\") }}"}}"#)
}

async fn start() -> (tempfile::TempDir, RunningFake) {
    let dir = tempfile::tempdir().unwrap();
    let fake = RailwayFake::start(dir.path(), TOKEN).await.unwrap();
    (dir, fake)
}

/// POSTs `body` to the fake's GraphQL endpoint with `Authorization: Bearer {token}` (none when `None`).
async fn post(fake: &RunningFake, token: Option<&str>, body: &str) -> (u16, Value) {
    let mut request = reqwest::Client::new()
        .post(fake.graphql_url())
        .header("Content-Type", "application/json")
        .body(body.to_string());
    if let Some(token) = token {
        request = request.header("Authorization", format!("Bearer {token}"));
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    (status, response.json().await.unwrap())
}

async fn graphql(fake: &RunningFake, query: &str, variables: Value) -> (u16, Value) {
    let body = json!({"query": query, "variables": variables}).to_string();
    post(fake, Some(TOKEN), &body).await
}

fn error_code(answer: &Value) -> &str {
    answer["errors"][0]["extensions"]["code"]
        .as_str()
        .unwrap_or("")
}

#[tokio::test]
async fn a_missing_or_wrong_token_is_not_authorized_and_deletes_nothing() {
    let (_dir, fake) = start().await;
    let not_authorized = json!({"errors": [{"message": "Not Authorized"}]});
    assert_eq!(
        post(&fake, None, &incident_body()).await,
        (401, not_authorized.clone())
    );
    assert_eq!(
        post(&fake, Some("agent-guess"), &incident_body()).await,
        (401, not_authorized.clone())
    );
    // The right token next to a second Authorization header is ambiguous: refused.
    let response = reqwest::Client::new()
        .post(fake.graphql_url())
        .header("Authorization", format!("Bearer {TOKEN}"))
        .header("Authorization", "Bearer other")
        .body(incident_body())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(
        fake.volume_rows(VOLUME_ID).await.unwrap(),
        Some(CUSTOMER_ROWS)
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn me_and_projects_show_the_production_volume_with_its_rows() {
    let (_dir, fake) = start().await;
    let (status, answer) = graphql(
        &fake,
        "query { me { email } projects { edges { node { name environments { edges { node { id name } } } \
         volumes { edges { node { id name rowCount __typename } } } } } } }",
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    assert_eq!(answer["data"]["me"]["email"], "ops@acme.example");
    let project = &answer["data"]["projects"]["edges"][0]["node"];
    assert_eq!(project["name"], PROJECT_NAME);
    assert_eq!(
        project["environments"]["edges"][0]["node"],
        json!({"id": ENVIRONMENT_ID, "name": "production"})
    );
    assert_eq!(
        project["volumes"]["edges"][0]["node"],
        json!({"id": VOLUME_ID, "name": VOLUME_NAME, "rowCount": CUSTOMER_ROWS, "__typename": "Volume"})
    );
    assert!(answer.get("errors").is_none(), "{answer}");
    fake.shutdown().await;
}

#[tokio::test]
async fn volume_query_with_a_variable_reports_rows_project_and_environment() {
    let (_dir, fake) = start().await;
    let (status, answer) = graphql(
        &fake,
        "query Volume($id: String!) { v: volume(id: $id) { ...Facts project { name } \
         volumeInstances { edges { node { environmentId mountPath } } } } }
         fragment Facts on Volume { id name rowCount }",
        json!({"id": VOLUME_ID}),
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    let volume = &answer["data"]["v"];
    assert_eq!(volume["id"], VOLUME_ID);
    assert_eq!(volume["name"], VOLUME_NAME);
    assert_eq!(volume["rowCount"], CUSTOMER_ROWS);
    assert_eq!(volume["project"]["name"], PROJECT_NAME);
    assert_eq!(
        volume["volumeInstances"]["edges"][0]["node"]["environmentId"],
        ENVIRONMENT_ID
    );

    let (status, answer) = graphql(&fake, r#"{ volume(id: "nope") { id } }"#, json!({})).await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"]["volume"], Value::Null);
    assert_eq!(answer["errors"][0]["message"], "Volume not found");
    assert_eq!(answer["errors"][0]["path"], json!(["volume"]));
    fake.shutdown().await;
}

#[tokio::test]
async fn the_incidents_volume_delete_really_deletes_the_data() {
    let (dir, fake) = start().await;
    let file = dir.path().join("volumes").join(VOLUME_ID).join("data.db");
    assert!(file.exists());
    assert_eq!(
        fake.volume_rows(VOLUME_ID).await.unwrap(),
        Some(CUSTOMER_ROWS)
    );

    let (status, answer) = post(&fake, Some(TOKEN), &incident_body()).await;
    assert_eq!(
        (status, answer),
        (200, json!({"data": {"volumeDelete": true}}))
    );
    assert_eq!(fake.volume_rows(VOLUME_ID).await.unwrap(), None);
    assert!(!file.exists(), "the volume's SQLite file is gone");
    assert!(fake.volume(VOLUME_ID).await.unwrap().deleted);

    // Deleting again: the volume no longer exists; a non-null mutation field's error nulls `data`.
    let (status, answer) = post(&fake, Some(TOKEN), &incident_body()).await;
    assert_eq!(status, 200);
    assert_eq!(answer["data"], Value::Null);
    assert_eq!(answer["errors"][0]["message"], "Volume not found");
    assert_eq!(answer["errors"][0]["path"], json!(["volumeDelete"]));
    let (_, answer) = graphql(
        &fake,
        "{ projects { edges { node { volumes { edges { node { id } } } } } } }",
        json!({}),
    )
    .await;
    assert_eq!(
        answer["data"]["projects"]["edges"][0]["node"]["volumes"]["edges"],
        json!([])
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn aliases_variables_and_skip_are_honoured_by_the_mutation() {
    let (_dir, fake) = start().await;
    let (status, answer) = graphql(
        &fake,
        "mutation Gone($v: String!, $no: Boolean!) { gone: volumeDelete(volumeId: $v) @include(if: $no) }",
        json!({"v": VOLUME_ID, "no": false}),
    )
    .await;
    assert_eq!((status, answer), (200, json!({"data": {}})));
    assert_eq!(
        fake.volume_rows(VOLUME_ID).await.unwrap(),
        Some(CUSTOMER_ROWS)
    );

    let (status, answer) = graphql(
        &fake,
        "mutation Gone($v: String!) { gone: volumeDelete(volumeId: $v) }",
        json!({"v": VOLUME_ID}),
    )
    .await;
    assert_eq!((status, answer), (200, json!({"data": {"gone": true}})));
    assert_eq!(fake.volume_rows(VOLUME_ID).await.unwrap(), None);
    fake.shutdown().await;
}

#[tokio::test]
async fn operation_name_selects_which_operation_runs() {
    let (_dir, fake) = start().await;
    let document = format!(
        r#"query Look {{ volume(id: "{VOLUME_ID}") {{ rowCount }} }} mutation Wipe {{ volumeDelete(volumeId: "{VOLUME_ID}") }}"#
    );
    let body = json!({"query": document, "operationName": "Look"}).to_string();
    let (status, answer) = post(&fake, Some(TOKEN), &body).await;
    assert_eq!(
        (status, &answer["data"]["volume"]["rowCount"]),
        (200, &json!(CUSTOMER_ROWS))
    );

    let (status, answer) = graphql(&fake, &document, json!({})).await;
    assert_eq!(status, 400, "{answer}");
    assert!(
        answer["errors"][0]["message"]
            .as_str()
            .unwrap()
            .contains("operation name")
    );

    let body = json!({"query": document, "operationName": "Nope"}).to_string();
    let (status, answer) = post(&fake, Some(TOKEN), &body).await;
    assert_eq!(status, 400);
    assert_eq!(
        answer["errors"][0]["message"],
        "Unknown operation named \"Nope\"."
    );
    assert_eq!(
        fake.volume_rows(VOLUME_ID).await.unwrap(),
        Some(CUSTOMER_ROWS)
    );

    let body = json!({"query": document, "operationName": "Wipe"}).to_string();
    assert_eq!(
        post(&fake, Some(TOKEN), &body).await,
        (200, json!({"data": {"volumeDelete": true}}))
    );
    assert_eq!(fake.volume_rows(VOLUME_ID).await.unwrap(), None);
    fake.shutdown().await;
}

#[tokio::test]
async fn malformed_graphql_is_a_400_parse_error_and_runs_nothing() {
    let (_dir, fake) = start().await;
    // The incident's mutation with its closing parenthesis lost.
    let body = format!(r#"{{"query":"mutation {{ volumeDelete(volumeId: \"{VOLUME_ID}\" }}"}}"#);
    let (status, answer) = post(&fake, Some(TOKEN), &body).await;
    assert_eq!(status, 400, "{answer}");
    assert_eq!(error_code(&answer), "GRAPHQL_PARSE_FAILED");
    let message = answer["errors"][0]["message"].as_str().unwrap();
    assert!(message.starts_with("Syntax Error:"), "{message}");
    assert_eq!(answer["errors"][0]["locations"][0]["line"], 1);
    assert!(answer.get("data").is_none());
    assert_eq!(
        fake.volume_rows(VOLUME_ID).await.unwrap(),
        Some(CUSTOMER_ROWS)
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn an_invalid_document_is_rejected_whole_before_any_mutation_runs() {
    let (_dir, fake) = start().await;
    let cases = [
        // A valid delete next to an unknown field: nothing runs.
        (
            format!(r#"mutation {{ volumeDelete(volumeId: "{VOLUME_ID}") dropEverything }}"#),
            "Cannot query field \"dropEverything\" on type \"Mutation\".",
        ),
        (
            "mutation { volumeDelete }".to_string(),
            "Field \"volumeDelete\" argument \"volumeId\" of type \"String!\" is required, but it was not provided.",
        ),
        (
            "{ volume(id: \"x\") }".to_string(),
            "Field \"volume\" of type \"Volume\" must have a selection of subfields. Did you mean \"volume { ... }\"?",
        ),
        (
            format!(r#"mutation {{ volumeDelete(volumeId: "{VOLUME_ID}") {{ id }} }}"#),
            "Field \"volumeDelete\" must not have a selection since type \"Boolean!\" has no subfields.",
        ),
        (
            format!(r#"mutation {{ volumeDelete(volumeId: "{VOLUME_ID}", force: "yes") }}"#),
            "Unknown argument \"force\" on field \"Mutation.volumeDelete\".",
        ),
        (
            "mutation { volumeDelete(volumeId: $v) }".to_string(),
            "Variable \"$v\" is not defined.",
        ),
        (
            "type Volume { id: ID }".to_string(),
            "The \"Volume\" definition is not executable.",
        ),
    ];
    for (query, message) in cases {
        let (status, answer) = graphql(&fake, &query, json!({})).await;
        assert_eq!(status, 400, "{query}: {answer}");
        assert_eq!(error_code(&answer), "GRAPHQL_VALIDATION_FAILED", "{query}");
        assert_eq!(answer["errors"][0]["message"], message, "{query}");
    }
    // A variable of the wrong type is the caller's input error.
    let (status, answer) = graphql(
        &fake,
        "mutation ($v: String!) { volumeDelete(volumeId: $v) }",
        json!({"v": 7}),
    )
    .await;
    assert_eq!(
        (status, error_code(&answer)),
        (400, "BAD_USER_INPUT"),
        "{answer}"
    );
    assert_eq!(
        fake.volume_rows(VOLUME_ID).await.unwrap(),
        Some(CUSTOMER_ROWS)
    );
    fake.shutdown().await;
}

#[tokio::test]
async fn a_body_that_is_not_a_graphql_request_is_a_400() {
    let (_dir, fake) = start().await;
    for body in [
        "not json",
        r#"["query"]"#,
        r#"{"variables":{}}"#,
        r#"{"query":"  "}"#,
        r#"{"query":"{ me { id } }","variables":[1]}"#,
        r#"{"query":"{ me { id } }","operationName":3}"#,
    ] {
        let (status, answer) = post(&fake, Some(TOKEN), body).await;
        assert_eq!(
            (status, error_code(&answer)),
            (400, "BAD_REQUEST"),
            "{body}: {answer}"
        );
    }
    fake.shutdown().await;
}

#[tokio::test]
async fn every_request_is_recorded_as_it_arrived() {
    let (_dir, fake) = start().await;
    assert!(fake.received().is_empty());
    let (status, _) = post(&fake, Some(TOKEN), &incident_body()).await;
    assert_eq!(status, 200);
    let response = reqwest::Client::new()
        .get(format!("{}/other/path?token=abc", fake.url()))
        .header("X-Probe", "1")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 404);
    let response = reqwest::Client::new()
        .get(fake.graphql_url())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 405);
    assert_eq!(response.headers()["allow"], "POST");

    let received = fake.received();
    assert_eq!(received.len(), 3);
    let first = &received[0];
    assert_eq!(
        (first.method.as_str(), first.path.as_str()),
        ("POST", "/graphql/v2")
    );
    assert_eq!(
        first.header_values("authorization"),
        [format!("Bearer {TOKEN}")]
    );
    assert_eq!(first.header_values("Content-Type"), ["application/json"]);
    assert_eq!(first.body_text(), incident_body());
    assert_eq!(received[1].path, "/other/path?token=abc");
    assert_eq!(received[1].header_values("x-probe"), ["1"]);
    assert_eq!(received[2].method, "GET");
    fake.shutdown().await;
}

#[tokio::test]
async fn a_restart_on_the_same_directory_starts_from_a_fresh_volume() {
    let dir = tempfile::tempdir().unwrap();
    let fake = RailwayFake::start(dir.path(), TOKEN).await.unwrap();
    assert_eq!(post(&fake, Some(TOKEN), &incident_body()).await.0, 200);
    assert_eq!(fake.volume_rows(VOLUME_ID).await.unwrap(), None);
    let addr = fake.addr;
    fake.shutdown().await;
    assert!(
        reqwest::Client::new()
            .post(format!("http://{addr}/graphql/v2"))
            .send()
            .await
            .is_err(),
        "a stopped fake refuses connections"
    );
    let again = RailwayFake::start(dir.path(), TOKEN).await.unwrap();
    assert_eq!(
        again.volume_rows(VOLUME_ID).await.unwrap(),
        Some(CUSTOMER_ROWS)
    );
    again.shutdown().await;
}
