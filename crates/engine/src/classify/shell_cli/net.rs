//! HTTP clients on the command line (`curl`, `wget`, HTTPie `http`/`https`, `xh`, `gh api`,
//! `Invoke-WebRequest`/`Invoke-RestMethod`) turned into an [`HttpRequest`] and classified like any HTTP
//! request; bodies read from secret files or from a pipe of secrets are exfiltration.
//!
//! The HTTP actions are respanned to the whole command (first word to last word).

use std::collections::BTreeMap;

use crate::action::Action;
use crate::classify::shell_cli::args::{self, Item, View};
use crate::classify::shell_cli::exfil::{is_secret_path, stdin_is_secret};
use crate::classify::shell_cli::{Stdin, Word};
use crate::classify::{Classifier, environment_hint, http::classify_http_and_host, respan};
use crate::request::{HttpRequest, RequestKind};

/// Where a piece of a request body comes from.
enum Source {
    /// Text on the command line.
    Literal(String),
    /// A file named on the command line (its argv index).
    File(String, usize),
    /// Standard input.
    Stdin,
}

/// A request as read from a client's arguments.
#[derive(Default)]
struct Parsed {
    method: Option<String>,
    urls: Vec<String>,
    headers: BTreeMap<String, String>,
    body: Vec<Source>,
    /// Whether the data goes to the query string (`curl -G`).
    get: bool,
    /// A body part that is a whole JSON value (HTTPie items are gathered into one object).
    json_fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// Options read from a file (`curl -K`).
    config_file: Option<usize>,
}

/// Adds the actions of an HTTP client command.
pub(crate) fn classify(
    cx: &Classifier<'_>,
    argv: &[Word],
    view: &View,
    stdin: &Stdin,
    out: &mut Vec<Action>,
) {
    let parsed = match view.cmd.as_str() {
        "curl" => curl(argv, view.first),
        "wget" | "wget2" => wget(argv, view.first),
        "http" | "https" | "xh" | "xhs" => httpie(argv, view, stdin),
        "gh" => match gh_api(argv, view.first) {
            Some(p) => p,
            None => return,
        },
        "invoke-webrequest" | "invoke-restmethod" | "iwr" | "irm" => invoke(argv, view.first),
        _ => return,
    };
    emit(cx, argv, stdin, parsed, out);
}

fn emit(
    cx: &Classifier<'_>,
    argv: &[Word],
    stdin: &Stdin,
    mut parsed: Parsed,
    out: &mut Vec<Action>,
) {
    let whole = args::span_to(argv, argv.len().saturating_sub(1));
    if let Some(idx) = parsed.config_file {
        out.push(cx.action(
            "HTC001",
            RequestKind::Shell,
            args::joined(argv, 0),
            args::span_to(argv, idx),
        ));
    }
    let mut literal: Vec<String> = Vec::new();
    let mut unknown_body = false;
    for source in &parsed.body {
        match source {
            Source::Literal(text) => literal.push(text.clone()),
            Source::File(path, idx) => {
                if is_secret_path(path) {
                    out.push(cx.action(
                        "EXS001",
                        RequestKind::Shell,
                        path.as_str(),
                        args::span_to(argv, *idx),
                    ));
                }
                unknown_body = true;
            }
            Source::Stdin => match stdin {
                Stdin::Literal { text, .. } => literal.push(text.clone()),
                Stdin::Command { .. } => {
                    if let Some(what) = stdin_is_secret(stdin) {
                        out.push(cx.action("EXS003", RequestKind::Shell, what, whole));
                    }
                    unknown_body = true;
                }
                Stdin::None => unknown_body = true,
            },
        }
    }
    if let Some(fields) = parsed.json_fields.take()
        && !fields.is_empty()
    {
        literal.push(serde_json::Value::Object(fields).to_string());
    }
    let has_body = !parsed.body.is_empty() || !literal.is_empty();
    let method = parsed.method.clone().unwrap_or_else(|| {
        if has_body && !parsed.get {
            "POST"
        } else {
            "GET"
        }
        .to_string()
    });
    let body = (!literal.is_empty()).then(|| literal.join("&"));
    let Some(inner) = cx.nested() else {
        out.push(cx.too_deep(RequestKind::Shell, whole));
        return;
    };
    for url in &parsed.urls {
        let mut url = normalize_url(url);
        let mut body = body.clone();
        if parsed.get
            && let Some(query) = body.take()
        {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&query);
        }
        if unknown_body && url.to_ascii_lowercase().contains("graphql") {
            out.push(cx.action("HTC002", RequestKind::Shell, url.as_str(), whole));
        }
        let request = HttpRequest {
            method: method.to_ascii_uppercase(),
            url: url.clone(),
            headers: parsed.headers.clone(),
            body,
        };
        let (mut actions, host) = classify_http_and_host(&inner, &request);
        if let Some(whole) = whole {
            actions = respan(actions, whole);
        }
        if cx.environment.is_none() {
            let host = host.unwrap_or_else(|| {
                url::Url::parse(&url)
                    .ok()
                    .and_then(|u| u.host_str().map(str::to_string))
                    .unwrap_or_default()
            });
            for action in &mut actions {
                if action.environment.is_none() {
                    action.environment = environment_hint(&host).map(str::to_string);
                }
            }
        }
        out.extend(actions);
    }
}

