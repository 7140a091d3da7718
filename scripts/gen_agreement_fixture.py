#!/usr/bin/env python3
"""Reference values for the agreement statistics (issue 30), from the Python libraries ours
reproduce: scikit-learn's cohen_kappa_score (quadratic weights, labels 1..10), the krippendorff
package's alpha (interval; ordinal with value_domain 1..10, and without it), scipy's spearmanr,
and numpy's Bland-Altman bias and limits (mean +- 1.96 * std(ddof=1)).

Writes, from seeded synthetic ratings (ties, missing ratings, unused levels, three raters and a
judge, tiny edge cases):
  crates/metrics/tests/fixtures/agreement.json          inputs + reference values + versions
  crates/cli/tests/fixtures/agreement/*.jsonl           judged files of two synthetic judges and
                                                        a human ratings file with bad lines, whose
                                                        ratings are cases of the fixture above

Run it in a venv outside the repository (CI never runs it; the files are committed):
  python3 -m venv /work/venv-agree
  /work/venv-agree/bin/pip install scikit-learn krippendorff scipy numpy
  /work/venv-agree/bin/python scripts/gen_agreement_fixture.py
"""

import itertools
import json
import math
import random
import warnings
from importlib.metadata import version
from pathlib import Path

import krippendorff
import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import cohen_kappa_score

ROOT = Path(__file__).resolve().parent.parent
METRICS_OUT = ROOT / "crates/metrics/tests/fixtures/agreement.json"
CLI_DIR = ROOT / "crates/cli/tests/fixtures/agreement"
LABELS = list(range(1, 11))
CRITERIA = ["clinical_accuracy", "clinical_relevance", "detail_level", "risk_level"]


def finite_or_none(value):
    value = float(value)
    return value if math.isfinite(value) else None


def kappa(a, b):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return finite_or_none(cohen_kappa_score(a, b, weights="quadratic", labels=LABELS))
    except ValueError:
        return None


def rho(a, b):
    if len(a) < 2:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return finite_or_none(spearmanr(a, b).statistic)


def bias(a, b):
    if not a:
        return None
    d = np.array(b, dtype=float) - np.array(a, dtype=float)
    mean = float(d.mean())
    sd = float(d.std(ddof=1)) if len(d) >= 2 else None
    limits = [mean - 1.96 * sd, mean + 1.96 * sd] if sd is not None else None
    return {"n": len(d), "mean": mean, "sd": sd, "limits": limits}


def alpha(rows, **kwargs):
    data = np.array([[np.nan if v is None else v for v in row] for row in rows], dtype=float)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return finite_or_none(krippendorff.alpha(reliability_data=data, **kwargs))
    except ValueError:
        return None


def case(name, raters, ratings, alpha_sets):
    """ratings[r][u]: rater r's score of unit u, None when missing."""
    pairs = []
    for i, j in itertools.combinations(range(len(raters)), 2):
        shared = [u for u in range(len(ratings[i])) if ratings[i][u] is not None and ratings[j][u] is not None]
        a = [ratings[i][u] for u in shared]
        b = [ratings[j][u] for u in shared]
        pairs.append({"first": i, "second": j, "n": len(shared), "kappa": kappa(a, b) if a else None,
                      "spearman": rho(a, b), "bias": bias(a, b)})
    alphas = []
    for label, members in alpha_sets:
        rows = [ratings[m] for m in members]
        ordinal = alpha(rows, level_of_measurement="ordinal", value_domain=LABELS)
        ordinal_plain = alpha(rows, level_of_measurement="ordinal")
        if ordinal is not None and ordinal_plain is not None:
            assert abs(ordinal - ordinal_plain) < 1e-12, (name, label, ordinal, ordinal_plain)
        alphas.append({"raters": label, "members": members,
                       "interval": alpha(rows, level_of_measurement="interval"),
                       "ordinal": ordinal, "ordinal_without_domain": ordinal_plain})
    return {"name": name, "raters": raters, "ratings": ratings, "pairs": pairs, "alphas": alphas}


