#!/usr/bin/env python3
"""PyTorch transformers' side of the model benchmark (scripts/bench_model.sh runs it).

Builds (once, cached in --dir) a real-size random-weight SmolVLM-256M from
crates/model/tests/fixtures/smolvlm-256m-config.json (the published architecture; weights re-drawn
as gen_model_fixtures.py does, so logits have real margins), saves it with save_pretrained (f32
safetensors) plus the image-processor settings, writes the benchmark inputs (a prompt of text and
64 image tokens, a 512x512 image tensor), then times transformers on them: time to first token
(vision encoder + prefill + arg max) and greedy decoding through the KV cache. It records the
logits and greedy tokens (of the first attention implementation timed) so the Rust side can check
it computes the same model.

It times each of --attention's implementations, one JSON line each: `default` is what
transformers picks when none is asked for (SDPA where the model supports it; the line names the
one it resolved to), `eager` the plain matmul-softmax path.

Needs the venv described in gen_model_fixtures.py (torch, transformers 5.24).
Usage: bench_model_reference.py --dir DIR [--tokens N] [--threads T] [--attention default,eager]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "crates/model/tests/fixtures/smolvlm-256m-config.json"
SEED = 20251129
TEXT_TOKENS = 24


def build(model_dir: Path):
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration

    sys.path.insert(0, str(ROOT / "scripts"))
    from gen_model_fixtures import randomize_  # the fixtures' init rule, not a copy

    config = Idefics3Config.from_dict(json.loads(CONFIG.read_text()))
    torch.manual_seed(SEED)
    model = Idefics3ForConditionalGeneration(config).to(torch.float32).eval()
    randomize_(model, torch.Generator().manual_seed(SEED))
    model.save_pretrained(model_dir, safe_serialization=True)
    # SmolVLM-256M-Instruct's published processor settings (tests/fixtures/README.md).
    (model_dir / "processor_config.json").write_text(json.dumps({
        "image_processor": {
            "do_convert_rgb": True, "do_image_splitting": False, "do_normalize": True,
            "do_pad": True, "do_rescale": True, "do_resize": True,
            "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5],
            "max_image_size": {"longest_edge": 512}, "resample": 1,
            "rescale_factor": 1 / 255, "size": {"longest_edge": 2048},
        },
        "image_seq_len": 64,
        "processor_class": "Idefics3Processor",
    }, indent=2))


SPECIAL = {
    "<|endoftext|>": 0, "<|im_start|>": 1, "<|im_end|>": 2, "<global-img>": 49152,
    "<fake_token_around_image>": 49189, "<image>": 49190, "<end_of_utterance>": 49279,
}


def write_tokenizer(model_dir: Path, vocab_size: int):
    """A synthetic word-level tokenizer (SmolVLM's real one cannot be downloaded here) with
    SmolVLM's special tokens at their ids, so the browser benchmark can run the real prompt path:
    words are `w<id>`; unknown words map to <|endoftext|>."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

    vocab = {f"w{i}": i for i in range(vocab_size)}
    for token, i in SPECIAL.items():
        del vocab[f"w{i}"]
        vocab[token] = i
    tok = Tokenizer(models.WordLevel(vocab, unk_token="<|endoftext|>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.decoder = decoders.WordPiece(prefix="##")
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL])
    tok.save(str(model_dir / "tokenizer.json"))
    (model_dir / "generation_config.json").write_text(json.dumps({"bos_token_id": 1, "eos_token_id": 49279}))


def inputs(config: dict):
    import torch

    g = torch.Generator().manual_seed(SEED + 1)
    image_token = config["image_token_id"]
    text = torch.randint(3, 49152, (TEXT_TOKENS,), generator=g).tolist()
    # <|im_start|>User: <fake><global-img> <image> x 64 <fake> question ... Assistant:
    ids = [1] + text[:4] + [49189, 49152] + [image_token] * 64 + [49189] + text[4:]
    pixels = torch.rand((1, 1, 3, 512, 512), generator=g) * 2 - 1
    return torch.tensor([ids], dtype=torch.int64), pixels


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--dir", type=Path, required=True)
    parser.add_argument("--tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--attention", default="default,eager",
                        help="comma-separated: default (transformers' own choice) and/or an attn_implementation name")
    args = parser.parse_args()

    import torch
    import transformers
    from safetensors.torch import save_file
    from transformers import Idefics3ForConditionalGeneration

    torch.set_num_threads(args.threads)
    model_dir = args.dir / "smolvlm-256m-random"
    if not (model_dir / "model.safetensors").exists():
        t = time.perf_counter()
        build(model_dir)
        print(f"built {model_dir} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    config = json.loads((model_dir / "config.json").read_text())
    if not (model_dir / "tokenizer.json").exists():
        write_tokenizer(model_dir, config["text_config"]["vocab_size"])
    input_ids, pixel_values = inputs(config)

    first = True
    for attention in args.attention.split(","):
        t = time.perf_counter()
        # `default`: no attn_implementation at all, so transformers chooses as it does for a user.
        chosen = {} if attention == "default" else {"attn_implementation": attention}
        model = Idefics3ForConditionalGeneration.from_pretrained(model_dir, dtype=torch.float32, **chosen).eval()
        load_s = time.perf_counter() - t
        resolved = model.config._attn_implementation
        prefill_last, decode, tokens, ttft, decode_s = time_model(model, input_ids, pixel_values, args.tokens)
        if first:
            save_file(
                {
                    "input_ids": input_ids[0].contiguous(),
                    "pixel_values": pixel_values[0, 0].contiguous(),
                    "prefill_last_logits": prefill_last.contiguous(),
                    "decode_logits": torch.stack(decode).contiguous(),
                    "greedy_tokens": torch.tensor(tokens, dtype=torch.int64),
                },
                str(args.dir / "reference.safetensors"),
            )
            first = False
        label = f"default: {resolved}" if attention == "default" else resolved
        print(json.dumps({
            "engine": f"PyTorch {torch.__version__} + transformers {transformers.__version__} ({label} attention, f32)",
            "attention": label,
            # What PyTorch reports it runs on after set_num_threads, not what was asked for.
            "threads": torch.get_num_threads(),
            "prompt_tokens": input_ids.shape[1],
            "generated_tokens": len(tokens),
            "load_s": load_s,
            "time_to_first_token_ms": ttft * 1000,
            "decode_tokens_per_s": (len(tokens) - 1) / decode_s,
        }), flush=True)
        del model


def time_model(model, input_ids, pixel_values, max_tokens):
    """One warm-up run (allocator, kernels), then the timed one: the first token's logits, the
    decoding steps' logits, the greedy tokens, the time to first token and the decoding time."""
    import torch

    def run():
        with torch.inference_mode():
            start = time.perf_counter()
            out = model(
                input_ids=input_ids,
                attention_mask=torch.ones_like(input_ids),
                pixel_values=pixel_values,
                pixel_attention_mask=torch.ones((1, 1, 512, 512), dtype=torch.bool),
                use_cache=True,
            )
            prefill_last = out.logits[0, -1].clone()
            tokens = [int(prefill_last.argmax())]
            first = time.perf_counter()
            cache, mask = out.cache, torch.ones_like(input_ids)
            decode = []
            while len(tokens) < max_tokens:
                mask = torch.cat([mask, torch.ones((1, 1), dtype=mask.dtype)], dim=1)
                step = model(
                    input_ids=torch.tensor([[tokens[-1]]]),
                    attention_mask=mask,
                    cache=cache,
                    use_cache=True,
                )
                cache = step.cache
                logits = step.logits[0, -1].clone()
                decode.append(logits)
                tokens.append(int(logits.argmax()))
            end = time.perf_counter()
        return prefill_last, decode, tokens, first - start, end - first

    run()
    return run()


if __name__ == "__main__":
    main()
