//! The quick path of a list page's brief decoding: one pass over the
//! body's bytes that finds each job's fields and skips every other value,
//! with no serde machinery in between.
//!
//! Why: a sweep reads ten or so jobs for each of its own, and decoding
//! them through serde (its field-by-field visitor, a `RawValue` checked
//! for each skipped field, moves of the decoded structs) was a fifth of
//! the batch's instructions, more than the requests' HTTP framing.
//!
//! It never decides alone. It takes only a body in the plain form: JSON
//! without a string escape in a key, an id or a creation time, no `\u`
//! escape in any value, no known field twice, no number but a plain
//! integer for `totalCount` (and not `-0`), nesting no deeper than
//! [`MAX_DEPTH`], and every creation time one [`rfc3339_text`] reads.
//! For anything else it gives `None`, and the page is decoded by serde as
//! before, which accepts or refuses it with its own error. Within the
//! plain form it checks the whole JSON grammar serde_json checks (strings
//! without control characters, valid escapes, numbers, literals, commas,
//! nothing after the page), so what it takes serde takes too, with the
//! same fields: property tests compare the two on pages written every
//! way and on their corruptions, and `scan_tests.rs` on the corners an
//! adversary tried (it found `-0`).

use std::borrow::Cow;

use super::brief::{Raw, WireJob, WirePage, rfc3339_text};

/// The deepest nesting taken within a job's field (serde_json refuses
/// past 128 levels in all; deeper pages go to serde).
const MAX_DEPTH: u32 = 64;

/// A page in the plain form (see the module docs), decoded as serde
/// would; `None` for any other text.
pub(super) fn page(text: &str) -> Option<WirePage<'_>> {
    let mut s = Scan {
        text,
        b: text.as_bytes(),
        i: 0,
    };
    s.ws();
    s.eat(b'{')?;
    let mut result = None;
    let mut total_count = None;
    let mut pagination = None;
    s.fields(["result", "totalCount", "pagination"], |s, field| {
        match field {
            0 => result = Some(s.jobs()?),
            1 => total_count = s.total_count()?,
            _ => {
                let raw = s.raw()?;
                pagination = serde_json::from_str(raw.0).ok()?;
            }
        }
        Some(())
    })?;
    s.ws();
    if s.i != s.b.len() {
        return None;
    }
    Some(WirePage {
        result: result?,
        total_count,
        pagination,
    })
}

/// Where the first `"`, `\\` or control character of `rest` is: eight
/// bytes at a time (the bit trick serde_json's reader uses: a byte below
/// `x` sets its high bit in `w - x * ONES & !w`; bytes past the first
/// found may be flagged wrongly, so only the lowest flag counts).
fn special(rest: &[u8]) -> Option<usize> {
    const ONES: u64 = u64::MAX / 255;
    const HIGH: u64 = ONES << 7;
    let below = |w: u64, x: u8| w.wrapping_sub(ONES * u64::from(x)) & !w;
    let mut chunks = rest.chunks_exact(8);
    let mut at = 0;
    for chunk in &mut chunks {
        let mut word = [0; 8];
        word.copy_from_slice(chunk);
        let w = u64::from_le_bytes(word);
        let found = (below(w, 0x20)
            | below(w ^ (ONES * u64::from(b'"')), 1)
            | below(w ^ (ONES * u64::from(b'\\')), 1))
            & HIGH;
        if found != 0 {
            return Some(at + found.trailing_zeros() as usize / 8);
        }
        at += 8;
    }
    let tail = chunks.remainder();
    let n = tail
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
    Some(at + n)
}

