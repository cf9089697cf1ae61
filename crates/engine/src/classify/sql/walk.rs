//! Walks a parsed statement, and the statements nested in it (CTEs, set operations, `INSERT … SELECT`,
//! `EXPLAIN ANALYZE`, `PREPARE … AS`, procedure / function / trigger bodies, `IF` / `WHILE` / `CASE`
//! blocks), reporting what destroys data.
//!
//! Tautology: a `WHERE` counts as no `WHERE` when it is provably (or, for ids, practically) always true:
//! constant-true expressions (`TRUE`, `1`, `1=1`, `'a'='a'`, `NOT FALSE`, `2 > 1`), `x = x`, `x >= x`,
//! `… OR <tautology>`, `<tautology> AND <tautology>`, `x LIKE '%'`, `x IS NOT NULL` / `x > 0` / `x >= 0`
//! / `x <> 0` on an id-like column (`id`, `*_id`, `rowid`, `oid`: a heuristic, since such columns are
//! positive and never null in practice). Any other comparison with a column scopes the statement.

use sqlparser::ast::{
    AlterTableOperation, BinaryOperator, CopyTarget, CreateFunctionBody, CreateProcedureBody, Expr,
    FromTable, ObjectName, ObjectType, Query, SetExpr, Statement, TableFactor, TableWithJoins,
    UnaryOperator, Value,
};

use super::{Batch, MAX_WALK_DEPTH, VarValue, rules};
use crate::action::Span;
use crate::classify::respan;
use crate::request::RequestKind;

