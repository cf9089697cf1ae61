//! MCP classifier: judges a `tools/call` by the tool's name (split into words) against the catalogue's
//! `[rule.mcp]` patterns (`catalog/mcp.toml`), and routes its arguments to the other classifiers: SQL text to
//! the SQL classifier, commands to the shell classifier, paths of write/edit/delete/move tools to the file
//! classifier. Read tools (`list_*`, `get_*`, `search_*`, a `SELECT`) yield nothing.
//!
//! # Span convention
//! Spans are byte offsets into [`mcp_text`]: `SERVER TOOL ARGUMENTS`, the arguments as compact JSON (the
//! catalogue's example format, re-serialised). Name rules span the tool name. Actions of a routed argument
//! keep their exact position when the argument is a string spelled the way serde_json writes it (always, in
//! [`mcp_text`]): an SQL or shell span inside the string maps through the JSON escapes to the characters it
//! covers. A command given as an array is joined with shell quoting; its actions span the whole array. File
//! actions span the path string.

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::action::{Action, Span};
use crate::catalog::Rule;
use crate::classify::graphql::{first_id, has_condition, render_target};
use crate::classify::http::text::{
    find_json_string, glob_match, json_offset, shell_quote, split_words,
};
use crate::classify::{Classifier, environment_hint, file};
use crate::request::{FileOp, FileRequest, McpRequest, RequestKind, SqlDialect};

/// A catalogue pattern for an MCP tool call (`[rule.mcp]`). Every non-empty condition must hold.
///
/// ```toml
/// [rule.mcp]
/// servers = ["railway*"]                   # server name globs; empty = any server
/// tools = ["delete*many"]                  # tool name globs (ASCII case-insensitive)
/// tool_words = ["delete", "drop"]          # some word of the tool name is one of these
/// object_words = ["project", "database"]   # some word of the tool name, or of its `kind`/`type`
///                                          # argument, is one of these
/// read_words = ["list", "get"]             # the rule does not fire when the tool's FIRST word is one of these
/// unscoped = ["filter"]                    # fires only when the present ones of these arguments hold no
///                                          # condition, or none is present
/// unless_scoped = ["filter", "where"]      # does not fire when one of these arguments holds a condition
/// target = "volume {volumeId|id}"          # `{arg}` / `{a|b}` argument values, `{field}` the tool name
/// fallback = 2                             # see below
/// ```
///
/// `fallback`: rules of level 0 (the default) always fire; a rule of level `n > 0` fires only when no rule of
/// a lower level matched the call (generic word rules sit behind specific ones).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpPattern {
    /// Server name globs.
    #[serde(default)]
    pub servers: Vec<String>,
    /// Tool name globs.
    #[serde(default)]
    pub tools: Vec<String>,
    /// Verbs: some word of the tool name.
    #[serde(default)]
    pub tool_words: Vec<String>,
    /// Objects: some word of the tool name or of its `kind`/`type` argument.
    #[serde(default)]
    pub object_words: Vec<String>,
    /// Read verbs: the rule does not fire when the tool name starts with one of these words.
    #[serde(default)]
    pub read_words: Vec<String>,
    /// Filter arguments that must be absent or empty.
    #[serde(default)]
    pub unscoped: Vec<String>,
    /// Filter arguments whose condition disarms the rule.
    #[serde(default)]
    pub unless_scoped: Vec<String>,
    /// Target template.
    #[serde(default)]
    pub target: Option<String>,
    /// Fallback level (0 = always fires).
    #[serde(default)]
    pub fallback: u8,
}

/// The text MCP spans refer to: `SERVER TOOL ARGUMENTS` with the arguments as compact JSON.
pub fn mcp_text(request: &McpRequest) -> String {
    format!("{} {} {}", request.server, request.tool, request.arguments)
}

/// Where the arguments start in [`mcp_text`].
pub fn arguments_offset(request: &McpRequest) -> usize {
    request.server.len() + 1 + request.tool.len() + 1
}

