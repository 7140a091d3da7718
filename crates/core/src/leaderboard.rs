//! The benchmark's published leaderboard, and the user's runs placed in it.
//!
//! The published rows (31 models in three groups, six columns per split) are bundled as data
//! (`data/leaderboard.json`, copied from the benchmark's README at a pinned commit by
//! `scripts/leaderboard_from_readme.py`). A run's cells are its split-level means from the
//! summary; a column a run lacks is shown as missing, with the reason. Ranks are per column and
//! split among every row that has a value (higher is better in all six columns; equal values
//! share the better rank). The table renders as Markdown and LaTeX in the leaderboard's layout.

use crate::sample::Split;
use crate::summary::GroupSummary;
use serde::{Deserialize, Serialize};

const PUBLISHED_JSON: &str = include_str!("../data/leaderboard.json");

/// The leaderboard's six columns, in its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Column {
    ClinicalAccuracy,
    ClinicalRelevance,
    DetailLevel,
    RiskLevel,
    BScore,
    MScore,
}

impl Column {
    pub const ALL: [Column; 6] = [
        Column::ClinicalAccuracy,
        Column::ClinicalRelevance,
        Column::DetailLevel,
        Column::RiskLevel,
        Column::BScore,
        Column::MScore,
    ];

    /// The heading the leaderboard uses.
    pub fn title(self) -> &'static str {
        match self {
            Column::ClinicalAccuracy => "Clinical Acc",
            Column::ClinicalRelevance => "Clinical Rel",
            Column::DetailLevel => "Detail Level",
            Column::RiskLevel => "Risk Level",
            Column::BScore => "B.Score",
            Column::MScore => "M.Score",
        }
    }

    /// The summary metric the column is the mean of.
    pub fn metric(self) -> &'static str {
        match self {
            Column::ClinicalAccuracy => "clinical_accuracy",
            Column::ClinicalRelevance => "clinical_relevance",
            Column::DetailLevel => "detail_level",
            Column::RiskLevel => "risk_level",
            Column::BScore => "bertscore",
            Column::MScore => "meteor",
        }
    }

    /// Why a run has no value in this column when its split has samples.
    fn missing_reason(self) -> &'static str {
        match self {
            Column::BScore => {
                "B.Score not computed (it needs roberta-large: the page's Compute B.Score, or medhall score --bertscore DIR)"
            }
            Column::MScore => "no reference answers to score against",
            _ => "no judge verdicts in this run",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

#[derive(Deserialize)]
struct PublishedFile {
    source: String,
    commit: String,
    groups: Vec<String>,
    notes: Vec<String>,
    rows: Vec<PublishedFileRow>,
}

#[derive(Deserialize)]
struct PublishedFileRow {
    model: String,
    group: String,
    values: std::collections::BTreeMap<String, [f64; 2]>,
}

/// The published leaderboard.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Published {
    pub source: String,
    pub commit: String,
    pub groups: Vec<String>,
    pub notes: Vec<String>,
    pub rows: Vec<Row>,
}

/// One cell: a split's value in a column, its interval, its rank, or why it is missing.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Cell {
    pub value: Option<f64>,
    pub ci95: Option<[f64; 2]>,
    /// 1 = best, among all rows with a value in this column and split.
    pub rank: Option<usize>,
    pub missing: Option<String>,
}

impl Cell {
    fn value(value: f64, ci95: Option<[f64; 2]>) -> Self {
        Self {
            value: Some(value),
            ci95,
            rank: None,
            missing: None,
        }
    }

    fn missing(reason: impl Into<String>) -> Self {
        Self {
            value: None,
            ci95: None,
            rank: None,
            missing: Some(reason.into()),
        }
    }
}

/// A row: a published model or one of the user's runs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    pub model: String,
    /// The published group, or [`RUNS_GROUP`].
    pub group: String,
    /// True for the user's runs (published rows have no intervals).
    pub is_run: bool,
    /// `cells[column][split]`, split 0 = positive (P), 1 = negative (N).
    pub cells: [[Cell; 2]; 6],
}

impl Row {
    pub fn cell(&self, column: Column, split: Split) -> &Cell {
        &self.cells[column.index()][split_index(split)]
    }
}

/// The group the user's runs are listed under.
pub const RUNS_GROUP: &str = "Your runs";

fn split_index(split: Split) -> usize {
    match split {
        Split::Positive => 0,
        Split::Negative => 1,
    }
}

