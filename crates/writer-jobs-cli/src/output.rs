//! The batch results file: one record per row (JSONL or CSV), each written
//! with a single `write` as its row finishes, so a killed run keeps every
//! record it wrote; and the resume side: cutting off a torn last line and
//! learning which keys are already there.

use std::collections::HashSet;
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use writer_jobs::batch::{Outcome, OutcomeResult};

use crate::exit::CliError;

/// The results format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutFormat {
    /// One JSON object per line.
    Jsonl,
    /// CSV with a header row.
    Csv,
}

impl OutFormat {
    /// CSV for a `.csv` path, JSONL otherwise.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("csv") => Self::Csv,
            _ => Self::Jsonl,
        }
    }
}

/// The CSV columns, in order (also the JSONL field order).
pub const CSV_COLUMNS: [&str; 12] = [
    "key",
    "job_id",
    "status",
    "title",
    "suggestion",
    "error",
    "candidates",
    "attempts",
    "creates",
    "created_at",
    "finished_at",
    "simulated",
];

/// One row's result, as written to the results file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ResultRecord {
    /// The row's key.
    pub key: String,
    /// The job that produced the result, if one was created.
    pub job_id: Option<String>,
    /// `completed`, `failed`, `ambiguous`, `rejected` or `timed_out`.
    pub status: String,
    /// The output's title.
    pub title: Option<String>,
    /// The generated content.
    pub suggestion: Option<String>,
    /// Why the row did not complete.
    pub error: Option<String>,
    /// For an ambiguous row: jobs that may be its job.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub candidates: Vec<String>,
    /// Job runs (1 + job-level retries).
    pub attempts: u32,
    /// Create requests sent.
    pub creates: u32,
    /// When the server created the job.
    pub created_at: Option<DateTime<Utc>>,
    /// When the job finished.
    pub finished_at: Option<DateTime<Utc>>,
    /// `true` on a simulator: the content is not real.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub simulated: bool,
}

impl ResultRecord {
    /// The record for an outcome.
    pub fn from_outcome(outcome: &Outcome, simulated: bool) -> Self {
        let (title, suggestion, error, candidates) = match &outcome.result {
            OutcomeResult::Completed { output, .. } => (
                output.title.clone(),
                Some(output.suggestion.clone()),
                None,
                Vec::new(),
            ),
            OutcomeResult::Failed { error, .. } => (None, None, Some(error.clone()), Vec::new()),
            OutcomeResult::Ambiguous {
                reason, candidates, ..
            } => (None, None, Some(reason.clone()), candidates.clone()),
            OutcomeResult::Rejected {
                error, http_status, ..
            } => {
                let error = match http_status {
                    Some(status) => format!("{error} (HTTP {status})"),
                    None => error.clone(),
                };
                (None, None, Some(error), Vec::new())
            }
            OutcomeResult::TimedOut { waited_secs, .. } => (
                None,
                None,
                Some(format!(
                    "still unfinished after waiting {waited_secs} s; check later with `writer-jobs wait {}`",
                    outcome.job_id.as_deref().unwrap_or("JOB_ID")
                )),
                Vec::new(),
            ),
            // A kind of outcome newer than this CLI: its name is the status.
            _ => (None, None, None, Vec::new()),
        };
        Self {
            key: outcome.key.clone(),
            job_id: outcome.job_id.clone(),
            status: outcome.result.name().to_string(),
            title,
            suggestion,
            error,
            candidates,
            attempts: outcome.attempts,
            creates: outcome.creates,
            created_at: outcome.created_at,
            finished_at: outcome.finished_at,
            simulated,
        }
    }

    /// The record as one line of the format, `\n` included.
    fn to_line(&self, format: OutFormat) -> Result<Vec<u8>, CliError> {
        match format {
            OutFormat::Jsonl => {
                let mut line = serde_json::to_vec(self).map_err(|e| {
                    CliError::new(crate::exit::Code::Internal, "cannot encode a result").cause(e)
                })?;
                line.push(b'\n');
                Ok(line)
            }
            OutFormat::Csv => {
                let time = |t: &Option<DateTime<Utc>>| {
                    t.map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
                        .unwrap_or_default()
                };
                let fields = [
                    self.key.clone(),
                    self.job_id.clone().unwrap_or_default(),
                    self.status.clone(),
                    self.title.clone().unwrap_or_default(),
                    self.suggestion.clone().unwrap_or_default(),
                    self.error.clone().unwrap_or_default(),
                    self.candidates.join(";"),
                    self.attempts.to_string(),
                    self.creates.to_string(),
                    time(&self.created_at),
                    time(&self.finished_at),
                    if self.simulated { "true" } else { "" }.to_string(),
                ];
                csv_line(&fields)
            }
        }
    }
}