/// Argument keys holding SQL text.
const SQL_KEYS: &[&str] = &[
    "sql",
    "query",
    "statement",
    "statements",
    "sql_query",
    "sqlQuery",
    "sqlStatements",
    "sql_statements",
    "queries",
    "migration",
];
/// Tool words that make a `query` argument SQL.
const SQL_TOOL_WORDS: &[&str] = &[
    "sql",
    "query",
    "queries",
    "execute",
    "exec",
    "run",
    "migration",
    "migrate",
    "statement",
    "write",
    "read",
    "select",
];
/// Server name fragments of SQL databases.
const SQL_SERVERS: &[&str] = &[
    "postgres",
    "pg",
    "supabase",
    "neon",
    "cockroach",
    "timescale",
    "mysql",
    "mariadb",
    "planetscale",
    "tidb",
    "sqlite",
    "turso",
    "libsql",
    "d1",
    "sql",
    "snowflake",
    "bigquery",
    "duckdb",
    "clickhouse",
    "mssql",
    "oracle",
    "redshift",
    "database",
    "db",
];
/// First keywords of SQL statements.
const SQL_KEYWORDS: &[&str] = &[
    "select", "insert", "update", "delete", "drop", "truncate", "alter", "create", "with", "grant",
    "revoke", "merge", "replace", "begin", "start", "commit", "rollback", "copy", "vacuum", "exec",
    "execute", "call", "set", "do", "pragma", "attach", "detach", "rename", "comment", "explain",
    "show", "use", "upsert", "reindex", "analyze", "declare", "lock", "unlock", "load", "optimize",
    "refresh", "cluster", "discard", "reset", "(",
];
/// Argument keys holding a command line (or argv array).
const COMMAND_KEYS: &[&str] = &[
    "command",
    "cmd",
    "cli_command",
    "cliCommand",
    "shell_command",
    "shellCommand",
    "commandLine",
    "command_line",
];
/// Tools and servers named after the program their `command` argument runs under.
const IMPLIED_CLIS: &[&str] = &[
    "kubectl",
    "helm",
    "aws",
    "gcloud",
    "gsutil",
    "az",
    "git",
    "gh",
    "docker",
    "podman",
    "terraform",
    "tofu",
    "pulumi",
    "fly",
    "flyctl",
    "heroku",
    "railway",
    "vercel",
    "supabase",
    "netlify",
    "doctl",
    "psql",
    "mysql",
    "sqlite3",
    "redis-cli",
    "mongosh",
    "vault",
    "npm",
    "wrangler",
];
/// Argument keys holding a path.
const PATH_KEYS: &[&str] = &[
    "path",
    "file_path",
    "filePath",
    "file",
    "filename",
    "target_path",
    "targetPath",
    "destination",
    "dest",
    "source",
    "src",
    "paths",
];

/// Classifies an MCP tool call. Spans are relative to [`mcp_text`] (see the module doc).
pub fn classify_mcp(cx: &Classifier<'_>, request: &McpRequest) -> Vec<Action> {
    let args = arguments_map(&request.arguments);
    let words = split_words(&request.tool);
    let json = request.arguments.to_string();
    let at = arguments_offset(request);
    let environment = cx
        .environment
        .map(str::to_string)
        .or_else(|| guess_environment(request, &args));
    let call = Call {
        request,
        args: &args,
        words: &words,
        json: &json,
        at,
        environment,
    };
    let mut actions = Vec::new();
    let Some(inner) = cx.nested() else {
        return vec![cx.too_deep(
            RequestKind::Mcp,
            Some(Span::new(0, mcp_text(request).len())),
        )];
    };
    call.route_sql(&inner, &mut actions);
    call.route_command(&inner, &mut actions);
    call.route_code(&inner, &mut actions);
    call.route_paths(&inner, &mut actions);
    actions.extend(call.rule_actions(cx));
    for action in &mut actions {
        if action.environment.is_none() {
            action.environment.clone_from(&call.environment);
        }
    }
    actions
}

/// The arguments as an object (a JSON-encoded string object is decoded; anything else is empty).
fn arguments_map(arguments: &Value) -> Map<String, Value> {
    match arguments {
        Value::Object(map) => map.clone(),
        Value::String(s) => match serde_json::from_str(s) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        },
        _ => Map::new(),
    }
}

