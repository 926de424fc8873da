//! Reconciling ambiguous creates (none of Writer's SDKs do this).
//!
//! A create whose answer was lost may or may not have made a job. After the
//! ambiguity window has settled (no request of ours can still be in the
//! server's hands), the engine lists the application's jobs, newest first,
//! back past the window's start, and hands them to [`decide`]:
//!
//! - jobs created in a create's window that the batch does not know are
//!   *orphans*;
//! - no orphan in its window, and the listing covered the whole window: the
//!   create did not land, and sending it again is safe;
//! - exactly one orphan in its window, no other ambiguous create's window
//!   holds it, and the application is declared exclusive to this run
//!   (`Batch::exclusive_application`): that orphan is the row's job,
//!   adopted. On a shared application timing cannot tell it from another
//!   client's job, so the row is reported with it as a candidate;
//! - anything else (other clients creating jobs at the same time, several
//!   ambiguous rows whose windows share orphans): reported, with the
//!   candidate orphan ids, never guessed.
//!
//! A window is judged only when nothing else of ours could still own one of
//! its orphans: every ambiguous create in it has settled, and no create of
//! ours is still on the wire in it (the engine passes those as unsettled).
//! Windows are in the server's time: the engine shifts its own clock by the
//! offset it measured on successful creates (see [`SkewEstimate`]), or
//! leaves a window unbounded when nothing the server stamped measured it.
//!
//! Why an unfiltered, newest-first listing cannot miss a job: jobs are only
//! ever added, at the front, so while we page, items shift *down* (we may
//! see one twice, and dedupe) but never past us. A `status` filter would
//! lose jobs that change status mid-scan, so reconciliation never uses one.

use crate::batch::{HashSet, HashSetExt};

use chrono::{DateTime, Duration as Span, Utc};

use super::assign;

/// One create of ours whose job may appear in a listing without our
/// knowing its id: an ambiguous create, or one still on the wire.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pending {
    /// The row's key.
    pub key: String,
    /// Earliest server time at which its job can have been created.
    pub start: DateTime<Utc>,
    /// Latest server time at which its job can have been created.
    pub end: DateTime<Utc>,
    /// Whether it may be judged now (an ambiguous create past its settle
    /// time); a create still on the wire is never settled.
    pub settled: bool,
    /// The fingerprint of its row's inputs, when known: creates with the
    /// same inputs are interchangeable.
    pub inputs: Option<String>,
}

/// The offset between the server's clock and ours (`server - ours`),
/// bounded by evidence: a time the server stamped (a job's `created_at`)
/// lies in `[server_lo, server_hi]` (its precision), and the
/// server stamped it after we sent and before we received the answer, so
/// `server_lo - received <= skew <= server_hi - sent`.
///
/// Every piece of evidence narrows the bound (their intersection). Evidence
/// that contradicts the rest (a proxy's clock, a clock that jumped) makes
/// the intersection empty; the estimate then uses the hull of all evidence
/// instead, which is wider, never narrower, than the truth needs.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct SkewEstimate {
    meet: Option<(Span, Span)>,
    hull: Option<(Span, Span)>,
}

impl SkewEstimate {
    /// No evidence yet.
    pub(crate) const UNMEASURED: SkewEstimate = SkewEstimate {
        meet: None,
        hull: None,
    };

    /// Learns from one successful create: `created_at` as the server sent
    /// it, to the precision it has (whole seconds widen the bound).
    pub(crate) fn observe(
        &mut self,
        sent: DateTime<Utc>,
        received: DateTime<Utc>,
        created_at: DateTime<Utc>,
    ) {
        let hi = shift(created_at, precision(created_at));
        self.observe_range(sent, received, created_at, hi);
    }

    /// Learns from a server time known to lie in `[server_lo, server_hi]`,
    /// stamped between `sent` and `received` (our clock).
    pub(crate) fn observe_range(
        &mut self,
        sent: DateTime<Utc>,
        received: DateTime<Utc>,
        server_lo: DateTime<Utc>,
        server_hi: DateTime<Utc>,
    ) {
        let bound = Some((server_lo - received, server_hi - sent));
        self.merge(&SkewEstimate {
            meet: bound,
            hull: bound,
        });
    }

