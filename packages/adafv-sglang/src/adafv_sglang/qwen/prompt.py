"""A Qwen-VL request's prompt with ``K`` placeholders per image or video, decided in SGLang's
processor.

Qwen2-VL's processor expands each image and video into its ``N`` placeholder tokens and
computes the whole prompt's M-RoPE positions before the request reaches the scheduler, which
allocates the prompt as it receives it. So the prompt is shortened here: each item keeps
``K`` of its placeholders (ADAFV-R3; a video with the video budget, ADAFV-R21), the text keeps
its tokens and its 3-D positions, and SGLang's decode offset (``mrope_position_delta``)
follows from the largest position and the new length; none of that depends on which tokens
the encoder step will keep.

An item's *region* runs from its first placeholder to its last. An image's region is its
placeholders; a Qwen3-VL video's also holds the text between its frames (each frame's
timestamp, ``<|vision_end|>`` and ``<|vision_start|>``), which is never pruned (ADAFV-R21).
How many of a region's placeholders fall in each frame depends on the selection, so a pruned
region becomes one span of ``K`` + its text tokens, whose rows the encoder step writes in
prompt order: the kept tokens' features and the text's embeddings (``region_columns``). Until
the encoder step has chosen, the region's columns hold provisional positions; the region's
full positions travel on the item (``REGION_POSITIONS_KEY``) for the step that writes the
chosen ones in (``adafv_sglang.qwen.positions``).
"""

from __future__ import annotations

from typing import Any

import torch

import adafv
from adafv_sglang.options import from_plain
from adafv_sglang.placeholders import OPTIONS_KEY, QUERY_KEY, fold_query_into_hash
from adafv_sglang.qwen.mrope import kept_columns, pruned_positions
from adafv_transformers.options import Options

REGION_KEY = "adafv_region"  # the token ids of the item's region, unpruned
REGION_POSITIONS_KEY = "adafv_region_positions"  # (3, R) M-RoPE positions of the region


def item_options(item: Any, options: Options) -> Options:
    """The options ``item`` is selected with: the video budget for a video (ADAFV-R21)."""
    return options.for_videos() if item.is_video() else options


def region_columns(item: Any, kept: torch.Tensor) -> torch.Tensor:
    """``(K + text,)`` ascending: the columns of ``item``'s region that its pruned region
    holds when the placeholders ``kept`` (indices among the region's placeholders, ascending)
    are kept, with every text column."""
    region = torch.as_tensor(item.model_specific_data[REGION_KEY])
    placeholder = region == int(region[0])  # a region starts with a placeholder
    keep = ~placeholder
    keep[placeholder.nonzero().squeeze(1)[kept.to(torch.long).cpu()]] = True
    return keep.nonzero().squeeze(1)


def prune_prompt(
    output: Any,
    options: dict[str, Any] | None,
    token_ids: dict[str, int],
    openers: tuple[tuple[int, ...], ...] = (),
) -> Any:
    """Shorten a Qwen-VL ``MultimodalProcessorOutput`` in place: ``K`` placeholders per
    image and video, positions and offsets to match, the query folded into each item's hash.

    ``token_ids`` maps ``"image"`` and ``"video"`` to their placeholder token ids;
    ``openers`` are the checkpoint's assistant openers, which end an item's turn (ADAFV-R23).

    Raises:
        ValueError: an item holds several videos (SGLang bundles a prompt's Qwen2-VL videos
            into one item when they have more than one token frame); AdaFV selects per video.
    """
    parsed = from_plain(options)
    if parsed is None:
        for item in output.mm_items:
            item.model_specific_data[OPTIONS_KEY] = None
        return output
    ids = list(output.input_ids)
    positions = torch.as_tensor(output.mrope_positions).reshape(3, -1)
    placeholders = set(token_ids.values())
    items = sorted(output.mm_items, key=lambda item: item.offsets[0][0])
    regions, provisional = [], []
    for item in items:
        start, end = item.offsets[0][0], item.offsets[-1][1]
        if not (item.is_image() or item.is_video()):
            item.model_specific_data[OPTIONS_KEY] = None
            regions.append((start, end))
            provisional.append(torch.arange(end - start + 1))
            continue
        if (
            item.is_video()
            and (videos := len(torch.as_tensor(item.video_grid_thw).reshape(-1, 3))) > 1
        ):
            raise ValueError(
                f"one item holds {videos} videos (SGLang bundles the videos of a prompt when "
                "their token frames are not split into items); send one video per request "
                "with AdaFV on"
            )
        region = ids[start : end + 1]
        placeholder = token_ids["video" if item.is_video() else "image"]
        n = sum(e - s + 1 for s, e in item.offsets)
        if region.count(placeholder) != n:
            raise ValueError(f"the item's offsets {item.offsets} hold other tokens than its own")
        chosen = item_options(item, parsed)
        k = adafv.kept_count(n, budget=chosen.budget, keep_ratio=chosen.keep_ratio)
        query = adafv.query_ids(ids, end + 1, openers, chosen.query, placeholders)
        item.model_specific_data[QUERY_KEY] = query
        item.model_specific_data[REGION_KEY] = region
        item.model_specific_data[REGION_POSITIONS_KEY] = positions[:, start : end + 1].clone()
        item.model_specific_data[OPTIONS_KEY] = options if k < n else None
        if k < n:
            if item.hash is None:
                item.set_pad_value()  # SGLang's own hash of the pixels
            fold_query_into_hash(item, query, options)
        regions.append((start, end))
        provisional.append(region_columns(item, torch.arange(k)))
    columns = kept_columns(len(ids), regions, provisional)
    new_positions, delta = pruned_positions(positions, columns)
    removed = 0
    for item, (start, end), kept in zip(items, regions, provisional, strict=True):
        if item.model_specific_data[OPTIONS_KEY] is None:  # all its tokens, spans as they were
            item.offsets = [(s - removed, e - removed) for s, e in item.offsets]
        else:
            item.offsets = [(start - removed, start - removed + kept.numel() - 1)]
        removed += (end - start + 1) - kept.numel()
    output.input_ids = [ids[c] for c in columns.tolist()]
    output.mrope_positions = new_positions
    output.mrope_position_delta = torch.tensor([[delta]])
    if output.padded_input_ids is not None:
        output.padded_input_ids = type(output).build_padded_input_ids(
            output.input_ids, output.mm_items
        )
    return output
