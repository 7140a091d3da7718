//! RoBERTa's byte-level BPE as `bert_score` 0.3.13 runs it: the slow `RobertaTokenizer` of
//! transformers 4.x through `sent_encode` (see `medhall_metrics::bertscore` for the whole
//! procedure). Step by step, for one sentence:
//! 1. `strip()` with Python's whitespace; an empty result encodes as `<s></s>`.
//! 2. A space is put in front (`add_prefix_space=True`; the stripped text never starts with one).
//! 3. The added tokens (`<s>`, `<pad>`, `</s>`, `<unk>`, `<mask>` and any other listed in
//!    `tokenizer_config.json`'s `added_tokens_decoder`) are split out, leftmost and longest
//!    first, and become their own ids. A token with `lstrip` (RoBERTa's `<mask>`) removes the
//!    whitespace at the end of the text before it, one with `rstrip` the whitespace at the start
//!    of the text after it (Python's `rstrip()`/`lstrip()`).
//! 4. Every other piece is split with GPT-2's pattern
//!    `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, each match's
//!    UTF-8 bytes mapped to GPT-2's printable byte characters, then merged by BPE: repeatedly the
//!    adjacent pair with the lowest merge rank is merged everywhere, left to right, until no pair
//!    has a rank. Each resulting symbol is looked up in `vocab.json` (`<unk>` when absent).
//! 5. The ids are cut to `model_max_length - 2` (from the end; `truncation_side` left cuts from
//!    the start) and wrapped in `<s>` … `</s>`.
//!
//! `merges.txt` is read as the slow tokenizer reads it: its lines split on `\n`, the first (the
//! `#version` header) and the last (after the final newline) dropped, each line split on
//! whitespace. A folder with only `tokenizer.json` gives its `model.vocab` and `model.merges`
//! (all of them) and its `added_tokens`.

use crate::ModelError;
use medhall_metrics::text::is_python_whitespace;
use serde_json::Value;
use std::cell::RefCell;
use std::collections::HashMap;
use tokenizers::utils::SysRegex;

const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";

/// A token split out of the text before BPE.
#[derive(Clone, Debug, PartialEq)]
struct AddedToken {
    content: String,
    id: u32,
    lstrip: bool,
    rstrip: bool,
}

/// One sentence's ids, and whether truncation cut it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    pub ids: Vec<u32>,
    pub truncated: bool,
}

/// Where the maximum length came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LengthLimit {
    /// `tokenizer_config.json`'s `model_max_length`.
    Configured(usize),
    /// None usable was configured: the caller sets the encoder's limit.
    Unset,
}

#[derive(Debug)]
pub struct RobertaTokenizer {
    vocab: HashMap<String, u32>,
    ranks: HashMap<(String, String), usize>,
    /// Longest first, so the first match at a position is the longest.
    added: Vec<AddedToken>,
    pub cls_id: u32,
    pub sep_id: u32,
    pub pad_id: u32,
    unk_id: Option<u32>,
    pub limit: LengthLimit,
    truncate_left: bool,
    pattern: SysRegex,
    byte_chars: [char; 256],
    cache: RefCell<HashMap<String, Vec<u32>>>,
}

/// GPT-2's map from bytes to printable characters: the printable Latin-1 bytes map to
/// themselves, the 68 others to U+0100 onwards in byte order.
fn byte_chars() -> [char; 256] {
    let printable = |b: u32| {
        (0x21..=0x7e).contains(&b) || (0xa1..=0xac).contains(&b) || (0xae..=0xff).contains(&b)
    };
    let mut chars = ['\0'; 256];
    let mut next = 256u32;
    for b in 0..256u32 {
        let code = if printable(b) {
            b
        } else {
            next += 1;
            next - 1
        };
        chars[b as usize] = char::from_u32(code).unwrap_or('\u{fffd}');
    }
    chars
}

fn python_strip(text: &str) -> &str {
    text.trim_matches(is_python_whitespace)
}

fn json(file: &str, bytes: &[u8]) -> Result<Value, ModelError> {
    serde_json::from_slice(bytes).map_err(|e| ModelError::Json {
        file: file.to_owned(),
        message: e.to_string(),
    })
}