def synthetic(rng, units, levels, missing, noise):
    """Three humans and a judge around a shared true score, rounded onto `levels`."""
    truth = [rng.choice(levels) for _ in range(units)]
    ratings = []
    for rater in range(4):
        row = []
        for t in truth:
            if rng.random() < missing:
                row.append(None)
                continue
            shifted = t + rng.gauss(0.7 if rater == 3 else 0.0, noise)
            row.append(min(levels, key=lambda level: (abs(level - shifted), level)))
        ratings.append(row)
    return ratings


def standard_sets(n):
    sets = [("humans", [0, 1, 2]), ("humans+judge", [0, 1, 2, 3])]
    return sets if n == 4 else [("all", list(range(n)))]


def metric_cases(rng):
    four = ["h1", "h2", "h3", "judge"]
    cases = [
        case("one-item", four, [[3], [5], [3], [8]], standard_sets(4)),
        case("two-items", four, [[2, 9], [3, 9], [2, 8], [4, 10]], standard_sets(4)),
        case("three-items-missing", four, [[1, None, 6], [2, 4, None], [None, 4, 7], [2, 5, 6]], standard_sets(4)),
        case("constant", four, [[7] * 6 for _ in range(4)], standard_sets(4)),
        case("perfect", four, [[1, 4, 4, 9, 10, 2, 2] for _ in range(4)], standard_sets(4)),
        case("one-rater-constant", four, [[5] * 8, [1, 3, 5, 5, 7, 9, 10, 2], [2, 3, 5, 6, 7, 9, 9, 1], [3, 3, 6, 5, 8, 9, 10, 3]],
             standard_sets(4)),
        case("single-ratings-only", four, [[1, None, None], [None, 2, None], [None, None, 3], [None, None, None]], standard_sets(4)),
    ]
    for name, units, levels, missing, noise in [
        ("unused-levels-25", 25, [2, 3, 7, 8, 10], 0.2, 1.5),
        ("ties-40", 40, LABELS, 0.15, 1.2),
        ("sparse-60", 60, LABELS, 0.6, 2.0),
        ("correlated-200", 200, LABELS, 0.1, 1.0),
        ("wide-noise-120", 120, [1, 2, 5, 6, 9, 10], 0.25, 3.5),
    ]:
        cases.append(case(name, four, synthetic(rng, units, levels, missing, noise), standard_sets(4)))
    return cases


def judged_line(qid, split, scores, judge, kind=None):
    row = {"question_id": qid, "question": f"synthetic question {qid}", "answer": f"synthetic answer {qid}",
           "gpt4_answer": f"synthetic reference {qid}", "result": " ".join(map(str, scores)) + "\nsynthetic rationale",
           "judge_model": judge, "judge_endpoint": "judges.example.test", "judge_params": "api-defaults",
           "judge_protocol": "medhalltune-agent.py/1"}
    if kind is not None:
        row["hallucination_type"] = kind
    return json.dumps(row)


