"""Saliency from llama.cpp's own vision pass, read by an eval callback on the vision graph:
no second vision pass, no change to llama.cpp.

- LLaVA (ADAFV-R4): the queries and keys of the last attention layer the graph computes (for
  a LLaVA projector the graph stops at the feature layer, the one whose output feeds the
  projector); the softmax of the [CLS] query over all keys, in float64, mean over heads, read
  at the rows the language model receives (``layout``).
- Towers without [CLS] (ADAFV-R18, ``adafv_llamacpp.qwen``): the rotated queries and keys of
  one chosen layer; the attention each row receives, in float64, mean over heads and queries.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from adafv_llamacpp.ggml_tensors import tensor_array, tensor_name

# Queries are rows of L x L attention: this many at a time bounds the float64 block to
# 256 x L x heads (about 64 MB for a 2,048-row graph with 16 heads).
_QUERY_BLOCK = 256


class VisionProbe:
    """Keeps the queries and keys (``Qcur`` and ``Kcur``, or ``names``) of one attention layer
    of every vision graph run: ``layer``, or the last one the graph computes.

    Install ``callback`` as ``mtmd_context_params.cb_eval``; keep this object alive as long as
    the context (ctypes callbacks must outlive their use).

    Args:
        also: other node names (without the ``-<layer>`` suffix) whose last value to keep in
            ``extra``, e.g. ``{"pre_ln", "layer_out"}`` to check the graph's layout.
        names: the graph's names of the query and key nodes, e.g. ``("Qcur_rope",
            "Kcur_rope")`` for towers that rotate them after naming ``Qcur``.
        layer: the layer to keep; None keeps the last.
    """

    def __init__(
        self,
        also: frozenset[str] = frozenset(),
        names: tuple[str, str] = ("Qcur", "Kcur"),
        layer: int | None = None,
    ) -> None:
        import llama_cpp

        self.also = also
        self.names = names
        self.layer = layer
        self.extra: dict[str, np.ndarray] = {}
        self.runs: list[dict[str, np.ndarray]] = []
        self._layer = -1
        self._kinds: set[int] = set()  # which of the two nodes this run holds at ``_layer``
        self._pattern = re.compile(rf"({re.escape(names[0])}|{re.escape(names[1])})-(\d+)")
        self.callback = llama_cpp.ggml_backend_sched_eval_callback(self._on_node)

    def clear(self) -> None:
        """Forget what earlier encodes recorded, before the next one."""
        self.runs, self.extra, self._layer, self._kinds = [], {}, -1, set()

    def _on_node(self, tensor: int, ask: bool, user_data: Any) -> bool:
        name = tensor_name(tensor)
        match = self._pattern.fullmatch(name)
        if match is not None and self.layer is not None and int(match.group(2)) != self.layer:
            match = None
        other = name.split("-")[0] if name.split("-")[0] in self.also else None
        if ask:
            return match is not None or other is not None
        if other is not None:
            self.extra[other] = tensor_array(tensor)
            return True
        if match is None:
            return True
        kind, layer = self.names.index(match.group(1)), int(match.group(2))
        again = layer < self._layer or (layer == self._layer and kind in self._kinds)
        if not self.runs or again:  # the layers start again: a new graph run
            self.runs.append({})
        if layer != self._layer or again:
            self._layer, self._kinds = layer, set()  # later layers replace earlier ones
        self._kinds.add(kind)
        self.runs[-1][kind] = tensor_array(tensor)[0]  # (L, heads, head_dim)
        return True

    def _captured(self, run: int) -> tuple[np.ndarray, np.ndarray]:
        captured = self.runs[run]
        if len(captured) != 2:
            raise RuntimeError(
                f"the vision graph computed no {' and '.join(self.names)} nodes"
                + (f" at layer {self.layer}" if self.layer is not None else "")
            )
        return captured[0].astype(np.float64), captured[1].astype(np.float64)

    def received_attention(self, run: int) -> np.ndarray:
        """``(L,)`` float64: the attention each row receives, the softmax of every query over
        all keys, mean over heads and queries (ADAFV-R18). The logits are batched matrix
        products (BLAS), a block of queries at a time."""
        queries, keys = self._captured(run)
        scale = queries.shape[-1] ** -0.5
        by_head = queries.transpose(1, 0, 2) * scale  # (heads, L, head_dim)
        keys_t = keys.transpose(1, 2, 0)  # (heads, head_dim, L)
        total = np.zeros(keys.shape[0])
        for first in range(0, queries.shape[0], _QUERY_BLOCK):
            logits = np.matmul(by_head[:, first : first + _QUERY_BLOCK], keys_t)
            logits -= logits.max(axis=2, keepdims=True)
            weights = np.exp(logits, out=logits)
            weights /= weights.sum(axis=2, keepdims=True)
            total += weights.sum(axis=(0, 1))
        return total / (queries.shape[0] * queries.shape[1])

    def cls_attention(self, run: int, cls_row: int) -> np.ndarray:
        """``(L,)`` float64 softmax of the [CLS] query over all keys, mean over heads."""
        queries, keys = self._captured(run)
        scale = queries.shape[-1] ** -0.5
        logits = np.matmul(queries[cls_row][:, None, :], keys.transpose(1, 2, 0))[:, 0] * scale
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=1, keepdims=True)
        return weights.mean(axis=0)
