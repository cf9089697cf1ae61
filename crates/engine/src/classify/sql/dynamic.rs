//! SQL that builds or runs other SQL: `DO $$ … $$` blocks and procedural bodies, `EXECUTE` (literal,
//! concatenated or `format`ted text), MySQL `PREPARE s FROM …`, and psql / sqlite3 meta-commands.
//!
//! Procedural bodies (PL/pgSQL and friends) are not SQL sqlparser can read as a whole, so they are split
//! at `;` and at the block keywords (`BEGIN`, `LOOP`, `THEN`, `ELSE`, `DECLARE`, `EXCEPTION`) outside
//! parentheses and `CASE` expressions; each piece that starts like an SQL statement is classified as SQL,
//! and each `EXECUTE` is resolved when its text is a literal, or reported as dynamic SQL (`SQL009`) when it
//! is built at run time (its literal pieces are still read, so `EXECUTE 'DROP TABLE ' || t` reports the
//! drop).

use sqlparser::tokenizer::Token;

use super::{Batch, Tok, rules, tokenize};
use crate::action::{Action, Span};
use crate::classify::{respan, shift};
use crate::request::{RequestKind, SqlDialect};

/// Statement keywords that make a piece of a procedural body worth classifying as SQL.
const SQL_LEADS: &[&str] = &[
    "DROP", "TRUNCATE", "DELETE", "UPDATE", "ALTER", "GRANT", "REVOKE", "INSERT", "MERGE", "WITH",
    "CREATE", "COPY", "PREPARE", "DO", "REPLACE", "RENAME",
];

/// Keywords that open a new statement inside a procedural block.
const BLOCK_WORDS: &[&str] = &["BEGIN", "LOOP", "THEN", "ELSE", "DECLARE", "EXCEPTION"];

/// `DO [LANGUAGE x] $$ body $$`: the body runs now.
pub(super) fn do_block(batch: &mut Batch<'_>, toks: &[Tok], span: Span) {
    let language = toks
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .skip_while(|t| !super::is_word(&t.token, "LANGUAGE"))
        .nth(1)
        .and_then(|t| match &t.token {
            Token::Word(w) => Some(w.value.to_lowercase()),
            other => literal(other),
        });
    if let Some(language) = language.filter(|l| l != "plpgsql" && l != "sql") {
        batch.emit(rules::DYNAMIC, format!("DO block in {language}"), span);
        return;
    }
    let Some(body) = toks.iter().find(|t| literal(&t.token).is_some()) else {
        batch.emit(rules::UNPARSEABLE, "DO block", span);
        return;
    };
    let found = match &body.token {
        Token::DollarQuotedString(d) => {
            let offset = body.start + 2 + d.tag.as_ref().map_or(0, String::len);
            procedural(batch, &d.value, offset, false)
        }
        other => {
            let text = literal(other).unwrap_or_default();
            respan(
                procedural(batch, &text, 0, false),
                Span::new(body.start, body.end),
            )
        }
    };
    batch.out.extend(found);
}

