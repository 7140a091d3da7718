//! Publishing: the leaderboard with the runs placed in it, and the files the app offers for
//! download (summaries with their signature, per-sample scores).

use super::models::model_of;
use super::{RunState, RunSummary, Session};
use medhall_core::chart;
use medhall_core::export::{CsvCell, csv_row};
use medhall_core::judging::provenance::{JudgeTally, tally as judge_tally};
use medhall_core::leaderboard;
use medhall_core::stats::StatsConfig;
use medhall_core::summary::{GroupSummary, PerSampleLine};
use serde::{Deserialize, Serialize};

/// Which model (leaderboard row) a run went into.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardMember {
    pub run: u32,
    pub run_name: String,
    pub model: String,
}

/// The leaderboard as the page shows it: the published rows and the runs' rows, ranked.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LeaderboardView {
    /// Where the published rows come from (the benchmark's README) and at which commit.
    pub source: String,
    pub commit: String,
    pub groups: Vec<String>,
    pub notes: Vec<String>,
    pub rows: Vec<leaderboard::Row>,
    pub members: Vec<LeaderboardMember>,
    /// Which judge gave each of the runs' rows its four judge columns (the published rows'
    /// are the benchmark's gpt-4o), one line a row, a mix of judges flagged.
    #[serde(default)]
    pub judge_notes: Vec<String>,
    /// Runs still loading or being scored: not in the table yet.
    pub pending: usize,
}

/// A file the app offers for download.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Export {
    pub file_name: String,
    pub mime: String,
    pub text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ExportKind {
    SummaryJson,
    SummaryCsv,
    PerSample,
}

fn model_file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

impl Session {
    /// The benchmark's leaderboard with the completely scored runs placed in it. Runs are
    /// gathered into models (a model's positive and negative files form one row) by the name
    /// `names` gives a run (run id, model), else by [`model_name`]; a run joins a model only when
    /// they share no split. Cells come from the runs' cached split-level summaries (the same
    /// means and intervals as the summary table).
    pub fn leaderboard(&self, names: &[(u32, String)]) -> Result<LeaderboardView, String> {
        let published = leaderboard::published()?;
        let complete: Vec<&RunState> = self.runs.iter().filter(|r| r.complete()).collect();
        let split_groups = |run: &RunState| -> Vec<GroupSummary> {
            run.summary(&self.stats)
                .iter()
                .filter(|g| g.value.is_none())
                .cloned()
                .collect()
        };
        let models = chart::group_models(
            &complete,
            |run| model_of(names, run.id, &run.name),
            |run| run.name.clone(),
            |run| split_groups(run).iter().map(|g| g.split).collect(),
        );
        let mut members = Vec::new();
        let mut rows = Vec::new();
        let mut judge_notes = Vec::new();
        for (model, indices) in &models {
            let mut judges = JudgeTally::default();
            for &i in indices {
                judges.absorb(&judge_tally(complete[i].run.predictions()));
            }
            if !judges.judges.is_empty() {
                let labels: Vec<&str> = judges.judges.iter().map(|(l, _)| l.as_str()).collect();
                judge_notes.push(if judges.is_mixed() {
                    format!(
                        "{model}: judge columns MIX {} judges ({}): not one judge's means.",
                        labels.len(),
                        labels.join("; ")
                    )
                } else {
                    format!("{model}: judge columns by {}.", labels[0])
                });
            }
            let groups: Vec<GroupSummary> = indices
                .iter()
                .flat_map(|&i| split_groups(complete[i]))
                .collect();
            rows.push(leaderboard::run_row(model, &groups));
            members.extend(indices.iter().map(|&i| LeaderboardMember {
                run: complete[i].id,
                run_name: complete[i].name.clone(),
                model: model.clone(),
            }));
        }
        Ok(LeaderboardView {
            rows: leaderboard::table(&published, rows),
            source: published.source,
            commit: published.commit,
            groups: published.groups,
            notes: published.notes,
            members,
            judge_notes,
            pending: self.runs.len() - complete.len(),
        })
    }

