//! The approval web page in a real headless Chromium (Debian's `chromium` + `chromium-driver`, driven over
//! WebDriver): an approver logs in, sees the held incident request decoded (`volumeDelete`, the volume id),
//! approves it and the agent's held call completes with the upstream's answer; denies another and the agent
//! gets 403. POSTs without a session or CSRF token are refused, an agent token cannot log in, and a request
//! carrying `<script>` renders as inert text. Screenshots are written under the target dir (and to `docs/`
//! when `AIRLOCK_DOCS_SCREENSHOTS=1`). Skipped with a message when chromium is missing, unless `CI=true`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "tests"
)]

mod support;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};
use support::{Answer, GRAPHQL, Harness, Options, VOLUME_DELETE, send};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process and one browser session; both end on drop.
struct Browser {
    driver: Child,
    addr: SocketAddr,
    session: String,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Browser {
    /// `None` (after printing why) when chromium is not installed and this is not CI.
    async fn start() -> Option<Browser> {
        if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists()
        {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!(
                    "CI=true but {CHROMIUM} or {CHROMEDRIVER} is missing: .ci/run installs chromium and chromium-driver"
                );
            }
            eprintln!(
                "SKIPPED: {CHROMIUM} or {CHROMEDRIVER} not installed (apt-get install chromium chromium-driver)"
            );
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let profile = tempfile::tempdir().unwrap();
        let mut browser = Browser {
            driver,
            addr,
            session: String::new(),
            _profile: profile,
        };
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--window-size=1200,1000",
        ]
        .iter()
        .map(|s| s.to_string())
        .chain([format!(
            "--user-data-dir={}",
            browser._profile.path().display()
        )])
        .collect::<Vec<_>>();
        let created = browser
            .raw(
                "POST",
                "/session",
                json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {"binary": CHROMIUM, "args": args}}}}),
            )
            .await;
        browser.session = created["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("{created}"))
            .to_string();
        Some(browser)
    }

    async fn raw(&self, method: &str, path: &str, body: Value) -> Value {
        let body = if method == "GET" {
            String::new()
        } else {
            body.to_string()
        };
        let answer: Answer = send(
            self.addr,
            method,
            path,
            &[("content-type", "application/json")],
            body,
        )
        .await;
        answer.json()["value"].clone()
    }

    async fn cmd(&self, method: &str, path: &str, body: Value) -> Value {
        self.raw(method, &format!("/session/{}{path}", self.session), body)
            .await
    }

    async fn goto(&self, url: &str) {
        self.cmd("POST", "/url", json!({"url": url})).await;
    }

    /// The element matching `css`, waiting (up to 10 s) for a page that is still loading after a click.
    async fn find(&self, css: &str) -> String {
        let mut found = Value::Null;
        for _ in 0..200 {
            found = self
                .cmd(
                    "POST",
                    "/element",
                    json!({"using": "css selector", "value": css}),
                )
                .await;
            if found[ELEMENT].is_string() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element `{css}`: {found}"))
            .to_string()
    }

    /// The text of `css`, finding the element again when the page replaced it between the find and the read
    /// (a stale element reference while a page loads), for up to 5 s.
    async fn text(&self, css: &str) -> String {
        let mut answer = Value::Null;
        for _ in 0..100 {
            let id = self.find(css).await;
            answer = self
                .cmd("GET", &format!("/element/{id}/text"), json!({}))
                .await;
            if let Some(text) = answer.as_str() {
                return text.to_string();
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("cannot read the text of `{css}`: {answer}")
    }

    /// The text of `css` once it contains `needle` (waiting up to 5 s for the page after a click to load);
    /// the last text seen otherwise, for the caller's assertion message.
    async fn text_containing(&self, css: &str, needle: &str) -> String {
        let mut text = String::new();
        for _ in 0..100 {
            text = self.text(css).await;
            if text.contains(needle) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        text
    }

    async fn type_into(&self, css: &str, text: &str) {
        let id = self.find(css).await;
        self.cmd(
            "POST",
            &format!("/element/{id}/value"),
            json!({"text": text}),
        )
        .await;
    }

    async fn click(&self, css: &str) {
        let id = self.find(css).await;
        self.cmd("POST", &format!("/element/{id}/click"), json!({}))
            .await;
    }

    /// Logs in with `secret` on the login form shown, and waits for the logged-in page.
    async fn log_in(&self, secret: &str) {
        self.type_into("#secret", secret).await;
        self.click("form.login button").await;
        self.find("form.logout button").await;
    }

    async fn script(&self, script: &str) -> Value {
        self.cmd(
            "POST",
            "/execute/sync",
            json!({"script": script, "args": []}),
        )
        .await
    }

    async fn cookie(&self, name: &str) -> Option<String> {
        let value = self.cmd("GET", &format!("/cookie/{name}"), json!({})).await;
        value["value"].as_str().map(str::to_string)
    }

    /// Saves a PNG of the viewport under the target dir (and as `docs/NAME` when asked); returns its path.
    async fn screenshot(&self, name: &str) -> PathBuf {
        let data = self.cmd("GET", "/screenshot", json!({})).await;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data.as_str().unwrap())
            .unwrap();
        assert!(png.starts_with(b"\x89PNG"), "not a PNG");
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("approvals-page");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(name);
        std::fs::write(&path, &png).unwrap();
        println!("screenshot: {}", path.display());
        if std::env::var("AIRLOCK_DOCS_SCREENSHOTS").as_deref() == Ok("1") {
            let docs = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../docs")
                .join(name);
            std::fs::write(&docs, &png).unwrap();
            println!("screenshot: {}", docs.display());
        }
        path
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approver_approves_and_denies_held_requests_in_the_browser() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let h = Harness::start(Options {
        hold_seconds: 60,
        ..Options::default()
    })
    .await;
    let (_, secret) = h.store.add_approver("alice").await.unwrap();
    let admin = format!("http://{}", h.gateway.admin_addr());

    // Not logged in: the page sends you to the login form.
    browser.goto(&format!("{admin}/approvals")).await;
    let url = browser.cmd("GET", "/url", json!({})).await;
    assert!(url.as_str().unwrap().ends_with("/login"), "{url}");

    // An agent token cannot log in.
    browser.type_into("#secret", &h.token).await;
    browser.click("form.login button").await;
    let error = browser.text_containing(".error", "agent token").await;
    assert!(error.contains("agent token"), "{error}");
    assert_eq!(browser.cookie("airlock_session").await, None);

    // The incident's request, held.
    let held = h.spawn_graphql(VOLUME_DELETE.to_string());
    let first = h.pending(1).await.remove(0);

    browser.log_in(&secret).await;
    browser
        .goto(&format!("{admin}/approvals#{}", first.id))
        .await;
    let card = browser.text(&format!("article[id='{}']", first.id)).await;
    assert!(card.contains("volumeDelete"), "{card}");
    assert!(card.contains("3d2f6a0e-prod-volume"), "{card}");
    assert!(card.contains("production"), "{card}");
    assert!(card.contains("left"), "{card}");
    browser.screenshot("approvals-pending.png").await;

    let approve_first = format!("article[id='{}'] button.approve", first.id);
    if first.required >= 2 {
        // The policy wants two different people here: alice's vote is the first of two, and she cannot
        // cast the second; bob can.
        assert!(card.contains("0 of 2 approvals"), "{card}");
        browser.click(&approve_first).await;
        let card = browser
            .text_containing(&format!("article[id='{}']", first.id), "1 of 2 approvals")
            .await;
        assert!(card.contains("1 of 2 approvals"), "{card}");
        browser.click(&approve_first).await;
        let error = browser.text_containing(".error", "not recorded").await;
        assert!(error.contains("not recorded"), "{error}");
        assert_eq!(
            h.railway.count(),
            0,
            "one approval of two lets nothing through"
        );
    }
    browser.click("form.logout button").await;
    let (_, bob) = h.store.add_approver("bob").await.unwrap();
    browser.log_in(&bob).await;
    browser.click(&approve_first).await;
    let answer = held.await.unwrap();
    assert_eq!(
        answer.status,
        200,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    assert_eq!(answer.json()["upstream"], "railway");
    assert_eq!(h.railway.seen()[0].body, VOLUME_DELETE.as_bytes());

    // Another one, denied with a reason: the agent gets 403 carrying it.
    let other = VOLUME_DELETE.replace("3d2f6a0e", "77aa01bc");
    let held = h.spawn_graphql(other);
    let second = h.pending(1).await.remove(0);
    browser.goto(&format!("{admin}/approvals")).await;
    browser
        .type_into(
            &format!("article[id='{}'] input[name=reason]", second.id),
            "wrong volume",
        )
        .await;
    browser
        .click(&format!("article[id='{}'] button.deny", second.id))
        .await;
    let answer = held.await.unwrap();
    assert_eq!(answer.status, 403);
    assert_eq!(answer.json()["deny_reason"], "wrong volume");
    assert_eq!(answer.json()["denied_by"], "bob");
    assert_eq!(h.railway.count(), 1);

    browser.goto(&format!("{admin}/approvals/history")).await;
    let history = browser.text_containing("main", "wrong volume").await;
    assert!(history.contains("wrong volume"), "{history}");
    assert!(
        history.contains(&first.id) && history.contains(&second.id),
        "{history}"
    );
    browser.screenshot("approvals-history.png").await;

    browser.goto(&format!("{admin}/audit")).await;
    let verify = browser.text(".verify").await;
    assert!(verify.starts_with("Chain verified"), "{verify}");
    let _ = browser.cmd("DELETE", "", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn posts_need_session_and_csrf_and_script_stays_inert() {
    let Some(browser) = Browser::start().await else {
        return;
    };
    let h = Harness::start(Options {
        hold_seconds: 0,
        ..Options::default()
    })
    .await;
    let (_, secret) = h.store.add_approver("bob").await.unwrap();
    let admin_addr = h.gateway.admin_addr();
    let admin = format!("http://{admin_addr}");

    let hostile = r#"{"query":"mutation { volumeDelete(volumeId: \"<script>window.pwned = 1; alert(1)</script>\") }"}"#;
    let answer = h.call("POST", GRAPHQL, hostile).await;
    assert_eq!(
        answer.status,
        202,
        "{}",
        String::from_utf8_lossy(&answer.body)
    );
    let id = answer.json()["approval_id"].as_str().unwrap().to_string();
    assert_eq!(
        answer.json()["approval_page"],
        format!("{admin}/approvals/{id}"),
        "the 202 links the approval's page"
    );

    browser.goto(&format!("{admin}/login")).await;
    browser.log_in(&secret).await;
    browser.goto(&format!("{admin}/approvals")).await;
    let card = browser.text(&format!("article[id='{id}']")).await;
    assert!(
        card.contains("<script>window.pwned = 1; alert(1)</script>"),
        "{card}"
    );
    assert_eq!(
        browser.script("return typeof window.pwned").await,
        "undefined"
    );
    // No alert is open (the WebDriver error for "no such alert" carries an `error` field).
    let alert = browser.cmd("GET", "/alert/text", json!({})).await;
    assert_eq!(alert["error"], "no such alert", "{alert}");
    let html = send(admin_addr, "GET", "/approvals", &[], "").await;
    assert_eq!(
        html.status, 303,
        "not logged in: redirected to the login form"
    );
    assert_eq!(html.headers["x-frame-options"], "DENY");
    assert!(
        html.headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );

    // The hook's link `/approvals/apr_…` leads to the approval's anchor on the page.
    let link = send(admin_addr, "GET", &format!("/approvals/{id}"), &[], "").await;
    assert_eq!(link.status, 303);
    assert_eq!(
        link.headers["location"],
        format!("/approvals#{id}").as_str()
    );

    let session = browser.cookie("airlock_session").await.unwrap();
    let target = format!("/approvals/{id}/approve");
    let form = [("content-type", "application/x-www-form-urlencoded")];
    // No session at all.
    let answer = send(admin_addr, "POST", &target, &form, "csrf=x").await;
    assert_eq!(answer.status, 403);
    // A session but no CSRF token, then a wrong one.
    let cookie = format!("airlock_session={session}");
    let with_cookie = [form[0], ("cookie", cookie.as_str())];
    let answer = send(admin_addr, "POST", &target, &with_cookie, "").await;
    assert_eq!(answer.status, 403);
    let answer = send(admin_addr, "POST", &target, &with_cookie, "csrf=0123").await;
    assert_eq!(answer.status, 403);
    assert_eq!(
        h.store.approval(&id).await.unwrap().state,
        airlock_store::ApprovalState::Pending,
        "no refused POST voted"
    );
    // The page's own form (with its token) does vote.
    browser
        .click(&format!("article[id='{id}'] button.approve"))
        .await;
    // (The click returns once the form is sent; the vote lands when the server has answered it.)
    let mut votes = Vec::new();
    for _ in 0..100 {
        votes = h.store.approval(&id).await.unwrap().votes;
        if !votes.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(votes.len(), 1);
    assert_eq!(votes[0].approver, "bob");

    // Five failed logins from one address, then 429 even for the right secret.
    browser.click("form.logout button").await;
    for _ in 0..5 {
        browser.type_into("#secret", "ala_0000_wrong").await;
        browser.click("form.login button").await;
        assert!(
            browser
                .text(".error")
                .await
                .contains("not a valid approver secret")
        );
    }
    browser.type_into("#secret", &secret).await;
    browser.click("form.login button").await;
    // (Until the answer has loaded, the previous page's error is still shown.)
    let error = browser
        .text_containing(".error", "Too many failed logins")
        .await;
    assert!(error.contains("Too many failed logins"), "{error}");
    assert_eq!(browser.cookie("airlock_session").await, None);
    let _ = browser.cmd("DELETE", "", json!({})).await;
}
