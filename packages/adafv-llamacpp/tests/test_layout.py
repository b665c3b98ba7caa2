"""What llama.cpp's LLaVA graph does with [CLS], pinned against the mmproj's own weights, and
the handler's reading of it from the running build (``adafv_llamacpp.layout``).

llama-cpp-python 0.3.36 as published (ggml-org/llama.cpp issue #25814): [CLS] is the last
graph row. Built with PR #25844 by ``nox -s llamacpp_patched`` (version ``0.3.36+pr25844``):
[CLS] is row 0. Either way the language model's rows are graph rows 1..576.
"""

from __future__ import annotations

import math

import gguf
import numpy as np
import pytest

from adafv_llamacpp import AdaFVLlava15ChatHandler
from adafv_llamacpp.layout import CLS_FIRST, CLS_LAST, class_rows, detect_layout
from adafv_llamacpp.saliency import VisionProbe
from adafv_llamacpp_helpers import build_layout, chat, make_llama, user_message


def _weights(mmproj) -> dict[str, np.ndarray]:
    reader = gguf.GGUFReader(str(mmproj))
    return {
        t.name: np.asarray(gguf.quants.dequantize(t.data, t.tensor_type)) for t in reader.tensors
    }


@pytest.fixture(scope="module")
def captured(gguf_pair):
    _, mmproj = gguf_pair
    handler = AdaFVLlava15ChatHandler(clip_model_path=str(mmproj), budget=64, verbose=False)
    assert handler.layout is None  # read from the first image's vision pass
    handler.probe = VisionProbe(also=frozenset({"pre_ln", "layer_out"}))
    llm = make_llama(gguf_pair, handler)
    chat(llm, [user_message(0)])
    extra, (image,) = handler.probe.extra, handler.selections
    llm.close()
    return extra, image, _weights(mmproj), handler.layout


def _pre_ln(w: dict[str, np.ndarray], position: int) -> np.ndarray:
    """The pre-layer-norm of the class embedding at ``position``."""
    x = w["v.class_embd"] + w["v.position_embd.weight"][position]
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-5)
    return x * w["v.pre_ln.weight"] + w["v.pre_ln.bias"]


def test_the_handler_reads_the_layout_of_the_running_build(captured):
    *_, layout = captured
    assert layout == build_layout()


def test_cls_is_the_graph_row_the_layout_names_with_that_rows_position(captured):
    extra, _, w, layout = captured
    pre_ln = extra["pre_ln"].reshape(-1, extra["pre_ln"].shape[-1])  # (577, width)
    row, other = (0, 576) if layout == CLS_FIRST else (576, 0)
    np.testing.assert_allclose(pre_ln[row], _pre_ln(w, row), rtol=1e-4, atol=1e-5)
    assert not np.allclose(pre_ln[other], _pre_ln(w, other), rtol=1e-2, atol=1e-2)


def test_the_language_model_receives_graph_rows_1_to_576(captured):
    extra, image, w, _ = captured
    out = extra["layer_out"].reshape(-1, extra["layer_out"].shape[-1])  # feature layer
    hidden = out @ w["mm.0.weight"].T + w["mm.0.bias"]
    hidden = 0.5 * hidden * (1 + np.vectorize(math.erf)(hidden / np.sqrt(2)))
    projected = hidden @ w["mm.2.weight"].T + w["mm.2.bias"]
    # GGML's GELU is a float16 table: agreement to about 1e-3, against O(1) for a wrong row.
    np.testing.assert_allclose(image.visual, projected[1:577], atol=2e-3)
    assert np.abs(image.visual - projected[0:576]).max() > 0.1


def test_detect_layout_finds_cls_at_either_end_and_refuses_neither(gguf_pair):
    _, mmproj = gguf_pair
    reference = class_rows(str(mmproj))
    rows = np.random.default_rng(0).normal(size=(1, 577, reference.cls.size)).astype(np.float32)
    with pytest.raises(RuntimeError, match="not recognised"):
        detect_layout(rows, str(mmproj))
    first, last = rows.copy(), rows.copy()
    first[0, 0], last[0, 576] = reference.at(0), reference.at(576)
    assert detect_layout(first, str(mmproj)) == CLS_FIRST
    assert detect_layout(last, str(mmproj)) == CLS_LAST
    # The class embedding at the other end's position is no [CLS] row of either layout.
    swapped = rows.copy()
    swapped[0, 0] = reference.at(576)
    with pytest.raises(RuntimeError, match="not recognised"):
        detect_layout(swapped, str(mmproj))


def test_an_mmproj_without_a_clip_tower_is_refused_by_name(gguf_pair):
    model, _ = gguf_pair
    with pytest.raises(ValueError, match=r"v\.class_embd"):
        class_rows(str(model))
