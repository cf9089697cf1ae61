//! `airlock serve` as a real process: a configuration naming a `${VAR}` that is not set (or an unknown key)
//! refuses to start and says which; and a `kill -9` of the gateway while it holds the incident's request
//! loses nothing and lets nothing through — after a restart the approval is still pending, the Railway-like
//! upstream received nothing, its volume is intact and `airlock log verify` proves the chain; the approved
//! identical retry is then deferred (the policy marks remote deletes `defer`; `defer_seconds = 1` here) and
//! sent exactly once by `airlock serve`'s executor, with the upstream's credential.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::io::BufRead as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use airlock_railway_fake::{CUSTOMER_ROWS, RailwayFake, VOLUME_ID};

const UPSTREAM_TOKEN: &str = "railway-account-token-0123456789";

fn airlock(home: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_airlock"));
    cmd.env("AIRLOCK_HOME", home)
        .env("HOME", home)
        .env_remove("AIRLOCK_DATABASE_URL")
        .env_remove("AIRLOCK_APPROVER_SECRET")
        .env_remove("RAILWAY_API_TOKEN")
        .env("RUST_LOG", "info")
        .stdin(Stdio::null());
    cmd
}

fn run(home: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = airlock(home);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn write_config(home: &Path, upstream_url: &str) {
    std::fs::write(
        home.join("airlock.toml"),
        format!(
            "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\nhold_seconds = 60\ndefer_seconds = 1\n\n[upstreams.railway]\nurl = \"{upstream_url}\"\nenvironment = \"production\"\nauth = {{ header = \"Authorization\", value = \"Bearer ${{RAILWAY_API_TOKEN}}\" }}\n"
        ),
    )
    .unwrap();
}

/// A running `airlock serve` and the agent address it printed.
struct Served {
    child: Child,
    agents: String,
}

fn serve(home: &Path, log: &str) -> Served {
    let mut child = airlock(home)
        .arg("serve")
        .env("RAILWAY_API_TOKEN", UPSTREAM_TOKEN)
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(home.join(log)).unwrap())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let agents = line
        .split("agents on http://")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .unwrap_or_else(|| {
            let log = std::fs::read_to_string(home.join(log)).unwrap_or_default();
            panic!("no address line from airlock serve: {line:?}\n{log}")
        })
        .to_string();
    Served { child, agents }
}

