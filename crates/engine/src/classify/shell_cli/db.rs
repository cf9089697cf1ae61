//! Database command-line clients: the SQL of `psql -c`, `mysql -e`, `sqlite3 DB 'SQL'` (and their standard
//! input when it is literal) goes to the SQL classifier; `mongosh --eval` JavaScript is scanned for
//! drop/delete calls; `redis-cli` commands are read as Redis commands. Scripts from files are unknown.

use crate::action::{Action, Span};
use crate::classify::shell_cli::args::{self, Item, View};
use crate::classify::shell_cli::{Stdin, Word};
use crate::classify::{Classifier, environment_hint, respan, shift};
use crate::request::{RequestKind, SqlDialect};

/// Adds the actions of a database client's command line.
pub(crate) fn classify(
    cx: &Classifier<'_>,
    argv: &[Word],
    view: &View,
    stdin: &Stdin,
    out: &mut Vec<Action>,
) {
    let start = out.len();
    let env = match view.cmd.as_str() {
        "psql" => sql_client(cx, argv, view, stdin, SqlClient::PSQL, out),
        "mysql" | "mariadb" => sql_client(cx, argv, view, stdin, SqlClient::MYSQL, out),
        "clickhouse-client" => sql_client(cx, argv, view, stdin, SqlClient::CLICKHOUSE, out),
        "sqlcmd" => sql_client(cx, argv, view, stdin, SqlClient::SQLCMD, out),
        "cqlsh" => sql_client(cx, argv, view, stdin, SqlClient::CQLSH, out),
        "sqlite3" | "sqlite" | "duckdb" => sqlite(cx, argv, view, stdin, out),
        "mongosh" | "mongo" => mongo(cx, argv, view, stdin, out),
        "redis-cli" | "valkey-cli" | "keydb-cli" => redis(cx, argv, view, stdin, out),
        _ => None,
    };
    if cx.environment.is_none() {
        for action in out.iter_mut().skip(start) {
            if action.environment.is_none() {
                action.environment = env.map(str::to_string);
            }
        }
    }
}

/// Where the text `inner` (found in `word`) starts in the top-level input, when it is there verbatim.
fn inner_offset(word: &Word, inner: &str) -> Option<usize> {
    if inner.is_empty() || word.raw.len() < inner.len() {
        return None;
    }
    word.raw.find(inner).map(|at| word.span.start + at)
}

/// Places nested actions (spans relative to `inner`) in the top-level input.
fn place(actions: Vec<Action>, word: &Word, inner: &str) -> Vec<Action> {
    match inner_offset(word, inner) {
        Some(offset) => shift(actions, offset),
        None => respan(actions, word.span),
    }
}

fn sql(cx: &Classifier<'_>, dialect: SqlDialect, text: &str, word: &Word, out: &mut Vec<Action>) {
    match cx.nested() {
        Some(inner) => out.extend(place(inner.sql(dialect, text), word, text)),
        None => out.push(cx.too_deep(RequestKind::Shell, Some(word.span))),
    }
}

fn stdin_sql(
    cx: &Classifier<'_>,
    dialect: SqlDialect,
    stdin: &Stdin,
    argv: &[Word],
    out: &mut Vec<Action>,
) {
    match stdin {
        Stdin::Literal { text, span } => match cx.nested() {
            Some(inner) => {
                let actions = inner.sql(dialect, text);
                // A heredoc's span covers its body exactly when the lengths agree.
                let actions = if span.end.saturating_sub(span.start) == text.len() {
                    shift(actions, span.start)
                } else {
                    respan(actions, *span)
                };
                out.extend(actions);
            }
            None => out.push(cx.too_deep(RequestKind::Shell, Some(*span))),
        },
        Stdin::Command { argv: source } => {
            let target = format!("SQL from `{}`", args::joined(source, 0));
            out.push(cx.action("DBC001", RequestKind::Shell, target, args::span_to(argv, 0)));
        }
        Stdin::None => {}
    }
}

struct SqlClient {
    dialect: SqlDialect,
    value_flags: &'static [&'static str],
    sql_flags: &'static [&'static str],
    file_flags: &'static [&'static str],
    host_flags: &'static [&'static str],
    read_flags: &'static [&'static str],
}

