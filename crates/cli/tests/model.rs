//! `medhall generate` and `medhall answer` on the tiny random-weight fixture model (its answers
//! are gibberish; what is checked is the plumbing): streaming output, the official prediction
//! format that `medhall score` reads, the adapter switch, and errors that name the line.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../model/tests/fixtures")
}

fn medhall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medhall"))
        .args(args)
        .output()
        .expect("medhall runs")
}

fn path(p: &Path) -> &str {
    p.to_str().expect("UTF-8 path")
}

#[test]
fn answer_writes_predictions_that_score_reads_and_reports_bad_lines() {
    let dir = std::env::temp_dir().join(format!("medhall-answer-{}", std::process::id()));
    let images = dir.join("images");
    std::fs::create_dir_all(&images).expect("temp dir");
    std::fs::copy(
        fixtures().join("fixture-image.png"),
        images.join("scan.png"),
    )
    .expect("copy");
    let questions = dir.join("val.positive.questions.jsonl");
    std::fs::write(
        &questions,
        concat!(
            "{\"question_id\": 11, \"image\": \"scan.png\", \"question\": \"What is shown?\\n<image>\"}\n",
            "{\"question_id\": 12, \"image\": \"gone.png\", \"question\": \"And here?\"}\n",
            "{broken\n",
            "{\"question_id\": 13, \"image\": \"scan.png\", \"question\": \"Any lesion?\"}\n",
        ),
    )
    .expect("questions");
    let model = fixtures().join("tiny-idefics3");
    let lora = fixtures().join("tiny-lora");
    let run = |out: &Path, adapter: bool| {
        let mut args = vec![
            "answer",
            "--model",
            path(&model),
            "--questions",
            path(&questions),
            "--images",
            path(&images),
            "--out",
            path(out),
            "--max-new-tokens",
            "6",
        ];
        if adapter {
            args.extend(["--adapter", path(&lora)]);
        }
        medhall(&args)
    };
    let predictions = dir.join("tiny.positive.predictions.jsonl");
    let output = run(&predictions, false);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("line 2: field `image`"), "{stderr}");
    assert!(stderr.contains("line 3: not JSON"), "{stderr}");
    assert!(stderr.contains("wrote 2 answers"), "{stderr}");
    let rows: Vec<Value> = std::fs::read_to_string(&predictions)
        .expect("predictions")
        .lines()
        .map(|l| serde_json::from_str(l).expect("JSON line"))
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0]["question_id"], 11);
    assert_eq!(rows[1]["question_id"], 13);
    for row in &rows {
        assert_eq!(row["image"], "scan.png");
        assert!(row["answer"].is_string() && row["question"].is_string());
    }
    // Greedy decoding is deterministic; the adapter changes the answers.
    let again = dir.join("again.positive.predictions.jsonl");
    assert!(run(&again, false).status.success());
    assert_eq!(
        std::fs::read(&predictions).expect("first"),
        std::fs::read(&again).expect("second")
    );
    let adapted = dir.join("adapted.positive.predictions.jsonl");
    assert!(run(&adapted, true).status.success());
    assert_ne!(
        std::fs::read(&predictions).expect("base"),
        std::fs::read(&adapted).expect("adapted")
    );
    // The predictions score like any results file.
    let references = dir.join("val.positive.references.jsonl");
    std::fs::write(
        &references,
        concat!(
            "{\"question_id\": 11, \"image\": \"scan.png\", \"text\": \"What is shown?\", \"gpt4_answer\": \"A chest X-ray.\"}\n",
            "{\"question_id\": 13, \"image\": \"scan.png\", \"text\": \"Any lesion?\", \"gpt4_answer\": \"No lesion.\"}\n",
        ),
    )
    .expect("references");
    let per_sample = dir.join("scores.jsonl");
    let scored = medhall(&[
        "score",
        "--references",
        path(&references),
        "--per-sample",
        path(&per_sample),
        path(&predictions),
    ]);
    assert!(
        scored.status.success(),
        "{}",
        String::from_utf8_lossy(&scored.stderr)
    );
    assert_eq!(
        std::fs::read_to_string(&per_sample)
            .expect("scores")
            .lines()
            .count(),
        2
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn generate_streams_an_answer_and_bad_inputs_fail_with_a_reason() {
    let model = fixtures().join("tiny-idefics3");
    let image = fixtures().join("fixture-image.png");
    let output = medhall(&[
        "generate",
        "--model",
        path(&model),
        "--image",
        path(&image),
        "--question",
        "What is shown in this image?",
        "--max-new-tokens",
        "4",
        "--quantize",
        "q8",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(stderr.contains("q8 weights"), "{stderr}");
    assert!(stderr.contains("time to first token"), "{stderr}");
    assert!(!output.stdout.is_empty());

    let not_an_image = fixtures().join("reference.json");
    let output = medhall(&[
        "generate",
        "--model",
        path(&model),
        "--image",
        path(&not_an_image),
        "--question",
        "x",
    ]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("reference.json: not a usable image"),
        "{stderr}"
    );
    assert_eq!(
        stderr.lines().count(),
        2,
        "a load line and one reason: {stderr}"
    );

    // An adapter folder that is not an adapter, and a model folder without weights.
    let output = medhall(&[
        "generate",
        "--model",
        path(&model),
        "--adapter",
        path(&model),
        "--image",
        path(&image),
        "--question",
        "x",
    ]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("adapter_config.json"));
    let output = medhall(&[
        "generate",
        "--model",
        path(&fixtures()),
        "--image",
        path(&image),
        "--question",
        "x",
    ]);
    assert!(!output.status.success());
    let output = medhall(&[
        "generate",
        "--model",
        path(&model),
        "--quantize",
        "q3",
        "--image",
        path(&image),
        "--question",
        "x",
    ]);
    assert!(!output.status.success());
}
