//! The OpenAPI -> JSON Schema conversion the other tests rely on, and the
//! spec's own examples and the seed documents validated with it.

use serde_json::{Value, json};
use writer_jobs_tests::Spec;
use writer_jobs_tests::spec::to_json_schema;

#[test]
fn nullable_refs_and_integer_formats_convert() {
    assert_eq!(
        to_json_schema(&json!({ "type": "string", "nullable": true, "example": "x" })),
        json!({ "type": ["string", "null"] })
    );
    assert_eq!(
        to_json_schema(&json!({
            "nullable": true, "description": "d",
            "allOf": [{ "$ref": "#/components/schemas/GenerateApplicationResponse" }]
        })),
        json!({
            "description": "d",
            "anyOf": [{ "allOf": [{ "$ref": "#/$defs/GenerateApplicationResponse" }] }, { "type": "null" }]
        })
    );
    assert_eq!(
        to_json_schema(&json!({ "type": "integer", "format": "int64", "minimum": 1 })),
        json!({ "type": "integer", "minimum": 1, "maximum": i64::MAX })
    );
    assert_eq!(
        to_json_schema(&json!({ "type": "number", "minimum": 0, "exclusiveMinimum": true })),
        json!({ "type": "number", "exclusiveMinimum": 0 })
    );
}

#[test]
fn nulls_are_valid_exactly_where_the_spec_says_nullable() {
    let spec = Spec::load();
    let job = json!({
        "id": "j", "status": "failed", "application_id": "a",
        "created_at": "2025-02-10T18:18:09Z",
        "updated_at": null, "completed_at": null, "data": null, "error": null
    });
    assert_eq!(spec.validate("Job", &job), Vec::<String>::new());
    for field in ["id", "status", "application_id", "created_at"] {
        let mut broken = job.clone();
        broken[field] = Value::Null;
        assert!(
            !spec.validate("Job", &broken).is_empty(),
            "{field}: null accepted"
        );
    }
    assert!(
        spec.validate(
            "Error",
            &json!({ "message": null, "code": null, "errors": null })
        )
        .is_empty()
    );
    assert!(
        !spec
            .validate("JobInput", &json!({ "id": "a", "value": null }))
            .is_empty()
    );
    // `status` in the request filter is strict; in a job it is any string.
    assert!(
        !spec
            .validate("JobStatusFilter", &json!("queued"))
            .is_empty()
    );
    assert!(spec.validate("Job", &json!({ "id": "j", "status": "queued", "application_id": "a", "created_at": "2025-02-10T18:18:09Z" })).is_empty());
}

#[test]
fn every_example_in_the_spec_is_valid() {
    let spec = Spec::load();
    let names: Vec<String> = spec.schema_names().map(String::from).collect();
    for name in &names {
        let example = &spec.openapi_schema(name).unwrap()["example"];
        assert!(!example.is_null(), "{name} has no example");
        assert_eq!(
            spec.validate(name, example),
            Vec::<String>::new(),
            "{name}'s example"
        );
    }
}

#[test]
fn the_seed_documents_are_valid() {
    let spec = Spec::load();
    let read = |name: &str| {
        let path = format!("{}/fixtures/seeds/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        serde_yaml::from_str::<Value>(&text).unwrap()
    };
    for (file, schema) in [
        ("guide-create-request.json", "GenerateApplicationRequest"),
        ("guide-create-response.json", "CreateJobResponse"),
        ("guide-job-completed.json", "Job"),
        ("reference-list-response.yaml", "JobList"),
    ] {
        assert_eq!(
            spec.validate(schema, &read(file)),
            Vec::<String>::new(),
            "{file}"
        );
    }
}

#[test]
fn operations_are_found_by_method_and_path() {
    let spec = Spec::load();
    assert_eq!(spec.operations().len(), 6);
    let (op, params) = spec
        .find_operation("GET", "/v1/applications/jobs/123-456")
        .unwrap();
    assert_eq!(op.id, "get_job");
    assert_eq!(params["job_id"], "123-456");
    // `jobs` as an application id still routes by the more literal template.
    let (op, params) = spec
        .find_operation("GET", "/v1/applications/jobs/jobs")
        .unwrap();
    assert_eq!(
        (op.id.as_str(), params["job_id"].as_str()),
        ("get_job", "jobs")
    );
    let (op, _) = spec
        .find_operation("POST", "/v1/applications/my%20app/jobs")
        .unwrap();
    assert_eq!(op.id, "create_job");
    assert!(op.request_body_required);
    let (op, _) = spec
        .find_operation("GET", "/v1/applications/a/jobs")
        .unwrap();
    let names: Vec<&str> = op.query_params.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["status", "offset", "limit"]);
    assert!(spec.find_operation("PUT", "/v1/applications/a").is_none());
    assert!(spec.find_operation("GET", "/v1/applications").is_none());
}
