//! Which samples can be judged, with what: predictions joined with the reference shards (ground
//! truth and figure caption) and the calibration files (LLaVA-Med's answer and verdict), by
//! (split, question_id). A prediction that lacks any of them is reported at its file and line
//! and left out; nothing is guessed.

use super::messages::{ChatMessage, JudgeFields, build_messages};
use crate::dataset::{Issue, IssueKind, Prediction, ReferenceSet, Run};
use crate::sample::SampleKey;

/// Field of a shard (or of a judge-eval row) holding the figure caption.
pub const FIG_CAPTION_FIELD: &str = "fig_caption";

/// One sample ready for the judge: its messages and what the judged row adds to the prediction.
#[derive(Clone, Debug, PartialEq)]
pub struct JudgeItem {
    pub key: SampleKey,
    /// Position of the prediction in `Run::predictions()`.
    pub prediction: usize,
    pub messages: Vec<ChatMessage>,
    pub gpt4_answer: String,
    /// `None` when the shard has no caption (the message then says `None`, as Python's does).
    pub fig_caption: Option<String>,
    pub reference_answers: String,
    pub reference_scores: String,
}

impl JudgeItem {
    /// Characters sent, for cost estimates before anything is sent.
    pub fn prompt_chars(&self) -> usize {
        prompt_chars(&self.messages) as usize
    }

    /// The expected length of the reply: the calibration verdict's, the judge's own reply to
    /// the same question (the best guess at the replies to come).
    pub fn reply_chars(&self) -> usize {
        self.reference_scores.chars().count()
    }
}

/// Whether a sample is asked (again): when it has no reply yet, or when its kept reply is an
/// unreadable verdict and the user asked to retry those (`--retry-unreadable`, the page's
/// checkbox). A paid reply is never bought again unasked. The CLI's resume and the page's plan
/// both decide by this rule.
pub fn asks_again(has_reply: bool, readable: bool, retry_unreadable: bool) -> bool {
    !has_reply || (retry_unreadable && !readable)
}

/// Characters a request's messages send (what the estimate counts).
pub fn prompt_chars(messages: &[ChatMessage]) -> u64 {
    messages
        .iter()
        .map(|m| m.content.chars().count() as u64)
        .sum()
}

/// Characters per token of English prose for GPT-4o's tokenizer (an estimate; the replies'
/// `usage` gives the real counts).
pub const CHARS_PER_TOKEN: u64 = 4;

/// What a judge run will cost before anything is sent: the CLI's `--dry-run` and the page's
/// panel both show this one estimate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CostEstimate {
    pub requests: u64,
    pub prompt_chars: u64,
    /// Expected reply characters (see [`JudgeItem::reply_chars`]).
    pub reply_chars: u64,
}

impl CostEstimate {
    /// The estimate for requests given as (messages, expected reply characters).
    pub fn of<'a>(requests: impl IntoIterator<Item = (&'a [ChatMessage], u64)>) -> Self {
        requests
            .into_iter()
            .fold(Self::default(), |mut estimate, (messages, reply_chars)| {
                estimate.add(prompt_chars(messages), reply_chars);
                estimate
            })
    }

    pub fn add(&mut self, prompt_chars: u64, reply_chars: u64) {
        self.requests += 1;
        self.prompt_chars += prompt_chars;
        self.reply_chars += reply_chars;
    }

    pub fn prompt_tokens(&self) -> u64 {
        self.prompt_chars.div_ceil(CHARS_PER_TOKEN)
    }

    pub fn completion_tokens(&self) -> u64 {
        self.reply_chars.div_ceil(CHARS_PER_TOKEN)
    }

    /// The cost at prices per million tokens.
    pub fn cost(&self, price_in: f64, price_out: f64) -> f64 {
        (self.prompt_tokens() as f64 * price_in + self.completion_tokens() as f64 * price_out) / 1e6
    }
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

fn missing(prediction: &Prediction, kind: IssueKind, field: &str, message: String) -> Issue {
    Issue {
        kind,
        source: prediction.source.to_string(),
        line: prediction.line,
        field: Some(field.to_owned()),
        message,
    }
}

