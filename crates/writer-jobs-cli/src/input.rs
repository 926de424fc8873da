//! Batch input files: JSONL and CSV rows, read one at a time, and the check
//! pass that finds every bad row before anything is created.
//!
//! Rows are streamed, never collected: the check pass keeps only the keys
//! (to find duplicates) and the numbers of bad lines; the run pass reads the
//! file again.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::Path;

use serde::Deserialize;
use writer_jobs::{Application, InputType, Inputs, validate_inputs};

use crate::exit::CliError;

/// The format of an input file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputFormat {
    /// One JSON object per line.
    Jsonl,
    /// A header of input names, then rows.
    Csv,
}

impl InputFormat {
    /// CSV for a `.csv` file, JSONL for anything else.
    pub fn from_path(path: &Path) -> Self {
        match path.extension().and_then(|e| e.to_str()) {
            Some(ext) if ext.eq_ignore_ascii_case("csv") => Self::Csv,
            _ => Self::Jsonl,
        }
    }
}

/// How to read a file.
#[derive(Debug, Clone)]
pub struct ReadOptions {
    /// The format.
    pub format: InputFormat,
    /// CSV: the key column (default: `key` if the header has it).
    pub key_column: Option<String>,
    /// CSV: the separator of list values in a cell.
    pub list_separator: String,
}

/// One row: where it is, its key, its inputs.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedRow {
    /// 1-based line where the row starts.
    pub line: u64,
    /// The row's key.
    pub key: String,
    /// The row's inputs.
    pub inputs: Inputs,
}

/// A problem with one line (or the file, when `fatal`).
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    /// 1-based line.
    pub line: u64,
    /// What is wrong.
    pub message: String,
    /// The file cannot be read further.
    pub fatal: bool,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

fn row_error(line: u64, message: impl Into<String>) -> RowError {
    RowError {
        line,
        message: message.into(),
        fatal: false,
    }
}

/// Opens `path` and returns its rows, one at a time. CSV header problems
/// (a key column that does not exist, an unreadable header) are errors here.
pub fn open_rows(
    path: &Path,
    opts: &ReadOptions,
    app: &Application,
) -> Result<Box<dyn Iterator<Item = Result<ParsedRow, RowError>> + Send>, CliError> {
    let file = File::open(path)
        .map_err(|e| CliError::io(format!("cannot open {}", path.display()), &e))?;
    match opts.format {
        InputFormat::Jsonl => Ok(Box::new(JsonlRows {
            reader: BufReader::new(file),
            line: 0,
            done: false,
        })),
        InputFormat::Csv => Ok(Box::new(CsvRows::new(path, file, opts, app)?)),
    }
}

/// A CSV file's header row, or an error naming the file.
fn csv_header<R: std::io::Read>(
    reader: &mut csv::Reader<R>,
    path: &Path,
) -> Result<csv::StringRecord, CliError> {
    reader.headers().cloned().map_err(|e| {
        CliError::usage(format!(
            "{}: cannot read the CSV header row: {e}",
            path.display()
        ))
    })
}

// ----- JSONL -------------------------------------------------------------

/// The shape of one JSONL row.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonRow {
    key: Option<JsonKey>,
    inputs: Inputs,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum JsonKey {
    Text(String),
    Int(i64),
}

struct JsonlRows {
    reader: BufReader<File>,
    line: u64,
    done: bool,
}

impl Iterator for JsonlRows {
    type Item = Result<ParsedRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let mut buf = Vec::new();
        loop {
            if self.done {
                return None;
            }
            buf.clear();
            self.line += 1;
            match self.reader.read_until(b'\n', &mut buf) {
                Ok(0) => {
                    self.done = true;
                    return None;
                }
                Ok(_) => {}
                Err(e) => {
                    self.done = true;
                    return Some(Err(RowError {
                        line: self.line,
                        message: format!("cannot read the file: {e}"),
                        fatal: true,
                    }));
                }
            }
            if buf.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return Some(parse_json_line(self.line, &buf));
        }
    }
}

