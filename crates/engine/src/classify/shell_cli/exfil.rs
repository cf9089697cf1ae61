//! Exfiltration: secret files and the output of commands that print secrets, sent off the machine by
//! `scp`/`rsync`/`rclone`/`aws s3 cp`, or piped into a network sender (`nc`, `socat`, `ssh`, `curl -d @-`).

use crate::action::Action;
use crate::classify::Classifier;
use crate::classify::paths::{CREDENTIAL_NAMES, KEY_PREFIXES, KEY_SUFFIXES, is_env_file};
use crate::classify::shell_cli::args::{self, View};
use crate::classify::shell_cli::fs::normalize;
use crate::classify::shell_cli::{Stdin, Word};
use crate::request::RequestKind;

/// Whether a path names a credential or secret file (`~/.ssh/id_rsa`, `~/.aws/credentials`, `.env`,
/// `*.pem`, `~/.kube/config`, …).
pub(crate) fn is_secret_path(path: &str) -> bool {
    let n = normalize(path);
    let segs: Vec<&str> = n.split('/').filter(|s| !s.is_empty()).collect();
    let Some(&file) = segs.last() else {
        return false;
    };
    let public =
        file.ends_with(".pub") || matches!(file, "known_hosts" | "authorized_keys" | "config.pub");
    let in_dir = |dir: &str| segs.iter().rev().skip(1).any(|s| *s == dir);
    if matches!(
        file,
        ".ssh" | ".aws" | ".gnupg" | ".password-store" | ".azure" | ".kube" | ".docker"
    ) {
        return true; // the whole directory
    }
    if (in_dir(".ssh")
        || in_dir(".aws")
        || in_dir(".gnupg")
        || in_dir(".password-store")
        || in_dir(".azure"))
        && !public
    {
        return true;
    }
    if in_dir(".kube") && file == "config" || in_dir(".docker") && file == "config.json" {
        return true;
    }
    if n.contains(".config/gcloud")
        || n.contains(".config/gh/hosts.yml")
        || n.contains(".terraform.d/credentials")
    {
        return true;
    }
    if n.starts_with("/proc/") && file == "environ"
        || matches!(n.as_str(), "/etc/shadow" | "/etc/gshadow" | "/etc/sudoers")
    {
        return true;
    }
    if is_env_file(file) {
        return true;
    }
    if CREDENTIAL_NAMES.contains(&file) || file == "terraform.tfstate" {
        return true;
    }
    if KEY_PREFIXES.iter().any(|p| file.starts_with(p)) && !public {
        return true;
    }
    // Private keys and keystores, plus exported keys (`.asc`) and infrastructure state (`.tfstate`),
    // which holds every secret the infrastructure was given.
    let exts = KEY_SUFFIXES.iter().chain(&[".tfstate", ".asc"]);
    !public && exts.into_iter().any(|e| file.ends_with(e)) && file != ".key"
}

fn starts(pos: &[String], prefix: &[&str]) -> bool {
    pos.len() >= prefix.len()
        && pos
            .iter()
            .zip(prefix)
            .all(|(p, want)| args::glob_any(want, p, true))
}

/// Whether a command prints secrets: reads a secret file, dumps the environment, or asks a tool for a
/// credential (`kubectl get secret`, `aws configure export-credentials`, `gpg --export-secret-keys`, …).
pub(crate) fn reads_secrets(argv: &[Word]) -> bool {
    let Some(first) = argv.first() else {
        return false;
    };
    let cmd = args::command_name(&first.text);
    let rest: Vec<String> = argv
        .iter()
        .skip(1)
        .map(|w| w.text.to_ascii_lowercase())
        .collect();
    let pos: Vec<String> = rest
        .iter()
        .filter(|w| !w.starts_with('-'))
        .cloned()
        .collect();
    match cmd.as_str() {
        "env" | "printenv" => return pos.iter().all(|p| p.contains('=')) || cmd == "printenv",
        "set" | "export" | "declare" if pos.is_empty() => return true,
        "get-childitem" | "gci" | "dir" | "ls" if pos.iter().any(|p| p.starts_with("env:")) => {
            return true;
        }
        "ls" | "dir" | "stat" | "file" | "du" | "wc" | "test" | "[" | "find" | "tree" | "echo" => {
            return false;
        }
        "kubectl" | "oc" | "k" => {
            let get = pos
                .iter()
                .position(|p| p == "get" || p == "extract" || p == "view-secret");
            let raw_config = starts(&pos, &["config", "view"]) && rest.iter().any(|r| r == "--raw");
            return raw_config
                || pos.iter().any(|p| p == "view-secret")
                || get.is_some_and(|g| pos.iter().skip(g + 1).any(|p| p.starts_with("secret")));
        }
        "gpg" | "gpg2" => return rest.iter().any(|r| r.starts_with("--export-secret")),
        "aws" => {
            return starts(&pos, &["configure", "export-credentials"])
                || starts(&pos, &["configure", "get"])
                    && pos
                        .iter()
                        .any(|p| p.contains("secret") || p.contains("token"))
                || starts(&pos, &["sts", "get-session-token|assume-role"])
                || starts(&pos, &["secretsmanager", "get-secret-value"])
                || starts(&pos, &["ssm", "get-parameter*"])
                    && rest.iter().any(|r| r == "--with-decryption")
                || starts(&pos, &["ecr", "get-login-password"])
                || starts(&pos, &["iam", "create-access-key"]);
        }
        "gcloud" => {
            return pos
                .iter()
                .any(|p| p == "print-access-token" || p == "print-identity-token")
                || starts(&pos, &["secrets", "versions", "access"]);
        }
        "az" => {
            return starts(&pos, &["account", "get-access-token"])
                || starts(&pos, &["keyvault", "secret", "show|download"]);
        }
        "gh" | "glab" => return starts(&pos, &["auth", "token"]),
        "heroku" => {
            return pos
                .first()
                .is_some_and(|p| p == "auth:token" || p == "config" || p == "config:get");
        }
        "vault" => {
            return starts(&pos, &["kv", "get"])
                || starts(&pos, &["read"])
                || starts(&pos, &["print", "token"]);
        }
        "op" => return starts(&pos, &["read"]) || starts(&pos, &["item", "get"]),
        "pass" | "gopass" => return !pos.is_empty() && !starts(&pos, &["ls|list|find|grep"]),
        "security" => return starts(&pos, &["find-generic-password|find-internet-password"]),
        "doppler" => return starts(&pos, &["secrets"]),
        "railway" => return starts(&pos, &["variables|vars"]),
        "git" => return starts(&pos, &["credential", "fill"]),
        _ => {}
    }
    argv.iter().skip(1).any(|w| {
        !w.text.starts_with('-') && is_secret_path(&crate::classify::shell_cli::fs::path_text(w))
    })
}

