//! Applications, their input definitions, and checking inputs against them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::Inputs;
use crate::error::InputProblem;

/// A no-code application and the inputs a run takes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Application {
    /// The application's id.
    pub id: String,
    /// Its name.
    pub name: String,
    /// Its type (`generation`; newer servers may add types).
    pub app_type: String,
    /// `deployed` or `draft` (newer servers may add values).
    pub status: String,
    /// The inputs a run takes.
    pub inputs: Vec<InputDef>,
    /// When it was created.
    pub created_at: Option<DateTime<Utc>>,
    /// When it last changed.
    pub updated_at: Option<DateTime<Utc>>,
    /// When it was last deployed.
    pub last_deployed_at: Option<DateTime<Utc>>,
}

impl Application {
    /// An application with no inputs and no times (set the public fields
    /// for more): for tests of code that handles applications.
    pub fn new(
        id: impl Into<String>,
        name: impl Into<String>,
        app_type: impl Into<String>,
        status: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            name: name.into(),
            app_type: app_type.into(),
            status: status.into(),
            inputs: Vec::new(),
            created_at: None,
            updated_at: None,
            last_deployed_at: None,
        }
    }
}

/// The definition of one input of an application.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InputDef {
    /// The input's name (its `id` in a job request).
    pub name: String,
    /// What kind of input it is.
    pub input_type: InputType,
    /// Whether every run must give it.
    pub required: bool,
    /// What it is for.
    pub description: Option<String>,
    /// Its constraints, by type.
    pub options: InputOptions,
}

impl InputDef {
    /// An input without description or constraints (set
    /// [`options`](Self::options) for some).
    pub fn new(name: impl Into<String>, input_type: InputType, required: bool) -> Self {
        Self {
            name: name.into(),
            input_type,
            required,
            description: None,
            options: InputOptions::default(),
        }
    }
}

/// The kind of an input.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
#[serde(from = "String", into = "String")]
pub enum InputType {
    /// Free text (one or more fields).
    Text,
    /// A choice from a list.
    Dropdown,
    /// An uploaded file (its value is a file id or URL).
    File,
    /// An image or other media.
    Media,
    /// A type this client does not know; not checked.
    Unknown(String),
}

impl From<&str> for InputType {
    fn from(s: &str) -> Self {
        match s {
            "text" => Self::Text,
            "dropdown" => Self::Dropdown,
            "file" => Self::File,
            "media" => Self::Media,
            other => Self::Unknown(other.to_string()),
        }
    }
}

impl From<String> for InputType {
    fn from(s: String) -> Self {
        match InputType::from(s.as_str()) {
            Self::Unknown(_) => Self::Unknown(s),
            known => known,
        }
    }
}

impl From<InputType> for String {
    fn from(t: InputType) -> String {
        t.as_str().to_string()
    }
}

impl InputType {
    /// The wire string (`text`, `dropdown`, `file`, `media` or the unknown value).
    pub fn as_str(&self) -> &str {
        match self {
            Self::Text => "text",
            Self::Dropdown => "dropdown",
            Self::File => "file",
            Self::Media => "media",
            Self::Unknown(s) => s,
        }
    }
}

/// The constraints of an input; which fields are set depends on its type.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct InputOptions {
    /// Dropdown: the values offered.
    pub list: Vec<String>,
    /// Text: the fewest values.
    pub min_fields: Option<u64>,
    /// Text: the most values.
    pub max_fields: Option<u64>,
    /// File: the most files.
    pub max_files: Option<u64>,
    /// File and media: the accepted file types.
    pub file_types: Vec<String>,
    /// File: the largest file, in MB.
    pub max_file_size_mb: Option<u64>,
    /// Media: the largest image, in MB.
    pub max_image_size_mb: Option<u64>,
    /// File: the most words.
    pub max_word_count: Option<u64>,
    /// File: how files may be given.
    pub upload_types: Vec<String>,
}

