//! Fuzzing of the journal's records and files (moved here from
//! `tests/fuzz.rs` when the journal stopped being public; the generators
//! are still that file's, in `tests/fuzz_gen`).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;

use chrono::Utc;
use proptest::test_runner::TestRunner;

use super::fuzz_gen::{Bound, body, config, journal, panics};
use super::journal::{Binding, Durability, Journal, JournalError, Record};
use crate::Inputs;

const APP: &str = "demo-product-descriptions";

/// The fingerprints of `tests/fuzz.rs`'s four rows.
fn fingerprints() -> Vec<String> {
    (0..4)
        .map(|i| {
            Inputs::new()
                .text("Product name", format!("Fuzz #{i}"))
                .fingerprint()
        })
        .collect()
}

/// A journal record decodes from any bytes to a value or an error, never a
/// panic (the record half of `tests/fuzz.rs`'s
/// `fuzz_the_model_serde_forms`, on the same inputs).
#[test]
fn fuzz_the_record_serde_form() {
    let before = panics();
    TestRunner::new(config(1000))
        .run(&body(), |bytes| {
            let _ = serde_json::from_slice::<Record>(&bytes);
            Ok(())
        })
        .unwrap();
    assert_eq!(panics(), before);
}

#[test]
fn fuzz_journal_files_opened_directly() {
    let before = panics();
    let dir = tempfile::tempdir().unwrap();
    let bound = Bound {
        base_url: "http://127.0.0.1:9".into(),
        app_id: APP.into(),
        simulated: true,
    };
    let binding = Binding {
        base_url: bound.base_url.clone(),
        app_id: bound.app_id.clone(),
        simulated: bound.simulated,
    };
    let fps = fingerprints();
    let ids = vec!["job-a".to_string(), "job-b".to_string()];
    let n = Cell::new(0usize);
    let kinds: RefCell<HashMap<String, usize>> = RefCell::default();
    TestRunner::new(config(600))
        .run(&journal(bound, ids, fps, 1, true, true), |bytes| {
            n.set(n.get() + 1);
            let path = dir.path().join(format!("j{}", n.get()));
            std::fs::write(&path, &bytes).unwrap();
            let result = Journal::open(&path, &binding, false, Durability::Os, Utc::now());
            let kind = match &result {
                Ok((_, state)) => {
                    if state.resumed {
                        "resumed"
                    } else {
                        "new"
                    }
                }
                Err(e) => match e {
                    JournalError::Corrupt { .. } => "corrupt",
                    JournalError::Mismatch { .. } => "mismatch",
                    _ => "other error",
                },
            };
            *kinds.borrow_mut().entry(kind.to_string()).or_default() += 1;
            if let Ok((journal, state)) = result {
                // Every recorded outcome can be read back.
                for row in state.rows.values() {
                    if let Some(at) = row.done_at {
                        let _ = journal.read_outcome(at);
                    }
                }
            }
            Ok(())
        })
        .unwrap();
    let kinds = kinds.into_inner();
    println!("journals opened: {kinds:?}");
    assert!(kinds.get("resumed").copied().unwrap_or(0) > 30, "{kinds:?}");
    assert_eq!(panics(), before);
}
