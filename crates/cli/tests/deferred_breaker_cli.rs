//! End-to-end tests of `airlock deferred list|cancel` and `airlock breaker status|reset` with the real binary
//! and a fresh `$AIRLOCK_HOME` (SQLite) each. Deferred requests and breaker trips are seeded through the store
//! library, as `airlock serve` writes them. Cancelling needs no secret (it is the safe direction); resetting a
//! breaker needs an approver secret and refuses an agent token.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

use airlock_engine::{Engine, Envelope};
use airlock_store::{BreakerLimits, NewDeferred, ReplayRequest};

#[path = "support/home.rs"]
mod home;
use home::Home;

const BODY: &str = r#"{"query":"mutation { volumeDelete(volumeId: \"8a4c\") }"}"#;

fn new_deferred() -> NewDeferred {
    let envelope: Envelope = serde_json::from_value(serde_json::json!({
        "kind": "http",
        "method": "POST",
        "url": "https://backboard.railway.com/graphql/v2",
        "body": BODY,
        "agent": "claude",
        "environment": "production",
    }))
    .unwrap();
    let decision = Engine::new().unwrap().decide(&envelope);
    NewDeferred::new(
        "railway",
        ReplayRequest {
            method: "POST".into(),
            path: "/graphql/v2".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            body: BODY.as_bytes().to_vec(),
        },
        &envelope,
        &decision,
    )
}

#[test]
fn deferred_list_and_cancel() {
    let home = Home::new("deferred", "cancel");
    assert_eq!(
        home.ok(&["deferred", "list"], None).trim(),
        "no pending deferred requests"
    );
    let (first, second, secret) = home.store(async |store| {
        let first = store.defer(new_deferred(), 600_000).await.unwrap();
        let second = store.defer(new_deferred(), 1_200_000).await.unwrap();
        let (_, secret) = store.add_approver("alice").await.unwrap();
        (first.id, second.id, secret)
    });

    let table = home.ok(&["deferred", "list"], None);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    assert!(lines[1].starts_with(&first), "soonest first: {table}");
    assert!(lines[2].starts_with(&second), "{table}");
    assert!(
        lines[1].contains("pending") && lines[1].contains("claude") && lines[1].contains("railway"),
        "{table}"
    );
    assert!(
        lines[1].contains("(in 9m ") || lines[1].contains("(in 10m 0s)"),
        "{table}"
    );
    assert!(lines[1].contains("volumeDelete"), "{table}");

    let json: serde_json::Value =
        serde_json::from_str(&home.ok(&["deferred", "list", "--json"], None)).unwrap();
    let rows = json.as_array().unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["id"], first.as_str());
    assert_eq!(rows[0]["state"], "pending");
    assert_eq!(rows[0]["body_bytes"], BODY.len());
    assert_eq!(rows[0]["request"]["path"], "/graphql/v2");
    assert!(
        rows[0]["request"].get("body").is_none(),
        "the body is not printed: {json}"
    );

    // Anyone may cancel: no approver secret needed; recorded under the OS user.
    let out = home.ok(&["deferred", "cancel", &first], None);
    assert!(
        out.starts_with(&format!("cancelled {first}: it will not run")),
        "{out}"
    );
    let table = home.ok(&["deferred", "list"], None);
    assert!(
        !table.contains(&first) && table.contains(&second),
        "{table}"
    );
    let all = home.ok(&["deferred", "list", "--all"], None);
    let line = all.lines().find(|l| l.starts_with(&first)).unwrap();
    assert!(
        line.contains("cancelled") && line.contains("[cancelled by os-user:tester]"),
        "{all}"
    );

    let again = home.fails(&["deferred", "cancel", &first], None);
    assert!(
        again.contains("is cancelled and can no longer be cancelled"),
        "{again}"
    );
    let missing = home.fails(&["deferred", "cancel", "def_0000000000000000"], None);
    assert!(
        missing.contains("no deferred request `def_0000000000000000`"),
        "{missing}"
    );

    // With an approver secret, the approver's name is recorded; a wrong secret is an error, not anonymity.
    home.fails(&["deferred", "cancel", &second], Some("ala_nope_0000"));
    home.ok(&["deferred", "cancel", &second], Some(&secret));
    assert_eq!(
        home.ok(&["deferred", "list"], None).trim(),
        "no pending deferred requests"
    );

    let log = home.ok(&["log", "--json"], None);
    assert!(
        log.contains(&format!("cancelled {first} by os-user:tester")),
        "{log}"
    );
    assert!(
        log.contains(&format!("cancelled {second} by alice")),
        "{log}"
    );
    home.ok(&["log", "verify"], None);
    home.store(async |store| {
        let executed =
            airlock_store::run_due_deferred(&store, store.now_ms() + 3_600_000, |_| async {
                Ok((200, String::new()))
            })
            .await
            .unwrap();
        assert!(executed.is_empty(), "a cancelled request ran: {executed:?}");
    });
}

