"""Qwen3-VL (dense and MoE) and Qwen3.5: Qwen2-VL's layout with 16-pixel patches, DeepStack.

The tower is Qwen2-VL's in shape: every image one sequence of patches (16 pixels here, not
14), each 2 x 2 group the merger fuses four consecutive patches, full attention in every block
(no windows, so no reordering), images packed with ``cu_seqlens``. Saliency (ADAFV-R18) is
therefore taken as for Qwen2-VL: the attention each patch receives in the last block, the one
whose output feeds the merger, averaged over the four patches of each token. The DeepStack
blocks are not used for it: ADAFV-R18 takes the layer that feeds the projector, and the main
merger is the projector whose output the token is (``V``); the DeepStack levels are
additions to the same tokens, kept or dropped with them.

DeepStack: the outputs of a few intermediate blocks (8, 16 and 24 of Qwen3-VL-8B's 27) go
through their own mergers and are added to the hidden states of the image tokens after the
first language-model layers. A kept token keeps all of its levels, a dropped one loses all
(ADAFV-R19): every level is cut to exactly the kept tokens, in the same order, and handed to
the model in ``mm_encoder_outputs`` beside the main features, so the model's visual position
mask (its image placeholders in the pruned prompt) and its DeepStack rows agree by
construction.

Positions are Qwen2-VL's rule (ADAFV-R20) with the model's own ``get_rope_index``: the kept
tokens keep their time, row and column coordinates, which the language model's interleaved
M-RoPE rotates as it would unpruned, and the text after an image continues where it would
have.

Qwen3.5's vision model derives from Qwen3-VL's without DeepStack; its language model (Gated
DeltaNet layers and full attention) reads the same M-RoPE positions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from torch import nn

from adafv_transformers.families.base import EncodedImages
from adafv_transformers.families.qwen2_vl import Qwen2VL


class Qwen3VL(Qwen2VL):
    """Qwen3-VL: Qwen2-VL's saliency and positions, every DeepStack level cut alike."""

    name = "Qwen3-VL"
    model_types = ("qwen3_vl", "qwen3_vl_moe")
    # Whether the tower hands DeepStack levels to the language model.
    has_deepstack: ClassVar[bool] = True

    def encode(self, model: nn.Module, inputs: Mapping[str, Any]) -> EncodedImages:
        """The merged features and their DeepStack levels, and each merged token's mean
        received attention at the last block (ADAFV-R18)."""
        return self._encoded(model, inputs, "image")

    def encode_videos(
        self, model: nn.Module, inputs: Mapping[str, Any], saliency: bool = True
    ) -> EncodedImages:
        """As :meth:`encode`, each video one item over all its token frames (ADAFV-R21)."""
        return self._encoded(model, inputs, "video", saliency)

    def _encoded(
        self, model: nn.Module, inputs: Mapping[str, Any], modality: str, saliency: bool = True
    ) -> EncodedImages:
        out, saliency = self.probed_features(model, inputs, modality, saliency)
        deepstack = None
        if self.has_deepstack:
            levels = getattr(out, "deepstack_features", None)
            if levels is None:
                raise TypeError(
                    f"{type(model).__name__}.get_{modality}_features returned no "
                    "deepstack_features; "
                    f"{self.name} needs them to keep each DeepStack level with its token"
                )
            deepstack = [list(level) for level in levels]
        frames = inputs["video_grid_thw"][:, 0].tolist() if modality == "video" else None
        return EncodedImages(
            features=list(out.pooler_output),
            saliency=saliency,
            deepstack=deepstack,
            frames=frames,
        )

    def output_type(self) -> type:
        """Qwen3-VL's output, which carries the kept rows of every DeepStack level beside the
        main features; Qwen3.5's has no levels."""
        if not self.has_deepstack:
            return super().output_type()
        from transformers.models.qwen3_vl.modeling_qwen3_vl import (
            BaseModelOutputWithDeepstackFeatures,
        )

        return BaseModelOutputWithDeepstackFeatures


class Qwen35(Qwen3VL):
    """Qwen3.5: Qwen3-VL's tower without DeepStack, a hybrid language model."""

    name = "Qwen3.5"
    model_types = ("qwen3_5", "qwen3_5_moe")
    has_deepstack = False
