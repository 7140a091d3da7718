//! One rater's work on a rating plan (issue 30), sans I/O: the four scores and a note per
//! item, where the rater is (item and criterion), what the keys do, and the ratings as the JSONL
//! lines `medhall agreement --ratings` reads (`medhall_core::agreement::RatingTable`). The page
//! keeps a sheet in IndexedDB as it changes, so a reload resumes it.

use medhall_core::agreement::plan::PLAN_FIELD;
use medhall_core::agreement::ratings::RATER_FIELD;
use medhall_core::agreement::{CRITERIA, RatingPlan};
use serde::{Deserialize, Serialize};

/// What the rater gave one item.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemRating {
    pub scores: [Option<u8>; 4],
    #[serde(default)]
    pub note: String,
    /// When the last score was given (ISO 8601, from the page's clock).
    #[serde(default)]
    pub time: Option<String>,
}

impl ItemRating {
    pub fn complete(&self) -> bool {
        self.scores.iter().all(Option::is_some)
    }
}

/// A rater's sheet: the plan, who rates, one rating per plan item.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RatingSheet {
    pub plan: RatingPlan,
    pub rater: String,
    pub ratings: Vec<ItemRating>,
    /// The item shown.
    pub position: usize,
    /// The criterion the digit keys set (0–3).
    pub criterion: usize,
    /// Set when the rater says they are done: only then are the judge's scores and the model
    /// shown.
    pub finished: bool,
}

/// What a key does on the rating view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAction {
    /// Score the current criterion (1–10) and move to the next one.
    Score(u8),
    NextItem,
    PreviousItem,
    NextCriterion,
    PreviousCriterion,
}

/// The rating view's keys: `1`–`9` and `0` (for 10) score the current criterion; `n`, `j`,
/// `→` or Enter the next item; `p`, `k` or `←` the previous one; `↓`/`↑` another criterion.
pub fn key_action(key: &str) -> Option<KeyAction> {
    Some(match key {
        "0" => KeyAction::Score(10),
        d if d.len() == 1 && d.as_bytes()[0].is_ascii_digit() => {
            KeyAction::Score(d.as_bytes()[0] - b'0')
        }
        "n" | "N" | "j" | "J" | "ArrowRight" | "Enter" => KeyAction::NextItem,
        "p" | "P" | "k" | "K" | "ArrowLeft" => KeyAction::PreviousItem,
        "ArrowDown" => KeyAction::NextCriterion,
        "ArrowUp" => KeyAction::PreviousCriterion,
        _ => return None,
    })
}

impl RatingSheet {
    pub fn new(plan: RatingPlan, rater: &str) -> Self {
        let ratings = vec![ItemRating::default(); plan.items.len()];
        Self {
            plan,
            rater: rater.trim().to_owned(),
            ratings,
            position: 0,
            criterion: 0,
            finished: false,
        }
    }

    /// The IndexedDB key: one sheet per plan and rater.
    pub fn id(&self) -> String {
        format!("{}|{}", self.plan.id, self.rater)
    }

    /// A sheet read back from storage, made consistent with its plan (a stored sheet may be
    /// from an older page).
    pub fn repaired(mut self) -> Self {
        self.ratings
            .resize(self.plan.items.len(), ItemRating::default());
        self.position = self.position.min(self.plan.items.len().saturating_sub(1));
        self.criterion = self.criterion.min(CRITERIA.len() - 1);
        for rating in &mut self.ratings {
            for score in rating.scores.iter_mut() {
                *score = score.filter(|s| (1..=10).contains(s));
            }
        }
        self
    }

    /// Items with all four scores.
    pub fn completed(&self) -> usize {
        self.ratings.iter().filter(|r| r.complete()).count()
    }

    pub fn all_complete(&self) -> bool {
        self.completed() == self.ratings.len()
    }

    /// Sets a score of the current item and moves on to its next criterion (staying on the
    /// last). `time` is when it was given.
    pub fn score(&mut self, score: u8, time: &str) {
        if !(1..=10).contains(&score) {
            return;
        }
        if let Some(rating) = self.ratings.get_mut(self.position) {
            rating.scores[self.criterion] = Some(score);
            rating.time = Some(time.to_owned());
            self.criterion = (self.criterion + 1).min(CRITERIA.len() - 1);
        }
    }

