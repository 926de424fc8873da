//! How single commands print: short human text on stdout, or JSON with
//! `--json`. Times are RFC 3339 in UTC.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use writer_jobs::{Application, InputType, Job, Output};

use crate::exit::{CliError, Code};

/// Prints `value` as pretty JSON on stdout.
pub fn json<T: Serialize>(value: &T) -> Result<(), CliError> {
    println!("{}", json_string(value)?);
    Ok(())
}

/// `value` as pretty JSON.
pub fn json_string<T: Serialize>(value: &T) -> Result<String, CliError> {
    serde_json::to_string_pretty(value)
        .map_err(|e| CliError::new(Code::Internal, "cannot encode JSON").cause(e))
}

/// Prints `value` as one line of JSON on stdout (for streams).
pub fn json_line<T: Serialize>(value: &T) -> Result<(), CliError> {
    let text = serde_json::to_string(value)
        .map_err(|e| CliError::new(Code::Internal, "cannot encode JSON").cause(e))?;
    println!("{text}");
    Ok(())
}

fn time(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A job as labelled lines, the output last.
pub fn job_text(job: &Job) -> String {
    let mut out = String::new();
    let mut field = |name: &str, value: &str| out.push_str(&format!("{name:<12} {value}\n"));
    field("id:", &job.id);
    field("status:", job.status.as_str());
    field("application:", &job.application_id);
    field("created:", &time(&job.created_at));
    if let Some(t) = &job.completed_at {
        field("finished:", &time(t));
    }
    if let Some(error) = &job.error {
        field("error:", error);
    }
    if let Some(output) = &job.output {
        out.push_str(&output_text(output));
    }
    out
}

/// An output as labelled lines: its title, then the suggestion indented
/// (`run --sync`, and the end of [`job_text`]).
pub fn output_text(output: &Output) -> String {
    let mut out = String::new();
    if let Some(title) = &output.title {
        out.push_str(&format!("{:<12} {title}\n", "title:"));
    }
    out.push_str("suggestion:\n");
    for line in output.suggestion.lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
    out
}

/// The header of the job table (`list`).
pub fn job_row_header() -> String {
    format!(
        "{:<36}  {:<11}  {:<20}  {}",
        "ID", "STATUS", "CREATED", "TITLE / ERROR"
    )
}

/// One job as a table row (`list`).
pub fn job_row(job: &Job) -> String {
    let detail = match (&job.output, &job.error) {
        (Some(o), _) => o.title.clone().unwrap_or_else(|| first_line(&o.suggestion)),
        (None, Some(e)) => first_line(e),
        (None, None) => String::new(),
    };
    format!(
        "{:<36}  {:<11}  {:<20}  {}",
        job.id,
        job.status.as_str(),
        time(&job.created_at),
        truncate(&detail, 60)
    )
}

fn first_line(s: &str) -> String {
    s.lines().next().unwrap_or_default().to_string()
}

fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}

/// An application and its inputs, with an example command.
pub fn app_text(app: &Application) -> String {
    let mut out = format!("{} ({})\n", app.name, app.id);
    out.push_str(&format!(
        "type: {}, status: {}\n\n",
        app.app_type, app.status
    ));
    let rows: Vec<[String; 5]> = app
        .inputs
        .iter()
        .map(|def| {
            let accepts = match &def.input_type {
                InputType::Dropdown if !def.options.list.is_empty() => def.options.list.join(" | "),
                InputType::Text => match (def.options.min_fields, def.options.max_fields) {
                    (_, Some(1)) => "1 value".to_string(),
                    (Some(min), Some(max)) => format!("{min} to {max} values"),
                    (None, Some(max)) => format!("up to {max} values"),
                    (Some(min), None) => format!("at least {min} values"),
                    (None, None) => "text".to_string(),
                },
                InputType::File => match def.options.max_files {
                    Some(n) => format!("up to {n} file ids"),
                    None => "file ids".to_string(),
                },
                other => other.as_str().to_string(),
            };
            [
                def.name.clone(),
                def.input_type.as_str().to_string(),
                if def.required { "yes" } else { "no" }.to_string(),
                accepts,
                def.description.clone().unwrap_or_default(),
            ]
        })
        .collect();
    if rows.is_empty() {
        out.push_str("This application takes no inputs.\n");
        return out;
    }
    let header = ["INPUT", "TYPE", "REQUIRED", "ACCEPTS", "DESCRIPTION"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 5]| {
        let mut s = String::new();
        for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(cell);
            } else {
                s.push_str(&format!("{cell:<w$}  "));
            }
        }
        s.trim_end().to_string() + "\n"
    };
    out.push_str(&line(header));
    for row in &rows {
        out.push_str(&line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
    let example: Vec<String> = app
        .inputs
        .iter()
        .filter(|d| d.required)
        .map(|d| format!(" --input '{}=...'", d.name))
        .collect();
    out.push_str(&format!(
        "\nRun it:\n  writer-jobs run --app {}{}\n",
        app.id,
        example.concat()
    ));
    out
}
