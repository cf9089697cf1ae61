//! Inline interpreters (`python -c`, `node -e`, `perl -e`, `ruby -e`, `php -r`, `deno eval`, or code fed
//! on standard input): a small tokenizer (identifiers, string literals, punctuation) finds destructive
//! calls — tree and file deletion, shell execution (the literal command is judged as shell), SQL in
//! string literals, datastore wipes. Benign code yields nothing.

use super::{Data, Flow, Map, RWord, Walker};
use crate::classify::paths::{PathClass, classify_path};
use crate::classify::{Classifier, respan, shift};
use crate::request::{RequestKind, SqlDialect};

/// The interpreted languages recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lang {
    Python,
    Js,
    Perl,
    Ruby,
    Php,
    Awk,
}

fn language(name: &str) -> Option<Lang> {
    Some(match name {
        "python" | "python2" | "python3" | "pypy" | "pypy3" => Lang::Python,
        n if n.starts_with("python3.") => Lang::Python,
        "node" | "nodejs" | "bun" | "deno" | "ts-node" | "tsx" => Lang::Js,
        "lua" | "luajit" | "rscript" => Lang::Ruby,
        "awk" | "gawk" | "mawk" | "nawk" | "busybox-awk" => Lang::Awk,
        "perl" => Lang::Perl,
        "ruby" => Lang::Ruby,
        "php" => Lang::Php,
        _ => return None,
    })
}

/// Where the code of an interpreter invocation comes from.
enum Source<'w> {
    Inline(&'w RWord),
    Stdin,
    Elsewhere,
}

fn code_source<'w>(lang: Lang, name: &str, argv: &'w [RWord]) -> Source<'w> {
    let args = argv.get(1..).unwrap_or_default();
    if name == "deno" {
        return match args {
            [sub, rest @ ..] if sub.text == "eval" => rest
                .iter()
                .find(|w| !w.text.starts_with('-'))
                .map_or(Source::Elsewhere, Source::Inline),
            _ => Source::Elsewhere,
        };
    }
    if lang == Lang::Awk {
        // `awk [-F sep] [-v var=val] 'program' files…`; `-f progfile` reads the program from a file.
        let mut iter = args.iter();
        while let Some(word) = iter.next() {
            match word.text.as_str() {
                "-f" | "--file" => return Source::Elsewhere,
                "-F" | "-v" | "--assign" | "--field-separator" => {
                    iter.next();
                }
                t if t.starts_with('-') && t.len() > 1 => {}
                _ => return Source::Inline(word),
            }
        }
        return Source::Elsewhere;
    }
    let mut iter = args.iter();
    while let Some(word) = iter.next() {
        let t = word.text.as_str();
        let inline = match lang {
            Lang::Python => t.starts_with('-') && !t.starts_with("--") && t.ends_with('c'),
            Lang::Js => matches!(t, "-e" | "--eval" | "-p" | "--print"),
            Lang::Perl | Lang::Ruby => {
                t.starts_with('-') && !t.starts_with("--") && (t.ends_with('e') || t.ends_with('E'))
            }
            Lang::Php => t == "-r",
            Lang::Awk => false,
        };
        if inline {
            return iter.next().map_or(Source::Elsewhere, Source::Inline);
        }
        if t == "-" {
            return Source::Stdin;
        }
        if matches!(t, "-m" | "-f" | "-S") || !t.starts_with('-') {
            return Source::Elsewhere;
        }
        if matches!(
            (lang, t),
            (Lang::Python, "-W" | "-X") | (Lang::Ruby | Lang::Perl, "-I" | "-r" | "-M")
        ) {
            iter.next();
        }
    }
    Source::Stdin
}

impl Walker {
    /// Handles an interpreter invocation; `None` when `name` is not an interpreter.
    pub(super) fn interpreter(
        &mut self,
        cx: &Classifier<'_>,
        name: &str,
        argv: &[RWord],
        stdin: &Flow,
    ) -> Option<Flow> {
        let lang = language(name)?;
        self.classify_argv(cx, argv, stdin);
        match code_source(lang, name, argv) {
            Source::Inline(code) => {
                if code.unknown_subst || code.only_expansion {
                    self.rule(cx, "SHX012", code.text.clone(), code.span);
                } else {
                    let data = Data {
                        text: code.text.clone(),
                        map: code.content,
                        decoded: code.decoded,
                    };
                    self.scan(cx, lang, &data, 0);
                }
            }
            Source::Stdin => self.stdin_script(cx, argv, stdin, |walker, cx, data| {
                walker.scan(cx, lang, data, 0)
            }),
            Source::Elsewhere => {}
        }
        Some(Flow::Command(argv.to_vec()))
    }

