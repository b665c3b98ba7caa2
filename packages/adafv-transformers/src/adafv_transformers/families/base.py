"""What the pruning pipeline needs to know about a model family, and nothing more."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import nn


@dataclass
class EncodedImages:
    """Every image of a call, encoded once.

    Attributes:
        features: per image, ``(P_i, D)``: the vector of each of the image's placeholder
            tokens, in the order the language model receives them (ADAFV-R1, R15).
        saliency: per image, ``(N_i,)`` float32 saliency of its content tokens (ADAFV-R4).
        separators: per image, ``(P_i,)`` bool, True for tokens that stand for no patch
            (LLaVA-NeXT's ``image_newline`` after each row of the tiled grid); ``None`` when the
            family has none. The other ``N_i`` tokens are the image's content, the tokens
            AdaFV selects from (``V``).
    """

    features: list[torch.Tensor]
    saliency: list[torch.Tensor]
    separators: list[torch.Tensor] | None = None

    def content(self, image: int) -> torch.Tensor:
        """Indices of image ``image``'s content tokens among its placeholder tokens."""
        n_tokens = self.features[image].shape[0]
        if self.separators is None:
            return torch.arange(n_tokens, device=self.features[image].device)
        return (~self.separators[image]).nonzero().squeeze(1)


class Family(Protocol):
    """One model family: how to encode its images and hand kept features back to it."""

    name: str
    model_types: tuple[str, ...]
    # Inputs that the pruned call must not pass again: ``mm_encoder_outputs`` replaces them.
    consumed_inputs: tuple[str, ...]

    def image_token_id(self, model: nn.Module) -> int:
        """The token id of the model's image placeholders."""
        ...

    def encode(self, model: nn.Module, inputs: Mapping[str, Any]) -> EncodedImages:
        """Every image of ``inputs`` encoded once: features in placeholder order and saliency
        of the content tokens, from one pass of the tower."""
        ...

    def encoder_outputs(self, model: nn.Module, kept: list[torch.Tensor]) -> dict[str, Any]:
        """The ``mm_encoder_outputs`` that make the model use ``kept`` as its image features."""
        ...

    def position_ids(self, model: nn.Module, inputs: Mapping[str, Any]) -> torch.Tensor | None:
        """Positions of the unpruned prompt, ``(..., B, L)``, when the model does not number
        tokens one by one (M-RoPE); the pruned prompt keeps the kept tokens' columns. None:
        contiguous positions over the pruned prompt, as the model computes by default."""
        ...


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


def refuse_videos(inputs: Mapping[str, Any]) -> None:
    """AdaFV prunes images here; a call carrying video frames is refused, not half-pruned."""
    if inputs.get("pixel_values_videos") is not None:
        raise ValueError(
            "pixel_values_videos: adafv_transformers prunes images; run videos without it"
        )
