//! Tests of the GraphQL classifier: spans are offsets into the document.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::json;

use super::*;
use crate::catalog::Catalog;

fn run(
    doc: &str,
    op: Option<&str>,
    vars: Option<Value>,
    host: &str,
) -> Vec<(String, String, String)> {
    let catalog = Catalog::embedded_with_examples().unwrap();
    let cx = Classifier::new(&catalog, None);
    classify_graphql(&cx, doc, op, vars.as_ref(), Some(host))
        .into_iter()
        .map(|a| {
            let span = a
                .evidence
                .span
                .and_then(|s| s.text(doc))
                .unwrap_or("<none>")
                .to_string();
            (a.evidence.rule, a.target, span)
        })
        .collect()
}

const RAILWAY: &str = "backboard.railway.com";

#[test]
fn incident_volume_delete_with_variables() {
    let doc = "mutation volumeDelete($volumeId: String!) { volumeDelete(volumeId: $volumeId) }";
    let got = run(
        doc,
        Some("volumeDelete"),
        Some(json!({"volumeId": "8a4c1f2e"})),
        RAILWAY,
    );
    assert_eq!(
        got,
        [(
            "RWY001".into(),
            "volume 8a4c1f2e".into(),
            "volumeDelete(volumeId: $volumeId)".into()
        )]
    );
}

#[test]
fn alias_does_not_hide_the_field_name() {
    let doc = r#"mutation { keep: volumeDelete(volumeId: "v1") other: projectDelete(id: "p1") }"#;
    let got = run(doc, None, None, RAILWAY);
    assert_eq!(got.len(), 2);
    assert_eq!(
        got[0],
        (
            "RWY001".into(),
            "volume v1".into(),
            r#"volumeDelete(volumeId: "v1")"#.into()
        )
    );
    assert_eq!(got[1].0, "RWY002");
}

#[test]
fn operation_name_selects_one_operation() {
    let doc = r#"query Q { me { id } } mutation M { volumeDelete(volumeId: "v") }"#;
    assert!(run(doc, Some("Q"), None, RAILWAY).is_empty());
    assert_eq!(run(doc, Some("M"), None, RAILWAY).len(), 1);
    // No name with several operations: judge them all.
    assert_eq!(run(doc, None, None, RAILWAY).len(), 1);
    // A name matching nothing: judge them all (fail closed).
    assert_eq!(run(doc, Some("Nope"), None, RAILWAY).len(), 1);
}

#[test]
fn fragments_spread_into_a_mutation_are_followed() {
    let doc = r#"mutation { ...Wipe } fragment Wipe on Mutation { ... on Mutation { volumeDelete(volumeId: "v") } }"#;
    let got = run(doc, None, None, RAILWAY);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].2, r#"volumeDelete(volumeId: "v")"#);
    // A fragment that spreads itself does not loop.
    let cyclic = "mutation { ...A } fragment A on Mutation { ...A projectDelete(id: \"p\") }";
    assert_eq!(run(cyclic, None, None, RAILWAY).len(), 1);
}

#[test]
fn queries_subscriptions_and_introspection_are_reads() {
    for doc in [
        "query { me { name email } }",
        "{ project(id: \"x\") { volumes { edges { node { id } } } } }",
        "subscription { deploymentLogs(deploymentId: \"d\") { message } }",
        "query { __schema { mutationType { fields { name } } } }",
        "query { deleteRequests { id } }",
    ] {
        assert!(run(doc, None, None, RAILWAY).is_empty(), "{doc}");
    }
}

