//! Rules matched in code for commands that delete or overwrite paths and disks: `rm` (and its Windows
//! forms `rd /s`, `del /s`, `Remove-Item -Recurse`), `find -delete`, `shred`, `dd of=/dev/…`, `mkfs`,
//! `wipefs`, partition editors, `truncate -s 0`, `cp /dev/null`, `mv … /dev/null`, `chmod -R`/`chown -R`.
//! Each target is judged with [`crate::classify::paths::classify_path`] plus the places that must never
//! be deleted from an agent (system roots, drive roots, home directories), which this module knows itself.

use crate::action::{Action, Effect};
use crate::classify::Classifier;
use crate::classify::paths::{PathClass, classify_path, rules};
use crate::classify::shell_cli::Word;
use crate::classify::shell_cli::args::{self, Item, View};
use crate::request::RequestKind;

/// The text of a path argument: the source form for Windows paths (whose backslashes the POSIX parser
/// removes), the expanded text otherwise.
pub(crate) fn path_text(word: &Word) -> String {
    let raw = word.raw.trim_matches(|c| c == '"' || c == '\'');
    let windowsy = raw.contains(":\\")
        || raw.starts_with("\\\\")
        || raw.starts_with(".\\")
        || raw.starts_with("..\\");
    if windowsy || (raw.contains('\\') && raw.contains("$env:")) {
        raw.to_string()
    } else {
        word.text.clone()
    }
}

/// A path normalised for comparisons: lowercase, `/` separators, home spelled `~`, no trailing `/`,
/// `/.` or `/*`.
pub(crate) fn normalize(path: &str) -> String {
    let mut p = path.trim().replace('\\', "/").to_ascii_lowercase();
    for home in [
        "${home}",
        "$home",
        "${env:userprofile}",
        "$env:userprofile",
        "%userprofile%",
        "$env:home",
        "${env:home}",
        "%homedrive%%homepath%",
        "%homepath%",
        "$env:homedrive$env:homepath",
    ] {
        if let Some(rest) = p.strip_prefix(home) {
            p = format!("~{rest}");
            break;
        }
    }
    while p.contains("//") && !p.starts_with("//") {
        p = p.replace("//", "/");
    }
    loop {
        let before = p.len();
        for suffix in ["/*", "/.", "/"] {
            if p.len() > 1
                && let Some(stripped) = p.strip_suffix(suffix)
            {
                p = stripped.to_string();
            }
        }
        if p.len() == before {
            break;
        }
    }
    if p.is_empty() { "/".to_string() } else { p }
}

const SYSTEM_DIRS: &[&str] = &[
    "/",
    "/*",
    "/etc",
    "/usr",
    "/bin",
    "/sbin",
    "/lib",
    "/lib32",
    "/lib64",
    "/boot",
    "/var",
    "/opt",
    "/sys",
    "/proc",
    "/dev",
    "/srv",
    "/mnt",
    "/media",
    "/system",
    "/library",
    "/applications",
    "/private",
    "/private/var",
    "/private/etc",
    "/usr/local",
    "/usr/bin",
    "/usr/lib",
    "/usr/share",
    "/var/lib",
    "/var/log",
    "/snap",
    "c:/windows",
    "c:/windows/system32",
    "c:/program files",
    "c:/program files (x86)",
    "c:/programdata",
];

/// Whether a normalised path is the filesystem root, a drive root or a system directory.
fn is_system(p: &str) -> bool {
    if SYSTEM_DIRS.contains(&p) {
        return true;
    }
    // `c:`, `d:`, `c:*` — a drive root.
    let mut chars = p.chars();
    let drive = chars.next().is_some_and(|d| d.is_ascii_alphabetic()) && chars.next() == Some(':');
    drive && matches!(chars.next(), None | Some('*'))
}

/// Whether a normalised path is a home directory or the directory of all homes.
fn is_home(p: &str) -> bool {
    if matches!(
        p,
        "~" | "/home" | "/users" | "/root" | "c:/users" | "/var/root"
    ) {
        return true;
    }
    if p.starts_with('~') && !p.contains('/') {
        return true; // `~user`
    }
    let parts: Vec<&str> = p.split('/').collect();
    matches!(parts.as_slice(), ["", "home" | "users", name] if !name.is_empty())
        || matches!(parts.as_slice(), [drive, "users", name] if drive.ends_with(':') && !name.is_empty())
}