/// An environment label from the server name or the argument values (`namespace: prod`).
fn guess_environment(request: &McpRequest, args: &Map<String, Value>) -> Option<String> {
    environment_hint(&request.server)
        .or_else(|| {
            args.iter()
                .filter(|(k, _)| {
                    !SQL_KEYS.contains(&k.as_str()) && !COMMAND_KEYS.contains(&k.as_str())
                })
                .filter_map(|(_, v)| v.as_str())
                .filter(|v| v.len() < 128)
                .find_map(environment_hint)
        })
        .map(str::to_string)
}

struct Call<'a> {
    request: &'a McpRequest,
    args: &'a Map<String, Value>,
    words: &'a [String],
    json: &'a str,
    /// Offset of the arguments JSON in [`mcp_text`].
    at: usize,
    environment: Option<String>,
}

impl Call<'_> {
    /// The program a command argument runs under, when the tool or server is named after a command-line
    /// tool (`kubectl`, `aws`, `gcloud`, …) and the argument leaves the program name out.
    fn implied_cli(&self, command: &str) -> Option<&str> {
        let first = command.split_whitespace().next().unwrap_or_default();
        [self.request.tool.as_str(), self.request.server.as_str()]
            .into_iter()
            .find(|name| IMPLIED_CLIS.contains(&name.to_ascii_lowercase().as_str()))
            .filter(|name| !first.eq_ignore_ascii_case(name))
    }

    fn has_word(&self, list: &[&str]) -> bool {
        self.words.iter().any(|w| list.contains(&w.as_str()))
    }

    /// Span, in [`mcp_text`], of a string value (`None` when it cannot be located).
    fn string_span(&self, value: &str) -> Option<(usize, Span)> {
        let start = find_json_string(self.json, value)?;
        let end = start + json_offset(value, value.len());
        Some((self.at + start, Span::new(self.at + start, self.at + end)))
    }

    /// Span of any JSON value in [`mcp_text`], or the whole arguments.
    fn value_span(&self, value: &Value) -> Span {
        let text = value.to_string();
        match self.json.find(&text) {
            Some(start) => Span::new(self.at + start, self.at + start + text.len()),
            None => Span::new(self.at, self.at + self.json.len()),
        }
    }

    /// Maps actions found in the string `value` into [`mcp_text`].
    fn map_into(&self, actions: Vec<Action>, value: &str) -> Vec<Action> {
        match self.string_span(value) {
            Some((start, _)) => actions
                .into_iter()
                .map(|mut a| {
                    a.evidence.span = a.evidence.span.map(|s| {
                        Span::new(
                            start + json_offset(value, s.start),
                            start + json_offset(value, s.end),
                        )
                    });
                    a
                })
                .collect(),
            None => {
                let whole = Span::new(self.at, self.at + self.json.len());
                actions
                    .into_iter()
                    .map(|mut a| {
                        a.evidence.span = Some(whole);
                        a
                    })
                    .collect()
            }
        }
    }

    fn dialect(&self) -> SqlDialect {
        let server = self.request.server.to_ascii_lowercase();
        let has = |names: &[&str]| names.iter().any(|n| server.contains(n));
        if has(&[
            "postgres",
            "supabase",
            "neon",
            "cockroach",
            "timescale",
            "pg",
            "redshift",
        ]) {
            SqlDialect::Postgres
        } else if has(&["mysql", "mariadb", "planetscale", "tidb"]) {
            SqlDialect::Mysql
        } else if has(&["sqlite", "turso", "libsql", "d1"]) {
            SqlDialect::Sqlite
        } else {
            SqlDialect::Generic
        }
    }

    /// SQL arguments of SQL tools (or of any tool of a database server) go to the SQL classifier.
    fn route_sql(&self, cx: &Classifier<'_>, out: &mut Vec<Action>) {
        let server = self.request.server.to_ascii_lowercase();
        let server_words = split_words(&server);
        let sql_server = SQL_SERVERS
            .iter()
            .any(|s| server_words.iter().any(|w| w == s) || server.contains(s));
        let sql_tool = self.has_word(SQL_TOOL_WORDS);
        // Documentation and code searches take a free-text `query` (`search_docs "delete a project"`).
        let search_tool = self.words.first().is_some_and(|w| {
            matches!(
                w.as_str(),
                "search" | "find" | "lookup" | "list" | "describe" | "get" | "fetch"
            )
        });
        for key in SQL_KEYS {
            let Some(value) = self.args.get(*key) else {
                continue;
            };
            let texts: Vec<&str> = match value {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                _ => continue,
            };
            for text in texts {
                // A `query` is SQL only on an SQL tool or server and when it reads like SQL; `sql` and
                // `statement` always are (the SQL classifier asks about what it cannot parse).
                let explicit = matches!(
                    *key,
                    "sql"
                        | "statement"
                        | "statements"
                        | "sql_query"
                        | "sqlQuery"
                        | "sqlStatements"
                        | "sql_statements"
                );
                if !(explicit || ((sql_tool || sql_server) && !search_tool && looks_like_sql(text)))
                {
                    continue;
                }
                out.extend(self.map_into(cx.sql(self.dialect(), text), text));
            }
        }
    }

    /// Code arguments of interpreter tools (`run_python {"code": …}`) go to the shell classifier as the
    /// equivalent one-liner (`python3 -c '…'`, `node -e '…'`), whose inline-interpreter rules judge them.
    fn route_code(&self, cx: &Classifier<'_>, out: &mut Vec<Action>) {
        let interpreter =
            if self.has_word(&["python", "py", "python3", "jupyter", "notebook", "ipython"]) {
                "python3 -c"
            } else if self.has_word(&[
                "node",
                "javascript",
                "js",
                "nodejs",
                "typescript",
                "ts",
                "deno",
            ]) {
                "node -e"
            } else if self.has_word(&["ruby", "rb"]) && !self.has_word(&["s3"]) {
                "ruby -e"
            } else if self.has_word(&["perl"]) {
                "perl -e"
            } else if self.has_word(&["bash", "shell", "sh", "zsh", "terminal"]) {
                ""
            } else {
                return;
            };
        for key in ["code", "source_code", "sourceCode", "snippet", "program"] {
            let Some(code) = self.args.get(key).and_then(Value::as_str) else {
                continue;
            };
            if interpreter.is_empty() {
                out.extend(self.map_into(cx.shell(code), code));
            } else {
                let line = format!("{interpreter} {}", shell_quote(code));
                let span = self
                    .string_span(code)
                    .map_or_else(|| self.value_span(&Value::Null), |(_, s)| s);
                out.extend(respan_all(cx.shell(&line), span));
            }
        }
    }

    /// Command arguments go to the shell classifier: a string as is, an argv array joined with quoting
    /// (plus an `args` array next to a string command).
    fn route_command(&self, cx: &Classifier<'_>, out: &mut Vec<Action>) {
        let mut keys: Vec<&str> = COMMAND_KEYS.to_vec();
        if self.has_word(&[
            "exec", "execute", "run", "shell", "terminal", "bash", "script", "command",
        ]) {
            keys.push("script");
        }
        for key in keys {
            let Some(value) = self.args.get(key) else {
                continue;
            };
            match value {
                // An editor's sub-command (`{"command": "str_replace", "path": …}`), not a command line.
                Value::String(command)
                    if self.file_op().is_some() && !command.trim().contains(' ') => {}
                Value::String(command) => {
                    let extra = self
                        .args
                        .get("args")
                        .or_else(|| self.args.get("arguments"))
                        .and_then(argv);
                    match extra {
                        Some(rest) if !rest.is_empty() => {
                            let line = format!("{command} {}", join_argv(&rest));
                            let span = self.value_span(&Value::Object(self.args.clone()));
                            out.extend(respan_all(cx.shell(&line), span));
                        }
                        _ => match self.implied_cli(command) {
                            // `kubectl` tool with `{"command": "delete ns prod"}`: the tool is the program.
                            Some(cli) => {
                                let line = format!("{cli} {command}");
                                let span = self.value_span(value);
                                out.extend(respan_all(cx.shell(&line), span));
                            }
                            None => out.extend(self.map_into(cx.shell(command), command)),
                        },
                    }
                }
                Value::Array(_) => {
                    if let Some(words) = argv(value) {
                        let span = self.value_span(value);
                        out.extend(respan_all(cx.shell(&join_argv(&words)), span));
                    } else {
                        out.push(cx.action(
                            "ENG001",
                            RequestKind::Mcp,
                            format!("{key} argument"),
                            Some(self.value_span(value)),
                        ));
                    }
                }
                Value::Null => {}
                other => {
                    out.push(cx.action(
                        "ENG001",
                        RequestKind::Mcp,
                        format!("{key} argument"),
                        Some(self.value_span(other)),
                    ));
                }
            }
        }
        // No command line, only an argv for the CLI the tool or server is named after
        // (`gcloud run_gcloud_command {"args": ["projects", "delete", "acme-prod"]}`).
        if !COMMAND_KEYS.iter().any(|k| self.args.contains_key(*k))
            && let Some(value) = self.args.get("args").or_else(|| self.args.get("argv"))
            && let Some(words) = argv(value).filter(|w| !w.is_empty())
        {
            let joined = join_argv(&words);
            let cli = self.implied_cli(&joined).or_else(|| {
                self.words
                    .iter()
                    .map(String::as_str)
                    .find(|w| IMPLIED_CLIS.contains(w))
                    .filter(|w| !words.first().is_some_and(|f| f.eq_ignore_ascii_case(w)))
            });
            if let Some(cli) = cli {
                let line = format!("{cli} {joined}");
                out.extend(respan_all(cx.shell(&line), self.value_span(value)));
            }
        }
    }

    /// The file operation a tool performs on its path arguments, from its name.
    fn file_op(&self) -> Option<FileOp> {
        if self.has_word(&[
            "delete", "remove", "rm", "unlink", "rmdir", "trash", "move", "rename", "mv",
        ]) {
            Some(FileOp::Delete)
        } else if self.has_word(&[
            "edit", "patch", "replace", "append", "insert", "modify", "update", "str",
        ]) {
            Some(FileOp::Edit)
        } else if self.has_word(&[
            "write",
            "create",
            "save",
            "put",
            "overwrite",
            "upload",
            "copy",
            "cp",
            "mkdir",
        ]) {
            Some(FileOp::Write)
        } else {
            None
        }
    }

    /// Paths of write/edit/delete/move tools go to the file classifier (name rules still apply: a
    /// `delete_file` is a delete whatever the path).
    fn route_paths(&self, cx: &Classifier<'_>, out: &mut Vec<Action>) {
        let Some(op) = self.file_op() else { return };
        // Editor tools with a sub-command (`str_replace_based_edit_tool {"command": "view"}`) that only read.
        let sub = self
            .args
            .get("command")
            .and_then(Value::as_str)
            .unwrap_or_default();
        if matches!(sub, "view" | "read" | "list" | "cat" | "show") {
            return;
        }
        let moving = self.has_word(&["move", "rename", "mv"]);
        let content = [
            "content",
            "contents",
            "text",
            "new_string",
            "newText",
            "data",
        ]
        .iter()
        .find_map(|k| self.args.get(*k).and_then(Value::as_str))
        .map(str::to_string);
        for key in PATH_KEYS {
            let Some(value) = self.args.get(*key) else {
                continue;
            };
            let paths: Vec<&str> = match value {
                Value::String(s) => vec![s.as_str()],
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                _ => continue,
            };
            // A move deletes its source and writes its destination; a copy only writes its destination.
            let key_op = match *key {
                "destination" | "dest" | "target_path" | "targetPath" if moving => FileOp::Write,
                "source" | "src" if !moving && op == FileOp::Write => continue,
                _ => op,
            };
            for path in paths {
                let file_request = FileRequest {
                    op: key_op,
                    path: path.to_string(),
                    content: content.clone(),
                };
                let actions = file::classify_file(cx, &file_request);
                let span = self
                    .string_span(path)
                    .map_or_else(|| self.value_span(value), |(_, s)| s);
                out.extend(respan_all(actions, span));
            }
        }
    }

    /// Name rules from the catalogue, at the lowest matching fallback level.
    fn rule_actions(&self, cx: &Classifier<'_>) -> Vec<Action> {
        let object_words = self.object_words();
        let mut best: Option<(u8, Vec<&Rule>)> = None;
        for rule in cx.catalog.mcp_rules() {
            let Some(pattern) = &rule.mcp else { continue };
            if !self.matches(pattern, &object_words) {
                continue;
            }
            match &mut best {
                Some((level, rules)) if *level == pattern.fallback => rules.push(rule),
                Some((level, _)) if *level < pattern.fallback => {}
                _ => best = Some((pattern.fallback, vec![rule])),
            }
        }
        let Some((_, rules)) = best else {
            return Vec::new();
        };
        let start = self.request.server.len() + 1;
        let span = Span::new(start, start + self.request.tool.len());
        rules
            .into_iter()
            .map(|rule| {
                let template = rule.mcp.as_ref().and_then(|p| p.target.as_deref());
                let target = match template {
                    Some(t) => render_target(Some(t), &self.request.tool, self.args),
                    None => match first_id(self.args, 0) {
                        Some(id) => format!("{} {} {id}", self.request.server, self.request.tool),
                        None => format!("{} {}", self.request.server, self.request.tool),
                    },
                };
                cx.action(&rule.id, RequestKind::Mcp, target, Some(span))
            })
            .collect()
    }

    /// Words of the tool name plus those of a `kind`/`type` argument (`resources_delete` of a `Namespace`).
    fn object_words(&self) -> Vec<String> {
        let mut words = self.words.to_vec();
        for key in [
            "kind",
            "type",
            "resource",
            "resourceType",
            "resource_type",
            "objectType",
            "object_type",
        ] {
            if let Some(value) = self.args.get(key).and_then(Value::as_str) {
                words.extend(split_words(value));
            }
        }
        words
    }

    fn matches(&self, pattern: &McpPattern, object_words: &[String]) -> bool {
        let eq = |list: &[String], w: &str| list.iter().any(|x| x.eq_ignore_ascii_case(w));
        if !pattern.servers.is_empty()
            && !pattern
                .servers
                .iter()
                .any(|g| glob_match(g, &self.request.server))
        {
            return false;
        }
        if !pattern.tools.is_empty()
            && !pattern
                .tools
                .iter()
                .any(|g| glob_match(g, &self.request.tool))
        {
            return false;
        }
        if !pattern.tool_words.is_empty() && !self.words.iter().any(|w| eq(&pattern.tool_words, w))
        {
            return false;
        }
        if self
            .words
            .first()
            .is_some_and(|w| eq(&pattern.read_words, w))
        {
            return false;
        }
        if !pattern.object_words.is_empty()
            && !object_words.iter().any(|w| eq(&pattern.object_words, w))
        {
            return false;
        }
        if !pattern.unscoped.is_empty() {
            let present: Vec<&Value> = pattern
                .unscoped
                .iter()
                .filter_map(|k| self.args.get(k))
                .collect();
            if present.iter().any(|v| has_condition(Some(v), 0)) {
                return false;
            }
        }
        if pattern
            .unless_scoped
            .iter()
            .any(|k| has_condition(self.args.get(k), 0))
        {
            return false;
        }
        true
    }
}

