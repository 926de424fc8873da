//! Property tests of the wire and model types.
//!
//! - Every generated type: values decoded from spec-shaped JSON (with
//!   absent optionals, nulls, extra fields and new values) survive
//!   `decode(encode(x)) == x`, and `encode(x)` is valid per the spec.
//! - JSON made from the spec's schema, sometimes broken on purpose, never
//!   makes decoding fail when the spec says it is valid.
//! - The high-level model's own serde form round-trips.
//! - The model, converted from the wire by the real client, loses nothing:
//!   every wire field shows in the high-level value.
//!
//! Case counts are CI-sized: 128 per pure property, 48 per property that
//! goes through the client over loopback HTTP.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use writer_api::types as wire;
use writer_jobs::batch::{Outcome, OutcomeResult};
use writer_jobs::{
    Application, Client, CreatedJob, InputDef, InputOptions, InputType, Inputs, Job, JobPage,
    JobStatus, ListQuery, Output, RetriedJob, StatusFilter,
};
use writer_jobs_tests::Spec;
use writer_jobs_tests::canned::CannedServer;
use writer_jobs_tests::strategy::{GenOptions, value_for};

static SPEC: LazyLock<Spec> = LazyLock::new(Spec::load);

fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// `decode(encode(x)) == x` for `x` decoded from spec-valid JSON, and
/// `encode(x)` valid per the spec.
fn round_trips<T>(name: &str, json: &Value) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let x: T = serde_json::from_value(json.clone()).map_err(|e| {
        TestCaseError::fail(format!("{name}: valid JSON did not decode: {e}\n{json}"))
    })?;
    let encoded = serde_json::to_value(&x).unwrap();
    let again: T = serde_json::from_value(encoded.clone()).unwrap();
    prop_assert_eq!(&again, &x);
    let problems = SPEC.validate(name, &encoded);
    prop_assert!(
        problems.is_empty(),
        "{} encodes off-spec: {:?}\n{}",
        name,
        problems,
        encoded
    );
    Ok(())
}

macro_rules! generated_round_trips {
    ($($test:ident: $ty:ident,)*) => {
        proptest! {
            #![proptest_config(config(128))]
            $(
                #[test]
                fn $test(json in value_for(&SPEC, stringify!($ty), GenOptions::valid())) {
                    round_trips::<wire::$ty>(stringify!($ty), &json)?;
                }
            )*
        }
    };
}

generated_round_trips! {
    application_round_trips: Application,
    application_input_round_trips: ApplicationInput,
    application_input_options_round_trips: ApplicationInputOptions,
    create_job_response_round_trips: CreateJobResponse,
    error_round_trips: Error,
    error_detail_round_trips: ErrorDetail,
    generate_application_request_round_trips: GenerateApplicationRequest,
    generate_application_response_round_trips: GenerateApplicationResponse,
    job_round_trips: Job,
    job_input_round_trips: JobInput,
    job_list_round_trips: JobList,
    job_status_filter_round_trips: JobStatusFilter,
    pagination_round_trips: Pagination,
    retry_job_response_round_trips: RetryJobResponse,
    run_application_request_round_trips: RunApplicationRequest,
}

#[test]
fn every_spec_schema_has_a_round_trip_property() {
    let covered = include_str!("roundtrip.rs");
    for name in SPEC.schema_names() {
        assert!(
            covered.contains(&format!(": {name},")),
            "no round-trip property for {name}"
        );
    }
}

/// Decodes `json` as `T`: `Ok` is required when the spec says `json` is
/// valid; when it is not, decoding may go either way but must not panic.
/// Returns whether the value was valid.
fn decodes_when_valid<T: DeserializeOwned>(
    name: &str,
    json: &Value,
) -> Result<bool, TestCaseError> {
    let valid = SPEC.validate(name, json).is_empty();
    let decoded = std::panic::catch_unwind(|| serde_json::from_value::<T>(json.clone()))
        .map_err(|_| TestCaseError::fail(format!("{name}: decoding panicked on {json}")))?;
    if valid {
        prop_assert!(
            decoded.is_ok(),
            "{} is valid per the spec but does not decode: {}\n{}",
            name,
            decoded.err().map(|e| e.to_string()).unwrap_or_default(),
            json
        );
    }
    Ok(valid)
}