    /// Scans code for destructive calls.
    fn scan(&mut self, cx: &Classifier<'_>, lang: Lang, code: &Data, depth: usize) {
        let tokens = tokenize(&code.text, lang);
        for finding in findings(&tokens, lang) {
            let span = code.map.span(finding.start, finding.end);
            match finding.what {
                What::Delete(target) => {
                    let class = target.as_deref().map(classify_path);
                    match class {
                        Some(PathClass::Disposable) => {}
                        Some(PathClass::Broad(_)) => {
                            self.rule(cx, "SHX011", target.unwrap_or_default(), span)
                        }
                        _ => self.rule(
                            cx,
                            "SHX010",
                            target.unwrap_or_else(|| "files".to_string()),
                            span,
                        ),
                    }
                }
                What::Shell(text, at) => {
                    let map = at.map_or(Map::Whole(span), |at| code.map.at(at));
                    self.nested(cx, &text, map, span);
                }
                What::Code(text, at) if depth < 2 => {
                    let map = at.map_or(Map::Whole(span), |at| code.map.at(at));
                    let inner = Data {
                        text,
                        map,
                        decoded: code.decoded,
                    };
                    self.scan(cx, lang, &inner, depth + 1);
                }
                What::Code(..) | What::UnknownExec => self.rule(cx, "SHX012", "dynamic code", span),
                What::Wipe(name) => self.rule(cx, "SHX013", name, span),
                What::Sql(text, at) => match cx.nested() {
                    Some(inner) => {
                        let actions = inner.sql(SqlDialect::Generic, &text);
                        let actions = match (at, code.map) {
                            (Some(at), Map::Exact(base)) => shift(actions, base + at),
                            _ => respan(actions, span),
                        };
                        self.out.extend(actions);
                    }
                    None => self.push(cx.too_deep(RequestKind::Shell, Some(span))),
                },
            }
        }
    }
}

/// A token of interpreted code.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Ident,
    Str,
    /// A string run as a shell command by the language itself (Ruby/Perl/PHP backticks, Perl `qx`).
    Backtick,
    Punct,
}

#[derive(Debug, Clone)]
struct Tok {
    kind: Kind,
    text: String,
    start: usize,
    end: usize,
    /// For strings: byte offset of the content when `text` is verbatim in the code.
    content: Option<usize>,
}

fn tokenize(code: &str, lang: Lang) -> Vec<Tok> {
    let mut tokens = Vec::new();
    let mut chars = code.char_indices().peekable();
    let hash_comments = matches!(
        lang,
        Lang::Python | Lang::Ruby | Lang::Perl | Lang::Php | Lang::Awk
    );
    let slash_comments = matches!(lang, Lang::Js | Lang::Php);
    while let Some((i, c)) = chars.next() {
        let rest = code.get(i..).unwrap_or_default();
        if c.is_whitespace() {
            continue;
        }
        if (c == '#' && hash_comments) || (slash_comments && rest.starts_with("//")) {
            while chars.peek().is_some_and(|(_, c)| *c != '\n') {
                chars.next();
            }
            continue;
        }
        if slash_comments && rest.starts_with("/*") {
            let end = rest.find("*/").map_or(code.len(), |e| i + e + 2);
            while chars.peek().is_some_and(|(j, _)| *j < end) {
                chars.next();
            }
            continue;
        }
        if c.is_alphanumeric() || c == '_' || c == '$' || c == '@' {
            let mut end = i + c.len_utf8();
            while let Some(&(j, d)) = chars.peek() {
                if d.is_alphanumeric() || d == '_' {
                    end = j + d.len_utf8();
                    chars.next();
                } else {
                    break;
                }
            }
            let text = code.get(i..end).unwrap_or_default().to_string();
            if lang == Lang::Perl
                && text == "qx"
                && chars.peek().is_some_and(|(_, d)| "({[/|!".contains(*d))
            {
                if let Some((open, d)) = chars.next() {
                    let close = match d {
                        '(' => ')',
                        '{' => '}',
                        '[' => ']',
                        other => other,
                    };
                    let (tok, _) = string_at(code, open, d, close, Kind::Backtick);
                    skip_to(&mut chars, tok.end);
                    tokens.push(Tok { start: i, ..tok });
                }
                continue;
            }
            tokens.push(Tok {
                kind: Kind::Ident,
                text,
                start: i,
                end,
                content: None,
            });
            continue;
        }
        if c == '"' || c == '\'' || c == '`' {
            let triple =
                lang == Lang::Python && (rest.starts_with("\"\"\"") || rest.starts_with("'''"));
            let kind = if c == '`' && lang != Lang::Js && lang != Lang::Python {
                Kind::Backtick
            } else {
                Kind::Str
            };
            let (tok, _) = if triple {
                triple_at(code, i, c)
            } else {
                string_at(code, i, c, c, kind)
            };
            skip_to(&mut chars, tok.end);
            tokens.push(tok);
            continue;
        }
        tokens.push(Tok {
            kind: Kind::Punct,
            text: c.to_string(),
            start: i,
            end: i + c.len_utf8(),
            content: None,
        });
    }
    tokens
}

