//! The batch engine's promises, checked from the SIMULATOR's records (not
//! the client's report), as functions that say what broke instead of
//! panicking, so a randomized run can print its seed and schedule first.
//!
//! - (a) no input set has more jobs made by creates (origin `create`: not
//!   other tenants' jobs, not jobs a retry answered with a new id) than
//!   rows carrying it;
//! - (b) no completed row carries output made from other inputs (the
//!   simulator's output is a function of the inputs);
//! - (c) every row is in the outcomes exactly once;
//! - (d) a row reported ambiguous lists its candidates, or says why it has
//!   none (the list could not be read);
//! - (e) no job was retried into two new jobs (a retry answered with a new
//!   id is a create in disguise: sent again after it landed, it is a
//!   duplicate).

use std::collections::{BTreeMap, HashMap};

use writer_jobs::batch::{Outcome, OutcomeResult, Row};
use writer_sim::{JobOrigin, Simulator};

/// The input set of `row` on application `app`, as the simulator keys it.
pub fn input_set(app: &str, row: &Row) -> String {
    writer_sim::input_key(app, &row.inputs.to_wire().inputs)
}

/// The output the simulator makes from `row`'s inputs.
pub fn expected(app: &str, row: &Row) -> String {
    writer_sim::expected_output(app, &row.inputs.to_wire().inputs).suggestion
}

/// Jobs on the simulator made by clients' creates, per input set.
pub fn creates_per_input_set(sim: &Simulator, app: &str) -> HashMap<String, u64> {
    let mut per_set = HashMap::new();
    for id in sim.job_ids(app) {
        let Some(job) = sim.job(&id) else { continue };
        if job.origin == JobOrigin::Create {
            *per_set
                .entry(writer_sim::input_key(&job.application_id, &job.inputs))
                .or_insert(0u64) += 1;
        }
    }
    per_set
}

/// How many times the server ran the application's jobs, job-level
/// retries included (each job's runs, as the simulator counts them).
pub fn job_runs(sim: &Simulator, app: &str) -> u32 {
    sim.job_ids(app)
        .iter()
        .filter_map(|id| sim.job(id))
        .map(|j| j.attempts)
        .sum()
}

/// (e): no job is the origin of two jobs made by retries.
pub fn no_job_retried_twice(sim: &Simulator, app: &str) -> Result<(), String> {
    let mut made_from: HashMap<String, Vec<String>> = HashMap::new();
    for id in sim.job_ids(app) {
        let Some(job) = sim.job(&id) else { continue };
        if let Some(from) = job.retry_of {
            made_from.entry(from).or_default().push(id);
        }
    }
    let twice: Vec<String> = made_from
        .iter()
        .filter(|(_, made)| made.len() > 1)
        .map(|(from, made)| format!("job {from} was retried into {}", made.join(", ")))
        .collect();
    if twice.is_empty() {
        Ok(())
    } else {
        Err(format!("(e) {}", twice.join("; ")))
    }
}

/// (a): no input set has more jobs made by creates than rows with it.
pub fn no_duplicate_jobs(sim: &Simulator, app: &str, rows: &[Row]) -> Result<(), String> {
    let per_set = creates_per_input_set(sim, app);
    let mut rows_per_set: HashMap<String, u64> = HashMap::new();
    for row in rows {
        *rows_per_set.entry(input_set(app, row)).or_default() += 1;
    }
    let over: BTreeMap<&str, (u64, u64)> = rows_per_set
        .iter()
        .filter_map(|(set, n)| {
            let jobs = per_set.get(set).copied().unwrap_or(0);
            (jobs > *n).then_some((set.as_str(), (jobs, *n)))
        })
        .collect();
    if over.is_empty() {
        return Ok(());
    }
    Err(format!(
        "promise (a) broken, a job was created twice: {} input sets have more jobs made by \
         creates than rows ((jobs, rows) by set): {over:?}",
        over.len()
    ))
}

/// (c): every row is in the outcomes exactly once.
pub fn each_row_once(outcomes: &[Outcome], rows: &[Row]) -> Result<(), String> {
    let mut seen: HashMap<&str, u32> = HashMap::new();
    for o in outcomes {
        *seen.entry(o.key.as_str()).or_default() += 1;
    }
    let twice: Vec<&str> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| *k)
        .collect();
    let missing: Vec<&str> = rows
        .iter()
        .map(|r| r.key.as_str())
        .filter(|k| !seen.contains_key(k))
        .collect();
    if twice.is_empty() && missing.is_empty() && outcomes.len() == rows.len() {
        return Ok(());
    }
    Err(format!(
        "promise (c) broken, not every row written exactly once: {} outcomes for {} rows; \
         written twice: {twice:?}; missing: {missing:?}",
        outcomes.len(),
        rows.len()
    ))
}

