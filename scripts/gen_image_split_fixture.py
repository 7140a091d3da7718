#!/usr/bin/env python3
"""Record transformers' Idefics3 processor with image splitting on (SmolVLM's `do_image_splitting`),
so `crates/model` can check its tiles, pixel values and prompt ids without torch.

Writes crates/model/tests/fixtures/image_split_reference.json (about 200 kB):

  cases         synthetic images of several sizes and aspect ratios (the pixels come from an integer
                formula, `synthetic_image`, that the Rust test reproduces byte for byte, so no image
                files are committed), each processed by `Idefics3Processor` with SmolVLM-256M-Instruct's
                image-processor settings (written here by hand from the model card's published
                preprocessor_config.json, which cannot be downloaded from these machines:
                Idefics3ImageProcessor, LANCZOS, size.longest_edge 2048, max_image_size.longest_edge
                512, do_image_splitting true, rescale 1/255, mean = std = 0.5; image_seq_len 64) or with
                the tiny fixture model's settings (256 / 64, image_seq_len 16) and splitting switched
                on. For each: the sizes after the first resize and after the resize to multiples of
                the tile, rows and columns, and for every tile (in the processor's order: row by row,
                then the global image) a checksum of its float32 values' bits ([3, H, W], `bits_checksum`),
                per-channel sums and 64 sampled values (flat indices (7 + i * 1000003) mod len); and the chat prompt's token ids (the tiny
                fixture's tokenizer, which has SmolVLM's `<row_r_col_c>` tokens).
  model         the tiny random-weight model (tiny-idefics3/) run by Idefics3ForConditionalGeneration
                on fixture-image.png with splitting on: the last prompt position's logits and the
                greedy tokens of a cached decode, so the several-image prefill is checked end to end.

The image processor is the PIL one (`Idefics3ImageProcessorPil`; torchvision is not installed),
the one `Idefics3ImageProcessor` resolves to without torchvision; the version of transformers is
written into the file. Run with the venv described in scripts/gen_model_fixtures.py:

    /work/pyvenv-model/bin/python scripts/gen_image_split_fixture.py
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "crates" / "model" / "tests" / "fixtures"
OUT = FIXTURES / "image_split_reference.json"
QUESTION = "What is shown in this image?"
DECODE_STEPS = 3
SAMPLES_PER_TILE = 64
SAMPLE_STEP = 1_000_003  # a prime: the samples land on scattered rows, columns and channels

# SmolVLM-256M-Instruct's preprocessor_config.json as its model card publishes it (revision
# 7e3e67edbbed1bf9888184d9df282b700a323964), written by hand: the Hub is unreachable from here.
SMOLVLM_256M = dict(
    do_convert_rgb=True,
    do_image_splitting=True,
    do_normalize=True,
    do_pad=True,
    do_rescale=True,
    do_resize=True,
    image_mean=[0.5, 0.5, 0.5],
    image_std=[0.5, 0.5, 0.5],
    max_image_size={"longest_edge": 512},
    resample=1,
    rescale_factor=1 / 255,
    size={"longest_edge": 2048},
)
SMOLVLM_IMAGE_SEQ_LEN = 64

# (settings name, width, height): landscape, portrait, a 4:1 strip, images smaller than a tile,
# an exact tile, a thin one and an image larger than size.longest_edge.
CASES = [
    ("smolvlm-256m", 300, 200),
    ("smolvlm-256m", 1000, 700),
    ("smolvlm-256m", 700, 1500),
    ("smolvlm-256m", 2048, 512),
    ("smolvlm-256m", 180, 120),
    ("smolvlm-256m", 512, 512),
    ("smolvlm-256m", 33, 999),
    ("smolvlm-256m", 2500, 1700),
    ("tiny", 40, 30),
    ("tiny", 30, 100),
    ("tiny", 64, 64),
]


def synthetic_image(width: int, height: int):
    """Integer-only pixels (so the Rust test rebuilds them exactly): red and green ramps,
    blue a 16-pixel checkerboard plus a fine diagonal texture, so that LANCZOS sees both smooth
    regions and edges."""
    import numpy as np

    y, x = np.mgrid[0:height, 0:width].astype(np.int64)
    r = (x * 255) // max(width - 1, 1)
    g = (y * 255) // max(height - 1, 1)
    b = (((x >> 4) ^ (y >> 4)) & 1) * 160 + ((x * 7 + y * 3) & 63)
    return np.stack([r, g, b], axis=-1).astype(np.uint8)


def settings_for(name: str) -> tuple[dict, int]:
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    import gen_model_fixtures as g

    if name == "smolvlm-256m":
        return SMOLVLM_256M, SMOLVLM_IMAGE_SEQ_LEN
    tiny = dict(g.IMAGE_PROCESSOR)
    tiny["do_image_splitting"] = True
    return tiny, g.IMAGE_SEQ_LEN


def processor_for(name: str):
    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    import gen_model_fixtures as g
    from transformers import Idefics3Processor, PreTrainedTokenizerFast
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    settings, seq_len = settings_for(name)
    tokenizer = PreTrainedTokenizerFast.from_pretrained(FIXTURES / "tiny-idefics3")
    return Idefics3Processor(
        image_processor=Idefics3ImageProcessorPil(**settings),
        tokenizer=tokenizer,
        image_seq_len=seq_len,
        chat_template=g.CHAT_TEMPLATE,
    )


def bits_checksum(flat) -> str:
    """sum over i of (i + 1) * (the bits of float32 value i), modulo 2^64, as a decimal string:
    any changed value changes it, and numpy computes it quickly (a byte hash in Python would not)."""
    import numpy as np

    bits = flat.view("<u4").astype(np.uint64)
    weights = np.arange(1, flat.size + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return str(int(np.sum(bits * weights, dtype=np.uint64)))


def tile_record(tile) -> dict:
    import numpy as np

    tile = np.ascontiguousarray(tile, dtype="<f4")
    flat = tile.reshape(-1)
    idx = [(7 + i * SAMPLE_STEP) % flat.size for i in range(SAMPLES_PER_TILE)]
    return {
        "bits_checksum": bits_checksum(flat),
        "channel_sums": [float(tile[c].astype(np.float64).sum()) for c in range(tile.shape[0])],
        "sample_values": [float(flat[i]) for i in idx],
    }


def run_case(name: str, width: int, height: int) -> dict:
    import numpy as np
    from PIL import Image
    from transformers.image_utils import SizeDict

    processor = processor_for(name)
    ip = processor.image_processor
    settings, seq_len = settings_for(name)
    image = Image.fromarray(synthetic_image(width, height), mode="RGB")
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=prompt, images=[image], return_tensors="np")
    pixels = inputs["pixel_values"][0]
    mask = inputs["pixel_attention_mask"][0]
    if not mask.all():
        raise SystemExit(f"{name} {width}x{height}: padded tiles; the Rust side assumes none")

    # The intermediate sizes, from the processor's own methods.
    chw = np.moveaxis(np.asarray(image), -1, 0)
    first = ip.resize(chw, SizeDict(longest_edge=settings["size"]["longest_edge"]), resample=settings["resample"])
    second = ip.resize_for_vision_encoder(first, settings["max_image_size"]["longest_edge"], resample=settings["resample"])
    _, rows, cols = ip.split_images(second, settings["max_image_size"], resample=settings["resample"])
    if pixels.shape[0] != (rows * cols + 1 if rows else 1):
        raise SystemExit(f"{name} {width}x{height}: {pixels.shape[0]} tiles for {rows}x{cols}")
    return {
        "settings": name,
        "width": width,
        "height": height,
        "resized": [int(first.shape[2]), int(first.shape[1])],
        "resized_to_tiles": [int(second.shape[2]), int(second.shape[1])],
        "rows": rows,
        "cols": cols,
        "pixel_values_shape": list(pixels.shape),
        "tiles": [tile_record(t) for t in pixels],
        "input_ids": inputs["input_ids"][0].tolist(),
        "image_token_count": int((inputs["input_ids"][0] == processor.image_token_id).sum()),
    }


def run_model() -> dict:
    import torch
    from PIL import Image
    from transformers import Idefics3ForConditionalGeneration

    torch.manual_seed(0)
    torch.set_num_threads(1)
    processor = processor_for("tiny")
    image = Image.open(FIXTURES / "fixture-image.png")
    image.load()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=prompt, images=[image], return_tensors="pt")
    model = Idefics3ForConditionalGeneration.from_pretrained(
        FIXTURES / "tiny-idefics3", dtype=torch.float32, attn_implementation="eager"
    ).eval()
    with torch.no_grad():
        out = model(**inputs, use_cache=True)
        last = out.logits[0, -1].clone()
        cache = out.past_key_values if getattr(out, "past_key_values", None) is not None else out.cache
        ids = [int(last.argmax())]
        mask = inputs["attention_mask"]
        for _ in range(DECODE_STEPS):
            mask = torch.cat([mask, torch.ones((1, 1), dtype=mask.dtype)], dim=1)
            step = model(input_ids=torch.tensor([[ids[-1]]]), attention_mask=mask, past_key_values=cache, use_cache=True)
            cache = step.past_key_values if getattr(step, "past_key_values", None) is not None else step.cache
            ids.append(int(step.logits[0, -1].argmax()))
        gen = model.generate(**inputs, max_new_tokens=DECODE_STEPS + 1, do_sample=False, eos_token_id=None)
    gen_ids = gen[0, inputs["input_ids"].shape[1] :].tolist()
    if gen_ids != ids:
        raise SystemExit(f"generate() gives {gen_ids}, the manual loop {ids}")
    top2 = torch.topk(last, 2).values
    return {
        "dir": "tiny-idefics3",
        "image": "fixture-image.png",
        "question": QUESTION,
        "image_settings": "tiny",
        "pixel_values_shape": list(inputs["pixel_values"].shape),
        "input_ids": inputs["input_ids"][0].tolist(),
        "last_logits": [float(v) for v in last],
        "last_top1_margin": float(top2[0] - top2[1]),
        "greedy_tokens": ids,
        "dtype": "float32, cpu, eager attention, one thread",
    }


def main():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import numpy
    import PIL
    import tokenizers
    import torch
    import transformers

    if not transformers.__version__.startswith("5."):
        raise SystemExit(f"transformers {transformers.__version__}: the fixture is pinned to 5.x")
    cases = [run_case(*c) for c in CASES]
    reference = {
        "about": "transformers' Idefics3Processor with image splitting on, made by scripts/gen_image_split_fixture.py",
        "versions": {
            "python": platform.python_version(),
            "transformers": transformers.__version__,
            "torch": torch.__version__,
            "tokenizers": tokenizers.__version__,
            "numpy": numpy.__version__,
            "pillow": PIL.__version__,
        },
        "image_processor_class": "Idefics3ImageProcessorPil (torchvision not installed)",
        "settings": {
            "smolvlm-256m": {
                "image_processor": SMOLVLM_256M,
                "image_seq_len": SMOLVLM_IMAGE_SEQ_LEN,
                "source": "SmolVLM-256M-Instruct's published preprocessor_config.json / processor_config.json values, written by hand",
            },
            "tiny": {
                "image_processor": settings_for("tiny")[0],
                "image_seq_len": settings_for("tiny")[1],
                "source": "tiny-idefics3/processor_config.json with do_image_splitting switched on",
            },
        },
        "synthetic_image": "r = x*255 // max(w-1,1); g = y*255 // max(h-1,1); b = (((x>>4) ^ (y>>4)) & 1)*160 + ((x*7 + y*3) & 63)",
        "tile_order": "rows top to bottom, columns left to right within a row, then the global image",
        "cases": cases,
        "model": run_model(),
    }
    OUT.write_text(json.dumps(reference, separators=(",", ":")) + "\n")
    for c in cases:
        print(
            f"{c['settings']:>12} {c['width']}x{c['height']}: resized {c['resized']}, to tiles {c['resized_to_tiles']}, "
            f"{c['rows']}x{c['cols']} + global, {len(c['input_ids'])} prompt ids"
        )
    print(f"model: greedy {reference['model']['greedy_tokens']}, margin {reference['model']['last_top1_margin']:.4f}")
    print(f"wrote {OUT} ({OUT.stat().st_size / 1024:.1f} KiB)")


if __name__ == "__main__":
    sys.exit(main())