fn skip_to(chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>, end: usize) {
    while chars.peek().is_some_and(|(j, _)| *j < end) {
        chars.next();
    }
}

/// A string starting with `open` at byte `at`, ending at an unescaped `close`.
fn string_at(code: &str, at: usize, open: char, close: char, kind: Kind) -> (Tok, bool) {
    let body_start = at + open.len_utf8();
    let body = code.get(body_start..).unwrap_or_default();
    let mut text = String::new();
    let mut escaped = false;
    let mut verbatim = true;
    let mut end = code.len();
    let mut chars = body.char_indices();
    while let Some((j, c)) = chars.next() {
        if c == '\\' {
            verbatim = false;
            match chars.next() {
                Some((_, 'n')) => text.push('\n'),
                Some((_, 't')) => text.push('\t'),
                Some((_, other)) => text.push(other),
                None => {}
            }
            escaped = true;
            continue;
        }
        if c == close {
            end = body_start + j + c.len_utf8();
            break;
        }
        text.push(c);
    }
    let content = verbatim.then_some(body_start);
    (
        Tok {
            kind,
            text,
            start: at,
            end,
            content,
        },
        escaped,
    )
}

/// A Python triple-quoted string at byte `at`.
fn triple_at(code: &str, at: usize, quote: char) -> (Tok, bool) {
    let delimiter: String = std::iter::repeat_n(quote, 3).collect();
    let body_start = at + 3;
    let body = code.get(body_start..).unwrap_or_default();
    let (text, end) = match body.find(&delimiter) {
        Some(e) => (body.get(..e).unwrap_or_default(), body_start + e + 3),
        None => (body, code.len()),
    };
    let tok = Tok {
        kind: Kind::Str,
        text: text.to_string(),
        start: at,
        end,
        content: Some(body_start),
    };
    (tok, false)
}

/// Something destructive found in code.
enum What {
    Delete(Option<String>),
    Shell(String, Option<usize>),
    Code(String, Option<usize>),
    UnknownExec,
    Wipe(String),
    Sql(String, Option<usize>),
}

struct Finding {
    what: What,
    start: usize,
    end: usize,
}

/// Calls that delete a tree or a file, by method or function name.
const DELETES: &[&str] = &[
    "rmtree",
    "rm_rf",
    "rm_r",
    "rm_f",
    "remove_tree",
    "remove_dir",
    "remove_dir_all",
    "remove_entry",
    "remove_entry_secure",
    "rmSync",
    "rmdirSync",
    "unlinkSync",
    "removedirs",
    "unlink",
    "rmdir",
    "safe_unlink",
    "emptyDirSync",
    "removeSync",
    "emptyDir",
];

/// Calls that delete only with a module receiver (`os.remove`, `fs.rm`, `File.delete`).
const RECEIVER_DELETES: &[(&str, &[&str])] = &[
    (
        "remove",
        &["os", "FileUtils", "fs", "fse", "shutil", "Deno"],
    ),
    (
        "rm",
        &["fs", "fsp", "promises", "FileUtils", "fse", "shell"],
    ),
    ("delete", &["File", "Files", "FileUtils"]),
];

/// Calls that run a shell command given as a string or a list.
const EXECS: &[&str] = &[
    "system",
    "popen",
    "execSync",
    "spawnSync",
    "execFileSync",
    "spawn",
    "execFile",
    "shell_exec",
    "passthru",
    "proc_open",
    "getoutput",
    "getstatusoutput",
    "check_call",
    "check_output",
    "Popen",
    "capture2",
    "capture2e",
    "capture3",
    "pipeline_r",
    "spawn_process",
    "execv",
    "execvp",
    "execl",
    "execlp",
];

/// Calls that wipe a datastore.
const WIPES: &[&str] = &[
    "flushall",
    "flushdb",
    "flushAll",
    "flushDb",
    "dropDatabase",
    "drop_database",
    "dropCollection",
    "drop_collection",
];

