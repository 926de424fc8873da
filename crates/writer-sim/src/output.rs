//! The deterministic "generated" content of a simulated job, and the
//! canonical key of an input set.
//!
//! The output depends only on the application id and the inputs, so a test
//! can compute what a job must have produced and check that the right result
//! went to the right row. Every suggestion carries [`SIMULATED_MARKER`] so
//! simulated content can never be mistaken for generated content.

use sha2::{Digest, Sha256};
use writer_api::types::{GenerateApplicationResponse, JobInput};

/// The marker at the start of every simulated suggestion.
pub const SIMULATED_MARKER: &str = "[simulated]";

/// The inputs sorted by id (values keep their order): the order in which a
/// client lists its inputs does not change what a job means.
fn canonical(inputs: &[JobInput]) -> Vec<&JobInput> {
    let mut sorted: Vec<&JobInput> = inputs.iter().collect();
    sorted.sort_by(|a, b| a.id.cmp(&b.id));
    sorted
}

/// The canonical key of an input set for application `app_id`: a JSON text
/// `[app_id, [[input id, [values...]], ...]]` with inputs sorted by id.
/// [`Stats::created_for`](crate::Stats::created_for) counts jobs by this key.
pub fn input_key(app_id: &str, inputs: &[JobInput]) -> String {
    let pairs: Vec<(&str, &[String])> = canonical(inputs)
        .into_iter()
        .map(|i| (i.id.as_str(), i.value.as_slice()))
        .collect();
    serde_json::to_string(&(app_id, pairs)).unwrap_or_else(|_| app_id.to_string())
}

/// A short hex digest of the input set (the first 16 hex digits of SHA-256
/// of its [`input_key`]).
pub fn input_digest(app_id: &str, inputs: &[JobInput]) -> String {
    let hash = Sha256::digest(input_key(app_id, inputs).as_bytes());
    hash.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// What a completed job (or a synchronous run) of application `app_id`
/// (its id, not an alias) produces for `inputs`: the same value every time.
///
/// ```
/// use writer_api::types::JobInput;
/// let inputs = vec![JobInput { id: "Product name".into(), value: vec!["Terra running shoe".into()] }];
/// let out = writer_sim::expected_output("demo-product-descriptions", &inputs);
/// assert!(out.suggestion.starts_with("[simulated]"));
/// assert!(out.suggestion.contains("Terra running shoe"));
/// ```
pub fn expected_output(app_id: &str, inputs: &[JobInput]) -> GenerateApplicationResponse {
    let described: Vec<String> = canonical(inputs)
        .into_iter()
        .map(|i| format!("{} = {}", i.id, i.value.join(" | ")))
        .collect();
    GenerateApplicationResponse {
        title: Some(format!("Output of {app_id}")),
        suggestion: format!(
            "{SIMULATED_MARKER} {app_id}: {} (digest {})",
            described.join("; "),
            input_digest(app_id, inputs)
        ),
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

    #[test]
    fn output_ignores_input_order_but_not_values() {
        let a = [input("Product name", &["Shoe"]), input("Tone", &["casual"])];
        let b = [input("Tone", &["casual"]), input("Product name", &["Shoe"])];
        let c = [input("Tone", &["formal"]), input("Product name", &["Shoe"])];
        assert_eq!(expected_output("app", &a), expected_output("app", &b));
        assert_ne!(expected_output("app", &a), expected_output("app", &c));
        assert_ne!(expected_output("app", &a), expected_output("other", &a));
        assert_eq!(input_key("app", &a), input_key("app", &b));
    }
}
