//! Which judge produced a verdict. Every judged line we write names its judge in flat fields
//! (`judge_model`, `judge_reply_model`, `judge_endpoint`, `judge_params`, `judge_protocol`), so
//! reading the file back, resuming it, scoring it or exporting it can say whose opinion the four
//! judge columns are, and refuse or show a mix instead of blending two judges silently.
//!
//! A verdict with no such fields comes from a file we did not write; the benchmark's own
//! judge-eval files are such files, so their verdicts are labelled as the benchmark's GPT-4o.

use crate::dataset::Prediction;
use crate::sample::SampleKey;

pub const JUDGE_MODEL_FIELD: &str = "judge_model";
pub const JUDGE_REPLY_MODEL_FIELD: &str = "judge_reply_model";
pub const JUDGE_ENDPOINT_FIELD: &str = "judge_endpoint";
pub const JUDGE_PARAMS_FIELD: &str = "judge_params";
pub const JUDGE_PROTOCOL_FIELD: &str = "judge_protocol";
/// A refusal the judge gave instead of a verdict (kept: the reply was paid for).
pub const JUDGE_REFUSAL_FIELD: &str = "judge_refusal";

/// The prompt protocol: the benchmark's agent.py messages (system prompt, the calibration
/// sample's answer and verdict, the figure caption; see `messages`). Bump it when they change.
pub const PROTOCOL_VERSION: &str = "medhalltune-agent.py/1";

/// The request parameters that change an answer. agent.py sends `{model, messages}` only, so
/// temperature, top_p, seed and the rest are the endpoint's defaults; so do we.
pub const REQUEST_PARAMS: &str = "api-defaults";

/// How verdicts without judge fields are labelled: the benchmark's judge-eval files.
pub const BENCHMARK_FILES_LABEL: &str = "gpt-4o (benchmark's files)";

/// The judge behind a verdict: what decides whether two verdicts can be averaged together.
/// The model a reply names (`judge_reply_model`, e.g. a dated snapshot of an alias) is recorded
/// per line and shown, but an endpoint may vary it between requests; the identity is what we
/// asked for.
#[derive(
    Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub struct JudgeIdentity {
    /// The model name as sent.
    pub model: String,
    /// The endpoint's host (and port when one is given), never a key or user info.
    pub endpoint: String,
    pub params: String,
    pub protocol: String,
}

impl JudgeIdentity {
    /// The judge of a run we make now, with today's parameters and protocol.
    pub fn current(model: &str, endpoint: &str) -> Self {
        Self {
            model: model.to_owned(),
            endpoint: endpoint.to_owned(),
            params: REQUEST_PARAMS.to_owned(),
            protocol: PROTOCOL_VERSION.to_owned(),
        }
    }

    /// The judge named by a row's fields; `None` when the row names none.
    pub fn from_fields(fields: &[(String, String)]) -> Option<Self> {
        let get = |name: &str| {
            fields
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let model = get(JUDGE_MODEL_FIELD)?;
        Some(Self {
            model,
            endpoint: get(JUDGE_ENDPOINT_FIELD).unwrap_or_else(|| "unknown endpoint".into()),
            params: get(JUDGE_PARAMS_FIELD).unwrap_or_else(|| "unknown parameters".into()),
            protocol: get(JUDGE_PROTOCOL_FIELD).unwrap_or_else(|| "unknown protocol".into()),
        })
    }

    /// One line naming the judge: `gpt-4o @ api.openai.com (api-defaults, medhalltune-agent.py/1)`.
    pub fn label(&self) -> String {
        format!(
            "{} @ {} ({}, {})",
            self.model, self.endpoint, self.params, self.protocol
        )
    }

    /// The fields a judged line carries, in this order, with the reply's own model name.
    pub fn fields(&self, reply_model: Option<&str>) -> Vec<(&'static str, String)> {
        let mut fields = vec![(JUDGE_MODEL_FIELD, self.model.clone())];
        if let Some(reply_model) = reply_model {
            fields.push((JUDGE_REPLY_MODEL_FIELD, reply_model.to_owned()));
        }
        fields.push((JUDGE_ENDPOINT_FIELD, self.endpoint.clone()));
        fields.push((JUDGE_PARAMS_FIELD, self.params.clone()));
        fields.push((JUDGE_PROTOCOL_FIELD, self.protocol.clone()));
        fields
    }
}

/// The fields a verdict's judge is recorded in; a new verdict replaces all of them, so a stale
/// refusal or reply model of an earlier verdict never stays behind.
pub const JUDGE_FIELDS: [&str; 6] = [
    JUDGE_MODEL_FIELD,
    JUDGE_REPLY_MODEL_FIELD,
    JUDGE_ENDPOINT_FIELD,
    JUDGE_PARAMS_FIELD,
    JUDGE_PROTOCOL_FIELD,
    JUDGE_REFUSAL_FIELD,
];

/// One judge reply for one sample as a frontend hands it back to a run: the whole text, and
/// what the reply itself said (the model it names, a refusal). Both are recorded with the
/// verdict, as the CLI's judged lines record them.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SampleReply {
    pub key: SampleKey,
    pub text: String,
    /// The model the reply named (`judge_reply_model`), when it named one.
    #[serde(default)]
    pub reply_model: Option<String>,
    /// The refusal the reply carried instead of a verdict (`judge_refusal`).
    #[serde(default)]
    pub refusal: Option<String>,
}

