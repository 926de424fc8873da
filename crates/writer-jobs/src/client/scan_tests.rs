//! The corners of the claim that whatever [`super::scan::page`] takes,
//! serde_json takes too, with the same [`WirePage`]: written by someone
//! trying to break it (grammar corners, escapes, the eight-byte string
//! skipper at every offset, nesting, big bodies). The one break found,
//! a `totalCount` of `-0`, is [`total_count_negative_zero`].

use super::brief::WirePage;
use super::scan::page;
use proptest::prelude::*;

/// The page as serde decodes it.
pub(super) fn serde_page(text: &str) -> Result<WirePage<'_>, String> {
    serde_json::from_str::<WirePage<'_>>(text).map_err(|e| e.to_string())
}

/// `Err` with a description when the scan takes `text` and serde does not,
/// or gives other fields (the scan's own properties check this too).
pub(super) fn check(text: &str) -> Result<(), String> {
    if let Some(scanned) = page(text) {
        match serde_page(text) {
            Err(e) => return Err(format!("scan took {text:?} as {scanned:?}; serde: {e}")),
            Ok(decoded) if decoded != scanned => {
                return Err(format!(
                    "{text:?}: scan gave {scanned:?}, serde gave {decoded:?}"
                ));
            }
            Ok(_) => {}
        }
    }
    Ok(())
}

const JOB: &str =
    r#"{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}"#;

/// A page with one job whose extra field `extra` holds `value`.
fn with_extra(value: &str) -> String {
    format!(
        r#"{{"result":[{{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a","extra":{value}}}]}}"#
    )
}

/// A page with one job whose `status` is `value` (a Raw field).
fn with_status(value: &str) -> String {
    format!(
        r#"{{"result":[{{"id":"x","created_at":"2026-12-04T19:56:02Z","status":{value},"application_id":"a"}}]}}"#
    )
}

