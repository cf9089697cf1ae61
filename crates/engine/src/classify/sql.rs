//! SQL classifier, on sqlparser with the request's dialect (generic as a fallback).
//!
//! The input is tokenized once and split into statements at top-level `;` (the tokenizer knows strings,
//! dollar quotes and comments), so every statement of a stacked batch is judged on its own and its
//! evidence span is the statement's byte range. Each statement is parsed with the request's dialect, then
//! with the generic one; a procedural body split by `;` (`CREATE PROCEDURE … BEGIN …; END`) is re-joined.
//!
//! What fires (ids in `catalog/sql.toml`): DROP of anything (`SQL001` database, `SQL002` schema, `SQL003`
//! table, `SQL004` other objects, `SQL012` `DROP OWNED`), `TRUNCATE` (`SQL005`), DELETE / UPDATE without a
//! WHERE or with a tautological one (`SQL006`, `SQL007`, also inside CTEs, `EXPLAIN ANALYZE`, `PREPARE`,
//! function and procedure bodies), `ALTER TABLE … DROP …` (`SQL008`), dynamic SQL whose text cannot be
//! resolved (`SQL009`: `EXECUTE format(…)`, `EXECUTE 'DROP ' || x`, `PREPARE s FROM @v`, `\gexec`),
//! unparseable SQL (`SQL010`), privilege and role changes (`SQL011`), `COPY … PROGRAM` (`SQL013`).
//! MySQL executable comments `/*! … */` are classified as SQL in every dialect; `DO $$ … $$` blocks and
//! function bodies are scanned statement by statement, and `EXECUTE` of literal text classifies that
//! text. psql / sqlite3 meta-commands (`\dt`, `.tables`) are reads; `\!` and `.shell` go to the shell
//! classifier. Reads (`SELECT`, `SHOW`, `DESCRIBE`, `PRAGMA`, `EXPLAIN`), inserts, creates, scoped
//! writes and transaction control yield no action.

mod dynamic;
mod walk;

use std::collections::BTreeMap;

use sqlparser::dialect::{Dialect, GenericDialect, MySqlDialect, PostgreSqlDialect, SQLiteDialect};
use sqlparser::parser::Parser;
use sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

use crate::action::{Action, Span};
use crate::classify::{Classifier, MAX_INPUT_BYTES, environment_hint};
use crate::request::{RequestKind, SqlDialect};

/// Rule ids of `catalog/sql.toml`.
pub mod rules {
    /// `DROP DATABASE`.
    pub const DROP_DATABASE: &str = "SQL001";
    /// `DROP SCHEMA`.
    pub const DROP_SCHEMA: &str = "SQL002";
    /// `DROP TABLE`.
    pub const DROP_TABLE: &str = "SQL003";
    /// `DROP` of another object (view, index, function, sequence, type, …).
    pub const DROP_OBJECT: &str = "SQL004";
    /// `TRUNCATE`.
    pub const TRUNCATE: &str = "SQL005";
    /// `DELETE` without a real `WHERE`.
    pub const DELETE_UNSCOPED: &str = "SQL006";
    /// `UPDATE` without a real `WHERE`.
    pub const UPDATE_UNSCOPED: &str = "SQL007";
    /// `ALTER TABLE … DROP …`.
    pub const ALTER_DROP: &str = "SQL008";
    /// Dynamic SQL whose text cannot be resolved.
    pub const DYNAMIC: &str = "SQL009";
    /// SQL that cannot be parsed.
    pub const UNPARSEABLE: &str = "SQL010";
    /// Privilege, user and role changes.
    pub const PRIVILEGE: &str = "SQL011";
    /// `DROP OWNED BY`.
    pub const DROP_OWNED: &str = "SQL012";
    /// `COPY … TO/FROM PROGRAM`.
    pub const COPY_PROGRAM: &str = "SQL013";
}

/// Longest nesting of statements inside statements (CTEs, EXPLAIN, bodies) the walker follows.
const MAX_WALK_DEPTH: u32 = 32;

/// Classifies SQL text (spans are byte ranges of `sql`).
pub fn classify_sql(cx: &Classifier<'_>, dialect: SqlDialect, sql: &str) -> Vec<Action> {
    if sql.len() > MAX_INPUT_BYTES {
        return vec![cx.action(
            "ENG002",
            RequestKind::Sql,
            format!("{} bytes of SQL", sql.len()),
            None,
        )];
    }
    let mut batch = Batch {
        cx: *cx,
        dialect,
        sql,
        vars: BTreeMap::new(),
        out: Vec::new(),
        reuse_tokens: false,
        every_row_ctes: Vec::new(),
    };
    batch.run();
    dedupe(batch.out)
}

