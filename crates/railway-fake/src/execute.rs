//! Runs one GraphQL-over-HTTP request against the fake account: parse (apollo-parser), pick the operation,
//! validate it against [`crate::schema`] before anything runs, execute mutations in order, then resolve the
//! selection sets. Answers in the GraphQL response shape with the status a GraphQL-over-HTTP server uses.

use std::collections::{BTreeMap, BTreeSet};

use apollo_parser::cst::{self, CstNode};
use apollo_parser::{Parser, SyntaxNode};
use serde_json::{Map, Value, json};
use tokio::sync::Mutex;

use crate::schema::{self, FieldType};
use crate::state::{Account, Snapshot, connection};

/// Deepest selection or fragment nesting the fake follows.
const MAX_DEPTH: usize = 32;

/// A GraphQL-over-HTTP request body.
#[derive(Debug)]
pub(crate) struct GraphqlRequest {
    pub query: String,
    pub variables: Map<String, Value>,
    pub operation_name: Option<String>,
}

/// The HTTP status and JSON body to answer with.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    /// A request error: no `data`, one error with `extensions.code`.
    pub(crate) fn request_error(status: u16, code: &str, message: String) -> Self {
        Self {
            status,
            body: json!({"errors": [{"message": message, "extensions": {"code": code}}]}),
        }
    }
}

/// One GraphQL error.
#[derive(Debug)]
struct GqlError {
    message: String,
    location: Option<(usize, usize)>,
    path: Vec<Value>,
    code: Option<&'static str>,
}

impl GqlError {
    fn at(message: String, location: Option<(usize, usize)>) -> Self {
        Self {
            message,
            location,
            path: Vec::new(),
            code: None,
        }
    }

    fn to_json(&self) -> Value {
        let mut error = Map::new();
        error.insert("message".into(), Value::String(self.message.clone()));
        if let Some((line, column)) = self.location {
            error.insert(
                "locations".into(),
                json!([{"line": line, "column": column}]),
            );
        }
        if !self.path.is_empty() {
            error.insert("path".into(), Value::Array(self.path.clone()));
        }
        if let Some(code) = self.code {
            error.insert("extensions".into(), json!({ "code": code }));
        }
        Value::Object(error)
    }
}

fn errors_answer(status: u16, code: &'static str, errors: Vec<GqlError>) -> Answer {
    let errors: Vec<Value> = errors
        .into_iter()
        .map(|mut e| {
            e.code = e.code.or(Some(code));
            e.to_json()
        })
        .collect();
    Answer {
        status,
        body: json!({ "errors": errors }),
    }
}

/// A field to run, resolved from the document: fragments flattened, `@skip`/`@include` applied, arguments
/// evaluated. Owned, so nothing of the parser's tree is held across an await.
#[derive(Debug, Clone)]
struct PlannedField {
    key: String,
    name: String,
    args: BTreeMap<String, String>,
    location: (usize, usize),
    /// The subfields, for an object-typed field.
    selection: Option<Vec<PlannedField>>,
}

impl PlannedField {
    fn arg(&self, name: &str) -> &str {
        self.args.get(name).map_or("", String::as_str)
    }
}

/// A validated operation, ready to run.
#[derive(Debug)]
struct Plan {
    mutation: bool,
    fields: Vec<PlannedField>,
}

/// Parses, selects and validates: the answer for a document that cannot run, else what to run.
fn plan(request: &GraphqlRequest) -> Result<Plan, Answer> {
    let tree = Parser::new(&request.query)
        .recursion_limit(200)
        .token_limit(100_000)
        .parse();
    if let Some(error) = tree.errors().next() {
        let location = Some(line_column(&request.query, error.index()));
        let message = format!("Syntax Error: {}.", error.message().trim_end_matches('.'));
        return Err(errors_answer(
            400,
            "GRAPHQL_PARSE_FAILED",
            vec![GqlError::at(message, location)],
        ));
    }
    let document = tree.document();
    let cx = Context::new(&request.query, &document, request)
        .map_err(|errors| errors_answer(400, "GRAPHQL_VALIDATION_FAILED", errors))?;
    let mut errors = Vec::new();
    cx.validate_set(
        cx.root_type,
        &cx.root_set,
        0,
        &mut BTreeSet::new(),
        &mut errors,
    );
    if !errors.is_empty() {
        let code = if errors.iter().any(|e| e.code == Some("BAD_USER_INPUT")) {
            "BAD_USER_INPUT"
        } else {
            "GRAPHQL_VALIDATION_FAILED"
        };
        return Err(errors_answer(400, code, errors));
    }
    Ok(Plan {
        mutation: cx.root_type == "Mutation",
        fields: cx.plan_set(cx.root_type, &cx.root_set, 0),
    })
}

