"""Model-level fixtures: tiny VLMs in Hugging Face format, and what an integration must
reproduce on them (``python -m adafv_conformance generate-models``).

Every integration (Transformers, SGLang, llama.cpp) loads the same checkpoint, feeds it the
same image and prompt, and must report the same saliency, T2I scores, kept tokens and
prefill logits. The expected tensors come from paths that share no code with any
integration:

- saliency: eager attention's ``output_attentions`` at the feature layer, [CLS] row, mean
  over heads, patch keys only (ADAFV-R4);
- T2I log-scores and kept indices: the float64 oracle (``oracle.py``) on the model's own
  projected features and embedding-table rows of the query (ADAFV-R1, R5 to R10);
- logits: the bare language model and head, without cache, on an embedding sequence built
  by hand from the text rows and the kept image rows.

Cases are refused when a selection sits too close to a decision boundary for float32
backends to agree (see ``MIN_RELATIVE_GAP``). Needs torch, transformers, Pillow and
``adafv_transformers`` (for the tiny model definitions only).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from adafv_conformance import model_references, oracle
from adafv_conformance.protocol import pad_images
from adafv_conformance.rounding import rounding_difference

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "fixtures" / "models"
SUITE = "adafv-models"
FORMAT_VERSION = 1
SPEC_VERSION = "1.1"
GENERATOR = (
    "adafv_conformance.models (eager attention, float64 oracle, bare language model on "
    "hand-built embeddings)"
)
# Smallest relative gap between consecutive sorted scores at a rank boundary the selection
# depends on, and smallest relative margin of the best split product; float32 backends
# differ from the reference by about 1e-6 relative.
MIN_RELATIVE_GAP = 1e-4
LOGITS_TOLERANCE = {"rtol": 1e-4, "atol": 1e-4}
SCORES_TOLERANCE = {"rtol": 1e-4, "atol": 1e-6}
# A log-score is a difference of float32 logits of magnitude up to beta = 100, whose spacing
# there is 7.6e-6: scores near 0 (the top tokens) carry an absolute error of that order.
T2I_TOLERANCE = {"rtol": 1e-4, "atol": 2e-5}


@dataclass(frozen=True)
class ModelCase:
    """One model-level case: a fixture checkpoint, prompts, the pictures per row, AdaFV's options
    and the rules it tests."""

    id: str
    model: str
    description: str
    prompts: tuple[str, ...]
    images: tuple[tuple[int, ...], ...]  # per row, the picture seeds of its images
    params: dict
    rules: tuple[str, ...] = field(default=("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5"))


QUESTION = "USER: <image>\nWhat color is the circle on the left? ASSISTANT:"
QWEN_IMAGE = "<|vision_start|><|image_pad|><|vision_end|>"
QWEN_QUESTION = f"user: {QWEN_IMAGE} what color is the circle on the left ? assistant :"
GEMMA3_IMAGE = "<start_of_image>"
GEMMA3_QUESTION = f"user : {GEMMA3_IMAGE} what color is the circle on the left ? assistant :"
CASES = (
    ModelCase(
        "llava15-single-k64",
        "llava-1.5-tiny",
        "One image and a question, K = 64 of 576.",
        (QUESTION,),
        ((0,),),
        {"budget": 64},
        ("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5", "ADAFV-R7", "ADAFV-R9", "ADAFV-R10"),
    ),
    ModelCase(
        "llava15-ratio-0.1",
        "llava-1.5-tiny",
        "keep_ratio 0.1: ceil(57.6) = 58 tokens.",
        ("USER: <image>\nDescribe the picture in one short sentence. ASSISTANT:",),
        ((1,),),
        {"keep_ratio": 0.1},
        ("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5", "ADAFV-R7"),
    ),
    ModelCase(
        "llava15-two-images-k32",
        "llava-1.5-tiny",
        "Two images in one prompt, one budget each; the text after each image is its query.",
        ("USER: <image> and <image>\nWhich picture has the red circle? ASSISTANT:",),
        ((2, 3),),
        {"budget": 32},
        ("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5", "ADAFV-R14"),
    ),
    ModelCase(
        "llava15-no-question-k48",
        "llava-1.5-tiny",
        "Nothing after the image: saliency alone decides.",
        ("USER: <image>",),
        ((4,),),
        {"budget": 48},
        ("ADAFV-R4", "ADAFV-R12"),
    ),
    ModelCase(
        "llava15-batch-k32",
        "llava-1.5-tiny",
        "A left-padded batch of two rows with different images and questions.",
        (
            QUESTION,
            "USER: <image>\nHow many dots are there in the picture, in one word? ASSISTANT:",
        ),
        ((5,), (6,)),
        {"budget": 32},
        ("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5", "ADAFV-R14"),
    ),
    ModelCase(
        "llava15-square-k64",
        "llava-1.5-tiny",
        "A 336 x 336 image: every engine's preprocessing leaves its pixels as they are, so "
        "engines compare from the same pixels on.",
        (QUESTION,),
        ((11,),),
        {"budget": 64},
        ("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5"),
    ),
    ModelCase(
        "llava-next-wide-ratio-0.1",
        "llava-next-tiny",
        "A 500 x 300 image on a 1 x 2 grid of tiles: 576 base tokens, 24 rows of 40 after "
        "unpad and 24 newlines (kept, outside the budget); keep_ratio 0.1 of 1536.",
        (QUESTION,),
        ((7,),),
        {"keep_ratio": 0.1},
        ("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5", "ADAFV-R15"),
    ),
    ModelCase(
        "llava-next-tall-k64-drop-newlines",
        "llava-next-tiny",
        "A 220 x 400 image on a 2 x 1 grid: unpad removes rows; image_newline 'drop'.",
        ("USER: <image>\nIs there a tree on the right? ASSISTANT:",),
        ((8,),),
        {"budget": 64, "image_newline": "drop"},
        ("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5", "ADAFV-R15"),
    ),
    ModelCase(
        "llava-next-batch-k48",
        "llava-next-tiny",
        "A left-padded batch: a 300 x 220 image (1536 tokens) and a 400 x 400 one (2880, "
        "no unpad), different questions, one budget each.",
        (
            QUESTION,
            "USER: <image>\nHow many dots are there in the picture, in one word? ASSISTANT:",
        ),
        ((5,), (9,)),
        {"budget": 48},
        ("ADAFV-R1", "ADAFV-R3", "ADAFV-R4", "ADAFV-R5", "ADAFV-R14", "ADAFV-R15"),
    ),
    ModelCase(
        "llava-onevision-wide-k96",
        "llava-onevision-tiny",
        "SigLIP crops without [CLS]: saliency is the attention each patch receives; a 500 x "
        "300 image on a 1 x 2 grid.",
        (QUESTION,),
        ((7,),),
        {"budget": 96},
        ("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R15", "ADAFV-R18"),
    ),
    ModelCase(
        "llava-onevision-downsampled-k64",
        "llava-onevision-tiny",
        "A 1500 x 1500 image on a 4 x 4 grid (108 x 108 tokens), bilinearly downsampled to "
        "81 x 81 (anyres_max_9); saliency pooled with the same weights.",
        ("USER: <image>\nHow many dots are there in the picture, in one word? ASSISTANT:",),
        ((10,),),
        {"budget": 64},
        ("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R15", "ADAFV-R18"),
    ),
    ModelCase(
        "qwen2-vl-single-k48",
        "qwen2-vl-tiny",
        "Qwen2-VL: 22 x 36 patches merged 2 x 2 into 198 tokens; saliency from the last block, "
        "kept tokens at their M-RoPE positions.",
        (QWEN_QUESTION,),
        ((7,),),
        {"budget": 48},
        ("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R18"),
    ),
    ModelCase(
        "qwen2-vl-batch-ratio-0.1",
        "qwen2-vl-tiny",
        "A left-padded batch of two images of different sizes and questions.",
        (
            QWEN_QUESTION,
            f"user: {QWEN_IMAGE} how many dots are there in the picture ? assistant :",
        ),
        ((5,), (8,)),
        {"keep_ratio": 0.1},
        ("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R14", "ADAFV-R18"),
    ),
    ModelCase(
        "qwen2.5-vl-single-k48",
        "qwen2.5-vl-tiny",
        "Qwen2.5-VL: windowed blocks reorder the patches; saliency from the last full-attention "
        "block, back in output order.",
        (QWEN_QUESTION,),
        ((7,),),
        {"budget": 48},
        ("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R18"),
    ),
    ModelCase(
        "gemma3-single-k64",
        "gemma3-tiny",
        "Gemma 3: 4,096 SigLIP patches pooled 4 x 4 into 256 tokens; saliency is the received "
        "attention pooled the same way; K = 64 of 256.",
        (GEMMA3_QUESTION,),
        ((12,),),
        {"budget": 64},
        ("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R18"),
    ),
    ModelCase(
        "gemma3-ratio-0.1",
        "gemma3-tiny",
        "keep_ratio 0.1 of 256: ceil(25.6) = 26 tokens, still attending to each other both ways.",
        (f"user : {GEMMA3_IMAGE} describe the picture in one short sentence . assistant :",),
        ((13,),),
        {"keep_ratio": 0.1},
        ("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R18"),
    ),
    ModelCase(
        "gemma3-batch-k32",
        "gemma3-tiny",
        "A left-padded batch of two rows with different images and questions.",
        (
            GEMMA3_QUESTION,
            f"user : {GEMMA3_IMAGE} how many dots are there in the picture ? assistant :",
        ),
        ((14,), (15,)),
        {"budget": 32},
        ("ADAFV-R1", "ADAFV-R3", "ADAFV-R5", "ADAFV-R14", "ADAFV-R18"),
    ),
)


# (width, height) of the pictures that are not 300 x 220: LLaVA-NeXT tiles by aspect ratio.
PICTURE_SIZES = {7: (500, 300), 8: (220, 400), 9: (400, 400), 10: (1500, 1500), 11: (336, 336)}


def picture(seed: int, size: tuple[int, int] | None = None):
    """A structured RGB test image: a few coloured ellipses on a smooth gradient.

    Smooth, so its PNG is a few kilobytes; seeded, so every engine sees the same pixels.
    The size is ``size``, else ``PICTURE_SIZES[seed]``, else 300 x 220.
    """
    from PIL import Image, ImageDraw

    rng = np.random.default_rng(seed)
    width, height = size or PICTURE_SIZES.get(seed, (300, 220))
    base = rng.integers(0, 256, size=(2, 3))
    ramp = np.linspace(0.0, 1.0, width)[None, :, None]
    pixels = (base[0] * (1 - ramp) + base[1] * ramp) * np.ones((height, 1, 1))
    image = Image.fromarray(pixels.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    for _ in range(4):
        x, y = rng.integers(0, width - 40), rng.integers(0, height - 40)
        w, h = rng.integers(20, 90, size=2)
        colour = tuple(int(c) for c in rng.integers(0, 256, size=3))
        draw.ellipse((int(x), int(y), int(x + w), int(y + h)), fill=colour)
    return image


def image_name(seed: int) -> str:
    """The file name of picture ``seed`` among the fixtures' images."""
    return f"picture-{seed}.png"


