"""The medical-VQA fixture, scored by LLaVA-Med v1.0's own evaluation code (the reference).

Writes crates/cli/tests/fixtures/vqa/ (see its README.md): synthetic test sets in the format
LLaVA-Med's data preparation writes (test.json: id, image, conversations, answer_type), answer
files in the format its model_vqa_med.py writes (question_id, prompt, text, answer_id, model_id,
metadata), a named-column CSV/JSONL copy of part of them, and the expected values per sample and
per dataset for every variant that docs/exactness.md ("Medical VQA") describes. It also writes
crates/metrics/tests/fixtures/vqa.json: the same 1,200 questions as text pairs with every
per-question value, for medhall-metrics' own test (recall also as its IEEE-754 bits, so the
comparison is exact without trusting any float parser).

The reference is microsoft/LLaVA-Med at commit b9a98a736d2ef05bcf5ff345be6403fb3a664eaf (the last
v1.0 commit that has these files; v1.5 removed them). Save llava/eval/run_eval_batch.py,
llava/eval/run_eval.py and llava/eval/eval_metrics/{__init__,glossary,evaluate_metrics,utils}.py
from that commit under one folder, keeping their paths, e.g.
    git -C LLaVA-Med show b9a98a7:llava/eval/run_eval_batch.py > REF/llava/eval/run_eval_batch.py
and run, in a venv with what those scripts import (nltk==3.10.4, tabulate, pandas):
    python scripts/gen_vqa_fixture.py --llava-med REF
Nothing of theirs is copied here: their `evaluate` functions are imported and run as they are,
and the per-sample values are read from the lists they fill (see `run_reference`). The
whole-word variant is ours; it is written below on top of their `normalize_word`.
"""
import argparse
import collections
import hashlib
import json
import os
import random
import struct
import sys
import tempfile
from pathlib import Path

COMMIT = "b9a98a736d2ef05bcf5ff345be6403fb3a664eaf"
# sha256 of the files as `git show b9a98a7:PATH` prints them: the fixture is only as exact as this.
REFERENCE_FILES = {
    "llava/eval/run_eval_batch.py": "853db417573fbb73f1a32cb982d7334c5789c53cf954b4e1cf6b8a606e66f01e",
    "llava/eval/run_eval.py": "20b8a98f950b579e8c20b3cb052054ca1a1d6886cb8de24bc04181b5cceface0",
    "llava/eval/eval_metrics/__init__.py": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "llava/eval/eval_metrics/glossary.py": "59d5ac151e48c5868e6945c26520c4f2c50189bcf009ea3ab9a686e7a3f486f4",
    "llava/eval/eval_metrics/evaluate_metrics.py": "cbcf8cae0fbe6f91a323d5b100291af969c2884e572103de62459f0c4daa5bc8",
    "llava/eval/eval_metrics/utils.py": "221f83206502ff236e11d22494681db70165ab28e29cab2105ee844af4cb167d",
}
SEED = 20261207
CLOSED_RULES = ["run_eval_batch", "run_eval", "whole-word"]

# ---------------------------------------------------------------------------------------------
# Hostile text. Every piece targets one rule of normalize_word or of the hit tests.

