//! Self-protection matched in code (catalogue family `airlock-self`, `catalog/airlock-self.toml`): from
//! inside an agent no command may change airlock itself.
//!
//! - `ALS010`: a command other than a reader names airlock's own files (configuration, policy, database,
//!   snapshots: anything under `.airlock/` or `$AIRLOCK_HOME`, `airlock.db`, …) or its program
//!   (`…/bin/airlock`, `$(which airlock)`) — `mv`, `cp` onto it, `ln -sf` over it, `chmod`, `sed -i`,
//!   `tee`, `sqlite3`, an editor, a script, an interpreter one-liner that mentions them;
//! - `ALS011`: the same for an agent's hook settings (`~/.claude/settings.json`, `.cursor/hooks.json`,
//!   `~/.codex/hooks.json`, `~/.codex/config.toml`, `.gemini/settings.json`, …) or an agent's whole
//!   directory (`mv ~/.claude ~/.claude.off`);
//! - `ALS006`: `kill` of process ids looked up by name (`kill $(pgrep airlock)`, `pgrep -f airlock |
//!   xargs kill`).
//!
//! Reading stays allowed: `cat`, `less`, `grep`, `jq`, `ls`, `diff`, `git diff|log|show|add|commit`, `sed`
//! and `awk` without in-place editing, `tar` that does not extract, the source side of `cp`/`scp`/`rsync`,
//! and `airlock` itself (its subcommands that only a person may run are `[rule.shell]` patterns of the same
//! catalogue file). `rm` and friends (`fs.rs`), redirections (the shell walker) and file requests judge
//! their paths with `classify_path`, which reports airlock's files as `ALS012` and hook settings as
//! `ALS013`.

use super::Stdin;
use super::args::{self, View};
use super::fs::path_text;
use crate::action::Action;
use crate::classify::Classifier;
use crate::classify::paths::{PathClass, classify_path, rules};
use crate::classify::shell_cli::Word;
use crate::request::RequestKind;

/// A command that changes airlock's own files or program.
const RULE_FILES: &str = "ALS010";
/// A command that changes an agent's hook settings.
const RULE_HOOKS: &str = "ALS011";
/// `kill` of process ids looked up by airlock's name.
const RULE_KILL_LOOKUP: &str = "ALS006";

/// Commands that only read the paths they are given (or never change an existing file).
const READERS: &[&str] = &[
    "cat",
    "tac",
    "less",
    "more",
    "most",
    "head",
    "tail",
    "bat",
    "batcat",
    "nl",
    "grep",
    "egrep",
    "fgrep",
    "rg",
    "ag",
    "ack",
    "ls",
    "ll",
    "dir",
    "exa",
    "eza",
    "lsd",
    "tree",
    "stat",
    "file",
    "wc",
    "diff",
    "cmp",
    "sdiff",
    "colordiff",
    "delta",
    "sha1sum",
    "sha224sum",
    "sha256sum",
    "sha384sum",
    "sha512sum",
    "md5sum",
    "md5",
    "shasum",
    "b2sum",
    "cksum",
    "sum",
    "jq",
    "gron",
    "realpath",
    "readlink",
    "dirname",
    "basename",
    "du",
    "df",
    "test",
    "[",
    "echo",
    "printf",
    "which",
    "type",
    "whereis",
    "command",
    "strings",
    "hexdump",
    "xxd",
    "od",
    "locate",
    "find",
    "fd",
    "pwd",
    "cd",
    "pushd",
    "popd",
    "ldd",
    "otool",
    "nm",
    "objdump",
    "source",
    ".",
    "mkdir",
    "zip",
    "airlock",
];

/// Deleting commands whose targets `fs.rs` judges with the path rules already.
pub(super) const DELETERS: &[&str] = &[
    "rm",
    "unlink",
    "rmdir",
    "rd",
    "del",
    "erase",
    "ri",
    "remove-item",
    "srm",
    "shred",
];

/// Commands whose last positional is the destination and the others are only read.
pub(super) const COPIERS: &[&str] = &["cp", "copy-item", "install", "rsync", "scp", "ln", "ditto"];

/// Inline interpreters whose code may name a protected file in the middle of a string.
const INTERPRETERS: &[&str] = &[
    "python",
    "python2",
    "python3",
    "pypy",
    "pypy3",
    "node",
    "nodejs",
    "bun",
    "deno",
    "perl",
    "ruby",
    "php",
    "lua",
    "osascript",
    "pwsh",
    "powershell",
];

