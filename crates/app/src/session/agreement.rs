//! Human ratings against the loaded runs' judges (issue 30): rating plans drawn from loaded
//! runs, the agreement tables of rating files against the judges of chosen runs, and, once a
//! rater is done, the judge's scores of the items they rated. The statistics and the plan are
//! `medhall_core::agreement`'s, the functions `medhall rate-plan` and `medhall agreement` call.

use super::Session;
use super::models::model_of;
use medhall_core::agreement::{
    AgreementReport, FileCount, PlanCandidate, PlanQuery, RatingPlan, RatingTable, agreement,
    rating_plan,
};
use medhall_core::dataset::{Issue, Prediction, reference_type};
use medhall_core::judging::provenance::judge_label;
use medhall_core::sample::SampleKey;
use medhall_core::stats::StatsConfig;
use serde::{Deserialize, Serialize};

/// A plan drawn from the answers of `runs` (the runs of one model, usually: ratings are keyed
/// by question, so two models' answers to one question cannot both be rated in one plan).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatePlanQuery {
    pub runs: Vec<u32>,
    pub plan: PlanQuery,
}

/// A rating file the page read (its name and text).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingFile {
    pub name: String,
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgreementQuery {
    pub ratings: Vec<RatingFile>,
    /// Runs whose verdicts are judges: runs of one model (`models::model_of`, with `names`)
    /// are one judge, their rows in run-list order (as `--judged pos,neg`).
    pub runs: Vec<u32>,
    #[serde(default)]
    pub names: Vec<(u32, String)>,
    pub resamples: u32,
    pub seed: u64,
    pub top: usize,
}

/// A judge as the page lists it: its model (the runs' name) and the runs it came from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgeSource {
    pub model: String,
    pub runs: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgreementView {
    pub report: AgreementReport,
    pub rating_files: Vec<FileCount>,
    pub judges: Vec<JudgeSource>,
    pub issues: Vec<Issue>,
}

/// The judge's scores of a rated item, shown once the rater is done.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgedItem {
    pub key: SampleKey,
    pub run: String,
    pub judge: String,
    pub scores: [f64; 4],
}

impl Session {
    /// The runs `ids` names, in run-list order.
    fn chosen_runs(&self, ids: &[u32]) -> impl Iterator<Item = &super::RunState> + Clone {
        self.runs.iter().filter(move |r| ids.contains(&r.id))
    }

    /// A rating plan from the answers of `query.runs` (every run when none is named), with
    /// what the reference shards add (caption, question, reference, type).
    pub fn rating_plan(&self, query: &RatePlanQuery) -> Result<RatingPlan, String> {
        let all: Vec<u32> = self.runs.iter().map(|r| r.id).collect();
        let ids = if query.runs.is_empty() {
            &all
        } else {
            &query.runs
        };
        let candidates: Vec<PlanCandidate> = self
            .chosen_runs(ids)
            .flat_map(|state| state.run.predictions())
            .map(|prediction| {
                let shard = self.references.get(&prediction.key);
                let shard_type = shard.and_then(|r| reference_type(r, &self.types));
                PlanCandidate::of(prediction, shard, shard_type)
            })
            .collect();
        rating_plan(&candidates, &query.plan).map_err(|e| e.to_string())
    }

    /// The agreement of the rating files with the judges of the chosen runs: the rating files
    /// first, in the order given, then one judge per model (the same order of inputs as
    /// `medhall agreement --ratings A B --judged P,N`, so the same figures).
    pub fn agreement(&self, query: &AgreementQuery) -> AgreementView {
        let mut issues = Vec::new();
        let mut table = RatingTable::default();
        let rating_files = query
            .ratings
            .iter()
            .map(|file| table.add_ratings(&file.name, file.text.as_bytes(), &mut issues))
            .collect();
        let mut models: Vec<(String, Vec<&super::RunState>)> = Vec::new();
        for state in self.chosen_runs(&query.runs) {
            let model = model_of(&query.names, state.id, &state.name);
            match models.iter_mut().find(|(m, _)| *m == model) {
                Some((_, runs)) => runs.push(state),
                None => models.push((model, vec![state])),
            }
        }
        let mut judges = Vec::new();
        for (model, runs) in &models {
            let predictions = runs.iter().flat_map(|r| r.run.predictions().iter());
            table.add_judge_predictions(predictions, &mut issues);
            judges.push(JudgeSource {
                model: model.clone(),
                runs: runs.iter().map(|r| r.name.clone()).collect(),
            });
        }
        let stats = StatsConfig {
            bootstrap_resamples: query.resamples,
            seed: query.seed,
            ..self.stats
        };
        AgreementView {
            report: agreement(&table, &stats, query.top),
            rating_files,
            judges,
            issues,
        }
    }