fn findings(tokens: &[Tok], lang: Lang) -> Vec<Finding> {
    let mut out = Vec::new();
    for (i, tok) in tokens.iter().enumerate() {
        match tok.kind {
            Kind::Backtick => {
                out.push(Finding {
                    what: What::Shell(tok.text.clone(), tok.content),
                    start: tok.start,
                    end: tok.end,
                });
                continue;
            }
            Kind::Str => {
                if let Some(what) = string_finding(tok) {
                    out.push(Finding {
                        what,
                        start: tok.start,
                        end: tok.end,
                    });
                }
                continue;
            }
            Kind::Punct => continue,
            Kind::Ident => {}
        }
        let name = tok.text.as_str();
        let receiver = receiver(tokens, i);
        let after = tokens.get(i + 1..).unwrap_or_default();
        // awk has no datastore client: a name there is a pattern or a field (`/dropDatabase/`).
        if WIPES.contains(&name) && lang != Lang::Awk {
            out.push(Finding {
                what: What::Wipe(name.to_string()),
                start: tok.start,
                end: tok.end,
            });
            continue;
        }
        let args = call_args(after, lang);
        let Some((args, end)) = args else { continue };
        let span_end = end.max(tok.end);
        let exec_like = EXECS.contains(&name)
            || (name == "exec"
                && matches!(
                    receiver.as_deref(),
                    Some("child_process" | "cp" | "childProcess" | ")" | "os" | "Kernel")
                ))
            || (name == "exec" && lang == Lang::Js && receiver.is_none())
            || (name == "execute" && receiver.as_deref() == Some("os"))
            || (name == "exec" && matches!(lang, Lang::Perl | Lang::Php | Lang::Ruby))
            || (matches!(name, "run" | "call") && receiver.as_deref() == Some("subprocess"))
            || (name == "popen" || name == "system");
        let code_like = matches!(name, "exec" | "eval") && lang == Lang::Python
            || name == "eval" && matches!(lang, Lang::Js | Lang::Ruby | Lang::Perl | Lang::Php);
        let what = if DELETES.contains(&name)
            || RECEIVER_DELETES
                .iter()
                .any(|(n, rs)| *n == name && receiver.as_deref().is_some_and(|r| rs.contains(&r)))
        {
            let target = delete_target(args).or_else(|| receiver_target(tokens, i));
            What::Delete(target)
        } else if WIPES.contains(&name) {
            What::Wipe(name.to_string())
        } else if exec_like && !code_like {
            match command_text(args) {
                Some((text, at)) => What::Shell(text, at),
                None => What::UnknownExec,
            }
        } else if code_like {
            match args {
                [s] if s.kind == Kind::Str => What::Code(s.text.clone(), s.content),
                _ => What::UnknownExec,
            }
        } else {
            continue;
        };
        out.push(Finding {
            what,
            start: tok.start,
            end: span_end,
        });
    }
    out
}

/// SQL or datastore commands in a string literal.
fn string_finding(tok: &Tok) -> Option<What> {
    let trimmed = tok.text.trim_start();
    let first = trimmed
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()?
        .to_ascii_uppercase();
    match first.as_str() {
        "DROP" | "TRUNCATE" | "DELETE" | "ALTER" | "UPDATE" => {
            let lead = tok.text.len() - trimmed.len();
            Some(What::Sql(
                trimmed.to_string(),
                tok.content.map(|c| c + lead),
            ))
        }
        "FLUSHALL" | "FLUSHDB" if trimmed.len() == first.len() => Some(What::Wipe(first)),
        _ => None,
    }
}

/// The name before `.`, `::` or `->` preceding token `i` (`shutil` in `shutil.rmtree`).
fn receiver(tokens: &[Tok], i: usize) -> Option<String> {
    let mut j = i.checked_sub(1)?;
    let mut saw_separator = false;
    while let Some(t) = tokens.get(j) {
        match (t.kind.clone(), t.text.as_str()) {
            (Kind::Punct, "." | ":" | ">" | "-") => saw_separator = true,
            (Kind::Ident, _) if saw_separator => return Some(t.text.clone()),
            (Kind::Punct, ")") if saw_separator => return Some(")".to_string()),
            _ => return None,
        }
        j = j.checked_sub(1)?;
    }
    None
}

