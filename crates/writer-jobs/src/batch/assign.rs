//! Who made which orphan, on an application declared exclusive to the
//! batch.
//!
//! There every job on the application is the batch's, so each orphan (a
//! listed job whose id the batch does not know) inside some pending
//! window was made by one of the pending creates (ambiguous creates,
//! creates still on the wire, job-level retries whose answer was lost),
//! each of which made at most one job. An orphan made before a create was
//! first sent, or after its window closed, cannot be that create's. So the
//! possible explanations are exactly the matchings that give every such
//! orphan a distinct create whose window holds it.
//!
//! A create is decided when every explanation agrees on it. Rows with the
//! same inputs are interchangeable (either job is a right answer for
//! either row), so they are decided as a cluster: a cluster is decided
//! when every explanation gives it the same set of orphans; its members
//! then adopt those orphans (as one explanation pairs them) and the rest
//! did not land. Creates that may still act (unsettled) or whose window
//! the listing did not fully cover take part in every explanation but get
//! no verdict. A cluster left undecided waits while an unsettled create
//! could explain one of its orphans; otherwise it is reported with its
//! candidates.
//!
//! Sizes are small (the ambiguous creates of one batch), so each question
//! is one augmenting-path matching (Kuhn's algorithm) with some edges
//! banned; past [`MAX_WORK`] the batch falls back to per-window rules.

use std::collections::BTreeMap;
#[cfg(test)]
use std::collections::BTreeSet;

use crate::batch::{HashSet, HashSetExt};

use chrono::{DateTime, Utc};

use super::reconcile::{Pending, Verdict, precision, shift};

/// Orphans times creates beyond which the assignment is not attempted.
const MAX_WORK: usize = 20_000;

/// Whether an orphan stamped `at` may have been made in `p`'s window (the
/// stamp is cut to its precision: the job was made in `[at, at + precision)`).
pub(super) fn within(p: &Pending, at: DateTime<Utc>) -> bool {
    shift(at, precision(at)) > p.start && at <= p.end
}

/// The bipartite graph: for each orphan, the creates whose window holds it.
struct Graph {
    /// `edges[o]`: the creates orphan `o` may belong to.
    edges: Vec<Vec<usize>>,
    creates: usize,
}

impl Graph {
    /// A matching that gives every orphan a distinct create, avoiding the
    /// `banned` edges: for each orphan, its create. `None` when there is
    /// none.
    fn cover(&self, banned: &dyn Fn(usize, usize) -> bool) -> Option<Vec<usize>> {
        let mut owner: Vec<Option<usize>> = vec![None; self.creates];
        for o in 0..self.edges.len() {
            let mut seen = vec![false; self.creates];
            if !self.augment(o, banned, &mut owner, &mut seen) {
                return None;
            }
        }
        let mut of = vec![0; self.edges.len()];
        for (c, o) in owner.iter().enumerate() {
            if let Some(o) = o {
                of[*o] = c;
            }
        }
        Some(of)
    }

    fn augment(
        &self,
        o: usize,
        banned: &dyn Fn(usize, usize) -> bool,
        owner: &mut [Option<usize>],
        seen: &mut [bool],
    ) -> bool {
        for &c in &self.edges[o] {
            if banned(o, c) || seen[c] {
                continue;
            }
            seen[c] = true;
            let free = match owner[c] {
                None => true,
                Some(other) => self.augment(other, banned, owner, seen),
            };
            if free {
                owner[c] = Some(o);
                return true;
            }
        }
        false
    }
}

