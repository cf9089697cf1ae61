//! Catalogue patterns for command lines (`[rule.shell]`): a command, the leading positional words of its
//! subcommand, and flags or arguments that must (or must not) be present. Matched against every reading
//! of an argv (see [`super::args::views`]); the most specific matching rule wins, one action per command.

use serde::Deserialize;

use crate::action::Action;
use crate::classify::shell_cli::Word;
use crate::classify::shell_cli::args::{self, Item, View, glob, glob_any};
use crate::classify::{Classifier, environment_hint};
use crate::request::RequestKind;

/// A catalogue pattern for a command line, the `[rule.shell]` table of a rule.
///
/// ```toml
/// [rule.shell]
/// commands = ["kubectl", "oc"]      # argv[0] basename, lowercase (globs allowed)
/// subcommand = ["delete", "namespace|ns|namespaces"]
/// unless_flags = ["--dry-run=*"]
/// ```
///
/// Besides `unless_flags`, no rule matches a command asking for help or a dry run (`--help`, `-h`,
/// `help`, `--dry-run[=…]` except `=none`, `--dryrun`, `--what-if`, `-WhatIf`, `/?`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShellPattern {
    /// The command (basename of `argv[0]`, lowercase, without `.exe`), or a glob of it.
    #[serde(default)]
    pub command: Option<String>,
    /// Several names of the same command (`["fly", "flyctl"]`).
    #[serde(default)]
    pub commands: Vec<String>,
    /// The leading positional words after the command (flags and their values skipped). Each element is a
    /// glob with `|` alternatives (`"delete-*|terminate-*"`); `"*"` is any one word, `"**"` any number.
    #[serde(default)]
    pub subcommand: Vec<String>,
    /// At least one of these flags must be present (globs; `--replicas=0` matches `--replicas 0` for a
    /// flag known to take a value; `-f` matches a cluster such as `-fdx`).
    #[serde(default)]
    pub any_flag: Vec<String>,
    /// All of these flags must be present.
    #[serde(default)]
    pub all_flags: Vec<String>,
    /// None of these flags may be present (`-n` for `git clean`).
    #[serde(default)]
    pub unless_flags: Vec<String>,
    /// At least one argument after the subcommand (a positional word, or `--`) must match one of these
    /// globs (`"+*"` for a forced refspec, `"/s"` for a cmd switch).
    #[serde(default)]
    pub any_arg: Vec<String>,
    /// No argument after the subcommand may match one of these globs.
    #[serde(default)]
    pub unless_args: Vec<String>,
    /// Compare the command, words and flags ignoring ASCII case (Windows commands).
    #[serde(default)]
    pub case_insensitive: bool,
    /// Whether a one-dash word of several letters is a cluster of one-letter flags (default true; false
    /// for tools whose flags are one-dash words, such as terraform's `-destroy`).
    #[serde(default = "yes")]
    pub short_clusters: bool,
}

fn yes() -> bool {
    true
}

/// Families whose command arguments name an environment (namespace, app, stack, host).
const ENV_FAMILIES: &[&str] = &[
    "aws",
    "gcp",
    "azure",
    "k8s",
    "iac",
    "paas",
    "db-cli",
    "orm",
    "containers",
    "secrets",
    "forge",
];

struct Found {
    score: u32,
    last: usize,
}