/// `EXECUTE …` / `EXEC …` at the start of `toks`. Outside a procedure a bare name runs a prepared
/// statement (judged when it was prepared); inside one, a variable is dynamic SQL.
pub(super) fn execute(batch: &mut Batch<'_>, toks: &[Tok], span: Span, in_procedure: bool) {
    let words: Vec<&Tok> = toks
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .skip(1)
        .collect();
    let words: Vec<&Tok> = match words.first() {
        Some(t) if super::is_word(&t.token, "IMMEDIATE") => words.into_iter().skip(1).collect(),
        _ => words,
    };
    let mut depth = 0usize;
    let expr: Vec<&Tok> = words
        .into_iter()
        .take_while(|t| {
            match &t.token {
                Token::LParen => depth += 1,
                Token::RParen => depth = depth.saturating_sub(1),
                _ => {}
            }
            !(depth == 0 && (super::is_word(&t.token, "INTO") || super::is_word(&t.token, "USING")))
        })
        .collect();
    match expr.as_slice() {
        [] => {}
        [only] if literal(&only.token).is_some() => {
            let text = literal(&only.token).unwrap_or_default();
            let found = batch.nested_sql(batch.dialect, &text, span, true);
            batch.out.extend(found);
        }
        [name, rest @ ..] if matches!(&name.token, Token::Word(_)) && !is_builder(&name.token) => {
            if super::is_word(&name.token, "sp_executesql")
                && let Some(text) = rest.iter().find_map(|t| literal(&t.token))
            {
                let found = batch.nested_sql(batch.dialect, &text, span, true);
                batch.out.extend(found);
                return;
            }
            let plain_call =
                rest.is_empty() || matches!(rest.first().map(|t| &t.token), Some(Token::LParen));
            if in_procedure || !plain_call {
                let text = rebuild(&expr);
                batch.dynamic_text(&text, span);
            }
        }
        _ => {
            let text = rebuild(&expr);
            batch.dynamic_text(&text, span);
        }
    }
}

/// MySQL `PREPARE name FROM 'text' | @variable`.
pub(super) fn prepare_from(batch: &mut Batch<'_>, toks: &[Tok], span: Span) {
    let expr: Vec<&Tok> = toks
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .skip(3)
        .collect();
    if let [only] = expr.as_slice()
        && let Some(text) = literal(&only.token)
    {
        let found = batch.nested_sql(SqlDialect::Mysql, &text, span, true);
        batch.out.extend(found);
        return;
    }
    let key: String = expr
        .iter()
        .map(|t| match &t.token {
            Token::Word(w) => w.value.to_lowercase(),
            Token::AtSign => "@".to_string(),
            other => other.to_string(),
        })
        .collect();
    match batch.vars.get(&key).cloned() {
        Some(value) if value.resolved => {
            let found = batch.nested_sql(SqlDialect::Mysql, &value.text, span, true);
            batch.out.extend(found);
        }
        Some(value) => batch.dynamic_text(&value.text, span),
        None if key.starts_with('@') => batch.emit(
            rules::DYNAMIC,
            format!("statement prepared from {key}"),
            span,
        ),
        None => {
            let text = rebuild(&expr);
            batch.dynamic_text(&text, span);
        }
    }
}

/// Classifies a procedural body piece by piece; spans are shifted by `offset` (the body's position in the
/// batch's text). With `header`, `body` is a whole statement that did not parse (`CREATE PROCEDURE p()
/// BEGIN …`): its first piece, the header, is skipped.
pub(super) fn procedural(
    batch: &mut Batch<'_>,
    body: &str,
    offset: usize,
    header: bool,
) -> Vec<Action> {
    let Some(cx) = batch.cx.nested() else {
        return vec![batch.cx.too_deep(
            RequestKind::Sql,
            Some(Span::new(offset, offset + body.len())),
        )];
    };
    let dialect = if batch.dialect == SqlDialect::Generic {
        SqlDialect::Postgres
    } else {
        batch.dialect
    };
    let Some(tokens) = tokenize(dialect, body).or_else(|| tokenize(SqlDialect::Generic, body))
    else {
        return vec![batch.action(
            rules::UNPARSEABLE,
            "procedural body",
            Span::new(offset, offset + body.len()),
        )];
    };
    let saved = std::mem::take(&mut batch.out);
    for (first, last) in pieces(&tokens).into_iter().skip(usize::from(header)) {
        let toks = tokens.get(first..=last).unwrap_or(&[]);
        let (Some(start), Some(end)) = (toks.first().map(|t| t.start), toks.last().map(|t| t.end))
        else {
            continue;
        };
        let span = Span::new(start + offset, end + offset);
        let lead = super::first_word(toks, 0);
        if lead == "EXECUTE" || lead == "EXEC" {
            execute(batch, toks, span, true);
        } else if SQL_LEADS.contains(&lead.as_str()) {
            let text = body.get(start..end).unwrap_or("");
            let found = super::classify_sql(&cx, batch.dialect, text);
            batch.out.extend(shift(found, start + offset));
        }
    }
    std::mem::replace(&mut batch.out, saved)
}