/// Whether text starts with an SQL keyword.
pub(crate) fn looks_like_sql(text: &str) -> bool {
    let trimmed = text.trim_start_matches(|c: char| c.is_whitespace() || c == ';');
    // Skip leading comments (`-- …` lines and `/* … */`).
    let mut rest = trimmed;
    for _ in 0..16 {
        if let Some(line) = rest.strip_prefix("--") {
            rest = line.split_once('\n').map_or("", |(_, r)| r).trim_start();
        } else if let Some(block) = rest.strip_prefix("/*") {
            rest = block.split_once("*/").map_or("", |(_, r)| r).trim_start();
        } else {
            break;
        }
    }
    let first: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic() || *c == '(')
        .collect();
    let first = first.to_ascii_lowercase();
    let first = if first.starts_with('(') {
        "("
    } else {
        first.as_str()
    };
    SQL_KEYWORDS.contains(&first)
}

/// The strings of an argv array (`None` when an element is not a string or a number).
fn argv(value: &Value) -> Option<Vec<String>> {
    value
        .as_array()?
        .iter()
        .map(|v| match v {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

fn join_argv(words: &[String]) -> String {
    words
        .iter()
        .map(|w| shell_quote(w))
        .collect::<Vec<_>>()
        .join(" ")
}

fn respan_all(mut actions: Vec<Action>, span: Span) -> Vec<Action> {
    for action in &mut actions {
        action.evidence.span = Some(span);
    }
    actions
}

#[cfg(test)]
mod tests;
