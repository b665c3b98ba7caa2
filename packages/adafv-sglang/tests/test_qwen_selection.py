"""The Qwen encoder step on SGLang's own vision towers (``Qwen2VisionTransformer``,
``Qwen2_5_VisionTransformer``, built with SGLang's parallel state on CPU and loaded with the
fixture checkpoints' weights): the saliency of ADAFV-R18 and the kept tokens equal the
Transformers integration's fixtures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adafv_sglang_helpers import QWEN_CHECKPOINTS, qwen_case_item

CASES = {"qwen2-vl": "qwen2-vl-single-k48", "qwen2.5-vl": "qwen2.5-vl-single-k48"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_saliency_and_kept_tokens_equal_the_transformers_fixture(sglang_towers, name):
    # ADAFV-R1, ADAFV-R3, ADAFV-R5, ADAFV-R18
    from adafv_sglang.qwen.selection import image_features

    item, pixels, model, expected = qwen_case_item(QWEN_CHECKPOINTS[name], CASES[name])
    reports = []
    with torch.no_grad():
        rows = image_features(
            sglang_towers(name),
            model.get_input_embeddings(),
            [item],
            report=lambda item, values: reports.append(values),
        )
        full = model.model.get_image_features(
            pixel_values=pixels["pixel_values"],
            image_grid_thw=pixels["image_grid_thw"],
            return_dict=True,
        ).pooler_output[0]
    (report,) = reports
    torch.testing.assert_close(report["saliency"], torch.as_tensor(expected["saliency"][0]))
    np.testing.assert_array_equal(report["kept"].numpy(), expected["indices"][0])
    torch.testing.assert_close(rows, full[report["kept"]], rtol=1e-4, atol=1e-5)