/// The arguments of a call starting right after its name: `(…)`, or for Ruby/Perl/PHP a bare argument
/// list up to the end of the statement. Returns the argument tokens and the end byte.
fn call_args(after: &[Tok], lang: Lang) -> Option<(&[Tok], usize)> {
    let first = after.first()?;
    if first.kind == Kind::Punct && first.text == "(" {
        let mut depth = 0usize;
        for (k, t) in after.iter().enumerate() {
            if t.kind == Kind::Punct {
                match t.text.as_str() {
                    "(" | "[" | "{" => depth += 1,
                    ")" | "]" | "}" => depth = depth.saturating_sub(1),
                    _ => {}
                }
                if depth == 0 {
                    return Some((after.get(1..k).unwrap_or_default(), t.end));
                }
            }
        }
        return Some((
            after.get(1..).unwrap_or_default(),
            after.last().map_or(first.end, |t| t.end),
        ));
    }
    if matches!(lang, Lang::Ruby | Lang::Perl | Lang::Php | Lang::Awk)
        && matches!(first.kind, Kind::Str | Kind::Ident)
    {
        let end = after
            .iter()
            .position(|t| t.kind == Kind::Punct && matches!(t.text.as_str(), ";" | ")" | "}"))
            .unwrap_or(after.len());
        let args = after.get(..end).unwrap_or_default();
        return Some((args, args.last().map_or(first.end, |t| t.end)));
    }
    None
}

/// A statically known path in a delete call's first argument.
fn delete_target(args: &[Tok]) -> Option<String> {
    let first_arg: Vec<&Tok> = args
        .iter()
        .take_while(|t| !(t.kind == Kind::Punct && t.text == ","))
        .collect();
    let home = first_arg.iter().any(|t| {
        t.kind == Kind::Ident
            && matches!(
                t.text.as_str(),
                "homedir" | "home" | "HOME" | "USERPROFILE" | "expanduser" | "gethome" | "Home"
            )
    });
    let strings: Vec<&&Tok> = first_arg.iter().filter(|t| t.kind == Kind::Str).collect();
    match (home, strings.as_slice()) {
        (true, [s, ..]) if s.text.starts_with('~') => Some(s.text.clone()),
        (true, _) => Some("~".to_string()),
        (false, [s]) if first_arg.len() == 1 => Some(s.text.clone()),
        _ => None,
    }
}

/// For `Path('x').unlink()`: the string given to the receiver call.
fn receiver_target(tokens: &[Tok], i: usize) -> Option<String> {
    let before = tokens.get(..i)?;
    let close = before
        .iter()
        .rposition(|t| t.kind == Kind::Punct && t.text == ")")?;
    if close + 2 != i {
        return None;
    }
    let open = before
        .get(..close)?
        .iter()
        .rposition(|t| t.kind == Kind::Punct && t.text == "(")?;
    delete_target(before.get(open + 1..close)?)
}

/// The shell command an exec call runs: one string, several strings, or a list of strings (or a
/// base64 literal decoded in place: `os.system(base64.b64decode('…').decode())`).
fn command_text(args: &[Tok]) -> Option<(String, Option<usize>)> {
    let decodes = args.iter().any(|t| {
        t.kind == Kind::Ident && matches!(t.text.as_str(), "b64decode" | "decode64" | "atob")
    });
    if decodes {
        let payload = args.iter().find(|t| t.kind == Kind::Str)?;
        let bytes = super::decode::base64_decode(&payload.text)?;
        return String::from_utf8(bytes).ok().map(|text| (text, None));
    }
    let mut parts = Vec::new();
    let mut content = None;
    let mut in_list = false;
    for t in args {
        match (&t.kind, t.text.as_str()) {
            (Kind::Str, _) => {
                content = if parts.is_empty() { t.content } else { None };
                parts.push(t.text.clone());
            }
            (Kind::Punct, "[") => in_list = true,
            (Kind::Punct, "]") => in_list = false,
            (Kind::Punct, ",") => {}
            (Kind::Ident | Kind::Punct, _) if in_list => return None,
            (Kind::Punct, "=") | (Kind::Ident, _) if !parts.is_empty() => break,
            _ => return None,
        }
    }
    match parts.len() {
        0 => None,
        1 => Some((parts.concat(), content)),
        _ => Some((
            parts.iter().map(|p| quote(p)).collect::<Vec<_>>().join(" "),
            None,
        )),
    }
}

/// Quotes one argv element for re-parsing as shell.
fn quote(part: &str) -> String {
    if !part.is_empty()
        && part
            .chars()
            .all(|c| c.is_alphanumeric() || "-_./~=:@%+,".contains(c))
    {
        part.to_string()
    } else {
        format!("'{}'", part.replace('\'', "'\\''"))
    }
}
