//! The metric signature: one line that states everything that can change a number, in the
//! manner of sacrebleu. Two scores are comparable only when their signatures are equal.

// Each metric's part, the versions of the reference stack and B.Score's signature live with
// the metrics (medhall-metrics); re-exported here under the paths they had.
pub use medhall_metrics::signature::{
    BERT_SCORE_VERSION, NLTK_VERSION, ROUGE_SCORE_VERSION, WORDNET_VERSION, bertscore_files_hash,
    bertscore_signature, bertscore_values_key,
};
use medhall_metrics::signature::{
    bleu_signature, meteor_signature, rouge_signature, stats_signature,
};

use crate::stats::StatsConfig;

/// `signature` plus the provenance of hallucination types a model labelled (`medhall judge
/// --label-types`): such types are not the benchmark's, and results grouped by them say so.
/// `prompt` names the labelling prompt's wording (`judging::types::TYPE_PROMPT_VERSION`; passed
/// in, since the signature sits below the judge code and must not import it).
pub fn with_type_labellers(mut signature: String, labellers: &[String], prompt: &str) -> String {
    if !labellers.is_empty() {
        signature.push_str(&format!(
            "|types:labelled_by={},prompt={prompt}",
            labellers.join("+"),
        ));
    }
    signature
}

pub fn signature(stats: &StatsConfig) -> String {
    format!(
        "medhall-lens:{version}|{rouge}|{meteor}|{bleu}\
|judge:line=first,rule=eval.py+variants,scores=accuracy+relevance+detail+risk\
|{stats}",
        version = env!("CARGO_PKG_VERSION"),
        rouge = rouge_signature(),
        meteor = meteor_signature(),
        bleu = bleu_signature(),
        stats = stats_signature(stats),
    )
}

/// The signature of `medhall vqa`'s numbers: LLaVA-Med's VQA scores under one closed rule
/// ([`medhall_metrics::vqa::signature_part`]), then the mean, the bootstrap and the paired test
/// that compares models.
pub fn vqa_signature(rule: medhall_metrics::vqa::ClosedRule, stats: &StatsConfig) -> String {
    format!(
        "medhall-lens:{version}|{vqa}|{stats}",
        version = env!("CARGO_PKG_VERSION"),
        vqa = medhall_metrics::vqa::signature_part(rule),
        stats = stats_signature(stats),
    )
}

/// The signature of a set of scores as every frontend prints it: the metrics' and statistics'
/// (`signature`), the type labellers (`with_type_labellers`), then each further part that
/// applies (the judges behind the judge columns, each B.Score model), all `|`-separated. The one
/// joiner `medhall score` and the session (the page, `medhall report`) use, so the same scores
/// get the same line wherever they were computed.
pub fn scores_signature<I: IntoIterator<Item = String>>(
    stats: &StatsConfig,
    labellers: &[String],
    type_prompt: &str,
    parts: I,
) -> String {
    let mut text = with_type_labellers(signature(stats), labellers, type_prompt);
    for part in parts {
        text.push('|');
        text.push_str(&part);
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vqa_signature_names_the_rule_and_the_paired_test() {
        let stats = StatsConfig {
            permutations: 99,
            ..StatsConfig::default()
        };
        let text = vqa_signature(medhall_metrics::vqa::ClosedRule::RunEval, &stats);
        assert!(text.contains("|vqa:llava-med=b9a98a7,"), "{text}");
        assert!(
            text.contains("closed=yes|no-gate+substring(run_eval.py)"),
            "{text}"
        );
        assert!(
            text.ends_with("|paired:sign-flip,permutations=99"),
            "{text}"
        );
    }

    #[test]
    fn signature_states_what_changes_numbers() {
        let config = StatsConfig::default();
        let text = signature(&config);
        assert!(
            text.contains("nltk=3.10.4")
                && text.contains("rouge_score=0.1.2")
                && text.contains("wordnet=3.0")
        );
        assert!(text.contains("seed=12345") && text.contains("resamples=1000"));
        let other = signature(&StatsConfig { seed: 1, ..config });
        assert_ne!(text, other);
    }

    #[test]
    fn a_scores_signature_joins_its_parts_like_the_metrics_parts() {
        let config = StatsConfig::default();
        let base = signature(&config);
        assert_eq!(scores_signature(&config, &[], "p/1", Vec::new()), base);
        let labellers = ["m".to_owned()];
        let full = scores_signature(
            &config,
            &labellers,
            "p/1",
            ["judge_by:a".to_owned(), "bertscore:x".to_owned()],
        );
        assert_eq!(
            full,
            format!("{base}|types:labelled_by=m,prompt=p/1|judge_by:a|bertscore:x")
        );
    }
}
