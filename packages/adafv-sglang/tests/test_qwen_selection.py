"""The Qwen encoder step on SGLang's own vision towers (``Qwen2VisionTransformer``,
``Qwen2_5_VisionTransformer``, and ``Qwen3VLMoeVisionModel`` for Qwen3-VL and Qwen3.5, built
with SGLang's parallel state on CPU and loaded with the fixture checkpoints' weights): the
saliency of ADAFV-R18 and the kept tokens equal the Transformers integration's fixtures, and
each of Qwen3-VL's DeepStack levels is cut to exactly the kept tokens, in the same order."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adafv_sglang_helpers import QWEN_CHECKPOINTS, qwen_case_item

CASES = {
    "qwen2-vl": "qwen2-vl-single-k48",
    "qwen2.5-vl": "qwen2.5-vl-single-k48",
    "qwen3-vl": "qwen3-vl-single-k48",
    "qwen3.5": "qwen3.5-single-k48",
}


def _encode(sglang_towers, name):
    """The encoder step's rows for the case's image, its one report, the Transformers
    model's image features for it, and the case's expected outputs."""
    from adafv_sglang.qwen.selection import item_features

    item, pixels, model, expected = qwen_case_item(QWEN_CHECKPOINTS[name], CASES[name])
    reports = []
    with torch.no_grad():
        rows = item_features(
            sglang_towers(name),
            model.get_input_embeddings(),
            [item],
            report=lambda item, values: reports.append(values),
        )
        full = model.model.get_image_features(
            pixel_values=pixels["pixel_values"],
            image_grid_thw=pixels["image_grid_thw"],
            return_dict=True,
        )
    (report,) = reports
    return rows, report, full, expected


@pytest.mark.parametrize("name", sorted(CASES))
def test_saliency_and_kept_tokens_equal_the_transformers_fixture(sglang_towers, name):
    # ADAFV-R1, ADAFV-R3, ADAFV-R5, ADAFV-R18
    rows, report, full, expected = _encode(sglang_towers, name)
    torch.testing.assert_close(report["saliency"], torch.as_tensor(expected["saliency"][0]))
    np.testing.assert_array_equal(report["kept"].numpy(), expected["indices"][0])
    width = full.pooler_output[0].shape[-1]
    torch.testing.assert_close(
        rows[:, :width], full.pooler_output[0][report["kept"]], rtol=1e-4, atol=1e-5
    )


@pytest.mark.parametrize("name", ["qwen3-vl", "qwen3.5"])
def test_every_deepstack_level_is_cut_to_the_kept_tokens(sglang_towers, name):
    # ADAFV-R5, ADAFV-R18: each row is [main | level 1 | ...], SGLang's layout; Qwen3.5 has
    # no levels, so its rows are the main features alone.
    rows, report, full, expected = _encode(sglang_towers, name)
    levels = list(getattr(full, "deepstack_features", None) or [])
    assert len(levels) == {"qwen3-vl": 3, "qwen3.5": 0}[name]
    kept = report["kept"]
    np.testing.assert_array_equal(kept.numpy(), expected["indices"][0])
    width = full.pooler_output[0].shape[-1]
    assert rows.shape == (kept.numel(), width * (1 + len(levels)))
    for j, level in enumerate(levels):
        (level,) = level  # one image
        torch.testing.assert_close(
            rows[:, width * (1 + j) : width * (2 + j)], level[kept], rtol=1e-4, atol=1e-5
        )
