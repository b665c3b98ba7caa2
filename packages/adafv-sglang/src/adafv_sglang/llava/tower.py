"""The vision tower of an llava-hf checkpoint inside SGLang: Transformers' ``CLIPVisionModel``.

SGLang 0.5.23's ``LlavaForConditionalGeneration`` builds its tower from SGLang's model
registry, which has no ``CLIPVisionModel``, so it falls back to a Transformers backend made
for language models, and fails (``'Conv2d' object has no attribute 'num_embeddings'``).
SGLang's LLaVA models of the original LLaVA format already run Transformers' CLIP tower; this
is the same tower, with the ``load_weights`` SGLang's loader calls.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from transformers import CLIPVisionConfig, CLIPVisionModel


class CLIPVisionTower(CLIPVisionModel):
    """``CLIPVisionModel`` constructed and loaded as SGLang constructs and loads its models."""

    def __init__(self, config: CLIPVisionConfig, quant_config: Any = None, prefix: str = ""):
        if quant_config is not None:
            raise ValueError(f"quant_config={quant_config!r}: the CLIP tower runs unquantised")
        super().__init__(config)

    def load_weights(self, weights: Iterable[tuple[str, torch.Tensor]]) -> None:
        """Copy ``(name, tensor)`` pairs in; names may carry the older ``vision_model.`` level."""
        params = dict(self.named_parameters())
        for name, tensor in weights:
            if "position_ids" in name:
                continue
            key = name if name in params else name.removeprefix("vision_model.")
            if key not in params:
                raise KeyError(f"the CLIP tower has no parameter {name!r}")
            with torch.no_grad():
                params[key].copy_(tensor)
