//! Tests of the MCP classifier: spans are offsets into `mcp_text` (`SERVER TOOL {json}`).
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use serde_json::json;

use super::*;
use crate::catalog::Catalog;

fn call(server: &str, tool: &str, arguments: Value) -> McpRequest {
    McpRequest {
        server: server.into(),
        tool: tool.into(),
        arguments,
    }
}

/// (rule, kind, target, span text, environment) of every action.
fn run(
    server: &str,
    tool: &str,
    arguments: Value,
) -> Vec<(String, RequestKind, String, String, Option<String>)> {
    let catalog = Catalog::embedded_with_examples().unwrap();
    let cx = Classifier::new(&catalog, None);
    let request = call(server, tool, arguments);
    let text = mcp_text(&request);
    classify_mcp(&cx, &request)
        .into_iter()
        .map(|a| {
            let span = a
                .evidence
                .span
                .and_then(|s| s.text(&text))
                .unwrap_or("<none>")
                .to_string();
            (a.evidence.rule, a.kind, a.target, span, a.environment)
        })
        .collect()
}

fn rules(server: &str, tool: &str, arguments: Value) -> Vec<String> {
    run(server, tool, arguments)
        .into_iter()
        .map(|a| a.0)
        .collect()
}

#[test]
fn destructive_tool_names() {
    let got = run("railway", "volume_delete", json!({"volumeId": "8a4c1f2e"}));
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].0.as_str(), got[0].2.as_str(), got[0].3.as_str()),
        ("MCP004", "railway volume_delete 8a4c1f2e", "volume_delete")
    );
    assert_eq!(
        rules("railway", "project_delete", json!({"projectId": "5e59"})),
        ["MCP003"]
    );
    assert_eq!(
        rules("neon", "delete_project", json!({"projectId": "damp-frost"})),
        ["MCP003"]
    );
    assert_eq!(
        rules("mongodb", "drop-database", json!({"database": "prod"})),
        ["MCP003"]
    );
    assert_eq!(
        rules(
            "cloudflare",
            "r2_bucket_delete",
            json!({"name": "acme-prod-uploads"})
        ),
        ["MCP003"]
    );
    assert_eq!(
        rules(
            "kubernetes",
            "resources_delete",
            json!({"kind": "Namespace", "name": "production"})
        ),
        ["MCP003"]
    );
    assert_eq!(
        rules(
            "kubernetes",
            "resources_delete",
            json!({"kind": "Pod", "name": "web-1"})
        ),
        ["MCP004"]
    );
    assert_eq!(rules("redis", "flushall", json!({})), ["MCP004"]);
    assert_eq!(
        rules("acme", "deleteOrganization", json!({"id": "o"})),
        ["MCP002"]
    );
}

#[test]
fn environment_from_arguments() {
    let got = run(
        "kubernetes",
        "helm_uninstall",
        json!({"name": "postgres", "namespace": "prod"}),
    );
    assert_eq!(
        (got[0].0.as_str(), got[0].4.as_deref()),
        ("MCP004", Some("production"))
    );
    assert_eq!(
        run("mongodb", "drop-database", json!({"database": "prod"}))[0]
            .4
            .as_deref(),
        Some("production")
    );
}

#[test]
fn bulk_deletes_need_a_filter() {
    let got = run(
        "mongodb",
        "delete-many",
        json!({"database": "shop", "collection": "orders", "filter": {}}),
    );
    assert_eq!(got.len(), 1);
    assert_eq!(
        (got[0].0.as_str(), got[0].2.as_str()),
        ("MCP001", "every document in shop.orders")
    );
    assert_eq!(
        rules("mongodb", "deleteMany", json!({"collection": "orders"})),
        ["MCP001"]
    );
    assert!(
        rules(
            "mongodb",
            "delete-many",
            json!({"database": "shop", "collection": "o", "filter": {"status": "x"}})
        )
        .is_empty()
    );
}

