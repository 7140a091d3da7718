#!/usr/bin/env bash
# The judge runner's throughput: 200 samples at concurrency 32 against a local OpenAI-compatible
# server that answers each request in 1 s (crates/cli/tests/judge.rs, `throughput_benchmark`).
# Prints ours beside the bound the concurrency allows (ceil(200/32) = 7 s); the target is < 10 s.
# There is no reference implementation to alternate with: the bound is the yardstick. RUNS runs
# (default 3); the time is their median with the min–max. Writes docs/benchmarks/judge.md and keeps
# the raw output under docs/benchmarks/runs/.
# Usage: [RUNS=N] bash scripts/bench_judge.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/bench_lib.sh
RUNS=${RUNS:-3}
cargo test -q --locked --profile test-fast -p medhall-cli --test judge --no-run
bench_begin judge "RUNS" "$@"
lines=$(mktemp)
for i in $(seq "$RUNS"); do
  line=$(cargo test -q --locked --profile test-fast -p medhall-cli --test judge throughput_benchmark -- --ignored --nocapture 2>&1 \
    | grep -E '^judge throughput|panicked' || true)
  echo "run $i: $line"
  case $line in "judge throughput"*) echo "$line" >>"$lines" ;; *) echo "bench_judge: run $i failed" >&2; exit 1 ;; esac
done
body=$(mktemp)
python3 - "$lines" "$body" <<'PY'
import re, sys
sys.path.insert(0, "scripts")
from bench_stats import spread, table

lines = open(sys.argv[1]).read().splitlines()
pat = re.compile(r"(\d+) samples, concurrency (\d+), 1 s per reply: ([\d.]+) s .*the bound for this concurrency is (\d+) s.*max in flight seen by the server: (\d+)")
runs = [pat.search(l).groups() for l in lines]
n, conc, bound = runs[0][0], runs[0][1], runs[0][3]
seconds = [float(r[2]) for r in runs]
text = (
    f"{n} samples at concurrency {conc} against a local server that answers each request in 1 s; "
    f"{len(runs)} runs, median (min–max). No reference implementation: the bound the concurrency allows is the yardstick.\n\n"
    + table(
        ["", "seconds", "× the bound", "max in flight (server)"],
        [
            ["bound: ceil(samples / concurrency) × 1 s", bound, "1×", conc],
            ["ours: `medhall judge` (test `throughput_benchmark`)", spread(seconds, "{:.2f}"),
             spread([s / float(bound) for s in seconds], "{:.2f}×"), "/".join(sorted({r[4] for r in runs}))],
        ],
    )
    + "Target: under 10 s. Request threads: the concurrency (one per request in flight).\n"
)
open(sys.argv[2], "w").write(text)
print()
print(text, end="")
PY
bench_end "$body"
rm -f "$body" "$lines"