impl Batch<'_> {
    /// Reports what `stmt` (and every statement nested in it) would destroy, with evidence `span`.
    pub(super) fn walk_statement(&mut self, stmt: &Statement, span: Span, depth: u32) {
        if depth > MAX_WALK_DEPTH {
            let action = self.cx.too_deep(RequestKind::Sql, Some(span));
            self.out.push(action);
            return;
        }
        let depth = depth + 1;
        match stmt {
            Statement::Query(query) => self.walk_query(query, span, depth),
            Statement::Insert(insert) => {
                if let Some(source) = &insert.source {
                    self.walk_query(source, span, depth);
                }
            }
            Statement::Delete(delete) => {
                let from = match &delete.from {
                    FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from) => from,
                };
                let joined = delete.using.as_ref().is_some_and(|u| !u.is_empty())
                    || from.len() > 1
                    || from.iter().any(|t| !t.joins.is_empty());
                let targets: Vec<String> = from.iter().map(table_name).collect();
                if !delete.selection.as_ref().is_none_or(|w| {
                    is_tautology(w)
                        || joined && only_joins(w, 0)
                        || in_every_row(w, &targets, &self.every_row_ctes)
                }) {
                    return;
                }
                {
                    let tables: Vec<String> = if delete.tables.is_empty() {
                        match &delete.from {
                            FromTable::WithFromKeyword(from) | FromTable::WithoutKeyword(from) => {
                                from.iter().map(table_name).collect()
                            }
                        }
                    } else {
                        delete.tables.iter().map(ToString::to_string).collect()
                    };
                    self.emit(
                        rules::DELETE_UNSCOPED,
                        format!("table {}", tables.join(", ")),
                        span,
                    );
                }
            }
            Statement::Update(update) => {
                let joined = update.from.is_some() || !update.table.joins.is_empty();
                if !update
                    .selection
                    .as_ref()
                    .is_none_or(|w| is_tautology(w) || joined && only_joins(w, 0))
                {
                    return;
                }
                {
                    self.emit(
                        rules::UPDATE_UNSCOPED,
                        format!("table {}", table_name(&update.table)),
                        span,
                    );
                }
            }
            Statement::Truncate(truncate) => {
                for target in &truncate.table_names {
                    self.emit(rules::TRUNCATE, format!("table {}", target.name), span);
                }
            }
            Statement::Drop {
                object_type, names, ..
            } => self.drop(*object_type, names, span),
            Statement::DropFunction(_)
            | Statement::DropDomain(_)
            | Statement::DropProcedure { .. }
            | Statement::DropSecret { .. }
            | Statement::DropPolicy(_)
            | Statement::DropRule(_)
            | Statement::DropConnector { .. }
            | Statement::DropExtension(_)
            | Statement::DropOperator(_)
            | Statement::DropOperatorFamily(_)
            | Statement::DropOperatorClass(_)
            | Statement::DropTrigger(_) => {
                let text = stmt.to_string();
                let target = text.strip_prefix("DROP ").unwrap_or(&text).to_lowercase();
                self.emit(rules::DROP_OBJECT, super::clip(&target), span);
            }
            Statement::AlterTable(alter) => {
                for op in &alter.operations {
                    if let Some(what) = alter_drop(op) {
                        self.emit(
                            rules::ALTER_DROP,
                            format!("{what} of table {}", alter.name),
                            span,
                        );
                    }
                }
            }
            Statement::Grant(_)
            | Statement::GrantRole(_)
            | Statement::Deny(_)
            | Statement::Revoke(_)
            | Statement::RevokeRole(_)
            | Statement::AlterDefaultPrivileges(_)
            | Statement::CreateRole(_)
            | Statement::CreateUser(_)
            | Statement::AlterUser(_)
            | Statement::AlterRole { .. } => {
                self.emit(rules::PRIVILEGE, super::clip(&stmt.to_string()), span);
            }
            Statement::Explain {
                analyze, statement, ..
            } => {
                // Plain EXPLAIN only plans; EXPLAIN ANALYZE runs the statement.
                if !*analyze {
                    return;
                }
                self.walk_statement(statement, span, depth);
            }
            Statement::Prepare { statement, .. } => self.walk_statement(statement, span, depth),
            Statement::Execute {
                name, parameters, ..
            } => self.execute_ast(name.as_ref(), parameters, span),
            Statement::Copy {
                target: CopyTarget::Program { command },
                ..
            } => {
                self.emit(rules::COPY_PROGRAM, super::clip(command), span);
                let found = match self.cx.nested() {
                    Some(cx) => respan(cx.shell(command), span),
                    None => vec![self.cx.too_deep(RequestKind::Sql, Some(span))],
                };
                self.out.extend(found);
            }
            Statement::Set(set) => self.remember_variable(set),
            Statement::CreateFunction(function) => self.function_body(function, span),
            Statement::CreateProcedure { body, .. } => {
                let stmts = match body {
                    CreateProcedureBody::As(block) => block.statements(),
                    CreateProcedureBody::BeginAtomic(block) => &block.statements,
                };
                self.walk_all(stmts, span, depth);
            }
            Statement::CreateTrigger(trigger) => {
                if let Some(block) = &trigger.statements {
                    self.walk_all(block.statements(), span, depth);
                }
            }
            Statement::If(stmt) => {
                let blocks = std::iter::once(&stmt.if_block)
                    .chain(&stmt.elseif_blocks)
                    .chain(&stmt.else_block);
                for block in blocks {
                    self.walk_all(block.conditional_statements.statements(), span, depth);
                }
            }
            Statement::While(stmt) => {
                self.walk_all(
                    stmt.while_block.conditional_statements.statements(),
                    span,
                    depth,
                );
            }
            Statement::Case(stmt) => {
                for block in stmt.when_blocks.iter().chain(&stmt.else_block) {
                    self.walk_all(block.conditional_statements.statements(), span, depth);
                }
            }
            _ => {}
        }
    }

    fn walk_all(&mut self, stmts: &[Statement], span: Span, depth: u32) {
        for stmt in stmts {
            self.walk_statement(stmt, span, depth);
        }
    }

    fn walk_query(&mut self, query: &Query, span: Span, depth: u32) {
        if depth > MAX_WALK_DEPTH {
            let action = self.cx.too_deep(RequestKind::Sql, Some(span));
            self.out.push(action);
            return;
        }
        let outer = self.every_row_ctes.len();
        if let Some(with) = &query.with {
            for cte in &with.cte_tables {
                self.walk_query(&cte.query, span, depth + 1);
                if let Some(table) = unfiltered_source(&cte.query) {
                    self.every_row_ctes
                        .push((cte.alias.name.value.clone(), table));
                }
            }
        }
        self.walk_set_expr(&query.body, span, depth + 1);
        self.every_row_ctes.truncate(outer);
    }

    fn walk_set_expr(&mut self, body: &SetExpr, span: Span, depth: u32) {
        match body {
            SetExpr::Query(query) => self.walk_query(query, span, depth),
            SetExpr::SetOperation { left, right, .. } => {
                self.walk_set_expr(left, span, depth + 1);
                self.walk_set_expr(right, span, depth + 1);
            }
            SetExpr::Insert(stmt)
            | SetExpr::Update(stmt)
            | SetExpr::Delete(stmt)
            | SetExpr::Merge(stmt) => {
                self.walk_statement(stmt, span, depth);
            }
            SetExpr::Select(select) => {
                for from in &select.from {
                    if let TableFactor::Derived { subquery, .. } = &from.relation {
                        self.walk_query(subquery, span, depth + 1);
                    }
                }
            }
            _ => {}
        }
    }

    fn drop(&mut self, object_type: ObjectType, names: &[ObjectName], span: Span) {
        let (rule, kind) = match object_type {
            ObjectType::Database => (rules::DROP_DATABASE, "database"),
            ObjectType::Schema => (rules::DROP_SCHEMA, "schema"),
            ObjectType::Table | ObjectType::ForeignTable => (rules::DROP_TABLE, "table"),
            ObjectType::Role | ObjectType::User | ObjectType::Group => (rules::PRIVILEGE, "role"),
            ObjectType::View => (rules::DROP_OBJECT, "view"),
            ObjectType::MaterializedView => (rules::DROP_OBJECT, "materialized view"),
            ObjectType::Index => (rules::DROP_OBJECT, "index"),
            ObjectType::Sequence => (rules::DROP_OBJECT, "sequence"),
            ObjectType::Type => (rules::DROP_OBJECT, "type"),
            _ => (rules::DROP_OBJECT, "object"),
        };
        for name in names {
            self.emit(rule, format!("{kind} {name}"), span);
        }
        if names.is_empty() {
            self.emit(rule, kind, span);
        }
    }

    /// `EXECUTE` as sqlparser read it (inside bodies it parsed): literal text is classified, text built
    /// from pieces is dynamic, a bare name runs a prepared statement (judged when it was prepared).
    fn execute_ast(&mut self, name: Option<&ObjectName>, parameters: &[Expr], span: Span) {
        let name_text = name.map(ToString::to_string).unwrap_or_default();
        // `EXECUTE 'DROP …'`: sqlparser reads the literal as a quoted name.
        if let Some(literal) = name_text
            .strip_prefix('\'')
            .and_then(|n| n.strip_suffix('\''))
        {
            let found = self.nested_sql(self.dialect, &literal.replace("''", "'"), span, true);
            self.out.extend(found);
            return;
        }
        let literals: Vec<String> = parameters.iter().filter_map(string_literal).collect();
        if literals.is_empty() {
            return;
        }
        if name_text.eq_ignore_ascii_case("immediate") && parameters.len() == 1 {
            if let Some(text) = literals.first() {
                let found = self.nested_sql(self.dialect, text, span, true);
                self.out.extend(found);
            }
            return;
        }
        if name_text.eq_ignore_ascii_case("sp_executesql") {
            if let Some(text) = literals.first() {
                let found = self.nested_sql(self.dialect, text, span, true);
                self.out.extend(found);
            }
            return;
        }
        let joined = super::dynamic::reconstruct(&literals);
        self.dynamic_text(&joined, span);
    }

    /// Text of dynamic SQL built from literal pieces: report what the pieces show, or `SQL009`.
    pub(super) fn dynamic_text(&mut self, joined: &str, span: Span) {
        let found = self.nested_sql(self.dialect, joined, span, false);
        if found.is_empty() {
            self.emit(
                rules::DYNAMIC,
                format!("dynamic SQL {}", super::clip(joined)),
                span,
            );
        } else {
            self.out.extend(found);
        }
    }

    /// `SET @v = '…'`: remembered so that a later `PREPARE s FROM @v` can be judged.
    fn remember_variable(&mut self, set: &sqlparser::ast::Set) {
        if let sqlparser::ast::Set::SingleAssignment {
            variable, values, ..
        } = set
        {
            let key = variable.to_string().to_lowercase();
            let value = match values.as_slice() {
                [single] => match string_literal(single) {
                    Some(text) => VarValue {
                        text,
                        resolved: true,
                    },
                    None => VarValue {
                        text: super::dynamic::reconstruct(&literals_in(single)),
                        resolved: false,
                    },
                },
                _ => return,
            };
            self.vars.insert(key, value);
        }
    }

    /// A function body runs whenever the function is called: scan it like a `DO` block.
    fn function_body(&mut self, function: &sqlparser::ast::CreateFunction, span: Span) {
        let language = function.language.as_ref().map(|l| l.value.to_lowercase());
        if !matches!(language.as_deref(), None | Some("sql" | "plpgsql")) {
            return;
        }
        let body = match &function.function_body {
            Some(CreateFunctionBody::AsBeforeOptions { body, .. })
            | Some(CreateFunctionBody::AsAfterOptions(body)) => body,
            Some(CreateFunctionBody::AsBeginEnd(block)) => {
                let stmts = block.statements.clone();
                self.walk_all(&stmts, span, 1);
                return;
            }
            _ => return,
        };
        if let Some(text) = string_literal(body) {
            let found = super::dynamic::procedural(self, &text, 0, false);
            self.out.extend(respan(found, span));
        }
    }
}

