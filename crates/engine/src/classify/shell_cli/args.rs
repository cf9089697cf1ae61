//! Reading an argv: the command's name, launchers peeled off (`npx`, `bundle exec`, `python -m`, …), and
//! the arguments split into flags (with the values of flags known to take one), positionals and `--`.

use crate::action::Span;
use crate::classify::shell_cli::Word;
pub(crate) use crate::classify::shell_cli::flags::value_flags;

/// One way of reading an argv: which word is the command, and under which name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct View {
    /// The command's name: basename, lowercase, without `.exe`/`.cmd`/`.bat`.
    pub cmd: String,
    /// Index in the argv of the command word; its arguments follow it.
    pub first: usize,
    /// Whether the launcher was guessed (`yarn prisma …` may run a bin or a script); code rules that
    /// know their command by name skip guessed views.
    pub guess: bool,
}

/// One argument of a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Item<'a> {
    /// A flag (`-f`, `--force`, `-Recurse`), with its value when it takes one (`--app x`, `--app=x`, `-nprod`).
    Flag {
        /// The flag as written, without an `=value` part.
        name: &'a str,
        /// Its value, if any.
        value: Option<&'a str>,
        /// Index in the argv of the flag word.
        idx: usize,
        /// Index in the argv of the last word it used (its value's word when separate).
        end: usize,
    },
    /// A positional argument.
    Pos {
        /// The text.
        text: &'a str,
        /// Index in the argv.
        idx: usize,
    },
    /// The `--` end-of-options separator.
    Sep {
        /// Index in the argv.
        idx: usize,
    },
}

impl Item<'_> {
    /// Index in the argv of the last word of this item.
    pub(crate) fn end(&self) -> usize {
        match *self {
            Item::Flag { end, .. } => end,
            Item::Pos { idx, .. } | Item::Sep { idx } => idx,
        }
    }
}

/// The name under which a word runs a command: basename (`/bin/rm` → `rm`, `C:\x\git.exe` → `git`),
/// lowercase, without a Windows executable extension.
pub(crate) fn command_name(text: &str) -> String {
    let base = text.rsplit(['/', '\\']).next().unwrap_or(text);
    let lower = base.to_ascii_lowercase();
    for ext in [".exe", ".cmd", ".bat", ".com"] {
        if let Some(stem) = lower.strip_suffix(ext) {
            return stem.to_string();
        }
    }
    lower
}

/// The span from the first word of the argv to the end of word `last`.
pub(crate) fn span_to(argv: &[Word], last: usize) -> Option<Span> {
    let first = argv.first()?;
    let end = argv.get(last).map_or(first.span.end, |w| w.span.end);
    Some(Span::new(first.span.start, end.max(first.span.end)))
}

/// The text of words `from..` joined by spaces, cut to about 160 bytes, for an action's target.
pub(crate) fn joined(argv: &[Word], from: usize) -> String {
    let mut out = String::new();
    for word in argv.iter().skip(from) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&word.text);
        if out.len() > 160 {
            let mut cut = 160;
            while !out.is_char_boundary(cut) {
                cut -= 1;
            }
            out.truncate(cut);
            out.push('…');
            break;
        }
    }
    out
}

/// The readings of an argv: the command itself, then what launchers it names run (`npx prisma …` →
/// `prisma`, `bundle exec rails …` → `rails`, `python manage.py …` → `manage.py`, `php artisan …` →
/// `artisan`, `python -m alembic …` → `alembic`, `doppler run -- cmd` → `cmd`).
pub(crate) fn views(argv: &[Word]) -> Vec<View> {
    let Some(first) = argv.first() else {
        return Vec::new();
    };
    let mut out = vec![View {
        cmd: command_name(&first.text),
        first: 0,
        guess: false,
    }];
    for _ in 0..4 {
        let Some(last) = out.last() else { break };
        let Some(next) = peel(argv, last) else { break };
        let guess = next.guess || last.guess;
        out.push(View { guess, ..next });
    }
    out
}

