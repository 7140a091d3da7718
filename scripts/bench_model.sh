#!/usr/bin/env bash
# Model benchmark (issue 5): our CPU path (burn flex) against PyTorch transformers on the same
# real-size random-weight SmolVLM-256M, side by side in one run, plus f32/q8_0/q4 weight bytes and
# the quantized models' top-1 agreement and KL divergence against f32 (tiny fixture and real size),
# next to PyTorch applying the same schemes (scripts/quant_reference.py).
#
# Needs the Python venv of scripts/gen_model_fixtures.py (torch + transformers 5.24), at
# $MEDHALL_MODEL_PY (default /work/pyvenv-model/bin/python). The random-weight model (~1 GB f32)
# is built once into target/bench-model/. Usage: scripts/bench_model.sh [TOKENS] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
TOKENS=${1:-32}
THREADS=${2:-2}
PY=${MEDHALL_MODEL_PY:-/work/pyvenv-model/bin/python}
DIR=target/bench-model
mkdir -p "$DIR"
[ -x "$PY" ] || { echo "bench_model: no Python with torch at $PY (see scripts/gen_model_fixtures.py)" >&2; exit 1; }
cargo build -q -p medhall-model --profile bench-fast --example bench_model --features native-cpu
echo "== PyTorch (transformers) =="
"$PY" scripts/bench_model_reference.py --dir "$DIR" --tokens "$TOKENS" --threads "$THREADS" 2>/dev/null | tee "$DIR/torch.json"
echo "== ours (burn flex, CPU, SIMD + rayon threads) =="
# flex runs on rayon's global pool: the same thread count as PyTorch's set_num_threads.
RAYON_NUM_THREADS="$THREADS" ./target/bench-fast/examples/bench_model "$DIR" "$TOKENS" | tee "$DIR/ours.jsonl"
echo "== PyTorch, the same quantization schemes as fake quantization (agreement reference) =="
"$PY" scripts/quant_reference.py --dir "$DIR" --threads "$THREADS" 2>/dev/null | tee "$DIR/quant_torch.json"
python3 - "$DIR" <<'PY'
import json, sys
d = sys.argv[1]
torch = json.load(open(f"{d}/torch.json"))
ours = [json.loads(l) for l in open(f"{d}/ours.jsonl")]
print()
print(f"Real-size random-weight SmolVLM-256M, {torch['prompt_tokens']} prompt tokens (64 image tokens), {torch['generated_tokens']} generated")
print(f"{'engine':<46} {'weights MB':>12} {'TTFT ms':>9} {'tokens/s':>9} {'vs torch tok/s':>14} {'top-1 agree':>11} {'mean KL':>9}")
print(f"{'PyTorch f32 (' + str(torch['threads']) + ' threads)':<46} {'':>12} {torch['time_to_first_token_ms']:>9.0f} {torch['decode_tokens_per_s']:>9.2f} {'1.00x':>14} {'':>11} {'':>9}")
nominal = False
for o in ours:
    if not o["case"].startswith("SmolVLM"):
        continue
    agree = f"{o['top1_agreement_vs_f32']*100:.1f}%" if "top1_agreement_vs_f32" in o else "-"
    kl = f"{o['mean_kl_vs_f32']:.2e}" if "mean_kl_vs_f32" in o else "-"
    ratio = o["decode_tokens_per_s"] / torch["decode_tokens_per_s"]
    # Measured from the loaded tensors, or the config's formula where burn's storage could not be read.
    size = f"{o['weight_bytes']/1e6:.1f}" + ("" if o["weight_bytes_measured"] else " *")
    nominal |= not o["weight_bytes_measured"]
    print(f"{'ours ' + o['quantization'] + ' (flex, ' + str(o['threads']) + ' threads)':<46} {size:>12} {o['time_to_first_token_ms']:>9.0f} {o['decode_tokens_per_s']:>9.2f} {ratio:>13.2f}x {agree:>11} {kl:>9}")
print("weights MB: measured from the loaded tensors (burn flex holds q4 values one per byte, like q8)"
      + ("; * nominal (config formula): not measurable on this backend" if nominal else ""))
if any(o["threads"] != torch["threads"] for o in ours):
    print(f"WARNING: thread counts differ: PyTorch {torch['threads']}, ours {sorted({o['threads'] for o in ours})}")
f32 = next(o for o in ours if o["case"].startswith("SmolVLM") and o["quantization"] == "none")
print(f"ours f32 vs transformers: max |logit difference| {f32['max_abs_diff_vs_transformers']:.2e}, greedy tokens equal: {f32['greedy_tokens_equal_transformers']}")
print(f"TTFT ratio (torch / ours f32): {torch['time_to_first_token_ms'] / f32['time_to_first_token_ms']:.2f}x")
print()
print("Where our time to first token and decoding go (ms; the image arrives preprocessed from the PyTorch side):")
print(f"  {'run':<28} {'vision enc.':>11} {'connector':>9} {'prefill':>9} {'decode steps: mean':>19} {'min':>7} {'max':>7}")
for o in ours:
    if not o["case"].startswith("SmolVLM"):
        continue
    steps = o.get("decode_step_ms") or [float("nan")]
    print(f"  {'ours ' + o['quantization']:<28} {o['vision_encoder_ms']:>11.0f} {o['connector_ms']:>9.1f} {o['prefill_ms']:>9.0f} "
          f"{sum(steps)/len(steps):>19.1f} {min(steps):>7.1f} {max(steps):>7.1f}")
print()
print("Quantized against f32 (teacher-forced on the f32 greedy sequence, every position):")
for o in ours:
    if "top1_agreement_vs_f32" in o:
        print(f"  {o['case']:<38} {o['quantization']}: top-1 agreement {o['top1_agreement_vs_f32']*100:.1f}% of {o['positions_compared']} positions, mean KL {o['mean_kl_vs_f32']:.2e}, "
              f"f32 positions with a top-2 gap < 0.05: {o['f32_positions_with_top2_gap_below_0.05']}")
print()
print("The same schemes applied by PyTorch to the real-size model (fake quantization; scripts/quant_reference.py):")
for r in json.load(open(f"{d}/quant_torch.json")):
    print(f"  {r['scheme']:<46} top-1 agreement {r['top1_agreement_vs_f32']*100:.1f}% of {r['positions']} positions, mean KL {r['mean_kl_vs_f32']:.2e}")
PY
