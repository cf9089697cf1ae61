//! Unwrapping: a resolved argv whose command only runs another one (`sudo`, `env`, `nice`, `timeout`,
//! `xargs`, `find -exec`, `bash -c`, `eval`, `ssh`, `docker exec`, `kubectl exec`, `powershell -Command`,
//! `cmd /c`, …) is replaced by the inner command, which is judged in its place.

use super::{Data, Flow, Map, RWord, Walker, union};
use crate::action::Span;
use crate::classify::{Classifier, environment_hint};

/// Shells whose `-c STRING` or standard input is a script.
pub(super) const SHELLS: &[&str] = &[
    "sh", "bash", "zsh", "dash", "ksh", "mksh", "ash", "fish", "yash", "posh", "rbash", "csh",
    "tcsh",
];

/// Commands whose output, when `eval`ed, only sets up the environment (`eval "$(ssh-agent -s)"`).
const ENV_SETUP: &[&str] = &[
    "ssh-agent",
    "gpg-agent",
    "keychain",
    "direnv",
    "brew",
    "pyenv",
    "rbenv",
    "nodenv",
    "jenv",
    "goenv",
    "plenv",
    "fnm",
    "nvm",
    "conda",
    "micromamba",
    "opam",
    "dircolors",
    "starship",
    "zoxide",
    "mise",
    "rtx",
    "thefuck",
    "oh-my-posh",
    "atuin",
    "minikube",
    "docker-machine",
    "luarocks",
    "register-python-argcomplete",
    "rustup",
    "pip",
    "pipenv",
    "poetry",
    "kubectl",
    "helm",
    "gh",
    "hub",
    "npm",
    "uv",
    "fzf",
    "tmuxinator",
    "phpenv",
];

/// A plain wrapper: options taking a value (short letters and long names) and how many positional
/// arguments come before the wrapped command.
struct Spec {
    short: &'static str,
    long: &'static [&'static str],
    positionals: usize,
}

fn wrapper_spec(name: &str) -> Option<Spec> {
    let spec = |short, long, positionals| {
        Some(Spec {
            short,
            long,
            positionals,
        })
    };
    match name {
        "sudo" => spec(
            "ugCDhpRrtTU",
            &[
                "--user",
                "--group",
                "--chdir",
                "--prompt",
                "--role",
                "--type",
                "--host",
                "--close-from",
                "--other-user",
                "--command-timeout",
            ],
            0,
        ),
        "doas" => spec("uC", &[], 0),
        "nice" => spec("n", &["--adjustment"], 0),
        "time" => spec("fo", &["--format", "--output"], 0),
        "stdbuf" => spec("ioe", &["--input", "--output", "--error"], 0),
        "ionice" => spec("cnp", &["--class", "--classdata", "--pid"], 0),
        "timeout" => spec("sk", &["--signal", "--kill-after"], 1),
        "chrt" => spec(
            "TPD",
            &["--sched-runtime", "--sched-period", "--sched-deadline"],
            1,
        ),
        "taskset" => spec("", &[], 1),
        "chroot" => spec("", &["--userspec", "--groups"], 1),
        "exec" => spec("a", &[], 0),
        "caffeinate" => spec("tw", &[], 0),
        "nohup" | "builtin" | "noglob" | "nocorrect" | "setsid" | "unbuffer" | "busybox"
        | "command" | "then" | "do" | "else" | "!" => spec("", &[], 0),
        _ => None,
    }
}

/// The command name of a word: its last path component, lowercased, without `.exe`.
pub(super) fn command_name(text: &str) -> String {
    let lower = base_name(text).to_ascii_lowercase();
    match lower.strip_suffix(".exe") {
        Some(stem) => stem.to_string(),
        None => lower,
    }
}

/// The last path component of `text`, as written.
fn base_name(text: &str) -> &str {
    text.trim_end_matches(['/', '\\'])
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or(text)
}

/// The index of the first argument at or after `i` that is not an option (after `--`, if any).
pub(super) fn skip_options(argv: &[RWord], mut i: usize, short: &str, long: &[&str]) -> usize {
    while let Some(word) = argv.get(i) {
        let t = word.text.as_str();
        if t == "--" {
            return i + 1;
        }
        if let Some(name) = t.strip_prefix("--") {
            i += 1;
            if !name.contains('=') && long.contains(&t) {
                i += 1;
            }
            continue;
        }
        let Some(flags) = t.strip_prefix('-').filter(|f| !f.is_empty()) else {
            return i;
        };
        i += 1;
        for (at, c) in flags.char_indices() {
            if short.contains(c) {
                if at + c.len_utf8() == flags.len() {
                    i += 1;
                }
                break;
            }
        }
    }
    i
}