def cli_files(rng):
    """Two judges on 30 positive and 20 negative items (judge B skips positive item 29), and three
    humans on positive items 0..11 and negative items 1..6, with four bad lines."""
    CLI_DIR.mkdir(parents=True, exist_ok=True)
    kinds = ["nonexistent object", "object manipulation", "knowledge distortion"]
    judges = {"a": {}, "b": {}}
    for split, count, first in [("positive", 30, 0), ("negative", 20, 1)]:
        for name in judges:
            lines = []
            for qid in range(first, first + count):
                if name == "b" and split == "positive" and qid == 29:
                    continue
                scores = [rng.randint(1, 10) if name == "a" else None for _ in CRITERIA]
                if name == "b":
                    scores = [min(10, max(1, s + rng.choice([-2, -1, 0, 0, 1]))) for s in judges["a"][(split, qid)]]
                judges[name][(split, qid)] = scores
                kind = kinds[qid % 3] if split == "negative" else None
                lines.append(judged_line(qid, split, scores, f"judge-{name}", kind))
            (CLI_DIR / f"judge-{name}.{split}.jsonl").write_text("\n".join(lines) + "\n")
    humans = {}
    lines = []
    for split, qids in [("positive", range(0, 12)), ("negative", range(1, 7))]:
        for rater in ["h1", "h2", "h3"]:
            for qid in qids:
                if rng.random() < 0.2:
                    continue
                scores = {}
                for c, criterion in enumerate(CRITERIA):
                    if rng.random() < 0.1:
                        continue
                    base = judges["a"][(split, qid)][c]
                    scores[criterion] = min(10, max(1, base + rng.choice([-3, -1, 0, 0, 1, 2])))
                humans[(rater, split, qid)] = scores
                row = {"rater": rater, "split": split, "question_id": qid, **scores,
                       "note": "synthetic", "time": "2026-01-01T00:00:00Z", "plan": "agreement-fixture"}
                lines.append(json.dumps(row))
    # Bad lines for (h3, positive, 100+): items nobody else rates, so dropping them changes nothing.
    bad = [
        json.dumps({"rater": "h3", "split": "positive", "question_id": 100, "clinical_accuracy": 11,
                    "clinical_relevance": 5, "detail_level": 5, "risk_level": 5}),
        json.dumps({"rater": "h3", "split": "positive", "question_id": 101, "clinical_accuracy": 5,
                    "clinical_relevance": 5, "detail_level": 5, "risk_level": "high"}),
        '{"rater": "h3", "split": "positive", "question_id": 102, "clinical_accuracy": 5',
        json.dumps({"split": "positive", "question_id": 103, "clinical_accuracy": 5}),
    ]
    for offset, line in zip([3, 8, 15, 21], bad):
        lines.insert(offset, line)
    (CLI_DIR / "ratings.jsonl").write_text("\n".join(lines) + "\n")
    expected_bad = []
    for number, line in enumerate(lines, start=1):
        if line in bad:
            field = ["clinical_accuracy", "risk_level", None, "rater"][bad.index(line)]
            expected_bad.append({"line": number, "field": field})

    cases = []
    items = [("positive", q) for q in range(30)]
    for c, criterion in enumerate(CRITERIA):
        ratings = [[judges[n].get(item, [None] * 4)[c] for item in items] for n in ["a", "b"]]
        cases.append(case(f"cli-judges/{criterion}", ["judge-a", "judge-b"], ratings, [("judges", [0, 1])]))
        rated = [("positive", q) for q in range(12)]
        ratings = [[humans.get((r, *item), {}).get(criterion) for item in rated] for r in ["h1", "h2", "h3"]]
        ratings.append([judges["a"][item][c] for item in rated])
        cases.append(case(f"cli-ratings/{criterion}", ["h1", "h2", "h3", "judge-a"], ratings, standard_sets(4)))
    return cases, expected_bad


def main():
    rng = random.Random(20260130)
    cases = metric_cases(rng)
    cli_cases, expected_bad = cli_files(rng)
    fixture = {
        "generator": "scripts/gen_agreement_fixture.py",
        "versions": {p: version(p) for p in ["scikit-learn", "krippendorff", "scipy", "numpy"]},
        "calls": {
            "kappa": "sklearn.metrics.cohen_kappa_score(a, b, weights='quadratic', labels=range(1, 11))",
            "alpha_interval": "krippendorff.alpha(reliability_data, level_of_measurement='interval')",
            "alpha_ordinal": "krippendorff.alpha(reliability_data, level_of_measurement='ordinal', value_domain=range(1, 11))",
            "spearman": "scipy.stats.spearmanr(a, b).statistic",
            "bias": "d = b - a; d.mean(), d.std(ddof=1), mean -+ 1.96 * sd",
        },
        "null_means": "the reference returned NaN or raised ValueError",
        "cli_ratings_bad_lines": expected_bad,
        "cases": cases + cli_cases,
    }
    METRICS_OUT.write_text(json.dumps(fixture, separators=(",", ":")) + "\n")
    print(f"wrote {METRICS_OUT.relative_to(ROOT)} ({METRICS_OUT.stat().st_size} bytes, {len(fixture['cases'])} cases)")


if __name__ == "__main__":
    main()
