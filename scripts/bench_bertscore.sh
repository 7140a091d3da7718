#!/usr/bin/env bash
# B.Score benchmark (issue 11): `medhall score --bertscore` against bert_score 0.3.13 on PyTorch,
# side by side in one run, on a real-size random-weight roberta-large (published config) and the
# first PAIRS LLaVA-Med pairs (answer vs gpt4_answer), layer 17, batch 64. Also both B.Scores and
# the largest per-pair F1 difference. Model loading is timed on neither side.
#
# RUNS rounds (default 3), the reference first in odd rounds and ours first in even ones; each
# side is a fresh process every round. The speed-up is the median of the rounds' ratios, printed
# with their min–max. Writes docs/benchmarks/bertscore.md and keeps the raw output under
# docs/benchmarks/runs/.
#
# Usage: [RUNS=N] bash scripts/bench_bertscore.sh [PAIRS] [THREADS] [--reference-device cpu|cuda]
#                                                  [--device cpu|wgpu]
#   PAIRS (default 512), THREADS (default 2): PyTorch's set_num_threads and our rayon pool.
#   --reference-device cuda: bert_score on a CUDA GPU (needs a CUDA build of torch).
#   --device wgpu: ours with the CLI's `--device wgpu` (medhall built with `--features wgpu`;
#   Vulkan natively, lavapipe on a machine without a GPU).
#
# Needs the venv of scripts/bertscore_fixtures.py at $MEDHALL_BERT_PY (default
# /work/pyvenv-bert/bin/python) and ../shared/medhalltune. The model (~1.4 GB) is built once into
# target/bench-bertscore/.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench_lib.sh
args=("$@")
positional=()
reference_device=cpu
device=cpu
while [ $# -gt 0 ]; do
  case $1 in
    --reference-device) reference_device=${2:?}; shift 2 ;;
    --device) device=${2:?}; shift 2 ;;
    -*) echo "bench_bertscore: unknown option $1" >&2; exit 2 ;;
    *) positional+=("$1"); shift ;;
  esac
done
PAIRS=${positional[0]:-512}
THREADS=${positional[1]:-2}
RUNS=${RUNS:-3}
case $reference_device in cpu|cuda) ;; *) echo "bench_bertscore: --reference-device is cpu or cuda" >&2; exit 2 ;; esac
case $device in cpu|wgpu) ;; *) echo "bench_bertscore: --device is cpu or wgpu" >&2; exit 2 ;; esac
PY=${MEDHALL_BERT_PY:-/work/pyvenv-bert/bin/python}
DATA=${MEDHALL_DATA:-../shared/medhalltune}
DIR=target/bench-bertscore
mkdir -p "$DIR"
[ -x "$PY" ] || { echo "bench_bertscore: no Python with bert_score at $PY (see scripts/bertscore_fixtures.py)" >&2; exit 1; }
features=()
[ "$device" = wgpu ] && features=(--features wgpu)
cargo build -q --locked -p medhall-cli --profile bench-fast "${features[@]}"
# Built once: the first reference run writes it (and the pairs); it is not timed.
if [ ! -f "$DIR/roberta-large/model.safetensors" ]; then
  echo "bench_bertscore: building the random-weight roberta-large in $DIR (once)" >&2
  "$PY" scripts/bench_bertscore_reference.py --dir "$DIR" --data "$DATA" --pairs 1 --threads "$THREADS" >/dev/null
fi

bench_begin bertscore "RUNS MEDHALL_BERT_PY MEDHALL_DATA" "${args[@]}"
echo "$PAIRS pairs, layer 17, batch 64; reference: bert_score on $reference_device; ours: medhall on $device; $THREADS threads; $RUNS rounds"

