#!/usr/bin/env python3
"""Regenerates crates/model/tests/fixtures/bertscore/: a tiny random-weight RoBERTa with its own
byte-level BPE vocabulary, and bert_score 0.3.13's P/R/F1 for a few hundred (cand, ref) pairs at
batch sizes 64 and 1, plus the token ids bert_score's `sent_encode` gives every sentence.

CI never runs this: the fixtures are committed. Environment (transformers must be < 5: in 5.x the
slow tokenizer ignores `add_prefix_space`):

    python3 -m venv /work/pyvenv-bert
    /work/pyvenv-bert/bin/pip install torch 'transformers>=4.46,<5' 'bert_score==0.3.13' \
        tokenizers pandas matplotlib
    /work/pyvenv-bert/bin/python scripts/bertscore_fixtures.py [--data ../shared/medhalltune]

`--cli-parity` leaves the model folder as it is and writes only crates/cli/tests/fixtures/
bertscore-parity.jsonl: bert_score's F1 at batch size 64 for 1,300+ pairs in one order, the
CLI's multi-chunk path. A LLaVA-Med pair is stored as its (split, question_id) only, never its
texts (the benchmark's files are not ours to commit: the test reads them from
../shared/medhalltune); the edge cases are synthetic and stored with their texts.

The model folder's path must not contain "t5" (bert_score would load it as T5).
"""
import argparse
import json
import os
import random
import sys

import torch
import transformers
import bert_score
from bert_score import score as bs_score
from bert_score.utils import sent_encode
from tokenizers import ByteLevelBPETokenizer
from transformers import AutoTokenizer, RobertaConfig, RobertaModel

assert transformers.__version__.split(".")[0] == "4", "bert_score needs transformers < 5"

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "crates/model/tests/fixtures/bertscore")
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
MAX_POSITIONS = 50  # positions start at pad id + 1 = 2: 48 tokens with <s> and </s>
NUM_LAYERS = 3  # scored layer; the model has 4


def read_eval_rows(data_dir):
    """LLaVA-Med's judge-eval rows, positive then negative, each with its split."""
    rows = []
    for split in ("positive", "negative"):
        path = os.path.join(data_dir, f"llava-med-v1.5-7b.{split}.gpt4o-eval.jsonl")
        with open(path, encoding="utf-8") as f:
            rows.extend((split, json.loads(line)) for line in f)
    return rows


def read_answers(data_dir):
    return [(row["gpt4_answer"], row["answer"]) for _, row in read_eval_rows(data_dir)]


