//! The catalogue of destructive operations, as data: one TOML file per family under `crates/engine/catalog/`,
//! embedded at build time and parsed once when the engine starts.
//!
//! Each file has `family`, `kind` (how its examples are read: `shell`, `sql`, `http`, `mcp`, `file`) and
//! `[[rule]]` tables. A rule has a stable `id` (never reused), a `name` naming the pattern, a suggested
//! `verdict` (`ask` or `deny`), the `effect`, `reversibility` and `blast_radius` of what it recognises, a
//! `why` a person understands, `match` / `no_match` examples, and optionally a pattern table for the
//! classifier that matches it from data (`shell`, `http`, `graphql`, `mcp`). Rules without a pattern
//! table are matched by code in the classifier that names their id (SQL structure, rm, redirections, …).
//!
//! Example format per `kind`: shell — the command line; sql — the SQL (dialect `generic`, or
//! `dialect: SQL` e.g. `mysql: DROP …`); http — `METHOD URL` then optionally a newline and the body;
//! mcp — `SERVER TOOL {json arguments}`; file — `OP PATH` then optionally a newline and the content.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::action::{Action, BlastRadius, Effect, Evidence, Reversibility, Span, Verdict};
use crate::classify::{
    graphql::GraphqlPattern, http::HttpPattern, mcp::McpPattern, shell_cli::ShellPattern,
};
use crate::error::EngineError;
use crate::request::RequestKind;

/// The embedded catalogue files as written, `(family, toml text)`, sorted by family.
pub const EMBEDDED: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/catalog_files.rs"));

/// The same files without their examples, as JSON (made by `build.rs`): what the engine parses at start.
const RUNTIME: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/catalog_runtime.rs"));

/// One catalogue file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogFile {
    /// Family name; equals the file stem.
    pub family: String,
    /// How this file's examples are read.
    pub kind: RequestKind,
    /// The rules.
    #[serde(default, rename = "rule")]
    pub rules: Vec<Rule>,
}

/// One catalogue rule. (The patterns are boxed: a rule has at most one, and small rules parse faster.)
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Stable id with a family prefix, e.g. `GIT003`.
    pub id: String,
    /// Name of the pattern, e.g. `git-push-force`.
    pub name: String,
    /// Suggested verdict (`ask` or `deny`).
    pub verdict: Verdict,
    /// Effect of what the rule recognises.
    pub effect: Effect,
    /// Whether it can be undone.
    #[serde(default = "default_reversibility")]
    pub reversibility: Reversibility,
    /// How much it can touch.
    #[serde(default = "default_blast")]
    pub blast_radius: BlastRadius,
    /// Why this is dangerous, for a person.
    pub why: String,
    /// Examples that must fire this rule.
    #[serde(default, rename = "match")]
    pub must_match: Vec<String>,
    /// Examples that must not fire this rule.
    #[serde(default)]
    pub no_match: Vec<String>,
    /// Pattern for a command line (CLI subcommands).
    #[serde(default)]
    pub shell: Option<Box<ShellPattern>>,
    /// Pattern for an HTTP request (method, host, path).
    #[serde(default)]
    pub http: Option<Box<HttpPattern>>,
    /// Pattern for GraphQL mutation fields.
    #[serde(default)]
    pub graphql: Option<Box<GraphqlPattern>>,
    /// Pattern for MCP tool calls.
    #[serde(default)]
    pub mcp: Option<Box<McpPattern>>,
    /// The family (file stem) this rule was loaded from; filled in by the loader.
    #[serde(skip)]
    pub family: String,
}

fn default_reversibility() -> Reversibility {
    Reversibility::Irreversible
}

fn default_blast() -> BlastRadius {
    BlastRadius::Resource
}

/// All rules of all families, indexed by id.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    rules: Vec<Rule>,
    /// Positions in `rules`, sorted by rule id (for [`Catalog::rule`]; cheaper to build than a map).
    by_id: Vec<usize>,
    index: Index,
}

/// Positions in `rules` of the rules each classifier looks at, made once at load, in catalogue order.
#[derive(Debug, Clone, Default)]
struct Index {
    /// Rules with a `[rule.shell]` pattern whose commands are literal, bucketed by a hash of each command
    /// name (ASCII case folded): bucket `b` is `shell_literal[shell_starts[b]..shell_starts[b + 1]]`, in
    /// catalogue order. A bucket may hold rules of other commands that share it; they simply do not match.
    shell_starts: Vec<usize>,
    shell_literal: Vec<usize>,
    /// Rules with a `[rule.shell]` pattern one of whose commands is a glob: looked at for every command.
    shell_globs: Vec<usize>,
    http: Vec<usize>,
    graphql: Vec<usize>,
    mcp: Vec<usize>,
}