/// Decides the settled, covered creates of `pending` on an exclusive
/// application from the `orphans` a listing showed (`covered`: whether the
/// listing showed every job a create's window can hold; creates with the
/// same known input set are interchangeable). `None` when no explanation exists (a job no pending
/// create can have made: the application is not exclusive after all) or
/// the problem is too large: the caller then judges window by window.
pub(super) fn decide_exclusive(
    pending: &[Pending],
    orphans: &[(&str, DateTime<Utc>)],
    covered: &dyn Fn(&Pending) -> bool,
) -> Option<Vec<Verdict>> {
    // Orphans no pending create can have made play no part.
    let relevant: Vec<(&str, DateTime<Utc>)> = orphans
        .iter()
        .copied()
        .filter(|(_, at)| pending.iter().any(|p| within(p, *at)))
        .collect();
    if relevant.len().saturating_mul(pending.len()) > MAX_WORK {
        return None;
    }
    let graph = Graph {
        edges: relevant
            .iter()
            .map(|(_, at)| {
                (0..pending.len())
                    .filter(|&c| within(&pending[c], *at))
                    .collect()
            })
            .collect(),
        creates: pending.len(),
    };
    let one = graph.cover(&|_, _| false)?;
    let decidable = |c: usize| {
        let p = &pending[c];
        p.settled && covered(p)
    };
    // Clusters of decidable creates: by input set when known, else alone.
    let mut clusters: BTreeMap<(Option<&str>, usize), Vec<usize>> = BTreeMap::new();
    for c in (0..pending.len()).filter(|&c| decidable(c)) {
        let key = match pending[c].inputs.as_deref() {
            Some(fp) => (Some(fp), 0),
            None => (None, c),
        };
        clusters.entry(key).or_default().push(c);
    }
    let mut verdicts = Vec::new();
    // Orphans every explanation gives to a decided cluster: no other
    // create's candidates.
    let mut adopted: HashSet<usize> = HashSet::new();
    let mut undecided = Vec::new();
    for members in clusters.values() {
        let in_cluster: HashSet<usize> = members.iter().copied().collect();
        let ours: Vec<usize> = (0..relevant.len())
            .filter(|&o| in_cluster.contains(&one[o]))
            .collect();
        if !invariant(&graph, &in_cluster, &ours) {
            undecided.push((members, in_cluster));
            continue;
        }
        for &c in members {
            match (0..relevant.len()).find(|&o| one[o] == c) {
                Some(o) => {
                    adopted.insert(o);
                    verdicts.push(Verdict::Adopt {
                        key: pending[c].key.clone(),
                        job_id: relevant[o].0.to_string(),
                    });
                }
                None => verdicts.push(Verdict::NotLanded {
                    key: pending[c].key.clone(),
                }),
            }
        }
    }
    verdicts.extend(undecided_verdicts(
        &graph, &relevant, pending, &adopted, undecided,
    ));
    Some(verdicts)
}

/// The verdicts on the undecided clusters (`members` with their set):
/// none while an unsettled create may explain one of a cluster's orphans,
/// else each member reported with the orphans its window holds, but for
/// those every explanation gives to a decided cluster (`adopted`); a
/// member left with none did not land (sent again).
fn undecided_verdicts(
    graph: &Graph,
    relevant: &[(&str, DateTime<Utc>)],
    pending: &[Pending],
    adopted: &HashSet<usize>,
    undecided: Vec<(&Vec<usize>, HashSet<usize>)>,
) -> Vec<Verdict> {
    let mut verdicts = Vec::new();
    for (members, in_cluster) in undecided {
        let touched: Vec<usize> = (0..relevant.len())
            .filter(|o| !adopted.contains(o))
            .filter(|&o| graph.edges[o].iter().any(|c| in_cluster.contains(c)))
            .collect();
        let may_change = touched
            .iter()
            .any(|&o| graph.edges[o].iter().any(|&c| !pending[c].settled));
        if may_change {
            continue;
        }
        for &c in members {
            let mut candidates: Vec<String> = touched
                .iter()
                .filter(|&&o| graph.edges[o].contains(&c))
                .map(|&o| relevant[o].0.to_string())
                .collect();
            candidates.sort_unstable();
            let key = pending[c].key.clone();
            verdicts.push(if candidates.is_empty() {
                // A member of a cluster (creates of one input set) whose
                // own window holds no orphan but those every explanation
                // gives to decided clusters: no explanation gives it a
                // job, so it did not land, whatever its siblings did.
                Verdict::NotLanded { key }
            } else {
                Verdict::Unresolved { key, candidates }
            });
        }
    }
    verdicts
}