    /// The verdicts the loaded runs hold for `keys`: every run's, with its judge.
    pub fn judged_items(&self, keys: &[SampleKey]) -> Vec<JudgedItem> {
        let mut out = Vec::new();
        for key in keys {
            for state in &self.runs {
                let Some(prediction) = state.run.get(key) else {
                    continue;
                };
                if let Some(item) = judged(key, &state.name, prediction) {
                    out.push(item);
                }
            }
        }
        out
    }
}

fn judged(key: &SampleKey, run: &str, prediction: &Prediction) -> Option<JudgedItem> {
    let judge = prediction.judge?;
    Some(JudgedItem {
        key: key.clone(),
        run: run.to_owned(),
        judge: judge_label(&prediction.fields),
        scores: judge.to_array(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::LoadTarget;
    use crate::session::test_support::load;
    use medhall_core::agreement::read_judged;
    use medhall_core::dataset::Run;
    use medhall_core::sample::Split;

    fn judged_lines(offset: u32) -> String {
        (0..12)
            .map(|i| {
                let s = |k: u32| 1 + (i * 3 + k + offset) % 10;
                format!(
                    "{{\"question_id\": {i}, \"question\": \"q{i}?\\n<image>\", \"answer\": \"a{i}\", \"gpt4_answer\": \"r{i}\", \"fig_caption\": \"c{i}\", \"result\": \"{} {} {} {}\\nwhy\"}}\n",
                    s(0), s(1), s(2), s(3)
                )
            })
            .collect()
    }

    fn session() -> Session {
        let mut session = Session::default();
        for (job, (id, name)) in [(1, "j.positive.jsonl"), (2, "j.negative.jsonl")]
            .into_iter()
            .enumerate()
        {
            let target = LoadTarget::Run {
                run: id,
                name: name.to_owned(),
            };
            load(
                &mut session,
                job as u32 + 1,
                target,
                name,
                &judged_lines(id),
            );
        }
        session
    }

    #[test]
    fn a_plan_from_loaded_runs_shows_no_judge_and_no_model() {
        let session = session();
        let query = RatePlanQuery {
            runs: vec![],
            plan: PlanQuery {
                per_split: 5,
                seed: 3,
                ..PlanQuery::default()
            },
        };
        let plan = session.rating_plan(&query).expect("a plan");
        assert_eq!(plan.items.len(), 10);
        assert_eq!(plan.pool, [12, 12]);
        let text = serde_json::to_string(&plan).expect("json");
        assert!(
            !text.contains("why") && !text.contains("j.positive"),
            "{text}"
        );
        assert_eq!(
            plan.items[0].question.as_deref().map(|q| q.ends_with('?')),
            Some(true)
        );
        assert!(plan.items[0].caption.is_some() && plan.items[0].reference.is_some());
        let only = RatePlanQuery {
            runs: vec![2],
            ..query
        };
        let negative = session.rating_plan(&only).expect("a plan");
        assert!(negative.items.iter().all(|i| i.split == Split::Negative));
    }

    #[test]
    fn agreement_on_loaded_runs_equals_agreement_on_the_files() {
        let session = session();
        let ratings: String = (0..12)
            .map(|i| {
                format!(
                    "{{\"rater\": \"h1\", \"split\": \"positive\", \"question_id\": {i}, \"clinical_accuracy\": {}, \"risk_level\": {}}}\n",
                    1 + i % 10,
                    1 + (i * 7) % 10
                )
            })
            .collect();
        let query = AgreementQuery {
            ratings: vec![RatingFile {
                name: "h1.jsonl".to_owned(),
                text: ratings.clone(),
            }],
            runs: vec![1, 2],
            names: vec![],
            resamples: 200,
            seed: 5,
            top: 3,
        };
        let view = session.agreement(&query);
        assert_eq!(
            view.judges.len(),
            1,
            "the two splits of one model are one judge"
        );
        assert_eq!(
            view.judges[0].runs,
            ["j.positive.jsonl", "j.negative.jsonl"]
        );
        // What `medhall agreement --ratings h1.jsonl --judged pos,neg` computes.
        let mut table = RatingTable::default();
        let mut issues = Vec::new();
        table.add_ratings("h1.jsonl", ratings.as_bytes(), &mut issues);
        let mut run = Run::default();
        read_judged(
            "j.positive.jsonl",
            judged_lines(1).as_bytes(),
            &mut run,
            &mut issues,
        );
        read_judged(
            "j.negative.jsonl",
            judged_lines(2).as_bytes(),
            &mut run,
            &mut issues,
        );
        table.add_judge(&run, &mut issues);
        let stats = StatsConfig {
            bootstrap_resamples: 200,
            seed: 5,
            ..StatsConfig::default()
        };
        let files = agreement(&table, &stats, 3);
        assert_eq!(view.report, files);
        assert!(!files.groups.is_empty());
        let keys = [SampleKey {
            split: Split::Positive,
            question_id: "0".to_owned(),
        }];
        let judged = session.judged_items(&keys);
        assert_eq!(judged.len(), 1);
        assert_eq!(judged[0].run, "j.positive.jsonl");
    }
}
