//! A scoring session: the reference shards, type map and runs that the app's worker holds, fed
//! in chunks, scored in budgeted steps (so a worker can yield between them and stay cancellable),
//! and queried for summaries, table pages, sample details and exports.
//!
//! Nothing here knows about the browser: the worker glue streams bytes in and posts the answers
//! out. The WordNet table is not here either: callers pass a
//! [`LexicalScorer`](crate::metrics::lexical::LexicalScorer), so code that only reads summaries
//! (the app's main thread) never links the table.

mod charts;
mod disagreement;
mod ingest;
mod matrix;
mod rows;
mod samples;
mod scoring;
#[cfg(test)]
mod test_support;

pub use disagreement::{DisagreementQuery, DisagreementView, QUADRANT_LIST_LIMIT};
pub use ingest::{ISSUES_KEPT_PER_KIND, IssueReport, LoadProgress, LoadReport, LoadTarget};
pub use matrix::{MatrixQuery, MatrixView};
pub use rows::{RowQuery, RowView, RowsPage};
pub use samples::{QuestionItem, RunAnswer, SampleDetail};
pub use scoring::{RunInfo, RunSummary};

use crate::chart;
use crate::dataset::{
    Issue, IssueKind, Prediction, ReferenceSet, Run, TYPE_FIELD, TypeMap, join_one, labelled_type,
};
use crate::export::{CsvCell, csv_row};
use crate::identity::{
    bertscore_chunk_hash, model_name, pair_hash, questions_identity, run_identity,
};
use crate::judge::{VerdictRule, parse_verdict};
use crate::judging::messages::ChatMessage;
use crate::judging::plan::asks_again;
use crate::judging::provenance::{JudgeIdentity, JudgeTally, tally as judge_tally};
use crate::judging::types::{TYPE_PROMPT_VERSION, parse_type_reply, type_requests};
use crate::leaderboard;
use crate::sample::{SampleKey, Split};
use crate::signature::{signature, with_type_labellers};
use crate::stats::StatsConfig;
use crate::summary::{GroupSummary, PerSampleLine, ScoredSample, summarize};
use ingest::Load;
use rows::preview;
use serde::{Deserialize, Serialize};
use std::cell::OnceCell;
use std::collections::{BTreeMap, HashMap};

/// A run with its scores so far.
struct RunState {
    id: u32,
    name: String,
    source: String,
    run: Run,
    /// One per prediction, in the run's order; shorter while scoring is under way.
    scored: Vec<ScoredSample>,
    load_issues: IssueReport,
    /// Issues found when joining with the references (no reference, no prediction).
    join_issues: IssueReport,
    /// Means and intervals per split and type, computed once per scoring (the bootstrap is the
    /// slow part on big runs, and several charts and exports use the same numbers).
    summary: OnceCell<Vec<GroupSummary>>,
    /// B.Score computed for this run (see [`Session::apply_bertscore`]).
    bertscore: RunBertScore,
}

/// A run's B.Score values: F1 by sample with the hash of the pair it was computed for (so a
/// value never outlives its texts), under one metric signature.
#[derive(Default)]
struct RunBertScore {
    signature: Option<String>,
    values: HashMap<SampleKey, (String, f64)>,
    /// Some scored sample took its value from its results file's own `bertscore` field (a
    /// `--per-sample` line joined back, say): computed elsewhere, under no known signature.
    from_files: bool,
    /// Kept chunks offered under `signature` whose pairs are not the run's now (the reference
    /// shards may still be loading): tried again after each shard.
    waiting: Vec<BertScoreChunk>,
}

/// A results record's own B.Score: its `bertscore` field, when that is a finite number.
fn bertscore_field(prediction: &Prediction) -> Option<f64> {
    prediction
        .fields
        .iter()
        .find(|(name, _)| name == "bertscore")
        .and_then(|(_, value)| value.trim().parse::<f64>().ok())
        .filter(|v| v.is_finite())
}

impl RunBertScore {
    fn value(&self, key: &SampleKey, reference: &str, answer: &str) -> Option<f64> {
        self.values
            .get(key)
            .filter(|(pair, _)| *pair == pair_hash(reference, answer))
            .map(|(_, f1)| *f1)
    }
}

impl RunState {
    fn complete(&self) -> bool {
        self.scored.len() == self.run.len()
    }

    fn summary(&self, stats: &StatsConfig) -> &[GroupSummary] {
        self.summary
            .get_or_init(|| summarize(&self.scored, Some(TYPE_FIELD), stats))
    }
}

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

/// One sample of a judge run as the page sends it: its key and the judge's messages.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgeRequestItem {
    pub key: SampleKey,
    pub messages: Vec<ChatMessage>,
    /// Expected reply characters, for the cost estimate (`JudgeItem::reply_chars`; 0 for type
    /// labels, a word each).
    #[serde(default)]
    pub reply_chars: u64,
    /// The run already holds a verdict for it (from its file, or a reply applied earlier):
    /// it is not asked again.
    pub judged: bool,
}

/// What judging a run asks: one item per prediction that has its reference and calibration
/// sample, the gaps reported by file and line, and which runs calibrate it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct JudgePlan {
    pub run: u32,
    pub run_name: String,
    /// The run's content (keys and answers), as 16 hex digits: the same file loaded again
    /// (after a reload, or under another name) has the same identity, so verdicts kept for
    /// it apply again; another file's do not.
    pub identity: String,
    /// Names of the runs whose answers and verdicts calibrate the judge.
    pub calibration: Vec<String>,
    pub items: Vec<JudgeRequestItem>,
    pub issues: IssueReport,
}

/// One pair B.Score scores: bert_score's candidate is the reference answer and its reference
/// the run's answer (eval.py's `score(cands=gpt4_answers, refs=answers)`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BertScoreItem {
    pub key: SampleKey,
    /// [`pair_hash`] of the two texts.
    pub pair: String,
    pub candidate: String,
    pub reference: String,
    /// The run holds its value under the signature asked for.
    pub done: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BertScoreSplit {
    pub split: Split,
    /// In the run's order.
    pub items: Vec<BertScoreItem>,
}

