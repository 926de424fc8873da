//! The ambiguity floor of a run (issue 19): how many of its creates no
//! client could decide, not even one that knew when each create reached
//! the server and every job the application holds.
//!
//! On an application only we use, every job whose create went unanswered
//! (an "orphan") belongs to one of the creates whose answer did not tell
//! their outcome (no answer, 408 or 5xx). The server may act on such a
//! create from the moment it arrives until the hold has passed
//! (`Batch::max_server_hold`), so an orphan created at `t` may be the job
//! of any unknown create that arrived in `[t - hold, t]`. The orphans must
//! all be somebody's: the consistent explanations are the matchings that
//! give every orphan a create of its own. A create is decided when all
//! of them agree on its fate (no job, or one job in particular);
//! otherwise its row can only be reported, never adopted or sent again.
//!
//! The simulator's request log gives each create's arrival time and, for
//! one that made a job, that job's `created_at`: the oracle sees the
//! truth the client must infer, with windows that start at arrival rather
//! than at send and need no clock evidence. What it cannot decide, no
//! client can.

use writer_sim::{Operation, RequestRecord};

/// A create whose answer did not tell its outcome: when it reached the
/// server, and when the job it made was created (if it made one), in
/// seconds of simulated time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Unknown {
    /// Arrival on the server.
    pub at: f64,
    /// The `created_at` of the job it made.
    pub made: Option<f64>,
}

/// The creates of a request log whose answer left their outcome unknown to
/// the client: no answer, 408, or a 5xx (what `writer-jobs` treats as
/// ambiguous).
pub fn unknown_creates(log: &[RequestRecord]) -> Vec<Unknown> {
    let secs = |micros: i64| micros as f64 / 1e6;
    log.iter()
        .filter(|r| r.op == Operation::Create)
        .filter(|r| matches!(r.status, None | Some(408) | Some(500..=599)))
        .map(|r| Unknown {
            at: secs(r.at.timestamp_micros()),
            made: r.made_job_at.map(|t| secs(t.timestamp_micros())),
        })
        .collect()
}

/// How many of `creates` no client could decide with windows of `hold`
/// seconds: those whose fate differs between two explanations of the
/// orphans (see the module's notes).
pub fn undecidable(creates: &[Unknown], hold: f64) -> usize {
    let oracle = Oracle::new(creates, hold);
    (0..creates.len())
        .filter(|&c| oracle.fates(c, 2).len() >= 2)
        .count()
}

/// What the oracle says of the adoptions of a run (see [`unjustified`]).
#[derive(Debug, Default, PartialEq)]
pub struct Judged {
    /// Each lucky guess, described: when its create arrived and made the
    /// job, and the fates the explanations give that create, with the
    /// creates that could have made each orphan (what a guess seen once
    /// needs to be understood).
    pub guesses: Vec<String>,
    /// Adoptions this oracle cannot judge (their job made past the hold).
    pub unjudged: usize,
    /// Each of those, described: how far past the hold the server made the
    /// job, and whether the rule for the others would call it a guess (the
    /// server broke the bound the explanations rest on, so their creates
    /// lack the right one).
    pub unjudged_described: Vec<String>,
}

/// Of the jobs created at `adopted` (seconds; each the job of an unanswered
/// create that a row took as its own), the ones a client had no right to
/// take: the create that made it could, in another explanation of the
/// orphans, have made another job or none. Each is a lucky guess. Apart:
/// the adoptions this oracle cannot judge, whose job the server made later
/// after the create arrived than `hold` (a loaded machine on a fast
/// clock), which breaks the assumption both the oracle's explanations and
/// the engine's windows rest on.
pub fn unjustified(creates: &[Unknown], hold: f64, adopted: &[f64]) -> Judged {
    let oracle = Oracle::new(creates, hold);
    let mut judged = Judged::default();
    for &t in adopted {
        let Some(owner) = creates.iter().position(|c| c.made == Some(t)) else {
            continue;
        };
        let orphan = oracle.orphans.iter().position(|&o| o == t);
        let fates = oracle.fates(owner, 4);
        if past_hold(&creates[owner], hold) {
            judged.unjudged += 1;
            judged.unjudged_described.push(format!(
                "create arrived at {:.3} s made the job at {t:.3} s, {:.3} s past the hold{}",
                creates[owner].at,
                t - creates[owner].at - hold,
                if fates == [orphan] {
                    ""
                } else {
                    " (judged as the others, a guess)"
                }
            ));
            continue;
        }
        if fates == [orphan] {
            continue;
        }
        let fates: Vec<String> = fates
            .iter()
            .map(|f| match f {
                None => "none".to_string(),
                Some(o) => format!(
                    "the job made at {:.3} s (creates that may have made it arrived at {:?})",
                    oracle.orphans[*o],
                    oracle.adj[*o]
                        .iter()
                        .map(|&c| creates[c].at)
                        .collect::<Vec<_>>()
                ),
            })
            .collect();
        judged.guesses.push(format!(
            "create arrived at {:.3} s made the job at {t:.3} s; its fates by the explanations: {}",
            creates[owner].at,
            fates.join("; ")
        ));
    }
    judged
}

