//! Fixtures shared by the session modules' tests: a small shard, a run of it with a broken line
//! and an orphan, a session that loaded and scored both, and the same with a LLaVA-Med
//! calibration run beside it (for judge plans and verdicts).

use super::{LoadTarget, Session};
use medhall_core::metrics::lexical::LexicalScorer;
use medhall_core::metrics::wordnet::WordNet;
use medhall_core::sample::{SampleKey, Split};

pub(super) const REFS: &str = concat!(
    r#"{"question_id": 1, "text": "Is there a mass?", "gpt4_answer": "No mass is seen.", "hallucination_type": "nonexistent object"}"#,
    "\n",
    r#"{"question_id": 2, "text": "Is the lung clear?", "gpt4_answer": "The lung is clear."}"#,
    "\n"
);

pub(super) const RUN: &str = concat!(
    r#"{"question_id": 1, "question": "Is there a mass?", "answer": "A mass is seen."}"#,
    "\n",
    "{broken\n",
    r#"{"question_id": 2, "question": "Is the lung clear?", "answer": "The lung is clear."}"#,
    "\n",
    r#"{"question_id": 9, "question": "Orphan?", "answer": "No reference for me."}"#,
    "\n"
);

pub(super) const CALIBRATION: &str = concat!(
    r#"{"question_id": 1, "question": "Is there a mass?", "answer": "No.", "gpt4_answer": "No mass is seen.", "result": "8 8 6 2\nFine."}"#,
    "\n",
    r#"{"question_id": 2, "question": "Is the lung clear?", "answer": "Yes.", "gpt4_answer": "The lung is clear."}"#,
    "\n"
);

pub(super) fn load(session: &mut Session, job: u32, target: LoadTarget, name: &str, text: &str) {
    session.begin(job, target, name, None);
    // Byte by byte: lines split across chunks must still parse.
    for byte in text.as_bytes().chunks(7) {
        assert!(session.push(job, byte).is_some());
    }
    session.finish(job).expect("load finishes");
}

pub(super) fn scored_session() -> Session {
    let mut session = Session::default();
    load(
        &mut session,
        1,
        LoadTarget::Shard,
        "refs.negative.jsonl",
        REFS,
    );
    let run = LoadTarget::Run {
        run: 7,
        name: "model-a.negative.jsonl".to_owned(),
    };
    load(&mut session, 2, run, "model-a.negative.jsonl", RUN);
    let mut scorer = LexicalScorer::new(WordNet::embedded());
    while session.score_step(&mut scorer, 2) > 0 {}
    session
}

pub(super) fn judge_session() -> Session {
    let mut session = scored_session();
    let calibration = LoadTarget::Run {
        run: 8,
        name: "llava-med-v1.5.negative.gpt4o-eval.jsonl".to_owned(),
    };
    load(
        &mut session,
        3,
        calibration,
        "llava-med-v1.5.negative.gpt4o-eval.jsonl",
        CALIBRATION,
    );
    let mut scorer = LexicalScorer::new(WordNet::embedded());
    while session.score_step(&mut scorer, 8) > 0 {}
    session
}

pub(super) fn key(id: &str) -> SampleKey {
    SampleKey {
        split: Split::Negative,
        question_id: id.to_owned(),
    }
}