/// Parses one JSONL line into a row.
fn parse_json_line(line: u64, bytes: &[u8]) -> Result<ParsedRow, RowError> {
    let text = std::str::from_utf8(bytes)
        .map_err(|_| row_error(line, "not valid UTF-8 text"))?
        .trim();
    let row: JsonRow = serde_json::from_str(text).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Data => "not a valid row",
            _ => "invalid JSON",
        };
        let mut message = e.to_string();
        // serde_json says "at line 1 column N": the line is always 1 here.
        if let Some(at) = message.rfind(" at line ") {
            message.truncate(at);
        }
        row_error(
            line,
            format!(
                "{what}: {message} (column {}); expected {{\"key\": \"...\", \"inputs\": {{\"Name\": \"value\" or [\"values\"]}}}}",
                e.column()
            ),
        )
    })?;
    let key = match row.key {
        Some(JsonKey::Text(k)) => k,
        Some(JsonKey::Int(n)) => n.to_string(),
        None => line.to_string(),
    };
    if key.trim().is_empty() {
        return Err(row_error(line, "the key is empty"));
    }
    Ok(ParsedRow {
        line,
        key,
        inputs: row.inputs,
    })
}

// ----- CSV ---------------------------------------------------------------

/// What one CSV column is.
#[derive(Debug, Clone)]
enum Column {
    Key,
    /// An input; `split` when the application takes several values for it.
    Input {
        name: String,
        split: bool,
    },
}

struct CsvRows {
    reader: csv::Reader<File>,
    columns: Vec<Column>,
    separator: String,
    row: u64,
    done: bool,
}

impl CsvRows {
    fn new(
        path: &Path,
        file: File,
        opts: &ReadOptions,
        app: &Application,
    ) -> Result<Self, CliError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(file);
        let header = csv_header(&mut reader, path)?;
        if header.is_empty() || header.iter().all(str::is_empty) {
            return Err(CliError::usage(format!(
                "{}: the file is empty (expected a header row of input names)",
                path.display()
            )));
        }
        let key_column = match &opts.key_column {
            Some(col) => {
                if !header.iter().any(|h| h == col) {
                    return Err(CliError::usage(format!(
                        "{}: --key-column {col:?} is not a column (the header has: {})",
                        path.display(),
                        header.iter().collect::<Vec<_>>().join(", ")
                    )));
                }
                Some(col.clone())
            }
            None => header.iter().any(|h| h == "key").then(|| "key".to_string()),
        };
        let columns = header
            .iter()
            .map(|name| {
                if key_column.as_deref() == Some(name) {
                    Column::Key
                } else {
                    Column::Input {
                        name: name.to_string(),
                        split: takes_several(app, name),
                    }
                }
            })
            .collect();
        if opts.list_separator.is_empty() {
            return Err(CliError::usage("--list-separator must not be empty"));
        }
        Ok(Self {
            reader,
            columns,
            separator: opts.list_separator.clone(),
            row: 0,
            done: false,
        })
    }
}

/// Whether `app` takes several values for input `name`: only then is a CSV
/// cell split on the list separator (a product name may contain `;`).
fn takes_several(app: &Application, name: &str) -> bool {
    app.inputs.iter().any(|def| {
        def.name == name
            && match def.input_type {
                InputType::Text => def.options.max_fields.is_some_and(|m| m > 1),
                InputType::File => def.options.max_files.is_some_and(|m| m > 1),
                _ => false,
            }
    })
}

impl Iterator for CsvRows {
    type Item = Result<ParsedRow, RowError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut record = csv::StringRecord::new();
        let line_before = self.reader.position().line();
        let read = self.reader.read_record(&mut record);
        let line = record
            .position()
            .map(|p| p.line())
            .unwrap_or(line_before.max(1));
        match read {
            Ok(false) => {
                self.done = true;
                None
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or(line);
                self.row += 1;
                match e.kind() {
                    csv::ErrorKind::Utf8 { .. } => {
                        Some(Err(row_error(line, "not valid UTF-8 text")))
                    }
                    csv::ErrorKind::Io(_) => {
                        self.done = true;
                        Some(Err(RowError {
                            line,
                            message: format!("cannot read the file: {e}"),
                            fatal: true,
                        }))
                    }
                    _ => Some(Err(row_error(line, format!("not a valid CSV row: {e}")))),
                }
            }
            Ok(true) => {
                self.row += 1;
                if record.iter().all(str::is_empty) {
                    return self.next();
                }
                Some(self.parse(line, &record))
            }
        }
    }
}

