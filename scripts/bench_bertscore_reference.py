#!/usr/bin/env python3
"""The PyTorch side of scripts/bench_bertscore.sh: builds (once) a real-size random-weight
roberta-large folder (its published config; a byte-level BPE trained on the LLaVA-Med answers
stands in for the real vocabulary, which is not available here), writes the benchmark pairs, and
times bert_score 0.3.13 on them (model loaded beforehand, so only scoring is timed), on the CPU
(`--device cpu`, with `--threads` intra-op threads) or a CUDA GPU (`--device cuda`). Prints one JSON
line: the engine, the device, the threads PyTorch reports, the seconds and the B.Score.

Needs the venv of scripts/bertscore_fixtures.py (transformers < 5, bert_score 0.3.13; a CUDA build
of torch for `--device cuda`)."""
import argparse
import importlib.metadata
import json
import os
import sys
import time

import torch
from bert_score import BERTScorer
from tokenizers import ByteLevelBPETokenizer
from transformers import RobertaConfig, RobertaModel, RobertaTokenizer


def build(folder, texts):
    if os.path.exists(os.path.join(folder, "model.safetensors")):
        return
    os.makedirs(folder, exist_ok=True)
    bpe = ByteLevelBPETokenizer()
    bpe.train_from_iterator(texts, vocab_size=8000, min_frequency=2,
                            special_tokens=["<s>", "<pad>", "</s>", "<unk>", "<mask>"])
    bpe.save_model(folder)
    RobertaTokenizer(os.path.join(folder, "vocab.json"), os.path.join(folder, "merges.txt"),
                     model_max_length=512).save_pretrained(folder)
    # roberta-large's published architecture.
    config = RobertaConfig(vocab_size=50265, hidden_size=1024, num_hidden_layers=24,
                           num_attention_heads=16, intermediate_size=4096, hidden_act="gelu",
                           max_position_embeddings=514, type_vocab_size=1, layer_norm_eps=1e-5,
                           pad_token_id=1, bos_token_id=0, eos_token_id=2)
    torch.manual_seed(0)
    RobertaModel(config).save_pretrained(folder, safe_serialization=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", required=True)
    parser.add_argument("--data", required=True)
    parser.add_argument("--pairs", type=int, default=512)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    args = parser.parse_args()
    rows = []
    for split in ("positive", "negative"):
        with open(os.path.join(args.data, f"llava-med-v1.5-7b.{split}.gpt4o-eval.jsonl"), encoding="utf-8") as f:
            rows += [json.loads(line) for line in f]
    folder = os.path.join(args.dir, "roberta-large")
    build(folder, [r["answer"] for r in rows] + [r["gpt4_answer"] for r in rows])
    # The first pairs of the positive file, as one split (eval.py's call per split).
    pairs = rows[: args.pairs]
    with open(os.path.join(args.dir, "pairs.positive.jsonl"), "w", encoding="utf-8") as f:
        for r in pairs:
            f.write(json.dumps({"question_id": r["question_id"], "answer": r["answer"], "gpt4_answer": r["gpt4_answer"]}) + "\n")
    cands = [r["gpt4_answer"] for r in pairs]
    refs = [r["answer"] for r in pairs]
    torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("bench_bertscore_reference: --device cuda, but torch sees no CUDA device")
    scorer = BERTScorer(model_type=folder, num_layers=17, batch_size=64, device=args.device)
    sentences = len(set(cands + refs))
    if args.device == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    _, _, f1 = scorer.score(cands, refs)
    if args.device == "cuda":
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    json.dump({"f1": f1.tolist()}, open(os.path.join(args.dir, "torch_f1.json"), "w"))
    # The installed distribution's version (bert_score 0.3.13's __version__ still says 0.3.12).
    engine = f"bert_score {importlib.metadata.version('bert-score')} / torch {torch.__version__}"
    print(json.dumps({"engine": engine, "device": device, "threads": torch.get_num_threads(),
                      "pairs": len(pairs), "sentences": sentences, "seconds": seconds,
                      "sentences_per_s": sentences / seconds, "b_score": float(f1.mean())}))


if __name__ == "__main__":
    sys.exit(main())