/// Runs `request` against `account`.
pub(crate) async fn run(account: &Mutex<Account>, request: &GraphqlRequest) -> Answer {
    let plan = match plan(request) {
        Ok(plan) => plan,
        Err(answer) => return answer,
    };
    let mut account = account.lock().await;
    // Mutations run first, one after the other, before anything is read.
    let mut results: Vec<(String, Result<Value, GqlError>)> = Vec::new();
    if plan.mutation {
        for field in &plan.fields {
            results.push((field.key.clone(), mutate(&mut account, field).await));
        }
    }
    let snapshot = match account.snapshot().await {
        Ok(snapshot) => snapshot,
        Err(err) => {
            return Answer::request_error(500, "INTERNAL_SERVER_ERROR", err.to_string());
        }
    };
    drop(account);
    let mut field_errors = Vec::new();
    let mut data = Map::new();
    let mut root_null = false;
    if plan.mutation {
        for (key, result) in results {
            match result {
                Ok(value) => {
                    data.insert(key, value);
                }
                Err(mut error) => {
                    error.path = vec![Value::String(key)];
                    field_errors.push(error);
                    // Every mutation field here is non-null: its error nulls the whole `data`.
                    root_null = true;
                }
            }
        }
    } else {
        for field in &plan.fields {
            let value = match query_root(&snapshot, field) {
                Ok((ty, value)) => complete(&snapshot, ty, value, field.selection.as_deref()),
                Err(mut error) => {
                    error.path = vec![Value::String(field.key.clone())];
                    field_errors.push(error);
                    Value::Null
                }
            };
            data.insert(field.key.clone(), value);
        }
    }
    let mut body = Map::new();
    if !field_errors.is_empty() {
        body.insert(
            "errors".into(),
            Value::Array(field_errors.iter().map(GqlError::to_json).collect()),
        );
    }
    body.insert(
        "data".into(),
        if root_null {
            Value::Null
        } else {
            Value::Object(data)
        },
    );
    Answer {
        status: 200,
        body: Value::Object(body),
    }
}

/// Runs one mutation field.
async fn mutate(account: &mut Account, field: &PlannedField) -> Result<Value, GqlError> {
    let here = Some(field.location);
    match field.name.as_str() {
        "__typename" => Ok(Value::String("Mutation".into())),
        "volumeDelete" => match account.delete_volume(field.arg("volumeId")).await {
            Ok(true) => Ok(Value::Bool(true)),
            Ok(false) => Err(GqlError::at("Volume not found".to_string(), here)),
            Err(err) => Err(GqlError {
                code: Some("INTERNAL_SERVER_ERROR"),
                ..GqlError::at(err.to_string(), here)
            }),
        },
        other => Err(GqlError::at(
            format!("Cannot query field \"{other}\" on type \"Mutation\"."),
            here,
        )),
    }
}

/// Resolves one query root field to its type and value.
fn query_root(snapshot: &Snapshot, field: &PlannedField) -> Result<(FieldType, Value), GqlError> {
    let here = Some(field.location);
    let object = |ty: &'static str, value: Value| Ok((FieldType::Object(ty), value));
    match field.name.as_str() {
        "__typename" => Ok((FieldType::Scalar("String!"), Value::String("Query".into()))),
        "me" => object("User", snapshot.user()),
        "projects" => object("ProjectConnection", connection(snapshot.projects())),
        "project" => snapshot.project(field.arg("id")).map_or_else(
            || Err(GqlError::at("Project not found".to_string(), here)),
            |p| object("Project", p),
        ),
        "volume" => snapshot.volume(field.arg("id")).map_or_else(
            || Err(GqlError::at("Volume not found".to_string(), here)),
            |v| object("Volume", v),
        ),
        other => Err(GqlError::at(
            format!("Cannot query field \"{other}\" on type \"Query\"."),
            here,
        )),
    }
}

