//! Unit tests of the reconciler's decisions (times are plain arguments).
use super::*;
use crate::batch::reconcile::SkewEstimate;
use crate::model::Inputs;

const HOLD: Duration = Duration::from_secs(300);

fn t(secs: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
}

fn s(secs: u64) -> Duration {
    Duration::from_secs(secs)
}

/// A reconciler started at clock time 0 = wall time `t(0)`, knowing
/// nothing of the server's clock.
fn unmeasured() -> Reconciler {
    let windows = Windows::new((t(0), Duration::ZERO), HOLD, HashMap::new());
    let limits = Limits {
        give_up_after: s(900),
        min_interval: s(1),
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
        first_page_stamp: None,
        ties: Vec::new(),
        newest_stamp: None,
    }
}

#[test]
fn a_create_is_judged_only_after_the_servers_hold_has_passed() {
    let mut r = reconciler();
    r.add(ambiguous("a", 10), s(10));
    assert!(!r.due(s(300)), "the hold runs to 310 s");
    assert_eq!(r.step(s(305)), Step::Wait);
    let settle = r.next_wake().unwrap();
    assert!(settle >= s(310), "settles at {settle:?}");
    match r.step(settle) {
        Step::List {
            back_to,
            up_to,
            patient,
        } => {
            assert!(back_to <= t(10) && up_to >= t(310));
            assert!(!patient, "no listing failed yet: the read timeout holds");
        }
        other => panic!("expected a listing, got {other:?}"),
    }
    assert_eq!(
        r.next_wake(),
        Some(settle + s(900)),
        "a listing is running: only the give-up time wakes the reconciler"
    );
}

/// A listing that failed (a list slower than the read timeout, say) is
/// followed by ones whose pages get the whole request timeout, for the
/// rest of the run: a list slow once is likely slow again.
#[test]
fn after_a_failed_listing_the_next_one_waits_the_whole_request_timeout() {
    let patient = |step: Step| match step {
        Step::List { patient, .. } => patient,
        other => panic!("expected a listing, got {other:?}"),
    };
    let mut r = reconciler();
    r.add(ambiguous("a", 10), s(10));
    let due = r.next_wake().unwrap();
    assert!(!patient(r.step(due)));
    r.listing_failed(due, "list_jobs got no answer within 10s");
    let again = r.next_wake().unwrap();
    assert!(patient(r.step(again)), "the second listing is patient");
    r.listing_failed(again, "list_jobs got no answer within 10s");
    let third = r.next_wake().unwrap();
    assert!(patient(r.step(third)));
    r.listed(&listing(&[], third), third, false);
    r.add(ambiguous("b", 5000), s(5000));
    let next = r.next_wake().unwrap();
    assert!(patient(r.step(next)), "still patient after a success");
}

