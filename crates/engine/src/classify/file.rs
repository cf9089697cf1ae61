//! File classifier: a write, edit or delete of a path, judged by [`classify_path`] (see `paths.rs`).
//!
//! - write / edit of a sensitive path (credentials, system configuration, startup files, git hooks,
//!   agents' settings, airlock's own files, database files, infrastructure state) ⇒ the path's `PTH` rule;
//! - delete of a sensitive or broad path ⇒ the path's `PTH` rule;
//! - anything else (ordinary project files, build output, caches) ⇒ no action, whatever the content
//!   mentions (`DROP TABLE`, `rm -rf` in a doc or script is text, not an action);
//! - a path airlock cannot read (empty, control characters) ⇒ `FIL001`;
//! - content that carries a private key ⇒ `FIL002` (a live secret written into the workspace).
//!
//! The effect of a `PTH` action follows the operation (`write` for write/edit, `delete` for delete)
//! unless the rule's effect is `admin` (self-protection rules keep it). Spans: a file request has no
//! single input text, so file actions carry no span (`None`); a caller that found the path inside a
//! larger input (a shell redirection, an MCP argument) respans them.

use crate::action::{Action, Effect};
use crate::classify::Classifier;
use crate::classify::paths::{PathClass, classify_path};
use crate::request::{FileOp, FileRequest, RequestKind};

/// Rule for a path that cannot be judged (empty or containing control characters).
pub const RULE_BAD_PATH: &str = "FIL001";
/// Rule for content that carries a private key.
pub const RULE_PRIVATE_KEY: &str = "FIL002";

/// Classifies a file operation.
pub fn classify_file(cx: &Classifier<'_>, request: &FileRequest) -> Vec<Action> {
    let path = request.path.as_str();
    if path.trim().is_empty() || path.chars().any(char::is_control) {
        return vec![cx.action(RULE_BAD_PATH, RequestKind::File, printable(path), None)];
    }
    let mut actions = Vec::new();
    let rule = match (request.op, classify_path(path)) {
        (_, PathClass::Sensitive(rule)) => Some(rule),
        (FileOp::Delete, PathClass::Broad(rule)) => Some(rule),
        // Writing over a broad place (a directory) is not a meaningful file write; still ask for the odd
        // cases that are (a block device, a system directory entry).
        (FileOp::Write | FileOp::Edit, PathClass::Broad(rule)) => Some(rule),
        (_, PathClass::Disposable | PathClass::Ordinary) => None,
    };
    if let Some(rule) = rule {
        let mut action = cx.action(rule, RequestKind::File, path, None);
        if action.effect != Effect::Admin && action.effect != Effect::Unknown {
            action.effect = match request.op {
                FileOp::Delete => Effect::Delete,
                FileOp::Write | FileOp::Edit => Effect::Write,
            };
        }
        actions.push(action);
    }
    if request.op != FileOp::Delete && request.content.as_deref().is_some_and(carries_private_key) {
        actions.push(cx.action(RULE_PRIVATE_KEY, RequestKind::File, path, None));
    }
    actions
}

/// True when the text contains a PEM private key block (`-----BEGIN … PRIVATE KEY-----` with key data).
fn carries_private_key(content: &str) -> bool {
    content.match_indices("-----BEGIN ").any(|(at, _)| {
        let rest = content.get(at..).unwrap_or("");
        let header = rest.lines().next().unwrap_or("");
        header.contains("PRIVATE KEY-----")
            && rest
                .lines()
                .nth(1)
                .is_some_and(|line| line.trim().len() >= 40 && !line.contains("..."))
    })
}