/// The name of the table in a `FROM` item.
fn table_name(table: &TableWithJoins) -> String {
    match &table.relation {
        TableFactor::Table { name, .. } => name.to_string(),
        other => super::clip(&other.to_string()),
    }
}

/// What an `ALTER TABLE` operation drops, if anything.
fn alter_drop(op: &AlterTableOperation) -> Option<String> {
    Some(match op {
        AlterTableOperation::DropColumn { column_names, .. } => {
            let names: Vec<String> = column_names.iter().map(ToString::to_string).collect();
            format!("column {}", names.join(", "))
        }
        AlterTableOperation::DropConstraint { name, .. } => format!("constraint {name}"),
        AlterTableOperation::DropPrimaryKey { .. } => "primary key".to_string(),
        AlterTableOperation::DropForeignKey { name, .. } => format!("foreign key {name}"),
        AlterTableOperation::DropIndex { name, .. } => format!("index {name}"),
        AlterTableOperation::DropPartitions { .. } => "partitions".to_string(),
        AlterTableOperation::DropProjection { name, .. } => format!("projection {name}"),
        AlterTableOperation::DropClusteringKey => "clustering key".to_string(),
        _ => return None,
    })
}

/// The value of a string literal expression.
pub(super) fn string_literal(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Value(value) => value.value.clone().into_string(),
        Expr::Nested(inner) => string_literal(inner),
        _ => None,
    }
}