#[test]
fn an_empty_window_resends_and_one_orphan_is_adopted_only_when_exclusive() {
    for exclusive in [false, true] {
        let mut r = reconciler();
        r.add(ambiguous("empty", 10), s(10));
        r.add(ambiguous("one", 1000), s(1000));
        let started = s(2000);
        let step = r.step(started);
        assert!(matches!(step, Step::List { .. }), "{step:?}");
        let decided = r.listed(&listing(&[("j1", 1001)], started), started, exclusive);
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
    r.add(ambiguous("a", 10), s(10));
    r.sent("b", t(20));
    let started = s(400);
    assert!(matches!(r.step(started), Step::List { .. }));
    let decided = r.listed(&listing(&[("j", 25)], started), started, true);
    assert!(decided.is_empty(), "{decided:?}");
    assert_eq!(r.len(), 1);
    r.answered("b");
    assert!(matches!(r.step(s(410)), Step::List { .. }));
    let decided = r.listed(&listing(&[("j", 25)], s(410)), s(410), true);
    assert_eq!(decided.len(), 1);
}

#[test]
fn a_lost_retry_window_blocks_adoption() {
    let mut r = reconciler();
    r.add(ambiguous("a", 10), s(10));
    r.lost_retry("b", t(12), s(12));
    let started = s(2000);
    assert!(matches!(r.step(started), Step::List { .. }));
    let decided = r.listed(&listing(&[("j", 15)], started), started, true);
    assert!(
        matches!(&decided[..], [(_, Verdict::Unresolved { .. })]),
        "{decided:?}"
    );
}

#[test]
fn known_jobs_are_never_orphans() {
    let mut r = reconciler();
    r.remember("ours".into(), t(15), s(15));
    r.add(ambiguous("a", 10), s(10));
    let started = s(2000);
    assert!(matches!(r.step(started), Step::List { .. }));
    let decided = r.listed(&listing(&[("ours", 15)], started), started, true);
    assert_eq!(decided[0].1, Verdict::NotLanded { key: "a".into() });
}

#[test]
fn without_trusted_evidence_a_window_is_unbounded_and_waits_for_creates_on_the_wire() {
    for (orphans, quiet) in [(&[][..], true), (&[("theirs", -5000)][..], false)] {
        let mut r = unmeasured();
        r.add(ambiguous("a", 0), s(0));
        r.sent("b", t(5));
        let later = s(400);
        assert_eq!(r.step(later), Step::Wait, "b's answer may place the window");
        assert_eq!(r.next_wake(), Some(later + s(1)));
        r.answered("b");
        let step = r.step(later);
        assert_eq!(
            step,
            Step::List {
                back_to: DateTime::<Utc>::MIN_UTC,
                up_to: DateTime::<Utc>::MAX_UTC,
                patient: false,
            },
            "no guessed offset bounds it"
        );
        let decided = r.listed(&listing(orphans, later), later, false);
        match &decided[..] {
            [(_, Verdict::NotLanded { .. })] => assert!(quiet),
            [(_, Verdict::Unresolved { candidates, .. })] => {
                assert!(!quiet);
                assert_eq!(
                    candidates,
                    &["theirs"],
                    "a job from long ago may be its job"
                );
            }
            other => panic!("unexpected verdicts {other:?}"),
        }
    }
}

/// A reconciler resuming a journal whose run measured the server's clock
/// `ahead` seconds ahead of its own, started at clock time 0 = `t(0)`.
fn resumed(ahead: Option<i64>) -> Reconciler {
    let mut journal = SkewEstimate::default();
    if let Some(ahead) = ahead {
        journal.observe(t(-1000), t(-1000), t(-1000 + ahead));
    }
    // The journal's one run (legacy journals count as run 0 too).
    let windows = Windows::new(
        (t(0), Duration::ZERO),
        HOLD,
        [(0, journal)].into_iter().collect(),
    );
    let limits = Limits {
        give_up_after: s(900),
        min_interval: s(1),
        known_cap: 8,
    };
    Reconciler::new(windows, HashMap::new(), Vec::new(), limits)
}

#[test]
fn an_earlier_runs_window_is_judged_after_the_hold_from_this_runs_start_or_the_servers_proof() {
    // Sent at -400 on the earlier run's clock; hold to -100.
    let left = || ambiguous("a", -400).left_by_earlier_run();
    // Without that run's evidence: unbounded, and judged only once this
    // run's start plus the hold has passed.
    let mut r = resumed(None);
    r.add(left(), s(0));
    assert_eq!(r.step(s(0)), Step::Wait);
    assert_eq!(r.next_wake(), Some(HOLD));
    // With it: peeked at now (it looks passed on our clock), judged only
    // when a stamp on the listing's first page shows the server's clock
    // past the window's end.
    for (stamp, judged) in [(None, false), (Some(-200), false), (Some(0), true)] {
        let mut r = resumed(Some(0));
        r.add(left(), s(0));
        assert!(matches!(r.step(s(0)), Step::List { .. }));
        let mut seen = listing(&[], s(0));
        seen.first_page_stamp = stamp.map(t);
        let decided = r.listed(&seen, s(0), false);
        assert_eq!(!decided.is_empty(), judged, "stamp {stamp:?}: {decided:?}");
        if !judged {
            assert_eq!(r.next_wake(), Some(s(30)), "peeked at again");
        }
    }
}

#[test]
fn an_earlier_runs_window_is_placed_by_its_own_evidence_whatever_this_clock_says() {
    // The earlier run's clock was 120 s ahead of the server's: its create
    // sent at 1000 on that clock was made at 880 server time, which on
    // this run's clock (right, or set back) is long before its start.
    let mut r = resumed(Some(-120));
    r.add(ambiguous("a", 1000).left_by_earlier_run(), s(0));
    let started = HOLD;
    assert!(matches!(r.step(started), Step::List { .. }));
    let decided = r.listed(&listing(&[("j", 880)], started), started, true);
    assert_eq!(
        decided[0].1,
        Verdict::Adopt {
            key: "a".into(),
            job_id: "j".into()
        }
    );
}

#[test]
fn a_list_endpoint_that_stays_down_backs_off_then_gives_up() {
    let mut r = reconciler();
    r.add(ambiguous("a", 0), s(0));
    let settle = r.next_wake().unwrap();
    let mut now = settle;
    let mut pauses = Vec::new();
    let mut given_up = Vec::new();
    while given_up.is_empty() {
        assert!(matches!(r.step(now), Step::List { .. }));
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
    r.add(a, s(0));
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
        r.remember(format!("old-{i}"), t(i), s(5000));
    }
    r.add(ambiguous("a", 4000), s(4000));
    r.remember("new".into(), t(4100), s(5000));
    assert!(r.is_known("new"));
    assert!(!r.is_known("old-0"), "created long before any window");
}

/// A listing read the window but could not judge it (jobs of one second
/// were split between its pages); later listings fail until the give-up
/// time. The create is reported with the jobs no row owns that the
/// listing showed in its window, not with none: the list was readable.
#[test]
fn a_create_given_up_after_failed_listings_keeps_the_candidates_seen_before() {
    let mut r = reconciler();
    r.add(ambiguous("a", 10), s(10));
    let due = r.next_wake().unwrap();
    assert!(matches!(r.step(due), Step::List { .. }));
    let mut split = listing(&[("theirs-early", 5), ("orphan", 20), ("mine", 30)], due);
    split.ties = vec![t(20)];
    r.remember("mine".to_string(), t(30), due);
    let decided = r.listed(&split, due, false);
    assert!(
        decided.is_empty(),
        "a window with a split second is not judged"
    );
    let mut now = r.next_wake().unwrap();
    let given_up = loop {
        assert!(matches!(r.step(now), Step::List { .. }));
        let expired = r.listing_failed(now, "the list was still answering after 1000 pages");
        if !expired.is_empty() {
            break expired;
        }
        now = r.next_wake().unwrap();
    };
    assert_eq!(given_up.len(), 1);
    assert_eq!(given_up[0].seen, vec!["orphan".to_string()]);
}

/// A listing that runs past a create's give-up time (a list that answers,
/// but slower than it grows) does not hold the create: it is reported at
/// its give-up time with what earlier listings showed, and the running
/// listing's verdict on it is dropped.
#[test]
fn a_create_is_given_up_at_its_time_even_while_a_listing_runs() {
    let mut r = reconciler();
    r.add(ambiguous("a", 10), s(10));
    let due = r.next_wake().unwrap();
    assert!(matches!(r.step(due), Step::List { .. }));
    let give_up = r.next_wake().unwrap();
    assert!(give_up > due);
    assert!(r.expire_while_listing(give_up - s(1)).is_empty());
    let expired = r.expire_while_listing(give_up);
    assert_eq!(expired.len(), 1);
    assert!(
        expired[0].reason.contains("still reading"),
        "{}",
        expired[0].reason
    );
    let late = r.listed(&listing(&[], give_up), give_up, false);
    assert!(late.is_empty(), "no verdict on a create already reported");
}

/// Listings that judge none of the settled creates (jobs of one second
/// split between pages in their window) come further apart: 10 s, 20 s,
/// 40 s, then every 60 s.
#[test]
fn listings_that_judge_nothing_come_further_apart() {
    let mut r = reconciler();
    r.add(ambiguous("a", 10), s(10));
    let mut now = r.next_wake().unwrap();
    let mut gaps = Vec::new();
    for _ in 0..5 {
        assert!(matches!(r.step(now), Step::List { .. }));
        let mut split = listing(&[("orphan", 20)], now);
        split.ties = vec![t(20)];
        assert!(r.listed(&split, now, false).is_empty());
        let next = r.next_wake().unwrap();
        gaps.push((next - now).as_secs());
        now = next;
    }
    assert_eq!(gaps, [10, 20, 40, 60, 60]);
}

/// A create whose window keeps holding jobs of one second split between
/// pages is reported at its give-up time with the jobs no row owns in its
/// window, and its reason says its own job may be missing from them (the
/// split may hide it).
#[test]
fn a_create_reported_because_seconds_keep_splitting_says_its_job_may_be_missing() {
    let mut r = reconciler();
    r.add(ambiguous("a", 10), s(10));
    let mut now = r.next_wake().unwrap();
    let decided = loop {
        assert!(matches!(r.step(now), Step::List { .. }));
        let mut split = listing(&[("orphan", 20)], now);
        split.ties = vec![t(20)];
        let decided = r.listed(&split, now, false);
        if !decided.is_empty() {
            break decided;
        }
        now = r.next_wake().unwrap();
    };
    assert!(
        now >= s(10 + 900),
        "reported at its give-up time, not {now:?}"
    );
    let (a, verdict) = &decided[0];
    assert_eq!(
        *verdict,
        Verdict::Unresolved {
            key: "a".into(),
            candidates: vec!["orphan".into()],
        }
    );
    assert!(a.reason.contains("may be missing"), "{}", a.reason);
}
