"""The vision tower of an llava-hf checkpoint inside SGLang: Transformers' ``CLIPVisionModel``
(LLaVA-1.5, LLaVA-NeXT) or ``SiglipVisionModel`` (LLaVA-OneVision).

SGLang 0.5.23's ``LlavaForConditionalGeneration`` builds its tower from SGLang's model
registry, which has neither (``sglang/srt/models/siglip.py`` defines a ``SiglipVisionModel``
but enters it in no registry), so it falls back to a Transformers backend made for language
models, and fails (``'Conv2d' object has no attribute 'num_embeddings'``). SGLang's LLaVA
models of the original LLaVA format already run Transformers' CLIP and SigLIP towers; these
are the same towers, with the ``load_weights`` SGLang's loader calls. Transformers' towers
also have the separate query and key projections AdaFV's saliency probe records.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from transformers import CLIPVisionModel, SiglipVisionModel


class _LoadedAsSGLang(nn.Module):
    """A Transformers tower constructed and loaded as SGLang constructs and loads its models."""

    def __init__(self, config: Any, quant_config: Any = None, prefix: str = ""):
        if quant_config is not None:
            raise ValueError(f"quant_config={quant_config!r}: the vision tower runs unquantised")
        super().__init__(config)

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Copy ``(name, tensor)`` pairs in; names may carry the older ``vision_model.`` level."""
        params = dict(self.named_parameters())
        for name, tensor in weights:
            if "position_ids" in name:
                continue
            key = name if name in params else name.removeprefix("vision_model.")
            if key not in params:
                raise KeyError(f"the {type(self).__name__} has no parameter {name!r}")
            with torch.no_grad():
                params[key].copy_(tensor)


class CLIPVisionTower(_LoadedAsSGLang, CLIPVisionModel):
    """``CLIPVisionModel`` as an SGLang model (LLaVA-1.5, LLaVA-NeXT)."""


class SiglipVisionTower(_LoadedAsSGLang, SiglipVisionModel):
    """``SiglipVisionModel`` as an SGLang model (LLaVA-OneVision)."""


# The vision config's class name -> the tower the plugin gives SGLang for it.
TOWERS: dict[str, type[nn.Module]] = {
    "CLIPVisionConfig": CLIPVisionTower,
    "SiglipVisionConfig": SiglipVisionTower,
}