impl CsvRows {
    fn parse(&self, line: u64, record: &csv::StringRecord) -> Result<ParsedRow, RowError> {
        if record.len() != self.columns.len() {
            return Err(row_error(
                line,
                format!(
                    "has {} fields, but the header has {}",
                    record.len(),
                    self.columns.len()
                ),
            ));
        }
        let mut key = None;
        let mut inputs = Inputs::new();
        for (column, cell) in self.columns.iter().zip(record.iter()) {
            match column {
                Column::Key => key = Some(cell.to_string()),
                Column::Input { name, split } => {
                    if cell.is_empty() {
                        continue;
                    }
                    let values: Vec<String> = if *split {
                        cell.split(self.separator.as_str())
                            .map(str::trim)
                            .filter(|v| !v.is_empty())
                            .map(str::to_string)
                            .collect()
                    } else {
                        vec![cell.to_string()]
                    };
                    inputs.set(name.clone(), values);
                }
            }
        }
        let key = match key {
            Some(k) if k.is_empty() => return Err(row_error(line, "the key column is empty")),
            Some(k) => k,
            None => self.row.to_string(),
        };
        Ok(ParsedRow { line, key, inputs })
    }
}

// ----- the check pass -------------------------------------------------------

/// What the check pass found.
#[derive(Debug, Default)]
pub struct Checked {
    /// Rows that passed every check.
    pub valid: u64,
    /// Every problem, in file order (one per problem; a row may have several).
    pub problems: Vec<RowError>,
    /// Lines of the rows to skip (invalid, or a later duplicate of a key).
    pub bad_lines: HashSet<u64>,
    /// The keys of the valid rows.
    pub valid_keys: HashSet<String>,
}

/// Reads the whole file once and checks every row: JSON/CSV syntax, inputs
/// against the application (with the library's `validate_inputs`), and
/// duplicate keys. A fatal read error ends the pass with an error.
pub fn check_file(path: &Path, opts: &ReadOptions, app: &Application) -> Result<Checked, CliError> {
    let mut checked = Checked::default();
    // Key -> (first line, whether that row is valid).
    let mut first_line: HashMap<String, (u64, bool)> = HashMap::new();
    let rows = open_rows(path, opts, app)?;
    // A CSV header problem (a missing or unknown column) is reported once,
    // at line 1, not again for every row it makes bad.
    let header_inputs = match opts.format {
        InputFormat::Csv => {
            let (problems, inputs) = csv_header_problems(path, opts, app)?;
            checked.problems.extend(problems);
            inputs
        }
        InputFormat::Jsonl => HashSet::new(),
    };
    for item in rows {
        match item {
            Err(e) if e.fatal => {
                return Err(CliError::usage(format!("{}: {e}", path.display())));
            }
            Err(e) => {
                checked.bad_lines.insert(e.line);
                checked.problems.push(e);
            }
            Ok(row) => {
                let mut ok = true;
                if let Err(problems) = validate_inputs(app, &row.inputs) {
                    ok = false;
                    for p in problems {
                        if !header_inputs.contains(&p.input) {
                            checked.problems.push(row_error(row.line, p.to_string()));
                        }
                    }
                }
                match first_line.get(&row.key) {
                    Some((first, _)) => {
                        ok = false;
                        checked.problems.push(row_error(
                            row.line,
                            format!(
                                "duplicate key {:?} (first on line {first}); keys must be unique",
                                row.key
                            ),
                        ));
                    }
                    None => {
                        first_line.insert(row.key, (row.line, ok));
                    }
                }
                if ok {
                    checked.valid += 1;
                } else {
                    checked.bad_lines.insert(row.line);
                }
            }
        }
    }
    checked.valid_keys = first_line
        .into_iter()
        .filter(|(_, (_, ok))| *ok)
        .map(|(key, _)| key)
        .collect();
    Ok(checked)
}

