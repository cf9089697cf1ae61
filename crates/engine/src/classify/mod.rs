//! Classifiers: turn a request into the actions it would perform. One module per kind of input; they
//! call each other for nested forms (a `curl` in a shell command becomes an HTTP request, `psql -c` SQL,
//! an MCP `execute_sql` argument SQL, …). Nothing here decides: the policy does (`policy.rs`).

pub mod file;
mod glob;
pub mod graphql;
pub mod http;
pub mod mcp;
pub mod paths;
pub mod shell;
pub mod shell_cli;
pub mod sql;

use crate::action::{Action, Span};
use crate::catalog::Catalog;
use crate::request::{Request, RequestKind, SqlDialect};

/// Largest input (command, SQL, body, content) the classifiers read; larger input is `ask` (rule `ENG002`).
pub const MAX_INPUT_BYTES: usize = 1024 * 1024;

/// Deepest nesting (a `bash -c` inside an `eval` inside `$(…)`, …) followed before giving up with `ask`
/// (rule `ENG003`).
pub const MAX_DEPTH: u32 = 8;

/// What every classifier needs: the catalogue, how deep in nested forms we are, and the environment label
/// given by the caller (if any).
#[derive(Debug, Clone, Copy)]
pub struct Classifier<'a> {
    /// The loaded catalogue.
    pub catalog: &'a Catalog,
    /// Nesting depth (0 for the request itself).
    pub depth: u32,
    /// Environment label from the request context.
    pub environment: Option<&'a str>,
}

impl<'a> Classifier<'a> {
    /// A classifier at depth 0.
    pub fn new(catalog: &'a Catalog, environment: Option<&'a str>) -> Self {
        Self {
            catalog,
            depth: 0,
            environment,
        }
    }

    /// A classifier one level deeper, or `None` past [`MAX_DEPTH`].
    pub fn nested(&self) -> Option<Self> {
        (self.depth < MAX_DEPTH).then(|| Self {
            depth: self.depth + 1,
            ..*self
        })
    }

    /// Builds the action for catalogue rule `id` (see [`Catalog::action`]), with this classifier's
    /// environment label when the caller gave one.
    pub fn action(
        &self,
        id: &str,
        kind: RequestKind,
        target: impl Into<String>,
        span: Option<Span>,
    ) -> Action {
        let mut action = self.catalog.action(id, kind, target, span);
        action.environment = self.environment.map(str::to_string);
        action
    }

    /// The action for input too deeply nested to follow.
    pub fn too_deep(&self, kind: RequestKind, span: Option<Span>) -> Action {
        self.action("ENG003", kind, "nested input", span)
    }

    /// Classifies any request.
    pub fn classify(&self, request: &Request) -> Vec<Action> {
        if let Some(action) = self.oversized(request).or_else(|| self.empty(request)) {
            return vec![action];
        }
        match request {
            Request::Shell(r) => self.shell(&r.command),
            Request::Sql(r) => self.sql(r.dialect, &r.sql),
            Request::Http(r) => http::classify_http(self, r),
            Request::Mcp(r) => mcp::classify_mcp(self, r),
            Request::File(r) => file::classify_file(self, r),
        }
    }

    /// Classifies a shell command line (spans relative to `command`).
    pub fn shell(&self, command: &str) -> Vec<Action> {
        shell::classify_shell(self, command)
    }

    /// Classifies SQL text (spans relative to `sql`).
    pub fn sql(&self, dialect: SqlDialect, sql: &str) -> Vec<Action> {
        sql::classify_sql(self, dialect, sql)
    }

    fn empty(&self, request: &Request) -> Option<Action> {
        let blank = |s: &str| s.trim().is_empty();
        let empty = match request {
            Request::Shell(r) => blank(&r.command),
            Request::Sql(r) => blank(&r.sql),
            Request::Http(r) => blank(&r.url) || blank(&r.method),
            Request::Mcp(r) => blank(&r.tool),
            Request::File(r) => blank(&r.path),
        };
        empty.then(|| self.action("ENG004", request.kind(), "empty request", None))
    }

    fn oversized(&self, request: &Request) -> Option<Action> {
        let size = match request {
            Request::Shell(r) => r.command.len(),
            Request::Sql(r) => r.sql.len(),
            Request::Http(r) => r.url.len() + r.body.as_ref().map_or(0, String::len),
            Request::Mcp(r) => r.arguments.to_string().len(),
            Request::File(r) => r.path.len() + r.content.as_ref().map_or(0, String::len),
        };
        (size > MAX_INPUT_BYTES).then(|| {
            self.action(
                "ENG002",
                request.kind(),
                format!("{size} bytes of input"),
                None,
            )
        })
    }
}

/// Replaces the spans of actions found in a nested input (whose offsets refer to that inner text) by
/// `outer`, the span of the text in the enclosing input they came from.
pub fn respan(mut actions: Vec<Action>, outer: Span) -> Vec<Action> {
    for action in &mut actions {
        action.evidence.span = Some(outer);
    }
    actions
}

/// Moves the spans of actions found in a substring starting at `offset` of the enclosing input.
pub fn shift(mut actions: Vec<Action>, offset: usize) -> Vec<Action> {
    for action in &mut actions {
        action.evidence.span = action.evidence.span.map(|s| s.shifted(offset));
    }
    actions
}

/// An environment label guessed from a name such as a host, namespace, stack, app or database name:
/// `production` for `prod`, `production`, `prd`, `live`; `staging` for `staging`, `stage`, `stg`;
/// `development` for `dev`, `development`, `local`, `test`. Matches whole tokens split on non-alphanumerics.
pub fn environment_hint(name: &str) -> Option<&'static str> {
    let mut found = None;
    let is = |token: &str, words: &[&str]| words.iter().any(|w| token.eq_ignore_ascii_case(w));
    for token in name.split(|c: char| !c.is_ascii_alphanumeric()) {
        // Cheap and allocation-free: this runs on every host, capture and target.
        if !(3..=11).contains(&token.len()) {
            continue;
        }
        if is(token, &["prod", "production", "prd", "live"]) {
            return Some("production");
        }
        if is(token, &["staging", "stage", "stg"]) {
            found = Some("staging");
        } else if found.is_none()
            && is(token, &["dev", "development", "local", "localhost", "test"])
        {
            found = Some("development");
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn environment_hint_reads_whole_tokens() {
        assert_eq!(environment_hint("db.prod.internal"), Some("production"));
        assert_eq!(environment_hint("acme-prod"), Some("production"));
        assert_eq!(environment_hint("staging-eu"), Some("staging"));
        assert_eq!(environment_hint("product-catalog"), None);
        assert_eq!(environment_hint("dev-db"), Some("development"));
    }
}