/// One CSV line (quoted as needed, `\n`-terminated).
fn csv_line<I, S>(fields: I) -> Result<Vec<u8>, CliError>
where
    I: IntoIterator<Item = S>,
    S: AsRef<[u8]>,
{
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    writer.write_record(fields).map_err(|e| {
        CliError::new(crate::exit::Code::Internal, "cannot encode a result").cause(e)
    })?;
    writer
        .into_inner()
        .map_err(|e| CliError::new(crate::exit::Code::Internal, "cannot encode a result").cause(e))
}

/// Counts of results by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    /// Completed rows.
    pub completed: u64,
    /// Failed rows.
    pub failed: u64,
    /// Ambiguous rows.
    pub ambiguous: u64,
    /// Rejected rows.
    pub rejected: u64,
    /// Timed-out rows.
    pub timed_out: u64,
}

impl Counts {
    /// Counts one result by its status name.
    pub fn add(&mut self, status: &str) {
        match status {
            "completed" => self.completed += 1,
            "failed" => self.failed += 1,
            "ambiguous" => self.ambiguous += 1,
            "rejected" => self.rejected += 1,
            _ => self.timed_out += 1,
        }
    }

    /// All results.
    pub fn total(&self) -> u64 {
        self.completed + self.failed + self.ambiguous + self.rejected + self.timed_out
    }
}

/// What a resumed results file already holds.
#[derive(Debug, Default)]
pub struct Existing {
    /// Keys with a result.
    pub keys: HashSet<String>,
    /// Those results by status.
    pub counts: Counts,
    /// Bytes of a torn last line that were cut off (0: none).
    pub torn_bytes: u64,
    /// The 1-based line number of the torn line, when there was one.
    pub torn_line: Option<u64>,
}

/// Where result records go.
#[derive(Debug)]
enum Sink {
    /// The results file.
    File(File),
    /// `--out -`.
    Stdout(std::io::Stdout),
}

/// Appends result records to the results file (or stdout), one `write`
/// per record.
#[derive(Debug)]
pub struct ResultsWriter {
    path: PathBuf,
    file: Sink,
    format: OutFormat,
    simulated: bool,
}

impl ResultsWriter {
    /// Creates a new results file; refuses to overwrite one.
    pub fn create(path: &Path, format: OutFormat, simulated: bool) -> Result<Self, CliError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
            .map_err(|e| {
                let err = CliError::io(format!("cannot create {}", path.display()), &e);
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    err.hint("use --resume to continue that run, or remove the file")
                } else {
                    err
                }
            })?;
        Self::start(path.to_path_buf(), Sink::File(file), format, simulated)
    }

    /// Writes the results to stdout (`--out -`).
    pub fn stdout(format: OutFormat, simulated: bool) -> Result<Self, CliError> {
        let sink = Sink::Stdout(std::io::stdout());
        Self::start(PathBuf::from("stdout"), sink, format, simulated)
    }

    /// A writer on a fresh sink: the CSV header first.
    fn start(
        path: PathBuf,
        file: Sink,
        format: OutFormat,
        simulated: bool,
    ) -> Result<Self, CliError> {
        let mut writer = Self {
            path,
            file,
            format,
            simulated,
        };
        if format == OutFormat::Csv {
            writer.write_bytes(&csv_line(CSV_COLUMNS)?)?;
        }
        Ok(writer)
    }

    /// Opens an existing results file to append to: cuts off a torn last
    /// line and reads the keys already written. A missing file is created.
    pub fn resume(
        path: &Path,
        format: OutFormat,
        simulated: bool,
    ) -> Result<(Self, Existing), CliError> {
        if !path.exists() {
            return Ok((Self::create(path, format, simulated)?, Existing::default()));
        }
        let existing = match format {
            OutFormat::Jsonl => repair_jsonl(path)?,
            OutFormat::Csv => repair_csv(path)?,
        };
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| CliError::io(format!("cannot open {}", path.display()), &e))?;
        let mut writer = Self {
            path: path.to_path_buf(),
            file: Sink::File(file),
            format,
            simulated,
        };
        let empty = std::fs::metadata(path)
            .map(|m| m.len() == 0)
            .unwrap_or(false);
        if format == OutFormat::Csv && empty {
            writer.write_bytes(&csv_line(CSV_COLUMNS)?)?;
        }
        Ok((writer, existing))
    }

    /// Writes one outcome's record (one `write`: a kill leaves at most a
    /// torn last line, which a resume cuts off).
    pub fn write(&mut self, outcome: &Outcome) -> Result<ResultRecord, CliError> {
        let record = ResultRecord::from_outcome(outcome, self.simulated);
        let line = record.to_line(self.format)?;
        self.write_bytes(&line)?;
        Ok(record)
    }

    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), CliError> {
        match &mut self.file {
            Sink::File(file) => file.write_all(bytes).and_then(|()| file.flush()),
            Sink::Stdout(out) => {
                let mut out = out.lock();
                out.write_all(bytes).and_then(|()| out.flush())
            }
        }
        .map_err(|e| CliError::io(format!("cannot write {}", self.path.display()), &e))
    }
}