fn with_total(value: &str) -> String {
    format!(r#"{{"result":[{JOB}],"totalCount":{value}}}"#)
}

fn with_pagination(value: &str) -> String {
    format!(r#"{{"result":[{JOB}],"pagination":{value}}}"#)
}

fn with_created(text: &str) -> String {
    format!(
        r#"{{"result":[{{"id":"x","created_at":"{text}","status":"s","application_id":"a"}}]}}"#
    )
}

fn with_id(text: &str) -> String {
    format!(
        r#"{{"result":[{{"id":"{text}","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}}]}}"#
    )
}

fn all(cases: impl IntoIterator<Item = String>) {
    let failures: Vec<String> = cases.into_iter().filter_map(|t| check(&t).err()).collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// serde_json reads `-0` as the float -0.0 and refuses it for an `i64`:
/// the scan, which took it for the integer 0, must leave it to serde.
#[test]
fn total_count_negative_zero() {
    let text = with_total("-0");
    assert!(serde_page(&text).is_err());
    check(&text).unwrap();
}

#[test]
fn total_counts() {
    let mut cases = vec![];
    for v in [
        "0",
        "-1",
        "1",
        "00",
        "01",
        "-00",
        "1.0",
        "1e2",
        "1E+2",
        "-",
        "+1",
        "1.",
        ".1",
        "null",
        "nul",
        "nullx",
        "true",
        "\"1\"",
        "[]",
        "{}",
        "999999999999999999",
        "-999999999999999999",
        "9999999999999999999",
        "-9223372036854775808",
        "9223372036854775807",
        "000000000000000000",
        "0 ",
        " 0",
        "1 1",
        "-0.0",
        "-0e0",
        "0e0",
    ] {
        cases.push(with_total(v));
    }
    // Everything but the known -0 break.
    all(cases);
}

#[test]
fn numbers_and_literals_in_skipped_and_raw_fields() {
    let values = [
        "-",
        "1.",
        "1e",
        "-01",
        "1E+",
        "1e+",
        "1e-",
        "01",
        "00",
        "-0",
        "0",
        "-0.0",
        "1.5e308",
        "1e400",
        "-1e400",
        "1e999999999999999999999",
        "1.0e-400",
        "0.",
        ".5",
        "+1",
        "1e+5",
        "1E-5",
        "12345678901234567890123456789",
        "nul",
        "nulll",
        "truex",
        "true",
        "false",
        "null",
        "fals",
        "tru",
        "t",
        "n",
        "f",
        "NaN",
        "Infinity",
        "-Infinity",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{\"a\":1,}",
        "{\"a\" 1}",
        "{\"a\":}",
        "{1:2}",
        "{\"a\":1 \"b\":2}",
        "[]",
        "{}",
        "[ ]",
        "{ }",
        "[[]]",
        "\"\"",
        "\"\\/\"",
        "\"\\b\\f\\n\\r\\t\\\\\\\"\"",
        "\"\\a\"",
        "\"\\x41\"",
        "\"\\u0041\"",
        "\"\\uD800\"",
        "\"\\\"",
        "\"\u{7f}\"",
        "\"é\"",
        "\"\u{a0}\"",
        "1\u{a0}",
        "\u{a0}1",
        "\u{c}1",
        "1\u{c}",
        "\u{b}1",
        "\u{feff}1",
        "0x10",
        "1_000",
        "[1]]",
        "{}}",
        "\"a\"\"b\"",
        "\"\t\"",
        "\"\n\"",
        "\"\u{0}\"",
        "\"\u{1f}\"",
    ];
    let mut cases = vec![];
    for v in values {
        cases.push(with_extra(v));
        cases.push(with_status(v));
        cases.push(with_pagination(v));
        cases.push(format!(r#"{{"result":[{JOB}],"other":{v}}}"#));
        cases.push(format!(
            r#"{{"result":[{{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a","data":{v}}}]}}"#
        ));
        cases.push(format!(
            r#"{{"result":[{{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a","error":{v}}}]}}"#
        ));
    }
    all(cases);
}

#[test]
fn whole_body_shapes() {
    let j = JOB;
    let cases = [
        String::new(),
        " ".into(),
        "{".into(),
        "}".into(),
        "{}".into(),
        "null".into(),
        "[]".into(),
        r#"{"result":null}"#.into(),
        r#"{"result":[]}"#.into(),
        r#"{"result":{}}"#.into(),
        r#"{"result":[null]}"#.into(),
        r#"{"result":[[]]}"#.into(),
        format!(r#"{{"result":[{j}]}}"#),
        format!("\u{feff}{{\"result\":[{j}]}}"),
        format!("{{\"result\":[{j}]}}\u{feff}"),
        format!("{{\"result\":[{j}]}}\u{c}"),
        format!("\u{c}{{\"result\":[{j}]}}"),
        format!("{{\"result\":[{j}]}}\u{a0}"),
        format!("{{\"result\":[{j}]}}\u{0}"),
        format!("{{\"result\":[{j}]}} \n\r\t"),
        format!(" \n\r\t{{ \"result\" : [ {j} ] }}"),
        format!("{{\"result\":[{j}]}}{{}}"),
        format!("{{\"result\":[{j}]}},"),
        format!("{{\"result\":[{j}],}}"),
        format!("{{\"result\":[{j},]}}"),
        format!("{{\"result\":[{j}]"),
        format!("{{\"result\":[{j}]}}]"),
        format!("{{\"result\":[{j}],\"result\":[]}}"),
        format!("{{\"result\":[{j}],\"totalCount\":1,\"totalCount\":1}}"),
        format!("{{\"result\":[{j}],\"pagination\":null,\"pagination\":null}}"),
        format!("{{\"result\":[{j}],\"totalCount\":null}}"),
        format!("{{\"result\":[{j}],\"x\":1,\"x\":2}}"),
        format!("{{\"result\":[{j},{j}]}}"),
        format!("{{\"result\":[{j}{j}]}}"),
        format!("{{\"Result\":[{j}]}}"),
        format!("{{\"result \":[{j}]}}"),
        format!("{{\"result\"\u{c}:[{j}]}}"),
        format!("{{\"result\":\u{a0}[{j}]}}"),
        // Nested `id`s and known names at depth are just content.
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":{"id":"y","status":1,"status":2},"application_id":"a","data":{"id":"z","created_at":"bad","id":"w"}}]}"#.into(),
        // Job duplicates and missing fields.
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a","data":null,"data":null}]}"#.into(),
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a","error":null,"error":1}]}"#.into(),
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a","updated_at":null,"updated_at":null}]}"#.into(),
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a","updated_at":null,"completed_at":null}]}"#.into(),
        r#"{"result":[{"id":null,"created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}]}"#.into(),
        r#"{"result":[{"id":1,"created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}]}"#.into(),
        r#"{"result":[{"id":"x","created_at":null,"status":"s","application_id":"a"}]}"#.into(),
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":null,"application_id":null}]}"#.into(),
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","application_id":"a"}]}"#.into(),
        r#"{"result":[{"created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}]}"#.into(),
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}],"pagination":{"limit":1,"limit":2}}"#.into(),
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}],"pagination":[1,2]}"#.into(),
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}],"pagination":[1,2,3]}"#.into(),
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}],"pagination":{"limit":-0}}"#.into(),
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}],"pagination":{"limit":2147483648}}"#.into(),
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}],"pagination":{"limit":1.0}}"#.into(),
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}],"pagination":{"limit":null,"offset":null,"x":[]}}"#.into(),
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}],"pagination":{}}"#.into(),
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}],"pagination":"x"}"#.into(),
        r#"{"result":[{"id":"x","created_at":"2026-12-04T19:56:02Z","status":"s","application_id":"a"}],"pagination":0}"#.into(),
    ];
    all(cases);
}

