"""The plugin's LLaVA-NeXT packing against Transformers' own: the same packed tokens as
``LlavaNextModel.pack_image_features`` for any image size, and as many of them as the
checkpoint's processor puts in the prompt."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sglang.srt.managers.schedule_batch import Modality, MultimodalDataItem

from adafv_conformance.suite import MODEL_FIXTURES
from adafv_sglang.llava import anyres
from adafv_sglang.llava.next import item_tokens

CHECKPOINT = MODEL_FIXTURES / "llava-next-tiny"
SIDES = st.integers(min_value=1, max_value=2000)


@pytest.fixture(scope="module")
def transformers_model():
    from transformers import AutoConfig, LlavaNextModel

    torch.manual_seed(0)
    return LlavaNextModel(AutoConfig.from_pretrained(CHECKPOINT)).eval()


@settings(max_examples=60, deadline=None)
@given(height=SIDES, width=SIDES)
def test_packing_equals_transformers(transformers_model, height, width):
    config = transformers_model.config
    crops = anyres.crop_count((height, width), config)
    values = torch.randn(crops, 576, 3, dtype=torch.float64)
    newline = torch.randn(3, dtype=torch.float64)
    expected, _ = transformers_model.pack_image_features(
        [values], torch.tensor([[height, width]]), "default", image_newline=newline
    )
    packed = anyres.pack(values, (height, width), config, newline)
    assert torch.equal(packed, expected[0])
    separators = anyres.separators((height, width), crops, config)
    assert torch.equal(separators, (packed == newline).all(-1))


@pytest.mark.parametrize("size", [(336, 336), (200, 900), (900, 200), (480, 640), (37, 1500)])
def test_an_image_takes_as_many_tokens_as_the_checkpoints_processor_gives_it(size):
    from PIL import Image
    from transformers import AutoConfig

    from adafv_conformance.models.checkpoints import load_model

    config = AutoConfig.from_pretrained(CHECKPOINT)
    _, processor = load_model(CHECKPOINT)
    height, width = size
    out = processor(text="<image>", images=Image.new("RGB", (width, height)), return_tensors="pt")
    placeholders = int((out["input_ids"] == config.image_token_id).sum())
    item = MultimodalDataItem(
        modality=Modality.IMAGE,
        feature=out["pixel_values"][0],
        model_specific_data={"image_sizes": [size]},
    )
    assert sum(item_tokens(item, config)) == placeholders


def test_too_few_crops_or_no_size_are_refused():
    from transformers import AutoConfig

    from adafv_sglang.llava.next import crops, image_size

    config = AutoConfig.from_pretrained(CHECKPOINT)
    with pytest.raises(ValueError, match=r"image_sizes=None: .* needs its \[\(height, width\)\]"):
        image_size(None)
    with pytest.raises(ValueError, match=r"shape \(2, 3, 336, 336\): .* needs \(4, 3, H, W\)"):
        crops(torch.zeros(2, 3, 336, 336), (300, 700), config)
    with pytest.raises(
        ValueError, match=r"into 1 \+ 1 x 3 crops of 576 tokens, but it has 2 crops of 576"
    ):
        anyres.pack(torch.zeros(2, 576, 1), (300, 700), config, torch.zeros(1))