fn unresolved(p: &str) -> bool {
    p.contains('$') || p.contains('`') || (p.matches('%').count() >= 2)
}

/// Judges one target of a delete (`recursive` when whole trees go): the rule to report, if any. Broad and
/// sensitive places report their `paths` rule id (`PTH…`, also for system roots and homes this module
/// recognises itself); unresolved targets and ordinary trees have `SHF` rules.
pub(crate) fn judge(path: &str, recursive: bool) -> Option<&'static str> {
    if path.contains("{}") {
        return Some("SHF005");
    }
    match classify_path(path) {
        PathClass::Disposable => None,
        PathClass::Broad(id) => {
            (recursive || path.contains('*') || path.contains('?')).then_some(id)
        }
        PathClass::Sensitive(id) => Some(id),
        PathClass::Ordinary => {
            let n = normalize(path);
            if !recursive {
                let wild_parent = n.ends_with('*')
                    && n.rsplit_once('/')
                        .is_some_and(|(d, _)| is_system(d) || is_home(d));
                return (wild_parent || matches!(n.as_str(), "*" | ".*" | "*.*"))
                    .then_some(rules::CWD);
            }
            if n == "/" || n.len() <= 3 && n.ends_with(':') {
                Some(rules::ROOT)
            } else if is_system(&n) {
                Some(rules::SYSTEM)
            } else if is_home(&n) {
                Some(rules::HOME)
            } else if unresolved(&n) && !n.starts_with('~') {
                Some("SHF005")
            } else if matches!(n.as_str(), "." | ".." | "*" | ".*" | "*.*" | "../*") {
                Some(rules::CWD)
            } else {
                Some("SHF004")
            }
        }
    }
}

/// Adds the actions of the path-judging rules for the command read as `view`.
pub(crate) fn classify(cx: &Classifier<'_>, argv: &[Word], view: &View, out: &mut Vec<Action>) {
    let cmd = view.cmd.as_str();
    match cmd {
        "rm" | "unlink" | "rmdir" | "rd" | "del" | "erase" | "ri" | "remove-item" | "srm"
        | "rimraf" => delete(cx, argv, view, out),
        "find" => find(cx, argv, view, out),
        "shred" => shred(cx, argv, view, out),
        "dd" => dd(cx, argv, view, out),
        "wipefs" | "sgdisk" | "blkdiscard" => wipe(cx, argv, view, out),
        "fdisk" | "sfdisk" | "gdisk" | "cfdisk" | "parted" => partition(cx, argv, view, out),
        "truncate" => truncate(cx, argv, view, out),
        "cp" | "copy-item" => copy_null(cx, argv, view, out),
        "mv" | "move-item" => move_null(cx, argv, view, out),
        "chmod" | "chown" | "chgrp" => permissions(cx, argv, view, out),
        _ if is_mkfs(cmd) => mkfs(cx, argv, view, out),
        _ => {}
    }
}

fn is_mkfs(cmd: &str) -> bool {
    cmd == "mkfs"
        || cmd.starts_with("mkfs.")
        || matches!(
            cmd,
            "mke2fs" | "mkswap" | "mkdosfs" | "mkntfs" | "newfs" | "newfs_apfs" | "newfs_hfs"
        )
}

fn push(
    cx: &Classifier<'_>,
    out: &mut Vec<Action>,
    rule: &str,
    target: &str,
    argv: &[Word],
    last: usize,
) {
    let mut action = cx.action(rule, RequestKind::Shell, target, args::span_to(argv, last));
    // Path rules are shared with file writes; here the place is deleted or overwritten.
    if rule.starts_with("PTH") || rule == rules::LOGIN_KEYS {
        action.effect = Effect::Delete;
    }
    out.push(action);
}

struct Deletion {
    recursive: bool,
    dry_run: bool,
    /// Target paths with the argv index of their word.
    targets: Vec<(String, usize)>,
}