/// What B.Score asks for one run (see [`Session::bertscore_plan`]).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BertScorePlan {
    pub run: u32,
    pub run_name: String,
    /// As [`JudgePlan::identity`]: values kept in the browser follow the run's content.
    pub identity: String,
    pub splits: Vec<BertScoreSplit>,
    /// Samples without a reference answer: they get no B.Score.
    pub without_reference: usize,
}

/// One chunk of B.Score values kept as it was computed (the page's IndexedDB): `f1[k]` is the
/// F1 of the pair at `start + k` of `split` in [`Session::bertscore_plan`]'s order, computed
/// together with exactly the pairs [`bertscore_chunk_hash`] `chunk` names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BertScoreChunk {
    pub split: Split,
    pub start: usize,
    pub chunk: String,
    pub f1: Vec<f64>,
}

/// Whether a run name looks like LLaVA-Med's judge-eval files (the benchmark's calibration).
pub fn is_calibration_name(name: &str) -> bool {
    name.to_ascii_lowercase().contains("llava-med")
}

/// The `run` of a [`JudgePlan`] that asks for hallucination types (of the loaded negative
/// reference questions) rather than a run's verdicts.
pub const TYPE_PLAN_RUN: u32 = u32::MAX;

/// The session. See the module documentation.
pub struct Session {
    stats: StatsConfig,
    references: ReferenceSet,
    reference_sources: Vec<String>,
    types: TypeMap,
    /// Models that labelled loaded types (`medhall judge --label-types`), for the signature.
    type_labellers: Vec<String>,
    runs: Vec<RunState>,
    loads: BTreeMap<u32, Load>,
    /// Issues of shard and type-map loads, kept for the app's issue list.
    source_issues: IssueReport,
    rows_cache: Option<(RowQuery, Vec<(usize, usize)>)>,
    /// Fields scored samples keep besides the type (see [`Session::keep_field`]).
    kept_fields: Vec<String>,
}

impl Default for Session {
    fn default() -> Self {
        Self::new(StatsConfig::default())
    }
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
    pub fn new(stats: StatsConfig) -> Self {
        Self {
            stats,
            references: ReferenceSet::default(),
            reference_sources: Vec::new(),
            types: TypeMap::new(),
            type_labellers: Vec::new(),
            runs: Vec::new(),
            loads: BTreeMap::new(),
            source_issues: IssueReport::default(),
            rows_cache: None,
            kept_fields: Vec::new(),
        }
    }

    /// Scored samples keep only the hallucination type of their fields (memory); this keeps
    /// `name` too, for charts grouped by another field (`medhall report --group-by`). Runs
    /// already scored are scored again.
    pub fn keep_field(&mut self, name: &str) {
        if name != TYPE_FIELD && !self.kept_fields.iter().any(|f| f == name) {
            self.kept_fields.push(name.to_owned());
            self.rescore_all();
        }
    }

    pub fn stats(&self) -> StatsConfig {
        self.stats
    }

    /// The metric signature, naming the models that labelled loaded hallucination types and,
    /// when runs carry B.Score, its signature (each distinct one once).
    pub fn signature(&self) -> String {
        let mut text = with_type_labellers(
            signature(&self.stats),
            &self.type_labellers,
            TYPE_PROMPT_VERSION,
        );
        let mut judges = JudgeTally::default();
        for run in &self.runs {
            judges.absorb(&judge_tally(run.run.predictions()));
        }
        if let Some(part) = judges.signature_part() {
            text.push_str(" | ");
            text.push_str(&part);
        }
        let mut seen: Vec<&str> = Vec::new();
        if self.runs.iter().any(|r| r.bertscore.from_files) {
            text.push_str(
                " | bertscore:from the results files' own bertscore field (model, layer and batch unknown)",
            );
        }
        for run in &self.runs {
            if let Some(sig) = run.bertscore.signature.as_deref()
                && !run.bertscore.values.is_empty()
                && !seen.contains(&sig)
            {
                seen.push(sig);
                text.push_str(" | ");
                text.push_str(sig);
            }
        }
        text
    }

    fn rescore_all(&mut self) {
        for run in &mut self.runs {
            run.bertscore.from_files = false;
            run.scored.clear();
            run.join_issues = IssueReport::default();
            run.summary = OnceCell::new();
        }
        self.rows_cache = None;
    }

    /// Samples still to score, over all runs.
    pub fn pending(&self) -> usize {
        self.runs.iter().map(|r| r.run.len() - r.scored.len()).sum()
    }

    pub fn total_predictions(&self) -> usize {
        self.runs.iter().map(|r| r.run.len()).sum()
    }

    pub fn references(&self) -> usize {
        self.references.len()
    }

    pub fn reference_sources(&self) -> &[String] {
        &self.reference_sources
    }

    pub fn typed_samples(&self) -> usize {
        self.types.len()
    }

    pub fn source_issues(&self) -> &IssueReport {
        &self.source_issues
    }

    pub fn rename_run(&mut self, id: u32, name: &str) -> bool {
        match self.runs.iter_mut().find(|r| r.id == id) {
            Some(run) => {
                run.name = name.to_owned();
                true
            }
            None => false,
        }
    }

    pub fn remove_run(&mut self, id: u32) -> bool {
        let before = self.runs.len();
        self.runs.retain(|r| r.id != id);
        self.rows_cache = None;
        before != self.runs.len()
    }

    /// Forgets everything: runs, shards, types and loads under way.
    pub fn clear(&mut self) {
        let kept_fields = std::mem::take(&mut self.kept_fields);
        *self = Session::new(self.stats);
        self.kept_fields = kept_fields;
    }

    /// Scored samples of a run (complete or not), for charts.
    pub fn scored(&self, id: u32) -> Option<(&str, &[ScoredSample])> {
        self.runs
            .iter()
            .find(|r| r.id == id)
            .map(|r| (r.name.as_str(), r.scored.as_slice()))
    }

