//! A scoring session: the reference shards, type map and runs that the app's worker holds, fed
//! in chunks, scored in budgeted steps (so a worker can yield between them and stay cancellable),
//! and queried for summaries, table pages, sample details and exports.
//!
//! Nothing here knows about the browser: the worker glue streams bytes in and posts the answers
//! out. The WordNet table is not here either: callers pass a
//! [`LexicalScorer`](medhall_core::metrics::lexical::LexicalScorer), so code that only reads summaries
//! (the app's main thread) never links the table.
//!
//! This file holds the session's state; each concern adds its methods to [`Session`] in a module
//! of its own, and its public types are re-exported here (`session::RunInfo` and so on):
//! `ingest` (loading), `scoring` (scoring steps, run list, summaries), `rows` (the sample
//! table), `agreement` (rating plans and human ratings against the runs' judges), `samples` (one sample's detail, model-check questions), `matrix` and `disagreement`
//! (the comparison views), `models` (runs gathered into models), `charts`, `judge_plans` and `verdicts`, `type_plans`,
//! `bertscore_plans` and `bertscore_values` (what each asks of a judge or model, and the answers
//! given back), and `publishing` (leaderboard, exports).

mod agreement;
mod bertscore_plans;
mod bertscore_values;
mod charts;
mod disagreement;
mod ingest;
mod judge_plans;
mod matrix;
mod models;
mod publishing;
mod rows;
mod samples;
mod scoring;
#[cfg(test)]
mod test_support;
mod type_plans;
mod verdicts;

pub use agreement::{
    AgreementQuery, AgreementView, JudgeSource, JudgedItem, RatePlanQuery, RatingFile,
};
pub use bertscore_plans::{BertScoreChunk, BertScoreItem, BertScorePlan, BertScoreSplit};
pub use disagreement::{DisagreementQuery, DisagreementView, QUADRANT_LIST_LIMIT};
pub use ingest::{ISSUES_KEPT_PER_KIND, IssueReport, LoadProgress, LoadReport, LoadTarget};
pub use judge_plans::{JudgePlan, JudgeRequestItem, is_calibration_name};
pub use matrix::{MatrixQuery, MatrixView};
pub use models::{ModelCell, ModelRow, ModelSummary, model_of, model_summaries};
pub use publishing::{Export, ExportKind, LeaderboardMember, LeaderboardView};
pub use rows::{RowQuery, RowView, RowsPage};
pub use samples::{QuestionItem, RunAnswer, SampleDetail};
pub use scoring::{RunInfo, RunSummary};
pub use type_plans::TYPE_PLAN_RUN;

use ingest::Load;
use medhall_core::chart;
use medhall_core::dataset::{ReferenceSet, Run, TYPE_FIELD, TypeMap};
use medhall_core::identity::model_name;
use medhall_core::judging::provenance::{JudgeTally, tally as judge_tally};
use medhall_core::judging::types::TYPE_PROMPT_VERSION;
use medhall_core::sample::{SampleKey, Split};
use medhall_core::signature::scores_signature;
use medhall_core::stats::StatsConfig;
use medhall_core::summary::{GroupSummary, ScoredSample, summarize};
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

impl RunState {
    fn complete(&self) -> bool {
        self.scored.len() == self.run.len()
    }

    fn summary(&self, stats: &StatsConfig) -> &[GroupSummary] {
        self.summary
            .get_or_init(|| summarize(&self.scored, Some(TYPE_FIELD), stats))
    }
}

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
        let mut judges = JudgeTally::default();
        for run in &self.runs {
            judges.absorb(&judge_tally(run.run.predictions()));
        }
        let mut parts: Vec<String> = judges.signature_part().into_iter().collect();
        if self.runs.iter().any(|r| r.bertscore.from_files) {
            parts.push(
                "bertscore:from the results files' own bertscore field (model, layer and batch unknown)"
                    .to_owned(),
            );
        }
        for run in &self.runs {
            if let Some(sig) = run.bertscore.signature.as_deref()
                && !run.bertscore.values.is_empty()
                && !parts.iter().any(|p| p == sig)
            {
                parts.push(sig.to_owned());
            }
        }
        scores_signature(
            &self.stats,
            &self.type_labellers,
            TYPE_PROMPT_VERSION,
            parts,
        )
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
}