/// The value of a MySQL user variable set earlier in the batch (`SET @s = '…'`).
#[derive(Debug, Clone)]
struct VarValue {
    /// The text (for a non-literal value, the literal parts joined with placeholders).
    text: String,
    /// Whether `text` is exactly the value.
    resolved: bool,
}

/// One SQL text being classified.
struct Batch<'a> {
    cx: Classifier<'a>,
    dialect: SqlDialect,
    sql: &'a str,
    vars: BTreeMap<String, VarValue>,
    out: Vec<Action>,
    /// Whether a statement's tokens are exactly what the request's dialect makes of the statement's text,
    /// so that it can be parsed from them instead of tokenizing it again.
    reuse_tokens: bool,
    /// CTEs in scope that select every row of a table (`WITH old AS (SELECT id FROM users)`): name → table.
    every_row_ctes: Vec<(String, String)>,
}

/// A token with its byte range in the text it came from.
#[derive(Debug, Clone)]
struct Tok {
    token: Token,
    start: usize,
    end: usize,
}

/// A statement: a range of tokens (without the `;`) and its trimmed byte range.
#[derive(Debug, Clone, Copy)]
struct Chunk {
    first: usize,
    last: usize,
    start: usize,
    end: usize,
}

/// Statement keywords after which nothing can be destroyed, even when sqlparser cannot parse the rest.
const HARMLESS_LEADS: &[&str] = &[
    "SHOW",
    "DESC",
    "DESCRIBE",
    "PRAGMA",
    "USE",
    "BEGIN",
    "START",
    "COMMIT",
    "ROLLBACK",
    "END",
    "SAVEPOINT",
    "RELEASE",
    "VACUUM",
    "ANALYZE",
    "ANALYSE",
    "REINDEX",
    "CHECKPOINT",
    "CHECK",
    "OPTIMIZE",
    "HELP",
    "LISTEN",
    "UNLISTEN",
    "NOTIFY",
    "DEALLOCATE",
    "DISCARD",
    "RESET",
    "SET",
    "VALUES",
    "TABLE",
    "FETCH",
    "CLOSE",
    "DECLARE",
    "MOVE",
    "LOCK",
    "UNLOCK",
    "ATTACH",
    "DETACH",
    "CALL",
    "HANDLER",
];

impl<'a> Batch<'a> {
    fn run(&mut self) {
        let cleaned = dynamic::strip_meta_commands(self);
        let text: &str = cleaned.as_deref().unwrap_or(self.sql);
        if text.contains("/*!") {
            self.executable_comments(text);
        }
        let own = tokenize(self.dialect, text);
        // Executable comments are expanded by some tokenizers: their statements are parsed from the text.
        self.reuse_tokens = own.is_some() && !text.contains("/*!");
        let Some(tokens) = own.or_else(|| tokenize(SqlDialect::Generic, text)) else {
            let span = trimmed_span(text, 0, text.len());
            self.emit(rules::UNPARSEABLE, "SQL text", span);
            return;
        };
        let mut chunks = split_statements(&tokens);
        if text.contains("/*!") {
            // Tokens expanded from `/*! … */` carry approximate locations: end each statement where its
            // `;` (or the text) does.
            widen_to_boundaries(text, &tokens, &mut chunks);
        }
        let mut i = 0;
        while i < chunks.len() {
            i += self.statement(text, &tokens, &chunks, i).max(1);
        }
    }

