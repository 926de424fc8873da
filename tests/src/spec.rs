//! The OpenAPI spec as test data: its operations, and its component schemas
//! converted to JSON Schema (2020-12) with a validator for each.
//!
//! OpenAPI 3.0 schemas are not quite JSON Schema. [`to_json_schema`] converts:
//!
//! - `nullable: true` -> `type: [T, "null"]` (or `anyOf: [.., {type: null}]`
//!   when the schema has no `type`, as with `allOf: [$ref]`);
//! - `$ref: '#/components/schemas/X'` -> `$ref: '#/$defs/X'`;
//! - `example`, `xml`, `externalDocs`, `discriminator` are dropped (not
//!   keywords);
//! - the boolean `exclusiveMinimum`/`exclusiveMaximum` of 3.0 -> the numeric
//!   form;
//! - `format: int64`/`int32` -> the range of that integer (JSON Schema has no
//!   such formats, and the generated Rust types use `i64`).
//!
//! Every validator is built offline: the only `$ref`s are local `#/$defs/..`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{Map, Value, json};

/// The path of the workspace's spec.
pub const SPEC_PATH: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/writer-jobs.yaml");

/// One parameter of an operation (path or query).
#[derive(Debug, Clone)]
pub struct Param {
    /// Its name.
    pub name: String,
    /// Whether it must be given.
    pub required: bool,
    /// Its schema, converted to JSON Schema.
    pub schema: Value,
}

/// One operation of the spec: method, path template, parameters, request
/// and response schemas.
#[derive(Debug, Clone)]
pub struct Operation {
    /// The `operationId`.
    pub id: String,
    /// The HTTP method, upper case.
    pub method: String,
    /// The path template, like `/v1/applications/jobs/{job_id}`.
    pub path: String,
    /// Path parameters.
    pub path_params: Vec<Param>,
    /// Query parameters.
    pub query_params: Vec<Param>,
    /// The JSON request body's schema, if the operation takes a body.
    pub request_body: Option<Value>,
    /// Whether the body is required.
    pub request_body_required: bool,
    /// Status code (`"200"`, `"404"`, or `"default"`) -> the JSON response
    /// body's schema (`None` for a response without a JSON body).
    pub responses: BTreeMap<String, Option<Value>>,
    /// The status codes whose response may also be `text/event-stream`
    /// (the streamed synchronous run).
    pub event_streams: BTreeSet<String>,
}

impl Operation {
    /// Whether `path` (without query) matches this operation's template;
    /// returns the path parameters' values when it does.
    pub fn match_path(&self, path: &str) -> Option<BTreeMap<String, String>> {
        let want: Vec<&str> = self.path.trim_matches('/').split('/').collect();
        let got: Vec<&str> = path.trim_matches('/').split('/').collect();
        if want.len() != got.len() {
            return None;
        }
        let mut params = BTreeMap::new();
        for (w, g) in want.iter().zip(&got) {
            if let Some(name) = w.strip_prefix('{').and_then(|w| w.strip_suffix('}')) {
                if g.is_empty() {
                    return None;
                }
                params.insert(name.to_string(), percent_decode(g));
            } else if w != g {
                return None;
            }
        }
        Some(params)
    }

    /// How specific the template is: more literal (non-parameter) segments
    /// first, then a later first parameter (a literal beats a parameter at
    /// the same position, as routers do).
    fn specificity(&self) -> (usize, usize) {
        let segments: Vec<&str> = self.path.split('/').collect();
        let literals = segments.iter().filter(|s| !s.starts_with('{')).count();
        let first_param = segments
            .iter()
            .position(|s| s.starts_with('{'))
            .unwrap_or(segments.len());
        (literals, first_param)
    }

    /// Whether the response for `status` may be `text/event-stream`.
    pub fn streams(&self, status: u16) -> bool {
        self.event_streams.contains(&status.to_string())
    }

    /// The schema of the response for `status`, falling back to `default`;
    /// `None` when the status is not declared at all.
    pub fn response_schema(&self, status: u16) -> Option<&Option<Value>> {
        self.responses
            .get(&status.to_string())
            .or_else(|| self.responses.get(&format!("{}XX", status / 100)))
            .or_else(|| self.responses.get("default"))
    }
}

/// Decodes `%XX` escapes (bytes that are not valid UTF-8 are replaced).
pub fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(hex) = std::str::from_utf8(&bytes[i + 1..i + 3])
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Why a spec could not be loaded.
#[derive(Debug)]
pub struct SpecError(pub String);