/// Joins every prediction of `run` with its reference and calibration sample. The ground truth
/// and caption come from the shards, else from the prediction's own row (a judge-eval file
/// carries both); the calibration sample from `calibration` (a judge-eval run such as LLaVA-Med's).
pub fn plan(
    run: &Run,
    references: &ReferenceSet,
    calibration: &Run,
    issues: &mut Vec<Issue>,
) -> Vec<JudgeItem> {
    let mut items = Vec::with_capacity(run.len());
    for (index, prediction) in run.predictions().iter().enumerate() {
        let key = &prediction.key;
        let what = format!("{} question {}", key.split, key.question_id);
        let shard = references.get(key);
        let Some(gpt4_answer) = shard
            .map(|r| r.text.as_str())
            .or(prediction.inline_reference.as_deref())
        else {
            issues.push(missing(
                prediction,
                IssueKind::NoReference,
                "question_id",
                format!("no reference answer (gpt4_answer) for {what}: not judged"),
            ));
            continue;
        };
        let Some(question) = prediction.question.as_deref() else {
            issues.push(missing(
                prediction,
                IssueKind::MissingField,
                "question",
                format!("the judge needs the question of {what}: not judged"),
            ));
            continue;
        };
        let Some(sample) = calibration.get(key) else {
            issues.push(missing(
                prediction,
                IssueKind::NoCalibration,
                "question_id",
                format!(
                    "no calibration sample (LLaVA-Med's answer and verdict) for {what}: not judged"
                ),
            ));
            continue;
        };
        let Some(reference_scores) = sample.judge_text.as_deref() else {
            issues.push(Issue {
                kind: IssueKind::NoCalibration,
                source: sample.source.to_string(),
                line: sample.line,
                field: Some("result".into()),
                message: format!(
                    "the calibration sample for {what} has no verdict text: {} is not judged",
                    key.question_id
                ),
            });
            continue;
        };
        let fig_caption = shard
            .and_then(|r| field(&r.fields, FIG_CAPTION_FIELD))
            .or_else(|| field(&prediction.fields, FIG_CAPTION_FIELD));
        let fields = JudgeFields {
            fig_caption,
            question,
            answer: &prediction.answer,
            gpt4_answer,
            reference_answers: &sample.answer,
            reference_scores,
        };
        let messages = match build_messages(&fields) {
            Ok(messages) => messages,
            // Our own templates are fixed and tested; this cannot follow from user data.
            Err(error) => {
                issues.push(missing(
                    prediction,
                    IssueKind::Malformed,
                    "question",
                    format!("cannot build the judge's messages: {error}"),
                ));
                continue;
            }
        };
        items.push(JudgeItem {
            key: key.clone(),
            prediction: index,
            messages,
            gpt4_answer: gpt4_answer.to_owned(),
            fig_caption: fig_caption.map(str::to_owned),
            reference_answers: sample.answer.clone(),
            reference_scores: reference_scores.to_owned(),
        });
    }
    items
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_asked_retries_rebuy_an_unreadable_reply() {
        assert!(asks_again(false, false, false));
        assert!(!asks_again(true, false, false), "kept: it was paid for");
        assert!(asks_again(true, false, true));
        assert!(
            !asks_again(true, true, true),
            "a readable verdict is never asked again"
        );
    }

    #[test]
    fn estimates_count_tokens_and_cost() {
        let mut estimate = CostEstimate::default();
        estimate.add(4_000_001, 400_000);
        estimate.add(0, 3);
        assert_eq!(estimate.requests, 2);
        assert_eq!(estimate.prompt_tokens(), 1_000_001);
        assert_eq!(estimate.completion_tokens(), 100_001);
        assert!((estimate.cost(2.5, 10.0) - 3.5000125).abs() < 1e-9);
    }

    #[test]
    fn estimates_count_characters_of_every_message() {
        let messages = [
            ChatMessage {
                role: "system".into(),
                content: "abcd".into(),
            },
            ChatMessage {
                role: "user".into(),
                content: "é€😀".into(),
            },
        ];
        let estimate = CostEstimate::of([(&messages[..], 9), (&messages[..1], 0)]);
        assert_eq!(estimate.requests, 2);
        assert_eq!(estimate.prompt_chars, 11, "characters, not bytes");
        assert_eq!(estimate.reply_chars, 9);
    }
}