/// Every string literal in a (concatenation or function-call) expression, in order.
fn literals_in(expr: &Expr) -> Vec<String> {
    let mut out = Vec::new();
    collect_literals(expr, &mut out, 0);
    out
}

fn collect_literals(expr: &Expr, out: &mut Vec<String>, depth: u32) {
    if depth > MAX_WALK_DEPTH {
        return;
    }
    match expr {
        Expr::BinaryOp { left, right, .. } => {
            collect_literals(left, out, depth + 1);
            collect_literals(right, out, depth + 1);
        }
        Expr::Nested(inner) => collect_literals(inner, out, depth + 1),
        Expr::Function(function) => {
            if let sqlparser::ast::FunctionArguments::List(list) = &function.args {
                for arg in &list.args {
                    if let sqlparser::ast::FunctionArg::Unnamed(
                        sqlparser::ast::FunctionArgExpr::Expr(e),
                    ) = arg
                    {
                        collect_literals(e, out, depth + 1);
                    }
                }
            }
        }
        other => out.extend(string_literal(other)),
    }
}

/// Whether a `WHERE` is `col IN (SELECT … FROM t)` with a subquery (or a CTE, from `ctes`: name → table)
/// that selects every row of one of `targets`: `DELETE FROM users WHERE id IN (SELECT id FROM users)`.
fn in_every_row(expr: &Expr, targets: &[String], ctes: &[(String, String)]) -> bool {
    let Expr::In {
        target: sqlparser::ast::InTarget::Subquery(subquery),
        negated: false,
        ..
    } = expr
    else {
        return false;
    };
    let Some(source) = unfiltered_source(subquery) else {
        return false;
    };
    let base = ctes
        .iter()
        .rev()
        .find(|(name, _)| name.eq_ignore_ascii_case(&source))
        .map_or(source.as_str(), |(_, table)| table.as_str());
    targets.iter().any(|t| t.eq_ignore_ascii_case(base))
}