    /// Classifies chunk `i`; returns how many chunks it consumed.
    fn statement(&mut self, text: &str, tokens: &[Tok], chunks: &[Chunk], i: usize) -> usize {
        let Some(chunk) = chunks.get(i).copied() else {
            return 1;
        };
        let toks = tokens.get(chunk.first..=chunk.last).unwrap_or(&[]);
        let span = Span::new(chunk.start, chunk.end);
        let stmt_text = text.get(chunk.start..chunk.end).unwrap_or("");
        let lead = first_word(toks, 0);
        match lead.as_str() {
            "DO" => {
                dynamic::do_block(self, toks, span);
                return 1;
            }
            "EXECUTE" | "EXEC" => {
                dynamic::execute(self, toks, span, false);
                return 1;
            }
            "PREPARE" if word_at(toks, 2).as_deref() == Some("FROM") => {
                dynamic::prepare_from(self, toks, span);
                return 1;
            }
            "PRAGMA" => return 1,
            _ => {}
        }
        let own = if self.reuse_tokens {
            parse_tokens(self.dialect, toks)
        } else {
            parse(self.dialect, stmt_text)
        };
        if let Some(stmts) = own.or_else(|| parse(SqlDialect::Generic, stmt_text)) {
            for stmt in &stmts {
                self.walk_statement(stmt, span, 0);
            }
            return 1;
        }
        // A procedural body split at its inner `;`: try the statement joined with the next ones.
        if lead == "CREATE" || toks.iter().any(|t| is_word(&t.token, "BEGIN")) {
            for (extra, next) in chunks.iter().enumerate().skip(i + 1).take(16) {
                let joined = text.get(chunk.start..next.end).unwrap_or("");
                if let Some(stmts) =
                    parse(self.dialect, joined).or_else(|| parse(SqlDialect::Generic, joined))
                {
                    let span = Span::new(chunk.start, next.end);
                    for stmt in &stmts {
                        self.walk_statement(stmt, span, 0);
                    }
                    return extra - i + 1;
                }
            }
        }
        self.unparsed(stmt_text, toks, span, &lead);
        1
    }

    /// A statement neither dialect parses: judge it from its tokens, and ask when that is not enough.
    fn unparsed(&mut self, stmt_text: &str, toks: &[Tok], span: Span, lead: &str) {
        if HARMLESS_LEADS.contains(&lead) {
            return;
        }
        if lead == "CREATE" || toks.iter().any(|t| is_word(&t.token, "BEGIN")) {
            let found = dynamic::procedural(self, stmt_text, span.start, true);
            if !found.is_empty() {
                self.out.extend(found);
                return;
            }
        }
        if lead == "DROP" {
            let (rule, target) = guess_drop(toks);
            self.emit(rule, target, span);
            return;
        }
        if lead == "TRUNCATE" {
            let target = words_after(toks, 1, &["TABLE", "ONLY", "IF", "EXISTS"]);
            self.emit(rules::TRUNCATE, format!("table {target}"), span);
            return;
        }
        if lead == "ALTER" && toks.iter().any(|t| is_word(&t.token, "DROP")) {
            let table = words_after(toks, 2, &["IF", "EXISTS", "ONLY"]);
            let table = table.split_whitespace().next().unwrap_or("(unknown)");
            self.emit(
                rules::ALTER_DROP,
                format!("{} of table {table}", drop_clause(toks)),
                span,
            );
            return;
        }
        if lead == "GRANT" || lead == "REVOKE" {
            self.emit(rules::PRIVILEGE, clip(stmt_text), span);
            return;
        }
        self.emit(rules::UNPARSEABLE, clip(stmt_text), span);
    }

    /// `/*! … */` comments: MySQL runs their content; classify it in every dialect.
    fn executable_comments(&mut self, text: &str) {
        // The PostgreSQL tokenizer keeps `/*! … */` as a comment (MySQL's and the generic one expand it).
        let Some(tokens) = tokenize(SqlDialect::Postgres, text) else {
            return;
        };
        for tok in tokens {
            let Token::Whitespace(Whitespace::MultiLineComment(body)) = &tok.token else {
                continue;
            };
            let Some(inner) = body.strip_prefix('!') else {
                continue;
            };
            let inner = inner.trim_start_matches(|c: char| c.is_ascii_digit());
            let span = Span::new(tok.start, tok.end);
            let found = self.nested_sql(SqlDialect::Mysql, inner, span, false);
            self.out.extend(found);
        }
    }

    /// Classifies SQL found inside this input (a literal, a body, a comment); every action is respanned to
    /// `span`. With `strict` false, only what parses is reported (no `SQL010` for text that is not SQL).
    fn nested_sql(
        &self,
        dialect: SqlDialect,
        inner: &str,
        span: Span,
        strict: bool,
    ) -> Vec<Action> {
        let Some(cx) = self.cx.nested() else {
            return vec![self.cx.too_deep(RequestKind::Sql, Some(span))];
        };
        let mut found = crate::classify::respan(classify_sql(&cx, dialect, inner), span);
        if !strict {
            found.retain(|a| a.evidence.rule != rules::UNPARSEABLE);
        }
        found
    }

    /// Pushes the action for `rule` on `target`, with an environment guessed from the target's names when
    /// the caller gave none.
    fn emit(&mut self, rule: &str, target: impl Into<String>, span: Span) {
        let action = self.action(rule, target, span);
        self.out.push(action);
    }