impl SampleReply {
    /// A reply that names no model and no refusal (a text from elsewhere).
    pub fn text(key: SampleKey, text: impl Into<String>) -> Self {
        Self {
            key,
            text: text.into(),
            reply_model: None,
            refusal: None,
        }
    }

    /// The row fields that record this reply's judge.
    pub fn fields(&self, judge: &JudgeIdentity) -> Vec<(&'static str, String)> {
        let mut fields = judge.fields(self.reply_model.as_deref());
        if let Some(refusal) = &self.refusal {
            fields.push((JUDGE_REFUSAL_FIELD, refusal.clone()));
        }
        fields
    }
}

/// The label of the judge behind a row's verdict: its judge fields, else the benchmark's files.
pub fn judge_label(fields: &[(String, String)]) -> String {
    match JudgeIdentity::from_fields(fields) {
        Some(identity) => identity.label(),
        None => BENCHMARK_FILES_LABEL.to_owned(),
    }
}

/// Who gave a row's verdict, as one line for a reader: the judge's label, the model the reply
/// named when that differs from the model asked for, and a refusal when there was one.
pub fn verdict_by(fields: &[(String, String)]) -> String {
    let get = |name: &str| {
        fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    };
    let mut line = judge_label(fields);
    if let Some(reply_model) =
        get(JUDGE_REPLY_MODEL_FIELD).filter(|reply| Some(*reply) != get(JUDGE_MODEL_FIELD))
    {
        line.push_str(&format!("; the reply named {reply_model}"));
    }
    if let Some(refusal) = get(JUDGE_REFUSAL_FIELD) {
        line.push_str(&format!("; refused: {refusal}"));
    }
    line
}

/// The judges behind a set of verdicts, each with how many verdicts it gave, in first-seen
/// order. More than one entry means the judge columns mix judges.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct JudgeTally {
    pub judges: Vec<(String, usize)>,
}

impl JudgeTally {
    pub fn add(&mut self, label: String) {
        self.add_verdicts(label, 1);
    }

    fn add_verdicts(&mut self, label: String, count: usize) {
        match self.judges.iter_mut().find(|(l, _)| *l == label) {
            Some((_, n)) => *n += count,
            None => self.judges.push((label, count)),
        }
    }

    /// Adds another tally's verdicts.
    pub fn absorb(&mut self, other: &JudgeTally) {
        for (label, count) in &other.judges {
            self.add_verdicts(label.clone(), *count);
        }
    }

    pub fn is_mixed(&self) -> bool {
        self.judges.len() > 1
    }

    /// `judge_by:<label>[+<label>…][,MIXED]` for the metric signature; `None` when no verdict
    /// was read.
    pub fn signature_part(&self) -> Option<String> {
        if self.judges.is_empty() {
            return None;
        }
        let labels: Vec<&str> = self.judges.iter().map(|(l, _)| l.as_str()).collect();
        let mixed = if self.is_mixed() { ",MIXED" } else { "" };
        Some(format!("judge_by:{}{mixed}", labels.join("+")))
    }

