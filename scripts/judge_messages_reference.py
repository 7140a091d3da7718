#!/usr/bin/env python3
"""The judge's messages as the benchmark's agent.py builds them, rendered from protocol.json.

Usage: judge_messages_reference.py PROTOCOL.json OUT.jsonl --predictions F... --references F...
       --calibration F...
Each file's split comes from its name (positive/negative, or the upstream "postive"). Writes one
line per prediction with a reference and a calibration sample: {"custom_id": "<split>:<id>",
"messages": [...]}. Only the standard library: str.format does the work, as in agent.py.
"""
import argparse
import json


def split_of(name):
    low = name.lower()
    pos = "positive" in low or "postive" in low
    neg = "negative" in low
    if pos == neg:
        raise SystemExit(f"{name}: the name does not say positive or negative")
    return "positive" if pos else "negative"


def rows(paths):
    for path in paths:
        split = split_of(path)
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.strip():
                    row = json.loads(line)
                    yield (row.get("split", split), row["question_id"]), row


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("protocol")
    ap.add_argument("out")
    ap.add_argument("--predictions", nargs="+", required=True)
    ap.add_argument("--references", nargs="+", required=True)
    ap.add_argument("--calibration", nargs="+", required=True)
    a = ap.parse_args()
    p = json.load(open(a.protocol, encoding="utf-8"))
    refs = dict(rows(a.references))
    calib = dict(rows(a.calibration))
    with open(a.out, "w", encoding="utf-8") as out:
        for key, sample in rows(a.predictions):
            if key not in refs or key not in calib:
                continue
            ref = refs[key]
            user = p["user_template"].format(
                fig_caption=ref.get("fig_caption"),
                question=sample["question"],
                answer=sample["answer"],
                gpt4_answer=ref["gpt4_answer"],
                instruction=p["instruction"],
            )
            second = p["calibration_template"].format(
                reference_answers=calib[key]["answer"],
                reference_scores=calib[key]["result"],
            )
            messages = [
                {"role": "system", "content": p["system"]},
                {"role": "user", "content": user},
                {"role": "user", "content": second},
            ]
            out.write(json.dumps({"custom_id": f"{key[0]}:{key[1]}", "messages": messages}) + "\n")


if __name__ == "__main__":
    main()