/// Whether every explanation gives the cluster exactly the orphans `ours`
/// (one explanation's): none of them can go elsewhere, and no other orphan
/// can come to the cluster.
fn invariant(graph: &Graph, cluster: &HashSet<usize>, ours: &[usize]) -> bool {
    let ours_set: HashSet<usize> = ours.iter().copied().collect();
    for &o in ours {
        // Can `o` belong to a create outside the cluster?
        let elsewhere = |x: usize, c: usize| x == o && cluster.contains(&c);
        if graph.cover(&elsewhere).is_some() {
            return false;
        }
    }
    for o in (0..graph.edges.len()).filter(|o| !ours_set.contains(o)) {
        if !graph.edges[o].iter().any(|c| cluster.contains(c)) {
            continue;
        }
        // Can `o` belong to the cluster?
        let inside = |x: usize, c: usize| x == o && !cluster.contains(&c);
        if graph.cover(&inside).is_some() {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + secs * 1000 + 500).unwrap()
    }

    fn p(key: &str, start: i64, end: i64, settled: bool) -> Pending {
        Pending {
            key: key.into(),
            start: t(start),
            end: t(end),
            settled,
            inputs: None,
        }
    }

    fn with_inputs(mut p: Pending, inputs: &str) -> Pending {
        p.inputs = Some(inputs.into());
        p
    }

    fn decide(pending: &[Pending], orphans: &[(&str, i64)]) -> Option<Vec<Verdict>> {
        let orphans: Vec<(&str, DateTime<Utc>)> =
            orphans.iter().map(|(id, at)| (*id, t(*at))).collect();
        let mut v = decide_exclusive(pending, &orphans, &|_| true)?;
        v.sort_by(|a, b| a.key().cmp(b.key()));
        Some(v)
    }

    fn adopt(key: &str, job: &str) -> Verdict {
        Verdict::Adopt {
            key: key.into(),
            job_id: job.into(),
        }
    }

    fn not_landed(key: &str) -> Verdict {
        Verdict::NotLanded { key: key.into() }
    }

    #[test]
    fn overlapping_windows_are_untangled_by_time() {
        // a: 0-10, b: 5-20. Orphan j1 at 3 can only be a's, so j2 at 7
        // (in both windows) must be b's.
        let pending = [p("a", 0, 10, true), p("b", 5, 20, true)];
        let v = decide(&pending, &[("j1", 3), ("j2", 7)]).unwrap();
        assert_eq!(v, [adopt("a", "j1"), adopt("b", "j2")]);
    }

    #[test]
    fn one_orphan_in_two_windows_of_different_rows_is_unresolved() {
        let pending = [
            with_inputs(p("a", 0, 10, true), "x"),
            with_inputs(p("b", 5, 20, true), "y"),
        ];
        let v = decide(&pending, &[("j", 7)]).unwrap();
        assert_eq!(
            v,
            [
                Verdict::Unresolved {
                    key: "a".into(),
                    candidates: vec!["j".into()]
                },
                Verdict::Unresolved {
                    key: "b".into(),
                    candidates: vec!["j".into()]
                },
            ]
        );
    }

    #[test]
    fn rows_with_the_same_inputs_are_interchangeable() {
        // Same two windows, same inputs: whichever made it, the cluster
        // has one job: one row adopts it, the other did not land.
        let pending = [
            with_inputs(p("a", 0, 10, true), "x"),
            with_inputs(p("b", 5, 20, true), "x"),
        ];
        let v = decide(&pending, &[("j", 7)]).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(
            v.iter()
                .filter(|v| matches!(v, Verdict::Adopt { .. }))
                .count(),
            1
        );
        assert_eq!(
            v.iter()
                .filter(|v| matches!(v, Verdict::NotLanded { .. }))
                .count(),
            1
        );
        // Two orphans for the pair: both adopted.
        let v = decide(&pending, &[("j1", 7), ("j2", 8)]).unwrap();
        assert!(
            v.iter().all(|v| matches!(v, Verdict::Adopt { .. })),
            "{v:?}"
        );
    }

    #[test]
    fn an_unsettled_create_that_may_own_an_orphan_makes_the_others_wait() {
        let pending = [p("a", 0, 10, true), p("wire", 5, 20, false)];
        let v = decide(&pending, &[("j", 7)]).unwrap();
        assert!(v.is_empty(), "{v:?}");
        // An orphan only the settled create can have made is adopted even
        // while another create is on the wire.
        let v = decide(&pending, &[("j", 2)]).unwrap();
        assert_eq!(v, [adopt("a", "j")]);
    }

    #[test]
    fn an_empty_window_did_not_land() {
        let pending = [p("a", 0, 10, true), p("b", 50, 60, true)];
        let v = decide(&pending, &[("j", 55)]).unwrap();
        assert_eq!(v, [not_landed("a"), adopt("b", "j")]);
    }

    #[test]
    fn an_orphan_no_create_can_explain_means_the_app_is_not_exclusive() {
        // Two orphans in a window of one create: one is someone else's.
        let pending = [p("a", 0, 10, true)];
        assert_eq!(decide(&pending, &[("j1", 3), ("j2", 4)]), None);
    }

    #[test]
    fn a_whole_second_stamp_belongs_to_a_window_starting_within_its_second() {
        let window = Pending {
            key: "a".into(),
            start: DateTime::from_timestamp_millis(1_800_000_000_700).unwrap(),
            end: DateTime::from_timestamp_millis(1_800_000_010_000).unwrap(),
            settled: true,
            inputs: None,
        };
        let stamped = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        assert!(within(&window, stamped));
    }

    #[test]
    fn a_create_of_an_undecided_input_set_with_no_orphan_of_its_own_did_not_land() {
        // a and b share inputs; j lies in b's and c's windows, so who made
        // it is open, and so is what a and b's input set got. a's window
        // holds no job: it did not land (it was once reported ambiguous
        // with no candidate and no reason why).
        let pending = [
            with_inputs(p("a", 0, 5, true), "x"),
            with_inputs(p("b", 10, 20, true), "x"),
            p("c", 12, 25, true),
        ];
        let v = decide(&pending, &[("j", 15)]).unwrap();
        let unresolved = |key: &str| Verdict::Unresolved {
            key: key.into(),
            candidates: vec!["j".into()],
        };
        assert_eq!(
            v,
            [
                Verdict::NotLanded { key: "a".into() },
                unresolved("b"),
                unresolved("c")
            ]
        );
    }

    #[test]
    fn an_orphan_adopted_by_one_row_is_no_candidate_of_another() {
        // j2 and j3 lie only in b's and c's windows, so they take b and c
        // (in either order: b and c are undecided); j1 must then be a's,
        // and is adopted. j1 also lies in b's and c's windows, yet no
        // explanation gives it to them: it is not their candidate.
        let pending = [
            with_inputs(p("a", 0, 10, true), "x"),
            with_inputs(p("b", 0, 20, true), "y"),
            with_inputs(p("c", 0, 20, true), "z"),
        ];
        let v = decide(&pending, &[("j1", 5), ("j2", 15), ("j3", 16)]).unwrap();
        let unresolved = |key: &str| Verdict::Unresolved {
            key: key.into(),
            candidates: vec!["j2".into(), "j3".into()],
        };
        assert_eq!(v, [adopt("a", "j1"), unresolved("b"), unresolved("c")]);
    }

    /// Differential check against brute force: on small random instances,
    /// every explanation (an injective map of each relevant orphan to a
    /// create whose window holds it) is enumerated, and each verdict must
    /// hold in all of them: a decided cluster's adopted orphans are exactly
    /// the ones every explanation gives it (its other members did not
    /// land), and an unresolved row lists every orphan some explanation
    /// gives it. No explanation means `None`.
    mod against_brute_force {
        use super::*;
        use proptest::prelude::*;
        use std::collections::HashMap;

        fn explanations(
            edges: &[Vec<usize>],
            o: usize,
            used: &mut Vec<bool>,
            current: &mut Vec<usize>,
            out: &mut Vec<Vec<usize>>,
        ) {
            if o == edges.len() {
                out.push(current.clone());
                return;
            }
            for &c in &edges[o] {
                if !used[c] {
                    used[c] = true;
                    current.push(c);
                    explanations(edges, o + 1, used, current, out);
                    current.pop();
                    used[c] = false;
                }
            }
        }

        type Case = (Vec<(i64, i64, bool, bool, u8)>, Vec<i64>);

        fn case() -> impl Strategy<Value = Case> {
            (
                prop::collection::vec(
                    (
                        0i64..20,
                        0i64..12,
                        prop::bool::weighted(0.8),
                        prop::bool::weighted(0.85),
                        0u8..3,
                    ),
                    1..6,
                ),
                prop::collection::vec(0i64..32, 0..6),
            )
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(2000))]
            #[test]
            fn every_verdict_holds_in_every_explanation((creates, stamps) in case()) {
                let pending: Vec<Pending> = creates
                    .iter()
                    .enumerate()
                    .map(|(i, &(start, len, settled, _, label))| {
                        let p = p(&format!("r{i}"), start, start + len, settled);
                        match label {
                            0 => p,
                            1 => with_inputs(p, "x"),
                            _ => with_inputs(p, "y"),
                        }
                    })
                    .collect();
                let covered: HashSet<String> = creates
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.3)
                    .map(|(i, _)| format!("r{i}"))
                    .collect();
                let ids: Vec<String> = (0..stamps.len()).map(|o| format!("j{o}")).collect();
                let orphans: Vec<(&str, DateTime<Utc>)> = stamps
                    .iter()
                    .zip(&ids)
                    .map(|(&at, id)| (id.as_str(), t(at)))
                    .collect();
                let relevant: Vec<usize> = (0..orphans.len())
                    .filter(|&o| pending.iter().any(|p| within(p, orphans[o].1)))
                    .collect();
                let edges: Vec<Vec<usize>> = relevant
                    .iter()
                    .map(|&o| (0..pending.len()).filter(|&c| within(&pending[c], orphans[o].1)).collect())
                    .collect();
                let mut all = Vec::new();
                explanations(&edges, 0, &mut vec![false; pending.len()], &mut Vec::new(), &mut all);
                let verdicts = decide_exclusive(&pending, &orphans, &|p| covered.contains(&p.key));
                let Some(verdicts) = verdicts else {
                    prop_assert!(all.is_empty(), "None although {} explanations exist", all.len());
                    return Ok(());
                };
                prop_assert!(!all.is_empty(), "verdicts {verdicts:?} without any explanation");
                let index = |key: &str| pending.iter().position(|p| p.key == key).unwrap();
                let decidable = |c: usize| pending[c].settled && covered.contains(&pending[c].key);
                let cluster = |c: usize| -> Vec<usize> {
                    match &pending[c].inputs {
                        Some(fp) => (0..pending.len())
                            .filter(|&d| decidable(d) && pending[d].inputs.as_ref() == Some(fp))
                            .collect(),
                        None => vec![c],
                    }
                };
                // Per explanation, the orphans (by id) each create gets.
                let given: Vec<HashMap<usize, &str>> = all
                    .iter()
                    .map(|e| e.iter().enumerate().map(|(r, &c)| (c, orphans[relevant[r]].0)).collect())
                    .collect();
                let mut seen = HashSet::new();
                for v in &verdicts {
                    let c = index(v.key());
                    prop_assert!(seen.insert(c), "two verdicts for {}: {verdicts:?}", v.key());
                    prop_assert!(decidable(c), "a verdict on an undecidable create: {v:?}");
                    let members = cluster(c);
                    match v {
                        // A create no explanation gives a job did not
                        // land, whatever its cluster's other members did.
                        Verdict::NotLanded { .. } if given.iter().all(|g| !g.contains_key(&c)) => {}
                        Verdict::Adopt { .. } | Verdict::NotLanded { .. } => {
                            let adopted: BTreeSet<&str> = verdicts
                                .iter()
                                .filter(|w| members.contains(&index(w.key())))
                                .filter_map(|w| match w {
                                    Verdict::Adopt { job_id, .. } => Some(job_id.as_str()),
                                    _ => None,
                                })
                                .collect();
                            for (e, g) in given.iter().enumerate() {
                                let got: BTreeSet<&str> =
                                    members.iter().filter_map(|m| g.get(m).copied()).collect();
                                prop_assert_eq!(
                                    &got, &adopted,
                                    "{:?} decided, but explanation {:?} gives its cluster other orphans; verdicts {:?}",
                                    v, all[e], verdicts
                                );
                            }
                        }
                        Verdict::Unresolved { candidates, .. } => {
                            for g in &given {
                                if let Some(o) = g.get(&c) {
                                    prop_assert!(
                                        candidates.iter().any(|id| id == o),
                                        "{:?} misses {} that an explanation gives it", v, o
                                    );
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}
