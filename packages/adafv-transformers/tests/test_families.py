"""Every supported family in half precision and on every device: the pruned call runs in the
model's dtype, keeps ``K`` tokens per image, and ``generate`` works (ADAFV-R16)."""

from __future__ import annotations

import pytest
import torch

import adafv_transformers
from adafv_conformance.models import checkpoints
from adafv_conformance.models.inputs import onevision_inputs, picture, qwen2_vl_inputs
from adafv_transformers.families import FAMILIES
from adafv_transformers_helpers import DEVICES, TINY_BUILDERS

LLAVA_PROMPT = "USER: <image>\nWhat color is the circle on the left? ASSISTANT:"
QWEN_PROMPT = f"user: {checkpoints.QWEN_IMAGE} what color is the circle on the left ? assistant :"
GEMMA3_PROMPT = f"user : {checkpoints.GEMMA3_IMAGE} what color is the circle ? assistant :"


def _model_and_inputs(model_type: str, dtype: torch.dtype, device: str):
    image = picture(2, (500, 300))
    model, *processing = TINY_BUILDERS[model_type](seed=0, dtype=dtype, device=device)
    if model_type in ("llava", "llava_next"):
        inputs = processing[0](images=image, text=LLAVA_PROMPT, return_tensors="pt")
    elif model_type == "gemma3":
        inputs = processing[0](images=[[image]], text=[GEMMA3_PROMPT], return_tensors="pt")
    elif model_type == "llava_onevision":
        inputs = onevision_inputs(model, *processing, [image], [LLAVA_PROMPT])
    else:
        inputs = qwen2_vl_inputs(*processing, [image], [QWEN_PROMPT])
    inputs = inputs.to(device)
    inputs["pixel_values"] = inputs["pixel_values"].to(dtype)
    return model, inputs


def test_every_family_has_a_tiny_model_here():
    assert set(FAMILIES) == set(TINY_BUILDERS)


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


def test_a_family_that_prunes_no_videos_refuses_them_naming_those_that_do():
    from adafv_transformers.families.base import refuse_videos

    video = {"pixel_values_videos": torch.zeros(1, 2, 3, 8, 8)}
    with pytest.raises(ValueError, match=r"pixel_values_videos: .* LLaVA-OneVision, Qwen2-VL"):
        refuse_videos(FAMILIES["gemma3"], video)
    with pytest.raises(ValueError, match=r"not LLaVA-NeXT's"):
        refuse_videos(FAMILIES["llava_next"], video)
    refuse_videos(FAMILIES["qwen2_vl"], video)  # Qwen prunes them: nothing raised