#[test]
fn generic_names_split_into_words() {
    let host = "api.example.com";
    assert_eq!(
        run(
            "mutation { deleteRef(input: {refId: \"r\"}) { ok } }",
            None,
            None,
            host
        )[0]
        .0,
        "GQL005"
    );
    assert_eq!(
        run(
            "mutation { delete_orders(where: {}) { affected_rows } }",
            None,
            None,
            host
        )[0]
        .0,
        "GQL002"
    );
    assert_eq!(
        run("mutation { projectRemove(id: 1) }", None, None, host)[0].0,
        "GQL004"
    );
    assert!(
        run(
            "mutation { updateDeletedFlag(id: 1) { ok } }",
            None,
            None,
            host
        )
        .is_empty()
    );
    assert!(run("mutation { createRemoval(id: 1) { ok } }", None, None, host).is_empty());
    assert!(
        run(
            "mutation { delete_orders(where: {id: {_eq: 1}}) { affected_rows } }",
            None,
            None,
            host
        )
        .is_empty()
    );
    // Nested result fields are not mutations.
    assert!(
        run(
            "mutation { createUser(name: \"x\") { deletedAt removeLink } }",
            None,
            None,
            host
        )
        .is_empty()
    );
}

#[test]
fn where_resolved_from_variables() {
    let doc = "mutation D($w: orders_bool_exp!) { delete_orders(where: $w) { affected_rows } }";
    let scoped = run(
        doc,
        None,
        Some(json!({"w": {"id": {"_eq": 3}}})),
        "h.example.com",
    );
    assert!(scoped.is_empty());
    let unscoped = run(doc, None, Some(json!({"w": {}})), "h.example.com");
    assert_eq!(unscoped[0].0, "GQL002");
    assert_eq!(unscoped[0].2, "delete_orders(where: $w)");
}

#[test]
fn unparseable_documents_ask() {
    for doc in [
        "mutation { volumeDelete(volumeId: \"x\" }",
        "mutation {",
        "}}}}",
        "query { a(b: \"\\q\") }",
    ] {
        let got = run(doc, None, None, RAILWAY);
        assert_eq!(got.len(), 1, "{doc}");
        assert_eq!(got[0].0, "GQL001");
        assert_eq!(got[0].2, doc);
    }
}

#[test]
fn garbage_never_panics() {
    let deep = format!(
        "mutation {{ {}x{} }}",
        "a(b: [".repeat(500),
        "])".repeat(500)
    );
    let many = format!("mutation {{ {} }}", "deleteX(id: 1) ".repeat(5000));
    for doc in [
        "",
        "\u{0}\u{1}",
        "\"\"\"",
        "mutation { a(b: \"\\u12\") }",
        deep.as_str(),
        many.as_str(),
    ] {
        let _ = run(doc, None, Some(json!([1, 2])), RAILWAY);
    }
}

#[test]
fn string_unescape() {
    assert_eq!(unescape(r#""a\"b\u0041\n""#), "a\"bA\n");
    assert_eq!(unescape(r#""""block "quote" """"#), "block \"quote\" ");
    assert_eq!(unescape(r#""bad \u12""#), "bad \u{12}");
}

#[test]
fn always_true_where_counts_as_unscoped() {
    let doc = "mutation D($w: orders_bool_exp!) { delete_orders(where: $w) { affected_rows } }";
    for every_row in [
        json!({"id": {"_gt": 0}}),
        json!({"id": {"_is_null": false}}),
        json!({"_and": [{"order_id": {"_gte": 1}}]}),
        json!({"name": {"_like": "%"}}),
    ] {
        let found = run(doc, None, Some(json!({"w": every_row})), "h.example.com");
        assert_eq!(
            found.first().map(|f| f.0.as_str()),
            Some("GQL002"),
            "{every_row}"
        );
    }
    for scoped in [
        json!({"id": {"_gt": 100}}),
        json!({"deleted_at": {"_neq": "2024-01-01"}}),
        json!({"status": {"_is_null": false}}),
        json!({"id": {"_gt": 0}, "user_id": {"_eq": 7}}),
    ] {
        let found = run(doc, None, Some(json!({"w": scoped})), "h.example.com");
        assert!(found.is_empty(), "{scoped}");
    }
}