/// `argv[i..]`, owned.
pub(super) fn rest(argv: &[RWord], i: usize) -> Vec<RWord> {
    argv.get(i..).map(<[RWord]>::to_vec).unwrap_or_default()
}

/// A classifier that knows the environment a remote target's name suggests (`ssh prod-db-1`).
pub(super) fn with_env<'a>(cx: &Classifier<'a>, name: &str) -> Classifier<'a> {
    Classifier {
        environment: cx.environment.or(environment_hint(name)),
        ..*cx
    }
}

/// Whether the command name itself is only known at run time (`$X`, `$(get_cmd)`).
/// Commands stored now to run later, judged as if run now: a git alias (`git config alias.x '!CMD'`), a
/// package script (`npm pkg set scripts.postinstall='CMD'`), crontab lines fed on standard input.
fn deferred_commands(name: &str, argv: &[RWord], stdin: &Flow) -> Vec<(String, Span)> {
    let mut out = Vec::new();
    match name {
        "git" if argv.iter().any(|w| w.text == "config") => {
            for pair in argv.windows(2) {
                if let [key, value] = pair
                    && key.text.to_ascii_lowercase().starts_with("alias.")
                    && let Some(command) = value.text.strip_prefix('!')
                {
                    out.push((command.to_string(), value.span));
                }
            }
        }
        "npm" | "pnpm" if argv.iter().any(|w| w.text == "pkg") => {
            for word in argv {
                if let Some((key, command)) = word.text.split_once('=')
                    && key.starts_with("scripts.")
                {
                    out.push((command.to_string(), word.span));
                }
            }
        }
        "crontab" => {
            if let Flow::Literal(data) = stdin {
                for line in data.text.lines().map(str::trim) {
                    if line.is_empty() || line.starts_with('#') {
                        continue;
                    }
                    let fields = if line.starts_with('@') { 1 } else { 5 };
                    let mut rest = line;
                    for _ in 0..fields {
                        rest = rest
                            .trim_start()
                            .split_once(char::is_whitespace)
                            .map_or("", |(_, r)| r);
                    }
                    if !rest.trim().is_empty() {
                        out.push((rest.trim().to_string(), data.span()));
                    }
                }
            }
        }
        _ => {}
    }
    out
}

/// Clients that send their arguments to another host (in a URL, a header, a DNS name or a payload).
fn is_network_client(name: &str) -> bool {
    matches!(
        name,
        "curl"
            | "wget"
            | "http"
            | "https"
            | "xh"
            | "xhs"
            | "nc"
            | "ncat"
            | "netcat"
            | "socat"
            | "telnet"
            | "dig"
            | "nslookup"
            | "host"
            | "ping"
    )
}

fn dynamic_name(word: &RWord) -> bool {
    word.is_dynamic() && (word.only_expansion || base_name(&word.text).contains(['$', '`', ')']))
}