    /// The summary as JSON or CSV (both carry the signature), or one run's per-sample scores in
    /// the CLI's `--per-sample` format.
    pub fn export(&self, kind: ExportKind, run: Option<u32>) -> Result<Export, String> {
        match kind {
            ExportKind::SummaryJson => {
                #[derive(Serialize)]
                struct Out<'a> {
                    signature: String,
                    stats: StatsConfig,
                    runs: &'a [RunSummary],
                }
                let runs = self.summaries(true);
                let text = serde_json::to_string_pretty(&Out {
                    signature: self.signature(),
                    stats: self.stats,
                    runs: &runs,
                })
                .map_err(|e| e.to_string())?;
                Ok(Export {
                    file_name: "medhall-summary.json".to_owned(),
                    mime: "application/json".to_owned(),
                    text: text + "\n",
                })
            }
            ExportKind::SummaryCsv => {
                let mut text = format!("# signature: {}\n", self.signature());
                text.push_str("run,split,field,value,samples,metric,n,mean,ci_low,ci_high\n");
                for summary in self.summaries(true) {
                    for group in &summary.groups {
                        for m in &group.metrics {
                            let (low, high) = match m.ci95 {
                                Some([l, h]) => (CsvCell::Number(l), CsvCell::Number(h)),
                                None => (CsvCell::Text(""), CsvCell::Text("")),
                            };
                            text.push_str(&csv_row(&[
                                CsvCell::Text(&summary.name),
                                CsvCell::Text(group.split.as_str()),
                                CsvCell::Text(group.field.as_deref().unwrap_or("")),
                                CsvCell::Text(group.value.as_deref().unwrap_or("")),
                                CsvCell::Count(group.samples),
                                CsvCell::Text(&m.metric),
                                CsvCell::Count(m.n),
                                CsvCell::Number(m.mean),
                                low,
                                high,
                            ]));
                        }
                    }
                }
                Ok(Export {
                    file_name: "medhall-summary.csv".to_owned(),
                    mime: "text/csv".to_owned(),
                    text,
                })
            }
            ExportKind::PerSample => {
                let id = run.ok_or("per-sample scores need a run")?;
                let (name, samples) = self.scored(id).ok_or("no such run")?;
                let mut text = String::new();
                for sample in samples {
                    let line = serde_json::to_string(&PerSampleLine::from(sample))
                        .map_err(|e| e.to_string())?;
                    text.push_str(&line);
                    text.push('\n');
                }
                Ok(Export {
                    file_name: format!("{}.per-sample.jsonl", model_file_stem(name)),
                    mime: "application/x-ndjson".to_owned(),
                    text,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::LoadTarget;
    use crate::session::test_support::{REFS, RUN, load, scored_session};
    use medhall_core::metrics::lexical::LexicalScorer;
    use medhall_core::metrics::wordnet::WordNet;
    use medhall_core::sample::{SampleKey, Split};

    #[test]
    fn leaderboard_pairs_a_models_files_into_one_row_unless_renamed() {
        let mut session = scored_session();
        let positive = concat!(
            r#"{"question_id": 1, "question": "Is it clear?", "answer": "It is clear.", "gpt4_answer": "It is clear.", "result": "8 7 6 3\nFine."}"#,
            "\n"
        );
        let run = LoadTarget::Run {
            run: 9,
            name: "model-a.positive.jsonl".to_owned(),
        };
        load(&mut session, 3, run, "model-a.positive.jsonl", positive);
        let mut scorer = LexicalScorer::new(WordNet::embedded());
        while session.score_step(&mut scorer, 2) > 0 {}

        let board = session.leaderboard(&[]).expect("bundled leaderboard");
        let runs: Vec<_> = board.rows.iter().filter(|r| r.is_run).collect();
        assert_eq!(runs.len(), 1, "one row for the model's two files");
        assert_eq!(runs[0].model, "model-a");
        assert_eq!(board.rows.len(), 32, "31 published rows and the run");
        let meteor = |split| {
            session.summaries(false).iter().find_map(|s| {
                s.groups
                    .iter()
                    .find(|g| g.split == split && g.value.is_none())
                    .and_then(|g| g.metrics.iter().find(|m| m.metric == "meteor"))
                    .map(|m| m.mean)
            })
        };
        for split in Split::ALL {
            let cell = runs[0].cell(leaderboard::Column::MScore, split);
            assert_eq!(cell.value, meteor(split), "{split}");
            assert!(cell.rank.is_some());
        }
        let accuracy = runs[0].cell(leaderboard::Column::ClinicalAccuracy, Split::Positive);
        assert_eq!(accuracy.value, Some(8.0));
        let missing = runs[0].cell(leaderboard::Column::ClinicalAccuracy, Split::Negative);
        assert_eq!(missing.value, None);
        assert_eq!(
            missing.missing.as_deref(),
            Some("no judge verdicts in this run")
        );
        let mut members: Vec<_> = board
            .members
            .iter()
            .map(|m| (m.run, m.model.as_str()))
            .collect();
        members.sort();
        assert_eq!(members, vec![(7, "model-a"), (9, "model-a")]);
        assert_eq!(board.pending, 0);
        // The judge behind the row's judge columns: the file's own verdict, the benchmark's.
        assert_eq!(
            board.judge_notes,
            ["model-a: judge columns by gpt-4o (benchmark's files)."]
        );

        // Named apart, the files are two rows.
        let board = session
            .leaderboard(&[(9, "model-b".to_owned())])
            .expect("bundled leaderboard");
        let names: Vec<_> = board
            .rows
            .iter()
            .filter(|r| r.is_run)
            .map(|r| r.model.as_str())
            .collect();
        assert_eq!(names, vec!["model-a", "model-b"]);
    }

    #[test]
    fn detail_and_exports() {
        let session = scored_session();
        let key = SampleKey {
            split: Split::Negative,
            question_id: "1".to_owned(),
        };
        let detail = session.detail(&key).expect("known sample");
        assert_eq!(detail.reference.as_deref(), Some("No mass is seen."));
        assert_eq!(detail.answers.len(), 1);
        assert_eq!(detail.type_value.as_deref(), Some("nonexistent object"));
        let csv = session
            .export(ExportKind::SummaryCsv, None)
            .expect("csv export");
        assert!(csv.text.starts_with("# signature: medhall-lens:"));
        assert!(
            csv.text
                .contains("model-a.negative.jsonl,negative,,,3,meteor,2,")
        );
        let lines = session
            .export(ExportKind::PerSample, Some(7))
            .expect("per-sample export");
        assert_eq!(lines.text.lines().count(), 3);
        let first: PerSampleLine =
            serde_json::from_str(lines.text.lines().next().unwrap_or("")).expect("json line");
        // The file's integer id stays an integer in the export.
        assert_eq!(first.question_id, serde_json::json!(1));
    }

    #[test]
    fn summary_csv_neutralises_formulas_in_names_and_labels() {
        let mut session = Session::default();
        let refs = REFS.replace("nonexistent object", "@SUM(1+1)");
        load(
            &mut session,
            1,
            LoadTarget::Shard,
            "refs.negative.jsonl",
            &refs,
        );
        let name = "=HYPERLINK(\"https://evil.example/\",\"x\").negative.jsonl";
        let run = LoadTarget::Run {
            run: 1,
            name: name.to_owned(),
        };
        load(&mut session, 2, run, "model.negative.jsonl", RUN);
        let mut scorer = LexicalScorer::new(WordNet::embedded());
        while session.score_step(&mut scorer, 2) > 0 {}
        let csv = session
            .export(ExportKind::SummaryCsv, None)
            .expect("csv export")
            .text;
        let rows: Vec<&str> = csv.lines().skip(2).collect();
        assert!(!rows.is_empty());
        for row in &rows {
            assert!(
                row.starts_with("\"'=HYPERLINK(\"\"https://evil.example/\"\",\"\"x\"\").negative.jsonl\",negative,"),
                "{row}"
            );
        }
        assert!(
            rows.iter()
                .any(|r| r.contains(",negative,hallucination_type,\"'@SUM(1+1)\",1,")),
            "{csv}"
        );
        // Numeric cells are written as numbers, never prefixed.
        assert!(!rows.iter().any(|r| r.contains(",'")), "{csv}");
    }
}
