//! `medhall agreement` end to end: the real LLaVA-Med judged files against themselves agree
//! perfectly; the committed synthetic files (scripts/gen_agreement_fixture.py) give the values
//! the metrics fixture holds from scikit-learn, krippendorff, scipy and numpy, for two judges and
//! for three humans with a judge; the rating file's bad lines are reported by file, line and
//! field while the rest loads.

use medhall_reference_stack::shared_data;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const TOLERANCE: f64 = 1e-9;

fn medhall(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_medhall"))
        .args(args)
        .output()
        .expect("medhall runs")
}

fn fixture_file(name: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/agreement")
        .join(name)
        .to_string_lossy()
        .into_owned()
}

fn metrics_fixture() -> Value {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../metrics/tests/fixtures/agreement.json");
    serde_json::from_str(&std::fs::read_to_string(path).expect("the metrics fixture"))
        .expect("JSON")
}

/// Runs `medhall agreement ARGS --json OUT` and returns the JSON and the output.
fn agreement(tag: &str, args: &[&str]) -> (Value, Output) {
    let dir = std::env::temp_dir().join(format!("medhall-agreement-{}-{tag}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let out: PathBuf = dir.join("agreement.json");
    let mut all: Vec<&str> = vec!["agreement"];
    all.extend_from_slice(args);
    let out_text = out.to_string_lossy().into_owned();
    all.extend_from_slice(&["--resamples", "200", "--json", &out_text]);
    let output = medhall(&all);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json =
        serde_json::from_str(&std::fs::read_to_string(&out).expect("written")).expect("JSON");
    (json, output)
}

fn close(what: &str, ours: &Value, theirs: &Value) {
    match (ours.as_f64(), theirs.as_f64()) {
        (Some(a), Some(b)) => assert!(
            (a - b).abs() <= TOLERANCE,
            "{what}: ours {a}, reference {b}"
        ),
        (None, None) => assert!(ours.is_null() && theirs.is_null(), "{what}"),
        _ => panic!("{what}: ours {ours}, reference {theirs}"),
    }
}

fn group<'a>(report: &'a Value, criterion: &str, split: &str) -> &'a Value {
    report["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .find(|g| {
            g["criterion"] == criterion && g["split"] == split && g["hallucination_type"].is_null()
        })
        .unwrap_or_else(|| panic!("no group {criterion} {split}"))
}

/// Compares the report's figures for one criterion of the positive split with a fixture case
/// whose raters are, in order, the report's raters named in `names`.
fn matches_case(report: &Value, case: &Value, names: &[String]) -> usize {
    let criterion = case["name"]
        .as_str()
        .and_then(|n| n.split('/').nth(1))
        .expect("a name");
    let g = group(report, criterion, "positive");
    let mut checked = 0;
    for expected in case["pairs"].as_array().expect("pairs") {
        let first = &names[expected["first"].as_u64().expect("first") as usize];
        let second = &names[expected["second"].as_u64().expect("second") as usize];
        let pair = g["pairs"]
            .as_array()
            .expect("pairs")
            .iter()
            .find(|p| p["first"] == first.as_str() && p["second"] == second.as_str())
            .unwrap_or_else(|| panic!("{criterion}: no pair {first} / {second}"));
        let what = format!("{criterion} {first}/{second}");
        assert_eq!(pair["n"], expected["n"], "{what}: n");
        close(
            &format!("{what} kappa"),
            &pair["kappa"]["value"],
            &expected["kappa"],
        );
        close(
            &format!("{what} rho"),
            &pair["spearman"]["value"],
            &expected["spearman"],
        );
        close(
            &format!("{what} bias"),
            &pair["bias"]["value"],
            &expected["bias"]["mean"],
        );
        close(&format!("{what} sd"), &pair["sd"], &expected["bias"]["sd"]);
        close(
            &format!("{what} lower"),
            &pair["limits"][0],
            &expected["bias"]["limits"][0],
        );
        close(
            &format!("{what} upper"),
            &pair["limits"][1],
            &expected["bias"]["limits"][1],
        );
        checked += 6;
    }
    for expected in case["alphas"].as_array().expect("alphas") {
        let members: Vec<&str> = expected["members"]
            .as_array()
            .expect("members")
            .iter()
            .map(|m| names[m.as_u64().expect("a rater") as usize].as_str())
            .collect();
        let alpha = g["alphas"]
            .as_array()
            .expect("alphas")
            .iter()
            .find(|a| {
                a["members"]
                    .as_array()
                    .is_some_and(|m| m.iter().eq(members.iter()))
            })
            .unwrap_or_else(|| panic!("{criterion}: no alpha over {members:?}"));
        let what = format!("{criterion} alpha {members:?}");
        close(
            &format!("{what} interval"),
            &alpha["interval"]["value"],
            &expected["interval"],
        );
        close(
            &format!("{what} ordinal"),
            &alpha["ordinal"]["value"],
            &expected["ordinal"],
        );
        let signature = alpha["signature"].as_str().expect("a signature");
        assert!(
            signature.contains(&format!("raters:{}(", members.len())),
            "{signature}"
        );
        assert!(
            signature.contains("alpha:ordinal,domain:1-10"),
            "{signature}"
        );
        checked += 2;
    }
    checked
}

fn rater_names(report: &Value) -> Vec<String> {
    report["raters"]
        .as_array()
        .expect("raters")
        .iter()
        .map(|r| r["name"].as_str().expect("a name").to_owned())
        .collect()
}

