#!/usr/bin/env bash
# Benchmark: score the 2,238 LLaVA-Med rows (both judge-eval files) with all five metrics per
# sample, as whole processes on both sides, measured in one run:
#   Python: scripts/reference_scores.py eval (rouge_score + NLTK METEOR/BLEU, as eval.py; it also
#           prints per-file means of the five metrics and the judge's four scores)
#   Rust:   medhall score (release build): --per-sample writes per-sample scores and computes no
#           means; --summary adds means per split with 95% bootstrap intervals.
# Both sides run several times; medians are reported.
# Prints the figures and the ratio side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
data=${MEDHALL_DATA:-../shared/medhalltune}
pos="$data/llava-med-v1.5-7b.positive.gpt4o-eval.jsonl"
neg="$data/llava-med-v1.5-7b.negative.gpt4o-eval.jsonl"
[ -f "$pos" ] && [ -f "$neg" ] || { echo "bench: $data is absent; nothing to measure" >&2; exit 1; }
[ -x "$MEDHALL_REFERENCE_PYTHON" ] || bash scripts/setup-reference.sh
cargo build --release --locked -p medhall-cli >/dev/null 2>&1
medhall=target/release/medhall
rows=$(cat "$pos" "$neg" | wc -l)
runs=${RUNS:-15}

# Timestamps come from $EPOCHREALTIME (bash 5): reading it forks nothing, so the timer adds no
# process start-up to either side.
measure() {
  local times=()
  for _ in $(seq "$runs"); do
    local a=$EPOCHREALTIME
    "$@" >/dev/null
    local b=$EPOCHREALTIME
    times+=("$(echo "(${b/,/.} - ${a/,/.}) * 1000" | bc -l)")
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'
}
python_runs=${PY_RUNS:-3}
python_ms=$(runs=$python_runs measure "$MEDHALL_REFERENCE_PYTHON" scripts/reference_scores.py eval "$pos" "$neg")
out=$(mktemp -d)
rust_ms=$(measure "$medhall" score --per-sample "$out/per-sample.jsonl" "$pos" "$neg")
rust_ci_ms=$(measure "$medhall" score --summary "$out/summary.json" "$pos" "$neg")
# The thread count medhall itself reports (one per core, capped), not the core count.
threads=$(MEDHALL_TIMINGS=1 "$medhall" score --summary "$out/summary.json" "$pos" "$neg" 2>&1 >/dev/null \
  | sed -n 's/.*; scoring threads: \([0-9][0-9]*\)$/\1/p')
rm -rf "$out"

printf '%-58s %12s %10s\n' "whole process, $rows rows, 5 metrics per sample" "time (ms)" "vs Python"
printf '%-58s %12.1f %10s\n' "Python reference, + per-file means (median of $python_runs)" "$python_ms" "1x"
printf '%-58s %12.1f %9.0fx\n' "medhall score --per-sample, no means (median of $runs)" "$rust_ms" "$(echo "$python_ms / $rust_ms" | bc -l)"
printf '%-58s %12.1f %9.0fx\n' "medhall score --summary, + means, 95% CIs (median of $runs)" "$rust_ci_ms" "$(echo "$python_ms / $rust_ci_ms" | bc -l)"
echo "Python reference: rouge_score 0.1.2, NLTK 3.10.4, one thread"
echo "machine: $(nproc) cores; medhall scores on ${threads:-an unreported number of} threads"