/// The one table a query reads every row of (no `WHERE`, `HAVING`, join, `LIMIT` or `FETCH`), if any.
fn unfiltered_source(query: &Query) -> Option<String> {
    if query.limit_clause.is_some() || query.fetch.is_some() {
        return None;
    }
    let SetExpr::Select(select) = query.body.as_ref() else {
        return None;
    };
    if select.selection.is_some() || select.having.is_some() || select.from.len() != 1 {
        return None;
    }
    let from = select.from.first()?;
    if !from.joins.is_empty() {
        return None;
    }
    match &from.relation {
        TableFactor::Table { name, .. } => Some(name.to_string()),
        _ => None,
    }
}

/// Whether a `WHERE` does nothing but join tables (`o.customer_id = c.id AND …`, no literal, parameter or
/// other test besides tautologies): with `USING`, `FROM` or a join it matches every row that has a
/// partner, i.e. a bulk delete or update.
fn only_joins(expr: &Expr, depth: u32) -> bool {
    if depth > MAX_WALK_DEPTH {
        return false;
    }
    let column = |e: &Expr| matches!(e, Expr::Identifier(_) | Expr::CompoundIdentifier(_));
    match expr {
        Expr::Nested(inner) => only_joins(inner, depth + 1),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => only_joins(left, depth + 1) && only_joins(right, depth + 1),
        Expr::BinaryOp {
            left,
            op: BinaryOperator::Eq,
            right,
        } => column(left) && column(right),
        other => truth(other, depth) == Some(true),
    }
}

/// Whether a `WHERE` expression is (provably or, for ids, practically) always true.
pub(super) fn is_tautology(expr: &Expr) -> bool {
    truth(expr, 0) == Some(true)
}

/// The constant truth of an expression, if it has one; id-like comparisons count as true.
fn truth(expr: &Expr, depth: u32) -> Option<bool> {
    if depth > MAX_WALK_DEPTH {
        return None;
    }
    let depth = depth + 1;
    match expr {
        Expr::Nested(inner) => truth(inner, depth),
        Expr::Value(value) => match &value.value {
            Value::Boolean(b) => Some(*b),
            Value::Number(n, _) => number(n).map(|n| n != 0.0),
            Value::Null => Some(false),
            _ => None,
        },
        Expr::Identifier(ident) if ident.quote_style.is_none() => {
            match ident.value.to_ascii_lowercase().as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => None,
            }
        }
        Expr::UnaryOp {
            op: UnaryOperator::Not,
            expr,
        } => truth(expr, depth).map(|b| !b),
        Expr::IsTrue(inner) | Expr::IsNotFalse(inner) => truth(inner, depth),
        Expr::IsFalse(inner) | Expr::IsNotTrue(inner) => truth(inner, depth).map(|b| !b),
        Expr::IsNotNull(inner) => {
            if constant(inner).is_some() || is_id_column(inner) {
                Some(true)
            } else {
                None
            }
        }
        Expr::IsNull(inner) => constant(inner).map(|_| false),
        Expr::Like {
            negated: false,
            pattern,
            ..
        }
        | Expr::ILike {
            negated: false,
            pattern,
            ..
        } => match string_literal(pattern) {
            Some(p) if !p.is_empty() && p.chars().all(|c| c == '%') => Some(true),
            _ => None,
        },
        Expr::BinaryOp { left, op, right } => binary(left, op, right, depth),
        _ => None,
    }
}

