"""How an llava-hf LLaVA-NeXT model lays one image's crops out for its language model.

The checkpoint's image processor cuts an image into crops: a resized view of the whole image
(the base), then the tiles of the grid that fits it best among ``image_grid_pinpoints``.
The model packs the crops' tokens into one sequence: the base's ``side * side`` tokens, then
the tiles' tokens row by row across the whole grid, with the rows and columns that only hold
the resize's padding cut away, and the ``image_newline`` vector after each row.

This is the packing of Transformers' ``LlavaNextModel.pack_image_features``, written for one
image with Transformers' own grid and unpadding functions, so that a model served by SGLang
packs exactly as the checkpoint's Transformers model does (the conformance suite holds the
two to the same fixtures). Anything per crop packs the same way: the features, and the
saliency, whose separators come out as the ``newline`` value given.
"""

from __future__ import annotations

from typing import Any

import torch


def pack(
    per_crop: torch.Tensor, image_size: tuple[int, int], config: Any, newline: torch.Tensor
) -> torch.Tensor:
    """One image's ``(crops, side * side, C)`` values packed into ``(P, C)``.

    Args:
        per_crop: per crop, its tokens' values (``C`` channels), base first.
        image_size: the image's ``(height, width)`` before preprocessing.
        config: the checkpoint's ``LlavaNextConfig``.
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


def crop_count(image_size: tuple[int, int], config: Any) -> int:
    """How many crops (base view and tiles) the checkpoint cuts an image of ``image_size``
    (height, width) into."""
    from transformers.models.llava_next.modeling_llava_next import image_size_to_num_patches

    return image_size_to_num_patches(
        list(image_size), config.image_grid_pinpoints, config.vision_config.image_size
    )
