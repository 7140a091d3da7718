//! `medhall vqa` end to end: per-question equality with LLaVA-Med v1.0's own evaluation on the
//! committed fixture (scripts/gen_vqa_fixture.py ran their `evaluate`), for every closed rule,
//! in both file layouts; two models compared with the paired test; and bad lines reported while
//! the rest is scored.

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn medhall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medhall"))
        .args(args)
        .output()
        .expect("medhall runs")
}

fn fixture(path: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/vqa")
        .join(path)
        .to_string_lossy()
        .into_owned()
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("medhall-vqa-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn read_jsonl(path: &str) -> Vec<Value> {
    std::fs::read_to_string(path)
        .expect("readable")
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect()
}

fn read_json(path: &str) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).expect("readable")).expect("JSON")
}

/// Python writes `0` for an integer zero and `1.0` for a float: numbers compare as values.
fn same(ours: &Value, theirs: &Value) -> bool {
    match (ours, theirs) {
        (Value::Number(a), Value::Number(b)) => a.as_f64() == b.as_f64(),
        (Value::Object(a), Value::Object(b)) => {
            a.len() == b.len() && a.iter().all(|(k, v)| b.get(k).is_some_and(|w| same(v, w)))
        }
        _ => ours == theirs,
    }
}

/// A CSV's ids are text where the JSON files' are integers: the same question either way.
fn key(row: &Value) -> (String, String) {
    let id = match &row["question_id"] {
        Value::String(id) => id.clone(),
        other => other.to_string(),
    };
    (row["dataset"].to_string(), id)
}

fn expected_rows() -> HashMap<(String, String), Value> {
    read_jsonl(&fixture("expected.jsonl"))
        .into_iter()
        .map(|row| (key(&row), row))
        .collect()
}

