//! `resolve RESULTS`: a batch's ambiguous rows with their candidate jobs,
//! and the user's decisions on them (`--adopt KEY=JOB_ID`, `--resend KEY`,
//! `--give-up KEY`), recorded in the journal through the library's
//! [`Resolution`], with the results file kept in agreement.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use writer_jobs::batch::{AmbiguousRow, Decision, JournalError, Outcome, Resolution, ResolveError};

use crate::args::{Global, OutFormatArg, ResolveArgs};
use crate::embedded::{ConnectOptions, Target, connect};
use crate::exit::{CliError, Code};
use crate::output::{OutFormat, rewrite};

/// One decision from the command line.
enum Action {
    Adopt { key: String, job_id: String },
    Resend { key: String },
    GiveUp { key: String },
}

impl Action {
    fn key(&self) -> &str {
        match self {
            Self::Adopt { key, .. } | Self::Resend { key } | Self::GiveUp { key } => key,
        }
    }
}

/// Runs the `resolve` command.
pub async fn run(global: &Global, args: &ResolveArgs) -> Result<Code, CliError> {
    let journal = args.journal.clone().unwrap_or_else(|| {
        let mut name = OsString::from(args.results.as_os_str());
        name.push(".journal");
        PathBuf::from(name)
    });
    if !args.results.is_file() {
        return Err(CliError::usage(format!(
            "the results file {} does not exist",
            args.results.display()
        ))
        .hint("pass the --out file of a batch run"));
    }
    if !journal.is_file() {
        return Err(CliError::usage(format!(
            "the journal {} does not exist; resolve records its decisions there",
            journal.display()
        ))
        .hint("pass --journal with the path the batch used"));
    }
    let actions = parse_actions(args)?;
    let format = match args.format {
        Some(OutFormatArg::Jsonl) => OutFormat::Jsonl,
        Some(OutFormatArg::Csv) => OutFormat::Csv,
        None => OutFormat::from_path(&args.results),
    };
    let mut resolution = Resolution::open(&journal).map_err(refusal)?;
    let preferred_port = super::batch::journal_port(&journal);
    let target = connect(global, ConnectOptions { preferred_port }).await?;
    resolution
        .check_endpoint(target.client.base_url(), target.simulated)
        .map_err(refusal)?;
    for action in &actions {
        match action {
            Action::Adopt { key, job_id } => resolution.check_adopt(key, job_id),
            Action::Resend { key } | Action::GiveUp { key } => {
                resolution.undecided(key).map(|_| ())
            }
        }
        .map_err(refusal)?;
    }
    // Adoptions come first: each fetches its job, and a failed fetch stops
    // the command before the decisions that need no request are written;
    // what was written is still reported and put in the results file.
    let mut applied = Vec::new();
    let mut failed = None;
    for action in &actions {
        match apply(&mut resolution, &target, action).await {
            Ok(done) => applied.push(done),
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    // The results file agrees with the journal (also repairing an earlier
    // resolve stopped between the two writes).
    let changed = agree(&args.results, format, target.simulated, &resolution)?;
    let undecided = undecided(&resolution);
    if let Some(e) = failed {
        report(global.json, &applied, &args.results, changed, undecided)?;
        return Err(e);
    }
    if !actions.is_empty() {
        report(global.json, &applied, &args.results, changed, undecided)?;
    } else {
        show(global.json, &target, &resolution, &args.results).await?;
    }
    Ok(exit_code(undecided))
}

/// How many ambiguous rows have no decision yet.
fn undecided(resolution: &Resolution) -> usize {
    resolution
        .rows()
        .iter()
        .filter(|r| r.decision.is_none())
        .count()
}

/// The exit code of a `resolve` that ran: 7 (as a batch that leaves rows
/// ambiguous) while some ambiguous row is undecided, so a script can loop
/// until there is nothing left to decide; 0 once every one is decided
/// (given up, or to be carried out by the next resume).
fn exit_code(undecided: usize) -> Code {
    if undecided > 0 {
        Code::Ambiguous
    } else {
        Code::Ok
    }
}

/// Rewrites the results file at `results` to agree with the journal's
/// decisions: a finished adopted job's result in place of the row's, rows
/// a resume will run (a resend, an adopted job still running) taken out.
/// Returns how many results changed. `resolve` calls it after deciding, and
/// `batch --resume` before reading the file back, so decisions the file
/// missed (a `resolve` stopped between its two writes, or decisions made
/// through the library's `Resolution`) are carried out all the same.
pub(super) fn agree(
    results: &Path,
    format: OutFormat,
    simulated: bool,
    resolution: &Resolution,
) -> Result<usize, CliError> {
    let mut changes: BTreeMap<String, Option<Outcome>> = BTreeMap::new();
    for outcome in resolution.settled() {
        changes.insert(outcome.key.clone(), Some(outcome.clone()));
    }
    for row in resolution.rows() {
        if matches!(
            row.decision,
            Some(Decision::Resend | Decision::Adopted { .. })
        ) {
            changes.insert(row.key.clone(), None);
        }
    }
    if changes.is_empty() {
        return Ok(0);
    }
    rewrite(results, format, simulated, &changes)
}

/// The decisions, each key at most once.
fn parse_actions(args: &ResolveArgs) -> Result<Vec<Action>, CliError> {
    let mut actions = Vec::new();
    for pair in &args.adopt {
        // A key may hold `=`; a job id does not.
        let Some((key, job_id)) = pair.rsplit_once('=') else {
            return Err(CliError::usage(format!(
                "--adopt {pair}: expected KEY=JOB_ID"
            )));
        };
        actions.push(Action::Adopt {
            key: key.to_string(),
            job_id: job_id.trim().to_string(),
        });
    }
    actions.extend(
        args.resend
            .iter()
            .map(|key| Action::Resend { key: key.clone() }),
    );
    actions.extend(
        args.give_up
            .iter()
            .map(|key| Action::GiveUp { key: key.clone() }),
    );
    let mut seen = HashSet::new();
    for action in &actions {
        if !seen.insert(action.key()) {
            return Err(CliError::usage(format!(
                "row `{}` is given more than one decision",
                action.key()
            ))
            .hint("decide each row once"));
        }
    }
    Ok(actions)
}

/// What one decision did, for the report.
struct Applied {
    key: String,
    action: &'static str,
    job_id: Option<String>,
    /// The row's status now.
    status: String,
}

async fn apply(
    resolution: &mut Resolution,
    target: &Target,
    action: &Action,
) -> Result<Applied, CliError> {
    let key = action.key().to_string();
    Ok(match action {
        Action::Adopt { job_id, .. } => {
            let outcome = resolution
                .adopt(&target.client, &key, job_id)
                .await
                .map_err(refusal)?;
            let status = match outcome {
                Some(o) => o.result.name().to_string(),
                None => "running".to_string(),
            };
            Applied {
                key,
                action: "adopt",
                job_id: Some(job_id.clone()),
                status,
            }
        }
        Action::Resend { .. } => {
            resolution.resend(&key).map_err(refusal)?;
            Applied {
                key,
                action: "resend",
                job_id: None,
                status: "to_resend".into(),
            }
        }
        Action::GiveUp { .. } => {
            resolution.give_up(&key).map_err(refusal)?;
            Applied {
                key,
                action: "give_up",
                job_id: None,
                status: "ambiguous".into(),
            }
        }
    })
}

fn report(
    json: bool,
    applied: &[Applied],
    results: &Path,
    changed: usize,
    undecided: usize,
) -> Result<(), CliError> {
    if json {
        let list: Vec<_> = applied
            .iter()
            .map(|a| {
                serde_json::json!({
                    "key": a.key,
                    "action": a.action,
                    "job_id": a.job_id,
                    "status": a.status,
                })
            })
            .collect();
        return crate::render::json(&serde_json::json!({
            "applied": list,
            "results_changed": changed,
            "undecided": undecided,
        }));
    }
    for a in applied {
        let line = match (a.action, a.status.as_str()) {
            ("adopt", "running") => format!(
                "{}: adopted job {} (still running); the next `batch ... --resume` waits for it",
                a.key,
                a.job_id.as_deref().unwrap_or_default()
            ),
            ("adopt", status) => format!(
                "{}: adopted job {} ({status}); its result is in {}",
                a.key,
                a.job_id.as_deref().unwrap_or_default(),
                results.display()
            ),
            ("resend", _) => format!(
                "{}: will be created again by the next `batch ... --resume`",
                a.key
            ),
            _ => format!("{}: given up; it stays ambiguous", a.key),
        };
        println!("{line}");
    }
    if undecided > 0 {
        println!(
            "{undecided} ambiguous row(s) still undecided: `writer-jobs resolve {}` lists them",
            results.display()
        );
    }
    Ok(())
}

/// Lists the ambiguous rows with their candidates, fetched by id.
async fn show(
    json: bool,
    target: &Target,
    resolution: &Resolution,
    results: &Path,
) -> Result<(), CliError> {
    // Rows' windows overlap, so candidates repeat: each is fetched once.
    let mut fetched: HashMap<&str, serde_json::Value> = HashMap::new();
    let mut rows = Vec::new();
    for row in resolution.rows() {
        let mut candidates = Vec::new();
        if row.decision.is_none() {
            for id in &row.candidates {
                if !fetched.contains_key(id.as_str()) {
                    fetched.insert(id, candidate(target, id).await);
                }
                candidates.push(fetched[id.as_str()].clone());
            }
        }
        rows.push((row, candidates));
    }
    if json {
        let list: Vec<_> = rows
            .iter()
            .map(|(row, candidates)| {
                serde_json::json!({
                    "key": row.key,
                    "reason": row.reason,
                    "decision": row.decision.as_ref().map(decision_name),
                    "decided": row.decision.as_ref().map(ToString::to_string),
                    "candidates": candidates,
                })
            })
            .collect();
        return crate::render::json(&serde_json::json!({ "rows": list }));
    }
    let open = rows.iter().filter(|(r, _)| r.decision.is_none()).count();
    println!(
        "{} ambiguous row(s) in {}, {open} undecided",
        rows.len(),
        results.display()
    );
    for (row, candidates) in &rows {
        println!();
        print_row(row, candidates);
    }
    if open > 0 {
        println!();
        println!("decide with --adopt KEY=JOB_ID, --resend KEY or --give-up KEY");
    }
    Ok(())
}

fn print_row(row: &AmbiguousRow, candidates: &[serde_json::Value]) {
    println!("{}: {}", row.key, row.reason);
    if let Some(decision) = &row.decision {
        println!("  decided: {decision}");
        return;
    }
    if candidates.is_empty() {
        println!(
            "  no candidate job (none appeared in its create's window): --resend or --give-up"
        );
        return;
    }
    let text = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap_or("-").to_string();
    let width = candidates
        .iter()
        .map(|c| text(c, "id").len())
        .max()
        .unwrap_or(0)
        .max(9);
    println!(
        "  {:width$}  {:20}  {:11}  OUTPUT",
        "CANDIDATE", "CREATED", "STATUS"
    );
    for c in candidates {
        println!(
            "  {:width$}  {:20}  {:11}  {}",
            text(c, "id"),
            text(c, "created_at"),
            text(c, "status"),
            text(c, "output")
        );
    }
}

/// A candidate job as shown: id, created_at, status and the first line of
/// its output (or error).
async fn candidate(target: &Target, id: &str) -> serde_json::Value {
    match target.client.get_job(id).await {
        Ok(job) => {
            let text = job
                .output
                .as_ref()
                .map(|o| o.suggestion.clone())
                .or(job.error.clone())
                .unwrap_or_default();
            serde_json::json!({
                "id": job.id,
                "created_at": job
                    .created_at
                    .to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "status": job.status.to_string(),
                "output": text.lines().next().unwrap_or_default(),
            })
        }
        Err(e) => serde_json::json!({
            "id": id,
            "created_at": null,
            "status": "unknown",
            "output": format!("cannot fetch it: {e}"),
        }),
    }
}

fn decision_name(decision: &Decision) -> &'static str {
    match decision {
        Decision::Adopted { .. } => "adopt",
        Decision::Resend => "resend",
        Decision::GaveUp => "give_up",
        _ => "other",
    }
}

/// A refused decision or journal: exit 2 with the fix; a job the API
/// would not give keeps the API's code.
fn refusal(err: ResolveError) -> CliError {
    let hint = match &err {
        ResolveError::Journal(JournalError::Locked { .. }) => {
            "a batch is running on this journal; resolve after it ends (or stop it)"
        }
        ResolveError::Journal(JournalError::Mismatch { .. }) => {
            "resolve against the endpoint the batch used (same --base-url and key setup)"
        }
        ResolveError::Journal(_) => "pass --journal with the path the batch used",
        ResolveError::UnknownKey { .. } => {
            "use a key from the list that `writer-jobs resolve RESULTS` prints"
        }
        ResolveError::NotAmbiguous { .. } => {
            "only rows reported ambiguous can be resolved; see `writer-jobs resolve RESULTS`"
        }
        ResolveError::Decided { .. } => "run `writer-jobs batch ... --resume` to carry it out",
        ResolveError::NotACandidate { .. } => {
            "adopt one of the row's candidates, or use --resend KEY or --give-up KEY"
        }
        ResolveError::Owned { .. } => {
            "that job is another row's; adopt another candidate, or use --resend or --give-up"
        }
        _ => "",
    };
    let message = err.to_string();
    if let ResolveError::Fetch { source, .. } = err {
        return CliError::context(message, source);
    }
    let mut e = CliError::usage(message);
    if let Some(source) = std::error::Error::source(&err) {
        e = e.cause(source);
    }
    if hint.is_empty() { e } else { e.hint(hint) }
}