/// `git` subcommands that do not change files in the working tree.
const GIT_READERS: &[&str] = &[
    "add",
    "commit",
    "diff",
    "log",
    "show",
    "status",
    "blame",
    "annotate",
    "grep",
    "ls-files",
    "ls-tree",
    "cat-file",
    "check-ignore",
    "shortlog",
    "difftool",
    "rev-parse",
];

/// Adds the self-protection actions for the command read as `view`.
pub(crate) fn classify(
    cx: &Classifier<'_>,
    argv: &[Word],
    view: &View,
    stdin: &Stdin,
    out: &mut Vec<Action>,
) {
    let cmd = view.cmd.as_str();
    let args_from = view.first + 1;
    let words = argv.get(args_from..).unwrap_or_default();
    if cmd == "kill" {
        if words.iter().any(|w| looks_up_airlock(&w.raw)) || stdin_looks_up_airlock(stdin) {
            let last = argv.len().saturating_sub(1);
            out.push(cx.action(
                RULE_KILL_LOOKUP,
                RequestKind::Shell,
                args::joined(argv, view.first),
                args::span_to(argv, last),
            ));
        }
        return;
    }
    if DELETERS.contains(&cmd) {
        // The path rules judge single files; a whole agent directory is this module's.
        let dir = (args_from..argv.len())
            .find(|&idx| argv.get(idx).is_some_and(|w| is_agent_dir(&path_text(w))));
        if let Some(idx) = dir
            && let Some(word) = argv.get(idx)
        {
            out.push(cx.action(
                RULE_HOOKS,
                RequestKind::Shell,
                path_text(word),
                args::span_to(argv, idx),
            ));
        }
        return;
    }
    if only_reads(cmd, words) {
        return;
    }
    let candidates: Vec<usize> = if COPIERS.contains(&cmd) {
        destinations(argv, args_from)
    } else {
        (args_from..argv.len()).collect()
    };
    let interpreter = INTERPRETERS.contains(&cmd) || cmd.starts_with("python3.");
    let mut fired: Vec<&str> = Vec::new();
    for idx in candidates {
        let Some(word) = argv.get(idx) else { continue };
        if !may_name_protected(word) {
            continue;
        }
        let found = protected_word(word).or_else(|| {
            interpreter
                .then(|| mentions_protected(&word.text))
                .flatten()
        });
        if let Some(rule) = found
            && !fired.contains(&rule)
        {
            fired.push(rule);
            out.push(cx.action(
                rule,
                RequestKind::Shell,
                path_text(word),
                args::span_to(argv, idx),
            ));
        }
    }
    if COPIERS.contains(&cmd) && !fired.contains(&RULE_FILES) {
        copies_airlock_into_bin(cx, argv, args_from, out);
    }
}

/// Whether this use of `cmd` only reads its arguments.
pub(super) fn only_reads(cmd: &str, words: &[Word]) -> bool {
    if READERS.contains(&cmd) {
        return true;
    }
    let texts = || words.iter().map(|w| w.text.as_str());
    let short_cluster_has = |t: &str, c: char| {
        t.starts_with('-') && !t.starts_with("--") && t.len() > 1 && t.contains(c)
    };
    match cmd {
        // In-place editing is the only way sed changes a file.
        "sed" | "gsed" => {
            !texts().any(|t| t.starts_with("--in-place") || short_cluster_has(t, 'i'))
        }
        "awk" | "gawk" => !texts().any(|t| t == "inplace" || t.contains("-i inplace")),
        "tar" | "bsdtar" | "gtar" => {
            let mut all = texts();
            let first_is_old_style_extract = all
                .next()
                .is_some_and(|t| !t.starts_with('-') && t.contains('x'));
            !(first_is_old_style_extract
                || texts().any(|t| matches!(t, "--extract" | "--get") || short_cluster_has(t, 'x')))
        }
        "git" => git_subcommand(words).is_some_and(|sub| GIT_READERS.contains(&sub)),
        _ => false,
    }
}

