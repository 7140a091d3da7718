//! Loading: files and URLs read in chunks into runs, reference shards and type maps, with their
//! issues counted by kind (the first few of each kept with their lines).

use super::{RunBertScore, RunState, Session};
use medhall_core::dataset::{
    Issue, IssueKind, LABELLED_BY_FIELD, ReferenceSet, Run, SourceContext, TypeMap,
    add_type_record, type_map_columns,
};
use medhall_core::formats::{ColumnMap, RecordParser, SampleRecord};
use medhall_core::sample::Split;
use serde::{Deserialize, Serialize};
use std::cell::OnceCell;
use std::collections::BTreeMap;

/// What a load feeds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LoadTarget {
    /// A results file: one model run.
    Run { run: u32, name: String },
    /// A reference shard (questions with `gpt4_answer`).
    Shard,
    /// A CSV `split,question_id,type`.
    TypeMap,
}

/// Issues are counted by kind; the first few of each kind are kept with their lines, so a file
/// of a million broken lines does not become a million messages.
pub const ISSUES_KEPT_PER_KIND: usize = 50;

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct IssueReport {
    pub counts: BTreeMap<IssueKind, u64>,
    pub first: Vec<Issue>,
}

impl IssueReport {
    pub fn add(&mut self, issue: Issue) {
        let count = self.counts.entry(issue.kind).or_insert(0);
        *count += 1;
        if *count <= ISSUES_KEPT_PER_KIND as u64 {
            self.first.push(issue);
        }
    }

    pub fn extend(&mut self, issues: impl IntoIterator<Item = Issue>) {
        for issue in issues {
            self.add(issue);
        }
    }

    pub fn total(&self) -> u64 {
        self.counts.values().sum()
    }

    /// Lines of the malformed rows, in order (for "lines 3, 17 and 40 could not be read").
    pub fn malformed_lines(&self) -> Vec<u64> {
        self.first
            .iter()
            .filter(|i| i.kind == IssueKind::Malformed)
            .map(|i| i.line)
            .collect()
    }
}

/// How far a load has come.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadProgress {
    pub bytes: u64,
    pub records: u64,
    pub issues: u64,
}

/// The outcome of a finished load.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LoadReport {
    pub source: String,
    pub target: LoadTarget,
    pub format: Option<String>,
    pub progress: LoadProgress,
    pub issues: IssueReport,
}

enum Destination {
    Run(Box<Run>),
    Shard(Box<ReferenceSet>),
    /// The map, and who labelled its rows when a model did (`labelled_by`).
    TypeMap(TypeMap, Vec<String>),
}

/// One file or URL being read.
pub(super) struct Load {
    target: LoadTarget,
    context: SourceContext,
    parser: RecordParser,
    destination: Destination,
    progress: LoadProgress,
    /// Issues of the chunk being read; moved into `report` after every chunk, so a file of a
    /// million broken lines keeps counts and the first few, not a million messages.
    issues: Vec<Issue>,
    report: IssueReport,
}

impl Load {
    fn tally(&mut self) {
        self.report.extend(self.issues.drain(..));
        self.progress.issues = self.report.total();
    }

    fn accept(&mut self, item: Result<SampleRecord, medhall_core::formats::RecordError>) {
        match item {
            Ok(record) => {
                self.progress.records += 1;
                match &mut self.destination {
                    Destination::Run(run) => {
                        run.add_record(&self.context, record, &mut self.issues)
                    }
                    Destination::Shard(set) => {
                        set.add_record(&self.context, record, &mut self.issues)
                    }
                    Destination::TypeMap(types, labellers) => {
                        if let Some(who) = record.field(LABELLED_BY_FIELD)
                            && !labellers.iter().any(|w| w == who)
                        {
                            labellers.push(who.to_owned());
                        }
                        add_type_record(types, &self.context.name, &record, &mut self.issues)
                    }
                }
            }
            Err(error) => self.issues.push(Issue::from(error)),
        }
    }
}

impl Session {
    /// Starts reading `source` (a file name or URL) into `target`. A job id already in use is
    /// replaced (its partial data is dropped).
    pub fn begin(&mut self, job: u32, target: LoadTarget, source: &str, split: Option<Split>) {
        let (columns, destination) = match &target {
            LoadTarget::Run { .. } => (ColumnMap::default(), Destination::Run(Box::default())),
            LoadTarget::Shard => (ColumnMap::default(), Destination::Shard(Box::default())),
            LoadTarget::TypeMap => (
                type_map_columns(),
                Destination::TypeMap(TypeMap::new(), Vec::new()),
            ),
        };
        self.loads.insert(
            job,
            Load {
                target,
                context: SourceContext::new(source, split),
                parser: RecordParser::new(source, columns),
                destination,
                progress: LoadProgress::default(),
                issues: Vec::new(),
                report: IssueReport::default(),
            },
        );
    }

    /// Feeds the next bytes of a load. `None` when the job is unknown (finished or cancelled).
    pub fn push(&mut self, job: u32, chunk: &[u8]) -> Option<LoadProgress> {
        let load = self.loads.get_mut(&job)?;
        load.progress.bytes += chunk.len() as u64;
        let mut parser = std::mem::replace(
            &mut load.parser,
            RecordParser::new(String::new(), ColumnMap::default()),
        );
        parser.push(chunk, &mut |item| load.accept(item));
        load.parser = parser;
        load.tally();
        Some(load.progress)
    }

