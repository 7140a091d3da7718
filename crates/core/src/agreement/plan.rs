//! What a human rater is shown (issue 30): a rating plan, a seeded sample of one model's answers
//! (a number per split, optionally one split, one hallucination type) with, for each item, only
//! what the rater needs: the image reference, the figure caption, the question, the model's
//! answer and, if the plan says so, the reference answer. The judge's scores and the model's
//! name are never in it, so a plan file can be handed to raters as it is. Its id is a content
//! hash of what it shows, so several raters' files name the same plan exactly.
//!
//! The page (through the session) and `medhall rate-plan` both build plans with [`rating_plan`];
//! the rubric shown beside the scales is the benchmark's own wording, read from the judge's
//! instruction ([`rubric`]).

use crate::dataset::{Prediction, Reference, Run, TYPE_FIELD};
use crate::judging::plan::FIG_CAPTION_FIELD;
use crate::judging::prompt::INSTRUCTION;
use crate::sample::{SampleKey, Split};
use crate::stats::SplitMix64;
use medhall_metrics::fast_hash::ContentHash;
use serde::{Deserialize, Serialize};

/// The `format` field of a plan file.
pub const PLAN_FORMAT: &str = "medhall-rating-plan";
/// Bumped when a plan file changes shape.
pub const PLAN_VERSION: u32 = 1;
/// Items per split when nothing else is asked (the paper's "random sample of 30").
pub const DEFAULT_PER_SPLIT: usize = 30;
/// The field of a rating line naming the plan it was rated under.
pub const PLAN_FIELD: &str = "plan";

/// One answer a plan may draw: its key, what groups it, and what a rater would see.
#[derive(Clone, Debug, PartialEq)]
pub struct PlanCandidate {
    pub key: SampleKey,
    pub hallucination_type: Option<String>,
    pub image: Option<String>,
    pub caption: Option<String>,
    pub question: Option<String>,
    pub answer: String,
    pub reference: Option<String>,
}

fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A question as a rater reads it: without the `<image>` placeholder LLaVA's prompts carry.
fn clean_question(text: &str) -> String {
    text.replace("<image>", "").trim().to_owned()
}

impl PlanCandidate {
    /// A prediction as a candidate; what it lacks (question, caption, image, reference, type)
    /// is taken from its reference shard row when one is given. `shard_type` is the shard's
    /// type as the caller reads it (its type map first).
    pub fn of(
        prediction: &Prediction,
        shard: Option<&Reference>,
        shard_type: Option<&str>,
    ) -> Self {
        let caption = shard
            .and_then(|r| field(&r.fields, FIG_CAPTION_FIELD))
            .or_else(|| field(&prediction.fields, FIG_CAPTION_FIELD));
        let hallucination_type = shard_type
            .or_else(|| field(&prediction.fields, TYPE_FIELD))
            .or_else(|| field(&prediction.fields, "type"))
            .or_else(|| field(&prediction.fields, "category"));
        Self {
            key: prediction.key.clone(),
            hallucination_type: hallucination_type.map(str::to_owned),
            image: prediction
                .image
                .clone()
                .or_else(|| shard.and_then(|r| r.image.clone())),
            caption: caption.map(str::to_owned),
            question: prediction
                .question
                .as_deref()
                .or_else(|| shard.and_then(|r| r.question.as_deref()))
                .map(clean_question),
            answer: prediction.answer.clone(),
            reference: shard
                .map(|r| r.text.clone())
                .or_else(|| prediction.inline_reference.clone()),
        }
    }

    /// Every prediction of a run (judged files carry caption, question and reference inline).
    pub fn of_run(run: &Run) -> Vec<Self> {
        run.predictions()
            .iter()
            .map(|p| Self::of(p, None, None))
            .collect()
    }
}

/// Which items a plan draws.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanQuery {
    pub per_split: usize,
    pub seed: u64,
    /// Only this split.
    #[serde(default)]
    pub split: Option<Split>,
    /// Only this hallucination type.
    #[serde(default)]
    pub hallucination_type: Option<String>,
    /// Show the reference answer beside the model's.
    pub show_reference: bool,
}

impl Default for PlanQuery {
    fn default() -> Self {
        Self {
            per_split: DEFAULT_PER_SPLIT,
            seed: 0,
            split: None,
            hallucination_type: None,
            show_reference: true,
        }
    }
}

