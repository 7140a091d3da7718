//! The comparison view: every model against a baseline, per split and type, with a warning
//! wherever two sides were not scored the same way.

use super::Session;
use medhall_core::chart::RunScores;
use medhall_core::compare;
use medhall_core::dataset::TYPE_FIELD;
use medhall_core::judging::provenance::tally as judge_tally;
use medhall_core::sample::SampleKey;
use medhall_core::summary::{Metric, ScoredSample};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// What the comparison view asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatrixQuery {
    pub metric: String,
    /// A model as [`Session::leaderboard`] gathers them; `None`: the first.
    pub baseline: Option<String>,
}

/// The comparison view's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MatrixView {
    pub matrix: compare::RunsMatrix,
    /// Every model that can be the baseline.
    pub models: Vec<String>,
    /// Why some differences may not compare like with like.
    pub warnings: Vec<String>,
}

/// Warnings for a comparison whose numbers were not all produced the same way: `sources(runs)`
/// names what produced a model's values (each once, sorted); a model with several gets
/// `mixed(name, sources)`, one whose sources differ from the baseline's gets
/// `differs(name, sources, baseline name, baseline sources)`.
fn provenance_warnings(
    models: &[(String, Vec<usize>)],
    baseline: usize,
    sources: impl Fn(&[usize]) -> Vec<String>,
    mixed: impl Fn(&str, &[String]) -> String,
    differs: impl Fn(&str, &[String], &str, &[String]) -> String,
) -> Vec<String> {
    let mut warnings = Vec::new();
    let base = sources(&models[baseline].1);
    for (m, (name, runs)) in models.iter().enumerate() {
        let own = sources(runs);
        if own.len() > 1 {
            warnings.push(mixed(name, &own));
        }
        if m != baseline && !own.is_empty() && !base.is_empty() && own != base {
            warnings.push(differs(name, &own, &models[baseline].0, &base));
        }
    }
    warnings
}

impl Session {
    /// Every model × (split, hallucination type) for one metric, with paired differences
    /// against the baseline model (by default the first) and Benjamini–Hochberg-adjusted
    /// p-values ([`compare::runs_matrix`]). Warns when the compared models were scored against
    /// different reference answers for the samples they share.
    pub fn matrix(&self, query: &MatrixQuery) -> Result<MatrixView, String> {
        let metric = Metric::from_name(&query.metric)
            .ok_or_else(|| format!("unknown metric `{}`", query.metric))?;
        let models = self.complete_models();
        if models.is_empty() {
            return Err("no completely scored run yet".to_owned());
        }
        let baseline = match &query.baseline {
            Some(name) => models
                .iter()
                .position(|(n, _)| n == name)
                .ok_or_else(|| format!("no model named `{name}` is loaded"))?,
            None => 0,
        };
        let samples: Vec<Vec<ScoredSample>> = models
            .iter()
            .map(|(_, runs)| {
                runs.iter()
                    .flat_map(|&r| self.runs[r].scored.iter().cloned())
                    .collect()
            })
            .collect();
        let scores: Vec<RunScores<'_>> = models
            .iter()
            .zip(&samples)
            .map(|((name, _), samples)| RunScores { name, samples })
            .collect();
        let matrix = compare::runs_matrix(&scores, baseline, metric, TYPE_FIELD, &self.stats)
            .ok_or("no baseline model")?;
        let mut warnings = Vec::new();
        let reference_of = |runs: &[usize]| -> HashMap<SampleKey, String> {
            runs.iter()
                .flat_map(|&r| self.runs[r].run.predictions())
                .filter_map(|p| {
                    let (reference, _) =
                        medhall_core::dataset::join_one(p, &self.references, &self.types);
                    Some((p.key.clone(), reference?.to_owned()))
                })
                .collect()
        };
        let base_references = reference_of(&models[baseline].1);
        for (m, (name, runs)) in models.iter().enumerate() {
            if m == baseline {
                continue;
            }
            let differing = reference_of(runs)
                .iter()
                .filter(|(key, text)| base_references.get(*key).is_some_and(|b| b != *text))
                .count();
            if differing > 0 {
                warnings.push(format!(
                    "{name} and the baseline {} were scored against different reference answers for {differing} shared sample(s): their differences mix answer quality with reference changes.",
                    models[baseline].0
                ));
            }
        }
        // A difference is one in answers only when both sides were scored the same way.
        if metric == Metric::BertScore {
            warnings.extend(provenance_warnings(
                &models,
                baseline,
                |runs| self.bertscore_signatures(runs),
                |name, own| {
                    format!(
                        "{name}'s files hold B.Score computed in {} different ways ({}): its means mix them.",
                        own.len(),
                        own.join("; ")
                    )
                },
                |name, own, base_name, base| {
                    format!(
                        "{name}'s B.Score ({}) and the baseline {base_name}'s ({}) were not computed the same way: their difference is not a difference in answers.",
                        own.join("; "),
                        base.join("; ")
                    )
                },
            ));
        }
        if Metric::JUDGE.contains(&metric) {
            warnings.extend(provenance_warnings(
                &models,
                baseline,
                |runs| self.judges_of(runs),
                |name, own| {
                    format!(
                        "{name}'s verdicts come from {} judges ({}): its judge means mix them.",
                        own.len(),
                        own.join("; ")
                    )
                },
                |name, own, base_name, base| {
                    format!(
                        "{name} was judged by {} and the baseline {base_name} by {}: their difference is partly a difference in judges.",
                        own.join("; "),
                        base.join("; ")
                    )
                },
            ));
        }
        Ok(MatrixView {
            matrix,
            models: models.into_iter().map(|(n, _)| n).collect(),
            warnings,
        })
    }

