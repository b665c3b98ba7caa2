"""Every supported family in half precision and on every device: the pruned call runs in the
model's dtype, keeps ``K`` tokens per image, and ``generate`` works (ADAFV-R16)."""

from __future__ import annotations

import pytest
import torch

import adafv_transformers
from adafv_conformance.models import checkpoints
from adafv_conformance.models.inputs import onevision_inputs, picture, qwen2_vl_inputs
from adafv_transformers.families import FAMILIES
from adafv_transformers_helpers import DEVICES

LLAVA_PROMPT = "USER: <image>\nWhat color is the circle on the left? ASSISTANT:"
QWEN_PROMPT = f"user: {checkpoints.QWEN_IMAGE} what color is the circle on the left ? assistant :"
GEMMA3_PROMPT = f"user : {checkpoints.GEMMA3_IMAGE} what color is the circle ? assistant :"


def _model_and_inputs(model_type: str, dtype: torch.dtype, device: str):
    image = picture(2, (500, 300))
    if model_type in ("llava", "llava_next"):
        build = {"llava": checkpoints.tiny_llava, "llava_next": checkpoints.tiny_llava_next}
        model, processor = build[model_type](seed=0, dtype=dtype, device=device)
        inputs = processor(images=image, text=LLAVA_PROMPT, return_tensors="pt")
    elif model_type == "gemma3":
        model, processor = checkpoints.tiny_gemma3(seed=0, dtype=dtype, device=device)
        inputs = processor(images=[[image]], text=[GEMMA3_PROMPT], return_tensors="pt")
    elif model_type == "llava_onevision":
        model, image_processor, tok = checkpoints.tiny_llava_onevision(
            seed=0, dtype=dtype, device=device
        )
        inputs = onevision_inputs(model, image_processor, tok, [image], [LLAVA_PROMPT])
    else:
        build = {
            "qwen2_vl": checkpoints.tiny_qwen2_vl,
            "qwen2_5_vl": checkpoints.tiny_qwen2_5_vl,
            "qwen3_vl": checkpoints.tiny_qwen3_vl,
            "qwen3_vl_moe": checkpoints.tiny_qwen3_vl_moe,
            "qwen3_5": checkpoints.tiny_qwen3_5,
            "qwen3_5_moe": checkpoints.tiny_qwen3_5_moe,
        }
        model, image_processor, tok = build[model_type](seed=0, dtype=dtype, device=device)
        inputs = qwen2_vl_inputs(image_processor, tok, [image], [QWEN_PROMPT])
    inputs = inputs.to(device)
    inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
    return model, inputs


def test_every_family_has_a_tiny_model_here():
    assert set(FAMILIES) == {
        "llava",
        "llava_next",
        "llava_onevision",
        "qwen2_vl",
        "qwen2_5_vl",
        "qwen3_vl",
        "qwen3_vl_moe",
        "qwen3_5",
        "qwen3_5_moe",
        "gemma3",
    }


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("model_type", sorted(FAMILIES))
def test_half_precision_models(model_type, dtype, device):  # ADAFV-R16
    model, inputs = _model_and_inputs(model_type, dtype, device)
    pruned = adafv_transformers.prune_inputs(model, budget=40, **inputs)
    assert pruned["mm_encoder_outputs"]["image"].pooler_output[0].dtype == dtype
    assert [len(image.selected) for image in pruned.images] == [40]
    with torch.no_grad():
        logits = model(**pruned).logits
    assert logits.shape[1] == pruned["input_ids"].shape[1] and bool(logits.isfinite().all())
    adafv_transformers.apply(model, budget=40)
    out = model.generate(**inputs, max_new_tokens=3, min_new_tokens=3, do_sample=False)
    assert out.shape[1] == inputs["input_ids"].shape[1] + 3