    /// A warning for people when the verdicts come from several judges.
    pub fn mixed_warning(&self) -> Option<String> {
        if !self.is_mixed() {
            return None;
        }
        let listed: Vec<String> = self
            .judges
            .iter()
            .map(|(label, n)| format!("{label} ({n} verdicts)"))
            .collect();
        Some(format!(
            "the judge columns mix {} judges: {}; their means are not one judge's opinion",
            self.judges.len(),
            listed.join(", ")
        ))
    }
}

/// Why a judged file cannot take this run's verdicts: another judge wrote some of its lines.
pub fn resume_conflict(
    file: &str,
    existing: &[(JudgeIdentity, SampleKey)],
    unnamed: Option<SampleKey>,
    current: &JudgeIdentity,
) -> Option<String> {
    let other = existing.iter().find(|(identity, _)| identity != current);
    let (theirs, example) = match (other, unnamed) {
        (Some((identity, key)), _) => (identity.label(), key.clone()),
        (None, Some(key)) => (
            "a judge it does not name (a file we did not write)".to_owned(),
            key,
        ),
        (None, None) => return None,
    };
    Some(format!(
        "{file} holds verdicts of another judge: {theirs} (e.g. {} question {}); this run's \
         judge is {}. Resuming would mix two judges in one file: judge again into a new --out",
        example.split,
        example.question_id,
        current.label()
    ))
}

/// The judges behind the readable verdicts of `predictions`.
pub fn tally<'a>(predictions: impl IntoIterator<Item = &'a Prediction>) -> JudgeTally {
    let mut tally = JudgeTally::default();
    for prediction in predictions {
        if prediction.judge.is_some() {
            tally.add(judge_label(&prediction.fields));
        }
    }
    tally
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Split;

    fn fields(identity: &JudgeIdentity, reply: Option<&str>) -> Vec<(String, String)> {
        identity
            .fields(reply)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect()
    }

    #[test]
    fn identities_round_trip_through_row_fields() {
        let judge = JudgeIdentity::current("gpt-4o", "api.openai.com");
        let row = fields(&judge, Some("gpt-4o-2024-08-06"));
        assert_eq!(JudgeIdentity::from_fields(&row), Some(judge.clone()));
        assert_eq!(
            judge_label(&row),
            "gpt-4o @ api.openai.com (api-defaults, medhalltune-agent.py/1)"
        );
        assert_eq!(judge_label(&[]), BENCHMARK_FILES_LABEL);
    }

    #[test]
    fn a_tally_of_two_judges_is_mixed_and_says_so() {
        let mut tally = JudgeTally::default();
        tally.add("a".into());
        tally.add("a".into());
        assert!(!tally.is_mixed());
        assert_eq!(tally.signature_part().as_deref(), Some("judge_by:a"));
        assert_eq!(tally.mixed_warning(), None);
        tally.add("b".into());
        assert!(tally.is_mixed());
        assert_eq!(
            tally.signature_part().as_deref(),
            Some("judge_by:a+b,MIXED")
        );
        let warning = tally.mixed_warning().expect("a warning");
        assert!(
            warning.contains("a (2 verdicts), b (1 verdicts)"),
            "{warning}"
        );
        assert_eq!(JudgeTally::default().signature_part(), None);
    }

    #[test]
    fn resuming_another_judges_file_is_refused_naming_both() {
        let ours = JudgeIdentity::current("gpt-4o", "api.openai.com");
        let theirs = JudgeIdentity::current("llama-3", "127.0.0.1:8000");
        let key = SampleKey {
            split: Split::Negative,
            question_id: "4".into(),
        };
        assert_eq!(
            resume_conflict("o.jsonl", &[(ours.clone(), key.clone())], None, &ours),
            None
        );
        let message = resume_conflict(
            "o.jsonl",
            &[(ours.clone(), key.clone()), (theirs.clone(), key.clone())],
            None,
            &ours,
        )
        .expect("refused");
        assert!(
            message.contains("llama-3 @ 127.0.0.1:8000") && message.contains("gpt-4o @ api"),
            "{message}"
        );
        let message = resume_conflict("o.jsonl", &[], Some(key), &ours).expect("refused");
        assert!(message.contains("does not name"), "{message}");
    }
}
