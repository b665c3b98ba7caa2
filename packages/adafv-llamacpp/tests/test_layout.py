"""What llama.cpp's LLaVA graph (llama-cpp-python 0.3.36) does with [CLS], pinned against the
mmproj's own weights (ggml-org/llama.cpp issue #25814): [CLS] is the last graph row, and the
language model's rows are graph rows 1..576. ``adafv_llamacpp.layout.CLS_LAST`` relies on
both; when a fixed llama.cpp is pinned these fail and the layout constant must change."""

from __future__ import annotations

import math

import gguf
import numpy as np
import pytest

from adafv_llamacpp import AdaFVLlava15ChatHandler
from adafv_llamacpp.saliency import VisionProbe
from adafv_llamacpp_helpers import chat, make_llama, user_message


def _weights(mmproj) -> dict[str, np.ndarray]:
    reader = gguf.GGUFReader(str(mmproj))
    return {
        t.name: np.asarray(gguf.quants.dequantize(t.data, t.tensor_type)) for t in reader.tensors
    }


@pytest.fixture(scope="module")
def captured(gguf_pair):
    _, mmproj = gguf_pair
    handler = AdaFVLlava15ChatHandler(clip_model_path=str(mmproj), budget=64, verbose=False)
    handler.probe = VisionProbe(also=frozenset({"pre_ln", "layer_out"}))
    llm = make_llama(gguf_pair, handler)
    chat(llm, [user_message(0)])
    extra, (image,) = handler.probe.extra, handler.selections
    llm.close()
    return extra, image, _weights(mmproj)


def _pre_ln(w: dict[str, np.ndarray], position: int) -> np.ndarray:
    """The pre-layer-norm of the class embedding at ``position``."""
    x = w["v.class_embd"] + w["v.position_embd.weight"][position]
    x = (x - x.mean()) / np.sqrt(x.var() + 1e-5)
    return x * w["v.pre_ln.weight"] + w["v.pre_ln.bias"]


def test_cls_is_the_last_graph_row_with_the_last_position(captured):
    extra, _, w = captured
    pre_ln = extra["pre_ln"].reshape(-1, extra["pre_ln"].shape[-1])  # (577, width)
    np.testing.assert_allclose(pre_ln[576], _pre_ln(w, 576), rtol=1e-4, atol=1e-5)
    assert not np.allclose(pre_ln[0], _pre_ln(w, 0), rtol=1e-2, atol=1e-2)


def test_the_language_model_receives_graph_rows_1_to_576(captured):
    extra, image, w = captured
    out = extra["layer_out"].reshape(-1, extra["layer_out"].shape[-1])  # feature layer
    hidden = out @ w["mm.0.weight"].T + w["mm.0.bias"]
    hidden = 0.5 * hidden * (1 + np.vectorize(math.erf)(hidden / np.sqrt(2)))
    projected = hidden @ w["mm.2.weight"].T + w["mm.2.bias"]
    # GGML's GELU is a float16 table: agreement to about 1e-3, against O(1) for a wrong row.
    np.testing.assert_allclose(image.visual, projected[1:577], atol=2e-3)
    assert np.abs(image.visual - projected[0:576]).max() > 0.1