/// The bundled leaderboard. An error only if the bundled file were broken (a test reads it).
pub fn published() -> Result<Published, String> {
    let file: PublishedFile = serde_json::from_str(PUBLISHED_JSON)
        .map_err(|error| format!("the bundled leaderboard is not readable: {error}"))?;
    let mut rows = Vec::with_capacity(file.rows.len());
    for row in file.rows {
        let cells = Column::ALL.map(|column| match row.values.get(column.metric()) {
            Some(&[p, n]) => [Cell::value(p, None), Cell::value(n, None)],
            None => [
                Cell::missing("not published"),
                Cell::missing("not published"),
            ],
        });
        rows.push(Row {
            model: row.model,
            group: row.group,
            is_run: false,
            cells,
        });
    }
    Ok(Published {
        source: file.source,
        commit: file.commit,
        groups: file.groups,
        notes: file.notes,
        rows,
    })
}

/// A run's row from its summary groups (the split-level ones: no field value).
pub fn run_row(model: &str, groups: &[GroupSummary]) -> Row {
    let cells = Column::ALL.map(|column| {
        Split::ALL.map(|split| {
            let Some(group) = groups
                .iter()
                .find(|g| g.split == split && g.value.is_none())
            else {
                return Cell::missing(format!("no {split} samples in this run"));
            };
            match group.metrics.iter().find(|m| m.metric == column.metric()) {
                Some(metric) => Cell::value(metric.mean, metric.ci95),
                None => Cell::missing(column.missing_reason()),
            }
        })
    });
    Row {
        model: model.to_owned(),
        group: RUNS_GROUP.to_owned(),
        is_run: true,
        cells,
    }
}

/// The leaderboard with the runs inserted: published rows in their order, then the runs; every
/// cell ranked within its column and split.
pub fn table(published: &Published, runs: Vec<Row>) -> Vec<Row> {
    let mut rows: Vec<Row> = published.rows.clone();
    rows.extend(runs);
    for column in Column::ALL {
        for split in 0..2 {
            let values: Vec<f64> = rows
                .iter()
                .filter_map(|r| r.cells[column.index()][split].value)
                .collect();
            for row in &mut rows {
                let cell = &mut row.cells[column.index()][split];
                // Competition ranking: 1 + how many rows are strictly better.
                cell.rank = cell
                    .value
                    .map(|v| 1 + values.iter().filter(|&&other| other > v).count());
            }
        }
    }
    rows
}

/// Sorts rows by one column and split, best first; rows without a value go last.
pub fn sort_by(rows: &mut [Row], column: Column, split: Split) {
    let at = |row: &Row| row.cells[column.index()][split_index(split)].value;
    rows.sort_by(|a, b| match (at(a), at(b)) {
        (Some(x), Some(y)) => y.total_cmp(&x),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => std::cmp::Ordering::Equal,
    });
}

fn format_cell(cell: &Cell) -> String {
    match cell.value {
        Some(value) => format!("{value:.2}"),
        None => "–".to_owned(),
    }
}

fn pair(row: &Row, column: Column) -> String {
    format!(
        "{} / {}",
        format_cell(row.cell(column, Split::Positive)),
        format_cell(row.cell(column, Split::Negative))
    )
}

/// The rows as a Markdown table in the leaderboard's layout (P / N per column, two decimals);
/// runs are marked. Missing values are `–`.
pub fn to_markdown(rows: &[Row]) -> String {
    let mut out = String::from("| Method |");
    for column in Column::ALL {
        out.push_str(&format!(" {} (P/N) |", column.title()));
    }
    out.push_str("\n|------|");
    for _ in Column::ALL {
        out.push_str("------|");
    }
    out.push('\n');
    for row in rows {
        let name = markdown_escape(&row.model);
        let name = if row.is_run {
            format!("**{name}** (this run)")
        } else {
            name
        };
        out.push_str(&format!("| {name} |"));
        for column in Column::ALL {
            out.push_str(&format!(" {} |", pair(row, column)));
        }
        out.push('\n');
    }
    out
}

fn markdown_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '|' | '*' | '_' | '`' | '[' | ']' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

fn latex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' | '%' | '$' | '#' | '_' | '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            '~' => out.push_str("\\textasciitilde{}"),
            '^' => out.push_str("\\textasciicircum{}"),
            '\\' => out.push_str("\\textbackslash{}"),
            '\n' | '\r' => out.push(' '),
            _ => out.push(c),
        }
    }
    out
}