fn binary(left: &Expr, op: &BinaryOperator, right: &Expr, depth: u32) -> Option<bool> {
    match op {
        BinaryOperator::Or => match (truth(left, depth), truth(right, depth)) {
            (Some(true), _) | (_, Some(true)) => Some(true),
            (Some(false), Some(false)) => Some(false),
            _ => None,
        },
        BinaryOperator::And => match (truth(left, depth), truth(right, depth)) {
            (Some(false), _) | (_, Some(false)) => Some(false),
            (Some(true), Some(true)) => Some(true),
            _ => None,
        },
        _ => compare(left, op, right),
    }
}

/// A comparison: between constants, of an expression with itself, or of an id column against 0.
fn compare(left: &Expr, op: &BinaryOperator, right: &Expr) -> Option<bool> {
    use BinaryOperator::{Eq, Gt, GtEq, Lt, LtEq, NotEq, Spaceship};
    if let (Some(a), Some(b)) = (constant(left), constant(right)) {
        let ordering = match (number(&a), number(&b)) {
            (Some(x), Some(y)) => x.partial_cmp(&y)?,
            _ => a.cmp(&b),
        };
        return match op {
            Eq | Spaceship => Some(ordering.is_eq()),
            NotEq => Some(ordering.is_ne()),
            Gt => Some(ordering.is_gt()),
            GtEq => Some(ordering.is_ge()),
            Lt => Some(ordering.is_lt()),
            LtEq => Some(ordering.is_le()),
            _ => None,
        };
    }
    if matches!(op, Eq | GtEq | LtEq | Spaceship) && left.to_string() == right.to_string() {
        return Some(true);
    }
    // `id > 0`, `id >= 0`, `id <> 0` and the mirrored forms: every row of a table with a serial id.
    let (op, value) = if is_id_column(left) {
        (op.clone(), right)
    } else if is_id_column(right) {
        let mirrored = match op {
            Gt => Lt,
            Lt => Gt,
            GtEq => LtEq,
            LtEq => GtEq,
            other => other.clone(),
        };
        (mirrored, left)
    } else {
        return None;
    };
    let bound = constant(value).and_then(|v| number(&v))?;
    match op {
        Gt => (bound <= 0.0).then_some(true),
        GtEq => (bound <= 1.0).then_some(true),
        NotEq => (bound <= 0.0).then_some(true),
        _ => None,
    }
}

/// A literal's text (numbers, strings, booleans), for constant comparisons.
fn constant(expr: &Expr) -> Option<String> {
    match expr {
        Expr::Nested(inner) => constant(inner),
        Expr::Value(value) => match &value.value {
            Value::Number(n, _) => Some(n.clone()),
            Value::Boolean(b) => Some(if *b { "1" } else { "0" }.to_string()),
            other => other.clone().into_string(),
        },
        Expr::UnaryOp {
            op: UnaryOperator::Minus,
            expr,
        } => constant(expr)
            .and_then(|c| number(&c))
            .map(|n| format!("{}", -n)),
        _ => None,
    }
}

fn number(text: &str) -> Option<f64> {
    text.parse::<f64>().ok().filter(|n| n.is_finite())
}

/// `id`, `*_id`, `rowid`, `oid`, `uuid` columns (possibly qualified).
fn is_id_column(expr: &Expr) -> bool {
    let name = match expr {
        Expr::Identifier(ident) => &ident.value,
        Expr::CompoundIdentifier(parts) => match parts.last() {
            Some(ident) => &ident.value,
            None => return false,
        },
        _ => return false,
    };
    let name = name.to_ascii_lowercase();
    matches!(
        name.as_str(),
        "id" | "rowid" | "_rowid_" | "oid" | "uuid" | "pk"
    ) || name.ends_with("_id")
}
