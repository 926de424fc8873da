//! The shape of a schema, for comparing the spec's schemas with the JSON
//! Schemas that `schemars` derives from the generated Rust types.
//!
//! Both sides are reduced to the same [`Shape`]: JSON types (without
//! `null`), whether `null` is accepted, `format`, `enum` values, array items,
//! properties and required names, and references by schema name. This
//! resolves the ways the two spell the same thing: OpenAPI's
//! `nullable: true` and schemars' `type: [T, "null"]`; `allOf: [$ref]` (with
//! or without `nullable`) and schemars' `anyOf: [$ref, {type: null}]`;
//! `#/components/schemas/X` and `#/definitions/X`.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

/// What kind of value a schema describes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// A reference to the named schema.
    Ref(String),
    /// These JSON types (`null` excluded; see [`Shape::nullable`]).
    Types(BTreeSet<String>),
    /// No constraint that this module understands (e.g. a many-armed `anyOf`).
    Other(String),
}

/// A schema reduced to what must agree between the spec and the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shape {
    /// The kind of value.
    pub kind: Kind,
    /// Whether `null` is accepted.
    pub nullable: bool,
    /// The `format`, if any.
    pub format: Option<String>,
    /// The `enum` values (as JSON text), if any (`null` excluded).
    pub enum_values: Option<BTreeSet<String>>,
    /// The items of an array.
    pub items: Option<Box<Shape>>,
    /// The properties of an object.
    pub properties: BTreeMap<String, Shape>,
    /// The required property names.
    pub required: BTreeSet<String>,
}

/// Reduces an OpenAPI 3.0 or JSON Schema (draft 7, as schemars writes it)
/// schema to its [`Shape`].
pub fn shape_of(schema: &Value) -> Shape {
    let mut shape = Shape {
        kind: Kind::Types(BTreeSet::new()),
        nullable: schema["nullable"] == Value::Bool(true),
        format: schema["format"].as_str().map(str::to_string),
        enum_values: None,
        items: None,
        properties: BTreeMap::new(),
        required: BTreeSet::new(),
    };
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or(reference);
        shape.kind = Kind::Ref(name.to_string());
        return shape;
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        let Some(arms) = schema[key].as_array() else {
            continue;
        };
        let non_null: Vec<&Value> = arms.iter().filter(|a| a["type"] != "null").collect();
        let has_null = non_null.len() != arms.len();
        if non_null.len() == 1 {
            let mut inner = shape_of(non_null[0]);
            inner.nullable |= shape.nullable || has_null;
            return inner;
        }
        shape.kind = Kind::Other(format!("{key} with {} arms", arms.len()));
        return shape;
    }
    let types: Vec<String> = match &schema["type"] {
        Value::String(t) => vec![t.clone()],
        Value::Array(list) => list
            .iter()
            .filter_map(|t| t.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    };
    if types.iter().any(|t| t == "null") {
        shape.nullable = true;
    }
    let types: BTreeSet<String> = types.into_iter().filter(|t| t != "null").collect();
    shape.kind = if types.is_empty() {
        Kind::Other("no type".into())
    } else {
        Kind::Types(types)
    };
    if let Some(values) = schema["enum"].as_array() {
        shape.enum_values = Some(
            values
                .iter()
                .filter(|v| !v.is_null())
                .map(Value::to_string)
                .collect(),
        );
    }
    if schema.get("items").is_some() {
        shape.items = Some(Box::new(shape_of(&schema["items"])));
    }
    if let Some(props) = schema["properties"].as_object() {
        shape.properties = props
            .iter()
            .map(|(k, v)| (k.clone(), shape_of(v)))
            .collect();
    }
    if let Some(required) = schema["required"].as_array() {
        shape.required = required
            .iter()
            .filter_map(|r| r.as_str().map(str::to_string))
            .collect();
    }
    shape
}

/// Where a value sits, which decides how strictly nullability must agree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    /// A whole schema, an array item or a required property: must agree.
    Strict,
    /// An optional property: Rust's `Option` also accepts `null`, which is
    /// tolerance, not drift; only a spec-nullable value that the code would
    /// refuse as `null` is a difference.
    Optional,
}

/// The differences between the spec's shape and the code's, one line each,
/// prefixed with `path` (like `Job.status`). Empty when they agree.
pub fn diff(spec: &Shape, code: &Shape, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    diff_at(spec, code, path, Place::Strict, &mut out);
    out
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Ref(name) => format!("a reference to {name}"),
        Kind::Types(t) => t.iter().cloned().collect::<Vec<_>>().join("|"),
        Kind::Other(what) => what.clone(),
    }
}

fn diff_at(spec: &Shape, code: &Shape, path: &str, place: Place, out: &mut Vec<String>) {
    if spec.kind != code.kind {
        out.push(format!(
            "{path}: type differs: spec {}, code {}",
            describe(&spec.kind),
            describe(&code.kind)
        ));
    }
    match place {
        Place::Strict if spec.nullable != code.nullable => out.push(format!(
            "{path}: nullable differs: spec {}, code {}",
            spec.nullable, code.nullable
        )),
        Place::Optional if spec.nullable && !code.nullable => {
            out.push(format!("{path}: the spec allows null, the code refuses it"))
        }
        _ => {}
    }
    if spec.format != code.format {
        out.push(format!(
            "{path}: format differs: spec {:?}, code {:?}",
            spec.format, code.format
        ));
    }
    if spec.enum_values != code.enum_values {
        let show = |v: &Option<BTreeSet<String>>| match v {
            Some(values) => format!(
                "[{}]",
                values.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            None => "none".to_string(),
        };
        out.push(format!(
            "{path}: enum differs: spec {}, code {}",
            show(&spec.enum_values),
            show(&code.enum_values)
        ));
    }
    match (&spec.items, &code.items) {
        (Some(s), Some(c)) => diff_at(s, c, &format!("{path}[]"), Place::Strict, out),
        (None, None) => {}
        (s, c) => out.push(format!(
            "{path}: items differ: spec {}, code {}",
            if s.is_some() { "has items" } else { "none" },
            if c.is_some() { "has items" } else { "none" }
        )),
    }
    for name in spec.properties.keys() {
        if !code.properties.contains_key(name) {
            out.push(format!("{path}.{name}: in the spec, missing from the code"));
        }
    }
    for name in code.properties.keys() {
        if !spec.properties.contains_key(name) {
            out.push(format!("{path}.{name}: in the code, missing from the spec"));
        }
    }
    for name in spec.required.symmetric_difference(&code.required) {
        out.push(format!(
            "{path}.{name}: required in the {} only",
            if spec.required.contains(name) {
                "spec"
            } else {
                "code"
            }
        ));
    }
    for (name, s) in &spec.properties {
        if let Some(c) = code.properties.get(name) {
            let place = if spec.required.contains(name) {
                Place::Strict
            } else {
                Place::Optional
            };
            diff_at(s, c, &format!("{path}.{name}"), place, out);
        }
    }
}