/// How many of `creates` made their job later after they arrived than
/// `hold`: the server (here, a simulator starved of CPU) broke the bound.
pub fn made_past_hold(creates: &[Unknown], hold: f64) -> usize {
    creates.iter().filter(|c| past_hold(c, hold)).count()
}

/// Whether `c` made its job later after it arrived than `hold` (beyond
/// the rounding of times to microseconds).
fn past_hold(c: &Unknown, hold: f64) -> bool {
    c.made.is_some_and(|made| made > c.at + hold + 1e-3)
}

/// The orphans of a run and the creates each may belong to.
struct Oracle {
    orphans: Vec<f64>,
    adj: Vec<Vec<usize>>,
    rights: usize,
    best: usize,
}

impl Oracle {
    fn new(creates: &[Unknown], hold: f64) -> Self {
        let orphans: Vec<f64> = creates.iter().filter_map(|c| c.made).collect();
        // Each orphan's possible creates. The tolerance absorbs the
        // rounding of times to microseconds (a job is never created
        // before its create arrived).
        let adj: Vec<Vec<usize>> = orphans
            .iter()
            .map(|&t| {
                (0..creates.len())
                    .filter(|&c| creates[c].at - 1e-3 <= t && t <= creates[c].at + hold)
                    .collect()
            })
            .collect();
        let best = Graph {
            adj: &adj,
            rights: creates.len(),
        }
        .matching(None, None);
        Self {
            orphans,
            adj,
            rights: creates.len(),
            best,
        }
    }

    /// Up to `limit` fates of the create `c` that some explanation gives
    /// it: `None` (it made nothing) or `Some(orphan)`.
    fn fates(&self, c: usize, limit: usize) -> Vec<Option<usize>> {
        let graph = Graph {
            adj: &self.adj,
            rights: self.rights,
        };
        let mut fates = Vec::new();
        if graph.matching(None, Some(c)) == self.best {
            fates.push(None);
        }
        for (o, options) in self.adj.iter().enumerate() {
            if fates.len() >= limit {
                break;
            }
            if options.contains(&c) && graph.matching(Some(o), Some(c)) + 1 == self.best {
                fates.push(Some(o));
            }
        }
        fates
    }
}

/// Orphans (left) and the creates (right) each may belong to.
struct Graph<'a> {
    adj: &'a [Vec<usize>],
    rights: usize,
}

impl Graph<'_> {
    /// The size of a maximum matching without the orphan `skip_left` and
    /// the create `skip_right` (Kuhn's augmenting paths: the graphs have a
    /// few hundred nodes).
    fn matching(&self, skip_left: Option<usize>, skip_right: Option<usize>) -> usize {
        let mut owner: Vec<Option<usize>> = vec![None; self.rights];
        let mut size = 0;
        for left in 0..self.adj.len() {
            if Some(left) == skip_left {
                continue;
            }
            let mut seen = vec![false; self.rights];
            if self.augment(left, skip_right, &mut seen, &mut owner) {
                size += 1;
            }
        }
        size
    }

    fn augment(
        &self,
        left: usize,
        skip_right: Option<usize>,
        seen: &mut [bool],
        owner: &mut [Option<usize>],
    ) -> bool {
        for &right in &self.adj[left] {
            if Some(right) == skip_right || seen[right] {
                continue;
            }
            seen[right] = true;
            let free = match owner[right] {
                None => true,
                Some(other) => self.augment(other, skip_right, seen, owner),
            };
            if free {
                owner[right] = Some(left);
                return true;
            }
        }
        false
    }
}

