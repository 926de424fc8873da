//! Unit tests of the reconciler's decisions (times are plain arguments).
use super::*;
use crate::model::Inputs;

const HOLD: Duration = Duration::from_secs(300);
const MARGIN: Duration = Duration::from_secs(30);

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// A reconciler started at clock time 0 = wall time `t(0)`, knowing
/// nothing of the server's clock.
fn unmeasured() -> Reconciler {
    let windows = Windows::new(
        (t(0), Duration::ZERO),
        HOLD,
        MARGIN,
        SkewEstimate::default(),
    );
    let limits = Limits {
        give_up_after: s(900),
        min_interval: s(1),
        skew_margin: MARGIN,
        known_cap: 8,
    };
    Reconciler::new(windows, HashMap::new(), Vec::new(), limits)
}

/// A reconciler started at clock time 0 = wall time `t(0)`, with this
/// run's creates showing the server's clock equal to ours.
fn reconciler() -> Reconciler {
    let mut r = unmeasured();
    r.observe_create(t(0), t(0), t(0));
    r
}

fn ambiguous(key: &str, sent: i64) -> Ambiguous {
    let row = Row::new(key, Inputs::new().text("Name", key));
    let span = (t(sent), shift(t(sent), chrono::Duration::seconds(300)));
    Ambiguous::new(key.into(), Some(row), 0, 1, span, "timed out")
}

fn listing(jobs: &[(&str, i64)], started: Duration) -> Listing {
    Listing {
        jobs: jobs
            .iter()
            .map(|(id, at)| (id.to_string(), t(*at)))
            .collect(),
        covered_since: DateTime::<Utc>::MIN_UTC,
        covered_until: DateTime::<Utc>::MAX_UTC,
        order: Default::default(),
        started,
        marks: Vec::new(),
        end: None,
    }
}

fn dates() -> SkewEstimate {
    SkewEstimate::default()
}

#[test]
fn a_create_is_judged_only_after_the_servers_hold_has_passed() {
    let mut r = reconciler();
    r.add(ambiguous("a", 10), s(10), &dates());
    assert!(!r.due(s(300)), "the hold runs to 310 s");
    assert_eq!(r.step(s(305), &dates(), false), Step::Wait);
    let settle = r.next_wake().unwrap();
    assert!(settle >= s(310), "settles at {settle:?}");
    match r.step(settle, &dates(), false) {
        Step::List { back_to, up_to } => {
            assert!(back_to <= t(10) && up_to >= t(310));
        }
        other => panic!("expected a listing, got {other:?}"),
    }
    assert_eq!(r.next_wake(), None, "a listing is running");
}

#[test]
fn an_empty_window_resends_and_one_orphan_is_adopted_only_when_exclusive() {
    for exclusive in [false, true] {
        let mut r = reconciler();
        r.add(ambiguous("empty", 10), s(10), &dates());
        r.add(ambiguous("one", 1000), s(1000), &dates());
        let started = s(2000);
        let step = r.step(started, &dates(), false);
        assert!(matches!(step, Step::List { .. }), "{step:?}");
        let decided = r
            .listed(
                &listing(&[("j1", 1001)], started),
                started,
                &dates(),
                false,
                exclusive,
            )
            .expect("the skew is measured");
        let verdict = |key: &str| {
            decided
                .iter()
                .find(|(a, _)| a.key == key)
                .map(|(_, v)| v.clone())
        };
        assert_eq!(
            verdict("empty"),
            Some(Verdict::NotLanded {
                key: "empty".into()
            })
        );
        let one = verdict("one").unwrap();
        if exclusive {
            assert_eq!(
                one,
                Verdict::Adopt {
                    key: "one".into(),
                    job_id: "j1".into()
                }
            );
        } else {
            assert!(
                matches!(one, Verdict::Unresolved { ref candidates, .. } if candidates == &["j1"])
            );
        }
        assert!(r.is_empty());
    }
}

