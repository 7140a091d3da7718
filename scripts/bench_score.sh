#!/usr/bin/env bash
# Benchmark: score the 2,238 LLaVA-Med rows (both judge-eval files) with all five metrics per
# sample, as whole processes on both sides, measured in one run:
#   Python: scripts/reference_scores.py eval (rouge_score + NLTK METEOR/BLEU, as eval.py; it also
#           prints per-file means of the five metrics and the judge's four scores), one thread
#   ours:   medhall score: --per-sample writes per-sample scores and computes no means; --summary
#           adds means per split with 95% bootstrap intervals.
# RUNS rounds (default 3); each round runs the three commands back to back, the reference first
# in odd rounds and last in even ones, so drift in the machine's load falls on both sides. Each
# ratio is the median of the rounds' ratios, printed with their min–max. Writes
# docs/benchmarks/score.md and keeps the raw output under docs/benchmarks/runs/.
#
# Usage: [RUNS=N] [PROFILE=bench-fast] bash scripts/bench_score.sh
#   PROFILE: the cargo profile medhall is built with (bench-fast: opt-level 3 without fat LTO, the
#   build the other benchmarks use; `release` adds fat LTO).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
source scripts/bench_lib.sh
data=${MEDHALL_DATA:-../shared/medhalltune}
pos="$data/llava-med-v1.5-7b.positive.gpt4o-eval.jsonl"
neg="$data/llava-med-v1.5-7b.negative.gpt4o-eval.jsonl"
[ -f "$pos" ] && [ -f "$neg" ] || { echo "bench: $data is absent; nothing to measure" >&2; exit 1; }
[ -x "$MEDHALL_REFERENCE_PYTHON" ] || bash scripts/setup-reference.sh
runs=${RUNS:-3}
profile=${PROFILE:-bench-fast}
[ "$runs" -ge 1 ] || { echo "bench: RUNS must be at least 1" >&2; exit 1; }
cargo build --locked -q -p medhall-cli --profile "$profile"
medhall=target/$profile/medhall

bench_begin score "RUNS PROFILE MEDHALL_DATA" "$@"
rows=$(cat "$pos" "$neg" | wc -l)
out=$(mktemp -d)
times="$out/times.tsv"

# Milliseconds one run of the command takes (its stdout discarded).
time_ms() {
  local a=$EPOCHREALTIME
  "$@" >/dev/null
  local b=$EPOCHREALTIME
  echo "(${b/,/.} - ${a/,/.}) * 1000" | bc -l
}
python_run() { time_ms "$MEDHALL_REFERENCE_PYTHON" scripts/reference_scores.py eval "$pos" "$neg"; }
per_sample_run() { time_ms "$medhall" score --per-sample "$out/per-sample.jsonl" "$pos" "$neg"; }
summary_run() { time_ms "$medhall" score --summary "$out/summary.json" "$pos" "$neg"; }

echo "$rows rows, 5 metrics per sample; $runs rounds; medhall: $medhall ($profile profile)"
for i in $(seq "$runs"); do
  if [ $((i % 2)) = 1 ]; then
    py=$(python_run); ps=$(per_sample_run); su=$(summary_run)
  else
    ps=$(per_sample_run); su=$(summary_run); py=$(python_run)
  fi
  printf '%s\t%s\t%s\t%s\n' "$i" "$py" "$ps" "$su" >>"$times"
  printf 'round %d: Python %.1f ms, medhall --per-sample %.1f ms, medhall --summary %.1f ms\n' "$i" "$py" "$ps" "$su"
done
# The thread count medhall itself reports (one per core, capped), not the core count.
threads=$(MEDHALL_TIMINGS=1 "$medhall" score --summary "$out/summary.json" "$pos" "$neg" 2>&1 >/dev/null \
  | sed -n 's/.*; scoring threads: \([0-9][0-9]*\)$/\1/p')
python_versions=$("$MEDHALL_REFERENCE_PYTHON" -c 'import nltk, importlib.metadata as m, platform; print("Python", platform.python_version() + ", rouge_score", m.version("rouge-score") + ", NLTK", nltk.__version__)')

python3 - "$times" "$rows" "$runs" "${threads:-?}" "$python_versions" "$profile" "$out/body.md" <<'PY'
import sys
sys.path.insert(0, "scripts")
from bench_stats import ratio_cell, ratios, spread, table

path, rows, runs, threads, versions, profile, body = sys.argv[1:]
cols = list(zip(*[[float(x) for x in line.split("\t")[1:]] for line in open(path)]))
py, per_sample, summary = (list(c) for c in cols)
lines = [
    f"Whole processes, {rows} LLaVA-Med rows (both judge-eval files), 5 metrics per sample; "
    f"{runs} alternated rounds. Times: median (min–max) over the rounds; speed-up: the median "
    "(min–max) of the rounds' Python / ours ratios.",
    "",
    table(
        ["side", "command", "threads", "time (ms)", "speed-up vs Python"],
        [
            ["reference", f"`reference_scores.py eval` ({versions}; + per-file means)", "1 (pure Python)", spread(py), "1×"],
            ["ours", f"`medhall score --per-sample` ({profile} build; no means)", threads, spread(per_sample), ratio_cell(ratios(per_sample, py))],
            ["ours", f"`medhall score --summary` ({profile} build; + means, 95% bootstrap CIs)", threads, spread(summary), ratio_cell(ratios(summary, py))],
        ],
    ),
    "ours' threads: the count `medhall score` reports under `MEDHALL_TIMINGS=1` (one per core, at most 8).",
]
text = "\n".join(lines) + "\n"
open(body, "w").write(text)
print()
print(text, end="")
PY
bench_end "$out/body.md"
rm -rf "$out"