/// Token ranges of the statements of a procedural body (whitespace-only pieces dropped).
fn pieces(tokens: &[Tok]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, usize)> = None;
    let (mut parens, mut cases) = (0usize, 0usize);
    for (index, tok) in tokens.iter().enumerate() {
        let boundary = match &tok.token {
            Token::SemiColon => parens == 0,
            Token::LParen => {
                parens += 1;
                false
            }
            Token::RParen => {
                parens = parens.saturating_sub(1);
                false
            }
            Token::Word(w) if w.quote_style.is_none() => {
                let upper = w.value.to_ascii_uppercase();
                if upper == "CASE" {
                    cases += 1;
                } else if upper == "END" && cases > 0 {
                    cases -= 1;
                }
                parens == 0 && cases == 0 && BLOCK_WORDS.contains(&upper.as_str())
            }
            _ => false,
        };
        if boundary {
            out.extend(current.take());
            continue;
        }
        if matches!(tok.token, Token::Whitespace(_) | Token::EOF) {
            continue;
        }
        match &mut current {
            Some((_, last)) => *last = index,
            None => current = Some((index, index)),
        }
    }
    out.extend(current);
    out
}

/// `format`, `concat`, … build SQL text rather than name a prepared statement.
fn is_builder(token: &Token) -> bool {
    [
        "format",
        "concat",
        "concat_ws",
        "replace",
        "quote_ident",
        "string_agg",
        "printf",
    ]
    .iter()
    .any(|w| super::is_word(token, w))
}

/// The value of a string literal token.
pub(super) fn literal(token: &Token) -> Option<String> {
    match token {
        Token::SingleQuotedString(s)
        | Token::DoubleQuotedString(s)
        | Token::TripleSingleQuotedString(s)
        | Token::TripleDoubleQuotedString(s)
        | Token::NationalStringLiteral(s)
        | Token::EscapedStringLiteral(s)
        | Token::UnicodeStringLiteral(s) => Some(s.clone()),
        Token::DollarQuotedString(d) => Some(d.value.clone()),
        _ => None,
    }
}

/// Rebuilds the SQL text an expression of tokens would produce: literals as they are (with `format`
/// placeholders filled), every other operand as the placeholder identifier `x`.
fn rebuild(expr: &[&Tok]) -> String {
    let mut out = String::new();
    let mut pending_operand = false;
    for tok in expr {
        match &tok.token {
            Token::LParen | Token::RParen => {}
            Token::StringConcat | Token::Comma => {
                if pending_operand {
                    out.push_str(" x ");
                    pending_operand = false;
                }
            }
            other => match literal(other) {
                Some(text) => {
                    out.push_str(&fill_placeholders(&text));
                    pending_operand = false;
                }
                None if is_builder(other) => {}
                None => pending_operand = true,
            },
        }
    }
    if pending_operand {
        out.push_str(" x ");
    }
    out
}

/// Literal pieces of dynamic SQL joined with the placeholder `x` between them.
pub(super) fn reconstruct(literals: &[String]) -> String {
    literals
        .iter()
        .map(|l| fill_placeholders(l))
        .collect::<Vec<_>>()
        .join(" x ")
}

/// `format()` placeholders (`%I`, `%s`, `%L`, `%1$I`) replaced by `x`; `%%` by `%`.
fn fill_placeholders(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = String::new();
        while let Some(&d) = chars.peek() {
            if d.is_ascii_digit() || d == '$' {
                spec.push(d);
                chars.next();
            } else {
                break;
            }
        }
        match chars.peek() {
            Some('I' | 's' | 'L') => {
                chars.next();
                out.push('x');
            }
            Some('%') if spec.is_empty() => {
                chars.next();
                out.push('%');
            }
            _ => {
                out.push('%');
                out.push_str(&spec);
            }
        }
    }
    out
}