/// The subcommand of a `git` invocation (global options and their values skipped).
fn git_subcommand(words: &[Word]) -> Option<&str> {
    let mut iter = words.iter().map(|w| w.text.as_str());
    while let Some(t) = iter.next() {
        match t {
            "-C" | "-c" | "--git-dir" | "--work-tree" | "--namespace" => {
                iter.next();
            }
            t if t.starts_with('-') => {}
            sub => return Some(sub),
        }
    }
    None
}

/// Argv indexes of a copying command's destinations: its last positional word and the value of
/// `-t`/`--target-directory`.
pub(super) fn destinations(argv: &[Word], from: usize) -> Vec<usize> {
    let mut out = Vec::new();
    let mut last_positional = None;
    let mut idx = from;
    while let Some(word) = argv.get(idx) {
        let t = word.text.as_str();
        if t == "-t" || t == "--target-directory" {
            if argv.get(idx + 1).is_some() {
                out.push(idx + 1);
            }
            idx += 2;
            continue;
        }
        if t.starts_with("--target-directory=") {
            out.push(idx);
        } else if !t.starts_with('-') {
            last_positional = Some(idx);
        }
        idx += 1;
    }
    out.extend(last_positional);
    out
}

/// The names every protected place is spelled with — airlock's files, program and `$AIRLOCK_HOME`
/// (`airlock`), the agents' directories and hook settings (`.claude`, `.cursor`, `.codex`, `.gemini`) —
/// packed for [`spells_protected_name`].
const PROTECTED_NAMES: [(u64, u64); 5] = [
    pack("airlock"),
    pack("claude"),
    pack("cursor"),
    pack("codex"),
    pack("gemini"),
];

/// A name of at most eight bytes as the low bytes of a `u64`, and the mask of those bytes.
const fn pack(name: &str) -> (u64, u64) {
    let mut rest = name.as_bytes();
    let (mut value, mut mask) = (0u64, 0u64);
    while let [first, tail @ ..] = rest {
        value = (value << 8) | *first as u64;
        mask = (mask << 8) | 0xff;
        rest = tail;
    }
    (value, mask)
}

/// A cheap necessary condition for [`protected_word`] and [`mentions_protected`], so that long arguments
/// (a JSON body, a message) are not path-classified for nothing: the word, as written or as resolved,
/// spells one of [`PROTECTED_NAMES`].
fn may_name_protected(word: &Word) -> bool {
    spells_protected_name(&word.raw) || (word.text != word.raw && spells_protected_name(&word.text))
}

/// Each byte as [`spells_protected_name`] reads it: an ASCII letter in lower case, a digit as is, `0`
/// for any other byte (dropped).
#[allow(
    clippy::indexing_slicing,
    reason = "evaluated at compile time: an index out of range fails the build"
)]
const FOLDED: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut byte = 0;
    while byte < 256 {
        let b = byte as u8;
        if b.is_ascii_alphanumeric() {
            table[byte] = b.to_ascii_lowercase();
        }
        byte += 1;
    }
    table
};

/// Whether `text` contains one of [`PROTECTED_NAMES`] once ASCII case is folded and every character other
/// than an ASCII letter or digit is dropped (`$AIR.LOCK_HOME` reads as `$AIRLOCK_HOME` to the path judge,
/// which keeps only letters, digits and `_` of a variable name). Text with non-ASCII characters always
/// passes: Unicode case folding can turn it into these names (`K`, the Kelvin sign, folds to `k`).
/// Runs over the bytes once, without allocating: the last eight letters and digits seen are kept in a
/// `u64`.
fn spells_protected_name(text: &str) -> bool {
    if !text.is_ascii() {
        return true;
    }
    let [airlock, claude, cursor, codex, gemini] = PROTECTED_NAMES;
    let ends = |window: u64, (name, mask): (u64, u64)| window & mask == name;
    let mut window = 0u64;
    for byte in text.bytes() {
        let byte = FOLDED.get(usize::from(byte)).copied().unwrap_or_default();
        if byte == 0 {
            continue;
        }
        window = (window << 8) | u64::from(byte);
        // Only a name's last letter can complete it, and each name ends in a different letter.
        let found = match byte {
            b'k' => ends(window, airlock),
            b'e' => ends(window, claude),
            b'r' => ends(window, cursor),
            b'x' => ends(window, codex),
            b'i' => ends(window, gemini),
            _ => false,
        };
        if found {
            return true;
        }
    }
    false
}