/// For each wire type: noisy spec-shaped JSON decodes whenever it is valid;
/// both valid and invalid values must come up.
#[test]
fn spec_shaped_json_decodes_whenever_it_is_valid() {
    macro_rules! check {
        ($($ty:ident),*) => {$({
            let mut runner = TestRunner::new(config(128));
            let (valid, invalid) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
            runner
                .run(&value_for(&SPEC, stringify!($ty), GenOptions::noisy()), |json| {
                    if decodes_when_valid::<wire::$ty>(stringify!($ty), &json)? {
                        valid.set(valid.get() + 1);
                    } else {
                        invalid.set(invalid.get() + 1);
                    }
                    Ok(())
                })
                .unwrap();
            assert!(valid.get() > 0, "{}: no valid value generated", stringify!($ty));
            if stringify!($ty) != "JobStatusFilter" {
                assert!(invalid.get() > 0, "{}: no invalid value generated", stringify!($ty));
            }
        })*};
    }
    check!(
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
        RunApplicationRequest
    );
}

// ---- The high-level model's own serde form. ----

fn known_or_unknown<T: Clone + std::fmt::Debug + 'static>(
    known: Vec<T>,
    known_names: &'static [&'static str],
    unknown: fn(String) -> T,
) -> BoxedStrategy<T> {
    prop_oneof![
        3 => prop::sample::select(known),
        1 => "[a-z][a-z_]{0,11}"
            .prop_filter("a new value", move |s| !known_names.contains(&s.as_str()))
            .prop_map(unknown),
    ]
    .boxed()
}

fn job_status() -> BoxedStrategy<JobStatus> {
    known_or_unknown(
        vec![
            JobStatus::InProgress,
            JobStatus::Completed,
            JobStatus::Failed,
        ],
        &["in_progress", "completed", "failed"],
        JobStatus::Unknown,
    )
}

fn input_type() -> BoxedStrategy<InputType> {
    known_or_unknown(
        vec![
            InputType::Text,
            InputType::Dropdown,
            InputType::File,
            InputType::Media,
        ],
        &["text", "dropdown", "file", "media"],
        InputType::Unknown,
    )
}

fn time() -> impl Strategy<Value = DateTime<Utc>> {
    (0i64..4_102_444_800, 0u32..1_000_000_000)
        .prop_map(|(s, ns)| DateTime::from_timestamp(s, ns).unwrap())
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![3 => "[ -~]{0,12}", 1 => any::<String>()]
}

fn output() -> impl Strategy<Value = Output> {
    (prop::option::of(text()), text())
        .prop_map(|(title, suggestion)| Output::new(title, suggestion))
}

fn job() -> impl Strategy<Value = Job> {
    (
        text(),
        job_status(),
        text(),
        time(),
        prop::option::of(time()),
        prop::option::of(time()),
        prop::option::of(output()),
        prop::option::of(text()),
    )
        .prop_map(
            |(id, status, application_id, created_at, updated_at, completed_at, output, error)| {
                let mut job = Job::new(id, status, application_id, created_at);
                job.updated_at = updated_at;
                job.completed_at = completed_at;
                job.output = output;
                job.error = error;
                job
            },
        )
}

fn input_options() -> impl Strategy<Value = InputOptions> {
    let list = || prop::collection::vec(text(), 0..3);
    let n = || prop::option::of(any::<u64>());
    (list(), n(), n(), n(), list(), n(), n(), n(), list()).prop_map(
        |(
            list,
            min_fields,
            max_fields,
            max_files,
            file_types,
            max_file_size_mb,
            max_image_size_mb,
            max_word_count,
            upload_types,
        )| {
            let mut options = InputOptions::default();
            options.list = list;
            options.min_fields = min_fields;
            options.max_fields = max_fields;
            options.max_files = max_files;
            options.file_types = file_types;
            options.max_file_size_mb = max_file_size_mb;
            options.max_image_size_mb = max_image_size_mb;
            options.max_word_count = max_word_count;
            options.upload_types = upload_types;
            options
        },
    )
}

fn application() -> impl Strategy<Value = Application> {
    let def = (
        text(),
        input_type(),
        any::<bool>(),
        prop::option::of(text()),
        input_options(),
    )
        .prop_map(|(name, input_type, required, description, options)| {
            let mut def = InputDef::new(name, input_type, required);
            def.description = description;
            def.options = options;
            def
        });
    (
        text(),
        text(),
        text(),
        text(),
        prop::collection::vec(def, 0..3),
        prop::option::of(time()),
        prop::option::of(time()),
        prop::option::of(time()),
    )
        .prop_map(
            |(id, name, app_type, status, inputs, created_at, updated_at, last_deployed_at)| {
                let mut app = Application::new(id, name, app_type, status);
                app.inputs = inputs;
                app.created_at = created_at;
                app.updated_at = updated_at;
                app.last_deployed_at = last_deployed_at;
                app
            },
        )
}

