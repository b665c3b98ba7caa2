"""A Qwen2-VL request's prompt with ``K`` placeholders per image, decided in SGLang's processor.

Qwen2-VL's processor expands each image into its ``N`` placeholder tokens and computes the
whole prompt's M-RoPE positions before the request reaches the scheduler, which allocates the
prompt as it receives it. So the prompt is shortened here: each image keeps ``K`` of its
placeholders (ADAFV-R3), the text keeps its tokens and its 3-D positions, and SGLang's decode
offset (``mrope_position_delta``) follows from the largest position and the new length; none
of that depends on which tokens the encoder step will keep. The image's own columns do:
until the encoder step has chosen, they hold the first ``K`` of the image's positions, and
the image's full positions travel on the item (``IMAGE_POSITIONS_KEY``) for the step that
writes the kept ones in (``adafv_sglang.qwen.positions``).
"""

from __future__ import annotations

from typing import Any

import torch

import adafv
from adafv_sglang.options import from_plain
from adafv_sglang.placeholders import OPTIONS_KEY, QUERY_KEY, fold_query_into_hash
from adafv_sglang.qwen.mrope import kept_columns, pruned_positions

IMAGE_POSITIONS_KEY = "adafv_image_positions"  # (3, N) M-RoPE positions of all N tokens


def prune_prompt(output: Any, options: dict[str, Any] | None, image_token_id: int) -> Any:
    """Shorten a Qwen2-VL ``MultimodalProcessorOutput`` in place: ``K`` placeholders per
    image, positions and offsets to match, the query folded into each image's hash."""
    parsed = from_plain(options)
    images = [item for item in output.mm_items if item.is_image()]
    if parsed is None or len(images) != len(output.mm_items):  # videos keep SGLang's path
        for item in output.mm_items:
            item.model_specific_data[OPTIONS_KEY] = None
        return output
    ids = list(output.input_ids)
    positions = torch.as_tensor(output.mrope_positions).reshape(3, -1)
    spans, provisional = [], []
    for item in images:
        ((start, end),) = item.offsets
        n = end - start + 1
        k = adafv.kept_count(n, budget=parsed.budget, keep_ratio=parsed.keep_ratio)
        spans.append((start, end))
        provisional.append(torch.arange(k))
        query = [int(t) for t in ids[end + 1 :] if t != image_token_id]
        item.model_specific_data[QUERY_KEY] = query
        item.model_specific_data[IMAGE_POSITIONS_KEY] = positions[:, start : end + 1].clone()
        item.model_specific_data[OPTIONS_KEY] = options if k < n else None
        if k < n:
            if item.hash is None:
                item.set_pad_value()  # SGLang's own hash of the pixels
            fold_query_into_hash(item, query, options)
    columns = kept_columns(len(ids), spans, provisional)
    new_positions, delta = pruned_positions(positions, columns)
    removed = 0
    for item, (start, end), kept in zip(images, spans, provisional, strict=True):
        first = start - removed
        item.offsets = [(first, first + kept.numel() - 1)]
        removed += (end - start + 1) - kept.numel()
    output.input_ids = [ids[c] for c in columns.tolist()]
    output.mrope_positions = new_positions
    output.mrope_position_delta = torch.tensor([[delta]])
    if output.padded_input_ids is not None:
        output.padded_input_ids = type(output).build_padded_input_ids(
            output.input_ids, output.mm_items
        )
    return output
