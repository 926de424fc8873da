//! The example bodies of the two seed documents (Writer's async guide and
//! the list-jobs API reference), exactly as written there, decode with the
//! generated `writer-api` types.

use writer_api::types;

fn fixture(name: &str) -> String {
    let path = format!("{}/fixtures/seeds/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

#[test]
fn guide_create_response_with_job_id_decodes() {
    let created: types::CreateJobResponse =
        serde_json::from_str(&fixture("guide-create-response.json")).unwrap();
    assert_eq!(created.job_id.as_deref(), Some("123-456-789"));
    assert_eq!(created.id, None);
    assert_eq!(created.status, "in_progress");
}

#[test]
fn guide_completed_job_with_null_error_decodes() {
    let job: types::Job = serde_json::from_str(&fixture("guide-job-completed.json")).unwrap();
    assert_eq!(job.id, "123-456-789", "a non-UUID id must decode");
    assert_eq!(job.status, "completed");
    assert_eq!(job.error, None);
    let data = job.data.expect("completed job has data");
    assert_eq!(data.title.as_deref(), Some("Social post"));
    assert!(data.suggestion.starts_with("# Social post"));
    assert!(job.completed_at.unwrap() > job.created_at);
}

#[test]
fn guide_create_request_decodes_and_reencodes_identically() {
    let text = fixture("guide-create-request.json");
    let request: types::GenerateApplicationRequest = serde_json::from_str(&text).unwrap();
    assert_eq!(request.inputs[0].value.len(), 3);
    let original: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert_eq!(serde_json::to_value(&request).unwrap(), original);
}

#[test]
fn reference_list_example_decodes() {
    let value: serde_json::Value =
        serde_yaml::from_str(&fixture("reference-list-response.yaml")).unwrap();
    let list: types::JobList = serde_json::from_value(value).unwrap();
    assert_eq!(list.total_count, Some(123));
    assert_eq!(list.result.len(), 1);
    assert_eq!(list.result[0].error.as_deref(), Some("<string>"));
    let pagination = list.pagination.unwrap();
    assert_eq!(
        (pagination.offset, pagination.limit),
        (Some(123), Some(123))
    );
}

#[test]
fn a_newer_server_with_unknown_status_and_extra_fields_decodes() {
    let job: types::Job = serde_json::from_value(serde_json::json!({
        "id": "j1",
        "status": "queued",
        "application_id": "a1",
        "created_at": "2025-02-10T18:18:09Z",
        "priority": 3,
        "data": null
    }))
    .unwrap();
    assert_eq!(job.status, "queued");
}