/// The expected share of creates no client can decide, for a mix where a
/// share `landed` of creates makes a job without answering and a share
/// `lost` makes none without answering either, at `rate` creates a
/// second arriving as a Poisson process, with windows of `hold` seconds:
/// a create that made nothing is undecidable when an orphan falls in its
/// window, one that made a job when another unknown create's window
/// covers that job.
pub fn expected_share(rate: f64, landed: f64, lost: f64, hold: f64) -> f64 {
    lost * (1.0 - (-rate * landed * hold).exp())
        + landed * (1.0 - (-rate * (landed + lost) * hold).exp())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unknown(at: f64, made: Option<f64>) -> Unknown {
        Unknown { at, made }
    }

    #[test]
    fn far_apart_creates_are_all_decided() {
        let creates = [
            unknown(0.0, Some(0.1)),
            unknown(100.0, None),
            unknown(200.0, Some(200.2)),
        ];
        assert_eq!(undecidable(&creates, 10.0), 0);
    }

    #[test]
    fn an_orphan_two_creates_could_own_leaves_both_undecided() {
        // The orphan at 5.1 may be the job of the create at 0 or at 5;
        // the one at 50 is alone in its window.
        let creates = [
            unknown(0.0, None),
            unknown(5.0, Some(5.1)),
            unknown(50.0, Some(50.1)),
        ];
        assert_eq!(undecidable(&creates, 10.0), 2);
        // With a hold shorter than the gap, each is decided.
        assert_eq!(undecidable(&creates, 4.0), 0);
    }

    #[test]
    fn two_orphans_both_creates_could_own_are_known_landed_but_not_whose() {
        // Both creates arrived before both jobs: each landed, but which
        // job is whose is unknown.
        let both = [unknown(0.0, Some(0.1)), unknown(0.05, Some(0.12))];
        assert_eq!(undecidable(&both, 10.0), 2);
        // The first job predates the second create, so it is the first
        // create's, and the second job the second's.
        let ordered = [unknown(0.0, Some(0.01)), unknown(0.05, Some(0.12))];
        assert_eq!(undecidable(&ordered, 10.0), 0);
    }

    #[test]
    fn a_create_with_no_orphan_in_reach_is_decided_as_made_nothing() {
        // Jobs before a create arrived cannot be its own.
        let creates = [unknown(0.0, Some(0.1)), unknown(3.0, None)];
        assert_eq!(undecidable(&creates, 10.0), 0);
    }

    #[test]
    fn an_adoption_is_justified_only_when_every_explanation_agrees() {
        let creates = [
            unknown(0.0, None),
            unknown(5.0, Some(5.1)),
            unknown(50.0, Some(50.1)),
        ];
        // The job at 5.1 could be the first create's: taking it is a guess.
        let j = unjustified(&creates, 10.0, &[5.1]);
        assert_eq!((j.guesses.len(), j.unjudged), (1, 0));
        // The job at 50.1 can only be the third create's.
        let j = unjustified(&creates, 10.0, &[50.1]);
        assert_eq!((j.guesses.len(), j.unjudged), (0, 0));
    }

    #[test]
    fn a_job_made_past_the_hold_is_not_judged() {
        // The second create's job came 12 s after it arrived, past the
        // 10 s hold: no explanation within the hold has it, so its
        // adoption is not judged (and not called a guess).
        let creates = [unknown(0.0, None), unknown(5.0, Some(17.0))];
        let j = unjustified(&creates, 10.0, &[17.0]);
        assert_eq!((j.guesses.len(), j.unjudged), (0, 1));
        assert_eq!(made_past_hold(&creates, 10.0), 1);
        assert_eq!(made_past_hold(&creates, 20.0), 0);
    }

    #[test]
    fn the_expected_share_grows_with_the_hold_to_the_unknown_share() {
        let at = |hold| expected_share(1.3, 0.015, 0.045, hold);
        assert!(at(1.0) < 0.003, "{}", at(1.0));
        assert!(at(5.0) > at(1.0));
        assert!((at(300.0) - 0.06).abs() < 0.001, "{}", at(300.0));
    }
}
