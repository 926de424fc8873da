//! The spec itself: it parses as OpenAPI 3.0, every operation is documented,
//! every schema has a description and an example, and every error response
//! shares the one `Error` schema (progenitor requires a single error type).

use openapiv3::{OpenAPI, ReferenceOr, Response};

fn spec() -> OpenAPI {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/writer-jobs.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn resolve<'a>(spec: &'a OpenAPI, response: &'a ReferenceOr<Response>) -> &'a Response {
    match response {
        ReferenceOr::Item(item) => item,
        ReferenceOr::Reference { reference } => {
            let name = reference.rsplit('/').next().unwrap();
            match &spec.components.as_ref().unwrap().responses[name] {
                ReferenceOr::Item(item) => item,
                ReferenceOr::Reference { .. } => panic!("nested response reference {reference}"),
            }
        }
    }
}

#[test]
fn every_operation_is_documented() {
    let spec = spec();
    assert!(spec.openapi.starts_with("3.0"));
    let mut ids = Vec::new();
    for (path, method, op) in spec.operations() {
        let id = op
            .operation_id
            .clone()
            .unwrap_or_else(|| panic!("{method} {path}: no operationId"));
        assert!(op.summary.is_some(), "{id}: no summary");
        assert!(op.description.is_some(), "{id}: no description");
        assert!(
            op.responses
                .responses
                .contains_key(&openapiv3::StatusCode::Code(200)),
            "{id}: no 200"
        );
        for code in [400, 401, 403, 404, 429, 500, 503, 504] {
            let response = op
                .responses
                .responses
                .get(&openapiv3::StatusCode::Code(code))
                .unwrap_or_else(|| panic!("{id}: no {code} response"));
            let response = resolve(&spec, response);
            assert!(
                !response.description.is_empty(),
                "{id} {code}: no description"
            );
            let schema = &response.content["application/json"].schema;
            assert!(
                matches!(schema, Some(ReferenceOr::Reference { reference }) if reference == "#/components/schemas/Error"),
                "{id} {code}: error responses must use the Error schema"
            );
        }
        ids.push(id);
    }
    ids.sort();
    assert_eq!(
        ids,
        [
            "create_job",
            "get_application",
            "get_job",
            "list_jobs",
            "retry_job",
            "run_application"
        ]
    );
}

#[test]
fn every_schema_has_a_description_and_an_example() {
    let spec = spec();
    let schemas = &spec.components.as_ref().unwrap().schemas;
    assert!(schemas.len() >= 10);
    for (name, schema) in schemas {
        let ReferenceOr::Item(schema) = schema else {
            panic!("{name} is a bare reference");
        };
        assert!(
            schema.schema_data.description.is_some(),
            "{name}: no description"
        );
        assert!(schema.schema_data.example.is_some(), "{name}: no example");
    }
}

#[test]
fn identifiers_are_plain_strings_not_uuids() {
    // A generated `uuid::Uuid` would reject ids like the guide's `123-456-789`.
    fn formats(value: &serde_yaml::Value, found: &mut Vec<String>) {
        match value {
            serde_yaml::Value::Mapping(map) => {
                for (key, value) in map {
                    if key.as_str() == Some("format") {
                        found.extend(value.as_str().map(str::to_string));
                    }
                    formats(value, found);
                }
            }
            serde_yaml::Value::Sequence(items) => items.iter().for_each(|v| formats(v, found)),
            _ => {}
        }
    }
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../openapi/writer-jobs.yaml");
    let value: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut found = Vec::new();
    formats(&value, &mut found);
    assert!(
        found.iter().any(|f| f == "date-time"),
        "the walk finds formats"
    );
    assert!(!found.iter().any(|f| f == "uuid"), "{found:?}");
}

#[test]
fn bearer_security_applies_to_every_operation() {
    let spec = spec();
    let security = spec.security.as_ref().expect("global security");
    assert!(security.iter().any(|s| s.contains_key("bearerAuth")));
    let schemes = &spec.components.as_ref().unwrap().security_schemes;
    assert!(schemes.contains_key("bearerAuth"));
}
