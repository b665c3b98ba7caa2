"""How an llava-hf LLaVA-NeXT or LLaVA-OneVision model lays one image's crops out for its
language model.

The checkpoint's image processor cuts an image into crops: a resized view of the whole image
(the base), then the tiles of the grid that fits it best among ``image_grid_pinpoints``.
The model packs the crops' tokens into one sequence: the base's ``side * side`` tokens, then
the tiles' tokens row by row across the whole grid, with the rows and columns that only hold
the resize's padding cut away, and the ``image_newline`` vector after each row.
LLaVA-OneVision (``vision_aspect_ratio="anyres_max_9"``) resizes a grid of more than about
9 crops' tokens bilinearly before the newlines go in, and packs each image of a prompt with
several as its base view and one newline (:func:`crop_count` with ``tiled=False``).

This is the packing of Transformers' ``LlavaNextModel.pack_image_features`` and
``LlavaOnevisionModel.pack_image_features``, written for one image with Transformers' own
grid and unpadding functions, so that a model served by SGLang packs exactly as the
checkpoint's Transformers model does (the conformance suite holds the two to the same
fixtures). Anything per crop packs the same way: the features, and the saliency, whose
separators come out as the ``newline`` value given; the resize is linear, so a token's
saliency is its patches' saliencies combined with the weights that combine their features
(ADAFV-R18).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


def pack(
    per_crop: torch.Tensor, image_size: tuple[int, int], config: Any, newline: torch.Tensor
) -> torch.Tensor:
    """One image's ``(crops, side * side, C)`` values packed into ``(P, C)``.

    Args:
        per_crop: per crop, its tokens' values (``C`` channels), base first.
        image_size: the image's ``(height, width)`` before preprocessing.
        config: the checkpoint's ``LlavaNextConfig`` or ``LlavaOnevisionConfig``.
        newline: ``(C,)``, the value at each separator.

    Raises:
        ValueError: ``per_crop`` does not hold the crops the config gives an image of this size.
    """
    from transformers.models.llava_next.modeling_llava_next import (
        get_anyres_image_grid_shape,
        unpad_image,
    )

    side = config.vision_config.image_size // config.vision_config.patch_size
    base, tiles = per_crop[0], per_crop[1:]
    if tiles.shape[0] == 0:  # a base view alone, as Transformers packs it
        return torch.cat([base, newline[None].to(base)])
    rows, cols = get_anyres_image_grid_shape(
        list(image_size), config.image_grid_pinpoints, config.vision_config.image_size
    )
    if tiles.shape[0] != rows * cols or per_crop.shape[1] != side * side:
        raise ValueError(
            f"image_sizes={tuple(image_size)}: the checkpoint tiles such an image into "
            f"1 + {rows} x {cols} crops of {side * side} tokens, but it has "
            f"{per_crop.shape[0]} crops of {per_crop.shape[1]}"
        )
    grid = tiles.reshape(rows, cols, side, side, -1).permute(4, 0, 2, 1, 3)
    grid = unpad_image(grid.flatten(1, 2).flatten(2, 3), list(image_size))  # (C, H, W)
    grid = downsample(grid, side, max_tiles(config))
    ends = newline[:, None, None].to(grid).expand(*grid.shape[:-1], 1)
    grid = torch.cat([grid, ends], dim=-1)
    return torch.cat([base, grid.flatten(1, 2).transpose(0, 1)])


def separators(image_size: tuple[int, int], crops: int, config: Any) -> torch.Tensor:
    """``(P,)`` bool: which of the packed positions of an image of ``image_size`` cut into
    ``crops`` crops are ``image_newline`` separators (the others are its content tokens)."""
    side = config.vision_config.image_size // config.vision_config.patch_size
    marker = torch.full((1,), torch.nan, dtype=torch.float64)
    zeros = torch.zeros(crops, side * side, 1, dtype=torch.float64)
    packed = pack(zeros, image_size, config, marker)
    return packed[:, 0].isnan()


def max_tiles(config: Any) -> int | None:
    """How many crops' tokens LLaVA-OneVision lets a tile grid keep (``anyres_max_<n>``),
    or None for a checkpoint that never downsamples (LLaVA-NeXT has no
    ``vision_aspect_ratio``).

    Raises:
        ValueError: a ``vision_aspect_ratio`` that is not ``anyres_max_<n>``.
    """
    aspect = getattr(config, "vision_aspect_ratio", None)
    if aspect is None:
        return None
    limit = str(aspect).removeprefix("anyres_max_")
    if not limit.isdigit() or int(limit) < 1:
        raise ValueError(
            f"vision_aspect_ratio={aspect!r}: LLaVA-OneVision's is 'anyres_max_<n>', n >= 1"
        )
    return int(limit)


def downsample(grid: torch.Tensor, side: int, limit: int | None) -> torch.Tensor:
    """The unpadded ``(C, H, W)`` tile grid, resized as LLaVA-OneVision resizes it when it
    holds more than ``1.1**2 * limit`` crops' tokens: bilinearly, to
    ``floor(H / r) x floor(W / r)`` with ``r = sqrt(H * W / (limit * side**2))``. Unchanged for
    ``limit`` None."""
    if limit is None:
        return grid
    _, height, width = grid.shape
    ratio = math.sqrt(height * width / (limit * side**2))
    if ratio <= 1.1:
        return grid
    size = [int(height // ratio), int(width // ratio)]
    return nn.functional.interpolate(grid[None], size, mode="bilinear")[0]


def crop_count(image_size: tuple[int, int], config: Any, tiled: bool = True) -> int:
    """How many crops (base view and tiles) the checkpoint cuts an image of ``image_size``
    (height, width) into; 1 (the base view) for an image the model does not tile
    (LLaVA-OneVision's images of a prompt with several)."""
    from transformers.models.llava_next.modeling_llava_next import image_size_to_num_patches

    if not tiled:
        return 1
    return image_size_to_num_patches(
        list(image_size), config.image_grid_pinpoints, config.vision_config.image_size
    )
