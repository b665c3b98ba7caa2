"""LLaVA-NeXT's "anyres" token layout, restated from its definition in integer arithmetic.

A LLaVA-NeXT image reaches the tower as crops: crop 0 is the whole image resized to one
tile, crops ``1 ..`` are the tiles of the best-fitting grid, row-major. The language model
receives crop 0's tokens, then the tiles' tokens as one big grid, row by row, with the rows
or columns that only cover the resize padding removed ("unpad") and a newline token after
each row. :func:`packed_sources` says, for every position of that sequence, which crop token
it holds; :func:`packed_layout` also covers LLaVA-OneVision, which downsamples large grids
bilinearly, so that a position holds a weighted sum of up to four crop tokens. The
model-level fixtures use it to place eager-attention saliency independently of any
engine's own packing code; engines are checked against it through those fixtures.
"""

from __future__ import annotations

import math
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


def _unpadded_grid(
    height: int, width: int, pinpoints: Sequence[Sequence[int]], tile: int, side: int
) -> tuple[int, range, range]:
    """``(cols, rows kept, columns kept)`` of the stitched tile grid, in token units.

    The resize to the grid keeps the aspect ratio and pads the rest, centred; unpad keeps
    the rows (or columns) the image covers, ``floor(h * W / w)`` of them computed exactly.
    """
    grid_h, grid_w = best_resolution(height, width, pinpoints)
    rows, cols = grid_h // tile, grid_w // tile
    full_h, full_w = rows * side, cols * side
    if width * full_h > full_w * height:  # wider than the grid: padding above and below
        top = (full_h - (height * full_w) // width) // 2
        return cols, range(top, full_h - top), range(full_w)
    left = (full_w - (width * full_h) // height) // 2
    return cols, range(full_h), range(left, full_w - left)


def _bilinear(size_in: int, size_out: int) -> list[tuple[int, int, float]]:
    """Per output index: ``(i0, i1, weight of i1)`` of a bilinear resize, half-pixel centres
    (``align_corners=False``), no antialiasing, as the models' ``interpolate`` call does."""
    out = []
    for o in range(size_out):
        src = max((o + 0.5) * size_in / size_out - 0.5, 0.0)
        i0 = int(src)
        out.append((i0, min(i0 + 1, size_in - 1), src - i0))
    return out


def packed_layout(
    height: int,
    width: int,
    pinpoints: Sequence[Sequence[int]],
    tile: int = 336,
    patch: int = 14,
    max_tiles: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Each packed position of a ``height x width`` image as a weighted sum of crop tokens.

    Returns ``(sources, weights)``, both ``(P, 4)``: position ``p`` holds
    ``sum_k weights[p, k] * token[sources[p, k]]``, where a token's flat index is
    ``crop * side**2 + index in crop`` and ``side = tile // patch``; unused slots have weight
    0, a newline has sources ``NEWLINE``. ``max_tiles`` (LLaVA-OneVision's ``anyres_max_9``)
    downsamples a grid of more than ``1.1**2 * max_tiles * side**2`` tokens bilinearly to
    ``floor(h / r) x floor(w / r)``, ``r = sqrt(h * w / (max_tiles * side**2))``.
    """
    side = tile // patch
    per_crop = side * side
    cols, y_kept, x_kept = _unpadded_grid(height, width, pinpoints, tile, side)

    def flat(y: int, x: int) -> int:
        (tile_row, in_y), (tile_col, in_x) = divmod(y, side), divmod(x, side)
        return (1 + tile_row * cols + tile_col) * per_crop + in_y * side + in_x

    rows_out = [(y, y, 0.0) for y in y_kept]
    cols_out = [(x, x, 0.0) for x in x_kept]
    if max_tiles is not None:
        h, w = len(y_kept), len(x_kept)
        ratio = math.sqrt(h * w / (max_tiles * side * side))
        if ratio > 1.1:
            rows_out = [(y_kept[a], y_kept[b], f) for a, b, f in _bilinear(h, int(h // ratio))]
            cols_out = [(x_kept[a], x_kept[b], f) for a, b, f in _bilinear(w, int(w // ratio))]
    sources = [[i, NEWLINE, NEWLINE, NEWLINE] for i in range(per_crop)]  # the base view
    weights = [[1.0, 0.0, 0.0, 0.0] for _ in range(per_crop)]
    for y0, y1, fy in rows_out:
        for x0, x1, fx in cols_out:
            sources.append([flat(y0, x0), flat(y0, x1), flat(y1, x0), flat(y1, x1)])
            weights.append([(1 - fy) * (1 - fx), (1 - fy) * fx, fy * (1 - fx), fy * fx])
        sources.append([NEWLINE] * 4)
        weights.append([0.0] * 4)
    return np.asarray(sources, dtype=np.int64), np.asarray(weights, dtype=np.float64)


def packed_sources(
    height: int,
    width: int,
    pinpoints: Sequence[Sequence[int]],
    tile: int = 336,
    patch: int = 14,
) -> np.ndarray:
    """For each packed position of an image of ``height x width`` pixels (LLaVA-NeXT, no
    downsampling): the flat index ``crop * side**2 + token`` of the crop token it holds, or
    ``NEWLINE``."""
    sources, _ = packed_layout(height, width, pinpoints, tile, patch)
    return sources[:, 0]


def apply_layout(values: np.ndarray, sources: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Per-token ``values`` (flat over crops, any trailing axes) at the packed content
    positions, combined with the layout's weights; newlines are left out."""
    content = sources[:, 0] != NEWLINE
    src, w = sources[content], weights[content]
    picked = values[np.where(src == NEWLINE, 0, src)]  # (P, 4, ...)
    w = w.reshape(w.shape + (1,) * (values.ndim - 1))
    return (picked * w).sum(axis=1)


def crop_count(height: int, width: int, pinpoints: Sequence[Sequence[int]], tile: int = 336) -> int:
    """Crops the processor makes of the image: the base view and the grid's tiles."""
    grid_h, grid_w = best_resolution(height, width, pinpoints)
    return 1 + (grid_h // tile) * (grid_w // tile)
