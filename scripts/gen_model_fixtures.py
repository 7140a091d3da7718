#!/usr/bin/env python3
"""Build the tiny random-weight Idefics3 (SmolVLM-shaped) fixtures for `crates/model` and record
transformers' reference outputs, so the Rust model can be tested without torch.

What it writes (all under crates/model/tests/fixtures/):
  tiny-idefics3/       config.json, generation_config.json, model.safetensors (f32), plus the processor
                       files transformers 5 writes (tokenizer.json, tokenizer_config.json,
                       chat_template.jinja, processor_config.json with the image-processor settings)
  tiny-lora/           adapter_config.json + adapter_model.safetensors (PEFT LoRA, r=4, alpha=8)
  fixture-image.png    the input image (small, non-square RGB)
  reference.safetensors  inputs and reference tensors (f32 / i64), names listed in reference.json
  reference.json       versions, settings, input layout, greedy ids, sanity numbers
  smolvlm-256m-config.json is NOT written by this script: it is a hand-written copy of the published
                       SmolVLM-256M-Instruct config (see tests/fixtures/README.md); this script only checks
                       that it builds the expected 471 tensors / 256,484,928 parameters.

Everything is float32, CPU, eager attention, one thread, fixed seed: running it twice gives
byte-identical files (checked by `--check-determinism`, which runs the generation twice in temp dirs
and compares SHA-256 of every file).

Setting up the Python environment (outside the repo; the CI never needs it):

    python3 -m venv /work/pyvenv-model
    /work/pyvenv-model/bin/pip install torch "transformers==5.24.0" "peft==0.21.2" \
        "safetensors==0.8.0" "tokenizers==0.23.3" pillow numpy
    # (download.pytorch.org is unreachable here, so torch came from PyPI: 2.15.0, a CUDA build that
    #  runs fine on the CPU; the venv is ~5.6 GB. torchvision is deliberately NOT installed, so the
    #  processor uses the PIL image-processor path, as recorded in reference.json.)

Running it:

    /work/pyvenv-model/bin/python scripts/gen_model_fixtures.py            # (re)writes the fixtures
    /work/pyvenv-model/bin/python scripts/gen_model_fixtures.py --check-determinism

The versions used to produce the committed fixtures are written into reference.json; the script
refuses to run with other major versions of transformers (the reference would silently change).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

SEED = 20251105
REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "crates" / "model" / "tests" / "fixtures"

# ---------------------------------------------------------------------------------------------
# Tiny shapes. SmolVLM-256M-Instruct for comparison (smolvlm-256m-config.json):
#   vision: SigLIP-B/16 at 512 px: hidden 768, 12 layers, 12 heads, mlp 3072, patch 16 -> 32x32 grid
#   connector: pixel shuffle scale_factor 4 (32x32 -> 8x8 = 64 image tokens), Linear(768*16 -> 576), no bias
#   text: SmolLM2-135M (Llama): hidden 576, 30 layers, 9 heads, 3 KV heads (GQA), head_dim 64,
#         mlp 1536, RMSNorm eps 1e-5, RoPE theta 100000, vocab 49280, untied lm_head.
# The tiny model keeps every structural feature (GQA ratio 2, scale_factor 4 on a grid larger than
# the factor, untied lm_head, biases in the vision tower, none in the text model) at toy sizes.
# ---------------------------------------------------------------------------------------------
VISION = dict(
    hidden_size=32,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=2,
    num_channels=3,
    image_size=64,
    patch_size=4,  # 16x16 patch grid
    hidden_act="gelu_pytorch_tanh",
    layer_norm_eps=1e-6,
)
SCALE_FACTOR = 4  # 16x16 grid -> 4x4 = 16 image tokens, connector input 32*16 = 512
TEXT = dict(
    model_type="llama",
    hidden_size=64,
    intermediate_size=128,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    head_dim=16,
    hidden_act="silu",
    max_position_embeddings=8192,
    rms_norm_eps=1e-5,
    rope_theta=100000.0,
    attention_bias=False,
    mlp_bias=False,
    tie_word_embeddings=False,
    bos_token_id=1,
    eos_token_id=2,
    pad_token_id=2,
)
IMAGE_SEQ_LEN = (VISION["image_size"] // VISION["patch_size"]) ** 2 // SCALE_FACTOR**2  # 16

# Tokenizer: byte-level BPE (as SmolLM2's) trained on a few lines of text, with SmolLM2's three
# leading specials and SmolVLM's image tokens appended in SmolVLM's relative order.
BASE_VOCAB = 300  # 3 specials + 256 byte symbols + 41 merges
LEADING_SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
ADDED_TOKENS = (
    ["<global-img>"]
    + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)]
    + ["<fake_token_around_image>", "<image>", "<end_of_utterance>"]
)
VOCAB = BASE_VOCAB + len(ADDED_TOKENS)  # 340
TOKENIZER_CORPUS = [
    "What is shown in this image?",
    "Is there evidence of a fracture in this chest x-ray?",
    "The scan shows the left lung and the heart.",
    "Yes, there is a small lesion in the right lobe.",
    "No, the image does not show any abnormality.",
    "Describe the organ visible in the picture.",
    "Assistant: User: the a an is are there this that image scan",
]

# SmolVLM-256M-Instruct's chat template (chat_template.json of the published checkpoint, 403 chars).
CHAT_TEMPLATE = (
    "<|im_start|>{% for message in messages %}{{message['role'] | capitalize}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}<end_of_utterance>\n"
    "{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)
QUESTION = "What is shown in this image?"

# Image processor: SmolVLM's settings scaled to the tiny tower. With image splitting OFF the
# Idefics3 processor resizes twice with LANCZOS: first so the longest edge is size.longest_edge
# (SmolVLM: 2048 = 4 x 512; here 4 x 64), keeping the aspect ratio with the short edge rounded up
# to even, then to max_image_size x max_image_size (SmolVLM: 512; here 64, the tower's image_size).
IMAGE_PROCESSOR = dict(
    do_convert_rgb=True,
    do_resize=True,
    size={"longest_edge": 4 * VISION["image_size"]},
    resample=1,  # PIL LANCZOS
    do_image_splitting=False,
    max_image_size={"longest_edge": VISION["image_size"]},
    do_rescale=True,
    rescale_factor=1 / 255,
    do_normalize=True,
    image_mean=[0.5, 0.5, 0.5],
    image_std=[0.5, 0.5, 0.5],
    do_pad=True,
)
IMAGE_W, IMAGE_H = 40, 30

LORA = dict(
    r=4,
    lora_alpha=8,
    lora_dropout=0.0,
    bias="none",
    # A regex so only the text model is adapted. (A plain list of names such as
    # ["q_proj", ...] would also match the vision tower's q/k/v_proj.)
    target_modules=r".*\.text_model\.layers\.\d+\.(self_attn\.(q_proj|k_proj|v_proj|o_proj)|mlp\.(gate_proj|up_proj|down_proj))",
)
DECODE_STEPS = 3
EXPECTED_VERSIONS = {"transformers": "5.", "peft": "0.21", "torch": "2."}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_image(path: Path):
    """A deterministic 40x30 RGB picture: gradients, a bright disc and a dark bar, so LANCZOS
    ringing, channel order and orientation all matter."""
    import numpy as np
    from PIL import Image

    y, x = np.mgrid[0:IMAGE_H, 0:IMAGE_W].astype(np.float64)
    r = 255.0 * x / (IMAGE_W - 1)
    g = 255.0 * y / (IMAGE_H - 1)
    b = 128.0 + 100.0 * np.sin(x / 3.0) * np.cos(y / 4.0)
    disc = (x - 27) ** 2 + (y - 11) ** 2 < 36
    r[disc], g[disc], b[disc] = 250.0, 240.0, 40.0
    bar = (x >= 5) & (x < 9) & (y >= 4) & (y < 26)
    r[bar], g[bar], b[bar] = 10.0, 20.0, 30.0
    arr = np.clip(np.stack([r, g, b], axis=-1).round(), 0, 255).astype(np.uint8)
    Image.fromarray(arr, mode="RGB").save(path, format="PNG", optimize=False)


def build_tokenizer():
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE(unk_token=None, fuse_unk=False, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Digits(individual_digits=True),
            pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
        ]
    )
    tok.decoder = decoders.ByteLevel(add_prefix_space=True, trim_offsets=True, use_regex=True)
    trainer = trainers.BpeTrainer(
        vocab_size=BASE_VOCAB,
        min_frequency=1,
        special_tokens=LEADING_SPECIALS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(TOKENIZER_CORPUS, trainer=trainer)
    if tok.get_vocab_size() != BASE_VOCAB:
        raise SystemExit(f"trained vocab is {tok.get_vocab_size()}, expected {BASE_VOCAB}: grow the corpus")
    tok.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in ADDED_TOKENS])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        bos_token="<|im_start|>",
        eos_token="<end_of_utterance>",
        pad_token="<|im_end|>",
        unk_token="<|endoftext|>",
        model_max_length=8192,
        clean_up_tokenization_spaces=False,
    )
    for i, t in enumerate(ADDED_TOKENS):
        assert fast.convert_tokens_to_ids(t) == BASE_VOCAB + i, t
    return fast


def build_processor(tokenizer):
    from transformers import Idefics3Processor
    from transformers.models.idefics3.image_processing_pil_idefics3 import Idefics3ImageProcessorPil

    image_processor = Idefics3ImageProcessorPil(**IMAGE_PROCESSOR)
    processor = Idefics3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        image_seq_len=IMAGE_SEQ_LEN,
        chat_template=CHAT_TEMPLATE,
    )
    return processor


def build_config():
    from transformers import Idefics3Config

    text = dict(TEXT)
    text["vocab_size"] = VOCAB
    return Idefics3Config(
        text_config=text,
        vision_config=dict(VISION),
        scale_factor=SCALE_FACTOR,
        image_token_id=BASE_VOCAB + ADDED_TOKENS.index("<image>"),
        tie_word_embeddings=False,
        use_cache=True,
    )


def randomize_(model, generator):
    """Re-draw every parameter so that activations are O(1) and every tensor matters: Linear and
    conv weights ~ N(0, 1/fan_in), biases and norm offsets non-zero, norm scales around 1.
    transformers' own init (std 0.02, zero biases, unit norms) would leave biases and norm weights
    untested and the logits nearly flat."""
    import torch

    with torch.no_grad():
        for name, p in sorted(model.named_parameters()):
            if name.endswith("norm.weight") or ".layer_norm" in name or "layernorm" in name or name.endswith("_norm.weight"):
                if name.endswith(".weight"):
                    p.copy_(1.0 + 0.2 * torch.randn(p.shape, generator=generator))
                else:
                    p.copy_(0.2 * torch.randn(p.shape, generator=generator))
            elif name.endswith(".bias"):
                p.copy_(0.2 * torch.randn(p.shape, generator=generator))
            elif "embed_tokens" in name or "position_embedding" in name:
                p.copy_(torch.randn(p.shape, generator=generator))
            elif name.endswith(".weight") and p.dim() >= 2:
                fan_in = p[0].numel()
                p.copy_(torch.randn(p.shape, generator=generator) / fan_in**0.5)
            else:
                raise SystemExit(f"no init rule for {name} {tuple(p.shape)}")


def randomize_lora_(peft_model, generator):
    import torch

    n = 0
    with torch.no_grad():
        for name, p in sorted(peft_model.named_parameters()):
            if "lora_A" in name or "lora_B" in name:
                fan_in = p.shape[1]
                p.copy_(0.5 * torch.randn(p.shape, generator=generator) / fan_in**0.5)
                n += 1
    if n == 0:
        raise SystemExit("no LoRA parameters found")


def run_variant(model, inputs, steps):
    """Prefill (vision tower + splice + decoder), then `steps` single-token decode steps through
    the KV cache, feeding the greedy token each time. Returns prefill logits [S, V], decode logits
    [steps, V], greedy ids [steps + 1], and, as a cross-check, the uncached logits of the last step."""
    import torch

    with torch.no_grad():
        out = model(
            input_ids=inputs["input_ids"],
            attention_mask=inputs["attention_mask"],
            pixel_values=inputs["pixel_values"],
            pixel_attention_mask=inputs["pixel_attention_mask"],
            use_cache=True,
        )
        prefill = out.logits[0].clone()
        cache = out.cache
        ids = [int(prefill[-1].argmax())]
        mask = inputs["attention_mask"]
        decode = []
        for _ in range(steps):
            mask = torch.cat([mask, torch.ones((1, 1), dtype=mask.dtype)], dim=1)
            step = model(
                input_ids=torch.tensor([[ids[-1]]]),
                attention_mask=mask,
                cache=cache,
                use_cache=True,
            )
            cache = step.cache
            logits = step.logits[0, -1].clone()
            decode.append(logits)
            ids.append(int(logits.argmax()))
        full_ids = torch.cat([inputs["input_ids"], torch.tensor([ids[:-1]])], dim=1)
        full = model(
            input_ids=full_ids,
            attention_mask=torch.ones_like(full_ids),
            pixel_values=inputs["pixel_values"],
            pixel_attention_mask=inputs["pixel_attention_mask"],
            use_cache=False,
        ).logits[0]
    decode = torch.stack(decode)
    return {
        "prefill_logits": prefill,
        "decode_logits": decode,
        "greedy_tokens": torch.tensor(ids, dtype=torch.int64),
        "uncached_max_abs_diff": float((full[-steps:] - decode).abs().max()),
    }


def margins(logits):
    import torch

    top2 = torch.topk(logits, 2, dim=-1).values
    return [round(float(v), 6) for v in (top2[..., 0] - top2[..., 1]).flatten()]


def generate(out_dir: Path, quiet: bool = False):
    import numpy as np
    import peft
    import PIL
    import safetensors
    import tokenizers
    import torch
    import transformers
    from PIL import Image
    from safetensors.torch import load_file, save_file
    from transformers import GenerationConfig, Idefics3ForConditionalGeneration

    for mod, prefix in EXPECTED_VERSIONS.items():
        have = {"transformers": transformers, "peft": peft, "torch": torch}[mod].__version__
        if not have.startswith(prefix):
            raise SystemExit(f"{mod} {have} does not match the pinned {prefix}*")

    torch.manual_seed(SEED)
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    generator = torch.Generator().manual_seed(SEED)

    out_dir.mkdir(parents=True, exist_ok=True)
    model_dir = out_dir / "tiny-idefics3"
    lora_dir = out_dir / "tiny-lora"
    for d in (model_dir, lora_dir):
        if d.exists():
            shutil.rmtree(d)

    # --- inputs ---------------------------------------------------------------------------
    image_path = out_dir / "fixture-image.png"
    make_image(image_path)
    tokenizer = build_tokenizer()
    processor = build_processor(tokenizer)
    messages = [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": QUESTION}]}]
    prompt = processor.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    image = Image.open(image_path)
    image.load()
    inputs = processor(text=prompt, images=[image], return_tensors="pt")
    inputs["pixel_values"] = inputs["pixel_values"].to(torch.float32)
    input_ids = inputs["input_ids"][0].tolist()

    # --- model ----------------------------------------------------------------------------
    config = build_config()
    config._attn_implementation = "eager"
    model = Idefics3ForConditionalGeneration(config).to(torch.float32).eval()
    randomize_(model, generator)
    model.generation_config = GenerationConfig(
        bos_token_id=1, eos_token_id=tokenizer.convert_tokens_to_ids("<end_of_utterance>"), pad_token_id=2
    )
    model.save_pretrained(model_dir, safe_serialization=True)
    processor.save_pretrained(model_dir)

    # The saved processor files must reproduce the inputs on their own.
    from transformers import AutoProcessor

    reloaded = AutoProcessor.from_pretrained(model_dir)
    again = reloaded(
        text=reloaded.apply_chat_template(messages, add_generation_prompt=True, tokenize=False),
        images=[image],
        return_tensors="pt",
    )
    if again["input_ids"].tolist() != inputs["input_ids"].tolist() or not torch.equal(
        again["pixel_values"].to(torch.float32), inputs["pixel_values"]
    ):
        raise SystemExit("the saved processor files do not reproduce the inputs")

    # Reload from disk so the reference comes from exactly the bytes we commit.
    model = Idefics3ForConditionalGeneration.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    saved = load_file(model_dir / "model.safetensors")
    for name, tensor in model.state_dict().items():
        if name not in saved or not torch.equal(saved[name], tensor):
            raise SystemExit(f"reloaded model differs from the saved file at {name}")
    if saved["lm_head.weight"].data_ptr() == saved["model.text_model.embed_tokens.weight"].data_ptr() or torch.equal(
        saved["lm_head.weight"], saved["model.text_model.embed_tokens.weight"]
    ):
        raise SystemExit("lm_head is tied; SmolVLM's is not")

    with torch.no_grad():
        feats = model.model.get_image_features(
            inputs["pixel_values"], inputs["pixel_attention_mask"], return_dict=True
        )
        vision_hidden = feats.last_hidden_state[0].clone()
        image_features = torch.cat(list(feats.pooler_output), dim=0).clone()
        embeds = model.model.get_input_embeddings()(inputs["input_ids"])
        merged_embeds = model.model.inputs_merger(inputs["input_ids"], embeds, image_features)[0].clone()

    base = run_variant(model, inputs, DECODE_STEPS)

    # Cross-check the manual loop against generate().
    with torch.no_grad():
        gen = model.generate(**inputs, max_new_tokens=DECODE_STEPS + 1, do_sample=False, eos_token_id=None)
    gen_ids = gen[0, len(input_ids) :].tolist()
    if gen_ids != base["greedy_tokens"].tolist():
        raise SystemExit(f"generate() gives {gen_ids}, manual loop {base['greedy_tokens'].tolist()}")

    # --- LoRA -----------------------------------------------------------------------------
    from peft import LoraConfig, PeftModel, get_peft_model

    lora_config = LoraConfig(init_lora_weights=True, **LORA)
    model.name_or_path = model_dir.name  # adapter_config's base_model_name_or_path: no local paths
    peft_model = get_peft_model(model, lora_config)
    randomize_lora_(peft_model, generator)
    peft_model.eval()
    peft_model.save_pretrained(lora_dir, safe_serialization=True)
    (lora_dir / "README.md").unlink(missing_ok=True)  # PEFT's empty model-card template
    del peft_model

    base_model = Idefics3ForConditionalGeneration.from_pretrained(
        model_dir, dtype=torch.float32, attn_implementation="eager"
    ).eval()
    peft_model = PeftModel.from_pretrained(base_model, lora_dir).eval()
    unmerged = run_variant(peft_model, inputs, DECODE_STEPS)
    merged_model = peft_model.merge_and_unload().eval()
    merged = run_variant(merged_model, inputs, DECODE_STEPS)

    # --- reference tensors ----------------------------------------------------------------
    tensors = {
        "input_ids": inputs["input_ids"].to(torch.int64).contiguous(),
        "attention_mask": inputs["attention_mask"].to(torch.int64).contiguous(),
        "pixel_values": inputs["pixel_values"].contiguous(),
        "pixel_attention_mask": inputs["pixel_attention_mask"].to(torch.int64).contiguous(),
        "vision.last_hidden_state": vision_hidden.contiguous(),
        "connector.image_features": image_features.contiguous(),
        "text.inputs_embeds": merged_embeds.contiguous(),
    }
    variants = {"base": base, "lora_unmerged": unmerged, "lora_merged": merged}
    for vname, v in variants.items():
        for key in ("prefill_logits", "decode_logits", "greedy_tokens"):
            tensors[f"{vname}.{key}"] = v[key].contiguous()
    save_file(tensors, out_dir / "reference.safetensors", metadata={"format": "pt"})

    # --- reference.json -------------------------------------------------------------------
    image_token_id = config.image_token_id
    img_positions = [i for i, t in enumerate(input_ids) if t == image_token_id]
    fake_id = tokenizer.convert_tokens_to_ids("<fake_token_around_image>")
    global_id = tokenizer.convert_tokens_to_ids("<global-img>")
    assert img_positions == list(range(img_positions[0], img_positions[0] + IMAGE_SEQ_LEN))
    assert input_ids[img_positions[0] - 2] == fake_id and input_ids[img_positions[0] - 1] == global_id
    assert input_ids[img_positions[-1] + 1] == fake_id

    s = len(input_ids)
    check_positions = sorted({0, img_positions[0] - 1, img_positions[0], img_positions[-1], img_positions[-1] + 1, s - 1})
    pil_img = Image.open(image_path)
    ref = {
        "about": "Reference outputs of transformers' Idefics3ForConditionalGeneration on the tiny random-weight "
        "model in tiny-idefics3/ (and the PEFT adapter in tiny-lora/), made by scripts/gen_model_fixtures.py. "
        "Tensors are in reference.safetensors under the names listed in `tensors`.",
        "generator": "scripts/gen_model_fixtures.py",
        "seed": SEED,
        "versions": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "peft": peft.__version__,
            "safetensors": safetensors.__version__,
            "tokenizers": tokenizers.__version__,
            "numpy": np.__version__,
            "pillow": PIL.__version__,
        },
        "numerics": {
            "dtype": "float32",
            "device": "cpu",
            "attn_implementation": "eager",
            "torch_threads": 1,
            "suggested_tolerance_abs": 1e-4,
        },
        "model": {
            "dir": "tiny-idefics3",
            "architecture": "Idefics3ForConditionalGeneration",
            "vision": VISION,
            "scale_factor": SCALE_FACTOR,
            "image_seq_len": IMAGE_SEQ_LEN,
            "text": {**TEXT, "vocab_size": VOCAB},
            "image_token_id": image_token_id,
            "tie_word_embeddings": False,
            "init": "all parameters re-drawn (seeded): Linear/conv weights N(0, 1/fan_in), embeddings N(0, 1), "
            "biases N(0, 0.2^2), norm weights 1 + N(0, 0.2^2)",
            "num_tensors": len(saved),
            "num_parameters": int(sum(t.numel() for t in saved.values())),
        },
        "adapter": {
            "dir": "tiny-lora",
            **{k: v for k, v in LORA.items()},
            "scaling": LORA["lora_alpha"] / LORA["r"],
            "init": "lora_A and lora_B both N(0, 0.25/fan_in) (seeded), so the adapter changes the logits",
            "num_tensors": len(load_file(lora_dir / "adapter_model.safetensors")),
        },
        "processor": {
            "class": "Idefics3Processor",
            "image_processor_class": type(processor.image_processor).__name__,
            "image_processor_path": "PIL (transformers' Idefics3ImageProcessorPil; torchvision not installed)",
            "settings": {**IMAGE_PROCESSOR, "resample_name": "LANCZOS"},
            "steps_with_splitting_off": [
                "convert to RGB",
                f"resize (LANCZOS) so the longest edge is {IMAGE_PROCESSOR['size']['longest_edge']}, aspect kept, "
                "other edge int(longest / aspect) rounded up to even",
                f"resize (LANCZOS) to {VISION['image_size']}x{VISION['image_size']}",
                "x * (1/255) in float64, cast to float32, then (x - 0.5) / 0.5 in float32; layout [batch, images, C, H, W]",
            ],
            "image_seq_len": IMAGE_SEQ_LEN,
            "chat_template": CHAT_TEMPLATE,
        },
        "image": {
            "file": image_path.name,
            "width": pil_img.width,
            "height": pil_img.height,
            "mode": pil_img.mode,
            "sha256": sha256(image_path),
        },
        "input": {
            "messages": messages,
            "prompt": prompt,
            "expanded_prompt": processor.tokenizer.decode(input_ids),
            "input_ids": input_ids,
            "seq_len": s,
            "image_token_id": image_token_id,
            "image_token_start": img_positions[0],
            "image_token_count": len(img_positions),
            "layout": "<fake_token_around_image> <global-img> <image> x image_seq_len <fake_token_around_image>",
            "special_token_ids": {t: tokenizer.convert_tokens_to_ids(t) for t in LEADING_SPECIALS + ADDED_TOKENS[:1] + ADDED_TOKENS[-3:]},
            "pixel_values_shape": list(inputs["pixel_values"].shape),
            "checked_positions": check_positions,
        },
        "decode": {
            "steps": DECODE_STEPS,
            "meaning": "greedy_tokens[0] = argmax(prefill_logits[-1]); decode_logits[i] are the logits after feeding "
            "greedy_tokens[i] through the KV cache (position seq_len + i); greedy_tokens[i+1] = argmax(decode_logits[i])",
        },
        "results": {},
        "tensors": {name: {"dtype": str(t.dtype).replace("torch.", ""), "shape": list(t.shape)} for name, t in tensors.items()},
    }
    for vname, v in variants.items():
        ref["results"][vname] = {
            "greedy_tokens": v["greedy_tokens"].tolist(),
            "prefill_top1_margin_last": margins(v["prefill_logits"][-1])[0],
            "decode_top1_margins": margins(v["decode_logits"]),
            "cached_vs_uncached_max_abs_diff": v["uncached_max_abs_diff"],
            "prefill_logits_at_checked_positions_first8": {
                str(p): [round(float(x), 6) for x in v["prefill_logits"][p, :8]] for p in check_positions
            },
        }
    ref["results"]["lora_unmerged_vs_base_prefill_max_abs_diff"] = float(
        (unmerged["prefill_logits"] - base["prefill_logits"]).abs().max()
    )
    ref["results"]["lora_merged_vs_unmerged_prefill_max_abs_diff"] = float(
        (merged["prefill_logits"] - unmerged["prefill_logits"]).abs().max()
    )
    ref["results"]["generate_matches_manual_loop"] = True
    (out_dir / "reference.json").write_text(json.dumps(ref, indent=2, sort_keys=False) + "\n")

    if not quiet:
        print(f"seq_len {s}, image tokens at {img_positions[0]}..{img_positions[-1]}")
        for vname, v in variants.items():
            print(f"{vname}: greedy {v['greedy_tokens'].tolist()}, cached-vs-uncached {v['uncached_max_abs_diff']:.2e}")
        print("lora vs base", ref["results"]["lora_unmerged_vs_base_prefill_max_abs_diff"])
        print("merged vs unmerged", ref["results"]["lora_merged_vs_unmerged_prefill_max_abs_diff"])


def check_256m_config(path: Path):
    import torch
    from transformers import Idefics3Config, Idefics3ForConditionalGeneration

    config = Idefics3Config.from_dict(json.loads(path.read_text()))
    with torch.device("meta"):
        model = Idefics3ForConditionalGeneration(config)
    sd = model.state_dict()
    n = sum(t.numel() for t in sd.values())
    # The published checkpoint has 471 tensors, 256,484,928 parameters.
    if (len(sd), n) != (471, 256_484_928):
        raise SystemExit(f"{path.name} builds {len(sd)} tensors / {n} parameters, expected 471 / 256484928")
    print(f"{path.name}: 471 tensors, 256,484,928 parameters (matches the published checkpoint)")


def file_hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): sha256(p) for p in sorted(root.rglob("*")) if p.is_file()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=FIXTURES, help="fixture directory (default: %(default)s)")
    ap.add_argument(
        "--check-determinism",
        action="store_true",
        help="generate twice into temp dirs and compare every file's SHA-256 (does not touch --out)",
    )
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

    if args.check_determinism:
        runs = []
        for i in range(2):
            d = Path(tempfile.mkdtemp(prefix=f"gen_model_fixtures_{i}_"))
            generate(d, quiet=True)
            runs.append(file_hashes(d))
            shutil.rmtree(d)
        if runs[0] != runs[1]:
            diff = sorted(k for k in set(runs[0]) | set(runs[1]) if runs[0].get(k) != runs[1].get(k))
            raise SystemExit(f"not deterministic: {diff}")
        for k, v in runs[0].items():
            print(f"{v}  {k}")
        print(f"deterministic: {len(runs[0])} files identical across two runs")
        return

    generate(args.out)
    if (args.out / "smolvlm-256m-config.json").exists():
        check_256m_config(args.out / "smolvlm-256m-config.json")
    total = sum(p.stat().st_size for p in args.out.rglob("*") if p.is_file())
    print(f"fixtures total {total / 1024:.1f} KiB in {args.out}")


if __name__ == "__main__":
    sys.exit(main())
