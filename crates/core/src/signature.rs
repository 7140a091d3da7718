//! The metric signature: one line that states everything that can change a number, in the
//! manner of sacrebleu. Two scores are comparable only when their signatures are equal.

use crate::fast_hash::ContentHash;
use crate::stats::StatsConfig;

/// Versions of the Python reference stack our metrics reproduce (and are tested against).
pub const NLTK_VERSION: &str = "3.10.4";
pub const ROUGE_SCORE_VERSION: &str = "0.1.2";
pub const WORDNET_VERSION: &str = "3.0";

/// The `bert_score` release whose semantics [`crate::metrics::bertscore`] reproduces.
pub const BERT_SCORE_VERSION: &str = "0.3.13";

/// A content hash of the model files B.Score reads, each given as (file name, bytes) in the
/// order the caller reads them: the name is hashed too (a tokenizer.json is not a vocab.json),
/// the folder's path is not (a renamed or moved folder keeps its values).
pub fn bertscore_files_hash<'a>(files: impl IntoIterator<Item = (&'a str, &'a [u8])>) -> String {
    let mut hash = ContentHash::default();
    for (name, bytes) in files {
        hash.field(name.as_bytes());
        hash.field(bytes);
    }
    hash.hex()
}

/// What B.Score's numbers depend on, without the model's name: the key kept values are filed
/// under (CLI cache lines, the page's kept chunks), so the same files in a renamed folder keep
/// them and other files under the same name do not. `files_hash` is [`bertscore_files_hash`]
/// of the weights, tokenizer and config read; then the layer, the batch size (bert_score's
/// padding effect), the length sentences are cut to and the library's semantics.
pub fn bertscore_values_key(
    files_hash: &str,
    layer: usize,
    batch_size: usize,
    max_tokens: usize,
) -> String {
    format!(
        "bert_score={BERT_SCORE_VERSION},files=h128:{files_hash},layer={layer},idf=no,rescale=no,batch={batch_size},max_len={max_tokens},tok=RobertaTokenizer(slow),f=F1"
    )
}

/// B.Score's part of [`signature`], appended when it is computed: the model's name (as
/// bert_score would know it) and everything [`bertscore_values_key`] names, the hash of the
/// model's files included, so random weights in a folder named roberta-large do not pass for
/// the benchmark's model.
pub fn bertscore_signature(
    model: &str,
    files_hash: &str,
    layer: usize,
    batch_size: usize,
    max_tokens: usize,
) -> String {
    let key = bertscore_values_key(files_hash, layer, batch_size, max_tokens);
    let rest = key
        .strip_prefix(&format!("bert_score={BERT_SCORE_VERSION},"))
        .unwrap_or(&key);
    format!("bertscore:bert_score={BERT_SCORE_VERSION},model={model},{rest}")
}

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
    fn bertscore_signature_names_model_files_layer_and_batch() {
        let files = bertscore_files_hash([
            ("config.json", &b"{}"[..]),
            ("model.safetensors", &b"weights"[..]),
        ]);
        let a = bertscore_signature("roberta-large", &files, 17, 64, 512);
        assert!(
            a.starts_with("bertscore:bert_score=0.3.13,model=roberta-large,files=h128:")
                && a.contains(&files)
                && a.contains("layer=17")
                && a.contains("batch=64"),
            "{a}"
        );
        let other_weights = bertscore_files_hash([
            ("config.json", &b"{}"[..]),
            ("model.safetensors", &b"weightS"[..]),
        ]);
        assert_ne!(files, other_weights);
        assert_ne!(
            a,
            bertscore_signature("roberta-large", &other_weights, 17, 64, 512)
        );
        assert_ne!(a, bertscore_signature("roberta-large", &files, 17, 1, 512));
        // The values' key leaves the name out (a renamed folder keeps its values), not the files.
        let key = bertscore_values_key(&files, 17, 64, 512);
        assert!(!key.contains("roberta-large") && key.contains(&files));
        assert!(a.ends_with(key.trim_start_matches("bert_score=0.3.13,")));
        // A file's name counts: the same bytes as tokenizer.json are another folder.
        assert_ne!(
            bertscore_files_hash([("vocab.json", &b"x"[..])]),
            bertscore_files_hash([("tokenizer.json", &b"x"[..])])
        );
    }
}
