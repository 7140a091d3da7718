#!/usr/bin/env bash
# Model benchmark (issue 5): our CPU path (burn flex) against PyTorch transformers on the same
# real-size random-weight SmolVLM-256M, side by side in one run, plus f32/q8_0/q4 weight bytes and
# the quantized models' top-1 agreement and KL divergence against f32 (tiny fixture and real size),
# next to PyTorch applying the same schemes (scripts/quant_reference.py).
#
# PyTorch runs with transformers' default attention (what it picks when none is asked for: SDPA)
# and, as a second row, eager attention. RUNS rounds (default 3), PyTorch first in odd rounds and
# ours first in even ones, each side a fresh process every round; every ratio is the median of
# the rounds' ratios, printed with their min–max. Writes docs/benchmarks/model.md and keeps the
# raw output under docs/benchmarks/runs/.
#
# Needs the Python venv of scripts/gen_model_fixtures.py (torch + transformers 5.24), at
# $MEDHALL_MODEL_PY (default /work/pyvenv-model/bin/python). The random-weight model (~1 GB f32)
# is built once into target/bench-model/. Usage: [RUNS=N] bash scripts/bench_model.sh [TOKENS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/bench_lib.sh
TOKENS=${1:-32}
THREADS=${2:-2}
RUNS=${RUNS:-3}
PY=${MEDHALL_MODEL_PY:-/work/pyvenv-model/bin/python}
DIR=target/bench-model
mkdir -p "$DIR"
[ -x "$PY" ] || { echo "bench_model: no Python with torch at $PY (see scripts/gen_model_fixtures.py)" >&2; exit 1; }
cargo build -q --locked -p medhall-model --profile bench-fast --example bench_model --features native-cpu

bench_begin model "RUNS MEDHALL_MODEL_PY" "$@"
echo "$TOKENS tokens, $THREADS threads, $RUNS rounds"
torch_run() {
  local i=$1
  # The first run builds the model (once, untimed) and every run writes reference.safetensors
  # (the default attention's logits and greedy tokens), which ours checks itself against.
  "$PY" scripts/bench_model_reference.py --dir "$DIR" --tokens "$TOKENS" --threads "$THREADS" \
    >"$DIR/torch.$i.jsonl" 2>"$DIR/torch.err" || { tail -20 "$DIR/torch.err" >&2; exit 1; }
  sed "s/^/round $i, PyTorch: /" "$DIR/torch.$i.jsonl"
}
ours_run() {
  local i=$1
  # flex runs on rayon's global pool: the same thread count as PyTorch's set_num_threads.
  RAYON_NUM_THREADS="$THREADS" ./target/bench-fast/examples/bench_model "$DIR" "$TOKENS" >"$DIR/ours.$i.jsonl"
  cp "$DIR/ours.$i.jsonl" "$DIR/ours.jsonl"
  sed "s/^/round $i, ours: /" "$DIR/ours.$i.jsonl"
}
# PyTorch goes first in round 1: it builds the model and writes the reference ours reads.
for i in $(seq "$RUNS"); do
  if [ $((i % 2)) = 1 ]; then torch_run "$i"; ours_run "$i"; else ours_run "$i"; torch_run "$i"; fi
done
echo "== PyTorch, the same quantization schemes as fake quantization (agreement reference, not timed) =="
"$PY" scripts/quant_reference.py --dir "$DIR" --threads "$THREADS" 2>"$DIR/quant_torch.err" >"$DIR/quant_torch.json" \
  || { tail -20 "$DIR/quant_torch.err" >&2; exit 1; }
cat "$DIR/quant_torch.json"

body=$(mktemp)
python3 - "$DIR" "$RUNS" "$body" <<'PY'
import json, sys
sys.path.insert(0, "scripts")
from bench_stats import median, ratio_cell, ratios, spread, table

d, runs, body = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rounds = range(1, runs + 1)
torch = [[json.loads(l) for l in open(f"{d}/torch.{i}.jsonl")] for i in rounds]
ours = [[json.loads(l) for l in open(f"{d}/ours.{i}.jsonl")] for i in rounds]
attentions = [t["attention"] for t in torch[0]]
quantizations = [o["quantization"] for o in ours[0] if o["case"].startswith("SmolVLM")]
def torch_col(attention, key):
    return [next(t for t in r if t["attention"] == attention)[key] for r in torch]
def ours_col(q, key):
    return [next(o for o in r if o["case"].startswith("SmolVLM") and o["quantization"] == q)[key] for r in ours]