fn text_at(argv: &[Word], idx: usize) -> Option<&str> {
    argv.get(idx).map(|w| w.text.as_str())
}

/// Index of the first word at or after `from` that is not a flag (skipping the values of `value_flags`).
fn skip_flags(argv: &[Word], from: usize, value_flags: &[&str]) -> Option<usize> {
    let mut i = from;
    while let Some(text) = text_at(argv, i) {
        if text == "--" {
            return (i + 1 < argv.len()).then_some(i + 1);
        }
        if !text.starts_with('-') || text == "-" {
            return Some(i);
        }
        i += if value_flags.contains(&text) { 2 } else { 1 };
    }
    None
}

fn view_at(argv: &[Word], idx: usize, guess: bool) -> Option<View> {
    let text = text_at(argv, idx)?;
    // `prisma@5.1` → `prisma`; `@scope/pkg@1` → `@scope/pkg` → `pkg`.
    let name = match text.strip_prefix('@') {
        Some(rest) => rest.split_once('@').map_or(rest, |(n, _)| n),
        None => text.split_once('@').map_or(text, |(n, _)| n),
    };
    let cmd = command_name(name);
    (!cmd.is_empty()).then_some(View {
        cmd,
        first: idx,
        guess,
    })
}

fn peel(argv: &[Word], view: &View) -> Option<View> {
    let at = view.first + 1;
    match view.cmd.as_str() {
        "npx" | "pnpx" | "bunx" | "uvx" => view_at(
            argv,
            skip_flags(argv, at, &["-p", "--package", "--from", "--with"])?,
            false,
        ),
        "pipx" if text_at(argv, at) == Some("run") => {
            view_at(argv, skip_flags(argv, at + 1, &["--spec"])?, false)
        }
        "npm" => match text_at(argv, at)? {
            "exec" | "x" => view_at(
                argv,
                skip_flags(argv, at + 1, &["-p", "--package", "-w", "--workspace"])?,
                false,
            ),
            _ => None,
        },
        "pnpm" | "yarn" | "bun" => match text_at(argv, at)? {
            "exec" | "dlx" | "x" => {
                view_at(argv, skip_flags(argv, at + 1, &["-p", "--package"])?, false)
            }
            "run" => view_at(argv, skip_flags(argv, at + 1, &[])?, true),
            t if !t.starts_with('-') => view_at(argv, at, true),
            _ => None,
        },
        "bundle" | "poetry" | "pipenv" | "pdm" | "hatch" | "rye" | "uv" | "conda" | "mamba" => {
            match text_at(argv, at)? {
                "exec" | "run" => view_at(
                    argv,
                    skip_flags(argv, at + 1, &["-n", "--name", "--with", "-p", "--prefix"])?,
                    false,
                ),
                _ => None,
            }
        }
        "microk8s" => view_at(argv, at, false),
        "php" | "ruby" | "node" | "bash" | "sh" => {
            let i = skip_flags(argv, at, &[])?;
            let text = text_at(argv, i)?;
            // `php artisan`, `ruby bin/rails`, `node node_modules/.bin/prisma`; a shell script by name only.
            (view.cmd != "bash" && view.cmd != "sh" || text.ends_with(".sh"))
                .then(|| view_at(argv, i, false))?
        }
        name if is_python(name) => {
            let mut i = at;
            while let Some(text) = text_at(argv, i) {
                match text {
                    "-m" => return view_at(argv, i + 1, false),
                    "-c" => return None,
                    t if t.starts_with("-m") && t.len() > 2 => {
                        let module = t.get(2..)?;
                        return Some(View {
                            cmd: module.to_ascii_lowercase(),
                            first: i,
                            guess: false,
                        });
                    }
                    "-W" | "-X" | "--check-hash-based-pycs" => i += 2,
                    t if t.starts_with('-') => i += 1,
                    _ => return view_at(argv, i, false),
                }
            }
            None
        }
        "dotenv" | "dotenvx" | "op" | "doppler" | "infisical" | "aws-vault" | "chamber"
        | "with-env" | "envchain" | "direnv" => {
            let sep = argv.iter().skip(at).position(|w| w.text == "--")?;
            view_at(argv, at + sep + 1, false)
        }
        _ => None,
    }
}

