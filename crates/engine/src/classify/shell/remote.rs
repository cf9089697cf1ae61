//! Commands that run a command somewhere else: `ssh HOST CMD`, `docker|podman exec CONTAINER CMD`,
//! `kubectl exec POD -- CMD`, and Windows shells (`powershell -Command`, `-EncodedCommand`, `cmd /c`).
//! The inner command is judged with the environment the target's name suggests (`prod-db-1`).

use super::wrappers::{SHELLS, command_name, rest, skip_options, with_env};
use super::{Flow, Map, RWord, Walker, union};
use crate::classify::{Classifier, environment_hint};

impl Walker {
    /// Project and platform runners that run the rest of the line as a command: `uv|poetry|pipenv|pdm|
    /// hatch|rye|conda|pixi run CMD`, `bundle exec CMD`, `railway run CMD` (locally, with the project's
    /// variables) and `heroku run CMD` (on a one-off dyno). The inner command is judged as if run directly;
    /// `None` when `argv` is not such a runner.
    pub(super) fn runner(
        &mut self,
        cx: &Classifier<'_>,
        name: &str,
        argv: &[RWord],
        stdin: &Flow,
    ) -> Option<Flow> {
        let sub = argv.get(1).map(|w| w.text.as_str())?;
        let (short, long): (&str, &[&str]) = match (name, sub) {
            ("uv", "run") => (
                "wp",
                &[
                    "--with",
                    "--python",
                    "--project",
                    "--directory",
                    "--package",
                    "--env-file",
                    "--extra",
                    "--group",
                    "--index",
                    "--from",
                ],
            ),
            ("poetry" | "pipenv" | "pdm" | "hatch" | "rye" | "pixi", "run") => (
                "Ce",
                &["--directory", "--project", "--env", "--environment"],
            ),
            ("conda" | "mamba" | "micromamba", "run") => ("np", &["--name", "--prefix", "--cwd"]),
            ("bundle" | "bundler", "exec") => ("", &["--gemfile"]),
            ("railway", "run") => ("se", &["--service", "--environment"]),
            ("heroku", "run") => (
                "aresx",
                &["--app", "--remote", "--env", "--size", "--exit-code"],
            ),
            _ => return None,
        };
        let i = skip_options(argv, 2, short, long);
        let inner = rest(argv, i);
        if inner.is_empty() {
            return None;
        }
        let inside = match (
            name,
            argv.iter()
                .position(|w| w.text == "-a" || w.text == "--app"),
        ) {
            ("heroku", Some(at)) => argv.get(at + 1).map(|app| with_env(cx, &app.text)),
            _ => None,
        };
        Some(self.dispatch(inside.as_ref().unwrap_or(cx), inner, stdin.clone()))
    }

    /// Cloud SSH commands that take the remote command as an option: `gcloud compute ssh VM --command
    /// CMD`, `fly ssh console -C CMD`. `None` when there is no such option.
    pub(super) fn cloud_ssh(
        &mut self,
        cx: &Classifier<'_>,
        argv: &[RWord],
        stdin: &Flow,
    ) -> Option<Flow> {
        if !argv.iter().skip(1).any(|w| w.text == "ssh") {
            return None;
        }
        let short = !matches!(
            argv.first().map(|w| command_name(&w.text)).as_deref(),
            Some("gcloud")
        );
        let mut command = None;
        for (at, word) in argv.iter().enumerate().skip(1) {
            let t = word.text.as_str();
            if let Some(value) = t.strip_prefix("--command=") {
                command = Some(RWord::synthetic(value, word.span));
            } else if t == "--command" || short && t == "-C" {
                command = argv.get(at + 1).cloned();
            } else if let Some(value) = t.strip_prefix("-C").filter(|v| short && !v.is_empty()) {
                command = Some(RWord::synthetic(value, word.span));
            }
        }
        let command = command?;
        self.classify_argv(cx, argv, stdin);
        let target = argv
            .iter()
            .skip(1)
            .find(|w| {
                !w.text.starts_with('-')
                    && !matches!(
                        w.text.as_str(),
                        "compute" | "ssh" | "console" | "alpha" | "beta"
                    )
            })
            .map(|w| with_env(cx, &w.text));
        self.run_words(target.as_ref().unwrap_or(cx), &[command], false);
        Some(Flow::Command(argv.to_vec()))
    }