/// The words of a delete command as `(text, path text, argv index)`. A Windows path ending in a
/// backslash before a space (`C:\ -Recurse`) is one POSIX word with an escaped space; it is split back.
fn deletion_tokens(argv: &[Word], view: &View) -> Vec<(String, String, usize)> {
    let mut tokens = Vec::new();
    for (idx, word) in argv.iter().enumerate().skip(view.first + 1) {
        let raw = word.raw.as_str();
        if raw.contains("\\ ") && (raw.contains(":\\") || raw.starts_with(".\\")) {
            tokens.extend(
                raw.split_whitespace()
                    .map(|piece| (piece.to_string(), piece.to_string(), idx)),
            );
        } else {
            tokens.push((word.text.clone(), path_text(word), idx));
        }
    }
    tokens
}

fn read_deletion(argv: &[Word], view: &View) -> Deletion {
    let cmd_style = matches!(view.cmd.as_str(), "rd" | "rmdir" | "del" | "erase");
    let mut d = Deletion {
        recursive: false,
        dry_run: false,
        targets: Vec::new(),
    };
    let tokens = deletion_tokens(argv, view);
    let mut after_sep = false;
    let mut iter = tokens.into_iter();
    while let Some((text, path, idx)) = iter.next() {
        let lower = text.to_ascii_lowercase();
        let switch = cmd_style && is_cmd_switch(&text);
        if after_sep || text == "-" || !(text.starts_with('-') || switch) {
            d.targets.push((path, idx));
            continue;
        }
        if text == "--" {
            after_sep = true;
            continue;
        }
        if switch {
            d.recursive |= lower.starts_with("/s");
            continue;
        }
        let name = lower.split(':').next().unwrap_or(&lower);
        match name {
            "--recursive" | "-r" => d.recursive = true,
            "--no-preserve-root" | "--force" | "--verbose" | "--one-file-system" | "--dir" => {}
            "-path" | "-literalpath" | "-lp" | "-pspath" | "-pa" => {
                if let Some((_, value, at)) = iter.next() {
                    d.targets.push((value, at));
                }
            }
            "-include" | "-exclude" | "-filter" | "-erroraction" | "-ea" | "-credential"
            | "-stream" => {
                iter.next();
            }
            "-whatif" | "--dry-run" => d.dry_run = true,
            n if n.len() >= 3 && "-recurse".starts_with(n) => d.recursive = true,
            _ => {
                let letters = text.trim_start_matches('-');
                if !text.starts_with("--") && letters.chars().all(|c| "rRfidvIPx".contains(c)) {
                    d.recursive |= letters.contains(['r', 'R']);
                }
            }
        }
    }
    d
}

/// A cmd.exe switch (`/s`, `/Q`, `/a:h`), not a path.
fn is_cmd_switch(t: &str) -> bool {
    let mut chars = t.chars();
    chars.next() == Some('/')
        && chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && matches!(chars.next(), None | Some(':'))
}

fn delete(cx: &Classifier<'_>, argv: &[Word], view: &View, out: &mut Vec<Action>) {
    let d = read_deletion(argv, view);
    if d.dry_run {
        return;
    }
    // rmdir/rd without /s or -Recurse only removes empty directories; rimraf is always `rm -rf`.
    let recursive = d.recursive || view.cmd == "rimraf";
    if !recursive && matches!(view.cmd.as_str(), "rmdir" | "rd") {
        return;
    }
    for (path, idx) in &d.targets {
        if let Some(rule) = judge(path, recursive) {
            push(cx, out, rule, path, argv, *idx);
        }
    }
}

const DISPOSABLE_NAMES: &[&str] = &[
    "*.pyc",
    "*.pyo",
    "__pycache__",
    "*.tmp",
    "*.temp",
    "*.log",
    "*.bak",
    "*.orig",
    "*.rej",
    "*~",
    "*.swp",
    "*.swo",
    ".ds_store",
    "thumbs.db",
    "*.o",
    "*.obj",
    "*.class",
    "node_modules",
    ".pytest_cache",
    ".mypy_cache",
    ".ruff_cache",
    "*.egg-info",
    ".coverage",
    "*.gcda",
    "*.gcno",
    "*.map",
    ".cache",
    "*.lock~",
];

