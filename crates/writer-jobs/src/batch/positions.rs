//! Where jobs sit on a list known to be oldest first, so a listing of the
//! newest jobs starts near the end instead of at offset 0.
//!
//! On an oldest-first list new jobs append at the end and a job keeps its
//! offset. Every page read records marks: the offsets and creation times
//! of its first and last jobs. A listing that must show every job made since
//! `back_to` may start at the latest mark whose job was surely made before
//! `back_to` (its stamp plus the stamp's precision), since every job before
//! that one was made before it. Marks are hints, not trusted: a scan
//! checks the first job of the page it starts at (a server that dropped
//! old jobs shifts offsets down) and starts over from 0 when it is newer
//! than the hint said.
//!
//! With no mark close enough (the first sweep on an application with a
//! long history), the scan gallops: it probes offsets one page, two pages,
//! four pages... beyond the last old-enough one until it overshoots, then
//! halves the gap, so finding the start costs about `2 log2(jobs / page)`
//! requests once; later sweeps start from marks near the end.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::reconcile::{precision, shift};

/// Marks kept at most (the newest ones: listings start near the end).
const MAX_MARKS: usize = 512;

/// The latest a job stamped `at` can have been made (exclusive): its stamp
/// plus the stamp's precision.
pub(super) fn made_until(at: DateTime<Utc>) -> DateTime<Utc> {
    shift(at, precision(at))
}

/// Where a forward scan starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Start {
    /// The offset to read from.
    pub(super) offset: u64,
    /// Every job before `offset` was made before this time.
    pub(super) covered_since: DateTime<Utc>,
    /// The start may be far from the jobs wanted: gallop from it.
    pub(super) gallop: bool,
}

impl Start {
    /// The start of the list: nothing is known.
    pub(super) const ORIGIN: Start = Start {
        offset: 0,
        covered_since: DateTime::<Utc>::MIN_UTC,
        gallop: false,
    };
}

/// Marks of an oldest-first list: offset -> creation time of the job there,
/// and where the list ended when a scan last reached its end.
#[derive(Debug, Default, Clone)]
pub(super) struct Positions {
    marks: BTreeMap<u64, DateTime<Utc>>,
    end: Option<u64>,
}

impl Positions {
    /// The job at `offset` was created at `at`.
    pub(super) fn record(&mut self, offset: u64, at: DateTime<Utc>) {
        self.marks.insert(offset, at);
        while self.marks.len() > MAX_MARKS {
            self.marks.pop_first();
        }
    }

    /// Adds what another scan recorded: its marks, and the end of the list
    /// if it reached it.
    pub(super) fn merge(&mut self, marks: &[(u64, DateTime<Utc>)], end: Option<u64>) {
        for (offset, at) in marks {
            self.record(*offset, *at);
        }
        if end.is_some() {
            self.end = end;
        }
    }

    /// Where a scan for every job made since `back_to` starts: the latest
    /// mark surely made before `back_to`. The scan gallops from it unless
    /// the list's end was last seen within two pages of it (then reading
    /// on costs no more than the jobs made since: the list grows only at
    /// its end).
    pub(super) fn start_for(&self, back_to: DateTime<Utc>, page_size: u64) -> Start {
        let Some((offset, at)) = self
            .marks
            .iter()
            .rev()
            .find(|(_, at)| made_until(**at) <= back_to)
        else {
            return Start {
                gallop: true,
                ..Start::ORIGIN
            };
        };
        let near_end = self
            .end
            .is_some_and(|end| end <= offset.saturating_add(2 * page_size));
        Start {
            offset: *offset,
            covered_since: made_until(*at),
            gallop: !near_end,
        }
    }
}

/// The next offset a gallop from `lo` probes, `steps` probes in: one
/// page beyond it, then two, four... pages.
pub(super) fn gallop_probe(lo: u64, steps: u32, page_size: u64) -> u64 {
    lo.saturating_add(page_size.saturating_mul(1u64 << steps.min(40)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap()
    }

    fn t_ms(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    #[test]
    fn a_scan_starts_at_the_latest_mark_surely_made_before_the_time() {
        let mut p = Positions::default();
        for (i, at) in [t(0), t(100), t(200), t(300)].into_iter().enumerate() {
            p.record(i as u64 * 100, at);
        }
        p.merge(&[], Some(350));
        let start = p.start_for(t(250), 100);
        assert_eq!((start.offset, start.covered_since), (200, t(201)));
        assert!(!start.gallop, "the end was 150 jobs on");
        // A stamp in whole seconds may hide up to a second: t(200) was
        // made before t(201), not surely before t(200) itself.
        assert_eq!(p.start_for(t(200), 100).offset, 100);
        let precise = {
            let mut p = Positions::default();
            p.record(7, t_ms(500));
            p.start_for(t_ms(502), 100)
        };
        assert_eq!(precise.offset, 7);
    }

    #[test]
    fn the_scan_gallops_unless_the_end_was_seen_near_its_start() {
        let p = Positions::default();
        assert_eq!(
            p.start_for(t(10), 100),
            Start {
                gallop: true,
                ..Start::ORIGIN
            }
        );
        let mut p = Positions::default();
        p.record(0, t(0));
        assert!(p.start_for(t(1000), 100).gallop, "the end was never seen");
        p.merge(&[], Some(5000));
        assert!(
            p.start_for(t(1000), 100).gallop,
            "the end was 5,000 jobs on"
        );
        p.merge(&[(4900, t(900))], Some(5000));
        assert!(!p.start_for(t(1000), 100).gallop, "the end was a page on");
    }

    #[test]
    fn galloping_doubles_its_step() {
        let probes: Vec<u64> = (0..4).map(|k| gallop_probe(1000, k, 100)).collect();
        assert_eq!(probes, [1100, 1200, 1400, 1800]);
        assert_eq!(gallop_probe(u64::MAX - 5, 3, 100), u64::MAX);
    }

    #[test]
    fn only_the_newest_marks_are_kept() {
        let mut p = Positions::default();
        for i in 0..(MAX_MARKS as u64 + 10) {
            p.record(i * 100, t(i as i64));
        }
        assert_eq!(p.marks.len(), MAX_MARKS);
        assert_eq!(p.marks.keys().next(), Some(&1000));
    }
}