fn pending_approvals(home: &Path, secret: &str) -> Vec<serde_json::Value> {
    let out = run(
        home,
        &["approvals", "list", "--json"],
        &[("AIRLOCK_APPROVER_SECRET", secret)],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
}

fn temp_home(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("airlock-serve-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_missing_variable_refuses_to_start_and_names_it() {
    let home = temp_home("missing-var");
    write_config(&home, "https://backboard.railway.com");
    let out = run(&home, &["serve"], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("`RAILWAY_API_TOKEN`"), "{stderr}");
    assert!(stderr.contains("upstream `railway`"), "{stderr}");
    assert!(out.stdout.is_empty(), "it must not have started listening");

    std::fs::write(
        home.join("other.toml"),
        "[upstreams.railway]\nurl = \"https://backboard.railway.com\"\nhold_secs = 3\n",
    )
    .unwrap();
    let out = run(
        &home,
        &[
            "serve",
            "--config",
            home.join("other.toml").to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("hold_secs"), "{stderr}");
    let _ = std::fs::remove_dir_all(&home);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_holding_loses_nothing_and_forwards_nothing() {
    let home = temp_home("kill9");
    let fake = RailwayFake::start(&home.join("railway"), UPSTREAM_TOKEN)
        .await
        .unwrap();
    write_config(&home, &fake.url());
    let created = run(
        &home,
        &["token", "create", "ide-agent", "--scope", "railway"],
        &[],
    );
    assert_eq!(
        created.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let token = String::from_utf8(created.stdout)
        .unwrap()
        .trim()
        .to_string();
    let added = run(&home, &["approver", "add", "alice"], &[]);
    assert_eq!(
        added.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&added.stderr)
    );
    let secret = String::from_utf8(added.stdout).unwrap().trim().to_string();
    let body = format!(r#"{{"query":"mutation {{ volumeDelete(volumeId: \"{VOLUME_ID}\") }}"}}"#);

    let mut first = serve(&home, "serve-1.log");
    let client = reqwest::Client::new();
    let url = format!("http://{}/u/railway/graphql/v2", first.agents);
    let held = {
        let (client, url, token, body) = (client.clone(), url.clone(), token.clone(), body.clone());
        tokio::spawn(async move {
            client
                .post(url)
                .bearer_auth(token)
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
        })
    };
    let (home_for_poll, secret_for_poll) = (home.clone(), secret.clone());
    let approval = tokio::task::spawn_blocking(move || {
        for _ in 0..200 {
            if let Some(a) = pending_approvals(&home_for_poll, &secret_for_poll)
                .into_iter()
                .next()
            {
                return a;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the request was never held");
    })
    .await
    .unwrap();
    assert!(
        approval["summary"]
            .as_str()
            .unwrap()
            .contains("volumeDelete")
    );

    first.child.kill().unwrap(); // SIGKILL
    first.child.wait().unwrap();
    let lost = tokio::time::timeout(Duration::from_secs(10), held)
        .await
        .unwrap()
        .unwrap();
    assert!(
        lost.is_err(),
        "the held request cannot have been answered: {lost:?}"
    );

    assert!(fake.received().is_empty(), "nothing may reach the upstream");
    assert_eq!(
        fake.volume_rows(VOLUME_ID).await.unwrap(),
        Some(CUSTOMER_ROWS)
    );
    let verify = run(&home, &["log", "verify"], &[]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );

    // Restart: the approval is still there, pending, and still nothing was forwarded.
    let mut second = serve(&home, "serve-2.log");
    let pending = pending_approvals(&home, &secret);
    assert_eq!(pending.len(), 1);
    assert_eq!(pending[0]["id"], approval["id"]);
    assert_eq!(pending[0]["state"], "pending");
    assert!(fake.received().is_empty());

    // A person approves; the identical retry goes through once, with the upstream's credential only.
    let id = approval["id"].as_str().unwrap();
    let approved = run(
        &home,
        &["approvals", "approve", id],
        &[("AIRLOCK_APPROVER_SECRET", &secret)],
    );
    assert_eq!(
        approved.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let url = format!("http://{}/u/railway/graphql/v2", second.agents);
    let answer = client
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(body.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), 202);
    let deferred: serde_json::Value = serde_json::from_str(&answer.text().await.unwrap()).unwrap();
    let deferred_id = deferred["deferred_id"].as_str().unwrap().to_string();
    assert_eq!(
        deferred["cancel"],
        format!("airlock deferred cancel {deferred_id}")
    );
    // The gateway's executor sends it once the cancel window has passed.
    for _ in 0..200 {
        if !fake.received().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let received = fake.received();
    assert_eq!(received.len(), 1);
    assert_eq!(
        received[0].header_values("authorization"),
        [format!("Bearer {UPSTREAM_TOKEN}")]
    );
    assert!(!received[0].body_text().contains(&token));
    // Recorded as executed (the executor writes the result right after the upstream's answer).
    let mut listed = String::new();
    for _ in 0..100 {
        let list = run(&home, &["deferred", "list", "--all"], &[]);
        listed = String::from_utf8_lossy(&list.stdout).into_owned();
        if listed.contains("executed") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        listed.contains(&deferred_id) && listed.contains("executed"),
        "{listed}"
    );
    second.child.kill().unwrap();
    second.child.wait().unwrap();
    assert_eq!(fake.received().len(), 1, "sent exactly once");
    let verify = run(&home, &["log", "verify"], &[]);
    assert_eq!(
        verify.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let log = std::fs::read_to_string(home.join("serve-1.log")).unwrap()
        + &std::fs::read_to_string(home.join("serve-2.log")).unwrap();
    assert!(!log.contains(&token), "a log line carried the agent token");
    assert!(
        !log.contains(UPSTREAM_TOKEN),
        "a log line carried the upstream credential"
    );
    fake.shutdown().await;
    let _ = std::fs::remove_dir_all(&home);
}