    pub(super) fn ssh(&mut self, cx: &Classifier<'_>, argv: &[RWord], stdin: Flow) -> Flow {
        let i = skip_options(argv, 1, "BbcDEeFIiJLlmOoPpQRSWw", &[]);
        let Some(host) = argv.get(i) else {
            return Flow::None;
        };
        self.classify_argv(cx, argv, &stdin);
        let remote = with_env(cx, &host.text);
        let command = rest(argv, i + 1);
        if command.is_empty() {
            self.stdin_script(&remote, argv, &stdin, |walker, cx, data| {
                walker.nested(cx, &data.text, data.map, data.span());
            });
        } else if command
            .first()
            .is_some_and(|w| SHELLS.contains(&command_name(&w.text).as_str()))
            && command
                .iter()
                .all(|w| w.text != "-c" && !w.text.contains(' '))
        {
            // `ssh host bash -s < script`: the remote shell reads the local standard input.
            self.dispatch(&remote, command, stdin);
        } else {
            self.run_words(&remote, &command, false);
        }
        Flow::Command(argv.to_vec())
    }

    pub(super) fn docker(&mut self, cx: &Classifier<'_>, argv: &[RWord], stdin: Flow) -> Flow {
        self.classify_argv(cx, argv, &stdin);
        let mut i = skip_options(
            argv,
            1,
            "Hc",
            &[
                "--context",
                "--host",
                "--config",
                "--log-level",
                "--tlscacert",
            ],
        );
        let mut sub = argv.get(i).map(|w| w.text.clone()).unwrap_or_default();
        if sub == "container" || sub == "compose" {
            i = skip_options(
                argv,
                i + 1,
                "fp",
                &[
                    "--file",
                    "--project-name",
                    "--profile",
                    "--env-file",
                    "--project-directory",
                ],
            );
            sub = argv.get(i).map(|w| w.text.clone()).unwrap_or_default();
        }
        let (short, long): (&str, &[&str]) = match sub.as_str() {
            "exec" => (
                "euw",
                &[
                    "--env",
                    "--user",
                    "--workdir",
                    "--env-file",
                    "--detach-keys",
                    "--index",
                ],
            ),
            "run" => (
                "eEvwpuhlmc",
                &[
                    "--env",
                    "--volume",
                    "--workdir",
                    "--publish",
                    "--user",
                    "--hostname",
                    "--label",
                    "--memory",
                    "--name",
                    "--network",
                    "--entrypoint",
                    "--env-file",
                    "--mount",
                    "--platform",
                    "--add-host",
                    "--restart",
                    "--log-driver",
                    "--device",
                    "--cap-add",
                    "--cap-drop",
                    "--security-opt",
                    "--ulimit",
                    "--tmpfs",
                    "--gpus",
                    "--runtime",
                    "--pull",
                    "--cpus",
                    "--shm-size",
                    "--ipc",
                    "--pid",
                    "--dns",
                ],
            ),
            _ => return Flow::Command(argv.to_vec()),
        };
        let i = skip_options(argv, i + 1, short, long);
        let Some(container) = argv.get(i) else {
            return Flow::Command(argv.to_vec());
        };
        let inner = rest(argv, i + 1);
        if !inner.is_empty() {
            let inside = with_env(cx, &container.text);
            self.dispatch(&inside, inner, stdin);
        }
        Flow::Command(argv.to_vec())
    }

    pub(super) fn kubectl(&mut self, cx: &Classifier<'_>, argv: &[RWord], stdin: Flow) -> Flow {
        self.classify_argv(cx, argv, &stdin);
        let short = "ncsf";
        let long = [
            "--namespace",
            "--context",
            "--cluster",
            "--kubeconfig",
            "--container",
            "--server",
            "--user",
            "--filename",
        ];
        let i = skip_options(argv, 1, short, &long);
        if argv.get(i).is_none_or(|w| w.text != "exec") {
            return Flow::Command(argv.to_vec());
        }
        let mut namespace = None;
        for (n, word) in argv.iter().enumerate() {
            if matches!(word.text.as_str(), "-n" | "--namespace" | "--context") {
                namespace = namespace.or_else(|| argv.get(n + 1).map(|w| w.text.clone()));
            } else if let Some(ns) = word
                .text
                .strip_prefix("--namespace=")
                .or_else(|| word.text.strip_prefix("-n"))
            {
                namespace = namespace.or_else(|| Some(ns.to_string()));
            }
        }
        let start = match argv.iter().position(|w| w.text == "--") {
            Some(dashes) => dashes + 1,
            None => skip_options(argv, i + 1, short, &long) + 1,
        };
        let pod = argv
            .get(i + 1..start)
            .unwrap_or_default()
            .iter()
            .rev()
            .find(|w| !w.text.starts_with('-'));
        let hint = [namespace.as_deref(), pod.map(|w| w.text.as_str())];
        let hint = hint
            .iter()
            .flatten()
            .find(|h| environment_hint(h).is_some())
            .copied()
            .unwrap_or_default();
        let inner = rest(argv, start);
        if !inner.is_empty() {
            let inside = with_env(cx, hint);
            self.dispatch(&inside, inner, stdin);
        }
        Flow::Command(argv.to_vec())
    }

