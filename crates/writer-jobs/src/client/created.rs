//! A create's answer decoded here rather than by the generated client.
//!
//! A batch creates one job per row, and the generated `CreateJobResponse`
//! parses its creation time with chrono's generic parser through serde
//! (several thousand instructions, more than the rest of the answer). Here
//! the time takes the quick parser of list pages ([`super::brief::rfc3339`],
//! which falls back to chrono for any form it does not know), the fields
//! are the generated type's, and the generated type is built from them, so
//! a spec change to it fails to compile here. The request is still the
//! generated client's; only the answer's body is read here, from the raw
//! bytes (the generated code is handed none: see
//! [`writer_api::raw::capture_raw_only`]).

use chrono::{DateTime, Utc};
use serde::Deserialize;
use writer_api::types as wire;

use super::exchange::Undecodable;
use crate::model::{CreatedJob, convert};

/// The wire `CreateJobResponse`, as the generated type reads it: the same
/// fields, required and optional alike, and unknown ones ignored.
#[derive(Deserialize)]
struct WireCreated {
    #[serde(deserialize_with = "super::brief::rfc3339")]
    created_at: DateTime<Utc>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    job_id: Option<String>,
    status: String,
}

/// Decodes a create's answer: the created job, or why it cannot be used.
pub(super) fn decode(bytes: &[u8]) -> Result<CreatedJob, Undecodable> {
    let w: WireCreated = serde_json::from_slice(bytes).map_err(Undecodable::Json)?;
    let w = wire::CreateJobResponse {
        created_at: w.created_at,
        id: w.id,
        job_id: w.job_id,
        status: w.status,
    };
    convert::created(w).map_err(Undecodable::shape)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// What the generated type makes of `bytes`, converted as before.
    fn generated(bytes: &[u8]) -> Option<Result<CreatedJob, &'static str>> {
        let w: wire::CreateJobResponse = serde_json::from_slice(bytes).ok()?;
        Some(convert::created(w))
    }

    fn same(bytes: &[u8]) {
        match (decode(bytes), generated(bytes)) {
            (Ok(ours), Some(Ok(theirs))) => assert_eq!(ours, theirs),
            (Err(Undecodable::Shape(ours)), Some(Err(theirs))) => assert_eq!(ours, theirs),
            (Err(Undecodable::Json(_)), None) => {}
            (ours, theirs) => panic!(
                "{:?}: decoded {:?}, the generated type {theirs:?}",
                String::from_utf8_lossy(bytes),
                ours.map_err(|e| match e {
                    Undecodable::Json(e) => e.to_string(),
                    Undecodable::Shape(s) => s,
                })
            ),
        }
    }

    #[test]
    fn answers_decode_as_the_generated_type_decodes_them() {
        for body in [
            r#"{"id":"j1","created_at":"2025-02-10T18:18:09.501223Z","status":"in_progress"}"#,
            r#"{"job_id":"j1","created_at":"2025-02-10T18:18:09Z","status":"in_progress"}"#,
            r#"{"id":"","job_id":"j2","created_at":"2025-02-10T19:18:09+01:00","status":"completed"}"#,
            r#"{"id":null,"created_at":"2025-02-10T18:18:09Z","status":"x","extra":{"a":[1]}}"#,
            r#"{"id":"j1","created_at":"2025-02-10 18:18:09Z","status":"in_progress"}"#,
            r#"{"id":"j1","created_at":"2025-02-30T18:18:09Z","status":"in_progress"}"#,
            r#"{"id":"j1","status":"in_progress"}"#,
            r#"{"id":"j1","created_at":"2025-02-10T18:18:09Z"}"#,
            r#"{"id":1,"created_at":"2025-02-10T18:18:09Z","status":"in_progress"}"#,
            r#"{"created_at":"2025-02-10T18:18:09Z","status":"in_progress"}"#,
            r#"[]"#,
            "",
        ] {
            same(body.as_bytes());
        }
    }

    proptest! {
        /// Any answer of the wire's shape, with any of the times a server
        /// may send, decodes as through the generated type.
        #[test]
        fn any_answer_decodes_as_the_generated_type_decodes_it(
            id in proptest::option::of("[a-z0-9-]{0,12}"),
            job_id in proptest::option::of("[a-z0-9-]{0,12}"),
            time in "20[0-9]{2}-[01][0-9]-[0-3][0-9][T ][0-2][0-9]:[0-5][0-9]:[0-6][0-9](\\.[0-9]{1,10})?(Z|[+-][01][0-9]:[0-5][0-9])",
            status in "[a-z_]{0,12}",
        ) {
            let mut body = serde_json::json!({"created_at": time, "status": status});
            if let Some(id) = id {
                body["id"] = id.into();
            }
            if let Some(job_id) = job_id {
                body["job_id"] = job_id.into();
            }
            same(&serde_json::to_vec(&body).unwrap());
        }
    }
}
