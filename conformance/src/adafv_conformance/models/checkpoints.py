"""Tiny, random-weight checkpoints at the real image geometry, built offline from configs.

They are the model-level fixtures' checkpoints (``python -m adafv_conformance
generate-models`` saves them), and the integrations' tests and CPU benchmarks build them
too. Weights are random (seeded): the outputs mean nothing, but every code path is the one a
real checkpoint takes, since the model is saved and loaded in the standard Hugging Face
layout. The tokenizer is a word-level one over a fixed vocabulary (``vocabulary.py``), so no
download is needed; prompts should use its words, other words become ``<unk>``.

They live in the suite, not in an integration, so that the reference judging an integration
imports none (ONNX's ``onnx.reference`` never imports a backend either), and so that no
wheel users install carries them. Inputs for the families whose processor needs torchvision
are expanded by ``inputs.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from adafv_conformance.models.inputs import ONE_IMAGE_PER_PROMPT
from adafv_conformance.models.vocabulary import (
    GEMMA3_IMAGE,
    GEMMA3_SPECIAL_TOKENS,
    IMAGE_TOKEN,
    QWEN_IMAGE,
    QWEN_SPECIAL_TOKENS,
    SPECIAL_TOKENS,
    VIDEO_TOKEN,
    VOCABULARY,
)

__all__ = [
    "CPU_BENCH",
    "GEMMA3_IMAGE",
    "IMAGE_TOKEN",
    "LLAVA_15_7B",
    "LLAVA_15_CPU",
    "QWEN_IMAGE",
    "TINY",
    "VOCABULARY",
    "LlavaSizes",
    "build_model",
    "load_model",
    "save",
    "tiny_gemma3",
    "tiny_llava",
    "tiny_llava_next",
    "tiny_llava_onevision",
    "tiny_qwen2_5_vl",
    "tiny_qwen2_vl",
    "tiny_qwen3_5",
    "tiny_qwen3_5_moe",
    "tiny_qwen3_vl",
    "tiny_qwen3_vl_moe",
    "tokenizer",
]


def tokenizer(special: dict[str, str] | None = None) -> Any:
    """A word-level fast tokenizer over ``VOCABULARY``, lower-casing.

    ``special`` names the model's special tokens, added after the vocabulary in this order
    (default: LLaVA's ``{"image_token": "<image>"}``).
    """
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate([*SPECIAL_TOKENS, *VOCABULARY])}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="<unk>"))
    backend.normalizer = normalizers.Lowercase()
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        padding_side="left",
        extra_special_tokens=special or {"image_token": IMAGE_TOKEN},
    )


@dataclass(frozen=True)
class LlavaSizes:
    """Widths and depths of a LLaVA-1.5-shaped model (CLIP 336/14 tower, Llama LM)."""

    vision_hidden: int
    vision_layers: int
    vision_heads: int
    text_hidden: int
    text_layers: int
    text_heads: int
    text_kv_heads: int
    vocab_size: int | None = None  # None: the tiny tokenizer's vocabulary


TINY = LlavaSizes(64, 3, 4, 64, 2, 4, 2)
# A mid-size model for CPU benchmarks: large enough that the language model's prefill, not
# Python overhead, dominates; small enough for two cores.
CPU_BENCH = LlavaSizes(256, 6, 8, 512, 8, 8, 8, vocab_size=32064)
# LLaVA-1.5's real vision tower (CLIP ViT-L/14-336) with a 0.8B language model: for CPU
# benchmarks where 7B does not fit (its F16 weights alone are 13.5 GB before quantising).
LLAVA_15_CPU = LlavaSizes(1024, 24, 16, 2048, 16, 16, 16, vocab_size=32064)
# LLaVA-1.5-7B: CLIP ViT-L/14-336 and Vicuna-7B, for GPU benchmarks with random weights.
LLAVA_15_7B = LlavaSizes(1024, 24, 16, 4096, 32, 32, 32, vocab_size=32064)


# LLaVA-NeXT's grids of 336-pixel tiles (height, width), as in its released checkpoints.
LLAVA_NEXT_GRID_PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]


def _configs(sizes: LlavaSizes, tok: Any) -> tuple[Any, Any]:
    """The CLIP 336/14 tower and Llama language model configs of ``sizes``."""
    from transformers import CLIPVisionConfig, LlamaConfig

    real = sizes == LLAVA_15_7B
    vision = CLIPVisionConfig(
        image_size=336,
        patch_size=14,
        hidden_size=sizes.vision_hidden,
        intermediate_size=4096 if real else 2 * sizes.vision_hidden,
        num_hidden_layers=sizes.vision_layers,
        num_attention_heads=sizes.vision_heads,
        projection_dim=sizes.vision_hidden,
        # Real CLIP's [CLS] attention is heavy-tailed (a few patches take most of it); at the
        # default init scale a tiny tower's is nearly uniform, with near-ties everywhere.
        initializer_factor=6.0,
    )
    text_sizes = _text_sizes(sizes, tok, 4096)
    if real:
        text_sizes["intermediate_size"] = 11008
    return vision, LlamaConfig(**text_sizes)


def _text_sizes(sizes: LlavaSizes, tok: Any, max_positions: int) -> dict[str, Any]:
    """The language model config's sizes and special token ids, common to every family:
    ``sizes``' widths and depths, a feed-forward twice as wide as the hidden size, the tiny
    tokenizer's vocabulary (unless ``sizes`` names one)."""
    return {
        "vocab_size": sizes.vocab_size or len(tok),
        "hidden_size": sizes.text_hidden,
        "intermediate_size": 2 * sizes.text_hidden,
        "num_hidden_layers": sizes.text_layers,
        "num_attention_heads": sizes.text_heads,
        "num_key_value_heads": sizes.text_kv_heads,
        "max_position_embeddings": max_positions,
        "pad_token_id": tok.pad_token_id,
        "bos_token_id": tok.bos_token_id,
        "eos_token_id": tok.eos_token_id,
    }


def _build(model_class: Any, config: Any, seed: int, dtype: Any, attn: str, device: str) -> Any:
    config._attn_implementation = attn
    torch.manual_seed(seed)
    with torch.device(device):
        return model_class(config).to(dtype).eval()


def tiny_llava(
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    attn_implementation: str = "sdpa",
    sizes: LlavaSizes = TINY,
    device: str = "cpu",
) -> tuple[Any, Any]:
    """``(LlavaForConditionalGeneration, LlavaProcessor)``: CLIP 336/14, 576 tokens per image.

    Real LLaVA-1.5-7B: CLIP ViT-L/14-336 (hidden 1024, 24 layers, 16 heads, feature layer
    -2) and Vicuna-7B (hidden 4096, 32 layers, 32 heads), ``LLAVA_15_7B``. The default,
    ``TINY``: hidden 64 / 3 layers / 4 heads in the tower, 64 / 2 layers / 4 heads in the
    language model. Feed-forward widths are twice the hidden size, except in ``LLAVA_15_7B``.
    """
    from transformers import LlavaConfig, LlavaForConditionalGeneration, LlavaProcessor
    from transformers.models.clip.image_processing_pil_clip import CLIPImageProcessorPil

    tok = tokenizer()
    vision, text = _configs(sizes, tok)
    config = LlavaConfig(vision_config=vision, text_config=text, **_clip_llava_config(tok))
    model = _build(LlavaForConditionalGeneration, config, seed, dtype, attn_implementation, device)
    image_processor = CLIPImageProcessorPil(
        size={"shortest_edge": 336}, crop_size={"height": 336, "width": 336}
    )
    return model, LlavaProcessor(image_processor=image_processor, **_clip_llava_processor(tok))


def _clip_llava_config(tok: Any) -> dict[str, Any]:
    """What LLaVA-1.5 and LLaVA-NeXT configs share: feature layer -2 without [CLS]."""
    return {
        "image_token_id": tok.convert_tokens_to_ids(IMAGE_TOKEN),
        "vision_feature_layer": -2,
        "vision_feature_select_strategy": "default",
    }


def _clip_llava_processor(tok: Any) -> dict[str, Any]:
    """What LLaVA-1.5's and LLaVA-NeXT's processors share: 14-pixel patches, [CLS] dropped."""
    return {
        "tokenizer": tok,
        "patch_size": 14,
        "vision_feature_select_strategy": "default",
        "num_additional_image_tokens": 1,
        "image_token": IMAGE_TOKEN,
    }


def tiny_llava_next(
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    attn_implementation: str = "sdpa",
    sizes: LlavaSizes = TINY,
    device: str = "cpu",
) -> tuple[Any, Any]:
    """``(LlavaNextForConditionalGeneration, LlavaNextProcessor)`` at LLaVA-NeXT's geometry.

    CLIP 336/14 crops, the released checkpoints' grid pinpoints (up to 672 x 672, 1008 x 336
    and 336 x 1008): a 672 x 672 image becomes 576 base tokens, 48 rows of 48 tile tokens
    and 48 newlines, 2,928 in all. Real LLaVA-NeXT-7B (Vicuna) has the sizes of
    ``LLAVA_15_7B``; widths and depths otherwise as in :func:`tiny_llava`.
    """
    from transformers import (
        LlavaNextConfig,
        LlavaNextForConditionalGeneration,
        LlavaNextProcessor,
    )
    from transformers.models.llava_next.image_processing_pil_llava_next import (
        LlavaNextImageProcessorPil,
    )

    tok = tokenizer()
    vision, text = _configs(sizes, tok)
    config = LlavaNextConfig(
        vision_config=vision,
        text_config=text,
        image_grid_pinpoints=LLAVA_NEXT_GRID_PINPOINTS,
        **_clip_llava_config(tok),
    )
    model = _build(
        LlavaNextForConditionalGeneration, config, seed, dtype, attn_implementation, device
    )
    image_processor = LlavaNextImageProcessorPil(
        size={"shortest_edge": 336},
        crop_size={"height": 336, "width": 336},
        image_grid_pinpoints=LLAVA_NEXT_GRID_PINPOINTS,
    )
    return model, LlavaNextProcessor(image_processor=image_processor, **_clip_llava_processor(tok))


# LLaVA-OneVision's grids: every multiple of 384 up to 2304, in height and in width.
ONEVISION_GRID_PINPOINTS = [[384 * h, 384 * w] for h in range(1, 7) for w in range(1, 7)]


def _siglip_config(image_size: int, sizes: LlavaSizes) -> Any:
    """A SigLIP tower of ``sizes``' widths and depths, 14-pixel patches, without [CLS] or a
    pooling head, as LLaVA-OneVision and Gemma 3 use it."""
    from transformers import SiglipVisionConfig

    return SiglipVisionConfig(
        image_size=image_size,
        patch_size=14,
        hidden_size=sizes.vision_hidden,
        intermediate_size=2 * sizes.vision_hidden,
        num_hidden_layers=sizes.vision_layers,
        num_attention_heads=sizes.vision_heads,
        vision_use_head=False,
    )


def _encoder_layers(tower: Any) -> nn.ModuleList:
    """The tower's transformer layers; newer transformers drop the ``vision_model`` level."""
    for owner in (tower, getattr(tower, "vision_model", None)):
        layers = getattr(getattr(owner, "encoder", None), "layers", None)
        if isinstance(layers, nn.ModuleList):
            return layers
    raise TypeError(f"cannot find the encoder layers of the vision tower {type(tower).__name__}")


def _sharpen_attention(tower: Any) -> None:
    """SigLIP's default init gives a near-uniform attention in a tiny tower; sharpen the
    query and key projections so that saliency has the heavy tail real towers show."""
    with torch.no_grad():
        for layer in _encoder_layers(tower):
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj):
                proj.weight.mul_(2.0)