    pub(super) fn powershell(&mut self, cx: &Classifier<'_>, argv: &[RWord]) -> Flow {
        let mut i = 1;
        while let Some(word) = argv.get(i) {
            let option = word.text.to_ascii_lowercase();
            let Some(option) = option.strip_prefix(['-', '/']) else {
                break;
            };
            match option {
                "command" | "c" | "com" | "comm" | "comma" | "comman" => {
                    i += 1;
                    break;
                }
                "encodedcommand" | "enc" | "e" | "ec" | "en" | "encoded" => {
                    if let Some(payload) = argv.get(i + 1) {
                        match decode_utf16_base64(&payload.text) {
                            Some(text) => {
                                self.rule(cx, "SHX004", "encoded powershell command", payload.span);
                                self.nested(cx, &text, Map::Whole(payload.span), payload.span);
                            }
                            None => self.rule(cx, "SHX003", payload.text.clone(), payload.span),
                        }
                    }
                    return Flow::Command(argv.to_vec());
                }
                "file" | "f" => return Flow::Command(argv.to_vec()),
                "executionpolicy" | "ep" | "ex" | "windowstyle" | "w" | "workingdirectory"
                | "wd" | "outputformat" | "of" | "inputformat" | "if" | "configurationname"
                | "settingsfile" | "custompipename" | "version" => i += 2,
                "" => {
                    return Flow::Command(argv.to_vec());
                }
                _ => i += 1,
            }
        }
        self.windows_text(cx, &rest(argv, i));
        Flow::Command(argv.to_vec())
    }

    pub(super) fn cmd(&mut self, cx: &Classifier<'_>, argv: &[RWord]) -> Flow {
        let mut i = 1;
        while let Some(word) = argv.get(i) {
            let option = word.text.to_ascii_lowercase();
            i += 1;
            if option == "/c" || option == "/k" || option == "/r" {
                break;
            }
            if !option.starts_with('/') {
                i -= 1;
                break;
            }
        }
        self.windows_text(cx, &rest(argv, i));
        Flow::Command(argv.to_vec())
    }

    /// Judges a PowerShell or cmd command line given as words (backslashes of unquoted words kept).
    fn windows_text(&mut self, cx: &Classifier<'_>, words: &[RWord]) {
        let Some(first) = words.first() else { return };
        if words.iter().any(|w| w.unknown_subst) {
            let span = union(words, first.span);
            self.rule(cx, "SHX003", "dynamic windows command", span);
            return;
        }
        let quoted = |w: &RWord| {
            w.raw.len() >= 2
                && (w.raw.starts_with('"') && w.raw.ends_with('"')
                    || w.raw.starts_with('\'') && w.raw.ends_with('\''))
        };
        let text_of = |w: &RWord| {
            if quoted(w) {
                w.text.clone()
            } else {
                w.raw.clone()
            }
        };
        let (text, map) = match words {
            [one] if quoted(one) => (one.text.clone(), one.content),
            [one] => (one.raw.clone(), Map::Whole(one.span)),
            _ => (
                words.iter().map(text_of).collect::<Vec<_>>().join(" "),
                Map::Whole(union(words, first.span)),
            ),
        };
        let span = union(words, first.span);
        self.nested(cx, &text, map, span);
    }
}

/// Decodes a PowerShell `-EncodedCommand` payload (base64 of UTF-16LE).
fn decode_utf16_base64(payload: &str) -> Option<String> {
    let bytes = super::decode::base64_decode(payload)?;
    let units: Vec<u16> = bytes
        .chunks_exact(2)
        .filter_map(|c| match c {
            [a, b] => Some(u16::from_le_bytes([*a, *b])),
            _ => None,
        })
        .collect();
    String::from_utf16(&units).ok()
}