    /// Sets one criterion of the current item (a click), making it the current criterion.
    pub fn score_criterion(&mut self, criterion: usize, score: u8, time: &str) {
        if criterion < CRITERIA.len() {
            self.criterion = criterion;
            self.score(score, time);
        }
    }

    pub fn set_note(&mut self, note: &str) {
        if let Some(rating) = self.ratings.get_mut(self.position) {
            rating.note = note.to_owned();
        }
    }

    /// Moves to item `position` (clamped), at its first unscored criterion.
    pub fn go_to(&mut self, position: usize) {
        self.position = position.min(self.ratings.len().saturating_sub(1));
        self.criterion = self
            .ratings
            .get(self.position)
            .and_then(|r| r.scores.iter().position(Option::is_none))
            .unwrap_or(0);
    }

    /// Applies a key; returns whether anything changed.
    pub fn apply(&mut self, action: KeyAction, time: &str) -> bool {
        let before = (
            self.position,
            self.criterion,
            self.ratings.get(self.position).cloned(),
        );
        match action {
            KeyAction::Score(score) => self.score(score, time),
            KeyAction::NextItem => self.go_to(self.position + 1),
            KeyAction::PreviousItem => self.go_to(self.position.saturating_sub(1)),
            KeyAction::NextCriterion => {
                self.criterion = (self.criterion + 1).min(CRITERIA.len() - 1);
            }
            KeyAction::PreviousCriterion => self.criterion = self.criterion.saturating_sub(1),
        }
        before
            != (
                self.position,
                self.criterion,
                self.ratings.get(self.position).cloned(),
            )
    }

    /// The ratings as JSONL, one line per item with at least one score: rater, split,
    /// question_id, the criteria given, note (when written), time, plan id.
    pub fn to_jsonl(&self) -> String {
        let mut out = String::new();
        for (item, rating) in self.plan.items.iter().zip(&self.ratings) {
            if rating.scores.iter().all(Option::is_none) {
                continue;
            }
            let mut line = serde_json::Map::new();
            line.insert(RATER_FIELD.into(), self.rater.clone().into());
            line.insert("split".into(), item.split.as_str().into());
            line.insert("question_id".into(), item.question_id.clone().into());
            for (name, score) in CRITERIA.iter().zip(rating.scores) {
                if let Some(score) = score {
                    line.insert((*name).into(), score.into());
                }
            }
            if !rating.note.trim().is_empty() {
                line.insert("note".into(), rating.note.clone().into());
            }
            if let Some(time) = &rating.time {
                line.insert("time".into(), time.clone().into());
            }
            line.insert(PLAN_FIELD.into(), self.plan.id.clone().into());
            out.push_str(&serde_json::Value::Object(line).to_string());
            out.push('\n');
        }
        out
    }

