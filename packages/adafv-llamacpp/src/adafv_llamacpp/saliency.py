"""Saliency from llama.cpp's own vision pass (ADAFV-R4): the [CLS] row at the feature layer.

An eval callback on the vision graph keeps the queries and keys of the last attention layer
the graph computes: for a LLaVA projector the graph stops at the feature layer, so that is
the layer whose output feeds the projector. No second vision pass, no change to llama.cpp.
The softmax of the [CLS] query over all keys is computed here in float64, averaged over
heads, and read at the rows the language model receives (``layout``).
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from adafv_llamacpp.ggml_tensors import tensor_array, tensor_name

_NAME = re.compile(r"(Qcur|Kcur)-(\d+)")


class VisionProbe:
    """Keeps the feature layer's ``Qcur`` and ``Kcur`` of every vision graph run.

    Install ``callback`` as ``mtmd_context_params.cb_eval``; keep this object alive as long as
    the context (ctypes callbacks must outlive their use).

    Args:
        also: other node names (without the ``-<layer>`` suffix) whose last value to keep in
            ``extra``, e.g. ``{"pre_ln", "layer_out"}`` to check the graph's layout.
    """

    def __init__(self, also: frozenset[str] = frozenset()) -> None:
        import llama_cpp

        self.also = also
        self.extra: dict[str, np.ndarray] = {}
        self.runs: list[dict[str, np.ndarray]] = []
        self._layer = -1
        self.callback = llama_cpp.ggml_backend_sched_eval_callback(self._on_node)

    def clear(self) -> None:
        """Forget what earlier encodes recorded, before the next one."""
        self.runs, self.extra, self._layer = [], {}, -1

    def _on_node(self, tensor: int, ask: bool, user_data: Any) -> bool:
        name = tensor_name(tensor)
        match = _NAME.fullmatch(name)
        other = name.split("-")[0] if name.split("-")[0] in self.also else None
        if ask:
            return match is not None or other is not None
        if other is not None:
            self.extra[other] = tensor_array(tensor)
            return True
        if match is None:
            return True
        kind, layer = match.group(1), int(match.group(2))
        if not self.runs or layer < self._layer:  # the layers start again: a new graph run
            self.runs.append({})
        self._layer = layer  # later layers replace earlier ones
        self.runs[-1][kind] = tensor_array(tensor)[0]  # (L, heads, head_dim)
        return True

    def cls_attention(self, run: int, cls_row: int) -> np.ndarray:
        """``(L,)`` float64 softmax of the [CLS] query over all keys, mean over heads."""
        captured = self.runs[run]
        queries, keys = captured["Qcur"].astype(np.float64), captured["Kcur"].astype(np.float64)
        scale = queries.shape[-1] ** -0.5
        logits = np.einsum("hd,lhd->hl", queries[cls_row], keys) * scale
        logits -= logits.max(axis=1, keepdims=True)
        weights = np.exp(logits)
        weights /= weights.sum(axis=1, keepdims=True)
        return weights.mean(axis=0)