CLOSED_ANSWERS = [
    "yes", "no", "Yes", "No", "YES", "no.", "Yes.", "yes!", " no ", "No,",
    # closed questions that are not yes/no (VQA-RAD and SLAKE have them)
    "left", "right", "axial", "CT", "MRI", "both", "left lung", "T2", "x-ray", "none",
    "one", "2", "the right", "coronal plane", "abnormal", "not", "normal",
]
OPEN_ANSWERS = [
    "urinary", "the left lung", "pleural effusion", "2", "two", "none", "zero", "3.5 cm",
    "1,000", "10,5", "c5-c6", "right-sided", "x-ray", "T2-weighted", "ct/mri", "(a)", "",
    "the", "a", "?", "it's normal", "dont know", "cant", "somebody'd", "Im fine", "isnt",
    "café au lait", "naïve", "ΣΟΦΙΑΣ", "İstanbul", "straße", "ﬁbrosis", "Ⅻ nerve", "ＹＥＳ",
    "no\u00a0mass", "left\tkidney", "gall\u2003bladder", "liver\x1cspleen", "zero\u200bwidth",
    "e.g. brain", "u.s.", "a.b.c.d", "... liver ...", "5.", ".5", "1.2.3", "100%",
    "nodule", "no", "yes", "not seen", "normal", "mass effect; midline shift",
    "[left]", "{right}", "under_score", "back\\slash", "a+b=c", "<tumor>", "@home", "`tick`",
    "what?", "wow!", "semi;colon", "colon: here", "hash#tag", "star*", "and & or", "~tilde~",
    "one two three", "Four", "ten-fold", "nine.", "The Heart", "an apple", "THE END",
    "left  lung", "   spaced   out   ", "\n", "lung\ncancer", "ÀÉÎÕÜ", "ǅ", "ﬀ",
]
FRAGMENTS = [
    "yes", "no", "Yes", "No", "YES", "NO", "not", "normal", "abnormal", "nodule", "nodules",
    "know", "none", "noted", "yesterday", "eyes", "no.", "yes,", "No!", "no?", "(yes)",
    "[no]", "\"yes\"", "'no'", "yes/no", "yes-no", "no-yes", "yes or no", "I don't know",
    "there is no evidence", "Yes, there is", "The answer is: yes", "Answer: No.",
    "the", "a", "an", "The", "A", "An", "is", "of", "in", "it", "there",
    "left", "right", "lung", "liver", "kidney", "axial", "coronal", "CT", "MRI", "x-ray",
    "one", "two", "three", "ten", "zero", "1", "2", "3.5", "1,000", "2,5", "0.5", "10.", ".",
    "..", "...", ",", " , ", ";", "-", " - ", "--", "/", "\\", "_", "+", "=", "<", ">", "@",
    "`", "?", "!", "(", ")", "[", "]", "{", "}", "\"", "'", ":", "#", "%", "&", "*",
    "dont", "isnt", "cant", "wont", "Im", "Ive", "somebody'd", "somebodyd've", "let's",
    "twas", "y'allll", "oclock", "couldnt've",
    "café", "naïve", "ΣΟΦΙΑΣ", "Σ", "İ", "straße", "ẞ", "ﬁ", "Ⅻ", "ＹＥＳ", "ｎｏ", "中文",
    "😀", "é", "e\u0301", "\u00a0", "\u2003", "\x1c", "\x1f", "\u200b", "\u3000", "\u0085",
    "pleural effusion", "urinary", "mass", "brain", "3.5 cm", "c5-c6", "t2-weighted",
    "ct/mri", "it's", "normal.", "a.b.c", "e.g.", "i.e.", "U.S.A.",
    # Python's \d is any Unicode decimal digit: these trigger the comma rule and keep periods
    "٣,٤", "٣.٥", "x.٥", "１,０", "۱۲", "²,³",
]
SEPARATORS = [" ", " ", " ", "", ", ", ". ", "\n", "\t", " - ", "-", ",", ".", "\u00a0", "  "]


def mutate(rng, text):
    """The answer as a model might echo it: cased, punctuated, glued to words or left alone."""
    choice = rng.randrange(9)
    if choice == 0:
        return text.upper()
    if choice == 1:
        return text.capitalize()
    if choice == 2:
        return text + rng.choice([".", "!", ",", "?", "...", ";", ")"])
    if choice == 3:
        return rng.choice(["(", "\"", "[", "-", "'"]) + text
    if choice == 4:
        return rng.choice(["", "un", "pre"]) + text + rng.choice(["", "s", "ed", "dule"])
    if choice == 5:
        return text.replace(" ", rng.choice(["-", "_", "/", "  ", ",", "."]))
    return text


def prediction(rng, answer):
    n = rng.choice([0, 1, 1, 2, 3, 4, 6])
    parts = [rng.choice(FRAGMENTS) for _ in range(n)]
    if answer and rng.random() < 0.55:
        parts.insert(rng.randrange(len(parts) + 1), mutate(rng, answer))
    elif answer.split() and rng.random() < 0.3:
        # some of the answer's words, repeated and shuffled (recall counts the prediction's
        # repeats: docs/exactness.md)
        words = answer.split() * rng.randrange(1, 4)
        rng.shuffle(words)
        parts += words[: rng.randrange(1, len(words) + 1)]
    text = ""
    for i, part in enumerate(parts):
        text += (rng.choice(SEPARATORS) if i else "") + part
    roll = rng.random()
    if roll < 0.04:
        text = ""
    elif roll < 0.06:
        text = rng.choice([" ", "\n", "\t\t", "\u00a0", "."])
    elif roll < 0.08:
        text = ". " * rng.randrange(20, 45) + text  # past the 32 periods re.sub removes
    elif roll < 0.10:
        text = text + " " + rng.choice(["1,000", "2,500,000", "3,4"])  # the comma rule
    return text


