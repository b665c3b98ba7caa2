"""LLaVA-OneVision (``model_type`` ``llava_onevision``): LLaVA-NeXT's tiling on a SigLIP tower.

The packing is LLaVA-NeXT's (base view, unpadded tile grid row by row, a newline after each
row) with two differences: a tile grid of more than about 9 x 729 tokens is bilinearly
downsampled (``vision_aspect_ratio="anyres_max_9"``), and in a prompt with several images
each image is its base view and one newline. SigLIP has no [CLS] token, so saliency is the
attention each patch receives at the feature layer (ADAFV-R18), put through the model's own
packing like LLaVA-NeXT's, which applies the same downsampling weights to it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from adafv_transformers.families.anyres import AnyRes


class LlavaOnevision(AnyRes):
    """LLaVA-OneVision: SigLIP crops without [CLS], downsampled tiles (ADAFV-R18)."""

    name = "LLaVA-OneVision"
    model_types = ("llava_onevision",)
    consumed_inputs = ("pixel_values", "image_sizes", "batch_num_images")
    tower_has_cls = False
    select_strategy = "full"
    select_strategy_reason = (
        "LLaVA-OneVision's SigLIP tower has no [CLS] token to drop; its checkpoints use 'full'"
    )

    def feature_options(self, inputs: Mapping[str, Any]) -> dict[str, Any]:
        """How many images each prompt has: a prompt with several does not tile them."""
        return {"batch_num_images": inputs.get("batch_num_images")}

    def tiled(self, inputs: Mapping[str, Any]) -> list[bool] | None:
        """Only the image of a one-image prompt is tiled."""
        batch_num_images = inputs.get("batch_num_images")
        if batch_num_images is None:
            return None
        return [int(n) == 1 for n in batch_num_images for _ in range(int(n))]

    def pack_options(self, model: nn.Module, strategy: str) -> dict[str, Any]:
        """The config's ``vision_aspect_ratio``, which decides the tiles' downsampling."""
        return {"vision_aspect_ratio": model.config.vision_aspect_ratio}
