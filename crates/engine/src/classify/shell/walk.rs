//! Walks brush-parser's AST: lists, pipelines, compound commands, function bodies, simple commands
//! (prefix assignments, words, redirections) — handing each simple command to the wrapper logic.

use brush_parser::ast;

use super::{Data, Flow, Map, RWord, Walker};
use crate::action::Span;
use crate::classify::file::classify_file;
use crate::classify::{Classifier, respan};
use crate::request::{FileOp, FileRequest};

/// One text being walked: the text, where it lies in the top-level input, and a char→byte table
/// (brush-parser reports positions in characters).
pub(super) struct Level<'t> {
    pub text: &'t str,
    pub map: Map,
    bytes: Option<Vec<usize>>,
}

impl<'t> Level<'t> {
    pub fn new(text: &'t str, map: Map) -> Self {
        let bytes = (!text.is_ascii()).then(|| {
            let mut v: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            v.push(text.len());
            v
        });
        Level { text, map, bytes }
    }

    /// Byte offset of character index `index`.
    fn byte(&self, index: usize) -> usize {
        match &self.bytes {
            None => index.min(self.text.len()),
            Some(v) => v.get(index).copied().unwrap_or(self.text.len()),
        }
    }

    /// Local byte range of a brush source span.
    pub fn range(&self, loc: &brush_parser::SourceSpan) -> (usize, usize) {
        (self.byte(loc.start.index), self.byte(loc.end.index))
    }

    /// The local byte offset where `value` starts if it is verbatim at the start of `loc`.
    pub fn verbatim(&self, value: &str, loc: Option<&brush_parser::SourceSpan>) -> Option<usize> {
        let start = self.byte(loc?.start.index);
        self.text.get(start..)?.starts_with(value).then_some(start)
    }

    /// Top-level span of a local byte range.
    pub fn span(&self, start: usize, end: usize) -> Span {
        self.map.span(start, end)
    }

    /// The span of the whole text.
    pub fn whole(&self) -> Span {
        self.map.span(0, self.text.len())
    }
}

/// The span of a subshell (`<(…)`) in the top-level input.
trait LocSpan {
    fn loc_span(&self, lvl: &Level<'_>) -> Span;
}

impl LocSpan for ast::SubshellCommand {
    fn loc_span(&self, lvl: &Level<'_>) -> Span {
        let (s, e) = lvl.range(&self.loc);
        lvl.span(s.saturating_sub(1), e)
    }
}

/// Builtins whose `NAME=VALUE` arguments assign variables.
const DECLARATIONS: &[&str] = &["export", "declare", "local", "readonly", "typeset"];

impl Walker {
    pub(super) fn program(
        &mut self,
        cx: &Classifier<'_>,
        lvl: &Level<'_>,
        program: &ast::Program,
    ) -> Flow {
        let mut last = Flow::None;
        for list in &program.complete_commands {
            last = self.list(cx, lvl, list);
        }
        last
    }

    pub(super) fn list(
        &mut self,
        cx: &Classifier<'_>,
        lvl: &Level<'_>,
        list: &ast::CompoundList,
    ) -> Flow {
        let mut last = Flow::None;
        for item in &list.0 {
            last = self.and_or(cx, lvl, &item.0);
        }
        last
    }

    fn and_or(&mut self, cx: &Classifier<'_>, lvl: &Level<'_>, list: &ast::AndOrList) -> Flow {
        let mut last = self.pipeline(cx, lvl, &list.first);
        for next in &list.additional {
            let (ast::AndOr::And(p) | ast::AndOr::Or(p)) = next;
            last = self.pipeline(cx, lvl, p);
        }
        last
    }

    fn pipeline(&mut self, cx: &Classifier<'_>, lvl: &Level<'_>, pipeline: &ast::Pipeline) -> Flow {
        self.fork_bomb(cx, lvl, pipeline);
        let mut flow = Flow::None;
        for command in &pipeline.seq {
            flow = self.command(cx, lvl, command, flow);
        }
        flow
    }

    /// `:(){ :|:& };:` — a function piping into itself.
    fn fork_bomb(&mut self, cx: &Classifier<'_>, lvl: &Level<'_>, pipeline: &ast::Pipeline) {
        let Some(name) = self.functions.last() else {
            return;
        };
        let mut calls = pipeline.seq.iter().filter_map(|c| match c {
            ast::Command::Simple(sc) => sc.word_or_name.as_ref().filter(|w| &w.value == name),
            _ => None,
        });
        if let (Some(first), Some(_)) = (calls.next(), calls.next()) {
            let span = first.loc.as_ref().map_or(lvl.whole(), |l| {
                let (s, e) = lvl.range(l);
                lvl.span(s, e)
            });
            let target = format!("function `{name}`");
            self.rule(cx, "SHX040", target, span);
        }
    }