fn is_python(name: &str) -> bool {
    name == "py"
        || name
            .strip_prefix("python")
            .is_some_and(|v| v.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// Splits the arguments of the command at `argv[first]` into flags, positionals and `--`.
pub(crate) fn parse<'a>(cmd: &str, argv: &'a [Word], first: usize) -> Vec<Item<'a>> {
    parse_with(argv, first, |sub| value_flags(cmd, sub))
}

/// Like [`parse`], with the flags that take a value given.
pub(crate) fn parse_flags<'a>(argv: &'a [Word], first: usize, flags: &[&str]) -> Vec<Item<'a>> {
    parse_with(argv, first, |_| flags)
}

fn parse_with<'a, 'f>(
    argv: &'a [Word],
    first: usize,
    value_flags: impl Fn(Option<&str>) -> &'f [&'f str],
) -> Vec<Item<'a>> {
    let mut items = Vec::new();
    let mut sub: Option<&str> = None;
    let mut after_sep = false;
    let mut i = first + 1;
    while let Some(word) = argv.get(i) {
        let text = word.text.as_str();
        if after_sep || text == "-" || !text.starts_with('-') {
            items.push(Item::Pos { text, idx: i });
            if sub.is_none() {
                sub = Some(text);
            }
            i += 1;
            continue;
        }
        if text == "--" {
            items.push(Item::Sep { idx: i });
            after_sep = true;
            i += 1;
            continue;
        }
        let flags = value_flags(sub);
        if let Some((name, value)) = text
            .split_once('=')
            .filter(|(n, _)| n.starts_with("--") || flags.contains(n))
        {
            items.push(Item::Flag {
                name,
                value: Some(value),
                idx: i,
                end: i,
            });
            i += 1;
            continue;
        }
        if flags.contains(&text) {
            let value = argv.get(i + 1).map(|w| w.text.as_str());
            let end = if value.is_some() { i + 1 } else { i };
            items.push(Item::Flag {
                name: text,
                value,
                idx: i,
                end,
            });
            i = end + 1;
            continue;
        }
        // `-nprod`: a one-letter flag that takes a value, written attached.
        if !text.starts_with("--")
            && text.len() > 2
            && let (Some(head), Some(rest)) = (text.get(..2), text.get(2..))
            && flags.contains(&head)
        {
            items.push(Item::Flag {
                name: head,
                value: Some(rest),
                idx: i,
                end: i,
            });
            i += 1;
            continue;
        }
        items.push(Item::Flag {
            name: text,
            value: None,
            idx: i,
            end: i,
        });
        i += 1;
    }
    items
}

/// Whether a flag word is a cluster of one-letter flags (`-fdx`) containing `letter`.
pub(crate) fn cluster_has(name: &str, letter: char) -> bool {
    name.strip_prefix('-').is_some_and(|rest| {
        // `-Force`, `-Recurse`: a PowerShell parameter, not a cluster.
        let mut chars = rest.chars();
        let powershell = rest.len() >= 4
            && chars.next().is_some_and(|c| c.is_ascii_uppercase())
            && chars.all(|c| c.is_ascii_lowercase());
        !powershell
            && !rest.starts_with('-')
            && rest.len() > 1
            && rest.chars().all(|c| c.is_ascii_alphanumeric())
            && rest.contains(letter)
    })
}

/// Whether `text` matches the glob `pat` (`*` any run, `?` one character), optionally ignoring ASCII case.
pub(crate) fn glob(pat: &str, text: &str, ci: bool) -> bool {
    use crate::classify::glob::{GlobSyntax, glob_match};
    let syntax = GlobSyntax {
        question_mark: true,
        backslash_escape: false,
        case_insensitive: ci,
    };
    glob_match(pat, text, syntax)
}

