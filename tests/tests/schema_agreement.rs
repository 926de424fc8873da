//! The spec's component schemas and the JSON Schemas that `schemars` derives
//! from the generated `writer-api` types agree: same properties, required
//! names, JSON types, formats, enums and nullability (see
//! `writer_jobs_tests::shape` for how the two spellings are reconciled).
//! When they drift, the test lists every difference, schema by schema.

use std::collections::BTreeMap;

use schemars::schema_for;
use serde_json::{Value, json};
use writer_api::types;
use writer_jobs_tests::Spec;
use writer_jobs_tests::shape::{diff, shape_of};

/// Every generated type, by the name of the spec schema it comes from.
fn generated_schemas() -> BTreeMap<&'static str, Value> {
    macro_rules! table {
        ($($name:ident),* $(,)?) => {
            BTreeMap::from([
                $((stringify!($name), serde_json::to_value(schema_for!(types::$name)).unwrap()),)*
            ])
        };
    }
    table![
        Application,
        ApplicationInput,
        ApplicationInputOptions,
        CreateJobResponse,
        Error,
        ErrorDetail,
        GenerateApplicationRequest,
        GenerateApplicationResponse,
        Job,
        JobInput,
        JobList,
        JobStatusFilter,
        Pagination,
        RetryJobResponse,
        RunApplicationRequest,
    ]
}

/// Per schema, the differences between the spec and the code.
fn drift(spec_schemas: &BTreeMap<String, Value>, code: &BTreeMap<&str, Value>) -> Vec<String> {
    let mut report = Vec::new();
    for (name, schema) in spec_schemas {
        let Some(derived) = code.get(name.as_str()) else {
            report.push(format!(
                "{name}: no generated type listed for this spec schema (add it to the table)"
            ));
            continue;
        };
        let differences = diff(&shape_of(schema), &shape_of(derived), name);
        if !differences.is_empty() {
            report.push(format!("{name}:\n    {}", differences.join("\n    ")));
        }
    }
    for name in code.keys() {
        if !spec_schemas.contains_key(*name) {
            report.push(format!(
                "{name}: a generated type with no schema in the spec"
            ));
        }
    }
    report
}

fn spec_schemas(spec: &Spec) -> BTreeMap<String, Value> {
    spec.schema_names()
        .map(|n| (n.to_string(), spec.openapi_schema(n).unwrap().clone()))
        .collect()
}

#[test]
fn generated_types_agree_with_the_spec_schemas() {
    let spec = Spec::load();
    let schemas = spec_schemas(&spec);
    assert_eq!(schemas.len(), 15, "the spec's component schemas");
    let report = drift(&schemas, &generated_schemas());
    assert!(
        report.is_empty(),
        "the generated types and the spec disagree:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_tolerant_strings_are_plain_strings_on_both_sides() {
    // The forward-compatibility design: what a newer server may extend is
    // a plain string, not an enum, in the spec AND in the generated types.
    let code = generated_schemas();
    for (schema, field) in [
        ("Job", "status"),
        ("CreateJobResponse", "status"),
        ("RetryJobResponse", "status"),
        ("ApplicationInput", "input_type"),
        ("Application", "type"),
        ("Application", "status"),
    ] {
        let derived = &code[schema]["properties"][field];
        assert_eq!(derived["type"], "string", "{schema}.{field}: {derived}");
        assert!(derived.get("enum").is_none(), "{schema}.{field} is an enum");
    }
    // Only the request parameter is strict.
    assert_eq!(
        code["JobStatusFilter"]["enum"],
        json!(["in_progress", "failed", "completed"])
    );
}

#[test]
fn no_generated_type_refuses_unknown_fields() {
    // `deny_unknown_fields` would show as `additionalProperties: false`.
    for (name, schema) in generated_schemas() {
        let mut stack = vec![&schema];
        while let Some(node) = stack.pop() {
            assert_ne!(
                node.get("additionalProperties"),
                Some(&Value::Bool(false)),
                "{name} refuses unknown fields"
            );
            match node {
                Value::Object(map) => stack.extend(map.values()),
                Value::Array(items) => stack.extend(items),
                _ => {}
            }
        }
    }
}

/// The differ itself: a spec that drifted in each way the test looks for
/// is reported, by schema and field.
#[test]
fn drift_is_reported_readably() {
    let spec = Spec::load();
    let mut schemas = spec_schemas(&spec);
    let job = schemas.get_mut("Job").unwrap();
    job["properties"]["status"] =
        json!({ "type": "string", "enum": ["in_progress", "completed", "failed"] });
    job["properties"]["priority"] = json!({ "type": "integer" });
    job["required"].as_array_mut().unwrap().push(json!("error"));
    job["properties"]["updated_at"]["format"] = json!("date");
    let error = schemas.get_mut("Error").unwrap();
    error["properties"]["code"] = json!({ "type": "integer", "nullable": true });
    schemas.get_mut("ApplicationInputOptions").unwrap()["properties"]["list"]["nullable"] =
        json!(true);
    schemas.get_mut("JobInput").unwrap()["properties"]["id"]["nullable"] = json!(true);
    schemas.insert("Brand".into(), json!({ "type": "object" }));

    let report = drift(&schemas, &generated_schemas()).join("\n");
    for expected in [
        "Job.status: enum differs",
        "Job.priority: in the spec, missing from the code",
        "Job.error: required in the spec only",
        "Job.updated_at: format differs: spec Some(\"date\"), code Some(\"date-time\")",
        "Error.code: type differs: spec integer, code string",
        "ApplicationInputOptions.list: the spec allows null, the code refuses it",
        "JobInput.id: nullable differs: spec true, code false",
        "Brand: no generated type listed",
    ] {
        assert!(
            report.contains(expected),
            "missing {expected:?} in:\n{report}"
        );
    }
    assert!(
        !report.contains("\nApplication:") && !report.contains("RetryJobResponse"),
        "unrelated schemas stay quiet:\n{report}"
    );
}
