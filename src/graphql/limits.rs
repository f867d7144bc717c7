//! What one GraphQL document may ask for, measured before async-graphql parses,
//! validates or runs it.
//!
//! async-graphql's parser recurses once per nested value (a document of a few thousand
//! nested objects overflows a worker's stack and aborts the process), and its validation
//! and complexity passes expand every fragment spread where it is used (fragments that
//! each spread the next one twice cost 2^n). Both are bounded here by work linear in the
//! document: a bracket scan of the text, then one walk of the parsed document that
//! measures each fragment once.
//!
//! The cost model is GitHub's node limit: a connection costs one per node of its page
//! (`first`/`last`, else the default page) times one plus what each node asks for;
//! other fields cost what their children cost; fields that run aggregations, model fits
//! or jobs add a declared weight.

use std::collections::HashMap;

use async_graphql::parser::types::{
    Directive, DocumentOperations, ExecutableDocument, Selection, SelectionSet, ServiceDocument,
    Type, TypeKind, TypeSystemDefinition,
};
use async_graphql::{Positioned, Value, Variables};

use super::pagination::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE};

/// Deepest bracket nesting (`{`, `[`, `(`) accepted in a document's text. A CRM screen
/// needs about 20 (the depth limit is 12 levels of selections; segment rules add a few
/// levels of values); the parser's stack use per level makes a few thousand fatal.
pub const MAX_NESTING: usize = 64;
/// Most fields a document may hold once every fragment spread is replaced by its
/// fragment (what validation walks).
pub const MAX_FIELDS: u64 = 50_000;
/// Most cost an operation may have (see the module documentation).
pub const MAX_COST: u64 = 500_000;

/// Fields that run an aggregation, a model fit or a job, and what each counts as
/// (in nodes: `valueBacktest` at 100,000 allows five per request).
pub const WEIGHTED_FIELDS: &[(&str, &str, u64)] = &[
    ("Query", "valueBacktest", 100_000),
    ("Query", "previewSegment", 20_000),
    ("Query", "lifecycleSummary", 20_000),
    // Each scans the answers in its period (the queue: every customer's latest NPS
    // answer), so they run on the bounded pool and can be cancelled.
    ("Query", "satisfaction", 20_000),
    ("Query", "feedbackTopics", 20_000),
    ("Query", "detractorFollowUps", 20_000),
    // Groups every referred customer by referrer to rank them.
    ("Query", "topAdvocates", 20_000),
    // Compares the lapsed and retained customers of the whole base: seconds at a million.
    ("Query", "churnDrivers", 100_000),
    ("Query", "rfmMatrix", 1_000),
    ("Query", "valueTiers", 1_000),
    ("Segment", "profile", 10_000),
    ("Segment", "explain", 1_000),
    ("Mutation", "refreshSegment", 100_000),
    ("Mutation", "runJob", 250_000),
];

/// A weight from which a field counts as heavy: requests selecting one run on the
/// bounded pool.
pub const HEAVY_WEIGHT: u64 = 1_000;

/// Directives a document may use: the schema defines no custom ones.
const KNOWN_DIRECTIVES: &[&str] = &["skip", "include"];

/// Why a document is refused; the message is shown to the client as is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refusal {
    pub message: String,
    /// The computed cost and its limit, when the cost is what was refused.
    pub cost: Option<(u64, u64)>,
}

impl Refusal {
    fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            cost: None,
        }
    }
}