impl fmt::Display for SpecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SpecError {}

fn err(msg: impl Into<String>) -> SpecError {
    SpecError(msg.into())
}

/// The loaded spec: the raw document, its operations, and its component
/// schemas as JSON Schema with validators.
pub struct Spec {
    /// The whole document, as JSON.
    pub doc: Value,
    operations: Vec<Operation>,
    /// Component name -> converted JSON Schema (its refs point into `defs`).
    schemas: BTreeMap<String, Value>,
    /// Serialized schema -> its validator (components and inline schemas).
    validators: BTreeMap<String, jsonschema::Validator>,
}

impl fmt::Debug for Spec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Spec")
            .field("operations", &self.operations.len())
            .field("schemas", &self.schemas.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Spec {
    /// Loads the workspace's spec ([`SPEC_PATH`]); panics with the reason
    /// when it cannot.
    pub fn load() -> Spec {
        let text = std::fs::read_to_string(SPEC_PATH)
            .unwrap_or_else(|e| panic!("cannot read {SPEC_PATH}: {e}"));
        Spec::from_yaml(&text).unwrap_or_else(|e| panic!("{SPEC_PATH}: {e}"))
    }

    /// Parses a spec from YAML text.
    pub fn from_yaml(text: &str) -> Result<Spec, SpecError> {
        let doc: Value = serde_yaml::from_str(text).map_err(|e| err(format!("YAML: {e}")))?;
        Spec::from_value(doc)
    }

    /// Builds from a spec document already parsed to JSON.
    pub fn from_value(doc: Value) -> Result<Spec, SpecError> {
        let components = doc
            .pointer("/components/schemas")
            .and_then(Value::as_object)
            .ok_or_else(|| err("no components.schemas"))?;
        let schemas: BTreeMap<String, Value> = components
            .iter()
            .map(|(name, schema)| (name.clone(), to_json_schema(schema)))
            .collect();
        let mut spec = Spec {
            operations: Vec::new(),
            schemas,
            validators: BTreeMap::new(),
            doc,
        };
        spec.operations = spec.read_operations()?;
        let mut wanted: Vec<Value> = spec
            .schemas
            .keys()
            .map(|name| json!({ "$ref": format!("#/$defs/{name}") }))
            .collect();
        for op in &spec.operations {
            for p in op.path_params.iter().chain(&op.query_params) {
                wanted.push(p.schema.clone());
            }
            wanted.extend(op.request_body.iter().cloned());
            wanted.extend(op.responses.values().flatten().cloned());
        }
        for schema in wanted {
            spec.compile(&schema)?;
        }
        Ok(spec)
    }

    fn compile(&mut self, schema: &Value) -> Result<(), SpecError> {
        let key = schema.to_string();
        if self.validators.contains_key(&key) {
            return Ok(());
        }
        let document = self.document(schema);
        let validator = jsonschema::options()
            .with_draft(jsonschema::Draft::Draft202012)
            .should_validate_formats(true)
            .build(&document)
            .map_err(|e| err(format!("schema {key} does not compile: {e}")))?;
        self.validators.insert(key, validator);
        Ok(())
    }

    /// A self-contained JSON Schema document for `schema`: the schema with
    /// every component under `$defs`.
    pub fn document(&self, schema: &Value) -> Value {
        let mut document = match schema {
            Value::Object(map) => map.clone(),
            other => {
                let mut m = Map::new();
                m.insert("allOf".into(), json!([other]));
                m
            }
        };
        document.insert(
            "$schema".into(),
            json!("https://json-schema.org/draft/2020-12/schema"),
        );
        document.insert("$defs".into(), json!(self.schemas));
        Value::Object(document)
    }

    /// The operations, in the spec's order.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The operation with this `operationId`.
    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations.iter().find(|op| op.id == id)
    }

    /// The most specific operation whose method and path template match,
    /// with its path parameters.
    pub fn find_operation(
        &self,
        method: &str,
        path: &str,
    ) -> Option<(&Operation, BTreeMap<String, String>)> {
        self.operations
            .iter()
            .filter(|op| op.method.eq_ignore_ascii_case(method))
            .filter_map(|op| op.match_path(path).map(|params| (op, params)))
            .max_by_key(|(op, _)| op.specificity())
    }

    /// The component schema names.
    pub fn schema_names(&self) -> impl Iterator<Item = &str> {
        self.schemas.keys().map(String::as_str)
    }

    /// A component schema, converted to JSON Schema (refs to `#/$defs/..`).
    pub fn schema(&self, name: &str) -> Option<&Value> {
        self.schemas.get(name)
    }

    /// A component schema as written in the spec (OpenAPI 3.0).
    pub fn openapi_schema(&self, name: &str) -> Option<&Value> {
        self.doc.pointer(&format!("/components/schemas/{name}"))
    }

    /// Validates `instance` against component `name`; the problems, one per
    /// line (`<instance path>: <message>`), or an empty list.
    pub fn validate(&self, name: &str, instance: &Value) -> Vec<String> {
        if !self.schemas.contains_key(name) {
            return vec![format!("the spec has no schema `{name}`")];
        }
        self.validate_with(&json!({ "$ref": format!("#/$defs/{name}") }), instance)
    }

    /// Validates `instance` against a converted schema (one of the spec's own
    /// or any schema whose refs point at `#/$defs/<component>`).
    pub fn validate_with(&self, schema: &Value, instance: &Value) -> Vec<String> {
        let key = schema.to_string();
        let built;
        let validator = match self.validators.get(&key) {
            Some(v) => v,
            None => {
                built = match jsonschema::options()
                    .with_draft(jsonschema::Draft::Draft202012)
                    .should_validate_formats(true)
                    .build(&self.document(schema))
                {
                    Ok(v) => v,
                    Err(e) => return vec![format!("schema does not compile: {e}")],
                };
                &built
            }
        };
        validator
            .iter_errors(instance)
            .map(|e| {
                let path = e.instance_path().to_string();
                let path = if path.is_empty() { "/".into() } else { path };
                format!("{path}: {e}")
            })
            .collect()
    }

    fn resolve<'a>(&'a self, value: &'a Value) -> Result<&'a Value, SpecError> {
        let mut value = value;
        for _ in 0..8 {
            match value.get("$ref").and_then(Value::as_str) {
                Some(reference) => {
                    let pointer = reference
                        .strip_prefix('#')
                        .ok_or_else(|| err(format!("remote reference {reference}")))?;
                    value = self
                        .doc
                        .pointer(pointer)
                        .ok_or_else(|| err(format!("dangling reference {reference}")))?;
                }
                None => return Ok(value),
            }
        }
        Err(err("reference chain too long"))
    }

    fn read_params(
        &self,
        list: Option<&Value>,
        into: &mut Vec<Param>,
        into_query: &mut Vec<Param>,
    ) -> Result<(), SpecError> {
        for p in list.and_then(Value::as_array).into_iter().flatten() {
            let p = self.resolve(p)?;
            let name = p["name"]
                .as_str()
                .ok_or_else(|| err("parameter without name"))?;
            let param = Param {
                name: name.to_string(),
                required: p["required"].as_bool().unwrap_or(false),
                schema: to_json_schema(p.get("schema").unwrap_or(&json!({}))),
            };
            let list = match p["in"].as_str() {
                Some("path") => &mut *into,
                Some("query") => &mut *into_query,
                _ => continue,
            };
            list.retain(|q: &Param| q.name != param.name);
            list.push(param);
        }
        Ok(())
    }

    fn json_schema_of(&self, content_holder: &Value) -> Result<Option<Value>, SpecError> {
        let holder = self.resolve(content_holder)?;
        Ok(holder
            .pointer("/content/application~1json/schema")
            .map(to_json_schema))
    }

    fn read_operations(&self) -> Result<Vec<Operation>, SpecError> {
        let mut ops = Vec::new();
        let paths = self
            .doc
            .get("paths")
            .and_then(Value::as_object)
            .ok_or_else(|| err("no paths"))?;
        for (path, item) in paths {
            for method in [
                "get", "put", "post", "delete", "options", "head", "patch", "trace",
            ] {
                let Some(op) = item.get(method) else { continue };
                let id = op["operationId"]
                    .as_str()
                    .unwrap_or("<no operationId>")
                    .to_string();
                let mut path_params = Vec::new();
                let mut query_params = Vec::new();
                self.read_params(item.get("parameters"), &mut path_params, &mut query_params)?;
                self.read_params(op.get("parameters"), &mut path_params, &mut query_params)?;
                let (request_body, request_body_required) = match op.get("requestBody") {
                    Some(body) => (
                        self.json_schema_of(body)?,
                        self.resolve(body)?["required"].as_bool().unwrap_or(false),
                    ),
                    None => (None, false),
                };
                let mut responses = BTreeMap::new();
                let mut event_streams = BTreeSet::new();
                for (code, response) in op
                    .get("responses")
                    .and_then(Value::as_object)
                    .into_iter()
                    .flatten()
                {
                    responses.insert(code.clone(), self.json_schema_of(response)?);
                    if self
                        .resolve(response)?
                        .pointer("/content/text~1event-stream")
                        .is_some()
                    {
                        event_streams.insert(code.clone());
                    }
                }
                ops.push(Operation {
                    id,
                    method: method.to_ascii_uppercase(),
                    path: path.clone(),
                    path_params,
                    query_params,
                    request_body,
                    request_body_required,
                    responses,
                    event_streams,
                });
            }
        }
        Ok(ops)
    }
}