/// The rows as a LaTeX `tabular` (booktabs rules), P / N per column; runs in bold.
pub fn to_latex(rows: &[Row]) -> String {
    let mut out = String::from("\\begin{tabular}{l");
    for _ in Column::ALL {
        out.push('c');
    }
    out.push_str("}\n\\toprule\nMethod");
    for column in Column::ALL {
        out.push_str(&format!(" & {} (P/N)", latex_escape(column.title())));
    }
    out.push_str(" \\\\\n\\midrule\n");
    let mut group: Option<&str> = None;
    for row in rows {
        if group.is_some() && group != Some(row.group.as_str()) {
            out.push_str("\\midrule\n");
        }
        group = Some(&row.group);
        let name = latex_escape(&row.model);
        if row.is_run {
            out.push_str(&format!("\\textbf{{{name}}}"));
        } else {
            out.push_str(&name);
        }
        for column in Column::ALL {
            out.push_str(&format!(" & {}", pair(row, column).replace('–', "--")));
        }
        out.push_str(" \\\\\n");
    }
    out.push_str("\\bottomrule\n\\end{tabular}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::summary::MetricSummary;

    #[test]
    fn the_bundled_leaderboard_has_31_models_in_three_groups() {
        let board = published().expect("bundled data");
        assert_eq!(board.rows.len(), 31);
        assert_eq!(board.groups.len(), 3);
        assert!(board.commit.starts_with("53f3c25c"));
        let llava = board
            .rows
            .iter()
            .find(|r| r.model == "LLaVA-Med-v1.5-7B")
            .expect("LLaVA-Med is published");
        assert_eq!(
            llava.cell(Column::MScore, Split::Positive).value,
            Some(0.38)
        );
        assert_eq!(
            llava.cell(Column::RiskLevel, Split::Negative).value,
            Some(5.89)
        );
        for row in &board.rows {
            for column in Column::ALL {
                for split in Split::ALL {
                    let value = row.cell(column, split).value.expect("every cell published");
                    let bound = if matches!(column, Column::BScore | Column::MScore) {
                        1.0
                    } else {
                        10.0
                    };
                    assert!((0.0..=bound).contains(&value), "{} {value}", row.model);
                }
            }
        }
    }

    fn group(split: Split, metrics: &[(&str, f64)]) -> GroupSummary {
        GroupSummary {
            split,
            field: None,
            value: None,
            samples: 10,
            metrics: metrics
                .iter()
                .map(|(name, mean)| MetricSummary {
                    metric: (*name).to_owned(),
                    n: 10,
                    mean: *mean,
                    ci95: Some([mean - 0.1, mean + 0.1]),
                })
                .collect(),
        }
    }

    #[test]
    fn runs_are_ranked_and_say_what_they_lack() {
        let board = published().expect("bundled data");
        let run = run_row(
            "my-model | v2",
            &[
                group(
                    Split::Positive,
                    &[("clinical_accuracy", 9.5), ("meteor", 0.01)],
                ),
                group(Split::Negative, &[("meteor", 0.5)]),
            ],
        );
        let rows = table(&board, vec![run]);
        let mine = rows.last().expect("the run");
        let cell = mine.cell(Column::ClinicalAccuracy, Split::Positive);
        assert_eq!((cell.rank, cell.ci95), (Some(1), Some([9.4, 9.6])));
        assert_eq!(
            mine.cell(Column::ClinicalAccuracy, Split::Negative)
                .missing
                .as_deref(),
            Some("no judge verdicts in this run")
        );
        assert!(
            mine.cell(Column::BScore, Split::Positive)
                .missing
                .as_deref()
                .is_some_and(|m| m.contains("--bertscore"))
        );
        assert_eq!(mine.cell(Column::MScore, Split::Negative).rank, Some(1));
        // The run's 0.01 ties with MedDr's published 0.01: the same rank.
        let meddr = rows.iter().find(|r| r.model == "MedDr").expect("MedDr");
        let tie = meddr.cell(Column::MScore, Split::Positive).rank;
        assert_eq!(mine.cell(Column::MScore, Split::Positive).rank, tie);
        // Identical published rows share ranks.
        let a = rows.iter().find(|r| r.model == "BiomedGPT").expect("row");
        let b = rows.iter().find(|r| r.model == "MedGemma-4B").expect("row");
        assert_eq!(
            a.cell(Column::RiskLevel, Split::Positive).rank,
            b.cell(Column::RiskLevel, Split::Positive).rank
        );

        let markdown = to_markdown(&rows);
        let lines: Vec<&str> = markdown.lines().collect();
        assert_eq!(lines.len(), 2 + 32);
        assert!(lines[0].starts_with("| Method | Clinical Acc (P/N) |"));
        assert!(
            markdown.contains("| LLaVA-Med-v1.5-7B | 6.28 / 5.03 | 6.78 / 5.39 | 5.48 / 4.84 | 7.39 / 5.89 | 0.91 / 0.89 | 0.38 / 0.23 |")
        );
        assert!(markdown.contains("| **my-model \\| v2** (this run) | 9.50 / – |"));
        let latex = to_latex(&rows);
        assert!(latex.contains("\\textbf{my-model | v2} & 9.50 / --"));
        assert!(latex.starts_with("\\begin{tabular}{lcccccc}"));

        let mut sorted = rows.clone();
        sort_by(&mut sorted, Column::ClinicalAccuracy, Split::Negative);
        assert_eq!(sorted[0].model, "o3");
        assert_eq!(sorted.last().map(|r| r.is_run), Some(true));
    }
}