/// `example.com/x` → `http://example.com/x`; `:3000/x` → `http://localhost:3000/x`.
fn normalize_url(url: &str) -> String {
    if url.contains("://") {
        url.to_string()
    } else if let Some(rest) = url.strip_prefix(':') {
        format!("http://localhost:{rest}")
    } else {
        format!("http://{url}")
    }
}

fn header(parsed: &mut Parsed, text: &str) {
    if let Some((name, value)) = text.split_once(':') {
        parsed
            .headers
            .insert(name.trim().to_string(), value.trim().to_string());
    }
}

/// A curl `-d`-style value: `@file` reads a file (`@-` standard input), anything else is literal.
fn data(text: &str, idx: usize) -> Source {
    match text.strip_prefix('@') {
        Some("-") => Source::Stdin,
        Some(path) => Source::File(path.to_string(), idx),
        None => Source::Literal(text.to_string()),
    }
}

const CURL_LONG_VALUE: &[&str] = &[
    "request",
    "header",
    "data",
    "data-raw",
    "data-binary",
    "data-ascii",
    "data-urlencode",
    "json",
    "form",
    "form-string",
    "upload-file",
    "user",
    "user-agent",
    "referer",
    "cookie",
    "cookie-jar",
    "output",
    "write-out",
    "max-time",
    "connect-timeout",
    "retry",
    "retry-delay",
    "retry-max-time",
    "proxy",
    "proxy-user",
    "url",
    "config",
    "cacert",
    "capath",
    "cert",
    "key",
    "cert-type",
    "key-type",
    "pass",
    "range",
    "continue-at",
    "time-cond",
    "resolve",
    "connect-to",
    "interface",
    "limit-rate",
    "speed-limit",
    "speed-time",
    "max-filesize",
    "max-redirs",
    "oauth2-bearer",
    "aws-sigv4",
    "dump-header",
    "trace",
    "trace-ascii",
    "stderr",
    "unix-socket",
    "abstract-unix-socket",
    "dns-servers",
    "noproxy",
    "preproxy",
    "proxy-header",
    "quote",
    "mail-from",
    "mail-rcpt",
    "local-port",
    "expect100-timeout",
    "keepalive-time",
    "tls-max",
    "ciphers",
    "pinnedpubkey",
    "variable",
    "url-query",
    "create-file-mode",
    "output-dir",
    "hostpubmd5",
    "socks5",
    "socks5-hostname",
    "netrc-file",
    "ftp-port",
    "telnet-option",
    "request-target",
    "happy-eyeballs-timeout-ms",
    "proto",
    "proto-redir",
];

fn curl_short(c: char) -> Option<&'static str> {
    Some(match c {
        'X' => "request",
        'H' => "header",
        'd' => "data",
        'F' => "form",
        'T' => "upload-file",
        'u' => "user",
        'A' => "user-agent",
        'e' => "referer",
        'b' => "cookie",
        'c' => "cookie-jar",
        'o' => "output",
        'w' => "write-out",
        'm' => "max-time",
        'x' => "proxy",
        'U' => "proxy-user",
        'K' => "config",
        'E' => "cert",
        'r' => "range",
        'C' => "continue-at",
        'z' => "time-cond",
        'Y' => "speed-limit",
        'y' => "speed-time",
        'D' => "dump-header",
        'Q' => "quote",
        'P' => "ftp-port",
        't' => "telnet-option",
        _ => return None,
    })
}

