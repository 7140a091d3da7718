//! Which field of a file plays which role (question id, answer, reference…).
//!
//! Result files from different tools name the same thing differently, so each role has a list
//! of accepted names; the first one present in a row wins and the others stay ordinary fields.

/// What a field means to the scorer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    QuestionId,
    Split,
    Image,
    Question,
    Answer,
    Reference,
    JudgeText,
    ClinicalAccuracy,
    ClinicalRelevance,
    DetailLevel,
    RiskLevel,
}

impl Role {
    pub const ALL: [Role; 11] = [
        Role::QuestionId,
        Role::Split,
        Role::Image,
        Role::Question,
        Role::Answer,
        Role::Reference,
        Role::JudgeText,
        Role::ClinicalAccuracy,
        Role::ClinicalRelevance,
        Role::DetailLevel,
        Role::RiskLevel,
    ];

    pub(crate) fn index(self) -> usize {
        self as usize
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::QuestionId => "question_id",
            Role::Split => "split",
            Role::Image => "image",
            Role::Question => "question",
            Role::Answer => "answer",
            Role::Reference => "reference",
            Role::JudgeText => "judge_text",
            Role::ClinicalAccuracy => "clinical_accuracy",
            Role::ClinicalRelevance => "clinical_relevance",
            Role::DetailLevel => "detail_level",
            Role::RiskLevel => "risk_level",
        }
    }

    /// Position in `SampleRecord::judge_columns`, for the four judge score roles.
    pub(crate) fn judge_column(self) -> Option<usize> {
        match self {
            Role::ClinicalAccuracy => Some(0),
            Role::ClinicalRelevance => Some(1),
            Role::DetailLevel => Some(2),
            Role::RiskLevel => Some(3),
            _ => None,
        }
    }

    fn default_names(self) -> &'static [&'static str] {
        match self {
            Role::QuestionId => &["question_id", "id", "qid"],
            Role::Split => &["split"],
            Role::Image => &["image", "image_id", "img"],
            // The official reference files only have `text` (question + "\n<image>"); the judge
            // files have both, and there `question` (without the image tag) is the one to use.
            Role::Question => &["question", "text", "prompt"],
            Role::Answer => &["answer", "prediction", "response", "output", "model_answer"],
            Role::Reference => &[
                "gpt4_answer",
                "reference",
                "ground_truth",
                "gt_answer",
                "target",
            ],
            Role::JudgeText => &["result", "judge", "judgement", "gpt4_eval"],
            Role::ClinicalAccuracy => &["clinical_accuracy"],
            Role::ClinicalRelevance => &["clinical_relevance"],
            Role::DetailLevel => &["detail_level"],
            // The judge prompt calls it "lethal level".
            Role::RiskLevel => &["risk_level", "lethal_level"],
        }
    }
}

/// Field names for each role, in order of preference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnMap {
    names: [Vec<String>; 11],
}

impl Default for ColumnMap {
    fn default() -> Self {
        Self {
            names: Role::ALL.map(|role| {
                role.default_names()
                    .iter()
                    .map(|name| (*name).to_owned())
                    .collect()
            }),
        }
    }
}

impl ColumnMap {
    /// Makes `name` the only field read for `role`. The name stops counting for any other role,
    /// so `set(Role::Answer, "text")` does not leave `text` to the question as well.
    pub fn set(&mut self, role: Role, name: impl Into<String>) {
        let name = name.into();
        for names in &mut self.names {
            names.retain(|existing| existing != &name);
        }
        self.names[role.index()] = vec![name];
    }

    /// The names read for `role`, most preferred first.
    pub fn names(&self, role: Role) -> &[String] {
        &self.names[role.index()]
    }

    pub(crate) fn lookup(&self) -> Lookup {
        let mut entries = Vec::new();
        for role in Role::ALL {
            for (rank, name) in self.names(role).iter().enumerate() {
                // A name listed twice for one role keeps its better rank.
                if !entries
                    .iter()
                    .any(|entry: &LookupEntry| entry.name == *name)
                {
                    let rank = u8::try_from(rank).unwrap_or(u8::MAX);
                    entries.push(LookupEntry {
                        name: name.clone(),
                        role,
                        rank,
                    });
                }
            }
        }
        Lookup { entries }
    }
}

#[derive(Clone, Debug)]
struct LookupEntry {
    name: String,
    role: Role,
    rank: u8,
}

/// A column map flattened for matching field names; rank 0 is the most preferred name.
#[derive(Clone, Debug)]
pub(crate) struct Lookup {
    entries: Vec<LookupEntry>,
}

impl Lookup {
    /// JSON keys match exactly. A linear scan: there are about 25 names and a row has ~10 keys,
    /// which is cheaper than hashing each key.
    pub(crate) fn json_key(&self, key: &str) -> Option<(Role, u8)> {
        self.entries
            .iter()
            .find(|entry| entry.name == key)
            .map(|entry| (entry.role, entry.rank))
    }

    /// CSV headers are typed by people: surrounding spaces and letter case do not matter.
    pub(crate) fn csv_header(&self, header: &str) -> Option<(Role, u8)> {
        let header = header.trim().to_lowercase();
        self.entries
            .iter()
            .find(|entry| entry.name.trim().to_lowercase() == header)
            .map(|entry| (entry.role, entry.rank))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_rank_names_in_order() {
        let lookup = ColumnMap::default().lookup();
        assert_eq!(lookup.json_key("question"), Some((Role::Question, 0)));
        assert_eq!(lookup.json_key("text"), Some((Role::Question, 1)));
        assert_eq!(lookup.json_key("lethal_level"), Some((Role::RiskLevel, 1)));
        assert_eq!(lookup.json_key("Question"), None);
        assert_eq!(lookup.json_key("fig_caption"), None);
        assert_eq!(lookup.csv_header("  Question "), Some((Role::Question, 0)));
        assert_eq!(lookup.csv_header("GPT4_ANSWER"), Some((Role::Reference, 0)));
    }

    #[test]
    fn set_replaces_the_names_of_a_role_and_takes_the_name_from_others() {
        let mut columns = ColumnMap::default();
        columns.set(Role::Answer, "text");
        assert_eq!(columns.names(Role::Answer), ["text".to_owned()]);
        assert_eq!(
            columns.names(Role::Question),
            ["question".to_owned(), "prompt".to_owned()]
        );
        let lookup = columns.lookup();
        assert_eq!(lookup.json_key("text"), Some((Role::Answer, 0)));
        assert_eq!(lookup.json_key("answer"), None);
    }
}