def tiny_llava_onevision(
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    attn_implementation: str = "sdpa",
    sizes: LlavaSizes = TINY,
    device: str = "cpu",
) -> tuple[Any, Any, Any]:
    """``(LlavaOnevisionForConditionalGeneration, image processor, tokenizer)`` at its geometry.

    Not a ``LlavaOnevisionProcessor``: it cannot be built without torchvision (its video
    processor needs it); ``inputs.onevision_inputs`` does its job for images.

    SigLIP 384/14 crops without [CLS] (27 x 27 = 729 tokens each, feature layer -1, strategy
    "full"), the released grids up to 6 x 6 tiles and ``anyres_max_9`` (a tile grid of more
    than about 9 x 729 tokens is bilinearly downsampled). Real LLaVA-OneVision-7B: SigLIP
    so400m (hidden 1152, 26 layers, 16 heads) and Qwen2-7B (hidden 3584, 28 layers, 28 heads,
    4 key-value heads). The tiny one: as :func:`tiny_llava`, with a Qwen2 language model.
    """
    from transformers import (
        LlavaOnevisionConfig,
        LlavaOnevisionForConditionalGeneration,
        Qwen2Config,
    )
    from transformers.models.llava_onevision.image_processing_pil_llava_onevision import (
        LlavaOnevisionImageProcessorPil,
    )

    tok = tokenizer({"image_token": IMAGE_TOKEN, "video_token": VIDEO_TOKEN})
    vision = _siglip_config(384, sizes)
    text = Qwen2Config(**_text_sizes(sizes, tok, 16384))
    config = LlavaOnevisionConfig(
        vision_config=vision,
        text_config=text,
        image_token_id=tok.convert_tokens_to_ids(IMAGE_TOKEN),
        video_token_id=tok.convert_tokens_to_ids(VIDEO_TOKEN),
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
        vision_aspect_ratio="anyres_max_9",
        image_grid_pinpoints=ONEVISION_GRID_PINPOINTS,
    )
    model = _build(
        LlavaOnevisionForConditionalGeneration, config, seed, dtype, attn_implementation, device
    )
    _sharpen_attention(model.model.vision_tower)
    image_processor = LlavaOnevisionImageProcessorPil(
        size={"height": 384, "width": 384}, image_grid_pinpoints=ONEVISION_GRID_PINPOINTS
    )
    return model, image_processor, tok


