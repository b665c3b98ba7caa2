"""What the LLaVA-style families share: a Transformers vision tower (CLIP or SigLIP) whose
one layer's output feeds a projector, and saliency from that layer's attention.

The tower's layers are ``encoder.layers[i].self_attn`` with separate query and key
projections, which :class:`adafv_transformers.saliency.AttentionProbe` records while the
model's own ``get_image_features`` runs. What the probe computes depends on the tower: a
tower with a [CLS] token ranks patches by the [CLS] row (ADAFV-R4); one without (SigLIP)
by the attention each patch receives (ADAFV-R18). A family states which in ``tower_has_cls``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import nn

from adafv_transformers.families.base import Family, base_model
from adafv_transformers.saliency import AttentionProbe


def feature_layer_index(feature_layer: int, num_layers: int) -> int:
    """The encoder layer whose output is ``hidden_states[feature_layer]`` of a HF tower.

    ``hidden_states[0]`` is the embedding output and ``hidden_states[i]`` the output of layer
    ``i - 1``; ``-1`` is the last layer, ``-2`` (LLaVA's default) the one before.
    """
    position = feature_layer if feature_layer >= 0 else num_layers + 1 + feature_layer
    if not 1 <= position <= num_layers:
        raise ValueError(
            f"vision_feature_layer={feature_layer} does not name the output of one of the "
            f"tower's {num_layers} layers, so it has no attention to take saliency from"
        )
    return position - 1


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


def cls_saliency(weights: torch.Tensor, strategy: str) -> torch.Tensor:
    """Saliency of the tokens the projector receives, from the [CLS] row over all keys.

    With ``default`` the [CLS] token is not an image token and its own weight is dropped
    (ADAFV-R4); with ``full`` it is one, and keeps its own weight as its saliency.
    """
    return weights[:, 1:] if strategy == "default" else weights


class LlavaStyle(Family):
    """A family whose images go through a CLIP or SigLIP tower and a projector.

    A subclass states whether its tower has a [CLS] token (``tower_has_cls``), which decides
    the saliency of its crops, and writes ``encode`` around :meth:`probed_features`: the
    model's own ``get_image_features`` inside :func:`attention_probe`.
    """

    # True: CLIP, saliency is the [CLS] row (ADAFV-R4). False: SigLIP, saliency is the
    # attention each patch receives (ADAFV-R18).
    tower_has_cls: ClassVar[bool] = True

    def crop_saliency(self, probe: AttentionProbe, strategy: str) -> torch.Tensor:
        """``(crops, tokens)`` float32 saliency of the tokens the projector receives from each
        crop, from the probed layer; ``strategy`` is the call's
        ``vision_feature_select_strategy`` (``full`` for towers without [CLS])."""
        if self.tower_has_cls:
            return cls_saliency(probe.cls_attention(), strategy)  # ADAFV-R4
        return probe.received_attention()  # ADAFV-R18

    def probed_features(
        self,
        model: nn.Module,
        inputs: Mapping[str, Any],
        layer: int,
        strategy: str,
        **options: Any,
    ) -> tuple[list[torch.Tensor], torch.Tensor]:
        """``(features, saliency)``: the model's own image features (its
        ``get_image_features`` on ``inputs["pixel_values"]`` with ``options``), one tensor
        per image, and :meth:`crop_saliency` from tower layer ``layer`` for ``strategy``."""
        base = base_model(model)
        with attention_probe(base.vision_tower, layer) as probe:
            out = base.get_image_features(
                pixel_values=inputs["pixel_values"], return_dict=True, **options
            )
        return list(out.pooler_output), self.crop_saliency(probe, strategy)