/// (b) and (d): completed rows carry their own inputs' output; ambiguous
/// rows list candidates or say why there are none.
pub fn right_outputs(app: &str, outcomes: &[Outcome], rows: &[Row]) -> Result<(), String> {
    let by_key: HashMap<&str, &Row> = rows.iter().map(|r| (r.key.as_str(), r)).collect();
    let mut wrong = Vec::new();
    let mut no_candidates = Vec::new();
    for o in outcomes {
        let Some(row) = by_key.get(o.key.as_str()) else {
            continue;
        };
        match &o.result {
            OutcomeResult::Completed { output, .. } if output.suggestion != expected(app, row) => {
                wrong.push(format!("{} (job {:?})", o.key, o.job_id));
            }
            OutcomeResult::Ambiguous {
                candidates, reason, ..
            } if candidates.is_empty() && !reason.contains("could not be listed") => {
                no_candidates.push(format!("{}: {reason}", o.key));
            }
            _ => {}
        }
    }
    if !wrong.is_empty() {
        return Err(format!(
            "promise (b) broken, {} completed rows carry output made from other inputs: {wrong:?}",
            wrong.len()
        ));
    }
    if !no_candidates.is_empty() {
        return Err(format!(
            "promise (d) broken, rows reported ambiguous without candidates or a reason: \
             {no_candidates:?}"
        ));
    }
    Ok(())
}

/// Outcomes counted by kind (`completed`, `ambiguous`, ...).
pub fn tally(outcomes: &[Outcome]) -> BTreeMap<&'static str, usize> {
    let mut t = BTreeMap::new();
    for o in outcomes {
        *t.entry(o.result.name()).or_default() += 1;
    }
    t
}

/// Prints each outcome (for a test's output on failure).
pub fn show(scenario: &str, outcomes: &[Outcome]) {
    println!("{scenario}: {:?}", tally(outcomes));
    for o in outcomes {
        let detail = match &o.result {
            OutcomeResult::Ambiguous {
                reason, candidates, ..
            } => {
                format!(" candidates {candidates:?}: {reason}")
            }
            _ => String::new(),
        };
        println!(
            "  {} {} job {:?} creates {}{detail}",
            o.key,
            o.result.name(),
            o.job_id,
            o.creates
        );
    }
}

/// Asserts promises (a) to (c) on a finished run of `app`, from the
/// simulator's records, naming every one broken.
pub fn check(sim: &Simulator, app: &str, outcomes: &[Outcome], rows: &[Row], scenario: &str) {
    let mut broken = Vec::new();
    for result in [
        each_row_once(outcomes, rows),
        right_outputs(app, outcomes, rows),
        no_duplicate_jobs(sim, app, rows),
    ] {
        if let Err(e) = result {
            broken.push(e);
        }
    }
    assert!(
        broken.is_empty(),
        "{scenario}: {:?}; promises broken:\n{}",
        tally(outcomes),
        broken.join("\n")
    );
}

/// Across runs: a row's outcome read in an earlier (dropped or killed)
/// run is the one the last run reports, replayed, with the same job.
pub fn same_as_before(before: &HashMap<String, Outcome>, last: &[Outcome]) -> Result<(), String> {
    let mut bad = Vec::new();
    for o in last {
        if let Some(b) = before.get(&o.key)
            && (b.job_id != o.job_id || !o.replayed)
        {
            bad.push(format!(
                "{}: earlier {:?}/{:?}, last {:?}/{:?} replayed={}",
                o.key, b.job_id, b.result, o.job_id, o.result, o.replayed
            ));
        }
    }
    if bad.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "{} rows changed: {}",
            bad.len(),
            bad[..bad.len().min(5)].join("; ")
        ))
    }
}

/// After a run that was dropped (or killed): its outcomes agree with those
/// of the runs before it ([`same_as_before`]), and are kept with them for
/// the runs after.
pub fn keep_earlier(
    before: &mut HashMap<String, Outcome>,
    got: Vec<Outcome>,
) -> Result<(), String> {
    same_as_before(before, &got)?;
    for o in got {
        before.entry(o.key.clone()).or_insert(o);
    }
    Ok(())
}
