//! End-to-end tests of the store commands of the `airlock` binary with a fresh `$AIRLOCK_HOME` (SQLite) each:
//! `log` (table, `--json`, filters), `log verify` / `log head` (including a tampered entry and a cut tail),
//! `token`, `approver` and `approvals` with and without an approver secret. Records and approvals are seeded
//! through the store library, as hooks and the gateway will write them.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

use airlock_engine::{Decision, Envelope, Mitigation, Reason, Verdict};
use airlock_store::{ApprovalOptions, AuditRecord};

#[path = "support/home.rs"]
mod home;
use home::Home;

/// Raw SQL on the database file, as someone rewriting history would run it.
fn raw(home: &Home, sql: &str) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        use sqlx::Connection as _;
        let mut conn = sqlx::SqliteConnection::connect(&home.url()).await.unwrap();
        sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
    });
}

fn envelope(command: &str, agent: &str) -> Envelope {
    serde_json::from_value(serde_json::json!({"kind": "shell", "command": command, "agent": agent}))
        .unwrap()
}

fn decision(verdict: Verdict) -> Decision {
    Decision {
        verdict,
        reasons: vec![Reason {
            rule: "SHF001".into(),
            policy: "p".into(),
            message: "rm-recursive".into(),
            span: None,
        }],
        actions: vec![],
        mitigation: Mitigation::None,
    }
}

fn seed_log(home: &Home) {
    home.store(async |store| {
        for i in 0..10 {
            let (agent, verdict) = match i % 3 {
                0 => ("claude", Verdict::Allow),
                1 => ("cursor", Verdict::Ask),
                _ => ("claude", Verdict::Deny),
            };
            let command = format!("mysql --password=hunter{i} -e 'drop table t{i}'");
            store
                .append(AuditRecord::new(
                    &envelope(&command, agent),
                    &decision(verdict),
                    "held",
                ))
                .await
                .unwrap();
        }
    });
}

