"""The encoder step of a Qwen2-VL, Qwen2.5-VL, Qwen3-VL or Qwen3.5 model served by SGLang:
the tower's ``N`` merged tokens per image or video, the saliency of ADAFV-R18 from the same
pass, and the ``K`` AdaFV keeps.

A video is one selection problem over all its token frames (ADAFV-R21). The towers attend
within each token frame (their sequence boundaries are per frame), so the saliency below is
per frame, as R21 asks, with no change. A Qwen3-VL video's region also holds the text between
its frames; its rows are written here in prompt order (``_region_rows``).

SGLang's Qwen towers have no [CLS] token; saliency is the attention each patch receives in
the last block that attends over the whole image (ADAFV-R18, as the Transformers integration
computes it), averaged over heads and over the queries of its image, then over the four
patches the merger fuses into one token. For Qwen2-VL that is the last block, which feeds the
merger. Qwen2.5-VL's tower attends within windows in most blocks and sees the patches window
by window: its saliency comes from its last full-attention block, and is put back in the
merger's output order. A forward pre-hook records what the block hands its attention module
(the normed patches, the image boundaries and the rotary tables); the queries and keys are
recomputed from those with the module's own fused projection and SGLang's rotary function, so
the tower keeps its fast attention. Under tensor parallelism each rank holds some heads: their
weights are summed across ranks before the mean.

Qwen3-VL's tower (SGLang's ``Qwen3VLMoeVisionModel``, also Qwen3-VL MoE's and Qwen3.5's) is
Qwen2-VL's in this respect: full attention in every block, so saliency comes from the last
block, the one feeding the main merger (ADAFV-R18; the DeepStack blocks feed their own
mergers). SGLang hands its DeepStack levels on beside the main features, each row of the
tower's output being ``[main | level 1 | level 2 | ...]``; the language model's embedding step
splits them per row (``separate_deepstack_embeds``). So T2I scores read the main features
only, and cutting the rows to the kept tokens cuts every DeepStack level to exactly those
tokens, in the same order, by construction. Qwen3.5's tower has no levels.
"""

from __future__ import annotations

import importlib
import itertools
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from adafv_sglang.qwen.prompt import REGION_KEY, region_columns
from adafv_sglang.selection import Report, kept_indices, needs_saliency
from adafv_transformers.saliency import AttentionInputs, received_attention


def _received(attention: nn.Module, inputs: AttentionInputs) -> torch.Tensor:
    """``(patches,)``: per patch, the attention it receives within its image, mean over all
    heads (ADAFV-R18)."""
    if not inputs.args:
        raise RuntimeError("the tower's last attention block did not run")
    hidden = inputs.args[0]  # (1, patches, width)
    if "position_embeddings" in inputs.kwargs:  # Qwen2-VL, Qwen2.5-VL
        cos, sin = inputs.kwargs["position_embeddings"]
    else:  # Qwen3-VL, Qwen3.5
        cos, sin = inputs.kwargs["rotary_pos_emb_cos"], inputs.kwargs["rotary_pos_emb_sin"]
    bounds = inputs.kwargs["cu_seqlens"].tolist()
    qkv, _ = attention.qkv_proj(hidden)
    queries, keys, _ = qkv.split([attention.q_size, attention.kv_size, attention.kv_size], dim=-1)
    length = hidden.shape[1]
    local = attention.num_attention_heads_per_partition
    queries = queries.reshape(length, local, attention.head_size)
    keys = keys.reshape(length, attention.num_attention_kv_heads_per_partition, attention.head_size)
    if cos.size(-1) * 2 == attention.head_size:
        cos, sin = torch.cat([cos, cos], dim=-1), torch.cat([sin, sin], dim=-1)
    rotary = importlib.import_module(type(attention).__module__).apply_rotary_pos_emb
    queries, keys = rotary(queries, keys, cos, sin)
    scale = attention.softmax_scale or attention.head_size**-0.5
    summed = torch.cat(
        [
            received_attention(
                queries[a:b].transpose(0, 1), keys[a:b].transpose(0, 1), scale
            ).float()
            * local
            for a, b in itertools.pairwise(bounds)
            if b > a  # Qwen2.5-VL's boundaries start with a repeated 0
        ]
    )
    if attention.tp_size > 1:
        from sglang.srt.distributed import tensor_model_parallel_all_reduce

        summed = tensor_model_parallel_all_reduce(summed)
    return summed / (local * attention.tp_size)


