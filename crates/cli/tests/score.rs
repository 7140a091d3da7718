//! `medhall score` end to end: per-sample parity with the Python reference on the real
//! validation files, the leaderboard's means, and the behaviour on bad input.

use serde_json::Value;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use medhall_reference_stack::{
    ReferenceStack, shared_data, skip_or_fail, workspace_root as workspace,
};

fn medhall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medhall"))
        .args(args)
        .output()
        .expect("medhall runs")
}

/// The two LLaVA-Med files of the real data (`shared_data`'s rule: skipped when absent unless
/// `MEDHALL_REQUIRE_DATA=1`); a folder without them is an error.
fn shared_files() -> Option<[PathBuf; 2]> {
    let dir = shared_data()?;
    let files = [
        dir.join("llava-med-v1.5-7b.positive.gpt4o-eval.jsonl"),
        dir.join("llava-med-v1.5-7b.negative.gpt4o-eval.jsonl"),
    ];
    for file in &files {
        assert!(file.exists(), "{} is missing", file.display());
    }
    Some(files)
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("medhall-cli-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn read_jsonl(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).expect("readable output");
    text.lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect()
}

#[test]
fn per_sample_scores_match_python_on_real_data() {
    let Some([positive, negative]) = shared_files() else {
        return;
    };
    let reference = match ReferenceStack::locate() {
        Ok(reference) => reference,
        Err(reason) => return skip_or_fail(&reason),
    };
    let dir = temp_dir("parity");
    let ours_path = dir.join("ours.jsonl");
    let theirs_path = dir.join("python.jsonl");
    let (pos, neg) = (
        positive.to_string_lossy().into_owned(),
        negative.to_string_lossy().into_owned(),
    );
    let out = medhall(&[
        "score",
        "--per-sample",
        &ours_path.to_string_lossy(),
        &pos,
        &neg,
    ]);
    assert!(
        out.status.success(),
        "medhall failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = reference
        .command()
        .arg(workspace().join("scripts/reference_scores.py"))
        .args([
            "eval",
            &pos,
            &neg,
            "--per-sample",
            &theirs_path.to_string_lossy(),
        ])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("python runs");
    assert!(status.success());

    let ours = read_jsonl(&ours_path);
    let theirs = read_jsonl(&theirs_path);
    assert_eq!(ours.len(), 2238);
    assert_eq!(theirs.len(), 2238);
    let mut by_key: HashMap<(String, String), &Value> = HashMap::new();
    for row in &ours {
        let key = (
            row["split"].as_str().unwrap_or_default().to_owned(),
            row["question_id"].to_string(),
        );
        by_key.insert(key, row);
    }
    let mut worst = 0.0f64;
    let mut compared = 0;
    let mut mismatches = Vec::new();
    for row in &theirs {
        let split = if row["file"]
            .as_str()
            .unwrap_or_default()
            .contains("positive")
        {
            "positive"
        } else {
            "negative"
        };
        let key = (split.to_owned(), row["question_id"].to_string());
        let Some(mine) = by_key.get(&key) else {
            mismatches.push(format!("{key:?} missing from medhall's output"));
            continue;
        };
        for metric in ["rouge1", "rouge2", "rougeL", "meteor", "bleu"] {
            let (a, b) = (
                mine[metric].as_f64().unwrap_or(f64::NAN),
                row[metric].as_f64().unwrap_or(f64::NAN),
            );
            let diff = (a - b).abs();
            worst = worst.max(diff);
            compared += 1;
            if diff.is_nan() || diff > 1e-9 {
                mismatches.push(format!("{key:?} {metric}: medhall {a} python {b}"));
            }
        }
        let judge = &mine["judge"];
        for (i, name) in [
            "clinical_accuracy",
            "clinical_relevance",
            "detail_level",
            "risk_level",
        ]
        .iter()
        .enumerate()
        {
            if judge[name].as_f64() != row["judge"][i].as_f64() {
                mismatches.push(format!(
                    "{key:?} {name}: medhall {} python {}",
                    judge[name], row["judge"][i]
                ));
            }
        }
    }
    eprintln!(
        "real data: {compared} metric values compared with Python, worst difference {worst:e}"
    );
    assert!(
        mismatches.is_empty(),
        "{} mismatches:\n{}",
        mismatches.len(),
        mismatches[..mismatches.len().min(20)].join("\n")
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
#[allow(
    clippy::approx_constant,
    reason = "6.28 is the leaderboard's clinical accuracy, not tau"
)]
fn summary_reproduces_the_leaderboard() {
    let Some([positive, negative]) = shared_files() else {
        return;
    };
    let dir = temp_dir("summary");
    let summary_path = dir.join("summary.json");
    let out = medhall(&[
        "score",
        "--summary",
        &summary_path.to_string_lossy(),
        &positive.to_string_lossy(),
        &negative.to_string_lossy(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).expect("summary"))
            .expect("JSON");
    // Leaderboard row for LLaVA-Med-v1.5-7B (positive / negative), two decimals; M.Score = METEOR mean.
    let leaderboard = [
        ("clinical_accuracy", 6.28, 5.03),
        ("clinical_relevance", 6.78, 5.39),
        ("detail_level", 5.48, 4.84),
        ("risk_level", 7.39, 5.89),
        ("meteor", 0.38, 0.23),
    ];
    let groups = summary["groups"].as_array().expect("groups");
    let mean = |split: &str, metric: &str| {
        groups
            .iter()
            .find(|g| g["split"] == split && g.get("value").is_none())
            .and_then(|g| g["metrics"].as_array())
            .and_then(|ms| ms.iter().find(|m| m["metric"] == metric))
            .and_then(|m| m["mean"].as_f64())
            .expect("mean present")
    };
    for (metric, pos, neg) in leaderboard {
        assert_eq!(
            (mean("positive", metric) * 100.0).round() / 100.0,
            pos,
            "{metric} positive"
        );
        assert_eq!(
            (mean("negative", metric) * 100.0).round() / 100.0,
            neg,
            "{metric} negative"
        );
    }
    assert_eq!(summary["counts"]["predictions"], 2238);
    assert!(
        summary["signature"]
            .as_str()
            .is_some_and(|s| s.contains("nltk=3.10.4"))
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn broken_lines_are_reported_and_the_rest_scores() {
    let dir = temp_dir("broken");
    let file = dir.join("run.positive.jsonl");
    std::fs::write(
        &file,
        concat!(
            "{\"question_id\": 1, \"answer\": \"The lesion is benign.\", \"gpt4_answer\": \"The lesion is benign.\", \"result\": \"7 8 6 9\\nok\"}\n",
            "{\"question_id\": 2, \"answer\": \n",
            "{\"question_id\": 3, \"answer\": \"A mass.\", \"gpt4_answer\": \"A large mass.\", \"result\": \"no scores here\"}\n",
            "{\"question_id\": 1, \"answer\": \"dup\", \"gpt4_answer\": \"dup\"}\n",
            "{\"question_id\": 4, \"answer\": \"Only an answer.\"}\n",
        ),
    )
    .expect("write");
    let per_sample = dir.join("out.jsonl");
    let out = medhall(&[
        "score",
        "--per-sample",
        &per_sample.to_string_lossy(),
        &file.to_string_lossy(),
    ]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("run.positive.jsonl:2:"),
        "malformed line named: {stderr}"
    );
    assert!(
        stderr.contains("run.positive.jsonl:3: field `result`"),
        "unreadable verdict named: {stderr}"
    );
    assert!(
        stderr.contains("run.positive.jsonl:4: field `question_id`")
            && stderr.contains("duplicate"),
        "{stderr}"
    );
    assert!(
        stderr.contains("run.positive.jsonl:5:") && stderr.contains("no reference"),
        "{stderr}"
    );
    let rows = read_jsonl(&per_sample);
    assert_eq!(rows.len(), 3, "questions 1, 3 and 4 load");
    assert_eq!(rows[0]["rouge1"], 1.0);
    assert_eq!(rows[0]["judge"]["risk_level"], 9.0);
    assert!(rows[1]["judge"].is_null());
    assert!(rows[2]["rouge1"].is_null());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unusable_input_exits_non_zero_with_one_line() {
    let out = medhall(&["score", "/nonexistent/run.positive.jsonl"]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot open /nonexistent/run.positive.jsonl"),
        "{stderr}"
    );

    let dir = temp_dir("nosplit");
    let file = dir.join("run.jsonl");
    std::fs::write(
        &file,
        "{\"question_id\": 1, \"answer\": \"a\", \"gpt4_answer\": \"a\"}\n",
    )
    .expect("write");
    let out = medhall(&["score", &file.to_string_lossy()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with("medhall: no usable prediction") && stderr.contains("--split"),
        "{stderr}"
    );
    // Naming the split makes the same file usable.
    let out = medhall(&["score", "--split", "negative", &file.to_string_lossy()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("negative (n=1)"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn csv_with_renamed_columns_and_type_map_groups_means() {
    let dir = temp_dir("csv");
    let results = dir.join("results.csv");
    std::fs::write(&results, "qid,split,model_output,truth\n1,negative,\"The mass, large.\",The mass is large.\n2,negative,No.,Yes.\n3,positive,A cyst.,A cyst.\n").expect("write");
    let types = dir.join("types.csv");
    std::fs::write(
        &types,
        "split,question_id,type\nnegative,1,object manipulation\n",
    )
    .expect("write");
    let summary_path = dir.join("summary.json");
    let out = medhall(&[
        "score",
        "--answer-column",
        "model_output",
        "--reference-column",
        "truth",
        "--id-column",
        "qid",
        "--type-map",
        &types.to_string_lossy(),
        "--summary",
        &summary_path.to_string_lossy(),
        &results.to_string_lossy(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let summary: Value =
        serde_json::from_str(&std::fs::read_to_string(&summary_path).expect("summary"))
            .expect("JSON");
    let groups = summary["groups"].as_array().expect("groups");
    let labels: Vec<String> = groups
        .iter()
        .map(|g| {
            format!(
                "{}/{}/{}",
                g["split"].as_str().unwrap_or("?"),
                g["value"].as_str().unwrap_or("-"),
                g["samples"]
            )
        })
        .collect();
    assert_eq!(
        labels,
        [
            "positive/-/1",
            "positive/unlabelled/1",
            "negative/-/2",
            "negative/object manipulation/1",
            "negative/unlabelled/1"
        ]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The benchmark prints the thread count the CLI reports: one per core, capped at 8.
#[test]
fn timings_report_the_scoring_threads_used() {
    let dir = temp_dir("threads");
    let file = dir.join("run.positive.jsonl");
    std::fs::write(
        &file,
        "{\"question_id\": 1, \"answer\": \"A mass.\", \"gpt4_answer\": \"A large mass.\"}\n",
    )
    .expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_medhall"))
        .env("MEDHALL_TIMINGS", "1")
        .args(["score", &file.to_string_lossy()])
        .output()
        .expect("medhall runs");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    assert!(
        stderr.contains(&format!("; scoring threads: {}\n", cores.min(8))),
        "{stderr}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn per_sample_keeps_each_question_ids_json_type() {
    let dir = temp_dir("id-types");
    let path = dir.join("ids.positive.jsonl");
    std::fs::write(
        &path,
        concat!(
            r#"{"question_id": 7, "answer": "A mass.", "gpt4_answer": "A mass."}"#,
            "\n",
            r#"{"question_id": "8", "answer": "No mass.", "gpt4_answer": "A mass."}"#,
            "\n",
            r#"{"question_id": "q-9", "answer": "A mass.", "gpt4_answer": "No mass."}"#,
            "\n",
        ),
    )
    .expect("input written");
    let out = dir.join("per-sample.jsonl");
    let output = medhall(&[
        "score",
        "--per-sample",
        out.to_str().expect("UTF-8 path"),
        path.to_str().expect("UTF-8 path"),
    ]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let ids: Vec<Value> = read_jsonl(&out)
        .into_iter()
        .map(|line| line["question_id"].clone())
        .collect();
    assert_eq!(
        ids,
        vec![
            serde_json::json!(7),
            serde_json::json!("8"),
            serde_json::json!("q-9")
        ]
    );
}