/// Makes the results file at `path` agree with `changes`: for each key
/// mapped to `Some(outcome)`, that outcome's record (replacing the row's
/// record, or appended); for each key mapped to `None`, no record (so the
/// next `--resume` runs the row). Every other record is kept byte for byte.
/// The new file is written beside the old one and renamed over it, so a
/// crash leaves one or the other. Returns how many records changed (0: the
/// file was left alone).
pub fn rewrite(
    path: &Path,
    format: OutFormat,
    simulated: bool,
    changes: &std::collections::BTreeMap<String, Option<Outcome>>,
) -> Result<usize, CliError> {
    let bytes = std::fs::read(path)
        .map_err(|e| CliError::io(format!("cannot read {}", path.display()), &e))?;
    let records = match format {
        OutFormat::Jsonl => jsonl_spans(path, &bytes)?,
        OutFormat::Csv => csv_spans(path, &bytes)?,
    };
    let mut out = Vec::with_capacity(bytes.len());
    let mut placed = HashSet::new();
    let mut changed = 0;
    for span in records {
        let Some((key, status, job_id)) = &span.row else {
            out.extend_from_slice(&bytes[span.start..span.end]);
            continue;
        };
        match changes.get(key) {
            None => out.extend_from_slice(&bytes[span.start..span.end]),
            Some(None) => changed += 1,
            Some(Some(_)) if !placed.insert(key.clone()) => changed += 1,
            Some(Some(outcome)) => {
                let same = outcome.result.name() == status && outcome.job_id == *job_id;
                if same {
                    out.extend_from_slice(&bytes[span.start..span.end]);
                } else {
                    out.extend(ResultRecord::from_outcome(outcome, simulated).to_line(format)?);
                    changed += 1;
                }
            }
        }
    }
    for (key, outcome) in changes {
        if let Some(outcome) = outcome.as_ref().filter(|_| !placed.contains(key)) {
            out.extend(ResultRecord::from_outcome(outcome, simulated).to_line(format)?);
            changed += 1;
        }
    }
    if changed == 0 {
        return Ok(0);
    }
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let fail = |e: std::io::Error| CliError::io(format!("cannot rewrite {}", path.display()), &e);
    let mut temp = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
    temp.write_all(&out)
        .and_then(|()| temp.as_file().sync_all())
        .map_err(fail)?;
    temp.persist(path).map_err(|e| fail(e.error))?;
    Ok(changed)
}

/// One record of a results file: its bytes, and (for a result, not the
/// CSV header) its key, status and job id.
struct Span {
    start: usize,
    end: usize,
    row: Option<(String, String, Option<String>)>,
}

/// A JSONL results file's records (a torn last line is kept as it is).
fn jsonl_spans(path: &Path, bytes: &[u8]) -> Result<Vec<Span>, CliError> {
    #[derive(Deserialize)]
    struct Row {
        key: String,
        status: String,
        job_id: Option<String>,
    }
    let mut spans = Vec::new();
    let mut start = 0;
    for (index, line) in bytes.split_inclusive(|b| *b == b'\n').enumerate() {
        let end = start + line.len();
        let row = if line.ends_with(b"\n") && !line.iter().all(u8::is_ascii_whitespace) {
            let r: Row =
                serde_json::from_slice(line).map_err(|e| damaged(path, index as u64 + 1, e))?;
            Some((r.key, r.status, r.job_id))
        } else {
            None
        };
        spans.push(Span { start, end, row });
        start = end;
    }
    Ok(spans)
}

