//! Unit tests of the journal.
use super::*;

#[test]
fn a_torn_intent_is_recognised_with_its_key_when_readable() {
    assert_eq!(
        torn_intent(br#"{"type":"intent","key":"k7","seq""#),
        Some(Some("k7".into()))
    );
    assert_eq!(torn_intent(br#"{"type":"intent","key":"k"#), Some(None));
    assert_eq!(torn_intent(br#"{"typ"#), Some(None));
    assert_eq!(torn_intent(br#"{"type":"created","key":"k7""#), None);
    assert_eq!(torn_intent(br#"{"type":"done","outcome":{"#), None);
}

fn binding() -> Binding {
    Binding {
        base_url: "http://127.0.0.1:1".into(),
        app_id: "app".into(),
        simulated: true,
    }
}

fn ambiguous(key: &str, now: DateTime<Utc>) -> Record {
    Record::Done {
        outcome: Outcome {
            key: key.into(),
            seq: 0,
            job_id: None,
            result: crate::batch::OutcomeResult::Ambiguous {
                reason: "lost".into(),
                candidates: vec!["j".into()],
            },
            attempts: 1,
            creates: 1,
            created_at: None,
            finished_at: None,
            observed_at: now,
            replayed: false,
        },
    }
}

#[test]
fn decisions_reopen_or_mark_a_row_and_a_new_create_carries_them_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let now = Utc::now();
    assert!(Journal::open_existing(&path, Durability::Os).is_err());
    assert!(!path.exists(), "never created");
    std::fs::write(&path, "").unwrap();
    let error = Journal::open_existing(&path, Durability::Os).unwrap_err();
    assert!(error.to_string().contains("no header"), "{error}");
    std::fs::remove_file(&path).unwrap();
    let intent = |key: &str| Record::Intent {
        key: key.into(),
        seq: 0,
        fp: "f".into(),
        at: now,
    };
    {
        let (mut j, _) = Journal::open(&path, &binding(), false, Durability::Os, now).unwrap();
        for key in ["a", "r", "g"] {
            j.append(&intent(key)).unwrap();
            j.append(&ambiguous(key, now)).unwrap();
        }
        j.append(&Record::Adopted {
            key: "a".into(),
            job_id: "ja".into(),
            at: now,
        })
        .unwrap();
        j.append(&Record::Resend {
            key: "r".into(),
            creates: 1,
            at: now,
        })
        .unwrap();
        j.append(&Record::GaveUp {
            key: "g".into(),
            at: now,
        })
        .unwrap();
    }
    let (mut j, state) = Journal::open_existing(&path, Durability::Os).unwrap();
    assert_eq!(state.binding, Some(binding()));
    assert_eq!(state.version, FORMAT_VERSION);
    let a = &state.rows["a"];
    assert_eq!((a.done_at, a.job_id.as_deref()), (None, Some("ja")));
    assert!(a.superseded_at.is_some());
    let r = &state.rows["r"];
    assert_eq!((r.done_at, r.intent_at, r.creates_before), (None, None, 1));
    assert_eq!(r.decision, Some(Decision::Resend));
    let g = &state.rows["g"];
    assert!(g.done_at.is_some());
    assert_eq!(g.decision, Some(Decision::GaveUp));
    // The resumed run's new create of `r` carries the decision out.
    j.append(&intent("r")).unwrap();
    drop(j);
    let (_, state) = Journal::open(&path, &binding(), false, Durability::Os, now).unwrap();
    assert_eq!(state.rows["r"].decision, None);
}

#[test]
fn an_unsent_record_forgets_only_the_latest_intent_and_what_it_carried_out() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let start = Utc::now();
    let t = |s: i64| start + chrono::Duration::seconds(s);
    let intent = |key: &str, at| Record::Intent {
        key: key.into(),
        seq: 0,
        fp: "f".into(),
        at,
    };
    let unsent = |key: &str| Record::Unsent { key: key.into() };
    {
        let (mut j, _) = Journal::open(&path, &binding(), false, Durability::Os, t(0)).unwrap();
        // `never`: every create unsent. `sent`: one sent (no answer), then
        // one unsent. `resend`: the user's decision, then an unsent create.
        // `retry`: a job-level retry unsent.
        j.append(&intent("never", t(1))).unwrap();
        j.append(&unsent("never")).unwrap();
        j.append(&intent("never", t(2))).unwrap();
        j.append(&unsent("never")).unwrap();
        j.append(&intent("sent", t(3))).unwrap();
        j.append(&intent("sent", t(4))).unwrap();
        j.append(&unsent("sent")).unwrap();
        j.append(&intent("resend", t(5))).unwrap();
        j.append(&ambiguous("resend", t(5))).unwrap();
        j.append(&Record::Resend {
            key: "resend".into(),
            creates: 1,
            at: t(6),
        })
        .unwrap();
        j.append(&intent("resend", t(7))).unwrap();
        j.append(&unsent("resend")).unwrap();
        j.append(&Record::RetryIntent {
            key: "retry".into(),
            from: "j1".into(),
            at: t(8),
        })
        .unwrap();
        j.append(&Record::RetryUnsent {
            key: "retry".into(),
        })
        .unwrap();
    }
    let (_, state) = Journal::open_existing(&path, Durability::Os).unwrap();
    let never = &state.rows["never"];
    assert_eq!((never.intent_at, never.first_intent_at), (None, None));
    let sent = &state.rows["sent"];
    assert_eq!(
        (sent.intent_at, sent.first_intent_at),
        (Some(t(3)), Some(t(3)))
    );
    let resend = &state.rows["resend"];
    assert_eq!(resend.intent_at, None);
    assert_eq!(resend.decision, Some(Decision::Resend));
    assert!(state.lost_retries.is_empty(), "{:?}", state.lost_retries);
}

#[test]
fn a_torn_tail_is_cut_off_and_a_corrupt_middle_line_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let now = Utc::now();
    {
        let (mut j, state) =
            Journal::open(&path, &binding(), false, Durability::Fsync, now).unwrap();
        assert!(!state.resumed);
        j.append(&Record::Intent {
            key: "a".into(),
            seq: 0,
            fp: "f".into(),
            at: now,
        })
        .unwrap();
        j.append_torn(
            &Record::Intent {
                key: "b".into(),
                seq: 1,
                fp: "f".into(),
                at: now,
            },
            None,
        )
        .unwrap();
    }
    let written = std::fs::read(&path).unwrap();
    let (j, state) = Journal::open(&path, &binding(), false, Durability::Os, now).unwrap();
    assert!(state.resumed);
    assert!(state.torn_bytes > 0);
    assert_eq!(state.torn_intent, Some(Some("b".into())));
    // The torn tail is cut off, and the resumed run's header line follows.
    let kept = written.len() - state.torn_bytes as usize;
    let now_there = std::fs::read(&path).unwrap();
    assert_eq!(j.len(), now_there.len() as u64);
    assert_eq!(&now_there[..kept], &written[..kept]);
    let added = std::str::from_utf8(&now_there[kept..]).unwrap();
    assert!(
        added.starts_with(r#"{"type":"header""#)
            && added.ends_with('\n')
            && added.lines().count() == 1,
        "{added}"
    );
    assert_eq!(state.rows["a"].intent_at, Some(now));
    drop(j);
    let mut text = std::fs::read_to_string(&path).unwrap();
    text.insert_str(text.find('\n').unwrap() + 1, "not json\n");
    std::fs::write(&path, text).unwrap();
    let error = Journal::open(&path, &binding(), false, Durability::Os, now).unwrap_err();
    assert!(error.to_string().contains("line 2"), "{error}");
}

#[test]
fn each_runs_header_records_its_exclusivity_and_older_runs_count_as_shared() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("j");
    let now = Utc::now();
    let intent = |key: &str| Record::Intent {
        key: key.into(),
        seq: 0,
        fp: "f".into(),
        at: now,
    };
    // Run 1, exclusive, leaves an unanswered create.
    {
        let (mut j, _) = Journal::open(&path, &binding(), true, Durability::Os, now).unwrap();
        j.append(&intent("a")).unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(r#""exclusive":true"#), "{text}");
    // Run 2, shared, opens it: run 1's window is an exclusive run's.
    {
        let (mut j, state) = Journal::open(&path, &binding(), false, Durability::Os, now).unwrap();
        assert_eq!(state.runs, 1);
        assert!(state.exclusive_runs.contains(&1));
        assert!(state.earlier_windows_exclusive());
        // Run 2 (shared) leaves a create unanswered too.
        j.append(&intent("b")).unwrap();
    }
    let (mut j, state) = Journal::open(&path, &binding(), true, Durability::Os, now).unwrap();
    assert_eq!(state.runs, 2);
    assert!(!state.exclusive_runs.contains(&2));
    assert!(
        !state.earlier_windows_exclusive(),
        "run 2's window is shared"
    );
    // Once run 2's create is answered, no shared window is left.
    j.append(&Record::Created {
        key: "b".into(),
        job_id: "jb".into(),
        created_at: None,
        received_at: None,
    })
    .unwrap();
    drop(j);
    let (_, state) = Journal::open(&path, &binding(), true, Durability::Os, now).unwrap();
    assert!(state.earlier_windows_exclusive());

    // A format 4 header (no `exclusive`, or one claiming it) is shared.
    for header in [
        r#"{"type":"header","version":4,"base_url":"http://127.0.0.1:1","app_id":"app","simulated":true,"started_at":"2026-01-01T00:00:00Z"}"#,
        r#"{"type":"header","version":4,"base_url":"http://127.0.0.1:1","app_id":"app","simulated":true,"started_at":"2026-01-01T00:00:00Z","exclusive":true}"#,
    ] {
        let path = dir.path().join("old");
        let intent = r#"{"type":"intent","key":"a","seq":0,"fp":"f","at":"2026-01-01T00:00:01Z"}"#;
        std::fs::write(&path, format!("{header}\n{intent}\n")).unwrap();
        let (_, state) = Journal::open(&path, &binding(), true, Durability::Os, now).unwrap();
        assert!(state.exclusive_runs.is_empty(), "{header}");
        assert!(!state.earlier_windows_exclusive(), "{header}");
        // A torn intent of the last (shared) run counts too.
        let path = dir.path().join("torn");
        std::fs::write(&path, format!("{header}\n{{\"type\":\"intent\",\"ke")).unwrap();
        let (_, state) = Journal::open(&path, &binding(), true, Durability::Os, now).unwrap();
        assert!(state.torn_intent.is_some());
        assert!(!state.earlier_windows_exclusive(), "{header}");
    }
}