fn curl_option(p: &mut Parsed, name: &str, value: &str, idx: usize) {
    match name {
        "request" => p.method = Some(value.to_ascii_uppercase()),
        "header" => header(p, value),
        "data" | "data-binary" | "data-ascii" => p.body.push(data(value, idx)),
        "data-raw" => p.body.push(Source::Literal(value.to_string())),
        "json" => {
            p.body.push(data(value, idx));
            p.headers
                .entry("Content-Type".into())
                .or_insert_with(|| "application/json".into());
        }
        "data-urlencode" => {
            let source = match value.split_once('=') {
                Some((_, content)) => Source::Literal(content.to_string()),
                None => match value.split_once('@') {
                    Some((_, "-")) => Source::Stdin,
                    Some((_, path)) => Source::File(path.to_string(), idx),
                    None => Source::Literal(value.to_string()),
                },
            };
            p.body.push(source);
        }
        "form" | "form-string" => {
            let (field, content) = value.split_once('=').unwrap_or(("", value));
            let file = if name == "form" {
                content
                    .strip_prefix('@')
                    .or_else(|| content.strip_prefix('<'))
            } else {
                None
            };
            match file {
                Some(path) => {
                    let path = path.split(';').next().unwrap_or(path);
                    p.body.push(if path == "-" {
                        Source::Stdin
                    } else {
                        Source::File(path.to_string(), idx)
                    });
                }
                None => p.body.push(Source::Literal(format!("{field}={content}"))),
            }
        }
        "upload-file" => {
            if p.method.is_none() {
                p.method = Some("PUT".into());
            }
            p.body.push(if value == "-" || value == "." {
                Source::Stdin
            } else {
                Source::File(value.to_string(), idx)
            });
        }
        "url" => p.urls.push(value.to_string()),
        "config" => p.config_file = Some(idx),
        _ => {}
    }
}

fn curl(argv: &[Word], first: usize) -> Parsed {
    let mut p = Parsed::default();
    let mut head = false;
    let mut i = first + 1;
    let mut after_sep = false;
    while let Some(word) = argv.get(i) {
        let t = word.text.as_str();
        i += 1;
        if after_sep || !t.starts_with('-') || t == "-" {
            p.urls.push(t.to_string());
            continue;
        }
        if t == "--" {
            after_sep = true;
            continue;
        }
        if let Some(long) = t.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) if CURL_LONG_VALUE.contains(&n) => (n, Some(v)),
                _ => (long, None),
            };
            if CURL_LONG_VALUE.contains(&name) {
                let (value, idx) = match inline {
                    Some(v) => (Some(v), i - 1),
                    None => {
                        i += 1;
                        (argv.get(i - 1).map(|w| w.text.as_str()), i - 1)
                    }
                };
                if let Some(value) = value {
                    curl_option(&mut p, name, value, idx);
                }
            } else {
                match name {
                    "head" => head = true,
                    "get" => p.get = true,
                    _ => {}
                }
            }
            continue;
        }
        for (at, c) in t.char_indices().skip(1) {
            if let Some(name) = curl_short(c) {
                let rest = t.get(at + c.len_utf8()..).unwrap_or("");
                let (value, idx) = if rest.is_empty() {
                    i += 1;
                    (argv.get(i - 1).map(|w| w.text.as_str()), i - 1)
                } else {
                    (Some(rest), i - 1)
                };
                if let Some(value) = value {
                    curl_option(&mut p, name, value, idx);
                }
                break;
            }
            match c {
                'I' => head = true,
                'G' => p.get = true,
                _ => {}
            }
        }
    }
    if head && p.method.is_none() {
        p.method = Some("HEAD".into());
    }
    p
}

