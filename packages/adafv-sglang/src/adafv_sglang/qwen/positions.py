"""The kept tokens' M-RoPE positions, written in once the encoder step has chosen them.

SGLang slices each request's positions for a prefill chunk (``forward_batch.mrope_positions``,
the tensor the language model receives) before the model runs, and an item's rows are
chosen inside the model's embedding step. So the encoder step records, per item hash, which
columns of its pruned region it kept (the kept tokens, and a video's text between frames:
``prompt.region_columns``), and right after the embedding step, before the language model,
``place`` writes those columns' positions over the provisional ones of the chunk and of the
request (for its later chunks). The record is keyed like SGLang's embedding cache (the hash
holds the pixels, the query and the options), so a chunk whose rows come from that cache
finds its columns too; should the record have been evicted, the item is encoded again.

The record holds columns, not positions: one hash can come with different positions (the
same image and question after another image, or after a longer system prompt, starts at
another position), and the positions are each request's own (``REGION_POSITIONS_KEY``).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch

from adafv_sglang.options import from_plain
from adafv_sglang.placeholders import OPTIONS_KEY
from adafv_sglang.qwen.prompt import REGION_POSITIONS_KEY

CAPACITY = 65536  # items; an entry is K + text integers


class KeptPositions:
    """Item hash -> the ``(K + text,)`` columns its pruned region keeps of its region, least
    recently used out."""

    def __init__(self, capacity: int = CAPACITY):
        self.capacity = capacity
        self._entries: OrderedDict[int, torch.Tensor] = OrderedDict()

    def record(self, item: Any, columns: torch.Tensor) -> None:
        """Keep the columns ``columns`` of ``item``'s region (its kept placeholders and its
        text: ``prompt.region_columns``) under its hash."""
        self._entries[int(item.hash)] = columns.to("cpu", torch.long, copy=True)
        self._entries.move_to_end(int(item.hash))
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, item: Any) -> torch.Tensor | None:
        """The positions of ``item``'s pruned region in its own prompt, from the columns
        recorded for its hash; None when there is no record."""
        found = self._entries.get(int(item.hash))
        if found is None:
            return None
        self._entries.move_to_end(int(item.hash))
        return torch.as_tensor(item.model_specific_data[REGION_POSITIONS_KEY])[:, found]


KEPT = KeptPositions()


def place(
    mrope_positions: torch.Tensor,
    requests: list[Any],
    prefix_lens: list[int],
    extend_lens: list[int],
    encode: Callable[[list[Any]], Any],
    kept: KeptPositions = KEPT,
) -> None:
    """Write the kept tokens' positions into this prefill's ``(3, tokens)`` positions (the
    requests' chunks one after another) and into each request's own ``mrope_positions``."""
    offset = 0
    for mm, prefix, length in zip(requests, prefix_lens, extend_lens, strict=True):
        for item in mm.mm_items if mm is not None else ():
            if from_plain(item.model_specific_data.get(OPTIONS_KEY)) is None:
                continue
            ((start, end),) = item.offsets
            first, last = max(start, prefix), min(end + 1, prefix + length)
            if first >= last:
                continue
            positions = kept.get(item)
            if positions is None:  # rows came from the embedding cache, the record is gone
                encode([item])
                positions = kept.get(item)
            positions = positions.to(mrope_positions.device, mrope_positions.dtype)
            mrope_positions[:, offset + first - prefix : offset + last - prefix] = positions[
                :, first - start : last - start
            ]
            mm.mrope_positions[:, start : end + 1] = positions.to(
                mm.mrope_positions.device, mm.mrope_positions.dtype
            )
        offset += length