def tiny_qwen2_vl(
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    attn_implementation: str = "sdpa",
    sizes: LlavaSizes = TINY,
    device: str = "cpu",
) -> tuple[Any, Any, Any]:
    """``(Qwen2VLForConditionalGeneration, image processor, tokenizer)`` at Qwen2-VL's geometry.

    14-pixel patches, 2 x 2 merged into one language-model token (an image of ``h x w``
    patches gives ``h * w / 4`` tokens, sized by the image processor's pixel bounds), M-RoPE
    positions. Real Qwen2-VL-7B: a 32-block ViT (width 1280, 16 heads) and a Qwen2-7B
    language model (hidden 3584, 28 layers, 28 heads, 4 key-value heads). Prompts mark an
    image as ``QWEN_IMAGE``. Not a ``Qwen2VLProcessor``: it needs torchvision (its video
    processor does); ``inputs.qwen2_vl_inputs`` does its job for images.
    """
    from transformers import Qwen2VLConfig, Qwen2VLForConditionalGeneration

    vision = {
        "depth": sizes.vision_layers,
        "embed_dim": sizes.vision_hidden,
        "hidden_size": sizes.text_hidden,
        "num_heads": sizes.vision_heads,
        "mlp_ratio": 2,
    }
    return _qwen_vl(
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        vision,
        seed,
        dtype,
        attn_implementation,
        sizes,
        device,
    )


