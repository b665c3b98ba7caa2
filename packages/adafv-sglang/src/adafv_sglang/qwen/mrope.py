"""M-RoPE positions of a pruned Qwen2-VL prompt (ADAFV-R15's kept order, with 3-D places).

Qwen2-VL places every token with three coordinates (time, row, column); an image's tokens
take its grid's, and the text after an image continues from the largest. Kept image tokens
keep their own coordinates, and the text keeps its coordinates too, so the pruned prompt's
positions are the unpruned prompt's, at the columns it still holds. The decode offset that
SGLang keeps per request (``mrope_position_delta``: the next position minus the prompt
length) then follows from the largest position and the pruned length.
"""

from __future__ import annotations

import torch


def kept_columns(
    length: int, spans: list[tuple[int, int]], kept: list[torch.Tensor]
) -> torch.Tensor:
    """``(L',)`` the columns of a ``length``-token prompt its pruned form holds: every column
    outside the image spans (inclusive ``(start, end)``), and ``start + kept`` inside each."""
    if len(spans) != len(kept):
        raise ValueError(f"{len(spans)} image spans but {len(kept)} kept index lists")
    keep = torch.ones(length, dtype=torch.bool)
    for (start, end), rows in zip(spans, kept, strict=True):
        if rows.numel() and (int(rows.min()) < 0 or int(rows.max()) > end - start):
            raise ValueError(f"kept indices {rows.tolist()} fall outside the span ({start}, {end})")
        keep[start : end + 1] = False
        keep[start + rows.to(torch.long)] = True
    return keep.nonzero().squeeze(1)


def pruned_positions(positions: torch.Tensor, columns: torch.Tensor) -> tuple[torch.Tensor, int]:
    """``(positions[:, columns], delta)`` for a ``(3, L)`` position tensor, ``delta`` being
    SGLang's ``mrope_position_delta`` of the pruned prompt."""
    if positions.ndim != 2 or positions.shape[0] != 3:
        raise ValueError(f"positions of shape {tuple(positions.shape)}, not (3, L)")
    pruned = positions[:, columns]
    return pruned, int(positions.max()) + 1 - int(columns.numel())