/// Whether what flows into standard input is the output of a command that prints secrets.
pub(crate) fn stdin_is_secret(stdin: &Stdin) -> Option<String> {
    match stdin {
        Stdin::Command { argv } if reads_secrets(argv) => {
            Some(format!("output of `{}`", args::joined(argv, 0)))
        }
        _ => None,
    }
}

/// Whether a `scp`/`rsync` operand is on another host (`host:path`, `user@host:`, `rsync://…`).
fn is_remote(operand: &str) -> bool {
    if operand.contains("://") {
        return !operand.starts_with("file://");
    }
    match operand.split_once(':') {
        Some((host, _)) => host.len() > 1 && !host.contains('/'),
        None => false,
    }
}

/// Adds exfiltration actions for copy tools and raw network senders.
pub(crate) fn classify(
    cx: &Classifier<'_>,
    argv: &[Word],
    view: &View,
    stdin: &Stdin,
    out: &mut Vec<Action>,
) {
    let cmd = view.cmd.as_str();
    let copy_flags: &[&str] = match cmd {
        "scp" | "sftp" => &["-P", "-i", "-o", "-F", "-c", "-l", "-S", "-J"],
        "rsync" => &[
            "-e",
            "--rsh",
            "--exclude",
            "--include",
            "--filter",
            "-f",
            "--password-file",
            "--port",
            "--chmod",
            "--exclude-from",
            "--include-from",
        ],
        "rclone" => &["--config", "--include", "--exclude", "--filter"],
        "aws" | "gsutil" => args::value_flags(cmd, None),
        _ => &[],
    };
    if matches!(cmd, "scp" | "rsync" | "rclone" | "aws" | "gsutil") {
        let items = args::parse_flags(argv, view.first, copy_flags);
        let mut pos = args::positionals(&items);
        let cloud = match cmd {
            "aws" => starts_words(&pos, &["s3"], &["cp", "sync", "mv"]),
            "gsutil" | "rclone" => starts_words(
                &pos,
                &[],
                &[
                    "cp", "copy", "copyto", "sync", "move", "moveto", "rsync", "mv",
                ],
            ),
            _ => Some(0),
        };
        let Some(skip) = cloud else { return };
        pos.drain(..skip.min(pos.len()));
        let Some((&(dest, _), sources)) = pos.split_last() else {
            return;
        };
        let remote = is_remote(dest) || dest.starts_with("s3://") || dest.starts_with("gs://");
        if remote && let Some(&(src, idx)) = sources.iter().find(|(s, _)| is_secret_path(s)) {
            out.push(cx.action("EXS002", RequestKind::Shell, src, args::span_to(argv, idx)));
        }
        return;
    }
    let sender = matches!(
        cmd,
        "nc" | "ncat"
            | "netcat"
            | "socat"
            | "telnet"
            | "ssh"
            | "sendmail"
            | "mail"
            | "mailx"
            | "mutt"
    ) || cmd == "openssl"
        && argv
            .get(view.first + 1)
            .is_some_and(|w| w.text == "s_client")
        || cmd == "gh"
            && starts_words(
                &args::positionals(&args::parse(cmd, argv, view.first)),
                &["gist"],
                &["create"],
            )
            .is_some();
    if sender && let Some(what) = stdin_is_secret(stdin) {
        out.push(cx.action(
            "EXS003",
            RequestKind::Shell,
            what,
            args::span_to(argv, argv.len().saturating_sub(1)),
        ));
    }
}

/// If the positionals start with `group` then one of `verbs`, how many words that is.
fn starts_words(pos: &[(&str, usize)], group: &[&str], verbs: &[&str]) -> Option<usize> {
    let ok = group
        .iter()
        .enumerate()
        .all(|(i, g)| pos.get(i).is_some_and(|(p, _)| p == g));
    let verb = pos.get(group.len()).is_some_and(|(p, _)| verbs.contains(p));
    (ok && verb).then_some(group.len() + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_paths() {
        for p in [
            "~/.ssh/id_rsa",
            "$HOME/.aws/credentials",
            ".env",
            "config/.env.production",
            "certs/server.key",
            "~/.kube/config",
            "~/.ssh",
            "/home/u/.docker/config.json",
        ] {
            assert!(is_secret_path(p), "{p}");
        }
        for p in [
            "~/.ssh/id_rsa.pub",
            ".env.example",
            "src/main.rs",
            "README.md",
            "~/.ssh/known_hosts",
        ] {
            assert!(!is_secret_path(p), "{p}");
        }
    }
}
