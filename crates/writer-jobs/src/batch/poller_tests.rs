//! Unit tests of the sweep planner and scheduler.
use super::*;

fn at(s: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
}

fn candidates(n: usize, every: i64, due: impl Fn(usize) -> bool) -> Vec<Candidate> {
    (0..n)
        .map(|i| Candidate {
            id: format!("job-{i:03}").into(),
            created_at: at(1000 - (i as i64) * every),
            due: due(i),
            must_get: false,
        })
        .collect()
}

#[test]
fn order_is_known_only_from_enough_pairs_on_single_pages() {
    let mut o = OrderEvidence::default();
    // Ties and a short page prove nothing.
    o.observe_page([at(5), at(5), at(4)]);
    assert!(!o.newest_first() && !o.not_newest_first());
    for _ in 0..OrderEvidence::NEEDED {
        o.observe_page([at(9), at(8)]);
    }
    assert!(o.newest_first());
    // One page with an older job first overrides everything.
    o.observe_page([at(1), at(2)]);
    assert!(!o.newest_first() && o.not_newest_first());
    assert!(!o.oldest_first(), "one way and the other: no order");
    let mut o = OrderEvidence::default();
    for _ in 0..OrderEvidence::NEEDED {
        o.observe_page([at(1), at(2)]);
    }
    assert!(o.oldest_first() && !o.newest_first());
}

#[test]
fn many_due_jobs_on_a_quiet_app_are_listed() {
    let c = candidates(100, 1, |_| true);
    let p = plan(&c, at(1000), 1.0, 100);
    assert_eq!(p.list_back_to, Some(at(901)));
    assert!(p.gets.is_empty());
    assert_eq!(p.cost, 2);
}

#[test]
fn a_few_due_jobs_on_a_busy_app_are_fetched_one_by_one() {
    // 3 outstanding jobs, but 50 jobs a second from other clients.
    let c = candidates(3, 30, |_| true);
    let p = plan(&c, at(1030), 50.0, 100);
    assert_eq!(p.list_back_to, None);
    assert_eq!(p.gets.len(), 3);
    assert_eq!(p.cost, 3);
}

#[test]
fn an_old_straggler_is_fetched_while_the_recent_ones_are_listed() {
    let mut c = candidates(50, 1, |_| true);
    c.push(Candidate {
        id: "old".into(),
        created_at: at(0),
        due: true,
        must_get: false,
    });
    let p = plan(&c, at(1000), 2.0, 100);
    assert_eq!(p.gets, vec!["old".to_string()]);
    assert!(p.list_back_to.is_some());
    assert_eq!(p.cost, 2, "1 page for ~100 jobs in 50 s + 1 GET");
}

#[test]
fn a_job_a_listing_missed_is_fetched_by_id() {
    let mut c = candidates(100, 1, |_| true);
    c[10].must_get = true;
    let p = plan(&c, at(1000), 1.0, 100);
    assert!(p.gets.contains(&c[10].id.to_string()));
    assert!(p.list_back_to.is_some());
}

#[test]
fn nothing_due_means_no_sweep() {
    let c = candidates(10, 1, |_| false);
    assert!(plan(&c, at(1000), 1.0, 100).is_empty());
}

#[test]
fn jobs_not_due_are_never_fetched_alone() {
    let c = candidates(10, 100, |i| i == 0);
    let p = plan(&c, at(1000), 100.0, 100);
    assert_eq!(p.cost, 1);
    assert!(p.gets.len() + usize::from(p.list_back_to.is_some()) == 1);
    assert!(!p.gets.iter().any(|id| id != "job-000"));
}

fn scheduler() -> SweepScheduler {
    SweepScheduler::new(Spacing {
        min_interval: Duration::from_secs(1),
        max_interval: Duration::from_secs(10),
        poll_overhead: 0.1,
        page_size: 100,
    })
}

const CREATING: Pace = Pace {
    quota_binds: false,
    creating: true,
    next_due: None,
};