# Qwen2.5-VL's released vision tower (the same in its 3B, 7B and 32B checkpoints): 32 blocks
# of width 1280 with 16 heads and a 3420-wide SwiGLU, full attention in blocks 7, 15, 23, 31.
QWEN25_VL_TOWER = {
    "depth": 32,
    "hidden_size": 1280,
    "intermediate_size": 3420,
    "num_heads": 16,
    "fullatt_block_indexes": [7, 15, 23, 31],
}


def tiny_qwen2_5_vl(
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    attn_implementation: str = "sdpa",
    sizes: LlavaSizes = TINY,
    device: str = "cpu",
    tower: dict[str, Any] | None = None,
) -> tuple[Any, Any, Any]:
    """``(Qwen2_5_VLForConditionalGeneration, image processor, tokenizer)``: as
    :func:`tiny_qwen2_vl`, with Qwen2.5-VL's tower: windowed attention over 112-pixel windows
    (4 x 4 language-model tokens) in all blocks but every second one here (real 7B: 32
    blocks, full attention in blocks 7, 15, 23 and 31), patches reordered window by window.
    ``tower`` (e.g. :data:`QWEN25_VL_TOWER`) replaces the tower's depth and widths derived
    from ``sizes``."""
    from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

    depth = max(sizes.vision_layers, 4)
    vision = {
        "depth": depth,
        "hidden_size": sizes.vision_hidden,
        "intermediate_size": 2 * sizes.vision_hidden,
        "out_hidden_size": sizes.text_hidden,
        "num_heads": sizes.vision_heads,
        "window_size": 112,
        "fullatt_block_indexes": list(range(1, depth, 2)),
        **(tower or {}),
    }
    return _qwen_vl(
        Qwen2_5_VLConfig,
        Qwen2_5_VLForConditionalGeneration,
        vision,
        seed,
        dtype,
        attn_implementation,
        sizes,
        device,
    )


