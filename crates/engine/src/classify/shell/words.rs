//! Word resolution: quote removal (`r''m` → `rm`, `\rm` → `rm`), ANSI-C strings (`$'\x72m'`), variables
//! assigned earlier on the line, `$IFS` as a separator, command substitutions (walked, and replaced by
//! their output when that is known statically), brace expansion of plain words (`{rm,-rf,~}`).

use brush_parser::ParserOptions;
use brush_parser::ast;
use brush_parser::word::{
    self, BraceExpressionMember, BraceExpressionOrText, Parameter, ParameterExpr, SpecialParameter,
    TildeExpr, WordPiece, WordPieceWithSource,
};

use super::walk::Level;
use super::{Flow, Map, RWord, Walker};
use crate::action::Span;
use crate::classify::Classifier;

/// Most words one brace expansion may produce.
const MAX_BRACE_WORDS: usize = 32;

/// Accumulates the fields of one word.
#[derive(Default)]
struct Builder {
    fields: Vec<String>,
    current: String,
    /// The current field exists (even if empty: `''`).
    open: bool,
    unknown_subst: bool,
    unknown_var: bool,
    decoded: bool,
    subst_names: Vec<String>,
    literal_pieces: usize,
    dynamic_pieces: usize,
}

impl Builder {
    /// Appends `text`; when `split`, whitespace in it separates fields (an unquoted expansion).
    fn push(&mut self, text: &str, split: bool) {
        if !split {
            self.current.push_str(text);
            self.open = true;
            return;
        }
        for c in text.chars() {
            if matches!(c, ' ' | '\t' | '\n') {
                if self.open {
                    self.fields.push(std::mem::take(&mut self.current));
                    self.open = false;
                }
            } else {
                self.current.push(c);
                self.open = true;
            }
        }
    }

    fn fields(mut self) -> (Vec<String>, Builder) {
        if self.open || self.fields.is_empty() && self.dynamic_pieces + self.literal_pieces > 0 {
            self.fields.push(std::mem::take(&mut self.current));
        }
        let fields = std::mem::take(&mut self.fields);
        (fields, self)
    }
}

/// What a parameter expands to.
enum Lookup {
    Known(String),
    Ifs,
    Unknown,
}

impl Walker {
    /// Resolves one word of the AST into zero or more fields.
    pub(super) fn resolve_word(
        &mut self,
        cx: &Classifier<'_>,
        lvl: &Level<'_>,
        word: &ast::Word,
    ) -> Vec<RWord> {
        let start = lvl.verbatim(&word.value, word.loc.as_ref());
        let span = match (word.loc.as_ref(), start) {
            (_, Some(s)) => lvl.span(s, s + word.value.len()),
            (Some(loc), None) => {
                let (s, e) = lvl.range(loc);
                lvl.span(s, e)
            }
            (None, None) => lvl.whole(),
        };
        self.resolve_text(cx, lvl, &word.value, start, span, true)
    }

    /// Resolves word source `value` (verbatim at local byte `start` when known; at top-level `span`).
    pub(super) fn resolve_text(
        &mut self,
        cx: &Classifier<'_>,
        lvl: &Level<'_>,
        value: &str,
        start: Option<usize>,
        span: Span,
        split: bool,
    ) -> Vec<RWord> {
        let options = ParserOptions::default();
        let pieces = match plain_word(value) {
            Some(piece) => vec![piece],
            None => match word::parse(value, &options) {
                Ok(pieces) => pieces,
                Err(_) => vec![WordPieceWithSource {
                    piece: WordPiece::Text(value.to_string()),
                    start_index: 0,
                    end_index: value.len(),
                }],
            },
        };
        if split && let Some(words) = brace_expand(value, &pieces, span) {
            return words;
        }
        let mut b = Builder::default();
        self.pieces(cx, lvl, &pieces, value, start, span, false, split, &mut b);
        let content =
            verbatim_content(&pieces).and_then(|offset| Some(lvl.map.at(start? + offset)));
        self.finish_word(b, value, span, content)
    }

