//! Judge plans: what judging a run asks (its requests, calibrated by LLaVA-Med's runs), and the
//! run's identity that verdicts kept in the browser are filed under.

use super::{IssueReport, RunState, Session};
use medhall_core::identity::run_identity;
use medhall_core::judging::messages::ChatMessage;
use medhall_core::judging::plan::asks_again;
use medhall_core::sample::SampleKey;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

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

/// Whether a run name looks like LLaVA-Med's judge-eval files (the benchmark's calibration).
pub fn is_calibration_name(name: &str) -> bool {
    name.to_ascii_lowercase().contains("llava-med")
}

impl Session {
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
        let mut planned: BTreeMap<usize, medhall_core::judging::plan::JudgeItem> = BTreeMap::new();
        let mut first_issues = None;
        for calibration in &calibrating {
            let mut issues = Vec::new();
            for item in medhall_core::judging::plan::plan(
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

    /// The run's identity as its judge and B.Score plans give it (values kept in the browser are
    /// filed under it), without building a plan.
    pub fn run_identity(&self, run: u32) -> Result<String, String> {
        self.runs
            .iter()
            .find(|r| r.id == run)
            .map(|state| run_identity(&state.run))
            .ok_or_else(|| format!("no run with id {run}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::LoadTarget;
    use crate::session::test_support::{CALIBRATION, RUN, judge_session, key, load};
    use medhall_core::dataset::IssueKind;

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
}
