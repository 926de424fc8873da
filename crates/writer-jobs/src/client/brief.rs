//! A list page decoded for a sweep: every job's id and creation time, and
//! the whole job only for the jobs the caller asks about.
//!
//! Why not the generated `JobList`: a sweep reads pages of up to 100 jobs,
//! most of them other clients' or long finished, and needs of each only
//! its id and creation time (for the list's order, its density, where
//! pages sit); the generated type decodes every job in full, each output
//! included (hundreds of bytes, allocated and dropped), and that was most
//! of the batch's decoding work. Here the id is borrowed from the body, one
//! time per job parsed, and every other field left an undecoded slice of
//! the body ([`Raw`]: checked to be JSON, nothing allocated); those are
//! decoded, into the generated wire types, only for the jobs the caller
//! wants (its own jobs, whose status it waits for). A body in the plain
//! form is read by a scan of its own ([`super::scan`]), anything else by
//! serde, into the same fields.
//!
//! The request is the generated client's (`list_jobs`, with its path,
//! query and headers); only the answer's body is read here, from the raw
//! bytes the client captures of every answer (the generated code is
//! handed an empty body, so it does not decode it too: see
//! [`writer_api::raw::capture_raw_only`]). The fields below are the wire
//! `Job`'s; a spec change that renames one fails to compile in
//! [`wanted_job`], which builds the generated type.

use std::borrow::Cow;
use std::fmt;
use std::hash::BuildHasher;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use chrono::{DateTime, Utc};
use serde::de::{self, DeserializeOwned, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use writer_api::types as wire;

use super::{Call, Client, Undecodable, nonempty, scan};
use crate::error::{Error, Result};
use crate::model::{Job, ListQuery, convert};
use crate::throttle::Operation;

/// What a [`BriefPage`] keeps of each job's id, by type: every id
/// (`String`: a listing that reports the jobs it saw), or only the ids of
/// the jobs the caller wanted (`Option<Arc<str>>`: a sweep, which knows
/// the others by their [`Brief::key`] alone, and keeps the caller's own
/// copy of its jobs' ids; a sweep reads ten jobs or so for each of its
/// own, and sees each of its own several times before it ends, so no id
/// it reads is allocated).
pub(crate) trait KeptId: Sized {
    /// The id kept of a job; `wanted` is the caller's copy of the id when
    /// it asked about the job.
    fn keep(id: Cow<'_, str>, wanted: Option<Arc<str>>) -> Self;
}

impl KeptId for String {
    fn keep(id: Cow<'_, str>, _: Option<Arc<str>>) -> Self {
        id.into_owned()
    }
}

impl KeptId for Option<Arc<str>> {
    fn keep(_: Cow<'_, str>, wanted: Option<Arc<str>>) -> Self {
        wanted
    }
}

/// A job id's 64-bit hash ([`Brief::key`]): foldhash's quality hash with
/// a fixed seed, so the same id has the same key in any page.
pub(crate) fn id_key(id: &str) -> u64 {
    foldhash::quality::FixedState::with_seed(0x5752_4954_4552_4a42).hash_one(id)
}

/// One job of a [`BriefPage`].
#[derive(Debug, Clone)]
pub(crate) struct Brief<I = String> {
    /// The job's id, as [`KeptId`] keeps it.
    pub(crate) id: I,
    /// The id's hash ([`id_key`]), for every job.
    pub(crate) key: u64,
    /// When it was created.
    pub(crate) created_at: DateTime<Utc>,
    /// The whole job, when the caller wanted it and it is not
    /// `running`.
    pub(crate) job: Option<Job>,
    /// A job the caller wanted that the page shows `in_progress`: not
    /// decoded whole, since all the caller learns of it is that it still
    /// runs (most of a sweep's own jobs, read several times each before
    /// they end).
    pub(crate) running: bool,
}

/// One page of an application's jobs, decoded brief.
#[derive(Debug, Clone)]
pub(crate) struct BriefPage<I = String> {
    /// The jobs, in the page's order.
    pub(crate) jobs: Vec<Brief<I>>,
    /// The server's `totalCount`.
    pub(crate) total_count: Option<u64>,
    /// The page size the server used (as it said, else as asked).
    pub(crate) limit: u64,
}

impl<I> BriefPage<I> {
    /// Whether the page surely is the last (as
    /// [`JobPage::is_last`](crate::model::JobPage::is_last)).
    pub(crate) fn is_last(&self, offset: u64) -> bool {
        let n = self.jobs.len() as u64;
        n == 0 || matches!(self.total_count, Some(total) if total > 0 && offset + n >= total)
    }
}

/// The wire `JobList`, its jobs brief. Decoded by [`super::scan`] when
/// the body is in the plain form, else by serde.
#[derive(Debug, PartialEq, Deserialize)]
pub(super) struct WirePage<'a> {
    #[serde(borrow)]
    pub(super) result: Vec<WireJob<'a>>,
    #[serde(rename = "totalCount", default)]
    pub(super) total_count: Option<i64>,
    #[serde(default)]
    pub(super) pagination: Option<wire::Pagination>,
}

/// The wire `Job`: the id borrowed, the creation time parsed, the rest
/// left undecoded (required fields stay required).
#[derive(Debug, PartialEq, Deserialize)]
pub(super) struct WireJob<'a> {
    #[serde(borrow)]
    pub(super) id: Cow<'a, str>,
    #[serde(deserialize_with = "rfc3339")]
    pub(super) created_at: DateTime<Utc>,
    #[serde(borrow)]
    pub(super) status: Raw<'a>,
    #[serde(borrow)]
    pub(super) application_id: Raw<'a>,
    #[serde(borrow, default)]
    pub(super) updated_at: Option<Raw<'a>>,
    #[serde(borrow, default)]
    pub(super) completed_at: Option<Raw<'a>>,
    #[serde(borrow, default)]
    pub(super) data: Option<Raw<'a>>,
    #[serde(borrow, default)]
    pub(super) error: Option<Raw<'a>>,
}