impl Walker {
    /// Judges one resolved simple command, unwrapping wrappers; returns what it prints when known.
    pub(super) fn dispatch(
        &mut self,
        cx: &Classifier<'_>,
        mut argv: Vec<RWord>,
        stdin: Flow,
    ) -> Flow {
        let Some(first) = argv.first_mut() else {
            return Flow::None;
        };
        if dynamic_name(first) {
            let (target, span) = (first.text.clone(), first.span);
            self.rule(cx, "SHX001", target, span);
            return Flow::Command(argv);
        }
        if let Some(data) = self
            .written
            .get(super::walk::script_key(&first.text))
            .cloned()
        {
            // A script written earlier on the same line (`echo 'rm -rf ~' > x.sh && ./x.sh`).
            self.nested(cx, &data.text, data.map, first.span);
            return Flow::Command(argv);
        }
        if first.decoded {
            let span = first.span;
            self.rule(cx, "SHX004", "decoded command name", span);
        }
        let name = command_name(&first.text);
        if first.text.contains(['/', '\\']) || first.text.to_ascii_lowercase().ends_with(".exe") {
            let base = base_name(&first.text);
            let base = if base.to_ascii_lowercase().ends_with(".exe") {
                base.get(..base.len() - 4)
            } else {
                Some(base)
            };
            first.text = base.unwrap_or_default().to_string();
        }
        if name == "command"
            && argv
                .get(1)
                .is_some_and(|w| matches!(w.text.as_str(), "-v" | "-V"))
        {
            return self.output_of(&name, &argv, &stdin);
        }
        if let Some(spec) = wrapper_spec(&name) {
            return self.wrapper(cx, &name, &argv, spec, stdin);
        }
        if let Some(flow) = self.runner(cx, &name, &argv, &stdin) {
            return flow;
        }
        if matches!(name.as_str(), "gcloud" | "fly" | "flyctl")
            && let Some(flow) = self.cloud_ssh(cx, &argv, &stdin)
        {
            return flow;
        }
        match name.as_str() {
            "env" => return self.env(cx, &argv, stdin),
            "su" | "runuser" => return self.su(cx, &argv, stdin),
            "flock" => return self.flock(cx, &argv, stdin),
            "eval" => return self.eval(cx, &argv),
            "alias" => return self.alias(cx, &argv),
            "source" | "." => return self.source(cx, &argv, &stdin),
            "set" => return self.set(&argv),
            "script" => return self.script_command(cx, &argv),
            "trap" => return self.trap(cx, &argv),
            "watch" => return self.watch(cx, &argv),
            "xargs" => return self.xargs(cx, &argv, &stdin),
            "find" => return self.find(cx, &argv, &stdin),
            "ssh" => return self.ssh(cx, &argv, stdin),
            "docker" | "podman" | "nerdctl" => return self.docker(cx, &argv, stdin),
            "kubectl" | "oc" => return self.kubectl(cx, &argv, stdin),
            "powershell" | "pwsh" => return self.powershell(cx, &argv),
            "cmd" => return self.cmd(cx, &argv),
            n if SHELLS.contains(&n) => return self.shell(cx, &argv, stdin),
            _ => {}
        }
        if let Some(flow) = self.interpreter(cx, &name, &argv, &stdin) {
            return flow;
        }
        if name == "tee" {
            self.tee_targets(cx, &argv);
        }
        for (command, span) in deferred_commands(&name, &argv, &stdin) {
            self.nested(cx, &command, Map::Whole(span), span);
        }
        if is_network_client(&name)
            && let Some(word) = argv
                .iter()
                .find(|w| w.subst_names.iter().any(|n| n == super::SECRET_SUBST))
        {
            let (target, span) = (word.text.clone(), word.span);
            self.rule(cx, "EXS004", target, span);
        }
        self.classify_argv(cx, &argv, &stdin);
        self.output_of(&name, &argv, &stdin)
    }

    fn wrapper(
        &mut self,
        cx: &Classifier<'_>,
        name: &str,
        argv: &[RWord],
        spec: Spec,
        stdin: Flow,
    ) -> Flow {
        let mut i = if name == "busybox" {
            1
        } else {
            skip_options(argv, 1, spec.short, spec.long)
        };
        i += spec.positionals;
        let inner = rest(argv, i);
        if inner.is_empty() {
            // `sudo -s` / `sudo -i` / `doas -s` without a command: a root shell reads standard input.
            let shell = matches!(name, "sudo" | "doas")
                && argv
                    .iter()
                    .skip(1)
                    .take(i.saturating_sub(1))
                    .any(|w| matches!(w.text.as_str(), "-s" | "-i" | "--shell" | "--login"));
            if shell && let Some(first) = argv.first() {
                return self.dispatch(cx, vec![RWord::synthetic("sh", first.span)], stdin);
            }
            return Flow::None;
        }
        self.dispatch(cx, inner, stdin)
    }