    /// The judges behind the verdicts of `runs`, each once, sorted.
    fn judges_of(&self, runs: &[usize]) -> Vec<String> {
        let mut judges: Vec<String> = runs
            .iter()
            .flat_map(|&r| judge_tally(self.runs[r].run.predictions()).judges)
            .map(|(label, _)| label)
            .collect();
        judges.sort();
        judges.dedup();
        judges
    }

    /// How the B.Score values of `runs` were computed: each distinct metric signature once, and
    /// "from the results files" when some came with the files themselves; sorted.
    fn bertscore_signatures(&self, runs: &[usize]) -> Vec<String> {
        let mut signatures = Vec::new();
        for &r in runs {
            let bertscore = &self.runs[r].bertscore;
            if let Some(signature) = &bertscore.signature
                && !bertscore.values.is_empty()
            {
                signatures.push(signature.clone());
            }
            if bertscore.from_files {
                signatures.push("from the results files' own bertscore field".to_owned());
            }
        }
        signatures.sort();
        signatures.dedup();
        signatures
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::test_support::load;
    use crate::session::{LoadTarget, RowQuery, RowView};
    use medhall_core::judging::provenance::{JudgeIdentity, SampleReply};
    use medhall_core::metrics::lexical::LexicalScorer;
    use medhall_core::metrics::wordnet::WordNet;
    use medhall_core::sample::Split;

    #[test]
    fn matrix_compares_models_with_the_baseline_and_warns_of_different_references() {
        let mut session = Session::default();
        let rows = |answers: &[&str], changed: Option<usize>| {
            let mut text = String::new();
            for (i, answer) in answers.iter().enumerate() {
                let reference = if changed == Some(i) {
                    "Another reference altogether.".to_owned()
                } else {
                    format!("The lesion {i} is in the left lung.")
                };
                text.push_str(
                    &serde_json::json!({"question_id": i, "answer": answer, "gpt4_answer": reference})
                        .to_string(),
                );
                text.push('\n');
            }
            text
        };
        let a: Vec<String> = (0..8)
            .map(|i| format!("The lesion {i} is in the left lung."))
            .collect();
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let b = ["No.", "No.", "No.", "No.", "No.", "No.", "No.", "No."];
        for (id, name, text) in [
            (1, "a.negative.jsonl", rows(&a, None)),
            (2, "b.negative.jsonl", rows(&b, Some(3))),
        ] {
            let run = LoadTarget::Run {
                run: id,
                name: name.to_owned(),
            };
            load(&mut session, id, run, name, &text);
        }
        let mut scorer = LexicalScorer::new(WordNet::embedded());
        while session.score_step(&mut scorer, 4) > 0 {}
        let query = MatrixQuery {
            metric: "meteor".to_owned(),
            baseline: Some("a".to_owned()),
        };
        let view = session.matrix(&query).expect("two models");
        assert_eq!(view.models, vec!["a", "b"]);
        assert_eq!(view.matrix.baseline, "a");
        let difference = view.matrix.cells[1][0]
            .difference
            .as_ref()
            .expect("b against a");
        assert_eq!(difference.n, 8);
        assert!(difference.mean_difference < 0.0);
        assert!(difference.p_adjusted.is_finite() && difference.p_adjusted >= difference.p_value);
        assert!(
            view.matrix.cells[0][0].difference.is_none(),
            "the baseline itself"
        );
        assert_eq!(view.warnings.len(), 1, "{:?}", view.warnings);
        assert!(view.warnings[0].contains("1 shared sample"));
        // It travels to the page.
        let json = serde_json::to_string(&view).expect("serializes");
        assert_eq!(
            serde_json::from_str::<MatrixView>(&json).expect("reads back"),
            view
        );
        assert!(
            session
                .matrix(&MatrixQuery {
                    baseline: Some("c".to_owned()),
                    ..query
                })
                .is_err()
        );

        // "Runs disagree": both runs' answers side by side, the biggest differences first.
        let page = session.rows(&RowQuery {
            disagree: Some((1, 2, "meteor".to_owned())),
            limit: 100,
            ..RowQuery::default()
        });
        assert_eq!(page.total, 16, "eight samples, two answers each");
        let runs: Vec<u32> = page.rows.iter().map(|r| r.run).collect();
        assert_eq!(&runs[..4], &[1, 2, 1, 2]);
        let meteor = |row: &RowView| row.metrics[3].expect("meteor");
        let gaps: Vec<f64> = page
            .rows
            .chunks(2)
            .map(|pair| {
                assert_eq!(pair[0].key, pair[1].key);
                (meteor(&pair[0]) - meteor(&pair[1])).abs()
            })
            .collect();
        assert!(gaps.windows(2).all(|w| w[0] >= w[1]), "{gaps:?}");
        assert!(gaps[0] > 0.5, "{gaps:?}");

        // B.Score computed two ways is not compared as if it were one metric.
        for (run, signature, f1) in [(1, "bertscore:model=x", 0.9), (2, "bertscore:model=y", 0.8)] {
            let plan = session.bertscore_plan(run, signature).expect("plan");
            let scores = plan
                .splits
                .iter()
                .flat_map(|s| &s.items)
                .map(|i| (i.key.clone(), i.pair.clone(), f1))
                .collect();
            assert_eq!(session.apply_bertscore(run, signature, scores), Ok(8));
        }
        let view = session
            .matrix(&MatrixQuery {
                metric: "bertscore".to_owned(),
                baseline: Some("a".to_owned()),
            })
            .expect("two models");
        assert!(
            view.warnings
                .iter()
                .any(|w| w.contains("not computed the same way") && w.contains("model=y")),
            "{:?}",
            view.warnings
        );
        let difference = view.matrix.cells[1][0]
            .difference
            .as_ref()
            .expect("b against a");
        assert!((difference.mean_difference + 0.1).abs() < 1e-12);

        // Judge columns from two judges are compared with a warning naming both.
        let all = || -> Vec<SampleReply> {
            (0..8)
                .map(|i| SampleReply::text(key_of_negative(i), "5 5 5 5\nok"))
                .collect()
        };
        let judge_a = JudgeIdentity::current("judge-a", "a.example");
        let judge_b = JudgeIdentity::current("judge-b", "b.example");
        assert_eq!(session.apply_verdicts(1, all(), &judge_a), Ok(8));
        assert_eq!(session.apply_verdicts(2, all(), &judge_b), Ok(8));
        let view = session
            .matrix(&MatrixQuery {
                metric: "clinical_accuracy".to_owned(),
                baseline: Some("a".to_owned()),
            })
            .expect("two models");
        assert!(
            view.warnings
                .iter()
                .any(|w| w.contains("difference in judges")
                    && w.contains("judge-a @ a.example")
                    && w.contains("judge-b @ b.example")),
            "{:?}",
            view.warnings
        );
    }

    fn key_of_negative(i: usize) -> SampleKey {
        SampleKey {
            split: Split::Negative,
            question_id: i.to_string(),
        }
    }
}