fn inputs() -> impl Strategy<Value = Inputs> {
    prop::collection::vec((text(), prop::collection::vec(text(), 0..3)), 0..4).prop_map(|items| {
        let mut inputs = Inputs::new();
        for (name, values) in items {
            inputs.set(name, values);
        }
        inputs
    })
}

fn outcome_result() -> impl Strategy<Value = OutcomeResult> {
    prop_oneof![
        output().prop_map(OutcomeResult::completed),
        text().prop_map(OutcomeResult::failed),
        (text(), prop::collection::vec(text(), 0..3))
            .prop_map(|(reason, candidates)| OutcomeResult::ambiguous(reason, candidates)),
        (text(), prop::option::of(any::<u16>()))
            .prop_map(|(error, http_status)| OutcomeResult::rejected(error, http_status)),
        any::<u64>().prop_map(OutcomeResult::timed_out),
    ]
}

fn outcome() -> impl Strategy<Value = Outcome> {
    (
        (
            text(),
            any::<u64>(),
            prop::option::of(text()),
            outcome_result(),
        ),
        (
            any::<u32>(),
            any::<u32>(),
            prop::option::of(time()),
            prop::option::of(time()),
            time(),
        ),
    )
        .prop_map(
            |(
                (key, seq, job_id, result),
                (attempts, creates, created_at, finished_at, observed_at),
            )| {
                let mut outcome = Outcome::new(key, seq, result, observed_at);
                outcome.job_id = job_id;
                outcome.attempts = attempts;
                outcome.creates = creates;
                outcome.created_at = created_at;
                outcome.finished_at = finished_at;
                outcome
            },
        )
}

fn serde_round_trip<T>(x: &T) -> Result<(), TestCaseError>
where
    T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug,
{
    let text = serde_json::to_string(x).unwrap();
    let back: T =
        serde_json::from_str(&text).map_err(|e| TestCaseError::fail(format!("{e}: {text}")))?;
    prop_assert_eq!(&back, x);
    Ok(())
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn model_statuses_and_input_types_round_trip(s in job_status(), t in input_type()) {
        serde_round_trip(&s)?;
        serde_round_trip(&t)?;
        prop_assert_eq!(JobStatus::from(s.as_str()), s.clone());
        prop_assert_eq!(InputType::from(t.as_str()), t.clone());
    }

    #[test]
    fn model_status_filters_round_trip(f in prop::sample::select(vec![StatusFilter::InProgress, StatusFilter::Completed, StatusFilter::Failed])) {
        serde_round_trip(&f)?;
        prop_assert_eq!(serde_json::to_value(f).unwrap(), Value::from(f.as_str()));
    }

    #[test]
    fn model_jobs_round_trip(j in job()) {
        serde_round_trip(&j)?;
    }

    #[test]
    fn model_outputs_created_and_retried_jobs_round_trip(
        o in output(), id in text(), status in job_status(), at in time(),
    ) {
        serde_round_trip(&o)?;
        serde_round_trip(&CreatedJob::new(id.clone(), status.clone(), at))?;
        serde_round_trip(&RetriedJob::new(id, status, at))?;
    }

    #[test]
    fn model_pages_round_trip(jobs in prop::collection::vec(job(), 0..3), total in prop::option::of(any::<u64>()), offset in any::<u64>(), limit in any::<u64>()) {
        let mut page = JobPage::new(jobs, offset, limit);
        page.total_count = total;
        serde_round_trip(&page)?;
    }

    #[test]
    fn model_applications_round_trip(a in application()) {
        serde_round_trip(&a)?;
    }

    #[test]
    fn model_inputs_round_trip_and_go_to_the_wire_unchanged(i in inputs()) {
        serde_round_trip(&i)?;
        let wire = serde_json::to_value(i.to_wire()).unwrap();
        prop_assert!(SPEC.validate("GenerateApplicationRequest", &wire).is_empty());
        let names: Vec<&str> = i.iter().map(|(n, _)| n).collect();
        let wire_names: Vec<&str> = wire["inputs"].as_array().unwrap().iter().map(|x| x["id"].as_str().unwrap()).collect();
        prop_assert_eq!(names, wire_names);
    }

    #[test]
    fn batch_outcomes_round_trip(o in outcome()) {
        serde_round_trip(&o)?;
    }
}