fn wget(argv: &[Word], first: usize) -> Parsed {
    const LONG: &[&str] = &[
        "method",
        "post-data",
        "post-file",
        "body-data",
        "body-file",
        "header",
        "output-document",
        "output-file",
        "directory-prefix",
        "user-agent",
        "user",
        "password",
        "http-user",
        "http-password",
        "input-file",
        "tries",
        "timeout",
        "wait",
        "quota",
        "level",
        "execute",
        "referer",
        "load-cookies",
        "save-cookies",
        "ca-certificate",
        "certificate",
        "private-key",
        "accept",
        "reject",
        "domains",
        "exclude-directories",
        "include-directories",
    ];
    let mut p = Parsed::default();
    let mut i = first + 1;
    while let Some(word) = argv.get(i) {
        let t = word.text.as_str();
        i += 1;
        if !t.starts_with('-') || t == "-" {
            p.urls.push(t.to_string());
            continue;
        }
        if let Some(long) = t.strip_prefix("--") {
            let (name, value, idx) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v), i - 1),
                None if LONG.contains(&long) => {
                    i += 1;
                    (long, argv.get(i - 1).map(|w| w.text.as_str()), i - 1)
                }
                None => (long, None, i - 1),
            };
            let Some(value) = value else { continue };
            match name {
                "method" => p.method = Some(value.to_ascii_uppercase()),
                "post-data" | "body-data" => p.body.push(Source::Literal(value.to_string())),
                "post-file" | "body-file" => {
                    p.body.push(if matches!(value, "-" | "/dev/stdin") {
                        Source::Stdin
                    } else {
                        Source::File(value.to_string(), idx)
                    });
                }
                "header" => header(&mut p, value),
                _ => {}
            }
            continue;
        }
        // Short options taking a value: the rest of the cluster, or the next word.
        for (at, c) in t.char_indices().skip(1) {
            if "OoaiBtTwQPUelDRAXI".contains(c) {
                if t.get(at + 1..).is_none_or(str::is_empty) {
                    i += 1;
                }
                break;
            }
        }
    }
    p
}

/// HTTPie / xh: `http [flags] [METHOD] URL [ITEM…]`.
fn httpie(argv: &[Word], view: &View, stdin: &Stdin) -> Parsed {
    let flags = [
        "-a",
        "--auth",
        "-A",
        "--auth-type",
        "--session",
        "--session-read-only",
        "-o",
        "--output",
        "-p",
        "--print",
        "-P",
        "--history-print",
        "--pretty",
        "-s",
        "--style",
        "--verify",
        "--cert",
        "--cert-key",
        "--proxy",
        "--timeout",
        "--default-scheme",
        "--boundary",
        "--raw",
    ];
    let items = args::parse_flags(argv, view.first, &flags);
    let mut p = Parsed::default();
    let pos = args::positionals(&items);
    let mut rest = pos.as_slice();
    if let [(m, _), (_, _), ..] = rest
        && m.chars().all(|c| c.is_ascii_alphabetic())
        && m.len() <= 7
    {
        p.method = Some(m.to_ascii_uppercase());
        rest = rest.get(1..).unwrap_or(&[]);
    }
    let Some(((url, _), data_items)) = rest.split_first() else {
        return p;
    };
    let secure = matches!(view.cmd.as_str(), "https" | "xhs");
    p.urls.push(if secure && !url.contains("://") {
        format!("https://{url}")
    } else {
        url.to_string()
    });
    let form = args::has_flag(&items, &["-f", "--form", "--multipart"]);
    let mut fields = serde_json::Map::new();
    let mut query: Vec<String> = Vec::new();
    for &(item, idx) in data_items {
        let Some((key, sep, value)) = split_item(item) else {
            continue;
        };
        match sep {
            ":" => header(&mut p, &format!("{key}:{value}")),
            "==" => query.push(format!("{key}={value}")),
            "=" if form => p.body.push(Source::Literal(format!("{key}={value}"))),
            "=" => {
                fields.insert(
                    key.to_string(),
                    serde_json::Value::String(value.to_string()),
                );
            }
            ":=" => {
                let v = serde_json::from_str(value)
                    .unwrap_or_else(|_| serde_json::Value::String(value.to_string()));
                fields.insert(key.to_string(), v);
            }
            _ => p.body.push(Source::File(value.to_string(), idx)), // `@`, `=@`, `:=@`
        }
    }
    if let Some(url) = p.urls.first_mut().filter(|_| !query.is_empty()) {
        url.push(if url.contains('?') { '&' } else { '?' });
        url.push_str(&query.join("&"));
    }
    if let Some((raw, _)) = args::flag_value(&items, &["--raw"]) {
        p.body.push(Source::Literal(raw.to_string()));
    }
    let ignore_stdin = args::has_flag(&items, &["-I", "--ignore-stdin"]);
    if fields.is_empty() && p.body.is_empty() && !ignore_stdin && !matches!(stdin, Stdin::None) {
        p.body.push(Source::Stdin);
    }
    p.json_fields = Some(fields);
    p
}