/// Shapes `value` of type `ty` by `selection`: lists element by element, objects field by field.
fn complete(
    snapshot: &Snapshot,
    ty: FieldType,
    value: Value,
    selection: Option<&[PlannedField]>,
) -> Value {
    let (FieldType::Object(type_name), Some(selection)) = (ty, selection) else {
        return value;
    };
    match value {
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|item| complete(snapshot, ty, item, Some(selection)))
                .collect(),
        ),
        Value::Object(record) => {
            let record = Value::Object(record);
            let mut out = Map::new();
            for field in selection {
                let value = if field.name == "__typename" {
                    Value::String(type_name.to_string())
                } else {
                    let raw = snapshot
                        .relation(type_name, &field.name, &record)
                        .unwrap_or_else(|| record.get(&field.name).cloned().unwrap_or(Value::Null));
                    let field_ty = schema::field(type_name, &field.name)
                        .map_or(FieldType::Scalar("String"), |d| d.ty);
                    complete(snapshot, field_ty, raw, field.selection.as_deref())
                };
                out.insert(field.key.clone(), value);
            }
            Value::Object(out)
        }
        other => other,
    }
}

/// The selected operation and what validating and running it needs.
struct Context<'q> {
    query: &'q str,
    root_type: &'static str,
    root_set: cst::SelectionSet,
    fragments: BTreeMap<String, cst::FragmentDefinition>,
    /// Variables the operation declares.
    declared: BTreeSet<String>,
    variables: &'q Map<String, Value>,
}