HAND_PICKED = [
    # (answer_type, answer, prediction): the surprises of docs/exactness.md ("Medical VQA"), one each.
    ("CLOSED", "no", "The nodule is normal."),
    ("CLOSED", "no", "not"),
    ("CLOSED", "no", "I don't know"),
    ("CLOSED", "yes", "eyes"),
    ("CLOSED", "yes", "yes or no"),
    ("CLOSED", "no", "yes or no"),
    ("CLOSED", "no", ""),
    ("CLOSED", "yes", "Yes."),
    ("CLOSED", "left", "left"),
    ("CLOSED", "left", "The left side, no doubt"),
    ("CLOSED", "left", "not the left one"),
    ("CLOSED", "", "anything"),
    ("CLOSED", "", ""),
    ("CLOSED", "the", "yes"),
    ("CLOSED", "none", "0"),
    ("CLOSED", "one", "1"),
    ("CLOSED", "yes", "ＹＥＳ"),
    ("CLOSED", "no", "no\x1cmass"),
    ("CLOSED", "yes", "(yes)"),
    ("CLOSED", "no", "no-mass"),
    ("CLOSED", "no", "no - mass"),
    ("OPEN", "urinary", "urinary urinary urinary"),
    ("OPEN", "left lung", "lung lung lung left"),
    ("OPEN", "left lung", "left"),
    ("OPEN", "the", "the"),
    ("OPEN", "", ""),
    ("OPEN", "", "something"),
    ("OPEN", "2", "two"),
    ("OPEN", "two", "2 masses"),
    ("OPEN", "3.5 cm", "3.5 cm."),
    ("OPEN", "1,000", "1000"),
    ("OPEN", "c5-c6", "c5 c6"),
    ("OPEN", "c5-c6", "c5-c6, 1,2"),
    ("OPEN", "dont", "don't"),
    ("OPEN", "somebody'd", "somebodyd"),
    ("OPEN", "a.b.c", "abc"),
    ("OPEN", "pleural effusion", "effusion, pleural"),
    ("OPEN", "liver", "liver" + "." * 40),
    ("OPEN", "liver", "." * 33 + " liver"),
    ("OPEN", "liver", ". " * 40 + "liver."),
    ("OPEN", "ΣΟΦΙΑΣ", "σοφιας"),
    ("OPEN", "ΣΟΦΙΑΣ", "σοφιασ"),
    ("OPEN", "İstanbul", "istanbul"),
    ("OPEN", "straße", "STRASSE"),
    ("OPEN", "gall\u2003bladder", "gall bladder"),
    ("OPEN", "zero\u200bwidth", "zero width"),
    ("OPEN", "e\u0301", "é"),
    ("OPEN", "left-sided", "left-sided ٣,٤"),
    ("OPEN", "left-sided", "left-sided ²,³"),
    ("OPEN", "liver", "liver.٥ liver."),
]