    fn command(
        &mut self,
        cx: &Classifier<'_>,
        lvl: &Level<'_>,
        command: &ast::Command,
        stdin: Flow,
    ) -> Flow {
        match command {
            ast::Command::Simple(simple) => self.simple(cx, lvl, simple, stdin),
            ast::Command::Compound(compound, redirects) => {
                let flow = self.compound(cx, lvl, compound);
                let mut ignored = Flow::None;
                let mut redirected = false;
                for redirect in redirects.iter().flat_map(|r| r.0.iter()) {
                    redirected |= self.redirect(cx, lvl, redirect, &mut ignored);
                }
                if redirected { Flow::None } else { flow }
            }
            ast::Command::Function(function) => {
                self.functions.push(function.fname.value.clone());
                self.compound(cx, lvl, &function.body.0);
                let mut ignored = Flow::None;
                for redirect in function.body.1.iter().flat_map(|r| r.0.iter()) {
                    self.redirect(cx, lvl, redirect, &mut ignored);
                }
                self.functions.pop();
                Flow::None
            }
            ast::Command::ExtendedTest(test, _) => {
                self.extended_test(cx, lvl, &test.expr);
                Flow::None
            }
        }
    }

    fn extended_test(
        &mut self,
        cx: &Classifier<'_>,
        lvl: &Level<'_>,
        expr: &ast::ExtendedTestExpr,
    ) {
        match expr {
            ast::ExtendedTestExpr::And(a, b) | ast::ExtendedTestExpr::Or(a, b) => {
                self.extended_test(cx, lvl, a);
                self.extended_test(cx, lvl, b);
            }
            ast::ExtendedTestExpr::Not(a) | ast::ExtendedTestExpr::Parenthesized(a) => {
                self.extended_test(cx, lvl, a)
            }
            ast::ExtendedTestExpr::UnaryTest(_, w) => {
                self.resolve_word(cx, lvl, w);
            }
            ast::ExtendedTestExpr::BinaryTest(_, a, b) => {
                self.resolve_word(cx, lvl, a);
                self.resolve_word(cx, lvl, b);
            }
        }
    }

    fn compound(
        &mut self,
        cx: &Classifier<'_>,
        lvl: &Level<'_>,
        compound: &ast::CompoundCommand,
    ) -> Flow {
        use ast::CompoundCommand as C;
        match compound {
            C::Arithmetic(_) => Flow::None,
            C::ArithmeticForClause(c) => {
                self.list(cx, lvl, &c.body.list);
                Flow::Command(Vec::new())
            }
            C::BraceGroup(group) => self.list(cx, lvl, &group.list),
            C::Subshell(sub) => self.list(cx, lvl, &sub.list),
            C::ForClause(clause) => {
                let mut values = Vec::new();
                for word in clause.values.iter().flatten() {
                    values.extend(self.resolve_word(cx, lvl, word));
                }
                let value = match values.as_slice() {
                    [one] if !one.is_dynamic() => Some(one.text.clone()),
                    _ => None,
                };
                self.vars.insert(clause.variable_name.clone(), value);
                self.list(cx, lvl, &clause.body.list);
                Flow::Command(Vec::new())
            }
            C::CaseClause(case) => {
                self.resolve_word(cx, lvl, &case.value);
                for item in &case.cases {
                    for pattern in &item.patterns {
                        self.resolve_word(cx, lvl, pattern);
                    }
                    if let Some(list) = &item.cmd {
                        self.list(cx, lvl, list);
                    }
                }
                Flow::Command(Vec::new())
            }
            C::IfClause(clause) => {
                self.list(cx, lvl, &clause.condition);
                self.list(cx, lvl, &clause.then);
                for branch in clause.elses.iter().flatten() {
                    if let Some(condition) = &branch.condition {
                        self.list(cx, lvl, condition);
                    }
                    self.list(cx, lvl, &branch.body);
                }
                Flow::Command(Vec::new())
            }
            C::WhileClause(clause) | C::UntilClause(clause) => {
                self.list(cx, lvl, &clause.0);
                self.list(cx, lvl, &clause.1.list);
                Flow::Command(Vec::new())
            }
            C::Coprocess(co) => self.command(cx, lvl, &co.body, Flow::None),
        }
    }