    fn action(&self, rule: &str, target: impl Into<String>, span: Span) -> Action {
        let target = target.into();
        let mut action = self
            .cx
            .action(rule, RequestKind::Sql, target.clone(), Some(span));
        if action.environment.is_none() {
            action.environment = environment_hint(&target).map(str::to_string);
        }
        action
    }
}

/// The sqlparser dialect for a request dialect.
fn dialect_of(dialect: SqlDialect) -> &'static dyn Dialect {
    match dialect {
        SqlDialect::Postgres => &PostgreSqlDialect {},
        SqlDialect::Mysql => &MySqlDialect {},
        SqlDialect::Sqlite => &SQLiteDialect {},
        SqlDialect::Generic => &GenericDialect {},
    }
}

/// Parses `text` as statements, `None` when the dialect cannot.
fn parse(dialect: SqlDialect, text: &str) -> Option<Vec<sqlparser::ast::Statement>> {
    Parser::new(dialect_of(dialect))
        .try_with_sql(text)
        .and_then(|mut p| p.parse_statements())
        .ok()
}

/// Parses the tokens of one statement, as [`parse`] parses its text when `tokens` are what `dialect`
/// makes of it, without tokenizing it again.
fn parse_tokens(dialect: SqlDialect, tokens: &[Tok]) -> Option<Vec<sqlparser::ast::Statement>> {
    let tokens = tokens.iter().map(|t| t.token.clone()).collect();
    Parser::new(dialect_of(dialect))
        .with_tokens(tokens)
        .parse_statements()
        .ok()
}

/// Tokenizes `text`, with byte offsets; `None` when the dialect's tokenizer rejects it.
fn tokenize(dialect: SqlDialect, text: &str) -> Option<Vec<Tok>> {
    let tokens = Tokenizer::new(dialect_of(dialect), text)
        .tokenize_with_location()
        .ok()?;
    let mut locator = Locator::new(text);
    Some(
        tokens
            .into_iter()
            .map(|TokenWithSpan { token, span }| {
                let start = locator.byte(span.start.line, span.start.column);
                let end = locator.byte(span.end.line, span.end.column).max(start);
                Tok { token, start, end }
            })
            .collect(),
    )
}

/// Converts the tokenizer's 1-based line / character-column locations to byte offsets.
struct Locator<'t> {
    text: &'t str,
    line_starts: Vec<usize>,
    line: u64,
    col: u64,
    byte: usize,
}

impl<'t> Locator<'t> {
    fn new(text: &'t str) -> Self {
        let line_starts = std::iter::once(0)
            .chain(text.match_indices('\n').map(|(i, _)| i + 1))
            .collect::<Vec<usize>>();
        Self {
            text,
            line_starts,
            line: 1,
            col: 1,
            byte: 0,
        }
    }

    fn byte(&mut self, line: u64, col: u64) -> usize {
        if line == 0 {
            return self.byte;
        }
        if (line, col) < (self.line, self.col) {
            let index = usize::try_from(line - 1).unwrap_or(usize::MAX);
            self.byte = self
                .line_starts
                .get(index)
                .copied()
                .unwrap_or(self.text.len());
            self.line = line;
            self.col = 1;
        }
        while (self.line, self.col) < (line, col) {
            let Some(ch) = self
                .text
                .get(self.byte..)
                .and_then(|rest| rest.chars().next())
            else {
                break;
            };
            if ch == '\n' {
                self.line += 1;
                self.col = 1;
            } else {
                self.col += 1;
            }
            self.byte += ch.len_utf8();
        }
        self.byte
    }
}

/// Splits tokens into statements at `;`, dropping statements made only of whitespace and comments.
fn split_statements(tokens: &[Tok]) -> Vec<Chunk> {
    let mut chunks = Vec::new();
    let mut current: Option<Chunk> = None;
    for (index, tok) in tokens.iter().enumerate() {
        match &tok.token {
            Token::SemiColon => chunks.extend(current.take()),
            Token::Whitespace(_) | Token::EOF => {}
            _ => {
                let chunk = current.get_or_insert(Chunk {
                    first: index,
                    last: index,
                    start: tok.start,
                    end: tok.end,
                });
                chunk.last = index;
                chunk.end = tok.end;
            }
        }
    }
    chunks.extend(current);
    chunks
}

/// Extends each statement's end to just before the `;` that closes it (or the end of the text).
fn widen_to_boundaries(text: &str, tokens: &[Tok], chunks: &mut [Chunk]) {
    for chunk in chunks.iter_mut() {
        let boundary = tokens
            .iter()
            .skip(chunk.last + 1)
            .find(|t| matches!(t.token, Token::SemiColon))
            .map_or(text.len(), |t| t.start)
            .max(chunk.start);
        chunk.end = trimmed_span(text, chunk.start, boundary).end.max(chunk.end);
    }
}