BUILDERS = {
    "llava-1.5-tiny": "tiny_llava",
    "llava-next-tiny": "tiny_llava_next",
    "llava-onevision-tiny": "tiny_llava_onevision",
    "qwen2-vl-tiny": "tiny_qwen2_vl",
    "qwen2.5-vl-tiny": "tiny_qwen2_5_vl",
    "gemma3-tiny": "tiny_gemma3",
}


def build_model(name: str, directory: Path) -> None:
    """Write the tiny model ``name`` (weights, config, tokenizer, image processor, and the
    processor where it can be built without torchvision) to ``directory``."""
    from adafv_transformers import tiny_models

    model, *processing = getattr(tiny_models, BUILDERS[name])(seed=0)
    model.save_pretrained(directory)
    for part in processing:
        part.save_pretrained(directory)


def load_model(directory: Path, attn_implementation: str = "eager") -> tuple:
    """``(model, processor)`` of a fixture checkpoint; for LLaVA-OneVision and Qwen the
    processor is ``(image processor, tokenizer)`` (see ``model_references.build_inputs``).

    The image processor is always the PIL one the fixtures were made with: where torchvision
    is installed, Transformers would pick its torchvision variant, which resizes to slightly
    different pixels.
    """
    import torch
    from transformers import (
        AutoConfig,
        AutoImageProcessor,
        AutoModelForImageTextToText,
        AutoProcessor,
        AutoTokenizer,
    )

    model = AutoModelForImageTextToText.from_pretrained(
        directory, attn_implementation=attn_implementation, dtype=torch.float32
    ).eval()
    if AutoConfig.from_pretrained(directory).model_type in model_references.ONE_IMAGE_PER_PROMPT:
        processor = (
            AutoImageProcessor.from_pretrained(directory, backend="pil"),
            AutoTokenizer.from_pretrained(directory),
        )
    else:
        processor = AutoProcessor.from_pretrained(directory, backend="pil")
    return model, processor