    fn env(&mut self, cx: &Classifier<'_>, argv: &[RWord], stdin: Flow) -> Flow {
        let mut i = 1;
        while let Some(word) = argv.get(i) {
            let t = word.text.as_str();
            if matches!(t, "-S" | "--split-string")
                || t.starts_with("-S")
                || t.starts_with("--split-string=")
            {
                // `env -S 'cmd args'` splits its argument like a shell would.
                let mut words = rest(argv, i + usize::from(matches!(t, "-S" | "--split-string")));
                if let Some(attached) = t.strip_prefix("-S").filter(|a| !a.is_empty()) {
                    words.insert(
                        0,
                        RWord {
                            text: attached.to_string(),
                            ..word.clone()
                        },
                    );
                }
                return self.run_words(cx, &words, false);
            }
            if matches!(t, "-u" | "-C" | "--unset" | "--chdir") {
                i += 2;
            } else if t.starts_with('-') || (t.contains('=') && !t.starts_with('=')) {
                i += 1;
            } else {
                break;
            }
        }
        let inner = rest(argv, i);
        if inner.is_empty() {
            return Flow::Command(argv.to_vec());
        }
        self.dispatch(cx, inner, stdin)
    }

    fn su(&mut self, cx: &Classifier<'_>, argv: &[RWord], stdin: Flow) -> Flow {
        let mut i = 1;
        while let Some(word) = argv.get(i) {
            match word.text.as_str() {
                "-c" | "--command" => {
                    return match argv.get(i + 1) {
                        Some(script) => self.run_words(cx, std::slice::from_ref(script), false),
                        None => Flow::None,
                    };
                }
                "--" => {
                    let inner = rest(argv, i + 1);
                    return if inner.is_empty() {
                        Flow::None
                    } else {
                        self.dispatch(cx, inner, stdin)
                    };
                }
                "-u" | "-g" | "-G" | "-s" | "--user" | "--group" | "--shell" => i += 2,
                _ => i += 1,
            }
        }
        Flow::None
    }

    fn flock(&mut self, cx: &Classifier<'_>, argv: &[RWord], stdin: Flow) -> Flow {
        let i = skip_options(argv, 1, "wEn", &["--timeout", "--conflict-exit-code"]) + 1;
        match argv.get(i).map(|w| w.text.as_str()) {
            Some("-c" | "--command") => match argv.get(i + 1) {
                Some(script) => self.run_words(cx, std::slice::from_ref(script), false),
                None => Flow::None,
            },
            Some(_) => self.dispatch(cx, rest(argv, i), stdin),
            None => Flow::None,
        }
    }

    /// `bash -c STRING`, `bash script.sh`, `… | bash`, `bash <<EOF`.
    fn shell(&mut self, cx: &Classifier<'_>, argv: &[RWord], stdin: Flow) -> Flow {
        let mut i = 1;
        let (mut command, mut from_stdin) = (false, false);
        while let Some(word) = argv.get(i) {
            let t = word.text.as_str();
            if t == "-" || t == "--" {
                from_stdin |= t == "-";
                i += 1;
                break;
            }
            if t.starts_with("--") {
                i += 1 + usize::from(matches!(t, "--rcfile" | "--init-file"));
                continue;
            }
            let Some(flags) = t.strip_prefix(['-', '+']).filter(|f| !f.is_empty()) else {
                break;
            };
            command |= flags.contains('c');
            from_stdin |= flags.contains('s');
            i += 1 + usize::from(flags.contains(['o', 'O']));
        }
        if command {
            let Some(script) = argv.get(i) else {
                return Flow::None;
            };
            let saved = self.positionals(argv.get(i + 1..).unwrap_or_default());
            let flow = self.run_words(cx, std::slice::from_ref(script), false);
            self.restore_positionals(saved);
            return flow;
        }
        if let Some(script) = argv.get(i).filter(|_| !from_stdin) {
            self.script_file(cx, argv, script, &stdin);
            return Flow::Command(argv.to_vec());
        }
        self.stdin_script(cx, argv, &stdin, |walker, cx, data| {
            walker.nested(cx, &data.text, data.map, data.span());
        });
        Flow::Command(argv.to_vec())
    }

    /// A script given by file name: `<(…)` and `/dev/stdin` are judged like standard input; a real
    /// file's content is not part of the request.
    fn script_file(&mut self, cx: &Classifier<'_>, argv: &[RWord], script: &RWord, stdin: &Flow) {
        let source = match (&script.feeds, script.text.as_str()) {
            (Some(feeds), _) => feeds.as_ref().clone(),
            (None, "/dev/stdin" | "-") => stdin.clone(),
            (None, path) => match self.written.get(super::walk::script_key(path)) {
                Some(data) => Flow::Literal(data.clone()),
                None => return,
            },
        };
        self.stdin_script(cx, argv, &source, |walker, cx, data| {
            walker.nested(cx, &data.text, data.map, data.span());
        });
    }

