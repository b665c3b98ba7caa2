"""What the tiling ("anyres") LLaVA families share: a base view and a grid of tiles per image.

Each image reaches the tower as crops: a resized view of the whole image, then the tiles of
its best-fitting grid. The model packs their features into one sequence: the base view's
tokens, then the tiles' tokens row by row across the whole grid, with the padding added by
the resize cut away (``unpad``) and an ``image_newline`` vector after each row.

Saliency is computed per crop over its own patches, so it lines up with the crop's tokens
before packing. Rather than re-deriving the packing, the saliency goes through the model's
own ``pack_image_features`` as a one-channel "feature": what comes out is aligned with the
packed features by construction, on every transformers version that packs this way. The
newline vector is replaced by a marker (NaN), which is how the separators are found.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from adafv_transformers.families.base import EncodedImages, base_model
from adafv_transformers.families.llava_style import LlavaStyle, vision_settings


def crops_per_image(
    model: nn.Module, image_sizes: torch.Tensor, tiled: list[bool] | None = None
) -> list[int]:
    """How many crops (base view + tiles) each image has, as the model computes it.

    ``tiled[i]`` False: image ``i`` is only its base view (LLaVA-OneVision does that to every
    image of a prompt with several).
    """
    from transformers.models.llava_next.modeling_llava_next import image_size_to_num_patches

    tiled = tiled if tiled is not None else [True] * len(image_sizes)
    return [
        image_size_to_num_patches(
            image_size=size,
            grid_pinpoints=model.config.image_grid_pinpoints,
            patch_size=model.config.vision_config.image_size,
        )
        if tile
        else 1
        for size, tile in zip(image_sizes, tiled, strict=True)
    ]


def pack_per_crop(
    model: nn.Module, per_crop: list[torch.Tensor], image_sizes: torch.Tensor, **options: Any
) -> list[torch.Tensor]:
    """Pack per-crop values ``(crops, tokens)`` the way the model packs features.

    ``options`` go to the model's ``pack_image_features`` as they do in its
    ``get_image_features``. Returns, per image, ``(P,)`` float64 values at the packed
    positions, NaN at separators. Whatever the model does to features on the way (unpad,
    LLaVA-OneVision's bilinear downsampling) it does to the values alike, as it is linear.
    """
    channels = [values.double()[..., None] for values in per_crop]
    marker = torch.full((1,), torch.nan, dtype=torch.float64, device=per_crop[0].device)
    packed, _ = base_model(model).pack_image_features(
        channels, image_sizes, image_newline=marker, **options
    )
    return [p[:, 0] for p in packed]


def packed_images(features: list[torch.Tensor], packed: list[torch.Tensor]) -> EncodedImages:
    """The images of a call from their packed features and packed saliency (NaN: separator)."""
    separators = [p.isnan() for p in packed]
    for i, (f, sep) in enumerate(zip(features, separators, strict=True)):
        if f.shape[0] != sep.shape[0]:
            raise RuntimeError(
                f"image {i}: the packed saliency has {sep.shape[0]} positions but the model "
                f"packed {f.shape[0]} features"
            )
    saliency = [p[~sep].float() for p, sep in zip(packed, separators, strict=True)]
    return EncodedImages(features=features, saliency=saliency, separators=separators)


class AnyRes(LlavaStyle):
    """A LLaVA-style family that tiles each image and packs the tiles with row separators.

    :meth:`encode` is the whole pipeline; a subclass states the one
    ``vision_feature_select_strategy`` its crops' square grid needs (and why), and overrides
    the hooks where its model takes more options.
    """

    select_strategy: ClassVar[str]
    # Why no other strategy will do, for the error that refuses one.
    select_strategy_reason: ClassVar[str]

    def encode(self, model: nn.Module, inputs: Mapping[str, Any]) -> EncodedImages:
        """The packed features, and each crop's saliency packed the same way."""
        layer, strategy = vision_settings(model, inputs)
        if strategy != self.select_strategy:
            raise ValueError(
                f"vision_feature_select_strategy={strategy!r}: {self.select_strategy_reason}"
            )
        image_sizes = inputs.get("image_sizes")
        if image_sizes is None:
            raise ValueError(f"{self.name} inputs need image_sizes, as its processor returns them")
        settings = {"vision_feature_layer": layer, "vision_feature_select_strategy": strategy}
        features, saliency = self.probed_features(
            model,
            inputs,
            layer,
            strategy,
            image_sizes=image_sizes,
            **settings,
            **self.feature_options(inputs),
        )
        crops = crops_per_image(model, image_sizes, self.tiled(inputs))
        per_crop = list(saliency.split(crops))
        packed = pack_per_crop(model, per_crop, image_sizes, **self.pack_options(model, strategy))
        return packed_images(features, packed)

    def feature_options(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """Options of this call for the model's ``get_image_features``, besides the image
        sizes and the vision settings; none by default."""
        return {}

    def tiled(self, inputs: Mapping[str, Any]) -> list[bool] | None:
        """Per image, whether it is tiled (see :func:`crops_per_image`); None: all are."""
        return None

    def pack_options(self, model: nn.Module, strategy: str) -> dict[str, Any]:
        """The options the model's ``get_image_features`` hands its ``pack_image_features``."""
        return {"vision_feature_select_strategy": strategy}