ENCODER_INPUTS = ("pixel_values", "image_sizes", "batch_num_images", "image_grid_thw")


def _reference_positions(model, inputs) -> np.ndarray | None:
    """M-RoPE positions of the whole prompt for Qwen models, restated from their definition
    and checked against the model's ``get_rope_index``; None where positions are contiguous."""
    if model.config.model_type not in ("qwen2_vl", "qwen2_5_vl"):
        return None
    positions = model_references.mrope_positions(
        inputs["input_ids"].numpy(),
        inputs["attention_mask"].numpy(),
        model.config.image_token_id,
        inputs["image_grid_thw"].numpy(),
        model.config.vision_config.spatial_merge_size,
    )
    theirs, _ = model.model.get_rope_index(
        inputs["input_ids"],
        inputs["mm_token_type_ids"],
        image_grid_thw=inputs["image_grid_thw"],
        attention_mask=inputs["attention_mask"],
    )
    if not np.array_equal(positions, theirs.numpy()):
        raise AssertionError("the restated M-RoPE positions are not the model's")
    return positions


def _check_margins(case_id: str, l_vals: np.ndarray, s: np.ndarray, params: dict) -> dict:
    """Refuse a selection that float32 backends might not reproduce exactly."""
    budget = {k: params[k] for k in ("budget", "keep_ratio") if k in params}
    margins = oracle.selection_margins(l_vals, s, **budget)
    res = oracle.select_from_scores(l_vals, s, **budget)
    k = len(res["indices"])
    b = int(res["k_saliency"])
    ranked = np.sort(s)[::-1]
    edges = [
        j
        for j in sorted({math.floor(0.25 * k + 1e-9), b, b + int(res["n_overlap"])})
        if 0 < j < len(s)
    ]
    s_gap = min(((ranked[j - 1] - ranked[j]) / ranked[j - 1] for j in edges), default=None)
    product = margins["product_rel_margin"]
    l_gap = margins["l_gap"]
    problems = []
    if s_gap is not None and s_gap <= MIN_RELATIVE_GAP:
        problems.append(f"saliency gap {s_gap:.3g}")
    if product is not None and not margins["all_products_zero"] and product <= MIN_RELATIVE_GAP:
        problems.append(f"product margin {product:.3g}")
    if l_gap is not None and np.isfinite(l_gap) and l_gap <= MIN_RELATIVE_GAP:
        problems.append(f"log-score gap {l_gap:.3g}")
    if problems:
        raise AssertionError(f"{case_id}: too close to a decision boundary: {', '.join(problems)}")
    return {"saliency_rel_gap_min": s_gap, "product_rel_margin": product, "l_gap_min": l_gap}


