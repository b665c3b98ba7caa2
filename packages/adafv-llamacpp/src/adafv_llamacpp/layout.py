"""Which rows of llama.cpp's LLaVA vision graph the language model receives, read from the
running build.

In the llama.cpp vendored by llama-cpp-python 0.3.36 the LLaVA graph appends the [CLS]
embedding after the 576 patches (``tools/mtmd/models/llava.cpp``), while ``clip.cpp`` still
fills the graph's inputs for a [CLS]-first layout: positions ``0..576`` in row order, and
``patches = 1..576`` as the rows handed on (ggml-org/llama.cpp issue #25814, fix proposed in
PR #25844). So every patch gets its neighbour's position embedding, patch 0's output is
dropped, and the language model's 576 image rows are graph rows 1..576: patches 1..575 and,
last, the projected [CLS] (:data:`CLS_LAST`). With PR #25844 applied
(``packages/adafv-llamacpp/upstream``) [CLS] is row 0, as in CLIP, and the rows handed on
are the patches 0..575 (:data:`CLS_FIRST`).

Saliency follows the rows actually handed on (ADAFV-R4's "the [CLS] query's weight on each
token the language model receives"): row ``j`` gets the [CLS] query's weight on graph row
``j + 1``. Under :data:`CLS_LAST` the row carrying the projected [CLS] gets [CLS]'s weight on
itself, as under Transformers' ``full`` strategy; it is an ordinary candidate, kept when its
scores earn it, never forced in or out.

Both builds call themselves 0.3.36, so the layout is read from the graph, not from a version:
:func:`detect_layout` finds the row of ``pre_ln`` (the graph's first named node, the
pre-layer-norm of embeddings plus positions) that equals the class embedding at its position,
computed from the ``mmproj``'s own weights.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np


@dataclass(frozen=True)
class GraphLayout:
    """Row indices of one crop's vision graph (``L = patches + 1`` rows).

    Attributes:
        cls_row: the row of the [CLS] query.
        first_output_row: the language model's rows are graph rows
            ``first_output_row .. first_output_row + n_output - 1``.
    """

    cls_row: int
    first_output_row: int


# llama-cpp-python 0.3.36 as published: [CLS] last, rows 1..576 handed on (the defect).
CLS_LAST = GraphLayout(cls_row=-1, first_output_row=1)
# llama.cpp with PR #25844, and CLIP itself: [CLS] first, the patches 0..575 handed on.
CLS_FIRST = GraphLayout(cls_row=0, first_output_row=1)

# Largest difference between the graph's [CLS] row and the one computed here, relative to the
# row's largest value: both come from the same float32 weights (measured: 1.5e-8 absolute on
# the tiny model), while a wrong row differs by O(1) (0.28 against the neighbouring position).
_MATCH = 1e-3


class ClassRows:
    """What the ``pre_ln`` row of [CLS] must hold, from an ``mmproj``'s weights.

    Raises:
        ValueError: the ``mmproj`` lacks a class embedding, position embeddings or the
            pre-layer-norm (not a CLIP tower).
    """

    NAMES = ("v.class_embd", "v.position_embd.weight", "v.pre_ln.weight", "v.pre_ln.bias")
    EPSILON = "clip.vision.attention.layer_norm_epsilon"

    def __init__(self, mmproj_path: str):
        import gguf

        reader = gguf.GGUFReader(mmproj_path)
        tensors = {t.name: t for t in reader.tensors if t.name in self.NAMES}
        missing = [name for name in self.NAMES if name not in tensors]
        if missing:
            raise ValueError(
                f"clip_model_path={mmproj_path!r} has no {', '.join(missing)}: the handler "
                "reads the [CLS] layout from a CLIP tower's weights"
            )
        weights = {
            name: np.asarray(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float64)
            for name, t in tensors.items()
        }
        field = reader.fields.get(self.EPSILON)
        self.eps = float(field.parts[field.data[0]][0]) if field is not None else 1e-5
        self.cls = weights["v.class_embd"].reshape(-1)
        self.positions = weights["v.position_embd.weight"].reshape(-1, self.cls.size)
        self.scale = weights["v.pre_ln.weight"].reshape(-1)
        self.shift = weights["v.pre_ln.bias"].reshape(-1)

    def at(self, position: int) -> np.ndarray:
        """``(width,)`` float64 pre-layer-norm of the class embedding at ``position``."""
        x = self.cls + self.positions[position]
        x = (x - x.mean()) / np.sqrt(x.var() + self.eps)
        return x * self.scale + self.shift


@lru_cache(maxsize=8)
def class_rows(mmproj_path: str) -> ClassRows:
    """The cached :class:`ClassRows` of the ``mmproj`` at ``mmproj_path``."""
    return ClassRows(mmproj_path)


def detect_layout(pre_ln: np.ndarray, mmproj_path: str) -> GraphLayout:
    """The layout of the graph whose ``pre_ln`` node held ``pre_ln`` (any shape ending in
    ``(L, width)``), for the ``mmproj`` at ``mmproj_path``.

    [CLS] is the row equal to the class embedding's pre-layer-norm at that row's position:
    row 0 at position 0 (:data:`CLS_FIRST`), or row ``L - 1`` at position ``L - 1``
    (:data:`CLS_LAST`).

    Raises:
        RuntimeError: neither row is [CLS]: a graph layout this package does not know.
    """
    rows = np.asarray(pre_ln, dtype=np.float64)
    rows = rows.reshape(-1, rows.shape[-1])
    reference = class_rows(mmproj_path)
    last = len(rows) - 1
    errors = {}
    for layout, row in ((CLS_FIRST, 0), (CLS_LAST, last)):
        want = reference.at(row)
        errors[layout] = float(np.abs(rows[row] - want).max() / np.abs(want).max())
    matched = [layout for layout, error in errors.items() if error < _MATCH]
    if len(matched) != 1:
        raise RuntimeError(
            f"the LLaVA vision graph's [CLS] row is not recognised (relative difference "
            f"{errors[CLS_FIRST]:.3g} at row 0, {errors[CLS_LAST]:.3g} at row {last}): a "
            "llama.cpp graph layout adafv-llamacpp does not know"
        )
    return matched[0]
