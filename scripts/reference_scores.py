#!/usr/bin/env python3
"""Scores answer/reference pairs with the benchmark's reference Python libraries.

This is the yardstick for `medhall score`: the same calls as the MedHallTune eval.py
(rouge_score with use_stemmer=True, NLTK single_meteor_score and sentence_bleu with
smoothing method1 on str.split() tokens). Run it with the venv and NLTK_DATA made by
scripts/setup-reference.sh.

  reference_scores.py pairs IN.jsonl OUT.jsonl
      IN: one JSON object a line with "reference" and "hypothesis" (strings); any "key"
      is copied through. OUT: the same order, one object a line with the five metrics.
  reference_scores.py eval FILE.jsonl... [--per-sample OUT.jsonl]
      FILE: official judge-eval files (gpt4_answer, answer, result). Prints per-file means,
      as eval.py does, and optionally writes per-sample scores keyed by (file, question_id).
"""
import json
import sys

from nltk.translate.bleu_score import SmoothingFunction, sentence_bleu
from nltk.translate.meteor_score import single_meteor_score
from rouge_score import rouge_scorer


def score_pair(reference, hypothesis):
    # A new scorer per sample, as eval.py does, so the timing compares like with like (the
    # scorer is stateless: one shared scorer would give the same scores, only faster).
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
    rouge = scorer.score(reference, hypothesis)
    ref_tokens = reference.split()
    hyp_tokens = hypothesis.split()
    return {
        "rouge1": rouge["rouge1"][2],
        "rouge2": rouge["rouge2"][2],
        "rougeL": rouge["rougeL"][2],
        "meteor": single_meteor_score(ref_tokens, hyp_tokens),
        "bleu": float(
            sentence_bleu([ref_tokens], hyp_tokens, smoothing_function=SmoothingFunction().method1)
        ),
    }


def pairs(inp, out):
    with open(inp, encoding="utf-8") as src, open(out, "w", encoding="utf-8") as dst:
        for line in src:
            row = json.loads(line)
            scores = score_pair(row["reference"], row["hypothesis"])
            if "key" in row:
                scores = {"key": row["key"], **scores}
            dst.write(json.dumps(scores) + "\n")


def judge(result):
    accuracy, relevance, detail, risk = result.split("\n")[0].strip().split(" ")
    return [float(accuracy), float(relevance), float(detail), float(risk)]


def evaluate(files, per_sample):
    sink = open(per_sample, "w", encoding="utf-8") if per_sample else None
    for name in files:
        totals = {}
        count = 0
        with open(name, encoding="utf-8") as src:
            for line in src:
                row = json.loads(line)
                scores = score_pair(row["gpt4_answer"], row["answer"])
                scores["judge"] = judge(row["result"])
                for metric, value in scores.items():
                    if metric == "judge":
                        for i, v in enumerate(value):
                            totals[f"judge{i}"] = totals.get(f"judge{i}", 0.0) + v
                    else:
                        totals[metric] = totals.get(metric, 0.0) + value
                count += 1
                if sink:
                    sink.write(json.dumps({"file": name, "question_id": row["question_id"], **scores}) + "\n")
        means = {metric: total / count for metric, total in totals.items()}
        print(json.dumps({"file": name, "rows": count, "means": means}))
    if sink:
        sink.close()


def main(argv):
    if len(argv) == 4 and argv[1] == "pairs":
        pairs(argv[2], argv[3])
    elif len(argv) >= 3 and argv[1] == "eval":
        files = [a for a in argv[2:]]
        per_sample = None
        if "--per-sample" in files:
            i = files.index("--per-sample")
            per_sample = files[i + 1]
            del files[i : i + 2]
        evaluate(files, per_sample)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