#[test]
fn reads_yield_nothing() {
    let cases = [
        (
            "github",
            "list_issues",
            json!({"owner": "acme", "repo": "api", "state": "open"}),
        ),
        (
            "github",
            "get_file_contents",
            json!({"owner": "acme", "repo": "api", "path": "README.md"}),
        ),
        (
            "github",
            "search_code",
            json!({"query": "volumeDelete repo:acme/infra"}),
        ),
        (
            "github",
            "search_issues",
            json!({"query": "delete old branches"}),
        ),
        (
            "supabase",
            "list_tables",
            json!({"project_id": "q", "schemas": ["public"]}),
        ),
        (
            "kubernetes",
            "pods_list_in_namespace",
            json!({"namespace": "prod"}),
        ),
        (
            "kubernetes",
            "resources_get",
            json!({"kind": "Deployment", "name": "api"}),
        ),
        ("railway", "volume_list", json!({"projectId": "5e59"})),
        (
            "neon",
            "describe_table_schema",
            json!({"projectId": "d", "tableName": "users"}),
        ),
        (
            "mongodb",
            "find",
            json!({"database": "shop", "collection": "orders", "filter": {"status": "failed"}}),
        ),
        (
            "filesystem",
            "list_directory",
            json!({"path": "/home/dev/projects/acme-api/src"}),
        ),
        (
            "filesystem",
            "read_file",
            json!({"path": "/home/dev/.ssh/id_rsa"}),
        ),
        ("github", "get_delete_status", json!({"id": 1})),
    ];
    for (server, tool, args) in cases {
        assert!(
            rules(server, tool, args.clone()).is_empty(),
            "{server} {tool} {args}"
        );
    }
}

#[test]
fn sql_detection_and_dialects() {
    assert!(looks_like_sql("DROP TABLE x"));
    assert!(looks_like_sql("  -- note\n/* x */ select 1"));
    assert!(looks_like_sql("(SELECT 1)"));
    assert!(!looks_like_sql("volumeDelete repo:acme/infra"));
    let request = call("supabase", "execute_sql", json!({}));
    let args = Map::new();
    let words = split_words("execute_sql");
    let c = Call {
        request: &request,
        args: &args,
        words: &words,
        json: "{}",
        at: 0,
        environment: None,
    };
    assert_eq!(c.dialect(), SqlDialect::Postgres);
    let request = call("mysql-prod", "query", json!({}));
    let c = Call {
        request: &request,
        ..c
    };
    assert_eq!(c.dialect(), SqlDialect::Mysql);
}

#[test]
fn argv_is_joined_with_quoting() {
    let words = argv(&json!([
        "psql",
        "-U",
        "postgres",
        "-c",
        "DROP DATABASE app"
    ]))
    .unwrap();
    assert_eq!(join_argv(&words), "psql -U postgres -c 'DROP DATABASE app'");
    assert!(argv(&json!(["a", {"b": 1}])).is_none());
}