    /// All runs' scored samples, in list order, for charts.
    pub fn all_scored(&self) -> Vec<(u32, &str, &[ScoredSample])> {
        self.runs
            .iter()
            .map(|r| (r.id, r.name.as_str(), r.scored.as_slice()))
            .collect()
    }

    /// Complete runs gathered into models as [`Session::leaderboard`] does by default: each
    /// model's name and its runs' indices in `self.runs`.
    fn complete_models(&self) -> Vec<(String, Vec<usize>)> {
        let complete: Vec<usize> = (0..self.runs.len())
            .filter(|&r| self.runs[r].complete())
            .collect();
        chart::group_models(
            &complete,
            |&r| model_name(&self.runs[r].name),
            |&r| self.runs[r].name.clone(),
            |&r| {
                Split::ALL
                    .into_iter()
                    .filter(|s| self.runs[r].scored.iter().any(|x| x.key.split == *s))
                    .collect()
            },
        )
        .into_iter()
        .map(|(name, members)| (name, members.into_iter().map(|m| complete[m]).collect()))
        .collect()
    }

    /// The judge requests for run `run`, calibrated with the runs `calibration` (their
    /// answers and verdicts, joined by split and question id); `None` takes every other run
    /// whose name contains "llava-med". Predictions without a reference, question or
    /// calibration sample are reported and left out. A sample with a verdict is `judged` (not
    /// asked again), unless its verdict is unreadable and `retry_unreadable` is set (the
    /// CLI's `--retry-unreadable`).
    pub fn judge_plan(
        &self,
        run: u32,
        calibration: Option<&[u32]>,
        retry_unreadable: bool,
    ) -> Result<JudgePlan, String> {
        let state = self
            .runs
            .iter()
            .find(|r| r.id == run)
            .ok_or_else(|| format!("no run with id {run}"))?;
        let calibrating: Vec<&RunState> = match calibration {
            Some(ids) => ids
                .iter()
                .map(|id| {
                    self.runs
                        .iter()
                        .find(|r| r.id == *id)
                        .ok_or_else(|| format!("no calibration run with id {id}"))
                })
                .collect::<Result<_, _>>()?,
            None => self
                .runs
                .iter()
                .filter(|r| r.id != run && is_calibration_name(&r.name))
                .collect(),
        };
        if calibrating.is_empty() {
            return Err(
                "no calibration run: load LLaVA-Med's judge-eval files (a results file whose \
                 name contains llava-med), or choose the run that calibrates the judge"
                    .to_owned(),
            );
        }
        // Each calibration run covers the samples it holds (LLaVA-Med's two files are two
        // runs); a prediction is left out only when none of them covers it.
        let mut planned: BTreeMap<usize, crate::judging::plan::JudgeItem> = BTreeMap::new();
        let mut first_issues = None;
        for calibration in &calibrating {
            let mut issues = Vec::new();
            for item in crate::judging::plan::plan(
                &state.run,
                &self.references,
                &calibration.run,
                &mut issues,
            ) {
                planned.entry(item.prediction).or_insert(item);
            }
            first_issues.get_or_insert(issues);
        }
        let predictions = state.run.predictions();
        let covered: std::collections::HashSet<(&str, u64)> = planned
            .keys()
            .map(|&i| (&*predictions[i].source, predictions[i].line))
            .collect();
        let mut issues = IssueReport::default();
        issues.extend(
            first_issues
                .unwrap_or_default()
                .into_iter()
                .filter(|i| !covered.contains(&(i.source.as_str(), i.line))),
        );
        let items = planned
            .into_values()
            .map(|item| {
                let prediction = &predictions[item.prediction];
                let has_reply = prediction.judge_text.is_some();
                let readable = prediction.judge.is_some();
                JudgeRequestItem {
                    judged: !asks_again(has_reply, readable, retry_unreadable),
                    reply_chars: item.reply_chars() as u64,
                    key: item.key,
                    messages: item.messages,
                }
            })
            .collect();
        Ok(JudgePlan {
            run,
            run_name: state.name.clone(),
            identity: run_identity(&state.run),
            calibration: calibrating.iter().map(|r| r.name.clone()).collect(),
            items,
            issues,
        })
    }

    /// What labelling the loaded negative questions with hallucination types asks
    /// (`medhall judge --label-types` in the page): one item per negative reference question,
    /// `judged` when it already has a type (a shard field or a type map). The identity covers the
    /// questions, so labels kept in the browser apply to the same shard loaded again.
    pub fn type_plan(&self) -> Result<JudgePlan, String> {
        let mut found = Vec::new();
        let requests = type_requests(&self.references, &self.types, &mut found);
        let mut issues = IssueReport::default();
        issues.extend(found);
        let identity = questions_identity(requests.iter().map(|r| (&r.key, r.question.as_str())));
        let items: Vec<JudgeRequestItem> = requests
            .into_iter()
            .map(|request| JudgeRequestItem {
                key: request.key,
                messages: request.messages,
                reply_chars: 0,
                judged: request.typed,
            })
            .collect();
        if items.is_empty() {
            return Err(
                "no negative reference question is loaded: load the negative reference shard"
                    .to_owned(),
            );
        }
        Ok(JudgePlan {
            run: TYPE_PLAN_RUN,
            run_name: "the hallucination types of the negative questions".to_owned(),
            identity: format!("types-{identity}"),
            calibration: Vec::new(),
            items,
            issues,
        })
    }

