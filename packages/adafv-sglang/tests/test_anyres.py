"""The plugin's LLaVA-NeXT and LLaVA-OneVision packing against Transformers' own: the same
packed tokens as ``LlavaNextModel.pack_image_features`` and
``LlavaOnevisionModel.pack_image_features`` (its bilinear downsampling included) for any image
size, and as many of them as the checkpoint's processor puts in the prompt."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sglang.srt.managers.schedule_batch import Modality, MultimodalDataItem

from adafv_conformance.suite import MODEL_FIXTURES
from adafv_sglang.llava import anyres
from adafv_sglang.llava.next import TILED_KEY, item_tokens

CHECKPOINT = MODEL_FIXTURES / "llava-next-tiny"
ONEVISION = MODEL_FIXTURES / "llava-onevision-tiny"
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


def test_too_few_crops_or_no_size_or_a_bad_aspect_ratio_are_refused():
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
    config.vision_aspect_ratio = "anyres_max_0"
    with pytest.raises(ValueError, match=r"vision_aspect_ratio='anyres_max_0': .*n >= 1"):
        anyres.max_tiles(config)


@pytest.fixture(scope="module")
def onevision_model():
    from transformers import AutoConfig, LlavaOnevisionModel

    torch.manual_seed(0)
    return LlavaOnevisionModel(AutoConfig.from_pretrained(ONEVISION)).eval()


@settings(max_examples=40, deadline=None)
@given(height=SIDES, width=SIDES, tiled=st.booleans())
def test_onevision_packing_equals_transformers(onevision_model, height, width, tiled):
    # ADAFV-R18: the same resize weights on any per-crop values, saliency as features.
    config = onevision_model.config
    crops = anyres.crop_count((height, width), config, tiled)
    values = torch.randn(crops, 729, 3, dtype=torch.float64)
    newline = torch.randn(3, dtype=torch.float64)
    expected, _ = onevision_model.pack_image_features(
        [values], torch.tensor([[height, width]]), newline, config.vision_aspect_ratio
    )
    packed = anyres.pack(values, (height, width), config, newline)
    assert torch.equal(packed, expected[0])
    separators = anyres.separators((height, width), crops, config)
    assert torch.equal(separators, (packed == newline).all(-1))


@pytest.mark.parametrize("size", [(384, 384), (300, 500), (1500, 1500), (200, 2000), (2000, 90)])
@pytest.mark.parametrize("images", [1, 2])
def test_a_onevision_image_takes_as_many_tokens_as_its_processor_gives_it(size, images):
    # Transformers' processor: a tiled image alone, its base view and one newline with others.
    from PIL import Image
    from transformers import AutoConfig

    from adafv_sglang.llava.onevision import untile
    from adafv_sglang_helpers import onevision_processor

    config = AutoConfig.from_pretrained(ONEVISION)
    height, width = size
    pictures = [Image.new("RGB", (width, height))] * images
    out = onevision_processor(ONEVISION)(
        text=[" ".join(["<image>"] * images)], images=[pictures], return_tensors="pt"
    )
    placeholders = int((out["input_ids"] == config.image_token_id).sum())
    items = [
        MultimodalDataItem(
            modality=Modality.IMAGE,
            feature=pixels,
            model_specific_data={"image_sizes": [size]},
        )
        for pixels in out["pixel_values"]
    ]
    untile(items)
    assert all(item.model_specific_data.get(TILED_KEY, True) == (images == 1) for item in items)
    assert sum(sum(item_tokens(item, config)) for item in items) == placeholders


def test_an_untiled_onevision_item_never_shares_a_cache_entry_with_the_tiled_one():
    # SGLang keys its prefix and embedding caches by the item hash, made from its pixels.
    from adafv_sglang.llava.onevision import untile

    pixels = torch.randn(3, 3, 384, 384)
    tiled, *others = [
        MultimodalDataItem(modality=Modality.IMAGE, feature=pixels.clone(), model_specific_data={})
        for _ in range(3)
    ]
    untile([tiled])  # an image alone stays tiled
    untile(others)
    for item in (tiled, *others):
        item.set_pad_value()
    assert tiled.feature.shape[0] == 3 and others[0].feature.shape[0] == 1
    assert others[0].hash == others[1].hash != tiled.hash


@settings(max_examples=20, deadline=None)
@given(frames=st.integers(min_value=1, max_value=6), channels=st.integers(min_value=1, max_value=4))
def test_onevision_video_pooling_equals_transformers(onevision_model, frames, channels):
    # ADAFV-R21: a video's frames pooled as the model pools them; linear, so saliency too.
    from adafv_sglang.llava.onevision import pool, video_tokens

    config = onevision_model.config
    values = torch.randn(frames, 729, channels, dtype=torch.float64)
    assert torch.equal(pool(values, config), onevision_model.apply_pooling(values))
    item = MultimodalDataItem(modality=Modality.VIDEO, feature=torch.zeros(1, frames, 3, 2, 2))
    assert video_tokens(item, config) == (frames * pool(values, config).shape[1], 1)