/// Problems with a CSV header against the application: columns that are
/// not inputs, required inputs without a column. Returns them (at line 1)
/// and the input names they concern.
fn csv_header_problems(
    path: &Path,
    opts: &ReadOptions,
    app: &Application,
) -> Result<(Vec<RowError>, HashSet<String>), CliError> {
    let file = File::open(path)
        .map_err(|e| CliError::io(format!("cannot open {}", path.display()), &e))?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(file);
    let header = csv_header(&mut reader, path)?;
    let key_column = opts
        .key_column
        .clone()
        .or_else(|| header.iter().any(|h| h == "key").then(|| "key".to_string()));
    let known: Vec<&str> = app.inputs.iter().map(|d| d.name.as_str()).collect();
    let mut problems = Vec::new();
    let mut inputs = HashSet::new();
    let mut seen = HashSet::new();
    for name in header.iter() {
        if key_column.as_deref() == Some(name) {
            continue;
        }
        if !seen.insert(name) {
            problems.push(row_error(1, format!("column {name:?} appears twice")));
        } else if !known.contains(&name) {
            problems.push(row_error(
                1,
                format!(
                    "column {name:?} is not an input of application {} (its inputs: {}); \
                     rename or remove the column",
                    app.id,
                    known.join(", ")
                ),
            ));
            inputs.insert(name.to_string());
        }
    }
    for def in app.inputs.iter().filter(|d| d.required) {
        if !header.iter().any(|h| h == def.name) {
            problems.push(row_error(
                1,
                format!(
                    "missing required input {:?}: the header has no such column, so every row lacks it",
                    def.name
                ),
            ));
            inputs.insert(def.name.clone());
        }
    }
    Ok((problems, inputs))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;
    use writer_jobs::{InputDef, InputOptions};

    fn demo_app() -> Application {
        let def = |name: &str, t: InputType, required: bool, options: InputOptions| {
            let mut def = InputDef::new(name, t, required);
            def.options = options;
            def
        };
        let max_fields = |n| {
            let mut options = InputOptions::default();
            options.max_fields = Some(n);
            options
        };
        let mut tones = InputOptions::default();
        tones.list = vec!["casual".into(), "formal".into()];
        let mut app = Application::new("demo", "Demo", "generation", "deployed");
        app.inputs = vec![
            def("Product name", InputType::Text, true, max_fields(1)),
            def("Tone", InputType::Dropdown, false, tones),
            def("Tags", InputType::Text, false, max_fields(5)),
        ];
        app
    }

    fn write(text: &str, ext: &str) -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(format!("rows.{ext}"));
        std::fs::write(&path, text).unwrap();
        (dir, path)
    }

    fn opts(format: InputFormat) -> ReadOptions {
        ReadOptions {
            format,
            key_column: None,
            list_separator: ";".into(),
        }
    }

    #[test]
    fn jsonl_rows_keys_default_to_line_numbers() {
        let (_d, path) = write(
            "{\"key\":\"a\",\"inputs\":{\"Product name\":\"Terra\",\"Tags\":[\"x\",\"y\"]}}\n\n{\"inputs\":{\"Product name\":\"Luna\"}}\n{\"key\":7,\"inputs\":{\"Product name\":\"Sol\"}}",
            "jsonl",
        );
        let app = demo_app();
        let rows: Vec<_> = open_rows(&path, &opts(InputFormat::Jsonl), &app)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].inputs.get("Tags").unwrap(), ["x", "y"]);
        assert_eq!(rows[1].key, "3");
        assert_eq!(rows[2].key, "7");
    }

    #[test]
    fn check_lists_every_bad_line() {
        let (_d, path) = write(
            "{\"key\":\"a\",\"inputs\":{\"Product name\":\"Terra\"}}\n\
             {\"key\":\"b\",\"inputs\":{\"Tone\":\"casual\"}}\n\
             {\"key\":\"c\",\"inputs\":{\"Product name\":\"X\",\"Colour\":\"red\"}}\n\
             {not json\n\
             {\"key\":\"a\",\"inputs\":{\"Product name\":\"Again\"}}\n\
             {\"key\":\"d\",\"input\":{}}\n",
            "jsonl",
        );
        let checked = check_file(&path, &opts(InputFormat::Jsonl), &demo_app()).unwrap();
        assert_eq!(checked.valid, 1);
        let text: Vec<String> = checked.problems.iter().map(|p| p.to_string()).collect();
        assert!(
            text[0].starts_with("line 2: input \"Product name\" is required"),
            "{text:?}"
        );
        assert!(text[1].starts_with("line 3: input \"Colour\""), "{text:?}");
        assert!(text[2].starts_with("line 4: invalid JSON"), "{text:?}");
        assert!(
            text[3].contains("line 5: duplicate key \"a\" (first on line 1)"),
            "{text:?}"
        );
        assert!(
            text[4].starts_with("line 6: not a valid row: unknown field `input`"),
            "{text:?}"
        );
        assert_eq!(checked.bad_lines, HashSet::from([2, 3, 4, 5, 6]));
    }

    #[test]
    fn csv_splits_only_list_inputs_and_uses_the_key_column() {
        let (_d, path) = write(
            "key,Product name,Tone,Tags\nsku-1,Terra; the shoe,casual,a; b ;\nsku-2,Luna,,\n",
            "csv",
        );
        let app = demo_app();
        let rows: Vec<_> = open_rows(&path, &opts(InputFormat::Csv), &app)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(rows[0].key, "sku-1");
        assert_eq!(rows[0].line, 2);
        assert_eq!(
            rows[0].inputs.get("Product name").unwrap(),
            ["Terra; the shoe"]
        );
        assert_eq!(rows[0].inputs.get("Tags").unwrap(), ["a", "b"]);
        assert_eq!(rows[1].inputs.len(), 1);
    }

    #[test]
    fn csv_without_key_column_uses_row_numbers_and_reports_bad_rows() {
        let (_d, path) = write(
            "Product name,Tone\nTerra,casual\n,formal\nLuna,loud,extra\n",
            "csv",
        );
        let app = demo_app();
        let checked = check_file(&path, &opts(InputFormat::Csv), &app).unwrap();
        let text: Vec<String> = checked.problems.iter().map(|p| p.to_string()).collect();
        assert_eq!(checked.valid, 1, "{text:?}");
        assert!(
            text[0].starts_with("line 3: input \"Product name\" is required"),
            "{text:?}"
        );
        assert!(text[1].starts_with("line 4: has 3 fields"), "{text:?}");
        let rows: Vec<_> = open_rows(&path, &opts(InputFormat::Csv), &app)
            .unwrap()
            .collect();
        assert_eq!(rows[0].as_ref().unwrap().key, "1");
        let mut o = opts(InputFormat::Csv);
        o.key_column = Some("sku".into());
        assert!(open_rows(&path, &o, &app).is_err());
    }

    /// Fuzzing the input-file decoders: whatever bytes a file holds, reading
    /// and checking it ends in rows or in errors naming a line, never a panic.
    mod fuzz {
        use super::*;
        use proptest::prelude::*;

        /// Lines that look like rows, broken ones and random bytes mixed.
        fn file_bytes(csv: bool) -> impl Strategy<Value = String> {
            let line = prop_oneof![
                Just(if csv {
                    "key,Product name,Tags".to_string()
                } else {
                    r#"{"key":"a","inputs":{"Product name":"Terra"}}"#.to_string()
                }),
                Just(if csv {
                    "k1,Terra,a;b".to_string()
                } else {
                    r#"{"inputs":{"Product name":["x","y"],"Tags":[]}}"#.to_string()
                }),
                "[ -~]{0,40}",
                proptest::collection::vec(any::<u8>(), 0..40)
                    .prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
            ];
            proptest::collection::vec(line, 0..12).prop_map(|lines| lines.join("\n"))
        }

        fn read_all(text: &str, format: InputFormat, ext: &str) {
            let (_dir, path) = write(text, ext);
            let opts = opts(format);
            let app = demo_app();
            if let Ok(rows) = open_rows(&path, &opts, &app) {
                for row in rows {
                    if let Err(e) = row {
                        assert!(e.line >= 1, "{e}");
                    }
                }
            }
            if let Ok(checked) = check_file(&path, &opts, &app) {
                assert!(checked.problems.iter().all(|p| p.line >= 1));
            }
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(200))]

            #[test]
            fn any_jsonl_file_reads_without_panicking(text in file_bytes(false)) {
                read_all(&text, InputFormat::Jsonl, "jsonl");
            }

            #[test]
            fn any_csv_file_reads_without_panicking(text in file_bytes(true)) {
                read_all(&text, InputFormat::Csv, "csv");
            }
        }
    }
}
