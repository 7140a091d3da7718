#!/usr/bin/env python3
"""A PEFT LoRA adapter on every linear layer of the tiny fixture model, the SigLIP vision encoder
and the connector included, and peft's logits with it, so `crates/model` can check adapters on
vision and text layers without torch (issue 13 item 6).

The adapter's `target_modules` is a plain list of module names, as users write them: the text
model's q/k/v/o and gate/up/down projections (q/k/v also name the vision encoder's attention
projections), plus the vision encoder's `out_proj`, `fc1`, `fc2` and the connector's `proj`.

Writes (under crates/model/tests/fixtures/):
  tiny-lora-all/               adapter_config.json + adapter_model.safetensors (r 4, alpha 8, random A and B)
  lora_all_reference.json      versions, the adapted module count by part, and for the base model,
                               the adapter unmerged and merged (merge_and_unload): the prefill logits of
                               the fixture prompt at five positions, and greedy tokens (3 cached decode steps)

Inputs: tiny-idefics3/ and fixture-image.png, processed as gen_model_fixtures.py does (splitting off).
Run with the venv described in scripts/gen_model_fixtures.py:

    /work/pyvenv-model/bin/python scripts/gen_lora_all_fixture.py
"""

from __future__ import annotations

import json
import os
import platform
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "crates" / "model" / "tests" / "fixtures"
SEED = 20261130
QUESTION = "What is shown in this image?"
STEPS = 3
LORA = dict(
    r=4,
    lora_alpha=8,
    lora_dropout=0.0,
    bias="none",
    target_modules=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj", "out_proj", "fc1", "fc2", "proj"],
)


def greedy(model, inputs):
    import torch

    with torch.no_grad():
        out = model(**inputs, use_cache=True)
        prefill = out.logits[0].clone()
        cache = out.cache
        ids = [int(prefill[-1].argmax())]
        mask = inputs["attention_mask"]
        for _ in range(STEPS):
            mask = torch.cat([mask, torch.ones((1, 1), dtype=mask.dtype)], dim=1)
            step = model(input_ids=torch.tensor([[ids[-1]]]), attention_mask=mask, cache=cache, use_cache=True)
            cache = step.cache
            ids.append(int(step.logits[0, -1].argmax()))
    return prefill, ids


def main():
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    import peft
    import torch
    import transformers
    from peft import LoraConfig, PeftModel, get_peft_model
    from PIL import Image
    from transformers import Idefics3ForConditionalGeneration

    sys.path.insert(0, str(REPO_ROOT / "scripts"))
    import gen_model_fixtures as g

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    generator = torch.Generator().manual_seed(SEED)
    model_dir = FIXTURES / "tiny-idefics3"
    out_dir = FIXTURES / "tiny-lora-all"

    processor = g.build_processor(g.build_tokenizer())
    image = Image.open(FIXTURES / "fixture-image.png")
    image.load()
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    inputs = processor(text=prompt, images=[image], return_tensors="pt")

    def base():
        return Idefics3ForConditionalGeneration.from_pretrained(
            model_dir, dtype=torch.float32, attn_implementation="eager"
        ).eval()

    model = base()
    model.name_or_path = model_dir.name
    peft_model = get_peft_model(model, LoraConfig(init_lora_weights=True, **LORA))
    g.randomize_lora_(peft_model, generator)
    peft_model.save_pretrained(out_dir, safe_serialization=True)
    (out_dir / "README.md").unlink(missing_ok=True)

    adapted = sorted(
        name[: -len(".lora_A.default.weight")]
        for name, _ in peft_model.named_parameters()
        if name.endswith(".lora_A.default.weight")
    )
    parts = {
        "vision_encoder": sum(".vision_model." in n for n in adapted),
        "connector": sum(".connector." in n for n in adapted),
        "text_model": sum(".text_model." in n for n in adapted),
    }
    if parts["vision_encoder"] == 0 or parts["connector"] == 0 or sum(parts.values()) != len(adapted):
        raise SystemExit(f"unexpected adapted modules: {parts}")

    base_logits, base_ids = greedy(base(), inputs)
    unmerged_model = PeftModel.from_pretrained(base(), out_dir).eval()
    unmerged_logits, unmerged_ids = greedy(unmerged_model, inputs)
    merged_logits, merged_ids = greedy(unmerged_model.merge_and_unload().eval(), inputs)

    ids = inputs["input_ids"][0].tolist()
    image_id = processor.image_token_id
    first_image = ids.index(image_id)
    positions = sorted({0, first_image, first_image + 5, len(ids) - 2, len(ids) - 1})

    def rows(logits):
        return {str(p): [float(v) for v in logits[p]] for p in positions}

    reference = {
        "about": "peft's logits with an adapter on every linear layer of tiny-idefics3 (vision encoder and connector included), made by scripts/gen_lora_all_fixture.py",
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
        },
        "adapter": {"dir": "tiny-lora-all", **LORA, "adapted_modules": len(adapted), "adapted_by_part": parts},
        "input_ids": ids,
        "positions": positions,
        "numerics": "float32, cpu, eager attention, one thread",
        "base": {"logits": rows(base_logits), "greedy_tokens": base_ids},
        "lora_unmerged": {"logits": rows(unmerged_logits), "greedy_tokens": unmerged_ids},
        "lora_merged": {"logits": rows(merged_logits), "greedy_tokens": merged_ids},
        "lora_vs_base_max_abs_diff": float((unmerged_logits - base_logits).abs().max()),
        "merged_vs_unmerged_max_abs_diff": float((merged_logits - unmerged_logits).abs().max()),
    }
    path = FIXTURES / "lora_all_reference.json"
    path.write_text(json.dumps(reference, separators=(",", ":")) + "\n")
    print(f"adapted {len(adapted)} modules {parts}")
    print(f"greedy base {base_ids}, unmerged {unmerged_ids}, merged {merged_ids}")
    print(f"lora vs base {reference['lora_vs_base_max_abs_diff']:.4f}, merged vs unmerged {reference['merged_vs_unmerged_max_abs_diff']:.2e}")
    print(f"wrote {path} ({path.stat().st_size / 1024:.1f} KiB) and {out_dir}")


if __name__ == "__main__":
    sys.exit(main())