#[test]
fn log_lists_filters_and_never_shows_secrets() {
    let home = Home::new("store", "log");
    assert!(home.ok(&["log"], None).contains("no audit entries"));
    seed_log(&home);
    let table = home.ok(&["log"], None);
    assert!(
        table.lines().next().unwrap().contains("DECISION"),
        "{table}"
    );
    assert_eq!(table.lines().count(), 11, "{table}");
    assert!(!table.contains("hunter"), "{table}");
    let json = home.ok(&["log", "--json", "--agent", "cursor"], None);
    let rows: Vec<serde_json::Value> = json
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r["agent"] == "cursor" && r["decision"] == "ask")
    );
    assert!(
        rows[0]["hash"].as_str().unwrap().len() == 64 && rows[0]["reasons"][0]["rule"] == "SHF001"
    );
    let denies = home.ok(
        &["log", "--json", "--decision", "deny", "--limit", "2"],
        None,
    );
    let seqs: Vec<i64> = denies
        .lines()
        .map(|l| {
            serde_json::from_str::<serde_json::Value>(l).unwrap()["seq"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, vec![6, 9]);
    assert_eq!(
        home.ok(&["log", "--json", "--since", "1h"], None)
            .lines()
            .count(),
        10
    );
    assert_eq!(
        home.ok(&["log", "--json", "--since", "2999-01-01"], None)
            .lines()
            .count(),
        0
    );
    assert!(
        home.fails(&["log", "--since", "last tuesday"], None)
            .contains("invalid time `last tuesday`")
    );
}

#[test]
fn log_verify_and_head_prove_the_chain_and_name_the_bad_entry() {
    let home = Home::new("store", "verify");
    seed_log(&home);
    let head = home.ok(&["log", "head"], None);
    let (count, hash) = head.trim().split_once(' ').unwrap();
    assert_eq!(count, "10");
    let ok = home.ok(&["log", "verify", "--head", hash], None);
    assert_eq!(ok.trim(), format!("ok: 10 entries, head {hash}"));
    let json: serde_json::Value =
        serde_json::from_str(&home.ok(&["log", "head", "--json"], None)).unwrap();
    assert_eq!(json["hash"], hash);

    // Cut the tail: plain verify passes, verify against the anchor names the cut.
    raw(
        &home,
        "DROP TRIGGER audit_log_no_update; DROP TRIGGER audit_log_no_delete; DELETE FROM audit_log WHERE seq > 8;",
    );
    home.ok(&["log", "verify"], None);
    let err = home.fails(&["log", "verify", "--head", hash], None);
    assert!(
        err.contains("is not in the log, which ends at entry #8"),
        "{err}"
    );

    // Change one field of one entry.
    raw(
        &home,
        "UPDATE audit_log SET decision = 'allow' WHERE seq = 5;",
    );
    let err = home.fails(&["log", "verify"], None);
    assert!(err.contains("entry #5 was altered"), "{err}");
    assert!(err.contains("4 entries before it verify"), "{err}");
}

#[test]
fn tokens_are_printed_once_listed_and_revoked() {
    let home = Home::new("store", "token");
    let token = home.ok(
        &[
            "token",
            "create",
            "ci-bot",
            "--scope",
            "railway,github",
            "--expires",
            "30d",
        ],
        None,
    );
    let token = token.trim();
    assert!(token.starts_with("alt_") && token.len() == 68, "{token}");
    let list = home.ok(&["token", "list"], None);
    assert!(
        list.contains("ci-bot") && list.contains("active") && list.contains("railway,github"),
        "{list}"
    );
    assert!(!list.contains(token));
    let json: serde_json::Value =
        serde_json::from_str(&home.ok(&["token", "list", "--json"], None)).unwrap();
    assert_eq!(json[0]["name"], "ci-bot");
    assert_eq!(json[0]["scopes"], serde_json::json!(["railway", "github"]));
    assert!(!json.to_string().contains(token));
    assert!(
        home.fails(&["token", "create", "ci-bot"], None)
            .contains("already used")
    );
    assert!(
        home.fails(&["token", "create", "x", "--expires", "soon"], None)
            .contains("invalid duration `soon`")
    );
    home.ok(&["token", "revoke", "ci-bot"], None);
    assert!(home.ok(&["token", "list"], None).contains("revoked"));
    assert!(
        home.fails(&["token", "revoke", "ghost"], None)
            .contains("no agent token named `ghost`")
    );
}

#[test]
fn approvals_need_an_approver_secret_and_decide_exactly_once() {
    let home = Home::new("store", "approvals");
    let alice = home
        .ok(&["approver", "add", "alice"], None)
        .trim()
        .to_string();
    assert!(alice.starts_with("ala_"));
    // Once there is an approver, only an approver can add another.
    assert!(
        home.fails(&["approver", "add", "mallory"], None)
            .contains("approver secret is required")
    );
    let bob = home
        .ok(&["approver", "add", "bob"], Some(&alice))
        .trim()
        .to_string();
    let token = home
        .ok(&["token", "create", "claude"], None)
        .trim()
        .to_string();

    let req = envelope("rm -rf ~/projects/app", "claude");
    let (one, two) = home.store(async |store| {
        let one = store
            .create_approval(&req, &decision(Verdict::Ask), ApprovalOptions::default())
            .await
            .unwrap();
        let two = store
            .create_approval(
                &req,
                &decision(Verdict::Ask),
                ApprovalOptions {
                    required: 2,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        (one.id, two.id)
    });

    // No secret, a wrong secret, an agent token: refused, with a message saying why.
    assert!(
        home.fails(&["approvals", "list"], None)
            .contains("AIRLOCK_APPROVER_SECRET")
    );
    assert!(
        home.fails(&["approvals", "approve", &one], None)
            .contains("approver secret is required")
    );
    assert!(
        home.fails(&["approvals", "approve", &one], Some("ala_00000000_nope"))
            .contains("not a valid approver secret")
    );
    assert!(
        home.fails(&["approvals", "approve", &one], Some(&token))
            .contains("an agent token can never approve")
    );

    let list = home.ok(&["approvals", "list"], Some(&alice));
    assert!(
        list.contains(&one) && list.contains(&two) && list.contains("0/2"),
        "{list}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&home.ok(&["approvals", "list", "--json"], Some(&alice))).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);
    let shown = home.ok(&["approvals", "show", &one], Some(&bob));
    assert!(
        shown.contains("rm -rf ~/projects/app")
            && shown.contains("pending")
            && shown.contains("SHF001"),
        "{shown}"
    );

    assert!(
        home.ok(&["approvals", "approve", &one], Some(&alice))
            .contains("approved")
    );
    assert!(
        home.fails(&["approvals", "approve", &one], Some(&bob))
            .contains("is approved, not pending")
    );
    // Two-person rule through the CLI.
    assert!(
        home.ok(&["approvals", "approve", &two], Some(&alice))
            .contains("waiting for another approver")
    );
    assert!(
        home.fails(&["approvals", "approve", &two], Some(&alice))
            .contains("already decided")
    );
    assert!(
        home.ok(&["approvals", "approve", &two], Some(&bob))
            .contains("approved")
    );

    let three = home.store(async |store| {
        store
            .create_approval(&req, &decision(Verdict::Ask), ApprovalOptions::default())
            .await
            .unwrap()
            .id
    });
    assert!(
        home.fails(&["approvals", "deny", &three], Some(&bob))
            .contains("--reason")
    );
    assert!(
        home.ok(
            &["approvals", "deny", &three, "--reason", "wrong project"],
            Some(&bob)
        )
        .contains("denied")
    );
    let shown: serde_json::Value =
        serde_json::from_str(&home.ok(&["approvals", "show", &three, "--json"], Some(&alice)))
            .unwrap();
    assert_eq!(shown["state"], "denied");
    assert_eq!(shown["deny_reason"], "wrong project");
    assert!(
        home.ok(&["approvals", "list"], Some(&alice))
            .contains("no pending approvals")
    );
    assert_eq!(
        home.ok(&["approvals", "list", "--all"], Some(&alice))
            .lines()
            .count(),
        4
    );

    // The approved request runs once, exactly as approved.
    home.store(async |store| {
        store.consume(&one, &req).await.unwrap();
        assert!(store.consume(&one, &req).await.is_err());
    });
}

#[test]
fn a_corrupt_database_is_reported_and_left_alone() {
    let home = Home::new("store", "corrupt");
    let path = home.0.join("airlock.db");
    std::fs::write(
        &path,
        b"not a database at all, just some bytes in a file".repeat(50),
    )
    .unwrap();
    let before = std::fs::read(&path).unwrap();
    let err = home.fails(&["log"], None);
    assert!(
        err.contains("is corrupt or not an SQLite database"),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    // A configured PostgreSQL that is down is an error too, not a silent fallback to SQLite.
    std::fs::write(
        home.0.join("airlock.toml"),
        "database_url = \"postgres://airlock@127.0.0.1:1/airlock\"\n",
    )
    .unwrap();
    let err = home.fails(&["log", "verify"], None);
    assert!(
        err.contains("cannot open database `postgres://airlock@127.0.0.1:1/airlock`"),
        "{err}"
    );
}