impl SqlClient {
    const PSQL: SqlClient = SqlClient {
        dialect: SqlDialect::Postgres,
        value_flags: &[
            "-c",
            "--command",
            "-d",
            "--dbname",
            "-f",
            "--file",
            "-h",
            "--host",
            "-p",
            "--port",
            "-U",
            "--username",
            "-v",
            "--set",
            "--variable",
            "-o",
            "--output",
            "-L",
            "--log-file",
            "-F",
            "--field-separator",
            "-R",
            "--record-separator",
            "-P",
            "--pset",
            "-T",
            "--table-attr",
        ],
        sql_flags: &["-c", "--command"],
        file_flags: &["-f", "--file"],
        host_flags: &["-h", "--host", "-d", "--dbname"],
        read_flags: &["-l", "--list", "-V", "--version", "--help", "-?"],
    };
    const MYSQL: SqlClient = SqlClient {
        dialect: SqlDialect::Mysql,
        value_flags: &[
            "-u",
            "--user",
            "-h",
            "--host",
            "-P",
            "--port",
            "-D",
            "--database",
            "-S",
            "--socket",
            "-e",
            "--execute",
            "--default-character-set",
            "--defaults-file",
            "--defaults-extra-file",
            "--init-command",
            "--login-path",
        ],
        sql_flags: &["-e", "--execute", "--init-command"],
        file_flags: &[],
        host_flags: &["-h", "--host", "-D", "--database"],
        read_flags: &["-V", "--version", "--help", "-?"],
    };
    const CLICKHOUSE: SqlClient = SqlClient {
        dialect: SqlDialect::Generic,
        value_flags: &[
            "-q",
            "--query",
            "-h",
            "--host",
            "--port",
            "-u",
            "--user",
            "--password",
            "-d",
            "--database",
            "--queries-file",
        ],
        sql_flags: &["-q", "--query"],
        file_flags: &["--queries-file"],
        host_flags: &["-h", "--host", "-d", "--database"],
        read_flags: &["--help", "-V", "--version"],
    };
    /// Cassandra's shell: CQL is close enough to SQL for `DROP KEYSPACE|TABLE`, `TRUNCATE`, `DELETE`.
    const CQLSH: SqlClient = SqlClient {
        dialect: SqlDialect::Generic,
        value_flags: &[
            "-e",
            "--execute",
            "-f",
            "--file",
            "-u",
            "--username",
            "-p",
            "--password",
            "-k",
            "--keyspace",
            "--cqlversion",
            "--encoding",
            "--request-timeout",
            "--connect-timeout",
            "--cqlshrc",
        ],
        sql_flags: &["-e", "--execute"],
        file_flags: &["-f", "--file"],
        host_flags: &["-k", "--keyspace"],
        read_flags: &["--help", "-h", "--version"],
    };
    const SQLCMD: SqlClient = SqlClient {
        dialect: SqlDialect::Generic,
        value_flags: &["-Q", "-q", "-S", "-U", "-P", "-d", "-i", "-o"],
        sql_flags: &["-Q", "-q"],
        file_flags: &["-i"],
        host_flags: &["-S", "-d"],
        read_flags: &["-?"],
    };
}

fn host_environment(
    items: &[Item<'_>],
    host_flags: &[&str],
    positional: bool,
) -> Option<&'static str> {
    let mut names: Vec<&str> = items
        .iter()
        .filter_map(|i| match *i {
            Item::Flag {
                name,
                value: Some(v),
                ..
            } if host_flags.contains(&name) => Some(v),
            _ => None,
        })
        .collect();
    if positional {
        names.extend(args::positionals(items).into_iter().map(|(p, _)| p));
    }
    let mut found = None;
    for name in names {
        match environment_hint(name) {
            Some("production") => return Some("production"),
            Some(hint) if found.is_none() || hint == "staging" => found = Some(hint),
            _ => {}
        }
    }
    found
}