def _qwen_vl(
    config_class: Any,
    model_class: Any,
    vision: dict[str, Any],
    seed: int,
    dtype: torch.dtype,
    attn_implementation: str,
    sizes: LlavaSizes,
    device: str,
    text: dict[str, Any] | None = None,
    patch_size: int = 14,
    pixels: tuple[int, int] = (56 * 56, 28 * 28 * 1280),
) -> tuple[Any, Any, Any]:
    """A Qwen-VL model of ``vision`` and ``text`` (the language model's config beyond
    ``sizes``; by default Qwen2-VL's M-RoPE) with ``patch_size``-pixel patches merged 2 x 2,
    and its PIL image processor bounded by ``pixels`` (min, max)."""
    from transformers.models.qwen2_vl.image_processing_pil_qwen2_vl import (
        Qwen2VLImageProcessorPil,
    )

    tok = tokenizer(QWEN_SPECIAL_TOKENS)
    ids = {name: tok.convert_tokens_to_ids(token) for name, token in QWEN_SPECIAL_TOKENS.items()}
    head_dim = sizes.text_hidden // sizes.text_heads
    if text is None:
        text = {  # M-RoPE: the rotary pairs of a head split over time, height and width.
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 1000000.0,
                "mrope_section": [head_dim // 4, head_dim // 8, head_dim // 8],
            },
        }
    config = config_class(
        vision_config={
            **vision,
            "patch_size": patch_size,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
        },
        text_config={**_text_sizes(sizes, tok, 16384), **text},
        image_token_id=ids["image_token"],
        video_token_id=ids["video_token"],
        vision_start_token_id=ids["vision_start_token"],
        vision_end_token_id=ids["vision_end_token"],
    )
    model = _build(model_class, config, seed, dtype, attn_implementation, device)
    # As for SigLIP: sharpen a tiny tower's attention so that saliency is heavy-tailed.
    width = sizes.vision_hidden
    with torch.no_grad():
        for block in model.model.visual.blocks:
            block.attn.qkv.weight[: 2 * width].mul_(12.0)
    min_pixels, max_pixels = pixels
    if patch_size == 14:  # as the Qwen2-VL fixtures were made
        image_processor = Qwen2VLImageProcessorPil(min_pixels=min_pixels, max_pixels=max_pixels)
    else:
        image_processor = Qwen2VLImageProcessorPil(
            min_pixels=min_pixels,
            max_pixels=max_pixels,
            patch_size=patch_size,
            merge_size=2,
            temporal_patch_size=2,
            image_mean=[0.5, 0.5, 0.5],
            image_std=[0.5, 0.5, 0.5],
        )
    return model, image_processor, tok


