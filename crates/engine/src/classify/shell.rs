//! Shell classifier: parses a command line with brush-parser and walks everything that would run —
//! lists, pipelines, subshells, groups, `if`/`while`/`for`/`case` bodies, function bodies, `$(…)`,
//! backticks, process substitutions — resolving each simple command's words (quote removal, variables
//! assigned earlier on the line, `$IFS`, statically decodable substitutions) and unwrapping wrappers
//! (`sudo`, `env`, `xargs`, `find -exec`, `bash -c`, `eval`, `ssh`, `docker exec`, `kubectl exec`,
//! PowerShell and `cmd /c`, decoded payloads piped to a shell, inline interpreters).
//!
//! What a resolved command *is* (rm, git, curl, psql, …) is decided by [`shell_cli::classify_argv`];
//! this module only decides structure: what runs, with which words, fed by which standard input.
//! Its own rules (`catalog/shell-exec.toml`, prefix `SHX`) cover execution it cannot see through.

mod decode;
mod interp;
mod remote;
mod walk;
mod words;
mod wrappers;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use brush_parser::{Parser, ParserOptions};

use crate::action::{Action, Span};
use crate::classify::Classifier;
use crate::classify::shell_cli::{self, Stdin, Word};
use crate::request::RequestKind;

/// Deepest bracket/keyword nesting handed to brush-parser (its recursive parser would overflow the
/// stack on thousands of levels); deeper input is `ask` (rule `ENG003`).
const MAX_SYNTAX_NESTING: usize = 40;

/// Most shell texts parsed for one request (nested `bash -c`, `eval`, substitutions, …).
const MAX_PARSES: usize = 256;

/// Classifies a shell command line (POSIX shell; PowerShell and cmd text is read as words too).
pub fn classify_shell(cx: &Classifier<'_>, command: &str) -> Vec<Action> {
    let mut walker = Walker::default();
    walker.script(cx, command, Map::Exact(0));
    walker.finish()
}

/// Where a piece of (possibly nested) text lies in the top-level input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Map {
    /// The text is verbatim in the top-level input, starting at this byte offset.
    Exact(usize),
    /// The text was derived (decoded, unquoted, concatenated) from this span of the top-level input.
    Whole(Span),
}

impl Map {
    /// The top-level span of bytes `start..end` of the text.
    fn span(self, start: usize, end: usize) -> Span {
        match self {
            Map::Exact(offset) => {
                Span::new(offset.saturating_add(start), offset.saturating_add(end))
            }
            Map::Whole(span) => span,
        }
    }

    /// The map of the text's substring starting at byte `offset`.
    fn at(self, offset: usize) -> Map {
        match self {
            Map::Exact(base) => Map::Exact(base.saturating_add(offset)),
            whole => whole,
        }
    }
}

/// Data flowing into a command's standard input (or out of its standard output).
#[derive(Debug, Clone, Default)]
pub(crate) enum Flow {
    /// Nothing known: a terminal.
    #[default]
    None,
    /// A file (`< file`): not inspected.
    File,
    /// Literal text known statically.
    Literal(Data),
    /// The output of a command whose output is not known statically.
    Command(Vec<RWord>),
}

/// Literal data with where it came from.
#[derive(Debug, Clone)]
pub(crate) struct Data {
    /// The text.
    text: String,
    /// Where the text lies in the top-level input.
    map: Map,
    /// Whether the text was decoded (base64, hex, rot13, …) from something else.
    decoded: bool,
}

impl Data {
    /// Where the text (without its trailing newlines) is in the top-level input.
    fn span(&self) -> Span {
        self.map.span(0, self.text.trim_end_matches('\n').len())
    }
}

/// A word of a simple command after quote removal and static expansion.
#[derive(Debug, Clone)]
pub(crate) struct RWord {
    /// Text after quote removal and expansion.
    text: String,
    /// The word as written.
    raw: String,
    /// Where the word is in the top-level input.
    span: Span,
    /// Where `text` lies in the top-level input (exact only when it is verbatim there).
    content: Map,
    /// Holds a command substitution whose output is not known statically.
    unknown_subst: bool,
    /// Holds a variable whose value is not known (kept as `$NAME`).
    unknown_var: bool,
    /// Is nothing but one unknown expansion (`$X`, `"${X}"`, `$(cmd)`).
    only_expansion: bool,
    /// Holds text decoded from a payload (`$(echo … | base64 -d)`).
    decoded: bool,
    /// Command names of unresolved substitutions in the word (`ssh-agent` in `$(ssh-agent -s)`).
    subst_names: Vec<String>,
    /// For a process substitution `<(…)`: what the inner commands print.
    feeds: Option<Box<Flow>>,
}

