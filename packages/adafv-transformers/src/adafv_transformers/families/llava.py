"""LLaVA-1.5 (``model_type`` ``llava``): a CLIP tower, one crop, 576 tokens per image."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from adafv_transformers.families.base import EncodedImages, feature_layer_index
from adafv_transformers.saliency import AttentionProbe


def base_model(model: nn.Module) -> nn.Module:
    """The module that owns the vision tower (``model.model`` of a generation model)."""
    inner = getattr(model, "model", None)
    return inner if hasattr(inner, "vision_tower") or hasattr(inner, "visual") else model


def vision_settings(model: nn.Module, inputs: Mapping[str, Any]) -> tuple[int, str]:
    """``(vision_feature_layer, vision_feature_select_strategy)`` of this call: the inputs'
    where given (``0`` included, which names no layer and is refused), else the config's."""
    config = model.config
    layer = inputs.get("vision_feature_layer")
    layer = config.vision_feature_layer if layer is None else layer
    strategy = inputs.get("vision_feature_select_strategy")
    strategy = config.vision_feature_select_strategy if strategy is None else strategy
    if not isinstance(layer, int):
        raise ValueError(
            f"vision_feature_layer={layer!r}: AdaFV takes saliency from one layer, the one whose "
            "output feeds the projector; a list of layers is not supported"
        )
    if strategy not in ("default", "full"):
        raise ValueError(f"vision_feature_select_strategy={strategy!r} is not 'default' or 'full'")
    return layer, strategy


def encoder_layers(tower: nn.Module) -> nn.ModuleList:
    """The tower's transformer layers; newer transformers drop the ``vision_model`` level."""
    for owner in (tower, getattr(tower, "vision_model", None)):
        layers = getattr(getattr(owner, "encoder", None), "layers", None)
        if isinstance(layers, nn.ModuleList):
            return layers
    raise TypeError(f"cannot find the encoder layers of the vision tower {type(tower).__name__}")


def attention_probe(tower: nn.Module, feature_layer: int) -> AttentionProbe:
    """A probe on the attention of the layer whose output feeds the projector (ADAFV-R4)."""
    layers = encoder_layers(tower)
    attention = layers[feature_layer_index(feature_layer, len(layers))].self_attn
    return AttentionProbe(attention, attention.num_heads, attention.scale)


def patch_saliency(weights: torch.Tensor, strategy: str) -> torch.Tensor:
    """Saliency of the tokens the projector receives, from the [CLS] row over all keys.

    With ``default`` the [CLS] token is not an image token and its own weight is dropped
    (ADAFV-R4); with ``full`` it is one, and keeps its own weight as its saliency.
    """
    return weights[:, 1:] if strategy == "default" else weights


class Llava:
    """LLaVA-1.5: one CLIP crop per image, saliency from the [CLS] row (ADAFV-R4)."""

    name = "LLaVA-1.5"
    model_types = ("llava",)
    consumed_inputs = ("pixel_values", "image_sizes")

    def image_token_id(self, model: nn.Module) -> int:
        """The config's ``image_token_id``."""
        return int(model.config.image_token_id)

    def encode(self, model: nn.Module, inputs: Mapping[str, Any]) -> EncodedImages:
        """The model's own image features, with the [CLS] probe on the feature layer."""
        base = base_model(model)
        layer, strategy = vision_settings(model, inputs)
        with attention_probe(base.vision_tower, layer) as probe:
            out = base.get_image_features(
                pixel_values=inputs["pixel_values"],
                vision_feature_layer=layer,
                vision_feature_select_strategy=strategy,
                return_dict=True,
            )
        saliency = patch_saliency(probe.cls_attention(), strategy)
        return EncodedImages(features=list(out.pooler_output), saliency=list(saliency))

    def encoder_outputs(self, model: nn.Module, kept: list[torch.Tensor]) -> dict[str, Any]:
        """The kept features as the model's ``image`` encoder output."""
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        return {"image": BaseModelOutputWithPooling(pooler_output=kept)}

    def position_ids(self, model: nn.Module, inputs: Mapping[str, Any]) -> torch.Tensor | None:
        """None: LLaVA numbers the pruned prompt's tokens one by one."""
        return None