    /// Hallucination types from the replies to [`Session::type_plan`]'s requests, each with the
    /// model that gave it: kept like a type map's rows, shown as the model's (never as the
    /// benchmark's) and named in the signature. A reply that names no type is reported and gives
    /// none. Returns how many questions received a type.
    pub fn apply_type_labels(&mut self, labels: Vec<(SampleKey, String, String)>) -> usize {
        let mut applied = 0;
        let mut given: HashMap<SampleKey, String> = HashMap::new();
        for (key, reply, model) in labels {
            match parse_type_reply(&reply) {
                Some(label) => {
                    let label = labelled_type(label, &model);
                    given.insert(key.clone(), label.clone());
                    self.types.insert(key, label);
                    if !self.type_labellers.contains(&model) {
                        self.type_labellers.push(model);
                    }
                    applied += 1;
                }
                None => self.source_issues.add(Issue {
                    kind: IssueKind::MissingField,
                    source: format!("hallucination types from {model}"),
                    line: 0,
                    field: Some("type".to_owned()),
                    message: format!(
                        "the reply for {} question {} names no type: {}",
                        key.split,
                        key.question_id,
                        preview(&reply)
                    ),
                }),
            }
        }
        // Samples already scored take their type in place (the type map wins over a field, as
        // in `join_one`); no score changes, so nothing is scored again.
        if applied > 0 {
            for state in &mut self.runs {
                let mut changed = false;
                for sample in &mut state.scored {
                    if let Some(label) = given.get(&sample.key) {
                        sample.fields.retain(|(name, _)| name != TYPE_FIELD);
                        sample.fields.push((TYPE_FIELD.to_owned(), label.clone()));
                        changed = true;
                    }
                }
                if changed {
                    state.summary = OnceCell::new();
                }
            }
            self.rows_cache = None;
        }
        applied
    }

    /// Gives run `run` the judge's verdicts (the reply texts, kept whole), as if its file had
    /// carried them as `result`: the judge columns, summaries and charts use them. A verdict
    /// whose first line is not four numbers is kept and reported, as on import. Returns how
    /// many samples of the run received one (unknown keys are skipped).
    pub fn apply_verdicts(
        &mut self,
        run: u32,
        verdicts: Vec<(SampleKey, String)>,
        judge: &JudgeIdentity,
    ) -> Result<usize, String> {
        let state = self
            .runs
            .iter_mut()
            .find(|r| r.id == run)
            .ok_or_else(|| format!("no run with id {run}"))?;
        let mut applied = 0;
        for (key, text) in verdicts {
            let Some(prediction) = state.run.get(&key) else {
                continue;
            };
            let (source, line) = (prediction.source.to_string(), prediction.line);
            let located = |kind, message: String| Issue {
                kind,
                source: source.clone(),
                line,
                field: Some("result".to_owned()),
                message: format!(
                    "the judge's reply for {} question {}: {message}",
                    key.split, key.question_id
                ),
            };
            let scores = match parse_verdict(&text) {
                Ok((scores, VerdictRule::Official)) => Some(scores),
                Ok((scores, VerdictRule::Variant)) => {
                    state.load_issues.add(located(
                        IssueKind::VerdictVariant,
                        "judge scores read with a tolerated variant of eval.py's rule".to_owned(),
                    ));
                    Some(scores)
                }
                Err(error) => {
                    state
                        .load_issues
                        .add(located(IssueKind::UnreadableVerdict, error.to_string()));
                    None
                }
            };
            if let Some(position) = state.run.set_judge(&key, scores, text, judge.fields(None)) {
                if let Some(scored) = state.scored.get_mut(position) {
                    scored.judge = scores;
                }
                applied += 1;
            }
        }
        if applied > 0 {
            state.summary = OnceCell::new();
            self.rows_cache = None;
        }
        Ok(applied)
    }

    /// The run's identity as its judge and B.Score plans give it (values kept in the browser are
    /// filed under it), without building a plan.
    pub fn run_identity(&self, run: u32) -> Result<String, String> {
        self.runs
            .iter()
            .find(|r| r.id == run)
            .map(|state| run_identity(&state.run))
            .ok_or_else(|| format!("no run with id {run}"))
    }

    /// What B.Score asks for run `run`: per split, its samples with a reference in the run's
    /// order (bert_score's chunks of pairs follow that order, as `medhall score --bertscore`
    /// scores them), each marked done when the run holds its value under `signature`.
    pub fn bertscore_plan(&self, run: u32, signature: &str) -> Result<BertScorePlan, String> {
        let state = self
            .runs
            .iter()
            .find(|r| r.id == run)
            .ok_or_else(|| format!("no run with id {run}"))?;
        let same = state.bertscore.signature.as_deref() == Some(signature);
        let mut splits = Vec::new();
        let mut without_reference = 0;
        for split in Split::ALL {
            let mut items = Vec::new();
            for prediction in state
                .run
                .predictions()
                .iter()
                .filter(|p| p.key.split == split)
            {
                let (reference, _) = join_one(prediction, &self.references, &self.types);
                let Some(reference) = reference else {
                    without_reference += 1;
                    continue;
                };
                items.push(BertScoreItem {
                    key: prediction.key.clone(),
                    pair: pair_hash(reference, &prediction.answer),
                    candidate: reference.to_owned(),
                    reference: prediction.answer.clone(),
                    done: same
                        && state
                            .bertscore
                            .value(&prediction.key, reference, &prediction.answer)
                            .is_some(),
                });
            }
            if !items.is_empty() {
                splits.push(BertScoreSplit { split, items });
            }
        }
        Ok(BertScorePlan {
            run,
            run_name: state.name.clone(),
            identity: run_identity(&state.run),
            splits,
            without_reference,
        })
    }

