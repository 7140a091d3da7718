//! The charts the page and `medhall report` draw, built from the runs' scored samples.

use super::{RunState, Session};
use medhall_core::chart::{self, ChartKind, ChartQuery, ChartSpec, RunGroups, RunScores};
use medhall_core::dataset::TYPE_FIELD;
use medhall_core::stats::StatsConfig;
use medhall_core::summary::{GroupSummary, Metric, summarize};

impl Session {
    /// The chart a query asks for, built from the runs' scored samples. The gap chart pairs runs
    /// by model (a model's positive and negative files); the paired chart compares the first two
    /// selected runs on the samples they share.
    pub fn chart(&self, query: &ChartQuery) -> Result<ChartSpec, String> {
        let kind = ChartKind::from_name(&query.kind)
            .ok_or_else(|| format!("unknown chart `{}`", query.kind))?;
        let metric = Metric::from_name(&query.metric)
            .ok_or_else(|| format!("unknown metric `{}`", query.metric))?;
        // The query's runs in the query's order (the paired chart is "first minus second").
        let selected: Vec<&RunState> = if query.runs.is_empty() {
            self.runs.iter().filter(|r| r.complete()).collect()
        } else {
            query
                .runs
                .iter()
                .filter_map(|id| self.runs.iter().find(|r| r.id == *id && r.complete()))
                .collect()
        };
        if selected.is_empty() {
            return Err("no completely scored run to chart yet".to_owned());
        }
        let runs: Vec<RunScores<'_>> = selected
            .iter()
            .map(|r| RunScores {
                name: &r.name,
                samples: &r.scored,
            })
            .collect();
        // By-type and judge charts reuse each run's cached summary (same numbers as the table).
        // Until a run's intervals are computed, its means alone: the first chart of a big run
        // does not wait for the bootstrap (the chart is asked again when the intervals come).
        let quick = StatsConfig {
            bootstrap_resamples: 0,
            ..self.stats
        };
        let summaries: Vec<std::borrow::Cow<'_, [GroupSummary]>> = selected
            .iter()
            .map(|r| match r.summary.get() {
                Some(full) => std::borrow::Cow::Borrowed(full.as_slice()),
                None => std::borrow::Cow::Owned(summarize(&r.scored, Some(TYPE_FIELD), &quick)),
            })
            .collect();
        let grouped: Vec<RunGroups<'_>> = selected
            .iter()
            .zip(&summaries)
            .map(|(r, groups)| RunGroups {
                name: &r.name,
                groups,
            })
            .collect();
        Ok(match kind {
            ChartKind::ByType => ChartSpec::Bars(chart::by_type_from(&grouped, metric, TYPE_FIELD)),
            ChartKind::Judge => ChartSpec::Bars(chart::judge_scores_from(&grouped)),
            ChartKind::Distribution => ChartSpec::Histogram(chart::distribution(&runs, metric, 20)),
            ChartKind::Gap => {
                // A model's positive and negative files together (never two files of a split).
                let models = chart::models(&runs);
                let models: Vec<RunScores<'_>> = models.iter().map(|m| m.scores()).collect();
                ChartSpec::Bars(chart::split_gap(&models, metric, TYPE_FIELD, &self.stats))
            }
            ChartKind::Paired => {
                let shares = |a: &RunState, b: &RunState| {
                    a.scored.iter().any(|s| b.run.get(&s.key).is_some())
                };
                let pair = selected.iter().enumerate().find_map(|(i, a)| {
                    selected[i + 1..]
                        .iter()
                        .find(|b| shares(a, b))
                        .map(|b| (*a, *b))
                });
                let (a, b) = pair
                    .ok_or("a paired comparison needs two runs that answered the same questions")?;
                ChartSpec::Bars(chart::paired_differences(
                    RunScores {
                        name: &a.name,
                        samples: &a.scored,
                    },
                    RunScores {
                        name: &b.name,
                        samples: &b.scored,
                    },
                    &Metric::ALL,
                    &self.stats,
                ))
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::LoadTarget;
    use crate::session::test_support::load;
    use medhall_core::metrics::lexical::LexicalScorer;
    use medhall_core::metrics::wordnet::WordNet;

    #[test]
    fn the_first_by_type_chart_does_not_wait_for_the_intervals() {
        let mut session = Session::default();
        let text: String = (0..10)
            .map(|i| {
                let answer = if i % 2 == 0 { "The lung is clear." } else { "A mass." };
                format!(
                    "{}\n",
                    serde_json::json!({"question_id": i, "answer": answer, "gpt4_answer": "The lung is clear."})
                )
            })
            .collect();
        let run = LoadTarget::Run {
            run: 1,
            name: "m.positive.jsonl".to_owned(),
        };
        load(&mut session, 1, run, "m.positive.jsonl", &text);
        let mut scorer = LexicalScorer::new(WordNet::embedded());
        while session.score_step(&mut scorer, 4) > 0 {}
        let query = ChartQuery {
            kind: "by-type".to_owned(),
            metric: "meteor".to_owned(),
            runs: Vec::new(),
        };
        let bars = |spec: ChartSpec| match spec {
            ChartSpec::Bars(chart) => chart
                .series
                .into_iter()
                .flat_map(|s| s.bars.into_iter().flatten())
                .collect::<Vec<_>>(),
            _ => panic!("bars"),
        };
        let before = bars(session.chart(&query).expect("chart"));
        assert!(!before.is_empty() && before.iter().all(|b| b.ci95.is_none()));
        session.summaries(true);
        let after = bars(session.chart(&query).expect("chart"));
        let means = |bars: &[chart::Bar]| bars.iter().map(|b| b.value).collect::<Vec<_>>();
        assert_eq!(means(&before), means(&after), "the same means");
        assert!(
            after.iter().any(|b| b.ci95.is_some()),
            "intervals once computed"
        );
    }
}
