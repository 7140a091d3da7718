//! The sample table: rows filtered, searched, paired ("runs disagree") and paged.

use super::Session;
use medhall_core::dataset::TYPE_FIELD;
use medhall_core::sample::{SampleKey, Split};
use medhall_core::summary::{Metric, ScoredSample};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// A filter over the sample table. Empty/absent parts match everything.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct RowQuery {
    #[serde(default)]
    pub search: String,
    pub split: Option<Split>,
    pub type_value: Option<String>,
    pub run: Option<u32>,
    /// A metric name (as in the CLI) and an inclusive range on it.
    pub metric: Option<String>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// "Runs disagree": the samples both runs (ids) answered with a value of the metric (a
    /// name), the two answers side by side, those whose values differ most first.
    #[serde(default)]
    pub disagree: Option<(u32, u32, String)>,
    #[serde(default)]
    pub offset: usize,
    #[serde(default)]
    pub limit: usize,
}

impl RowQuery {
    fn filter_key(&self) -> RowQuery {
        RowQuery {
            offset: 0,
            limit: 0,
            ..self.clone()
        }
    }
}

/// One table row: one run's answer to one question.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowView {
    pub run: u32,
    pub key: SampleKey,
    pub type_value: Option<String>,
    /// The first characters only; the detail pane has the whole text.
    pub question: String,
    pub answer: String,
    /// In [`Metric::ALL`] order.
    pub metrics: Vec<Option<f64>>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RowsPage {
    pub total: usize,
    pub offset: usize,
    pub rows: Vec<RowView>,
}

const PREVIEW_CHARS: usize = 160;

pub(super) fn preview(text: &str) -> String {
    match text.char_indices().nth(PREVIEW_CHARS) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

pub(super) fn metric_values(sample: Option<&ScoredSample>) -> Vec<Option<f64>> {
    Metric::ALL
        .iter()
        .map(|m| sample.and_then(|s| m.value(s)))
        .collect()
}

impl Session {
    fn matching_rows(&self, query: &RowQuery) -> Vec<(usize, usize)> {
        let needle = query.search.trim().to_lowercase();
        let metric = query.metric.as_deref().and_then(Metric::from_name);
        let mut rows = Vec::new();
        for (r, state) in self.runs.iter().enumerate() {
            if query.run.is_some_and(|id| id != state.id) {
                continue;
            }
            for (i, sample) in state.scored.iter().enumerate() {
                if query.split.is_some_and(|s| s != sample.key.split) {
                    continue;
                }
                if let Some(wanted) = &query.type_value {
                    let value = sample
                        .field(TYPE_FIELD)
                        .unwrap_or(medhall_core::summary::UNLABELLED);
                    if value != wanted {
                        continue;
                    }
                }
                if let Some(metric) = metric {
                    let Some(value) = metric.value(sample) else {
                        continue;
                    };
                    if query.min.is_some_and(|m| value < m) || query.max.is_some_and(|m| value > m)
                    {
                        continue;
                    }
                }
                if !needle.is_empty() {
                    let prediction = &state.run.predictions()[i];
                    let hit = prediction.answer.to_lowercase().contains(&needle)
                        || prediction
                            .question
                            .as_deref()
                            .is_some_and(|q| q.to_lowercase().contains(&needle))
                        || sample.key.question_id == needle;
                    if !hit {
                        continue;
                    }
                }
                rows.push((r, i));
            }
        }
        match &query.disagree {
            Some((a, b, metric)) => self.disagreeing(rows, *a, *b, metric),
            None => rows,
        }
    }

    /// The rows of runs `a` and `b` among `rows`, paired by sample (a's row, then b's), the pairs
    /// ordered by how much their `metric` differs, most first (ties in a's order).
    fn disagreeing(
        &self,
        rows: Vec<(usize, usize)>,
        a: u32,
        b: u32,
        metric: &str,
    ) -> Vec<(usize, usize)> {
        let Some(metric) = Metric::from_name(metric) else {
            return Vec::new();
        };
        let value = |&(r, i): &(usize, usize)| metric.value(&self.runs[r].scored[i]);
        let key = |&(r, i): &(usize, usize)| &self.runs[r].scored[i].key;
        let of_b: HashMap<&SampleKey, (usize, usize)> = rows
            .iter()
            .filter(|(r, _)| self.runs[*r].id == b)
            .map(|row| (key(row), *row))
            .collect();
        // (difference, a's row, b's row); a row is (run index, sample index).
        type Pair = (f64, (usize, usize), (usize, usize));
        let mut pairs: Vec<Pair> = rows
            .iter()
            .filter(|(r, _)| self.runs[*r].id == a && a != b)
            .filter_map(|row_a| {
                let row_b = *of_b.get(key(row_a))?;
                Some(((value(row_a)? - value(&row_b)?).abs(), *row_a, row_b))
            })
            .collect();
        pairs.sort_by(|x, y| y.0.total_cmp(&x.0));
        pairs
            .into_iter()
            .flat_map(|(_, row_a, row_b)| [row_a, row_b])
            .collect()
    }

    /// One page of the sample table. The filtered row list is cached, so scrolling through a
    /// big table only slices it.
    pub fn rows(&mut self, query: &RowQuery) -> RowsPage {
        let key = query.filter_key();
        let cached = self.rows_cache.as_ref().is_some_and(|(k, _)| *k == key);
        if !cached {
            let rows = self.matching_rows(query);
            self.rows_cache = Some((key, rows));
        }
        let all: &[(usize, usize)] = self.rows_cache.as_ref().map_or(&[], |(_, r)| r);
        let start = query.offset.min(all.len());
        let end = start
            .saturating_add(query.limit.clamp(1, 500))
            .min(all.len());
        let rows = all[start..end]
            .iter()
            .map(|&(r, i)| self.row_view(r, i))
            .collect();
        RowsPage {
            total: all.len(),
            offset: start,
            rows,
        }
    }

    /// The sample table's row of run index `r`'s sample `i`.
    pub(super) fn row_view(&self, r: usize, i: usize) -> RowView {
        let state = &self.runs[r];
        let prediction = &state.run.predictions()[i];
        let sample = &state.scored[i];
        let question = prediction
            .question
            .clone()
            .or_else(|| self.references.get(&sample.key)?.question.clone())
            .unwrap_or_default();
        RowView {
            run: state.id,
            key: sample.key.clone(),
            type_value: sample.field(TYPE_FIELD).map(str::to_owned),
            question: preview(&question),
            answer: preview(&prediction.answer),
            metrics: metric_values(Some(sample)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::test_support::scored_session;

    #[test]
    fn rows_filter_search_and_page() {
        let mut session = scored_session();
        let all = session.rows(&RowQuery {
            limit: 10,
            ..RowQuery::default()
        });
        assert_eq!(all.total, 3);
        let search = session.rows(&RowQuery {
            search: "LUNG".to_owned(),
            limit: 10,
            ..RowQuery::default()
        });
        assert_eq!(search.total, 1);
        assert_eq!(search.rows[0].key.question_id, "2");
        let perfect = session.rows(&RowQuery {
            metric: Some("rouge1".to_owned()),
            min: Some(0.99),
            limit: 10,
            ..RowQuery::default()
        });
        assert_eq!(perfect.total, 1);
        let typed = session.rows(&RowQuery {
            type_value: Some("unlabelled".to_owned()),
            limit: 1,
            offset: 1,
            ..RowQuery::default()
        });
        assert_eq!((typed.total, typed.offset, typed.rows.len()), (2, 1, 1));
    }
}