    /// Gives run `run` the B.Score values of kept chunks (see [`BertScoreChunk`]) under
    /// `signature`: a chunk counts only where the run's pairs at its place are exactly the pairs
    /// it was computed with (bert_score's padding makes a pair's F1 depend on its neighbours),
    /// else it waits for the next reference shard (values kept in the browser come back before
    /// the shards have loaded). Then as [`Session::apply_bertscore`]; returns how many values
    /// applied now.
    pub fn apply_bertscore_chunks(
        &mut self,
        run: u32,
        signature: &str,
        chunks: &[BertScoreChunk],
    ) -> Result<usize, String> {
        let plan = self.bertscore_plan(run, signature)?;
        let mut scores = Vec::new();
        let mut waiting = Vec::new();
        for chunk in chunks {
            let Some(split) = plan.splits.iter().find(|s| s.split == chunk.split) else {
                waiting.push(chunk.clone());
                continue;
            };
            let Some(items) = chunk
                .start
                .checked_add(chunk.f1.len())
                .and_then(|end| split.items.get(chunk.start..end))
            else {
                waiting.push(chunk.clone());
                continue;
            };
            let same = bertscore_chunk_hash(
                items
                    .iter()
                    .map(|i| (i.candidate.as_str(), i.reference.as_str())),
            ) == chunk.chunk;
            if same {
                scores.extend(
                    items
                        .iter()
                        .zip(&chunk.f1)
                        .map(|(item, &f1)| (item.key.clone(), item.pair.clone(), f1)),
                );
            } else {
                waiting.push(chunk.clone());
            }
        }
        let applied = self.apply_bertscore(run, signature, scores)?;
        if let Some(state) = self.runs.iter_mut().find(|r| r.id == run) {
            state.bertscore.waiting.extend(waiting);
        }
        Ok(applied)
    }

    /// Offers each run's waiting chunks again (after a reference shard loaded).
    fn retry_waiting_bertscore_chunks(&mut self) {
        let waiting: Vec<(u32, String, Vec<BertScoreChunk>)> = self
            .runs
            .iter_mut()
            .filter(|r| !r.bertscore.waiting.is_empty())
            .filter_map(|r| {
                let signature = r.bertscore.signature.clone()?;
                Some((r.id, signature, std::mem::take(&mut r.bertscore.waiting)))
            })
            .collect();
        for (run, signature, chunks) in waiting {
            // The run and its signature exist: this cannot fail.
            let _ = self.apply_bertscore_chunks(run, &signature, &chunks);
        }
    }

    /// Gives run `run` B.Score values (F1 by sample, each with the [`pair_hash`] of the texts it
    /// was computed for) under `signature`. A value counts only while the sample's texts are
    /// the ones it was computed for (so values kept in the browser can be given before the
    /// reference shards have loaded); unknown keys are skipped; values under another signature
    /// than the run's replace them, never mix with them. Returns how many samples of the run
    /// show a value now.
    pub fn apply_bertscore(
        &mut self,
        run: u32,
        signature: &str,
        scores: Vec<(SampleKey, String, f64)>,
    ) -> Result<usize, String> {
        let state = self
            .runs
            .iter_mut()
            .find(|r| r.id == run)
            .ok_or_else(|| format!("no run with id {run}"))?;
        if state.bertscore.signature.as_deref() != Some(signature) {
            state.bertscore = RunBertScore {
                signature: Some(signature.to_owned()),
                values: HashMap::new(),
                from_files: state.bertscore.from_files,
                waiting: Vec::new(),
            };
            // Back to what the files carry, if anything.
            for scored in &mut state.scored {
                scored.bertscore = state.run.get(&scored.key).and_then(bertscore_field);
            }
        }
        let positions: HashMap<&SampleKey, usize> = state
            .scored
            .iter()
            .enumerate()
            .map(|(i, s)| (&s.key, i))
            .collect();
        let mut updates = Vec::new();
        let mut applied = 0;
        for (key, pair, f1) in scores {
            let Some(prediction) = state.run.get(&key) else {
                continue;
            };
            let (reference, _) = join_one(prediction, &self.references, &self.types);
            let current = reference.is_some_and(|r| pair_hash(r, &prediction.answer) == pair);
            if current {
                if let Some(&i) = positions.get(&key) {
                    updates.push((i, f1));
                }
                applied += 1;
            }
            state.bertscore.values.insert(key, (pair, f1));
        }
        for (i, f1) in updates {
            state.scored[i].bertscore = Some(f1);
        }
        if applied > 0 {
            state.summary = OnceCell::new();
            self.rows_cache = None;
        }
        Ok(applied)
    }

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
            |run| {
                names
                    .iter()
                    .find(|(id, _)| *id == run.id)
                    .map(|(_, name)| name.trim().to_owned())
                    .filter(|name| !name.is_empty())
                    .unwrap_or_else(|| model_name(&run.name))
            },
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
    use super::test_support::{REFS, RUN, load, scored_session};
    use super::*;
    use super::{LoadTarget, RowQuery};
    use crate::metrics::lexical::LexicalScorer;
    use crate::metrics::wordnet::WordNet;
    use crate::summary::Metric;

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

    const CALIBRATION: &str = concat!(
        r#"{"question_id": 1, "question": "Is there a mass?", "answer": "No.", "gpt4_answer": "No mass is seen.", "result": "8 8 6 2\nFine."}"#,
        "\n",
        r#"{"question_id": 2, "question": "Is the lung clear?", "answer": "Yes.", "gpt4_answer": "The lung is clear."}"#,
        "\n"
    );

    fn judge_session() -> Session {
        let mut session = scored_session();
        let calibration = LoadTarget::Run {
            run: 8,
            name: "llava-med-v1.5.negative.gpt4o-eval.jsonl".to_owned(),
        };
        load(
            &mut session,
            3,
            calibration,
            "llava-med-v1.5.negative.gpt4o-eval.jsonl",
            CALIBRATION,
        );
        let mut scorer = LexicalScorer::new(WordNet::embedded());
        while session.score_step(&mut scorer, 8) > 0 {}
        session
    }

    fn key(id: &str) -> SampleKey {
        SampleKey {
            split: Split::Negative,
            question_id: id.to_owned(),
        }
    }

