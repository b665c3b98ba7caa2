"""Saliency from the vision tower without ``output_attentions`` (ADAFV-R4, ADAFV-R18).

Under SDPA or FlashAttention the attention weights are never materialised, and
``output_attentions=True`` returns nothing but a warning. The probe below captures the
outputs of one layer's query and key projections while the tower runs as usual, and
recomputes from them, in float32, only what saliency needs:

- ``cls_attention``: the [CLS] query's row (ADAFV-R4), one ``L x d`` product per image;
- ``received_attention``: for towers without [CLS], the attention each token receives,
  averaged over heads and queries (ADAFV-R18); the full ``L x L`` weights, one image at a
  time, as the layer itself computes them.

The hooks sit on modules every caller of the model shares, so they record only the calls of
the thread that entered the probe: two threads running one model at once each read their own
image's attention, never the other's.
"""

from __future__ import annotations

import threading
from typing import Any

import torch
from torch import nn


class AttentionProbe:
    """Records one attention layer's queries and keys during a forward pass.

    Use as a context manager around the vision tower's forward, then call
    :meth:`cls_attention` or :meth:`received_attention`.

    Args:
        attention: the layer's attention module; it must have ``q_proj`` and ``k_proj``
            linear layers whose outputs are ``(images, L, heads * head_dim)``, as CLIP's and
            SigLIP's have.
        num_heads: the number of attention heads.
        scale: the factor applied to ``q . k`` before the softmax (``head_dim ** -0.5``).
    """

    def __init__(self, attention: nn.Module, num_heads: int, scale: float):
        for name in ("q_proj", "k_proj"):
            if not isinstance(getattr(attention, name, None), nn.Module):
                raise TypeError(
                    f"attention module {type(attention).__name__} has no {name}; the saliency "
                    "probe needs separate query and key projections"
                )
        self._attention = attention
        self._num_heads = num_heads
        self._scale = scale
        self._queries: torch.Tensor | None = None
        self._keys: torch.Tensor | None = None
        self._handles: list[Any] = []

    def __enter__(self) -> AttentionProbe:
        self._queries = self._keys = None
        self._thread = threading.get_ident()
        self._handles = [
            self._attention.q_proj.register_forward_hook(self._on_queries),
            self._attention.k_proj.register_forward_hook(self._on_keys),
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    def _on_queries(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        if threading.get_ident() == self._thread:
            self._queries = output.detach()

    def _on_keys(self, module: nn.Module, args: Any, output: torch.Tensor) -> None:
        if threading.get_ident() == self._thread:
            self._keys = output.detach()

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(images, L, heads * head_dim)`` -> float32 ``(images, heads, L, head_dim)``."""
        images, length, width = x.shape
        heads = x.float().view(images, length, self._num_heads, width // self._num_heads)
        return heads.transpose(1, 2)

    def _captured(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._queries is None or self._keys is None:
            raise RuntimeError("the probed attention layer did not run inside the probe")
        return self._queries, self._keys

    def cls_attention(self, cls_index: int = 0) -> torch.Tensor:
        """``(images, L)``: the softmax over all keys of the [CLS] query, mean over heads."""
        queries, keys = self._captured()
        query = self._heads(queries[:, cls_index : cls_index + 1])  # (images, heads, 1, dh)
        logits = query @ self._heads(keys).transpose(-1, -2) * self._scale
        return logits.softmax(dim=-1).mean(dim=1)[:, 0]

    def received_attention(self) -> torch.Tensor:
        """``(images, L)``: the attention each key receives, mean over heads and queries."""
        queries, keys = self._captured()
        return torch.stack(
            [  # one L x L x heads block at a time
                received_attention(
                    self._heads(queries[i : i + 1])[0], self._heads(keys[i : i + 1])[0], self._scale
                )
                for i in range(queries.shape[0])
            ]
        )


def received_attention(queries: torch.Tensor, keys: torch.Tensor, scale: float) -> torch.Tensor:
    """``(L,)``: the attention each key receives, mean over heads and queries (ADAFV-R18).

    ``queries`` and ``keys`` are ``(heads, L, head_dim)`` of one attention block (a crop, or
    an image of a tower that packs several into one sequence); computed in float32.
    """
    logits = queries.float() @ keys.float().transpose(-1, -2) * scale
    return logits.softmax(dim=-1).mean(dim=(0, 1))


class AttentionInputs:
    """Records what a block hands its attention module (positional and keyword arguments)
    while the tower runs, for towers whose queries and keys are recomputed from them."""

    def __init__(self, attention: nn.Module):
        self._attention = attention
        self.args: tuple = ()
        self.kwargs: dict = {}

    def __enter__(self) -> AttentionInputs:
        self._thread = threading.get_ident()
        self._handle = self._attention.register_forward_pre_hook(self._record, with_kwargs=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self._handle.remove()

    def _record(self, module: nn.Module, args: tuple, kwargs: dict) -> None:
        if threading.get_ident() == self._thread:
            self.args, self.kwargs = args, kwargs