    /// Merges another estimate's evidence into this one: the intersection
    /// of the bounds narrows, the hull widens.
    pub(crate) fn merge(&mut self, other: &SkewEstimate) {
        self.meet = combine(self.meet, other.meet, |(l, h), (lo, hi)| {
            (l.max(lo), h.min(hi))
        });
        self.hull = combine(self.hull, other.hull, |(l, h), (lo, hi)| {
            (l.min(lo), h.max(hi))
        });
    }

    /// Whether any evidence has been seen.
    pub(crate) fn is_measured(&self) -> bool {
        self.hull.is_some()
    }

    /// The bound in force: the intersection when consistent (within
    /// `margin`), else the hull; `None` before any evidence.
    pub(crate) fn bounds(&self, margin: Span) -> Option<(Span, Span)> {
        match (self.meet, self.hull) {
            (Some((lo, hi)), _) if lo <= hi + margin => Some((lo, hi)),
            (_, hull) => hull,
        }
    }

    /// The server-time window of a create first sent at `sent` and whose
    /// job can have been made no later than `until` (our clock), widened by
    /// `margin`. Without evidence the window is our own times widened by
    /// `fallback`.
    pub(crate) fn window(
        &self,
        sent: DateTime<Utc>,
        until: DateTime<Utc>,
        margin: Span,
        fallback: Span,
    ) -> (DateTime<Utc>, DateTime<Utc>) {
        match self.bounds(margin) {
            Some((lo, hi)) => (shift(sent, lo - margin), shift(until, hi + margin)),
            None => (shift(sent, -fallback), shift(until, fallback)),
        }
    }
}

/// Two optional bounds joined by `join`; either alone when the other is
/// missing.
fn combine(
    a: Option<(Span, Span)>,
    b: Option<(Span, Span)>,
    join: impl Fn((Span, Span), (Span, Span)) -> (Span, Span),
) -> Option<(Span, Span)> {
    match (a, b) {
        (Some(a), Some(b)) => Some(join(a, b)),
        (a, b) => a.or(b),
    }
}

/// How precise a server timestamp is: a whole minute when it falls on one
/// (a server may cut its times to the minute), whole seconds when it has
/// no fraction (a server may send second-only times), else a millisecond.
pub(crate) fn precision(at: DateTime<Utc>) -> Span {
    use chrono::Timelike;
    match (at.nanosecond(), at.second()) {
        // A time on the minute may be cut to the minute (a server or proxy
        // that drops seconds): it may have been anywhere in that minute.
        (0, 0) => Span::minutes(1),
        (0, _) => Span::seconds(1),
        _ => Span::milliseconds(1),
    }
}

