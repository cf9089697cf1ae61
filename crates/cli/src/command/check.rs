//! `airlock check`: decide on one request given by flags, or on a JSONL stream of requests in the corpus
//! schema. Exit codes (single mode): 0 allow, 2 deny, 3 ask, 1 error.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;

use airlock_engine::{
    Context, Engine, Envelope, FileOp, FileRequest, HttpRequest, McpRequest, Request, ShellRequest,
    SqlDialect, SqlRequest, wire,
};
use anyhow::{Context as _, bail};
use clap::Args;

use super::home;

/// Arguments of `airlock check`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("input").required(true).multiple(false))]
pub struct CheckArgs {
    /// A shell command line.
    #[arg(long, group = "input", value_name = "CMD")]
    shell: Option<String>,
    /// SQL statements (see --dialect).
    #[arg(long, group = "input", value_name = "SQL")]
    sql: Option<String>,
    /// SQL dialect: postgres, mysql, sqlite or generic.
    #[arg(long, default_value = "generic", value_parser = ["postgres", "mysql", "sqlite", "generic"])]
    dialect: String,
    /// An HTTP call: METHOD URL (see --body, --header).
    #[arg(long, group = "input", num_args = 2, value_names = ["METHOD", "URL"])]
    http: Option<Vec<String>>,
    /// HTTP request body.
    #[arg(long, requires = "http")]
    body: Option<String>,
    /// HTTP request header `Name: value` (repeatable).
    #[arg(long = "header", short = 'H', requires = "http")]
    headers: Vec<String>,
    /// An MCP tool call: SERVER TOOL ARGUMENTS-JSON.
    #[arg(long, group = "input", num_args = 3, value_names = ["SERVER", "TOOL", "JSON"])]
    mcp: Option<Vec<String>>,
    /// A file operation: OP PATH, OP one of write, edit, delete (see --content).
    #[arg(long, group = "input", num_args = 2, value_names = ["OP", "PATH"])]
    file: Option<Vec<String>>,
    /// New content for a file write or edit.
    #[arg(long, requires = "file")]
    content: Option<String>,
    /// Requests in the corpus schema, one JSON object a line, from FILE or `-` (stdin); writes one JSON
    /// line per input, in order.
    #[arg(long, group = "input", value_name = "FILE|-")]
    jsonl: Option<String>,
    /// Print the decision as JSON.
    #[arg(long)]
    json: bool,
    /// The agent asking (context for the policy).
    #[arg(long)]
    agent: Option<String>,
    /// Environment label of the target: production, staging, development.
    #[arg(long = "env", value_name = "ENVIRONMENT")]
    environment: Option<String>,
    /// A policy file to use on top of the default (instead of `$AIRLOCK_HOME/policy.cedar`).
    #[arg(long)]
    policy: Option<PathBuf>,
}

/// Runs `airlock check`.
pub fn run(args: CheckArgs) -> anyhow::Result<i32> {
    let engine = home::load_engine(args.policy.as_ref())?;
    if let Some(source) = &args.jsonl {
        return run_jsonl(&engine, source);
    }
    let (request, input) = single_request(&args)?;
    let envelope = Envelope {
        id: None,
        request,
        context: Context {
            agent: args.agent.clone(),
            environment: args.environment.clone(),
            ..Context::default()
        },
    };
    let decision = engine.decide(&envelope);
    if args.json {
        println!("{}", wire::check_json(None, &decision));
    } else {
        print!("{}", wire::human_text(&decision, input.as_deref()));
    }
    Ok(wire::exit_code(decision.verdict))
}

/// Builds the request from the flags, and the text its spans refer to (if there is one).
fn single_request(args: &CheckArgs) -> anyhow::Result<(Request, Option<String>)> {
    if let Some(command) = &args.shell {
        return Ok((
            Request::Shell(ShellRequest {
                command: command.clone(),
                shell: None,
            }),
            Some(command.clone()),
        ));
    }
    if let Some(sql) = &args.sql {
        let dialect = match args.dialect.as_str() {
            "postgres" => SqlDialect::Postgres,
            "mysql" => SqlDialect::Mysql,
            "sqlite" => SqlDialect::Sqlite,
            _ => SqlDialect::Generic,
        };
        return Ok((
            Request::Sql(SqlRequest {
                dialect,
                sql: sql.clone(),
            }),
            Some(sql.clone()),
        ));
    }
    if let Some([method, url]) = args.http.as_deref() {
        let mut headers = BTreeMap::new();
        for header in &args.headers {
            let Some((name, value)) = header.split_once(':') else {
                bail!("header `{header}` is not of the form `Name: value`");
            };
            headers.insert(name.trim().to_string(), value.trim().to_string());
        }
        let request = HttpRequest {
            method: method.to_uppercase(),
            url: url.clone(),
            headers,
            body: args.body.clone(),
        };
        return Ok((Request::Http(request), args.body.clone()));
    }
    if let Some([server, tool, arguments]) = args.mcp.as_deref() {
        let arguments: serde_json::Value = serde_json::from_str(arguments)
            .with_context(|| format!("MCP arguments `{arguments}` are not valid JSON"))?;
        if !arguments.is_object() {
            bail!("MCP arguments must be a JSON object, got `{arguments}`");
        }
        let request = McpRequest {
            server: server.clone(),
            tool: tool.clone(),
            arguments,
        };
        return Ok((Request::Mcp(request), None));
    }
    if let Some([op, path]) = args.file.as_deref() {
        let op = match op.as_str() {
            "write" => FileOp::Write,
            "edit" => FileOp::Edit,
            "delete" => FileOp::Delete,
            other => bail!("file operation `{other}` is not one of write, edit, delete"),
        };
        let request = FileRequest {
            op,
            path: path.clone(),
            content: args.content.clone(),
        };
        return Ok((Request::File(request), None));
    }
    bail!("give one of --shell, --sql, --http, --mcp, --file or --jsonl")
}

/// Decides on every line of a JSONL stream; a malformed line yields an `error` line and the run goes on.
fn run_jsonl(engine: &Engine, source: &str) -> anyhow::Result<i32> {
    let reader: Box<dyn Read> = if source == "-" {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(std::fs::File::open(source).with_context(|| format!("cannot open `{source}`"))?)
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    for (index, line) in BufReader::new(reader).split(b'\n').enumerate() {
        let line = line.with_context(|| format!("cannot read `{source}`"))?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let value = decide_line(engine, &line, index + 1);
        match writeln!(out, "{value}") {
            Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => return Ok(0),
            other => other?,
        }
    }
    match out.flush() {
        Err(err) if err.kind() == std::io::ErrorKind::BrokenPipe => Ok(0),
        other => Ok(other.map(|()| 0)?),
    }
}

fn decide_line(engine: &Engine, line: &[u8], line_number: usize) -> serde_json::Value {
    let Ok(text) = std::str::from_utf8(line) else {
        return wire::error_json(None, &format!("line {line_number}: not valid UTF-8"));
    };
    let value: serde_json::Value = match serde_json::from_str(text) {
        Ok(value) => value,
        Err(err) => return wire::error_json(None, &format!("line {line_number}: not JSON: {err}")),
    };
    let id = value.get("id").and_then(|v| v.as_str()).map(str::to_string);
    match serde_json::from_value::<Envelope>(value) {
        Ok(envelope) => wire::check_json(envelope.id.as_deref(), &engine.decide(&envelope)),
        Err(err) => wire::error_json(
            id.as_deref(),
            &format!("line {line_number}: not a request: {err}"),
        ),
    }
}
