use super::*;
use crate::dataset::{IssueKind, Run};

fn judged(model: &str, rows: &[(u32, [f64; 4])]) -> String {
    rows.iter()
        .map(|(qid, s)| {
            format!(
                "{{\"question_id\": {qid}, \"answer\": \"a\", \"result\": \"{} {} {} {}\\nwhy\", \"judge_model\": \"{model}\", \"hallucination_type\": \"t{}\"}}\n",
                s[0], s[1], s[2], s[3], qid % 2
            )
        })
        .collect()
}

fn judge(table: &mut RatingTable, name: &str, text: &str, issues: &mut Vec<Issue>) {
    let mut run = Run::default();
    read_judged(name, text.as_bytes(), &mut run, issues);
    table.add_judge(&run, issues);
}

use crate::dataset::Issue;

#[test]
fn bad_rating_lines_are_reported_by_line_and_field_and_the_rest_loads() {
    let text = [
        r#"{"rater": "h1", "split": "positive", "question_id": 1, "clinical_accuracy": 7, "risk_level": 9}"#,
        r#"{"rater": "h1", "split": "positive", "question_id": 2, "clinical_accuracy": 7.5}"#,
        r#"{"split": "positive", "question_id": 3, "clinical_accuracy": 7}"#,
        r#"{"rater": "h1", "question_id": 4, "clinical_accuracy": 7}"#,
        r#"{"rater": "h1", "split": "positive", "question_id": 5, "note": "nothing rated"}"#,
        r#"{"rater": "h1", "split": "positive", "question_id": 1, "clinical_accuracy": 3}"#,
        r#"{"rater": "h2", "split": "positive", "question_id": 1, "detail_level": "x"}"#,
        r#"{"rater": "h2", "split": "positive", "question_id": 1, "clinical_accuracy": 0}"#,
    ]
    .join("\n");
    let mut table = RatingTable::default();
    let mut issues = Vec::new();
    let count = table.add_ratings("r.jsonl", text.as_bytes(), &mut issues);
    assert_eq!((count.lines, count.used, count.rejected), (8, 1, 7));
    let found: Vec<(u64, Option<&str>, IssueKind)> = issues
        .iter()
        .map(|i| (i.line, i.field.as_deref(), i.kind))
        .collect();
    assert_eq!(
        found,
        [
            (7, Some("detail_level"), IssueKind::Malformed),
            (2, Some("clinical_accuracy"), IssueKind::InvalidRating),
            (3, Some("rater"), IssueKind::MissingField),
            (4, Some("split"), IssueKind::UnknownSplit),
            (5, Some("clinical_accuracy"), IssueKind::MissingField),
            (6, Some("question_id"), IssueKind::Duplicate),
            (8, Some("clinical_accuracy"), IssueKind::InvalidRating),
        ]
    );
    assert!(issues.iter().all(|i| i.source == "r.jsonl"));
    assert_eq!(table.len(), 1);
    assert_eq!(table.items[0].scores[0], [Some(7), None, None, Some(9)]);
}

#[test]
fn a_judge_against_itself_agrees_perfectly_and_types_split_the_groups() {
    let rows: Vec<(u32, [f64; 4])> = (0..12)
        .map(|i| {
            let s = f64::from(1 + i % 10);
            (
                i,
                [s, 11.0 - s, 1.0 + f64::from(i % 3), 10.0 - f64::from(i % 4)],
            )
        })
        .collect();
    let text = judged("judge-x", &rows);
    let mut table = RatingTable::default();
    let mut issues = Vec::new();
    judge(&mut table, "x.positive.jsonl", &text, &mut issues);
    judge(&mut table, "x.positive.jsonl", &text, &mut issues);
    assert!(issues.is_empty(), "{issues:?}");
    let names: Vec<&str> = table.raters().iter().map(|r| r.name.as_str()).collect();
    let label = "judge-x @ unknown endpoint (unknown parameters, unknown protocol)";
    assert_eq!(names, [label.to_owned(), format!("{label} #2")]);
    let stats = StatsConfig {
        bootstrap_resamples: 50,
        ..StatsConfig::default()
    };
    let report = agreement(&table, &stats, 3);
    // 4 criteria × (all types + t0 + t1) of the positive split.
    assert_eq!(report.groups.len(), 12);
    for group in &report.groups {
        let pair = &group.pairs[0];
        assert_eq!(pair.kappa.value, Some(1.0), "{}", group.criterion);
        assert_eq!(pair.bias.value, Some(0.0));
        let judges = &group.alphas[0];
        assert_eq!(judges.set, "judges");
        assert_eq!(
            (judges.interval.value, judges.ordinal.value),
            (Some(1.0), Some(1.0))
        );
        assert_eq!(judges.interval.ci95, Some([1.0, 1.0]));
        let expected = if group.hallucination_type.is_some() {
            6
        } else {
            12
        };
        assert_eq!(group.items, expected);
    }
    assert!(report.signature.contains("judges:2(judge-x @"));
    assert!(
        report
            .signature
            .contains("kappa:quadratic,labels:1-10|alpha:interval|alpha:ordinal,domain:1-10")
    );
    assert!(report.signature.contains("resamples=50,seed=12345"));
    // A judge against itself disagrees nowhere: nothing to list.
    assert!(report.groups[0].disagreements.is_empty());
}