    #[test]
    fn a_judge_plan_joins_the_run_with_references_and_the_llava_med_run() {
        let session = judge_session();
        let plan = session.judge_plan(7, None, false).expect("a plan");
        assert_eq!(
            plan.calibration,
            vec!["llava-med-v1.5.negative.gpt4o-eval.jsonl"]
        );
        assert_eq!(plan.run_name, "model-a.negative.jsonl");
        let keys: Vec<_> = plan.items.iter().map(|i| i.key.clone()).collect();
        assert_eq!(keys, vec![key("1")]);
        assert!(!plan.items[0].judged);
        assert_eq!(plan.items[0].messages.len(), 3);
        assert!(
            plan.items[0].messages[1]
                .content
                .contains("A mass is seen.")
        );
        assert!(plan.items[0].messages[2].content.contains("8 8 6 2"));
        // Question 2's calibration sample has no verdict; question 9 has no reference.
        assert_eq!(plan.issues.counts.get(&IssueKind::NoCalibration), Some(&1));
        assert_eq!(plan.issues.counts.get(&IssueKind::NoReference), Some(&1));
        // The identity follows the content, not the run's id or name.
        assert_eq!(plan.identity.len(), 16);
        let mut other = Session::default();
        let renamed = LoadTarget::Run {
            run: 99,
            name: "renamed.negative.jsonl".to_owned(),
        };
        load(&mut other, 1, renamed, "model-a.negative.jsonl", RUN);
        load(
            &mut other,
            2,
            LoadTarget::Run {
                run: 3,
                name: "llava-med.negative.jsonl".to_owned(),
            },
            "llava-med.negative.jsonl",
            CALIBRATION,
        );
        let again = other.judge_plan(99, None, false).expect("a plan");
        assert_eq!(again.identity, plan.identity);
        // The page asks for the identity alone when it restores kept values.
        assert_eq!(other.run_identity(99), Ok(plan.identity.clone()));
        assert_ne!(other.run_identity(3), Ok(plan.identity.clone()));
        assert!(other.run_identity(42).is_err());
        let cal = session.judge_plan(8, None, false);
        assert!(cal.is_err(), "a llava-med run has no other calibration run");
        assert!(session.judge_plan(7, Some(&[8]), false).is_ok());
        assert!(session.judge_plan(7, Some(&[42]), false).is_err());
    }

    #[test]
    fn applied_verdicts_fill_the_judge_columns_and_unreadable_ones_are_reported() {
        let mut session = judge_session();
        let judged = |s: &Session| {
            s.summaries(true)
                .into_iter()
                .find(|r| r.run == 7)
                .and_then(|r| {
                    r.groups[0]
                        .metrics
                        .iter()
                        .find(|m| m.metric == "clinical_accuracy")
                        .map(|m| (m.mean, m.n))
                })
        };
        assert_eq!(judged(&session), None);
        let applied = session
            .apply_verdicts(
                7,
                vec![
                    (key("1"), "6 7 8 9\nClose enough.".to_owned()),
                    (key("2"), "I cannot rate this.".to_owned()),
                    (key("404"), "1 2 3 4".to_owned()),
                ],
                &JudgeIdentity::current("judge-a", "127.0.0.1:8000"),
            )
            .expect("the run exists");
        assert_eq!(applied, 2);
        assert_eq!(judged(&session), Some((6.0, 1)));
        let info = session
            .run_infos()
            .into_iter()
            .find(|r| r.id == 7)
            .expect("run");
        assert_eq!(info.with_judge, 1);
        let label = "judge-a @ 127.0.0.1:8000 (api-defaults, medhalltune-agent.py/1)";
        assert_eq!(info.judges.judges, [(label.to_owned(), 1)]);
        assert!(
            session.signature().contains(&format!("judge_by:{label}")),
            "{}",
            session.signature()
        );
        assert_eq!(
            info.issues.counts.get(&IssueKind::UnreadableVerdict),
            Some(&1)
        );
        let detail = session.detail(&key("2")).expect("sample");
        let answer = detail.answers.iter().find(|a| a.run == 7).expect("run 7");
        assert_eq!(answer.judge_text.as_deref(), Some("I cannot rate this."));
        // Judged samples are not asked again.
        let plan = session.judge_plan(7, None, false).expect("a plan");
        assert!(plan.items.iter().all(|i| i.judged));
        // Unless asked to: then a sample whose verdict is unreadable is asked again, alone.
        let judge_a = JudgeIdentity::current("judge-a", "127.0.0.1:8000");
        let unreadable = vec![(key("1"), "No scores here.".to_owned())];
        assert_eq!(session.apply_verdicts(7, unreadable, &judge_a), Ok(1));
        let retry = session.judge_plan(7, None, true).expect("a plan");
        let again: Vec<&str> = retry
            .items
            .iter()
            .filter(|i| !i.judged)
            .map(|i| i.key.question_id.as_str())
            .collect();
        assert_eq!(again, ["1"]);
        assert!(retry.items.iter().all(|i| i.reply_chars > 0));
        let plan = session.judge_plan(7, None, false).expect("a plan");
        assert!(plan.items.iter().all(|i| i.judged), "kept: paid for");
        let readable = vec![(key("1"), "6 7 8 9\nClose enough.".to_owned())];
        assert_eq!(session.apply_verdicts(7, readable, &judge_a), Ok(1));
        // Another judge's verdict in the same run: shown as a mix, never blended silently.
        session
            .apply_verdicts(
                7,
                vec![(key("2"), "5 5 5 5\nok".to_owned())],
                &JudgeIdentity::current("judge-b", "api.example.org"),
            )
            .expect("the run exists");
        let info = session
            .run_infos()
            .into_iter()
            .find(|r| r.id == 7)
            .expect("run");
        assert!(info.judges.is_mixed(), "{:?}", info.judges);
        assert!(session.signature().contains(",MIXED"));
        let judge = JudgeIdentity::current("judge-a", "127.0.0.1:8000");
        assert!(session.apply_verdicts(1234, Vec::new(), &judge).is_err());
    }