/// `JobStatus::Unknown` holding a known value is not a value the client
/// makes (it maps known strings to their variants), and it does not
/// survive a round trip: it comes back as the known variant.
#[test]
fn an_unknown_status_holding_a_known_value_normalizes() {
    let odd = JobStatus::Unknown("completed".into());
    let back: JobStatus = serde_json::from_str(&serde_json::to_string(&odd).unwrap()).unwrap();
    assert_eq!(back, JobStatus::Completed);
}

// ---- Wire -> model through the real client: nothing is lost. ----

/// Runs `check` for `cases` values of `strategy`, each served by a canned
/// server to a real `writer-jobs` client.
fn through_the_client(
    schema: &str,
    cases: u32,
    check: impl Fn(&tokio::runtime::Runtime, &Client, &Value) -> Result<(), TestCaseError>,
) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let server = rt.block_on(CannedServer::start()).unwrap();
    let client = Client::builder()
        .api_key("sk-test")
        .base_url(server.base_url())
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&value_for(&SPEC, schema, GenOptions::valid()), |json| {
            server.set(200, &json);
            check(&rt, &client, &json)
        })
        .unwrap();
    assert!(server.requests() >= cases as usize);
}

fn clamp(n: impl Into<i64>) -> u64 {
    u64::try_from(n.into()).unwrap_or(0)
}

fn assert_job_is_lossless(w: &wire::Job, j: &Job) -> Result<(), TestCaseError> {
    prop_assert_eq!(&j.id, &w.id);
    prop_assert_eq!(j.status.as_str(), w.status.as_str());
    prop_assert_eq!(&j.application_id, &w.application_id);
    prop_assert_eq!(j.created_at, w.created_at);
    prop_assert_eq!(j.updated_at, w.updated_at);
    prop_assert_eq!(j.completed_at, w.completed_at);
    prop_assert_eq!(
        j.output.as_ref().map(|o| (&o.title, &o.suggestion)),
        w.data.as_ref().map(|d| (&d.title, &d.suggestion))
    );
    prop_assert_eq!(&j.error, &w.error);
    Ok(())
}

#[test]
fn a_job_from_the_wire_keeps_every_field() {
    through_the_client("Job", 48, |rt, client, json| {
        let w: wire::Job = serde_json::from_value(json.clone()).unwrap();
        let j = rt
            .block_on(client.get_job("j1"))
            .map_err(|e| TestCaseError::fail(format!("{e}\n{json}")))?;
        assert_job_is_lossless(&w, &j)
    });
}

#[test]
fn a_page_from_the_wire_keeps_every_job_and_count() {
    let query = ListQuery::default().with_offset(7).with_limit(9);
    through_the_client("JobList", 48, |rt, client, json| {
        let w: wire::JobList = serde_json::from_value(json.clone()).unwrap();
        let page = rt
            .block_on(client.list_jobs_page("app", &query))
            .map_err(|e| TestCaseError::fail(format!("{e}\n{json}")))?;
        prop_assert_eq!(page.jobs.len(), w.result.len());
        for (wj, j) in w.result.iter().zip(&page.jobs) {
            assert_job_is_lossless(wj, j)?;
        }
        // Counts are unsigned in the model: a negative count (which no
        // server sends, but the spec does not forbid) reads as 0.
        prop_assert_eq!(page.total_count, w.total_count.map(clamp));
        let p = w.pagination.clone().unwrap_or_default();
        prop_assert_eq!(page.offset, p.offset.map(clamp).unwrap_or(7));
        prop_assert_eq!(
            page.limit,
            p.limit.map(clamp).filter(|l| *l > 0).unwrap_or(9)
        );
        Ok(())
    });
}