#[test]
fn odd_command_arguments_ask() {
    let got = run(
        "desktop-commander",
        "execute_command",
        json!({"command": {"run": "rm -rf ~"}}),
    );
    assert_eq!(got[0].0, "ENG001");
    assert_eq!(got[0].3, r#"{"run":"rm -rf ~"}"#);
}

// The tests below exercise routing into the SQL, shell and file classifiers (written by other helpers);
// they check that an action of the right kind comes back with a span inside the routed argument.

#[test]
fn sql_arguments_go_to_the_sql_classifier() {
    let got = run(
        "supabase",
        "execute_sql",
        json!({"project_id": "q", "query": "DROP TABLE public.orders;"}),
    );
    assert!(
        got.iter()
            .any(|a| a.1 == RequestKind::Sql && "DROP TABLE public.orders;".contains(a.3.as_str())),
        "{got:?}"
    );
    let got = run(
        "neon",
        "run_sql",
        json!({"projectId": "d", "sql": "TRUNCATE users CASCADE;"}),
    );
    assert!(got.iter().any(|a| a.1 == RequestKind::Sql), "{got:?}");
    let got = run(
        "sqlite",
        "write_query",
        json!({"query": "DELETE FROM customers"}),
    );
    assert!(got.iter().any(|a| a.1 == RequestKind::Sql), "{got:?}");
    assert!(
        rules(
            "supabase",
            "execute_sql",
            json!({"query": "select count(*) from public.orders;"})
        )
        .is_empty()
    );
    assert!(
        rules(
            "sqlite",
            "read_query",
            json!({"query": "SELECT id FROM customers LIMIT 10"})
        )
        .is_empty()
    );
}

#[test]
fn command_arguments_go_to_the_shell_classifier() {
    let got = run(
        "desktop-commander",
        "execute_command",
        json!({"command": "rm -rf ~/projects"}),
    );
    assert!(
        got.iter()
            .any(|a| a.1 == RequestKind::Shell && "rm -rf ~/projects".contains(a.3.as_str())),
        "{got:?}"
    );
    let argv = json!(["psql", "-U", "postgres", "-c", "DROP DATABASE app"]);
    let got = run(
        "kubernetes",
        "pods_exec",
        json!({"name": "postgres-0", "namespace": "prod", "command": argv}),
    );
    assert!(!got.is_empty(), "{got:?}");
    let argv_text = argv.to_string();
    assert!(got.iter().all(|a| a.3 == argv_text), "{got:?}");
    let got = run(
        "aws",
        "call_aws",
        json!({"cli_command": "aws s3 rb s3://acme-prod-assets --force"}),
    );
    assert!(!got.is_empty(), "{got:?}");
    assert!(
        rules(
            "desktop-commander",
            "execute_command",
            json!({"command": "ls -la"})
        )
        .is_empty()
    );
}

#[test]
fn path_arguments_go_to_the_file_classifier() {
    let got = run(
        "filesystem",
        "write_file",
        json!({"path": "/home/dev/.aws/credentials", "content": ""}),
    );
    assert!(
        got.iter()
            .any(|a| a.1 == RequestKind::File && a.3 == "/home/dev/.aws/credentials"),
        "{got:?}"
    );
    let got = run(
        "filesystem",
        "move_file",
        json!({"source": "src/a.rs", "destination": "/home/dev/.ssh/authorized_keys"}),
    );
    assert!(
        got.iter()
            .any(|a| a.1 == RequestKind::File && a.3 == "/home/dev/.ssh/authorized_keys"),
        "{got:?}"
    );
    assert!(
        rules(
            "filesystem",
            "write_file",
            json!({"path": "src/main.rs", "content": "fn main() {}"})
        )
        .is_empty()
    );
}

#[test]
fn code_and_free_text_arguments() {
    let got = run(
        "python-runner",
        "run_python",
        json!({"code": "import shutil; shutil.rmtree('/home/dev')"}),
    );
    assert!(got.iter().any(|a| a.1 == RequestKind::Shell), "{got:?}");
    assert!(
        got.iter()
            .all(|a| a.3 == "import shutil; shutil.rmtree('/home/dev')"),
        "{got:?}"
    );
    assert!(
        rules(
            "python-runner",
            "run_python",
            json!({"code": "print(1 + 1)"})
        )
        .is_empty()
    );
    // Free text to a documentation search of a database server is not SQL.
    assert!(
        rules(
            "supabase",
            "search_docs",
            json!({"query": "delete a project safely"})
        )
        .is_empty()
    );
    // An editor's `view` sub-command reads; its `create` on a sensitive path writes.
    assert!(
        rules(
            "editor",
            "str_replace_based_edit_tool",
            json!({"command": "view", "path": "/home/dev/.ssh/config"})
        )
        .is_empty()
    );
    let got = run(
        "editor",
        "str_replace_based_edit_tool",
        json!({"command": "create", "path": "/home/dev/.ssh/authorized_keys", "file_text": "x"}),
    );
    assert!(
        got.iter()
            .any(|a| a.1 == RequestKind::File && a.3 == "/home/dev/.ssh/authorized_keys"),
        "{got:?}"
    );
}

#[test]
fn garbage_never_panics() {
    let catalog = Catalog::embedded_with_examples().unwrap();
    let cx = Classifier::new(&catalog, None);
    let deep = (0..200).fold(json!({}), |v, _| json!({"filter": v}));
    for arguments in [
        json!(null),
        json!("{\"query\": \"DROP\"}"),
        json!([1, 2]),
        json!({"command": [1, null]}),
        deep,
    ] {
        for tool in ["", "_", "delete", "ü_delete", "executeSQL"] {
            let _ = classify_mcp(&cx, &call("x", tool, arguments.clone()));
        }
    }
}
