//! Login keys end to end through the engine: adding or replacing the SSH keys allowed to log in
//! (`~/.ssh/authorized_keys`, `authorized_keys2`, root's, `/etc/ssh/authorized_keys/…`) is denied by the
//! policy rule `plant-login-keys` in every request kind and shell form; deleting them is denied as an
//! account-wide delete; reading them, `chmod` and other `~/.ssh` files keep their own verdicts.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "tests fail by panicking"
)]

use airlock_engine::{
    Engine, Envelope, FileOp, FileRequest, McpRequest, Request, ShellRequest, Verdict,
};

fn shell(command: &str) -> Envelope {
    Envelope::new(Request::Shell(ShellRequest {
        command: command.to_string(),
        shell: None,
    }))
}

fn file(op: FileOp, path: &str) -> Envelope {
    Envelope::new(Request::File(FileRequest {
        op,
        path: path.to_string(),
        content: Some("ssh-ed25519 AAAAC3Nza attacker@evil\n".to_string()),
    }))
}

/// The verdict and the policy rule behind the first reason.
fn judged(engine: &Engine, envelope: &Envelope) -> (Verdict, String) {
    let decision = engine.decide(envelope);
    let policy = decision
        .reasons
        .first()
        .map(|r| format!("{} {}", r.rule, r.policy))
        .unwrap_or_default();
    (decision.verdict, policy)
}

#[test]
fn writing_login_keys_is_denied_in_every_form() {
    let engine = Engine::new().unwrap();
    let mut cases: Vec<(String, Envelope)> = Vec::new();
    for path in [
        "~/.ssh/authorized_keys",
        "/root/.ssh/authorized_keys",
        "/home/deploy/.ssh/authorized_keys2",
        "$HOME/.ssh/authorized_keys",
        "/etc/ssh/authorized_keys/deploy",
    ] {
        for op in [FileOp::Write, FileOp::Edit] {
            cases.push((format!("file {op:?} {path}"), file(op, path)));
        }
    }
    for (server, tool, arguments) in [
        (
            "filesystem",
            "write_file",
            serde_json::json!({"path": "~/.ssh/authorized_keys", "content": "ssh-ed25519 AAAA x"}),
        ),
        (
            "filesystem",
            "edit_file",
            serde_json::json!({"path": "/root/.ssh/authorized_keys", "edits": [{"oldText": "a", "newText": "b"}]}),
        ),
    ] {
        cases.push((
            format!("mcp {server} {tool}"),
            Envelope::new(Request::Mcp(McpRequest {
                server: server.to_string(),
                tool: tool.to_string(),
                arguments,
            })),
        ));
    }
    for command in [
        "echo 'ssh-ed25519 AAAA x' >> ~/.ssh/authorized_keys",
        "cat key.pub > /root/.ssh/authorized_keys",
        "cat key.pub | tee -a ~/.ssh/authorized_keys",
        "cp /tmp/k.pub ~/.ssh/authorized_keys",
        "install -m 600 k.pub /home/deploy/.ssh/authorized_keys2",
        "mv /tmp/k ~/.ssh/authorized_keys",
        "sed -i 's/^#//' ~/.ssh/authorized_keys",
        "dd if=/tmp/k of=/home/u/.ssh/authorized_keys",
        "bash -c 'echo k >> ~/.ssh/authorized_keys'",
        "sudo tee /root/.ssh/authorized_keys < k.pub",
    ] {
        cases.push((format!("shell {command}"), shell(command)));
    }
    for (what, envelope) in &cases {
        let (verdict, policy) = judged(&engine, envelope);
        assert_eq!(
            (verdict, policy.as_str()),
            (Verdict::Deny, "LGK001 plant-login-keys"),
            "{what}"
        );
    }
}

#[test]
fn deleting_login_keys_is_denied_as_an_account_wide_delete() {
    let engine = Engine::new().unwrap();
    for envelope in [
        file(FileOp::Delete, "~/.ssh/authorized_keys"),
        shell("rm -f ~/.ssh/authorized_keys"),
    ] {
        assert_eq!(
            judged(&engine, &envelope),
            (Verdict::Deny, "LGK001 delete-account".to_string()),
            "{envelope:?}"
        );
    }
}

#[test]
fn reading_login_keys_and_other_ssh_files_keep_their_verdicts() {
    let engine = Engine::new().unwrap();
    for command in [
        "cat ~/.ssh/authorized_keys",
        "grep -c ssh-ed25519 ~/.ssh/authorized_keys",
        "wc -l /root/.ssh/authorized_keys",
        "ssh-keygen -lf ~/.ssh/authorized_keys",
        "chmod 600 ~/.ssh/authorized_keys",
        "cp ~/.ssh/authorized_keys /tmp/keys.txt",
        "git add deploy/authorized_keys",
    ] {
        assert_eq!(
            judged(&engine, &shell(command)).0,
            Verdict::Allow,
            "{command}"
        );
    }
    // Not sshd's files: still credentials, held for a person rather than refused.
    for path in [
        "~/.ssh/authorized_keys.bak",
        "provisioning/files/authorized_keys",
        "~/.ssh/config",
    ] {
        assert_eq!(
            judged(&engine, &file(FileOp::Write, path)),
            (
                Verdict::Ask,
                "PTH010 local-delete-needs-approval".to_string()
            ),
            "{path}"
        );
    }
}