    fn simple(
        &mut self,
        cx: &Classifier<'_>,
        lvl: &Level<'_>,
        simple: &ast::SimpleCommand,
        stdin: Flow,
    ) -> Flow {
        let mut argv: Vec<RWord> = Vec::new();
        let mut assigns: Vec<(String, Option<String>)> = Vec::new();
        let mut redirects: Vec<&ast::IoRedirect> = Vec::new();
        let prefix = simple.prefix.iter().flat_map(|p| p.0.iter());
        for item in prefix {
            match item {
                ast::CommandPrefixOrSuffixItem::AssignmentWord(assignment, word) => {
                    let value = self.assignment(cx, lvl, assignment, word);
                    if let ast::AssignmentName::VariableName(name) = &assignment.name {
                        assigns.push((name.clone(), value));
                    }
                }
                other => self.item(cx, lvl, other, &mut argv, &mut redirects),
            }
        }
        if let Some(word) = &simple.word_or_name {
            argv.extend(self.resolve_word(cx, lvl, word));
        }
        let declaration = argv
            .first()
            .is_some_and(|w| DECLARATIONS.contains(&w.text.as_str()));
        for item in simple.suffix.iter().flat_map(|s| s.0.iter()) {
            match item {
                ast::CommandPrefixOrSuffixItem::AssignmentWord(assignment, word) => {
                    let value = self.assignment(cx, lvl, assignment, word);
                    if let (true, ast::AssignmentName::VariableName(name)) =
                        (declaration, &assignment.name)
                    {
                        assigns.push((name.clone(), value));
                    }
                    argv.extend(self.resolve_word(cx, lvl, word));
                }
                other => self.item(cx, lvl, other, &mut argv, &mut redirects),
            }
        }
        if argv.is_empty() || declaration {
            self.vars.extend(assigns);
        }
        let mut stdin = stdin;
        let mut redirected = false;
        // Output redirections are judged after the command, with what it writes when that is known.
        let saved = self.pending.replace(Vec::new());
        for redirect in redirects {
            redirected |= self.redirect(cx, lvl, redirect, &mut stdin);
        }
        let writes = std::mem::replace(&mut self.pending, saved).unwrap_or_default();
        let out = if argv.is_empty() || declaration {
            Flow::None
        } else {
            self.dispatch(cx, argv, stdin)
        };
        for (mut request, span) in writes {
            if let Flow::Literal(data) = &out {
                request.content = Some(data.text.clone());
                let entry = self.written.entry(script_key(&request.path).to_string());
                let stored = entry.or_insert_with(|| Data {
                    text: String::new(),
                    map: data.map,
                    decoded: false,
                });
                if request.op == FileOp::Write {
                    *stored = data.clone();
                } else {
                    stored.text.push_str(&data.text);
                    stored.map = Map::Whole(stored.span());
                    stored.decoded |= data.decoded;
                }
            } else {
                self.written.remove(script_key(&request.path));
            }
            let actions = classify_file(cx, &request);
            self.out.extend(respan(actions, span));
        }
        if redirected { Flow::None } else { out }
    }

    fn item<'p>(
        &mut self,
        cx: &Classifier<'_>,
        lvl: &Level<'_>,
        item: &'p ast::CommandPrefixOrSuffixItem,
        argv: &mut Vec<RWord>,
        redirects: &mut Vec<&'p ast::IoRedirect>,
    ) {
        match item {
            ast::CommandPrefixOrSuffixItem::IoRedirect(r) => redirects.push(r),
            ast::CommandPrefixOrSuffixItem::Word(w) => argv.extend(self.resolve_word(cx, lvl, w)),
            ast::CommandPrefixOrSuffixItem::AssignmentWord(_, w) => {
                argv.extend(self.resolve_word(cx, lvl, w))
            }
            ast::CommandPrefixOrSuffixItem::ProcessSubstitution(kind, sub) => {
                let flow = self.list(cx, lvl, &sub.list);
                let span = sub.loc_span(lvl);
                let feeds =
                    matches!(kind, ast::ProcessSubstitutionKind::Read).then(|| Box::new(flow));
                argv.push(RWord {
                    feeds,
                    ..RWord::synthetic("/dev/fd/63", span)
                });
            }
        }
    }