/// Finds psql (`\dt`, `\!`, `\gexec`) and sqlite3 (`.tables`, `.shell`) meta-commands, reports the ones
/// that run something, and returns the text with every meta-command blanked (same byte offsets), or
/// `None` when there is none.
pub(super) fn strip_meta_commands(batch: &mut Batch<'_>) -> Option<String> {
    let sql = batch.sql;
    if !sql.contains('\\') && !sql.contains('.') {
        return None;
    }
    let mut metas: Vec<(usize, usize)> = Vec::new();
    let mut at_statement_start = true;
    let mut line_start = 0usize;
    for line in sql.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        let lead = body.len() - body.trim_start().len();
        let trimmed = body.trim_start();
        let is_dot = trimmed.starts_with('.')
            && trimmed
                .chars()
                .nth(1)
                .is_some_and(|c| c.is_ascii_alphabetic())
            && at_statement_start;
        if trimmed.starts_with('\\') || is_dot {
            metas.push((line_start + lead, line_start + body.len()));
        } else if let Some(at) = inline_meta(body) {
            metas.push((line_start + at, line_start + body.len()));
            at_statement_start = true;
        } else if !trimmed.is_empty() {
            at_statement_start = trimmed.ends_with(';');
        }
        line_start += line.len();
    }
    if metas.is_empty() {
        return None;
    }
    let mut cleaned = sql.to_string();
    for (start, end) in metas {
        let text = sql.get(start..end).unwrap_or("");
        meta_command(batch, text, start);
        if cleaned.is_char_boundary(start) && cleaned.is_char_boundary(end) && start <= end {
            cleaned.replace_range(start..end, &" ".repeat(end - start));
        }
    }
    Some(cleaned)
}

/// A `\command` after SQL on the same line (`SELECT … \gexec`), outside quotes.
fn inline_meta(line: &str) -> Option<usize> {
    let mut quote: Option<char> = None;
    let mut prev = ' ';
    for (at, c) in line.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '\'' || c == '"' => quote = Some(c),
            None if c == '\\' && prev.is_whitespace() => {
                let next = line.get(at + 1..).and_then(|r| r.chars().next());
                if next.is_some_and(|n| n.is_ascii_alphabetic()) {
                    return Some(at);
                }
            }
            None => {}
        }
        prev = c;
    }
    None
}

/// Judges one meta-command found at byte `start`.
fn meta_command(batch: &mut Batch<'_>, text: &str, start: usize) {
    let span = Span::new(start, start + text.len());
    let (command, rest) = match text.strip_prefix("\\!") {
        Some(rest) => ("\\!", rest),
        None => text.split_once(char::is_whitespace).unwrap_or((text, "")),
    };
    match command.to_ascii_lowercase().as_str() {
        "\\!" | ".shell" | ".system" => {
            let found = match batch.cx.nested() {
                Some(cx) => {
                    let offset = start + text.len() - rest.len();
                    shift(cx.shell(rest), offset)
                }
                None => vec![batch.cx.too_deep(RequestKind::Sql, Some(span))],
            };
            batch.out.extend(found);
        }
        "\\gexec" => batch.emit(
            rules::DYNAMIC,
            "every result row of the query, run as SQL (\\gexec)",
            span,
        ),
        "\\i" | "\\ir" | "\\include" | "\\include_relative" | ".read" => {
            batch.emit(rules::DYNAMIC, format!("SQL file {}", rest.trim()), span);
        }
        "\\copy" if rest.to_ascii_lowercase().contains("program") => {
            batch.emit(rules::COPY_PROGRAM, super::clip(rest), span);
        }
        _ => {}
    }
}