#[test]
fn sweeps_are_spaced_by_the_create_rate_within_the_bounds() {
    let secs = Duration::from_secs;
    let mut s = scheduler();
    // 20 creates a second, sweeps of 1 request, 0.1 request per job:
    // one sweep every 0.5 s, raised to the 1 s minimum.
    for _ in 0..20 {
        s.note_create();
    }
    s.schedule(secs(1), Some(1), CREATING);
    assert_eq!(s.next_wake(true), Some(secs(2)));
    // 20 creates in 10 s: one sweep every 5 s.
    for _ in 0..20 {
        s.note_create();
    }
    s.schedule(secs(11), Some(1), CREATING);
    assert_eq!(s.next_wake(true), Some(secs(16)));
    // Not creating: at the next due job, but no sooner than the 5 s the
    // create rate gave last.
    let idle = Pace {
        creating: false,
        next_due: Some(secs(3)),
        ..CREATING
    };
    s.schedule(secs(16), Some(1), idle);
    assert_eq!(s.next_wake(true), Some(secs(21)));
    let later = Pace {
        next_due: Some(secs(8)),
        ..idle
    };
    s.schedule(secs(21), Some(1), later);
    assert_eq!(s.next_wake(true), Some(secs(29)));
    // The quota binds: the maximum interval, and so in the tail after it.
    let binds = Pace {
        quota_binds: true,
        ..CREATING
    };
    s.schedule(secs(29), Some(1), binds);
    assert_eq!(s.next_wake(true), Some(secs(39)));
    s.schedule(secs(39), Some(1), idle);
    assert_eq!(s.next_wake(true), Some(secs(49)));
    assert_eq!(s.next_wake(false), None, "nothing tracked, no sweep");
}

#[test]
fn never_paced_by_creates_the_tail_sweeps_at_the_next_due_job() {
    let secs = Duration::from_secs;
    let mut s = scheduler();
    let idle = Pace {
        creating: false,
        next_due: Some(secs(3)),
        ..CREATING
    };
    s.schedule(secs(1), Some(1), idle);
    assert_eq!(s.next_wake(true), Some(secs(4)));
}

#[test]
fn a_running_sweep_remembers_what_its_listing_must_show() {
    let mut s = scheduler();
    let now = Duration::from_secs(5);
    let c = candidates(100, 1, |_| true);
    let (plan, scan) = s.begin(&c, now, at(1000), CREATING).expect("jobs are due");
    assert!(plan.list_back_to.is_some());
    assert_eq!(scan, Scan::OnePage, "the order is not known yet");
    assert!(!s.due(now, true), "one sweep at a time");
    let result = swept(100, Some(at(900)), OrderEvidence::default());
    let (started, listed) = s.finished(&result, at(1000));
    assert_eq!(started, now);
    assert!(listed.len() > 50, "{} jobs to be shown", listed.len());
    // A page that taught the order need not have shown them.
    s.begin(&c, now, at(1000), CREATING).unwrap();
    let taught = swept(100, Some(at(900)), evidence(40, false));
    assert!(s.finished(&taught, at(1000)).1.is_empty());
    let nothing = swept(0, None, OrderEvidence::default());
    assert!(s.finished(&nothing, at(1000)).1.is_empty());
}

fn swept(listed: u64, oldest: Option<DateTime<Utc>>, order: OrderEvidence) -> SweepResult {
    SweepResult {
        observed: Vec::new(),
        handed: Vec::new(),
        running: Vec::new(),
        listed,
        oldest,
        not_found: Vec::new(),
        order,
        marks: Vec::new(),
        end: None,
        listing_failed: false,
        timed_out: false,
    }
}

/// Evidence of `pairs` ordered pairs, newest first or oldest first.
fn evidence(pairs: i64, newest_first: bool) -> OrderEvidence {
    let mut o = OrderEvidence::default();
    let times = (0..=pairs).map(|i| at(if newest_first { -i } else { i }));
    o.observe_page(times);
    o
}

#[test]
fn a_list_in_no_known_order_is_swept_by_id() {
    let mut s = scheduler();
    s.learn(&evidence(40, true), &[], None);
    s.learn(&evidence(1, false), &[], None);
    let c = candidates(100, 1, |_| true);
    let (plan, _) = s.begin(&c, Duration::ZERO, at(1000), CREATING).unwrap();
    assert_eq!((plan.list_back_to, plan.gets.len()), (None, 100));
    assert!(s.begin(&[], Duration::ZERO, at(1000), CREATING).is_none());
}

