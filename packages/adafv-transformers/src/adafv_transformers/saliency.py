"""Saliency from the vision tower without ``output_attentions`` (ADAFV-R4).

Under SDPA or FlashAttention the attention weights are never materialised, and
``output_attentions=True`` returns nothing but a warning. The probe below captures the
outputs of one layer's query and key projections while the tower runs as usual, and
recomputes only the [CLS] query row of that layer's attention, in float32. The cost is one
``L x d`` product per image, against ``L x L x d`` for the layer itself.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


class ClsAttentionProbe:
    """Records the [CLS] row of one attention layer's weights during a forward pass.

    Use as a context manager around the vision tower's forward; ``weights()`` then returns
    ``(images, L)``: the softmax over all ``L`` keys of the [CLS] query, averaged over heads.

    Args:
        attention: the layer's attention module; it must have ``q_proj`` and ``k_proj``
            linear layers whose outputs are ``(images, L, heads * head_dim)``, as CLIP's have.
        num_heads: the number of attention heads.
        scale: the factor applied to ``q . k`` before the softmax (``head_dim ** -0.5``).
        cls_index: the position of [CLS] in the sequence.
    """

    def __init__(self, attention: nn.Module, num_heads: int, scale: float, cls_index: int = 0):
        for name in ("q_proj", "k_proj"):
            if not isinstance(getattr(attention, name, None), nn.Module):
                raise TypeError(
                    f"attention module {type(attention).__name__} has no {name}; the saliency "
                    "probe needs separate query and key projections"
                )
        self._attention = attention
        self._num_heads = num_heads
        self._scale = scale
        self._cls_index = cls_index
        self._query: torch.Tensor | None = None
        self._keys: torch.Tensor | None = None
        self._handles: list[Any] = []

    def __enter__(self) -> ClsAttentionProbe:
        self._query = self._keys = None
        self._handles = [
            self._attention.q_proj.register_forward_hook(self._on_query),
            self._attention.k_proj.register_forward_hook(self._on_keys),
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _on_query(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        self._query = output[:, self._cls_index].detach()

    def _on_keys(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        self._keys = output.detach()

    def weights(self) -> torch.Tensor:
        """``(images, L)`` float32 attention of the [CLS] query, averaged over heads."""
        if self._query is None or self._keys is None:
            raise RuntimeError("the probed attention layer did not run inside the probe")
        images, length, width = self._keys.shape
        head_dim = width // self._num_heads
        query = self._query.float().view(images, self._num_heads, head_dim)
        keys = self._keys.float().view(images, length, self._num_heads, head_dim)
        logits = torch.einsum("bhd,blhd->bhl", query, keys) * self._scale
        return logits.softmax(dim=-1).mean(dim=1)