/// The word holding a flag's value: the next word, or the flag's own word when attached.
fn value_word(argv: &[Word], idx: usize, end: usize) -> Option<&Word> {
    argv.get(if end > idx { end } else { idx })
}

fn sql_client(
    cx: &Classifier<'_>,
    argv: &[Word],
    view: &View,
    stdin: &Stdin,
    client: SqlClient,
    out: &mut Vec<Action>,
) -> Option<&'static str> {
    let items = args::parse_flags(argv, view.first, client.value_flags);
    if args::has_flag(&items, client.read_flags) {
        return None;
    }
    let mut reads_stdin = true;
    for item in &items {
        let Item::Flag {
            name,
            value: Some(value),
            idx,
            end,
        } = *item
        else {
            continue;
        };
        if client.sql_flags.contains(&name) {
            reads_stdin = false;
            if let Some(word) = value_word(argv, idx, end) {
                sql(cx, client.dialect, value, word, out);
            }
        } else if client.file_flags.contains(&name) {
            reads_stdin = false;
            if value == "-" {
                stdin_sql(cx, client.dialect, stdin, argv, out);
            } else {
                out.push(cx.action(
                    "DBC001",
                    RequestKind::Shell,
                    value,
                    args::span_to(argv, end),
                ));
            }
        }
    }
    if reads_stdin {
        stdin_sql(cx, client.dialect, stdin, argv, out);
    }
    host_environment(&items, client.host_flags, true)
}

fn sqlite(
    cx: &Classifier<'_>,
    argv: &[Word],
    view: &View,
    stdin: &Stdin,
    out: &mut Vec<Action>,
) -> Option<&'static str> {
    let items = args::parse_flags(
        argv,
        view.first,
        &[
            "-cmd",
            "-separator",
            "-newline",
            "-nullvalue",
            "-init",
            "-vfs",
            "-c",
            "-s",
        ],
    );
    if args::has_flag(&items, &["-help", "--help", "-version", "--version"]) {
        return None;
    }
    let dialect = if view.cmd == "duckdb" {
        SqlDialect::Generic
    } else {
        SqlDialect::Sqlite
    };
    let mut had_sql = false;
    for item in &items {
        match *item {
            Item::Flag {
                name: "-cmd" | "-c" | "-s",
                value: Some(v),
                idx,
                end,
            } => {
                had_sql = true;
                if let Some(word) = value_word(argv, idx, end) {
                    sqlite_text(cx, dialect, v, word, argv, out);
                }
            }
            Item::Flag {
                name: "-init",
                value: Some(v),
                end,
                ..
            } => {
                out.push(cx.action("DBC001", RequestKind::Shell, v, args::span_to(argv, end)));
            }
            _ => {}
        }
    }
    for (text, idx) in args::positionals(&items).into_iter().skip(1) {
        had_sql = true;
        if let Some(word) = argv.get(idx) {
            sqlite_text(cx, dialect, text, word, argv, out);
        }
    }
    if !had_sql {
        if let Stdin::Literal { text, span } = stdin {
            let word = Word {
                text: text.clone(),
                raw: text.clone(),
                span: *span,
            };
            sqlite_text(cx, dialect, text, &word, argv, out);
        } else {
            stdin_sql(cx, dialect, stdin, argv, out);
        }
    }
    None
}

/// SQL mixed with sqlite dot-commands (`.tables`, `.read f`, `.shell cmd`).
fn sqlite_text(
    cx: &Classifier<'_>,
    dialect: SqlDialect,
    text: &str,
    word: &Word,
    argv: &[Word],
    out: &mut Vec<Action>,
) {
    let mut sql_lines = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        let Some(dot) = trimmed.strip_prefix('.') else {
            sql_lines.push(line);
            continue;
        };
        let (command, rest) = dot.split_once(char::is_whitespace).unwrap_or((dot, ""));
        match command.to_ascii_lowercase().as_str() {
            "read" => {
                out.push(cx.action("DBC001", RequestKind::Shell, rest.trim(), Some(word.span)))
            }
            "restore" => {
                out.push(cx.action("DBC003", RequestKind::Shell, rest.trim(), Some(word.span)))
            }
            "shell" | "system" => match cx.nested() {
                Some(inner) => out.extend(respan(inner.shell(rest), word.span)),
                None => out.push(cx.too_deep(RequestKind::Shell, Some(word.span))),
            },
            _ => {}
        }
    }
    if sql_lines.iter().any(|l| !l.trim().is_empty()) {
        let joined = sql_lines.join("\n");
        if joined == text {
            sql(cx, dialect, text, word, out);
        } else {
            match cx.nested() {
                Some(inner) => out.extend(respan(inner.sql(dialect, &joined), word.span)),
                None => out.push(cx.too_deep(RequestKind::Shell, args::span_to(argv, 0))),
            }
        }
    }
}