#[test]
fn a_create_on_the_wire_keeps_an_orphan_in_its_window_from_being_judged() {
    let mut r = reconciler();
    r.add(ambiguous("a", 10), s(10), &dates());
    r.sent("b", t(20));
    let started = s(400);
    assert!(matches!(
        r.step(started, &dates(), false),
        Step::List { .. }
    ));
    let decided = r
        .listed(
            &listing(&[("j", 25)], started),
            started,
            &dates(),
            false,
            true,
        )
        .unwrap();
    assert!(decided.is_empty(), "{decided:?}");
    assert_eq!(r.len(), 1);
    r.answered("b");
    assert!(matches!(r.step(s(410), &dates(), false), Step::List { .. }));
    let decided = r
        .listed(
            &listing(&[("j", 25)], s(410)),
            s(410),
            &dates(),
            false,
            true,
        )
        .unwrap();
    assert_eq!(decided.len(), 1);
}

#[test]
fn a_lost_retry_window_blocks_adoption() {
    let mut r = reconciler();
    r.add(ambiguous("a", 10), s(10), &dates());
    r.lost_retry("b", t(12), s(12));
    let started = s(2000);
    assert!(matches!(
        r.step(started, &dates(), false),
        Step::List { .. }
    ));
    let decided = r
        .listed(
            &listing(&[("j", 15)], started),
            started,
            &dates(),
            false,
            true,
        )
        .unwrap();
    assert!(
        matches!(&decided[..], [(_, Verdict::Unresolved { .. })]),
        "{decided:?}"
    );
}

#[test]
fn known_jobs_are_never_orphans() {
    let mut r = reconciler();
    r.remember("ours".into(), t(15), s(15), &dates());
    r.add(ambiguous("a", 10), s(10), &dates());
    let started = s(2000);
    assert!(matches!(
        r.step(started, &dates(), false),
        Step::List { .. }
    ));
    let decided = r
        .listed(
            &listing(&[("ours", 15)], started),
            started,
            &dates(),
            false,
            true,
        )
        .unwrap();
    assert_eq!(decided[0].1, Verdict::NotLanded { key: "a".into() });
}

#[test]
fn without_skew_evidence_it_probes_before_judging() {
    let mut r = unmeasured();
    r.add(ambiguous("a", 0), s(0), &dates());
    let later = s(10_000);
    assert_eq!(r.step(later, &dates(), false), Step::Probe);
    assert_eq!(
        r.step(later, &dates(), true),
        Step::Wait,
        "one probe at a time"
    );
    assert_eq!(r.next_wake(), Some(later + s(1)));
}

#[test]
fn a_list_endpoint_that_stays_down_backs_off_then_gives_up() {
    let mut r = reconciler();
    r.add(ambiguous("a", 0), s(0), &dates());
    let settle = r.next_wake().unwrap();
    let mut now = settle;
    let mut pauses = Vec::new();
    let mut given_up = Vec::new();
    while given_up.is_empty() {
        assert!(matches!(r.step(now, &dates(), false), Step::List { .. }));
        given_up = r.listing_failed(now, "503");
        let next = r.next_wake().unwrap_or(now + s(60));
        pauses.push((next - now).as_secs());
        now = next;
    }
    assert_eq!(&pauses[..5], &[10, 20, 40, 60, 60]);
    assert!(now >= settle + s(900));
    assert!(
        given_up[0].reason.contains("could not be listed"),
        "{}",
        given_up[0].reason
    );
    assert!(r.is_empty());
}

#[test]
fn resumed_rows_block_creates_and_get_their_row_when_read() {
    let mut r = reconciler();
    let mut a = ambiguous("a", 0).left_by_earlier_run();
    a.row = None;
    r.add(a, s(0), &dates());
    assert!(r.blocks_creates());
    let row = Row::new("b", Inputs::new());
    assert!(r.attach_row(row, 3).is_some(), "no ambiguous create for b");
    assert!(r.attach_row(Row::new("a", Inputs::new()), 4).is_none());
    r.defer("c".into(), Early::Resend { creates: 2 });
    assert_eq!(r.take_early("c"), Some(Early::Resend { creates: 2 }));
    assert_eq!(r.take_early("c"), None);
}

#[test]
fn known_ids_are_pruned_to_what_windows_can_reach() {
    let mut r = reconciler();
    for i in 0..20 {
        r.remember(format!("old-{i}"), t(i), s(5000), &dates());
    }
    r.add(ambiguous("a", 4000), s(4000), &dates());
    r.remember("new".into(), t(4100), s(5000), &dates());
    assert!(r.is_known("new"));
    assert!(!r.is_known("old-0"), "created long before any window");
}