fn disposable_name(pattern: &str) -> bool {
    let p = pattern.to_ascii_lowercase();
    let p = p.trim_start_matches("./").trim_start_matches("*/");
    DISPOSABLE_NAMES.contains(&p) || classify_path(p) == PathClass::Disposable
}

fn find(cx: &Classifier<'_>, argv: &[Word], view: &View, out: &mut Vec<Action>) {
    let words: Vec<(usize, &Word)> = argv.iter().enumerate().skip(view.first + 1).collect();
    let Some(&(delete_idx, _)) = words.iter().find(|(_, w)| w.text == "-delete") else {
        return;
    };
    let mut roots = Vec::new();
    let mut names = Vec::new();
    let mut empty = false;
    let mut in_expr = false;
    let mut iter = words.iter().peekable();
    while let Some(&(idx, word)) = iter.next() {
        let t = word.text.as_str();
        if !in_expr {
            if matches!(t, "-H" | "-L" | "-P") || t.starts_with("-O") {
                continue;
            }
            if t == "-D" {
                iter.next();
                continue;
            }
            if !(t.starts_with('-') || t == "(" || t == "!" || t == ",") {
                roots.push((path_text(word), idx));
                continue;
            }
            in_expr = true;
        }
        match t {
            "-name" | "-iname" | "-path" | "-ipath" | "-wholename" | "-iwholename" | "-regex"
            | "-iregex" => {
                if let Some(&(_, value)) = iter.next() {
                    names.push(value.text.clone());
                }
            }
            "-empty" => empty = true,
            _ => {}
        }
    }
    if roots.is_empty() {
        roots.push((".".to_string(), view.first));
    }
    let judged: Vec<(&str, &String)> = roots
        .iter()
        .filter_map(|(r, _)| judge(r, true).map(|id| (id, r)))
        .collect();
    let severe = [rules::ROOT, rules::HOME, rules::SYSTEM];
    let severe_root = severe
        .iter()
        .find_map(|want| judged.iter().find(|(id, _)| id == want));
    // Build output and caches may be swept from a project, not from `/`, a home or a system directory.
    let narrowed = empty || (!names.is_empty() && names.iter().all(|n| disposable_name(n)));
    if narrowed {
        if let Some(&(_, root)) = severe_root {
            // Narrowed to build output, but swept from a severe root: hold it rather than refuse it.
            push(cx, out, "SHF007", root, argv, delete_idx);
        }
        return;
    }
    let worst = severe_root.or_else(|| judged.first());
    let Some(&(rule, target)) = worst else { return };
    let rule = if rule == "SHF004" || rule == "SHF005" {
        "SHF007"
    } else {
        rule
    };
    push(cx, out, rule, target, argv, delete_idx);
}

/// Whether a path names a disk or partition device (`/dev/sda`, `/dev/nvme0n1p2`, `\\.\PhysicalDrive0`).
pub(crate) fn is_block_device(path: &str) -> bool {
    let p = path.replace('\\', "/").to_ascii_lowercase();
    if p.starts_with("//./physicaldrive") || p.starts_with("//./") && p.len() == 6 {
        return true;
    }
    let Some(dev) = p.strip_prefix("/dev/") else {
        return false;
    };
    let harmless = [
        "null", "zero", "stdout", "stderr", "stdin", "tty", "random", "urandom", "full", "console",
        "ptmx",
    ];
    !dev.is_empty()
        && !harmless.contains(&dev)
        && !["fd/", "shm/", "pts/", "tty", "std"]
            .iter()
            .any(|p| dev.starts_with(p))
}

fn shred(cx: &Classifier<'_>, argv: &[Word], view: &View, out: &mut Vec<Action>) {
    let mut i = view.first + 1;
    while let Some(word) = argv.get(i) {
        let t = word.text.as_str();
        i += 1;
        if t.starts_with('-') && t.len() > 1 {
            let takes_value = matches!(
                t,
                "-n" | "-s" | "--iterations" | "--size" | "--random-source"
            ) || (!t.starts_with("--")
                && (t.ends_with('n') || t.ends_with('s'))
                && t.len() > 2);
            if takes_value && !t.contains('=') {
                i += 1;
            }
            continue;
        }
        let path = path_text(word);
        if is_block_device(&path) {
            push(cx, out, "SHF010", &path, argv, i - 1);
        } else if classify_path(&path) != PathClass::Disposable {
            push(cx, out, "SHF014", &path, argv, i - 1);
        }
    }
}