#[test]
fn an_oldest_first_list_is_listed_forward_from_a_mark_near_the_plans_point() {
    let mut s = scheduler();
    s.learn(
        &evidence(40, false),
        &[(0, at(0)), (5000, at(880)), (5100, at(895))],
        Some(5150),
    );
    assert_eq!(s.listing_start(at(10)).offset, 0);
    let c = candidates(100, 1, |_| true);
    let (plan, scan) = s.begin(&c, Duration::ZERO, at(1000), CREATING).unwrap();
    let back_to = plan.list_back_to.expect("listing pays for 100 due jobs");
    match scan {
        Scan::OldestFirst(start) => {
            assert_eq!(start, s.listing_start(back_to));
            assert!(start.offset >= 5000, "{start:?}");
            assert!(start.covered_since <= back_to);
        }
        other => panic!("expected a forward scan, got {other:?}"),
    }
    // A list newest first starts at the origin, whatever the marks.
    let mut s = scheduler();
    s.learn(&evidence(40, true), &[(5000, at(880))], None);
    assert_eq!(s.listing_start(at(900)), Start::ORIGIN);
}

#[test]
fn the_maximum_interval_runs_from_the_last_sweeps_start() {
    let secs = Duration::from_secs;
    let mut s = scheduler();
    let c = candidates(100, 1, |_| true);
    let binds = Pace {
        quota_binds: true,
        ..CREATING
    };
    // A sweep from 5 s to 8 s: the next starts 10 s after the first began.
    s.begin(&c, secs(5), at(1000), binds).expect("jobs are due");
    s.finished(
        &swept(100, Some(at(900)), OrderEvidence::default()),
        at(1003),
    );
    s.schedule(secs(8), Some(1), binds);
    assert_eq!(s.next_wake(true), Some(secs(15)));
    // A sweep that outlasts it: the next no sooner than the minimum.
    s.begin(&c, secs(15), at(1010), binds)
        .expect("jobs are due");
    s.finished(
        &swept(100, Some(at(900)), OrderEvidence::default()),
        at(1030),
    );
    s.schedule(secs(30), Some(1), binds);
    assert_eq!(s.next_wake(true), Some(secs(31)));
}

#[test]
fn a_sweep_whose_listing_failed_is_followed_soon() {
    let secs = Duration::from_secs;
    let mut s = scheduler();
    let c = candidates(100, 1, |_| true);
    let binds = Pace {
        quota_binds: true,
        ..CREATING
    };
    s.begin(&c, secs(5), at(1000), binds).expect("jobs are due");
    let mut failed = swept(100, Some(at(900)), OrderEvidence::default());
    failed.listing_failed = true;
    let (_, missed) = s.finished(&failed, at(1001));
    assert!(missed.is_empty(), "one failed listing: listed again");
    s.schedule(secs(6), Some(1), binds);
    assert_eq!(s.next_wake(true), Some(secs(7)), "the minimum interval");
    // Then the usual spacing again.
    s.begin(&c, secs(7), at(1002), binds).expect("jobs are due");
    s.finished(
        &swept(100, Some(at(900)), OrderEvidence::default()),
        at(1003),
    );
    s.schedule(secs(8), Some(1), binds);
    assert_eq!(s.next_wake(true), Some(secs(17)));
}

#[test]
fn a_listing_that_fails_twice_in_a_row_has_its_jobs_fetched_by_id() {
    let secs = Duration::from_secs;
    let mut s = scheduler();
    let c = candidates(100, 1, |_| true);
    let mut failed = swept(100, Some(at(900)), OrderEvidence::default());
    failed.listing_failed = true;
    let planned = s
        .begin(&c, secs(5), at(1000), CREATING)
        .expect("jobs are due");
    assert!(planned.0.list_back_to.is_some(), "a listing is planned");
    assert!(s.finished(&failed, at(1001)).1.is_empty());
    s.begin(&c, secs(7), at(1002), CREATING)
        .expect("jobs are due");
    let (_, missed) = s.finished(&failed, at(1003));
    assert!(!missed.is_empty(), "failed twice: fetched by id");
    // A listing that went through resets the count.
    s.begin(&c, secs(9), at(1004), CREATING)
        .expect("jobs are due");
    s.finished(
        &swept(100, Some(at(900)), OrderEvidence::default()),
        at(1005),
    );
    s.begin(&c, secs(11), at(1006), CREATING)
        .expect("jobs are due");
    assert!(s.finished(&failed, at(1007)).1.is_empty());
}