def _image_block_mask(model, image: Any) -> dict:
    """Gemma 3's attention over a prompt whose tokens ``image`` are image tokens: causal, and
    the tokens of one image (a run of them) also see each other both ways; as an additive
    mask for every layer type. Its sliding window is longer than the prompt, so it masks
    nothing more."""
    import torch

    length = len(image)
    if length > model.config.text_config.sliding_window:
        raise ValueError(f"a prompt of {length} tokens would need the sliding window's mask")
    runs = torch.cumsum(image & ~torch.nn.functional.pad(image, (1, 0))[:-1], 0)
    block = torch.where(image, runs, -1)
    allowed = torch.ones(length, length, dtype=torch.bool).tril()
    allowed |= (block[:, None] == block[None, :]) & (block[:, None] >= 0)
    additive = torch.zeros(length, length).masked_fill(~allowed, torch.finfo(torch.float32).min)
    return {"full_attention": additive[None, None], "sliding_attention": additive[None, None]}


def expected_for(case: ModelCase, model, processor) -> tuple[dict, dict, dict]:
    """``(inputs, expected, margins)`` of one case, from the independent reference paths."""
    import torch

    images = [picture(seed) for row in case.images for seed in row]
    inputs = model_references.build_inputs(model, processor, images, list(case.prompts))
    input_ids, attention_mask = inputs["input_ids"], inputs["attention_mask"]
    image_id = model.config.image_token_id
    encoder_inputs = {k: inputs[k] for k in ENCODER_INPUTS if k in inputs}
    with torch.no_grad():
        packed = model.model.get_image_features(**encoder_inputs, return_dict=True).pooler_output
        embeds = model.get_input_embeddings()(input_ids)
    references = model_references.image_references(model, inputs, images)
    placeholders = input_ids == image_id
    rows, cols = placeholders.nonzero(as_tuple=True)
    sizes = [len(ref.content) for ref in references]
    saliency, t2i, kept, margins, features = [], [], [], [], []
    keep = attention_mask.bool() & ~placeholders
    keep_separators = case.params.get("image_newline", "keep") == "keep"
    for i, (ref, image_rows, image_cols) in enumerate(
        zip(references, rows.split(sizes), cols.split(sizes), strict=True)
    ):
        # The engine-independent layout must describe the model's own packing exactly.
        if not torch.allclose(ref.features, packed[i].float(), rtol=1e-5, atol=1e-6):
            raise AssertionError(f"{case.id}: image {i}: the reference layout is not the model's")
        row, last = int(image_rows[0]), int(image_cols[-1])
        query = [
            p
            for p in range(last + 1, input_ids.shape[1])
            if attention_mask[row, p] and not placeholders[row, p]
        ]
        visual = ref.features[torch.from_numpy(ref.content)].double().numpy()
        text = embeds[row, query].double().numpy()
        l_vals = oracle.t2i_log_scores(visual, text) if query else np.full(len(visual), -np.inf)
        budget = {k: case.params[k] for k in ("budget", "keep_ratio") if k in case.params}
        res = oracle.select_from_scores(l_vals, ref.saliency, **budget)
        margins.append(_check_margins(case.id, l_vals, ref.saliency, budget))
        saliency.append(ref.saliency)
        t2i.append(l_vals)
        kept.append(res["indices"])
        features.append(ref.features)
        chosen = np.flatnonzero(ref.content)[res["indices"]]
        if keep_separators:
            chosen = np.union1d(chosen, np.flatnonzero(~ref.content))
        keep[row, image_cols[torch.from_numpy(chosen)]] = True
    positions = _reference_positions(model, inputs)
    # The bare language model on hand-built embeddings: text rows, then kept image rows.
    filled = embeds.clone()
    filled[placeholders] = torch.cat(list(features)).to(filled.dtype)
    pruned_ids, logits = [], []
    for row in range(input_ids.shape[0]):
        columns = keep[row].nonzero().squeeze(1)
        where = {}
        if positions is not None:
            where["position_ids"] = torch.from_numpy(positions[:, row, columns.numpy()])[:, None]
        mask = torch.ones((1, len(columns)), dtype=torch.long)
        if model.config.model_type == "gemma3":
            mask = _image_block_mask(model, placeholders[row, columns])
        with torch.no_grad():
            hidden = model.model.language_model(
                inputs_embeds=filled[row, columns][None],
                attention_mask=mask,
                use_cache=False,
                **where,
            ).last_hidden_state
            logits.append(model.lm_head(hidden)[0].numpy())
        pruned_ids.append(input_ids[row, columns].numpy())
    width = max(len(r) for r in pruned_ids)
    pruned = np.full((len(pruned_ids), width), -1, np.int64)
    for row, ids in enumerate(pruned_ids):  # left-aligned to the right, as left padding is
        pruned[row, width - len(ids) :] = ids
    expected = {
        "saliency": pad_images(saliency, -np.inf).astype(np.float32),
        "t2i_log": pad_images(t2i, -np.inf).astype(np.float32),
        "indices": pad_images(kept, -1).astype(np.int64),
        "pruned_input_ids": pruned,
        "logits": np.concatenate(logits).astype(np.float32),
    }
    # pixel_values are not stored: each engine preprocesses the PNGs with its own processor.
    stored_inputs = {k: inputs[k].numpy() for k in ("input_ids", "attention_mask")}
    return stored_inputs, expected, {"images": margins}