#[test]
fn an_application_from_the_wire_keeps_every_field() {
    through_the_client("Application", 48, |rt, client, json| {
        let w: wire::Application = serde_json::from_value(json.clone()).unwrap();
        let a = rt
            .block_on(client.get_application("app"))
            .map_err(|e| TestCaseError::fail(format!("{e}\n{json}")))?;
        prop_assert_eq!(&a.id, &w.id);
        prop_assert_eq!(&a.name, &w.name);
        prop_assert_eq!(&a.app_type, &w.type_);
        prop_assert_eq!(&a.status, &w.status);
        prop_assert_eq!(a.created_at, Some(w.created_at));
        prop_assert_eq!(a.updated_at, Some(w.updated_at));
        prop_assert_eq!(a.last_deployed_at, w.last_deployed_at);
        prop_assert_eq!(a.inputs.len(), w.inputs.len());
        for (wi, i) in w.inputs.iter().zip(&a.inputs) {
            prop_assert_eq!(&i.name, &wi.name);
            prop_assert_eq!(i.input_type.as_str(), wi.input_type.as_str());
            prop_assert_eq!(i.required, wi.required);
            prop_assert_eq!(&i.description, &wi.description);
            // Absent options and empty options read the same.
            let o = wi.options.clone().unwrap_or_default();
            let n = |v: Option<i32>| v.map(clamp);
            prop_assert_eq!(&i.options.list, &o.list);
            prop_assert_eq!(&i.options.file_types, &o.file_types);
            prop_assert_eq!(&i.options.upload_types, &o.upload_types);
            prop_assert_eq!(i.options.min_fields, n(o.min_fields));
            prop_assert_eq!(i.options.max_fields, n(o.max_fields));
            prop_assert_eq!(i.options.max_files, n(o.max_files));
            prop_assert_eq!(i.options.max_file_size_mb, n(o.max_file_size_mb));
            prop_assert_eq!(i.options.max_image_size_mb, n(o.max_image_size_mb));
            prop_assert_eq!(i.options.max_word_count, n(o.max_word_count));
        }
        Ok(())
    });
}

#[test]
fn created_retried_and_run_answers_keep_every_field() {
    let inputs = Inputs::new().text("Product name", "x");
    through_the_client("CreateJobResponse", 48, |rt, client, json| {
        let w: wire::CreateJobResponse = serde_json::from_value(json.clone()).unwrap();
        let answer = rt.block_on(client.create_job("app", &inputs));
        let id =
            w.id.clone()
                .filter(|i| !i.is_empty())
                .or(w.job_id.clone().filter(|i| !i.is_empty()));
        match (id, answer) {
            (Some(id), Ok(c)) => {
                prop_assert_eq!(c.id, id);
                prop_assert_eq!(c.status.as_str(), w.status.as_str());
                prop_assert_eq!(c.created_at, w.created_at);
            }
            (None, Err(_)) => {} // an answer that names no job is an error
            (id, answer) => prop_assert!(false, "id {:?} but {:?}", id, answer),
        }
        Ok(())
    });
    through_the_client("RetryJobResponse", 48, |rt, client, json| {
        let w: wire::RetryJobResponse = serde_json::from_value(json.clone()).unwrap();
        match rt.block_on(client.retry_job("j1")) {
            Ok(r) => {
                prop_assert_eq!(&r.id, &w.id);
                prop_assert_eq!(r.status.as_str(), w.status.as_str());
                prop_assert_eq!(r.created_at, w.created_at);
            }
            Err(e) => prop_assert!(w.id.is_empty(), "{}", e),
        }
        Ok(())
    });
    through_the_client("GenerateApplicationResponse", 48, |rt, client, json| {
        let w: wire::GenerateApplicationResponse = serde_json::from_value(json.clone()).unwrap();
        let o = rt
            .block_on(client.run_application("app", &inputs))
            .map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(o.title, w.title);
        prop_assert_eq!(o.suggestion, w.suggestion);
        Ok(())
    });
}

/// Date-times at the edges of RFC 3339: whatever the spec's `date-time`
/// accepts, the generated types decode (leap seconds, year 0, lower-case
/// separators, more than nanosecond precision, which is cut to
/// nanoseconds).
#[test]
fn edge_date_times_decode_whenever_the_spec_accepts_them() {
    let mut accepted = 0;
    for t in [
        "1990-12-31T23:59:60Z",
        "1990-12-31T15:59:60-08:00",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999999Z",
        "2024-03-15t10:00:00z",
        "2024-03-15T10:00:00-23:59",
        "2024-03-15 10:00:00Z",
        "2024-03-15T10:00:00",
        "2024-02-30T10:00:00Z",
        "2024-03-15T10:00:00+24:00",
    ] {
        let json = serde_json::json!({ "status": "in_progress", "created_at": t });
        if SPEC.validate("CreateJobResponse", &json).is_empty() {
            accepted += 1;
            let decoded = serde_json::from_value::<wire::CreateJobResponse>(json);
            assert!(decoded.is_ok(), "{t}: {decoded:?}");
        }
    }
    assert_eq!(accepted, 6);
}