/// Refuses text nested deeper than `MAX_NESTING` brackets, ignoring brackets inside
/// strings, block strings and comments. Linear in the text and recursion-free, so it is
/// safe on any body.
pub fn check_nesting(query: &str) -> Result<(), Refusal> {
    let bytes = query.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'#' => {
                while i < bytes.len() && bytes[i] != b'\n' && bytes[i] != b'\r' {
                    i += 1;
                }
            }
            b'"' if bytes[i..].starts_with(b"\"\"\"") => {
                i += 3;
                while i < bytes.len() && !bytes[i..].starts_with(b"\"\"\"") {
                    // `\"""` is an escaped triple quote inside a block string.
                    i += if bytes[i..].starts_with(b"\\\"\"\"") {
                        4
                    } else {
                        1
                    };
                }
                i += 2;
            }
            b'"' => {
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' && bytes[i] != b'\n' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
            }
            b'{' | b'[' | b'(' => {
                depth += 1;
                if depth > MAX_NESTING {
                    return Err(Refusal::new(format!(
                        "the document nests brackets more than {MAX_NESTING} deep"
                    )));
                }
            }
            b'}' | b']' | b')' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// What the schema says about each object's fields, read once from its SDL.
#[derive(Debug, Default)]
pub struct CostModel {
    /// Type → field → what selecting it means.
    types: HashMap<String, HashMap<String, FieldInfo>>,
}

#[derive(Clone, Debug)]
struct FieldInfo {
    /// The named type the field returns (lists and non-null stripped).
    returns: String,
    /// A Relay connection: its children count once per node of the page.
    connection: bool,
    weight: u64,
}

/// The measure of one document, before it runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Measure {
    /// Fields once fragments are expanded, over every definition.
    pub fields: u64,
    /// Cost of the operation that will run.
    pub cost: u64,
    /// The operation selects a field of weight `HEAVY_WEIGHT` or more.
    pub heavy: bool,
    /// The operation that will run is a mutation.
    pub mutation: bool,
}

/// The limits the HTTP handler applies around execution.
#[derive(Debug)]
pub struct RequestLimits {
    pub model: CostModel,
    /// Wall-clock budget of a query (mutations run to the end: stopping one half-way
    /// would leave its work half-done).
    pub timeout: std::time::Duration,
    /// Requests selecting heavy fields wait here, so that a few of them cannot take
    /// every worker while cheap requests queue behind them.
    pub heavy: tokio::sync::Semaphore,
}

impl RequestLimits {
    /// `heavy_permits` requests with heavy fields run at once (at least one).
    pub fn new(timeout: std::time::Duration, heavy_permits: usize) -> anyhow::Result<Self> {
        Ok(Self {
            model: CostModel::from_sdl(&super::sdl())?,
            timeout,
            heavy: tokio::sync::Semaphore::new(heavy_permits.max(1)),
        })
    }
}

impl CostModel {
    /// Reads field types from the schema's SDL.
    pub fn from_sdl(sdl: &str) -> anyhow::Result<Self> {
        let document: ServiceDocument = async_graphql::parser::parse_schema(sdl)
            .map_err(|error| anyhow::anyhow!("the schema's SDL does not parse: {error}"))?;
        let mut types = HashMap::new();
        for definition in document.definitions {
            let TypeSystemDefinition::Type(definition) = definition else {
                continue;
            };
            let definition = definition.node;
            let fields = match definition.kind {
                TypeKind::Object(object) => object.fields,
                TypeKind::Interface(interface) => interface.fields,
                _ => continue,
            };
            let type_name = definition.name.node.to_string();
            let fields = fields
                .into_iter()
                .map(|field| {
                    let field = field.node;
                    let name = field.name.node.to_string();
                    let returns = named_type(&field.ty.node);
                    let weight = WEIGHTED_FIELDS
                        .iter()
                        .find(|(t, f, _)| *t == type_name && *f == name)
                        .map_or(0, |(_, _, weight)| *weight);
                    let info = FieldInfo {
                        connection: returns.ends_with("Connection"),
                        returns,
                        weight,
                    };
                    (name, info)
                })
                .collect();
            types.insert(type_name, fields);
        }
        Ok(Self { types })
    }

    fn field(&self, type_name: Option<&str>, field: &str) -> Option<&FieldInfo> {
        self.types.get(type_name?)?.get(field)
    }

