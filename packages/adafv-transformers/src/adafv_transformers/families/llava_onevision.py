"""LLaVA-OneVision (``model_type`` ``llava_onevision``): LLaVA-NeXT's tiling on a SigLIP tower.

The packing is LLaVA-NeXT's (base view, unpadded tile grid row by row, a newline after each
row) with two differences: a tile grid of more than about 9 x 729 tokens is bilinearly
downsampled (``vision_aspect_ratio="anyres_max_9"``), and in a prompt with several images
each image is its base view and one newline. SigLIP has no [CLS] token, so saliency is the
attention each patch receives at the feature layer (ADAFV-R18), put through the model's own
packing like LLaVA-NeXT's, which applies the same downsampling weights to it.

A video is its frames, each through the tower on its own and its 27 x 27 tokens pooled
bilinearly to 14 x 14 (the model's ``apply_pooling``), then one newline after the last frame.
Each frame's saliency is the attention its patches receive, pooled by the same
``apply_pooling``; the video is one selection over all its frames' tokens (ADAFV-R21), and the
newline is a separator, kept or dropped as ``image_newline`` says.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from adafv_transformers.families.anyres import AnyRes
from adafv_transformers.families.base import EncodedImages, base_model
from adafv_transformers.families.llava_style import attention_probe, vision_settings


class LlavaOnevision(AnyRes):
    """LLaVA-OneVision: SigLIP crops without [CLS], downsampled tiles (ADAFV-R18)."""

    name = "LLaVA-OneVision"
    model_types = ("llava_onevision",)
    consumed_inputs = ("pixel_values", "image_sizes", "batch_num_images")
    video_inputs = ("pixel_values_videos",)
    tower_has_cls = False
    select_strategy = "full"
    select_strategy_reason = (
        "LLaVA-OneVision's SigLIP tower has no [CLS] token to drop; its checkpoints use 'full'"
    )

    def encode_videos(
        self, model: nn.Module, inputs: Mapping[str, Any], saliency: bool = True
    ) -> EncodedImages:
        """Each video's pooled frame tokens and its newline, from the model's own
        ``get_video_features``; each frame's received attention (ADAFV-R18) pooled by the
        model's ``apply_pooling`` (ADAFV-R21)."""
        layer, strategy = vision_settings(model, inputs)
        if strategy != self.select_strategy:
            raise ValueError(
                f"vision_feature_select_strategy={strategy!r}: {self.select_strategy_reason}"
            )
        base = base_model(model)
        pixels = inputs["pixel_values_videos"]
        if pixels.ndim != 5:
            raise ValueError(
                f"pixel_values_videos of shape {tuple(pixels.shape)}: {self.name} takes "
                "(videos, frames, channels, height, width), as its video processor gives"
            )
        videos, frames = pixels.shape[:2]
        with attention_probe(base.vision_tower, layer) if saliency else nullcontext() as probe:
            out = base.get_video_features(
                pixel_values_videos=pixels,
                vision_feature_layer=layer,
                vision_feature_select_strategy=strategy,
                return_dict=True,
            )
        features = list(out.pooler_output)  # per video: its frames' tokens, then the newline
        if saliency:
            per_frame = self.crop_saliency(probe, strategy).double()  # (videos x frames, patches)
            pooled = base.apply_pooling(per_frame[..., None])[..., 0]
            received = list(pooled.reshape(videos, -1).float())
        else:
            received = [torch.full((f.shape[0] - 1,), torch.nan, device=f.device) for f in features]
        separators = []
        for feature in features:
            newline = torch.zeros(feature.shape[0], dtype=torch.bool, device=feature.device)
            newline[-1] = True
            separators.append(newline)
        return EncodedImages(
            features=features,
            saliency=received,
            separators=separators,
            frames=[int(frames)] * int(videos),
        )

    def feature_layout(self, features: list[torch.Tensor], modality: str) -> Any:
        """Images as LLaVA-NeXT's; videos as one ``(1, rows, D)`` tensor of every video's
        kept rows, which the model flattens and scatters in order."""
        if modality == "image":
            return super().feature_layout(features, modality)
        return torch.cat(features)[None]

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