/// A field left undecoded: its JSON text, a slice of the body (checked
/// to be JSON, nothing allocated), decoded only for a wanted job.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Raw<'a>(pub(super) &'a str);

impl<'de: 'a, 'a> Deserialize<'de> for Raw<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        <&'de RawValue>::deserialize(d).map(|raw| Raw(raw.get()))
    }
}

/// A creation time, parsed by chrono's hand-written RFC 3339 parser
/// (several times faster than the generic one behind chrono's serde
/// impl, and a sweep parses one per job listed); a text it refuses gets
/// the serde impl's parse, so the same texts are accepted as by the
/// generated type.
pub(super) fn rfc3339<'de, D: Deserializer<'de>>(
    d: D,
) -> std::result::Result<DateTime<Utc>, D::Error> {
    struct Time;
    impl Visitor<'_> for Time {
        type Value = DateTime<Utc>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an RFC 3339 date and time")
        }

        fn visit_str<E: de::Error>(self, text: &str) -> std::result::Result<Self::Value, E> {
            rfc3339_text(text).map_err(E::custom)
        }
    }
    d.deserialize_str(Time)
}

/// A time's text read as [`rfc3339`] reads it.
pub(super) fn rfc3339_text(text: &str) -> chrono::ParseResult<DateTime<Utc>> {
    if let Some(t) = utc_rfc3339(text.as_bytes()) {
        return Ok(t);
    }
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .or_else(|_| text.parse::<DateTime<Utc>>())
}

/// The one form of RFC 3339 servers mostly send, parsed by hand:
/// `YYYY-MM-DDTHH:MM:SS`, a fraction of 1 to 9 digits or none, and `Z`
/// (the simulator's, and Writer's examples'). A sweep parses one time per
/// job it lists, ten or so for each of the batch's jobs, and chrono's
/// parser, however quick, took 2% of the batch's instructions. `None` for
/// any other text (another offset, a leap second, a bad date), which
/// chrono parses then; for every text it takes it gives chrono's time (a
/// property test checks both).
fn utc_rfc3339(b: &[u8]) -> Option<DateTime<Utc>> {
    fn digits(b: &[u8]) -> Option<u32> {
        b.iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    }
    let (head, rest) = b.split_at_checked(19)?;
    if head[4] != b'-'
        || head[7] != b'-'
        || head[10] != b'T'
        || head[13] != b':'
        || head[16] != b':'
    {
        return None;
    }
    let (fraction, zone) = rest.split_at_checked(rest.len().checked_sub(1)?)?;
    if zone != b"Z" {
        return None;
    }
    let nanos = match fraction {
        [] => 0,
        [b'.', f @ ..] if (1..=9).contains(&f.len()) => digits(f)? * 10u32.pow(9 - f.len() as u32),
        _ => return None,
    };
    let date = chrono::NaiveDate::from_ymd_opt(
        i32::try_from(digits(&head[0..4])?).ok()?,
        digits(&head[5..7])?,
        digits(&head[8..10])?,
    )?;
    let time = chrono::NaiveTime::from_hms_nano_opt(
        digits(&head[11..13])?,
        digits(&head[14..16])?,
        digits(&head[17..19])?,
        nanos,
    )?;
    Some(date.and_time(time).and_utc())
}

