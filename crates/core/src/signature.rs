//! The metric signature: one line that states everything that can change a number, in the
//! manner of sacrebleu. Two scores are comparable only when their signatures are equal.

use crate::stats::StatsConfig;

/// Versions of the Python reference stack our metrics reproduce (and are tested against).
pub const NLTK_VERSION: &str = "3.10.4";
pub const ROUGE_SCORE_VERSION: &str = "0.1.2";
pub const WORDNET_VERSION: &str = "3.0";

/// The `bert_score` release whose semantics [`crate::metrics::bertscore`] reproduces.
pub const BERT_SCORE_VERSION: &str = "0.3.13";

/// What B.Score depends on, appended to [`signature`] when it is computed: the model (its name
/// and a CRC-32 of its `config.json`, so another model cannot pass for the benchmark's), the
/// layer, the batch size (bert_score's padding effect), the length sentences are cut to and
/// the library's semantics.
pub fn bertscore_signature(
    model: &str,
    config_json: &[u8],
    layer: usize,
    batch_size: usize,
    max_tokens: usize,
) -> String {
    format!(
        "bertscore:bert_score={BERT_SCORE_VERSION},model={model},config=crc32:{:08x},layer={layer},idf=no,rescale=no,batch={batch_size},max_len={max_tokens},tok=RobertaTokenizer(slow),f=F1",
        crc32fast::hash(config_json)
    )
}

/// `signature` plus the provenance of hallucination types a model labelled (`medhall judge
/// --label-types`): such types are not the benchmark's, and results grouped by them say so.
pub fn with_type_labellers(mut signature: String, labellers: &[String]) -> String {
    if !labellers.is_empty() {
        signature.push_str(&format!(
            "|types:labelled_by={},prompt={}",
            labellers.join("+"),
            crate::judging::types::TYPE_PROMPT_VERSION
        ));
    }
    signature
}

pub fn signature(stats: &StatsConfig) -> String {
    format!(
        "medhall-lens:{version}|rouge:rouge_score={ROUGE_SCORE_VERSION},types=rouge1+rouge2+rougeL,f=fmeasure,stem=porter(nltk={NLTK_VERSION}),stem_min_len=4\
|meteor:nltk={NLTK_VERSION},fn=single_meteor_score,alpha=0.9,beta=3,gamma=0.5,stages=exact+porter+wordnet,wordnet={WORDNET_VERSION},tok=str.split,case=str.lower\
|bleu:nltk={NLTK_VERSION},fn=sentence_bleu,order=4,weights=uniform,smooth=method1,epsilon=0.1,tok=str.split,case=kept\
|judge:line=first,rule=eval.py+variants,scores=accuracy+relevance+detail+risk\
|mean:plain|ci:bootstrap-percentile,level=95,resamples={resamples},seed={seed}|paired:sign-flip,permutations={permutations}",
        version = env!("CARGO_PKG_VERSION"),
        resamples = stats.bootstrap_resamples,
        seed = stats.seed,
        permutations = stats.permutations,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn bertscore_signature_names_model_layer_and_batch() {
        let a = bertscore_signature("roberta-large", b"{}", 17, 64, 512);
        assert!(
            a.contains("bert_score=0.3.13") && a.contains("layer=17") && a.contains("batch=64")
        );
        assert_ne!(a, bertscore_signature("roberta-large", b"{ }", 17, 64, 512));
        assert_ne!(a, bertscore_signature("roberta-large", b"{}", 17, 1, 512));
    }
}