/// A CSV results file's records, the header first.
fn csv_spans(path: &Path, bytes: &[u8]) -> Result<Vec<Span>, CliError> {
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(bytes);
    let mut spans = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        let start = reader.position().byte() as usize;
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(damaged(path, line, e)),
        }
        let end = (reader.position().byte() as usize).min(bytes.len());
        let row = (!spans.is_empty()).then(|| {
            let field = |i| record.get(i).unwrap_or_default().to_string();
            let job_id = Some(field(1)).filter(|j| !j.is_empty());
            (field(0), field(2), job_id)
        });
        spans.push(Span { start, end, row });
    }
    Ok(spans)
}

/// Minimal view of a JSONL record, for resume.
#[derive(Deserialize)]
struct KeyStatus {
    key: String,
    status: String,
}

fn cut(path: &Path, len: u64) -> Result<(), CliError> {
    OpenOptions::new()
        .write(true)
        .open(path)
        .and_then(|f| f.set_len(len))
        .map_err(|e| CliError::io(format!("cannot repair {}", path.display()), &e))
}

fn damaged(path: &Path, line: u64, why: impl std::fmt::Display) -> CliError {
    CliError::usage(format!(
        "{}, line {line}: not a writer-jobs result ({why})",
        path.display()
    ))
    .hint("the results file was edited or is of another format (--format); fix that line or use a new --out")
}

/// Reads a JSONL results file; cuts off a last line without `\n`.
fn repair_jsonl(path: &Path) -> Result<Existing, CliError> {
    let file = File::open(path)
        .map_err(|e| CliError::io(format!("cannot open {}", path.display()), &e))?;
    let mut reader = BufReader::new(file);
    let mut existing = Existing::default();
    let mut offset = 0u64;
    let mut line_no = 0u64;
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| CliError::io(format!("cannot read {}", path.display()), &e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        if buf.last() != Some(&b'\n') {
            existing.torn_bytes = n as u64;
            existing.torn_line = Some(line_no);
            cut(path, offset)?;
            break;
        }
        offset += n as u64;
        if buf.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let record: KeyStatus =
            serde_json::from_slice(&buf).map_err(|e| damaged(path, line_no, e))?;
        existing.counts.add(&record.status);
        existing.keys.insert(record.key);
    }
    Ok(existing)
}

/// Reads a CSV results file; cuts off a last record that is torn (no
/// final `\n`, or fewer fields than the header).
fn repair_csv(path: &Path) -> Result<Existing, CliError> {
    let len = std::fs::metadata(path)
        .map_err(|e| CliError::io(format!("cannot read {}", path.display()), &e))?
        .len();
    let file = File::open(path)
        .map_err(|e| CliError::io(format!("cannot open {}", path.display()), &e))?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(file);
    let mut existing = Existing::default();
    let mut record = csv::StringRecord::new();
    // The latest record's key and status: counted once the next one shows
    // it was not the (possibly torn) last.
    let mut pending: Option<(String, String)> = None;
    let mut header_seen = false;
    let mut last: Option<(u64, u64, usize)> = None; // (start byte, line, fields)
    loop {
        let start = reader.position().byte();
        let line = reader.position().line();
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(damaged(path, line, e)),
        }
        if !header_seen {
            header_seen = true;
            if record.iter().ne(CSV_COLUMNS.iter().copied()) {
                return Err(damaged(
                    path,
                    line,
                    "the header row is not the results header",
                ));
            }
            continue;
        }
        // Count the previous record now that we know it was not the last.
        if let Some((key, status)) = pending.take() {
            existing.counts.add(&status);
            existing.keys.insert(key);
        }
        last = Some((start, line, record.len()));
        pending = Some((
            record.get(0).unwrap_or_default().to_string(),
            record.get(2).unwrap_or_default().to_string(),
        ));
    }
    let ends_with_newline = {
        use std::io::{Read, Seek, SeekFrom};
        let mut f = File::open(path)
            .map_err(|e| CliError::io(format!("cannot open {}", path.display()), &e))?;
        let mut byte = [0u8; 1];
        len > 0
            && f.seek(SeekFrom::Start(len - 1)).is_ok()
            && f.read_exact(&mut byte).is_ok()
            && byte[0] == b'\n'
    };
    if let Some((start, line, fields)) = last {
        if ends_with_newline && fields == CSV_COLUMNS.len() {
            if let Some((key, status)) = pending.take() {
                existing.counts.add(&status);
                existing.keys.insert(key);
            }
        } else {
            existing.torn_bytes = len - start;
            existing.torn_line = Some(line);
            cut(path, start)?;
        }
    } else if header_seen && !ends_with_newline {
        // Only a torn header: start the file again.
        existing.torn_bytes = len;
        existing.torn_line = Some(1);
        cut(path, 0)?;
    }
    Ok(existing)
}

