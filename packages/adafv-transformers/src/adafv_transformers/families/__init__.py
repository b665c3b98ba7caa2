"""The supported model families, in one table keyed by ``config.model_type``.

A family is one module holding one subclass of what the model is: :class:`Family` for any
model, :class:`LlavaStyle` for a CLIP or SigLIP tower and a projector, :class:`AnyRes` for
a LLaVA-style model that tiles its images. Adding one is that module and an entry below.
"""

from __future__ import annotations

from torch import nn

from adafv_transformers.families.anyres import AnyRes
from adafv_transformers.families.base import EncodedImages, Family
from adafv_transformers.families.gemma3 import Gemma3
from adafv_transformers.families.llava import Llava
from adafv_transformers.families.llava_next import LlavaNext
from adafv_transformers.families.llava_onevision import LlavaOnevision
from adafv_transformers.families.llava_style import LlavaStyle
from adafv_transformers.families.qwen2_vl import Qwen2VL, Qwen25VL
from adafv_transformers.families.qwen3_vl import Qwen3VL, Qwen35

FAMILIES: dict[str, Family] = {
    model_type: family
    for family in (
        Llava(),
        LlavaNext(),
        LlavaOnevision(),
        Qwen2VL(),
        Qwen25VL(),
        Qwen3VL(),
        Qwen35(),
        Gemma3(),
    )
    for model_type in family.model_types
}


def family_for(model: nn.Module) -> Family:
    """The family of ``model``, by ``model.config.model_type``; raises for any other model."""
    model_type = getattr(getattr(model, "config", None), "model_type", None)
    if model_type not in FAMILIES:
        supported = ", ".join(f"{t} ({FAMILIES[t].name})" for t in sorted(FAMILIES))
        raise ValueError(
            f"model_type={model_type!r} ({type(model).__name__}) is not supported by "
            f"adafv_transformers; supported: {supported}"
        )
    return FAMILIES[model_type]


__all__ = ["FAMILIES", "AnyRes", "EncodedImages", "Family", "LlavaStyle", "family_for"]
