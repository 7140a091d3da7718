//! Runs as models: a model's positive and negative files are one model, everywhere a model is
//! shown (the summary table, the leaderboard). One rule for which run belongs to which model:
//! the name the user gave the run, else the name its file states (`identity::model_name`); a
//! run joins a model only when they share no split (`chart::group_models`), so no sample is
//! counted twice.

use super::RunSummary;
use medhall_core::chart::group_models;
use medhall_core::identity::model_name;
use medhall_core::sample::Split;
use medhall_core::summary::GroupSummary;
use serde::{Deserialize, Serialize};

/// The model run `run` belongs to: the name `names` gives it (trimmed, when not empty), else the
/// one its file name states.
pub fn model_of(names: &[(u32, String)], run: u32, run_name: &str) -> String {
    names
        .iter()
        .find(|(id, _)| *id == run)
        .map(|(_, name)| name.trim().to_owned())
        .filter(|name| !name.is_empty())
        .unwrap_or_else(|| model_name(run_name))
}

/// One split's means for a model: which run they come from, and the group itself.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelCell {
    pub run: u32,
    pub run_name: String,
    pub group: GroupSummary,
}

/// A row of the model table: the whole model (`value` absent) or one type, with the positive
/// and the negative split side by side, as the benchmark's table has them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelRow {
    pub value: Option<String>,
    pub positive: Option<ModelCell>,
    pub negative: Option<ModelCell>,
}

impl ModelRow {
    pub fn cell(&self, split: Split) -> Option<&ModelCell> {
        match split {
            Split::Positive => self.positive.as_ref(),
            Split::Negative => self.negative.as_ref(),
        }
    }
}

/// A model with its runs (files), its split-level row and a row per type.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub model: String,
    /// (run id, run name), in load order.
    pub runs: Vec<(u32, String)>,
    pub all: ModelRow,
    /// One row per type value, in the order the runs' summaries list them.
    pub types: Vec<ModelRow>,
}

/// The runs' summaries gathered into models (first-seen order), each split's groups side by side.
pub fn model_summaries(runs: &[RunSummary], names: &[(u32, String)]) -> Vec<ModelSummary> {
    let splits_of = |run: &RunSummary| -> Vec<Split> {
        let mut splits: Vec<Split> = run
            .groups
            .iter()
            .filter(|g| g.value.is_none())
            .map(|g| g.split)
            .collect();
        splits.dedup();
        splits
    };
    group_models(
        runs,
        |run| model_of(names, run.run, &run.name),
        |run| run.name.clone(),
        splits_of,
    )
    .into_iter()
    .map(|(model, members)| {
        let mut summary = ModelSummary {
            model,
            runs: members
                .iter()
                .map(|&i| (runs[i].run, runs[i].name.clone()))
                .collect(),
            all: ModelRow {
                value: None,
                positive: None,
                negative: None,
            },
            types: Vec::new(),
        };
        for &i in &members {
            let run = &runs[i];
            for group in &run.groups {
                let row = match &group.value {
                    None => &mut summary.all,
                    Some(value) => {
                        let at = summary
                            .types
                            .iter()
                            .position(|r| r.value.as_deref() == Some(value.as_str()));
                        match at {
                            Some(at) => &mut summary.types[at],
                            None => {
                                summary.types.push(ModelRow {
                                    value: Some(value.clone()),
                                    positive: None,
                                    negative: None,
                                });
                                let last = summary.types.len() - 1;
                                &mut summary.types[last]
                            }
                        }
                    }
                };
                let cell = Some(ModelCell {
                    run: run.run,
                    run_name: run.name.clone(),
                    group: group.clone(),
                });
                match group.split {
                    Split::Positive => row.positive = cell,
                    Split::Negative => row.negative = cell,
                }
            }
        }
        summary
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(split: Split, value: Option<&str>, samples: usize) -> GroupSummary {
        GroupSummary {
            split,
            field: value.map(|_| "type".to_owned()),
            value: value.map(str::to_owned),
            samples,
            metrics: Vec::new(),
        }
    }

    fn run(id: u32, name: &str, groups: Vec<GroupSummary>) -> RunSummary {
        RunSummary {
            run: id,
            name: name.to_owned(),
            model: model_name(name),
            groups,
        }
    }

    #[test]
    fn a_models_two_files_are_one_row_with_both_splits_and_its_types_under_it() {
        let runs = [
            run(
                1,
                "a.positive.jsonl",
                vec![group(Split::Positive, None, 20)],
            ),
            run(
                2,
                "a.negative.jsonl",
                vec![
                    group(Split::Negative, None, 20),
                    group(Split::Negative, Some("knowledge distortion"), 5),
                ],
            ),
            run(3, "b.positive.jsonl", vec![group(Split::Positive, None, 7)]),
            // A second positive file naming model a stays apart: no sample counted twice.
            run(4, "a.positive.jsonl", vec![group(Split::Positive, None, 3)]),
        ];
        let models = model_summaries(&runs, &[]);
        let names: Vec<&str> = models.iter().map(|m| m.model.as_str()).collect();
        assert_eq!(names, ["a", "b", "a.positive.jsonl"]);
        let a = &models[0];
        assert_eq!(a.runs.iter().map(|r| r.0).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(a.all.cell(Split::Positive).map(|c| c.run), Some(1));
        assert_eq!(a.all.cell(Split::Negative).map(|c| c.run), Some(2));
        assert_eq!(a.types.len(), 1);
        assert_eq!(a.types[0].value.as_deref(), Some("knowledge distortion"));
        assert_eq!(
            a.types[0].negative.as_ref().map(|c| c.group.samples),
            Some(5)
        );
        assert!(a.types[0].positive.is_none());
        assert!(models[1].all.negative.is_none());
    }

    #[test]
    fn names_the_user_gives_pair_files_and_split_them_apart() {
        let runs = [
            run(1, "x.positive.jsonl", vec![group(Split::Positive, None, 1)]),
            run(2, "y.negative.jsonl", vec![group(Split::Negative, None, 1)]),
        ];
        assert_eq!(model_summaries(&runs, &[]).len(), 2);
        let paired = model_summaries(&runs, &[(2, " x ".to_owned())]);
        assert_eq!(paired.len(), 1);
        assert_eq!(paired[0].model, "x");
        assert_eq!(
            model_of(&[(2, "  ".to_owned())], 2, "y.negative.jsonl"),
            "y"
        );
    }
}