default = attentions[0]
first = torch[0][0]
out = [
    f"Real-size random-weight SmolVLM-256M (published config), {first['prompt_tokens']} prompt tokens "
    f"(64 image tokens), {first['generated_tokens']} generated, greedy; {runs} alternated rounds, each side a fresh "
    "process (PyTorch warms up once per attention before its timed run). TTFT and tokens/s: median (min–max) over the rounds; "
    "speed-ups: the median (min–max) of the rounds' ratios, against PyTorch with transformers' default attention "
    f"(`{default}`) and against eager.",
    "",
]
rows = []
for a in attentions:
    rows.append([f"PyTorch f32, {a} attention", next(t for t in torch[0] if t["attention"] == a)["threads"], "",
                 spread(torch_col(a, "time_to_first_token_ms"), "{:.0f}"), spread(torch_col(a, "decode_tokens_per_s"), "{:.2f}"),
                 "", ""])
nominal = False
for q in quantizations:
    o0 = next(o for o in ours[0] if o["case"].startswith("SmolVLM") and o["quantization"] == q)
    size = f"{o0['weight_bytes'] / 1e6:.1f}" + ("" if o0["weight_bytes_measured"] else " *")
    nominal |= not o0["weight_bytes_measured"]
    tps, ttft = ours_col(q, "decode_tokens_per_s"), ours_col(q, "time_to_first_token_ms")
    vs = lambda a: (f"{ratio_cell(ratios(tps, torch_col(a, 'decode_tokens_per_s'), higher_is_faster=True))} / "
                    f"{ratio_cell(ratios(ttft, torch_col(a, 'time_to_first_token_ms')))}")
    rows.append([f"ours {q} (burn flex)", f"{o0['threads']} (`RAYON_NUM_THREADS`)", size,
                 spread(ttft, "{:.0f}"), spread(tps, "{:.2f}"), vs(default), vs("eager") if "eager" in attentions else ""])
out.append(table(["engine", "threads", "weights MB", "TTFT ms", "tokens/s", f"speed-up vs {default}: tokens/s / TTFT", "vs eager: tokens/s / TTFT"], rows))
out.append("Engines: " + "; ".join(dict.fromkeys(t["engine"] for t in torch[0])) + f"; ours: {ours[0][0].get('engine', 'medhall-model on burn flex')}.")
out.append("threads: what PyTorch reports after `torch.set_num_threads`; ours: the thread count the example reports (rayon's pool).")
out.append("weights MB: measured from the loaded tensors (burn flex holds q4 values one per byte, like q8)"
           + ("; * nominal (config formula): not measurable on this backend." if nominal else "."))
if any(o["threads"] != t["threads"] for r, s in zip(ours, torch) for o in r for t in s):
    out.append(f"**Thread counts differ between the sides.**")
f32 = ours_col("none", "max_abs_diff_vs_transformers") if "none" in quantizations else []
if f32:
    equal = ours_col("none", "greedy_tokens_equal_transformers")
    out.append(f"ours f32 against transformers ({default}): largest |logit difference| {max(f32):.2e} over the rounds; greedy tokens equal in every round: {all(equal)}.")
out.append("")
out.append("Where our time goes (ms, median over the rounds; the image arrives preprocessed from the PyTorch side):")
out.append("")
stage_rows = []
for q in quantizations:
    steps = [median(s) for s in ours_col(q, "decode_step_ms") if s]
    stage_rows.append([f"ours {q}", f"{median(ours_col(q, 'vision_encoder_ms')):.0f}", f"{median(ours_col(q, 'connector_ms')):.1f}",
                       f"{median(ours_col(q, 'prefill_ms')):.0f}", spread(steps) if steps else "-"])
out.append(table(["run", "vision encoder", "connector", "prefill", "decoding step (median per round: median (min–max))"], stage_rows))
out.append("Quantized against f32 (teacher-forced on the f32 greedy sequence, every position; last round):")
out.append("")
agree = [[o["case"], o["quantization"], f"{o['top1_agreement_vs_f32'] * 100:.1f}% of {o['positions_compared']}", f"{o['mean_kl_vs_f32']:.2e}",
          o["f32_positions_with_top2_gap_below_0.05"]] for o in ours[-1] if "top1_agreement_vs_f32" in o]
out.append(table(["case", "weights", "top-1 agreement", "mean KL", "f32 positions with a top-2 gap < 0.05"], agree))
out.append("The same schemes applied by PyTorch to the real-size model (fake quantization, `scripts/quant_reference.py`):")
out.append("")
out.append(table(["scheme", "top-1 agreement", "mean KL"],
                 [[r["scheme"], f"{r['top1_agreement_vs_f32'] * 100:.1f}% of {r['positions']}", f"{r['mean_kl_vs_f32']:.2e}"]
                  for r in json.load(open(f"{d}/quant_torch.json"))]))
text = "\n".join(out)
open(body, "w").write(text)
print()
print(text, end="")
PY
bench_end "$body"
rm -f "$body"