fn cases<'a>(fixture: &'a Value, prefix: &str) -> Vec<&'a Value> {
    let found: Vec<&Value> = fixture["cases"]
        .as_array()
        .expect("cases")
        .iter()
        .filter(|c| c["name"].as_str().is_some_and(|n| n.starts_with(prefix)))
        .collect();
    assert_eq!(found.len(), 4, "one case per criterion");
    found
}

#[test]
fn the_real_judged_files_against_themselves_agree_perfectly() {
    let Some(dir) = shared_data() else {
        return;
    };
    let files = [
        dir.join("llava-med-v1.5-7b.positive.gpt4o-eval.jsonl"),
        dir.join("llava-med-v1.5-7b.negative.gpt4o-eval.jsonl"),
    ];
    let judge = format!("{},{}", files[0].display(), files[1].display());
    let (report, _) = agreement("self", &["--judged", &judge, "--judged", &judge]);
    let groups = report["groups"].as_array().expect("groups");
    assert_eq!(
        groups.len(),
        8,
        "4 criteria × 2 splits, no types in these files"
    );
    for g in groups {
        let n = if g["split"] == "positive" { 1110 } else { 1128 };
        assert_eq!(g["items"], n);
        let pair = &g["pairs"][0];
        assert_eq!(pair["kappa"]["value"], 1.0, "{}", g["criterion"]);
        assert_eq!(pair["bias"]["value"], 0.0);
        let alpha = &g["alphas"][0];
        assert_eq!(
            (&alpha["interval"]["value"], &alpha["ordinal"]["value"]),
            (&1.0.into(), &1.0.into())
        );
        println!(
            "{} {}: kappa = {}, alpha interval = {}, ordinal = {}",
            g["criterion"],
            g["split"],
            pair["kappa"]["value"],
            alpha["interval"]["value"],
            alpha["ordinal"]["value"]
        );
    }
    let signature = report["signature"].as_str().expect("a signature");
    assert!(
        signature.contains("judges:2(gpt-4o (benchmark's files) + gpt-4o (benchmark's files))"),
        "{signature}"
    );
}

#[test]
fn two_synthetic_judges_give_the_reference_values() {
    let fixture = metrics_fixture();
    let a = format!(
        "{},{}",
        fixture_file("judge-a.positive.jsonl"),
        fixture_file("judge-a.negative.jsonl")
    );
    let b = format!(
        "{},{}",
        fixture_file("judge-b.positive.jsonl"),
        fixture_file("judge-b.negative.jsonl")
    );
    let (report, _) = agreement("judges", &["--judged", &a, "--judged", &b]);
    let names = rater_names(&report);
    assert_eq!(names.len(), 2);
    assert!(names[0].starts_with("judge-a @") && names[1].starts_with("judge-b @"));
    let checked: usize = cases(&fixture, "cli-judges/")
        .into_iter()
        .map(|case| matches_case(&report, case, &names))
        .sum();
    assert_eq!(checked, 4 * 8);
    // The negative rows carry a hallucination type: three type groups per criterion.
    let typed = report["groups"]
        .as_array()
        .expect("groups")
        .iter()
        .filter(|g| g["split"] == "negative" && !g["hallucination_type"].is_null())
        .count();
    assert_eq!(typed, 4 * 3);
}

#[test]
fn humans_and_a_judge_with_bad_lines_reported() {
    let fixture = metrics_fixture();
    let ratings = fixture_file("ratings.jsonl");
    let a = format!(
        "{},{}",
        fixture_file("judge-a.positive.jsonl"),
        fixture_file("judge-a.negative.jsonl")
    );
    let (report, output) = agreement("humans", &["--ratings", &ratings, "--judged", &a]);
    let names = rater_names(&report);
    assert_eq!(names[..3], ["h1", "h2", "h3"]);
    let checked: usize = cases(&fixture, "cli-ratings/")
        .into_iter()
        .map(|case| matches_case(&report, case, &names))
        .sum();
    assert_eq!(checked, 4 * (6 * 6 + 2 * 2));
    // Every bad line, by file, line and field, and nothing else.
    // Parse errors are reported as they are read, the rest after: compare in line order.
    let mut issues = report["issues"].as_array().expect("issues").clone();
    issues.sort_by_key(|i| i["line"].as_u64());
    let expected = fixture["cli_ratings_bad_lines"]
        .as_array()
        .expect("bad lines");
    assert_eq!(issues.len(), expected.len(), "{issues:?}");
    for (issue, bad) in issues.iter().zip(expected) {
        assert_eq!(issue["source"], ratings.as_str());
        assert_eq!(
            (&issue["line"], &issue["field"]),
            (&bad["line"], &bad["field"])
        );
    }
    let count = &report["rating_files"][0];
    assert_eq!(
        (&count["lines"], &count["rejected"]),
        (&43.into(), &4.into())
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(&format!("{ratings}:4: field `clinical_accuracy`")),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        stdout.contains("signature: medhall-lens:")
            && stdout.contains("kappa:quadratic,labels:1-10")
    );
}

#[test]
fn nothing_to_compare_is_an_error() {
    let output = medhall(&[
        "agreement",
        "--judged",
        &fixture_file("judge-a.positive.jsonl"),
    ]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("no item was rated by two raters"),
        "{stderr}"
    );
}