    /// Measures a parsed document: refuses unknown directives, fragment cycles, more
    /// than `MAX_FIELDS` expanded fields and an operation costing more than `MAX_COST`.
    pub fn measure(
        &self,
        document: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Variables,
    ) -> Result<Measure, Refusal> {
        let mut walk = Walk {
            model: self,
            document,
            variables,
            fragments: HashMap::new(),
        };
        let mut fields = 0u64;
        for name in document.fragments.keys() {
            fields = fields.saturating_add(walk.fragment(name.as_str())?.fields);
        }
        let mut measure = Measure::default();
        for (name, operation) in document.operations.iter() {
            let root = match operation.node.ty {
                async_graphql::parser::types::OperationType::Query => "Query",
                async_graphql::parser::types::OperationType::Mutation => "Mutation",
                async_graphql::parser::types::OperationType::Subscription => "Subscription",
            };
            check_directives(&operation.node.directives)?;
            for variable in &operation.node.variable_definitions {
                check_directives(&variable.node.directives)?;
            }
            let size = walk.selection_set(Some(root), &operation.node.selection_set)?;
            fields = fields.saturating_add(size.fields);
            let runs = match (&document.operations, operation_name) {
                (DocumentOperations::Multiple(_), Some(wanted)) => {
                    name.is_some_and(|name| name.as_str() == wanted)
                }
                _ => true,
            };
            if runs {
                measure.mutation |= root == "Mutation";
                measure.cost = measure.cost.saturating_add(size.cost);
                measure.heavy |= size.heavy;
            }
        }
        measure.fields = fields;
        if fields > MAX_FIELDS {
            return Err(Refusal::new(format!(
                "the document expands to more than {MAX_FIELDS} fields once its fragments are \
                 spread; ask for less or use fewer nested fragment spreads"
            )));
        }
        if measure.cost > MAX_COST {
            return Err(Refusal {
                message: format!(
                    "the query costs {} (the nodes of every page it asks for, pages inside \
                     pages multiplied; backtests, previews, profiles, summaries and jobs \
                     count more), more than the limit of {MAX_COST}; ask for smaller pages \
                     or fewer fields",
                    measure.cost
                ),
                cost: Some((measure.cost, MAX_COST)),
            });
        }
        Ok(measure)
    }
}

/// A fragment's or selection set's size, computed once per fragment.
#[derive(Clone, Copy, Debug, Default)]
struct Size {
    fields: u64,
    cost: u64,
    heavy: bool,
}

enum Memo {
    InProgress,
    Done(Size),
}

struct Walk<'a> {
    model: &'a CostModel,
    document: &'a ExecutableDocument,
    variables: &'a Variables,
    fragments: HashMap<&'a str, Memo>,
}

impl<'a> Walk<'a> {
    fn fragment(&mut self, name: &'a str) -> Result<Size, Refusal> {
        match self.fragments.get(name) {
            Some(Memo::Done(size)) => return Ok(*size),
            Some(Memo::InProgress) => {
                return Err(Refusal::new(format!(
                    "fragment {name} spreads itself (directly or through other fragments)"
                )));
            }
            None => {}
        }
        let Some(fragment) = self.document.fragments.get(name) else {
            // Unknown fragments are reported by validation.
            return Ok(Size::default());
        };
        self.fragments.insert(name, Memo::InProgress);
        check_directives(&fragment.node.directives)?;
        let on = fragment.node.type_condition.node.on.node.as_str();
        let size = self.selection_set(Some(on), &fragment.node.selection_set)?;
        self.fragments.insert(name, Memo::Done(size));
        Ok(size)
    }

    fn selection_set(
        &mut self,
        on: Option<&'a str>,
        set: &'a Positioned<SelectionSet>,
    ) -> Result<Size, Refusal> {
        let mut total = Size::default();
        for selection in &set.node.items {
            let size = match &selection.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    check_directives(&field.directives)?;
                    // The model outlives the walk, so what it says borrows for `'a`.
                    let model: &'a CostModel = self.model;
                    let info = model.field(on, field.name.node.as_str());
                    let child = self.selection_set(
                        info.map(|info| info.returns.as_str()),
                        &field.selection_set,
                    )?;
                    let weight = info.map_or(0, |info| info.weight);
                    let cost = if info.is_some_and(|info| info.connection) {
                        // Each node of the page, and what is asked of each.
                        self.page_size(field)
                            .saturating_mul(child.cost.saturating_add(1))
                    } else {
                        child.cost
                    };
                    Size {
                        fields: child.fields.saturating_add(1),
                        cost: weight.saturating_add(cost),
                        heavy: child.heavy || weight >= HEAVY_WEIGHT,
                    }
                }
                Selection::FragmentSpread(spread) => {
                    check_directives(&spread.node.directives)?;
                    self.fragment(spread.node.fragment_name.node.as_str())?
                }
                Selection::InlineFragment(inline) => {
                    check_directives(&inline.node.directives)?;
                    match &inline.node.type_condition {
                        Some(condition) => self.selection_set(
                            Some(condition.node.on.node.as_str()),
                            &inline.node.selection_set,
                        )?,
                        None => self.selection_set(on, &inline.node.selection_set)?,
                    }
                }
            };
            total = Size {
                fields: total.fields.saturating_add(size.fields),
                cost: total.cost.saturating_add(size.cost),
                heavy: total.heavy || size.heavy,
            };
        }
        Ok(total)
    }

    /// The page a connection field asks for: `first` or `last` (a literal or a
    /// variable), else the default page, never more than the largest page.
    fn page_size(&self, field: &async_graphql::parser::types::Field) -> u64 {
        let requested = ["first", "last"].iter().find_map(|name| {
            let value = field.get_argument(name)?.node.clone();
            let value =
                value.into_const_with(|variable| self.variables.get(&variable).cloned().ok_or(()));
            let number = match value {
                Ok(Value::Number(number)) => number.as_u64(),
                _ => None,
            };
            Some(number.unwrap_or(DEFAULT_PAGE_SIZE as u64))
        });
        requested
            .unwrap_or(DEFAULT_PAGE_SIZE as u64)
            .min(MAX_PAGE_SIZE as u64)
    }
}