    #[test]
    fn verdicts_applied_before_scoring_are_scored() {
        let mut session = Session::default();
        load(
            &mut session,
            1,
            LoadTarget::Shard,
            "refs.negative.jsonl",
            REFS,
        );
        let run = LoadTarget::Run {
            run: 7,
            name: "model-a.negative.jsonl".to_owned(),
        };
        load(&mut session, 2, run, "model-a.negative.jsonl", RUN);
        session
            .apply_verdicts(
                7,
                vec![(key("1"), "1 2 3 4".to_owned())],
                &JudgeIdentity::current("judge-a", "127.0.0.1:8000"),
            )
            .expect("the run exists");
        let mut scorer = LexicalScorer::new(WordNet::embedded());
        while session.score_step(&mut scorer, 8) > 0 {}
        assert_eq!(session.run_infos()[0].with_judge, 1);
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

    #[test]
    fn model_labelled_types_are_marked_and_named_in_the_signature() {
        let mut session = Session::default();
        let plain = session.signature();
        assert!(!plain.contains("labelled_by"));
        load(
            &mut session,
            1,
            LoadTarget::Shard,
            "val.negative.jsonl",
            "{\"question_id\": 1, \"text\": \"Q?\", \"gpt4_answer\": \"A.\", \"image\": \"n1.jpg\"}\n",
        );
        load(
            &mut session,
            2,
            LoadTarget::TypeMap,
            "types.jsonl",
            "{\"split\": \"negative\", \"question_id\": 1, \"type\": \"object manipulation\", \"labelled_by\": \"gpt-4o\"}\n",
        );
        let signature = session.signature();
        assert!(signature.starts_with(&plain));
        assert!(signature.ends_with("|types:labelled_by=gpt-4o,prompt=medhall-types-1"));
        let questions = session.questions(10, 1, Some(Split::Negative), None);
        assert_eq!(questions.len(), 1);
        assert_eq!(
            session
                .questions(
                    10,
                    1,
                    None,
                    Some("object manipulation (labelled by gpt-4o)")
                )
                .len(),
            1
        );
        session.clear();
        assert_eq!(session.signature(), plain);
    }

    #[test]
    fn type_plan_and_labels_from_a_model() {
        let mut session = Session::default();
        assert!(session.type_plan().is_err(), "no negative questions yet");
        load(
            &mut session,
            1,
            LoadTarget::Shard,
            "val.negative.jsonl",
            "{\"question_id\": 1, \"text\": \"Where is the stent?\\n<image>\", \"gpt4_answer\": \"There is none.\", \"fig_caption\": \"CT\", \"image\": \"a.jpg\"}\n{\"question_id\": 2, \"text\": \"Q2?\", \"gpt4_answer\": \"A.\", \"hallucination_type\": \"object manipulation\", \"image\": \"b.jpg\"}\n",
        );
        let plan = session.type_plan().expect("a plan");
        assert_eq!(plan.run, TYPE_PLAN_RUN);
        assert_eq!(plan.items.len(), 2);
        assert!(
            !plan.items[0].judged && plan.items[1].judged,
            "2 has a type already"
        );
        assert!(
            plan.items[0].messages[1]
                .content
                .contains("Question: Where is the stent?\n")
        );
        assert!(plan.identity.starts_with("types-"));
        assert_eq!(
            session.type_plan().map(|p| p.identity),
            Ok(plan.identity.clone())
        );
        let key = plan.items[0].key.clone();
        let applied = session.apply_type_labels(vec![
            (
                key.clone(),
                "Nonexistent object\nNo stent.".into(),
                "gpt-4o".into(),
            ),
            (
                plan.items[1].key.clone(),
                "not sure".into(),
                "gpt-4o".into(),
            ),
        ]);
        assert_eq!(applied, 1);
        assert_eq!(
            session.source_issues().total(),
            1,
            "the unreadable reply is reported"
        );
        assert!(session.signature().contains("types:labelled_by=gpt-4o"));
        assert_eq!(
            session
                .questions(10, 1, None, Some("nonexistent object (labelled by gpt-4o)"))
                .len(),
            1
        );
        assert!(
            session
                .type_plan()
                .expect("a plan")
                .items
                .iter()
                .all(|i| i.judged)
        );
    }

    #[test]
    fn kept_bertscore_chunks_apply_only_to_the_same_pairs() {
        let mut session = scored_session();
        let plan = session.bertscore_plan(7, "bertscore:a").expect("plan");
        let items = plan.splits[0].items.clone();
        let split = plan.splits[0].split;
        let hash = |items: &[BertScoreItem]| {
            bertscore_chunk_hash(
                items
                    .iter()
                    .map(|i| (i.candidate.as_str(), i.reference.as_str())),
            )
        };
        // Computed beside another neighbour: the same first pair, another chunk.
        let other = bertscore_chunk_hash([
            (items[0].candidate.as_str(), items[0].reference.as_str()),
            ("another", "pair"),
        ]);
        let stale = BertScoreChunk {
            split,
            start: 0,
            chunk: other,
            f1: vec![0.5, 0.6],
        };
        assert_eq!(
            session.apply_bertscore_chunks(7, "bertscore:a", std::slice::from_ref(&stale)),
            Ok(0)
        );
        // Out of range: skipped, not an error.
        let beyond = BertScoreChunk {
            start: 1,
            chunk: hash(&items),
            ..stale.clone()
        };
        assert_eq!(
            session.apply_bertscore_chunks(7, "bertscore:a", &[beyond]),
            Ok(0)
        );
        let same = BertScoreChunk {
            chunk: hash(&items),
            ..stale
        };
        assert_eq!(
            session.apply_bertscore_chunks(7, "bertscore:a", std::slice::from_ref(&same)),
            Ok(2)
        );
        let plan = session.bertscore_plan(7, "bertscore:a").expect("plan");
        assert!(plan.splits[0].items.iter().all(|i| i.done));

        // Offered before the reference shard has loaded (a reload): applied once it has.
        let mut early = Session::default();
        let run = LoadTarget::Run {
            run: 7,
            name: "model-a.negative.jsonl".to_owned(),
        };
        load(&mut early, 2, run, "model-a.negative.jsonl", RUN);
        assert_eq!(
            early.apply_bertscore_chunks(7, "bertscore:a", &[same]),
            Ok(0)
        );
        load(
            &mut early,
            1,
            LoadTarget::Shard,
            "refs.negative.jsonl",
            REFS,
        );
        let mut scorer = LexicalScorer::new(WordNet::embedded());
        while early.score_step(&mut scorer, 2) > 0 {}
        let plan = early.bertscore_plan(7, "bertscore:a").expect("plan");
        assert!(plan.splits[0].items.iter().all(|i| i.done));
        let bert = early.summaries(true)[0].groups[0]
            .metrics
            .iter()
            .find(|m| m.metric == "bertscore")
            .map(|m| m.n);
        assert_eq!(bert, Some(2));
    }

    #[test]
    fn bertscore_values_join_the_run_and_follow_their_texts() {
        let mut session = scored_session();
        let plan = session.bertscore_plan(7, "bertscore:a").expect("plan");
        assert_eq!(plan.without_reference, 1);
        assert_eq!(plan.splits.len(), 1);
        let items = &plan.splits[0].items;
        // The run's order; the reference answer is bert_score's candidate.
        assert_eq!(
            items
                .iter()
                .map(|i| i.key.question_id.as_str())
                .collect::<Vec<_>>(),
            ["1", "2"]
        );
        assert_eq!(items[0].candidate, "No mass is seen.");
        assert_eq!(items[0].reference, "A mass is seen.");
        assert!(items.iter().all(|i| !i.done));
        let no_bertscore = session.summaries(false)[0].groups[0]
            .metrics
            .iter()
            .all(|m| m.metric != "bertscore");
        assert!(no_bertscore);
        // A value for another pair (stale texts) is skipped.
        let scores = vec![
            (items[0].key.clone(), items[0].pair.clone(), 0.5),
            (items[1].key.clone(), pair_hash("old", "texts"), 0.9),
        ];
        assert_eq!(session.apply_bertscore(7, "bertscore:a", scores), Ok(1));
        let summary = &session.summaries(true)[0].groups[0];
        let bert = summary
            .metrics
            .iter()
            .find(|m| m.metric == "bertscore")
            .expect("bertscore mean");
        assert_eq!((bert.n, bert.mean), (1, 0.5));
        assert!(session.signature().ends_with(" | bertscore:a"));
        let plan = session.bertscore_plan(7, "bertscore:a").expect("plan");
        assert_eq!(
            plan.splits[0]
                .items
                .iter()
                .map(|i| i.done)
                .collect::<Vec<_>>(),
            [true, false]
        );
        // Another signature: nothing is done under it, and its values replace the old ones.
        let plan = session.bertscore_plan(7, "bertscore:b").expect("plan");
        assert!(plan.splits[0].items.iter().all(|i| !i.done));
        let items = plan.splits[0].items.clone();
        let scores = vec![(items[1].key.clone(), items[1].pair.clone(), 0.25)];
        assert_eq!(session.apply_bertscore(7, "bertscore:b", scores), Ok(1));
        let export = session
            .export(ExportKind::PerSample, Some(7))
            .expect("export");
        let lines: Vec<serde_json::Value> = export
            .text
            .lines()
            .map(|l| serde_json::from_str(l).expect("json"))
            .collect();
        assert_eq!(lines[0].get("bertscore"), None);
        assert_eq!(lines[1]["bertscore"], 0.25);
        assert!(!session.signature().contains("bertscore:a"));
        // A rescore (new references) keeps the values whose texts did not change.
        load(
            &mut session,
            3,
            LoadTarget::Shard,
            "more.jsonl",
            "{\"question_id\": 5, \"text\": \"q\", \"gpt4_answer\": \"a\"}\n",
        );
        let mut scorer = LexicalScorer::new(WordNet::embedded());
        while session.score_step(&mut scorer, 2) > 0 {}
        let rows = session.rows(&RowQuery {
            limit: 10,
            ..RowQuery::default()
        });
        let position = Metric::ALL
            .iter()
            .position(|m| *m == Metric::BertScore)
            .expect("listed");
        let values: Vec<Option<f64>> = rows.rows.iter().map(|r| r.metrics[position]).collect();
        assert!(values.contains(&Some(0.25)), "{values:?}");
        assert_eq!(
            session.apply_bertscore(99, "x", Vec::new()),
            Err("no run with id 99".to_owned())
        );
    }

    #[test]
    fn a_results_file_can_carry_its_own_bertscore() {
        let mut session = Session::default();
        load(
            &mut session,
            1,
            LoadTarget::Shard,
            "refs.negative.jsonl",
            REFS,
        );
        let run = LoadTarget::Run {
            run: 3,
            name: "carried.negative.jsonl".to_owned(),
        };
        let text = concat!(
            r#"{"question_id": 1, "answer": "A mass is seen.", "bertscore": 0.75}"#,
            "\n",
            r#"{"question_id": 2, "answer": "The lung is clear.", "bertscore": "0.25"}"#,
            "\n"
        );
        load(&mut session, 2, run, "carried.negative.jsonl", text);
        let mut scorer = LexicalScorer::new(WordNet::embedded());
        while session.score_step(&mut scorer, 8) > 0 {}
        let summary = &session.summaries(true)[0].groups[0];
        let bert = summary
            .metrics
            .iter()
            .find(|m| m.metric == "bertscore")
            .expect("the file's values");
        assert_eq!((bert.n, bert.mean), (2, 0.5));
        assert!(
            session
                .signature()
                .contains("bertscore:from the results files")
        );
        // A computed value wins over the file's.
        let plan = session.bertscore_plan(3, "bertscore:x").expect("plan");
        let item = &plan.splits[0].items[0];
        let scores = vec![(item.key.clone(), item.pair.clone(), 0.25)];
        assert_eq!(session.apply_bertscore(3, "bertscore:x", scores), Ok(1));
        let bert = session.summaries(true)[0].groups[0]
            .metrics
            .iter()
            .find(|m| m.metric == "bertscore")
            .expect("values")
            .clone();
        assert_eq!((bert.n, bert.mean), (2, 0.25));
    }
}