/// Checks `inputs` against `app`'s input definitions before any job is
/// created: a missing required input, an unknown name, an empty value of a
/// required input, a dropdown value not in its list, too few or too many
/// values. Returns every problem found, not only the first.
///
/// File and media contents cannot be checked here (only how many are given).
pub fn validate_inputs(app: &Application, inputs: &Inputs) -> Result<(), Vec<InputProblem>> {
    let mut problems = Vec::new();
    let mut problem = |input: &str, text: String| {
        problems.push(InputProblem {
            input: input.to_string(),
            problem: text,
        })
    };
    for (name, _) in inputs.iter() {
        if !app.inputs.iter().any(|def| def.name == name) {
            let known: Vec<&str> = app.inputs.iter().map(|d| d.name.as_str()).collect();
            problem(
                name,
                format!(
                    "is not an input of application {} (its inputs: {})",
                    app.id,
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        known.join(", ")
                    }
                ),
            );
        }
    }
    for def in &app.inputs {
        let values: Vec<&String> = match inputs.get(&def.name) {
            Some(values) => values.iter().filter(|v| !v.trim().is_empty()).collect(),
            None => {
                if def.required {
                    problem(&def.name, "is required but missing".to_string());
                }
                continue;
            }
        };
        if values.is_empty() {
            if def.required {
                problem(&def.name, "is required but its value is empty".to_string());
            }
            continue;
        }
        let count = values.len() as u64;
        let opts = &def.options;
        match &def.input_type {
            InputType::Dropdown if !opts.list.is_empty() => {
                for v in &values {
                    if !opts.list.iter().any(|o| o == *v) {
                        problem(
                            &def.name,
                            format!("has {v:?}, which is not one of: {}", opts.list.join(", ")),
                        );
                    }
                }
            }
            InputType::Text => {
                if let Some(min) = opts.min_fields.filter(|m| count < *m) {
                    problem(
                        &def.name,
                        format!("has {count} values; at least {min} needed"),
                    );
                }
                if let Some(max) = opts.max_fields.filter(|m| count > *m) {
                    problem(
                        &def.name,
                        format!("has {count} values; at most {max} allowed"),
                    );
                }
            }
            InputType::File => {
                if let Some(max) = opts.max_files.filter(|m| count > *m) {
                    problem(
                        &def.name,
                        format!("has {count} files; at most {max} allowed"),
                    );
                }
            }
            _ => {}
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(name: &str, t: InputType, required: bool, options: InputOptions) -> InputDef {
        let mut def = InputDef::new(name, t, required);
        def.options = options;
        def
    }

    fn app() -> Application {
        let mut app = Application::new("app-1", "Product pages", "generation", "deployed");
        app.inputs = vec![
            def(
                "Product name",
                InputType::Text,
                true,
                InputOptions {
                    max_fields: Some(1),
                    ..Default::default()
                },
            ),
            def(
                "Tone",
                InputType::Dropdown,
                false,
                InputOptions {
                    list: vec!["formal".into(), "playful".into()],
                    ..Default::default()
                },
            ),
            def(
                "Brief",
                InputType::File,
                false,
                InputOptions {
                    max_files: Some(1),
                    ..Default::default()
                },
            ),
            def(
                "Extra",
                InputType::Unknown("color".into()),
                false,
                InputOptions::default(),
            ),
        ];
        app
    }

    #[test]
    fn good_inputs_pass() {
        let inputs = Inputs::new()
            .text("Product name", "Terra")
            .text("Tone", "formal");
        assert_eq!(validate_inputs(&app(), &inputs), Ok(()));
    }

    #[test]
    fn every_problem_is_reported() {
        let inputs = Inputs::new()
            .text("Tone", "angry")
            .text("Colour", "red")
            .list("Brief", ["f1", "f2"]);
        let problems = validate_inputs(&app(), &inputs).unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(problems.len(), 4, "{text:#?}");
        assert!(
            text.iter()
                .any(|p| p.contains("\"Colour\" is not an input"))
        );
        assert!(
            text.iter()
                .any(|p| p.contains("\"Product name\" is required but missing"))
        );
        assert!(
            text.iter()
                .any(|p| p.contains("\"angry\", which is not one of: formal, playful"))
        );
        assert!(text.iter().any(|p| p.contains("\"Brief\" has 2 files")));
    }

    #[test]
    fn empty_and_too_many_values() {
        let inputs = Inputs::new().text("Product name", "  ");
        let problems = validate_inputs(&app(), &inputs).unwrap_err();
        assert_eq!(problems[0].problem, "is required but its value is empty");
        let inputs = Inputs::new().list("Product name", ["a", "b"]);
        let problems = validate_inputs(&app(), &inputs).unwrap_err();
        assert_eq!(problems[0].problem, "has 2 values; at most 1 allowed");
    }
}
