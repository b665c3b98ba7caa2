"""Gemma 3 (``model_type`` ``gemma3``): one SigLIP crop per image, pooled into 256 tokens.

The tower has no [CLS] token, so saliency is the attention each patch receives at the layer
whose output feeds the projector, the tower's last (ADAFV-R18). The projector average-pools
the 64 x 64 patches 4 x 4 into 16 x 16 tokens, then applies an RMS norm and a projection.
Pooling is linear, so the saliency goes through the projector's own pooling module; the
norm after it is not, and saliency does not go through it. Each token's saliency is the
mean of its 16 patches'.

Positions are contiguous. An image's tokens attend to each other both ways, which the model
reads from ``token_type_ids``; ``prune_inputs`` prunes them with the prompt, so the kept
tokens still form one block per image.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from adafv_transformers.families.base import EncodedImages, base_model
from adafv_transformers.families.llava_style import LlavaStyle


def pooled_saliency(projector: nn.Module, per_patch: torch.Tensor) -> torch.Tensor:
    """``(images, patches)`` saliency pooled as the projector pools the patches' features:
    ``(images, tokens)``, one mean over each token's patches."""
    side = projector.patches_per_image
    if per_patch.shape[-1] != side * side:
        raise ValueError(
            f"saliency over {per_patch.shape[-1]} patches: the projector pools a "
            f"{side} x {side} grid"
        )
    grid = per_patch.reshape(-1, 1, side, side)
    return projector.avg_pool(grid).flatten(1)


class Gemma3(LlavaStyle):
    """Gemma 3: SigLIP without [CLS], 4 x 4 average-pooled tokens (ADAFV-R18)."""

    name = "Gemma 3"
    model_types = ("gemma3",)
    consumed_inputs = ("pixel_values",)
    tower_has_cls = False

    def encode(self, model: nn.Module, inputs: Mapping[str, Any]) -> EncodedImages:
        """The model's own image features, and the received attention at the tower's last
        layer pooled as the projector pools."""
        # Every patch is a token of the projector's input: the ``full`` strategy.
        features, per_patch = self.probed_features(model, inputs, -1, "full")
        saliency = pooled_saliency(base_model(model).multi_modal_projector, per_patch)
        return EncodedImages(features=features, saliency=list(saliency))

    def feature_layout(self, features: list[torch.Tensor], modality: str) -> torch.Tensor:
        """All images' kept rows in one tensor, as Gemma 3 scatters them."""
        return torch.cat(features)
