"""What the pruning pipeline needs to know about a model family, and nothing more: the
``Family`` base class every family subclasses, and the images it hands the pipeline."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
from torch import nn


@dataclass
class EncodedImages:
    """Every image of a call, encoded once; or every video, each video one item whose tokens
    are all its frames' in the order the language model receives them (ADAFV-R21).

    Attributes:
        features: per image, ``(P_i, D)``: the vector of each of the image's placeholder
            tokens, in the order the language model receives them (ADAFV-R1, R15).
        saliency: per image, ``(N_i,)`` float32 saliency of its content tokens (ADAFV-R4).
        separators: per image, ``(P_i,)`` bool, True for tokens that stand for no patch
            (LLaVA-NeXT's ``image_newline`` after each row of the tiled grid); ``None`` when the
            family has none. The other ``N_i`` tokens are the image's content, the tokens
            AdaFV selects from (``V``).
        deepstack: per DeepStack level, per image, ``(P_i, D)``: the vectors the model adds
            to each placeholder token's hidden state deeper in the language model (Qwen3-VL);
            cut to the kept tokens as ``features`` are. ``None`` when the family has none.
        frames: per video, its token frames ``F`` (its ``N`` tokens are ``F`` frames of
            ``N / F``, frame by frame); ``None`` for images.
    """

    features: list[torch.Tensor]
    saliency: list[torch.Tensor]
    separators: list[torch.Tensor] | None = None
    deepstack: list[list[torch.Tensor]] | None = None
    frames: list[int] | None = None

    def kept_features(self, kept: list[torch.Tensor] | None) -> list[torch.Tensor]:
        """Per image, the rows ``kept[i]`` of its features (all of them for ``kept=None``)."""
        return self.features if kept is None else _rows(self.features, kept)

    def kept_deepstack(self, kept: list[torch.Tensor] | None) -> list[list[torch.Tensor]]:
        """Per DeepStack level, per image, the rows ``kept[i]``: every level keeps exactly the
        tokens ``features`` keeps, in the same order (ADAFV-R19; ``[]`` without DeepStack)."""
        levels = self.deepstack or []
        return levels if kept is None else [_rows(level, kept) for level in levels]


def _rows(per_image: list[torch.Tensor], kept: list[torch.Tensor]) -> list[torch.Tensor]:
    return [rows[k.to(rows.device)] for rows, k in zip(per_image, kept, strict=True)]


class Family(ABC):
    """One model family: how to encode its images and hand kept features back to it.

    Every family subclasses this, directly or through a base that says what it is
    (``LlavaStyle``, ``AnyRes``), and is listed in ``FAMILIES`` under the
    ``config.model_type`` values of its ``model_types``. The defaults below are what every
    Transformers VLM supported so far shares; a family overrides only what differs, and must
    define :meth:`encode`.
    """

    name: ClassVar[str]
    model_types: ClassVar[tuple[str, ...]]
    # Inputs that the pruned call must not pass again: ``mm_encoder_outputs`` replaces them.
    consumed_inputs: ClassVar[tuple[str, ...]]
    # The video inputs a family that prunes videos consumes; none: it prunes no videos, and a
    # call with ``pixel_values_videos`` is refused.
    video_inputs: ClassVar[tuple[str, ...]] = ()

    def image_token_id(self, model: nn.Module) -> int:
        """The token id of the model's image placeholders: the config's ``image_token_id``."""
        return int(model.config.image_token_id)

    def video_token_id(self, model: nn.Module) -> int:
        """The token id of the model's video placeholders: the config's ``video_token_id``."""
        return int(model.config.video_token_id)

    @abstractmethod
    def encode(self, model: nn.Module, inputs: Mapping[str, Any]) -> EncodedImages:
        """Every image of ``inputs`` encoded once: features in placeholder order and saliency
        of the content tokens, from one pass of the tower."""

    def encode_videos(
        self, model: nn.Module, inputs: Mapping[str, Any], saliency: bool = True
    ) -> EncodedImages:
        """Every video of ``inputs`` encoded once, each one item over all its frames
        (ADAFV-R21); only for a family with ``video_inputs``. Without ``saliency`` (EVS, which
        reads none: ADAFV-R22) the tower runs as the model runs it, with no probe, and the
        saliency is NaN."""
        raise NotImplementedError(f"{self.name} prunes no videos")

    def encoder_outputs(
        self,
        model: nn.Module,
        encoded: EncodedImages,
        kept: list[torch.Tensor] | None = None,
        modality: str = "image",
    ) -> dict[str, Any]:
        """The ``mm_encoder_outputs`` that make the model use the placeholder tokens ``kept``
        (per item, indices into its features; every token for ``None``) of ``encoded``, the
        ``modality`` (``"image"`` or ``"video"``) encoder output: the model's own output type
        (:meth:`output_type`) with the kept rows laid out as its ``get_*_features`` lays them
        (:meth:`feature_layout`), and with DeepStack the kept rows of every level, the same
        rows in the same order (ADAFV-R19). A family overrides the hooks, not this."""
        fields = {"pooler_output": self.feature_layout(encoded.kept_features(kept), modality)}
        if encoded.deepstack is not None:
            fields["deepstack_features"] = encoded.kept_deepstack(kept)
        return {modality: self.output_type()(**fields)}

    def feature_layout(self, features: list[torch.Tensor], modality: str) -> Any:
        """The ``pooler_output`` the model scatters into its placeholders, from the kept
        ``(K_i, D)`` rows of each item: by default the list itself, one tensor per item."""
        return features

    def output_type(self) -> type:
        """The class of the model's ``get_*_features`` output, which ``mm_encoder_outputs``
        must be: by default ``BaseModelOutputWithPooling``."""
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        return BaseModelOutputWithPooling

    def position_ids(self, model: nn.Module, inputs: Mapping[str, Any]) -> torch.Tensor | None:
        """Positions of the unpruned prompt, ``(..., B, L)``, when the model does not number
        tokens one by one (M-RoPE); the pruned prompt keeps the kept tokens' columns. None,
        the default: contiguous positions over the pruned prompt, as the model computes."""
        return None


def base_model(model: nn.Module) -> nn.Module:
    """The module that owns the vision tower (``model.model`` of a generation model)."""
    inner = getattr(model, "model", None)
    return inner if hasattr(inner, "vision_tower") or hasattr(inner, "visual") else model


def refuse_videos(family: Family, inputs: Mapping[str, Any]) -> None:
    """A call carrying video frames to a family that prunes no videos is refused, not
    half-pruned."""
    if inputs.get("pixel_values_videos") is not None and not family.video_inputs:
        from adafv_transformers.families import FAMILIES

        pruning = sorted({f.name for f in FAMILIES.values() if f.video_inputs})
        raise ValueError(
            f"pixel_values_videos: adafv_transformers prunes the videos of {', '.join(pruning)}"
            f", not {family.name}'s; run its videos without AdaFV"
        )