# Qwen3-VL's tower: 16-pixel patches merged 2 x 2 (32 x 32 pixels per language-model token),
# a learned 48 x 48 position grid resampled to each image, and the released checkpoints' pixel
# bounds (256 x 256 to 4096 x 4096). Every block attends over the whole image.
QWEN3_PATCH = 16
QWEN3_PIXELS = (65536, 16777216)


def _qwen3_vision(sizes: LlavaSizes, depth: int) -> dict[str, Any]:
    """The vision config of a Qwen3-VL-style tower of ``sizes``' widths, ``depth`` blocks."""
    return {
        "depth": depth,
        "hidden_size": sizes.vision_hidden,
        "intermediate_size": 2 * sizes.vision_hidden,
        "num_heads": sizes.vision_heads,
        "out_hidden_size": sizes.text_hidden,
        "num_position_embeddings": 2304,
    }


def _qwen3_vl_text(sizes: LlavaSizes) -> dict[str, Any]:
    """Qwen3-VL's language model beyond ``sizes``: four layers, so that each of three DeepStack
    levels is added after its own layer (the first three) and one layer follows; heads 32 wide
    (real: 128) and interleaved M-RoPE with the real split scaled by 1/4 (real: 24, 20, 20
    rotary pairs for time, height, width, interleaved T H W T H W ...)."""
    return {
        "num_hidden_layers": max(sizes.text_layers, 4),
        "head_dim": 32,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 5000000.0,
            "mrope_section": [6, 5, 5],
            "mrope_interleaved": True,
        },
    }


# A tiny mixture of experts for the MoE language models: 4 experts of width 32, 2 per token.
_TINY_EXPERTS = {"num_experts": 4, "num_experts_per_tok": 2, "moe_intermediate_size": 32}


def _qwen3(
    classes: tuple[str, str], vision: dict[str, Any], text: dict[str, Any], *args: Any
) -> tuple[Any, Any, Any]:
    """A Qwen3-VL-family model of Transformers' ``classes`` (config, model) at Qwen3-VL's
    patch and pixel bounds; ``args`` are ``_qwen_vl``'s (seed, dtype, attention, sizes,
    device)."""
    import transformers

    config_class, model_class = (getattr(transformers, name) for name in classes)
    qwen3 = {"text": text, "patch_size": QWEN3_PATCH, "pixels": QWEN3_PIXELS}
    return _qwen_vl(config_class, model_class, vision, *args, **qwen3)


def tiny_qwen3_vl(
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    attn_implementation: str = "sdpa",
    sizes: LlavaSizes = TINY,
    device: str = "cpu",
) -> tuple[Any, Any, Any]:
    """``(Qwen3VLForConditionalGeneration, image processor, tokenizer)`` at Qwen3-VL's geometry.

    16-pixel patches (``QWEN3_PATCH``), 2 x 2 merged, two frames per temporal patch; DeepStack
    on: the outputs of three tower blocks before the last go through their own mergers and are
    added to the hidden states of the image's tokens after the first three language-model
    layers. Real Qwen3-VL-8B: a 27-block tower (width 1152, 16 heads), DeepStack from blocks
    8, 16 and 24; Qwen3-VL-2B and 4B: 24 blocks (width 1024), DeepStack from 5, 11 and 17. The
    tiny tower: 4 blocks (``sizes``' depth where it is more, as for the benchmarks), DeepStack
    from blocks 0, 1 and 2 (before the last, which feeds the main merger, as 24 < 26 and
    17 < 23 are). Language model as in
    ``_qwen3_vl_text``. Not a ``Qwen3VLProcessor``: it needs torchvision (its video processor
    does); ``inputs.qwen2_vl_inputs`` does its job for images.
    """
    return _qwen3(
        ("Qwen3VLConfig", "Qwen3VLForConditionalGeneration"),
        {
            **_qwen3_vision(sizes, max(sizes.vision_layers, 4)),
            "deepstack_visual_indexes": [0, 1, 2],
        },
        _qwen3_vl_text(sizes),
        seed,
        dtype,
        attn_implementation,
        sizes,
        device,
    )