    /// `source FILE` / `. FILE`.
    fn source(&mut self, cx: &Classifier<'_>, argv: &[RWord], stdin: &Flow) -> Flow {
        if let Some(script) = argv.get(1) {
            self.script_file(cx, argv, script, stdin);
        }
        Flow::Command(argv.to_vec())
    }

    /// `set -- a b c` sets the positional parameters.
    fn set(&mut self, argv: &[RWord]) -> Flow {
        if let Some(dashes) = argv.iter().position(|w| w.text == "--") {
            let mut args = vec![RWord::synthetic(
                "set",
                argv.first().map_or(Span::new(0, 0), |w| w.span),
            )];
            args.extend(rest(argv, dashes + 1));
            self.positionals(&args);
        }
        Flow::None
    }

    /// A command that executes what flows into its standard input: literal text is judged by `judge`;
    /// the output of another command is unknown execution (`curl … | sh`).
    pub(super) fn stdin_script(
        &mut self,
        cx: &Classifier<'_>,
        argv: &[RWord],
        stdin: &Flow,
        judge: impl FnOnce(&mut Self, &Classifier<'_>, &Data),
    ) {
        let here = argv.first().map_or(Span::new(0, 0), |w| w.span);
        match stdin {
            Flow::Literal(data) => {
                if data.decoded {
                    self.rule(cx, "SHX004", "decoded payload", data.span());
                }
                judge(self, cx, data);
            }
            Flow::Command(source) => {
                let span = union(source, here);
                let span = Span::new(span.start.min(here.start), span.end.max(here.end));
                let from = source
                    .first()
                    .map_or_else(|| "a command".to_string(), |w| format!("`{}`", w.text));
                let to = argv.first().map_or("", |w| w.text.as_str());
                self.rule(
                    cx,
                    "SHX002",
                    format!("output of {from} run by `{to}`"),
                    span,
                );
            }
            Flow::None | Flow::File => {}
        }
    }

    /// Sets `$0`, `$1`, … and `$@` for a `sh -c SCRIPT NAME ARGS…`; returns the previous values.
    fn positionals(&mut self, args: &[RWord]) -> Vec<(String, Option<Option<String>>)> {
        let mut saved = Vec::new();
        let mut set = |vars: &mut std::collections::BTreeMap<String, Option<String>>,
                       key: String,
                       value: Option<String>| {
            let old = vars.insert(key.clone(), value);
            saved.push((key, old));
        };
        for (n, arg) in args.iter().enumerate().take(10) {
            set(
                &mut self.vars,
                n.to_string(),
                (!arg.is_dynamic()).then(|| arg.text.clone()),
            );
        }
        let all: Vec<&str> = args.iter().skip(1).map(|w| w.text.as_str()).collect();
        let dynamic = args.iter().skip(1).any(RWord::is_dynamic);
        set(
            &mut self.vars,
            "@".to_string(),
            (!dynamic).then(|| all.join(" ")),
        );
        saved
    }

    fn restore_positionals(&mut self, saved: Vec<(String, Option<Option<String>>)>) {
        for (key, old) in saved.into_iter().rev() {
            match old {
                Some(value) => self.vars.insert(key, value),
                None => self.vars.remove(&key),
            };
        }
    }

    /// Runs words as a script (joined with spaces, like `eval` and `ssh` do); text that is not known
    /// statically is unknown execution. With `env_setup`, substitutions of environment set-up tools
    /// (`eval "$(ssh-agent -s)"`) are accepted.
    pub(super) fn run_words(
        &mut self,
        cx: &Classifier<'_>,
        words: &[RWord],
        env_setup: bool,
    ) -> Flow {
        let Some(first) = words.first() else {
            return Flow::None;
        };
        let span = union(words, first.span);
        let substs = words.iter().any(|w| w.unknown_subst);
        let setup_only = words
            .iter()
            .flat_map(|w| w.subst_names.iter())
            .all(|n| ENV_SETUP.contains(&n.as_str()));
        if substs && env_setup && setup_only {
            return Flow::None;
        }
        if substs || words.iter().any(|w| w.only_expansion) {
            let target: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
            self.rule(cx, "SHX003", target.join(" "), span);
            return Flow::Command(words.to_vec());
        }
        if words.iter().any(|w| w.decoded) {
            self.rule(cx, "SHX004", "decoded payload", span);
        }
        let (text, map) = match words {
            [one] => (one.text.clone(), one.content),
            _ => (
                words
                    .iter()
                    .map(|w| w.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" "),
                Map::Whole(span),
            ),
        };
        self.nested(cx, &text, map, span)
    }

    fn eval(&mut self, cx: &Classifier<'_>, argv: &[RWord]) -> Flow {
        let words = rest(argv, 1);
        self.run_words(cx, &words, true)
    }

    /// `alias NAME='CMD'`: the alias runs its value later on the same line or in the session, so the value
    /// is judged as a command where it is defined (`alias ll='rm -rf ~'; ll`).
    fn alias(&mut self, cx: &Classifier<'_>, argv: &[RWord]) -> Flow {
        for word in argv.iter().skip(1) {
            if let Some((_, value)) = word.text.split_once('=')
                && !value.trim().is_empty()
            {
                let value = value.to_string();
                self.nested(cx, &value, Map::Whole(word.span), word.span);
            }
        }
        Flow::None
    }

    fn trap(&mut self, cx: &Classifier<'_>, argv: &[RWord]) -> Flow {
        match argv.get(1..) {
            Some([action, _, ..]) if !action.text.starts_with('-') => {
                self.run_words(cx, std::slice::from_ref(action), false);
            }
            _ => {}
        }
        Flow::None
    }

    fn watch(&mut self, cx: &Classifier<'_>, argv: &[RWord]) -> Flow {
        let exec = argv
            .iter()
            .any(|w| matches!(w.text.as_str(), "-x" | "--exec"));
        let i = skip_options(argv, 1, "nq", &["--interval", "--equexit", "--errexit"]);
        let inner = rest(argv, i);
        if inner.is_empty() {
            return Flow::None;
        }
        if exec {
            return self.dispatch(cx, inner, Flow::None);
        }
        self.run_words(cx, &inner, false);
        Flow::Command(argv.to_vec())
    }

    fn xargs(&mut self, cx: &Classifier<'_>, argv: &[RWord], stdin: &Flow) -> Flow {
        let mut i = 1;
        let mut replace: Option<String> = None;
        while let Some(word) = argv.get(i) {
            let t = word.text.as_str();
            if t == "--" {
                i += 1;
                break;
            }
            if !t.starts_with('-') || t == "-" {
                break;
            }
            i += 1;
            if t == "-I" {
                replace = argv.get(i).map(|w| w.text.clone());
                i += 1;
            } else if let Some(r) = t.strip_prefix("-I") {
                replace = Some(r.to_string());
            } else if t == "-i" || t == "--replace" {
                replace = Some("{}".to_string());
            } else if let Some(r) = t
                .strip_prefix("-i")
                .or_else(|| t.strip_prefix("--replace="))
            {
                replace = Some(r.to_string());
            } else if t.starts_with("--") {
                let long = [
                    "--max-args",
                    "--max-lines",
                    "--max-procs",
                    "--max-chars",
                    "--delimiter",
                    "--arg-file",
                    "--eof",
                ];
                i += usize::from(!t.contains('=') && long.contains(&t));
            } else if let Some(last) = t.strip_prefix('-').and_then(|f| f.chars().last()) {
                let takes = t
                    .strip_prefix('-')
                    .and_then(|f| f.find(|c| "ELnPsda".contains(c)));
                if takes.is_some_and(|at| at + 2 == t.len()) && "ELnPsda".contains(last) {
                    i += 1;
                }
            }
        }
        let mut inner = rest(argv, i);
        let here = argv.first().map_or(Span::new(0, 0), |w| w.span);
        if inner.is_empty() {
            inner.push(RWord::synthetic("echo", here));
        }
        let items: Vec<RWord> = match stdin {
            Flow::Literal(data) => data
                .text
                .split_whitespace()
                .take(32)
                .map(|item| RWord {
                    decoded: data.decoded,
                    ..RWord::synthetic(item, data.span())
                })
                .collect(),
            // Items from another command's output: `{}`, written as the substitution they come from (so
            // `pgrep airlock | xargs kill` reads like `kill $(pgrep airlock)`).
            Flow::Command(producer) => vec![RWord {
                raw: format!(
                    "$({})",
                    producer
                        .iter()
                        .map(|w| w.text.as_str())
                        .collect::<Vec<_>>()
                        .join(" ")
                ),
                ..RWord::synthetic("{}", here)
            }],
            _ => vec![RWord::synthetic("{}", here)],
        };
        match replace {
            Some(token) if !token.is_empty() => {
                for item in items.iter().take(8) {
                    let argv: Vec<RWord> = inner
                        .iter()
                        .map(|w| {
                            if w.text.contains(&token) {
                                RWord {
                                    text: w.text.replace(&token, &item.text),
                                    ..w.clone()
                                }
                            } else {
                                w.clone()
                            }
                        })
                        .collect();
                    self.dispatch(cx, argv, Flow::None);
                }
            }
            _ => {
                inner.extend(items);
                self.dispatch(cx, inner, Flow::None);
            }
        }
        Flow::Command(argv.to_vec())
    }

    fn find(&mut self, cx: &Classifier<'_>, argv: &[RWord], stdin: &Flow) -> Flow {
        self.classify_argv(cx, argv, stdin);
        let mut i = 1;
        while let Some(word) = argv.get(i) {
            i += 1;
            if !matches!(word.text.as_str(), "-exec" | "-execdir" | "-ok" | "-okdir") {
                continue;
            }
            let start = i;
            while argv
                .get(i)
                .is_some_and(|w| !matches!(w.text.as_str(), ";" | "+"))
            {
                i += 1;
            }
            let mut inner: Vec<RWord> = argv
                .get(start..i)
                .map(<[RWord]>::to_vec)
                .unwrap_or_default();
            // `{}` stands for each path found: when the search has one root and is narrowed by
            // `-name PATTERN` alone, say so (`./**/node_modules`), so the target can be judged.
            if let Some(found) = find_target(argv) {
                for word in inner.iter_mut().filter(|w| w.text == "{}") {
                    word.text = found.clone();
                }
            }
            if !inner.is_empty() {
                self.dispatch(cx, inner, Flow::None);
            }
            i += 1;
        }
        Flow::Command(argv.to_vec())
    }

    /// `script -c CMD [file]` runs CMD in a pseudo-terminal.
    fn script_command(&mut self, cx: &Classifier<'_>, argv: &[RWord]) -> Flow {
        let at = argv.iter().position(|w| {
            matches!(w.text.as_str(), "-c" | "--command")
                || (w.text.starts_with('-') && !w.text.starts_with("--") && w.text.ends_with('c'))
        });
        if let Some(command) = at.and_then(|at| argv.get(at + 1)) {
            self.run_words(cx, std::slice::from_ref(command), false);
        }
        Flow::Command(argv.to_vec())
    }
}

/// The paths `find ROOT -name PATTERN … -exec` hands to its command, as one glob (`ROOT/**/PATTERN`),
/// when the search has exactly one root, exactly one `-name`/`-iname`, and no `-o`/`-or`/`!`/`-not`
/// that could widen it. `None` when the set cannot be described that simply.
fn find_target(argv: &[RWord]) -> Option<String> {
    let words: Vec<&str> = argv.iter().skip(1).map(|w| w.text.as_str()).collect();
    let first_expr = words
        .iter()
        .position(|w| w.starts_with('-') || matches!(*w, "(" | "!" | ","))
        .unwrap_or(words.len());
    let (roots, expr) = words.split_at(first_expr);
    let mut names = Vec::new();
    let mut expr = expr.iter();
    while let Some(word) = expr.next() {
        match *word {
            "-exec" | "-execdir" | "-ok" | "-okdir" => break,
            "-o" | "-or" | "!" | "-not" | "(" | ")" | "," => return None,
            "-path" | "-ipath" | "-regex" | "-iregex" | "-wholename" | "-iwholename" => {
                return None;
            }
            "-name" | "-iname" => names.push(*expr.next()?),
            _ => {}
        }
    }
    let root = match roots {
        [] => ".",
        [root] => *root,
        _ => return None,
    };
    // A sweep of `/`, a home or a system directory stays an unknown set (`{}`), held for a person.
    use crate::classify::paths::{PathClass, classify_path, rules};
    if let PathClass::Broad(rule) = classify_path(root)
        && [rules::ROOT, rules::HOME, rules::SYSTEM].contains(&rule)
    {
        return None;
    }
    let root = root.trim_end_matches('/');
    match names.as_slice() {
        [name] if !name.contains('/') => Some(format!("{root}/**/{name}")),
        _ => None,
    }
}
