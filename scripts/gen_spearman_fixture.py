"""Spearman's rank correlation from scipy (the reference implementation), for
crates/metrics/tests/fixtures/spearman_scipy.jsonl: one case a line, {"x": [...], "y": [...], "rho": r}.

Cases: ties (integer judge scores, repeated lexical values), perfect and reversed orders,
small n, a constant-free mix, and 2,000 pairs like a split of the benchmark (METEOR-like values
in [0, 1] against integer scores 0-10). Fixed seeds. Run with any Python that has scipy
(not needed by CI, which reads the committed file):
    python scripts/gen_spearman_fixture.py > crates/metrics/tests/fixtures/spearman_scipy.jsonl
"""
import json
import sys

import numpy as np
import scipy
from scipy.stats import spearmanr


def case(x, y):
    rho = spearmanr(x, y).statistic
    return {"x": [float(v) for v in x], "y": [float(v) for v in y], "rho": float(rho)}


rng = np.random.default_rng(20261130)
cases = [
    case([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]),
    case([1, 2, 3, 4], [4, 3, 2, 1]),
    case([0.1, 0.4, 0.4, 0.9, 0.2, 0.4], [3, 8, 8, 9, 2, 5]),
    case([2, 2, 1], [1, 3, 3]),
]
for n in (7, 30, 200):
    x = rng.random(n)
    y = rng.integers(0, 11, n)
    cases.append(case(x, y))
x = np.round(rng.random(2000), 2)  # many ties on both sides
y = np.clip(np.round(x * 6 + rng.normal(0, 2.5, 2000)), 0, 10)
cases.append(case(x, y))
for c in cases:
    print(json.dumps(c))
print(f"scipy {scipy.__version__}: {len(cases)} cases", file=sys.stderr)
