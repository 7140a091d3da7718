//! The bundled demo data (public/demo/, listed in public/datasets.json) loads without a single
//! issue, and the manifest's upstream entries point at the pinned upstream commit.
//!
//! The demo files are what a first visitor sees, so any issue the page would report on them
//! (a malformed line, a duplicate, a missing reference or prediction, a verdict read with a
//! variant rule) is a bug in the data.

use medhall_core::dataset::{
    Issue, Prediction, Reference, ReferenceSet, Run, SourceContext, TYPE_FIELD, TypeMap, join,
};
use medhall_core::formats::{ColumnMap, FileFormat, SampleRecord, parse_bytes};
use medhall_core::judge::{VerdictRule, parse_verdict};
use medhall_core::sample::Split;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

const UPSTREAM_PREFIX: &str = "https://raw.githubusercontent.com/russellyq/MedHallTune/c28299912cc0302d706209a991d27768439fbfd9/results_save_dir/";
const HALLUCINATION_TYPES: [&str; 3] = [
    "nonexistent object",
    "object manipulation",
    "knowledge distortion",
];

fn public_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../public")
}

fn manifest() -> Value {
    let path = public_dir().join("datasets.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    serde_json::from_str(&text).expect("datasets.json is JSON")
}

fn shard_set<'a>(manifest: &'a Value, id: &str) -> &'a Value {
    manifest["shard_sets"]
        .as_array()
        .expect("shard_sets is an array")
        .iter()
        .find(|set| set["id"] == id)
        .unwrap_or_else(|| panic!("no shard set {id:?}"))
}

fn split_of(entry: &Value) -> Split {
    let name = entry["split"].as_str().expect("split is a string");
    Split::parse(name).unwrap_or_else(|| panic!("unknown split {name:?}"))
}

/// Reads a file the manifest lists (relative to the page), checks it byte by byte as the
/// official JSON Lines layout, and parses it with the core parser. Parse errors become issues.
fn load(url: &str, split: Split, issues: &mut Vec<Issue>) -> Vec<SampleRecord> {
    assert!(
        !url.contains("://") && !url.starts_with('/'),
        "demo URL {url} must be relative to the page"
    );
    let path = public_dir().join(url);
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let text = std::str::from_utf8(&bytes).unwrap_or_else(|e| panic!("{url}: not UTF-8: {e}"));
    assert!(
        text.ends_with('\n'),
        "{url}: last line not newline-terminated"
    );
    assert!(!text.starts_with('\u{feff}'), "{url}: has a BOM");
    for (i, line) in text.lines().enumerate() {
        let value: Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("{url}:{}: not JSON: {e}", i + 1));
        assert!(value.is_object(), "{url}:{}: not an object", i + 1);
        assert_eq!(value["demo"], true, "{url}:{}: lacks \"demo\": true", i + 1);
    }
    assert_eq!(
        Split::from_file_name(url),
        Some(split),
        "{url}: file name vs manifest split"
    );
    assert_eq!(FileFormat::from_name(url), Some(FileFormat::JsonLines));

    let (records, errors, summary) = parse_bytes(url, &bytes, &ColumnMap::default());
    assert_eq!(summary.format, Some(FileFormat::JsonLines), "{url}");
    assert_eq!(summary.errors, 0, "{url}");
    assert_eq!(summary.records, text.lines().count() as u64, "{url}");
    issues.extend(errors.into_iter().map(Issue::from));
    records
}

fn assert_no_issues(issues: &[Issue], what: &str) {
    let listed: Vec<String> = issues.iter().map(ToString::to_string).collect();
    assert!(
        issues.is_empty(),
        "{what}: {} issue(s):\n{}",
        issues.len(),
        listed.join("\n")
    );
}

fn demo_references(manifest: &Value) -> (ReferenceSet, BTreeMap<Split, usize>) {
    let demo = shard_set(manifest, "demo");
    let mut references = ReferenceSet::default();
    let mut issues = Vec::new();
    let mut per_split = BTreeMap::new();
    for shard in demo["shards"].as_array().expect("shards") {
        assert_eq!(shard["role"], "references");
        assert_eq!(shard["format"], "jsonl");
        let split = split_of(shard);
        let url = shard["url"].as_str().expect("url");
        let records = load(url, split, &mut issues);
        assert_eq!(
            Some(records.len() as u64),
            shard["rows"].as_u64(),
            "{url}: rows in the manifest"
        );
        *per_split.entry(split).or_default() += records.len();
        let source = SourceContext::new(url, Some(split));
        for record in records {
            references.add_record(&source, record, &mut issues);
        }
    }
    assert_no_issues(&issues, "demo references");
    (references, per_split)
}