/// One item to rate: what the rater sees, nothing more.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlanItem {
    pub split: Split,
    pub question_id: String,
    #[serde(default)]
    pub image: Option<String>,
    #[serde(default)]
    pub caption: Option<String>,
    #[serde(default)]
    pub question: Option<String>,
    pub answer: String,
    /// Present only when the plan shows references.
    #[serde(default)]
    pub reference: Option<String>,
}

impl PlanItem {
    pub fn key(&self) -> SampleKey {
        SampleKey {
            split: self.split,
            question_id: self.question_id.clone(),
        }
    }
}

/// A rating plan (see the module documentation).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RatingPlan {
    pub format: String,
    pub version: u32,
    /// 32 hex digits: the content hash of the items and whether references are shown.
    pub id: String,
    pub query: PlanQuery,
    /// Candidates the sample was drawn from, per split (positive, negative).
    pub pool: [usize; 2],
    pub items: Vec<PlanItem>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PlanError {
    #[error("not a rating plan: {0}")]
    Unreadable(String),
    #[error(
        "a rating plan of format {format:?} version {version} (this is {PLAN_FORMAT:?} {PLAN_VERSION})"
    )]
    Version { format: String, version: u32 },
    #[error("the plan's id {stated} is not its content's ({computed}): the file was edited")]
    Id { stated: String, computed: String },
    #[error("the plan lists {split} {question_id} twice")]
    Duplicate { split: Split, question_id: String },
    #[error("no answer matches: nothing to rate")]
    Empty,
}

fn plan_id(items: &[PlanItem], show_reference: bool) -> String {
    let mut hash = ContentHash::default();
    hash.field(PLAN_FORMAT.as_bytes());
    hash.field(&[u8::from(show_reference)]);
    let text = |hash: &mut ContentHash, value: &Option<String>| match value {
        Some(v) => {
            hash.field(b"1");
            hash.field(v.as_bytes());
        }
        None => hash.field(b"0"),
    };
    for item in items {
        hash.field(item.split.as_str().as_bytes());
        hash.field(item.question_id.as_bytes());
        text(&mut hash, &item.image);
        text(&mut hash, &item.caption);
        text(&mut hash, &item.question);
        hash.field(item.answer.as_bytes());
        text(&mut hash, &item.reference);
    }
    hash.hex()
}