#[test]
fn breaker_status_and_reset_need_a_person() {
    let home = Home::new("deferred", "breaker");
    let (secret, token) = home.store(async |store| {
        for _ in 0..6 {
            store
                .record_destructive("claude", "railway", &BreakerLimits::default())
                .await
                .unwrap();
        }
        let (_, secret) = store.add_approver("alice").await.unwrap();
        let (_, token) = store
            .create_token("claude", &["railway".to_string()], None)
            .await
            .unwrap();
        (secret, token)
    });

    let status = home.ok(&["breaker", "status"], None);
    assert!(status.contains("more than 5 destructive requests from one agent, or more than 10 to one upstream, within 60 s"), "{status}");
    assert!(
        status.contains("TRIPPED  agent `claude` since "),
        "{status}"
    );
    assert!(
        status.contains("6 destructive requests within 60 s (limit 5)"),
        "{status}"
    );
    assert!(
        status.contains("reset with `airlock breaker reset --agent claude`"),
        "{status}"
    );
    assert!(
        status.contains("agent     claude                   6/5"),
        "{status}"
    );
    assert!(
        status.contains("upstream  railway                  6/10"),
        "{status}"
    );

    // No secret, or an agent's token as the secret: refused, and still tripped.
    let no_secret = home.fails(&["breaker", "reset", "--agent", "claude"], None);
    assert!(
        no_secret.contains("an approver secret is required"),
        "{no_secret}"
    );
    let agent = home.fails(&["breaker", "reset", "--agent", "claude"], Some(&token));
    assert!(
        agent.contains("an agent token can never approve"),
        "{agent}"
    );
    let out = home.airlock(&["breaker", "reset"], Some(&secret));
    assert_eq!(out.status.code(), Some(2), "a scope is required");
    assert!(home.ok(&["breaker", "status"], None).contains("TRIPPED"));

    let reset = home.ok(&["breaker", "reset", "--agent", "claude"], Some(&secret));
    assert!(
        reset.starts_with("reset the breaker of agent `claude` (tripped at "),
        "{reset}"
    );
    let status = home.ok(&["breaker", "status"], None);
    assert!(status.contains("no breaker is tripped"), "{status}");
    assert!(
        !status.contains("agent     claude"),
        "its count starts from zero: {status}"
    );
    let nothing = home.ok(
        &["breaker", "reset", "--upstream", "railway"],
        Some(&secret),
    );
    assert!(
        nothing.contains("upstream `railway`: nothing was tripped"),
        "{nothing}"
    );

    let json: serde_json::Value =
        serde_json::from_str(&home.ok(&["breaker", "status", "--json"], None)).unwrap();
    assert_eq!(json["tripped"].as_array().unwrap().len(), 0);
    assert_eq!(json["limits"]["per_agent"], 5);
    let log = home.ok(&["log", "--json"], None);
    assert!(log.contains("breaker reset by alice"), "{log}");

    // The library agrees: destructive requests pass again.
    home.store(async |store| {
        let verdict = store
            .record_destructive("claude", "railway", &BreakerLimits::default())
            .await
            .unwrap();
        assert!(!verdict.is_tripped(), "{verdict:?}");
    });
}

#[test]
fn breaker_limits_come_from_airlock_toml() {
    let home = Home::new("deferred", "limits");
    std::fs::write(
        home.0.join("airlock.toml"),
        "[breaker]\nper_agent = 2\nwindow_seconds = 30\n",
    )
    .unwrap();
    let status = home.ok(&["breaker", "status"], None);
    assert!(status.contains("more than 2 destructive requests from one agent, or more than 10 to one upstream, within 30 s"), "{status}");
    std::fs::write(home.0.join("airlock.toml"), "[breaker]\nper_agent = 0\n").unwrap();
    let err = home.fails(&["breaker", "status"], None);
    assert!(err.contains("`per_agent` must be at least 1"), "{err}");
}