    /// Resolves the body of an unquoted heredoc (parameters and substitutions expand; quotes are literal).
    pub(super) fn resolve_heredoc(
        &mut self,
        cx: &Classifier<'_>,
        lvl: &Level<'_>,
        body: &str,
        start: Option<usize>,
        span: Span,
    ) -> RWord {
        let options = ParserOptions::default();
        let pieces = word::parse_heredoc(body, &options).unwrap_or_else(|_| {
            vec![WordPieceWithSource {
                piece: WordPiece::Text(body.to_string()),
                start_index: 0,
                end_index: body.len(),
            }]
        });
        let mut b = Builder::default();
        self.pieces(cx, lvl, &pieces, body, start, span, true, false, &mut b);
        let all_text = pieces.iter().all(|p| matches!(p.piece, WordPiece::Text(_)));
        let content = if all_text {
            start.map(|s| lvl.map.at(s))
        } else {
            None
        };
        let mut words = self.finish_word(b, body, span, content);
        words.pop().unwrap_or_else(|| RWord::synthetic("", span))
    }

    fn finish_word(
        &mut self,
        b: Builder,
        value: &str,
        span: Span,
        content: Option<Map>,
    ) -> Vec<RWord> {
        let (fields, b) = b.fields();
        let single = fields.len() == 1;
        let only_expansion = b.literal_pieces == 0 && b.dynamic_pieces == 1;
        fields
            .into_iter()
            .map(|text| RWord {
                text,
                raw: value.to_string(),
                span,
                content: if single {
                    content.unwrap_or(Map::Whole(span))
                } else {
                    Map::Whole(span)
                },
                unknown_subst: b.unknown_subst,
                unknown_var: b.unknown_var,
                only_expansion,
                decoded: b.decoded,
                subst_names: b.subst_names.clone(),
                feeds: None,
            })
            .collect()
    }