fn mongo(
    cx: &Classifier<'_>,
    argv: &[Word],
    view: &View,
    stdin: &Stdin,
    out: &mut Vec<Action>,
) -> Option<&'static str> {
    let items = args::parse_flags(
        argv,
        view.first,
        &[
            "--host",
            "--port",
            "-u",
            "--username",
            "-p",
            "--password",
            "--authenticationDatabase",
            "--eval",
            "--file",
            "-f",
            "--apiVersion",
            "--tlsCAFile",
            "--tlsCertificateKeyFile",
        ],
    );
    if args::has_flag(&items, &["--help", "-h", "--version"]) {
        return None;
    }
    let mut had_script = false;
    for item in &items {
        match *item {
            Item::Flag {
                name: "--eval",
                value: Some(js),
                idx,
                end,
            } => {
                had_script = true;
                if let Some(word) = value_word(argv, idx, end) {
                    scan_js(cx, js, word, out);
                }
            }
            Item::Flag {
                name: "--file" | "-f",
                value: Some(file),
                end,
                ..
            } => {
                had_script = true;
                out.push(cx.action("DBC001", RequestKind::Shell, file, args::span_to(argv, end)));
            }
            _ => {}
        }
    }
    for (text, idx) in args::positionals(&items) {
        if text.ends_with(".js") || text.ends_with(".mjs") {
            had_script = true;
            out.push(cx.action("DBC001", RequestKind::Shell, text, args::span_to(argv, idx)));
        }
    }
    if !had_script && let Stdin::Literal { text, span } = stdin {
        let word = Word {
            text: text.clone(),
            raw: text.clone(),
            span: *span,
        };
        scan_js(cx, text, &word, out);
    }
    host_environment(&items, &["--host"], true)
}

/// Looks for destructive MongoDB shell calls in JavaScript: `dropDatabase()`, `.drop()`, `deleteMany(…)`,
/// `remove(…)`, and the same names as `runCommand` keys (`{dropDatabase: 1}`).
fn scan_js(cx: &Classifier<'_>, js: &str, word: &Word, out: &mut Vec<Action>) {
    let mut seen: Vec<&str> = Vec::new();
    let chars: Vec<(usize, char)> = js.char_indices().collect();
    let mut i = 0;
    while let Some(&(start, c)) = chars.get(i) {
        if !(c.is_ascii_alphabetic() || c == '_' || c == '$') {
            i += 1;
            continue;
        }
        let mut j = i;
        while chars
            .get(j)
            .is_some_and(|&(_, c)| c.is_ascii_alphanumeric() || c == '_' || c == '$')
        {
            j += 1;
        }
        let end = chars.get(j).map_or(js.len(), |&(at, _)| at);
        let next = chars
            .iter()
            .skip(j)
            .map(|&(_, c)| c)
            .find(|c| !c.is_whitespace() && *c != '"' && *c != '\'');
        let ident = js.get(start..end).unwrap_or("");
        i = j;
        if !matches!(next, Some('(' | ':')) {
            continue;
        }
        let rule = match ident {
            "dropDatabase" => "DBC020",
            "drop" | "dropCollection" | "dropIndexes" | "dropIndex" => "DBC021",
            "deleteMany" | "deleteOne" | "remove" | "findOneAndDelete" | "findAndRemove"
            | "delete" => "DBC022",
            "updateMany" | "update" | "replaceMany" if empty_first_argument(js.get(end..)) => {
                "DBC023"
            }
            _ => continue,
        };
        if seen.contains(&rule) {
            continue;
        }
        seen.push(rule);
        let span =
            inner_offset(word, js).map_or(word.span, |base| Span::new(base + start, base + end));
        out.push(cx.action(rule, RequestKind::Shell, ident, Some(span)));
    }
}