fn dd(cx: &Classifier<'_>, argv: &[Word], view: &View, out: &mut Vec<Action>) {
    for (idx, word) in argv.iter().enumerate().skip(view.first + 1) {
        if let Some(dest) = word.text.strip_prefix("of=")
            && (is_block_device(dest) || is_block_device(&path_text(word).replacen("of=", "", 1)))
        {
            push(cx, out, "SHF010", dest, argv, idx);
        }
    }
}

fn mkfs(cx: &Classifier<'_>, argv: &[Word], view: &View, out: &mut Vec<Action>) {
    let items = args::parse(&view.cmd, argv, view.first);
    if args::has_flag(&items, &["-V", "--version", "--help", "-h"])
        && args::positionals(&items).is_empty()
    {
        return;
    }
    let (target, last) = args::positionals(&items)
        .into_iter()
        .find(|(p, _)| p.starts_with("/dev/"))
        .or_else(|| args::positionals(&items).last().copied())
        .unwrap_or((view.cmd.as_str(), view.first));
    push(cx, out, "SHF011", target, argv, last);
}

fn device_arg<'a>(items: &[Item<'a>]) -> Option<(&'a str, usize)> {
    args::positionals(items)
        .into_iter()
        .find(|(p, _)| is_block_device(p))
}

fn wipe(cx: &Classifier<'_>, argv: &[Word], view: &View, out: &mut Vec<Action>) {
    let items = args::parse(&view.cmd, argv, view.first);
    if args::has_flag(&items, &["--help", "-h", "-V", "--version"]) {
        return;
    }
    let (target, last) =
        device_arg(&items).unwrap_or((view.cmd.as_str(), argv.len().saturating_sub(1)));
    let wipes = match view.cmd.as_str() {
        "wipefs" => {
            args::has_flag(&items, &["-a", "--all", "-o", "--offset"])
                && !args::has_flag(&items, &["-n", "--no-act"])
        }
        "sgdisk" => args::has_flag(&items, &["--zap", "--zap-all", "-Z", "-z", "--clear", "-o"]),
        _ => true,
    };
    if wipes {
        push(cx, out, "SHF012", target, argv, last);
    } else if view.cmd == "sgdisk"
        && device_arg(&items).is_some()
        && !args::has_flag(&items, &["-p", "--print", "-v", "--verify", "-i", "--info"])
    {
        push(cx, out, "SHF013", target, argv, last);
    }
}

fn partition(cx: &Classifier<'_>, argv: &[Word], view: &View, out: &mut Vec<Action>) {
    let items = args::parse(&view.cmd, argv, view.first);
    let read_only = [
        "-l",
        "--list",
        "-d",
        "--dump",
        "-J",
        "--json",
        "-s",
        "--show-size",
        "-v",
        "--version",
        "-h",
        "--help",
        "-V",
    ];
    if args::has_flag(&items, &read_only) {
        return;
    }
    let pos = args::positionals(&items);
    if view.cmd == "parted"
        && pos
            .iter()
            .skip(1)
            .all(|(p, _)| matches!(*p, "print" | "p" | "unit" | "s" | "b" | "mb" | "gb" | "%"))
        && pos.len() > 1
    {
        return;
    }
    if let Some((target, last)) = device_arg(&items) {
        push(cx, out, "SHF013", target, argv, last);
    }
}