    /// The export's file name: `ratings-<rater>-<plan id's first 8>.jsonl`, the rater's name
    /// reduced to letters, digits, `-` and `_`.
    pub fn file_name(&self) -> String {
        let rater: String = self
            .rater
            .chars()
            .map(|c| {
                if c.is_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let id: String = self.plan.id.chars().take(8).collect();
        format!("ratings-{rater}-{id}.jsonl")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use medhall_core::agreement::{PlanCandidate, PlanQuery, RatingTable, agreement, rating_plan};
    use medhall_core::sample::{SampleKey, Split};
    use medhall_core::stats::StatsConfig;

    fn plan() -> RatingPlan {
        let candidates: Vec<PlanCandidate> = (0..6)
            .map(|i| PlanCandidate {
                key: SampleKey {
                    split: if i < 3 {
                        Split::Positive
                    } else {
                        Split::Negative
                    },
                    question_id: i.to_string(),
                },
                hallucination_type: None,
                image: None,
                caption: Some("c".to_owned()),
                question: Some("q".to_owned()),
                answer: format!("a{i}"),
                reference: None,
            })
            .collect();
        rating_plan(&candidates, &PlanQuery::default()).expect("plan")
    }

    #[test]
    fn keys_score_and_move() {
        assert_eq!(key_action("0"), Some(KeyAction::Score(10)));
        assert_eq!(key_action("7"), Some(KeyAction::Score(7)));
        assert_eq!(key_action("Enter"), Some(KeyAction::NextItem));
        assert_eq!(key_action("ArrowLeft"), Some(KeyAction::PreviousItem));
        assert_eq!(key_action("x"), None);
        assert_eq!(key_action("10"), None);
        let mut sheet = RatingSheet::new(plan(), " Dr. Q ");
        assert_eq!(sheet.rater, "Dr. Q");
        for key in ["7", "0", "3", "5", "5"] {
            let action = key_action(key).expect("a key");
            sheet.apply(action, "t1");
        }
        // The fifth digit re-scores the last criterion.
        assert_eq!(
            sheet.ratings[0].scores,
            [Some(7), Some(10), Some(3), Some(5)]
        );
        assert!(sheet.ratings[0].complete());
        sheet.apply(KeyAction::NextItem, "t");
        assert_eq!((sheet.position, sheet.criterion), (1, 0));
        sheet.apply(KeyAction::Score(2), "t2");
        sheet.apply(KeyAction::PreviousItem, "t");
        sheet.apply(KeyAction::NextItem, "t");
        assert_eq!(
            (sheet.position, sheet.criterion),
            (1, 1),
            "resumes at the first gap"
        );
        assert!(!sheet.apply(KeyAction::PreviousCriterion, "t") || sheet.criterion == 0);
        for _ in 0..20 {
            sheet.apply(KeyAction::NextItem, "t");
        }
        assert_eq!(sheet.position, 5, "clamped to the last item");
        assert_eq!(sheet.completed(), 1);
    }

    #[test]
    fn the_export_is_what_medhall_agreement_reads() {
        let mut sheet = RatingSheet::new(plan(), "h1");
        sheet.score_criterion(0, 7, "2026-12-07T10:00:00Z");
        sheet.score_criterion(3, 2, "2026-12-07T10:00:01Z");
        sheet.set_note("a <b>note</b>, \"quoted\"");
        sheet.go_to(4);
        for score in [1, 2, 3, 4] {
            sheet.score(score, "2026-12-07T10:01:00Z");
        }
        let text = sheet.to_jsonl();
        assert_eq!(text.lines().count(), 2);
        let first: serde_json::Value =
            serde_json::from_str(text.lines().next().expect("a line")).expect("JSON");
        assert_eq!(first["rater"], "h1");
        assert_eq!(first["plan"], sheet.plan.id.as_str());
        assert_eq!(first["note"], "a <b>note</b>, \"quoted\"");
        assert!(first.get("clinical_relevance").is_none());
        let mut table = RatingTable::default();
        let mut issues = Vec::new();
        let count = table.add_ratings("x.jsonl", text.as_bytes(), &mut issues);
        assert!(issues.is_empty(), "{issues:?}");
        assert_eq!((count.lines, count.used), (2, 2));
        assert_eq!(table.plans(), [sheet.plan.id.clone()]);
        let mut other = sheet.clone();
        other.rater = "h2".to_owned();
        table.add_ratings("y.jsonl", other.to_jsonl().as_bytes(), &mut issues);
        let report = agreement(&table, &StatsConfig::default(), 3);
        assert!(report.signature.contains("raters:2(h1 + h2)"));
        assert_eq!(
            sheet.file_name(),
            format!("ratings-h1-{}.jsonl", &sheet.plan.id[..8])
        );
    }

    #[test]
    fn a_stored_sheet_is_repaired_against_its_plan() {
        let mut sheet = RatingSheet::new(plan(), "h");
        sheet.ratings.truncate(2);
        sheet.ratings[0].scores[0] = Some(11);
        sheet.position = 99;
        sheet.criterion = 9;
        let text = serde_json::to_string(&sheet).expect("json");
        let back: RatingSheet = serde_json::from_str(&text).expect("parses");
        let back = back.repaired();
        assert_eq!(back.ratings.len(), 6);
        assert_eq!(back.ratings[0].scores[0], None);
        assert_eq!((back.position, back.criterion), (5, 3));
    }
}