#[cfg(test)]
mod tests {
    use super::*;
    use writer_jobs::Output;

    fn outcome(key: &str) -> Outcome {
        let mut outcome = Outcome::new(
            key,
            0,
            OutcomeResult::completed(Output::new(
                Some("T".into()),
                format!("line one\nline two, \"quoted\" for {key}"),
            )),
            Utc::now(),
        );
        outcome.job_id = Some(format!("job-{key}"));
        outcome.attempts = 1;
        outcome.creates = 1;
        outcome
    }

    fn round_trip(format: OutFormat, ext: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("out.{ext}"));
        let mut w = ResultsWriter::create(&path, format, true).unwrap();
        for k in ["a", "b", "c"] {
            w.write(&outcome(k)).unwrap();
        }
        drop(w);
        assert!(ResultsWriter::create(&path, format, true).is_err());
        // Tear the last record.
        let len = std::fs::metadata(&path).unwrap().len();
        let f = OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(len - 5).unwrap();
        drop(f);
        let (mut w, existing) = ResultsWriter::resume(&path, format, true).unwrap();
        assert_eq!(
            existing.keys,
            HashSet::from(["a".to_string(), "b".to_string()])
        );
        assert_eq!(existing.counts.completed, 2);
        assert!(existing.torn_bytes > 0);
        w.write(&outcome("c")).unwrap();
        drop(w);
        let (_, again) = ResultsWriter::resume(&path, format, true).unwrap();
        assert_eq!(again.keys.len(), 3);
        assert_eq!(again.torn_bytes, 0);
    }

    #[test]
    fn jsonl_resume_cuts_a_torn_line() {
        round_trip(OutFormat::Jsonl, "jsonl");
    }

    #[test]
    fn csv_resume_cuts_a_torn_record_even_inside_quotes() {
        round_trip(OutFormat::Csv, "csv");
    }

    fn rewrite_keeps_other_records_and_replaces_removes_or_appends(format: OutFormat, ext: &str) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("out.{ext}"));
        let mut w = ResultsWriter::create(&path, format, true).unwrap();
        for k in ["a", "b", "c"] {
            w.write(&outcome(k)).unwrap();
        }
        drop(w);
        let before = std::fs::read_to_string(&path).unwrap();
        let mut changes = std::collections::BTreeMap::new();
        changes.insert("c".to_string(), Some(outcome("c")));
        assert_eq!(rewrite(&path, format, true, &changes).unwrap(), 0, "same");
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
        let mut failed = outcome("a");
        failed.result = OutcomeResult::failed("boom");
        changes.insert("a".to_string(), Some(failed));
        changes.insert("b".to_string(), None);
        changes.insert("d".to_string(), Some(outcome("d")));
        assert_eq!(rewrite(&path, format, true, &changes).unwrap(), 3);
        let (_, existing) = ResultsWriter::resume(&path, format, true).unwrap();
        assert_eq!(
            existing.keys,
            HashSet::from(["a".to_string(), "c".to_string(), "d".to_string()])
        );
        assert_eq!((existing.counts.completed, existing.counts.failed), (2, 1));
        let after = std::fs::read_to_string(&path).unwrap();
        assert!(after.contains("line two"), "multi-line values survive");
    }

    #[test]
    fn jsonl_rewrite() {
        rewrite_keeps_other_records_and_replaces_removes_or_appends(OutFormat::Jsonl, "jsonl");
    }

    #[test]
    fn csv_rewrite_keeps_quoted_multi_line_records_whole() {
        rewrite_keeps_other_records_and_replaces_removes_or_appends(OutFormat::Csv, "csv");
    }

    #[test]
    fn jsonl_record_shape() {
        let r = ResultRecord::from_outcome(&outcome("k"), true);
        let v: serde_json::Value =
            serde_json::from_slice(&r.to_line(OutFormat::Jsonl).unwrap()).unwrap();
        assert_eq!(v["status"], "completed");
        assert_eq!(v["simulated"], true);
        assert_eq!(v["job_id"], "job-k");
        assert!(v["error"].is_null());
        let r = ResultRecord::from_outcome(&outcome("k"), false);
        let v = serde_json::to_value(r).unwrap();
        assert!(v.get("simulated").is_none());
    }
}