/// A time of a wanted job, parsed as [`WireJob::created_at`] is (the
/// wire type's serde impl takes the slow generic parser).
#[derive(Deserialize)]
struct Time(#[serde(deserialize_with = "rfc3339")] DateTime<Utc>);

/// Decodes an optional time left raw (`null` or absent: none).
fn optional_time(raw: Option<Raw<'_>>) -> serde_json::Result<Option<DateTime<Utc>>> {
    Ok(optional::<Option<Time>>(raw)?.flatten().map(|t| t.0))
}

/// Decodes a field left raw.
fn field<T: DeserializeOwned>(raw: Raw<'_>) -> serde_json::Result<T> {
    serde_json::from_str(raw.0)
}

/// Decodes an optional field left raw.
fn optional<T: DeserializeOwned>(raw: Option<Raw<'_>>) -> serde_json::Result<Option<T>> {
    raw.map(field).transpose()
}

/// The whole job, through the generated wire type.
fn wanted_job(w: WireJob<'_>) -> serde_json::Result<Job> {
    let job = wire::Job {
        id: w.id.into_owned(),
        status: field(w.status)?,
        application_id: field(w.application_id)?,
        created_at: w.created_at,
        updated_at: optional_time(w.updated_at)?,
        completed_at: optional_time(w.completed_at)?,
        data: optional(w.data)?,
        error: optional(w.error)?,
    };
    Ok(convert::job(job))
}

/// Decodes a page's body: every job brief, the whole job where `wanted`
/// gives the caller's copy of the id.
fn decode<I: KeptId>(
    body: &[u8],
    query: &ListQuery,
    wanted: &impl Fn(&str) -> Option<Arc<str>>,
) -> std::result::Result<BriefPage<I>, Undecodable> {
    // The body checked to be UTF-8 once, in one pass (fast on ASCII),
    // rather than string by string as serde_json's reader of bytes does;
    // then scanned, or, out of the plain form, decoded by serde.
    let page: WirePage<'_> = match std::str::from_utf8(body) {
        Ok(text) => match scan::page(text) {
            Some(page) => Ok(page),
            None => serde_json::from_str(text),
        },
        Err(_) => serde_json::from_slice(body),
    }
    .map_err(Undecodable::Json)?;
    let (total_count, _, limit) = convert::page_position(page.total_count, page.pagination, query);
    let mut jobs = Vec::with_capacity(page.result.len());
    for w in page.result {
        let created_at = w.created_at;
        let key = id_key(&w.id);
        let wanted = wanted(&w.id);
        // The exact wire text only; any other spelling is decoded whole.
        let running = wanted.is_some() && w.status.0 == r#""in_progress""#;
        let brief = if wanted.is_some() && !running {
            let job = wanted_job(w).map_err(Undecodable::Json)?;
            Brief {
                id: I::keep(Cow::Borrowed(&job.id), wanted),
                key,
                created_at,
                job: Some(job),
                running,
            }
        } else {
            Brief {
                id: I::keep(w.id, wanted),
                key,
                created_at,
                job: None,
                running,
            }
        };
        jobs.push(brief);
    }
    Ok(BriefPage {
        jobs,
        total_count,
        limit,
    })
}