def build_model(corpus):
    os.makedirs(OUT, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    # Small vocabulary: most words split into several pieces, every byte is a token.
    bpe.train_from_iterator(corpus, vocab_size=700, min_frequency=2, special_tokens=SPECIALS)
    bpe.save_model(OUT)
    torch.manual_seed(11)
    vocab = json.load(open(os.path.join(OUT, "vocab.json"), encoding="utf-8"))
    config = RobertaConfig(
        vocab_size=len(vocab),
        hidden_size=32,
        num_hidden_layers=4,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=MAX_POSITIONS,
        type_vocab_size=1,
        layer_norm_eps=1e-5,
        pad_token_id=1,
        bos_token_id=0,
        eos_token_id=2,
        hidden_act="gelu",
    )
    model = RobertaModel(config)
    # Random weights scaled so that token vectors stay mostly token-specific (the residual stream
    # is dominated by the word embedding): cosines then spread around 0 and some best matches are
    # negative, which exercises bert_score's padding effect. Nothing is left at its init value.
    scales = {
        "word_embeddings": 1.0,
        "position_embeddings": 0.1,
        "token_type_embeddings": 0.05,
        "attention.output.dense.weight": 0.1,
        # the feed-forward output: GELU outputs have a positive mean, W2 turns it into a vector
        # shared by all tokens
        "output.dense.weight": 0.05,
    }
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "LayerNorm.weight" in name:
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif name.endswith("bias"):
                p.copy_(0.02 * torch.randn_like(p))
            else:
                scale = next((v for k, v in scales.items() if k in name), 0.3)
                p.copy_(scale * torch.randn_like(p))
    model.save_pretrained(OUT, safe_serialization=True)
    tokenizer = transformers.RobertaTokenizer(
        os.path.join(OUT, "vocab.json"),
        os.path.join(OUT, "merges.txt"),
        model_max_length=MAX_POSITIONS - 2,
    )
    tokenizer.save_pretrained(OUT)
    # Only what the native side reads (and bert_score needs) stays.
    for extra in ("special_tokens_map.json",):
        path = os.path.join(OUT, extra)
        if os.path.exists(path):
            os.remove(path)


def edge_sentences():
    return [
        "",
        "   ",
        "\t\n",
        "\u00a0\u3000",
        "\x1c word \x1f",
        "a",
        ".",
        "The",
        "the the the the the the the the",
        "Café naïve résumé façade",
        "e\u0301 combining accent",
        "肺部 CT 显示 结节",
        "X-ray 🩻 shows a fracture 🦴 near the joint 👍🏽",
        "Ünïcödé ÀÉÎÕÜ ß ø å",
        "It's the patient's lung; they'll say it's fine, we've seen it, I'm sure, you'd agree.",
        "numbers 123 4567 3.14 1,000 ½ ² Ⅻ",
        "tabs\tand\nnewlines  and   runs of    spaces",
        "  leading and trailing spaces  ",
        "The chest X-ray shows <s> a special token </s> inside <mask> the text",
        "<s>",
        "text with <pad> and <unk> tokens",
        "a <mask>b and c<mask> d",
        "!!!???...,,,;;;",
        "UPPER lower MiXeD",
        "The image shows a CT scan of the abdomen. " * 12,
        "word " * 80,
        "Lorem ipsum dolor sit amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. " * 3,
    ]


def negative_pairs(answers, count):
    """Single-word fragments whose P or R is negative at batch size 1 (best cosine below 0)."""
    rng = random.Random(3)
    cands, refs = [], []
    for _ in range(2000):
        c = rng.choice(answers)[0].split()
        r = rng.choice(answers)[1].split()
        cands.append(rng.choice(c))
        refs.append(rng.choice(r))
    p, r, _ = bs_score(cands, refs, model_type=OUT, num_layers=NUM_LAYERS, batch_size=1, device="cpu")
    keep = [i for i in range(len(cands)) if p[i] < 0 or r[i] < 0][:count]
    assert len(keep) >= count // 2, f"only {len(keep)} pairs with a negative best match"
    return [(cands[i], refs[i]) for i in keep]


def build_pairs(answers, negatives):
    rng = random.Random(7)
    edges = edge_sentences()
    pairs = []
    # Benchmark-style pairs: the reference (gpt4_answer) against the model's answer.
    picked = rng.sample(answers, 200)
    pairs += [(c, r) for c, r in picked]
    # Short fragments of answers: likely to have negative best matches with random weights.
    for _ in range(60):
        c = rng.choice(answers)[0].split()
        r = rng.choice(answers)[1].split()
        i, j = rng.randrange(len(c)), rng.randrange(len(r))
        pairs.append((" ".join(c[i : i + rng.randint(1, 3)]), " ".join(r[j : j + rng.randint(1, 3)])))
    # Every edge sentence against a benchmark answer, itself and another edge sentence.
    for e in edges:
        a = rng.choice(answers)[1]
        pairs.append((e, a))
        pairs.append((a, e))
        pairs.append((e, e))
        pairs.append((e, rng.choice(edges)))
    # Repeated sentences (identical pairs and the same sentence in several pairs).
    same = picked[0][0]
    pairs += [(same, same), (same, picked[1][1]), (picked[1][1], same)]
    pairs += negatives
    rng.shuffle(pairs)
    return pairs


CLI_PARITY = os.path.join(ROOT, "crates/cli/tests/fixtures/bertscore-parity.jsonl")


def cli_parity(data_dir):
    """Every positive LLaVA-Med pair, 230 negative ones and the edge cases, shuffled into one
    order: the CLI scores them as one split in chunks of 64, as bert_score's batches."""
    rows = [{"split": split, "question_id": row["question_id"],
             "cand": row["gpt4_answer"], "ref": row["answer"]}
            for split, row in read_eval_rows(data_dir)]
    rng = random.Random(27)
    positive = [r for r in rows if r["split"] == "positive"]
    negative = rng.sample([r for r in rows if r["split"] == "negative"], 230)
    edges = edge_sentences() + ["word " * 400, "肺" * 300, "\u200b\u200d\ufeff", "🦴" * 60]
    answers = [r["ref"] for r in positive]
    synthetic = []
    # A results row needs a non-blank answer (bert_score's ref); the reference answer (its cand)
    # may be anything.
    for e in edges:
        a = rng.choice(answers)
        synthetic.append({"cand": e, "ref": a})
        if e.strip():
            synthetic.append({"cand": a, "ref": e})
            synthetic.append({"cand": e, "ref": e})
            synthetic.append({"cand": rng.choice(edges), "ref": e})
    pairs = positive + negative + synthetic
    rng.shuffle(pairs)
    cands = [p["cand"] for p in pairs]
    refs = [p["ref"] for p in pairs]
    _, _, f = bs_score(cands, refs, model_type=OUT, num_layers=NUM_LAYERS, batch_size=64, device="cpu")
    os.makedirs(os.path.dirname(CLI_PARITY), exist_ok=True)
    with open(CLI_PARITY, "w", encoding="utf-8") as out:
        for p, f1 in zip(pairs, f.tolist()):
            row = {"split": p["split"], "question_id": p["question_id"]} if "split" in p else {
                "cand": p["cand"], "ref": p["ref"]}
            row["f1"] = f1
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"{len(pairs)} pairs ({len(synthetic)} synthetic) -> {CLI_PARITY}", file=sys.stderr)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=os.path.join(ROOT, "..", "shared", "medhalltune"))
    parser.add_argument("--cli-parity", action="store_true",
                        help="write only the CLI's 1,300-pair parity fixture, with the model as it is")
    args = parser.parse_args()
    if args.cli_parity:
        torch.set_num_threads(1)
        cli_parity(args.data)
        return
    answers = read_answers(args.data)
    corpus = [t for pair in answers[:1500] for t in pair]
    build_model(corpus)
    torch.set_num_threads(1)
    pairs = build_pairs(answers, negative_pairs(answers, 30))
    cands = [c for c, _ in pairs]
    refs = [r for _, r in pairs]
    results = {}
    for batch in (64, 1):
        p, r, f = bs_score(cands, refs, model_type=OUT, num_layers=NUM_LAYERS, batch_size=batch, device="cpu")
        results[batch] = (p.tolist(), r.tolist(), f.tolist())
    tokenizer = AutoTokenizer.from_pretrained(OUT, use_fast=False)

    def num(x):
        return None if x != x else x  # NaN has no JSON form: null

    with open(os.path.join(OUT, "expected.jsonl"), "w", encoding="utf-8") as f:
        for i, (c, r) in enumerate(pairs):
            row = {"cand": c, "ref": r}
            for batch, (p, rr, ff) in results.items():
                row[f"b{batch}"] = [num(p[i]), num(rr[i]), num(ff[i])]
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    sentences = sorted(set(cands + refs))
    with open(os.path.join(OUT, "tokens.jsonl"), "w", encoding="utf-8") as f:
        for s in sentences:
            f.write(json.dumps({"text": s, "ids": sent_encode(tokenizer, s)}, ensure_ascii=False) + "\n")
    meta = {
        "bert_score": "0.3.13",
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "num_layers": NUM_LAYERS,
        "pairs": len(pairs),
        "sentences": len(sentences),
        "model_max_length": tokenizer.model_max_length,
    }
    json.dump(meta, open(os.path.join(OUT, "meta.json"), "w"), indent=1)
    print(json.dumps(meta), file=sys.stderr)


if __name__ == "__main__":
    main()