fn field_error(file: &str, field: &str, message: impl Into<String>) -> ModelError {
    ModelError::Field {
        file: file.to_owned(),
        field: field.to_owned(),
        message: message.into(),
    }
}

/// A special token's text in `tokenizer_config.json`: a string or `{"content": ...}`.
fn token_text(value: &Value) -> Option<&str> {
    value
        .as_str()
        .or_else(|| value.get("content").and_then(Value::as_str))
}

impl RobertaTokenizer {
    /// From `vocab.json` and `merges.txt` (and `tokenizer_config.json` when the folder has one).
    pub fn from_vocab_merges(
        vocab_json: &[u8],
        merges_txt: &[u8],
        tokenizer_config: Option<&[u8]>,
    ) -> Result<RobertaTokenizer, ModelError> {
        let vocab = read_vocab("vocab.json", &json("vocab.json", vocab_json)?)?;
        let text = std::str::from_utf8(merges_txt)
            .map_err(|e| field_error("merges.txt", "text", format!("not UTF-8: {e}")))?;
        let lines: Vec<&str> = text.split('\n').collect();
        let lines = lines.get(1..lines.len().saturating_sub(1)).unwrap_or(&[]);
        let merges = lines
            .iter()
            .map(|line| {
                line.split(is_python_whitespace)
                    .filter(|s| !s.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .collect();
        let config = tokenizer_config
            .map(|bytes| json("tokenizer_config.json", bytes))
            .transpose()?;
        RobertaTokenizer::build("merges.txt", vocab, merges, config.as_ref(), None)
    }

    /// From a `tokenizer.json` (a BPE model), with `tokenizer_config.json` when present.
    pub fn from_tokenizer_json(
        tokenizer_json: &[u8],
        tokenizer_config: Option<&[u8]>,
    ) -> Result<RobertaTokenizer, ModelError> {
        let file = "tokenizer.json";
        let root = json(file, tokenizer_json)?;
        let model = root
            .get("model")
            .ok_or_else(|| field_error(file, "model", "missing"))?;
        if model.get("type").and_then(Value::as_str) != Some("BPE") {
            return Err(field_error(file, "model.type", "not a BPE model"));
        }
        let vocab = read_vocab(
            file,
            model
                .get("vocab")
                .ok_or_else(|| field_error(file, "model.vocab", "missing"))?,
        )?;
        let merges = model
            .get("merges")
            .and_then(Value::as_array)
            .ok_or_else(|| field_error(file, "model.merges", "missing or not a list"))?
            .iter()
            .map(|m| match m {
                Value::String(s) => Some(s.split(' ').map(str::to_owned).collect()),
                Value::Array(parts) => parts
                    .iter()
                    .map(|p| p.as_str().map(str::to_owned))
                    .collect(),
                _ => None,
            })
            .collect::<Option<Vec<Vec<String>>>>()
            .ok_or_else(|| {
                field_error(
                    file,
                    "model.merges",
                    "an entry is neither \"a b\" nor [a, b]",
                )
            })?;
        let config = tokenizer_config
            .map(|bytes| json("tokenizer_config.json", bytes))
            .transpose()?;
        let added = root
            .get("added_tokens")
            .and_then(Value::as_array)
            .map(|list| {
                list.iter()
                    .filter_map(|t| {
                        Some(AddedToken {
                            content: t.get("content")?.as_str()?.to_owned(),
                            id: u32::try_from(t.get("id")?.as_u64()?).ok()?,
                            lstrip: t.get("lstrip").and_then(Value::as_bool).unwrap_or(false),
                            rstrip: t.get("rstrip").and_then(Value::as_bool).unwrap_or(false),
                        })
                    })
                    .collect()
            });
        RobertaTokenizer::build(file, vocab, merges, config.as_ref(), added)
    }

    fn build(
        merges_file: &str,
        vocab: HashMap<String, u32>,
        merges: Vec<Vec<String>>,
        config: Option<&Value>,
        added_from_json: Option<Vec<AddedToken>>,
    ) -> Result<RobertaTokenizer, ModelError> {
        let cfg_file = "tokenizer_config.json";
        let mut ranks = HashMap::new();
        let mut missing = 0usize;
        for (rank, merge) in merges.iter().enumerate() {
            // A line that is not two symbols can never match a pair (the slow tokenizer keeps
            // it as a rank of a tuple nobody looks up).
            if let [a, b] = &merge[..] {
                if !vocab.contains_key(&format!("{a}{b}")) {
                    missing += 1;
                }
                ranks.entry((a.clone(), b.clone())).or_insert(rank);
            }
        }
        // A merge whose result is not in the vocabulary gives `<unk>` silently; more than a few
        // mean the two files do not belong together.
        if missing * 100 > ranks.len().max(1) {
            return Err(field_error(
                merges_file,
                "merges",
                format!(
                    "{missing} of {} merges yield tokens the vocabulary lacks: the vocabulary and the merges do not belong together",
                    ranks.len()
                ),
            ));
        }
        let special = |field: &str, default: &str| -> String {
            config
                .and_then(|c| c.get(field))
                .and_then(token_text)
                .unwrap_or(default)
                .to_owned()
        };
        let mut added: Vec<AddedToken> = match (
            config.and_then(|c| c.get("added_tokens_decoder")),
            added_from_json,
        ) {
            (Some(decoder), _) => {
                let entries = decoder.as_object().ok_or_else(|| {
                    field_error(cfg_file, "added_tokens_decoder", "not an object")
                })?;
                let mut list = Vec::new();
                for (id, entry) in entries {
                    let bad =
                        |m: &str| field_error(cfg_file, &format!("added_tokens_decoder.{id}"), m);
                    if entry.get("single_word").and_then(Value::as_bool) == Some(true) {
                        return Err(bad("single_word tokens are not supported"));
                    }
                    list.push(AddedToken {
                        content: entry
                            .get("content")
                            .and_then(Value::as_str)
                            .ok_or_else(|| bad("no content"))?
                            .to_owned(),
                        id: id.parse().map_err(|_| bad("the key is not a token id"))?,
                        lstrip: entry
                            .get("lstrip")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                        rstrip: entry
                            .get("rstrip")
                            .and_then(Value::as_bool)
                            .unwrap_or(false),
                    });
                }
                list
            }
            (None, Some(list)) => list,
            // RobertaTokenizer's defaults: its five special tokens, `<mask>` with lstrip.
            (None, None) => ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
                .iter()
                .filter_map(|&t| {
                    Some(AddedToken {
                        content: t.to_owned(),
                        id: *vocab.get(t)?,
                        lstrip: t == "<mask>",
                        rstrip: false,
                    })
                })
                .collect(),
        };
        added.retain(|t| !t.content.is_empty());
        added.sort_by_key(|t| std::cmp::Reverse(t.content.len()));
        let id_of = |field: &str, default: &str| -> Result<u32, ModelError> {
            let text = special(field, default);
            added
                .iter()
                .find(|t| t.content == text)
                .map(|t| t.id)
                .or_else(|| vocab.get(&text).copied())
                .ok_or_else(|| {
                    field_error(
                        "vocab.json",
                        field,
                        format!("the special token `{text}` is not in the vocabulary"),
                    )
                })
        };
        let cls_id = id_of("cls_token", "<s>")?;
        let sep_id = id_of("sep_token", "</s>")?;
        let pad_id = id_of("pad_token", "<pad>")?;
        let unk_id = id_of("unk_token", "<unk>").ok();
        let limit = match config.and_then(|c| c.get("model_max_length")) {
            Some(v) => match v.as_f64() {
                // transformers writes 1e30 ("no limit") for tokenizers without one.
                Some(n) if (3.0..1e9).contains(&n) => LengthLimit::Configured(n as usize),
                Some(n) if n >= 1e9 => LengthLimit::Unset,
                _ => {
                    return Err(field_error(
                        cfg_file,
                        "model_max_length",
                        "not a length of at least 3",
                    ));
                }
            },
            None => LengthLimit::Unset,
        };
        let truncate_left = config
            .and_then(|c| c.get("truncation_side"))
            .and_then(Value::as_str)
            == Some("left");
        let pattern = SysRegex::new(GPT2_PATTERN)
            .map_err(|e| ModelError::Input(format!("the GPT-2 split pattern: {e}")))?;
        Ok(RobertaTokenizer {
            vocab,
            ranks,
            added,
            cls_id,
            sep_id,
            pad_id,
            unk_id,
            limit,
            truncate_left,
            pattern,
            byte_chars: byte_chars(),
            cache: RefCell::new(HashMap::new()),
        })
    }

    pub fn vocab_size(&self) -> usize {
        self.vocab.len()
    }

    /// The largest id any token can have (the encoder's table must be larger).
    pub fn max_id(&self) -> u32 {
        let vocab = self.vocab.values().copied().max().unwrap_or(0);
        self.added.iter().map(|t| t.id).fold(vocab, u32::max)
    }

    /// `sent_encode(tokenizer, sentence)` with `max_length` tokens at most (`<s>`/`</s>` included).
    pub fn encode(&self, sentence: &str, max_length: usize) -> Result<Encoded, ModelError> {
        let text = python_strip(sentence);
        let mut ids = Vec::new();
        if !text.is_empty() {
            let text = format!(" {text}");
            for piece in self.split_added(&text) {
                match piece {
                    Piece::Added(id) => ids.push(id),
                    Piece::Text(t) => self.bpe_piece(t, &mut ids)?,
                }
            }
        }
        let room = max_length.saturating_sub(2);
        let truncated = ids.len() > room;
        if truncated {
            if self.truncate_left {
                ids.drain(..ids.len() - room);
            } else {
                ids.truncate(room);
            }
        }
        let mut out = Vec::with_capacity(ids.len() + 2);
        out.push(self.cls_id);
        out.extend(ids);
        out.push(self.sep_id);
        Ok(Encoded {
            ids: out,
            truncated,
        })
    }

    fn split_added<'t>(&self, text: &'t str) -> Vec<Piece<'t>> {
        let mut pieces: Vec<(Piece<'t>, bool, bool)> = Vec::new();
        let mut start = 0;
        let mut i = 0;
        while i < text.len() {
            let rest = &text[i..];
            if let Some(token) = self.added.iter().find(|t| rest.starts_with(&t.content)) {
                if start < i {
                    pieces.push((Piece::Text(&text[start..i]), false, false));
                }
                pieces.push((Piece::Added(token.id), token.lstrip, token.rstrip));
                i += token.content.len();
                start = i;
            } else {
                i += rest.chars().next().map_or(1, char::len_utf8);
            }
        }
        if start < text.len() {
            pieces.push((Piece::Text(&text[start..]), false, false));
        }
        for k in 0..pieces.len() {
            let (_, lstrip, rstrip) = pieces[k];
            if rstrip && let Some((Piece::Text(t), _, _)) = pieces.get_mut(k + 1) {
                *t = t.trim_start_matches(is_python_whitespace);
            }
            if lstrip
                && k > 0
                && let Some((Piece::Text(t), _, _)) = pieces.get_mut(k - 1)
            {
                *t = t.trim_end_matches(is_python_whitespace);
            }
        }
        pieces
            .into_iter()
            .map(|(p, _, _)| p)
            .filter(|p| !matches!(p, Piece::Text("")))
            .collect()
    }

    fn bpe_piece(&self, text: &str, ids: &mut Vec<u32>) -> Result<(), ModelError> {
        for (begin, end) in self.pattern.find_iter(text) {
            let word: String = text[begin..end]
                .bytes()
                .map(|b| self.byte_chars[usize::from(b)])
                .collect();
            if let Some(cached) = self.cache.borrow().get(&word) {
                ids.extend_from_slice(cached);
                continue;
            }
            let mut word_ids = Vec::new();
            for symbol in self.bpe(&word) {
                let id = self
                    .added
                    .iter()
                    .find(|t| t.content == symbol)
                    .map(|t| t.id)
                    .or_else(|| self.vocab.get(&symbol).copied())
                    .or(self.unk_id)
                    .ok_or_else(|| {
                        ModelError::Input(format!(
                            "the token `{symbol}` is not in vocab.json and there is no <unk> token"
                        ))
                    })?;
                word_ids.push(id);
            }
            ids.extend_from_slice(&word_ids);
            self.cache.borrow_mut().insert(word, word_ids);
        }
        Ok(())
    }

    /// GPT-2's BPE of one pre-token (already in byte characters).
    fn bpe(&self, word: &str) -> Vec<String> {
        let mut symbols: Vec<String> = word.chars().map(String::from).collect();
        while symbols.len() > 1 {
            let best = symbols
                .windows(2)
                .filter_map(|w| {
                    let key = (w[0].clone(), w[1].clone());
                    self.ranks.get(&key).map(|&rank| (rank, key))
                })
                .min_by_key(|(rank, _)| *rank);
            let Some((_, (first, second))) = best else {
                break;
            };
            let mut merged = Vec::with_capacity(symbols.len());
            let mut i = 0;
            while i < symbols.len() {
                if i + 1 < symbols.len() && symbols[i] == first && symbols[i + 1] == second {
                    merged.push(format!("{first}{second}"));
                    i += 2;
                } else {
                    merged.push(std::mem::take(&mut symbols[i]));
                    i += 1;
                }
            }
            symbols = merged;
        }
        symbols
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Piece<'t> {
    Text(&'t str),
    Added(u32),
}

fn read_vocab(file: &str, value: &Value) -> Result<HashMap<String, u32>, ModelError> {
    let entries = value
        .as_object()
        .ok_or_else(|| field_error(file, "vocab", "not an object of token → id"))?;
    entries
        .iter()
        .map(|(token, id)| {
            let id = id
                .as_u64()
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(|| field_error(file, token, "the id is not a non-negative integer"))?;
            Ok((token.clone(), id))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn byte_map_is_gpt2s() {
        let chars = byte_chars();
        assert_eq!(chars[b' ' as usize], 'Ġ');
        assert_eq!(chars[b'a' as usize], 'a');
        assert_eq!(chars[b'\n' as usize], 'Ċ');
        assert_eq!(chars[0], 'Ā');
        assert_eq!(chars[0xad], 'Ń');
        let distinct: std::collections::HashSet<char> = chars.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
    }

    fn tiny() -> RobertaTokenizer {
        let vocab = br#"{"<s>":0,"<pad>":1,"</s>":2,"<unk>":3,"<mask>":4,"a":5,"b":6,"\u0120":7,"\u0120a":8,"ab":9,"\u0120ab":10}"#;
        let merges = "#version: 0.2\n\u{120} a\na b\n\u{120}a b\n";
        RobertaTokenizer::from_vocab_merges(vocab, merges.as_bytes(), None).expect("tiny tokenizer")
    }

    #[test]
    fn merges_specials_and_truncation() {
        let t = tiny();
        assert_eq!(
            t.encode("  ab ", 512).expect("test data").ids,
            vec![0, 10, 2]
        );
        assert_eq!(t.encode(" \u{1c}", 512).expect("test data").ids, vec![0, 2]);
        // `<s>` inside the text is its own id; the space before it is its own piece.
        assert_eq!(
            t.encode("a <s>b", 512).expect("test data").ids,
            vec![0, 8, 7, 0, 6, 2]
        );
        // `<mask>` strips the whitespace before it.
        assert_eq!(
            t.encode("a <mask>", 512).expect("test data").ids,
            vec![0, 8, 4, 2]
        );
        // An unknown character is <unk>.
        assert_eq!(t.encode("c", 512).expect("test data").ids, vec![0, 7, 3, 2]);
        let long = t.encode("a a a a", 4).expect("test data");
        assert_eq!(
            long,
            Encoded {
                ids: vec![0, 8, 8, 2],
                truncated: true
            }
        );
    }

    #[test]
    fn mismatched_vocab_and_merges_are_refused() {
        let vocab = br#"{"<s>":0,"<pad>":1,"</s>":2,"<unk>":3,"x":4}"#;
        let merges = "#version: 0.2\n\u{120} a\na b\n";
        let err = RobertaTokenizer::from_vocab_merges(vocab, merges.as_bytes(), None)
            .expect_err("an error");
        assert!(err.to_string().contains("do not belong together"), "{err}");
        let err = RobertaTokenizer::from_vocab_merges(b"[1]", merges.as_bytes(), None)
            .expect_err("an error");
        assert!(err.to_string().contains("vocab.json"), "{err}");
    }
}
