"""The Qwen encoder step on SGLang's own vision towers (``Qwen2VisionTransformer``,
``Qwen2_5_VisionTransformer``, built with SGLang's parallel state on CPU and loaded with the
fixture checkpoints' weights): the saliency of ADAFV-R18 and the kept tokens equal the
Transformers integration's fixtures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from adafv_conformance.suite import MODEL_FIXTURES, load_suite
from conftest import QWEN_CHECKPOINTS

CASES = {"qwen2-vl": "qwen2-vl-single-k48", "qwen2.5-vl": "qwen2.5-vl-single-k48"}


@pytest.mark.parametrize("name", sorted(CASES))
def test_saliency_and_kept_tokens_equal_the_transformers_fixture(sglang_towers, name):
    # ADAFV-R1, ADAFV-R3, ADAFV-R5, ADAFV-R18
    from adafv_sglang.options import as_plain
    from adafv_sglang.placeholders import OPTIONS_KEY, QUERY_KEY
    from adafv_sglang.qwen_selection import image_features
    from PIL import Image
    from sglang.srt.managers.schedule_batch import Modality, MultimodalDataItem

    from adafv_conformance.models import load_model
    from adafv_transformers.options import Options

    case = load_suite(MODEL_FIXTURES).case(CASES[name])
    inputs, expected = case.load()
    params = case.params()
    model, (image_processor, _) = load_model(QWEN_CHECKPOINTS[name], attn_implementation="sdpa")
    image = Image.open(params["image_paths"][0][0]).convert("RGB")
    pixels = image_processor(images=[image], return_tensors="pt")
    ids = inputs["input_ids"][0]
    last = int(np.nonzero(ids == model.config.image_token_id)[0][-1])
    item = MultimodalDataItem(
        modality=Modality.IMAGE,
        feature=pixels["pixel_values"],
        model_specific_data={
            "image_grid_thw": pixels["image_grid_thw"],
            OPTIONS_KEY: as_plain(Options(budget=params["budget"])),
            QUERY_KEY: [int(t) for t in ids[last + 1 :]],
        },
    )
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