    /// Drops a load and everything it read. Returns whether there was one.
    pub fn cancel(&mut self, job: u32) -> bool {
        self.loads.remove(&job).is_some()
    }

    /// Ends a load: its data joins the session (a run becomes listed and waits to be scored; new
    /// references or types make every run score again, since its references may have changed).
    pub fn finish(&mut self, job: u32) -> Result<LoadReport, String> {
        let mut load = self
            .loads
            .remove(&job)
            .ok_or_else(|| format!("no load with job id {job}"))?;
        let parser = std::mem::replace(
            &mut load.parser,
            RecordParser::new(String::new(), ColumnMap::default()),
        );
        let format = parser.format().map(|f| f.as_str().to_owned());
        let summary = parser.finish(&mut |item| load.accept(item));
        load.tally();
        let mut report = std::mem::take(&mut load.report);
        let source = load.context.name.clone();
        match load.destination {
            Destination::Run(run) => {
                if run.is_empty() {
                    return Err(match report.first.first() {
                        Some(first) => {
                            format!("{source} holds no usable prediction; first problem: {first}")
                        }
                        None => format!("{source} holds no record"),
                    });
                }
                let LoadTarget::Run { run: id, name } = &load.target else {
                    return Err("internal: a run load without a run target".to_owned());
                };
                self.runs.retain(|r| r.id != *id);
                self.runs.push(RunState {
                    id: *id,
                    name: name.clone(),
                    source: source.clone(),
                    run: *run,
                    scored: Vec::new(),
                    load_issues: report.clone(),
                    join_issues: IssueReport::default(),
                    summary: OnceCell::new(),
                    bertscore: RunBertScore::default(),
                });
            }
            Destination::Shard(set) => {
                let mut issues = Vec::new();
                if set.is_empty() && summary.records == 0 {
                    return Err(format!("{source} holds no record"));
                }
                self.references.absorb(*set, &mut issues);
                self.reference_sources.push(source.clone());
                report.extend(issues);
                self.source_issues.extend(report.first.iter().cloned());
                self.rescore_all();
                self.retry_waiting_bertscore_chunks();
            }
            Destination::TypeMap(types, labellers) => {
                self.source_issues.extend(report.first.iter().cloned());
                self.types.extend(types);
                for who in labellers {
                    if !self.type_labellers.contains(&who) {
                        self.type_labellers.push(who);
                    }
                }
                self.rescore_all();
            }
        }
        self.rows_cache = None;
        Ok(LoadReport {
            source,
            target: load.target,
            format,
            progress: load.progress,
            issues: report,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::test_support::{REFS, RUN, load};
    use medhall_core::metrics::lexical::LexicalScorer;
    use medhall_core::metrics::wordnet::WordNet;

    #[test]
    fn late_references_rescore_and_cancel_drops_data() {
        let mut session = Session::default();
        let run = LoadTarget::Run {
            run: 1,
            name: "m.negative.jsonl".to_owned(),
        };
        load(&mut session, 1, run, "m.negative.jsonl", RUN);
        let mut scorer = LexicalScorer::new(WordNet::embedded());
        while session.score_step(&mut scorer, 100) > 0 {}
        assert_eq!(session.run_infos()[0].with_reference, 0);
        load(
            &mut session,
            2,
            LoadTarget::Shard,
            "refs.negative.jsonl",
            REFS,
        );
        assert_eq!(session.pending(), 3);
        while session.score_step(&mut scorer, 100) > 0 {}
        assert_eq!(session.run_infos()[0].with_reference, 2);

        session.begin(3, LoadTarget::Shard, "more.negative.jsonl", None);
        session.push(3, REFS.as_bytes());
        assert!(session.cancel(3));
        assert!(session.push(3, b"x").is_none());
        assert_eq!(session.references(), 2);
    }

    #[test]
    fn a_million_broken_lines_keep_counts_not_messages() {
        let mut session = Session::default();
        let run = LoadTarget::Run {
            run: 1,
            name: "x.negative.jsonl".to_owned(),
        };
        session.begin(1, run, "x.negative.jsonl", None);
        session.push(1, RUN.as_bytes());
        let broken = "{broken\n".repeat(10_000);
        let mut last = LoadProgress::default();
        for _ in 0..100 {
            last = session.push(1, broken.as_bytes()).expect("load under way");
        }
        assert_eq!(last.issues, 1 + 1_000_000);
        let report = session.finish(1).expect("the good rows load");
        assert_eq!(
            report.issues.counts.get(&IssueKind::Malformed),
            Some(&1_000_001)
        );
        assert_eq!(report.issues.first.len(), ISSUES_KEPT_PER_KIND);
        assert_eq!(session.run_infos()[0].predictions, 3);
    }

    #[test]
    fn an_unusable_run_is_an_error_that_names_the_file() {
        let mut session = Session::default();
        let run = LoadTarget::Run {
            run: 1,
            name: "x.positive.jsonl".to_owned(),
        };
        session.begin(1, run, "x.positive.jsonl", None);
        session.push(1, b"{not json\n");
        let error = session.finish(1).expect_err("nothing usable");
        assert!(error.contains("x.positive.jsonl") && error.contains(":1"));
        assert!(session.run_infos().is_empty());
    }
}