/// A reader of the body's bytes; `text` is the same body, for slices.
struct Scan<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Scan<'a> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn next(&mut self) -> Option<u8> {
        let c = self.peek()?;
        self.i += 1;
        Some(c)
    }

    /// Takes `c`, or fails.
    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.i += 1)
    }

    /// Skips JSON's whitespace.
    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.peek() {
            self.i += 1;
        }
    }

    /// An object's members, after its `{`: each key handed to `member`
    /// with the reader at its value.
    fn members(&mut self, mut member: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.ws();
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            let key = self.plain_string()?;
            self.ws();
            self.eat(b':')?;
            self.ws();
            member(self, key)?;
            self.ws();
            match self.next()? {
                b',' => {}
                b'}' => return Some(()),
                _ => return None,
            }
        }
    }

    /// An object's members, after its `{`, as [`Scan::members`]: each
    /// field named in `names` read by `field` (with its index there), at
    /// most once (a field twice goes to serde, which refuses it), every
    /// other value skipped.
    fn fields<const N: usize>(
        &mut self,
        names: [&str; N],
        mut field: impl FnMut(&mut Self, usize) -> Option<()>,
    ) -> Option<()> {
        let mut seen = [false; N];
        self.members(|s, key| match names.iter().position(|&name| name == key) {
            Some(i) if !std::mem::replace(&mut seen[i], true) => field(s, i),
            Some(_) => None,
            None => s.value(0),
        })
    }

    /// An array's elements, after its `[`, each read by `element` with
    /// the reader at its start.
    fn elements(&mut self, mut element: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.ws();
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            self.ws();
            element(self)?;
            self.ws();
            match self.next()? {
                b',' => {}
                b']' => return Some(()),
                _ => return None,
            }
        }
    }

    /// Skips one value, checking its grammar.
    fn value(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'"' => {
                self.i += 1;
                self.string_rest().map(drop)
            }
            b'{' => {
                self.i += 1;
                self.members(|s, _| s.value(depth + 1))
            }
            b'[' => {
                self.i += 1;
                self.elements(|s| s.value(depth + 1))
            }
            b't' => self.literal(b"true"),
            b'f' => self.literal(b"false"),
            b'n' => self.literal(b"null"),
            b'-' | b'0'..=b'9' => self.number(),
            _ => None,
        }
    }

    /// One value, as its text.
    fn raw(&mut self) -> Option<Raw<'a>> {
        let start = self.i;
        self.value(0)?;
        Some(Raw(self.text.get(start..self.i)?))
    }

    /// One value, as its text, `None` for `null` (an optional field).
    fn optional_raw(&mut self) -> Option<Option<Raw<'a>>> {
        let raw = self.raw()?;
        Some((raw.0 != "null").then_some(raw))
    }

    fn literal(&mut self, word: &[u8]) -> Option<()> {
        let end = self.i + word.len();
        (self.b.get(self.i..end)? == word).then(|| self.i = end)
    }

    /// A number in JSON's grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)?
    /// ([eE] [+-]? [0-9]+)?`.
    fn number(&mut self) -> Option<()> {
        let _ = self.eat(b'-');
        match self.next()? {
            b'0' => {}
            b'1'..=b'9' => self.digits(),
            _ => return None,
        }
        if self.eat(b'.').is_some() {
            self.some_digits()?;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.i += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.i += 1;
            }
            self.some_digits()?;
        }
        Some(())
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.i += 1;
        }
    }

    fn some_digits(&mut self) -> Option<()> {
        let start = self.i;
        self.digits();
        (self.i > start).then_some(())
    }

    /// The rest of a string after its opening quote; whether it held an
    /// escape. A control character, a bad escape or no closing quote
    /// fails, as in serde_json; so does a `\u` escape (left to serde,
    /// which reads surrogate pairs).
    fn string_rest(&mut self) -> Option<bool> {
        let mut escaped = false;
        loop {
            self.i += special(self.b.get(self.i..)?)?;
            match self.next()? {
                b'"' => return Some(escaped),
                b'\\' => match self.next()? {
                    b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => escaped = true,
                    _ => return None,
                },
                _ => return None,
            }
        }
    }

    /// A string without escapes, as its text.
    fn plain_string(&mut self) -> Option<&'a str> {
        self.eat(b'"')?;
        let start = self.i;
        if self.string_rest()? {
            return None;
        }
        self.text.get(start..self.i - 1)
    }

    /// `totalCount`: `null`, or an integer of at most 18 digits other
    /// than `-0` (which serde_json reads as a float, refused for an
    /// integer).
    fn total_count(&mut self) -> Option<Option<i64>> {
        if self.literal(b"null").is_some() {
            return Some(None);
        }
        let start = self.i;
        self.number()?;
        let text = self.text.get(start..self.i)?;
        let digits = text.strip_prefix('-').unwrap_or(text);
        if digits.len() > 18 || !digits.bytes().all(|c| c.is_ascii_digit()) || text == "-0" {
            return None;
        }
        text.parse().ok().map(Some)
    }

    /// The `result` array of jobs.
    fn jobs(&mut self) -> Option<Vec<WireJob<'a>>> {
        self.eat(b'[')?;
        let mut jobs = Vec::new();
        self.elements(|s| {
            jobs.push(s.job()?);
            Some(())
        })?;
        Some(jobs)
    }

    /// One job object, its fields as [`WireJob`] keeps them.
    fn job(&mut self) -> Option<WireJob<'a>> {
        self.eat(b'{')?;
        let mut id = None;
        let mut created_at = None;
        let mut status = None;
        let mut application_id = None;
        let mut optional = [None; 4];
        let names = [
            "id",
            "created_at",
            "status",
            "application_id",
            "updated_at",
            "completed_at",
            "data",
            "error",
        ];
        self.fields(names, |s, field| {
            match field {
                0 => id = Some(s.plain_string()?),
                1 => created_at = Some(rfc3339_text(s.plain_string()?).ok()?),
                2 => status = Some(s.raw()?),
                3 => application_id = Some(s.raw()?),
                n => optional[n - 4] = s.optional_raw()?,
            }
            Some(())
        })?;
        let [updated_at, completed_at, data, error] = optional;
        Some(WireJob {
            id: Cow::Borrowed(id?),
            created_at: created_at?,
            status: status?,
            application_id: application_id?,
            updated_at,
            completed_at,
            data,
            error,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    use crate::client::scan_tests::{check, serde_page};

    /// Both decodings agree (see [`check`]), as a property's result.
    fn agree(text: &str) -> std::result::Result<(), TestCaseError> {
        check(text).map_err(TestCaseError::fail)
    }

    const PLAIN: &str = r#"{"pagination":{"limit":2,"offset":0},"result":[{"application_id":"demo","completed_at":"2026-12-04T19:56:15.159112Z","created_at":"2026-12-04T19:56:01.024190Z","data":{"suggestion":"[simulated] demo: Product name = x; Tone = \"casual\"\n","title":"Output"},"id":"1664b9b9-f689-480b-94fe-4cd6c219c6e2","status":"completed","updated_at":"2026-12-04T19:56:15.159112Z"},{"application_id":"demo","created_at":"2026-12-04T19:56:02Z","id":"b","status":"in_progress","error":null,"extra":[1,-2.5e+3,true,false,null,{}]}],"totalCount":2}"#;

    #[test]
    fn the_simulators_pages_take_the_quick_path() {
        let scanned = page(PLAIN).expect("a plain page is scanned");
        assert_eq!(scanned, serde_page(PLAIN).unwrap());
        assert_eq!(scanned.result.len(), 2);
        assert_eq!(scanned.result[1].error, None);
        assert_eq!(scanned.total_count, Some(2));
    }

    #[test]
    fn anything_out_of_the_plain_form_goes_to_serde() {
        for text in [
            // Escapes where the scan reads text, and `\u` anywhere.
            r#"{"result":[{"i\u0064":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}]}"#,
            r#"{"result":[{"id":"\u0078","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}]}"#,
            r#"{"result":[{"id":"x\"","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}]}"#,
            r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"\u0073","application_id":"a"}]}"#,
            // A field twice, a float count, a count past 18 digits.
            r#"{"result":[{"id":"x","id":"y","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}]}"#,
            r#"{"result":[],"totalCount":1.0}"#,
            r#"{"result":[],"totalCount":-0}"#,
            r#"{"result":[],"totalCount":1234567890123456789}"#,
            r#"{"result":[],"result":[]}"#,
            // A time the quick parsers refuse, a missing field.
            r#"{"result":[{"id":"x","created_at":"yesterday","status":"s","application_id":"a"}]}"#,
            r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s"}]}"#,
            // Not JSON.
            r#"{"result":[],}"#,
            r#"{"result":[] "totalCount":1}"#,
            r#"{"result":[]} x"#,
            r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":01,"application_id":"a"}]}"#,
            "{\"result\":[{\"id\":\"x\ty\",\"created_at\":\"2026-12-04T19:56:02Z\",\"status\":\"s\",\"application_id\":\"a\"}]}",
        ] {
            assert!(page(text).is_none(), "{text}");
        }
        let deep = format!(
            r#"{{"result":[{{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a","deep":{}1{}}}]}}"#,
            "[".repeat(70),
            "]".repeat(70)
        );
        assert!(page(&deep).is_none());
        assert!(serde_page(&deep).is_ok());
    }

    /// A JSON value of any shape, written with arbitrary whitespace and
    /// escapes.
    fn any_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::Bool),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(serde_json::Value::from),
            "[ -~\n\t\"\\\\é]{0,12}".prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(3, 16, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
                proptest::collection::btree_map("[a-z_]{1,6}", inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn any_job() -> impl Strategy<Value = serde_json::Value> {
        (
            "[a-z0-9-]{0,8}",
            prop_oneof![
                12 => Just("2026-12-04T19:56:02.024190Z".to_string()),
                1 => Just("2026-12-04T19:56:02.5+01:00".to_string()),
                1 => Just("2026-02-30T19:56:02Z".to_string()),
                1 => "[0-9T:.Z-]{0,24}",
            ],
            any_value(),
            any_value(),
            proptest::collection::btree_map(
                prop_oneof![
                    Just("updated_at".to_string()),
                    Just("completed_at".to_string()),
                    Just("data".to_string()),
                    Just("error".to_string()),
                    "[a-z_]{1,8}",
                ],
                any_value(),
                0..5,
            ),
            proptest::collection::vec(proptest::bool::weighted(0.97), 4),
        )
            .prop_map(|(id, created, status, app, others, keep)| {
                let mut job = serde_json::Map::new();
                for (keep, (key, value)) in keep.into_iter().zip([
                    ("id", serde_json::Value::from(id)),
                    ("created_at", serde_json::Value::from(created)),
                    ("status", status),
                    ("application_id", app),
                ]) {
                    // Mostly there: a required field is sometimes missing.
                    if keep || key == "id" {
                        job.insert(key.into(), value);
                    }
                }
                job.extend(others);
                serde_json::Value::Object(job)
            })
    }

    /// A page's text: its jobs, count and pagination, written with
    /// whitespace between tokens where `spaced`.
    fn any_page() -> impl Strategy<Value = String> {
        (
            proptest::collection::vec(any_job(), 0..5),
            prop_oneof![
                1 => Just(serde_json::Value::Null),
                4 => (-1i64..100_000).prop_map(serde_json::Value::from),
                1 => any::<i64>().prop_map(serde_json::Value::from),
                1 => any_value(),
            ],
            prop_oneof![
                1 => Just(serde_json::Value::Null),
                4 => (0u32..1000, 1u32..200).prop_map(|(offset, limit)| {
                    serde_json::json!({"offset": offset, "limit": limit})
                }),
                1 => any_value(),
            ],
            any::<bool>(),
        )
            .prop_map(|(jobs, total, pagination, spaced)| {
                let page = serde_json::json!({
                    "result": jobs, "totalCount": total, "pagination": pagination,
                });
                if spaced {
                    serde_json::to_string_pretty(&page).unwrap()
                } else {
                    serde_json::to_string(&page).unwrap()
                }
            })
    }

    /// The pages the property tests write mostly take the quick path, so
    /// the properties are about it, not about serde alone.
    #[test]
    fn most_written_pages_are_scanned() {
        use proptest::strategy::ValueTree;
        let mut runner = proptest::test_runner::TestRunner::deterministic();
        let strategy = any_page();
        let scanned = (0..400)
            .filter(|_| page(&strategy.new_tree(&mut runner).unwrap().current()).is_some())
            .count();
        assert!(scanned >= 120, "{scanned} of 400 pages scanned");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// Any page, as written: the scan takes it as serde does, or
        /// leaves it to serde.
        #[test]
        fn any_page_scans_as_serde_decodes_it(text in any_page()) {
            agree(&text)?;
        }

        /// Any page with one byte changed, removed or added: taken only
        /// as serde takes it.
        #[test]
        fn any_corrupted_page_scans_as_serde_decodes_it(
            text in any_page(),
            at in any::<proptest::sample::Index>(),
            byte in prop_oneof![
                Just(b'"'), Just(b'\\'), Just(b','), Just(b':'), Just(b'{'), Just(b'}'),
                Just(b'['), Just(b']'), Just(b'0'), Just(b'-'), Just(b'e'), Just(b'.'),
                Just(b' '), Just(b'\n'), Just(0x01u8), any::<u8>(),
            ],
            how in 0..3u8,
        ) {
            let mut bytes = text.into_bytes();
            let at = at.index(bytes.len() + 1);
            match how {
                0 if at < bytes.len() => bytes[at] = byte,
                1 if at < bytes.len() => {
                    bytes.remove(at);
                }
                _ => bytes.insert(at, byte),
            }
            if let Ok(text) = std::str::from_utf8(&bytes) {
                agree(text)?;
            }
        }
    }
}