/// Adds the action of the most specific catalogue rule matching any reading of `argv`.
pub(crate) fn classify(cx: &Classifier<'_>, argv: &[Word], views: &[View], out: &mut Vec<Action>) {
    let mut best: Option<(&crate::catalog::Rule, &View, Vec<Item<'_>>, Found)> = None;
    for view in views {
        let items = args::parse(&view.cmd, argv, view.first);
        let mut view_best: Option<(&crate::catalog::Rule, Found)> = None;
        // Only the rules whose command can match (the others fail `command_matches`).
        for rule in cx.catalog.shell_rules_for(&view.cmd) {
            let Some(pattern) = rule.shell.as_ref() else {
                continue;
            };
            let Some(found) = matches(pattern, &view.cmd, view.first, &items) else {
                continue;
            };
            if view_best
                .as_ref()
                .is_none_or(|(_, b)| found.score > b.score)
            {
                view_best = Some((rule, found));
            }
        }
        if let Some((rule, found)) = view_best
            && best.as_ref().is_none_or(|b| found.score > b.3.score)
        {
            best = Some((rule, view, items, found));
        }
    }
    let Some((rule, view, items, found)) = best else {
        return;
    };
    let mut action = cx.action(
        &rule.id,
        RequestKind::Shell,
        args::joined(argv, view.first),
        args::span_to(argv, found.last),
    );
    if action.environment.is_none() && ENV_FAMILIES.contains(&rule.family.as_str()) {
        action.environment = environment_of(&items).map(str::to_string);
    }
    out.push(action);
}

/// The environment named by the values and positional words of a command (production wins over staging,
/// staging over development).
pub(crate) fn environment_of(items: &[Item<'_>]) -> Option<&'static str> {
    let mut found: Option<&'static str> = None;
    for item in items {
        let text = match *item {
            Item::Flag { value: Some(v), .. } => v,
            Item::Pos { text, .. } => text,
            _ => continue,
        };
        match environment_hint(text) {
            Some("production") => return Some("production"),
            Some("staging") => found = Some("staging"),
            Some(other) if found.is_none() => found = Some(other),
            _ => {}
        }
    }
    found
}

fn command_matches(p: &ShellPattern, cmd: &str) -> bool {
    p.command
        .iter()
        .chain(p.commands.iter())
        .any(|c| glob(c, cmd, true))
}

/// Whether a flag item matches the pattern flag `pat`.
fn flag_matches(pat: &str, item: &Item<'_>, ci: bool, clusters: bool) -> bool {
    pat.split('|')
        .any(|alt| flag_matches_one(alt, item, ci, clusters))
}

fn flag_matches_one(pat: &str, item: &Item<'_>, ci: bool, clusters: bool) -> bool {
    let Item::Flag { name, value, .. } = *item else {
        return false;
    };
    if glob(pat, name, ci) {
        return true;
    }
    if let Some(value) = value
        && pat.contains('=')
        && glob(pat, &format!("{name}={value}"), ci)
    {
        return true;
    }
    if clusters && value.is_none() {
        let mut chars = pat.chars();
        if let (Some('-'), Some(letter), None) = (chars.next(), chars.next(), chars.next()) {
            return letter.is_ascii_alphanumeric() && args::cluster_has(name, letter);
        }
    }
    false
}

/// Help or dry-run requests (`help` anywhere among the positional words, as in `aws s3 rb help`): no
/// rule fires on them.
pub(crate) fn is_help_or_dry_run(cmd: &str, items: &[Item<'_>]) -> bool {
    // Commands whose `-h` is not help.
    let h_is_help = !matches!(
        cmd,
        "shutdown" | "halt" | "poweroff" | "reboot" | "sort" | "du" | "df" | "ls"
    );
    if items
        .iter()
        .any(|i| matches!(*i, Item::Pos { text, .. } if text.eq_ignore_ascii_case("help")))
    {
        return true;
    }
    items.iter().any(|item| match *item {
        Item::Flag { name, value, .. } => {
            let lower = name.to_ascii_lowercase();
            match lower.as_str() {
                "--help" | "-help" | "-?" | "--usage" | "--dryrun" | "--what-if" | "--whatif"
                | "-whatif" => true,
                "-h" => value.is_none() && h_is_help,
                "--dry-run" | "-dry-run" => {
                    !value.is_some_and(|v| v.eq_ignore_ascii_case("none") || v == "false")
                }
                _ => false,
            }
        }
        Item::Pos { text, .. } => text == "/?",
        Item::Sep { .. } => false,
    })
}

fn matches(p: &ShellPattern, cmd: &str, first: usize, items: &[Item<'_>]) -> Option<Found> {
    if !command_matches(p, cmd) || is_help_or_dry_run(cmd, items) {
        return None;
    }
    let ci = p.case_insensitive;
    let clusters = p.short_clusters && !ci;
    let pos = args::positionals(items);
    let mut matched = Vec::new();
    if !match_sub(&p.subcommand, &pos, ci, &mut matched) {
        return None;
    }
    let mut last = matched.last().copied().unwrap_or(first);
    let sub_end = last;
    let mut score = 1 + p.subcommand.iter().map(|t| token_score(t)).sum::<u32>();
    for flag in &p.unless_flags {
        if items.iter().any(|i| flag_matches(flag, i, ci, clusters)) {
            return None;
        }
    }
    for flag in &p.all_flags {
        let item = items.iter().find(|i| flag_matches(flag, i, ci, clusters))?;
        last = last.max(item.end());
        score += 1;
    }
    if !p.any_flag.is_empty() {
        let item = items
            .iter()
            .find(|i| p.any_flag.iter().any(|f| flag_matches(f, i, ci, clusters)))?;
        last = last.max(item.end());
        score += 1;
    }
    let rest = || {
        items.iter().filter_map(move |i| match *i {
            Item::Pos { text, idx } if idx > sub_end => Some((text, idx)),
            Item::Sep { idx } if idx > sub_end => Some(("--", idx)),
            _ => None,
        })
    };
    if rest().any(|(text, _)| p.unless_args.iter().any(|a| glob(a, text, ci))) {
        return None;
    }
    if !p.any_arg.is_empty() {
        let (_, idx) = rest().find(|(text, _)| p.any_arg.iter().any(|a| glob(a, text, ci)))?;
        last = last.max(idx);
        score += 1;
    }
    Some(Found { score, last })
}

fn token_score(token: &str) -> u32 {
    match token {
        "**" => 0,
        "*" => 1,
        t if t.contains('*') => 2,
        _ => 3,
    }
}

/// Matches the subcommand tokens against the leading positionals, recording the matched word indices.
fn match_sub(tokens: &[String], pos: &[(&str, usize)], ci: bool, matched: &mut Vec<usize>) -> bool {
    let Some((token, rest)) = tokens.split_first() else {
        return true;
    };
    if token == "**" {
        // Any number of words, then the rest: try the shortest skip first.
        for skip in 0..=pos.len() {
            let mark = matched.len();
            if match_sub(rest, pos.get(skip..).unwrap_or(&[]), ci, matched) {
                return true;
            }
            matched.truncate(mark);
        }
        return false;
    }
    let Some(((text, idx), more)) = pos.split_first() else {
        return false;
    };
    if !glob_any(token, text, ci) {
        return false;
    }
    matched.push(*idx);
    match_sub(rest, more, ci, matched)
}