/// The rule for a word that names a protected place, if it does.
fn protected_word(word: &Word) -> Option<&'static str> {
    if looks_up_airlock_program(&word.raw) {
        return Some(RULE_FILES);
    }
    let text = path_text(word);
    // `--flag=PATH` and `of=PATH` name a path after the `=`.
    let value = text
        .split_once('=')
        .filter(|(key, _)| !key.contains('/'))
        .map(|(_, value)| value);
    [Some(text.as_str()), value]
        .into_iter()
        .flatten()
        .find_map(protected_path)
}

/// `ALS010` for airlock's files and program, `ALS011` for an agent's hook settings or directory.
fn protected_path(path: &str) -> Option<&'static str> {
    if path.trim().is_empty() {
        return None;
    }
    match classify_path(path) {
        PathClass::Sensitive(rules::AIRLOCK) => return Some(RULE_FILES),
        PathClass::Sensitive(rules::AGENT_HOOKS) => return Some(RULE_HOOKS),
        _ => {}
    }
    is_agent_dir(path).then_some(RULE_HOOKS)
}

/// Whether a path is an agent's whole directory (`~/.claude`, `.cursor/`, …), which holds its hook settings.
fn is_agent_dir(path: &str) -> bool {
    let trimmed = path
        .trim()
        .trim_end_matches(['/', '\\', '*'])
        .trim_end_matches(['/', '\\'])
        .to_ascii_lowercase();
    let last = trimmed.rsplit(['/', '\\']).next().unwrap_or(&trimmed);
    matches!(last, ".claude" | ".cursor" | ".codex" | ".gemini")
}

/// Text that names a protected file inside a larger string (interpreter code).
fn mentions_protected(text: &str) -> Option<&'static str> {
    let lower = text.to_ascii_lowercase().replace('\\', "/");
    const FILES: &[&str] = &[
        ".airlock/",
        ".airlock'",
        ".airlock\"",
        "airlock.db",
        "airlock.toml",
        "airlock_home",
        "bin/airlock",
    ];
    const HOOKS: &[&str] = &[
        ".claude/settings.json",
        ".claude/settings.local.json",
        ".cursor/hooks.json",
        ".codex/hooks.json",
        ".codex/config.toml",
        ".gemini/settings.json",
    ];
    if FILES.iter().any(|m| lower.contains(m)) {
        Some(RULE_FILES)
    } else if HOOKS.iter().any(|m| lower.contains(m)) {
        Some(RULE_HOOKS)
    } else {
        None
    }
}

/// `$(which airlock)`, `` `command -v airlock` ``, …: the path of the airlock program.
fn looks_up_airlock_program(raw: &str) -> bool {
    let lower = raw.to_ascii_lowercase();
    ["which ", "command -v ", "type -p ", "type -P ", "whereis "]
        .iter()
        .any(|lookup| {
            lower
                .match_indices(&lookup.to_ascii_lowercase())
                .any(|(at, l)| {
                    lower
                        .get(at + l.len()..)
                        .is_some_and(|rest| rest.trim_start().starts_with("airlock"))
                })
        })
}

/// Whether lowercase `text` names one of airlock's processes: `airlock …`, or the resident judge hooks start
/// (`airlock resident-judge`, found by `pgrep -f resident-judge` too).
fn names_airlock_process(lower: &str) -> bool {
    lower.contains("airlock") || lower.contains("resident-judge")
}

/// `$(pgrep airlock)`, `` `pidof airlock` ``: process ids of airlock.
fn looks_up_airlock(raw: &str) -> bool {
    let lower = raw.to_ascii_lowercase();
    (lower.contains("pgrep") || lower.contains("pidof") || lower.contains("ps "))
        && names_airlock_process(&lower)
}

/// `pgrep airlock | xargs kill`: the ids come from a lookup of airlock's processes.
fn stdin_looks_up_airlock(stdin: &Stdin) -> bool {
    match stdin {
        Stdin::Command { argv } => {
            argv.first()
                .is_some_and(|w| matches!(args::command_name(&w.text).as_str(), "pgrep" | "pidof"))
                && argv
                    .iter()
                    .any(|w| names_airlock_process(&w.text.to_ascii_lowercase()))
        }
        Stdin::Literal { .. } | Stdin::None => false,
    }
}