fn is_word(token: &Token, word: &str) -> bool {
    matches!(token, Token::Word(w) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// The `n`-th non-whitespace token, uppercased, when it is an unquoted word.
fn word_at(toks: &[Tok], n: usize) -> Option<String> {
    match toks
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .nth(n)
        .map(|t| &t.token)
    {
        Some(Token::Word(w)) if w.quote_style.is_none() => Some(w.value.to_ascii_uppercase()),
        _ => None,
    }
}

fn first_word(toks: &[Tok], n: usize) -> String {
    word_at(toks, n).unwrap_or_default()
}

/// The words after position `from`, skipping `skip` keywords, joined (a best-effort object name).
fn words_after(toks: &[Tok], from: usize, skip: &[&str]) -> String {
    let names: Vec<String> = toks
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .skip(from)
        .filter_map(|t| match &t.token {
            Token::Word(w)
                if w.quote_style.is_some()
                    || !skip.iter().any(|s| w.value.eq_ignore_ascii_case(s)) =>
            {
                Some(w.value.clone())
            }
            Token::Period => Some(".".to_string()),
            Token::Comma => Some(",".to_string()),
            _ => None,
        })
        .take_while(|w| {
            !["CASCADE", "RESTRICT"]
                .iter()
                .any(|k| w.eq_ignore_ascii_case(k))
        })
        .collect();
    let joined = names.join(" ").replace(" . ", ".").replace(" ,", ",");
    if joined.is_empty() {
        "(unknown)".to_string()
    } else {
        joined
    }
}

/// Rule and target of a `DROP` that sqlparser cannot parse (`DROP OWNED BY`, vendor objects).
fn guess_drop(toks: &[Tok]) -> (&'static str, String) {
    let kind = first_word(toks, 1);
    let skip = [
        "IF",
        "EXISTS",
        "BY",
        "OWNED",
        "TABLE",
        "DATABASE",
        "SCHEMA",
        "TEMPORARY",
        "MATERIALIZED",
    ];
    let name = words_after(toks, 2, &skip);
    match kind.as_str() {
        "DATABASE" => (rules::DROP_DATABASE, format!("database {name}")),
        "SCHEMA" => (rules::DROP_SCHEMA, format!("schema {name}")),
        "TABLE" | "TEMPORARY" => (rules::DROP_TABLE, format!("table {name}")),
        "OWNED" => (rules::DROP_OWNED, format!("everything owned by {name}")),
        "ROLE" | "USER" | "GROUP" | "LOGIN" => {
            (rules::PRIVILEGE, format!("{} {name}", kind.to_lowercase()))
        }
        _ => (
            rules::DROP_OBJECT,
            format!("{} {name}", kind.to_lowercase()),
        ),
    }
}

/// `column x`, `partition p1`, … after the first `DROP` of an `ALTER` statement.
fn drop_clause(toks: &[Tok]) -> String {
    let words: Vec<String> = toks
        .iter()
        .filter(|t| !matches!(t.token, Token::Whitespace(_)))
        .skip_while(|t| !is_word(&t.token, "DROP"))
        .skip(1)
        .take(2)
        .filter_map(|t| match &t.token {
            Token::Word(w) => Some(w.value.to_lowercase()),
            _ => None,
        })
        .collect();
    words.join(" ")
}

/// The span of `text[start..end]` without surrounding whitespace.
fn trimmed_span(text: &str, start: usize, end: usize) -> Span {
    let part = text.get(start..end).unwrap_or("");
    let lead = part.len() - part.trim_start().len();
    let trail = part.len() - part.trim_end().len();
    Span::new(start + lead, end.saturating_sub(trail).max(start + lead))
}

/// At most 80 characters of a statement, for a target.
fn clip(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    match flat.char_indices().nth(80) {
        Some((at, _)) => format!("{}…", flat.get(..at).unwrap_or("")),
        None => flat,
    }
}

/// Drops repeated actions (same rule, target and span), keeping the first.
fn dedupe(actions: Vec<Action>) -> Vec<Action> {
    let mut seen = std::collections::BTreeSet::new();
    actions
        .into_iter()
        .filter(|a| seen.insert((a.evidence.rule.clone(), a.target.clone(), a.evidence.span)))
        .collect()
}

#[cfg(test)]
mod tests;
