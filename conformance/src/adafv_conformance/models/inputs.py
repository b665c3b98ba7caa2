"""What every integration is fed on the model-level fixtures: the pictures, and the model
inputs a family's processor makes of pictures and prompts.

The pictures are drawn from a seed, so every engine sees the same pixels. LLaVA-OneVision's
and Qwen2-VL's processors cannot be built without torchvision (their video processors need
it), so the prompt expansion they do for images is restated here from their definitions;
the expected values depend on it, which is why it lives in the suite and not in an
integration. Needs Pillow, and torch and transformers for the model inputs.
"""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np

from adafv_conformance.models.vocabulary import GEMMA3_IMAGE, IMAGE_TOKEN, QWEN_SPECIAL_TOKENS

# The families whose fixture checkpoints carry no processor: ``(image processor, tokenizer)``
# stands in for it, one image per prompt.
ONE_IMAGE_PER_PROMPT = (
    "llava_onevision",
    "qwen2_vl",
    "qwen2_5_vl",
    "qwen3_vl",
    "qwen3_vl_moe",
    "qwen3_5",
    "qwen3_5_moe",
)
# The Qwen families whose processors expand prompts as Qwen2-VL's does (``qwen2_vl_inputs``).
QWEN_VL_TYPES = ONE_IMAGE_PER_PROMPT[1:]

# (width, height) of the pictures that are not 300 x 220: LLaVA-NeXT tiles by aspect ratio.
# 11 and 16 lie on the grids no Qwen processor resizes: 28 pixels (Qwen2-VL, Qwen2.5-VL) and
# 32 (Qwen3-VL); 17 is Gemma 3's input size. Every stack reads them from the same pixels.
PICTURE_SIZES = {
    7: (500, 300),
    8: (220, 400),
    9: (400, 400),
    10: (1500, 1500),
    11: (336, 336),
    16: (384, 320),
    17: (896, 896),
}


def picture(seed: int, size: tuple[int, int] | None = None) -> Any:
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


def build_inputs(model: Any, processor: Any, images: list[Any], prompts: list[str]) -> Any:
    """What the model's processor returns for ``images`` and ``prompts``.

    LLaVA-OneVision's and Qwen's processors need torchvision (for their video processors); for
    them ``processor`` is ``(image processor, tokenizer)`` and the text is expanded as their
    processors do it (``onevision_inputs``, ``qwen2_vl_inputs``), one image per prompt.
    """
    model_type = model.config.model_type
    if model_type == "llava_onevision":
        image_processor, tok = processor
        return onevision_inputs(model, image_processor, tok, images, prompts)
    if model_type in QWEN_VL_TYPES:
        image_processor, tok = processor
        return qwen2_vl_inputs(image_processor, tok, images, prompts)
    if model_type == "gemma3":  # its processor takes the images grouped by prompt
        counts = [prompt.count(GEMMA3_IMAGE) for prompt in prompts]
        starts = np.cumsum([0, *counts])
        images = [images[a:b] for a, b in itertools.pairwise(starts)]
    return processor(images=images, text=prompts, return_tensors="pt", padding=True)


def onevision_inputs(
    model: Any, image_processor: Any, tok: Any, images: list[Any], prompts: list[str]
) -> Any:
    """What ``LlavaOnevisionProcessor(images=images, text=prompts)`` returns, one image per
    prompt: pixels from the image processor, and each ``<image>`` repeated as many times as
    the model packs tokens for that image (its processor computes the same count)."""
    import torch
    from transformers import BatchFeature

    if len(images) != len(prompts):
        raise ValueError(f"one image per prompt: {len(images)} images, {len(prompts)} prompts")
    pixels = image_processor(images=[[image] for image in images], return_tensors="pt")
    with torch.no_grad():
        packed = model.model.get_image_features(
            pixel_values=pixels["pixel_values"].to(model.dtype),
            image_sizes=pixels["image_sizes"],
            batch_num_images=pixels["batch_num_images"],
        ).pooler_output
    texts = [
        prompt.replace(IMAGE_TOKEN, IMAGE_TOKEN * len(features))
        for prompt, features in zip(prompts, packed, strict=True)
    ]
    text = tok(texts, return_tensors="pt", padding=True)
    return BatchFeature({**text, **pixels})


def qwen2_vl_inputs(image_processor: Any, tok: Any, images: list[Any], prompts: list[str]) -> Any:
    """What ``Qwen2VLProcessor(images=images, text=prompts)`` returns: pixels and
    ``image_grid_thw`` from the image processor, each ``<|image_pad|>`` repeated
    ``t * h * w / 4`` times, and ``mm_token_type_ids`` (1 on image tokens). Qwen3-VL's and
    Qwen3.5's processors expand images the same way (their image processor is Qwen2-VL's, with
    16-pixel patches)."""
    from transformers import BatchFeature

    pixels = image_processor(images=images, return_tensors="pt")
    counts = iter((pixels["image_grid_thw"].prod(-1) // 4).tolist())
    pad = QWEN_SPECIAL_TOKENS["image_token"]
    texts = []
    for prompt in prompts:
        parts = prompt.split(pad)
        texts.append(parts[0] + "".join(pad * next(counts) + part for part in parts[1:]))
    text = tok(texts, return_tensors="pt", padding=True)
    image_id = tok.convert_tokens_to_ids(pad)
    mm_token_type_ids = (text["input_ids"] == image_id).int()
    return BatchFeature({**text, "mm_token_type_ids": mm_token_type_ids, **pixels})