impl Client {
    /// Fetches one page of an application's jobs, decoded brief (see the
    /// module docs): every job's id and creation time, and the whole job
    /// for each id `wanted` accepts. Sent, retried and classified as
    /// [`Client::list_jobs_page`] is.
    ///
    /// Writer documents no largest page size. A page size the server
    /// refuses (400) is halved until one is accepted (if 1 is refused too,
    /// the error is returned and nothing is learnt: the 400 was about
    /// something else), and the client keeps to the size accepted from
    /// then on, so a batch's listings work on a server with a smaller
    /// maximum than the batch's page size (its pages then come short, as
    /// from a server that clamps the size).
    pub(crate) async fn list_jobs_brief<I: KeptId>(
        &self,
        app_id: &str,
        query: &ListQuery,
        wanted: impl Fn(&str) -> Option<Arc<str>>,
    ) -> Result<BriefPage<I>> {
        nonempty("application id", app_id)?;
        if query.limit == Some(0) {
            return Err(Error::InvalidRequest(
                "a page size must be at least 1".into(),
            ));
        }
        let cap = &self.inner.list_limit;
        let mut query = query.clone();
        let asked = query.limit.map(|l| l.min(cap.load(Ordering::Relaxed)));
        query.limit = asked;
        loop {
            let call = Call::List {
                app: app_id,
                query: &query,
                raw_only: true,
            };
            let result = self
                .execute(Operation::List, call, |bytes, _| {
                    decode(bytes, &query, &wanted)
                })
                .await;
            match (result, query.limit) {
                (Err(Error::BadRequest { .. }), Some(limit)) if limit > 1 => {
                    query.limit = Some(limit / 2);
                }
                (Ok(page), Some(limit)) if Some(limit) < asked => {
                    tracing::warn!(
                        refused = ?asked,
                        limit,
                        "the server refused the list page size; reading smaller pages"
                    );
                    cap.fetch_min(limit, Ordering::Relaxed);
                    return Ok(page);
                }
                (result, _) => return result,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::JobStatus;

    /// A caller that wants the jobs `ids`.
    fn only(ids: &[&str]) -> impl Fn(&str) -> Option<Arc<str>> {
        let ids: Vec<Arc<str>> = ids.iter().map(|&id| Arc::from(id)).collect();
        move |id| ids.iter().find(|w| &***w == id).cloned()
    }

    fn page_json() -> serde_json::Value {
        serde_json::json!({
            "result": [
                {
                    "id": "ours",
                    "application_id": "app",
                    "status": "completed",
                    "created_at": "2025-02-10T18:18:09.501223Z",
                    "updated_at": "2025-02-10T18:18:39Z",
                    "completed_at": "2025-02-10T18:18:39Z",
                    "data": {"title": "T", "suggestion": "S"},
                    "extra": {"nested": [1, 2, 3]}
                },
                {
                    "id": "theirs",
                    "application_id": "app",
                    "status": "failed",
                    "created_at": "2025-02-10T18:18:08Z",
                    "error": "boom",
                    "data": null
                },
                {
                    "id": "quote\"d",
                    "application_id": "app",
                    "status": "in_progress",
                    "created_at": "2025-02-10T18:18:07+01:00"
                }
            ],
            "totalCount": 3,
            "pagination": {"offset": 0, "limit": 100}
        })
    }

    #[test]
    fn a_brief_page_decodes_only_the_wanted_jobs_whole() {
        let body = serde_json::to_vec(&page_json()).unwrap();
        let query = ListQuery::default();
        let page = match decode::<String>(&body, &query, &only(&["ours"])) {
            Ok(page) => page,
            Err(_) => panic!("the page decodes"),
        };
        assert_eq!(page.total_count, Some(3));
        assert_eq!(page.limit, 100);
        assert!(page.is_last(0));
        let ids: Vec<&str> = page.jobs.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(ids, ["ours", "theirs", "quote\"d"]);
        let ours = page.jobs[0].job.as_ref().expect("ours is whole");
        assert_eq!(ours.status, JobStatus::Completed);
        assert_eq!(ours.output.as_ref().unwrap().suggestion, "S");
        assert!(ours.completed_at.is_some());
        assert!(page.jobs[1].job.is_none() && page.jobs[2].job.is_none());
        assert!(!page.jobs[0].running && !page.jobs[1].running && !page.jobs[2].running);
        // A wanted job still in progress is known as running, not decoded.
        // Kept only for the wanted jobs, the ids of the others are their
        // keys alone.
        let page = match decode::<Option<Arc<str>>>(&body, &query, &only(&["ours", "quote\"d"])) {
            Ok(page) => page,
            Err(_) => panic!("the page decodes"),
        };
        assert!(page.jobs[2].running && page.jobs[2].job.is_none());
        assert_eq!(page.jobs[2].id.as_deref(), Some("quote\"d"));
        assert!(!page.jobs[0].running && page.jobs[0].job.is_some());
        assert_eq!(page.jobs[0].id.as_deref(), Some("ours"));
        assert_eq!(page.jobs[1].id, None);
        let keys: Vec<u64> = page.jobs.iter().map(|b| b.key).collect();
        assert_eq!(keys, ["ours", "theirs", "quote\"d"].map(id_key));
        let times: Vec<String> = page
            .jobs
            .iter()
            .map(|b| b.created_at.to_rfc3339())
            .collect();
        assert_eq!(
            times,
            [
                "2025-02-10T18:18:09.501223+00:00",
                "2025-02-10T18:18:08+00:00",
                "2025-02-10T17:18:07+00:00"
            ]
        );
        // The same as the generated type's decoding, for the wanted job.
        let full: wire::JobList = serde_json::from_slice(&body).unwrap();
        let whole = convert::job(full.result.into_iter().next().unwrap());
        assert_eq!(ours, &whole);
    }

    #[test]
    fn a_wanted_jobs_times_decode_as_the_generated_types_do() {
        for (updated, completed) in [
            (
                serde_json::json!("2025-02-10T18:18:39.25+01:00"),
                serde_json::json!(null),
            ),
            (
                serde_json::json!("2025-02-10 18:18:39Z"),
                serde_json::json!("2025-02-10t18:18:40.000001-00:30"),
            ),
            (
                serde_json::json!(null),
                serde_json::json!("2025-02-10T18:18:39Z"),
            ),
        ] {
            let mut page = page_json();
            page["result"][0]["updated_at"] = updated;
            page["result"][0]["completed_at"] = completed;
            let body = serde_json::to_vec(&page).unwrap();
            let Ok(brief) = decode::<String>(&body, &ListQuery::default(), &only(&["ours"])) else {
                panic!("the page decodes");
            };
            let full: wire::JobList = serde_json::from_slice(&body).unwrap();
            let whole = convert::job(full.result.into_iter().next().unwrap());
            assert_eq!(brief.jobs[0].job.as_ref(), Some(&whole));
        }
        let mut page = page_json();
        page["result"][0]["updated_at"] = serde_json::json!("yesterday");
        let body = serde_json::to_vec(&page).unwrap();
        assert!(serde_json::from_slice::<wire::JobList>(&body).is_err());
        assert!(decode::<String>(&body, &ListQuery::default(), &only(&["ours"])).is_err());
    }

    proptest::proptest! {
        /// The hand parser of the common form gives chrono's time for
        /// every text it takes, and takes every time written in that form.
        #[test]
        fn the_hand_parsed_times_are_chronos(
            secs in 0i64..253_402_300_799,
            nanos in 0u32..1_000_000_000,
            digits in 0usize..10,
            edit in proptest::option::of((0usize..40, proptest::char::range(' ', '~'))),
        ) {
            let t = DateTime::from_timestamp(secs, nanos).unwrap();
            let fraction = format!("{:09}", nanos);
            let mut text = t.format("%Y-%m-%dT%H:%M:%S").to_string();
            if digits > 0 {
                text += ".";
                text += &fraction[..digits];
            }
            text += "Z";
            let want = DateTime::parse_from_rfc3339(&text).unwrap().with_timezone(&Utc);
            proptest::prop_assert_eq!(utc_rfc3339(text.as_bytes()), Some(want));
            // Any text, one character changed: taken only as chrono takes it.
            if let Some((at, c)) = edit {
                let mut chars: Vec<char> = text.chars().collect();
                let at = at % chars.len();
                chars[at] = c;
                let edited: String = chars.into_iter().collect();
                if let Some(got) = utc_rfc3339(edited.as_bytes()) {
                    let chrono = DateTime::parse_from_rfc3339(&edited).map(|t| t.with_timezone(&Utc));
                    proptest::prop_assert_eq!(Ok(got), chrono, "{}", edited);
                }
            }
        }
    }

    #[test]
    fn other_forms_of_rfc3339_are_left_to_chrono() {
        for text in [
            "2025-02-10T18:18:09+00:00",
            "2025-02-10t18:18:09Z",
            "2025-02-10 18:18:09Z",
            "2025-02-10T18:18:60Z",
            "2025-02-30T18:18:09Z",
            "2025-02-10T18:18:09.Z",
            "2025-02-10T18:18:09.1234567890Z",
            "+2025-02-10T18:18:09Z",
            "2025-02-10T18:18:09",
        ] {
            assert_eq!(utc_rfc3339(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn a_brief_page_keeps_the_wire_types_required_fields() {
        let mut page = page_json();
        page["result"][1]
            .as_object_mut()
            .unwrap()
            .remove("application_id");
        let body = serde_json::to_vec(&page).unwrap();
        assert!(decode::<String>(&body, &ListQuery::default(), &only(&[])).is_err());
        let body = br#"{"result": [{"id": "x", "status": "completed", "application_id": "a"}]}"#;
        assert!(decode::<String>(body, &ListQuery::default(), &only(&[])).is_err());
        // A wanted job whose output is not the wire type's fails the page,
        // as the generated decoding would.
        let mut page = page_json();
        page["result"][0]["data"] = serde_json::json!({"title": 5});
        let body = serde_json::to_vec(&page).unwrap();
        assert!(decode::<String>(&body, &ListQuery::default(), &only(&["ours"])).is_err());
    }
}

/// What decoding a sweep page costs, brief and in full (run with
/// `cargo test --release -p writer-jobs --lib decode_cost -- --ignored
/// --nocapture`; the figures are in issue 18's note).
#[cfg(test)]
mod cost {
    use super::*;
    use std::time::Instant;

    #[test]
    #[ignore = "a measurement, not a check"]
    fn decode_cost() {
        let suggestion = "A durable, lightweight jacket for every season. ".repeat(8);
        let jobs: Vec<serde_json::Value> = (0..100)
            .map(|i| {
                serde_json::json!({
                    "id": format!("0000{i:04}-0001-4abc-8def-0123456789ab"),
                    "application_id": "demo-product-descriptions",
                    "status": "completed",
                    "created_at": format!("2025-02-10T18:{:02}:{:02}.501223Z", i / 60, i % 60),
                    "updated_at": "2025-02-10T18:20:39.100000Z",
                    "completed_at": "2025-02-10T18:20:39.100000Z",
                    "data": {"title": format!("Product #{i}"), "suggestion": suggestion},
                })
            })
            .collect();
        let body = serde_json::to_vec(&serde_json::json!({
            "result": jobs, "totalCount": 20000, "pagination": {"offset": 0, "limit": 100}
        }))
        .unwrap();
        let query = ListQuery::default();
        let rounds = 2000;
        let time = |f: &dyn Fn()| {
            f();
            let start = Instant::now();
            for _ in 0..rounds {
                f();
            }
            start.elapsed().as_secs_f64() * 1e6 / f64::from(rounds)
        };
        let full = time(&|| {
            let w: wire::JobList = serde_json::from_slice(&body).unwrap();
            std::hint::black_box(convert::page(w, &query));
        });
        let none = time(&|| {
            std::hint::black_box(decode::<String>(&body, &query, &|_: &str| None).ok());
        });
        let five = time(&|| {
            let ours = |id: &str| {
                (id.as_bytes()[6] == b'0' && id.as_bytes()[7] < b'5').then(|| Arc::from(id))
            };
            std::hint::black_box(decode::<String>(&body, &query, &ours).ok());
        });
        let text = std::str::from_utf8(&body).unwrap();
        let serde = time(&|| {
            std::hint::black_box(serde_json::from_str::<WirePage<'_>>(text).unwrap());
        });
        let scanned = time(&|| {
            std::hint::black_box(scan::page(text).unwrap());
        });
        println!(
            "a page of 100 jobs ({} bytes): generated JobList + convert {full:.1} µs; \
             brief, none ours {none:.1} µs; brief, 5 ours {five:.1} µs; \
             its fields by serde {serde:.1} µs, by the scan {scanned:.1} µs",
            body.len()
        );
    }
}