#[test]
fn creation_times() {
    let times = [
        "2026-12-04T19:56:02Z",
        "2026-12-04T19:56:02.1Z",
        "2026-12-04T19:56:02.123456789Z",
        "2026-12-04T19:56:02.1234567891Z",
        "2026-12-04T19:56:02+00:00",
        "2026-12-04T19:56:02-00:00",
        "2026-12-04T19:56:02+01:30",
        "2026-12-04t19:56:02z",
        "2026-12-04 19:56:02Z",
        "2026-12-04T19:56:60Z",
        "2026-12-31T23:59:60Z",
        "2026-02-29T00:00:00Z",
        "2024-02-29T00:00:00Z",
        "2026-12-04T19:56:02",
        "2026-12-04",
        "+2026-12-04T19:56:02Z",
        "2026-12-04T19:56:02.Z",
        "0000-01-01T00:00:00Z",
        "9999-12-31T23:59:59.999999999Z",
        "2026-12-04T24:00:00Z",
        "2026-12-04T19:56:02+24:00",
        "2026-12-04T19:56:02+23:59",
        "2026-12-04T19:56:02.5+0100",
        "2026-12-04T19:56:02 +01:00",
        "2026-12-04T19:56:02UTC",
        "",
        "Z",
        "2026-12-04T19:56:02,5Z",
        "２026-12-04T19:56:02Z",
        "2026-12-04T19:56:02Ｚ",
        "2026-12-04T19:56:02\u{7f}",
        "2026-12-04T19:56:02Z\u{7f}",
    ];
    all(times.iter().map(|t| with_created(t)));
}