fn truncate(cx: &Classifier<'_>, argv: &[Word], view: &View, out: &mut Vec<Action>) {
    let mut i = view.first + 1;
    let mut shrink = false;
    let mut targets = Vec::new();
    while let Some(word) = argv.get(i) {
        let t = word.text.as_str();
        i += 1;
        let size = if t == "-s" || t == "--size" {
            i += 1;
            argv.get(i - 1).map(|w| w.text.as_str())
        } else if let Some(v) = t.strip_prefix("--size=") {
            Some(v)
        } else {
            t.strip_prefix("-s").filter(|v| !v.is_empty())
        };
        if let Some(size) = size {
            shrink |= size.trim_start_matches('0').is_empty() || size.starts_with(['-', '<', '/']);
        } else if t == "-r" || t == "--reference" {
            i += 1;
        } else if !t.starts_with('-') {
            targets.push((path_text(word), i - 1));
        }
    }
    if !shrink {
        return;
    }
    for (path, idx) in targets {
        if classify_path(&path) != PathClass::Disposable {
            push(cx, out, "SHF015", &path, argv, idx);
        }
    }
}

fn copy_null(cx: &Classifier<'_>, argv: &[Word], view: &View, out: &mut Vec<Action>) {
    let items = args::parse(&view.cmd, argv, view.first);
    let pos = args::positionals(&items);
    let Some((&(dest, last), sources)) = pos.split_last() else {
        return;
    };
    if sources.iter().any(|(s, _)| {
        matches!(
            *s,
            "/dev/null" | "/dev/zero" | "/dev/urandom" | "/dev/random"
        )
    }) && classify_path(dest) != PathClass::Disposable
    {
        if is_block_device(dest) {
            push(cx, out, "SHF010", dest, argv, last);
        } else {
            push(cx, out, "SHF015", dest, argv, last);
        }
    }
}

fn move_null(cx: &Classifier<'_>, argv: &[Word], view: &View, out: &mut Vec<Action>) {
    let items = args::parse(&view.cmd, argv, view.first);
    let pos = args::positionals(&items);
    if let Some((&(dest, last), sources)) = pos.split_last()
        && dest == "/dev/null"
        && !sources.is_empty()
    {
        let target = sources
            .iter()
            .map(|(s, _)| *s)
            .collect::<Vec<_>>()
            .join(" ");
        push(cx, out, "SHF016", &target, argv, last);
    }
}

fn permissions(cx: &Classifier<'_>, argv: &[Word], view: &View, out: &mut Vec<Action>) {
    let items = args::parse(&view.cmd, argv, view.first);
    let recursive = items.iter().any(|i| match *i {
        Item::Flag { name, .. } => {
            name == "--recursive" || name == "-R" || args::cluster_has(name, 'R')
        }
        _ => false,
    });
    if !recursive {
        return;
    }
    let pos = args::positionals(&items);
    let reference = args::has_flag(&items, &["--reference"])
        || items
            .iter()
            .any(|i| matches!(i, Item::Flag { name, .. } if name.starts_with("--reference=")));
    let (mode, targets) = if reference {
        (None, pos.as_slice())
    } else {
        match pos.split_first() {
            Some((m, rest)) => (Some(m.0), rest),
            None => return,
        }
    };
    let locks_out = view.cmd == "chmod"
        && mode.is_some_and(|m| {
            m.trim_start_matches('0').is_empty()
                || matches!(
                    m,
                    "a-rwx" | "ugo-rwx" | "a=" | "ugo=" | "u-rwx" | "-rwx" | "="
                )
        });
    for &(target, idx) in targets {
        let n = normalize(target);
        if is_system(&n) || is_home(&n) {
            push(cx, out, "SYS010", target, argv, idx);
        } else if locks_out && classify_path(target) != PathClass::Disposable {
            push(cx, out, "SYS011", target, argv, idx);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_judges_places() {
        assert_eq!(normalize("~/"), "~");
        assert_eq!(normalize("$HOME/*"), "~");
        assert_eq!(normalize("C:\\Users\\dev\\"), "c:/users/dev");
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize("/*"), "/");
        assert!(is_system("d:"));
        assert!(is_home("c:/users/dev"));
        assert!(is_home("/home/alice"));
        assert_eq!(judge("/", true), Some("PTH001"));
        assert_eq!(judge("~", true), Some("PTH002"));
        assert_eq!(judge("{}", true), Some("SHF005"));
        assert_eq!(judge("src/old", true), Some("SHF004"));
        assert_eq!(judge("node_modules", true), None);
        assert_eq!(judge("notes.txt", false), None);
        assert!(is_block_device("/dev/nvme0n1p2"));
        assert!(!is_block_device("/dev/null"));
    }
}