    #[allow(clippy::too_many_arguments)]
    fn pieces(
        &mut self,
        cx: &Classifier<'_>,
        lvl: &Level<'_>,
        pieces: &[WordPieceWithSource],
        value: &str,
        start: Option<usize>,
        span: Span,
        quoted: bool,
        split: bool,
        b: &mut Builder,
    ) {
        let split_here = split && !quoted;
        for p in pieces {
            let raw = value.get(p.start_index..p.end_index).unwrap_or_default();
            match &p.piece {
                WordPiece::Text(s) | WordPiece::SingleQuotedText(s) => {
                    b.literal_pieces += usize::from(!s.is_empty());
                    b.push(s, false);
                }
                WordPiece::AnsiCQuotedText(s) => {
                    b.literal_pieces += 1;
                    b.push(&ansi_c(s), false);
                }
                WordPiece::DoubleQuotedSequence(inner)
                | WordPiece::GettextDoubleQuotedSequence(inner) => {
                    b.push("", false);
                    self.pieces(cx, lvl, inner, value, start, span, true, split, b);
                }
                WordPiece::TildeExpansion(tilde) => {
                    b.literal_pieces += 1;
                    let text = match tilde {
                        TildeExpr::Home => "~".to_string(),
                        TildeExpr::UserHome(user) => format!("~{user}"),
                        _ => raw.to_string(),
                    };
                    b.push(&text, false);
                }
                WordPiece::EscapeSequence(s) => {
                    b.literal_pieces += 1;
                    let text = s.strip_prefix('\\').unwrap_or(s);
                    b.push(if text == "\n" { "" } else { text }, false);
                }
                WordPiece::ArithmeticExpression(_) => {
                    b.literal_pieces += 1;
                    b.push(raw, false);
                }
                WordPiece::ParameterExpansion(expr) => {
                    self.parameter(cx, lvl, expr, raw, span, split_here, b)
                }
                WordPiece::CommandSubstitution(inner)
                | WordPiece::BackquotedCommandSubstitution(inner) => {
                    let open = if matches!(p.piece, WordPiece::CommandSubstitution(_)) {
                        2
                    } else {
                        1
                    };
                    let at = start.map(|s| s + p.start_index + open);
                    let at = at.filter(|&at| {
                        lvl.text
                            .get(at..)
                            .is_some_and(|t| t.starts_with(inner.as_str()))
                    });
                    let map = at.map_or(Map::Whole(span), |at| lvl.map.at(at));
                    match self.nested(cx, inner, map, span) {
                        Flow::Literal(data) => {
                            b.literal_pieces += 1;
                            b.decoded |= data.decoded;
                            b.push(data.text.trim_end_matches('\n'), split_here);
                        }
                        Flow::Command(argv) => {
                            b.dynamic_pieces += 1;
                            b.unknown_subst = true;
                            if let Some(first) = argv.first() {
                                b.subst_names
                                    .push(super::wrappers::command_name(&first.text));
                            }
                            if prints_secret_file(&argv) {
                                b.subst_names.push(super::SECRET_SUBST.to_string());
                            }
                            b.push(raw, false);
                        }
                        Flow::None | Flow::File => b.push("", split_here),
                    }
                }
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn parameter(
        &mut self,
        cx: &Classifier<'_>,
        lvl: &Level<'_>,
        expr: &ParameterExpr,
        raw: &str,
        span: Span,
        split: bool,
        b: &mut Builder,
    ) {
        let looked = match expr {
            ParameterExpr::Parameter {
                parameter,
                indirect: false,
            } => self.lookup(parameter),
            ParameterExpr::UseDefaultValues {
                parameter,
                indirect: false,
                default_value,
                ..
            }
            | ParameterExpr::AssignDefaultValues {
                parameter,
                indirect: false,
                default_value,
                ..
            } => match self.lookup(parameter) {
                Lookup::Known(v) if !v.is_empty() => Lookup::Known(v),
                Lookup::Ifs => Lookup::Ifs,
                _ => {
                    let default = default_value.clone().unwrap_or_default();
                    let words = self.resolve_text(cx, lvl, &default, None, span, false);
                    if words.iter().any(RWord::is_dynamic) {
                        Lookup::Unknown
                    } else {
                        Lookup::Known(
                            words
                                .iter()
                                .map(|w| w.text.as_str())
                                .collect::<Vec<_>>()
                                .join(" "),
                        )
                    }
                }
            },
            _ => Lookup::Unknown,
        };
        match looked {
            Lookup::Known(value) => {
                b.literal_pieces += 1;
                b.push(&value, split);
            }
            Lookup::Ifs => {
                b.literal_pieces += 1;
                b.push(" ", split);
            }
            Lookup::Unknown => {
                b.dynamic_pieces += 1;
                b.unknown_var = true;
                b.push(raw, false);
            }
        }
    }

    fn lookup(&self, parameter: &Parameter) -> Lookup {
        let name = match parameter {
            Parameter::Named(name) if name == "IFS" => return Lookup::Ifs,
            Parameter::Named(name) => name.clone(),
            Parameter::Positional(n) => n.to_string(),
            Parameter::Special(SpecialParameter::AllPositionalParameters { .. }) => "@".to_string(),
            _ => return Lookup::Unknown,
        };
        match self.vars.get(&name) {
            Some(Some(value)) => Lookup::Known(value.clone()),
            _ => Lookup::Unknown,
        }
    }
}

/// Offset of the verbatim text inside a word made of one plain, single-quoted or simple double-quoted
/// piece (`'rm -rf ~'`), or `None`.
fn verbatim_content(pieces: &[WordPieceWithSource]) -> Option<usize> {
    match pieces {
        [p] => match &p.piece {
            WordPiece::Text(_) => Some(p.start_index),
            WordPiece::SingleQuotedText(_) => Some(p.start_index + 1),
            WordPiece::DoubleQuotedSequence(inner) => match inner.as_slice() {
                [] => Some(p.start_index + 1),
                [q] if matches!(q.piece, WordPiece::Text(_)) => Some(q.start_index),
                _ => None,
            },
            _ => None,
        },
        _ => None,
    }
}

/// Expands `{a,b}` in a word made only of plain text; `None` when there is nothing to expand.
/// A word made only of bytes the shell takes literally everywhere (letters, digits, `-_./:,%+=`), as
/// brush's word parser reads it: one text piece. Most words of a command line are such words, and
/// this skips the parser for them (tested against it in `tests.rs`).
pub(super) fn plain_word(value: &str) -> Option<WordPieceWithSource> {
    let plain = |b: &u8| b.is_ascii_alphanumeric() || b"-_./:,%+=".contains(b);
    (!value.is_empty() && value.as_bytes().iter().all(plain)).then(|| WordPieceWithSource {
        piece: WordPiece::Text(value.to_string()),
        start_index: 0,
        end_index: value.len(),
    })
}

fn brace_expand(value: &str, pieces: &[WordPieceWithSource], span: Span) -> Option<Vec<RWord>> {
    if !value.contains('{')
        || !value.contains(',')
        || !pieces.iter().all(|p| matches!(p.piece, WordPiece::Text(_)))
    {
        return None;
    }
    let parts = word::parse_brace_expansions(value, &ParserOptions::default()).ok()??;
    let mut out = vec![String::new()];
    expand_parts(&parts, &mut out)?;
    (out.len() > 1).then(|| {
        out.into_iter()
            .map(|text| RWord {
                raw: value.to_string(),
                ..RWord::synthetic(&text, span)
            })
            .collect()
    })
}

fn expand_parts(parts: &[BraceExpressionOrText], out: &mut Vec<String>) -> Option<()> {
    for part in parts {
        match part {
            BraceExpressionOrText::Text(t) => out.iter_mut().for_each(|o| o.push_str(t)),
            BraceExpressionOrText::Expr(members) => {
                let mut next = Vec::new();
                for member in members {
                    let BraceExpressionMember::Child(children) = member else {
                        return None;
                    };
                    let mut variant = out.clone();
                    expand_parts(children, &mut variant)?;
                    next.extend(variant);
                    if next.len() > MAX_BRACE_WORDS {
                        return None;
                    }
                }
                *out = next;
            }
        }
    }
    Some(())
}

/// Decodes the body of an ANSI-C string (`$'…'`).
pub(super) fn ansi_c(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut bytes: Vec<u8> = Vec::new();
    let mut chars = s.chars().peekable();
    let flush = |bytes: &mut Vec<u8>, out: &mut String| {
        if !bytes.is_empty() {
            out.push_str(&String::from_utf8_lossy(bytes));
            bytes.clear();
        }
    };
    while let Some(c) = chars.next() {
        if c != '\\' {
            flush(&mut bytes, &mut out);
            out.push(c);
            continue;
        }
        let Some(e) = chars.next() else {
            out.push('\\');
            break;
        };
        if !matches!(e, 'x' | '0'..='7') {
            flush(&mut bytes, &mut out);
        }
        match e {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'r' => out.push('\r'),
            'a' => out.push('\u{7}'),
            'b' => out.push('\u{8}'),
            'e' | 'E' => out.push('\u{1b}'),
            'f' => out.push('\u{c}'),
            'v' => out.push('\u{b}'),
            'x' => {
                let hex = take_digits(&mut chars, 16, 2);
                match u8::from_str_radix(&hex, 16) {
                    Ok(byte) => bytes.push(byte),
                    Err(_) => out.push_str("\\x"),
                }
                continue;
            }
            'u' | 'U' => {
                let hex = take_digits(&mut chars, 16, if e == 'u' { 4 } else { 8 });
                if let Some(ch) = u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    out.push(ch);
                }
            }
            '0'..='7' => {
                let mut oct = e.to_string();
                oct.push_str(&take_digits(&mut chars, 8, 2));
                if let Ok(byte) = u8::from_str_radix(&oct, 8) {
                    bytes.push(byte);
                }
                continue;
            }
            other => out.push(other),
        }
    }
    flush(&mut bytes, &mut out);
    out
}

/// Takes up to `max` digits of `radix` from `chars`.
pub(super) fn take_digits(
    chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
    radix: u32,
    max: usize,
) -> String {
    let mut s = String::new();
    while s.len() < max {
        match chars.peek() {
            Some(c) if c.is_digit(radix) => {
                s.push(*c);
                chars.next();
            }
            _ => break,
        }
    }
    s
}

/// Whether a command prints a secret file or the environment (`cat ~/.ssh/id_rsa`, `printenv`). Tokens
/// printed by CLIs (`gh auth token`) are left out: they are made to be sent to their own service.
fn prints_secret_file(argv: &[RWord]) -> bool {
    let name = argv
        .first()
        .map(|w| super::wrappers::command_name(&w.text))
        .unwrap_or_default();
    if name == "env" || name == "printenv" {
        let words: Vec<_> = argv.iter().map(RWord::to_word).collect();
        return crate::classify::shell_cli::exfil::reads_secrets(&words);
    }
    argv.iter().skip(1).any(|w| {
        !w.text.starts_with('-') && crate::classify::shell_cli::exfil::is_secret_path(&w.text)
    })
}
