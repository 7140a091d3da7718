//! The page's Medical VQA view, sans I/O: the files the page read (names and texts) go through
//! `medhall_core::vqa_run::score_vqa`, the function `medhall vqa` calls, and come back as the
//! cells `medhall vqa` prints (`table_rows`, `comparison_rows`), the chart spec (`table_chart`),
//! the issues and the signature. No rule of its own.

use medhall_core::chart::ChartSpec;
use medhall_core::dataset::Issue;
use medhall_core::stats::StatsConfig;
use medhall_core::vqa::{ClosedRule, signature_part};
use medhall_core::vqa_data::{
    DatasetComparison, DatasetSummary, VqaColumns, comparison_rows, table_chart, table_rows,
};
use medhall_core::vqa_run::{AnswerFilePairing, VqaInputs, VqaModelSources, VqaSource, score_vqa};
use serde::{Deserialize, Serialize};

/// A file the page read: its name (as the browser gives it), its text, and the dataset the user
/// named for it (`None`: the dataset its name says, as `medhall vqa` takes it from the path).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VqaFile {
    pub name: String,
    pub text: String,
    #[serde(default)]
    pub dataset: Option<String>,
}

/// One model: its name and its answer files (as one `medhall vqa` argument `a.jsonl,b.jsonl`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VqaModel {
    pub label: String,
    pub files: Vec<VqaFile>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VqaQuery {
    pub references: Vec<VqaFile>,
    pub models: Vec<VqaModel>,
    /// A `ClosedRule` name (`run_eval_batch`, `run_eval`, `whole-word`).
    pub rule: String,
    pub stats: StatsConfig,
    /// The paired comparison to show: (baseline, model) as indexes into `models`.
    #[serde(default)]
    pub pair: Option<(usize, usize)>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VqaModelView {
    pub label: String,
    pub files: Vec<AnswerFilePairing>,
    pub predictions: usize,
    pub scored: usize,
    /// `medhall vqa`'s table for this model, a header row first.
    pub rows: Vec<Vec<String>>,
    pub datasets: Vec<DatasetSummary>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VqaComparisonView {
    pub baseline: String,
    pub model: String,
    /// `medhall vqa`'s comparison table (model − baseline), a header row first.
    pub rows: Vec<Vec<String>>,
    pub datasets: Vec<DatasetComparison>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VqaView {
    pub rule: String,
    pub questions: usize,
    pub models: Vec<VqaModelView>,
    pub comparison: Option<VqaComparisonView>,
    pub chart: ChartSpec,
    pub issues: Vec<Issue>,
    pub signature: String,
}

/// The closed rules the page offers: name and signature part, the CLI's default first.
pub fn closed_rules() -> Vec<(&'static str, String)> {
    ClosedRule::ALL
        .iter()
        .map(|rule| (rule.name(), signature_part(*rule)))
        .collect()
}

fn source(file: &VqaFile) -> VqaSource<'_> {
    VqaSource {
        name: &file.name,
        bytes: file.text.as_bytes(),
        dataset: file.dataset.as_deref().filter(|d| !d.trim().is_empty()),
    }
}

/// Scores the query's files as `medhall vqa` does.
pub fn vqa_view(query: &VqaQuery) -> Result<VqaView, String> {
    let rule = ClosedRule::parse(&query.rule)
        .ok_or_else(|| format!("`{}` is not a closed rule", query.rule))?;
    let references: Vec<VqaSource<'_>> = query.references.iter().map(source).collect();
    let models: Vec<VqaModelSources<'_>> = query
        .models
        .iter()
        .map(|m| VqaModelSources {
            label: &m.label,
            files: m.files.iter().map(source).collect(),
        })
        .collect();
    let results = score_vqa(&VqaInputs {
        references: &references,
        columns: VqaColumns::default(),
        models: &models,
        rule,
        stats: query.stats,
        compare_with_first: false,
    })
    .map_err(|e| e.to_string())?;
    let comparison = match query.pair {
        Some((baseline, model)) if baseline != model => {
            let datasets = results
                .compare(baseline, model)
                .ok_or_else(|| format!("no model {} or {} to compare", baseline + 1, model + 1))?;
            Some(VqaComparisonView {
                baseline: results.models[baseline].label.clone(),
                model: results.models[model].label.clone(),
                rows: comparison_rows(&datasets, rule),
                datasets,
            })
        }
        _ => None,
    };
    let tables: Vec<(&str, &[DatasetSummary])> = results
        .models
        .iter()
        .map(|m| (m.label.as_str(), m.datasets.as_slice()))
        .collect();
    let chart = ChartSpec::Bars(table_chart(&tables, rule));
    Ok(VqaView {
        rule: rule.name().to_owned(),
        questions: results.questions,
        models: results
            .models
            .iter()
            .map(|m| VqaModelView {
                label: m.label.clone(),
                files: m.files.clone(),
                predictions: m.predictions,
                scored: m.scored.len(),
                rows: table_rows(&m.datasets, rule),
                datasets: m.datasets.clone(),
            })
            .collect(),
        comparison,
        chart,
        issues: results.issues,
        signature: results.signature,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEST: &str = r#"[
 {"id": 1, "answer_type": "CLOSED", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "yes"}]},
 {"id": 2, "answer_type": "OPEN", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "left lung"}]},
 {"id": 3, "answer_type": "OPEN", "conversations": [{"from": "human", "value": "q"}, {"from": "gpt", "value": "liver"}]}
]"#;

    fn file(name: &str, text: &str) -> VqaFile {
        VqaFile {
            name: name.to_owned(),
            text: text.to_owned(),
            dataset: None,
        }
    }

    fn query(pair: Option<(usize, usize)>) -> VqaQuery {
        VqaQuery {
            references: vec![file("vqa_rad.json", TEST)],
            models: vec![
                VqaModel {
                    label: "before".to_owned(),
                    files: vec![file(
                        "before.jsonl",
                        "{\"question_id\": 1, \"text\": \"no\"}\n{\"question_id\": 2, \"text\": \"lung\"}\n{\"question_id\": 3, \"text\": \"spleen\"}\n",
                    )],
                },
                VqaModel {
                    label: "after <b>".to_owned(),
                    files: vec![file(
                        "after.jsonl",
                        "{\"question_id\": 1, \"text\": \"yes\"}\n{\"question_id\": 2, \"text\": \"left lung\"}\nbroken\n",
                    )],
                },
            ],
            rule: "run_eval_batch".to_owned(),
            stats: StatsConfig::default(),
            pair,
        }
    }

    #[test]
    fn the_view_holds_the_clis_cells_and_the_chosen_comparison() {
        let view = vqa_view(&query(Some((0, 1)))).expect("scores");
        assert_eq!(view.models.len(), 2);
        assert_eq!(view.models[0].rows[0][0], "dataset");
        assert_eq!(view.models[0].rows[1][0], "vqa_rad");
        assert_eq!(view.models[1].rows[1][1], "1", "one open question answered");
        let comparison = view.comparison.clone().expect("a comparison");
        assert_eq!(comparison.baseline, "before");
        assert_eq!(comparison.model, "after <b>");
        assert_eq!(comparison.rows.len(), 2);
        assert!(
            view.issues
                .iter()
                .any(|i| i.source == "after.jsonl" && i.line == 3),
            "{:?}",
            view.issues
        );
        assert!(
            view.signature
                .contains("closed=substring(run_eval_batch.py)")
        );
        let text = serde_json::to_string(&view).expect("serializes");
        let back: VqaView = serde_json::from_str(&text).expect("parses");
        assert_eq!(back.models[1].label, "after <b>");
    }

    #[test]
    fn no_pair_no_comparison_and_a_bad_rule_is_refused() {
        assert!(vqa_view(&query(None)).expect("scores").comparison.is_none());
        assert!(vqa_view(&query(Some((0, 5)))).is_err());
        let mut bad = query(None);
        bad.rule = "nope".to_owned();
        assert!(vqa_view(&bad).is_err());
        assert_eq!(closed_rules()[0].0, "run_eval_batch");
    }
}
