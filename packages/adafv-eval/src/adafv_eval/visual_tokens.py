"""Count the visual tokens each image puts in front of the language model.

The count is taken at the model's own forward, after AdaFV has pruned the inputs, so the
full model and every budget are measured the same way: it is what the language model
actually reads, not what was asked for.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from adafv_transformers.families import family_for

# Inputs that carry images into a prefill call: the processor's, or the kept features.
IMAGE_INPUTS = ("pixel_values", "mm_encoder_outputs")


class VisualTokens:
    """A forward pre-hook on ``model`` that records, per image, its placeholder tokens.

    An image is one run of consecutive image-placeholder ids in a prefill call, which holds
    for every supported family: prompts put text or a start/end marker between two images,
    and an image's separators (LLaVA-NeXT's ``image_newline``) share its placeholder id.
    Decoding steps carry no placeholders and add nothing.

    Register it after ``adafv_transformers.apply``: forward pre-hooks run in registration
    order, so it then sees the pruned call.
    """

    def __init__(self, model: nn.Module):
        self.image_token_id = family_for(model).image_token_id(model)
        self.per_image: list[int] = []
        self._handle = model.register_forward_pre_hook(self._count, with_kwargs=True)

    def _count(self, module: nn.Module, args: tuple, kwargs: dict[str, Any]) -> None:
        if not any(kwargs.get(name) is not None for name in IMAGE_INPUTS):
            return
        input_ids = kwargs.get("input_ids", args[0] if args else None)
        if input_ids is None:
            return
        for row in input_ids == self.image_token_id:
            self.per_image.extend(run_lengths(row))

    def mean(self) -> float | None:
        """Mean placeholder tokens per image so far; None before any image."""
        return sum(self.per_image) / len(self.per_image) if self.per_image else None

    def remove(self) -> None:
        """Stop counting."""
        self._handle.remove()


def run_lengths(mask: torch.Tensor) -> list[int]:
    """Lengths of the runs of True in a 1-D bool tensor, in order."""
    padded = torch.cat([mask.new_zeros(1), mask, mask.new_zeros(1)]).to(torch.int8)
    edges = padded.diff().nonzero().squeeze(1)
    return (edges[1::2] - edges[0::2]).tolist()