def tiny_qwen3_vl_moe(
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    attn_implementation: str = "sdpa",
    sizes: LlavaSizes = TINY,
    device: str = "cpu",
) -> tuple[Any, Any, Any]:
    """``(Qwen3VLMoeForConditionalGeneration, image processor, tokenizer)``: the tower of
    :func:`tiny_qwen3_vl`, DeepStack included, and a mixture-of-experts language model: 4
    experts of width 32, 2 per token, in every layer (real Qwen3-VL-30B-A3B: 128 experts, 8 per
    token, a 27-block tower with DeepStack from blocks 8, 16 and 24)."""
    return _qwen3(
        ("Qwen3VLMoeConfig", "Qwen3VLMoeForConditionalGeneration"),
        {
            **_qwen3_vision(sizes, max(sizes.vision_layers, 4)),
            "deepstack_visual_indexes": [0, 1, 2],
        },
        {**_qwen3_vl_text(sizes), **_TINY_EXPERTS, "decoder_sparse_step": 1},
        seed,
        dtype,
        attn_implementation,
        sizes,
        device,
    )


def _qwen3_5_text(sizes: LlavaSizes) -> dict[str, Any]:
    """Qwen3.5's hybrid language model beyond ``sizes``: three Gated DeltaNet (linear
    attention) layers then one full-attention layer, as every fourth layer is in the real ones;
    full-attention heads 64 wide with a quarter of each rotated (real: 256, a quarter), and
    interleaved M-RoPE over those 8 rotary pairs split 3, 3, 2 (real: 11, 11, 10 of 32)."""
    return {
        "num_hidden_layers": 4,
        "head_dim": 64,
        "linear_num_key_heads": 2,
        "linear_num_value_heads": 4,
        "linear_key_head_dim": 16,
        "linear_value_head_dim": 16,
        "linear_conv_kernel_dim": 4,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000000.0,
            "partial_rotary_factor": 0.25,
            "mrope_section": [3, 3, 2],
            "mrope_interleaved": True,
        },
    }


def tiny_qwen3_5(
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    attn_implementation: str = "sdpa",
    sizes: LlavaSizes = TINY,
    device: str = "cpu",
) -> tuple[Any, Any, Any]:
    """``(Qwen3_5ForConditionalGeneration, image processor, tokenizer)``: Qwen3-VL's tower
    without DeepStack (Transformers' Qwen3.5 vision model derives from Qwen3-VL's and has none;
    the released configs list ``deepstack_visual_indexes: []``; Qwen3.5-27B: 27 blocks, width
    1152, 16 heads, 16-pixel patches merged 2 x 2), 4 blocks here, and the hybrid language
    model of ``_qwen3_5_text``."""
    return _qwen3(
        ("Qwen3_5Config", "Qwen3_5ForConditionalGeneration"),
        _qwen3_vision(sizes, 4),
        _qwen3_5_text(sizes),
        seed,
        dtype,
        attn_implementation,
        sizes,
        device,
    )


def tiny_qwen3_5_moe(
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    attn_implementation: str = "sdpa",
    sizes: LlavaSizes = TINY,
    device: str = "cpu",
) -> tuple[Any, Any, Any]:
    """``(Qwen3_5MoeForConditionalGeneration, image processor, tokenizer)``: as
    :func:`tiny_qwen3_5`, with 4 experts of width 32, 2 per token, and a shared expert (real
    Qwen3.5 MoE checkpoints: hundreds of experts, 8 per token, one shared)."""
    return _qwen3(
        ("Qwen3_5MoeConfig", "Qwen3_5MoeForConditionalGeneration"),
        _qwen3_vision(sizes, 4),
        {**_qwen3_5_text(sizes), **_TINY_EXPERTS, "shared_expert_intermediate_size": 32},
        seed,
        dtype,
        attn_implementation,
        sizes,
        device,
    )