def saliency_block(visual: nn.Module) -> int:
    """The last block that attends over whole images: the last one, or for Qwen2.5-VL the
    last of its full-attention blocks."""
    full = getattr(visual, "fullatt_block_indexes", None)
    if full is None:
        return len(visual.blocks) - 1
    full = [int(i) for i in full if int(i) < len(visual.blocks)]
    if not full:
        raise ValueError(
            f"fullatt_block_indexes={list(visual.fullatt_block_indexes)}: this tower has no "
            "full-attention block to take saliency from (ADAFV-R18)"
        )
    return max(full)


def deepstack_levels(visual: nn.Module) -> int:
    """How many DeepStack levels follow the main features in each row of ``visual``'s output:
    none before Qwen3-VL, and none for Qwen3.5."""
    return len(getattr(visual, "deepstack_visual_indexes", None) or ())


def item_features(
    visual: nn.Module, embed_tokens: nn.Module, items: list[Any], report: Report | None = None
) -> torch.Tensor:
    """The rows of every item (all images or all videos, as SGLang batches an encoder step),
    concatenated: all ``N`` without AdaFV options; with them, the rows of the item's pruned
    region (``prompt.region_columns``): the kept ``K`` (ascending), each with its DeepStack
    levels (Qwen3-VL), and a video's text between frames as its token embeddings, with no
    DeepStack levels (zeros), as the model adds them to visual tokens only. ``report`` is
    called per pruned item with its ``saliency``, ``t2i_log``, ``kept`` (indices among its
    ``N`` tokens) and ``columns`` (of its region)."""
    grid_key = "video_grid_thw" if items[0].is_video() else "image_grid_thw"
    pixels = torch.cat([torch.as_tensor(item.feature) for item in items], dim=0)
    grid = torch.cat([torch.as_tensor(getattr(item, grid_key)).reshape(-1, 3) for item in items])
    attention = visual.blocks[saliency_block(visual)].attn
    probe = needs_saliency(items)  # not for EVS alone (ADAFV-R22)
    with AttentionInputs(attention) if probe else nullcontext() as recorded:
        features = visual(pixels.to(visual.device, visual.dtype), grid_thw=grid.to(visual.device))
    merge = visual.spatial_merge_size**2
    if probe:
        saliency = _received(attention, recorded).view(-1, merge).mean(dim=1)
        if hasattr(visual, "get_window_index"):  # Qwen2.5-VL: from window order to output's
            window_index, _ = visual.get_window_index(grid)
            saliency = saliency[torch.argsort(window_index.to(saliency.device))]
    else:
        saliency = torch.full((len(features),), torch.nan, device=features.device)
    sizes = (grid.prod(-1) // merge).tolist()
    width = features.shape[-1] // (1 + deepstack_levels(visual))  # the main merger's

    def with_columns(item: Any, values: dict[str, torch.Tensor]) -> None:
        if report is not None:
            report(item, {**values, "columns": region_columns(item, values["kept"])})

    rows = []
    for item, item_rows, item_saliency in zip(
        items, features.split(sizes), saliency.split(sizes), strict=True
    ):
        frames = int(torch.as_tensor(getattr(item, grid_key)).reshape(-1)[0])
        kept = kept_indices(
            item, item_rows[:, :width], item_saliency, embed_tokens, with_columns, frames
        )
        if kept is None:
            rows.append(item_rows)
        else:
            rows.append(_region_rows(item, item_rows, kept, embed_tokens, width))
    return torch.cat(rows)


def _region_rows(
    item: Any, features: torch.Tensor, kept: torch.Tensor, embed_tokens: nn.Module, width: int
) -> torch.Tensor:
    """The rows of ``item``'s pruned region, in prompt order: ``features[kept]`` at its kept
    placeholders, and at its text (a video's timestamps and frame delimiters) the tokens'
    embeddings in the first ``width`` columns and zeros for the DeepStack levels."""
    region = torch.as_tensor(item.model_specific_data[REGION_KEY])
    region = region[region_columns(item, kept)].to(features.device)
    placeholder = region == region[0]  # a region starts with a placeholder
    rows = features.new_zeros((len(region), features.shape[1]))
    rows[placeholder] = features[kept.to(features.device)]
    text = ~placeholder
    if text.any():
        rows[text, :width] = embed_tokens(region[text]).to(rows.dtype)
    return rows