/// The path with control characters escaped, for the action's target.
fn printable(path: &str) -> String {
    if path.trim().is_empty() {
        return "(empty path)".to_string();
    }
    path.chars().flat_map(char::escape_default).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::catalog::Catalog;

    fn run(op: FileOp, path: &str, content: Option<&str>) -> Vec<Action> {
        let catalog = Catalog::embedded_with_examples().unwrap();
        let cx = Classifier::new(&catalog, None);
        classify_file(
            &cx,
            &FileRequest {
                op,
                path: path.to_string(),
                content: content.map(str::to_string),
            },
        )
    }

    fn rules(actions: &[Action]) -> Vec<&str> {
        actions.iter().map(|a| a.evidence.rule.as_str()).collect()
    }

    #[test]
    fn sensitive_writes_and_deletes_fire_the_path_rule() {
        let a = run(
            FileOp::Write,
            "~/.ssh/authorized_keys",
            Some("ssh-ed25519 AAAA x\n"),
        );
        assert_eq!(rules(&a), ["LGK001"]);
        assert_eq!(a.first().unwrap().effect, Effect::Write);
        assert_eq!(a.first().unwrap().evidence.span, None);
        assert_eq!(a.first().unwrap().target, "~/.ssh/authorized_keys");
        assert_eq!(
            rules(&run(FileOp::Write, "/etc/passwd", Some("root:x:0:0"))),
            ["PTH011"]
        );
        assert_eq!(
            rules(&run(FileOp::Write, "/etc/ssh/sshd_config", None)),
            ["PTH011"]
        );
        let d = run(FileOp::Delete, "~/.ssh/id_ed25519", None);
        assert_eq!(rules(&d), ["PTH010"]);
        assert_eq!(d.first().unwrap().effect, Effect::Delete);
        assert_eq!(
            rules(&run(FileOp::Delete, "terraform.tfstate", None)),
            ["PTH017"]
        );
        assert_eq!(
            rules(&run(FileOp::Delete, "db/production.sqlite3", None)),
            ["PTH016"]
        );
        assert_eq!(
            rules(&run(FileOp::Delete, "/var/lib/mysql/ibdata1", None)),
            ["PTH016"]
        );
        assert_eq!(rules(&run(FileOp::Delete, ".git", None)), ["PTH005"]);
    }

    #[test]
    fn self_protection_keeps_admin_effect() {
        let a = run(FileOp::Edit, "~/.airlock/airlock.toml", Some("[policy]\n"));
        assert_eq!(rules(&a), ["ALS012"]);
        assert_eq!(a.first().unwrap().effect, Effect::Admin);
        assert_eq!(
            rules(&run(FileOp::Write, ".claude/settings.json", Some("{}"))),
            ["ALS013"]
        );
        assert_eq!(
            rules(&run(FileOp::Write, ".mcp.json", Some("{}"))),
            ["PTH014"]
        );
    }

    #[test]
    fn broad_deletes_fire() {
        assert_eq!(rules(&run(FileOp::Delete, "~", None)), ["PTH002"]);
        assert_eq!(rules(&run(FileOp::Delete, "/", None)), ["PTH001"]);
        assert_eq!(
            rules(&run(FileOp::Delete, "~/projects/acme-api", None)),
            ["PTH008"]
        );
    }

    #[test]
    fn ordinary_and_disposable_are_silent() {
        assert!(
            run(
                FileOp::Write,
                "src/utils/slugify.ts",
                Some("export const x = 1;")
            )
            .is_empty()
        );
        assert!(run(FileOp::Edit, "README.md", Some("## Setup")).is_empty());
        assert!(
            run(
                FileOp::Write,
                "docs/notes.md",
                Some("Never run DROP TABLE users on prod.\n")
            )
            .is_empty()
        );
        assert!(
            run(
                FileOp::Write,
                "scripts/clean.sh",
                Some("#!/bin/sh\nrm -rf ./build\n")
            )
            .is_empty()
        );
        assert!(
            run(
                FileOp::Edit,
                ".env.example",
                Some("DATABASE_URL=postgres://u:p@localhost/app")
            )
            .is_empty()
        );
        assert!(run(FileOp::Delete, "dist/main.js", None).is_empty());
        assert!(run(FileOp::Delete, "src/old.ts", None).is_empty());
        assert!(run(FileOp::Delete, "node_modules", None).is_empty());
    }

    #[test]
    fn bad_paths_and_private_keys() {
        assert_eq!(rules(&run(FileOp::Write, "", None)), ["FIL001"]);
        assert_eq!(rules(&run(FileOp::Delete, "a\u{0}b", None)), ["FIL001"]);
        let key = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n-----END OPENSSH PRIVATE KEY-----\n";
        assert_eq!(
            rules(&run(FileOp::Write, "notes/key.txt", Some(key))),
            ["FIL002"]
        );
        let doc = "Keys start with -----BEGIN RSA PRIVATE KEY-----\n...\n";
        assert!(run(FileOp::Write, "docs/keys.md", Some(doc)).is_empty());
    }
}