def tiny_gemma3(
    seed: int = 0,
    dtype: torch.dtype = torch.float32,
    attn_implementation: str = "sdpa",
    sizes: LlavaSizes = TINY,
    device: str = "cpu",
) -> tuple[Any, Any]:
    """``(Gemma3ForConditionalGeneration, Gemma3Processor)`` at Gemma 3's image geometry.

    A SigLIP 896/14 tower without [CLS] (64 x 64 = 4,096 patches, its last layer's output
    used), average-pooled 4 x 4 into 256 tokens, then an RMS norm and a projection; the
    image's tokens attend to each other both ways in the language model (``token_type_ids``).
    Prompts mark an image as ``GEMMA3_IMAGE``. Real Gemma-3-4B: SigLIP so400m (hidden 1152,
    27 layers, 16 heads) and a 34-layer language model (hidden 2560, 8 heads, 4 key-value
    heads). The tiny one: ``sizes``' widths and depths, head width 16.
    """
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3Processor,
        Gemma3TextConfig,
    )
    from transformers.models.gemma3.image_processing_pil_gemma3 import Gemma3ImageProcessorPil

    tok = tokenizer(GEMMA3_SPECIAL_TOKENS)
    vision = _siglip_config(896, sizes)
    head_dim = sizes.text_hidden // sizes.text_heads
    text = Gemma3TextConfig(
        **_text_sizes(sizes, tok, 4096),
        head_dim=head_dim,
        query_pre_attn_scalar=head_dim,
        sliding_window=512,
    )
    config = Gemma3Config(
        text_config=text,
        vision_config=vision,
        mm_tokens_per_image=256,
        boi_token_index=tok.convert_tokens_to_ids(GEMMA3_SPECIAL_TOKENS["boi_token"]),
        eoi_token_index=tok.convert_tokens_to_ids(GEMMA3_SPECIAL_TOKENS["eoi_token"]),
        image_token_index=tok.convert_tokens_to_ids(GEMMA3_SPECIAL_TOKENS["image_token"]),
    )
    model = _build(Gemma3ForConditionalGeneration, config, seed, dtype, attn_implementation, device)
    _sharpen_attention(model.model.vision_tower)
    with torch.no_grad():
        # Transformers initialises the projection to zeros (checkpoints overwrite it), which
        # would make every image token the same vector.
        projection = model.model.multi_modal_projector.mm_input_projection_weight
        projection.normal_(std=projection.shape[0] ** -0.5)
    image_processor = Gemma3ImageProcessorPil(size={"height": 896, "width": 896})
    return model, Gemma3Processor(image_processor=image_processor, tokenizer=tok)


def save(built: tuple[Any, ...], path: str | Path) -> Path:
    """Write what a builder returned (the model, then its processor, image processor or
    tokenizer) to ``path`` in the standard Hugging Face layout."""
    path = Path(path)
    for part in built:
        part.save_pretrained(path)
    return path


# The fixtures' checkpoints by the directory name the manifest gives them.
BUILDERS: dict[str, Callable[..., tuple[Any, ...]]] = {
    "llava-1.5-tiny": tiny_llava,
    "llava-next-tiny": tiny_llava_next,
    "llava-onevision-tiny": tiny_llava_onevision,
    "qwen2-vl-tiny": tiny_qwen2_vl,
    "qwen2.5-vl-tiny": tiny_qwen2_5_vl,
    "qwen3-vl-tiny": tiny_qwen3_vl,
    "qwen3.5-tiny": tiny_qwen3_5,
    "gemma3-tiny": tiny_gemma3,
}


def build_model(name: str, directory: str | Path) -> None:
    """Write the tiny model ``name`` (weights, config, tokenizer, image processor, and the
    processor where it can be built without torchvision) to ``directory``."""
    save(BUILDERS[name](seed=0), directory)


def load_model(directory: str | Path, attn_implementation: str = "eager") -> tuple[Any, Any]:
    """``(model, processor)`` of a fixture checkpoint; for LLaVA-OneVision and Qwen the
    processor is ``(image processor, tokenizer)`` (see ``inputs.build_inputs``).

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
    if AutoConfig.from_pretrained(directory).model_type in ONE_IMAGE_PER_PROMPT:
        processor = (
            AutoImageProcessor.from_pretrained(directory, backend="pil"),
            AutoTokenizer.from_pretrained(directory),
        )
    else:
        processor = AutoProcessor.from_pretrained(directory, backend="pil")
    return model, processor
