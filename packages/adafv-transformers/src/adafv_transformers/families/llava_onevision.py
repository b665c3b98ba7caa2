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

from adafv_transformers.families.base import EncodedImages, refuse_videos
from adafv_transformers.families.llava import Llava, attention_probe, base_model, vision_settings
from adafv_transformers.families.llava_next import crops_per_image, pack_per_crop, packed_images


class LlavaOnevision(Llava):
    """LLaVA-OneVision: SigLIP crops without [CLS], downsampled tiles (ADAFV-R18)."""

    name = "LLaVA-OneVision"
    model_types = ("llava_onevision",)
    consumed_inputs = ("pixel_values", "image_sizes", "batch_num_images")

    def encode(self, model: nn.Module, inputs: Mapping[str, Any]) -> EncodedImages:
        """The packed features, and the received-attention saliency packed the same way."""
        refuse_videos(inputs)
        base = base_model(model)
        layer, strategy = vision_settings(model, inputs)
        if strategy != "full":
            raise ValueError(
                f"vision_feature_select_strategy={strategy!r}: LLaVA-OneVision's SigLIP tower "
                "has no [CLS] token to drop; its checkpoints use 'full'"
            )
        image_sizes = inputs.get("image_sizes")
        if image_sizes is None:
            raise ValueError("LLaVA-OneVision inputs need image_sizes, as its processor gives")
        batch_num_images = inputs.get("batch_num_images")
        tiled = (
            None
            if batch_num_images is None
            else [int(n) == 1 for n in batch_num_images for _ in range(int(n))]
        )
        with attention_probe(base.vision_tower, layer) as probe:
            out = base.get_image_features(
                pixel_values=inputs["pixel_values"],
                image_sizes=image_sizes,
                vision_feature_layer=layer,
                vision_feature_select_strategy=strategy,
                batch_num_images=batch_num_images,
                return_dict=True,
            )
        weights = probe.received_attention()  # ADAFV-R18
        per_crop = list(weights.split(crops_per_image(model, image_sizes, tiled)))
        packed = pack_per_crop(
            model, per_crop, image_sizes, vision_aspect_ratio=model.config.vision_aspect_ratio
        )
        return packed_images(list(out.pooler_output), packed)