#[test]
fn demo_references_load_cleanly() {
    let manifest = manifest();
    let demo = shard_set(&manifest, "demo");
    assert_eq!(demo["bundled"], true);
    let (references, per_split) = demo_references(&manifest);
    assert_eq!(per_split.get(&Split::Positive), Some(&20));
    assert_eq!(per_split.get(&Split::Negative), Some(&20));
    assert_eq!(references.len(), 40);

    // Ids collide across the splits, as upstream: positive from 0, negative from 1.
    let ids = |split: Split| -> BTreeSet<u64> {
        references
            .iter()
            .filter(|r| r.key.split == split)
            .map(|r| r.key.question_id.parse().expect("integer id"))
            .collect()
    };
    let (positive, negative) = (ids(Split::Positive), ids(Split::Negative));
    assert_eq!(positive.first(), Some(&0));
    assert_eq!(negative.first(), Some(&1));
    assert!(positive.intersection(&negative).count() > 5);

    for reference in references.iter() {
        let question = reference.question.as_deref().unwrap_or_default();
        assert!(question.ends_with("\n<image>"), "{}: text", reference.line);
        assert!(!reference.text.trim().is_empty());
        assert!(
            reference
                .image
                .as_deref()
                .is_some_and(|i| i.starts_with("demo_"))
        );
        assert!(
            reference
                .fields
                .iter()
                .any(|(n, v)| n == "fig_caption" && !v.is_empty())
        );
    }

    let label = |r: &Reference| {
        r.fields
            .iter()
            .find(|(n, _)| n == TYPE_FIELD)
            .map(|(_, v)| v.clone())
    };
    let mut counts: BTreeMap<Option<String>, usize> = BTreeMap::new();
    for reference in references.iter().filter(|r| r.key.split == Split::Negative) {
        *counts.entry(label(reference)).or_default() += 1;
    }
    for kind in HALLUCINATION_TYPES {
        let n = counts.get(&Some(kind.to_owned())).copied().unwrap_or(0);
        assert!(
            n >= 4,
            "negative split has {n} rows of {kind:?}: {counts:?}"
        );
    }
    assert_eq!(
        counts.get(&None),
        Some(&3),
        "unlabelled negative rows: {counts:?}"
    );
    assert_eq!(counts.len(), 4, "only the paper's three types: {counts:?}");
    assert!(
        references
            .iter()
            .filter(|r| r.key.split == Split::Positive)
            .all(|r| label(r).is_none()),
        "positive rows carry no hallucination type"
    );
}

