//! Every conversion from `writer-api`'s generated wire types to the model.
//!
//! When the spec changes and `cargo xtask codegen` regenerates the low-level
//! crate, this is the one file the compiler sends you to.

use std::collections::HashSet;
use std::sync::{Mutex, OnceLock};

use writer_api::types as wire;

use super::{
    Application, CreatedJob, DEFAULT_PAGE_SIZE, InputDef, InputOptions, InputType, Job, JobPage,
    JobStatus, ListQuery, Output, RetriedJob, StatusFilter,
};

/// A job status from the wire; an unknown value is logged once per value.
pub(crate) fn status(s: String) -> JobStatus {
    let status = JobStatus::from(s);
    if let JobStatus::Unknown(value) = &status {
        static SEEN: OnceLock<Mutex<HashSet<String>>> = OnceLock::new();
        let seen = SEEN.get_or_init(Default::default);
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        if seen.len() < 64 && seen.insert(value.clone()) {
            tracing::warn!(
                status = %value,
                "the server sent a job status this client does not know; \
                 treating it as unfinished"
            );
        }
    }
    status
}

pub(crate) fn output(w: wire::GenerateApplicationResponse) -> Output {
    Output {
        title: w.title,
        suggestion: w.suggestion,
    }
}

pub(crate) fn job(w: wire::Job) -> Job {
    Job {
        id: w.id,
        status: status(w.status),
        application_id: w.application_id,
        created_at: w.created_at,
        updated_at: w.updated_at,
        completed_at: w.completed_at,
        output: w.data.map(output),
        error: w.error,
    }
}

/// The created job, or why it has no usable id.
pub(crate) fn created(w: wire::CreateJobResponse) -> Result<CreatedJob, &'static str> {
    let id =
        w.id.filter(|id| !id.is_empty())
            .or(w.job_id.filter(|id| !id.is_empty()))
            .ok_or("the answer names no job (neither `id` nor `job_id`)")?;
    Ok(CreatedJob {
        id,
        status: status(w.status),
        created_at: w.created_at,
    })
}

pub(crate) fn retried(w: wire::RetryJobResponse) -> Result<RetriedJob, &'static str> {
    if w.id.is_empty() {
        return Err("the answer names no job (empty `id`)");
    }
    Ok(RetriedJob {
        id: w.id,
        status: status(w.status),
        created_at: w.created_at,
    })
}

/// A count from the wire (int64 or int32 there), with negatives as 0.
fn non_negative(n: impl Into<i64>) -> u64 {
    u64::try_from(n.into()).unwrap_or(0)
}

pub(crate) fn page(w: wire::JobList, asked: &ListQuery) -> JobPage {
    let (total_count, offset, limit) = page_position(w.total_count, w.pagination, asked);
    JobPage {
        jobs: w.result.into_iter().map(job).collect(),
        total_count,
        offset,
        limit,
    }
}

/// A page's `totalCount`, offset and page size, from the wire's fields and
/// the query asked.
pub(crate) fn page_position(
    total_count: Option<i64>,
    pagination: Option<wire::Pagination>,
    asked: &ListQuery,
) -> (Option<u64>, u64, u64) {
    let pagination = pagination.unwrap_or_default();
    (
        total_count.map(non_negative),
        pagination.offset.map(non_negative).unwrap_or(asked.offset),
        pagination
            .limit
            .map(non_negative)
            .filter(|l| *l > 0)
            .or(asked.limit)
            .unwrap_or(DEFAULT_PAGE_SIZE),
    )
}

pub(crate) fn status_filter(s: StatusFilter) -> wire::JobStatusFilter {
    match s {
        StatusFilter::InProgress => wire::JobStatusFilter::InProgress,
        StatusFilter::Completed => wire::JobStatusFilter::Completed,
        StatusFilter::Failed => wire::JobStatusFilter::Failed,
    }
}

fn options(w: Option<wire::ApplicationInputOptions>) -> InputOptions {
    let w = w.unwrap_or_default();
    let n = |v: Option<i32>| v.map(non_negative);
    InputOptions {
        list: w.list,
        min_fields: n(w.min_fields),
        max_fields: n(w.max_fields),
        max_files: n(w.max_files),
        file_types: w.file_types,
        max_file_size_mb: n(w.max_file_size_mb),
        max_image_size_mb: n(w.max_image_size_mb),
        max_word_count: n(w.max_word_count),
        upload_types: w.upload_types,
    }
}

pub(crate) fn application(w: wire::Application) -> Application {
    Application {
        id: w.id,
        name: w.name,
        app_type: w.type_,
        status: w.status,
        inputs: w
            .inputs
            .into_iter()
            .map(|i| InputDef {
                input_type: InputType::from(i.input_type),
                name: i.name,
                required: i.required,
                description: i.description,
                options: options(i.options),
            })
            .collect(),
        created_at: Some(w.created_at),
        updated_at: Some(w.updated_at),
        last_deployed_at: w.last_deployed_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_accepts_id_or_job_id() {
        let a: wire::CreateJobResponse = serde_json::from_str(
            r#"{"job_id":"123-456-789","status":"in_progress","created_at":"2024-03-15T10:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(created(a).unwrap().id, "123-456-789");
        let b: wire::CreateJobResponse = serde_json::from_str(
            r#"{"id":"j1","job_id":"j2","status":"in_progress","created_at":"2024-03-15T10:00:00Z"}"#,
        )
        .unwrap();
        assert_eq!(created(b).unwrap().id, "j1");
        let c: wire::CreateJobResponse =
            serde_json::from_str(r#"{"status":"in_progress","created_at":"2024-03-15T10:00:00Z"}"#)
                .unwrap();
        assert!(created(c).is_err());
    }

    #[test]
    fn a_page_reports_what_the_server_used() {
        let w: wire::JobList = serde_json::from_str(
            r#"{"result":[],"totalCount":7,"pagination":{"offset":10,"limit":20}}"#,
        )
        .unwrap();
        let q = ListQuery {
            status: None,
            offset: 10,
            limit: Some(100),
        };
        let p = page(w, &q);
        assert_eq!((p.total_count, p.offset, p.limit), (Some(7), 10, 20));
        let w: wire::JobList = serde_json::from_str(r#"{"result":[]}"#).unwrap();
        let p = page(w, &q);
        assert_eq!((p.total_count, p.offset, p.limit), (None, 10, 100));
    }

    #[test]
    fn a_job_with_a_new_status_and_extra_fields_decodes() {
        let w: wire::Job = serde_json::from_str(
            r#"{"id":"j","status":"queued","application_id":"a","created_at":"2025-02-10T18:18:09.501223Z","priority":3}"#,
        )
        .unwrap();
        let j = job(w);
        assert_eq!(j.status, JobStatus::Unknown("queued".into()));
        assert!(j.output.is_none());
    }
}