/// Converts one OpenAPI 3.0 schema to JSON Schema 2020-12 (see the module
/// documentation for what changes).
pub fn to_json_schema(schema: &Value) -> Value {
    let Value::Object(map) = schema else {
        return schema.clone();
    };
    if let Some(reference) = map.get("$ref").and_then(Value::as_str) {
        // In OpenAPI 3.0 a $ref's siblings are ignored.
        let target = reference
            .strip_prefix("#/components/schemas/")
            .map(|name| format!("#/$defs/{name}"))
            .unwrap_or_else(|| reference.to_string());
        return json!({ "$ref": target });
    }
    let mut out = Map::new();
    for (key, value) in map {
        match key.as_str() {
            "nullable" | "example" | "xml" | "externalDocs" | "discriminator" => {}
            "properties" | "patternProperties" => {
                let props = value
                    .as_object()
                    .map(|props| {
                        props
                            .iter()
                            .map(|(k, v)| (k.clone(), to_json_schema(v)))
                            .collect::<Map<_, _>>()
                    })
                    .unwrap_or_default();
                out.insert(key.clone(), Value::Object(props));
            }
            "items" | "not" | "additionalProperties" => {
                out.insert(key.clone(), to_json_schema(value));
            }
            "allOf" | "anyOf" | "oneOf" => {
                let list = value
                    .as_array()
                    .map(|l| l.iter().map(to_json_schema).collect())
                    .unwrap_or_default();
                out.insert(key.clone(), Value::Array(list));
            }
            "exclusiveMinimum" | "exclusiveMaximum" if value.is_boolean() => {}
            _ => {
                out.insert(key.clone(), value.clone());
            }
        }
    }
    for (flag, bound) in [
        ("exclusiveMinimum", "minimum"),
        ("exclusiveMaximum", "maximum"),
    ] {
        if map.get(flag) == Some(&Value::Bool(true))
            && let Some(b) = out.remove(bound)
        {
            out.insert(flag.into(), b);
        }
    }
    if out.get("type").and_then(Value::as_str) == Some("integer") {
        let (min, max): (Value, Value) = match map.get("format").and_then(Value::as_str) {
            Some("int64") => (i64::MIN.into(), i64::MAX.into()),
            Some("int32") => (i32::MIN.into(), i32::MAX.into()),
            _ => (Value::Null, Value::Null),
        };
        if !min.is_null() {
            out.remove("format");
            out.entry("minimum").or_insert(min);
            out.entry("maximum").or_insert(max);
        }
    }
    if map.get("nullable") == Some(&Value::Bool(true)) {
        if let Some(t) = out.get("type").cloned() {
            let mut types = match t {
                Value::Array(list) => list,
                one => vec![one],
            };
            if !types.contains(&json!("null")) {
                types.push(json!("null"));
            }
            out.insert("type".into(), Value::Array(types));
            if let Some(Value::Array(values)) = out.get_mut("enum")
                && !values.contains(&Value::Null)
            {
                values.push(Value::Null);
            }
        } else {
            let description = out.remove("description");
            let mut wrapped = Map::new();
            if let Some(d) = description {
                wrapped.insert("description".into(), d);
            }
            wrapped.insert(
                "anyOf".into(),
                json!([Value::Object(out), { "type": "null" }]),
            );
            return Value::Object(wrapped);
        }
    }
    Value::Object(out)
}
