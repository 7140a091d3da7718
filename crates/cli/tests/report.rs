//! `medhall report` on the bundled demo data (committed, so this always runs).

use std::path::{Path, PathBuf};
use std::process::Command;

fn demo(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../public/demo")
        .join(name)
}

fn hits(svg: &str) -> usize {
    svg.matches("class=\"hit\"").count()
}

#[test]
fn report_writes_charts_summary_and_an_escaped_index() {
    let out = std::env::temp_dir().join(format!("medhall-report-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    // A run whose file name is markup: it must come out as text.
    let odd = out.with_extension("in");
    std::fs::create_dir_all(&odd).expect("temp dir");
    let renamed = odd.join("x<b>y.positive.jsonl");
    std::fs::copy(demo("demo-model-a.positive.predictions.jsonl"), &renamed).expect("copy");
    let status = Command::new(env!("CARGO_BIN_EXE_medhall"))
        .arg("report")
        .arg("--references")
        .arg(demo("demo.positive.references.jsonl"))
        .arg("--references")
        .arg(demo("demo.negative.references.jsonl"))
        .arg("--out")
        .arg(&out)
        .arg(demo("demo-model-b.positive.judge-eval.jsonl"))
        .arg(demo("demo-model-b.negative.judge-eval.jsonl"))
        .arg(&renamed)
        .status()
        .expect("medhall runs");
    assert!(status.success());
    let read = |name: &str| std::fs::read_to_string(out.join(name)).expect(name);
    // Judge scores: model B's two runs have them, the predictions file not: 2 series x 4 bars.
    assert_eq!(hits(&read("judge.svg")), 8);
    // METEOR by type: series per run and split (3), bars where the type occurs in that split.
    let by_type = read("by-type-meteor.svg");
    assert!(hits(&by_type) >= 4, "{}", hits(&by_type));
    assert!(by_type.contains("data-value=\"object manipulation\""));
    // Distribution: 20 bins for each of the 3 series.
    assert_eq!(hits(&read("distribution-meteor.svg")), 60);
    // Paired: model B positive against the renamed model A file, on the positive questions
    // they share: the five lexical metrics (model A has no judge scores to compare).
    assert_eq!(hits(&read("paired.svg")), 5);
    let summary: serde_json::Value =
        serde_json::from_str(&read("summary.json")).expect("summary.json is JSON");
    assert_eq!(summary["runs"].as_array().map(Vec::len), Some(3));
    assert!(read("summary.csv").starts_with("# signature: medhall-lens:"));
    let index = read("index.html");
    assert!(index.contains("x&lt;b&gt;y.positive.jsonl") && !index.contains("x<b>y"));
    assert!(index.contains("<img src=\"judge.svg\""));
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&odd);
}

#[test]
fn report_without_usable_files_fails_clearly() {
    let dir = std::env::temp_dir().join(format!("medhall-report-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let bad = dir.join("bad.negative.jsonl");
    std::fs::write(&bad, "{oops\n").expect("write");
    let output = Command::new(env!("CARGO_BIN_EXE_medhall"))
        .arg("report")
        .arg("--out")
        .arg(dir.join("out"))
        .arg(&bad)
        .output()
        .expect("medhall runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bad.negative.jsonl"), "{stderr}");
    let _ = std::fs::remove_dir_all(&dir);
}
