"""The image token counts of the Deploying page's KV-cache table (``docs/kv_cache.py``) are
the ones ``adafv_transformers.prune_inputs`` sees: each family's tiny checkpoint of the suite
has the released image geometry, so a 672 x 672 picture gives it the real model's placeholder
tokens, and AdaFV at ``keep_ratio=0.1`` keeps what the table says."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # docs/kv_cache.py

import kv_cache

# Each family's checkpoints in the table, by the start of their ids, and its tiny builder.
FAMILIES = {
    "llava-hf/llava-1.5-": ("tiny_llava", "IMAGE_TOKEN"),
    "llava-hf/llava-v1.6-": ("tiny_llava_next", "IMAGE_TOKEN"),
    "llava-hf/llava-onevision-": ("tiny_llava_onevision", "IMAGE_TOKEN"),
    "Qwen/Qwen2-VL-": ("tiny_qwen2_vl", "QWEN_IMAGE"),
    "Qwen/Qwen2.5-VL-": ("tiny_qwen2_5_vl", "QWEN_IMAGE"),
    "Qwen/Qwen3-VL-": ("tiny_qwen3_vl", "QWEN_IMAGE"),
    "google/gemma-3-": ("tiny_gemma3", "GEMMA3_IMAGE"),
}


def test_every_checkpoint_has_a_family() -> None:
    for checkpoint in kv_cache.CHECKPOINTS:
        assert any(checkpoint.model_id.startswith(p) for p in FAMILIES), checkpoint.model_id


@pytest.mark.parametrize("prefix", FAMILIES)
def test_the_image_tokens_are_what_the_model_sees(prefix: str) -> None:
    import adafv_transformers
    from adafv_conformance.models import checkpoints, vocabulary
    from adafv_conformance.models.inputs import build_inputs, picture

    builder, mark = FAMILIES[prefix]
    model, *processor = getattr(checkpoints, builder)()
    processor = processor[0] if len(processor) == 1 else tuple(processor)
    prompt = f"{getattr(vocabulary, mark)} what colour is the car"
    side = int(kv_cache.IMAGE.split(" x ")[0])
    inputs = build_inputs(model, processor, [picture(0, (side, side))], [prompt])
    image = adafv_transformers.prune_inputs(model, keep_ratio=kv_cache.KEEP_RATIO, **inputs)
    (image,) = image.images
    for checkpoint in kv_cache.CHECKPOINTS:
        if checkpoint.model_id.startswith(prefix):
            assert (checkpoint.content, checkpoint.tokens) == (
                len(image.content),
                len(image.positions),
            ), checkpoint.model_id
            assert checkpoint.kept == len(image.kept), checkpoint.model_id