fn check_directives(directives: &[Positioned<Directive>]) -> Result<(), Refusal> {
    for directive in directives {
        let name = directive.node.name.node.as_str();
        if !KNOWN_DIRECTIVES.contains(&name) {
            return Err(Refusal::new(format!(
                "unknown directive @{name}; this API knows @skip and @include"
            )));
        }
    }
    Ok(())
}

fn named_type(ty: &Type) -> String {
    match &ty.base {
        async_graphql::parser::types::BaseType::Named(name) => name.to_string(),
        async_graphql::parser::types::BaseType::List(inner) => named_type(inner),
    }
}

/// Objects in a response's data: the nodes a request actually returned.
pub fn returned_nodes(value: &async_graphql::Value) -> u64 {
    let mut count = 0u64;
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(object) => {
                count += 1;
                stack.extend(object.values());
            }
            Value::List(items) => stack.extend(items.iter()),
            _ => {}
        }
    }
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model() -> CostModel {
        CostModel::from_sdl(&crate::graphql::sdl()).unwrap()
    }

    fn measure(query: &str) -> Result<Measure, Refusal> {
        let document = async_graphql::parser::parse_query(query).unwrap();
        model().measure(&document, None, &Variables::default())
    }

    #[test]
    fn every_weighted_field_exists_in_the_schema() {
        let model = model();
        for (type_name, field, _) in WEIGHTED_FIELDS {
            assert!(
                model.field(Some(type_name), field).is_some(),
                "{type_name}.{field} is weighted but not in the schema"
            );
        }
    }

    #[test]
    fn brackets_in_strings_and_comments_do_not_count() {
        let deep = "{".repeat(MAX_NESTING + 1);
        let query =
            format!("# {deep}\n{{ a(x: \"{deep}\", y: \"\"\"{deep} \\\"\"\" {deep}\"\"\") }}");
        assert_eq!(check_nesting(&query), Ok(()));
        assert!(check_nesting(&format!("{{ a(x: {deep}")).is_err());
    }

    #[test]
    fn connections_multiply_their_children_by_the_page() {
        let m = measure(
            "{ customers(first: 100) { nodes { id orders(first: 10) { nodes { id } } } } }",
        )
        .unwrap();
        // 100 customers, each with 10 orders.
        assert_eq!(m.cost, 100 * (1 + 10));
        assert!(!m.heavy);
    }

    #[test]
    fn fragments_are_measured_once_however_often_they_are_spread() {
        let mut query = String::from("query { customer(id: \"1\") { ...F0 } }\n");
        for level in 0..30 {
            let next = level + 1;
            query.push_str(&format!(
                "fragment F{level} on Customer {{ ...F{next} ...F{next} }}\n"
            ));
        }
        query.push_str("fragment F30 on Customer { id }\n");
        let refusal = measure(&query).unwrap_err();
        assert!(refusal.message.contains("fields"), "{refusal:?}");
    }

    #[test]
    fn fragment_cycles_are_refused() {
        assert!(
            measure("{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }").is_err()
        );
    }
}
