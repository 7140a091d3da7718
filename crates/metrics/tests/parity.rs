//! Parity of the five lexical metrics with the Python reference libraries.
//!
//! - `fixture_pairs_match_python`: committed edge cases with the values Python gave them
//!   (scripts/gen_parity_fixture.py). Always runs.
//! - `random_pairs_match_python_live`: thousands of pairs we have never seen, made by recombining
//!   words of the real answers (or of the fixture when ../shared is absent) with noise, scored by
//!   Python now and compared. Runs when the reference stack is installed.

use medhall_metrics::lexical::{LexicalScorer, LexicalScores};
use medhall_metrics::stats::SplitMix64;
use medhall_metrics::wordnet::WordNet;
use serde_json::Value;

const TOLERANCE: f64 = 1e-9;

use medhall_reference_stack::{ReferenceStack, skip_or_fail, workspace_root as workspace};

fn values(scores: &LexicalScores) -> [(&'static str, f64); 5] {
    [
        ("rouge1", scores.rouge1),
        ("rouge2", scores.rouge2),
        ("rougeL", scores.rouge_l),
        ("meteor", scores.meteor),
        ("bleu", scores.bleu),
    ]
}

/// Compares our scores with Python's rows; returns the mismatches, described.
fn compare(pairs: &[(String, String)], expected: &[Value]) -> (Vec<String>, f64) {
    assert_eq!(pairs.len(), expected.len(), "row counts differ");
    let mut scorer = LexicalScorer::new(WordNet::embedded());
    let mut mismatches = Vec::new();
    let mut worst = 0.0f64;
    for (i, ((reference, hypothesis), row)) in pairs.iter().zip(expected).enumerate() {
        let ours = scorer.score(reference, hypothesis);
        for (metric, value) in values(&ours) {
            let theirs = row[metric].as_f64().unwrap_or(f64::NAN);
            let diff = (value - theirs).abs();
            worst = worst.max(diff);
            if diff.is_nan() || diff > TOLERANCE {
                mismatches.push(format!("row {i} {metric}: ours {value} python {theirs}\n  ref {reference:?}\n  hyp {hypothesis:?}"));
            }
        }
    }
    (mismatches, worst)
}

#[test]
fn fixture_pairs_match_python() {
    let text = include_str!("fixtures/parity_edge_cases.jsonl");
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("fixture line is JSON"))
        .collect();
    let pairs: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["reference"].as_str().unwrap_or_default().to_owned(),
                r["hypothesis"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert!(pairs.len() > 300);
    let (mismatches, worst) = compare(&pairs, &rows);
    assert!(
        mismatches.is_empty(),
        "{} mismatches (worst {worst:e}):\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(10)].join("\n")
    );
}

/// Runs scripts/reference_scores.py on pairs; returns its rows.
pub fn python_scores(
    reference: &ReferenceStack,
    pairs: &[(String, String)],
    tag: &str,
) -> Vec<Value> {
    let dir = std::env::temp_dir().join(format!("medhall-parity-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let input = dir.join("pairs.jsonl");
    let output = dir.join("scores.jsonl");
    let lines: Vec<String> = pairs
        .iter()
        .map(|(r, h)| serde_json::json!({"reference": r, "hypothesis": h}).to_string())
        .collect();
    std::fs::write(&input, lines.join("\n") + "\n").expect("write pairs");
    let status = reference
        .command()
        .arg(workspace().join("scripts/reference_scores.py"))
        .arg("pairs")
        .arg(&input)
        .arg(&output)
        .status()
        .expect("python runs");
    assert!(status.success(), "reference_scores.py failed");
    let text = std::fs::read_to_string(&output).expect("python output");
    let rows = text
        .lines()
        .map(|l| serde_json::from_str(l).expect("python wrote JSON"))
        .collect();
    let _ = std::fs::remove_dir_all(&dir);
    rows
}

/// Words to recombine: from the real answers and references when available, else the fixture.
fn vocabulary() -> Vec<String> {
    let shared = workspace().join("../shared/medhalltune");
    let mut words = Vec::new();
    for name in [
        "llava-med-v1.5-7b.positive.gpt4o-eval.jsonl",
        "llava-med-v1.5-7b.negative.gpt4o-eval.jsonl",
    ] {
        if let Ok(text) = std::fs::read_to_string(shared.join(name)) {
            for line in text.lines().take(400) {
                let row: Value = serde_json::from_str(line).unwrap_or(Value::Null);
                for field in ["answer", "gpt4_answer"] {
                    words.extend(
                        row[field]
                            .as_str()
                            .unwrap_or_default()
                            .split_whitespace()
                            .map(str::to_owned),
                    );
                }
            }
        }
    }
    if words.is_empty() {
        for line in include_str!("fixtures/parity_edge_cases.jsonl").lines() {
            let row: Value = serde_json::from_str(line).unwrap_or(Value::Null);
            words.extend(
                row["reference"]
                    .as_str()
                    .unwrap_or_default()
                    .split_whitespace()
                    .map(str::to_owned),
            );
        }
    }
    words.extend(
        [
            "µm", "β", "±", "İ", "\u{212a}", "—", "x-ray", "X-RAY", "(", ")", "12.5", "mice",
            "geese", "ran", "lying",
        ]
        .map(str::to_owned),
    );
    words
}

fn random_pairs(count: usize, seed: u64) -> Vec<(String, String)> {
    let words = vocabulary();
    let mut rng = SplitMix64::new(seed);
    let separators = [
        " ", " ", " ", "  ", "\n", "\t", "\u{a0}", "\u{1f}", "\u{2003}",
    ];
    let mut pairs = Vec::with_capacity(count);
    for _ in 0..count {
        let len = rng.below(40);
        let reference: Vec<String> = (0..len)
            .map(|_| words[rng.below(words.len())].clone())
            .collect();
        let mut hypothesis: Vec<String> = if rng.below(3) > 0 {
            reference.clone()
        } else {
            Vec::new()
        };
        for _ in 0..rng.below(15) {
            match rng.below(4) {
                0 if !hypothesis.is_empty() => {
                    let i = rng.below(hypothesis.len());
                    hypothesis.remove(i);
                }
                1 if !hypothesis.is_empty() => {
                    let (i, j) = (rng.below(hypothesis.len()), rng.below(hypothesis.len()));
                    hypothesis.swap(i, j);
                }
                2 if !hypothesis.is_empty() => {
                    let i = rng.below(hypothesis.len());
                    hypothesis[i] = hypothesis[i].to_uppercase();
                }
                _ => {
                    let i = rng.below(hypothesis.len() + 1);
                    hypothesis.insert(i, words[rng.below(words.len())].clone());
                }
            }
        }
        let join = |tokens: &[String], rng: &mut SplitMix64| {
            let mut text = String::new();
            for (i, t) in tokens.iter().enumerate() {
                if i > 0 {
                    text.push_str(separators[rng.below(separators.len())]);
                }
                text.push_str(t);
            }
            text
        };
        let r = join(&reference, &mut rng);
        let h = join(&hypothesis, &mut rng);
        pairs.push((r, h));
    }
    pairs
}

#[test]
fn random_pairs_match_python_live() {
    let reference = match ReferenceStack::locate() {
        Ok(reference) => reference,
        Err(reason) => return skip_or_fail(&reason),
    };
    let pairs = random_pairs(3000, 0x5eed_2026);
    let expected = python_scores(&reference, &pairs, "random");
    let (mismatches, worst) = compare(&pairs, &expected);
    eprintln!(
        "random pairs: {} compared with Python, worst difference {worst:e}",
        pairs.len()
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches (worst {worst:e}):\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(10)].join("\n")
    );
}
