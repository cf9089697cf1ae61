//! Command-line classifier: judges one resolved simple command (argv plus what flows into its standard
//! input), already unwrapped of `sudo`, `bash -c`, `xargs`, … by the shell classifier.
//!
//! - CLIs whose destructive subcommands are data: the `[rule.shell]` patterns of the catalogue
//!   ([`ShellPattern`]; git, docker, kubectl, terraform, aws, gcloud, az, railway, fly, heroku, …).
//! - Commands judged in code: deletes and overwrites of paths and disks (`fs`), database clients whose
//!   SQL goes to the SQL classifier (`db`), HTTP clients turned into HTTP requests (`net`), and
//!   exfiltration of secrets (`exfil`), changes to airlock itself from inside an agent (`airlock_self`),
//!   and commands that add or replace the SSH keys allowed to log in (`login_keys`).
//!
//! Span convention: an action's span runs from the first word of the command to the end of the last
//! word that triggered the rule (the subcommand word, the flag, the target path); HTTP actions cover the
//! whole command; SQL and JavaScript found in an argument point into that argument when it is verbatim.
//! Benign commands yield no action; help and dry runs (`--help`, `-h`, `help`, `--dry-run`, `--what-if`)
//! are never destructive.

mod airlock_self;
mod args;
mod db;
pub(crate) mod exfil;
mod flags;
mod fs;
mod login_keys;
mod net;
mod pattern;
#[cfg(test)]
pub(crate) mod tests;

use crate::action::{Action, Span};
use crate::classify::Classifier;

pub use pattern::ShellPattern;

/// One word of a resolved simple command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Word {
    /// The word after quote removal and expansion of what is statically known (`r''m` → `rm`,
    /// `$X` → `rm` when `X=rm` was assigned earlier on the line, `~` kept as `~`).
    pub text: String,
    /// The word exactly as written in the source (keeps Windows backslashes: `C:\Users\dev`).
    pub raw: String,
    /// Where the word is in the top-level input.
    pub span: Span,
}

/// What flows into a command's standard input.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Stdin {
    /// Nothing known (a terminal or a file).
    #[default]
    None,
    /// Literal text: a heredoc, a here-string, or the output of `echo`/`printf`/`cat` of literals.
    Literal {
        /// The text.
        text: String,
        /// Where it is in the top-level input.
        span: Span,
    },
    /// The output of another command of the same pipeline (e.g. `cat ~/.aws/credentials`, `env`).
    Command {
        /// That command's argv.
        argv: Vec<Word>,
    },
}

/// Classifies one simple command (already unwrapped of `sudo`, `bash -c`, `xargs`, … by the shell
/// classifier) given what flows into its standard input.
pub fn classify_argv(cx: &Classifier<'_>, argv: &[Word], stdin: &Stdin) -> Vec<Action> {
    let mut out = Vec::new();
    let views = args::views(argv);
    for view in views.iter().filter(|v| !v.guess) {
        fs::classify(cx, argv, view, &mut out);
        db::classify(cx, argv, view, stdin, &mut out);
        net::classify(cx, argv, view, stdin, &mut out);
        exfil::classify(cx, argv, view, stdin, &mut out);
        airlock_self::classify(cx, argv, view, stdin, &mut out);
        login_keys::classify(cx, argv, view, &mut out);
    }
    pattern::classify(cx, argv, &views, &mut out);
    let mut seen: Vec<(String, Option<Span>)> = Vec::new();
    out.retain(|a| {
        let key = (a.evidence.rule.clone(), a.evidence.span);
        let fresh = !seen.contains(&key);
        seen.push(key);
        fresh
    });
    out
}
