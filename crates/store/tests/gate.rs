//! The gate with the real engine on real databases: allow and deny are audited as such; an `ask` is held once
//! per identical request (retries reuse the pending approval), runs exactly once after a person approves, and a
//! request differing in one byte or from another project is not covered; waiting for a decision ends when a
//! person decides or the timeout passes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::string_slice
)]

#[macro_use]
mod support;

use std::sync::Arc;
use std::time::Duration;

use airlock_engine::{Engine, Envelope, Verdict};
use airlock_store::{ApprovalState, Gate, Settled};
use support::TestDb;

on_both!(
    allow_and_deny_are_audited,
    ask_is_held_then_runs_once_after_approval,
    wait_for_decision_sees_the_vote_or_times_out,
);

const INCIDENT: &str = r#"curl -X POST https://backboard.railway.com/graphql/v2 -H "Authorization: Bearer rw_secret_123456" -d '{"query":"mutation { volumeDelete(volumeId: \"8a4c\") }"}'"#;

fn shell(command: &str, cwd: &str) -> Envelope {
    serde_json::from_value(serde_json::json!({
        "kind": "shell", "command": command, "agent": "claude-code", "session": "s1", "cwd": cwd
    }))
    .unwrap()
}

fn gate(db: &TestDb) -> Gate {
    Gate::new(Arc::new(Engine::new().unwrap()), db.store.clone())
}

async fn allow_and_deny_are_audited(db: TestDb) {
    let gate = gate(&db);
    let ls = gate.judge(&shell("ls -la", "/work/p")).await.unwrap();
    assert!(matches!(ls.settled, Settled::Allow), "{ls:?}");
    assert_eq!(ls.audit.outcome, "allowed");
    assert_eq!(ls.audit.decision, "allow");
    let wipe = gate.judge(&shell("rm -rf ~", "/work/p")).await.unwrap();
    assert!(matches!(wipe.settled, Settled::Deny), "{wipe:?}");
    assert_eq!(wipe.decision.verdict, Verdict::Deny);
    assert_eq!(wipe.audit.outcome, "denied");
    assert_eq!(wipe.audit.seq, ls.audit.seq + 1);
    assert!(db.store.list_approvals(true).await.unwrap().is_empty());
    assert!(db.store.verify(None).await.unwrap().is_ok());
}

async fn ask_is_held_then_runs_once_after_approval(db: TestDb) {
    let gate = gate(&db);
    let request = shell(INCIDENT, "/work/p");
    let first = gate.judge(&request).await.unwrap();
    let Settled::Hold(held) = &first.settled else {
        panic!("the incident must be held: {first:?}")
    };
    assert_eq!(first.audit.outcome, "held");
    assert_eq!(first.audit.approval_id.as_deref(), Some(held.id.as_str()));
    // A retry before anyone decided waits on the same approval instead of piling up new ones.
    let retry = gate.judge(&request).await.unwrap();
    let Settled::Hold(same) = &retry.settled else {
        panic!("{retry:?}")
    };
    assert_eq!(same.id, held.id);
    assert_eq!(db.store.list_approvals(false).await.unwrap().len(), 1);

    let (_, secret) = db.store.add_approver("alice").await.unwrap();
    let alice = db.store.authenticate_approver(&secret).await.unwrap();
    db.store.approve(&held.id, &alice).await.unwrap();

    // Another project, or one byte more, is not what the person approved.
    let elsewhere = gate.judge(&shell(INCIDENT, "/work/other")).await.unwrap();
    assert!(
        matches!(elsewhere.settled, Settled::Hold(ref a) if a.id != held.id),
        "{elsewhere:?}"
    );
    let changed = gate
        .judge(&shell(&format!("{INCIDENT} "), "/work/p"))
        .await
        .unwrap();
    assert!(
        matches!(changed.settled, Settled::Hold(ref a) if a.id != held.id),
        "{changed:?}"
    );

    let run = gate.judge(&request).await.unwrap();
    let Settled::AllowedByApproval(used) = &run.settled else {
        panic!("the approved request must run: {run:?}")
    };
    assert_eq!(used.id, held.id);
    assert_eq!(used.state, ApprovalState::Consumed);
    assert_eq!(run.audit.outcome, "approved");
    // Exactly once: the next identical request is held again, under a new approval.
    let again = gate.judge(&request).await.unwrap();
    assert!(
        matches!(again.settled, Settled::Hold(ref a) if a.id != held.id),
        "{again:?}"
    );
    assert!(db.store.verify(None).await.unwrap().is_ok());
}

async fn wait_for_decision_sees_the_vote_or_times_out(db: TestDb) {
    let gate = gate(&db);
    let request = shell(INCIDENT, "/work/p");
    let Settled::Hold(held) = gate.judge(&request).await.unwrap().settled else {
        panic!("held")
    };
    let timed_out = gate
        .wait_for_decision(&held.id, Duration::from_millis(250))
        .await
        .unwrap();
    assert_eq!(timed_out.state, ApprovalState::Pending);

    let (_, secret) = db.store.add_approver("alice").await.unwrap();
    let alice = db.store.authenticate_approver(&secret).await.unwrap();
    let store = db.store.clone();
    let id = held.id.clone();
    let voter = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        store.deny(&id, &alice, "not in production").await.unwrap();
    });
    let decided = gate
        .wait_for_decision(&held.id, Duration::from_secs(20))
        .await
        .unwrap();
    voter.await.unwrap();
    assert_eq!(decided.state, ApprovalState::Denied);
    assert_eq!(decided.deny_reason.as_deref(), Some("not in production"));
    let decision = gate.decide(&request);
    let err = gate
        .consume(&held.id, &request, &decision)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("denied"), "{err}");
}