#[test]
fn judge_scores_off_the_scale_are_reported_and_left_out() {
    let text = judged("j", &[(1, [7.0, 8.0, 6.0, 9.0]), (2, [7.5, 8.0, 6.0, 9.0])]);
    let mut table = RatingTable::default();
    let mut issues = Vec::new();
    judge(&mut table, "j.negative.jsonl", &text, &mut issues);
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(
        (issues[0].line, issues[0].field.as_deref(), issues[0].kind),
        (2, Some("result"), IssueKind::InvalidRating)
    );
    assert!(issues[0].message.starts_with("clinical_accuracy: 7.5"));
    assert_eq!(table.len(), 1);
    // One rater only: no group has two ratings of an item.
    assert!(
        agreement(&table, &StatsConfig::default(), 5)
            .groups
            .is_empty()
    );
}

#[test]
fn humans_come_first_so_the_bias_is_judge_minus_human() {
    let mut table = RatingTable::default();
    let mut issues = Vec::new();
    judge(
        &mut table,
        "j.positive.jsonl",
        &judged("j", &[(1, [8.0; 4]), (2, [6.0; 4])]),
        &mut issues,
    );
    let ratings = "{\"rater\": \"h\", \"question_id\": 1, \"clinical_accuracy\": 5}\n{\"rater\": \"h\", \"question_id\": 2, \"clinical_accuracy\": 4}\n";
    table.add_ratings("h.positive.jsonl", ratings.as_bytes(), &mut issues);
    assert!(issues.is_empty(), "{issues:?}");
    let report = agreement(&table, &StatsConfig::default(), 1);
    assert_eq!(report.raters[0].name, "h");
    let group = &report.groups[0];
    assert_eq!(
        (group.criterion.as_str(), group.split),
        ("clinical_accuracy", Split::Positive)
    );
    let pair = &group.pairs[0];
    assert_eq!(
        (pair.first.as_str(), pair.n, pair.bias.value),
        ("h", 2, Some(2.5))
    );
    assert_eq!(
        group.alphas[0].set,
        format!("humans+{}", report.raters[1].name)
    );
    assert_eq!(group.disagreements[0].question_id, "1");
}

#[test]
fn plans_are_in_every_signature_and_grids_count_human_judge_pairs() {
    let ratings = [
        r#"{"rater": "h1", "split": "positive", "question_id": 1, "clinical_accuracy": 7, "plan": "p1"}"#,
        r#"{"rater": "h1", "split": "positive", "question_id": 2, "clinical_accuracy": 3, "plan": "p1"}"#,
        r#"{"rater": "h2", "split": "positive", "question_id": 1, "clinical_accuracy": 7, "plan": " p1 "}"#,
    ]
    .join("\n");
    let mut table = RatingTable::default();
    let mut issues = Vec::new();
    table.add_ratings("r.jsonl", ratings.as_bytes(), &mut issues);
    let text = judged("j", &[(1, [7.0, 5.0, 5.0, 5.0]), (2, [4.0, 5.0, 5.0, 5.0])]);
    judge(&mut table, "j.positive.jsonl", &text, &mut issues);
    assert_eq!(table.plans(), ["p1"]);
    let report = agreement(&table, &StatsConfig::default(), 3);
    assert_eq!(report.plans, ["p1"]);
    assert!(
        report.signature.contains("|plans:1(p1)|"),
        "{}",
        report.signature
    );
    for group in &report.groups {
        assert!(
            group
                .pairs
                .iter()
                .all(|p| p.signature.contains("plans:1(p1)"))
        );
        assert!(
            group
                .alphas
                .iter()
                .all(|a| a.signature.contains("plans:1(p1)"))
        );
    }
    let grid = report
        .grids
        .iter()
        .find(|g| g.criterion == "clinical_accuracy")
        .expect("a grid");
    // h1 and h2 both gave 7 where the judge gave 7; h1 gave 3 where it gave 4.
    assert_eq!(grid.counts[6][6], 2);
    assert_eq!(grid.counts[2][3], 1);
    assert_eq!(grid.counts.iter().flatten().sum::<u32>(), 3);
    // The humans rated no other criterion: no grid for those.
    assert_eq!(report.grids.len(), 1);
}