/// Whether a call's first argument is an empty filter: `({}, …)` or `()`.
fn empty_first_argument(after_name: Option<&str>) -> bool {
    let compact: String = after_name
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_whitespace())
        .take(4)
        .collect();
    compact.starts_with("({}") || compact.starts_with("()")
}

fn redis(
    cx: &Classifier<'_>,
    argv: &[Word],
    view: &View,
    stdin: &Stdin,
    out: &mut Vec<Action>,
) -> Option<&'static str> {
    let items = args::parse_flags(
        argv,
        view.first,
        &[
            "-h",
            "-p",
            "-s",
            "-a",
            "--user",
            "--pass",
            "-u",
            "-n",
            "-r",
            "-i",
            "-d",
            "-D",
            "--pattern",
            "--count",
            "--eval",
            "--rdb",
            "--functions-rdb",
            "--cacert",
            "--cacertdir",
            "--cert",
            "--key",
            "--sni",
            "--tls-ciphers",
            "--tls-ciphersuites",
            "--quoted-pattern",
            "--memkeys-samples",
            "--pipe-timeout",
        ],
    );
    if args::has_flag(&items, &["--help", "-v", "--version"]) {
        return None;
    }
    let pos = args::positionals(&items);
    if let Some(&(command, cmd_idx)) = pos.first() {
        let rest: Vec<&str> = pos.iter().skip(1).map(|(t, _)| *t).collect();
        let last = pos.last().map_or(cmd_idx, |p| p.1);
        if let Some(rule) = redis_rule(command, &rest) {
            let span = args::span_to(argv, if rule == "DBC011" { last } else { cmd_idx });
            out.push(cx.action(
                rule,
                RequestKind::Shell,
                format!("redis {}", command.to_ascii_uppercase()),
                span,
            ));
        }
    } else if let Stdin::Literal { text, span } = stdin {
        for line in text.lines() {
            let mut words = line
                .split_whitespace()
                .map(|w| w.trim_matches(|c| c == '"' || c == '\''));
            let Some(command) = words.next() else {
                continue;
            };
            let rest: Vec<&str> = words.collect();
            if let Some(rule) = redis_rule(command, &rest) {
                out.push(cx.action(
                    rule,
                    RequestKind::Shell,
                    format!("redis {}", command.to_ascii_uppercase()),
                    Some(*span),
                ));
            }
        }
    }
    host_environment(&items, &["-h", "-u"], false)
}

fn redis_rule(command: &str, rest: &[&str]) -> Option<&'static str> {
    let sub = rest
        .first()
        .map(|s| s.to_ascii_uppercase())
        .unwrap_or_default();
    match command.to_ascii_uppercase().as_str() {
        "FLUSHALL" | "FLUSHDB" => Some("DBC010"),
        "SHUTDOWN" | "DEBUG" | "SWAPDB" | "MIGRATE" => Some("DBC011"),
        "CONFIG" if sub == "SET" => Some("DBC011"),
        "SCRIPT" | "FUNCTION" if sub == "FLUSH" || sub == "DELETE" => Some("DBC011"),
        "CLUSTER" if matches!(sub.as_str(), "RESET" | "FORGET" | "FLUSHSLOTS" | "DELSLOTS") => {
            Some("DBC011")
        }
        "ACL" if matches!(sub.as_str(), "DELUSER" | "SETUSER") => Some("DBC011"),
        "MODULE" if sub == "UNLOAD" => Some("DBC011"),
        "REPLICAOF" | "SLAVEOF" if sub != "NO" => Some("DBC011"),
        "DEL" | "UNLINK"
            if rest
                .iter()
                .any(|k| k.contains("{}") || k.contains('*') || k.starts_with('$')) =>
        {
            Some("DBC012")
        }
        _ => None,
    }
}
