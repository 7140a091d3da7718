//! `medhall rate-plan` end to end: a seeded plan from a model's two judged files holds what a
//! rater sees and nothing of the judge or the model; the same seed gives the same plan (the
//! page's Rate view draws with the same function), filters apply, and ratings written under it
//! are read back by `medhall agreement` with the plan in the signature.

use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output};

fn medhall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medhall"))
        .args(args)
        .output()
        .expect("medhall runs")
}

fn fixture(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agreement")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn plan(tag: &str, extra: &[&str]) -> Value {
    let dir = std::env::temp_dir().join(format!("medhall-rate-plan-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join("plan.json").to_string_lossy().into_owned();
    let judged = format!(
        "{},{}",
        fixture("judge-a.positive.jsonl"),
        fixture("judge-a.negative.jsonl")
    );
    let mut args = vec!["rate-plan", "--judged", &judged, "--out", &out];
    args.extend_from_slice(extra);
    let output = medhall(&args);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_str(&std::fs::read_to_string(&out).expect("written")).expect("JSON")
}

#[test]
fn a_plan_is_seeded_blind_and_read_back_with_its_ratings() {
    let first = plan("a", &["--per-split", "4", "--seed", "9"]);
    let again = plan("b", &["--per-split", "4", "--seed", "9"]);
    assert_eq!(first, again, "a seed gives one plan");
    let items = first["items"].as_array().expect("items");
    assert_eq!(items.len(), 8);
    let text = first.to_string();
    for hidden in ["result", "judge", "judge-a"] {
        assert!(!text.contains(hidden), "{hidden} in {text}");
    }
    assert!(items.iter().all(|i| i["answer"].is_string()));
    let other = plan("c", &["--per-split", "4", "--seed", "10"]);
    assert_ne!(other["id"], first["id"]);
    let negative = plan("d", &["--split", "negative", "--no-reference"]);
    let negative_items = negative["items"].as_array().expect("items");
    assert!(
        negative_items
            .iter()
            .all(|i| i["split"] == "negative" && i["reference"].is_null())
    );

    // Ratings under the plan: the agreement signature names it.
    let id = first["id"].as_str().expect("an id");
    let ratings: String = items
        .iter()
        .enumerate()
        .map(|(n, item)| {
            format!(
                "{{\"rater\": \"r\", \"split\": {}, \"question_id\": {}, \"clinical_accuracy\": {}, \"plan\": \"{id}\"}}\n",
                item["split"],
                item["question_id"],
                1 + n % 10
            )
        })
        .collect();
    let dir = std::env::temp_dir().join(format!("medhall-rate-plan-{}-e", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join("r.jsonl");
    std::fs::write(&path, ratings).expect("written");
    let judged = format!(
        "{},{}",
        fixture("judge-a.positive.jsonl"),
        fixture("judge-a.negative.jsonl")
    );
    let output = medhall(&[
        "agreement",
        "--ratings",
        &path.to_string_lossy(),
        "--judged",
        &judged,
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(stdout.contains(&format!("plans:1({id})")), "{stdout}");
}

#[test]
fn a_filter_that_matches_nothing_fails_plainly() {
    let dir = std::env::temp_dir().join(format!("medhall-rate-plan-{}-f", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out = dir.join("plan.json").to_string_lossy().into_owned();
    let judged = fixture("judge-a.positive.jsonl");
    let output = medhall(&[
        "rate-plan",
        "--judged",
        &judged,
        "--type",
        "no such type",
        "--out",
        &out,
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("nothing to rate"));
}