/// Whether `text` matches one of the `|`-separated globs of `alternatives`.
pub(crate) fn glob_any(alternatives: &str, text: &str, ci: bool) -> bool {
    alternatives.split('|').any(|alt| glob(alt, text, ci))
}

/// The positional texts of parsed items.
pub(crate) fn positionals<'a>(items: &[Item<'a>]) -> Vec<(&'a str, usize)> {
    items
        .iter()
        .filter_map(|item| match *item {
            Item::Pos { text, idx } => Some((text, idx)),
            _ => None,
        })
        .collect()
}

/// The value of the first flag named one of `names`.
pub(crate) fn flag_value<'a>(items: &[Item<'a>], names: &[&str]) -> Option<(&'a str, usize)> {
    items.iter().find_map(|item| match *item {
        Item::Flag {
            name,
            value: Some(value),
            end,
            ..
        } if names.contains(&name) => Some((value, end)),
        _ => None,
    })
}

/// Whether a flag named one of `names` (or a one-letter cluster containing one of the one-letter names) is present.
pub(crate) fn has_flag(items: &[Item<'_>], names: &[&str]) -> bool {
    items.iter().any(|item| match *item {
        Item::Flag { name, value, .. } => {
            names.contains(&name)
                || value.is_none()
                    && names.iter().any(|n| {
                        n.len() == 2
                            && !n.starts_with("--")
                            && n.chars().nth(1).is_some_and(|c| cluster_has(name, c))
                    })
        }
        _ => false,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::indexing_slicing)]
mod tests {
    use super::*;
    use crate::classify::shell_cli::tests::argv;

    #[test]
    fn names_and_launchers() {
        assert_eq!(command_name("/bin/rm"), "rm");
        assert_eq!(command_name("C:\\Git\\bin\\GIT.EXE"), "git");
        let a = argv("npx prisma@5 migrate reset --force");
        let v = views(&a);
        assert_eq!(v[1].cmd, "prisma");
        assert_eq!(v[1].first, 1);
        let a = argv("bundle exec rails db:drop");
        assert_eq!(views(&a)[1].cmd, "rails");
        let a = argv("python3 -m alembic downgrade base");
        assert_eq!(views(&a)[1].cmd, "alembic");
        let a = argv("python manage.py flush");
        assert_eq!(views(&a)[1].cmd, "manage.py");
        let a = argv("doppler run -c prd -- prisma migrate reset");
        assert_eq!(views(&a)[1].cmd, "prisma");
    }

    #[test]
    fn parses_values_and_clusters() {
        let a = argv("kubectl -n prod delete ns x");
        let items = parse("kubectl", &a, 0);
        assert_eq!(
            positionals(&items).iter().map(|p| p.0).collect::<Vec<_>>(),
            vec!["delete", "ns", "x"]
        );
        assert_eq!(flag_value(&items, &["-n"]).map(|v| v.0), Some("prod"));
        let a = argv("git clean -fdx");
        assert!(has_flag(&parse("git", &a, 0), &["-f"]));
        let a = argv("docker rm -f x");
        assert_eq!(positionals(&parse("docker", &a, 0)).len(), 2);
        let a = argv("docker compose -f prod.yml down -v");
        let items = parse("docker", &a, 0);
        assert_eq!(
            positionals(&items).iter().map(|p| p.0).collect::<Vec<_>>(),
            vec!["compose", "down"]
        );
    }

    #[test]
    fn globs() {
        assert!(glob("delete-*", "delete-db-instance", false));
        assert!(!glob("delete-*", "describe-db", false));
        assert!(glob("?:*", "C:\\", false));
        assert!(glob("*:destroy", "apps:destroy", false));
        assert!(glob("--force-with-lease*", "--force-with-lease", false));
        assert!(glob("remove-item", "Remove-Item", true));
        assert!(glob_any("rm|remove", "remove", false));
    }
}