/// Strings whose special byte sits around the 8-byte chunk boundaries of
/// `special`, with every byte kind before and at it.
#[test]
fn chunk_boundaries() {
    let fillers: &[&str] = &[
        "a",
        "\u{7f}",
        "é",
        "\u{a0}",
        "€",
        "😀",
        " ",
        "!",
        "#",
        "[",
        "]",
        "^",
        "\u{80}",
        "\u{ff}",
        "\u{100}",
        "\u{1ff}",
        "\u{5c5c}",
        "\u{2222}",
        "\u{2020}",
        "\u{FFFF}",
        "\u{10FFFF}",
    ];
    let enders: &[&str] = &[
        "", "\\\"", "\\\\", "\\/", "\\n", "\\u0041", "\\a", "\u{1}", "\u{1f}", "\t", "\u{0}", "\\",
        "\\é",
    ];
    let mut cases = vec![];
    for n in 0..20 {
        for f in fillers {
            for e in enders {
                for tail in ["", "b", "é", "bbbbbbbbb"] {
                    let s = format!("{}{e}{tail}", f.repeat(n));
                    cases.push(with_id(&s));
                    cases.push(with_extra(&format!("\"{s}\"")));
                    cases.push(with_status(&format!("\"{s}\"")));
                    // The string's end cut off, too.
                    cases.push(format!(r#"{{"result":[{JOB}],"x":"{s}"#));
                }
            }
        }
    }
    all(cases);
}

/// Depth around the scan's limit and serde's (128).
#[test]
fn nesting_depths() {
    let mut cases = vec![];
    for d in 55..140 {
        cases.push(with_extra(&format!("{}1{}", "[".repeat(d), "]".repeat(d))));
        cases.push(with_status(&format!("{}{}", "[".repeat(d), "]".repeat(d))));
        cases.push(with_pagination(&format!(
            "{}{}",
            "[".repeat(d),
            "]".repeat(d)
        )));
        cases.push(with_extra(&format!(
            "{}1{}",
            "{\"a\":".repeat(d),
            "}".repeat(d)
        )));
        cases.push(format!(
            r#"{{"result":[{JOB}],"x":{}{}}}"#,
            "[".repeat(d),
            "]".repeat(d)
        ));
        cases.push(with_extra(&format!(
            "{}1{}",
            "[".repeat(d),
            "]".repeat(d - 1)
        )));
    }
    all(cases);
}

/// Large bodies: no panic, no stack overflow, and the same answer as
/// serde's (how the time grows is for a benchmark, not a test).
#[test]
fn big_bodies_are_taken_as_serde_takes_them() {
    let shapes: Vec<Box<dyn Fn(usize) -> String>> = vec![
        Box::new(|n| format!(r#"{{"result":[{}]}}"#, vec![JOB; n].join(","))),
        Box::new(|n| with_extra(&format!("[{}]", vec!["[[[[]]]]"; n].join(",")))),
        Box::new(|n| with_extra(&format!("\"{}\"", "\\n".repeat(n)))),
        Box::new(|n| with_extra(&format!("\"{}\"", "a".repeat(n * 8)))),
        Box::new(|n| with_extra(&"[".repeat(n))),
        Box::new(|n| with_extra(&"{\"a\":".repeat(n))),
        Box::new(|n| with_extra(&format!("{{{}}}", vec!["\"k\":1"; n].join(",")))),
        Box::new(|n| format!(r#"{{"result":[{JOB}],"totalCount":{}}}"#, "1".repeat(n))),
        Box::new(|n| with_extra(&format!("1{}", "0".repeat(n)))),
        Box::new(|n| with_pagination(&format!("[{}]", vec!["1"; n].join(",")))),
        Box::new(|n| format!("{{{}", " ".repeat(n))),
    ];
    for shape in &shapes {
        check(&shape(160_000)).unwrap();
    }
}

fn token() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("{".to_string()),
        Just("}".to_string()),
        Just("[".to_string()),
        Just("]".to_string()),
        Just(",".to_string()),
        Just(":".to_string()),
        Just("\"".to_string()),
        Just("\\".to_string()),
        Just("-0".to_string()),
        Just("0".to_string()),
        Just("-".to_string()),
        Just("1e".to_string()),
        Just(".".to_string()),
        Just("null".to_string()),
        Just("nul".to_string()),
        Just(" ".to_string()),
        Just("\u{c}".to_string()),
        Just("\u{a0}".to_string()),
        Just("\u{7f}".to_string()),
        Just("é".to_string()),
        Just("\u{1}".to_string()),
        Just("\\u".to_string()),
        Just("\\/".to_string()),
        Just("\"id\"".to_string()),
        Just("\"totalCount\"".to_string()),
        Just("\"pagination\"".to_string()),
        Just("\"result\"".to_string()),
        Just("\"created_at\"".to_string()),
        Just("\"2026-12-04T19:56:02Z\"".to_string()),
        Just(JOB.to_string()),
        "[ -~]{0,3}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    /// A plain page with token soup spliced in at some place.
    #[test]
    fn spliced_pages_agree(
        at in any::<proptest::sample::Index>(),
        cut in 0usize..4,
        tokens in proptest::collection::vec(token(), 0..5),
        total in prop_oneof![Just("null".to_string()), (-5i64..5).prop_map(|n| n.to_string())],
    ) {
        let base = format!(
            r#"{{"result":[{JOB},{{"id":"y","created_at":"2026-12-04T19:56:02.5+01:00","status":{{"a":[1,2.5e3,"é"]}},"application_id":"DEL","data":null,"error":"e\n"}}],"totalCount":{total},"pagination":{{"limit":2,"offset":0}}}}"#
        ).replace("DEL", "\u{7f}");
        let boundaries: Vec<usize> = (0..=base.len()).filter(|&i| base.is_char_boundary(i)).collect();
        let i = boundaries[at.index(boundaries.len())];
        let j = (i + cut).min(base.len());
        let j = (j..=base.len()).find(|&j| base.is_char_boundary(j)).unwrap();
        let text = format!("{}{}{}", &base[..i], tokens.concat(), &base[j..]);
        if let Err(e) = check(&text) {
            return Err(TestCaseError::fail(e));
        }
    }
}

/// The checks above are not vacuous: plain strings of every filler and
/// length, and skipped values with plain escapes, do take the quick path.
#[test]
fn the_plain_cases_are_scanned() {
    for n in 0..20 {
        for f in [
            "a",
            "\u{7f}",
            "é",
            "\u{a0}",
            "😀",
            "\u{5c5c}",
            "\u{2222}",
            "\u{10FFFF}",
        ] {
            let s = f.repeat(n);
            assert!(page(&with_id(&s)).is_some(), "{s:?}");
            for e in ["\\\"", "\\\\", "\\/", "\\n"] {
                let v = format!("\"{s}{e}{s}\"");
                assert!(page(&with_extra(&v)).is_some(), "{v:?}");
                assert!(page(&with_status(&v)).is_some(), "{v:?}");
            }
        }
    }
    for v in ["1e400", "-0", "1E+5", "[]", "{}", "\"\u{7f}\""] {
        assert!(page(&with_extra(v)).is_some(), "{v}");
    }
    assert!(
        page(&with_extra(&format!(
            "{}1{}",
            "[".repeat(64),
            "]".repeat(64)
        )))
        .is_some()
    );
    assert!(page(&with_created("2026-12-04T19:56:02+01:30")).is_some());
    assert!(page(&with_pagination("[1,2]")).is_some());
}