/// Splits an HTTPie request item at its earliest separator.
fn split_item(item: &str) -> Option<(&str, &'static str, &str)> {
    const SEPS: &[&str] = &[":=@", "=@", ":=", "==", "=", ":", "@"];
    for (at, _) in item.char_indices() {
        if at > 0 && item.get(at - 1..at) == Some("\\") {
            continue;
        }
        let tail = item.get(at..).unwrap_or("");
        if let Some(sep) = SEPS.iter().find(|s| tail.starts_with(**s)) {
            let key = item.get(..at)?;
            let value = item.get(at + sep.len()..)?;
            return Some((key, sep, value));
        }
    }
    None
}

/// `gh api [flags] ENDPOINT`.
fn gh_api(argv: &[Word], first: usize) -> Option<Parsed> {
    let items = args::parse("gh", argv, first);
    let pos = args::positionals(&items);
    let (sub, _) = pos.first()?;
    if *sub != "api" {
        return None;
    }
    let (endpoint, _) = pos.get(1)?;
    let mut p = Parsed::default();
    let host = args::flag_value(&items, &["--hostname"]).map(|(h, _)| h);
    let base = match host {
        Some(h) if h != "github.com" => format!("https://{h}/api/v3/"),
        _ => "https://api.github.com/".to_string(),
    };
    let graphql = *endpoint == "graphql";
    p.urls.push(if endpoint.contains("://") {
        endpoint.to_string()
    } else {
        format!("{base}{}", endpoint.trim_start_matches('/'))
    });
    let mut fields = serde_json::Map::new();
    for item in &items {
        let Item::Flag {
            name,
            value: Some(value),
            end,
            ..
        } = *item
        else {
            continue;
        };
        match name {
            "-X" | "--method" => p.method = Some(value.to_ascii_uppercase()),
            "-H" | "--header" => header(&mut p, value),
            "--input" => p.body.push(if value == "-" {
                Source::Stdin
            } else {
                Source::File(value.to_string(), end)
            }),
            "-f" | "--raw-field" | "-F" | "--field" => {
                let (key, v) = value.split_once('=').unwrap_or((value, ""));
                if let (Some(path), true) = (v.strip_prefix('@'), name == "-F" || name == "--field")
                {
                    p.body.push(if path == "-" {
                        Source::Stdin
                    } else {
                        Source::File(path.to_string(), end)
                    });
                } else {
                    fields.insert(key.to_string(), serde_json::Value::String(v.to_string()));
                }
            }
            _ => {}
        }
    }
    if graphql {
        let query = fields.remove("query").unwrap_or(serde_json::Value::Null);
        let mut body = serde_json::Map::new();
        body.insert("query".into(), query);
        if !fields.is_empty() {
            body.insert("variables".into(), serde_json::Value::Object(fields));
        }
        p.json_fields = Some(body);
    } else if p.method.as_deref().is_some_and(|m| m == "GET") && !fields.is_empty() {
        let query: Vec<String> = fields
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
            .collect();
        if let Some(url) = p.urls.first_mut() {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&query.join("&"));
        }
    } else {
        p.json_fields = Some(fields);
    }
    Some(p)
}

/// PowerShell `Invoke-WebRequest` / `Invoke-RestMethod`.
fn invoke(argv: &[Word], first: usize) -> Parsed {
    let mut p = Parsed::default();
    let mut i = first + 1;
    while let Some(word) = argv.get(i) {
        let t = word.text.to_ascii_lowercase();
        i += 1;
        if !t.starts_with('-') {
            p.urls.push(word.text.clone());
            continue;
        }
        let value = argv.get(i).map(|w| w.text.clone());
        let takes = [
            "-uri",
            "-method",
            "-body",
            "-infile",
            "-headers",
            "-contenttype",
            "-outfile",
            "-credential",
            "-websession",
            "-sessionvariable",
            "-timeoutsec",
            "-maximumredirection",
            "-useragent",
            "-form",
            "-proxy",
            "-custommethod",
        ];
        if !takes.contains(&t.as_str()) {
            continue;
        }
        i += 1;
        let Some(value) = value else { continue };
        match t.as_str() {
            "-uri" => p.urls.push(value),
            "-method" | "-custommethod" => p.method = Some(value.to_ascii_uppercase()),
            "-body" | "-form" => p.body.push(Source::Literal(value)),
            "-infile" => p.body.push(Source::File(value, i - 1)),
            _ => {}
        }
    }
    p
}
