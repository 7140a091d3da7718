//! The messages between the app's main thread and its scoring worker. They travel as JSON text
//! (serde on both sides, one definition); a file travels beside its message as the browser's
//! own `File` object, which the worker reads as a stream.

// The chart a `Request::Chart` asks for: defined beside the charts (the session builds them
// without knowing this protocol), carried here.
use crate::session::{
    BertScoreChunk, BertScorePlan, Export, ExportKind, JudgePlan, LoadProgress, LoadReport,
    LoadTarget, QuestionItem, RowQuery, RowsPage, RunInfo, RunSummary, SampleDetail,
};
pub use medhall_core::chart::ChartQuery;
use medhall_core::judging::provenance::{JudgeIdentity, SampleReply};
use medhall_core::sample::{SampleKey, Split};
use serde::{Deserialize, Serialize};

/// Bumped when a message changes shape; the worker states it in its ready message and the app
/// refuses a worker of another version (a stale cached file).
pub const PROTOCOL_VERSION: u32 = 7;

/// Where a load's bytes come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "from", rename_all = "snake_case")]
pub enum Source {
    /// The `File` sent beside this message.
    File { name: String, size: u64 },
    /// Fetched by the worker (streamed, abortable).
    Url { url: String },
}

impl Source {
    pub fn name(&self) -> &str {
        match self {
            Source::File { name, .. } => name,
            Source::Url { url } => url,
        }
    }

    /// How the source is named wherever the name is shown, kept or exported (issue messages
    /// with file and line, job labels, summaries): a URL without its query, fragment or
    /// credentials, since a token there must not leak into a report. The request uses `name`.
    pub fn label(&self) -> String {
        match self {
            Source::File { name, .. } => name.clone(),
            Source::Url { url } => medhall_core::export::redact_url(url),
        }
    }
}

/// Main thread → worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    Load {
        job: u32,
        target: LoadTarget,
        source: Source,
        split: Option<Split>,
    },
    Cancel {
        job: u32,
    },
    RenameRun {
        run: u32,
        name: String,
    },
    RemoveRun {
        run: u32,
    },
    Clear,
    /// Queries: answered with `Event::Reply` carrying the same `id`.
    Rows {
        id: u32,
        query: RowQuery,
    },
    Detail {
        id: u32,
        key: SampleKey,
    },
    Chart {
        id: u32,
        query: ChartQuery,
    },
    /// The leaderboard with the runs placed in it; `names` gives runs their row (model) by
    /// run id, the others are paired by their file names. Answered by `Reply::Leaderboard`.
    Leaderboard {
        id: u32,
        #[serde(default)]
        names: Vec<(u32, String)>,
    },
    /// Models × (split, type) for one metric against a baseline. Answered by `Reply::Matrix`.
    Matrix {
        id: u32,
        query: crate::session::MatrixQuery,
    },
    /// Lexical against judge scores for one model. Answered by `Reply::Disagreement`.
    Disagreement {
        id: u32,
        query: crate::session::DisagreementQuery,
    },
    Export {
        id: u32,
        kind: ExportKind,
        run: Option<u32>,
    },
    /// Questions for the model check, answered with `Reply::Questions`.
    Questions {
        id: u32,
        count: usize,
        seed: u64,
        split: Option<Split>,
        /// Only questions of this hallucination type (shard field or type map).
        #[serde(default)]
        type_value: Option<String>,
    },
    /// A run's judge requests (see `Session::judge_plan`), answered with `Reply::JudgePlan`.
    /// `calibration`: the runs that calibrate the judge; absent, the "llava-med" runs.
    JudgePlan {
        id: u32,
        run: u32,
        #[serde(default)]
        calibration: Option<Vec<u32>>,
        /// Ask again for the samples whose verdict is unreadable.
        #[serde(default)]
        retry_unreadable: bool,
    },
    /// The judge's replies for samples of a run (whole texts); the worker then sends the new
    /// state and summaries.
    JudgeVerdicts {
        run: u32,
        verdicts: Vec<SampleReply>,
        /// The judge that gave them (the model as sent, the endpoint's host).
        judge: JudgeIdentity,
    },
    /// The requests that label the loaded negative questions with hallucination types (see
    /// `Session::type_plan`), answered with `Reply::JudgePlan`.
    TypePlan {
        id: u32,
    },
    /// Replies to those requests: (question, reply text, model); the worker then sends the new
    /// state and summaries.
    TypeLabels {
        labels: Vec<(SampleKey, String, String)>,
    },
    /// A run's B.Score pairs (see `Session::bertscore_plan`), answered with
    /// `Reply::BertScorePlan`; pairs the run holds under `signature` are marked done.
    BertScorePlan {
        id: u32,
        run: u32,
        signature: String,
    },
    /// A run's identity (`Session::run_identity`), answered with `Reply::RunIdentity`: what the
    /// page needs to find values it kept for the run, without the run's texts (a B.Score plan of a
    /// million-row run is hundreds of megabytes to parse on the page's thread).
    RunIdentity {
        id: u32,
        run: u32,
    },
    /// B.Score values kept per chunk for a run under `signature`, each applied only where the
    /// run's pairs are the chunk's (`Session::apply_bertscore_chunks`); the worker then sends
    /// the new state and summaries.
    BertScoreChunks {
        run: u32,
        signature: String,
        chunks: Vec<BertScoreChunk>,
    },
    /// B.Score values for samples of a run: (sample, pair hash, F1) under `signature`; the
    /// worker then sends the new state and summaries.
    BertScores {
        run: u32,
        signature: String,
        scores: Vec<(SampleKey, String, f64)>,
    },
    /// A rating plan drawn from loaded runs (`Session::rating_plan`), answered with
    /// `Reply::RatingPlan`.
    RatingPlan {
        id: u32,
        query: crate::session::RatePlanQuery,
    },
    /// Rating files against the chosen runs' judges (`Session::agreement`), answered with
    /// `Reply::Agreement`.
    Agreement {
        id: u32,
        query: crate::session::AgreementQuery,
    },
    /// The loaded runs' verdicts for rated items (`Session::judged_items`), answered with
    /// `Reply::JudgedItems`.
    JudgedItems {
        id: u32,
        keys: Vec<SampleKey>,
    },
    /// Medical VQA files scored as `medhall vqa` scores them (`vqa::vqa_view`), answered with
    /// `Reply::Vqa`. Independent of the loaded runs.
    Vqa {
        id: u32,
        query: crate::vqa::VqaQuery,
    },
}

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Reading,
    Scoring,
}