impl<'q> Context<'q> {
    fn new(
        query: &'q str,
        document: &cst::Document,
        request: &'q GraphqlRequest,
    ) -> Result<Self, Vec<GqlError>> {
        let mut operations = Vec::new();
        let mut fragments = BTreeMap::new();
        let mut errors = Vec::new();
        for definition in document.definitions() {
            match definition {
                cst::Definition::OperationDefinition(op) => operations.push(op),
                cst::Definition::FragmentDefinition(fragment) => {
                    if let Some(name) = fragment.fragment_name().and_then(|f| f.name()) {
                        fragments.insert(name.text().to_string(), fragment);
                    }
                }
                other => {
                    let name = other
                        .name()
                        .map_or_else(String::new, |n| format!(" \"{}\"", n.text()));
                    errors.push(GqlError::at(
                        format!("The{name} definition is not executable."),
                        Some(location_of(query, other.syntax())),
                    ));
                }
            }
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        let named = |op: &cst::OperationDefinition| op.name().map(|n| n.text().to_string());
        let operation = match &request.operation_name {
            Some(wanted) => operations
                .into_iter()
                .find(|op| named(op).as_deref() == Some(wanted.as_str()))
                .ok_or_else(|| {
                    vec![GqlError::at(
                        format!("Unknown operation named \"{wanted}\"."),
                        None,
                    )]
                })?,
            None => {
                let count = operations.len();
                let mut operations = operations.into_iter();
                match (operations.next(), count) {
                    (Some(op), 1) => op,
                    (None, _) => {
                        return Err(vec![GqlError::at(
                            "Must provide an operation.".to_string(),
                            None,
                        )]);
                    }
                    _ => {
                        return Err(vec![GqlError::at(
                            "Must provide operation name if query contains multiple operations."
                                .to_string(),
                            None,
                        )]);
                    }
                }
            }
        };
        let root_type = match operation.operation_type() {
            Some(t) if t.mutation_token().is_some() => "Mutation",
            Some(t) if t.subscription_token().is_some() => {
                return Err(vec![GqlError::at(
                    "Schema is not configured to execute subscription operation.".to_string(),
                    Some(location_of(query, operation.syntax())),
                )]);
            }
            _ => "Query",
        };
        let declared = operation
            .variable_definitions()
            .map(|defs| {
                defs.variable_definitions()
                    .filter_map(|d| d.variable()?.name())
                    .map(|n| n.text().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let root_set = operation.selection_set().ok_or_else(|| {
            vec![GqlError::at(
                "Syntax Error: Expected \"{\".".to_string(),
                Some(location_of(query, operation.syntax())),
            )]
        })?;
        Ok(Self {
            query,
            root_type,
            root_set,
            fragments,
            declared,
            variables: &request.variables,
        })
    }

    /// Checks every field of `set` on `type_name`: it exists, its arguments are known and the required ones
    /// given (with a string value), objects have a selection and leaves none, fragments exist and apply.
    fn validate_set(
        &self,
        type_name: &str,
        set: &cst::SelectionSet,
        depth: usize,
        visiting: &mut BTreeSet<String>,
        errors: &mut Vec<GqlError>,
    ) {
        if depth > MAX_DEPTH {
            errors.push(GqlError::at(
                "Query is nested too deeply.".to_string(),
                Some(location_of(self.query, set.syntax())),
            ));
            return;
        }
        for selection in set.selections() {
            if let Err(error) = self.directives_allow(&selection) {
                errors.push(error);
            }
            match selection {
                cst::Selection::Field(field) => {
                    self.validate_field(type_name, &field, depth, visiting, errors)
                }
                cst::Selection::InlineFragment(inline) => {
                    let condition = inline
                        .type_condition()
                        .and_then(|t| t.named_type()?.name())
                        .map(|n| n.text().to_string());
                    let inner_type = condition.unwrap_or_else(|| type_name.to_string());
                    if inner_type != type_name {
                        errors.push(self.fragment_mismatch(
                            None,
                            &inner_type,
                            type_name,
                            inline.syntax(),
                        ));
                        continue;
                    }
                    if let Some(inner) = inline.selection_set() {
                        self.validate_set(type_name, &inner, depth + 1, visiting, errors);
                    }
                }
                cst::Selection::FragmentSpread(spread) => {
                    let Some(name) = spread.fragment_name().and_then(|f| f.name()) else {
                        continue;
                    };
                    let name = name.text().to_string();
                    let Some(fragment) = self.fragments.get(&name) else {
                        errors.push(GqlError::at(
                            format!("Unknown fragment \"{name}\"."),
                            Some(location_of(self.query, spread.syntax())),
                        ));
                        continue;
                    };
                    let condition = fragment
                        .type_condition()
                        .and_then(|t| t.named_type()?.name())
                        .map(|n| n.text().to_string())
                        .unwrap_or_default();
                    if condition != type_name {
                        errors.push(self.fragment_mismatch(
                            Some(&name),
                            &condition,
                            type_name,
                            spread.syntax(),
                        ));
                        continue;
                    }
                    if !visiting.insert(name.clone()) {
                        errors.push(GqlError::at(
                            format!("Cannot spread fragment \"{name}\" within itself."),
                            Some(location_of(self.query, spread.syntax())),
                        ));
                        continue;
                    }
                    if let Some(inner) = fragment.selection_set() {
                        self.validate_set(type_name, &inner, depth + 1, visiting, errors);
                    }
                    visiting.remove(&name);
                }
            }
        }
    }

    fn fragment_mismatch(
        &self,
        name: Option<&str>,
        condition: &str,
        parent: &str,
        node: &SyntaxNode,
    ) -> GqlError {
        let message = if schema::fields_of(condition).is_none() {
            format!("Unknown type \"{condition}\".")
        } else {
            let what = name.map_or_else(|| "Fragment".to_string(), |n| format!("Fragment \"{n}\""));
            format!(
                "{what} cannot be spread here as objects of type \"{parent}\" can never be of type \"{condition}\"."
            )
        };
        GqlError::at(message, Some(location_of(self.query, node)))
    }

    fn validate_field(
        &self,
        type_name: &str,
        field: &cst::Field,
        depth: usize,
        visiting: &mut BTreeSet<String>,
        errors: &mut Vec<GqlError>,
    ) {
        let Some(name) = field.name().map(|n| n.text().to_string()) else {
            return;
        };
        let here = Some(location_of(self.query, field.syntax()));
        if name == "__typename" {
            if field.selection_set().is_some() {
                errors.push(GqlError::at(
                    "Field \"__typename\" must not have a selection since type \"String!\" has no subfields."
                        .to_string(),
                    here,
                ));
            }
            return;
        }
        let Some(def) = schema::field(type_name, &name) else {
            errors.push(GqlError::at(
                format!("Cannot query field \"{name}\" on type \"{type_name}\"."),
                here,
            ));
            return;
        };
        let given: Vec<cst::Argument> = field
            .arguments()
            .map(|a| a.arguments().collect())
            .unwrap_or_default();
        for argument in &given {
            let Some(arg_name) = argument.name().map(|n| n.text().to_string()) else {
                continue;
            };
            if !def.args.iter().any(|(a, _)| *a == arg_name) {
                errors.push(GqlError::at(
                    format!("Unknown argument \"{arg_name}\" on field \"{type_name}.{name}\"."),
                    Some(location_of(self.query, argument.syntax())),
                ));
            }
        }
        for (arg_name, required) in def.args {
            let value = given
                .iter()
                .find(|a| a.name().is_some_and(|n| n.text() == *arg_name))
                .and_then(|a| a.value());
            match (value, required) {
                (None, true) => errors.push(GqlError::at(
                    format!(
                        "Field \"{name}\" argument \"{arg_name}\" of type \"String!\" is required, but it was not provided."
                    ),
                    here,
                )),
                (None, false) => {}
                (Some(value), _) => {
                    if let Err(error) = self.string_value(&value) {
                        errors.push(error);
                    }
                }
            }
        }
        match (def.ty, field.selection_set()) {
            (FieldType::Object(object), None) => errors.push(GqlError::at(
                format!(
                    "Field \"{name}\" of type \"{object}\" must have a selection of subfields. Did you mean \"{name} {{ ... }}\"?"
                ),
                here,
            )),
            (FieldType::Scalar(scalar), Some(_)) => errors.push(GqlError::at(
                format!(
                    "Field \"{name}\" must not have a selection since type \"{scalar}\" has no subfields."
                ),
                here,
            )),
            (FieldType::Object(object), Some(inner)) => {
                self.validate_set(object, &inner, depth + 1, visiting, errors);
            }
            (FieldType::Scalar(_), None) => {}
        }
    }

    /// `@skip(if:)` / `@include(if:)` with a boolean literal or variable; `Ok(false)` skips the selection.
    fn directives_allow(&self, selection: &cst::Selection) -> Result<bool, GqlError> {
        let directives = match selection {
            cst::Selection::Field(f) => f.directives(),
            cst::Selection::InlineFragment(f) => f.directives(),
            cst::Selection::FragmentSpread(f) => f.directives(),
        };
        let mut keep = true;
        for directive in directives.iter().flat_map(|d| d.directives()) {
            let name = directive
                .name()
                .map(|n| n.text().to_string())
                .unwrap_or_default();
            let here = Some(location_of(self.query, directive.syntax()));
            if name != "skip" && name != "include" {
                return Err(GqlError::at(
                    format!("Unknown directive \"@{name}\"."),
                    here,
                ));
            }
            let condition = directive
                .arguments()
                .and_then(|args| {
                    args.arguments()
                        .find(|a| a.name().is_some_and(|n| n.text() == "if"))
                })
                .and_then(|a| a.value());
            let value = match condition {
                Some(cst::Value::BooleanValue(b)) => b.true_token().is_some(),
                Some(cst::Value::Variable(var)) => {
                    let var_name = var.name().map(|n| n.text().to_string()).unwrap_or_default();
                    match self.variables.get(&var_name) {
                        Some(Value::Bool(b)) => *b,
                        _ => {
                            return Err(GqlError {
                                code: Some("BAD_USER_INPUT"),
                                ..GqlError::at(
                                    format!(
                                        "Variable \"${var_name}\" of required type \"Boolean!\" was not provided."
                                    ),
                                    here,
                                )
                            });
                        }
                    }
                }
                _ => {
                    return Err(GqlError::at(
                        format!(
                            "Directive \"@{name}\" argument \"if\" of type \"Boolean!\" is required, but it was not provided."
                        ),
                        here,
                    ));
                }
            };
            keep &= if name == "skip" { !value } else { value };
        }
        Ok(keep)
    }

    /// The string an argument value holds: a string literal or a declared variable holding a string.
    fn string_value(&self, value: &cst::Value) -> Result<String, GqlError> {
        let here = Some(location_of(self.query, value.syntax()));
        match value {
            cst::Value::StringValue(s) => Ok(String::from(s)),
            cst::Value::Variable(var) => {
                let name = var.name().map(|n| n.text().to_string()).unwrap_or_default();
                if !self.declared.contains(&name) {
                    return Err(GqlError::at(
                        format!("Variable \"${name}\" is not defined."),
                        here,
                    ));
                }
                match self.variables.get(&name) {
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(other) => Err(GqlError {
                        code: Some("BAD_USER_INPUT"),
                        ..GqlError::at(
                            format!(
                                "Variable \"${name}\" got invalid value {other}; String cannot represent a non string value: {other}"
                            ),
                            here,
                        )
                    }),
                    None => Err(GqlError {
                        code: Some("BAD_USER_INPUT"),
                        ..GqlError::at(
                            format!(
                                "Variable \"${name}\" of required type \"String!\" was not provided."
                            ),
                            here,
                        )
                    }),
                }
            }
            other => {
                let text = other.syntax().text().to_string();
                Err(GqlError::at(
                    format!("String cannot represent a non string value: {text}"),
                    here,
                ))
            }
        }
    }

    /// The fields that run for `set` on `type_name` (validated before): fragments flattened, `@skip` and
    /// `@include` applied, arguments evaluated.
    fn plan_set(
        &self,
        type_name: &str,
        set: &cst::SelectionSet,
        depth: usize,
    ) -> Vec<PlannedField> {
        let mut out = Vec::new();
        if depth > MAX_DEPTH {
            return out;
        }
        for selection in set.selections() {
            if !self.directives_allow(&selection).unwrap_or(false) {
                continue;
            }
            match selection {
                cst::Selection::Field(field) => {
                    let name = field
                        .name()
                        .map(|n| n.text().to_string())
                        .unwrap_or_default();
                    let args = field
                        .arguments()
                        .map(|args| {
                            args.arguments()
                                .filter_map(|a| {
                                    let value = self.string_value(&a.value()?).ok()?;
                                    Some((a.name()?.text().to_string(), value))
                                })
                                .collect()
                        })
                        .unwrap_or_default();
                    let selection = match schema::field(type_name, &name).map(|d| d.ty) {
                        Some(FieldType::Object(object)) => field
                            .selection_set()
                            .map(|inner| self.plan_set(object, &inner, depth + 1)),
                        _ => None,
                    };
                    out.push(PlannedField {
                        key: response_key(&field),
                        name,
                        args,
                        location: location_of(self.query, field.syntax()),
                        selection,
                    });
                }
                cst::Selection::InlineFragment(inline) => {
                    if let Some(inner) = inline.selection_set() {
                        out.extend(self.plan_set(type_name, &inner, depth + 1));
                    }
                }
                cst::Selection::FragmentSpread(spread) => {
                    let fragment = spread
                        .fragment_name()
                        .and_then(|f| f.name())
                        .and_then(|n| self.fragments.get(n.text().as_ref()));
                    if let Some(inner) = fragment.and_then(|f| f.selection_set()) {
                        out.extend(self.plan_set(type_name, &inner, depth + 1));
                    }
                }
            }
        }
        out
    }
}

/// The key a field's value has in the response: its alias, else its name.
fn response_key(field: &cst::Field) -> String {
    field
        .alias()
        .and_then(|a| a.name())
        .or_else(|| field.name())
        .map(|n| n.text().to_string())
        .unwrap_or_default()
}

fn location_of(query: &str, node: &SyntaxNode) -> (usize, usize) {
    line_column(query, usize::from(node.text_range().start()))
}

/// 1-based line and column (in characters) of byte offset `index` in `text`.
fn line_column(text: &str, index: usize) -> (usize, usize) {
    let mut line = 1;
    let mut column = 1;
    for (offset, ch) in text.char_indices() {
        if offset >= index {
            break;
        }
        if ch == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    (line, column)
}