impl Catalog {
    /// The embedded catalogue, without examples (fast: parsed from JSON made at build time).
    pub fn embedded() -> Result<Self, EngineError> {
        Self::load(RUNTIME.iter().copied(), |text| {
            serde_json::from_str(text).map_err(|e| e.to_string())
        })
    }

    /// The embedded catalogue with its `match` / `no_match` examples, parsed from the TOML as written.
    pub fn embedded_with_examples() -> Result<Self, EngineError> {
        Self::from_files(EMBEDDED.iter().copied())
    }

    /// Parses catalogue files given as `(family, toml text)`. Ids must be unique across files.
    pub fn from_files<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, EngineError> {
        Self::load(files, |text| {
            toml::from_str(text).map_err(|e| e.to_string())
        })
    }

    fn load<'a>(
        files: impl IntoIterator<Item = (&'a str, &'a str)>,
        parse: impl Fn(&str) -> Result<CatalogFile, String>,
    ) -> Result<Self, EngineError> {
        let mut parsed = Vec::new();
        for (family, text) in files {
            let file = parse(text).map_err(|message| EngineError::Catalog {
                family: family.to_string(),
                message,
            })?;
            if file.family != family {
                return Err(EngineError::Catalog {
                    family: family.to_string(),
                    message: format!("`family = {:?}` does not match the file name", file.family),
                });
            }
            parsed.push((family, file));
        }
        // Rules are large: reserve once rather than moving them on every growth.
        let mut catalog = Catalog {
            rules: Vec::with_capacity(parsed.iter().map(|(_, f)| f.rules.len()).sum()),
            ..Catalog::default()
        };
        for (family, file) in parsed {
            for mut rule in file.rules {
                rule.family = family.to_string();
                catalog.rules.push(rule);
            }
        }
        let rules = &catalog.rules;
        let mut by_id: Vec<usize> = (0..rules.len()).collect();
        // Stable: of two rules with the same id, the later one (the duplicate) comes second.
        by_id.sort_by(|&a, &b| {
            let id = |i: usize| rules.get(i).map(|r| r.id.as_str());
            id(a).cmp(&id(b))
        });
        let twice = by_id.windows(2).find_map(|pair| match pair {
            [a, b] => rules
                .get(*b)
                .filter(|second| rules.get(*a).is_some_and(|first| first.id == second.id)),
            _ => None,
        });
        if let Some(rule) = twice {
            return Err(EngineError::Catalog {
                family: rule.family.clone(),
                message: format!("rule id `{}` is used twice", rule.id),
            });
        }
        catalog.by_id = by_id;
        catalog.index = Index::new(&catalog.rules);
        Ok(catalog)
    }

    /// The rules with a `[rule.shell]` pattern that can match command `cmd` (a literal command equal to it
    /// ignoring ASCII case, or a glob), in catalogue order.
    pub(crate) fn shell_rules_for(&self, cmd: &str) -> impl Iterator<Item = &Rule> {
        let bucket = command_bucket(cmd);
        let literal = self
            .index
            .shell_starts
            .get(bucket)
            .zip(self.index.shell_starts.get(bucket + 1))
            .and_then(|(&start, &end)| self.index.shell_literal.get(start..end))
            .unwrap_or_default();
        let (mut a, mut b) = (
            literal.iter().copied().peekable(),
            self.index.shell_globs.iter().copied().peekable(),
        );
        // Merge the two sorted lists (a rule in both is yielded once).
        std::iter::from_fn(move || {
            let next = match (a.peek().copied(), b.peek().copied()) {
                (Some(x), Some(y)) if x == y => {
                    a.next();
                    b.next()
                }
                (Some(x), Some(y)) if x < y => a.next(),
                (Some(_), Some(_)) | (None, Some(_)) => b.next(),
                (Some(_), None) => a.next(),
                (None, None) => None,
            }?;
            self.rules.get(next)
        })
    }

    /// The rules with a `[rule.http]` pattern, in catalogue order.
    pub(crate) fn http_rules(&self) -> impl Iterator<Item = &Rule> {
        self.index.http.iter().filter_map(|&i| self.rules.get(i))
    }

    /// The rules with a `[rule.graphql]` pattern, in catalogue order.
    pub(crate) fn graphql_rules(&self) -> impl Iterator<Item = &Rule> {
        self.index.graphql.iter().filter_map(|&i| self.rules.get(i))
    }

    /// The rules with a `[rule.mcp]` pattern, in catalogue order.
    pub(crate) fn mcp_rules(&self) -> impl Iterator<Item = &Rule> {
        self.index.mcp.iter().filter_map(|&i| self.rules.get(i))
    }

    /// Every rule, in file then declaration order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        let at = self
            .by_id
            .binary_search_by(|&i| self.rules.get(i).map(|r| r.id.as_str()).cmp(&Some(id)))
            .ok()?;
        self.by_id.get(at).and_then(|&i| self.rules.get(i))
    }

    /// Builds the action for rule `id` matched on `span` of the input, touching `target`.
    ///
    /// An id missing from the catalogue is a programming error; it yields an `unknown` action with verdict
    /// `ask` rather than a panic, so that the mistake fails closed.
    pub fn action(
        &self,
        id: &str,
        kind: RequestKind,
        target: impl Into<String>,
        span: Option<Span>,
    ) -> Action {
        let target = target.into();
        match self.rule(id) {
            Some(rule) => Action {
                kind,
                target,
                effect: rule.effect,
                reversibility: rule.reversibility,
                blast_radius: rule.blast_radius,
                environment: None,
                severity: rule.verdict,
                evidence: Evidence {
                    rule: rule.id.clone(),
                    name: rule.name.clone(),
                    family: rule.family.clone(),
                    message: rule.why.clone(),
                    span,
                },
            },
            None => Action {
                kind,
                target,
                effect: Effect::Unknown,
                reversibility: Reversibility::Irreversible,
                blast_radius: BlastRadius::Resource,
                environment: None,
                severity: Verdict::Ask,
                evidence: Evidence {
                    rule: id.to_string(),
                    name: "missing-rule".to_string(),
                    family: "engine".to_string(),
                    message: format!(
                        "internal: catalogue rule `{id}` is missing; asking to be safe"
                    ),
                    span,
                },
            },
        }
    }
}

