"""LLaVA-OneVision: saliency without [CLS] (ADAFV-R18) lines up with the packed tiles, through
unpad and the bilinear downsampling of large grids, and the pruned model is the language
model on exactly the kept embeddings.

References share no code with the package: eager attention for saliency,
``adafv_conformance.models.anyres`` for the packing, ``adafv.select`` for the selection, the
bare language model for the logits. Inputs come from
``adafv_conformance.models.inputs.onevision_inputs``: the real ``LlavaOnevisionProcessor``
needs torchvision, which this machine lacks.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import adafv
import adafv_transformers
from adafv_conformance.models import anyres
from adafv_conformance.models.checkpoints import tiny_llava_onevision
from adafv_conformance.models.inputs import (
    onevision_inputs,
    onevision_video_inputs,
    picture,
    video,
)
from adafv_transformers.families.anyres import crops_per_image, pack_per_crop
from adafv_transformers_helpers import (
    assert_is_the_language_model_on_kept,
    assert_unchanged_at_budgets_of_n_or_more,
)

PROMPT = "USER: <image>\nWhat color is the circle on the left? ASSISTANT:"
# (width, height): a 1 x 2 grid unpadded by columns; a 3 x 1 grid of a tall image; a 4 x 4
# grid that anyres_max_9 downsamples from 108 x 108 to 81 x 81.
SIZES = [(500, 300), (300, 1000), (1500, 1500)]


@pytest.fixture(scope="module")
def checkpoint():
    return tiny_llava_onevision(seed=0)


def _inputs(checkpoint, images, prompts):
    model, image_processor, tok = checkpoint
    return onevision_inputs(model, image_processor, tok, images, prompts)


def _layout(model, image):
    config = model.config
    return anyres.packed_layout(
        image.height,
        image.width,
        config.image_grid_pinpoints,
        tile=config.vision_config.image_size,
        patch=config.vision_config.patch_size,
        max_tiles=int(config.vision_aspect_ratio.removeprefix("anyres_max_")),
    )


def received_attention(eager_model, crops: torch.Tensor) -> torch.Tensor:
    """Mean over heads and queries of eager attention at the feature layer, per crop."""
    tower = eager_model.model.vision_tower
    with torch.no_grad():
        out = tower(crops.to(tower.dtype), output_attentions=True)
    layer = eager_model.config.vision_feature_layer
    index = layer if layer >= 0 else len(out.attentions) + 1 + layer
    return out.attentions[index - 1].double().mean(dim=(1, 2))  # (crops, L)


def _reference(model, eager, inputs, image, budget):
    """``(saliency, features, selection, content)`` of the one image, without the package."""
    pins = model.config.image_grid_pinpoints
    tile = model.config.vision_config.image_size
    crops = inputs["pixel_values"][0, : anyres.crop_count(image.height, image.width, pins, tile)]
    sources, weights = _layout(model, image)
    flat = received_attention(eager, crops).flatten().numpy()
    saliency = torch.from_numpy(anyres.apply_layout(flat, sources, weights)).float()
    content = torch.from_numpy(np.flatnonzero(sources[:, 0] != anyres.NEWLINE))
    with torch.no_grad():
        features = model.model.get_image_features(
            pixel_values=inputs["pixel_values"],
            image_sizes=inputs["image_sizes"],
            batch_num_images=inputs["batch_num_images"],
        ).pooler_output[0]
        ids = inputs["input_ids"][0]
        last = int((ids == model.config.image_token_id).nonzero()[-1])
        text = model.get_input_embeddings()(ids[last + 1 :])
    selection = adafv.select(features[content], text, saliency, budget)
    return saliency, features, selection, content


@settings(max_examples=25, deadline=None)
@given(height=st.integers(1, 2400), width=st.integers(1, 2400), seed=st.integers(0, 99))
def test_reference_layout_is_the_models_packing(checkpoint, height, width, seed):  # ADAFV-R18
    model, *_ = checkpoint
    sizes = torch.tensor([[height, width]])
    (crops,) = crops_per_image(model, sizes)
    pins, tile = model.config.image_grid_pinpoints, model.config.vision_config.image_size
    assert crops == anyres.crop_count(height, width, pins, tile)
    values = torch.rand((crops, 729), generator=torch.Generator().manual_seed(seed))
    (packed,) = pack_per_crop(
        model, [values], sizes, vision_aspect_ratio=model.config.vision_aspect_ratio
    )
    sources, weights = _layout(model, _Size(height, width))
    assert torch.equal(packed.isnan(), torch.from_numpy(sources[:, 0] == anyres.NEWLINE))
    want = anyres.apply_layout(values.double().flatten().numpy(), sources, weights)
    np.testing.assert_allclose(packed[~packed.isnan()].numpy(), want, rtol=1e-12, atol=1e-15)


class _Size:
    def __init__(self, height: int, width: int):
        self.height, self.width = height, width


@pytest.mark.parametrize("size", SIZES)
def test_saliency_is_the_attention_each_patch_receives_in_packed_order(
    model, checkpoint, eager, size
):  # ADAFV-R18
    image = picture(3, size)
    inputs = _inputs(checkpoint, [image], [PROMPT])
    want, *_ = _reference(model, eager, inputs, image, 64)
    pruned = adafv_transformers.prune_inputs(model, budget=64, **inputs)
    torch.testing.assert_close(pruned.images[0].saliency, want, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("size", SIZES)
def test_logits_equal_the_language_model_on_the_kept_embeddings(
    model, checkpoint, eager, size
):  # ADAFV-R1, ADAFV-R10
    image = picture(4, size)
    inputs = _inputs(checkpoint, [image], [PROMPT])
    _, features, selection, content = _reference(model, eager, inputs, image, 80)
    pruned = adafv_transformers.prune_inputs(model, budget=80, **inputs)
    found = pruned.images[0]
    assert torch.equal(found.selected, selection.indices)
    separators = torch.ones(len(features), dtype=torch.bool)
    separators[content] = False
    kept = torch.cat([content[selection.indices], separators.nonzero().squeeze(1)]).sort().values
    assert torch.equal(found.kept, kept)
    assert_is_the_language_model_on_kept(model, pruned, inputs["input_ids"][0], features, kept)


def test_batch_rows_match_single_samples(model, checkpoint):  # ADAFV-R14
    prompts = [PROMPT, "USER: <image>\nHow many dots are there in the picture? ASSISTANT:"]
    images = [picture(7, (500, 300)), picture(8, (300, 1000))]
    batch = _inputs(checkpoint, images, prompts)
    adafv_transformers.apply(model, keep_ratio=0.05)
    with torch.no_grad():
        batched = model(**batch).logits
    for row, (prompt, image) in enumerate(zip(prompts, images, strict=True)):
        single = _inputs(checkpoint, [image], [prompt])
        with torch.no_grad():
            alone = model(**single).logits[0]
        torch.testing.assert_close(batched[row, -alone.shape[0] :], alone, rtol=1e-4, atol=1e-5)


def test_the_default_strategy_is_refused(model, checkpoint):
    inputs = _inputs(checkpoint, [picture(1)], [PROMPT])
    with pytest.raises(ValueError, match="vision_feature_select_strategy='default'"):
        adafv_transformers.prune_inputs(
            model, budget=8, vision_feature_select_strategy="default", **inputs
        )


VIDEO_PROMPT = "USER: <video>\nWhat color is the circle on the left? ASSISTANT:"


def _video_inputs(checkpoint, clips, prompts):
    model, image_processor, tok = checkpoint
    return onevision_video_inputs(model, image_processor, tok, clips, prompts)


def _video_features(model, inputs):
    """The model's own features of the first video, its frames' tokens then the newline."""
    with torch.no_grad():
        return model.model.get_video_features(
            pixel_values_videos=inputs["pixel_values_videos"],
            vision_feature_layer=model.config.vision_feature_layer,
            vision_feature_select_strategy=model.config.vision_feature_select_strategy,
        ).pooler_output[0]


def _video_reference(model, eager, inputs, budget):
    """``(saliency, features, selection)`` of the one video, without the package: each
    frame's received attention pooled as the projector pools (bilinear to 14 x 14), the
    model's own video features (the newline last), ``adafv.select`` on the frames' tokens."""
    frames = inputs["pixel_values_videos"][0]
    per_patch = received_attention(eager, frames)  # (frames, 729)
    side = int(per_patch.shape[1] ** 0.5)
    grid = per_patch.reshape(-1, 1, side, side)
    pooled = torch.nn.functional.interpolate(grid, size=((side + 1) // 2,) * 2, mode="bilinear")
    saliency = pooled.flatten().float()
    features = _video_features(model, inputs)
    with torch.no_grad():
        ids = inputs["input_ids"][0]
        last = int((ids == model.config.video_token_id).nonzero()[-1])
        text = model.get_input_embeddings()(ids[last + 1 :])
    selection = adafv.select(features[:-1], text, saliency, budget)
    return saliency, features, selection


def test_video_saliency_is_each_frames_received_attention_pooled(
    model, checkpoint, eager
):  # ADAFV-R18, ADAFV-R21
    inputs = _video_inputs(checkpoint, [video(3, 4, (384, 384))], [VIDEO_PROMPT])
    want, *_ = _video_reference(model, eager, inputs, 64)
    pruned = adafv_transformers.prune_inputs(model, budget=64, **inputs)
    (item,) = pruned.videos
    torch.testing.assert_close(item.saliency, want, rtol=1e-5, atol=1e-9)


@pytest.mark.parametrize("newline", ["keep", "drop"])
def test_video_logits_equal_the_language_model_on_the_kept_rows(
    model, checkpoint, eager, newline
):  # ADAFV-R1, ADAFV-R4, ADAFV-R21
    inputs = _video_inputs(checkpoint, [video(4, 4, (384, 384))], [VIDEO_PROMPT])
    _, features, selection = _video_reference(model, eager, inputs, 60)
    pruned = adafv_transformers.prune_inputs(model, budget=60, image_newline=newline, **inputs)
    (item,) = pruned.videos
    assert torch.equal(item.selected, selection.indices)
    newline_row = torch.tensor([len(features) - 1] if newline == "keep" else [])
    kept = torch.cat([selection.indices, newline_row.long()])
    assert torch.equal(item.kept, kept)
    assert_is_the_language_model_on_kept(
        model, pruned, inputs["input_ids"][0], features, kept, "video"
    )


def test_a_video_budget_of_n_or_more_changes_nothing(model, checkpoint):  # ADAFV-R3, R13
    inputs = _video_inputs(checkpoint, [video(5, 2, (384, 384))], [VIDEO_PROMPT])
    assert_unchanged_at_budgets_of_n_or_more(model, inputs)


def test_video_evs_keeps_what_the_baseline_keeps(model, checkpoint):  # ADAFV-R22
    inputs = _video_inputs(checkpoint, [video(6, 4, (384, 384))], [VIDEO_PROMPT])
    pruned = adafv_transformers.prune_inputs(model, keep_ratio=0.2, video_selection="evs", **inputs)
    features = _video_features(model, inputs)
    want = adafv.evs_select(features[:-1], 4, keep_ratio=0.2).indices
    assert torch.equal(pruned.videos[0].selected, want)
    assert pruned.videos[0].saliency.isnan().all() and pruned.videos[0].t2i_log.isnan().all()
