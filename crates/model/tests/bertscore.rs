//! BERTScore against `bert_score` 0.3.13 on the tiny random-weight RoBERTa of
//! `scripts/bertscore_fixtures.py` (`tests/fixtures/bertscore`): token ids of `sent_encode` for
//! every sentence, and P/R/F1 of 401 pairs at batch sizes 64 and 1.

use medhall_model::roberta_tokenizer::{LengthLimit, RobertaTokenizer};
use serde_json::Value;
use std::path::PathBuf;

fn fixture_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bertscore")
}

fn read(name: &str) -> Vec<u8> {
    let path = fixture_dir().join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn lines(name: &str) -> Vec<Value> {
    String::from_utf8(read(name))
        .expect("UTF-8 fixture")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

fn tokenizer() -> RobertaTokenizer {
    RobertaTokenizer::from_vocab_merges(
        &read("vocab.json"),
        &read("merges.txt"),
        Some(&read("tokenizer_config.json")),
    )
    .expect("fixture tokenizer")
}

#[test]
fn token_ids_match_sent_encode() {
    let tokenizer = tokenizer();
    assert_eq!(tokenizer.limit, LengthLimit::Configured(48));
    let rows = lines("tokens.jsonl");
    assert!(rows.len() > 500);
    let mut wrong = Vec::new();
    let mut truncated = 0;
    for row in &rows {
        let text = row["text"].as_str().expect("text");
        let expected: Vec<u32> = row["ids"]
            .as_array()
            .expect("ids")
            .iter()
            .map(|v| v.as_u64().expect("id") as u32)
            .collect();
        let got = tokenizer.encode(text, 48).expect("encodes");
        truncated += usize::from(got.truncated);
        if got.ids != expected {
            wrong.push(format!(
                "{text:?}\n  ours   {:?}\n  theirs {expected:?}",
                got.ids
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {} differ:\n{}",
        wrong.len(),
        rows.len(),
        wrong.join("\n")
    );
    assert!(
        truncated > 50,
        "only {truncated} sentences reach the maximum length"
    );
}