/// Buckets of the shell command index.
const COMMAND_BUCKETS: usize = 256;

/// The bucket of a command name (FNV-1a of its ASCII-lowercased bytes).
fn command_bucket(cmd: &str) -> usize {
    let hash = cmd.bytes().fold(0x811c_9dc5_u32, |h, b| {
        (h ^ u32::from(b.to_ascii_lowercase())).wrapping_mul(0x0100_0193)
    });
    usize::try_from(hash).unwrap_or_default() % COMMAND_BUCKETS
}

impl Index {
    fn new(rules: &[Rule]) -> Self {
        let mut index = Index::default();
        // (bucket, rule) in catalogue order; a stable sort by bucket keeps each bucket in that order.
        let mut literal: Vec<(usize, usize)> = Vec::with_capacity(rules.len());
        for (i, rule) in rules.iter().enumerate() {
            if let Some(shell) = &rule.shell {
                let mut commands = shell.command.iter().chain(shell.commands.iter());
                if commands.clone().any(|c| c.contains(['*', '?'])) {
                    index.shell_globs.push(i);
                } else {
                    let first = literal.len();
                    for command in &mut commands {
                        let bucket = command_bucket(command);
                        if !literal
                            .get(first..)
                            .unwrap_or_default()
                            .contains(&(bucket, i))
                        {
                            literal.push((bucket, i));
                        }
                    }
                }
            }
            if rule.http.is_some() {
                index.http.push(i);
            }
            if rule.graphql.is_some() {
                index.graphql.push(i);
            }
            if rule.mcp.is_some() {
                index.mcp.push(i);
            }
        }
        literal.sort_by_key(|&(bucket, _)| bucket);
        index.shell_starts = Vec::with_capacity(COMMAND_BUCKETS + 1);
        let mut at = 0;
        for bucket in 0..=COMMAND_BUCKETS {
            while literal.get(at).is_some_and(|&(b, _)| b < bucket) {
                at += 1;
            }
            index.shell_starts.push(at);
        }
        index.shell_literal = literal.into_iter().map(|(_, i)| i).collect();
        index
    }
}