/// Runs medhall vqa and returns its per-sample lines and summary.
fn score(tag: &str, args: &[&str]) -> (Vec<Value>, Value, Output) {
    let dir = temp_dir(tag);
    let per_sample = dir.join("per-sample.jsonl").to_string_lossy().into_owned();
    let summary = dir.join("summary.json").to_string_lossy().into_owned();
    let mut all = vec!["vqa", "--per-sample", &per_sample, "--summary", &summary];
    all.extend_from_slice(args);
    let output = medhall(&all);
    assert!(
        output.status.success(),
        "medhall vqa failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    (read_jsonl(&per_sample), read_json(&summary), output)
}

fn assert_rows_match(ours: &[Value], expected: &HashMap<(String, String), Value>) {
    let mut mismatches = Vec::new();
    for row in ours {
        let mut row = row.clone();
        // Which PRED a row belongs to is ours to add; the reference has one model.
        assert!(row["model"].is_string(), "{row}");
        if let Some(fields) = row.as_object_mut() {
            fields.remove("model");
        }
        if let Some(theirs) = expected.get(&key(&row)) {
            row["question_id"] = theirs["question_id"].clone();
        }
        let row = &row;
        match expected.get(&key(row)) {
            Some(theirs) if same(row, theirs) => {}
            Some(theirs) => mismatches.push(format!("ours   {row}\ntheirs {theirs}")),
            None => mismatches.push(format!("not in the fixture: {row}")),
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} questions differ from LLaVA-Med's values:\n{}",
        mismatches.len(),
        ours.len(),
        mismatches[..mismatches.len().min(10)].join("\n")
    );
}

const DATASETS: [&str; 2] = ["vqa_rad", "Slake1.0"];
const RULES: [&str; 3] = ["run_eval_batch", "run_eval", "whole-word"];

#[test]
fn every_question_equals_llava_med_under_every_rule() {
    let expected = expected_rows();
    let summary = read_json(&fixture("expected_summary.json"));
    let mut checked = 0;
    for dataset in DATASETS {
        let references = fixture(&format!("{dataset}/test.json"));
        let answers = fixture(&format!("{dataset}/test-answer-file.jsonl"));
        for rule in RULES {
            let (rows, ours, output) = score(
                &format!("{dataset}-{rule}"),
                &["--references", &references, "--closed-rule", rule, &answers],
            );
            assert!(
                output.stderr.is_empty(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            assert_rows_match(&rows, &expected);
            let theirs = &summary["datasets"][dataset];
            let ours = &ours["models"][0]["datasets"][0];
            assert_eq!(ours["dataset"], dataset);
            assert_eq!(ours["open"], theirs["open"]);
            assert_eq!(ours["closed"], theirs["closed"]);
            assert_eq!(
                rows.len() as u64,
                theirs["open"].as_u64().unwrap_or(0) + theirs["closed"].as_u64().unwrap_or(0)
            );
            // Means summed in file order, as `sum(xs) / len(xs)`: exactly theirs.
            assert_eq!(
                ours["open_recall"]["mean"].as_f64(),
                theirs["open_recall"].as_f64()
            );
            assert_eq!(
                ours["open_accuracy"]["mean"].as_f64(),
                theirs["open_accuracy"].as_f64()
            );
            assert_eq!(
                ours["closed_accuracy"]["mean"].as_f64(),
                theirs["closed_accuracy"][rule].as_f64(),
                "{dataset} {rule}"
            );
            let interval = &ours["closed_accuracy"]["ci95"];
            assert!(interval[0].as_f64() <= ours["closed_accuracy"]["mean"].as_f64());
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(
                stdout.contains(&format!("closed accuracy ({rule})")),
                "{stdout}"
            );
            assert!(
                stdout.contains("signature: medhall-lens:")
                    && stdout.contains("vqa:llava-med=b9a98a7"),
                "{stdout}"
            );
            checked += rows.len();
        }
    }
    assert_eq!(checked, 3 * expected.len());
    assert!(expected.len() >= 1000);
}

#[test]
fn named_columns_score_the_same() {
    let expected = expected_rows();
    let (rows, summary, _) = score(
        "named",
        &[
            "--references",
            &fixture("named/references.csv"),
            "--id-column",
            "qid",
            "--reference-column",
            "gold",
            "--type-column",
            "kind",
            "--answer-column",
            "response",
            &fixture("named/predictions.jsonl"),
        ],
    );
    assert_eq!(rows.len(), 300);
    assert_rows_match(&rows, &expected);
    let names: Vec<&str> = summary["models"][0]["datasets"]
        .as_array()
        .map(|d| d.iter().filter_map(|d| d["dataset"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(names, DATASETS);
}

#[test]
fn signatures_name_the_closed_rule() {
    let references = fixture("vqa_rad/test.json");
    let answers = fixture("vqa_rad/test-answer-file.jsonl");
    let signature = |rule: &str| {
        let (_, summary, _) = score(
            &format!("sig-{rule}"),
            &[
                "--references",
                &references,
                "--closed-rule",
                rule,
                "--resamples",
                "0",
                &answers,
            ],
        );
        summary["signature"].as_str().unwrap_or_default().to_owned()
    };
    let [batch, single, strict] = RULES.map(signature);
    assert!(
        batch.contains("closed=substring(run_eval_batch.py)"),
        "{batch}"
    );
    assert!(
        single.contains("closed=yes|no-gate+substring(run_eval.py)"),
        "{single}"
    );
    assert!(
        strict.contains("whole-word(medhall,not-llava-med)"),
        "{strict}"
    );
    assert!(batch.contains("resamples=0"));
}

#[test]
fn bad_lines_are_reported_and_the_rest_scored() {
    let dir = temp_dir("bad");
    let references = dir.join("rad").join("test.json");
    std::fs::create_dir_all(references.parent().unwrap_or(&dir)).expect("dir");
    std::fs::write(
        &references,
        concat!(
            "[\n",
            r#"{"id": 1, "answer_type": "CLOSED", "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "no"}]},"#, "\n",
            r#"{"id": 2, "answer_type": "closed", "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "no"}]},"#, "\n",
            r#"{"id": 3, "answer_type": "OPEN", "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": 7}]},"#, "\n",
            r#"{"id": 4, "answer_type": "OPEN", "conversations": [{"from": "human", "value": "Q"}, {"from": "gpt", "value": "left lung"}]}"#, "\n",
            "]\n"
        ),
    )
    .expect("write");
    let answers = dir.join("answers.jsonl");
    std::fs::write(
        &answers,
        concat!(
            "{\"question_id\": 1, \"text\": \"normal\"}\n",
            "{\"question_id\": 4, \"text\": \n",
            "{\"question_id\": 4, \"text\": \"lung\"}\n",
            "{\"question_id\": 5, \"text\": \"x\"}\n",
            "{\"text\": \"no id\"}\n",
        ),
    )
    .expect("write");
    let references = references.to_string_lossy().into_owned();
    let answers_name = answers.to_string_lossy().into_owned();
    let (rows, summary, output) = score("bad", &["--references", &references, &answers_name]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        format!("{references}:3: field `answer_type`"),
        format!("{references}:4: field `conversations[1].value`"),
        format!("{answers_name}:2: "),
        format!("{answers_name}:4: field `question_id`: no test question 5"),
        format!("{answers_name}:5: field `question_id`: missing"),
    ] {
        assert!(stderr.contains(&expected), "{expected} not in:\n{stderr}");
    }
    assert_eq!(rows.len(), 2);
    let table = &summary["models"][0]["datasets"][0];
    assert_eq!(table["dataset"], "rad");
    assert_eq!(table["closed_accuracy"]["mean"], 1.0);
    assert_eq!(table["open_recall"]["mean"], 0.5);
    assert_eq!(summary["issues"].as_array().map(Vec::len), Some(5));
}

/// The answers of `answers` with every third prediction replaced by the reference answer: a
/// second model that is right more often (under the substring and whole-word rules).
fn improved_answers(dir: &Path, references: &str, answers: &str) -> String {
    let test: Value = read_json(references);
    let truth: HashMap<String, String> = test
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    let turns = if item["conversations"].is_array() {
                        &item["conversations"]
                    } else {
                        &item["conversatons"]
                    };
                    (
                        item["id"].to_string(),
                        turns[1]["value"].as_str().unwrap_or_default().to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let mut text = String::new();
    for (at, mut line) in read_jsonl(answers).into_iter().enumerate() {
        if at % 3 == 0 {
            let id = line["question_id"].to_string();
            line["text"] = Value::String(truth.get(&id).cloned().unwrap_or_default());
        }
        text.push_str(&line.to_string());
        text.push('\n');
    }
    let path = dir.join("improved.jsonl");
    std::fs::write(&path, text).expect("write");
    path.to_string_lossy().into_owned()
}

#[test]
fn two_models_are_compared_per_dataset_with_the_paired_test() {
    let dir = temp_dir("paired");
    let references = fixture("vqa_rad/test.json");
    let answers = fixture("vqa_rad/test-answer-file.jsonl");
    let improved = improved_answers(&dir, &references, &answers);
    // The same answers split over two files make the same model (PRED joins them by commas).
    let all = std::fs::read_to_string(&answers).expect("readable");
    let cut = all[..all.len() / 2].rfind('\n').map_or(0, |at| at + 1);
    let (head, tail) = all.split_at(cut);
    let (a, b) = (dir.join("head.jsonl"), dir.join("tail.jsonl"));
    std::fs::write(&a, head).expect("write");
    std::fs::write(&b, tail).expect("write");
    let split = format!("{},{}", a.to_string_lossy(), b.to_string_lossy());
    let per_sample = dir.join("rows.jsonl").to_string_lossy().into_owned();
    let summary = dir.join("summary.json").to_string_lossy().into_owned();
    let output = medhall(&[
        "vqa",
        "--references",
        &references,
        "--variant",
        "whole-word",
        "--samples",
        &per_sample,
        "--json",
        &summary,
        "--permutations",
        "2000",
        &split,
        &improved,
    ]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = read_json(&summary);
    assert_eq!(summary["closed_rule"], "whole-word");
    assert_eq!(summary["stats"]["permutations"], 2000);
    let signature = summary["signature"].as_str().unwrap_or_default();
    assert!(
        signature.ends_with("|paired:sign-flip,permutations=2000"),
        "{signature}"
    );
    let models = summary["models"].as_array().expect("models");
    assert_eq!(models.len(), 2);
    assert_eq!(models[0]["model"], split.as_str());
    assert_eq!(models[0]["scored"], 700);
    // The split files score exactly as the whole file does.
    let (_, whole, _) = score(
        "paired-whole",
        &[
            "--references",
            &references,
            "--closed-rule",
            "whole-word",
            &answers,
        ],
    );
    assert_eq!(models[0]["datasets"], whole["models"][0]["datasets"]);
    let rows = read_jsonl(&per_sample);
    assert_eq!(rows.len(), 1400);
    assert_eq!(rows[700]["model"], improved.as_str());
    // Each difference is the mean of the per-question differences (model 2 − model 1).
    let comparison = &summary["comparisons"][0];
    assert_eq!(comparison["baseline"], split.as_str());
    let compared = &comparison["datasets"][0];
    assert_eq!(compared["dataset"], "vqa_rad");
    let value = |row: &Value, field: &str| -> f64 {
        match field {
            "closed" => row["closed_hit"]["whole-word"].as_f64().unwrap_or(f64::NAN),
            _ => row[field].as_f64().unwrap_or(f64::NAN),
        }
    };
    for (field, name) in [
        ("open_recall", "open_recall"),
        ("open_hit", "open_accuracy"),
        ("closed", "closed_accuracy"),
    ] {
        let differences: Vec<f64> = rows[..700]
            .iter()
            .zip(&rows[700..])
            .filter(|(x, _)| !value(x, field).is_nan())
            .map(|(x, y)| value(y, field) - value(x, field))
            .collect();
        let mean = differences.iter().sum::<f64>() / differences.len() as f64;
        let ours = &compared[name];
        assert_eq!(ours["n"].as_u64(), Some(differences.len() as u64), "{name}");
        assert_eq!(ours["mean_difference"].as_f64(), Some(mean), "{name}");
        assert!(
            mean > 0.0,
            "{name}: the improved answers should score higher"
        );
        let p = ours["p_value"].as_f64().unwrap_or(f64::NAN);
        assert!(p > 0.0 && p < 0.01, "{name}: p = {p}");
        let ci = &ours["ci95"];
        assert!(ci[0].as_f64() <= Some(mean) && ci[1].as_f64() >= Some(mean));
    }
    assert!(stdout.contains("model 2 − model 1"), "{stdout}");
    assert!(
        stdout.contains("Δ closed accuracy (whole-word)"),
        "{stdout}"
    );

    // A model against itself: no difference, p = 1.
    let (_, same, _) = score(
        "paired-same",
        &[
            "--references",
            &references,
            "--resamples",
            "0",
            &answers,
            &answers,
        ],
    );
    let compared = &same["comparisons"][0]["datasets"][0];
    assert_eq!(compared["closed_accuracy"]["mean_difference"], 0.0);
    assert_eq!(compared["closed_accuracy"]["p_value"], 1.0);
    assert!(compared["closed_accuracy"]["ci95"].is_null());
}

#[test]
fn nothing_usable_is_an_error() {
    let dir = temp_dir("empty");
    let references = dir.join("test.json");
    std::fs::write(&references, "[]").expect("write");
    let answers = fixture("vqa_rad/test-answer-file.jsonl");
    let output = medhall(&[
        "vqa",
        "--references",
        &references.to_string_lossy(),
        &answers,
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("no usable question"));
}

/// `medhall report --vqa-references … --vqa …` shows the same table, comparison and JSON as
/// `medhall vqa` on the same files.
#[test]
fn report_section_equals_medhall_vqa() {
    let dir = temp_dir("report");
    let references = fixture("vqa_rad/test.json");
    let answers = fixture("vqa_rad/test-answer-file.jsonl");
    let improved = improved_answers(&dir, &references, &answers);
    let (_, summary, output) = score(
        "report-cli",
        &["--references", &references, &answers, &improved],
    );
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let report_fixture = |name: &str| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/report")
            .join(name)
            .to_string_lossy()
            .into_owned()
    };
    let out = dir.join("site");
    let out_name = out.to_string_lossy().into_owned();
    let output = medhall(&[
        "report",
        "--references",
        &report_fixture("refs.positive.jsonl"),
        "--references",
        &report_fixture("refs.negative.jsonl"),
        "--out",
        &out_name,
        "--vqa-references",
        &references,
        "--vqa",
        &answers,
        "--vqa",
        &improved,
        &report_fixture("model-x.positive.predictions.jsonl"),
        &report_fixture("model-x.negative.predictions.jsonl"),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let theirs = read_json(&out.join("vqa.json").to_string_lossy());
    assert_eq!(theirs, summary);
    let markdown = std::fs::read_to_string(out.join("vqa.md")).expect("vqa.md");
    let mut rows = 0;
    for line in stdout
        .lines()
        .filter(|l| l.starts_with("vqa_rad") || l.starts_with("dataset"))
    {
        let cells: Vec<&str> = line
            .split("  ")
            .map(str::trim)
            .filter(|c| !c.is_empty())
            .collect();
        let row = format!("| {} |", cells.join(" | "));
        assert!(markdown.contains(&row), "{row} not in vqa.md:\n{markdown}");
        rows += 1;
    }
    assert_eq!(rows, 6, "{stdout}");
    let html = std::fs::read_to_string(out.join("index.html")).expect("index.html");
    assert!(html.contains("<h2>Medical VQA</h2>"));
    assert!(html.contains("<td>49.33 [44.35, 54.01]</td>"), "{html}");
    let svg = std::fs::read_to_string(out.join("vqa.svg")).expect("vqa.svg");
    assert!(svg.starts_with("<svg") || svg.contains("<svg"));
}

/// The paper's table in one run: one test.json per dataset, each answer file paired with its
/// dataset by its folder (as run_eval_batch.py pairs them), both joined into one model.
#[test]
fn several_test_files_make_one_table() {
    let expected = expected_rows();
    let summary = read_json(&fixture("expected_summary.json"));
    let answers = DATASETS
        .map(|d| fixture(&format!("{d}/test-answer-file.jsonl")))
        .join(",");
    let (rows, ours, output) = score(
        "paper-table",
        &[
            "--references",
            &fixture("vqa_rad/test.json"),
            "--references",
            &fixture("Slake1.0/test.json"),
            &answers,
        ],
    );
    assert!(
        output.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(rows.len(), expected.len());
    assert_rows_match(&rows, &expected);
    let table = ours["models"][0]["datasets"].as_array().expect("datasets");
    for (ours, dataset) in table.iter().zip(DATASETS) {
        let theirs = &summary["datasets"][dataset];
        assert_eq!(ours["dataset"], dataset);
        assert_eq!(ours["open"], theirs["open"]);
        assert_eq!(
            ours["open_recall"]["mean"].as_f64(),
            theirs["open_recall"].as_f64()
        );
        assert_eq!(
            ours["closed_accuracy"]["mean"].as_f64(),
            theirs["closed_accuracy"]["run_eval_batch"].as_f64()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.lines().any(|l| l.starts_with("Slake1.0"))
            && stdout.lines().any(|l| l.starts_with("vqa_rad")),
        "{stdout}"
    );
    // --dataset names one file's dataset; with two it is refused.
    let refused = medhall(&[
        "vqa",
        "--references",
        &fixture("vqa_rad/test.json"),
        "--references",
        &fixture("Slake1.0/test.json"),
        "--dataset",
        "x",
        &answers,
    ]);
    assert!(!refused.status.success());
}

/// Question ids repeat across datasets (each test.json numbers its own): answer files are paired
/// with a dataset by their folder, and an answer that says no dataset is reported as ambiguous.
#[test]
fn colliding_ids_join_by_the_answer_files_folder() {
    let dir = temp_dir("collide");
    let mut references = Vec::new();
    let mut answers = Vec::new();
    for (dataset, answer, said) in [("rad", "yes", "yes"), ("slake", "no", "yes")] {
        let folder = dir.join(dataset);
        std::fs::create_dir_all(&folder).expect("dir");
        let test = folder.join("test.json");
        std::fs::write(
            &test,
            format!(
                r#"[{{"id": 0, "answer_type": "CLOSED", "conversations": [{{"value": "Q"}}, {{"value": "{answer}"}}]}}]"#
            ),
        )
        .expect("write");
        let file = folder.join("test-answer-file.jsonl");
        std::fs::write(
            &file,
            format!("{{\"question_id\": 0, \"text\": \"{said}\"}}\n"),
        )
        .expect("write");
        references.push(test.to_string_lossy().into_owned());
        answers.push(file.to_string_lossy().into_owned());
    }
    let stray = dir.join("stray.jsonl");
    std::fs::write(&stray, "{\"question_id\": 0, \"text\": \"no\"}\n").expect("write");
    let model = format!("{},{}", answers.join(","), stray.to_string_lossy());
    let (rows, summary, output) = score(
        "collide",
        &[
            "--references",
            &references[0],
            "--references",
            &references[1],
            &model,
        ],
    );
    let hits: Vec<(String, u64)> = rows
        .iter()
        .map(|r| {
            (
                r["dataset"].as_str().unwrap_or_default().to_owned(),
                r["closed_hit"]["run_eval_batch"].as_u64().unwrap_or(9),
            )
        })
        .collect();
    assert_eq!(hits, [("rad".to_owned(), 1), ("slake".to_owned(), 0)]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "stray.jsonl:1: field `question_id`: question 0 is in several datasets (rad, slake)"
        ),
        "{stderr}"
    );
    assert_eq!(summary["issues"].as_array().map(Vec::len), Some(1));
}
