"""Which checkpoints the plugin serves, told from their Transformers configs, and what the
plugin reads from them."""

from __future__ import annotations

from typing import Any


def _is_llava_hf_kind(
    config: Any, architecture: str, model_type: str, tower: str = "clip_vision_model"
) -> bool:
    architectures = getattr(config, "architectures", None) or []
    vision = getattr(config, "vision_config", None)
    return (
        architecture in architectures
        and getattr(config, "model_type", None) == model_type
        and getattr(vision, "model_type", None) == tower
    )


def is_llava_hf(config: Any) -> bool:
    """An llava-hf LLaVA-1.5 config: a CLIP tower in front of one language model."""
    return _is_llava_hf_kind(config, "LlavaForConditionalGeneration", "llava")


def is_llava_next(config: Any) -> bool:
    """An llava-hf LLaVA-NeXT config: a CLIP tower, images cut into anyres crops."""
    return _is_llava_hf_kind(config, "LlavaNextForConditionalGeneration", "llava_next")


def is_llava_onevision(config: Any) -> bool:
    """An llava-hf LLaVA-OneVision config: a SigLIP tower, images cut into anyres crops."""
    return _is_llava_hf_kind(
        config, "LlavaOnevisionForConditionalGeneration", "llava_onevision", "siglip_vision_model"
    )


def is_llava_anyres(config: Any) -> bool:
    """An llava-hf config whose images are cut into crops (LLaVA-NeXT, LLaVA-OneVision)."""
    return is_llava_next(config) or is_llava_onevision(config)


# The Qwen family the plugin serves, by ``model_type``: Qwen2-VL's layout, and from Qwen3-VL on
# 16-pixel patches and (Qwen3-VL) DeepStack levels carried beside each token's features.
QWEN_VL_TYPES = ("qwen2_vl", "qwen2_5_vl", "qwen3_vl", "qwen3_vl_moe", "qwen3_5", "qwen3_5_moe")


def is_qwen_vl(config: Any) -> bool:
    """Qwen2-VL, Qwen2.5-VL, Qwen3-VL (dense or MoE) or Qwen3.5 (dense or MoE): the whole
    checkpoint's config, or its text config, which SGLang's Qwen3-VL MoE and Qwen3.5 models
    keep as their ``config`` (``qwen3_vl_moe_text``, ``qwen3_5_text``)."""
    model_type = str(getattr(config, "model_type", ""))
    return model_type.removesuffix("_text") in QWEN_VL_TYPES


def tokens_per_image(config: Any, strategy: str) -> int:
    """LLaVA-1.5's ``N``: the tower's patches, plus [CLS] under the ``full`` strategy."""
    vision = config.vision_config
    patches = (vision.image_size // vision.patch_size) ** 2
    return patches + (1 if strategy == "full" else 0)


def image_token_id(config: Any) -> int:
    """The image placeholder's token id (llava-hf configs name it ``image_token_index``)."""
    value = getattr(config, "image_token_index", None)
    return int(value if value is not None else config.image_token_id)


def is_gemma3(config: Any) -> bool:
    """A Gemma 3 config with its SigLIP tower (``Gemma3ForConditionalGeneration``)."""
    return getattr(config, "model_type", None) == "gemma3"