/// Reads a catalogue example written in the format of its file's `kind` (see the module doc) as a request.
pub fn example_request(kind: RequestKind, text: &str) -> Result<crate::request::Request, String> {
    use crate::request::{
        FileOp, FileRequest, HttpRequest, McpRequest, Request, ShellRequest, SqlDialect, SqlRequest,
    };
    let (first, rest) = match text.split_once('\n') {
        Some((first, rest)) => (first, Some(rest)),
        None => (text, None),
    };
    match kind {
        RequestKind::Shell => Ok(Request::Shell(ShellRequest {
            command: text.to_string(),
            shell: None,
        })),
        RequestKind::Sql => {
            let dialects = [
                ("postgres:", SqlDialect::Postgres),
                ("mysql:", SqlDialect::Mysql),
                ("sqlite:", SqlDialect::Sqlite),
                ("generic:", SqlDialect::Generic),
            ];
            for (prefix, dialect) in dialects {
                if let Some(sql) = text.strip_prefix(prefix) {
                    return Ok(Request::Sql(SqlRequest {
                        dialect,
                        sql: sql.trim_start().to_string(),
                    }));
                }
            }
            Ok(Request::Sql(SqlRequest {
                dialect: SqlDialect::Generic,
                sql: text.to_string(),
            }))
        }
        RequestKind::Http => {
            let (method, url) = first
                .split_once(' ')
                .ok_or("an http example is `METHOD URL`, then the body")?;
            Ok(Request::Http(HttpRequest {
                method: method.to_string(),
                url: url.trim().to_string(),
                headers: BTreeMap::new(),
                body: rest.map(str::to_string),
            }))
        }
        RequestKind::Mcp => {
            let mut parts = text.splitn(3, ' ');
            let (Some(server), Some(tool)) = (parts.next(), parts.next()) else {
                return Err("an mcp example is `SERVER TOOL {json}`".to_string());
            };
            let arguments = match parts.next() {
                Some(json) => {
                    serde_json::from_str(json).map_err(|e| format!("mcp example arguments: {e}"))?
                }
                None => serde_json::Value::Object(serde_json::Map::new()),
            };
            Ok(Request::Mcp(McpRequest {
                server: server.to_string(),
                tool: tool.to_string(),
                arguments,
            }))
        }
        RequestKind::File => {
            let (op, path) = first
                .split_once(' ')
                .ok_or("a file example is `OP PATH`, then the content")?;
            let op = match op {
                "write" => FileOp::Write,
                "edit" => FileOp::Edit,
                "delete" => FileOp::Delete,
                other => {
                    return Err(format!(
                        "file example op `{other}` is not write, edit or delete"
                    ));
                }
            };
            Ok(Request::File(FileRequest {
                op,
                path: path.to_string(),
                content: rest.map(str::to_string),
            }))
        }
    }
}

/// The `kind` of each embedded family, for reading its examples.
pub fn family_kinds() -> Result<BTreeMap<String, RequestKind>, EngineError> {
    let mut kinds = BTreeMap::new();
    for (family, text) in EMBEDDED {
        let file: CatalogFile = toml::from_str(text).map_err(|err| EngineError::Catalog {
            family: family.to_string(),
            message: err.to_string(),
        })?;
        kinds.insert(file.family, file.kind);
    }
    Ok(kinds)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic, reason = "tests")]
mod tests {
    use super::*;

    const ONE: &str = r#"
family = "one"
kind = "shell"
[[rule]]
id = "ONE001"
name = "first"
verdict = "ask"
effect = "delete"
why = "because"
"#;

    #[test]
    fn rules_are_found_by_id_and_an_id_used_twice_refuses_to_load() {
        let two = ONE
            .replace("\"one\"", "\"two\"")
            .replace("ONE001", "TWO001");
        let catalog = Catalog::from_files([("one", ONE), ("two", two.as_str())]).unwrap();
        assert_eq!(catalog.rule("TWO001").unwrap().family, "two");
        assert_eq!(catalog.rule("ONE001").unwrap().name, "first");
        assert!(catalog.rule("ONE002").is_none());
        let again = ONE.replace("\"one\"", "\"again\"");
        let err = Catalog::from_files([("one", ONE), ("again", again.as_str())]).unwrap_err();
        let EngineError::Catalog { family, message } = err else {
            panic!("{err:?}")
        };
        assert_eq!(family, "again");
        assert!(
            message.contains("rule id `ONE001` is used twice"),
            "{message}"
        );
        let embedded = Catalog::embedded().unwrap();
        for rule in embedded.rules() {
            assert_eq!(embedded.rule(&rule.id).unwrap().id, rule.id);
        }
    }
}
