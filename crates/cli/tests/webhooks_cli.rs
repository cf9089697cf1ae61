//! Webhooks across processes: `airlock serve` runs with a `[webhooks.ops]` pointing at a real local receiver; a
//! separate, short-lived `airlock hook claude-code` process holds the incident's `curl … volumeDelete` (and
//! exits at once: a hook never waits on a webhook); the running `airlock serve` then POSTs one signed JSON
//! notification for that approval — naming `volumeDelete`, the approval id the hook answered with and its
//! page link — without the command's bearer token.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

use std::io::{BufRead as _, BufReader, Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

#[path = "support/piped.rs"]
mod piped;

/// A fresh `$AIRLOCK_HOME` (also `$HOME`), removed afterwards.
struct Home(PathBuf);

impl Home {
    fn new(name: &str) -> Self {
        let dir =
            std::env::temp_dir().join(format!("airlock-webhooks-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn airlock(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_airlock"));
        cmd.args(args)
            .env("AIRLOCK_HOME", &self.0)
            .env("HOME", &self.0)
            .env_remove("AIRLOCK_DATABASE_URL")
            .env_remove("AIRLOCK_APPROVER_SECRET")
            .env("RUST_LOG", "info");
        cmd
    }
}

impl Drop for Home {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `airlock serve`, killed when dropped.
struct Serve(Child);

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// One POST the receiver got: its head (request line and headers, lowercase names) and body.
struct Post {
    head: String,
    body: Vec<u8>,
}

impl Post {
    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            n.eq_ignore_ascii_case(name).then(|| v.trim())
        })
    }
}

/// A minimal HTTP/1.1 receiver on 127.0.0.1 in a thread: answers every request 200 and passes it on.
fn receiver() -> (String, mpsc::Receiver<Post>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { return };
            let mut reader = BufReader::new(stream);
            let mut head = String::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if line == "\r\n" {
                    break;
                }
                head.push_str(&line);
            }
            let length: usize = head
                .lines()
                .find_map(|l| {
                    let (n, v) = l.split_once(':')?;
                    n.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            let mut body = vec![0; length];
            reader.read_exact(&mut body).unwrap();
            let mut stream = reader.into_inner();
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
            if tx.send(Post { head, body }).is_err() {
                return;
            }
        }
    });
    (url, rx)
}

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/hooks")
            .join(name),
    )
    .unwrap()
}

#[test]
fn a_hook_process_holds_and_airlock_serve_notifies() {
    let home = Home::new("hook");
    let (url, posts) = receiver();
    std::fs::write(
        home.0.join("airlock.toml"),
        format!(
            "listen = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\n\
             public_url = \"https://airlock.example.test\"\n\
             [upstreams.railway]\nurl = \"https://backboard.railway.com\"\nenvironment = \"production\"\n\
             [webhooks.ops]\nurl = \"{url}\"\nformat = \"json\"\nsecret = \"${{AIRLOCK_WEBHOOK_SECRET}}\"\n"
        ),
    )
    .unwrap();
    let mut serve = Serve(
        home.airlock(&["serve"])
            .env("AIRLOCK_WEBHOOK_SECRET", "whsec-cli-test-0123")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(home.0.join("serve.log")).unwrap())
            .spawn()
            .unwrap(),
    );
    let mut ready = String::new();
    BufReader::new(serve.0.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    assert!(
        ready.contains("agents on http://"),
        "{ready:?}\n{}",
        std::fs::read_to_string(home.0.join("serve.log")).unwrap_or_default()
    );

    let out = piped::run_with_input(
        &mut home.airlock(&["hook", "claude-code"]),
        &fixture("claude-code/bash-incident-curl.json"),
    );
    let answer = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(answer.contains("holding this"), "{answer}");

    let post = posts
        .recv_timeout(Duration::from_secs(60))
        .unwrap_or_else(|_| {
            panic!(
                "no webhook POST; serve log:\n{}",
                std::fs::read_to_string(home.0.join("serve.log")).unwrap_or_default()
            )
        });
    assert!(
        post.head.starts_with("POST /hook HTTP/1.1"),
        "{}",
        post.head
    );
    let signature = post.header("x-airlock-signature").unwrap();
    assert!(
        signature.len() == 7 + 64 && signature.starts_with("sha256="),
        "{signature}"
    );
    assert!(
        post.header("x-airlock-delivery")
            .unwrap()
            .starts_with("ntf_")
    );
    let body: serde_json::Value = serde_json::from_slice(&post.body).unwrap();
    let approval_id = body["approval_id"].as_str().unwrap();
    assert!(
        answer.contains(approval_id),
        "the hook answered with another approval: {answer}\n{body}"
    );
    assert_eq!(body["event"], "approval.pending");
    assert_eq!(body["kind"], "shell");
    assert!(
        body["headline"]
            .as_str()
            .unwrap()
            .contains("volume 8a4c0d8e-prod"),
        "{body}"
    );
    assert!(
        body["reasons"][0]
            .as_str()
            .unwrap()
            .contains("volumeDelete"),
        "{body}"
    );
    assert_eq!(
        body["link"],
        format!("https://airlock.example.test/approvals/{approval_id}").as_str()
    );
    assert!(
        answer.contains(&format!(
            "https://airlock.example.test/approvals/{approval_id}"
        )),
        "the hook's denial links the same page as the webhook: {answer}"
    );
    let text = String::from_utf8_lossy(&post.body);
    assert!(
        !text.contains("Bearer abc"),
        "the command's token leaked: {text}"
    );
    assert!(!post.head.contains("whsec-cli-test-0123"));
    assert!(!text.contains("whsec-cli-test-0123"));
}
