"""LLaVA-NeXT's "anyres" token layout, restated from its definition in integer arithmetic.

A LLaVA-NeXT image reaches the tower as crops: crop 0 is the whole image resized to one
tile, crops ``1 ..`` are the tiles of the best-fitting grid, row-major. The language model
receives crop 0's tokens, then the tiles' tokens as one big grid, row by row, with the rows
or columns that only cover the resize padding removed ("unpad") and a newline token after
each row. :func:`packed_sources` says, for every position of that sequence, which crop token
it holds. The model-level fixtures use it to place eager-attention saliency independently of
any engine's own packing code; engines are checked against it through those fixtures.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

NEWLINE = -1


def best_resolution(height: int, width: int, pinpoints: Sequence[Sequence[int]]) -> tuple[int, int]:
    """The ``(height, width)`` pinpoint that shows the most of the image, then wastes least.

    The image is scaled to fit each candidate, aspect ratio kept; the candidate with the
    largest effective area (capped at the original's) wins, ties to the least padded area,
    then to the first listed.
    """
    best, best_key = None, None
    for cand_h, cand_w in pinpoints:
        # scale = min(cand_w / width, cand_h / height), applied with floor, exactly.
        if cand_w * height <= cand_h * width:
            scaled_w, scaled_h = cand_w, (height * cand_w) // width
        else:
            scaled_w, scaled_h = (width * cand_h) // height, cand_h
        effective = min(scaled_w * scaled_h, width * height)
        key = (effective, -(cand_w * cand_h - effective))
        if best_key is None or key > best_key:
            best, best_key = (int(cand_h), int(cand_w)), key
    assert best is not None, "no pinpoints"
    return best


def packed_sources(
    height: int,
    width: int,
    pinpoints: Sequence[Sequence[int]],
    tile: int = 336,
    patch: int = 14,
) -> np.ndarray:
    """For each packed position of an image of ``height x width`` pixels: the flat index
    ``crop * side**2 + token`` of the crop token it holds, or ``NEWLINE``.

    ``side = tile // patch`` tokens per crop edge (24 for CLIP 336/14).
    """
    side = tile // patch
    per_crop = side * side
    grid_h, grid_w = best_resolution(height, width, pinpoints)
    rows, cols = grid_h // tile, grid_w // tile
    full_h, full_w = rows * side, cols * side
    # Unpad: keep the rows (or columns) the resized image covers, centred.
    if width * full_h > full_w * height:  # wider than the grid: padding above and below
        kept_h = (height * full_w) // width
        top, left = (full_h - kept_h) // 2, 0
        y_range, x_range = range(top, full_h - top), range(full_w)
    else:
        kept_w = (width * full_h) // height
        left = (full_w - kept_w) // 2
        y_range, x_range = range(full_h), range(left, full_w - left)
    out = list(range(per_crop))  # crop 0: the base view
    for y in y_range:
        tile_row, in_y = divmod(y, side)
        for x in x_range:
            tile_col, in_x = divmod(x, side)
            crop = 1 + tile_row * cols + tile_col
            out.append(crop * per_crop + in_y * side + in_x)
        out.append(NEWLINE)
    return np.asarray(out, dtype=np.int64)


def crop_count(height: int, width: int, pinpoints: Sequence[Sequence[int]], tile: int = 336) -> int:
    """Crops the processor makes of the image: the base view and the grid's tiles."""
    grid_h, grid_w = best_resolution(height, width, pinpoints)
    return 1 + (grid_h // tile) * (grid_w // tile)