/// `cp target/release/airlock ~/.local/bin/` (a file named `airlock` copied into a `bin` directory).
fn copies_airlock_into_bin(cx: &Classifier<'_>, argv: &[Word], from: usize, out: &mut Vec<Action>) {
    let dests = destinations(argv, from);
    let Some(&dest_idx) = dests.last() else {
        return;
    };
    let Some(dest) = argv.get(dest_idx) else {
        return;
    };
    let dest_text = path_text(dest);
    let dest_last = dest_text
        .trim_end_matches(['/', '\\'])
        .rsplit(['/', '\\'])
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    if dest_last != "bin" {
        return;
    }
    let source_is_airlock = argv
        .iter()
        .enumerate()
        .skip(from)
        .filter(|(i, w)| *i != dest_idx && !w.text.starts_with('-'))
        .any(|(_, w)| {
            let name = args::command_name(&w.text);
            name == "airlock"
        });
    if source_is_airlock {
        out.push(cx.action(
            RULE_FILES,
            RequestKind::Shell,
            dest_text,
            args::span_to(argv, dest_idx),
        ));
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "tests")]
mod tests {
    use super::*;
    use crate::action::Span;

    fn word(text: &str) -> Word {
        Word {
            text: text.to_string(),
            raw: text.to_string(),
            span: Span { start: 0, end: 0 },
        }
    }

    /// Whether the full checks find a protected place in this word.
    fn fully_protected(word: &Word) -> bool {
        protected_word(word).is_some() || mentions_protected(&word.text).is_some()
    }

    #[test]
    fn the_prefilter_lets_through_every_spelling_of_a_protected_place() {
        for text in [
            "~/.airlock/airlock.db",
            "$AIRLOCK_HOME",
            "${AIRLOCK_HOME}/policy.cedar",
            "$AIR.LOCK_HOME/x",
            "%AIRLOCK_HOME%\\airlock.db",
            "/usr/local/bin/AIRLOCK",
            "--config=/home/dev/.airlock/airlock.toml",
            "of=airlock.db-wal",
            "$(which airlock)",
            "~/.Claude/settings.json",
            ".cursor/hooks.json",
            "~/.codex/config.toml",
            "/root/.gemini/settings.json",
            "~/.claude",
            "open('/home/u/.airlock/airlock.db','w')",
            "~/.airloc\u{212A}/x",
        ] {
            let w = word(text);
            assert!(fully_protected(&w), "{text} should be protected");
            assert!(may_name_protected(&w), "the prefilter drops {text}");
        }
    }

    #[test]
    fn the_prefilter_drops_ordinary_arguments() {
        for text in [
            "-X",
            "POST",
            "https://backboard.railway.com/graphql/v2",
            "Authorization: Bearer $RAILWAY_TOKEN",
            r#"{"query":"mutation { volumeDelete(volumeId: \"8a4c\") }"}"#,
            "src/main.rs",
        ] {
            assert!(!may_name_protected(&word(text)), "{text}");
        }
    }

    #[test]
    fn every_protected_name_ends_in_a_letter_the_prefilter_checks_at() {
        for name in ["airlock", "claude", "cursor", "codex", "gemini"] {
            assert!(spells_protected_name(name), "{name}");
            assert!(
                spells_protected_name(&format!("x-{}-y", name.to_uppercase())),
                "{name}"
            );
            assert!(!spells_protected_name(name.get(1..).unwrap()), "{name}");
        }
    }

    proptest::proptest! {
        /// Dropping a word the prefilter rejects never loses a detection.
        #[test]
        fn a_word_the_prefilter_drops_is_never_protected(
            parts in proptest::collection::vec(
                proptest::sample::select(vec![
                    "airlock", "AIR", "lock", "air", "LOCK", "_HOME", "home", ".", "/", "\\", "~", "$",
                    "${", "}", "%", "=", "-", "'", "\"", "..", "bin", "usr", "claude", "Cursor", "codex",
                    "gemini", "settings.json", "hooks.json", "config.toml", ".db", ".toml", "x", " ",
                    "which ", "$(", ")", "env:", "C:", "K", "\u{212A}", "\u{130}",
                ]),
                0..12,
            )
        ) {
            let text: String = parts.concat();
            let w = word(&text);
            if !may_name_protected(&w) {
                proptest::prop_assert!(!fully_protected(&w), "{text:?} is protected but dropped");
            }
        }
    }
}