    /// Resolves an assignment's value; `None` when it is not known statically.
    fn assignment(
        &mut self,
        cx: &Classifier<'_>,
        lvl: &Level<'_>,
        assignment: &ast::Assignment,
        word: &ast::Word,
    ) -> Option<String> {
        let ast::AssignmentValue::Scalar(value) = &assignment.value else {
            return None;
        };
        let start = lvl
            .verbatim(&word.value, word.loc.as_ref())
            .and_then(|start| {
                let eq = word.value.find('=')?;
                let at = start + eq + 1;
                lvl.text.get(at..)?.starts_with(&value.value).then_some(at)
            });
        let fallback = word.loc.as_ref().map_or(lvl.whole(), |l| {
            let (s, e) = lvl.range(l);
            lvl.span(s, e)
        });
        let resolved = self.resolve_text(cx, lvl, &value.value, start, fallback, false);
        let dynamic = resolved.iter().any(RWord::is_dynamic);
        (!dynamic).then(|| {
            resolved
                .iter()
                .map(|w| w.text.as_str())
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    /// Handles one redirection; updates `stdin` for input redirections and returns whether standard
    /// output goes to a file.
    fn redirect(
        &mut self,
        cx: &Classifier<'_>,
        lvl: &Level<'_>,
        redirect: &ast::IoRedirect,
        stdin: &mut Flow,
    ) -> bool {
        match redirect {
            ast::IoRedirect::File(fd, kind, target) => match target {
                ast::IoFileRedirectTarget::Filename(word) => {
                    let words = self.resolve_word(cx, lvl, word);
                    let op = match kind {
                        ast::IoFileRedirectKind::Read => {
                            if fd.is_none_or(|fd| fd == 0) {
                                *stdin = read_file_flow(&words);
                            }
                            return false;
                        }
                        ast::IoFileRedirectKind::Write | ast::IoFileRedirectKind::Clobber => {
                            FileOp::Write
                        }
                        ast::IoFileRedirectKind::Append | ast::IoFileRedirectKind::ReadAndWrite => {
                            FileOp::Edit
                        }
                        ast::IoFileRedirectKind::DuplicateInput
                        | ast::IoFileRedirectKind::DuplicateOutput => {
                            return false;
                        }
                    };
                    self.write_target(cx, lvl, word, &words, op);
                    fd.is_none_or(|fd| fd == 1)
                }
                ast::IoFileRedirectTarget::ProcessSubstitution(_, sub) => {
                    self.list(cx, lvl, &sub.list);
                    false
                }
                ast::IoFileRedirectTarget::Fd(_) | ast::IoFileRedirectTarget::Duplicate(_) => false,
            },
            ast::IoRedirect::HereDocument(fd, doc) => {
                if fd.is_none_or(|fd| fd == 0) {
                    *stdin = self.heredoc(cx, lvl, doc);
                }
                false
            }
            ast::IoRedirect::HereString(fd, word) => {
                let words = self.resolve_word(cx, lvl, word);
                if fd.is_none_or(|fd| fd == 0) {
                    *stdin = here_string(&words);
                }
                false
            }
            ast::IoRedirect::OutputAndError(word, append) => {
                let words = self.resolve_word(cx, lvl, word);
                let op = if *append { FileOp::Edit } else { FileOp::Write };
                self.write_target(cx, lvl, word, &words, op);
                true
            }
        }
    }

    fn heredoc(&mut self, cx: &Classifier<'_>, lvl: &Level<'_>, doc: &ast::IoHereDocument) -> Flow {
        let body = &doc.doc.value;
        let start = lvl.verbatim(body, doc.doc.loc.as_ref());
        let fallback = doc.doc.loc.as_ref().map_or(lvl.whole(), |l| {
            let (s, e) = lvl.range(l);
            lvl.span(s, e)
        });
        let (mut text, mut map, decoded) = if doc.requires_expansion {
            let word = self.resolve_heredoc(cx, lvl, body, start, fallback);
            if word.unknown_subst {
                return Flow::Command(Vec::new());
            }
            (word.text, word.content, word.decoded)
        } else {
            let map = start.map_or(Map::Whole(fallback), |s| lvl.map.at(s));
            (body.clone(), map, false)
        };
        if doc.remove_tabs {
            let stripped: Vec<&str> = text
                .split('\n')
                .map(|l| l.trim_start_matches('\t'))
                .collect();
            let stripped = stripped.join("\n");
            if stripped != text {
                text = stripped;
                map = Map::Whole(fallback);
            }
        }
        Flow::Literal(Data { text, map, decoded })
    }

    /// Judges an output redirection target (`> file`, `>> file`, `&> file`).
    fn write_target(
        &mut self,
        cx: &Classifier<'_>,
        lvl: &Level<'_>,
        word: &ast::Word,
        words: &[RWord],
        op: FileOp,
    ) {
        let path: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
        let path = path.join(" ");
        if harmless_target(&path) {
            return;
        }
        let span = match (
            word.loc.as_ref(),
            lvl.verbatim(&word.value, word.loc.as_ref()),
        ) {
            (Some(loc), Some(start)) => {
                let (_, end) = lvl.range(loc);
                lvl.span(operator_start(lvl.text, start), end)
            }
            (Some(loc), None) => {
                let (s, e) = lvl.range(loc);
                lvl.span(s, e)
            }
            _ => lvl.whole(),
        };
        self.write_path(cx, path, span, op);
    }

    /// `tee [-a] FILE…` writes its input to each file, as `> FILE` (`>> FILE`) would.
    pub(super) fn tee_targets(&mut self, cx: &Classifier<'_>, argv: &[RWord]) {
        let append = argv.iter().skip(1).any(|w| {
            w.text == "--append"
                || (w.text.starts_with('-') && !w.text.starts_with("--") && w.text.contains('a'))
        });
        let op = if append { FileOp::Edit } else { FileOp::Write };
        for word in argv.iter().skip(1).filter(|w| !w.text.starts_with('-')) {
            if !harmless_target(&word.text) {
                self.write_path(cx, word.text.clone(), word.span, op);
            }
        }
    }

    /// Judges a write of `path` (a redirection or `tee` target) at `span`.
    fn write_path(&mut self, cx: &Classifier<'_>, path: String, span: Span, op: FileOp) {
        if is_block_device(&path) {
            self.rule(cx, "SHX030", path, span);
            return;
        }
        let request = FileRequest {
            op,
            path,
            content: None,
        };
        match self.pending.as_mut() {
            Some(pending) => pending.push((request, span)),
            None => {
                let actions = classify_file(cx, &request);
                self.out.extend(respan(actions, span));
            }
        }
    }
}

/// A path as a key of the files written on the line (`./x.sh` and `x.sh` are the same file).
pub(super) fn script_key(path: &str) -> &str {
    path.trim_start_matches("./")
}

/// Data fed by a here-string (`<<< word`).
fn here_string(words: &[RWord]) -> Flow {
    if words.iter().any(|w| w.unknown_subst) {
        return Flow::Command(Vec::new());
    }
    let text: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
    let mut text = text.join(" ");
    let (map, decoded) = match words {
        [one] => (one.content, one.decoded),
        _ => (
            Map::Whole(super::union(words, Span::new(0, 0))),
            words.iter().any(|w| w.decoded),
        ),
    };
    text.push('\n');
    Flow::Literal(Data { text, map, decoded })
}

/// Where the redirection operator before a target starting at `start` begins (`2>>` in `cmd 2>> f`).
fn operator_start(text: &str, start: usize) -> usize {
    let before = text.get(..start).unwrap_or_default();
    let trimmed = before.trim_end_matches([' ', '\t']);
    let op = trimmed.trim_end_matches(['>', '<', '|', '&']);
    if op.len() == trimmed.len() {
        return start;
    }
    op.trim_end_matches(|c: char| c.is_ascii_digit()).len()
}

/// What `< FILE` feeds a command: a secret file reads as the output of `cat FILE`, so that sending it
/// (`http POST URL < ~/.netrc`) is judged like `cat ~/.netrc | http POST URL`; other files are not inspected.
fn read_file_flow(words: &[RWord]) -> Flow {
    let path: Vec<&str> = words.iter().map(|w| w.text.as_str()).collect();
    let path = path.join(" ");
    match words.first() {
        Some(first) if crate::classify::shell_cli::exfil::is_secret_path(&path) => {
            Flow::Command(vec![
                RWord::synthetic("cat", first.span),
                RWord::synthetic(&path, first.span),
            ])
        }
        _ => Flow::File,
    }
}

/// Redirection targets that write nothing anyone keeps.
fn harmless_target(path: &str) -> bool {
    matches!(
        path,
        "/dev/null" | "/dev/stdout" | "/dev/stderr" | "/dev/tty" | "-" | "nul" | "NUL" | "$null"
    ) || path.starts_with("/dev/fd/")
        || path.starts_with('&')
        || path.is_empty()
}

/// A disk or partition device: writing to it destroys a filesystem.
fn is_block_device(path: &str) -> bool {
    let Some(dev) = path.strip_prefix("/dev/") else {
        return false;
    };
    [
        "sd", "hd", "vd", "xvd", "nvme", "mmcblk", "disk", "rdisk", "mapper/", "md", "dm-", "loop",
    ]
    .iter()
    .any(|p| dev.starts_with(p))
}
