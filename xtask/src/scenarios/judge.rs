//! Judging a scenario from the simulator's own records: jobs made by
//! creates per input set (`GET /_sim/stats`), each job's inputs
//! (`GET /_sim/jobs/{id}`), and the results file, never the CLI's report.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::procs::Sim;

/// The application every scenario runs.
pub const APP: &str = "demo-product-descriptions";

/// One input row: its key and its one input, "Product name".
#[derive(Debug, Clone)]
pub struct Row {
    /// The row's key in the input and results files.
    pub key: String,
    /// Its "Product name".
    pub name: String,
}

impl Row {
    /// The input file's line for it.
    pub fn jsonl(&self) -> String {
        serde_json::json!({"key": self.key, "inputs": {"Product name": self.name}}).to_string()
    }

    /// The simulator's key of its input set (`writer_sim::input_key`):
    /// `[app, [[input id, [values]], ...]]`, inputs sorted by id.
    pub fn input_key(&self) -> String {
        input_key(
            APP,
            &[("Product name".to_string(), vec![self.name.clone()])],
        )
    }

    /// What a completed job made from its inputs says
    /// (`writer_sim::expected_output`): the inputs and a digest of them.
    pub fn expected_output(&self) -> String {
        let digest = Sha256::digest(self.input_key().as_bytes());
        let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
        format!(
            "[simulated] {APP}: Product name = {} (digest {hex})",
            self.name
        )
    }
}

fn input_key(app: &str, inputs: &[(String, Vec<String>)]) -> String {
    let mut sorted: Vec<&(String, Vec<String>)> = inputs.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    serde_json::to_string(&(app, sorted)).unwrap_or_default()
}

/// The input key of a job as `GET /_sim/jobs/{id}` shows it.
fn job_input_key(job: &Value) -> Option<String> {
    let app = job["application_id"].as_str()?;
    let inputs: Vec<(String, Vec<String>)> = job["inputs"]
        .as_array()?
        .iter()
        .map(|i| {
            let id = i["id"].as_str().unwrap_or_default().to_string();
            let values = i["value"]
                .as_array()
                .map(|v| {
                    v.iter()
                        .map(|s| s.as_str().unwrap_or_default().to_string())
                        .collect()
                })
                .unwrap_or_default();
            (id, values)
        })
        .collect();
    Some(input_key(app, &inputs))
}

/// What the simulator's records and the results file say about a run.
#[derive(Debug, Default)]
pub struct Verdict {
    /// Jobs made by creates for the batch's input sets.
    pub jobs_created: u64,
    /// Jobs made by creates beyond one per row (plus any for input sets
    /// that are no row's).
    pub duplicates: u64,
    /// Rows whose output or job was made from other inputs.
    pub wrong: u64,
    /// Rows missing from the results file.
    pub missing: u64,
    /// Extra lines for rows already written (and lines for unknown rows).
    pub duplicated_rows: u64,
    /// Results by status.
    pub statuses: BTreeMap<String, u64>,
    /// What went wrong, one line each.
    pub problems: Vec<String>,
}

impl Verdict {
    /// Rows written as completed.
    pub fn completed(&self) -> u64 {
        self.statuses.get("completed").copied().unwrap_or(0)
    }

    /// "300c 5a 1f": results by status, shortest form.
    pub fn outcome_summary(&self) -> String {
        self.statuses
            .iter()
            .map(|(s, n)| format!("{n}{}", s.chars().next().unwrap_or('?')))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Judges the run: promises (a) no duplicate job, (b) no row with another
/// row's (or another client's) output or job, (c) every row written once,
/// (d) every ambiguous row lists its candidates.
pub fn judge(sim: &Sim, rows: &[Row], results: &Path) -> Result<Verdict, String> {
    let mut v = Verdict::default();
    let stats = sim.get("/_sim/stats")?;
    let creates = stats["creates_per_input_set"]
        .as_object()
        .ok_or("no creates_per_input_set in /_sim/stats")?;
    let mut rows_per_set: HashMap<String, u64> = HashMap::new();
    for row in rows {
        *rows_per_set.entry(row.input_key()).or_default() += 1;
    }
    for (set, n) in creates {
        let n = n.as_u64().unwrap_or(0);
        match rows_per_set.get(set) {
            Some(&allowed) => {
                v.jobs_created += n;
                if n > allowed {
                    v.duplicates += n - allowed;
                    v.problems.push(format!(
                        "(a) {n} jobs made by creates for {set} ({allowed} row)"
                    ));
                }
            }
            None => {
                v.duplicates += n;
                v.problems.push(format!(
                    "(a) {n} jobs made by creates for {set}, no row's inputs"
                ));
            }
        }
    }

    let by_key: HashMap<&str, &Row> = rows.iter().map(|r| (r.key.as_str(), r)).collect();
    let text = std::fs::read_to_string(results)
        .map_err(|e| format!("cannot read {}: {e}", results.display()))?;
    let mut seen: HashMap<String, u64> = HashMap::new();
    for (i, line) in text.lines().enumerate() {
        let Ok(result) = serde_json::from_str::<Value>(line) else {
            v.duplicated_rows += 1;
            v.problems
                .push(format!("(c) results line {} is not JSON: {line:?}", i + 1));
            continue;
        };
        let key = result["key"].as_str().unwrap_or_default().to_string();
        let Some(row) = by_key.get(key.as_str()) else {
            v.duplicated_rows += 1;
            v.problems
                .push(format!("(c) results line {} names no row", i + 1));
            continue;
        };
        let count = seen.entry(key.clone()).or_default();
        *count += 1;
        if *count > 1 {
            v.duplicated_rows += 1;
            v.problems
                .push(format!("(c) row {key} written {count} times"));
            continue;
        }
        let status = result["status"].as_str().unwrap_or("?").to_string();
        *v.statuses.entry(status.clone()).or_default() += 1;
        let mut wrong = false;
        if status == "completed" && result["suggestion"].as_str() != Some(&row.expected_output()) {
            wrong = true;
            v.problems.push(format!(
                "(b) row {key} completed with {:?}",
                result["suggestion"]
            ));
        }
        if let Some(id) = result["job_id"].as_str() {
            let job = sim.get(&format!("/_sim/jobs/{id}"));
            match job.as_ref().ok().and_then(job_input_key) {
                Some(set) if set == row.input_key() => {}
                Some(set) => {
                    wrong = true;
                    v.problems.push(format!(
                        "(b) row {key} ({status}) was given job {id}, made from {set} ({})",
                        job.as_ref()
                            .map(|j| j["origin"].to_string())
                            .unwrap_or_default()
                    ));
                }
                None => {
                    wrong = true;
                    v.problems.push(format!(
                        "(b) row {key} names job {id}, unknown to the server"
                    ));
                }
            }
        }
        if wrong {
            v.wrong += 1;
        }
        if status == "ambiguous"
            && result["candidates"].as_array().is_none_or(|c| c.is_empty())
            && creates
                .get(&row.input_key())
                .and_then(Value::as_u64)
                .unwrap_or(0)
                > 0
        {
            v.problems.push(format!(
                "(d) row {key} is ambiguous, its job exists, and no candidate is listed"
            ));
        }
    }
    for row in rows {
        if !seen.contains_key(&row.key) {
            v.missing += 1;
        }
    }
    if v.missing > 0 {
        v.problems
            .push(format!("(c) {} rows missing from the results", v.missing));
    }
    Ok(v)
}
