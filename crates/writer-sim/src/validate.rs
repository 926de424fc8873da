//! Input validation of job requests against an application's input
//! definitions, as the real service does it.

use std::collections::BTreeSet;

use writer_api::types::{ErrorDetail, JobInput};

use crate::config::{AppConfig, InputType};

fn problem(key: &str, description: String) -> ErrorDetail {
    ErrorDetail {
        key: Some(key.to_string()),
        description: Some(description),
        extras: None,
    }
}

/// The problems of a job request.
#[derive(Debug, Default)]
pub(crate) struct Problems {
    /// Inputs the application does not have (each naming its input).
    pub(crate) unknown: Vec<ErrorDetail>,
    /// Every other problem (each naming its input).
    pub(crate) other: Vec<ErrorDetail>,
}

impl Problems {
    /// Every problem, unknown inputs first in request order.
    pub(crate) fn all(&self) -> Vec<ErrorDetail> {
        let mut all = self.unknown.clone();
        all.extend(self.other.iter().cloned());
        all
    }
}

/// Checks `inputs` against `app`'s definitions; returns every problem found
/// (each naming its input), or nothing when the request is valid.
pub(crate) fn validate_inputs(app: &AppConfig, inputs: &[JobInput]) -> Problems {
    let mut problems = Vec::new();
    let mut unknown = Vec::new();
    let mut seen = BTreeSet::new();
    for input in inputs {
        let Some(def) = app.inputs.iter().find(|d| d.name == input.id) else {
            let known: Vec<&str> = app.inputs.iter().map(|d| d.name.as_str()).collect();
            unknown.push(problem(
                &input.id,
                format!(
                    "unknown input: {} (application {} takes: {})",
                    input.id,
                    app.id,
                    known.join(", ")
                ),
            ));
            continue;
        };
        if !seen.insert(input.id.as_str()) {
            problems.push(problem(&input.id, format!("duplicate input: {}", input.id)));
            continue;
        }
        if input.value.is_empty() {
            problems.push(problem(
                &input.id,
                format!("input {} has an empty value array", input.id),
            ));
            continue;
        }
        if input.value.iter().any(|v| v.is_empty()) {
            problems.push(problem(
                &input.id,
                format!("input {} has an empty value", input.id),
            ));
        }
        match def.input_type {
            InputType::Dropdown => {
                for v in &input.value {
                    if !def.list.contains(v) {
                        problems.push(problem(
                            &input.id,
                            format!(
                                "input {}: value {:?} is not one of {}",
                                input.id,
                                v,
                                def.list.join(", ")
                            ),
                        ));
                    }
                }
                if input.value.len() > 1 {
                    problems.push(problem(
                        &input.id,
                        format!(
                            "input {} takes one value, got {}",
                            input.id,
                            input.value.len()
                        ),
                    ));
                }
            }
            InputType::Text | InputType::File | InputType::Media => {
                if let Some(max) = def.max_fields
                    && input.value.len() > max as usize
                {
                    problems.push(problem(
                        &input.id,
                        format!(
                            "input {} takes at most {} values, got {}",
                            input.id,
                            max,
                            input.value.len()
                        ),
                    ));
                }
                if let Some(min) = def.min_fields
                    && input.value.len() < min as usize
                {
                    problems.push(problem(
                        &input.id,
                        format!(
                            "input {} takes at least {} values, got {}",
                            input.id,
                            min,
                            input.value.len()
                        ),
                    ));
                }
            }
        }
    }
    for def in app.inputs.iter().filter(|d| d.required) {
        if !inputs.iter().any(|i| i.id == def.name) {
            problems.push(problem(
                &def.name,
                format!("missing required input: {}", def.name),
            ));
        }
    }
    Problems {
        unknown,
        other: problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(id: &str, values: &[&str]) -> JobInput {
        JobInput {
            id: id.into(),
            value: values.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn keys(problems: &Problems) -> Vec<String> {
        problems
            .all()
            .iter()
            .filter_map(|p| p.key.clone())
            .collect()
    }

    #[test]
    fn demo_app_rules() {
        let app = AppConfig::demo();
        assert!(keys(&validate_inputs(&app, &[input("Product name", &["Shoe"])])).is_empty());
        assert!(
            keys(&validate_inputs(
                &app,
                &[
                    input("Product name", &["Shoe"]),
                    input("Tone", &["formal"]),
                    input("Tags", &["a", "b", "c", "d", "e"])
                ]
            ))
            .is_empty()
        );
        assert_eq!(keys(&validate_inputs(&app, &[])), ["Product name"]);
        assert_eq!(
            keys(&validate_inputs(
                &app,
                &[input("Product name", &["Shoe"]), input("Colour", &["red"])]
            )),
            ["Colour"]
        );
        assert_eq!(
            keys(&validate_inputs(&app, &[input("Product name", &[])])),
            ["Product name"]
        );
        assert_eq!(
            keys(&validate_inputs(
                &app,
                &[input("Product name", &["Shoe"]), input("Tone", &["angry"])]
            )),
            ["Tone"]
        );
        assert_eq!(
            keys(&validate_inputs(
                &app,
                &[
                    input("Product name", &["Shoe"]),
                    input("Tags", &["1", "2", "3", "4", "5", "6"])
                ]
            )),
            ["Tags"]
        );
    }
}