reference_run() {
  local i=$1
  "$PY" scripts/bench_bertscore_reference.py --dir "$DIR" --data "$DATA" --pairs "$PAIRS" \
    --threads "$THREADS" --device "$reference_device" >"$DIR/torch.$i.json" 2>"$DIR/torch.err" \
    || { tail -20 "$DIR/torch.err" >&2; exit 1; }
  echo "round $i, bert_score: $(cat "$DIR/torch.$i.json")"
}
ours_run() {
  local i=$1
  # A B.Score run keeps its finished pairs beside its output and resumes from them: start afresh,
  # or a later round would time nothing.
  rm -f "$DIR/ours.jsonl" "$DIR/ours.jsonl.bertscore-cache.jsonl"
  # flex runs on rayon's global pool: the same thread count as PyTorch's set_num_threads.
  RAYON_NUM_THREADS="$THREADS" ./target/bench-fast/medhall score --bertscore "$DIR/roberta-large" \
    --device "$device" --per-sample "$DIR/ours.jsonl" "$DIR/pairs.positive.jsonl" 2>"$DIR/ours.err" \
    || { tail -20 "$DIR/ours.err" >&2; exit 1; }
  # The progress line rewrites itself with \r: keep the summary line.
  tr '\r' '\n' <"$DIR/ours.err" | grep '^B.Score: model loaded' >"$DIR/ours.$i.log"
  cp "$DIR/ours.$i.log" "$DIR/ours.log"
  echo "round $i, ours: $(cat "$DIR/ours.$i.log")"
}
for i in $(seq "$RUNS"); do
  if [ $((i % 2)) = 1 ]; then reference_run "$i"; ours_run "$i"; else ours_run "$i"; reference_run "$i"; fi
done

body=$(mktemp)
python3 - "$DIR" "$THREADS" "$RUNS" "$device" "$body" <<'PY'
import json, re, sys
sys.path.insert(0, "scripts")
from bench_stats import ratio_cell, ratios, spread, table

d, threads, runs, device, body = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5]
torch = [json.load(open(f"{d}/torch.{i}.json")) for i in range(1, runs + 1)]
ours = []
for i in range(1, runs + 1):
    m = re.search(r"(\d+) sentences encoded and (\d+) pairs matched in ([\d.]+) s", open(f"{d}/ours.{i}.log").read())
    ours.append({"sentences": int(m.group(1)), "pairs": int(m.group(2)), "seconds": float(m.group(3))})
sentences = {r["sentences"] for r in torch} | {o["sentences"] for o in ours}
assert len(sentences) == 1, f"the sides encoded different sentence counts: {sentences}"
sentences = sentences.pop()
# F1 per pair: the last round's (every round scores the same pairs with the same model).
ours_f1 = [json.loads(l)["bertscore"] for l in open(f"{d}/ours.jsonl")]
theirs_f1 = json.load(open(f"{d}/torch_f1.json"))["f1"]
diff = max(abs(a - b) for a, b in zip(ours_f1, theirs_f1, strict=True))
t_s = [r["seconds"] for r in torch]
o_s = [o["seconds"] for o in ours]
ref = torch[0]
ref_device = ref.get("device", "cpu")
ours_engine = "burn flex (CPU)" if device == "cpu" else "burn wgpu (`--device wgpu`)"
text = "\n".join([
    f"Random-weight roberta-large (published config), layer 17, batch 64, {ours[0]['pairs']} LLaVA-Med pairs, "
    f"{sentences} distinct sentences; {runs} alternated rounds, each side a fresh process; model loading not timed. "
    "Seconds and sentences/s: median (min–max) over the rounds; speed-up: the median (min–max) of the rounds' "
    "bert_score / ours time ratios.",
    "",
    table(
        ["side", "engine", "device", "threads", "seconds", "sentences/s", "speed-up vs bert_score"],
        [
            ["reference", ref["engine"], ref_device, ref["threads"], spread(t_s), spread([sentences / s for s in t_s], "{:.2f}"), "1×"],
            ["ours", f"`medhall score --bertscore`, {ours_engine}", device, f"{threads} (`RAYON_NUM_THREADS`)", spread(o_s),
             spread([sentences / s for s in o_s], "{:.2f}"), ratio_cell(ratios(o_s, t_s))],
        ],
    ),
    f"B.Score: ours {sum(ours_f1) / len(ours_f1):.6f}, bert_score {ref['b_score']:.6f}; "
    f"largest per-pair |ΔF1| {diff:.2e} (last round).",
    "threads: what PyTorch reports after `torch.set_num_threads`; ours: the size of rayon's pool, which burn flex runs on.",
])
open(body, "w").write(text + "\n")
print()
print(text)
PY
bench_end "$body"
rm -f "$body"
