"""LLaVA-1.5 (``model_type`` ``llava``): a CLIP tower, one crop, 576 tokens per image."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from torch import nn

from adafv_transformers.families.base import EncodedImages
from adafv_transformers.families.llava_style import LlavaStyle, vision_settings


class Llava(LlavaStyle):
    """LLaVA-1.5: one CLIP crop per image, saliency from the [CLS] row (ADAFV-R4)."""

    name = "LLaVA-1.5"
    model_types = ("llava",)
    consumed_inputs = ("pixel_values", "image_sizes")

    def encode(self, model: nn.Module, inputs: Mapping[str, Any]) -> EncodedImages:
        """The model's own image features, with the [CLS] probe on the feature layer."""
        layer, strategy = vision_settings(model, inputs)
        settings = {"vision_feature_layer": layer, "vision_feature_select_strategy": strategy}
        features, saliency = self.probed_features(model, inputs, layer, strategy, **settings)
        return EncodedImages(features=features, saliency=list(saliency))