#[test]
fn demo_runs_join_every_sample() {
    let manifest = manifest();
    let demo = shard_set(&manifest, "demo");
    let (references, per_split) = demo_references(&manifest);
    let runs = demo["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 2);

    let mut all_answers: Vec<String> = Vec::new();
    for entry in runs {
        let name = entry["name"].as_str().expect("run name");
        let mut run = Run::default();
        let mut issues = Vec::new();
        let files = entry["files"].as_array().expect("files");
        assert_eq!(files.len(), 2, "{name}: one file per split");
        for file in files {
            let split = split_of(file);
            let url = file["url"].as_str().expect("url");
            let records = load(url, split, &mut issues);
            assert_eq!(
                records.len(),
                per_split[&split],
                "{url}: one row per question"
            );
            let source = SourceContext::new(url, Some(split));
            for record in records {
                run.add_record(&source, record, &mut issues);
            }
        }
        let joined = join(&run, &references, &TypeMap::new(), &mut issues);
        assert_no_issues(&issues, name);
        assert_eq!(joined.len(), references.len(), "{name}: joined samples");
        assert!(joined.iter().all(|s| s.reference.is_some()), "{name}");

        let judged: Vec<&Prediction> = run
            .predictions()
            .iter()
            .filter(|p| p.judge.is_some())
            .collect();
        if name.contains("model-b") {
            assert_eq!(judged.len(), run.len(), "{name}: every row judged");
            for prediction in run.predictions() {
                let text = prediction.judge_text.as_deref().expect("judge text");
                let (scores, rule) = parse_verdict(text).expect("verdict parses");
                assert_eq!(
                    rule,
                    VerdictRule::Official,
                    "{}:{}",
                    prediction.source,
                    prediction.line
                );
                assert_eq!(Some(scores), prediction.judge);
                let (first, rationale) = text.split_once('\n').expect("a rationale line");
                assert!(!rationale.trim().is_empty());
                let tokens: Vec<&str> = first.split(' ').collect();
                assert_eq!(tokens.len(), 4, "{first:?}");
                for token in tokens {
                    let value: u8 = token.parse().expect("an integer score");
                    assert!((1..=10).contains(&value), "{first:?}");
                }
                let question = prediction.question.as_deref().unwrap_or_default();
                assert!(
                    !question.contains("<image>"),
                    "judge-eval question without the tag"
                );
                assert!(prediction.inline_reference.is_some());
            }
        } else {
            assert!(
                judged.is_empty(),
                "{name}: prediction files carry no verdicts"
            );
            for prediction in run.predictions() {
                let question = prediction.question.as_deref().unwrap_or_default();
                assert!(
                    question.ends_with("\n<image>"),
                    "official prediction question"
                );
            }
        }
        // Labels reach the joined samples from the reference shards.
        let labelled = joined
            .iter()
            .filter(|s| s.fields.iter().any(|(n, _)| n == TYPE_FIELD))
            .count();
        assert_eq!(labelled, 17, "{name}: labelled samples");
        all_answers.extend(run.predictions().iter().map(|p| p.answer.clone()));
    }

    // The deliberate edge cases are there.
    assert_eq!(
        all_answers.iter().filter(|a| a.is_empty()).count(),
        1,
        "one empty answer"
    );
    assert!(all_answers.iter().any(|a| a.contains("<b>bold?</b>")));
    assert!(
        all_answers
            .iter()
            .any(|a| a.contains("µm") && a.contains('±') && a.contains('β'))
    );
}

#[test]
fn manifest_upstream_entries_are_pinned() {
    let manifest = manifest();
    assert_eq!(manifest["version"], 1);
    let hosts = manifest["allowed_hosts"].as_array().expect("allowed_hosts");
    assert_eq!(hosts, &[Value::from("raw.githubusercontent.com")]);

    let upstream = shard_set(&manifest, "medhalltune-val");
    assert_eq!(upstream["bundled"], false);
    let shards = upstream["shards"].as_array().expect("shards");
    let mut rows = BTreeMap::new();
    for shard in shards {
        let url = shard["url"].as_str().expect("url");
        assert!(
            url.starts_with(UPSTREAM_PREFIX),
            "{url} is not at the pinned commit"
        );
        assert_eq!(shard["role"], "references");
        assert_eq!(shard["format"], "jsonl");
        assert_eq!(Split::from_file_name(url), Some(split_of(shard)), "{url}");
        rows.insert(split_of(shard), shard["rows"].as_u64());
    }
    assert_eq!(rows.get(&Split::Positive), Some(&Some(1110)));
    assert_eq!(rows.get(&Split::Negative), Some(&Some(1128)));

    let runs = upstream["runs"].as_array().expect("runs");
    assert_eq!(runs.len(), 1);
    let files = runs[0]["files"].as_array().expect("files");
    let names: BTreeSet<&str> = files
        .iter()
        .map(|f| {
            let url = f["url"].as_str().expect("url");
            assert!(
                url.starts_with(UPSTREAM_PREFIX),
                "{url} is not at the pinned commit"
            );
            // The upstream positive file is spelt "postive"; from_file_name knows.
            assert_eq!(Split::from_file_name(url), Some(split_of(f)), "{url}");
            &url[UPSTREAM_PREFIX.len()..]
        })
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "llava-med-prediction-postive-GPT4o-eval-filtered.jsonl",
            "llava-med-prediction-negative-GPT4o-eval-filtered.jsonl",
        ])
    );

    // Every set's URLs are relative (same origin) or on a listed host.
    for set in manifest["shard_sets"].as_array().expect("shard_sets") {
        let urls = set["shards"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(
                set["runs"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|r| r["files"].as_array().into_iter().flatten()),
            )
            .map(|e| e["url"].as_str().expect("url"));
        for url in urls {
            if let Some(rest) = url.strip_prefix("https://") {
                let host = rest.split('/').next().unwrap_or_default();
                assert!(hosts.iter().any(|h| h == host), "{url}: host not allowed");
            } else {
                assert!(!url.contains("://"), "{url}: only https or relative URLs");
            }
        }
    }
}