/// Worker → main thread.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    Ready {
        protocol: u32,
        signature: String,
    },
    Progress {
        job: u32,
        progress: LoadProgress,
        total_bytes: Option<u64>,
    },
    Loaded {
        job: u32,
        report: LoadReport,
    },
    Failed {
        job: u32,
        message: String,
    },
    Cancelled {
        job: u32,
    },
    /// Scoring progress over all runs.
    Scoring {
        scored: usize,
        total: usize,
    },
    /// The session's state after any change.
    State {
        runs: Vec<RunInfo>,
        references: usize,
        reference_sources: Vec<String>,
        typed_samples: usize,
        /// The worker's wasm memory, for the page's memory report.
        memory_bytes: u64,
    },
    /// Means first (`intervals: false`), then again with the bootstrap intervals.
    Summaries {
        runs: Vec<RunSummary>,
        intervals: bool,
    },
    Reply {
        id: u32,
        reply: Reply,
    },
    /// A request that could not be read or answered.
    Error {
        message: String,
    },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Reply {
    Rows {
        page: RowsPage,
    },
    Detail {
        detail: Option<SampleDetail>,
    },
    Chart {
        spec: medhall_core::chart::ChartSpec,
    },
    Leaderboard {
        board: crate::session::LeaderboardView,
    },
    Disagreement {
        view: crate::session::DisagreementView,
    },
    Matrix {
        view: crate::session::MatrixView,
    },
    Export {
        export: Export,
    },
    Questions {
        questions: Vec<QuestionItem>,
    },
    JudgePlan {
        plan: JudgePlan,
    },
    BertScorePlan {
        plan: BertScorePlan,
    },
    RunIdentity {
        identity: String,
    },
    RatingPlan {
        plan: medhall_core::agreement::RatingPlan,
    },
    Agreement {
        view: Box<crate::session::AgreementView>,
    },
    JudgedItems {
        items: Vec<crate::session::JudgedItem>,
    },
    Vqa {
        view: Box<crate::vqa::VqaView>,
    },
    Error {
        message: String,
    },
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_url_source_is_labelled_without_its_token() {
        let url = super::Source::Url {
            url: "https://h.test/run.negative.jsonl?token=s3cret#x".to_owned(),
        };
        assert_eq!(url.label(), "https://h.test/run.negative.jsonl");
        assert!(
            url.name().contains("s3cret"),
            "the request keeps the full URL"
        );
    }

    use super::*;

    #[test]
    fn messages_round_trip_as_json() {
        let request = Request::Load {
            job: 3,
            target: LoadTarget::Run {
                run: 2,
                name: "a <b>.jsonl".to_owned(),
            },
            source: Source::Url {
                url: "https://example.org/x.jsonl".to_owned(),
            },
            split: Some(Split::Negative),
        };
        let text = serde_json::to_string(&request).expect("serializes");
        assert!(text.contains(r#""type":"load""#));
        assert_eq!(
            serde_json::from_str::<Request>(&text).expect("parses"),
            request
        );
        let event = Event::Scoring {
            scored: 5,
            total: 9,
        };
        let text = serde_json::to_string(&event).expect("serializes");
        assert_eq!(serde_json::from_str::<Event>(&text).expect("parses"), event);
        assert!(serde_json::from_str::<Request>(r#"{"type":"nonsense"}"#).is_err());
    }
}