def generate(out: Path = DEFAULT_OUT, verbose: bool = False) -> dict:
    """Write every model and case under ``out``; return the manifest."""
    from safetensors.numpy import save

    out.mkdir(parents=True, exist_ok=True)
    entries = []
    loaded: dict[str, tuple] = {}
    for case in CASES:
        model_dir = out / case.model
        if case.model not in loaded:
            build_model(case.model, model_dir)
            loaded[case.model] = load_model(model_dir)
        model, processor = loaded[case.model]
        for row in case.images:
            for seed in row:
                path = out / "images" / image_name(seed)
                path.parent.mkdir(exist_ok=True)
                picture(seed).save(path)
        inputs, expected, margins = expected_for(case, model, processor)
        tensors = {**inputs, **{f"expected.{k}": v for k, v in expected.items()}}
        data = save(tensors)
        name = f"{case.id}.safetensors"
        (out / name).write_bytes(data)
        if verbose:
            print(f"{case.id}: {', '.join(f'{k} {v.shape}' for k, v in expected.items())}")
        entries.append(
            {
                "id": case.id,
                "kind": "model",
                "description": case.description,
                "rules": list(case.rules),
                "file": name,
                "sha256": hashlib.sha256(data).hexdigest(),
                "inputs": "file",
                "inputs_sha256": None,
                "model": case.model,
                "prompts": list(case.prompts),
                "images": [[f"images/{image_name(seed)}" for seed in row] for row in case.images],
                "params": {
                    "guarantee": 0.25,
                    "t2i_scale": 100.0,
                    "image_newline": "keep",
                    **case.params,
                },
                "input_dtype": "float32",
                "batched": len(case.prompts) > 1,
                "tolerance": SCORES_TOLERANCE,
                "output_tolerances": {"logits": LOGITS_TOLERANCE, "t2i_log": T2I_TOLERANCE},
                "margins": margins,
            }
        )
    manifest = {
        "suite": SUITE,
        "format_version": FORMAT_VERSION,
        "spec_version": SPEC_VERSION,
        "generator": GENERATOR,
        "models": {
            name: {
                "files": {
                    p.name: hashlib.sha256(p.read_bytes()).hexdigest()
                    for p in sorted((out / name).iterdir())
                }
            }
            for name in loaded
        },
        "cases": entries,
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def verify(fixtures: Path = DEFAULT_OUT) -> list[str]:
    """Recompute every case's expected tensors from the committed checkpoints; list problems.

    The checkpoints themselves are inputs (their hashes are in the manifest); what is checked
    is that the committed expectations are what the independent reference paths give on them.
    Indices and token ids must be equal; floats, computed in float32 by the model, may differ
    by the rounding of another CPU (``rounding.py``).
    """
    from PIL import Image
    from safetensors.numpy import load_file

    manifest = json.loads((fixtures / "manifest.json").read_text())
    problems = []
    for name, entry in manifest["models"].items():
        for file, digest in entry["files"].items():
            actual = hashlib.sha256((fixtures / name / file).read_bytes()).hexdigest()
            if actual != digest:
                problems.append(f"{name}/{file}: sha256 {actual}, manifest says {digest}")
    cases = {case.id: case for case in CASES}
    loaded: dict[str, tuple] = {}
    for entry in manifest["cases"]:
        case = cases.get(entry["id"])
        if case is None:
            problems.append(f"{entry['id']}: not defined in models.CASES")
            continue
        for row, seeds in zip(entry["images"], case.images, strict=True):
            for path, seed in zip(row, seeds, strict=True):
                stored = np.asarray(Image.open(fixtures / path).convert("RGB"))
                if not np.array_equal(stored, np.asarray(picture(seed))):
                    problems.append(f"{entry['id']}: {path} is not picture({seed})")
        if case.model not in loaded:
            loaded[case.model] = load_model(fixtures / case.model)
        recomputed = expected_for(case, *loaded[case.model])
        committed = load_file(str(fixtures / entry["file"]))
        problems += [f"{entry['id']}: {p}" for p in differences(committed, *recomputed[:2])]
    return problems


def differences(committed: dict, inputs: dict, expected: dict) -> list[str]:
    """How a case's recomputed ``inputs`` and ``expected`` tensors differ from its committed
    file's: integers exactly, floats beyond the float32 rounding of another CPU."""
    problems = []
    for key, value in {**inputs, **{f"expected.{k}": v for k, v in expected.items()}}.items():
        old = committed.get(key)
        if old is None:
            problems.append(f"{key} is not in the committed file")
        elif why := rounding_difference(old, value, np.float32):
            problems.append(f"{key}: {why}")
    return problems
