"""Which rows of llama.cpp's LLaVA vision graph the language model receives.

In the llama.cpp vendored by llama-cpp-python 0.3.36 the LLaVA graph appends the [CLS]
embedding after the 576 patches (``tools/mtmd/models/llava.cpp``), while ``clip.cpp`` still
fills the graph's inputs for a [CLS]-first layout: positions ``0..576`` in row order, and
``patches = 1..576`` as the rows handed on (ggml-org/llama.cpp issue #25814, fix proposed in
PR #25844). So every patch gets its neighbour's position embedding, patch 0's output is
dropped, and the language model's 576 image rows are graph rows 1..576: patches 1..575 and,
last, the projected [CLS].

Saliency follows the rows actually handed on (ADAFV-R4's "the [CLS] query's weight on each
token the language model receives"): row ``j`` gets the [CLS] query's weight on graph row
``j + 1``, so the row carrying the projected [CLS] gets [CLS]'s weight on itself, as under
Transformers' ``full`` strategy. That row is an ordinary candidate: kept when its scores
earn it, never forced in or out.
"""

from __future__ import annotations

from dataclasses import dataclass


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


# llama-cpp-python 0.3.36: [CLS] last, rows 1..576 handed on (see the module docstring). The
# fixed upstream graph puts [CLS] first: ``GraphLayout(cls_row=0, first_output_row=1)``.
CLS_LAST = GraphLayout(cls_row=-1, first_output_row=1)