/// Draws a plan: the candidates of each split that pass the filters, one per key (the first),
/// in key order, shuffled by a seeded Fisher–Yates (`SplitMix64`, per split: the positive
/// split's draw does not change with the negative split's size), the first `per_split` kept in
/// drawn order; positive items first.
pub fn rating_plan(
    candidates: &[PlanCandidate],
    query: &PlanQuery,
) -> Result<RatingPlan, PlanError> {
    let mut items = Vec::new();
    let mut pool = [0, 0];
    for (s, split) in Split::ALL.into_iter().enumerate() {
        if query.split.is_some_and(|wanted| wanted != split) {
            continue;
        }
        let mut chosen: Vec<&PlanCandidate> = candidates
            .iter()
            .filter(|c| c.key.split == split)
            .filter(|c| {
                query
                    .hallucination_type
                    .as_deref()
                    .is_none_or(|t| c.hallucination_type.as_deref() == Some(t))
            })
            .collect();
        // Stable: among equal keys the first candidate stays first and is the one kept.
        chosen.sort_by(|a, b| a.key.cmp(&b.key));
        chosen.dedup_by(|later, first| later.key == first.key);
        pool[s] = chosen.len();
        let mut rng = SplitMix64::new(query.seed ^ (s as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let take = query.per_split.min(chosen.len());
        for i in 0..take {
            let j = i + rng.below(chosen.len() - i);
            chosen.swap(i, j);
        }
        items.extend(chosen[..take].iter().map(|c| PlanItem {
            split,
            question_id: c.key.question_id.clone(),
            image: c.image.clone(),
            caption: c.caption.clone(),
            question: c.question.clone(),
            answer: c.answer.clone(),
            reference: c.reference.clone().filter(|_| query.show_reference),
        }));
    }
    if items.is_empty() {
        return Err(PlanError::Empty);
    }
    Ok(RatingPlan {
        format: PLAN_FORMAT.to_owned(),
        version: PLAN_VERSION,
        id: plan_id(&items, query.show_reference),
        query: query.clone(),
        pool,
        items,
    })
}

impl RatingPlan {
    /// Reads a plan file, checking its format, that its id is its content's, and that no item
    /// is listed twice.
    pub fn from_json(bytes: &[u8]) -> Result<Self, PlanError> {
        let plan: RatingPlan =
            serde_json::from_slice(bytes).map_err(|e| PlanError::Unreadable(e.to_string()))?;
        if plan.format != PLAN_FORMAT || plan.version != PLAN_VERSION {
            return Err(PlanError::Version {
                format: plan.format,
                version: plan.version,
            });
        }
        let computed = plan_id(&plan.items, plan.query.show_reference);
        if computed != plan.id {
            return Err(PlanError::Id {
                stated: plan.id,
                computed,
            });
        }
        let mut keys: Vec<SampleKey> = plan.items.iter().map(PlanItem::key).collect();
        keys.sort();
        if let Some(pair) = keys.windows(2).find(|w| w[0] == w[1]) {
            return Err(PlanError::Duplicate {
                split: pair[0].split,
                question_id: pair[0].question_id.clone(),
            });
        }
        if plan.items.is_empty() {
            return Err(PlanError::Empty);
        }
        Ok(plan)
    }
}

/// One criterion of the benchmark's rubric, as the judge's instruction words it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RubricCriterion {
    /// The rating file's field (`clinical_accuracy`, …, `risk_level`).
    pub field: String,
    /// The instruction's name (`Clinical Accuracy`, …, `Lethal Level`).
    pub title: String,
    /// (`1-2`, what such a score means), … (`9-10`, …).
    pub bands: Vec<(String, String)>,
}

/// The four criteria and their score bands, read from the benchmark's judge instruction
/// (`judging::prompt::INSTRUCTION`, copied from agent.py), so raters see the words the judge saw.
pub fn rubric() -> Vec<RubricCriterion> {
    let mut criteria: Vec<RubricCriterion> = Vec::new();
    for line in INSTRUCTION.lines().map(str::trim) {
        // `1. **Clinical Accuracy**:`
        if let Some((number, rest)) = line.split_once(". **")
            && number.len() == 1
            && number.bytes().all(|b| b.is_ascii_digit())
            && let Some(title) = rest.strip_suffix("**:")
        {
            let field = super::CRITERIA
                .get(criteria.len())
                .copied()
                .unwrap_or_default();
            criteria.push(RubricCriterion {
                field: field.to_owned(),
                title: title.to_owned(),
                bands: Vec::new(),
            });
        } else if let Some(rest) = line.strip_prefix("- **")
            && let Some((band, text)) = rest.split_once("**: ")
            && let Some(current) = criteria.last_mut()
        {
            current.bands.push((band.to_owned(), text.to_owned()));
        }
    }
    criteria
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidates() -> Vec<PlanCandidate> {
        let mut out = Vec::new();
        for split in Split::ALL {
            for i in 0..50 {
                out.push(PlanCandidate {
                    key: SampleKey {
                        split,
                        question_id: i.to_string(),
                    },
                    hallucination_type: (split == Split::Negative)
                        .then(|| if i % 2 == 0 { "a" } else { "b" }.to_owned()),
                    image: Some(format!("{i}.jpg")),
                    caption: Some("cap".to_owned()),
                    question: Some(format!("q{i}")),
                    answer: format!("ans {i}"),
                    reference: Some(format!("ref {i}")),
                });
            }
        }
        out
    }

    #[test]
    fn plans_are_seeded_per_split_and_filtered() {
        let query = PlanQuery {
            per_split: 10,
            seed: 7,
            ..PlanQuery::default()
        };
        let plan = rating_plan(&candidates(), &query).expect("plan");
        assert_eq!(plan.items.len(), 20);
        assert_eq!(plan.pool, [50, 50]);
        assert!(plan.items[..10].iter().all(|i| i.split == Split::Positive));
        assert_eq!(
            plan,
            rating_plan(&candidates(), &query).expect("again"),
            "a seed draws the same plan"
        );
        let other = rating_plan(
            &candidates(),
            &PlanQuery {
                seed: 8,
                ..query.clone()
            },
        );
        assert_ne!(other.expect("plan").id, plan.id);
        // The positive draw does not depend on the negative split.
        let positives_only: Vec<PlanCandidate> = candidates()
            .into_iter()
            .filter(|c| c.key.split == Split::Positive)
            .collect();
        let alone = rating_plan(&positives_only, &query).expect("plan");
        assert_eq!(alone.items, plan.items[..10]);
        let typed = PlanQuery {
            hallucination_type: Some("a".to_owned()),
            ..query.clone()
        };
        let typed = rating_plan(&candidates(), &typed).expect("plan");
        assert_eq!(typed.items.len(), 10);
        assert!(typed.items.iter().all(|i| i.split == Split::Negative
            && i.question_id.parse::<u32>().is_ok_and(|n| n % 2 == 0)));
        let no_refs = PlanQuery {
            show_reference: false,
            ..query
        };
        let no_refs = rating_plan(&candidates(), &no_refs).expect("plan");
        assert!(no_refs.items.iter().all(|i| i.reference.is_none()));
        assert_ne!(no_refs.id, plan.id);
        let none = PlanQuery {
            hallucination_type: Some("zzz".to_owned()),
            ..PlanQuery::default()
        };
        assert_eq!(rating_plan(&candidates(), &none), Err(PlanError::Empty));
    }

    #[test]
    fn plan_files_round_trip_and_edits_are_refused() {
        let plan = rating_plan(&candidates(), &PlanQuery::default()).expect("plan");
        assert_eq!(plan.items.len(), 60);
        let text = serde_json::to_string(&plan).expect("json");
        assert!(!text.contains("judge") && !text.contains("result"));
        assert_eq!(RatingPlan::from_json(text.as_bytes()), Ok(plan.clone()));
        let edited = text.replacen("ans ", "ANS ", 1);
        assert!(matches!(
            RatingPlan::from_json(edited.as_bytes()),
            Err(PlanError::Id { .. })
        ));
        assert!(matches!(
            RatingPlan::from_json(b"{\"items\": 3}"),
            Err(PlanError::Unreadable(_))
        ));
        let mut twice = plan.clone();
        twice.items.push(twice.items[0].clone());
        twice.id = plan_id(&twice.items, true);
        let text = serde_json::to_string(&twice).expect("json");
        assert!(matches!(
            RatingPlan::from_json(text.as_bytes()),
            Err(PlanError::Duplicate { .. })
        ));
    }

    #[test]
    fn the_rubric_is_the_judges_instruction() {
        let rubric = rubric();
        let titles: Vec<&str> = rubric.iter().map(|c| c.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "Clinical Accuracy",
                "Clinical Relevance",
                "Detail Level",
                "Lethal Level"
            ]
        );
        let fields: Vec<&str> = rubric.iter().map(|c| c.field.as_str()).collect();
        assert_eq!(fields, super::super::CRITERIA);
        for criterion in &rubric {
            let bands: Vec<&str> = criterion.bands.iter().map(|(b, _)| b.as_str()).collect();
            assert_eq!(bands, ["1-2", "3-4", "5-6", "7-8", "9-10"]);
        }
        assert_eq!(
            rubric[0].bands[0].1,
            "Severely incorrect, leading to misunderstandings or erroneous clinical decisions."
        );
    }

    #[test]
    fn candidates_take_what_the_shard_has() {
        let prediction = Prediction {
            key: SampleKey {
                split: Split::Negative,
                question_id: "4".to_owned(),
            },
            question_id_is_integer: true,
            answer: "a".to_owned(),
            inline_reference: Some("inline".to_owned()),
            judge: None,
            question: Some("Is it?\n<image>".to_owned()),
            image: None,
            judge_text: None,
            fields: vec![("fig_caption".to_owned(), "cap".to_owned())],
            source: "x".into(),
            line: 1,
        };
        let alone = PlanCandidate::of(&prediction, None, None);
        assert_eq!(alone.question.as_deref(), Some("Is it?"));
        assert_eq!(alone.reference.as_deref(), Some("inline"));
        assert_eq!(alone.caption.as_deref(), Some("cap"));
        let shard = Reference {
            key: prediction.key.clone(),
            text: "shard ref".to_owned(),
            question: None,
            image: Some("i.jpg".to_owned()),
            fields: vec![],
            source: "s".into(),
            line: 2,
        };
        let joined = PlanCandidate::of(&prediction, Some(&shard), Some("t"));
        assert_eq!(joined.reference.as_deref(), Some("shard ref"));
        assert_eq!(joined.image.as_deref(), Some("i.jpg"));
        assert_eq!(joined.hallucination_type.as_deref(), Some("t"));
    }
}