/// `at + by`, saturating at the ends of time: a server (or a journal) may
/// send any date chrono can parse, and window arithmetic must not panic.
pub(crate) fn shift(at: DateTime<Utc>, by: Span) -> DateTime<Utc> {
    at.checked_add_signed(by).unwrap_or(if by < Span::zero() {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// The verdict on one ambiguous create.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// No job was created: send the row again.
    NotLanded {
        /// The row's key.
        key: String,
    },
    /// This orphan is the row's job.
    Adopt {
        /// The row's key.
        key: String,
        /// The orphan job's id.
        job_id: String,
    },
    /// Cannot tell; these orphans are candidates.
    Unresolved {
        /// The row's key.
        key: String,
        /// Orphan job ids created in the row's window.
        candidates: Vec<String>,
    },
}

/// Decides the settled pending creates from a listing that showed every
/// job created from `covered_since` to `covered_until` (a newest-first
/// scan stopped at an old job covers up to now; an oldest-first one
/// stopped at a new job covers from the start).
///
/// On an application declared exclusive to this run, every orphan is the
/// batch's: creates are matched to orphans by the windows each must fall
/// in, and decided where every explanation agrees (see
/// the batch's `assign` module). Otherwise (or when no explanation exists: the
/// application was not exclusive after all) each create is judged on its
/// own window:
///
/// - no orphan in it: its job would be one, so it did not land;
/// - an orphan that an unsettled create's window also holds: no verdict yet;
/// - otherwise: unresolved, with the orphans in its window as candidates
///   (on a shared application an orphan may be another client's job).
///
/// Creates whose window the listing does not reach back to get no verdict.
#[cfg(test)]
pub(crate) fn decide(
    pending: &[Pending],
    listed: &[(String, DateTime<Utc>)],
    known: &dyn Fn(&str) -> bool,
    covered_since: DateTime<Utc>,
    covered_until: DateTime<Utc>,
    exclusive: bool,
) -> Vec<Verdict> {
    decide_around(
        pending,
        listed,
        known,
        (covered_since, covered_until),
        &[],
        exclusive,
    )
}

/// [`decide`], for a listing that may have missed jobs made at the `holes`
/// (stamps whose jobs were split between pages): a window holding one is
/// not covered, so it gets no verdict (it still takes part in every
/// explanation). A missing orphan can only widen the other creates' fates,
/// never force a wrong one.
pub(crate) fn decide_around(
    pending: &[Pending],
    listed: &[(String, DateTime<Utc>)],
    known: &dyn Fn(&str) -> bool,
    (covered_since, covered_until): (DateTime<Utc>, DateTime<Utc>),
    holes: &[DateTime<Utc>],
    exclusive: bool,
) -> Vec<Verdict> {
    let covered = |p: &Pending| {
        p.start >= covered_since
            && p.end <= covered_until
            && !holes.iter().any(|h| assign::within(p, *h))
    };
    let orphans: Vec<(&str, DateTime<Utc>)> = {
        let mut seen = HashSet::new();
        listed
            .iter()
            .filter(|(id, _)| !known(id) && seen.insert(id.as_str()))
            .map(|(id, at)| (id.as_str(), *at))
            .collect()
    };
    if exclusive && let Some(verdicts) = assign::decide_exclusive(pending, &orphans, &covered) {
        return verdicts;
    }
    let mut verdicts = Vec::new();
    for p in pending.iter().filter(|p| p.settled) {
        if !covered(p) {
            continue;
        }
        let mut mine: Vec<(&str, DateTime<Utc>)> = orphans
            .iter()
            .copied()
            .filter(|(_, at)| assign::within(p, *at))
            .collect();
        mine.sort_unstable();
        let others = |at: DateTime<Utc>| {
            pending
                .iter()
                .filter(|q| !std::ptr::eq(*q, p) && assign::within(q, at))
                .collect::<Vec<_>>()
        };
        if mine.is_empty() {
            verdicts.push(Verdict::NotLanded { key: p.key.clone() });
        } else if mine
            .iter()
            .any(|(_, at)| others(*at).iter().any(|q| !q.settled))
        {
            // A create still in the server's hands may own one of them.
        } else {
            verdicts.push(Verdict::Unresolved {
                key: p.key.clone(),
                candidates: mine.iter().map(|(id, _)| id.to_string()).collect(),
            });
        }
    }
    verdicts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_000 + s, 0).unwrap()
    }

    fn pending(key: &str, start: i64, end: i64) -> Pending {
        Pending {
            key: key.into(),
            start: t(start),
            end: t(end),
            settled: true,
            inputs: None,
        }
    }

    fn known(ids: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |id| ids.contains(&id)
    }

    #[test]
    fn no_orphan_means_not_landed() {
        let listed = vec![("ours".to_string(), t(10)), ("old".to_string(), t(-100))];
        let v = decide(
            &[pending("a", 4, 17)],
            &listed,
            &known(&["ours"]),
            t(-100),
            DateTime::<Utc>::MAX_UTC,
            true,
        );
        assert_eq!(v, vec![Verdict::NotLanded { key: "a".into() }]);
    }

    #[test]
    fn one_ambiguous_and_one_orphan_adopts_it() {
        let listed = vec![("orphan".to_string(), t(10)), ("ours".to_string(), t(11))];
        let v = decide(
            &[pending("a", 4, 17)],
            &listed,
            &known(&["ours"]),
            t(0),
            DateTime::<Utc>::MAX_UTC,
            true,
        );
        assert_eq!(
            v,
            vec![Verdict::Adopt {
                key: "a".into(),
                job_id: "orphan".into()
            }]
        );
    }

    #[test]
    fn on_a_shared_application_a_lone_orphan_is_a_candidate_not_adopted() {
        // Another client's job is indistinguishable by timing from ours.
        let listed = vec![("orphan".to_string(), t(10)), ("ours".to_string(), t(11))];
        let v = decide(
            &[pending("a", 4, 17)],
            &listed,
            &known(&["ours"]),
            t(0),
            DateTime::<Utc>::MAX_UTC,
            false,
        );
        assert_eq!(
            v,
            vec![Verdict::Unresolved {
                key: "a".into(),
                candidates: vec!["orphan".into()]
            }]
        );
        // No orphan still means it did not land, shared or not.
        let v = decide(
            &[pending("a", 4, 17)],
            &listed[1..],
            &known(&["ours"]),
            t(0),
            DateTime::<Utc>::MAX_UTC,
            false,
        );
        assert_eq!(v, vec![Verdict::NotLanded { key: "a".into() }]);
    }

    #[test]
    fn second_only_timestamps_widen_the_skew_bound_to_their_precision() {
        let mut skew = SkewEstimate::default();
        // The server says 100 s at whole-second precision: it may have been
        // anywhere in [100, 101) when it stamped.
        skew.observe(t(0), t(0) + Span::milliseconds(10), t(100));
        let (lo, hi) = skew.bounds(Span::zero()).unwrap();
        assert!(lo <= Span::seconds(100) - Span::milliseconds(10), "{lo}");
        assert!(hi >= Span::seconds(101), "{hi}");
    }

    #[test]
    fn contradicting_evidence_falls_back_to_the_hull_not_the_default() {
        let mut skew = SkewEstimate::default();
        skew.observe_range(t(0), t(1), t(50), t(51));
        skew.observe_range(t(10), t(11), t(10), t(11));
        let (lo, hi) = skew.bounds(Span::milliseconds(50)).unwrap();
        assert!(
            lo <= Span::seconds(-1) && hi >= Span::seconds(51),
            "{lo} {hi}"
        );
    }

    #[test]
    fn overlapping_windows_or_other_clients_are_reported_not_guessed() {
        let listed = vec![("x".to_string(), t(10)), ("y".to_string(), t(11))];
        let v = decide(
            &[pending("a", 8, 13), pending("b", 9, 14)],
            &listed,
            &known(&[]),
            t(0),
            DateTime::<Utc>::MAX_UTC,
            true,
        );
        assert_eq!(v.len(), 2);
        assert!(
            v.iter().all(
                |v| matches!(v, Verdict::Unresolved { candidates, .. } if candidates.len() == 2)
            )
        );
        // One ambiguous create but two orphans (another client): reported.
        let v = decide(
            &[pending("a", 8, 13)],
            &listed,
            &known(&[]),
            t(0),
            DateTime::<Utc>::MAX_UTC,
            true,
        );
        assert!(
            matches!(&v[0], Verdict::Unresolved { candidates, .. } if candidates == &["x", "y"])
        );
    }

    #[test]
    fn a_window_with_a_create_still_on_the_wire_waits() {
        let listed = vec![("x".to_string(), t(10))];
        let mut wire = pending("b", 9, 20);
        wire.settled = false;
        let v = decide(
            &[pending("a", 8, 13), wire],
            &listed,
            &known(&[]),
            t(0),
            DateTime::<Utc>::MAX_UTC,
            true,
        );
        assert!(v.is_empty(), "x may be b's job: {v:?}");
    }

    #[test]
    fn an_uncovered_window_waits() {
        let v = decide(
            &[pending("a", 4, 17)],
            &[],
            &known(&[]),
            t(9),
            DateTime::<Utc>::MAX_UTC,
            true,
        );
        assert!(v.is_empty());
    }

    #[test]
    fn orphans_outside_the_window_do_not_count() {
        let listed = vec![("far".to_string(), t(500))];
        let v = decide(
            &[pending("a", 4, 17)],
            &listed,
            &known(&[]),
            t(0),
            DateTime::<Utc>::MAX_UTC,
            true,
        );
        assert_eq!(v, vec![Verdict::NotLanded { key: "a".into() }]);
    }

    #[test]
    fn skew_bounds_narrow_the_window_to_the_server_clock() {
        let mut skew = SkewEstimate::default();
        // The server runs 100 s ahead; requests take a second.
        skew.observe(t(0), t(1), t(100) + Span::milliseconds(500));
        skew.observe(t(10), t(11), t(110) + Span::milliseconds(200));
        let (start, end) = skew.window(t(20), t(25), Span::seconds(1), Span::seconds(30));
        assert!(start >= t(118) && start <= t(120), "{start}");
        assert!(end >= t(125) && end <= t(127), "{end}");
        let none = SkewEstimate::default();
        assert_eq!(
            none.window(t(20), t(25), Span::seconds(1), Span::seconds(30)),
            (t(-10), t(55))
        );
    }
}
