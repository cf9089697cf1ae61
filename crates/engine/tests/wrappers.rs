//! Property tests: wrapping a known-destructive command in `bash -c`, `eval`, a heredoc, base64 piped to a
//! shell or a variable never yields allow; classifying arbitrary input of any kind never panics.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::string_slice,
    reason = "tests fail by panicking"
)]

use airlock_engine::{Engine, Envelope, Request, ShellRequest, Verdict};
use base64::Engine as _;
use proptest::prelude::*;

/// Known-destructive commands of different families (all must be held or denied on their own).
const DESTRUCTIVE: &[&str] = &[
    "rm -rf ~/projects",
    "rm -rf /",
    "git push --force origin main",
    "git reset --hard HEAD~3",
    "terraform destroy -auto-approve",
    "kubectl delete namespace prod",
    "aws s3 rb s3://acme-prod --force",
    "dd if=/dev/zero of=/dev/sda bs=1M",
    "psql -c 'DROP DATABASE app'",
    "redis-cli FLUSHALL",
    "docker volume rm pgdata",
    "railway volume delete --volume pgdata --yes",
];

fn shell(command: &str) -> Envelope {
    Envelope::new(Request::Shell(ShellRequest {
        command: command.to_string(),
        shell: None,
    }))
}

/// Quotes `s` for a POSIX shell in single quotes.
fn single_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

fn wrap(form: usize, command: &str) -> String {
    match form {
        0 => format!("bash -c {}", single_quote(command)),
        1 => format!(
            "sh -c \"{}\"",
            command
                .replace('\\', r"\\")
                .replace('"', "\\\"")
                .replace('$', "\\$")
        ),
        2 => format!("eval {}", single_quote(command)),
        3 => format!("sh <<EOF\n{command}\nEOF"),
        4 => format!(
            "echo {} | base64 -d | sh",
            base64::engine::general_purpose::STANDARD.encode(command)
        ),
        5 => {
            let (first, rest) = command.split_once(' ').unwrap_or((command, ""));
            format!("X={first}; $X {rest}")
        }
        6 => format!("sudo {command}"),
        7 => format!("true && {command}"),
        _ => format!("(cd /tmp; {command})"),
    }
}

#[test]
fn every_destructive_command_is_held_or_denied_on_its_own() {
    let engine = Engine::new().unwrap();
    for command in DESTRUCTIVE {
        let verdict = engine.decide(&shell(command)).verdict;
        assert_ne!(verdict, Verdict::Allow, "`{command}` was allowed");
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn wrapped_destructive_commands_are_never_allowed(
        index in 0..DESTRUCTIVE.len(),
        forms in proptest::collection::vec(0usize..9, 1..3),
    ) {
        let engine = Engine::new().unwrap();
        let mut command = DESTRUCTIVE[index].to_string();
        for form in forms {
            command = wrap(form, &command);
        }
        let decision = engine.decide(&shell(&command));
        prop_assert_ne!(decision.verdict, Verdict::Allow, "allowed: {}", command);
    }

    #[test]
    fn arbitrary_input_of_every_kind_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let engine = Engine::new().unwrap();
        let text = String::from_utf8_lossy(&bytes).to_string();
        let json_text = serde_json::to_string(&text).unwrap();
        for request in [
            format!(r#"{{"kind":"shell","command":{json_text}}}"#),
            format!(r#"{{"kind":"sql","dialect":"postgres","sql":{json_text}}}"#),
            format!(r#"{{"kind":"http","method":"POST","url":"https://api.example.com/graphql","body":{json_text}}}"#),
            format!(r#"{{"kind":"mcp","server":"s","tool":"execute_sql","arguments":{{"query":{json_text}}}}}"#),
            format!(r#"{{"kind":"file","op":"write","path":{json_text},"content":{json_text}}}"#),
        ] {
            let envelope: Envelope = serde_json::from_str(&request).unwrap();
            let _ = engine.decide(&envelope);
        }
    }

    #[test]
    fn shell_like_noise_never_panics(text in "[a-z $'\"`|&;(){}<>\\\\=*~/.-]{0,200}") {
        let engine = Engine::new().unwrap();
        let _ = engine.decide(&shell(&text));
    }
}

#[test]
fn hostile_shapes_are_held_not_allowed_and_do_not_panic() {
    let engine = Engine::new().unwrap();
    let deep_subst = format!("{}rm -rf ~{}", "echo $(".repeat(300), ")".repeat(300));
    let huge = format!("echo {}", "a".repeat(2 * 1024 * 1024));
    for command in [
        deep_subst.as_str(),
        huge.as_str(),
        "echo 'unbalanced",
        "rm -rf \"~/x",
        "$((",
    ] {
        let d = engine.decide(&shell(command));
        assert_ne!(
            d.verdict,
            Verdict::Allow,
            "allowed: {}",
            command.chars().take(80).collect::<String>()
        );
        assert!(!d.reasons.is_empty(), "a held request says why");
    }
}