def synth(rng, first_id, count, image_prefix):
    refs, preds = [], []
    cases = list(HAND_PICKED)
    while len(cases) < count:
        closed = rng.random() < 0.45
        answer = rng.choice(CLOSED_ANSWERS if closed else OPEN_ANSWERS)
        cases.append(("CLOSED" if closed else "OPEN", answer, prediction(rng, answer)))
    for offset, (answer_type, answer, text) in enumerate(cases):
        qid = first_id + offset
        question = rng.choice([
            "Is there evidence of a nodule?", "Where is the lesion?", "What organ is shown?",
            "Is this an axial plane?", "How many masses are seen?", "Which side is affected?",
        ])
        # model_vqa_med.py accepts the misspelt key too; a few rows use it.
        key = "conversatons" if offset % 97 == 5 else "conversations"
        refs.append({
            "id": qid,
            "image": f"{image_prefix}/img_{qid:05d}.jpg",
            "answer_type": answer_type,
            key: [
                {"from": "human", "value": f"{question}\n<image>"},
                {"from": "gpt", "value": answer},
            ],
        })
        preds.append({
            "question_id": qid,
            "prompt": question + "\n<image>",
            "text": text,
            "answer_id": "".join(rng.choice("abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(22)),
            "model_id": "synthetic-hostile",
            "metadata": {},
        })
    return refs, preds


# ---------------------------------------------------------------------------------------------
# The reference.


class Recorder:
    """Stands in for the `collections` module inside their script: every defaultdict their
    `evaluate` makes is kept, in creation order, so the per-sample lists can be read back."""

    def __init__(self):
        self.made = []

    def defaultdict(self, factory):
        made = collections.defaultdict(factory)
        self.made.append(made)
        return made


def run_reference(module, gt, pred, candidate):
    recorder = Recorder()
    module.collections = recorder
    module.tabulate = lambda rows, headers: rows  # the raw numbers, not a formatted table
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as scratch:  # run_eval_batch opens a file in the cwd
        os.chdir(scratch)
        try:
            rows = module.evaluate(gt, pred, candidate)
        finally:
            os.chdir(cwd)
    return recorder.made, dict(rows)


def whole_word_hit(normalize_word, gt_text, pred_text):
    """Ours (docs/exactness.md, "whole-word"): the normalised answer's words appear as consecutive
    whole words of the normalised prediction, and a yes/no answer fails when the prediction also
    says the other one. An answer that normalises to nothing never matches."""
    gt_words = normalize_word(gt_text.lower()).split()
    pred_words = normalize_word(pred_text.lower()).split()
    if not gt_words:
        return 0
    n = len(gt_words)
    if not any(pred_words[i:i + n] == gt_words for i in range(len(pred_words) - n + 1)):
        return 0
    if gt_words == ["yes"] and "no" in pred_words:
        return 0
    if gt_words == ["no"] and "yes" in pred_words:
        return 0
    return 1


def answer_of(item):
    return (item.get("conversations") or item["conversatons"])[1]["value"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--llava-med", required=True, type=Path,
                        help=f"folder holding llava/eval/ from microsoft/LLaVA-Med at {COMMIT[:7]}")
    root = Path(__file__).resolve().parent.parent
    parser.add_argument("--out", type=Path, default=root / "crates/cli/tests/fixtures/vqa")
    parser.add_argument("--metrics-out", type=Path,
                        default=root / "crates/metrics/tests/fixtures/vqa.json")
    args = parser.parse_args()

    for path, digest in REFERENCE_FILES.items():
        actual = hashlib.sha256((args.llava_med / path).read_bytes()).hexdigest()
        if actual != digest:
            sys.exit(f"{path}: sha256 {actual}, not the file at {COMMIT[:7]} ({digest})")
    sys.path.insert(0, str(args.llava_med / "llava/eval"))
    import run_eval  # noqa: E402  (their scripts, imported as they are)
    import run_eval_batch  # noqa: E402
    from eval_metrics.glossary import normalize_word  # noqa: E402

    rng = random.Random(SEED)
    datasets = [("vqa_rad", 1, 700, "synpic"), ("Slake1.0", 20001, 500, "xmlab")]
    expected, summary, named_refs, named_preds, cases = [], {}, [], [], []
    out = args.out
    for dataset, first_id, count, prefix in datasets:
        gt, pred = synth(rng, first_id, count, prefix)
        (out / dataset).mkdir(parents=True, exist_ok=True)
        with open(out / dataset / "test.json", "w", encoding="utf-8") as f:
            json.dump(gt, f, ensure_ascii=False)
        with open(out / dataset / "test-answer-file.jsonl", "w", encoding="utf-8") as f:
            for p in pred:
                f.write(json.dumps(p, ensure_ascii=False) + "\n")

        # run_eval.py's open accuracy snaps to a candidate list that was never released; a
        # one-word stand-in keeps its evaluate running (its closed rule is what we read).
        batch_lists, batch_rows = run_reference(run_eval_batch, gt, pred, {"0": ["yes"]})
        single_lists, single_rows = run_reference(run_eval, gt, pred, {"0": ["yes"]})
        closed_b, _bleu, _exact, f1_open, open_hit, _f1_closed = batch_lists
        closed_s = single_lists[0]

        closed_batch = dict(zip(closed_b["q_id"], closed_b["hit"]))
        closed_single = dict(zip(closed_s["q_id"], closed_s["hit"]))
        recall = dict(zip(f1_open["q_id"], f1_open["recall"]))
        hit = dict(zip(open_hit["q_id"], open_hit["hit"]))
        whole = {}
        for g, p in zip(gt, pred):
            row = {
                "dataset": dataset,
                "question_id": g["id"],
                "answer_type": g["answer_type"],
                "answer_normalized": normalize_word(answer_of(g).lower()),
                "prediction_normalized": normalize_word(p["text"].lower()),
            }
            if g["answer_type"] == "OPEN":
                row["open_recall"] = recall[g["id"]]
                row["open_hit"] = hit[g["id"]]
            else:
                whole[g["id"]] = whole_word_hit(normalize_word, answer_of(g), p["text"])
                row["closed_hit"] = {
                    "run_eval_batch": closed_batch[g["id"]],
                    "run_eval": closed_single[g["id"]],
                    "whole-word": whole[g["id"]],
                }
            expected.append(row)
            case = [g["answer_type"], answer_of(g), p["text"], row["answer_normalized"],
                    row["prediction_normalized"]]
            if g["answer_type"] == "OPEN":
                bits = struct.unpack("<Q", struct.pack("<d", float(row["open_recall"])))[0]
                case += [row["open_recall"], bits, row["open_hit"]]
            else:
                case.append([row["closed_hit"][rule] for rule in CLOSED_RULES])
            cases.append(case)
        n_closed = len(closed_b["hit"])
        summary[dataset] = {
            "open": len(f1_open["recall"]),
            "closed": n_closed,
            # Their expressions on their lists (the table prints these times 100).
            "open_recall": sum(f1_open["recall"]) / len(f1_open["recall"]),
            "open_accuracy": sum(open_hit["hit"]) / len(open_hit["hit"]),
            "closed_accuracy": {
                "run_eval_batch": sum(closed_b["hit"]) / len(closed_b["hit"]),
                "run_eval": sum(closed_s["hit"]) / len(closed_s["hit"]),
                "whole-word": sum(whole.values()) / n_closed,
            },
            "table_percent": {
                "recall": batch_rows["recall"],
                "open accuracy": batch_rows["open accuracy"],
                "yes/no accuracy": batch_rows["yes/no accuracy"],
                "yes/no accuracy (run_eval.py)": single_rows["yes/no accuracy"],
            },
        }
        for g, p in list(zip(gt, pred))[:150]:
            named_refs.append({"dataset": dataset, "qid": g["id"], "image": g["image"],
                               "question": g[("conversations" if "conversations" in g else "conversatons")][0]["value"],
                               "gold": answer_of(g), "kind": g["answer_type"]})
            named_preds.append({"qid": g["id"], "response": p["text"]})

    with open(out / "expected.jsonl", "w", encoding="utf-8") as f:
        for row in expected:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    with open(out / "expected_summary.json", "w", encoding="utf-8") as f:
        json.dump({"reference": f"microsoft/LLaVA-Med@{COMMIT}", "datasets": summary}, f,
                  ensure_ascii=False, indent=1)
    (out / "named").mkdir(exist_ok=True)
    import csv  # noqa: E402
    with open(out / "named/references.csv", "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(named_refs[0]))
        writer.writeheader()
        writer.writerows(named_refs)
    with open(out / "named/predictions.jsonl", "w", encoding="utf-8") as f:
        for row in named_preds:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    args.metrics_out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.metrics_out, "w", encoding="utf-8") as f:
        head = {
            "reference": f"microsoft/LLaVA-Med@{COMMIT}: run_eval_batch.evaluate, run_eval.evaluate, "
                         "eval_metrics.glossary.normalize_word; whole-word from this script",
            "open": ["OPEN", "answer", "prediction", "answer_normalized",
                     "prediction_normalized", "open_recall", "open_recall_f64_bits", "open_hit"],
            "closed": ["CLOSED", "answer", "prediction", "answer_normalized",
                       "prediction_normalized", [f"hit:{rule}" for rule in CLOSED_RULES]],
        }
        f.write("{\"format\": " + json.dumps(head, ensure_ascii=False) + ",\n\"cases\": [\n")
        f.write(",\n".join(json.dumps(c, ensure_ascii=False) for c in cases))
        f.write("\n]}\n")
    parts = [f"{d}: {s['open']} open, {s['closed']} closed" for d, s in summary.items()]
    print(f"{len(expected)} samples ({'; '.join(parts)})", file=sys.stderr)


if __name__ == "__main__":
    main()
