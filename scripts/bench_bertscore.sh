#!/usr/bin/env bash
# B.Score benchmark (issue 11): `medhall score --bertscore` (burn flex on the CPU) against
# bert_score 0.3.13 on PyTorch (CPU), side by side in one run with the same thread count, on a
# real-size random-weight roberta-large (published config) and the first PAIRS LLaVA-Med pairs
# (answer vs gpt4_answer), layer 17, batch 64. Also the largest per-pair F1 difference.
#
# Needs the venv of scripts/bertscore_fixtures.py at $MEDHALL_BERT_PY (default
# /work/pyvenv-bert/bin/python) and ../shared/medhalltune. The model (~1.4 GB) is built once into
# target/bench-bertscore/. Usage: scripts/bench_bertscore.sh [PAIRS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
PAIRS=${1:-512}
THREADS=${2:-2}
PY=${MEDHALL_BERT_PY:-/work/pyvenv-bert/bin/python}
DATA=${MEDHALL_DATA:-../shared/medhalltune}
DIR=target/bench-bertscore
mkdir -p "$DIR"
[ -x "$PY" ] || { echo "bench_bertscore: no Python with bert_score at $PY (see scripts/bertscore_fixtures.py)" >&2; exit 1; }
cargo build -q -p medhall-cli --profile bench-fast
echo "== bert_score on PyTorch ($THREADS threads) =="
"$PY" scripts/bench_bertscore_reference.py --dir "$DIR" --data "$DATA" --pairs "$PAIRS" --threads "$THREADS" 2>/dev/null | tee "$DIR/torch.json"
echo "== ours: medhall score --bertscore (burn flex, $THREADS threads) =="
# A B.Score run keeps its finished pairs beside its output and resumes from them: start afresh,
# or a second benchmark run would time nothing.
rm -f "$DIR/ours.jsonl" "$DIR/ours.jsonl.bertscore-cache.jsonl"
# flex runs on rayon's global pool: the same thread count as PyTorch's set_num_threads.
RAYON_NUM_THREADS="$THREADS" ./target/bench-fast/medhall score --bertscore "$DIR/roberta-large" \
  --per-sample "$DIR/ours.jsonl" "$DIR/pairs.positive.jsonl" 2> >(tee "$DIR/ours.log" >&2)
python3 - "$DIR" "$THREADS" <<'PY'
import json, re, sys
d, threads = sys.argv[1], int(sys.argv[2])
torch = json.load(open(f"{d}/torch.json"))
log = open(f"{d}/ours.log").read()
m = re.search(r"(\d+) sentences encoded and (\d+) pairs matched in ([\d.]+) s", log)
sentences, pairs, seconds = int(m.group(1)), int(m.group(2)), float(m.group(3))
ours_f1 = [json.loads(l)["bertscore"] for l in open(f"{d}/ours.jsonl")]
theirs_f1 = json.load(open(f"{d}/torch_f1.json"))["f1"]
diff = max(abs(a - b) for a, b in zip(ours_f1, theirs_f1))
rate = sentences / seconds
print()
print(f"Random-weight roberta-large (published config), layer 17, batch 64, {pairs} LLaVA-Med pairs, {sentences} distinct sentences")
print(f"{'engine':<40} {'seconds':>9} {'sentences/s':>12} {'vs torch':>9}")
print(f"{'PyTorch bert_score (' + str(torch['threads']) + ' threads)':<40} {torch['seconds']:>9.1f} {torch['sentences_per_s']:>12.2f} {'1.00x':>9}")
print(f"{'ours, burn flex (' + str(threads) + ' threads)':<40} {seconds:>9.1f} {rate:>12.2f} {rate / torch['sentences_per_s']:>8.2f}x")
print(f"B.Score: ours {sum(ours_f1) / len(ours_f1):.6f}, bert_score {torch['b_score']:.6f}; max per-pair |dF1| {diff:.2e}")
PY
