"""The encoder step of a Gemma 3 model served by SGLang: each image's ``N`` pooled tokens, the
saliency of ADAFV-R18 from the same pass, and the ``K`` AdaFV keeps.

SGLang's tower is its own ``SiglipVisionModel`` (no [CLS] token), with SGLang's
``Gemma3MultiModalProjector`` after it: 4 x 4 average pooling, an RMS norm, a projection.
Saliency is computed as the Transformers integration computes it
(``adafv_transformers.families.gemma3``): the attention each patch receives in the tower's
last layer, mean over heads and queries (ADAFV-R18), then pooled by the projector's own
pooling module into one value per token (``pooled_saliency``). A forward pre-hook records
what the last layer hands its attention module (the normed patches); the queries and keys
are recomputed from those with the module's own fused projection, so the tower keeps its
fast attention, and the weights are formed one head at a time. Under tensor parallelism
each rank holds some heads: their weights are summed across ranks before the mean.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from adafv_sglang.selection import Report, kept_rows
from adafv_transformers.families.gemma3 import pooled_saliency
from adafv_transformers.saliency import AttentionInputs, received_attention


def _received(attention: nn.Module, inputs: AttentionInputs) -> torch.Tensor:
    """``(patches,)``: per patch of one image, the attention it receives, mean over all heads
    (ADAFV-R18)."""
    if not inputs.args:
        raise RuntimeError("the tower's last attention layer did not run")
    hidden = inputs.args[0]  # (1, patches, width): one image per tower call
    qkv, _ = attention.qkv_proj(hidden)
    queries, keys, _ = qkv.split([attention.q_size, attention.kv_size, attention.kv_size], dim=-1)
    length = hidden.shape[1]
    local = attention.num_attention_heads_per_partition
    queries = queries.reshape(length, local, attention.head_size).transpose(0, 1)
    keys = keys.reshape(length, attention.num_attention_kv_heads_per_partition, -1)
    keys = keys.transpose(0, 1)
    scale = attention.softmax_scale or attention.head_size**-0.5
    # One head at a time: a 4,096-patch image's weights take 64 MiB per head in float32,
    # 1 GiB for the 16 heads of Gemma 3's SigLIP at once.
    summed = sum(
        received_attention(queries[h : h + 1], keys[h : h + 1], scale).float() for h in range(local)
    )
    if attention.tp_size > 1:
        from sglang.srt.distributed import tensor_model_parallel_all_reduce

        summed = tensor_model_parallel_all_reduce(summed)
    return summed / (local * attention.tp_size)


def one_image(pixels: Any) -> torch.Tensor:
    """An item's pixels as ``(1, 3, H, W)``, as SGLang's Gemma 3 hands its tower one image.

    Raises:
        ValueError: the item holds more than one image (pan-and-scan crops).
    """
    pixels = torch.as_tensor(pixels)
    if pixels.ndim == 3:
        pixels = pixels[None]
    elif pixels.ndim == 5:
        pixels = pixels.squeeze(0)
    if pixels.ndim != 4 or pixels.shape[0] != 1:
        raise ValueError(
            f"pixel_values of shape {tuple(pixels.shape)}: AdaFV selects within one "
            "(1, 3, H, W) crop per Gemma 3 image"
        )
    return pixels


def image_features(
    tower: nn.Module,
    projector: nn.Module,
    embed_tokens: nn.Module,
    items: list[Any],
    dtype: torch.dtype,
    report: Report | None = None,
) -> torch.Tensor:
    """The rows of every item, concatenated: all ``N`` without AdaFV options, the kept ``K``
    (ascending) with them. ``tower`` and ``projector`` are SGLang's (``vision_tower``,
    ``multi_modal_projector``), run in ``dtype`` as SGLang runs them (the language
    model's). ``report`` is called per pruned item with its ``saliency``, ``t2i_log`` and
    ``kept``."""
    attention = tower.vision_model.encoder.layers[-1].self_attn
    rows = []
    for item in items:
        pixels = one_image(item.feature).to(device=tower.device, dtype=dtype)
        with AttentionInputs(attention) as recorded:
            hidden = tower(pixel_values=pixels)
        features = projector(hidden)[0]  # (N, d)
        saliency = pooled_saliency(projector, _received(attention, recorded)[None])[0]
        rows.append(kept_rows(item, features, saliency, embed_tokens, report))
    return torch.cat(rows)