/// Marks, among an [`RWord`]'s `subst_names`, a command substitution whose output is a secret
/// (`$(cat ~/.ssh/id_rsa | base64)`): sent as an argument of a network client, it leaves the machine.
const SECRET_SUBST: &str = "<secret>";

impl RWord {
    /// A synthetic word (e.g. the `{}` xargs supplies) at `span`.
    fn synthetic(text: &str, span: Span) -> Self {
        RWord {
            text: text.to_string(),
            raw: text.to_string(),
            span,
            content: Map::Whole(span),
            unknown_subst: false,
            unknown_var: false,
            only_expansion: false,
            decoded: false,
            subst_names: Vec::new(),
            feeds: None,
        }
    }

    fn to_word(&self) -> Word {
        Word {
            text: self.text.clone(),
            raw: self.raw.clone(),
            span: self.span,
        }
    }

    /// Whether the value cannot be known statically.
    fn is_dynamic(&self) -> bool {
        self.unknown_subst || self.unknown_var
    }
}

/// The span covering all `words` (or `fallback` when there are none).
fn union(words: &[RWord], fallback: Span) -> Span {
    let start = words.iter().map(|w| w.span.start).min();
    let end = words.iter().map(|w| w.span.end).max();
    match (start, end) {
        (Some(s), Some(e)) => Span::new(s, e),
        _ => fallback,
    }
}

/// One simple command handed to [`shell_cli::classify_argv`] (kept for tests and debugging).
#[derive(Debug, Clone)]
#[cfg_attr(not(test), allow(dead_code))]
pub(crate) struct Call {
    /// The argv.
    pub argv: Vec<Word>,
    /// Its standard input.
    pub stdin: Stdin,
}

/// State of one classification: actions found, commands resolved, variables known so far.
#[derive(Debug, Default)]
pub(crate) struct Walker {
    out: Vec<Action>,
    calls: Vec<Call>,
    /// Variables assigned on the line: `Some(value)` when known, `None` when assigned something dynamic.
    vars: BTreeMap<String, Option<String>>,
    /// Names of the functions whose bodies are being walked.
    functions: Vec<String>,
    parses: usize,
    /// Files written earlier on the line with known content (`echo 'cmd' > x.sh`), by path as written.
    written: BTreeMap<String, Data>,
    /// Output redirections of the simple command being walked, judged once its output is known.
    pending: Option<Vec<(crate::request::FileRequest, Span)>>,
}

impl Walker {
    /// Parses and walks `text` (whose place in the top-level input is `map`); returns what it prints
    /// when that is known statically.
    fn script(&mut self, cx: &Classifier<'_>, text: &str, map: Map) -> Flow {
        if text.trim().is_empty() {
            return Flow::None;
        }
        let whole = map.span(0, text.len());
        self.parses += 1;
        if self.parses > MAX_PARSES || syntax_nesting(text) > MAX_SYNTAX_NESTING {
            self.push(cx.too_deep(RequestKind::Shell, Some(whole)));
            return Flow::Command(Vec::new());
        }
        let options = ParserOptions::default();
        let mut parser = Parser::new(text.as_bytes(), &options);
        match parser.parse_program() {
            Ok(program) => {
                let level = walk::Level::new(text, map);
                self.program(cx, &level, &program)
            }
            Err(_) => {
                self.push(cx.action("ENG001", RequestKind::Shell, "shell command", Some(whole)));
                self.fallback(cx, text, map);
                Flow::Command(Vec::new())
            }
        }
    }

    /// Walks `text` one level deeper (a `bash -c` string, an `eval`, a substitution, a decoded payload);
    /// `span` is where the nesting construct is, for the too-deep action.
    fn nested(&mut self, cx: &Classifier<'_>, text: &str, map: Map, span: Span) -> Flow {
        match cx.nested() {
            Some(inner) => self.script(&inner, text, map),
            None => {
                self.push(cx.too_deep(RequestKind::Shell, Some(span)));
                Flow::Command(Vec::new())
            }
        }
    }

    /// Hands one resolved simple command to the command-line classifier.
    fn classify_argv(&mut self, cx: &Classifier<'_>, argv: &[RWord], stdin: &Flow) {
        let argv: Vec<Word> = argv.iter().map(RWord::to_word).collect();
        let stdin = match stdin {
            Flow::None | Flow::File => Stdin::None,
            Flow::Literal(data) => Stdin::Literal {
                text: data.text.clone(),
                span: data.span(),
            },
            Flow::Command(words) => Stdin::Command {
                argv: words.iter().map(RWord::to_word).collect(),
            },
        };
        let actions = shell_cli::classify_argv(cx, &argv, &stdin);
        self.out.extend(actions);
        self.calls.push(Call { argv, stdin });
    }

    /// Records a shell-exec action.
    fn rule(&mut self, cx: &Classifier<'_>, id: &str, target: impl Into<String>, span: Span) {
        self.push(cx.action(id, RequestKind::Shell, target, Some(span)));
    }

    fn push(&mut self, action: Action) {
        self.out.push(action);
    }

    /// The actions, without exact duplicates, in the order found.
    fn finish(self) -> Vec<Action> {
        let mut out: Vec<Action> = Vec::with_capacity(self.out.len());
        for action in self.out {
            if !out.contains(&action) {
                out.push(action);
            }
        }
        out
    }
}

impl Walker {
    /// Judges text brush-parser could not parse (PowerShell or cmd syntax, a typo) by splitting it into
    /// commands at `;`, `|`, `&` and newlines and into words at blanks, honouring quotes.
    fn fallback(&mut self, cx: &Classifier<'_>, text: &str, map: Map) {
        for segment in split_fallback(text) {
            let argv: Vec<RWord> = segment
                .into_iter()
                .map(|(word, start, end)| {
                    let span = map.span(start, end);
                    RWord {
                        raw: text.get(start..end).unwrap_or_default().to_string(),
                        ..RWord::synthetic(&word, span)
                    }
                })
                .collect();
            self.dispatch(cx, argv, Flow::None);
        }
    }
}

/// Splits text into commands of words `(text without quotes, start, end)`.
fn split_fallback(text: &str) -> Vec<Vec<(String, usize, usize)>> {
    let mut commands = Vec::new();
    let mut words = Vec::new();
    let mut word: Option<(String, usize)> = None;
    let mut quote: Option<char> = None;
    for (i, c) in text.char_indices() {
        if let Some(q) = quote {
            if c == q {
                quote = None;
            } else if let Some((w, _)) = word.as_mut() {
                w.push(c);
            }
            continue;
        }
        let separator = matches!(c, ';' | '|' | '&' | '\n');
        if c.is_whitespace() || separator {
            if let Some((w, start)) = word.take() {
                words.push((w, start, i));
            }
            if separator && !words.is_empty() {
                commands.push(std::mem::take(&mut words));
            }
            continue;
        }
        let (w, _) = word.get_or_insert_with(|| (String::new(), i));
        if c == '"' || c == '\'' {
            quote = Some(c);
        } else {
            w.push(c);
        }
    }
    if let Some((w, start)) = word.take() {
        words.push((w, start, text.len()));
    }
    if !words.is_empty() {
        commands.push(words);
    }
    commands
}

/// How deeply brackets and compound keywords nest in `text` (an over-estimate: quotes are ignored).
fn syntax_nesting(text: &str) -> usize {
    let mut depth: usize = 0;
    let mut max = 0;
    let mut in_tick = false;
    let mut word = String::new();
    let flush = |word: &mut String, depth: &mut usize| {
        match word.as_str() {
            "if" | "while" | "until" | "for" | "case" | "select" => *depth += 1,
            "fi" | "done" | "esac" => *depth = depth.saturating_sub(1),
            _ => {}
        }
        word.clear();
    };
    for c in text.chars() {
        if c.is_ascii_alphanumeric() {
            if word.len() < 8 {
                word.push(c);
            }
            continue;
        }
        flush(&mut word, &mut depth);
        match c {
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => depth = depth.saturating_sub(1),
            '`' => {
                if in_tick {
                    depth = depth.saturating_sub(1);
                } else {
                    depth += 1;
                }
                in_tick = !in_tick;
            }
            _ => {}
        }
        max = max.max(depth);
    }
    flush(&mut word, &mut depth);
    max.max(depth)
}

/// The resolved simple commands (argv texts and stdin) and the actions for `command`; for tests.
#[cfg(test)]
pub(crate) fn resolve(cx: &Classifier<'_>, command: &str) -> (Vec<Call>, Vec<Action>) {
    let mut walker = Walker::default();
    walker.script(cx, command, Map::Exact(0));
    let calls = std::mem::take(&mut walker.calls);
    (calls, walker.finish())
}

/// Single-quotes `text` for a shell (tests build nested commands with it).
#[cfg(test)]
fn wrappers_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}
